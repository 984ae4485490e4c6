//! A bank test in the Jepsen style against four real validator processes, each in a network
//! namespace of its own (`common::netns`; on loopback when the test cannot make namespaces, not
//! being root): clients transfer between wallets while a nemesis crashes (SIGKILL, then
//! restart from the node's own data), freezes (SIGSTOP, then SIGCONT), turns Byzantine (killed,
//! and the test takes its place with its keys to flood the others with bad-signature votes,
//! then it restarts) or partitions (one validator cut off from the other three; or the four
//! split two against two, so that no side has a quorum), one fault at a time. Partitions drop
//! packets silently, as a cut link does; each must hold (no block certified without a quorum),
//! and after each heal a probe transfer must be final on all four nodes within 60 s. A client works as a
//! production client does: it submits a signed transfer to some node, then waits for it to be
//! final, resubmitting the same signed transaction (same id: idempotent) elsewhere when it does
//! not appear; an operation is acknowledged when the client saw it final.
//!
//! Afterwards: every acknowledged transfer is final on every node with one result, money is
//! conserved, no balance is negative, and all nodes agree on the state root. The run prints
//! operations done, faults injected and anything lost (must be nothing); `SETTLENET_BANK_SECS`
//! sets how long the clients and the nemesis run (default 30 s). Figures: docs/benchmarks.md.

mod common;

use common::*;
use rand::{Rng, SeedableRng};
use settlenet_api::{TxStatus, TxView};
use settlenet_crypto::Keypair;
use settlenet_types::{AccountId, Amount, Currency, MemberId, Operation, SignedTransaction, TxId};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WALLETS: usize = 6;
const FUNDS: u64 = 1_000_000;
const CLIENTS: usize = 3;

/// What a client learned about one transfer.
#[derive(Debug, Clone)]
struct Op {
    id: TxId,
    /// The result the client saw final (`committed` or `rejected`), `None` if it never saw one.
    seen: Option<TxStatus>,
}

/// A transaction's status on `api`, `None` if unknown or unreachable.
async fn status(http: &reqwest::Client, api: &str, id: TxId) -> Option<TxView> {
    let r = http
        .get(format!("{api}/v1/transactions/{id}"))
        .send()
        .await
        .ok()?;
    if r.status().as_u16() != 200 {
        return None;
    }
    r.json::<TxView>().await.ok()
}

/// Submit `tx` to `api`; whether the node took it (pending, or already final).
async fn submit(http: &reqwest::Client, api: &str, tx: &SignedTransaction) -> bool {
    match http
        .post(format!("{api}/v1/transactions"))
        .json(tx)
        .send()
        .await
    {
        Ok(r) => matches!(r.status().as_u16(), 200 | 202),
        Err(_) => false,
    }
}

