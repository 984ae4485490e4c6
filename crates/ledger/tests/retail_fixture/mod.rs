//! The base ledger of the retail-operation tests (phone wallets, merchants, holds): its
//! accounts, holds and balances, shared by `retail_table.rs` and `retail_sequences.rs`.
#![allow(dead_code)]

use crate::common::*;
use settlenet_ledger::Ledger;
use settlenet_types::{AccountId, Payee, SignedTransaction};

// Accounts of the base ledger (see `base`).
pub const P: u8 = 1; // phone wallet, bank-a, USD, users[0], alias 1, tier 0
pub const Q: u8 = 2; // phone wallet, bank-b, USD, users[1], alias 2, tier 1
pub const R: u8 = 3; // phone wallet, bank-a, EUR, users[2], alias 1, tier 2
pub const L: u8 = 4; // CreateWallet wallet (no tier, no limits), bank-a, USD, users[2]
pub const M: u8 = 5; // merchant at bank-b (acquirer), USD, merchant key
pub const NOBODY: u8 = 9;

/// The id of the capture of hold 2 (700 of 1000 captured).
pub const CAPTURE_H2: u64 = 14;

pub fn w(n: u8) -> AccountId {
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
pub fn base() -> Ledger {
    let k = keys();
    let [u0, u1, u2] = &k.users;
    let mut l = Ledger::from_genesis(&genesis()).expect("genesis");
    let blocks: Vec<Vec<SignedTransaction>> = vec![
        vec![
            signed(&k.issuer_a, nonce(1), register(w(P), 0, 1, u0, usd(), 0)),
            signed(&k.issuer_b, nonce(2), register(w(Q), 1, 2, u1, usd(), 1)),
            signed(&k.issuer_a, nonce(3), register(w(R), 0, 1, u2, eur(), 2)),
            signed(&k.issuer_b, nonce(4), merchant(w(M), 1, &k.merchant, usd())),
            signed(&k.issuer_a, nonce(5), create(w(L), 0, u2, usd())),
        ],
        vec![
            signed(&k.issuer_a, nonce(6), issue(w(P), 60_000)),
            signed(&k.issuer_b, nonce(7), issue(w(Q), 1_000)),
            signed(&k.issuer_a, nonce(8), issue(w(L), 500)),
            signed(&k.issuer_a, nonce(9), issue(w(R), 100)),
        ],
        vec![
            signed(u0, nonce(10), authorize(1, w(P), w(M), 3_000, 1_000_000)),
            signed(u0, nonce(11), authorize(2, w(P), w(M), 1_000, 1_000_000)),
            signed(u0, nonce(12), authorize(3, w(P), w(M), 500, 1_000_000)),
            signed(u0, nonce(13), authorize(4, w(P), w(M), 200, 500)),
        ],
        vec![
            signed(&k.merchant, nonce(CAPTURE_H2), capture(2, 700)),
            signed(&k.issuer_b, nonce(15), void(3)),
        ],
        (0..5)
            .map(|i| {
                signed(
                    u0,
                    nonce(16 + i),
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

pub fn jpy() -> settlenet_types::Currency {
    settlenet_types::Currency(*b"JPY")
}
