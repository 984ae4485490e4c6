//! Charge requests: every state change and every refusal, as scripts of blocks run on a fresh
//! ledger; the sweep's expiries; a restored ledger keeps the indexes; the pending limit.

mod common;

use common::*;
use settlenet_crypto::Keypair;
use settlenet_ledger::{
    charge_account_id, hold_account_id, AccountDetail, ChargeDetail, ChargeStatus, Ledger,
    ResultCode, CHARGES_PENDING_PER_MERCHANT_MAX, CHARGE_TIMEOUT_MS_MAX, HOLD_TIMEOUT_MS_MAX,
};
use settlenet_types::{
    AccountId, Amount, ChargeId, ChargePayer, Currency, Height, Operation, SignedTransaction,
};
use std::cell::Cell;

const W0: u8 = 0; // u0's wallet at bank-a (alias 1, tier 2)
const W1: u8 = 1; // u1's wallet at bank-a
const W2: u8 = 2; // u2's wallet at bank-b
const WE: u8 = 3; // u0's EUR wallet at bank-a
const M: u8 = 9; // the merchant at bank-b

fn w(n: u8) -> AccountId {
    wallet_id(n)
}

fn charge_id(n: u8) -> ChargeId {
    ChargeId([0xC0, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3])
}

thread_local! {
    static NONCE: Cell<u64> = const { Cell::new(1_000) };
}

/// Signed with a fresh nonce.
fn tx(signer: &Keypair, op: Operation) -> SignedTransaction {
    let n = NONCE.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    signed(signer, nonce(n), op)
}

/// Wallets W0, W1 (bank-a), W2 (bank-b), WE (bank-a, EUR) with 10,000 each, and merchant M at
/// bank-b; block 1.
fn setup() -> Ledger {
    let k = keys();
    let mut l = Ledger::from_genesis(&genesis()).expect("genesis");
    let txs = vec![
        tx(&k.issuer_a, register(w(W0), 0, 1, &k.users[0], usd(), 2)),
        tx(&k.issuer_a, register(w(W1), 0, 2, &k.users[1], usd(), 2)),
        tx(&k.issuer_b, register(w(W2), 1, 3, &k.users[2], usd(), 2)),
        tx(&k.issuer_a, register(w(WE), 0, 4, &k.users[0], eur(), 2)),
        tx(&k.issuer_b, merchant(w(M), 1, &k.merchant, usd())),
        tx(&k.issuer_a, issue(w(W0), 10_000)),
        tx(&k.issuer_a, issue(w(W1), 10_000)),
        tx(&k.issuer_b, issue(w(W2), 10_000)),
        tx(&k.issuer_a, issue(w(WE), 10_000)),
    ];
    let out = apply(&mut l, &txs);
    for o in &out.outcomes {
        assert_eq!(o.result, ResultCode::Ok, "setup");
    }
    l
}

fn create(n: u8, amount: u64, payer: Option<ChargePayer>, timeout_ms: u64) -> Operation {
    create_ref(n, amount, payer, timeout_ms, "order-77")
}

fn create_ref(
    n: u8,
    amount: u64,
    payer: Option<ChargePayer>,
    timeout_ms: u64,
    reference: &str,
) -> Operation {
    Operation::CreateCharge {
        charge: charge_id(n),
        merchant: w(M),
        amount: Amount(amount),
        reference: reference.into(),
        payer,
        timeout_ms,
        hold_timeout_ms: 5_000,
    }
}

fn approve(n: u8, hold: u8, from: AccountId, amount: u64) -> Operation {
    Operation::ApproveCharge {
        charge: charge_id(n),
        hold: hold_id(hold),
        from,
        amount: Amount(amount),
    }
}

fn decline(n: u8, from: AccountId) -> Operation {
    Operation::DeclineCharge {
        charge: charge_id(n),
        from,
    }
}

fn cancel(n: u8) -> Operation {
    Operation::CancelCharge {
        charge: charge_id(n),
    }
}

