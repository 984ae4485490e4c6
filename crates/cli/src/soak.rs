//! `settlenet bench soak`: a local network under steady load for a long time, reporting each
//! node's resident memory, disk use and commit latency over time, then a validator's restart
//! timed to ready.
//!
//! A local network of real node processes starts; wallets are opened and funded; then transfers
//! are signed as they are offered (open loop at `--rate`, each valid for `--validity` seconds, so a
//! run of any length holds only what is in flight) and submitted round-robin in batches. Every
//! `--sample` seconds one CSV line is written: elapsed time, transfers committed, the commit rate
//! and latency (submission to inclusion in a block on node 0, p50 and p99 of that interval), and
//! per node its RSS (`/proc/PID/status`) and the size of its data directory, and where validator
//! 0's memory goes (`memory` of its `GET /v1/status`: the Rust heap allocated and resident,
//! block cache, memtables, table readers, checkpoint stores, live records). At the end the last
//! validator is stopped and started again: the time until its API answers and until its height
//! reaches the others' is reported. `scripts/plot_soak.py` draws the CSV.

use crate::txbuild::{random_id, sign_until};
use anyhow::{bail, Context, Result};
use clap::Args;
use settlenet_localnet::{init_free, LocalNet};
use settlenet_types::{Amount, Operation, SignedTransaction, TxId, TxNonce};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct SoakArgs {
    /// Minutes of load.
    #[arg(long, default_value_t = 30)]
    pub minutes: u64,
    /// Offered load in transfers/s (open loop).
    #[arg(long, default_value_t = 4_000)]
    pub rate: u64,
    /// Wallets the transfers move between.
    #[arg(long, default_value_t = 2_000)]
    pub wallets: usize,
    /// Seconds between samples (CSV lines).
    #[arg(long, default_value_t = 30)]
    pub sample: u64,
    /// Transfers per HTTP request.
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
    /// Seconds each transfer stays valid after it is signed (the ledger keeps a record for
    /// idempotency that long, so the live set is about rate x validity; the CLI signs for 600).
    #[arg(long, default_value_t = 600)]
    pub validity: u64,
    /// Where to write the samples (CSV).
    #[arg(long, default_value = "soak.csv")]
    pub out: PathBuf,
    /// Every validator keeps the full blocks of only this many latest heights (`[sync]
    /// retain_blocks`; 0 = keep every block, the default).
    #[arg(long, default_value_t = 0)]
    pub retain_blocks: u64,
}

/// Most submission requests in flight; an offer beyond it is counted as not sent.
const INFLIGHT_MAX: usize = 64;

/// Submission times of transfers not yet seen in a block, and the latencies seen since the last
/// sample.
#[derive(Default)]
struct Track {
    submitted: HashMap<TxId, Instant>,
    latencies_ms: Vec<f64>,
    committed: u64,
}

pub async fn run(a: &SoakArgs, json: bool) -> Result<()> {
    if a.rate == 0 || a.minutes == 0 || a.sample == 0 {
        bail!("--rate, --minutes and --sample must be at least 1");
    }
    let tmp = tempfile::Builder::new()
        .prefix("settlenet-soak-")
        .tempdir()?;
    let dir = tmp.path().to_path_buf();
    let entries = init_free(
        &dir,
        settlenet_node::testnet::TestnetOptions {
            validators: 4,
            ..Default::default()
        },
    )?;
    for e in &entries {
        let mut config = settlenet_node::config::NodeConfig::load(&e.home)?;
        config.sync.retain_blocks = a.retain_blocks;
        config
            .sync
            .check_retention()
            .map_err(|e| anyhow::anyhow!("--retain-blocks: {e}"))?;
        let text = toml::to_string_pretty(&config).context("encoding a node's config")?;
        std::fs::write(e.home.join("config.toml"), text)
            .with_context(|| format!("writing {}", e.home.join("config.toml").display()))?;
    }
    let exe = std::env::current_exe().context("locating the settlenet binary")?;
    // Warnings, and how long each snapshot checkpoint held the event loop.
    let mut net = LocalNet::start(exe, entries, "warn,settlenet_node::core::checkpoints=info")?;
    net.wait_ready(Duration::from_secs(60)).await?;
    let result = soak(a, &dir, &mut net, json).await;
    net.stop();
    result
}

