//! Table-driven tests of the ledger rules: every operation x every result code it can
//! produce, and the amounts successful operations move. Idempotency, authorization, genesis
//! and restore validation and proofs are in `idempotency_and_restore.rs`.

mod common;
mod rules_fixture;

use common::*;
use rules_fixture::*;
use settlenet_ledger::{AccountKind, Ledger, ResultCode};
use settlenet_types::{
    AccountId, Amount, Hash, Height, MemberId, Operation, SignedTransaction, TX_VERSION,
};
use std::collections::BTreeSet;

#[derive(Clone, Copy)]
enum Base {
    Normal,
    NearMax,
}

struct Case {
    what: &'static str,
    base: Base,
    tx: SignedTransaction,
    want: ResultCode,
}

fn cases() -> Vec<Case> {
    let k = keys();
    let w = wallet_id;
    let [alice, bob, carol] = &k.users;
    let id = nonce(100);
    let case = |what, tx, want| Case {
        what,
        base: Base::Normal,
        tx,
        want,
    };
    let new = w(7);
    vec![
        // CreateWallet
        case(
            "create ok",
            signed(&k.issuer_a, id, create(new, 0, carol, usd())),
            ResultCode::Ok,
        ),
        case(
            "create for bank-b by its issuer",
            signed(&k.issuer_b, id, create(new, 1, carol, eur())),
            ResultCode::Ok,
        ),
        case(
            "create on another chain",
            signed_with(
                &k.issuer_a,
                id,
                create(new, 0, carol, usd()),
                "other",
                TX_VERSION,
            ),
            ResultCode::WrongChain,
        ),
        case(
            "create with a future version",
            signed_with(
                &k.issuer_a,
                id,
                create(new, 0, carol, usd()),
                CHAIN,
                TX_VERSION + 1,
            ),
            ResultCode::UnsupportedVersion,
        ),
        case(
            "create reusing a tx id with another body",
            signed(&k.issuer_a, nonce(1), create(new, 0, carol, usd())),
            ResultCode::ExistsWithDifferentBody,
        ),
        case(
            "create signed by an auditor (staff without the issuer role)",
            signed(&k.auditor_a, id, create(new, 0, carol, usd())),
            ResultCode::ForbiddenRole,
        ),
        case(
            "create at bank-a signed by bank-b's issuer",
            signed(&k.issuer_b, id, create(new, 0, carol, usd())),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "create signed by a user",
            signed(alice, id, create(new, 0, alice, usd())),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "create at an unknown member",
            signed(&k.issuer_a, id, create(new, 7, carol, usd())),
            ResultCode::UnknownMember,
        ),
        case(
            "create in an unknown currency",
            signed(
                &k.issuer_a,
                id,
                create(new, 0, carol, settlenet_types::Currency(*b"JPY")),
            ),
            ResultCode::UnknownCurrency,
        ),
        case(
            "create over an existing wallet",
            signed(&k.issuer_a, id, create(w(BOB), 0, carol, usd())),
            ResultCode::AccountExists,
        ),
        case(
            "create over a settlement account",
            signed(
                &k.issuer_a,
                id,
                create(settlement("bank-a", usd()), 0, carol, usd()),
            ),
            ResultCode::AccountExists,
        ),
        case(
            "create over a float id not yet created (reserved)",
            signed(
                &k.issuer_b,
                id,
                create(float("bank-b", eur()), 1, carol, eur()),
            ),
            ResultCode::AccountExists,
        ),
        // Issue
        case(
            "issue ok",
            signed(&k.issuer_a, id, issue(w(ALICE), 5)),
            ResultCode::Ok,
        ),
        case(
            "issue ok, float created on first use",
            signed(&k.issuer_b, id, issue(w(BOB), 5)),
            ResultCode::Ok,
        ),
        case(
            "issue on another chain",
            signed_with(&k.issuer_a, id, issue(w(ALICE), 5), "other", TX_VERSION),
            ResultCode::WrongChain,
        ),
        case(
            "issue with an old version",
            signed_with(&k.issuer_a, id, issue(w(ALICE), 5), CHAIN, 0),
            ResultCode::UnsupportedVersion,
        ),
        case(
            "issue reusing a tx id",
            signed(&k.issuer_a, nonce(4), issue(w(ALICE), 101)),
            ResultCode::ExistsWithDifferentBody,
        ),
        case(
            "issue zero",
            signed(&k.issuer_a, id, issue(w(ALICE), 0)),
            ResultCode::ZeroAmount,
        ),
        case(
            "issue into bank-a's wallet by bank-b's issuer",
            signed(&k.issuer_b, id, issue(w(ALICE), 5)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "issue by an auditor (staff without the issuer role)",
            signed(&k.auditor_a, id, issue(w(ALICE), 5)),
            ResultCode::ForbiddenRole,
        ),
        case(
            "issue by the wallet owner",
            signed(alice, id, issue(w(ALICE), 5)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "issue into a missing wallet",
            signed(&k.issuer_a, id, issue(w(NOBODY), 5)),
            ResultCode::AccountNotFound,
        ),
        case(
            "issue into a settlement account",
            signed(&k.issuer_a, id, issue(settlement("bank-a", usd()), 5)),
            ResultCode::NotAWallet,
        ),
        case(
            "issue into a float",
            signed(&k.issuer_a, id, issue(float("bank-a", usd()), 5)),
            ResultCode::NotAWallet,
        ),
        Case {
            what: "issue overflowing the wallet",
            base: Base::NearMax,
            tx: signed(&k.issuer_a, id, issue(w(ALICE), 6)),
            want: ResultCode::Overflow,
        },
        Case {
            what: "issue just below the limit",
            base: Base::NearMax,
            tx: signed(&k.issuer_a, id, issue(w(ALICE), 5)),
            want: ResultCode::Ok,
        },
        // Transfer
        case(
            "transfer ok",
            signed(alice, id, transfer(w(ALICE), w(BOB), 40)),
            ResultCode::Ok,
        ),
        case(
            "transfer everything",
            signed(alice, id, transfer(w(ALICE), w(BOB), 100)),
            ResultCode::Ok,
        ),
        case(
            "transfer on another chain",
            signed_with(
                alice,
                id,
                transfer(w(ALICE), w(BOB), 1),
                "other",
                TX_VERSION,
            ),
            ResultCode::WrongChain,
        ),
        case(
            "transfer with a future version",
            signed_with(alice, id, transfer(w(ALICE), w(BOB), 1), CHAIN, 9),
            ResultCode::UnsupportedVersion,
        ),
        case(
            "transfer reusing a tx id (its signer's earlier create; checked before authority)",
            signed(&k.issuer_a, nonce(3), transfer(w(ALICE), w(BOB), 1)),
            ResultCode::ExistsWithDifferentBody,
        ),
        case(
            "transfer zero",
            signed(alice, id, transfer(w(ALICE), w(BOB), 0)),
            ResultCode::ZeroAmount,
        ),
        case(
            "transfer to itself",
            signed(alice, id, transfer(w(ALICE), w(ALICE), 1)),
            ResultCode::SameAccount,
        ),
        case(
            "transfer signed by the payee",
            signed(bob, id, transfer(w(ALICE), w(BOB), 1)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "transfer signed by the issuer",
            signed(&k.issuer_a, id, transfer(w(ALICE), w(BOB), 1)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "transfer from a missing wallet",
            signed(alice, id, transfer(w(NOBODY), w(BOB), 1)),
            ResultCode::AccountNotFound,
        ),
        case(
            "transfer from a settlement account",
            signed(
                &k.issuer_a,
                id,
                transfer(settlement("bank-a", usd()), w(BOB), 1),
            ),
            ResultCode::NotAWallet,
        ),
        case(
            "transfer from a float",
            signed(&k.issuer_a, id, transfer(float("bank-a", usd()), w(BOB), 1)),
            ResultCode::NotAWallet,
        ),
        case(
            "transfer to a missing payee",
            signed(alice, id, transfer(w(ALICE), w(NOBODY), 1)),
            ResultCode::UnknownPayee,
        ),
        case(
            "transfer to a settlement account",
            signed(
                alice,
                id,
                transfer(w(ALICE), settlement("bank-a", usd()), 1),
            ),
            ResultCode::NotAWallet,
        ),
        case(
            "transfer across currencies",
            signed(alice, id, transfer(w(ALICE), w(CAROL), 1)),
            ResultCode::CurrencyMismatch,
        ),
        case(
            "transfer one more than the balance",
            signed(alice, id, transfer(w(ALICE), w(BOB), 101)),
            ResultCode::InsufficientFunds,
        ),
        case(
            "transfer from an empty wallet",
            signed(bob, id, transfer(w(BOB), w(ALICE), 1)),
            ResultCode::InsufficientFunds,
        ),
        case(
            "transfer u64::MAX",
            signed(alice, id, transfer(w(ALICE), w(BOB), u64::MAX)),
            ResultCode::InsufficientFunds,
        ),
        Case {
            what: "transfer overflowing the payee",
            base: Base::NearMax,
            tx: signed(bob, id, transfer(w(BOB), w(ALICE), 10)),
            want: ResultCode::Overflow,
        },
        Case {
            what: "transfer up to the payee's limit",
            base: Base::NearMax,
            tx: signed(bob, id, transfer(w(BOB), w(ALICE), 5)),
            want: ResultCode::Ok,
        },
    ]
}

#[test]
fn every_operation_and_result_code() {
    let (normal, near) = (base(), near_max());
    let mut seen = BTreeSet::new();
    for case in cases() {
        let mut ledger = match case.base {
            Base::Normal => normal.clone(),
            Base::NearMax => near.clone(),
        };
        let before = snapshot(&ledger);
        let root_before = state_parts(&ledger);
        let accounts_root_before = ledger.accounts_root();
        let totals_before = ledger.totals();
        let record_before = ledger.record(&case.tx.tx.id).cloned();
        let out = apply(&mut ledger, std::slice::from_ref(&case.tx));
        let got = out.outcomes[0].result;
        assert_eq!(got, case.want, "{}", case.what);
        assert!(!out.outcomes[0].duplicate, "{}", case.what);
        assert_eq!(
            ledger.totals(),
            totals_before,
            "{}: conservation",
            case.what
        );
        for a in ledger.accounts().expect("accounts in memory") {
            if a.kind.must_stay_nonnegative() {
                assert!(a.available() >= 0, "{}: {a:?} below zero", case.what);
            }
        }
        if got.is_ok() {
            assert!(!out.changed_accounts.is_empty(), "{}", case.what);
            assert_ne!(state_parts(&ledger), root_before, "{}", case.what);
        } else {
            assert!(out.changed_accounts.is_empty(), "{}", case.what);
            assert_eq!(snapshot(&ledger), before, "{}: accounts changed", case.what);
            assert_eq!(
                ledger.accounts_root(),
                accounts_root_before,
                "{}",
                case.what
            );
            // The root commits to records: it changes exactly when a record was written.
            assert_eq!(
                state_parts(&ledger) == root_before,
                got == ResultCode::ExistsWithDifferentBody,
                "{}: root",
                case.what
            );
        }
        // A record for everything but a body conflict, which keeps the first record.
        if got == ResultCode::ExistsWithDifferentBody {
            assert!(out.new_records.is_empty(), "{}", case.what);
            assert_eq!(ledger.record(&case.tx.tx.id).cloned(), record_before);
        } else {
            assert_eq!(out.new_records.len(), 1, "{}", case.what);
            let rec = ledger.record(&case.tx.tx.id).expect("record");
            assert_eq!(rec.result, got);
            assert_eq!(rec.height, ledger.height());
            assert_eq!(rec.index, 0);
            assert_eq!(rec.body_hash, case.tx.tx.intent_hash().expect("hash"));
        }
        let stateless = [
            ResultCode::WrongChain,
            ResultCode::UnsupportedVersion,
            ResultCode::ZeroAmount,
            ResultCode::SameAccount,
        ];
        assert_precheck_agrees(&normal, &case.tx, got, case.what, &stateless);
        seen.insert(got.as_str());
    }
    // The codes of the original operations; the payment model's are covered by
    // `retail_table.rs`, settlement's by `settlement_table.rs`.
    let all: BTreeSet<&str> = ResultCode::ALL[..16]
        .iter()
        .chain([ResultCode::ForbiddenRole].iter())
        .map(|c| c.as_str())
        .collect();
    assert_eq!(
        seen, all,
        "every result code of these operations is exercised"
    );
}

#[test]
fn successful_operations_move_the_right_amounts() {
    let k = keys();
    let mut l = base();
    let a = |l: &Ledger, id: AccountId| l.account(&id).expect("account").balance();
    assert_eq!(a(&l, wallet_id(ALICE)), 100);
    assert_eq!(a(&l, float("bank-a", usd())), -100);
    assert!(l.account(&float("bank-b", usd())).is_none());

    let out = apply(
        &mut l,
        &[
            signed(
                &k.users[0],
                nonce(10),
                transfer(wallet_id(ALICE), wallet_id(BOB), 30),
            ),
            signed(&k.issuer_b, nonce(11), issue(wallet_id(BOB), 7)),
        ],
    );
    assert!(out.outcomes.iter().all(|o| o.result.is_ok()));
    assert_eq!(a(&l, wallet_id(ALICE)), 70);
    assert_eq!(a(&l, wallet_id(BOB)), 37);
    let fb = l.account(&float("bank-b", usd())).expect("float created");
    assert_eq!((fb.kind.clone(), fb.balance()), (AccountKind::Float, -7));
    assert_eq!(fb.created_height, l.height());
    let ids: Vec<AccountId> = out.changed_accounts.iter().map(|x| x.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "changed accounts sorted by id");
    // alice, bob, bank-b float, the two members' positions (alice at bank-a paid bob at
    // bank-b: bank-a owes bank-b 30 in window 0) and window 0's record (its matrix).
    assert_eq!(ids.len(), 6);
    let pos = |m: &str| {
        l.account(&settlenet_ledger::position_id(m, usd(), 0))
            .expect("position")
            .balance()
    };
    assert_eq!((pos("bank-a"), pos("bank-b")), (-30, 30));
    let w = l.account(&wallet_id(CAROL)).expect("carol");
    assert_eq!(w.owner, Some(k.users[2].public()));
    assert_eq!(w.created_height, Height(1));
    assert_eq!(w.member, settlenet_types::MemberId(0));
    let totals = l.totals();
    assert_eq!(totals[&usd()], 1_500);
    assert_eq!(totals[&eur()], 70);
}

/// Issue 11, hole 1: a key the consortium never gave the `clearing` role cannot fill
/// mempools with large `stage_batch` transactions (each one would leave a permanent record
/// inside a block). Admission refuses every operation its signer may never perform, leaving
/// nothing behind; what could still become valid (an account not created yet) is admitted.
#[test]
fn admission_refuses_signers_who_may_never_do_the_operation() {
    let k = keys();
    let mut l = Ledger::from_genesis(&genesis()).expect("genesis");
    let outsider = key(99);
    let instruction = |i: u32| settlenet_types::SettlementInstruction {
        id: format!("junk-{i:030}"),
        debtor: MemberId(0),
        creditor: MemberId(1),
        amount: Amount(1),
        beneficiary: None,
    };
    let junk = Operation::StageBatch {
        batch: settlenet_types::BatchId([7; 16]),
        currency: usd(),
        window: 1,
        chunk: 0,
        instructions: (0..settlenet_types::SETTLEMENT_CHUNK_MAX as u32)
            .map(instruction)
            .collect(),
    };
    let before = l.state_root();
    let cases = [
        (
            "stage_batch by an outsider",
            &outsider,
            junk.clone(),
            ResultCode::ForbiddenSigner,
        ),
        (
            "stage_batch by an issuer",
            &k.issuer_a,
            junk.clone(),
            ResultCode::ForbiddenRole,
        ),
        (
            "close_window by an auditor without clearing",
            &k.clerk_b,
            Operation::CloseWindow {
                currency: usd(),
                window: 1,
            },
            ResultCode::ForbiddenRole,
        ),
        (
            "create_wallet at bank-b by bank-a's issuer",
            &k.issuer_a,
            create(wallet_id(1), 1, &k.users[0], usd()),
            ResultCode::ForbiddenSigner,
        ),
        (
            "issue by an outsider into a wallet not created yet",
            &outsider,
            issue(wallet_id(9), 5),
            ResultCode::ForbiddenSigner,
        ),
    ];
    for (what, signer, op, want) in cases {
        let tx = signed(signer, nonce(1), op);
        assert_eq!(l.precheck(&tx), Err(want), "{what}");
        // Inside a block (a Byzantine primary may include it) it is refused as well.
        let out = apply(&mut l.clone(), std::slice::from_ref(&tx));
        assert!(!out.outcomes[0].result.is_ok(), "{what}");
    }
    assert_eq!(l.state_root(), before, "admission changes nothing");
    // A wallet's owner is fixed at creation: a transfer out of it signed by anyone else is
    // refused at the door; before the wallet exists, it waits in the mempool like any other.
    let transfer = Operation::Transfer {
        from: wallet_id(1),
        to: wallet_id(2),
        amount: Amount(1),
    };
    let by_stranger = signed(&k.users[1], nonce(2), transfer.clone());
    assert_eq!(
        l.precheck(&by_stranger),
        Ok(()),
        "the wallet does not exist yet"
    );
    apply(
        &mut l,
        &[signed(
            &k.issuer_a,
            nonce(3),
            create(wallet_id(1), 0, &k.users[0], usd()),
        )],
    );
    assert_eq!(l.precheck(&by_stranger), Err(ResultCode::ForbiddenSigner));
    assert_eq!(l.precheck(&signed(&k.users[0], nonce(4), transfer)), Ok(()));
}

/// Issue 11, hole 7: a transaction carries `valid_until_ms`. A block stamped after it refuses
/// it (`expired`: nothing moves, and no record); up to it, it executes. So a payment held back
/// by a node cannot be played after its validity, when the user may have retried under a new
/// id. Validity is bounded above (`validity_too_long`, no record either), so every record
/// leaves the live set within an hour of its block (issue 18).
#[test]
fn a_transaction_past_its_validity_never_executes() {
    let k = keys();
    let mut l = base();
    // `apply` stamps block h with 1,000 × h ms of consensus time.
    let t = 1_000 * l.height().next().0;
    let late = signed_until(
        &k.users[0],
        nonce(20),
        transfer(wallet_id(ALICE), wallet_id(BOB), 30),
        t - 1,
    );
    let just = signed_until(
        &k.users[0],
        nonce(21),
        transfer(wallet_id(ALICE), wallet_id(BOB), 5),
        t,
    );
    // Admission (with the node's clock) refuses the late one at the door.
    assert_eq!(
        Ledger::check_validity(&late.tx, t),
        Err(ResultCode::Expired)
    );
    assert_eq!(Ledger::check_validity(&just.tx, t), Ok(()));
    let balance = |l: &Ledger| l.account(&wallet_id(ALICE)).expect("alice").balance();
    let before = balance(&l);
    // Inside a block (a Byzantine primary may include it) it is refused as well, unrecorded.
    let out = apply(&mut l, &[late.clone(), just.clone()]);
    assert_eq!(out.outcomes[0].result, ResultCode::Expired);
    assert!(out.outcomes[0].changed.is_empty());
    assert!(out.outcomes[1].result.is_ok(), "{:?}", out.outcomes[1]);
    assert_eq!(
        out.new_records.len(),
        1,
        "only the executed one is recorded"
    );
    assert!(l.record(&late.tx.id).is_none());
    assert_eq!(balance(&l), before - 5);
    // Played again later, it is still expired: time only moves forward.
    let again = apply(&mut l, &[late]);
    assert_eq!(again.outcomes[0].result, ResultCode::Expired);
    assert!(!again.outcomes[0].duplicate);
    assert_eq!(balance(&l), before - 5);
    // The executed one left the live set at the first block past its validity (this one), and
    // a replay of it is refused as expired: it executed once, and never will again.
    assert_eq!(again.pruned_records, vec![just.tx.id]);
    assert!(l.record(&just.tx.id).is_none());
    let replay = apply(&mut l, &[just]);
    assert_eq!(replay.outcomes[0].result, ResultCode::Expired);
    assert_eq!(balance(&l), before - 5);
    // Validity is bounded above: at most TX_VALIDITY_MAX_MS (one hour) past the block's time.
    let t = 1_000 * l.height().next().0;
    let far = signed_until(
        &k.users[0],
        nonce(22),
        transfer(wallet_id(ALICE), wallet_id(BOB), 1),
        t + settlenet_types::TX_VALIDITY_MAX_MS + 1,
    );
    assert_eq!(
        Ledger::check_validity(&far.tx, t),
        Err(ResultCode::ValidityTooLong)
    );
    let mut never = far.clone();
    never.tx.valid_until_ms = u64::MAX;
    assert_eq!(
        Ledger::check_validity(&never.tx, t),
        Err(ResultCode::ValidityTooLong),
        "u64::MAX does not mean never"
    );
    let mut edge = far.clone();
    edge.tx.valid_until_ms = t + settlenet_types::TX_VALIDITY_MAX_MS;
    assert_eq!(Ledger::check_validity(&edge.tx, t), Ok(()));
    let out = apply(&mut l, std::slice::from_ref(&far));
    assert_eq!(out.outcomes[0].result, ResultCode::ValidityTooLong);
    assert!(out.new_records.is_empty() && l.record(&far.tx.id).is_none());
    assert_eq!(balance(&l), before - 5);
}

/// Issue 18: the live set holds only ids still inside their validity, so it stays the size of
/// one validity window of traffic however long the history; a record that leaves it is still
/// committed by the history root (an archived-record proof), and an id still executes once.
#[test]
fn the_live_set_is_bounded_by_the_validity_window() {
    let k = keys();
    let mut l = base();
    let start = l.record_count();
    let mut archive = Vec::new();
    // 40 blocks of one transfer each, each valid for 3 blocks (3,000 ms).
    for i in 0..40u64 {
        let t = 1_000 * l.height().next().0;
        let tx = signed_until(
            &k.users[0],
            nonce(1_000 + i),
            transfer(wallet_id(ALICE), wallet_id(BOB), 1),
            t + 3_000,
        );
        let out = apply(&mut l, std::slice::from_ref(&tx));
        assert!(out.outcomes[0].result.is_ok());
        assert_eq!(out.history, *l.history());
        // The block wrote a record: one history leaf, its position the level-0 node's.
        let leaf = out.history_nodes.first().expect("a leaf");
        assert_eq!((leaf.level, leaf.index + 1), (0, l.history().size));
        archive.push((tx, out.new_records.clone(), leaf.index));
        // At most the blocks of one validity window are live.
        assert!(l.record_count() <= start + 4, "{} live", l.record_count());
    }
    // 40 blocks executed 40 ids: at most the last 4 blocks' are live (plus the fixture's, still
    // valid: they were signed valid for an hour).
    assert!(
        l.record_count() <= start + 4,
        "{} live after 40 blocks",
        l.record_count()
    );
    assert_eq!(
        l.history().size,
        l.height().0,
        "one history leaf per block that wrote records (all of them here)"
    );
    for (tx, block_records, leaf) in &archive {
        let root = l.state_root();
        // Every record, live or not, is proven against today's root by the history.
        let proof = l
            .prove_archived_record(&tx.tx.id, block_records, *leaf, history_node)
            .expect("proof");
        let record = proof.verify(&root).expect("verifies");
        assert_eq!(record.result, ResultCode::Ok);
        // A record whose result is changed does not verify; nor against another root.
        let mut forged = proof.clone();
        forged.record.result = ResultCode::InsufficientFunds;
        assert!(forged.verify(&root).is_err());
        let mut moved = proof.clone();
        moved.record.height = settlenet_types::Height(moved.record.height.0 + 1);
        assert!(moved.verify(&root).is_err());
        assert!(proof.verify(&Hash([1; 32])).is_err());
        // And the id never executes again: a replay now is expired, whatever the block.
        let balance = l.account(&wallet_id(ALICE)).expect("alice").balance();
        let out = apply(&mut l, std::slice::from_ref(tx));
        if out.outcomes[0].duplicate {
            assert_eq!(
                out.outcomes[0].result,
                ResultCode::Ok,
                "still live: the first result"
            );
        } else {
            assert_eq!(out.outcomes[0].result, ResultCode::Expired);
        }
        assert_eq!(
            l.account(&wallet_id(ALICE)).expect("alice").balance(),
            balance
        );
        assert!(out.new_records.is_empty() && out.history_nodes.is_empty());
    }
    // An empty block leaves the root as it was: no pruning, no history leaf (so an idle
    // primary's one empty block certifies the latest state, and no other is wanted).
    let root = l.state_root();
    let out = apply(&mut l, &[]);
    assert!(out.pruned_records.is_empty() && out.history_nodes.is_empty());
    assert_eq!(l.state_root(), root);
}

/// Issue 11, hole 7: ids are scoped by signer. A thief who saw alice's payment in flight puts a
/// transaction of its own under the same id ahead of it (a Byzantine primary can order it
/// first). Its id is not derived from its signer: refused (`id_not_derived`) at admission and
/// inside a block, before the id is looked up and without a record, so alice's payment then
/// executes under its id as if the thief had never tried.
#[test]
fn another_signer_cannot_take_an_id() {
    let k = keys();
    let mut l = base();
    let payment = signed(
        &k.users[0],
        nonce(30),
        transfer(wallet_id(ALICE), wallet_id(BOB), 7),
    );
    // The thief's body: its own key and operation, alice's id. No key can sign it (it has no
    // signing message), so it travels with any signature: the ledger does not check them.
    let mut thief = signed(
        &k.users[1],
        nonce(30),
        transfer(wallet_id(BOB), wallet_id(ALICE), 1),
    );
    assert_ne!(
        thief.tx.id, payment.tx.id,
        "same nonce, other key: other id"
    );
    thief.tx.id = payment.tx.id;
    assert!(thief.tx.signing_message().is_err());
    assert_eq!(l.precheck(&thief), Err(ResultCode::IdNotDerived));
    let balance = |l: &Ledger, w: u8| l.account(&wallet_id(w)).expect("wallet").balance();
    let (alice, bob) = (balance(&l, ALICE), balance(&l, BOB));
    let records = l.record_count();
    let out = apply(&mut l, &[thief.clone(), payment.clone()]);
    assert_eq!(out.outcomes[0].result, ResultCode::IdNotDerived);
    assert!(!out.outcomes[0].duplicate);
    assert!(out.outcomes[1].result.is_ok(), "{:?}", out.outcomes[1]);
    assert!(
        !out.outcomes[1].duplicate,
        "the thief left nothing under the id"
    );
    assert_eq!(l.record_count(), records + 1, "one record: the payment's");
    let record = l.record(&payment.tx.id).expect("the payment's record");
    assert_eq!(record.body_hash, payment.tx.intent_hash().expect("intent"));
    assert_eq!(balance(&l, ALICE), alice - 7);
    assert_eq!(balance(&l, BOB), bob + 7);
    // Played again, the thief is still refused, and the payment's retry is a duplicate.
    let again = apply(&mut l, &[thief, payment]);
    assert_eq!(again.outcomes[0].result, ResultCode::IdNotDerived);
    assert!(again.outcomes[1].duplicate);
    assert_eq!(balance(&l, ALICE), alice - 7);
}
