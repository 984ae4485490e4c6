//! Sequences of retail operations: positions and fees across members, the life of a hold,
//! expiry by consensus time, daily limits by UTC day, lookup by owner key, restore.

mod common;
mod retail_fixture;

use common::*;
use retail_fixture::*;
use settlenet_ledger::{position_id, AccountDetail, AccountKind, HoldStatus, Ledger, ResultCode};
use settlenet_types::{AccountId, Height, Payee, TxId};
use std::collections::BTreeSet;

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
            nonce(100),
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
            nonce(101),
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
        &[signed(&k.merchant, nonce(100), capture(1, 1_000))],
    );
    assert!(out.outcomes[0].result.is_ok());
    assert_eq!(held(&l), 0);
    let m = l.account(&w(M)).expect("M");
    assert_eq!((m.balance(), m.credits_pending), (1_700, 0));
    let again = apply(&mut l, &[signed(&k.merchant, nonce(101), void(1))]);
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
            &[signed(&k.merchant, nonce(id), refund(id_of(100), amount))],
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
            nonce(100),
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
    let out = l.apply_block(h, 7_500, &[signed(&k.merchant, nonce(101), capture(9, 1))]);
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
        &[signed_until(
            &k.users[0],
            nonce(100),
            pay(w(P), Payee::Account(w(L)), 301, None),
            86_399_999,
        )],
    );
    assert_eq!(out.outcomes[0].result, ResultCode::ExceedsDailyLimit);
    let h = Height(l.height().0 + 1);
    let out = l.apply_block(
        h,
        86_400_000,
        &[signed_until(
            &k.users[0],
            nonce(101),
            pay(w(P), Payee::Account(w(L)), 301, None),
            86_400_000,
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
    let restored = Ledger::restore(
        &genesis(),
        l.height(),
        snapshot(&l),
        common::records(&l),
        l.history().clone(),
    )
    .expect("restore");
    assert_eq!(owned(&restored, &k.users[2], 10), both);
}

#[test]
fn restore_rebuilds_aliases_holds_and_captures() {
    let k = keys();
    let l = base();
    let records: Vec<(TxId, settlenet_ledger::TxRecord)> = (1..=20u64)
        .filter_map(|n| l.record(&id_of(n)).map(|r| (id_of(n), r.clone())))
        .collect();
    let mut restored = Ledger::restore(
        &genesis(),
        l.height(),
        snapshot(&l),
        records,
        l.history().clone(),
    )
    .expect("restore");
    assert_eq!(restored.state_root(), l.state_root());
    let txs = [
        signed(
            &k.users[1],
            nonce(100),
            pay(w(Q), Payee::Alias(alias(1)), 10, None),
        ),
        signed(
            &k.issuer_b,
            nonce(101),
            register(w(7), 1, 1, &k.users[1], usd(), 0),
        ),
        signed(&k.merchant, nonce(102), refund(id_of(CAPTURE_H2), 700)),
        signed(&k.merchant, nonce(103), capture(1, 5)),
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
    let mut r2 = Ledger::restore(
        &genesis(),
        l.height(),
        snapshot(&l),
        common::records(&l),
        l.history().clone(),
    )
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
