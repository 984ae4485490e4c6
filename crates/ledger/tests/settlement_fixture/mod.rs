//! The settlement tests' fixture: three banks and a clearing house, their genesis, keys,
//! operation builders, the base ledger, and the invariants checked after every step.
#![allow(dead_code)]

use crate::common::*;
use settlenet_crypto::Keypair;
use settlenet_ledger::test_util::{GenesisBuilder, MemberSpec};
use settlenet_ledger::{position_id, Ledger, WindowState};
use settlenet_types::{
    batch_digest, AccountId, Amount, BatchId, Currency, Genesis, MemberId, MemberKind, Operation,
    Role, SettlementInstruction, SettlementPolicy, SignedTransaction,
};
use std::collections::BTreeMap;

pub const A: u16 = 0;
pub const B: u16 = 1;
pub const C: u16 = 2;
pub const NAMES: [&str; 4] = ["bank-a", "bank-b", "bank-c", "clearing"];

pub struct Sk {
    pub issuers: [Keypair; 3],
    pub clearing: Keypair,
    pub users: [Keypair; 3],
}

pub fn sk() -> Sk {
    Sk {
        issuers: [key(31), key(32), key(33)],
        clearing: key(34),
        users: [key(41), key(42), key(43)],
    }
}

/// bank-a settlement 1,000 USD, bank-b 500, bank-c none (and a cap of 5,000 in the genesis);
/// only the clearing house's staff key holds the `clearing` role.
pub fn sgenesis() -> Genesis {
    let k = sk();
    let bank = |m: u16| {
        let i = usize::from(m);
        MemberSpec::bank(NAMES[i]).staff("issuer", k.issuers[i].public(), &[Role::Issuer])
    };
    GenesisBuilder::new(CHAIN)
        .currency(usd(), 2)
        .currency(eur(), 2)
        .member(bank(A))
        .member(bank(B))
        .member(bank(C).net_debit_cap(usd(), Amount(5_000)))
        .member(
            MemberSpec::bank(NAMES[3])
                .kind(MemberKind::ClearingHouse)
                .staff("clearing", k.clearing.public(), &[Role::Clearing]),
        )
        .validators(&[key(100).public()])
        .settlement(NAMES[usize::from(A)], usd(), 1_000)
        .settlement(NAMES[usize::from(B)], usd(), 500)
        .build()
}

pub fn wa() -> AccountId {
    wallet_id(1)
}
pub fn wb() -> AccountId {
    wallet_id(2)
}
pub fn wc() -> AccountId {
    wallet_id(3)
}
pub fn we() -> AccountId {
    wallet_id(4) // bank-a, EUR
}

pub fn batch(n: u8) -> BatchId {
    BatchId([0xBA, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3])
}

pub fn instr(
    id: &str,
    d: u16,
    c: u16,
    amount: u64,
    beneficiary: Option<AccountId>,
) -> SettlementInstruction {
    SettlementInstruction {
        id: id.into(),
        debtor: MemberId(d),
        creditor: MemberId(c),
        amount: Amount(amount),
        beneficiary,
    }
}

pub fn close(c: Currency, window: u64) -> Operation {
    Operation::CloseWindow {
        currency: c,
        window,
    }
}

pub fn stage(
    b: BatchId,
    window: u64,
    chunk: u32,
    instructions: Vec<SettlementInstruction>,
) -> Operation {
    Operation::StageBatch {
        batch: b,
        currency: usd(),
        window,
        chunk,
        instructions,
    }
}

pub fn settle_op(
    b: BatchId,
    window: u64,
    staged: &[SettlementInstruction],
    chunks: u32,
    policy: SettlementPolicy,
) -> Operation {
    Operation::SettleBatch {
        batch: b,
        currency: usd(),
        window,
        chunks,
        instructions: staged.len() as u64,
        digest: batch_digest(&b, usd(), window, staged).expect("digest"),
        policy,
    }
}

pub fn fund(m: u16, amount: u64) -> Operation {
    Operation::FundSettlement {
        member: MemberId(m),
        currency: usd(),
        amount: Amount(amount),
    }
}

pub fn withdraw(m: u16, amount: u64) -> Operation {
    Operation::WithdrawSettlement {
        member: MemberId(m),
        currency: usd(),
        amount: Amount(amount),
    }
}

pub fn cap(m: u16, cap: Option<u64>) -> Operation {
    Operation::SetNetDebitCap {
        member: MemberId(m),
        currency: usd(),
        cap: cap.map(Amount),
    }
}

pub fn sbal(l: &Ledger, m: u16) -> i128 {
    l.settlement_account(MemberId(m), usd())
        .map_or(0, |a| a.balance())
}

