//! Table-driven tests of the retail operations (phone wallets, roles, issue and redeem,
//! payments by alias, merchants and holds): every operation x every result code it can
//! produce, asserting the result and that a rejection changes nothing. The sequences are in
//! `retail_sequences.rs`.

mod common;
mod retail_fixture;

use common::*;
use retail_fixture::*;
use settlenet_ledger::{ResultCode, HOLD_TIMEOUT_MS_MAX};
use settlenet_types::{AccountId, Payee, SignedTransaction, TxId, TX_VERSION};
use std::collections::BTreeSet;

struct Case {
    what: &'static str,
    tx: SignedTransaction,
    want: ResultCode,
}

fn cases() -> Vec<Case> {
    let k = keys();
    let [u0, u1, u2] = &k.users;
    let id = nonce(100);
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
            signed(&k.issuer_a, nonce(1), register(new, 0, 7, u0, usd(), 0)),
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
            signed(&k.merchant, id, refund(id_of(CAPTURE_H2), 700)),
            ResultCode::Ok,
        ),
        case(
            "refund part by the acquirer",
            signed(&k.issuer_b, id, refund(id_of(CAPTURE_H2), 1)),
            ResultCode::Ok,
        ),
        case(
            "refund zero",
            signed(&k.merchant, id, refund(id_of(CAPTURE_H2), 0)),
            ResultCode::ZeroAmount,
        ),
        case(
            "refund more than captured",
            signed(&k.merchant, id, refund(id_of(CAPTURE_H2), 701)),
            ResultCode::RefundExceedsCapture,
        ),
        case(
            "refund an unknown capture",
            signed(&k.merchant, id, refund(TxId([0x99; 16]), 1)),
            ResultCode::HoldNotFound,
        ),
        case(
            "refund an authorization, not a capture",
            signed(&k.merchant, id, refund(id_of(10), 1)),
            ResultCode::HoldNotFound,
        ),
        case(
            "refund by the payer",
            signed(u0, id, refund(id_of(CAPTURE_H2), 1)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "refund by acquirer staff without the role",
            signed(&k.clerk_b, id, refund(id_of(CAPTURE_H2), 1)),
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
        let root_before = state_parts(&ledger);
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
        if got == ResultCode::ExistsWithDifferentBody {
            assert_eq!(ledger.record(&case.tx.tx.id).cloned(), record_before);
        } else {
            assert_eq!(out.new_records.len(), 1, "{}", case.what);
            assert_eq!(ledger.record(&case.tx.tx.id).map(|r| r.result), Some(got));
        }
        assert_precheck_agrees(&normal, &case.tx, got, case.what, &stateless);
        // A retry returns the first result and changes nothing.
        let root = state_parts(&ledger);
        let again = apply(&mut ledger, std::slice::from_ref(&case.tx));
        if got != ResultCode::ExistsWithDifferentBody {
            assert_eq!(
                (again.outcomes[0].result, again.outcomes[0].duplicate),
                (got, true)
            );
        }
        assert!(again.changed_accounts.is_empty() && again.new_records.is_empty());
        assert!(again.outcomes[0].changed.is_empty());
        assert_eq!(state_parts(&ledger), root);
        seen.insert(got.as_str());
    }
    // The payment model's codes (settlement's are exercised in `settlement_table.rs`).
    for code in &ResultCode::ALL[16..30] {
        assert!(seen.contains(code.as_str()), "{code} is not exercised");
    }
}
