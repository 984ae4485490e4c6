//! The auditor: an independent, deliberately simple reference model of the payment-model
//! rules (`auditor_model/`), fed random operation sequences (with retries, wrong signers, bad
//! amounts and time jumps across holds' deadlines and UTC days). The ledger and the model must
//! agree on every result and every balance; money is conserved per currency (the sum of all
//! balances, floats included, equals the genesis total, so wallets + merchants + fees +
//! settlement + positions = genesis + issued - redeemed); positions of the window sum to zero;
//! no balance goes below its limit.

mod auditor_model;
mod common;

use auditor_model::*;
use common::*;
use proptest::prelude::*;
use settlenet_crypto::Keypair;
use settlenet_ledger::{AccountDetail, AccountKind, HoldStatus, Ledger, HOLD_TIMEOUT_MS_MAX};
use settlenet_types::{AccountId, Currency, Height, Operation, Payee, SignedTransaction, TxId};
use std::collections::BTreeMap;

/// Capture and refund amounts resolved when the transaction is built: exactly what is left
/// (the hold's amount, or captured minus refunded), and one more.
const ALL: u64 = u64::MAX - 1;
const ALL_PLUS_ONE: u64 = u64::MAX - 2;

#[derive(Debug, Clone)]
enum Act {
    Register {
        n: u8,
        member: u16,
        alias: u8,
        owner: u8,
        currency: u8,
        tier: u8,
    },
    Merchant {
        n: u8,
        member: u16,
        currency: u8,
    },
    Issue {
        n: u8,
        amount: u64,
    },
    Redeem {
        n: u8,
        amount: u64,
    },
    Pay {
        from: u8,
        to: u8,
        by_alias: bool,
        amount: u64,
        fee: Option<u64>,
    },
    Authorize {
        hold: u8,
        from: u8,
        merchant: u8,
        amount: u64,
        timeout_ms: u64,
    },
    Capture {
        hold: u8,
        amount: u64,
    },
    Void {
        hold: u8,
    },
    Refund {
        pick: usize,
        amount: u64,
    },
}

#[derive(Debug, Clone)]
struct GenTx {
    act: Act,
    /// 0: resend an earlier transaction (a retry); otherwise a fresh id.
    retry: u8,
    pick: usize,
    /// 0..=7 a fixed key; 8 and above: the key allowed to sign.
    signer: u8,
}

/// Account numbers: 0..=5 wallets, 6..=7 merchants (ids may collide with wallets on purpose),
/// 8 a settlement account.
fn id(n: u8) -> AccountId {
    match n {
        0..=5 => wallet_id(n),
        6 => wallet_id(5),
        7 => wallet_id(20),
        _ => settlement("bank-a", usd()),
    }
}

fn currency(n: u8) -> Currency {
    [usd(), eur(), Currency(*b"JPY")][usize::from(n % 3)]
}

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![1 => Just(0u64), 6 => 1u64..3_000, 3 => 3_000u64..12_000, 1 => 12_000u64..200_000, 1 => Just(u64::MAX)]
}

/// Mostly the preamble's accounts (wallets 0..=3, merchants 6 and 7), sometimes any.
fn wallet() -> impl Strategy<Value = u8> {
    prop_oneof![6 => 0u8..4, 1 => 0u8..9]
}

