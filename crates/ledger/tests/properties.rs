//! Property tests: random sequences of valid and invalid transactions, checked against an
//! independent balance model, conservation, non-negativity, restore and proofs.

mod common;

use common::*;
use proptest::prelude::*;
use settlenet_crypto::Keypair;
use settlenet_ledger::{position_id, Account, BlockOutcome, Ledger, ResultCode, TxRecord};
use settlenet_types::{
    AccountId, Currency, Height, MemberId, Operation, SignedTransaction, TxId, TX_VERSION,
};
use std::collections::BTreeMap;

/// One generated action; indices are resolved against the fixture when the block is built.
#[derive(Debug, Clone)]
enum Act {
    Create {
        wallet: u8,
        member: u16,
        owner: u8,
        currency: u8,
    },
    Issue {
        target: u8,
        amount: u64,
    },
    Transfer {
        from: u8,
        to: u8,
        amount: u64,
    },
}

/// An action plus how its transaction is dressed.
#[derive(Debug, Clone)]
struct GenTx {
    act: Act,
    /// 0: resend an earlier transaction exactly (a retry); 1: reuse an earlier id with this
    /// body (a conflict); otherwise a fresh id.
    reuse: u8,
    /// Which earlier transaction to resend or whose id to reuse (modulo how many were sent).
    pick: usize,
    /// 0..=5: a fixed key; 6 and above: the key that is allowed to sign this action.
    signer: u8,
    /// 0: wrong chain, 1: wrong version, otherwise well-formed.
    envelope: u8,
}

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..300, Just(u64::MAX)]
}

/// Wallets 0, 1 and 3 (when created with USD) can pay each other.
fn usd_wallet() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![0u8, 1, 3])
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        1 => (0u8..6, 0u16..3, 0u8..3, 0u8..3).prop_map(|(wallet, member, owner, currency)| {
            Act::Create { wallet, member, owner, currency }
        }),
        1 => (0u8..8, amount()).prop_map(|(target, amount)| Act::Issue { target, amount }),
        1 => (0u8..8, 0u8..8, amount()).prop_map(|(from, to, amount)| Act::Transfer { from, to, amount }),
        4 => (usd_wallet(), usd_wallet(), 1u64..200)
            .prop_map(|(from, to, amount)| Act::Transfer { from, to, amount }),
        1 => (0u8..4, 1u64..100).prop_map(|(target, amount)| Act::Issue { target, amount }),
    ]
}

fn gen_tx() -> impl Strategy<Value = GenTx> {
    (act(), 0u8..12, any::<usize>(), 0u8..16, 0u8..25).prop_map(
        |(act, reuse, pick, signer, envelope)| GenTx {
            act,
            reuse,
            pick,
            signer,
            envelope,
        },
    )
}

/// Targets: 0..=5 wallets, 6 a settlement account, 7 a float.
fn target(n: u8) -> AccountId {
    match n {
        0..=5 => wallet_id(n),
        6 => settlement("bank-a", usd()),
        _ => float("bank-a", usd()),
    }
}

fn currency(n: u8) -> Currency {
    match n {
        0 => usd(),
        1 => eur(),
        _ => Currency(*b"JPY"),
    }
}

struct Fixture {
    keys: Keys,
}

impl Fixture {
    fn fixed_key(&self, n: u8) -> &Keypair {
        match n {
            0 => &self.keys.issuer_a,
            1 => &self.keys.auditor_a,
            2 => &self.keys.issuer_b,
            3..=5 => &self.keys.users[usize::from(n - 3)],
            _ => &self.keys.issuer_a,
        }
    }

    fn issuer_of(&self, member: MemberId) -> &Keypair {
        if member.0 == 1 {
            &self.keys.issuer_b
        } else {
            &self.keys.issuer_a
        }
    }