fn detail(l: &Ledger, n: u8) -> ChargeDetail {
    match l.charge(&charge_id(n)).map(|a| &a.detail) {
        Some(AccountDetail::Charge(c)) => c.clone(),
        other => panic!("charge {n}: {other:?}"),
    }
}

fn named(n: u8) -> Option<ChargePayer> {
    Some(ChargePayer::Account(w(n)))
}

/// Run each block (one transaction each) and check its result; returns the ledger.
fn script(what: &str, steps: Vec<(SignedTransaction, ResultCode)>) -> Ledger {
    let stateless = [
        ResultCode::ZeroAmount,
        ResultCode::InvalidTimeout,
        ResultCode::InvalidReference,
        ResultCode::SameAccount,
    ];
    let mut l = setup();
    for (i, (t, want)) in steps.into_iter().enumerate() {
        let step = format!("{what}: step {i} ({})", t.tx.op.name());
        // Admission agrees with execution (refusals at the door are refusals in a block).
        assert_precheck_agrees(&l, &t, want, &step, &stateless);
        let out = apply(&mut l, std::slice::from_ref(&t));
        assert_eq!(out.outcomes[0].result, want, "{step}");
    }
    l
}

#[test]
fn approve_then_capture_completes_across_issuers() {
    let k = keys();
    let u0 = &k.users[0];
    let l = script(
        "happy path",
        vec![
            (
                tx(&k.merchant, create(1, 1_250, named(W0), 60_000)),
                ResultCode::Ok,
            ),
            (tx(u0, approve(1, 1, w(W0), 1_250)), ResultCode::Ok),
            (tx(&k.merchant, capture(1, 1_000)), ResultCode::Ok),
        ],
    );
    let c = detail(&l, 1);
    assert_eq!(c.status, ChargeStatus::Completed);
    assert_eq!(c.captured, 1_000);
    assert_eq!(c.hold, Some((hold_id(1), w(W0))));
    assert_eq!(c.payer, Some(w(W0)));
    assert_eq!(c.reference, "order-77");
    let payer = l.account(&w(W0)).expect("W0");
    assert_eq!((payer.balance(), payer.debits_pending), (9_000, 0));
    assert_eq!(l.account(&w(M)).expect("M").balance(), 1_000);
    // Payer at bank-a, merchant at bank-b: the capture created the interbank obligation.
    let net = |member: &str| {
        l.account(&settlenet_ledger::position_id(member, usd(), 0))
            .map_or(0, |a| a.balance())
    };
    assert_eq!((net("bank-a"), net("bank-b")), (-1_000, 1_000));
}