fn merchant_n() -> impl Strategy<Value = u8> {
    prop_oneof![6 => 6u8..8, 1 => 0u8..9]
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        2 => (0u8..6, 0u16..3, 0u8..4, 0u8..3, prop_oneof![3 => Just(0u8), 1 => 0u8..4], 0u8..4)
            .prop_map(|(n, member, alias, owner, currency, tier)| Act::Register { n, member, alias, owner, currency: currency % 3, tier }),
        1 => (6u8..8, 0u16..3, prop_oneof![3 => Just(0u8), 1 => 0u8..3])
            .prop_map(|(n, member, currency)| Act::Merchant { n, member, currency }),
        2 => (wallet(), amount()).prop_map(|(n, amount)| Act::Issue { n, amount }),
        1 => (wallet(), amount()).prop_map(|(n, amount)| Act::Redeem { n, amount }),
        6 => (wallet(), prop_oneof![4 => wallet(), 1 => merchant_n()], any::<bool>(), prop_oneof![amount(), 4_000u64..10_001], prop::option::of(0u64..50))
            .prop_map(|(from, to, by_alias, amount, fee)| Act::Pay { from, to, by_alias, amount, fee }),
        5 => (0u8..6, wallet(), merchant_n(), amount(), prop_oneof![1 => Just(0u64), 4 => 1u64..8_000, 4 => prop::sample::select(vec![1_000u64, 2_000, 3_000]), 1 => Just(HOLD_TIMEOUT_MS_MAX + 1)])
            .prop_map(|(hold, from, merchant, amount, timeout_ms)| Act::Authorize { hold, from, merchant, amount, timeout_ms }),
        4 => (0u8..7, prop_oneof![1 => Just(0u64), 6 => 1u64..4_000, 1 => Just(ALL), 1 => Just(ALL_PLUS_ONE)]).prop_map(|(hold, amount)| Act::Capture { hold, amount }),
        1 => (0u8..7).prop_map(|hold| Act::Void { hold }),
        3 => (any::<usize>(), prop_oneof![1 => Just(0u64), 6 => 1u64..2_000, 1 => Just(ALL), 1 => Just(ALL_PLUS_ONE)]).prop_map(|(pick, amount)| Act::Refund { pick, amount }),
    ]
}

fn gen_tx() -> impl Strategy<Value = GenTx> {
    (act(), 0u8..12, any::<usize>(), 0u8..32).prop_map(|(act, retry, pick, signer)| GenTx {
        act,
        retry,
        pick,
        signer,
    })
}

// ------------------------------------------------------------------------------------------
// Building transactions.

/// Replace the `ALL` and `ALL_PLUS_ONE` markers by `rest` and `rest + 1`.
fn resolve(amount: u64, rest: Option<i128>) -> u64 {
    let rest = rest.and_then(|r| u64::try_from(r).ok()).unwrap_or(1);
    match amount {
        ALL => rest,
        ALL_PLUS_ONE => rest.saturating_add(1),
        other => other,
    }
}

struct Fixture {
    keys: Keys,
    sent: Vec<SignedTransaction>,
    captures: Vec<TxId>,
}

impl Fixture {
    fn fixed(&self, n: u8) -> &Keypair {
        let k = &self.keys;
        [
            &k.issuer_a,
            &k.auditor_a,
            &k.issuer_b,
            &k.clerk_b,
            &k.merchant,
            &k.users[0],
            &k.users[1],
            &k.users[2],
        ][usize::from(n % 8)]
    }

    fn issuer(&self, member: u16) -> &Keypair {
        if member == 1 {
            &self.keys.issuer_b
        } else {
            &self.keys.issuer_a
        }
    }

    fn owner_key(&self, model: &Model, account: &AccountId) -> &Keypair {
        let owner = model.accounts.get(account).map(|a| a.owner);
        [
            &self.keys.users[0],
            &self.keys.users[1],
            &self.keys.users[2],
            &self.keys.merchant,
        ]
        .into_iter()
        .find(|k| Some(k.public()) == owner)
        .unwrap_or(&self.keys.users[0])
    }