    /// Build the signed transaction, choosing the allowed signer from the current state when
    /// asked to (the ledger is not consulted for anything else).
    fn build(
        &self,
        ledger: &Ledger,
        g: &GenTx,
        sent: &mut Vec<SignedTransaction>,
    ) -> SignedTransaction {
        if g.reuse == 0 && !sent.is_empty() {
            return sent[g.pick % sent.len()].clone();
        }
        let id = if g.reuse == 1 && !sent.is_empty() {
            sent[g.pick % sent.len()].tx.nonce
        } else {
            nonce(10_000 + sent.len() as u64)
        };
        let (op, allowed): (Operation, &Keypair) = match &g.act {
            Act::Create {
                wallet,
                member,
                owner,
                currency: c,
            } => (
                create(
                    wallet_id(*wallet),
                    *member,
                    &self.keys.users[usize::from(*owner)],
                    currency(*c),
                ),
                self.issuer_of(MemberId(*member)),
            ),
            Act::Issue { target: t, amount } => {
                let member = ledger
                    .account(&target(*t))
                    .map_or(MemberId(0), |a| a.member);
                (issue(target(*t), *amount), self.issuer_of(member))
            }
            Act::Transfer { from, to, amount } => {
                let owner = ledger.account(&target(*from)).and_then(|a| a.owner);
                let allowed = self
                    .keys
                    .users
                    .iter()
                    .find(|k| Some(k.public()) == owner)
                    .unwrap_or(&self.keys.users[0]);
                (transfer(target(*from), target(*to), *amount), allowed)
            }
        };
        let signer = if g.signer >= 6 {
            allowed
        } else {
            self.fixed_key(g.signer)
        };
        let (chain, version) = match g.envelope {
            0 => ("elsewhere", TX_VERSION),
            1 => (CHAIN, TX_VERSION + 1),
            _ => (CHAIN, TX_VERSION),
        };
        let tx = signed_with(signer, id, op, chain, version);
        sent.push(tx.clone());
        tx
    }
}

/// The auditor: balances rebuilt only from the ledger's reported results.
fn model_apply(model: &mut BTreeMap<AccountId, i128>, ledger: &Ledger, op: &Operation) {
    match op {
        Operation::CreateWallet { account, .. } => {
            assert!(
                model.insert(*account, 0).is_none(),
                "created an existing account"
            );
        }
        Operation::Issue { wallet, amount } => {
            let member = ledger.account(wallet).expect("issued wallet exists").member;
            let name = if member.0 == 1 { "bank-b" } else { "bank-a" };
            let currency = ledger.account(wallet).expect("wallet").currency;
            *model.entry(*wallet).or_default() += i128::from(amount.0);
            *model.entry(float(name, currency)).or_default() -= i128::from(amount.0);
        }
        Operation::Transfer { from, to, amount } => {
            *model.entry(*from).or_default() -= i128::from(amount.0);
            *model.entry(*to).or_default() += i128::from(amount.0);
            // Across members the obligation goes into the open window's positions.
            let (a, b) = (
                ledger.account(from).expect("payer"),
                ledger.account(to).expect("payee"),
            );
            if a.member != b.member {
                let name = |m: MemberId| if m.0 == 1 { "bank-b" } else { "bank-a" };
                *model
                    .entry(position_id(name(a.member), a.currency, 0))
                    .or_default() -= i128::from(amount.0);
                *model
                    .entry(position_id(name(b.member), b.currency, 0))
                    .or_default() += i128::from(amount.0);
            }
        }
        other => unreachable!("not generated here: {}", other.name()),
    }
}