#[test]
fn each_state_change_and_refusal() {
    let k = keys();
    let (u0, u1, u2) = (&k.users[0], &k.users[1], &k.users[2]);
    type Script = (
        &'static str,
        Vec<(SignedTransaction, ResultCode)>,
        Option<ChargeStatus>,
    );
    let scripts: Vec<Script> = vec![
        (
            "an open request is approved by anyone in the currency, by alias too",
            vec![
                (
                    tx(&k.merchant, create(1, 500, None, 60_000)),
                    ResultCode::Ok,
                ),
                (tx(u2, approve(1, 2, w(W2), 500)), ResultCode::Ok),
            ],
            Some(ChargeStatus::Approved),
        ),
        (
            "declined by the named payer, then refused",
            vec![
                (
                    tx(&k.merchant, create(1, 500, named(W0), 60_000)),
                    ResultCode::Ok,
                ),
                (tx(u0, decline(1, w(W0))), ResultCode::Ok),
                (
                    tx(u0, approve(1, 1, w(W0), 500)),
                    ResultCode::ChargeDeclined,
                ),
                (tx(u0, decline(1, w(W0))), ResultCode::ChargeDeclined),
                (tx(&k.merchant, cancel(1)), ResultCode::ChargeDeclined),
            ],
            Some(ChargeStatus::Declined),
        ),
        (
            "approved twice",
            vec![
                (
                    tx(&k.merchant, create(1, 500, None, 60_000)),
                    ResultCode::Ok,
                ),
                (tx(u0, approve(1, 1, w(W0), 500)), ResultCode::Ok),
                (
                    tx(u1, approve(1, 2, w(W1), 500)),
                    ResultCode::ChargeAlreadyApproved,
                ),
                (
                    tx(u0, approve(1, 3, w(W0), 500)),
                    ResultCode::ChargeAlreadyApproved,
                ),
                (
                    tx(&k.merchant, cancel(1)),
                    ResultCode::ChargeAlreadyApproved,
                ),
            ],
            Some(ChargeStatus::Approved),
        ),
        (
            "wrong payer",
            vec![
                (
                    tx(&k.merchant, create(1, 500, named(W0), 60_000)),
                    ResultCode::Ok,
                ),
                (tx(u1, approve(1, 1, w(W1), 500)), ResultCode::WrongPayer),
                (tx(u1, decline(1, w(W1))), ResultCode::WrongPayer),
                // The named wallet, signed by someone else's key.
                (
                    tx(u1, approve(1, 1, w(W0), 500)),
                    ResultCode::ForbiddenSigner,
                ),
                (tx(u1, decline(1, w(W0))), ResultCode::ForbiddenSigner),
            ],
            Some(ChargeStatus::Pending),
        ),
        (
            "amount tampered",
            vec![
                (
                    tx(&k.merchant, create(1, 500, None, 60_000)),
                    ResultCode::Ok,
                ),
                (
                    tx(u0, approve(1, 1, w(W0), 501)),
                    ResultCode::ChargeAmountMismatch,
                ),
                (
                    tx(u0, approve(1, 1, w(W0), 499)),
                    ResultCode::ChargeAmountMismatch,
                ),
            ],
            Some(ChargeStatus::Pending),
        ),
        (
            "cancelled by the merchant, then refused",
            vec![
                (
                    tx(&k.merchant, create(1, 500, named(W0), 60_000)),
                    ResultCode::Ok,
                ),
                (tx(u0, cancel(1)), ResultCode::ForbiddenSigner),
                (tx(&k.merchant, cancel(1)), ResultCode::Ok),
                (
                    tx(u0, approve(1, 1, w(W0), 500)),
                    ResultCode::ChargeCancelled,
                ),
                (tx(u0, decline(1, w(W0))), ResultCode::ChargeCancelled),
                (tx(&k.merchant, cancel(1)), ResultCode::ChargeCancelled),
            ],
            Some(ChargeStatus::Cancelled),
        ),
        (
            "cancelled by the acquirer's staff",
            vec![
                (
                    tx(&k.issuer_b, create(1, 500, None, 60_000)),
                    ResultCode::Ok,
                ),
                (tx(&k.issuer_b, cancel(1)), ResultCode::Ok),
            ],
            Some(ChargeStatus::Cancelled),
        ),
        (
            "an open request cannot be declined",
            vec![
                (
                    tx(&k.merchant, create(1, 500, None, 60_000)),
                    ResultCode::Ok,
                ),
                (tx(u0, decline(1, w(W0))), ResultCode::ChargeHasNoPayer),
            ],
            Some(ChargeStatus::Pending),
        ),
        (
            "the payer cannot cover it: refused, still pending",
            vec![
                (
                    tx(&k.merchant, create(1, 10_001, None, 60_000)),
                    ResultCode::Ok,
                ),
                (
                    tx(u0, approve(1, 1, w(W0), 10_001)),
                    ResultCode::InsufficientFunds,
                ),
                (
                    tx(&k.merchant, create(2, 9_000, None, 60_000)),
                    ResultCode::Ok,
                ),
                (
                    tx(
                        u0,
                        pay(w(W0), settlenet_types::Payee::Account(w(W1)), 2_000, None),
                    ),
                    ResultCode::Ok,
                ),
                (
                    tx(u0, approve(2, 1, w(W0), 9_000)),
                    ResultCode::InsufficientFunds,
                ),
            ],
            Some(ChargeStatus::Pending),
        ),
        (
            "the hold id is taken",
            vec![
                (
                    tx(u0, authorize(1, w(W0), w(M), 10, 60_000)),
                    ResultCode::Ok,
                ),
                (
                    tx(&k.merchant, create(1, 500, None, 60_000)),
                    ResultCode::Ok,
                ),
                (tx(u1, approve(1, 1, w(W1), 500)), ResultCode::HoldExists),
            ],
            Some(ChargeStatus::Pending),
        ),
        (
            "voided after approval",
            vec![
                (
                    tx(&k.merchant, create(1, 500, None, 60_000)),
                    ResultCode::Ok,
                ),
                (tx(u0, approve(1, 1, w(W0), 500)), ResultCode::Ok),
                (tx(&k.merchant, void(1)), ResultCode::Ok),
                (
                    tx(&k.merchant, capture(1, 500)),
                    ResultCode::HoldAlreadyVoided,
                ),
            ],
            Some(ChargeStatus::Voided),
        ),
        (
            "creation refusals",
            vec![
                (
                    tx(u0, create(1, 500, None, 60_000)),
                    ResultCode::ForbiddenSigner,
                ),
                (
                    tx(&k.issuer_a, create(1, 500, None, 60_000)),
                    ResultCode::ForbiddenSigner,
                ),
                (
                    tx(
                        &k.merchant,
                        Operation::CreateCharge {
                            charge: charge_id(1),
                            merchant: w(W0),
                            amount: Amount(5),
                            reference: "r".into(),
                            payer: None,
                            timeout_ms: 1_000,
                            hold_timeout_ms: 1_000,
                        },
                    ),
                    ResultCode::NotAMerchant,
                ),
                (
                    tx(&k.merchant, create(1, 0, None, 60_000)),
                    ResultCode::ZeroAmount,
                ),
                (
                    tx(&k.merchant, create(1, 5, None, 0)),
                    ResultCode::InvalidTimeout,
                ),
                (
                    tx(&k.merchant, create(1, 5, None, CHARGE_TIMEOUT_MS_MAX + 1)),
                    ResultCode::InvalidTimeout,
                ),
                (
                    tx(&k.merchant, create_ref(1, 5, None, 1_000, "")),
                    ResultCode::InvalidReference,
                ),
                (
                    tx(&k.merchant, create_ref(1, 5, None, 1_000, &"x".repeat(36))),
                    ResultCode::InvalidReference,
                ),
                (
                    tx(&k.merchant, create_ref(1, 5, None, 1_000, "a\nb")),
                    ResultCode::InvalidReference,
                ),
                (
                    tx(
                        &k.merchant,
                        create(1, 5, Some(ChargePayer::Alias(alias(77))), 1_000),
                    ),
                    ResultCode::UnknownPayee,
                ),
                (
                    tx(&k.merchant, create(1, 5, named(M), 1_000)),
                    ResultCode::SameAccount,
                ),
                (
                    tx(&k.merchant, create(1, 5, named(WE), 1_000)),
                    ResultCode::CurrencyMismatch,
                ),
                (
                    tx(
                        &k.merchant,
                        create(
                            1,
                            5,
                            Some(ChargePayer::Alias(alias(1))),
                            CHARGE_TIMEOUT_MS_MAX,
                        ),
                    ),
                    ResultCode::Ok,
                ),
                (
                    tx(&k.merchant, create(1, 5, None, 1_000)),
                    ResultCode::ChargeExists,
                ),
                (tx(u0, approve(2, 1, w(W0), 5)), ResultCode::ChargeNotFound),
                (tx(u0, decline(2, w(W0))), ResultCode::ChargeNotFound),
                (tx(&k.merchant, cancel(2)), ResultCode::ChargeNotFound),
                (tx(u0, approve(1, 1, w(W0), 0)), ResultCode::ZeroAmount),
            ],
            Some(ChargeStatus::Pending),
        ),
    ];
    let mut seen: Vec<ResultCode> = Vec::new();
    for (what, steps, status) in scripts {
        for (_, code) in &steps {
            if !seen.contains(code) {
                seen.push(*code);
            }
        }
        let l = script(what, steps);
        if let Some(status) = status {
            assert_eq!(detail(&l, 1).status, status, "{what}");
        }
    }
    // A payer named by alias is resolved to its wallet when the request executes.
    let k2 = keys();
    let l = script(
        "alias",
        vec![(
            tx(
                &k2.merchant,
                create(1, 5, Some(ChargePayer::Alias(alias(1))), 1_000),
            ),
            ResultCode::Ok,
        )],
    );
    assert_eq!(detail(&l, 1).payer, Some(w(W0)));
    // Every code charge requests brought is produced by some script here or below.
    for code in &ResultCode::ALL[56..] {
        if [
            ResultCode::ChargeExpired,
            ResultCode::TooManyCharges,
            ResultCode::RefundWindowClosed,
        ]
        .contains(code)
        {
            continue; // the tests below
        }
        assert!(seen.contains(code), "no script produces {code:?}");
    }
    let _ = HOLD_TIMEOUT_MS_MAX;
}

