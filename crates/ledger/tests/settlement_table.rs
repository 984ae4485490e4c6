//! Clearing and settlement: a table of every settlement operation x every result code it
//! can produce (a rejection changes no account).

mod common;
mod settlement_fixture;

use common::*;
use settlement_fixture::*;
use settlenet_ledger::{RecordDetail, ResultCode};
use settlenet_types::{
    AccountId, Amount, Currency, MemberId, Operation, SettlementPolicy, SignedTransaction,
    SETTLEMENT_CHUNK_MAX, TX_VERSION,
};
use std::collections::BTreeSet;

// ------------------------------------------------------------------------------------------
// The table.

struct Case {
    what: &'static str,
    pre: Vec<SignedTransaction>,
    tx: SignedTransaction,
    want: ResultCode,
}

fn cases() -> Vec<Case> {
    let k = sk();
    let cl = &k.clearing;
    let id = nonce(100);
    let case = |what, tx, want| Case {
        what,
        pre: Vec::new(),
        tx,
        want,
    };
    let with = |what, pre: Vec<SignedTransaction>, tx, want| Case {
        what,
        pre,
        tx,
        want,
    };
    let pre_id = nonce(99);
    let good_chunk = vec![instr("I-2", C, A, 10, Some(wa()))];
    let b1_settle = |policy| settle_op(batch(1), 1, &b1_chunk0(), 1, policy);
    let long_id = "x".repeat(36);
    vec![
        // CloseWindow
        case(
            "close the open window",
            signed(cl, id, close(usd(), 2)),
            ResultCode::Ok,
        ),
        case(
            "close another currency's window 0",
            signed(cl, id, close(eur(), 0)),
            ResultCode::Ok,
        ),
        case(
            "close a closed window",
            signed(cl, id, close(usd(), 1)),
            ResultCode::WindowNotOpen,
        ),
        case(
            "close a future window",
            signed(cl, id, close(usd(), 3)),
            ResultCode::WindowNotOpen,
        ),
        case(
            "close by a user",
            signed(&k.users[0], id, close(usd(), 2)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "close by an issuer",
            signed(&k.issuers[0], id, close(usd(), 2)),
            ResultCode::ForbiddenRole,
        ),
        case(
            "close in an unknown currency",
            signed(cl, id, close(Currency(*b"JPY"), 0)),
            ResultCode::UnknownCurrency,
        ),
        case(
            "close on another chain",
            signed_with(cl, id, close(usd(), 2), "other", TX_VERSION),
            ResultCode::WrongChain,
        ),
        // StageBatch
        case(
            "stage chunk 1 with a beneficiary",
            signed(cl, id, stage(batch(1), 1, 1, good_chunk.clone())),
            ResultCode::Ok,
        ),
        case(
            "stage the largest chunk",
            signed(
                cl,
                id,
                stage(
                    batch(1),
                    1,
                    1,
                    vec![instr("I", C, A, 1, None); SETTLEMENT_CHUNK_MAX],
                ),
            ),
            ResultCode::Ok,
        ),
        case(
            "stage a chunk twice",
            signed(cl, id, stage(batch(1), 1, 0, good_chunk.clone())),
            ResultCode::ChunkExists,
        ),
        case(
            "stage chunk 64",
            signed(cl, id, stage(batch(1), 1, 64, good_chunk.clone())),
            ResultCode::InvalidChunk,
        ),
        case(
            "stage an empty chunk",
            signed(cl, id, stage(batch(1), 1, 1, vec![])),
            ResultCode::InvalidChunk,
        ),
        case(
            "stage an oversized chunk",
            signed(
                cl,
                id,
                stage(
                    batch(1),
                    1,
                    1,
                    vec![instr("I", C, A, 1, None); SETTLEMENT_CHUNK_MAX + 1],
                ),
            ),
            ResultCode::InvalidChunk,
        ),
        case(
            "stage an empty instruction id",
            signed(
                cl,
                id,
                stage(batch(1), 1, 1, vec![instr("", C, A, 1, None)]),
            ),
            ResultCode::InvalidInstruction,
        ),
        case(
            "stage a 36-character id",
            signed(
                cl,
                id,
                stage(batch(1), 1, 1, vec![instr(&long_id, C, A, 1, None)]),
            ),
            ResultCode::InvalidInstruction,
        ),
        case(
            "stage a self-instruction",
            signed(
                cl,
                id,
                stage(batch(1), 1, 1, vec![instr("I", C, C, 1, None)]),
            ),
            ResultCode::SelfInstruction,
        ),
        case(
            "stage a zero instruction",
            signed(
                cl,
                id,
                stage(batch(1), 1, 1, vec![instr("I", C, A, 0, None)]),
            ),
            ResultCode::ZeroAmount,
        ),
        case(
            "stage an unknown debtor",
            signed(
                cl,
                id,
                stage(batch(1), 1, 1, vec![instr("I", 9, A, 1, None)]),
            ),
            ResultCode::UnknownMember,
        ),
        case(
            "stage a beneficiary at another member",
            signed(
                cl,
                id,
                stage(batch(1), 1, 1, vec![instr("I", C, A, 1, Some(wb()))]),
            ),
            ResultCode::InvalidBeneficiary,
        ),
        case(
            "stage an unknown beneficiary",
            signed(
                cl,
                id,
                stage(
                    batch(1),
                    1,
                    1,
                    vec![instr("I", C, A, 1, Some(wallet_id(9)))],
                ),
            ),
            ResultCode::InvalidBeneficiary,
        ),
        case(
            "stage a settlement account as beneficiary",
            signed(
                cl,
                id,
                stage(
                    batch(1),
                    1,
                    1,
                    vec![instr("I", C, A, 1, Some(settlement("bank-a", usd())))],
                ),
            ),
            ResultCode::InvalidBeneficiary,
        ),
        case(
            "stage a beneficiary in another currency",
            signed(
                cl,
                id,
                stage(batch(1), 1, 1, vec![instr("I", C, A, 1, Some(we()))]),
            ),
            ResultCode::CurrencyMismatch,
        ),
        case(
            "stage a batch id for another window",
            signed(cl, id, stage(batch(1), 0, 1, good_chunk.clone())),
            ResultCode::BatchExists,
        ),
        case(
            "stage into a settled batch",
            signed(cl, id, stage(batch(0), 0, 0, good_chunk.clone())),
            ResultCode::BatchFinished,
        ),
        case(
            "stage a second batch for a settling window",
            signed(cl, id, stage(batch(2), 1, 0, good_chunk.clone())),
            ResultCode::SettlementInProgress,
        ),
        case(
            "stage for the open window",
            signed(cl, id, stage(batch(2), 2, 0, good_chunk.clone())),
            ResultCode::WindowNotClosed,
        ),
        case(
            "stage for a settled window",
            signed(cl, id, stage(batch(2), 0, 0, good_chunk.clone())),
            ResultCode::WindowAlreadySettled,
        ),
        case(
            "stage by an issuer",
            signed(&k.issuers[1], id, stage(batch(1), 1, 1, good_chunk.clone())),
            ResultCode::ForbiddenRole,
        ),
        case(
            "stage in an unknown currency",
            signed(
                cl,
                id,
                Operation::StageBatch {
                    batch: batch(1),
                    currency: Currency(*b"JPY"),
                    window: 1,
                    chunk: 1,
                    instructions: good_chunk.clone(),
                },
            ),
            ResultCode::UnknownCurrency,
        ),
        // SettleBatch
        case(
            "settle (reject policy)",
            signed(cl, id, b1_settle(SettlementPolicy::Reject)),
            ResultCode::Ok,
        ),
        case(
            "settle (unwind policy)",
            signed(cl, id, b1_settle(SettlementPolicy::Unwind)),
            ResultCode::Ok,
        ),
        with(
            "settle short (reject)",
            vec![signed(cl, pre_id, withdraw(A, 400))],
            signed(cl, id, b1_settle(SettlementPolicy::Reject)),
            ResultCode::SettlementShortfall,
        ),
        with(
            "settle short (unwind)",
            vec![signed(cl, pre_id, withdraw(A, 400))],
            signed(cl, id, b1_settle(SettlementPolicy::Unwind)),
            ResultCode::Ok,
        ),
        with(
            "settle above the debtor's cap (reject)",
            vec![signed(cl, pre_id, cap(A, Some(549)))],
            signed(cl, id, b1_settle(SettlementPolicy::Reject)),
            ResultCode::SettlementShortfall,
        ),
        case(
            "settle naming too many chunks",
            signed(
                cl,
                id,
                settle_op(batch(1), 1, &b1_chunk0(), 2, SettlementPolicy::Reject),
            ),
            ResultCode::BatchIncomplete,
        ),
        case(
            "settle naming too few chunks",
            signed(
                cl,
                id,
                settle_op(batch(1), 1, &b1_chunk0(), 0, SettlementPolicy::Reject),
            ),
            ResultCode::BatchIncomplete,
        ),
        case(
            "settle naming another count",
            signed(
                cl,
                id,
                settle_op(
                    batch(1),
                    1,
                    &[b1_chunk0()[0].clone(), b1_chunk0()[0].clone()],
                    1,
                    SettlementPolicy::Reject,
                ),
            ),
            ResultCode::BatchIncomplete,
        ),
        case(
            "settle with another digest",
            signed(
                cl,
                id,
                settle_op(
                    batch(1),
                    1,
                    &[instr("I-1", B, A, 51, None)],
                    1,
                    SettlementPolicy::Reject,
                ),
            ),
            ResultCode::DigestMismatch,
        ),
        case(
            "settle naming 65 chunks",
            signed(
                cl,
                id,
                settle_op(batch(1), 1, &b1_chunk0(), 65, SettlementPolicy::Reject),
            ),
            ResultCode::InvalidChunk,
        ),
        case(
            "settle another batch for a settling window",
            signed(
                cl,
                id,
                settle_op(batch(2), 1, &[], 0, SettlementPolicy::Reject),
            ),
            ResultCode::SettlementInProgress,
        ),
        case(
            "settle the open window",
            signed(
                cl,
                id,
                settle_op(batch(2), 2, &[], 0, SettlementPolicy::Reject),
            ),
            ResultCode::WindowNotClosed,
        ),
        case(
            "settle a settled window",
            signed(
                cl,
                id,
                settle_op(batch(2), 0, &[], 0, SettlementPolicy::Reject),
            ),
            ResultCode::WindowAlreadySettled,
        ),
        case(
            "settle a settled batch again",
            signed(
                cl,
                id,
                settle_op(batch(0), 0, &[], 0, SettlementPolicy::Reject),
            ),
            ResultCode::BatchFinished,
        ),
        case(
            "settle a batch for another window",
            signed(
                cl,
                id,
                settle_op(batch(1), 0, &b1_chunk0(), 1, SettlementPolicy::Reject),
            ),
            ResultCode::BatchExists,
        ),
        case(
            "settle by a user",
            signed(&k.users[1], id, b1_settle(SettlementPolicy::Reject)),
            ResultCode::ForbiddenSigner,
        ),
        // AbortBatch
        case(
            "abort a staging batch",
            signed(cl, id, Operation::AbortBatch { batch: batch(1) }),
            ResultCode::Ok,
        ),
        case(
            "abort a settled batch",
            signed(cl, id, Operation::AbortBatch { batch: batch(0) }),
            ResultCode::BatchFinished,
        ),
        case(
            "abort an unknown batch",
            signed(cl, id, Operation::AbortBatch { batch: batch(9) }),
            ResultCode::UnknownBatch,
        ),
        case(
            "abort by an issuer",
            signed(&k.issuers[0], id, Operation::AbortBatch { batch: batch(1) }),
            ResultCode::ForbiddenRole,
        ),
        // FundSettlement / WithdrawSettlement
        case(
            "fund a member without a settlement account",
            signed(cl, id, fund(C, 700)),
            ResultCode::Ok,
        ),
        case(
            "withdraw everything",
            signed(cl, id, withdraw(A, 900)),
            ResultCode::Ok,
        ),
        case(
            "withdraw more than the balance",
            signed(cl, id, withdraw(A, 901)),
            ResultCode::InsufficientFunds,
        ),
        case(
            "withdraw from a member without a settlement account",
            signed(cl, id, withdraw(C, 1)),
            ResultCode::InsufficientFunds,
        ),
        case(
            "fund zero",
            signed(cl, id, fund(A, 0)),
            ResultCode::ZeroAmount,
        ),
        case(
            "fund an unknown member",
            signed(cl, id, fund(9, 1)),
            ResultCode::UnknownMember,
        ),
        case(
            "fund in an unknown currency",
            signed(
                cl,
                id,
                Operation::FundSettlement {
                    member: MemberId(A),
                    currency: Currency(*b"JPY"),
                    amount: Amount(1),
                },
            ),
            ResultCode::UnknownCurrency,
        ),
        case(
            "fund by an issuer",
            signed(&k.issuers[0], id, fund(A, 1)),
            ResultCode::ForbiddenRole,
        ),
        case(
            "withdraw by a user",
            signed(&k.users[0], id, withdraw(A, 1)),
            ResultCode::ForbiddenSigner,
        ),
        // SetNetDebitCap and the cap on payments
        case(
            "set a cap",
            signed(cl, id, cap(A, Some(10))),
            ResultCode::Ok,
        ),
        case("remove a cap", signed(cl, id, cap(C, None)), ResultCode::Ok),
        case(
            "cap an unknown member",
            signed(cl, id, cap(9, Some(1))),
            ResultCode::UnknownMember,
        ),
        case(
            "cap by an issuer",
            signed(&k.issuers[2], id, cap(C, None)),
            ResultCode::ForbiddenRole,
        ),
        case(
            "pay up to the payer member's cap",
            signed(&k.users[2], id, transfer(wc(), wa(), 5_200)),
            ResultCode::Ok,
        ),
        case(
            "pay beyond the payer member's cap",
            signed(&k.users[2], id, transfer(wc(), wa(), 5_201)),
            ResultCode::NetDebitCapExceeded,
        ),
        with(
            "pay once the cap is lowered",
            vec![signed(cl, pre_id, cap(A, Some(600)))],
            signed(&k.users[0], id, transfer(wa(), wb(), 1)),
            ResultCode::NetDebitCapExceeded,
        ),
        with(
            "receive while above the cap",
            vec![signed(cl, pre_id, cap(A, Some(0)))],
            signed(&k.users[1], id, transfer(wb(), wa(), 1)),
            ResultCode::Ok,
        ),
        case(
            "issuing is not capped",
            signed(&k.issuers[2], id, issue(wc(), 1)),
            ResultCode::Ok,
        ),
    ]
}

/// Checks that hold after every block of every test.

#[test]
fn every_settlement_operation_and_result_code() {
    let normal = base();
    let totals = normal.totals();
    let mut seen = BTreeSet::new();
    for case in cases() {
        let mut ledger = normal.clone();
        if !case.pre.is_empty() {
            ok_block(&mut ledger, &case.pre);
        }
        let before = snapshot(&ledger);
        let root_before = state_parts(&ledger);
        let out = apply(&mut ledger, std::slice::from_ref(&case.tx));
        let got = out.outcomes[0].result;
        assert_eq!(got, case.want, "{}", case.what);
        let ids: Vec<AccountId> = out.changed_accounts.iter().map(|a| a.id).collect();
        assert_eq!(out.outcomes[0].changed, ids, "{}: changed", case.what);
        check_invariants(&ledger, &totals, case.what);
        if got.is_ok() {
            assert!(!ids.is_empty(), "{}", case.what);
        } else {
            assert!(ids.is_empty(), "{}", case.what);
            assert_eq!(snapshot(&ledger), before, "{}: accounts changed", case.what);
            assert_ne!(
                state_parts(&ledger),
                root_before,
                "{}: record written",
                case.what
            );
        }
        assert_eq!(ledger.record(&case.tx.tx.id).map(|r| r.result), Some(got));
        // The detail of a shortfall names the member and the amount.
        if got == ResultCode::SettlementShortfall {
            let Some(RecordDetail::Settlement {
                policy,
                window,
                members,
            }) = ledger.record(&case.tx.tx.id).and_then(|r| r.detail.clone())
            else {
                panic!("{}: no detail", case.what)
            };
            assert_eq!((policy, window), (SettlementPolicy::Reject, 1));
            assert_eq!(members.len(), 1, "{}", case.what);
            assert_eq!(members[0].member, MemberId(A));
            assert_eq!(members[0].debit, 550);
            // Withdrawn to 500: short 50; capped at 549 with 900: short 1.
            let want = if case.what.contains("cap") { 1 } else { 50 };
            assert_eq!(members[0].shortfall, want, "{}", case.what);
            assert_eq!(
                out.outcomes[0].detail,
                ledger.record(&case.tx.tx.id).and_then(|r| r.detail.clone())
            );
        }
        // A retry returns the first result and changes nothing.
        let root = state_parts(&ledger);
        let again = apply(&mut ledger, std::slice::from_ref(&case.tx));
        assert_eq!(
            (again.outcomes[0].result, again.outcomes[0].duplicate),
            (got, true)
        );
        assert!(again.changed_accounts.is_empty());
        assert_eq!(state_parts(&ledger), root);
        seen.insert(got.as_str());
    }
    for code in &ResultCode::ALL[30..46] {
        assert!(seen.contains(code.as_str()), "{code} is not exercised");
    }
}