/// One client: transfers until `until`, each waited for (resubmitted while not seen).
async fn client(
    seed: u64,
    apis: Vec<String>,
    chain: String,
    owners: Arc<Vec<(Keypair, AccountId)>>,
    until: Instant,
    resubmits: Arc<AtomicU64>,
) -> Vec<Op> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("http client");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut ops = Vec::new();
    while Instant::now() < until {
        let from = rng.gen_range(0..owners.len());
        let to = (from + rng.gen_range(1..owners.len())) % owners.len();
        let tx = sign(
            &chain,
            &owners[from].0,
            nonce(),
            Operation::Transfer {
                from: owners[from].1,
                to: owners[to].1,
                amount: Amount(rng.gen_range(1..=50_000)),
            },
        );
        let mut node = rng.gen_range(0..apis.len());
        let mut seen = None;
        // Wait up to 60 s for it to be final, moving to the next node every 2 s without it.
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            // A node that is down or frozen takes nothing; the wait below then moves on.
            let _taken = submit(&http, &apis[node], &tx).await;
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(2) {
                if let Some(v) = status(&http, &apis[node], tx.tx.id).await {
                    if v.status.is_final() {
                        seen = Some(v.status);
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if seen.is_some() {
                break;
            }
            node = (node + 1) % apis.len();
            resubmits.fetch_add(1, Ordering::Relaxed);
        }
        ops.push(Op { id: tx.tx.id, seen });
    }
    ops
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_survive_crashes_freezes_floods_and_partitions() {
    let secs: u64 = std::env::var("SETTLENET_BANK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    // Partitions need network namespaces, so root; as root (CI) they are required.
    let mut hosts = match netns::Hosts::unavailable() {
        None => Some(netns::Hosts::create(4).expect("network namespaces for the validators")),
        Some(why) if is_root() => panic!("partitions cannot be injected: {why}"),
        Some(why) => {
            println!("bank: WITHOUT PARTITIONS: {why} (run as root to include them)");
            None
        }
    };
    // Bans of the flooding validator last a second (doubling per ban), so the real node is let
    // back in soon after it restarts.
    let mut net = start_net_on(hosts.as_ref(), &[], |_, entry| {
        edit_config(entry, |c| c.p2p.ban_secs = 1);
    })
    .await;
    // Wallets at operator-a, each funded.
    let issuer = net.issuer_key("operator-a");
    let mut owners = Vec::new();
    let mut setup = Vec::new();
    for _ in 0..WALLETS {
        let key = Keypair::generate();
        let wallet = AccountId(rand::random());
        setup.push(sign(
            &net.chain,
            &issuer,
            nonce(),
            Operation::CreateWallet {
                account: wallet,
                issuer: MemberId(0),
                owner: key.public(),
                currency: Currency(*b"USD"),
            },
        ));
        owners.push((key, wallet));
    }
    for tx in &setup {
        assert_eq!(net.submit(0, tx).await.0, 202);
    }
    for tx in &setup {
        net.wait_committed(0, tx.tx.id).await;
    }
    let mut topups = Vec::new();
    for (_, wallet) in &owners {
        let tx = sign(
            &net.chain,
            &issuer,
            nonce(),
            Operation::Issue {
                wallet: *wallet,
                amount: Amount(FUNDS),
            },
        );
        assert_eq!(net.submit(0, &tx).await.0, 202);
        topups.push(tx.tx.id);
    }
    for t in topups {
        net.wait_committed(0, t).await;
    }

    // Clients and the nemesis.
    let apis: Vec<String> = (0..4).map(|i| net.local.api(i).to_string()).collect();
    let owners = Arc::new(owners);
    let until = Instant::now() + Duration::from_secs(secs);
    let resubmits = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            tokio::spawn(client(
                c as u64 + 1,
                apis.clone(),
                net.chain.clone(),
                owners.clone(),
                until,
                resubmits.clone(),
            ))
        })
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut faults: BTreeMap<&str, u64> = BTreeMap::new();
    let mut flooded = 0u64;
    // How long after each heal the network was whole and committing again.
    let mut recoveries: Vec<(&str, Duration)> = Vec::new();
    while Instant::now() + Duration::from_secs(4) < until {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(500..1_500))).await;
        let victim = rng.gen_range(0..4);
        let lasts = Duration::from_millis(rng.gen_range(1_000..3_000));
        // The kinds of fault in turn, each on a random validator.
        let kinds = if hosts.is_some() { 5 } else { 3 };
        let kind = faults.values().sum::<u64>() % kinds;
        let mut everyone = false;
        match kind {
            0 => {
                net.kill9(victim);
                *faults.entry("kill -9 and restart").or_default() += 1;
                tokio::time::sleep(lasts).await;
                net.restart(victim);
            }
            1 => {
                net.sigstop(victim);
                *faults.entry("SIGSTOP and SIGCONT").or_default() += 1;
                tokio::time::sleep(lasts).await;
                net.sigcont(victim);
            }
            3 | 4 => {
                let hosts = hosts.as_mut().expect("partitions need hosts");
                let others: Vec<usize> = (0..4).filter(|&j| j != victim).collect();
                let what = if kind == 3 {
                    hosts.cut(&[victim], &others).expect("cut");
                    "partition: one validator cut off"
                } else {
                    // Two against two: neither side has a quorum, nothing commits until it
                    // heals. Longer, so that both sides move through view changes.
                    everyone = true;
                    hosts.cut(&[victim, others[0]], &others[1..]).expect("cut");
                    "partition: two against two (no quorum)"
                };
                *faults.entry(what).or_default() += 1;
                // The cut holds: once what was in flight has settled (1 s), no side without a
                // quorum certifies a new block: the cut-off validator's height stays; split
                // two against two, the highest height of all stays (a node may still fetch a
                // block certified before the cut from the node on its side).
                tokio::time::sleep(Duration::from_secs(1)).await;
                let stuck: Vec<usize> = if kind == 3 {
                    vec![victim]
                } else {
                    (0..4).collect()
                };
                let mut before = 0;
                for &i in &stuck {
                    before = before.max(net.height(i).await);
                }
                tokio::time::sleep(lasts * 2).await;
                for &i in &stuck {
                    let now = net.status(i).await.expect("status");
                    assert!(
                        now.height.0 <= before,
                        "{what} (node{victim}): node{i} is at {} past {before}, certified without \
                         a quorum: {now:?}",
                        now.height.0
                    );
                }
                hosts.heal().expect("heal");
                // Recovery: a probe transfer (wallet 0 to 1, one minor unit; refused if wallet 0
                // is short, which is as final) sent to every node is final on all four: the cut
                // side caught up, views converged, the network commits again.
                let healed = Instant::now();
                let probe = sign(
                    &net.chain,
                    &owners[0].0,
                    nonce(),
                    Operation::Transfer {
                        from: owners[0].1,
                        to: owners[1].1,
                        amount: Amount(1),
                    },
                );
                for i in 0..4 {
                    let _ = net.submit(i, &probe).await;
                }
                for i in 0..4 {
                    loop {
                        if net
                            .tx(i, probe.tx.id)
                            .await
                            .is_some_and(|v| v.status.is_final())
                        {
                            break;
                        }
                        assert!(
                            healed.elapsed() < Duration::from_secs(60),
                            "{what}: node{i} has no final probe 60 s after the heal"
                        );
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                recoveries.push((what, healed.elapsed()));
            }
            _ => {
                net.kill9(victim);
                let others: Vec<usize> = (0..4).filter(|&j| j != victim).collect();
                let impostor = net.impostor(victim, &others).await;
                let s = net.status(others[0]).await.expect("an honest node answers");
                let (offered, _) = impostor
                    .flood(&others, s.view, s.height.0, 20_000, lasts, |_| {})
                    .await;
                flooded += offered;
                impostor.handle.shutdown().await;
                *faults
                    .entry("Byzantine flood (bad signatures)")
                    .or_default() += 1;
                net.restart(victim);
            }
        }
        // Every fault lasts until the node is back up and connected to the other three (a
        // banned node is let back in when its ban runs out): one faulty node at a time (f = 1).
        let deadline = Instant::now() + Duration::from_secs(60);
        let back: Vec<usize> = if everyone {
            (0..4).collect()
        } else {
            vec![victim]
        };
        for i in back {
            while net.wait_up(i, 60).await.peers.len() < 3 {
                assert!(Instant::now() < deadline, "node{i} did not reconnect");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let mut ops = Vec::new();
    for t in tasks {
        ops.extend(t.await.expect("client"));
    }

    // Checks, with every node up.
    let top = net.agree().await;
    let acknowledged: Vec<&Op> = ops.iter().filter(|o| o.seen.is_some()).collect();
    let mut lost = Vec::new();
    let mut committed = 0u64;
    for op in &acknowledged {
        for i in 0..4 {
            match net.tx(i, op.id).await {
                Some(v) if Some(v.status) == op.seen => {}
                other => lost.push((i, op.id, other.map(|v| v.status))),
            }
        }
        if op.seen == Some(TxStatus::Committed) {
            committed += 1;
        }
    }
    let mut total: u64 = 0;
    for i in 0..4 {
        let mut sum = 0u64;
        for (_, wallet) in owners.iter() {
            let a = net.account(i, *wallet).await;
            let minor: i128 = a.balance_minor.parse().expect("minor units");
            assert!(minor >= 0, "node{i}: wallet {wallet} at {minor}");
            sum += u64::try_from(minor).expect("non-negative");
        }
        if i == 0 {
            total = sum;
        }
        assert_eq!(sum, total, "node{i} disagrees on the wallets' total");
    }
    let indeterminate = ops.len() - acknowledged.len();
    println!(
        "bank: {} s, {} operations ({} acknowledged: {} committed, {} rejected; {} never seen \
         final by their client), {} resubmissions, faults {:?} ({flooded} bad-signature votes \
         offered), height {top}, recovered after each heal in {recoveries:?}, lost {}",
        secs,
        ops.len(),
        acknowledged.len(),
        committed,
        acknowledged.len() as u64 - committed,
        indeterminate,
        resubmits.load(Ordering::Relaxed),
        faults,
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged transfers missing: {lost:?}");
    assert_eq!(total, WALLETS as u64 * FUNDS, "money is conserved");
    assert!(!faults.is_empty(), "the nemesis injected faults");
    if hosts.is_some() {
        assert!(
            faults.keys().filter(|k| k.starts_with("partition")).count() == 2,
            "both kinds of partition were injected: {faults:?}"
        );
    }
    assert!(committed > 0, "transfers went through");
}
