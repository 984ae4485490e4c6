//! A bank-style concurrency test against four real validator processes: many clients race
//! payments out of a few wallets through different nodes, retrying some, and nothing is
//! overdrawn, duplicated or lost.

mod common;

use common::{nonce, sign, start_net};
use settlenet_api::TxView;
use settlenet_crypto::Keypair;
use settlenet_types::{AccountId, Amount, MemberId, Operation, Payee, TxId};
use std::collections::{BTreeMap, BTreeSet};

/// Many clients race payments out of the same few wallets through different nodes, retrying
/// some with the same id. Afterwards: no overdraft, every acknowledged payment applied exactly
/// once, money conserved, positions summing to zero, all nodes on one root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_cannot_overdraw_duplicate_or_lose_payments() {
    const WALLETS: usize = 4;
    const CLIENTS: usize = 8;
    const PAYMENTS_PER_CLIENT: usize = 40;
    const FUNDING: u64 = 10_000;
    let net = std::sync::Arc::new(start_net().await);
    // Wallets alternate between two issuers so that most payments cross members.
    let mut owners = Vec::new();
    let mut wallets = Vec::new();
    let mut setup = Vec::new();
    for w in 0..WALLETS {
        let (member, mid) = if w % 2 == 0 {
            ("operator-a", 0)
        } else {
            ("bank-a", 1)
        };
        let owner = Keypair::generate();
        let account = AccountId(rand::random());
        let key = net.issuer_key(member);
        let create = sign(
            &net.chain,
            &key,
            nonce(),
            Operation::CreateWallet {
                account,
                issuer: MemberId(mid),
                owner: owner.public(),
                currency: "USD".parse().expect("usd"),
            },
        );
        let fund = sign(
            &net.chain,
            &key,
            nonce(),
            Operation::Issue {
                wallet: account,
                amount: Amount(FUNDING),
            },
        );
        setup.push(create);
        setup.push(fund);
        owners.push(owner);
        wallets.push(account);
    }
    for tx in &setup {
        assert_eq!(net.submit(0, tx).await.0, 202);
        let v = net.wait_final(0, tx.tx.id).await;
        assert_eq!(v.result.as_deref(), Some("ok"), "{v:?}");
    }
    let owners = std::sync::Arc::new(owners);
    let wallets = std::sync::Arc::new(wallets);

    // Each client: random payer, payee, amount and node; a third of the payments are sent
    // twice (to two nodes) with the same id. Acknowledged = committed with result ok.
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let net = net.clone();
        let owners = owners.clone();
        let wallets = wallets.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut pending = Vec::new();
            for k in 0..PAYMENTS_PER_CLIENT {
                let from = rand::random::<usize>() % WALLETS;
                let to = (from + 1 + rand::random::<usize>() % (WALLETS - 1)) % WALLETS;
                let amount = 100 + rand::random::<u64>() % 900;
                let tx = sign(
                    &net.chain,
                    &owners[from],
                    nonce(),
                    Operation::Pay {
                        from: wallets[from],
                        to: Payee::Account(wallets[to]),
                        amount: Amount(amount),
                        fee: None,
                    },
                );
                let node = (c + k) % 4;
                let (code, v) = net.submit(node, &tx).await;
                assert!(code == 202 || code == 200, "{v:?}");
                if k % 3 == 0 {
                    let (code, v) = net.submit((node + 1) % 4, &tx).await;
                    assert!(code == 202 || code == 200, "retry: {v:?}");
                }
                pending.push((tx.tx.id, from, to, amount));
                if pending.len() >= 8 {
                    for (id, from, to, amount) in pending.drain(..) {
                        let v = net.wait_final((c + 1) % 4, id).await;
                        sent.push(outcome(id, from, to, amount, v));
                    }
                }
            }
            for (id, from, to, amount) in pending.drain(..) {
                let v = net.wait_final((c + 1) % 4, id).await;
                sent.push(outcome(id, from, to, amount, v));
            }
            sent
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    let acked: Vec<_> = all.iter().filter(|p| p.4).collect();
    let refused: Vec<_> = all.iter().filter(|p| !p.4).collect();
    for p in &refused {
        assert_eq!(
            p.5.as_deref(),
            Some("insufficient_funds"),
            "unexpected refusal {p:?}"
        );
    }
    eprintln!(
        "{} payments: {} applied, {} refused for insufficient funds",
        all.len(),
        acked.len(),
        refused.len()
    );
    assert!(!acked.is_empty());

    // Expected balances from the acknowledged payments alone.
    let mut expected = vec![i128::from(FUNDING); WALLETS];
    for (_, from, to, amount, _, _) in &acked {
        expected[*from] -= i128::from(*amount);
        expected[*to] += i128::from(*amount);
    }
    let h = net.agree().await;
    for (w, want) in wallets.iter().zip(&expected) {
        for i in 0..4 {
            let v = net.account(i, *w).await;
            assert_eq!(v.balance_minor, want.to_string(), "wallet {w} on node{i}");
            assert!(!v.available.starts_with('-'), "overdraft {v:?}");
        }
    }
    let total: i128 = expected.iter().sum();
    assert_eq!(
        total,
        i128::from(FUNDING) * WALLETS as i128,
        "money not conserved"
    );

    // Every acknowledged payment is in the chain exactly once with result ok; retries show up
    // only as duplicates.
    let acked_ids: BTreeSet<TxId> = acked.iter().map(|p| p.0).collect();
    let mut applied: BTreeMap<TxId, usize> = BTreeMap::new();
    for height in 1..=h {
        let b = net.block(3, height).await.expect("block");
        for t in b.transactions {
            if t.result == "ok" {
                *applied.entry(t.id).or_default() += 1;
            }
        }
    }
    for id in &acked_ids {
        assert_eq!(
            applied.get(id),
            Some(&1),
            "payment {id} applied {:?} times",
            applied.get(id)
        );
    }
    // Positions across the two issuers sum to zero.
    let p = net.client(1).positions(Some(0)).await.expect("positions");
    assert_eq!(
        p.totals_minor.get("USD").map(String::as_str),
        Some("0"),
        "{p:?}"
    );
    // And every node's history of wallet 0 has the same entries.
    let mut histories = Vec::new();
    for i in 0..4 {
        let h = net.client(i).history(wallets[0], 100, None).await;
        histories.push(h.expect("history").expect("wallet 0").entries);
    }
    for i in 1..4 {
        assert_eq!(histories[i], histories[0], "history differs on node{i}");
    }
}

/// One payment's fate: (id, payer, payee, amount, applied, why not).
type Outcome = (TxId, usize, usize, u64, bool, Option<String>);

/// A final payment's [`Outcome`]: applied if committed with result ok.
fn outcome(id: TxId, from: usize, to: usize, amount: u64, v: TxView) -> Outcome {
    (
        id,
        from,
        to,
        amount,
        v.result.as_deref() == Some("ok"),
        v.reason,
    )
}
