//! Table-driven tests of the issue-4 operations (phone wallets, roles, redeem, payments by
//! alias, merchants and holds): every operation x every result code it can produce, asserting
//! the result and that a rejection changes nothing; then a few sequences (positions and fees,
//! the life of a hold, expiry by consensus time, daily limits by UTC day, restore).

mod common;

use common::*;
use settlenet_ledger::{
    position_id, AccountDetail, AccountKind, HoldStatus, Ledger, ResultCode, HOLD_TIMEOUT_MS_MAX,
};
use settlenet_types::{AccountId, Height, Payee, SignedTransaction, TxId, TX_VERSION};
use std::collections::BTreeSet;

// Accounts of the base ledger (see `base`).
const P: u8 = 1; // phone wallet, bank-a, USD, users[0], alias 1, tier 0
const Q: u8 = 2; // phone wallet, bank-b, USD, users[1], alias 2, tier 1
const R: u8 = 3; // phone wallet, bank-a, EUR, users[2], alias 1, tier 2
const L: u8 = 4; // CreateWallet wallet (no tier, no limits), bank-a, USD, users[2]
const M: u8 = 5; // merchant at bank-b (acquirer), USD, merchant key
const NOBODY: u8 = 9;

/// The id of the capture of hold 2 (700 of 1000 captured).
const CAPTURE_H2: u64 = 14;

fn w(n: u8) -> AccountId {
    wallet_id(n)
}

/// Genesis, then (block h has timestamp 1000 h):
/// 1. register P, Q, R, merchant M, create L;
/// 2. issue P 60,000, Q 1,000, L 500, R 100;
/// 3. authorize holds 1 (3,000), 2 (1,000), 3 (500) from P to M, timeout 10^6 ms, and hold 4
///    (200) with timeout 500 ms;
/// 4. (hold 4 expires at 3,500) capture 700 of hold 2 (tx 14), void hold 3;
/// 5. P pays Q 9,000 five times by alias: P's outflow today is 49,700 of its 50,000.
///
/// Then P: balance 60,000 - 700 - 45,000 = 14,300, pending 3,000, available 11,300.
fn base() -> Ledger {
    let k = keys();
    let [u0, u1, u2] = &k.users;
    let mut l = Ledger::from_genesis(&genesis()).expect("genesis");
    let blocks: Vec<Vec<SignedTransaction>> = vec![
        vec![
            signed(&k.issuer_a, tx_id(1), register(w(P), 0, 1, u0, usd(), 0)),
            signed(&k.issuer_b, tx_id(2), register(w(Q), 1, 2, u1, usd(), 1)),
            signed(&k.issuer_a, tx_id(3), register(w(R), 0, 1, u2, eur(), 2)),
            signed(&k.issuer_b, tx_id(4), merchant(w(M), 1, &k.merchant, usd())),
            signed(&k.issuer_a, tx_id(5), create(w(L), 0, u2, usd())),
        ],
        vec![
            signed(&k.issuer_a, tx_id(6), issue(w(P), 60_000)),
            signed(&k.issuer_b, tx_id(7), issue(w(Q), 1_000)),
            signed(&k.issuer_a, tx_id(8), issue(w(L), 500)),
            signed(&k.issuer_a, tx_id(9), issue(w(R), 100)),
        ],
        vec![
            signed(u0, tx_id(10), authorize(1, w(P), w(M), 3_000, 1_000_000)),
            signed(u0, tx_id(11), authorize(2, w(P), w(M), 1_000, 1_000_000)),
            signed(u0, tx_id(12), authorize(3, w(P), w(M), 500, 1_000_000)),
            signed(u0, tx_id(13), authorize(4, w(P), w(M), 200, 500)),
        ],
        vec![
            signed(&k.merchant, tx_id(CAPTURE_H2), capture(2, 700)),
            signed(&k.issuer_b, tx_id(15), void(3)),
        ],
        (0..5)
            .map(|i| {
                signed(
                    u0,
                    tx_id(16 + i),
                    pay(w(P), Payee::Alias(alias(2)), 9_000, None),
                )
            })
            .collect(),
    ];
    for txs in blocks {
        let out = apply(&mut l, &txs);
        assert!(
            out.outcomes.iter().all(|o| o.result.is_ok()),
            "{:?}",
            out.outcomes
        );
    }
    let p = l.account(&w(P)).expect("P");
    assert_eq!((p.balance(), p.available()), (14_300, 11_300));
    l
}