    fn build(&mut self, model: &Model, g: &GenTx) -> SignedTransaction {
        if g.retry == 0 && !self.sent.is_empty() {
            return self.sent[g.pick % self.sent.len()].clone();
        }
        let k = &self.keys;
        let hold_merchant = |n: u8| model.holds.get(&n).map(|h| h.merchant);
        // Mostly resolve holds that exist (numbers 0..=4 pick one of them), sometimes any.
        let existing = |n: u8| {
            if n < 5 && !model.holds.is_empty() {
                *model
                    .holds
                    .keys()
                    .nth(usize::from(n) % model.holds.len())
                    .expect("in range")
            } else {
                n
            }
        };
        let (op, allowed): (Operation, &Keypair) = match &g.act {
            Act::Register {
                n,
                member,
                alias: a,
                owner,
                currency: c,
                tier,
            } => (
                register(
                    id(*n),
                    *member,
                    *a,
                    &k.users[usize::from(*owner % 3)],
                    currency(*c),
                    *tier,
                ),
                self.issuer(*member),
            ),
            Act::Merchant {
                n,
                member,
                currency: c,
            } => (
                merchant(id(*n), *member, &k.merchant, currency(*c)),
                &k.issuer_b,
            ),
            Act::Issue { n, amount } | Act::Redeem { n, amount } => {
                let member = model.accounts.get(&id(*n)).map_or(0, |a| a.member);
                let op = if matches!(g.act, Act::Issue { .. }) {
                    issue(id(*n), *amount)
                } else {
                    redeem(id(*n), *amount)
                };
                (op, self.issuer(member))
            }
            Act::Pay {
                from,
                to,
                by_alias,
                amount,
                fee,
            } => {
                let payee = match model.accounts.get(&id(*to)) {
                    Some(a) if *by_alias && !a.merchant => Payee::Alias(alias(a.alias)),
                    _ if *by_alias => Payee::Alias(alias(*to)),
                    _ => Payee::Account(id(*to)),
                };
                (
                    pay(id(*from), payee, *amount, *fee),
                    self.owner_key(model, &id(*from)),
                )
            }
            Act::Authorize {
                hold,
                from,
                merchant: m,
                amount,
                timeout_ms,
            } => (
                authorize(*hold, id(*from), id(*m), *amount, *timeout_ms),
                self.owner_key(model, &id(*from)),
            ),
            Act::Capture { hold, amount } => (
                capture(
                    existing(*hold),
                    resolve(*amount, model.holds.get(&existing(*hold)).map(|h| h.amount)),
                ),
                hold_merchant(existing(*hold)).map_or(&k.merchant, |m| self.owner_key(model, &m)),
            ),
            Act::Void { hold } => (
                void(existing(*hold)),
                hold_merchant(existing(*hold)).map_or(&k.issuer_b, |m| self.owner_key(model, &m)),
            ),
            Act::Refund { pick, amount } => {
                let capture = if self.captures.is_empty() {
                    TxId([1; 16])
                } else {
                    self.captures[pick % self.captures.len()]
                };
                let m = model
                    .captures
                    .get(&capture)
                    .map(|n| model.holds[n].merchant);
                let rest = model
                    .captures
                    .get(&capture)
                    .map(|n| model.holds[n].captured - model.holds[n].refunded);
                (
                    refund(capture, resolve(*amount, rest)),
                    m.map_or(&k.merchant, |m| self.owner_key(model, &m)),
                )
            }
        };
        let signer = if g.signer >= 8 {
            allowed
        } else {
            self.fixed(g.signer)
        };
        let tx = signed(signer, nonce(1_000 + self.sent.len() as u64), op);
        self.sent.push(tx.clone());
        tx
    }
}

/// Wallets and merchants: (posted balance, debits pending, credits pending).
type OwnedView = BTreeMap<AccountId, (i128, u128, u128)>;
/// Every other account but hold entries: posted balance.
type MemberView = BTreeMap<AccountId, i128>;