#[test]
fn requests_and_their_holds_expire_by_consensus_time() {
    let k = keys();
    let u0 = &k.users[0];
    let mut l = setup();
    // Blocks are stamped 1,000 ms apart (height h at h * 1,000 ms). Created at block 2
    // (2,000 ms): request 1 expires at 3,500; request 2 (approved) holds for 5,000.
    let out = apply(
        &mut l,
        &[
            tx(&k.merchant, create(1, 500, named(W0), 1_500)),
            tx(&k.merchant, create(2, 700, None, 60_000)),
        ],
    );
    assert!(out.outcomes.iter().all(|o| o.result.is_ok()));
    let out = apply(&mut l, &[tx(u0, approve(2, 2, w(W0), 700))]); // block 3, 3,000 ms
    assert_eq!(out.outcomes[0].result, ResultCode::Ok);
    assert!(out.expired.is_empty());
    // Block 4 (4,000 ms): request 1 is swept, whatever the block holds (here: nothing).
    let out = apply(&mut l, &[]);
    assert_eq!(out.expired, vec![charge_account_id(&charge_id(1))]);
    assert_eq!(detail(&l, 1).status, ChargeStatus::Expired);
    assert_eq!(detail(&l, 1).status_tx, None);
    assert_eq!(detail(&l, 1).status_height, Height(4));
    let out = apply(&mut l, &[tx(u0, approve(1, 1, w(W0), 500))]);
    assert_eq!(out.outcomes[0].result, ResultCode::ChargeExpired);
    assert!(out.expired.is_empty(), "an expiry is reported once");
    // Block 8 (8,000 ms) reaches the approved request's hold deadline (3,000 + 5,000): the
    // hold and its request expire together, both reported.
    for _ in 0..2 {
        assert!(apply(&mut l, &[]).expired.is_empty());
    }
    let out = apply(&mut l, &[]);
    let mut want = vec![
        hold_account_id(&hold_id(2)),
        charge_account_id(&charge_id(2)),
    ];
    want.sort();
    assert_eq!(out.expired, want);
    assert_eq!(detail(&l, 2).status, ChargeStatus::Expired);
    assert_eq!(l.account(&w(W0)).expect("W0").debits_pending, 0);
    // A block stamped at the expiry sweeps the request before its transactions: approval in
    // it is refused.
    let mut l = setup();
    apply(&mut l, &[tx(&k.merchant, create(3, 5, None, 1_000))]); // block 2: expires 3,000
    let out = apply(&mut l, &[tx(u0, approve(3, 3, w(W0), 5))]); // block 3 at 3,000
    assert_eq!(out.outcomes[0].result, ResultCode::ChargeExpired);
    assert_eq!(out.expired, vec![charge_account_id(&charge_id(3))]);
}

