//! `settlenet bench`: open-loop load of signed transfers; reports committed transfers per second
//! and commit latency from submission to "final on every node".

use crate::load::fund_wallets;
use crate::support::Target;
use crate::txbuild::{random_id, sign};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use settlenet_api::client::Client;
use settlenet_localnet::{init_free, LocalNet};
use settlenet_types::{Amount, Operation, SignedTransaction, TxId, TxNonce};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Validators of the local network to start (ignored with --testnet).
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Transfers to submit.
    #[arg(long, default_value_t = 20_000)]
    pub txs: usize,
    /// Offered load in transfers/s (open loop); 0 = as fast as the submitters go.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Wallets the transfers move between.
    #[arg(long, default_value_t = 512)]
    pub wallets: usize,
    /// Transfers per HTTP request.
    #[arg(long, default_value_t = 250)]
    pub batch: usize,
    /// Seconds to wait for the last transfer to become final.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Another measurement instead of throughput.
    #[command(subcommand)]
    pub what: Option<BenchCmd>,
}

/// Other benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// Time a replica down since height 0 takes to catch up N blocks by state transfer.
    Catchup(crate::catchup::CatchupArgs),
    /// Steady load for a long time: each node's memory, disk and commit latency over time,
    /// then a validator's restart timed to ready.
    Soak(crate::soak::SoakArgs),
}

struct Watch {
    /// Per node: height -> when it was first seen there.
    seen: Vec<HashMap<u64, Instant>>,
    /// Tx id -> height (from node 0's blocks).
    tx_height: HashMap<TxId, u64>,
}

pub async fn run(a: BenchArgs, target: &Target, json: bool) -> Result<()> {
    if let Some(BenchCmd::Catchup(c)) = &a.what {
        if target.testnet.is_some() {
            bail!("bench catchup runs its own local network; --testnet is not supported");
        }
        return crate::catchup::run(c, json).await;
    }
    if let Some(BenchCmd::Soak(s)) = &a.what {
        if target.testnet.is_some() {
            bail!("bench soak runs its own local network; --testnet is not supported");
        }
        return crate::soak::run(s, json).await;
    }
    let (dir, _tmp, mut net) = match &target.testnet {
        Some(dir) => (dir.clone(), None, None),
        None => {
            let tmp = tempfile::Builder::new()
                .prefix("settlenet-bench-")
                .tempdir()?;
            let dir = tmp.path().to_path_buf();
            let entries = init_free(
                &dir,
                settlenet_node::testnet::TestnetOptions {
                    validators: a.validators,
                    ..Default::default()
                },
            )?;
            let exe = std::env::current_exe().context("locating the settlenet binary")?;
            let mut net = LocalNet::start(exe, entries, "warn")?;
            net.wait_ready(Duration::from_secs(60)).await?;
            (dir, Some(tmp), Some(net))
        }
    };
    let result = bench(&a, &dir, json).await;
    if let Some(n) = net.as_mut() {
        n.stop();
    }
    result
}

