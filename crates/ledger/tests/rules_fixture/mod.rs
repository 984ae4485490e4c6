//! The base ledger of the rules tests (three wallets, one funded) and a ledger near the
//! balance limit, shared by `rules.rs` and `idempotency_and_restore.rs`.
#![allow(dead_code)]

use crate::common::*;
use settlenet_ledger::{Account, AccountKind, Ledger, FIELD_MAX};
use settlenet_types::Height;

// Wallets of the base ledger.
pub const ALICE: u8 = 1; // bank-a, USD, owner users[0], balance 100
pub const BOB: u8 = 2; // bank-b, USD, owner users[1], balance 0
pub const CAROL: u8 = 3; // bank-a, EUR, owner users[2], balance 0
pub const NOBODY: u8 = 9; // never created

/// Genesis, then block 1 creates three wallets, block 2 issues 100 to Alice. Tx ids 1..=4 used.
pub fn base() -> Ledger {
    let k = keys();
    let mut l = Ledger::from_genesis(&genesis()).expect("genesis");
    let b1 = apply(
        &mut l,
        &[
            signed(
                &k.issuer_a,
                nonce(1),
                create(wallet_id(ALICE), 0, &k.users[0], usd()),
            ),
            signed(
                &k.issuer_b,
                nonce(2),
                create(wallet_id(BOB), 1, &k.users[1], usd()),
            ),
            signed(
                &k.issuer_a,
                nonce(3),
                create(wallet_id(CAROL), 0, &k.users[2], eur()),
            ),
        ],
    );
    assert!(b1.outcomes.iter().all(|o| o.result.is_ok()), "{b1:?}");
    let b2 = apply(
        &mut l,
        &[signed(&k.issuer_a, nonce(4), issue(wallet_id(ALICE), 100))],
    );
    assert!(b2.outcomes[0].result.is_ok());
    l
}

/// A restored ledger whose wallets' fields are near the limit: Alice (USD, bank-a) has
/// `credits_posted = FIELD_MAX - 5` and balance 95; Bob (USD, bank-b) has balance 10.
pub fn near_max() -> Ledger {
    let k = keys();
    let g = genesis();
    let wallet = |n: u8, member: u16, owner: &settlenet_crypto::Keypair, c, d| Account {
        id: wallet_id(n),
        kind: AccountKind::Wallet,
        member: settlenet_types::MemberId(member),
        currency: usd(),
        owner: Some(owner.public()),
        debits_pending: 0,
        debits_posted: d,
        credits_pending: 0,
        credits_posted: c,
        created_height: Height(1),
        detail: settlenet_ledger::AccountDetail::None,
    };
    let alice = wallet(ALICE, 0, &k.users[0], FIELD_MAX - 5, FIELD_MAX - 100);
    let bob = wallet(BOB, 1, &k.users[1], 10, 0);
    let mut float_a = Ledger::from_genesis(&g)
        .expect("genesis")
        .account(&float("bank-a", usd()))
        .expect("float")
        .clone();
    float_a.debits_posted = 95;
    let float_b = Account {
        id: float("bank-b", usd()),
        kind: AccountKind::Float,
        member: settlenet_types::MemberId(1),
        currency: usd(),
        owner: None,
        debits_pending: 0,
        debits_posted: 10,
        credits_pending: 0,
        credits_posted: 0,
        created_height: Height(1),
        detail: settlenet_ledger::AccountDetail::None,
    };
    // One block of history (its records do not matter here).
    let mut history = settlenet_ledger::History::default();
    history.append(settlenet_types::Hash::ZERO);
    Ledger::restore(
        &g,
        Height(1),
        vec![alice, bob, float_a, float_b],
        vec![],
        history,
    )
    .expect("restore")
}