#[test]
fn a_restored_ledger_keeps_the_charge_indexes() {
    let k = keys();
    let u0 = &k.users[0];
    let mut l = setup();
    apply(
        &mut l,
        &[
            tx(&k.merchant, create(1, 500, None, 60_000)),
            tx(&k.merchant, create(2, 700, None, 1_500)),
        ],
    );
    apply(&mut l, &[tx(u0, approve(1, 1, w(W0), 500))]);
    let mut r = Ledger::restore(
        &genesis(),
        l.height(),
        snapshot(&l),
        records(&l),
        l.history().clone(),
    )
    .expect("restore");
    assert_eq!(r.state_root(), l.state_root());
    // The same next block on both: the sweep (request 2) and the capture (request 1's hold
    // link) give the same results and root.
    let next = [tx(&k.merchant, capture(1, 500))];
    let a = apply(&mut l, &next);
    let b = r.apply_block(Height(l.height().0), 1_000 * l.height().0, &next);
    assert_eq!(a.outcomes[0].result, ResultCode::Ok);
    assert_eq!(b.outcomes[0].result, ResultCode::Ok);
    assert_eq!(a.expired, vec![charge_account_id(&charge_id(2))]);
    assert_eq!(a.expired, b.expired);
    assert_eq!(a.state_root, b.state_root);
    assert_eq!(detail(&r, 1).status, ChargeStatus::Completed);
}

