//! `settlenet bench catchup`: how long a replica that was down since height 0 takes to catch
//! up N blocks by state transfer (certified blocks fetched from its peers, verified, executed
//! and stored; if it is `[sync] snapshot_threshold_blocks` or more behind, first a state snapshot
//! at a stable checkpoint, reported as `snapshot_base`).
//!
//! A local network of real node processes starts; the last validator is stopped at once; the
//! others commit `--blocks` blocks of `--block-txs` transfers each; then the stopped validator
//! starts again and the time until its committed height reaches the others' is measured (its
//! status polled every 20 ms), from process start, so it includes opening its store.

use crate::txbuild::{random_id, sign};
use anyhow::{bail, Context, Result};
use clap::Args;
use settlenet_api::client::Client;
use settlenet_localnet::{init_free, LocalNet};
use settlenet_types::{Amount, ConsensusParams, Operation, TxNonce};
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct CatchupArgs {
    /// Blocks the others commit while the replica is down.
    #[arg(long, default_value_t = 10_000)]
    pub blocks: u64,
    /// Transfers per block (the bench network's genesis `block_max_txs`).
    #[arg(long, default_value_t = 10)]
    pub block_txs: u32,
    /// Wallets the transfers move between.
    #[arg(long, default_value_t = 64)]
    pub wallets: usize,
    /// Seconds allowed for producing the blocks, and again for the catch-up.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
}

pub async fn run(a: &CatchupArgs, json: bool) -> Result<()> {
    if a.blocks == 0 || a.block_txs == 0 {
        bail!("--blocks and --block-txs must be at least 1");
    }
    let tmp = tempfile::Builder::new()
        .prefix("settlenet-catchup-")
        .tempdir()?;
    let dir = tmp.path().to_path_buf();
    let validators = 4;
    let opts = settlenet_node::testnet::TestnetOptions {
        validators,
        consensus: ConsensusParams {
            block_max_txs: a.block_txs,
            ..ConsensusParams::default()
        },
        ..Default::default()
    };
    let entries = init_free(&dir, opts)?;
    let exe = std::env::current_exe().context("locating the settlenet binary")?;
    let mut net = LocalNet::start(exe, entries, "warn")?;
    net.wait_ready(Duration::from_secs(60)).await?;
    let result = catchup(a, &dir, &mut net, json).await;
    net.stop();
    result
}

async fn catchup(
    a: &CatchupArgs,
    dir: &std::path::Path,
    net: &mut LocalNet,
    json: bool,
) -> Result<()> {
    let last = net.len() - 1;
    net.stop_node(last);
    let clients: Vec<Client> = net.clients()?[..last].to_vec();
    let genesis = clients[0].genesis().await?;
    let chain = genesis.chain_id.clone();

    eprintln!(
        "catchup: {} stopped at height 0; the others commit {} blocks of {} transfers...",
        net.entry(last).name,
        a.blocks,
        a.block_txs
    );
    let owners = crate::load::fund_wallets(
        &clients,
        &genesis,
        dir,
        &["operator-a"],
        a.wallets.max(2),
        Amount(1_000_000_000),
    )
    .await?;

    // Produce: keep a few blocks' worth of transfers waiting (no more, so blocks stay at
    // `block_txs` and the mempools stay small) until the target height.
    let produce_start = Instant::now();
    let deadline = produce_start + Duration::from_secs(a.timeout);
    let backlog = u64::from(a.block_txs) * 16;
    let batch = (a.block_txs as usize * 4).clamp(1, 2_000);
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut submitted = 0u64;
    let mut k = 0usize;
    let mut last_report = Instant::now();
    let height = loop {
        let s = clients[0].status().await?;
        let h = s.height.0;
        if h >= a.blocks {
            break h;
        }
        if Instant::now() > deadline {
            bail!("only {h} of {} blocks after {} s", a.blocks, a.timeout);
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "catchup: height {h} after {:.0} s",
                produce_start.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        let pending = s.mempool;
        if pending > backlog {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let n = owners.len() as u64;
        let mut txs = Vec::with_capacity(batch);
        for _ in 0..batch {
            let from = (next() % n) as usize;
            let to = ((from as u64 + 1 + next() % (n - 1)) % n) as usize;
            txs.push(sign(
                &chain,
                &owners[from].0,
                TxNonce(random_id()),
                Operation::Transfer {
                    from: owners[from].1,
                    to: owners[to].1,
                    amount: Amount(1 + next() % 100),
                },
            )?);
        }
        clients[k % clients.len()].submit_batch(&txs).await?;
        submitted += txs.len() as u64;
        k += 1;
    };
    let produce_secs = produce_start.elapsed().as_secs_f64();
    // Let the in-flight tail settle, then take the height every running node has.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut target = u64::MAX;
    for c in &clients {
        target = target.min(c.status().await?.height.0);
    }
    let expected = clients[0].block(Some(target)).await?;
    let expected_root = expected.state_root;
    eprintln!(
        "catchup: {height} blocks committed in {produce_secs:.1} s ({submitted} transfers \
         submitted); starting {} to catch up to {target}...",
        net.entry(last).name
    );

    let lagger = net.client(last)?;
    let t0 = Instant::now();
    net.start_node(last)?;
    let deadline = t0 + Duration::from_secs(a.timeout);
    let mut first_answer: Option<f64> = None;
    let status = loop {
        net.check_alive()?;
        if let Ok(s) = lagger.status().await {
            if first_answer.is_none() {
                first_answer = Some(t0.elapsed().as_secs_f64());
            }
            if s.height.0 >= target {
                break s;
            }
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not catch up within {} s",
                net.entry(last).name,
                a.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let secs = t0.elapsed().as_secs_f64();
    let ours = lagger.block(Some(target)).await?;
    let ours_root = ours.state_root;
    if ours_root != expected_root || ours.hash != expected.hash {
        bail!(
            "{} caught up to a different block at {target}: root {ours_root} vs {expected_root}",
            net.entry(last).name
        );
    }
    let counter = |name: &str| status.counters.get(name).copied().unwrap_or(0);
    let synced = counter("blocks_synced");
    // 0 unless the lagger installed a state snapshot (it then holds blocks from this height on).
    let snapshot_base = status.base_height.0;
    let txs = counter("txs_committed");
    let blocks_per_s = target as f64 / secs;
    if json {
        say!(
            "{}",
            serde_json::json!({
                "blocks": target,
                "blocks_synced": synced,
                "snapshot_base": snapshot_base,
                "txs": txs,
                "catchup_s": (secs * 100.0).round() / 100.0,
                "first_status_s": first_answer.map(|x| (x * 100.0).round() / 100.0),
                "blocks_per_s": blocks_per_s.round(),
                "produce_s": (produce_secs * 10.0).round() / 10.0,
            })
        );
    } else {
        say!("blocks            {target} ({synced} installed by state transfer)");
        if snapshot_base > 0 {
            say!("snapshot          installed at height {snapshot_base}, blocks synced after it");
        }
        say!("transactions      {txs}");
        say!(
            "catch-up          {secs:.2} s from process start ({blocks_per_s:.0} blocks/s, \
             {:.0} tx/s)",
            txs as f64 / secs
        );
        if let Some(f) = first_answer {
            say!("api up after      {f:.2} s");
        }
        say!("producing took    {produce_secs:.1} s");
        say!("state root        {ours_root} (equal to the others')");
    }
    Ok(())
}