async fn soak(a: &SoakArgs, dir: &Path, net: &mut LocalNet, json: bool) -> Result<()> {
    let clients = net.clients()?;
    let genesis = clients[0].genesis().await?;
    let chain = genesis.chain_id.clone();
    let issuers = crate::load::issuer_names(&genesis);
    let wallets = a.wallets.max(2);
    eprintln!("soak: funding {wallets} wallets...");
    let owners = Arc::new(
        crate::load::fund_wallets(
            &clients,
            &genesis,
            dir,
            &issuers,
            wallets,
            Amount(1_000_000_000),
        )
        .await?,
    );
    let mut csv = std::fs::File::create(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut header =
        "elapsed_s,committed,rate_per_s,p50_ms,p99_ms,outstanding,not_sent".to_string();
    for i in 0..net.len() {
        header.push_str(&format!(",rss_mb_{i}"));
    }
    for i in 0..net.len() {
        header.push_str(&format!(",disk_mb_{i}"));
    }
    // Where validator 0's memory goes, as its `GET /v1/status` accounts for it.
    header.push_str(
        ",heap_allocated_mb_0,heap_resident_mb_0,cache_mb_0,memtables_mb_0,table_readers_mb_0,\
         checkpoint_stores_0,checkpoint_mb_0,live_records_0",
    );
    writeln!(csv, "{header}")?;

    let track = Arc::new(Mutex::new(Track::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Watch node 0's blocks: each transfer's latency is from submission to its block.
    let watcher = {
        let c = clients[0].clone();
        let track = track.clone();
        let stop = stop.clone();
        let mut known = c.status().await?.height.0;
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(s) = c.status().await {
                    for h in known + 1..=s.height.0 {
                        if let Ok(Some(v)) = c.block_txids(h).await {
                            let now = Instant::now();
                            if let Ok(mut t) = track.lock() {
                                for id in v.ids {
                                    if let Some(at) = t.submitted.remove(&id) {
                                        t.latencies_ms.push((now - at).as_secs_f64() * 1e3);
                                        t.committed += 1;
                                    }
                                }
                            }
                        }
                        known = h;
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    eprintln!(
        "soak: {} transfers/s for {} min, a sample every {} s to {}",
        a.rate,
        a.minutes,
        a.sample,
        a.out.display()
    );
    let inflight = Arc::new(tokio::sync::Semaphore::new(INFLIGHT_MAX));
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(a.minutes * 60);
    let batch = a.batch.max(1);
    let mut offered = 0u64;
    let mut not_sent = 0u64;
    let mut next_sample = t0 + Duration::from_secs(a.sample);
    let mut last_committed = 0u64;
    let mut last_sample_at = t0;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut k = 0usize;
    let mut samples = 0u64;
    while Instant::now() < end {
        // Batch k is due at k * batch / rate seconds (open loop).
        let due = t0 + Duration::from_secs_f64(offered as f64 / a.rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let mut picks = Vec::with_capacity(batch);
        for _ in 0..batch {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let from = (seed % wallets as u64) as usize;
            let to = (from + 1 + (seed >> 32) as usize % (wallets - 1)) % wallets;
            picks.push((from, to, 1 + (seed >> 48) % 100));
        }
        offered += batch as u64;
        let Ok(permit) = inflight.clone().try_acquire_owned() else {
            not_sent += batch as u64;
            continue;
        };
        let owners = owners.clone();
        let chain = chain.clone();
        let validity_ms = a.validity.saturating_mul(1_000);
        let c = clients[k % clients.len()].clone();
        k += 1;
        let tracked = track.clone();
        tokio::spawn(async move {
            let txs = tokio::task::spawn_blocking(move || {
                picks
                    .into_iter()
                    .map(|(from, to, amount)| {
                        sign_until(
                            &chain,
                            &owners[from].0,
                            TxNonce(random_id()),
                            Operation::Transfer {
                                from: owners[from].1,
                                to: owners[to].1,
                                amount: Amount(amount),
                            },
                            crate::support::now_ms().saturating_add(validity_ms),
                        )
                    })
                    .collect::<Result<Vec<SignedTransaction>>>()
            })
            .await;
            if let Ok(Ok(txs)) = txs {
                let now = Instant::now();
                if let Ok(mut t) = tracked.lock() {
                    for tx in &txs {
                        t.submitted.insert(tx.tx.id, now);
                    }
                }
                let _ = c.submit_batch(&txs).await;
            }
            drop(permit);
        });
        if Instant::now() >= next_sample {
            next_sample += Duration::from_secs(a.sample);
            samples += 1;
            let (committed, mut lat, outstanding) = {
                let mut t = track.lock().map_err(|_| anyhow::anyhow!("lock"))?;
                (
                    t.committed,
                    std::mem::take(&mut t.latencies_ms),
                    t.submitted.len(),
                )
            };
            lat.sort_by(f64::total_cmp);
            let pct = |p: usize| {
                if lat.is_empty() {
                    0.0
                } else {
                    lat[(lat.len() - 1) * p / 100]
                }
            };
            let now = Instant::now();
            let rate = (committed - last_committed) as f64 / (now - last_sample_at).as_secs_f64();
            last_committed = committed;
            last_sample_at = now;
            let mut line = format!(
                "{:.0},{committed},{rate:.0},{:.1},{:.1},{outstanding},{not_sent}",
                (now - t0).as_secs_f64(),
                pct(50),
                pct(99)
            );
            let mut rss = Vec::new();
            for i in 0..net.len() {
                let mb = net.pid(i).map_or(0, rss_mb);
                rss.push(mb);
                line.push_str(&format!(",{mb}"));
            }
            for i in 0..net.len() {
                // Hard links from snapshot checkpoints to live table files counted once.
                let bytes = settlenet_node::store_report::dir_bytes(&net.data_dir(i))
                    .map_or(0, |d| d.total());
                line.push_str(&format!(",{}", bytes / (1 << 20)));
            }
            let m = clients[0]
                .status()
                .await
                .map(|s| s.memory)
                .unwrap_or_default();
            let mb = |b: u64| b / (1 << 20);
            line.push_str(&format!(
                ",{},{},{},{},{},{},{},{}",
                mb(m.heap_allocated_bytes),
                mb(m.heap_resident_bytes),
                mb(m.store_block_cache_bytes),
                mb(m.store_memtables_bytes),
                mb(m.store_table_readers_bytes),
                m.checkpoint_stores,
                mb(m.checkpoint_stores_bytes),
                m.ledger_live_records
            ));
            writeln!(csv, "{line}")?;
            csv.flush()?;
            if !json {
                eprintln!(
                    "soak: {:>5.0} s  committed {committed:>9}  {rate:>6.0}/s  p50 {:>6.1} ms  p99 {:>7.1} ms  rss {rss:?} MB",
                    (now - t0).as_secs_f64(),
                    pct(50),
                    pct(99)
                );
            }
        }
    }
    // Let what is in flight land.
    let drain_until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < drain_until {
        let outstanding = track.lock().map(|t| t.submitted.len()).unwrap_or(0);
        if outstanding == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = watcher.await;
    let committed = track.lock().map(|t| t.committed).unwrap_or(0);

    // Restart the last validator, timed to its API and to its height reaching the others'.
    let last = net.len() - 1;
    let target = clients[0].status().await?.height.0;
    net.stop_node(last);
    // Its store on disk, then fully compacted: bytes per transfer, and what compaction reclaims.
    let store = settlenet_node::store_report::store_report(&net.entry(last).home, true)
        .context("reading the stopped validator's store")?;
    if !json {
        println!("{}", crate::commands::network::store_report_text(&store));
    }
    let started = Instant::now();
    net.start_node(last)?;
    let c = net.client(last)?;
    let mut api_up = None;
    let deadline = started + Duration::from_secs(600);
    let caught_up = loop {
        if Instant::now() > deadline {
            bail!("validator {last} not caught up 600 s after its restart");
        }
        if let Ok(s) = c.status().await {
            api_up.get_or_insert_with(|| started.elapsed());
            if s.height.0 >= target {
                break started.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let api_up = api_up.unwrap_or(caught_up);
    let summary = serde_json::json!({
        "minutes": a.minutes,
        "offered_per_s": a.rate,
        "offered": offered,
        "not_sent": not_sent,
        "committed": committed,
        "samples": samples,
        "height": target,
        "restart_api_s": api_up.as_secs_f64(),
        "restart_caught_up_s": caught_up.as_secs_f64(),
        "store": store,
        "csv": a.out.display().to_string(),
    });
    if json {
        println!("{summary}");
    } else {
        println!(
            "soak: {committed} transfers committed of {offered} offered ({not_sent} not sent: \
             submitters busy) in {} min; height {target}",
            a.minutes
        );
        println!(
            "soak: validator {last} restarted at height {target}: API up in {:.2} s, caught up in \
             {:.2} s",
            api_up.as_secs_f64(),
            caught_up.as_secs_f64()
        );
        println!("soak: samples in {}", a.out.display());
    }
    Ok(())
}

/// Resident memory of process `pid` in MB (0 if it cannot be read).
fn rss_mb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}