fn ledger_view(l: &Ledger) -> (OwnedView, MemberView) {
    let mut owned = BTreeMap::new();
    let mut member = BTreeMap::new();
    for a in l.accounts().expect("accounts in memory") {
        match a.kind {
            AccountKind::Wallet | AccountKind::Merchant => {
                owned.insert(a.id, (a.balance(), a.debits_pending, a.credits_pending));
            }
            AccountKind::Hold => {}
            _ => {
                member.insert(a.id, a.balance());
            }
        }
    }
    (owned, member)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn ledger_and_auditor_model_agree(
        blocks in prop::collection::vec(
            (prop_oneof![Just(1u64), 1u64..3_000, prop::sample::select(vec![1_000u64, 2_000]), Just(DAY / 2)], prop::collection::vec(gen_tx(), 0..20)),
            1..14,
        )
    ) {
        let g = genesis();
        let mut ledger = Ledger::from_genesis(&g).expect("genesis");
        let mut model = Model::default();
        let mut fx = Fixture { keys: keys(), sent: Vec::new(), captures: Vec::new() };
        for m in &g.members {
            for s in &m.staff {
                model.staff.insert(s.public_key, (m.id.0, s.roles.clone()));
            }
        }
        for a in ledger.accounts().expect("accounts in memory") {
            model.member_accounts.insert(a.id, a.balance());
        }
        let genesis_totals = ledger.totals();
        let genesis_outside_floats: BTreeMap<Currency, i128> = [usd(), eur()]
            .into_iter()
            .map(|c| (c, ledger.accounts().expect("accounts in memory").filter(|a| a.currency == c && a.kind != AccountKind::Float).map(|a| a.balance()).sum()))
            .collect();
        // A preamble so that random operations often succeed: four phone wallets (tiers 0, 0,
        // 1, 2 at both members, one in EUR), two merchants at bank-b, all funded.
        let preamble: Vec<Act> = vec![
            Act::Register { n: 0, member: 0, alias: 0, owner: 0, currency: 0, tier: 0 },
            Act::Register { n: 1, member: 1, alias: 1, owner: 1, currency: 0, tier: 0 },
            Act::Register { n: 2, member: 0, alias: 2, owner: 2, currency: 0, tier: 1 },
            Act::Register { n: 3, member: 1, alias: 0, owner: 0, currency: 1, tier: 2 },
            Act::Merchant { n: 6, member: 1, currency: 0 },
            Act::Merchant { n: 7, member: 1, currency: 0 },
            Act::Issue { n: 0, amount: 200_000 },
            Act::Issue { n: 1, amount: 200_000 },
            Act::Issue { n: 2, amount: 50_000 },
            Act::Issue { n: 3, amount: 50_000 },
        ]
        .into_iter()
        // Wallet 0 (tier 0) starts day 0 with 45,000 of its 50,000 daily allowance used.
        .chain((0..5).map(|_| Act::Pay { from: 0, to: 2, by_alias: true, amount: 9_000, fee: None }))
        .collect();
        let preamble: Vec<GenTx> = preamble
            .into_iter()
            .map(|act| GenTx { act, retry: 1, pick: 0, signer: 8 })
            .collect();
        let blocks: Vec<(u64, Vec<GenTx>)> =
            std::iter::once((1, preamble)).chain(blocks.iter().cloned()).collect();
        let mut now = 0u64;
        for (step, gtxs) in &blocks {
            now += step;
            model.expire(now);
            let mut txs = Vec::new();
            let mut expected = Vec::new();
            for gtx in gtxs {
                let mut tx = fx.build(&model, gtx);
                // Valid exactly until this block (the model has no validity; the jumps in time
                // here are longer than the hour a validity may reach), so the record leaves the
                // live set at the next block: a retry in a later block is another transaction
                // (the id binds the validity), a retry in this block a duplicate. The ledger
                // does not check signatures.
                tx.tx.valid_until_ms = now;
                tx.tx.id = settlenet_types::TxId::derive(&tx.tx.signer, &tx.tx.nonce, now);
                let (result, duplicate) = model.apply(&tx.tx, now);
                if result.is_ok() && !duplicate && matches!(tx.tx.op, Operation::Capture { .. }) {
                    fx.captures.push(tx.tx.id);
                }
                expected.push((tx.tx.op.name(), result, duplicate));
                txs.push(tx);
            }
            let h = Height(ledger.height().0 + 1);
            let out = ledger.apply_block(h, now, &txs);
            let got: Vec<_> = txs.iter().zip(&out.outcomes).map(|(t, o)| (t.tx.op.name(), o.result, o.duplicate)).collect();
            prop_assert_eq!(&got, &expected, "results at height {}", h);
            // `AUDITOR_STATS=1 cargo test --test auditor -- --nocapture | sort | uniq -c` shows
            // which (operation, result) pairs the generator reaches.
            if std::env::var_os("AUDITOR_STATS").is_some() {
                for (name, result, _) in &got {
                    eprintln!("STAT {name} {result}");
                }
            }

            // Balances: every wallet and merchant (posted and pending), every member account.
            let (owned, member) = ledger_view(&ledger);
            let model_owned: OwnedView = model.accounts.iter()
                .map(|(id, a)| (*id, (a.posted, a.pending_out as u128, a.pending_in as u128)))
                .collect();
            prop_assert_eq!(&owned, &model_owned);
            let model_member: BTreeMap<AccountId, i128> = model.member_accounts.iter()
                .filter(|(id, v)| **v != 0 || member.contains_key(id))
                .map(|(id, v)| (*id, *v))
                .collect();
            let member_nonzero: BTreeMap<AccountId, i128> = member.iter()
                .filter(|(id, v)| **v != 0 || model_member.contains_key(id))
                .map(|(id, v)| (*id, *v))
                .collect();
            prop_assert_eq!(&member_nonzero, &model_member);
            // Holds: status and amounts.
            for (n, mh) in &model.holds {
                let entry = ledger.hold(&hold_id(*n)).expect("hold entry");
                let AccountDetail::Hold(h) = &entry.detail else { panic!("{entry:?}") };
                let status = match h.status {
                    HoldStatus::Pending => St::Pending,
                    HoldStatus::Captured => St::Captured,
                    HoldStatus::Voided => St::Voided,
                    HoldStatus::Expired => St::Expired,
                };
                prop_assert_eq!((status, h.captured as i128, h.refunded as i128), (mh.status, mh.captured, mh.refunded));
            }

            // Invariants.
            prop_assert_eq!(&ledger.totals(), &genesis_totals, "money conserved");
            for c in [usd(), eur()] {
                let outside_floats: i128 = ledger.accounts().expect("accounts in memory")
                    .filter(|a| a.currency == c && a.kind != AccountKind::Float)
                    .map(|a| a.balance())
                    .sum();
                let want = genesis_outside_floats[&c]
                    + model.issued.get(&c).copied().unwrap_or(0)
                    - model.redeemed.get(&c).copied().unwrap_or(0);
                prop_assert_eq!(outside_floats, want, "genesis + issued - redeemed in {}", c);
            }
            prop_assert!(ledger.position_totals(0).values().all(|t| *t == 0), "positions sum to zero");
            for a in ledger.accounts().expect("accounts in memory") {
                if a.kind.must_stay_nonnegative() {
                    prop_assert!(a.available() >= 0 && a.balance() >= 0, "{:?} below its limit", a);
                }
            }
        }
        // A ledger restored from its accounts and records continues identically.
        let records = ledger.records().map(|(id, r)| (*id, r.clone())).collect();
        let mut restored = Ledger::restore(&g, ledger.height(), ledger.accounts().expect("accounts in memory").cloned().collect(), records, ledger.history().clone())
            .expect("restore");
        prop_assert_eq!(restored.state_root(), ledger.state_root());
        let h = Height(ledger.height().0 + 1);
        prop_assert_eq!(restored.apply_block(h, now + DAY, &[]), ledger.apply_block(h, now + DAY, &[]));
    }
}