fn check_block(
    ledger: &Ledger,
    before: &BTreeMap<AccountId, Account>,
    txs: &[SignedTransaction],
    out: &BlockOutcome,
    genesis_totals: &BTreeMap<Currency, i128>,
) {
    assert_eq!(out.outcomes.len(), txs.len());
    for (tx, o) in txs.iter().zip(&out.outcomes) {
        assert_eq!(tx.tx.id, o.id);
    }
    assert_eq!(ledger.totals(), *genesis_totals, "money conserved");
    for a in ledger.accounts().expect("accounts in memory") {
        if a.kind.must_stay_nonnegative() {
            assert!(a.available() >= 0 && a.balance() >= 0, "{a:?} below zero");
        }
    }
    // changed_accounts: sorted, current, and exactly the accounts that differ.
    assert!(out.changed_accounts.windows(2).all(|w| w[0].id < w[1].id));
    for a in &out.changed_accounts {
        assert_eq!(ledger.account(&a.id), Some(a));
    }
    for a in ledger.accounts().expect("accounts in memory") {
        let listed = out.changed_accounts.iter().any(|c| c.id == a.id);
        if before.get(&a.id) != Some(a) {
            assert!(listed, "{a:?} changed but not reported");
        }
    }
    for (id, rec) in &out.new_records {
        assert_eq!(ledger.record(id), Some(rec));
        assert_eq!(rec.height, ledger.height());
    }
    let fresh = out
        .outcomes
        .iter()
        .filter(|o| !o.duplicate && o.result != ResultCode::ExistsWithDifferentBody)
        .count();
    assert_eq!(out.new_records.len(), fresh);
    assert_eq!(out.state_root, ledger.state_root());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_blocks_conserve_money_and_restore_exactly(
        blocks in prop::collection::vec(prop::collection::vec(gen_tx(), 0..14), 1..8)
    ) {
        let g = genesis();
        let fx = Fixture { keys: keys() };
        let mut ledger = Ledger::from_genesis(&g).expect("genesis");
        let genesis_totals = ledger.totals();
        let mut model: BTreeMap<AccountId, i128> =
            ledger.accounts().expect("accounts in memory").map(|a| (a.id, a.balance())).collect();
        let mut records: Vec<(TxId, TxRecord)> = Vec::new();
        let mut changed: BTreeMap<AccountId, Account> = BTreeMap::new();
        let mut history: Vec<(Vec<SignedTransaction>, BlockOutcome)> = Vec::new();
        let mut sent: Vec<SignedTransaction> = Vec::new();
        // Every case starts with a few funded wallets so that random transfers can succeed.
        let k = &fx.keys;
        let preamble = vec![
            signed(&k.issuer_a, nonce(1), create(wallet_id(0), 0, &k.users[0], usd())),
            signed(&k.issuer_b, nonce(2), create(wallet_id(1), 1, &k.users[1], usd())),
            signed(&k.issuer_a, nonce(3), create(wallet_id(2), 0, &k.users[2], eur())),
            signed(&k.issuer_a, nonce(4), issue(wallet_id(0), 500)),
            signed(&k.issuer_a, nonce(5), issue(wallet_id(2), 300)),
            signed(&k.issuer_b, nonce(6), issue(wallet_id(1), 200)),
        ];
        let blocks: Vec<Vec<GenTx>> = std::iter::once(Vec::new()).chain(blocks).collect();

        for (n, block) in blocks.iter().enumerate() {
            let before: BTreeMap<AccountId, Account> =
                ledger.accounts().expect("accounts in memory").map(|a| (a.id, a.clone())).collect();
            // Build transactions one at a time against a scratch copy, so that "allowed signer"
            // sees wallets created earlier in the same block.
            let mut scratch = ledger.clone();
            let mut txs = if n == 0 { preamble.clone() } else { Vec::new() };
            for gtx in block {
                let tx = fx.build(&scratch, gtx, &mut sent);
                apply(&mut scratch, std::slice::from_ref(&tx));
                txs.push(tx);
            }
            let out = apply(&mut ledger, &txs);
            check_block(&ledger, &before, &txs, &out, &genesis_totals);
            for (tx, o) in txs.iter().zip(&out.outcomes) {
                if o.result.is_ok() && !o.duplicate {
                    model_apply(&mut model, &ledger, &tx.tx.op);
                }
            }
            // Window records (clearing and settlement) carry no balance: the model does not
            // list them.
            let actual: BTreeMap<AccountId, i128> = ledger
                .accounts()
                .expect("accounts in memory")
                .filter(|a| a.kind != settlenet_ledger::AccountKind::Window)
                .map(|a| (a.id, a.balance()))
                .collect();
            prop_assert_eq!(&actual, &model, "ledger disagrees with the model");
            records.extend(out.new_records.iter().cloned());
            for a in &out.changed_accounts {
                changed.insert(a.id, a.clone());
            }
            history.push((txs, out));
        }

        // Restore from everything, from only what blocks reported, and in reverse order.
        let all: Vec<Account> = ledger.accounts().expect("accounts in memory").cloned().collect();
        let restored = Ledger::restore(&g, ledger.height(), all.clone(), records.clone(), ledger.history().clone())
            .expect("restore all");
        prop_assert_eq!(restored.state_root(), ledger.state_root());
        let partial = Ledger::restore(
            &g, ledger.height(), changed.values().cloned().collect(), records.clone(), ledger.history().clone(),
        ).expect("restore changed");
        prop_assert_eq!(partial.state_root(), ledger.state_root());
        prop_assert_eq!(partial.accounts().expect("accounts in memory").collect::<Vec<_>>(), ledger.accounts().expect("accounts in memory").collect::<Vec<_>>());
        let mut reversed = all;
        reversed.reverse();
        let mut rev_records = records.clone();
        rev_records.reverse();
        let mut restored_rev = Ledger::restore(&g, ledger.height(), reversed, rev_records, ledger.history().clone())
            .expect("restore reversed");
        prop_assert_eq!(restored_rev.state_root(), ledger.state_root());
        for (id, rec) in &records {
            prop_assert_eq!(restored_rev.record(id), Some(rec));
        }

        // The restored ledger continues exactly like the original.
        if let Some((txs, _)) = history.last() {
            let mut original = ledger.clone();
            let a = apply(&mut original, txs);
            let b = apply(&mut restored_rev, txs);
            prop_assert_eq!(a, b);
        }

        // Replaying the same blocks from genesis is deterministic.
        let mut replay = Ledger::from_genesis(&g).expect("genesis");
        for (txs, out) in &history {
            prop_assert_eq!(&apply(&mut replay, txs), out);
        }

        // ...also on a ledger that reads its accounts from a store through a cache of two:
        // the same outcomes and roots whatever is cached, and the same reads after.
        let mut backed = StoreMode::new(Ledger::from_genesis(&g).expect("genesis"), 2);
        for (txs, out) in &history {
            prop_assert_eq!(&backed.apply(txs), out);
        }
        prop_assert_eq!(backed.ledger.totals(), ledger.totals());
        prop_assert_eq!(backed.ledger.account_count(), ledger.account_count());
        for a in ledger.accounts().expect("accounts in memory") {
            prop_assert_eq!(backed.ledger.account(&a.id), Some(a));
            prop_assert_eq!(backed.ledger.prove(&a.id), ledger.prove(&a.id));
        }
        // ...and restored from that store, streaming its accounts, as a node restarts.
        let stored: Vec<Account> = backed.store.0.lock().expect("lock").values().cloned().collect();
        let from_store = Ledger::restore_from_store(
            &g, ledger.height(), stored.into_iter().map(Ok), records.clone(),
            ledger.history().clone(), backed.store.clone(), 2,
        ).expect("restore from store");
        prop_assert_eq!(from_store.state_root(), ledger.state_root());

        // Proofs verify for every account and fail when tampered with.
        let root = ledger.state_root();
        for a in ledger.accounts().expect("accounts in memory") {
            let proof = ledger.prove(&a.id).expect("proof");
            prop_assert_eq!(&proof.verify(&root).expect("verifies"), a);
            let mut bad = proof.clone();
            bad.account.debits_posted += 1;
            prop_assert!(bad.verify(&root).is_err());
            let mut bad_root = root;
            bad_root.0[0] ^= 0x80;
            prop_assert!(proof.verify(&bad_root).is_err());
        }
    }

    #[test]
    fn root_is_independent_of_insertion_order(
        balances in prop::collection::vec(1u64..1_000, 1..30),
        rotate in 0usize..30,
    ) {
        // Same final account set reached through different creation orders and block splits.
        let g = genesis();
        let k = keys();
        let n = balances.len();
        let build = |order: &[usize], split: usize| {
            let mut l = Ledger::from_genesis(&g).expect("genesis");
            let mut txs = Vec::new();
            for (j, &i) in order.iter().enumerate() {
                let w = AccountId([i as u8; 16]);
                txs.push(signed(&k.issuer_a, nonce(1000 + i as u64), create(w, 0, &k.users[0], usd())));
                txs.push(signed(&k.issuer_a, nonce(2000 + i as u64), issue(w, balances[i])));
                if j + 1 == split {
                    apply(&mut l, &std::mem::take(&mut txs));
                }
            }
            let out = apply(&mut l, &txs);
            assert!(out.outcomes.iter().all(|o| o.result.is_ok()));
            l
        };
        let forward: Vec<usize> = (0..n).collect();
        let mut other: Vec<usize> = forward.clone();
        other.rotate_left(rotate % n);
        other.reverse();
        let a = build(&forward, n);
        let b = build(&other, n / 2);
        // Heights differ only by block count; created_height is part of the account, so compare
        // against a restore at a fixed height with normalised heights instead.
        let norm = |l: &Ledger| {
            let accounts: Vec<Account> = l.accounts().expect("accounts in memory").cloned().map(|mut a| {
                if a.created_height > Height(0) { a.created_height = Height(1); }
                a
            }).collect();
            Ledger::restore(&g, Height(2), accounts, vec![], two_blocks()).expect("restore")
        };
        let (na, nb) = (norm(&a), norm(&b));
        let mut shuffled: Vec<Account> = na.accounts().expect("accounts in memory").cloned().collect();
        let len = shuffled.len();
        shuffled.rotate_left(rotate % len);
        let nc = Ledger::restore(&g, Height(2), shuffled, vec![], two_blocks()).expect("restore");
        prop_assert_eq!(na.state_root(), nb.state_root());
        prop_assert_eq!(na.state_root(), nc.state_root());
        // And a different set gives a different root.
        prop_assert_ne!(na.state_root(), Ledger::from_genesis(&g).expect("g").state_root());
    }
}

/// A history of two (empty) blocks, for restores at height 2 that compare accounts only.
fn two_blocks() -> settlenet_ledger::History {
    let mut h = settlenet_ledger::History::default();
    h.append(settlenet_types::Hash::ZERO);
    h.append(settlenet_types::Hash::ZERO);
    h
}