async fn bench(a: &BenchArgs, dir: &std::path::Path, json: bool) -> Result<()> {
    let nodes = settlenet_node::testnet::read_nodes(dir)?;
    let clients: Vec<Client> = nodes
        .iter()
        .map(|n| Ok(Client::new(&n.api)?))
        .collect::<Result<_>>()?;
    let genesis = clients[0].genesis().await?;
    let chain = genesis.chain_id.clone();
    let issuers = crate::load::issuer_names(&genesis);
    if issuers.is_empty() {
        bail!("no issuer in the genesis");
    }
    let wallets = a.wallets.max(2);
    eprintln!("bench: setting up {wallets} funded wallets...");
    let owners = fund_wallets(
        &clients,
        &genesis,
        dir,
        &issuers,
        wallets,
        Amount(100_000_000),
    )
    .await?;

    eprintln!("bench: signing {} transfers...", a.txs);
    let mut rng_state: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state
    };
    let mut txs: Vec<SignedTransaction> = Vec::with_capacity(a.txs);
    for _ in 0..a.txs {
        let from = (next() % wallets as u64) as usize;
        let mut to = (next() % (wallets as u64 - 1)) as usize;
        if to >= from {
            to += 1;
        }
        txs.push(sign(
            &chain,
            &owners[from].0,
            TxNonce(random_id()),
            Operation::Transfer {
                from: owners[from].1,
                to: owners[to].1,
                amount: Amount(1 + next() % 500),
            },
        )?);
    }

    let start_height = clients[0].status().await?.height.0;
    let watch = Arc::new(Mutex::new(Watch {
        seen: vec![HashMap::new(); clients.len()],
        tx_height: HashMap::new(),
    }));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut watchers = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let c = c.clone();
        let watch = watch.clone();
        let stop = stop.clone();
        watchers.push(tokio::spawn(async move {
            let mut known = start_height;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(s) = c.status().await {
                    let h = s.height.0;
                    if h > known {
                        let now = Instant::now();
                        for x in known + 1..=h {
                            if i == 0 {
                                if let Ok(Some(v)) = c.block_txids(x).await {
                                    let ids: Vec<TxId> = v.ids;
                                    if let Ok(mut w) = watch.lock() {
                                        for id in ids {
                                            w.tx_height.entry(id).or_insert(x);
                                        }
                                    }
                                }
                            }
                            if let Ok(mut w) = watch.lock() {
                                w.seen[i].insert(x, now);
                            }
                        }
                        known = h;
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }

    eprintln!(
        "bench: submitting {} transfers to {} nodes ({})...",
        txs.len(),
        clients.len(),
        if a.rate == 0 {
            "as fast as possible".to_string()
        } else {
            format!("{} tx/s offered", a.rate)
        }
    );
    let submitted_at: Arc<Mutex<HashMap<TxId, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let t0 = Instant::now();
    let mut senders = Vec::new();
    let batch = a.batch.max(1);
    let inflight = Arc::new(tokio::sync::Semaphore::new(8));
    for (k, chunk) in txs.chunks(batch).enumerate() {
        if a.rate > 0 {
            // Open loop: the k-th batch is due at k * batch / rate seconds, whatever came back.
            let due = t0 + Duration::from_secs_f64((k * batch) as f64 / a.rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let permit = if a.rate == 0 {
            Some(inflight.clone().acquire_owned().await?)
        } else {
            None
        };
        let c = clients[k % clients.len()].clone();
        let chunk = chunk.to_vec();
        let submitted_at = submitted_at.clone();
        senders.push(tokio::spawn(async move {
            let now = Instant::now();
            if let Ok(mut m) = submitted_at.lock() {
                for t in &chunk {
                    m.insert(t.tx.id, now);
                }
            }
            let r = c.submit_batch(&chunk).await;
            drop(permit);
            r.map(|v| v.accepted)
        }));
    }
    let mut accepted = 0u64;
    for s in senders {
        accepted += s.await.context("submitter task")??;
    }
    let submit_secs = t0.elapsed().as_secs_f64();

    // Wait until every transfer is in a block on node 0 and every node has that height.
    let deadline = Instant::now() + Duration::from_secs(a.timeout);
    let ids: Vec<TxId> = txs.iter().map(|t| t.tx.id).collect();
    loop {
        let done = {
            let w = watch.lock().map_err(|_| anyhow::anyhow!("lock"))?;
            let all_in = ids.iter().all(|id| w.tx_height.contains_key(id));
            let maxh = ids
                .iter()
                .filter_map(|id| w.tx_height.get(id))
                .max()
                .copied()
                .unwrap_or(0);
            all_in && w.seen.iter().all(|s| s.contains_key(&maxh))
        };
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in watchers {
        let _ = w.await;
    }

    let w = watch.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    let sub = submitted_at.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    let mut latencies = Vec::with_capacity(ids.len());
    let mut last_final = t0;
    let mut lost = 0usize;
    for id in &ids {
        let Some(h) = w.tx_height.get(id) else {
            lost += 1;
            continue;
        };
        let finals: Vec<Instant> = w.seen.iter().filter_map(|s| s.get(h).copied()).collect();
        if finals.len() < w.seen.len() {
            lost += 1;
            continue;
        }
        let fin = finals.into_iter().max().unwrap_or(t0);
        if fin > last_final {
            last_final = fin;
        }
        if let Some(s) = sub.get(id) {
            latencies.push(fin.saturating_duration_since(*s).as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i.min(latencies.len() - 1)]
    };
    let committed = ids.len() - lost;
    let secs = last_final.duration_since(t0).as_secs_f64().max(1e-9);
    let tps = committed as f64 / secs;
    let blocks = ids
        .iter()
        .filter_map(|id| w.tx_height.get(id))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if json {
        say!(
            "{}",
            serde_json::json!({"committed": committed, "tps": (tps * 10.0).round() / 10.0, "latency_ms": {"p50": (pct(0.5) * 10.0).round() / 10.0, "p99": (pct(0.99) * 10.0).round() / 10.0}})
        );
    } else {
        say!("validators        {}", clients.len());
        say!(
            "transfers         {} submitted, {} accepted, {} final on every node, {} lost",
            ids.len(),
            accepted,
            committed,
            lost
        );
        say!("blocks            {blocks}");
        say!("submit time       {submit_secs:.2} s");
        say!("throughput        {tps:.0} committed transfers/s");
        say!(
            "latency (ms)      p50 {:.1}  p99 {:.1}  max {:.1}",
            pct(0.5),
            pct(0.99),
            pct(1.0)
        );
        say!("(latency: submission to the block being final on every node; status polled every 5 ms)");
    }
    if lost > 0 {
        bail!(
            "{lost} submitted transfers were not committed on every node within {} s",
            a.timeout
        );
    }
    Ok(())
}