#[test]
fn a_merchant_has_at_most_so_many_pending_requests() {
    let k = keys();
    let mut l = setup();
    let n = CHARGES_PENDING_PER_MERCHANT_MAX;
    let make = |i: usize| {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&(i as u64).to_be_bytes());
        tx(
            &k.merchant,
            Operation::CreateCharge {
                charge: ChargeId(id),
                merchant: w(M),
                amount: Amount(1),
                reference: format!("r{i}"),
                payer: None,
                timeout_ms: 60_000,
                hold_timeout_ms: 1_000,
            },
        )
    };
    let txs: Vec<SignedTransaction> = (0..=n).map(make).collect();
    let out = apply(&mut l, &txs);
    assert!(out.outcomes[..n].iter().all(|o| o.result.is_ok()));
    assert_eq!(out.outcomes[n].result, ResultCode::TooManyCharges);
    // Cancelling one frees a place.
    let mut first = [0u8; 16];
    first[..8].copy_from_slice(&0u64.to_be_bytes());
    let out = apply(
        &mut l,
        &[
            tx(
                &k.merchant,
                Operation::CancelCharge {
                    charge: ChargeId(first),
                },
            ),
            make(n + 1),
            make(n + 2),
        ],
    );
    let got: Vec<ResultCode> = out.outcomes.iter().map(|o| o.result).collect();
    assert_eq!(
        got,
        [ResultCode::Ok, ResultCode::Ok, ResultCode::TooManyCharges]
    );
    let _: Currency = usd();
}