pub fn pos(l: &Ledger, m: u16, window: u64) -> i128 {
    l.account(&position_id(NAMES[usize::from(m)], usd(), window))
        .map_or(0, |a| a.balance())
}

pub fn ok_block(l: &mut Ledger, txs: &[SignedTransaction]) {
    let out = apply(l, txs);
    for (t, o) in txs.iter().zip(&out.outcomes) {
        assert!(o.result.is_ok(), "{}: {}", t.tx.op.name(), o.result);
    }
}

/// The instruction staged as batch 1's chunk 0 in the base ledger.
pub fn b1_chunk0() -> Vec<SettlementInstruction> {
    vec![instr("I-1", B, A, 50, None)]
}

/// The base ledger, block by block:
/// - wallets WA (bank-a), WB (bank-b), WC (bank-c), WE (bank-a, EUR); issue 10,000 each;
/// - WA pays WB 100 (window 0); close USD window 0; settle it with batch 0 (no chunk);
/// - window 1: WA -> WB 700, WB -> WC 300, WC -> WA 100; close USD window 1 (2 opens);
/// - stage batch 1 chunk 0 for window 1: bank-b owes bank-a 50.
///
/// Then: settlement a 900, b 600, c 0 (cap 5,000); window 1 nets a -600, b +400, c +200;
/// with batch 1's instruction a -550, b +350, c +200.
pub fn base() -> Ledger {
    let k = sk();
    let mut l = Ledger::from_genesis(&sgenesis()).expect("genesis");
    let cl = &k.clearing;
    let mut n = 0u64;
    let mut t = |kp: &Keypair, op: Operation| {
        n += 1;
        signed(kp, nonce(n), op)
    };
    let blocks = vec![
        vec![
            t(&k.issuers[0], create(wa(), A, &k.users[0], usd())),
            t(&k.issuers[1], create(wb(), B, &k.users[1], usd())),
            t(&k.issuers[2], create(wc(), C, &k.users[2], usd())),
            t(&k.issuers[0], create(we(), A, &k.users[0], eur())),
        ],
        vec![
            t(&k.issuers[0], issue(wa(), 10_000)),
            t(&k.issuers[1], issue(wb(), 10_000)),
            t(&k.issuers[2], issue(wc(), 10_000)),
            t(&k.issuers[0], issue(we(), 10_000)),
        ],
        vec![t(&k.users[0], transfer(wa(), wb(), 100))],
        vec![t(cl, close(usd(), 0))],
        vec![t(
            cl,
            settle_op(batch(0), 0, &[], 0, SettlementPolicy::Reject),
        )],
        vec![
            t(&k.users[0], transfer(wa(), wb(), 700)),
            t(&k.users[1], transfer(wb(), wc(), 300)),
            t(&k.users[2], transfer(wc(), wa(), 100)),
        ],
        vec![t(cl, close(usd(), 1))],
        vec![t(cl, stage(batch(1), 1, 0, b1_chunk0()))],
    ];
    for txs in blocks {
        ok_block(&mut l, &txs);
    }
    assert_eq!((sbal(&l, A), sbal(&l, B), sbal(&l, C)), (900, 600, 0));
    assert_eq!(
        (pos(&l, A, 1), pos(&l, B, 1), pos(&l, C, 1)),
        (-600, 400, 200)
    );
    assert_eq!(l.open_window(usd()), 2);
    assert_eq!(l.open_window(eur()), 0);
    l
}

pub fn check_invariants(l: &Ledger, totals: &BTreeMap<Currency, i128>, what: &str) {
    assert_eq!(&l.totals(), totals, "{what}: money conserved");
    for ((c, w), t) in l.all_position_totals() {
        assert_eq!(t, 0, "{what}: positions of window {w} in {c} sum to zero");
    }
    for a in l.accounts().expect("accounts in memory") {
        if a.kind.must_stay_nonnegative() {
            assert!(a.available() >= 0, "{what}: {a:?} below zero");
        }
    }
    for c in [usd(), eur()] {
        for w in l.windows(c, 0, 100) {
            let report = l.window_report(c, w.window).expect("report");
            let sent: u128 = report.iter().map(|r| r.sent).sum();
            let received: u128 = report.iter().map(|r| r.received).sum();
            let net: i128 = report.iter().map(|r| r.net).sum();
            let settled: i128 = report.iter().map(|r| r.settled).sum();
            let carried: i128 = report.iter().map(|r| r.carried).sum();
            assert_eq!(
                (sent, net, settled, carried),
                (received, 0, 0, 0),
                "{what}: report"
            );
            if w.state == WindowState::Settled {
                for name in NAMES {
                    let id = position_id(name, c, w.window);
                    assert_eq!(
                        l.account(&id).map_or(0, |a| a.balance()),
                        0,
                        "{what}: settled"
                    );
                }
            }
        }
    }
}