struct Case {
    what: &'static str,
    tx: SignedTransaction,
    want: ResultCode,
}

fn cases() -> Vec<Case> {
    let k = keys();
    let [u0, u1, u2] = &k.users;
    let id = tx_id(100);
    let case = |what, tx, want| Case { what, tx, want };
    let new = w(7);
    let acct = Payee::Account;
    let settle_a = settlement("bank-a", usd());
    vec![
        // RegisterWallet
        case(
            "register ok",
            signed(&k.issuer_a, id, register(new, 0, 7, u0, usd(), 0)),
            ResultCode::Ok,
        ),
        case(
            "register: same alias, other currency",
            signed(&k.issuer_b, id, register(new, 1, 2, u1, eur(), 1)),
            ResultCode::Ok,
        ),
        case(
            "register on another chain",
            signed_with(
                &k.issuer_a,
                id,
                register(new, 0, 7, u0, usd(), 0),
                "other",
                TX_VERSION,
            ),
            ResultCode::WrongChain,
        ),
        case(
            "register with a future version",
            signed_with(
                &k.issuer_a,
                id,
                register(new, 0, 7, u0, usd(), 0),
                CHAIN,
                TX_VERSION + 1,
            ),
            ResultCode::UnsupportedVersion,
        ),
        case(
            "register reusing a tx id",
            signed(&k.issuer_a, tx_id(1), register(new, 0, 7, u0, usd(), 0)),
            ResultCode::ExistsWithDifferentBody,
        ),
        case(
            "register by staff without the issuer role",
            signed(&k.auditor_a, id, register(new, 0, 7, u0, usd(), 0)),
            ResultCode::ForbiddenRole,
        ),
        case(
            "register at bank-a by bank-b's issuer",
            signed(&k.issuer_b, id, register(new, 0, 7, u0, usd(), 0)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "register by a user",
            signed(u0, id, register(new, 0, 7, u0, usd(), 0)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "register at an unknown member",
            signed(&k.issuer_a, id, register(new, 7, 7, u0, usd(), 0)),
            ResultCode::UnknownMember,
        ),
        case(
            "register in an unknown currency",
            signed(&k.issuer_a, id, register(new, 0, 7, u0, jpy(), 0)),
            ResultCode::UnknownCurrency,
        ),
        case(
            "register with an unknown tier",
            signed(&k.issuer_a, id, register(new, 0, 7, u0, usd(), 3)),
            ResultCode::UnknownTier,
        ),
        case(
            "register an existing id",
            signed(&k.issuer_a, id, register(w(L), 0, 7, u0, usd(), 0)),
            ResultCode::AccountExists,
        ),
        case(
            "register a reserved id",
            signed(&k.issuer_a, id, register(settle_a, 0, 7, u0, usd(), 0)),
            ResultCode::AccountExists,
        ),
        case(
            "register a taken alias",
            signed(&k.issuer_b, id, register(new, 1, 1, u1, usd(), 0)),
            ResultCode::AliasExists,
        ),
        // RegisterMerchant
        case(
            "merchant ok",
            signed(&k.issuer_b, id, merchant(new, 1, &k.merchant, usd())),
            ResultCode::Ok,
        ),
        case(
            "merchant by staff without the acquirer role",
            signed(&k.clerk_b, id, merchant(new, 1, &k.merchant, usd())),
            ResultCode::ForbiddenRole,
        ),
        case(
            "merchant at bank-a, whose issuer is no acquirer",
            signed(&k.issuer_a, id, merchant(new, 0, &k.merchant, usd())),
            ResultCode::ForbiddenRole,
        ),
        case(
            "merchant at bank-b by bank-a's issuer",
            signed(&k.issuer_a, id, merchant(new, 1, &k.merchant, usd())),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "merchant at an unknown member",
            signed(&k.issuer_b, id, merchant(new, 5, &k.merchant, usd())),
            ResultCode::UnknownMember,
        ),
        case(
            "merchant in an unknown currency",
            signed(&k.issuer_b, id, merchant(new, 1, &k.merchant, jpy())),
            ResultCode::UnknownCurrency,
        ),
        case(
            "merchant with an existing id",
            signed(&k.issuer_b, id, merchant(w(P), 1, &k.merchant, usd())),
            ResultCode::AccountExists,
        ),
        // Redeem
        case(
            "redeem ok",
            signed(&k.issuer_a, id, redeem(w(P), 100)),
            ResultCode::Ok,
        ),
        case(
            "redeem everything available",
            signed(&k.issuer_a, id, redeem(w(P), 11_300)),
            ResultCode::Ok,
        ),
        case(
            "redeem more than available (pending counts)",
            signed(&k.issuer_a, id, redeem(w(P), 11_301)),
            ResultCode::InsufficientFunds,
        ),
        case(
            "redeem zero",
            signed(&k.issuer_a, id, redeem(w(P), 0)),
            ResultCode::ZeroAmount,
        ),
        case(
            "redeem from nowhere",
            signed(&k.issuer_a, id, redeem(w(NOBODY), 1)),
            ResultCode::AccountNotFound,
        ),
        case(
            "redeem from a merchant",
            signed(&k.issuer_b, id, redeem(w(M), 1)),
            ResultCode::NotAWallet,
        ),
        case(
            "redeem by staff without the issuer role",
            signed(&k.auditor_a, id, redeem(w(P), 1)),
            ResultCode::ForbiddenRole,
        ),
        case(
            "redeem by another member's issuer",
            signed(&k.issuer_b, id, redeem(w(P), 1)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "redeem by the owner",
            signed(u0, id, redeem(w(P), 1)),
            ResultCode::ForbiddenSigner,
        ),
        // Pay
        case(
            "pay by alias across members",
            signed(u1, id, pay(w(Q), Payee::Alias(alias(1)), 100, None)),
            ResultCode::Ok,
        ),
        case(
            "pay by account with a fee",
            signed(u1, id, pay(w(Q), acct(w(P)), 100, Some(5))),
            ResultCode::Ok,
        ),
        case(
            "pay a merchant",
            signed(u2, id, pay(w(L), acct(w(M)), 500, None)),
            ResultCode::Ok,
        ),
        case(
            "pay the last of the daily allowance",
            signed(u0, id, pay(w(P), acct(w(L)), 300, None)),
            ResultCode::Ok,
        ),
        case(
            "pay zero",
            signed(u1, id, pay(w(Q), acct(w(P)), 0, None)),
            ResultCode::ZeroAmount,
        ),
        case(
            "pay a zero fee",
            signed(u1, id, pay(w(Q), acct(w(P)), 1, Some(0))),
            ResultCode::ZeroAmount,
        ),
        case(
            "pay oneself by account",
            signed(u1, id, pay(w(Q), acct(w(Q)), 1, None)),
            ResultCode::SameAccount,
        ),
        case(
            "pay oneself by alias",
            signed(u1, id, pay(w(Q), Payee::Alias(alias(2)), 1, None)),
            ResultCode::SameAccount,
        ),
        case(
            "pay from nowhere",
            signed(u1, id, pay(w(NOBODY), acct(w(P)), 1, None)),
            ResultCode::AccountNotFound,
        ),
        case(
            "pay from a merchant",
            signed(&k.merchant, id, pay(w(M), acct(w(P)), 1, None)),
            ResultCode::NotAWallet,
        ),
        case(
            "pay signed by someone else",
            signed(u0, id, pay(w(Q), acct(w(P)), 1, None)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "pay signed by the issuer",
            signed(&k.issuer_b, id, pay(w(Q), acct(w(P)), 1, None)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "pay an unknown alias",
            signed(u1, id, pay(w(Q), Payee::Alias(alias(99)), 1, None)),
            ResultCode::UnknownPayee,
        ),
        case(
            "pay an alias registered only in another currency",
            signed(u2, id, pay(w(R), Payee::Alias(alias(2)), 1, None)),
            ResultCode::UnknownPayee,
        ),
        case(
            "pay an unknown account",
            signed(u1, id, pay(w(Q), acct(w(NOBODY)), 1, None)),
            ResultCode::UnknownPayee,
        ),
        case(
            "pay a settlement account",
            signed(u1, id, pay(w(Q), acct(settle_a), 1, None)),
            ResultCode::NotAWallet,
        ),
        case(
            "pay across currencies",
            signed(u1, id, pay(w(Q), acct(w(R)), 1, None)),
            ResultCode::CurrencyMismatch,
        ),
        case(
            "pay above the tier's transaction limit",
            signed(u0, id, pay(w(P), acct(w(L)), 10_001, None)),
            ResultCode::ExceedsTransactionLimit,
        ),
        case(
            "pay whose fee crosses the transaction limit",
            signed(u0, id, pay(w(P), acct(w(L)), 9_999, Some(2))),
            ResultCode::ExceedsTransactionLimit,
        ),
        case(
            "pay above the daily limit",
            signed(u0, id, pay(w(P), acct(w(L)), 301, None)),
            ResultCode::ExceedsDailyLimit,
        ),
        case(
            "pay more than available",
            signed(u2, id, pay(w(L), acct(w(Q)), 501, None)),
            ResultCode::InsufficientFunds,
        ),
        case(
            "pay whose fee exceeds available",
            signed(u2, id, pay(w(L), acct(w(Q)), 500, Some(1))),
            ResultCode::InsufficientFunds,
        ),
        // Transfer keeps its rules (wallets only) and now records positions too.
        case(
            "transfer to a merchant",
            signed(u2, id, transfer(w(L), w(M), 1)),
            ResultCode::NotAWallet,
        ),
        case(
            "transfer above the tier's limit",
            signed(u0, id, transfer(w(P), w(L), 10_001)),
            ResultCode::ExceedsTransactionLimit,
        ),
        // Authorize
        case(
            "authorize ok",
            signed(u2, id, authorize(9, w(L), w(M), 500, 10_000)),
            ResultCode::Ok,
        ),
        case(
            "authorize with the longest timeout",
            signed(u1, id, authorize(9, w(Q), w(M), 1, HOLD_TIMEOUT_MS_MAX)),
            ResultCode::Ok,
        ),
        case(
            "authorize zero",
            signed(u2, id, authorize(9, w(L), w(M), 0, 10_000)),
            ResultCode::ZeroAmount,
        ),
        case(
            "authorize to oneself",
            signed(u2, id, authorize(9, w(L), w(L), 1, 10_000)),
            ResultCode::SameAccount,
        ),
        case(
            "authorize with no timeout",
            signed(u2, id, authorize(9, w(L), w(M), 1, 0)),
            ResultCode::InvalidTimeout,
        ),
        case(
            "authorize with too long a timeout",
            signed(u2, id, authorize(9, w(L), w(M), 1, HOLD_TIMEOUT_MS_MAX + 1)),
            ResultCode::InvalidTimeout,
        ),
        case(
            "authorize an existing hold id",
            signed(u2, id, authorize(1, w(L), w(M), 1, 10_000)),
            ResultCode::HoldExists,
        ),
        case(
            "authorize from nowhere",
            signed(u2, id, authorize(9, w(NOBODY), w(M), 1, 10_000)),
            ResultCode::AccountNotFound,
        ),
        case(
            "authorize from a settlement account",
            signed(u2, id, authorize(9, settle_a, w(M), 1, 10_000)),
            ResultCode::NotAWallet,
        ),
        case(
            "authorize signed by someone else",
            signed(u0, id, authorize(9, w(L), w(M), 1, 10_000)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "authorize to an unknown merchant",
            signed(u2, id, authorize(9, w(L), w(NOBODY), 1, 10_000)),
            ResultCode::AccountNotFound,
        ),
        case(
            "authorize to a wallet",
            signed(u2, id, authorize(9, w(L), w(Q), 1, 10_000)),
            ResultCode::NotAMerchant,
        ),
        case(
            "authorize across currencies",
            signed(u2, id, authorize(9, w(R), w(M), 1, 10_000)),
            ResultCode::CurrencyMismatch,
        ),
        case(
            "authorize above the transaction limit",
            signed(u0, id, authorize(9, w(P), w(M), 10_001, 10_000)),
            ResultCode::ExceedsTransactionLimit,
        ),
        case(
            "authorize above the daily limit",
            signed(u0, id, authorize(9, w(P), w(M), 301, 10_000)),
            ResultCode::ExceedsDailyLimit,
        ),
        case(
            "authorize more than available",
            signed(u2, id, authorize(9, w(L), w(M), 501, 10_000)),
            ResultCode::InsufficientFunds,
        ),
        // Capture
        case(
            "capture all by the merchant",
            signed(&k.merchant, id, capture(1, 3_000)),
            ResultCode::Ok,
        ),
        case(
            "capture part by the acquirer",
            signed(&k.issuer_b, id, capture(1, 1)),
            ResultCode::Ok,
        ),
        case(
            "capture zero",
            signed(&k.merchant, id, capture(1, 0)),
            ResultCode::ZeroAmount,
        ),
        case(
            "capture more than held",
            signed(&k.merchant, id, capture(1, 3_001)),
            ResultCode::CaptureExceedsHold,
        ),
        case(
            "capture an unknown hold",
            signed(&k.merchant, id, capture(9, 1)),
            ResultCode::HoldNotFound,
        ),
        case(
            "capture by the payer",
            signed(u0, id, capture(1, 1)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "capture by another member's staff",
            signed(&k.issuer_a, id, capture(1, 1)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "capture by acquirer staff without the role",
            signed(&k.clerk_b, id, capture(1, 1)),
            ResultCode::ForbiddenRole,
        ),
        case(
            "capture a captured hold",
            signed(&k.merchant, id, capture(2, 1)),
            ResultCode::HoldAlreadyCaptured,
        ),
        case(
            "capture a voided hold",
            signed(&k.merchant, id, capture(3, 1)),
            ResultCode::HoldAlreadyVoided,
        ),
        case(
            "capture an expired hold",
            signed(&k.merchant, id, capture(4, 1)),
            ResultCode::HoldExpired,
        ),
        // Void
        case(
            "void by the merchant",
            signed(&k.merchant, id, void(1)),
            ResultCode::Ok,
        ),
        case(
            "void by the acquirer",
            signed(&k.issuer_b, id, void(1)),
            ResultCode::Ok,
        ),
        case(
            "void an unknown hold",
            signed(&k.merchant, id, void(9)),
            ResultCode::HoldNotFound,
        ),
        case(
            "void by the payer",
            signed(u0, id, void(1)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "void by acquirer staff without the role",
            signed(&k.clerk_b, id, void(1)),
            ResultCode::ForbiddenRole,
        ),
        case(
            "void a captured hold",
            signed(&k.merchant, id, void(2)),
            ResultCode::HoldAlreadyCaptured,
        ),
        case(
            "void a voided hold",
            signed(&k.merchant, id, void(3)),
            ResultCode::HoldAlreadyVoided,
        ),
        case(
            "void an expired hold",
            signed(&k.merchant, id, void(4)),
            ResultCode::HoldExpired,
        ),
        // Refund
        case(
            "refund everything captured",
            signed(&k.merchant, id, refund(tx_id(CAPTURE_H2), 700)),
            ResultCode::Ok,
        ),
        case(
            "refund part by the acquirer",
            signed(&k.issuer_b, id, refund(tx_id(CAPTURE_H2), 1)),
            ResultCode::Ok,
        ),
        case(
            "refund zero",
            signed(&k.merchant, id, refund(tx_id(CAPTURE_H2), 0)),
            ResultCode::ZeroAmount,
        ),
        case(
            "refund more than captured",
            signed(&k.merchant, id, refund(tx_id(CAPTURE_H2), 701)),
            ResultCode::RefundExceedsCapture,
        ),
        case(
            "refund an unknown capture",
            signed(&k.merchant, id, refund(tx_id(999), 1)),
            ResultCode::HoldNotFound,
        ),
        case(
            "refund an authorization, not a capture",
            signed(&k.merchant, id, refund(tx_id(10), 1)),
            ResultCode::HoldNotFound,
        ),
        case(
            "refund by the payer",
            signed(u0, id, refund(tx_id(CAPTURE_H2), 1)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "refund by acquirer staff without the role",
            signed(&k.clerk_b, id, refund(tx_id(CAPTURE_H2), 1)),
            ResultCode::ForbiddenRole,
        ),
        // Issue now distinguishes role from membership.
        case(
            "issue by bank-b staff without the role",
            signed(&k.clerk_b, id, issue(w(Q), 1)),
            ResultCode::ForbiddenRole,
        ),
    ]
}

fn jpy() -> settlenet_types::Currency {
    settlenet_types::Currency(*b"JPY")
}

#[test]
fn every_new_operation_and_result_code() {
    let normal = base();
    let mut seen = BTreeSet::new();
    let stateless = [
        ResultCode::WrongChain,
        ResultCode::UnsupportedVersion,
        ResultCode::ZeroAmount,
        ResultCode::InvalidTimeout,
    ];
    for case in cases() {
        let mut ledger = normal.clone();
        let before = snapshot(&ledger);
        let root_before = ledger.state_root();
        let accounts_root_before = ledger.accounts_root();
        let totals_before = ledger.totals();
        let record_before = ledger.record(&case.tx.tx.id).cloned();
        let out = apply(&mut ledger, std::slice::from_ref(&case.tx));
        let got = out.outcomes[0].result;
        assert_eq!(got, case.want, "{}", case.what);
        // The per-transaction list of changed accounts (the node's history index) is exactly
        // what the block changed (one transaction, no expiries), and empty on rejection.
        let ids: Vec<AccountId> = out.changed_accounts.iter().map(|a| a.id).collect();
        assert_eq!(out.outcomes[0].changed, ids, "{}: changed", case.what);
        assert_eq!(
            ledger.totals(),
            totals_before,
            "{}: conservation",
            case.what
        );
        assert!(
            ledger.position_totals(0).values().all(|t| *t == 0),
            "{}: positions sum to zero",
            case.what
        );
        for a in ledger.accounts() {
            if a.kind.must_stay_nonnegative() {
                assert!(a.available() >= 0, "{}: {a:?} below zero", case.what);
            }
        }
        if got.is_ok() {
            assert!(!out.changed_accounts.is_empty(), "{}", case.what);
            assert_ne!(ledger.state_root(), root_before, "{}", case.what);
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
                ledger.state_root() == root_before,
                got == ResultCode::ExistsWithDifferentBody,
                "{}: root",
                case.what
            );
        }
        if got == ResultCode::ExistsWithDifferentBody {
            assert_eq!(ledger.record(&case.tx.tx.id).cloned(), record_before);
        } else {
            assert_eq!(out.new_records.len(), 1, "{}", case.what);
            assert_eq!(ledger.record(&case.tx.tx.id).map(|r| r.result), Some(got));
        }
        match normal.precheck(&case.tx) {
            Err(code) => assert_eq!(code, got, "{}: precheck", case.what),
            Ok(()) => assert!(!stateless.contains(&got), "{}: precheck", case.what),
        }
        // A retry returns the first result and changes nothing.
        let root = ledger.state_root();
        let again = apply(&mut ledger, std::slice::from_ref(&case.tx));
        if got != ResultCode::ExistsWithDifferentBody {
            assert_eq!(
                (again.outcomes[0].result, again.outcomes[0].duplicate),
                (got, true)
            );
        }
        assert!(again.changed_accounts.is_empty() && again.new_records.is_empty());
        assert!(again.outcomes[0].changed.is_empty());
        assert_eq!(ledger.state_root(), root);
        seen.insert(got.as_str());
    }
    // Issue 4's codes (issue 5's are exercised in tests/settlement.rs).
    for code in &ResultCode::ALL[16..30] {
        assert!(seen.contains(code.as_str()), "{code} is not exercised");
    }
}

#[test]
fn payments_across_members_record_positions_and_fees_atomically() {
    let k = keys();
    let mut l = base();
    let pos = |l: &Ledger, m: &str| {
        l.account(&position_id(m, usd(), 0))
            .map_or(0, |a| a.balance())
    };
    let bal = |l: &Ledger, id: AccountId| l.account(&id).expect("account").balance();
    // Base: hold 2 captured 700 (P at bank-a -> M at bank-b), P paid Q 45,000.
    assert_eq!((pos(&l, "bank-a"), pos(&l, "bank-b")), (-45_700, 45_700));
    let fees_b = settlenet_types::AccountId::derived("fees", "bank-b", usd());
    assert!(l.account(&fees_b).is_none());
    let out = apply(
        &mut l,
        &[signed(
            &k.users[1],
            tx_id(100),
            pay(w(Q), Payee::Alias(alias(1)), 100, Some(5)),
        )],
    );
    assert!(out.outcomes[0].result.is_ok());
    assert_eq!(bal(&l, w(Q)), 46_000 - 105);
    assert_eq!(bal(&l, w(P)), 14_300 + 100);
    assert_eq!(bal(&l, fees_b), 5, "the fee goes to the payer's issuer");
    assert_eq!((pos(&l, "bank-a"), pos(&l, "bank-b")), (-45_600, 45_600));
    let changed: BTreeSet<AccountId> = out.changed_accounts.iter().map(|a| a.id).collect();
    let want: BTreeSet<AccountId> = [
        w(Q),
        w(P),
        fees_b,
        position_id("bank-a", usd(), 0),
        position_id("bank-b", usd(), 0),
        // The window's record: its obligation matrix gained bank-b -> bank-a.
        settlenet_ledger::window_account_id(usd(), 0),
    ]
    .into();
    assert_eq!(changed, want);
    assert_eq!(
        out.outcomes[0]
            .changed
            .iter()
            .copied()
            .collect::<BTreeSet<_>>(),
        want
    );
    // Same member: no position moves.
    let out = apply(
        &mut l,
        &[signed(
            &k.users[2],
            tx_id(101),
            pay(w(L), Payee::Alias(alias(1)), 10, None),
        )],
    );
    assert!(out.outcomes[0].result.is_ok());
    assert_eq!(out.changed_accounts.len(), 2);
    assert_eq!(l.position_totals(0)[&usd()], 0);
}

#[test]
fn a_hold_resolves_once_and_refunds_never_exceed_the_capture() {
    let k = keys();
    let mut l = base();
    let held = |l: &Ledger| l.account(&w(P)).expect("P").debits_pending;
    assert_eq!(held(&l), 3_000);
    let hold = |l: &Ledger, n: u8| match &l.hold(&hold_id(n)).expect("hold").detail {
        AccountDetail::Hold(h) => h.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(hold(&l, 2).status, HoldStatus::Captured);
    assert_eq!(hold(&l, 3).status, HoldStatus::Voided);
    assert_eq!(hold(&l, 4).status, HoldStatus::Expired);
    let m = l.account(&w(M)).expect("M");
    assert_eq!((m.balance(), m.credits_pending), (700, 3_000));

    // Capture 1,000 of hold 1: posted 1,000, the other 2,000 released.
    let out = apply(
        &mut l,
        &[signed(&k.merchant, tx_id(100), capture(1, 1_000))],
    );
    assert!(out.outcomes[0].result.is_ok());
    assert_eq!(held(&l), 0);
    let m = l.account(&w(M)).expect("M");
    assert_eq!((m.balance(), m.credits_pending), (1_700, 0));
    let again = apply(&mut l, &[signed(&k.merchant, tx_id(101), void(1))]);
    assert_eq!(again.outcomes[0].result, ResultCode::HoldAlreadyCaptured);

    // Refunds of hold 1's capture: 600 + 400 = 1,000, then nothing more.
    let refunds = [
        (102, 600, ResultCode::Ok),
        (103, 401, ResultCode::RefundExceedsCapture),
        (104, 400, ResultCode::Ok),
        (105, 1, ResultCode::RefundExceedsCapture),
    ];
    for (id, amount, want) in refunds {
        let out = apply(
            &mut l,
            &[signed(&k.merchant, tx_id(id), refund(tx_id(100), amount))],
        );
        assert_eq!(out.outcomes[0].result, want, "refund {amount}");
    }
    assert_eq!(hold(&l, 1).refunded, 1_000);
    assert_eq!(l.account(&w(M)).expect("M").balance(), 700);
}

#[test]
fn holds_expire_at_the_first_block_at_or_past_their_deadline() {
    let k = keys();
    let mut l = base(); // height 5, timestamp 5,000
    let out = apply(
        &mut l,
        &[signed(
            &k.users[2],
            tx_id(100),
            authorize(9, w(L), w(M), 300, 1_500),
        )],
    );
    assert!(out.outcomes[0].result.is_ok()); // at 6,000: expires at 7,500
    let entry = settlenet_ledger::hold_account_id(&hold_id(9));
    let h = Height(l.height().0 + 1);
    let out = l.apply_block(h, 7_499, &[]);
    assert!(out.changed_accounts.is_empty(), "not yet");
    assert_eq!(l.account(&w(L)).expect("L").debits_pending, 300);
    let h = Height(l.height().0 + 1);
    let out = l.apply_block(h, 7_500, &[signed(&k.merchant, tx_id(101), capture(9, 1))]);
    assert_eq!(out.outcomes[0].result, ResultCode::HoldExpired);
    let changed: BTreeSet<AccountId> = out.changed_accounts.iter().map(|a| a.id).collect();
    assert_eq!(changed, [entry, w(L), w(M)].into());
    assert_eq!(l.account(&w(L)).expect("L").debits_pending, 0);
    assert_eq!(l.account(&w(M)).expect("M").credits_pending, 3_000);
}

#[test]
fn daily_limits_reset_on_the_next_utc_day() {
    let k = keys();
    let mut l = base(); // P has sent 49,700 on day 0
    let h = Height(l.height().0 + 1);
    let out = l.apply_block(
        h,
        86_399_999,
        &[signed(
            &k.users[0],
            tx_id(100),
            pay(w(P), Payee::Account(w(L)), 301, None),
        )],
    );
    assert_eq!(out.outcomes[0].result, ResultCode::ExceedsDailyLimit);
    let h = Height(l.height().0 + 1);
    let out = l.apply_block(
        h,
        86_400_000,
        &[signed(
            &k.users[0],
            tx_id(101),
            pay(w(P), Payee::Account(w(L)), 301, None),
        )],
    );
    assert_eq!(out.outcomes[0].result, ResultCode::Ok);
    match &l.account(&w(P)).expect("P").detail {
        AccountDetail::Wallet(d) => assert_eq!((d.day, d.day_outflow), (1, 301)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn members_and_roles_come_from_the_genesis() {
    let l = base();
    let k = keys();
    let b = l.member(settlenet_types::MemberId(1)).expect("bank-b");
    assert_eq!(b.name, "bank-b");
    let roles = &b.staff[&k.issuer_b.public()];
    assert!(roles.contains(&settlenet_types::Role::Acquirer));
    assert_eq!(l.members().len(), 2);
    assert_eq!(
        l.wallet_by_alias(&alias(1), usd()).map(|a| a.id),
        Some(w(P))
    );
    assert_eq!(
        l.wallet_by_alias(&alias(1), eur()).map(|a| a.id),
        Some(w(R))
    );
    assert!(l
        .account(&w(P))
        .is_some_and(|a| a.kind == AccountKind::Wallet));
}

#[test]
fn accounts_are_found_by_their_owner_key_also_after_restore() {
    let l = base();
    let k = keys();
    let owned = |l: &Ledger, key: &settlenet_crypto::Keypair, limit: usize| -> Vec<AccountId> {
        l.accounts_owned_by(&key.public(), limit)
            .iter()
            .map(|a| a.id)
            .collect()
    };
    let mut both = vec![w(R), w(L)];
    both.sort();
    assert_eq!(owned(&l, &k.users[2], 10), both);
    assert_eq!(owned(&l, &k.users[2], 1), both[..1].to_vec());
    assert_eq!(owned(&l, &k.users[0], 10), vec![w(P)]);
    assert_eq!(owned(&l, &k.merchant, 10), vec![w(M)]);
    assert!(
        owned(&l, &k.issuer_a, 10).is_empty(),
        "staff keys own no account"
    );
    let restored = Ledger::restore(&genesis(), l.height(), snapshot(&l), common::records(&l))
        .expect("restore");
    assert_eq!(owned(&restored, &k.users[2], 10), both);
}

#[test]
fn restore_rebuilds_aliases_holds_and_captures() {
    let k = keys();
    let l = base();
    let records: Vec<(TxId, settlenet_ledger::TxRecord)> = (1..=20u64)
        .filter_map(|n| l.record(&tx_id(n)).map(|r| (tx_id(n), r.clone())))
        .collect();
    let mut restored =
        Ledger::restore(&genesis(), l.height(), snapshot(&l), records).expect("restore");
    assert_eq!(restored.state_root(), l.state_root());
    let txs = [
        signed(
            &k.users[1],
            tx_id(100),
            pay(w(Q), Payee::Alias(alias(1)), 10, None),
        ),
        signed(
            &k.issuer_b,
            tx_id(101),
            register(w(7), 1, 1, &k.users[1], usd(), 0),
        ),
        signed(&k.merchant, tx_id(102), refund(tx_id(CAPTURE_H2), 700)),
        signed(&k.merchant, tx_id(103), capture(1, 5)),
    ];
    let mut original = l.clone();
    let a = apply(&mut original, &txs);
    let b = apply(&mut restored, &txs);
    assert_eq!(a, b);
    let results: Vec<ResultCode> = a.outcomes.iter().map(|o| o.result).collect();
    assert_eq!(
        results,
        [
            ResultCode::Ok,
            ResultCode::AliasExists,
            ResultCode::Ok,
            ResultCode::Ok
        ]
    );
    // Expiry is rebuilt too: hold 1 (deadline 1,003,000) expires in both.
    let h = Height(original.height().0 + 1);
    let mut o2 = l.clone();
    let mut r2 = Ledger::restore(&genesis(), l.height(), snapshot(&l), common::records(&l))
        .expect("restore");
    let h2 = Height(o2.height().0 + 1);
    assert_eq!(h, Height(7));
    assert_eq!(
        o2.apply_block(h2, 1_003_000, &[]),
        r2.apply_block(h2, 1_003_000, &[])
    );
    assert!(o2.hold(&hold_id(1)).is_some_and(
        |a| matches!(&a.detail, AccountDetail::Hold(h) if h.status == HoldStatus::Expired)
    ));
}