#[test]
fn closed_holds_and_requests_leave_the_state_for_the_archive() {
    use settlenet_ledger::{CLOSED_ENTRY_KEEP_MS, REFUND_WINDOW_MS};
    let k = keys();
    let u0 = &k.users[0];
    let mut l = setup();
    let mut h = l.height().0;
    let mut block = |l: &mut Ledger, ts: u64, txs: &[SignedTransaction]| {
        h += 1;
        l.apply_block(Height(h), ts, txs)
    };
    // At 10 s: a request approved and captured (hold 1, deadline 10 s + 5 s), a plain hold
    // voided (hold 2, deadline 10 s + 60 s), a request cancelled.
    let t0 = 10_000;
    let out = block(
        &mut l,
        t0,
        &[
            tx(&k.merchant, create(1, 500, None, 60_000)),
            tx(u0, approve(1, 1, w(W0), 500)),
            tx(&k.merchant, capture(1, 500)),
            tx(u0, authorize(2, w(W0), w(M), 100, 60_000)),
            tx(&k.merchant, void(2)),
            tx(&k.merchant, create(2, 700, None, 60_000)),
            tx(&k.merchant, cancel(2)),
        ],
    );
    assert!(
        out.outcomes.iter().all(|o| o.result.is_ok()),
        "{:?}",
        out.outcomes
    );
    let capture_id = out.outcomes[2].id;
    let (hold1, hold2) = (hold_account_id(&hold_id(1)), hold_account_id(&hold_id(2)));
    let (req1, req2) = (
        charge_account_id(&charge_id(1)),
        charge_account_id(&charge_id(2)),
    );
    // A day after they closed, the two requests (closed at t0) go.
    let out = block(&mut l, t0 + CLOSED_ENTRY_KEEP_MS - 1, &[]);
    assert!(out.archived.is_empty());
    let out = block(&mut l, t0 + CLOSED_ENTRY_KEEP_MS, &[]);
    let mut want = vec![req1, req2];
    want.sort();
    assert_eq!(out.archived.iter().map(|a| a.id).collect::<Vec<_>>(), want);
    assert!(l.charge(&charge_id(1)).is_none() && l.account(&req2).is_none());
    // The final values go to the archive: request 1 completed.
    match &out
        .archived
        .iter()
        .find(|a| a.id == req1)
        .expect("req1")
        .detail
    {
        AccountDetail::Charge(c) => assert_eq!(c.status, ChargeStatus::Completed),
        other => panic!("{other:?}"),
    }
    // The voided hold a day after its deadline (t0 + 60 s).
    let out = block(&mut l, t0 + 60_000 + CLOSED_ENTRY_KEEP_MS, &[]);
    assert_eq!(
        out.archived.iter().map(|a| a.id).collect::<Vec<_>>(),
        [hold2]
    );
    // The captured hold stays for refunds until its window closes (deadline t0 + 5 s).
    let deadline = t0 + 5_000;
    // Signed valid until the block that carries it (the blocks here are months apart).
    let refund = |amount, at: u64| {
        let n = NONCE.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        signed_until(
            &k.merchant,
            nonce(n),
            settlenet_types::Operation::Refund {
                capture: capture_id,
                amount: Amount(amount),
            },
            at,
        )
    };
    let at = deadline + REFUND_WINDOW_MS - 1;
    let out = block(&mut l, at, &[refund(100, at)]);
    assert_eq!(out.outcomes[0].result, ResultCode::Ok);
    let at = deadline + REFUND_WINDOW_MS;
    let out = block(&mut l, at, &[refund(100, at)]);
    assert_eq!(out.outcomes[0].result, ResultCode::RefundWindowClosed);
    assert!(out.archived.is_empty());
    let at = deadline + REFUND_WINDOW_MS + CLOSED_ENTRY_KEEP_MS;
    let out = block(&mut l, at, &[refund(100, at)]);
    assert_eq!(
        out.archived.iter().map(|a| a.id).collect::<Vec<_>>(),
        [hold1]
    );
    assert_eq!(out.outcomes[0].result, ResultCode::HoldNotFound);
    assert!(l.account(&hold1).is_none());
    // Money is where it was: the merchant kept 400, the payer got 100 back.
    assert_eq!(l.account(&w(M)).expect("M").balance(), 400);
    // The state without them is the state a restore from the remaining accounts computes.
    let r = Ledger::restore(
        &genesis(),
        l.height(),
        snapshot(&l),
        records(&l),
        l.history().clone(),
    )
    .expect("restore");
    assert_eq!(r.state_root(), l.state_root());
    // An archived id may be used again (ids are random 128-bit values; nothing refers to it).
    let at = deadline + REFUND_WINDOW_MS + CLOSED_ENTRY_KEEP_MS + 1;
    let again = signed_until(
        &k.merchant,
        nonce(9_999_999),
        create(1, 5, None, 60_000),
        at,
    );
    let out = block(&mut l, at, &[again]);
    assert_eq!(out.outcomes[0].result, ResultCode::Ok);
}
