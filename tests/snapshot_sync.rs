//! End to end, snapshot state transfer: four validator processes; the fourth is stopped, the
//! others commit a few hundred blocks, the fourth's data directory is wiped and it restarts
//! with a low `[sync] snapshot_threshold_blocks`. It must install a snapshot anchored by a
//! stable checkpoint, catch up block by block to the others' height and state root, refuse
//! block requests below its base with a clear 404, and then vote: with another validator
//! stopped, blocks still commit and their certificates carry its signature. Every node keeps
//! only its latest blocks' bodies (`[sync] retain_blocks`): older blocks are served as header,
//! certificate and transaction ids, a payment in one is still proven, and a node wiped later
//! catches up through a snapshot because its peers answer that they hold only later blocks.

mod common;

use common::*;
use settlenet_api::{ErrorBody, TxStatus};
use settlenet_node::testnet::NodeEntry;
use std::time::{Duration, Instant};

/// Full blocks each node keeps (`[sync] retain_blocks`, the smallest allowed).
const RETAIN: u64 = settlenet_machine::RETAIN_BLOCKS_MIN;

/// How far past the horizon blocks go before they are pruned, with [`RETAIN`].
fn prune_step() -> u64 {
    settlenet_node::config::SyncConfig {
        retain_blocks: RETAIN,
        ..Default::default()
    }
    .prune_step_blocks()
}

/// Set `[sync]` in a node's config.toml.
fn configure_sync(entry: &NodeEntry, threshold: u64, interval: u64) {
    edit_config(entry, |c| {
        c.sync.snapshot_threshold_blocks = threshold;
        c.sync.snapshot_interval_blocks = interval;
        c.sync.retain_blocks = RETAIN;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_validator_installs_a_snapshot_catches_up_and_votes() {
    // Every node serves a snapshot every 32 blocks; only node3 switches to snapshots early.
    let mut net = start_net_configured(&[], |i, e| {
        configure_sync(e, if i == 3 { 50 } else { 5_000 }, 32)
    })
    .await;
    let payer = Payer::setup(&net, 0, 1_000_000).await;

    // node3 goes down; the others commit a few hundred blocks (one payment per block or so),
    // enough for retention to drop the oldest blocks' bodies.
    net.kill9(3);
    let start = net.height(0).await;
    let target = start + RETAIN + 2 * prune_step();
    let mut first = None;
    let mut last = None;
    let begun = Instant::now();
    while net.height(0).await < target {
        assert!(
            begun.elapsed() < Duration::from_secs(240),
            "the three validators did not commit {} blocks in 240s",
            target - start
        );
        let id = payer.pay(&net, 0, 1).await;
        first.get_or_insert(id);
        last = Some(id);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (first, last) = (first.expect("submitted"), last.expect("submitted"));
    let v = net.wait_final_within(0, last, 60).await;
    assert_eq!(v.status, TxStatus::Committed, "{v:?}");
    let _ = net.wait_same_state(1, 0, 60).await;
    let _ = net.wait_same_state(2, 0, 60).await;

    // Wipe node3's state and start it: it is far more than 50 blocks behind.
    net.local.wipe_data(3).expect("wipe data");
    net.restart(3);
    let s3 = net.wait_same_state(3, 0, 120).await;
    let base = s3.base_height.0;
    assert!(
        base >= 32 && base % 32 == 0 && base > start,
        "node3 should have installed a snapshot at a checkpoint after {start}: {s3:?}"
    );
    assert_eq!(s3.counters.get("snapshots_installed"), Some(&1), "{s3:?}");
    let log = net.local.log(3);
    assert!(
        log.contains(&format!("installed snapshot at height {base}")),
        "node3's log does not report the snapshot"
    );
    // It holds blocks from its base only, and says so.
    let (code, v) = net.get(3, "/v1/blocks/1").await;
    assert_eq!(code, 404, "{v}");
    let refusal: ErrorBody = serde_json::from_value(v).expect("an error body");
    assert_eq!(refusal.error.code, "below_base", "{refusal:?}");
    assert!(
        refusal
            .error
            .message
            .contains(&format!("holds blocks from {base}")),
        "{refusal:?}"
    );
    // Its event stream starts after the base, and says so too.
    let (code, v) = net.get(3, "/v1/events?from=1").await;
    assert_eq!(code, 410, "{v}");
    let refusal: ErrorBody = serde_json::from_value(v).expect("an error body");
    assert_eq!(refusal.error.code, "below_base", "{refusal:?}");
    assert!(
        refusal
            .error
            .message
            .contains(&format!("serves events from block {}", base + 1)),
        "{refusal:?}"
    );
    net.assert_agree_at(&[3, 0], base).await;
    // The servers served it from store checkpoints (hard-linked copies under the data
    // directory, read page by page), not from a copy in memory; and they keep only the few
    // checkpoints they may still serve.
    let served = net.local.log(0);
    assert!(
        served.contains("store checkpoint taken for a snapshot")
            && served.contains("snapshot ready to serve"),
        "node0's log does not report serving from checkpoints"
    );
    for i in 0..3 {
        let dir = net.local.data_dir(i).join("checkpoints");
        let kept = std::fs::read_dir(&dir)
            .map(|d| d.count())
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert!(
            (1..=4).contains(&kept),
            "node{i} keeps {kept} checkpoints (at most 2 captured and 2 served)"
        );
    }
    // Its status accounts for where its memory goes: the process, the Rust heap, the store's parts (the
    // block cache within its capacity), checkpoint stores (at most the 4 checkpoints kept),
    // the ledger's sets.
    let m = net.status(0).await.expect("node0 status").memory;
    assert!(m.rss_bytes > 10 << 20, "{m:?}");
    assert_eq!(m.store_block_cache_capacity_bytes, 64 << 20, "{m:?}");
    assert!(
        m.store_block_cache_bytes <= m.store_block_cache_capacity_bytes,
        "{m:?}"
    );
    assert!(
        m.store_memtables_bytes > 0 && m.store_memtables_bytes <= 128 << 20,
        "{m:?}"
    );
    assert!(m.checkpoint_stores <= 4, "{m:?}");
    assert!(m.ledger_accounts > 0 && m.ledger_live_records > 0, "{m:?}");
    assert!(
        m.rss_bytes > m.store_memtables_bytes + m.store_block_cache_bytes,
        "{m:?}"
    );
    // The node binary allocates with jemalloc, which reports the Rust heap.
    assert!(
        m.heap_allocated_bytes > 1 << 20 && m.heap_allocated_bytes <= m.heap_resident_bytes,
        "{m:?}"
    );
    assert!(m.heap_resident_bytes < m.rss_bytes, "{m:?}");
    // `node start` re-executed itself with glibc's malloc tuned (the same process: same PID).
    let pid = net.local.pid(0).expect("node0 runs");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|v| v == b"GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072"),
        "node0 runs without the malloc tunables"
    );
    for wallet in [payer.from, payer.to] {
        let bal3 = net.account(3, wallet).await;
        let bal0 = net.account(0, wallet).await;
        assert_eq!(bal3.balance_minor, bal0.balance_minor);
    }
    retention_kept_what_proofs_need(&mut net, first).await;

    // node1 goes down: a quorum (3 of 4) now needs node3's votes.
    net.kill9(1);
    let before = net.height(0).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(payer.pay(&net, 3, 1).await);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    for id in &ids {
        let v = net.wait_final_within(0, *id, 60).await;
        assert_eq!(v.status, TxStatus::Committed, "{v:?}");
    }
    let after = net.wait_same_state(3, 0, 60).await;
    let after_h = after.height.0;
    assert!(after_h > before);
    for h in before + 1..=after_h {
        let b = net
            .block(0, h)
            .await
            .unwrap_or_else(|| panic!("no block {h} on node0"));
        let signers: Vec<u16> = b
            .certificate
            .signatures
            .iter()
            .map(|s| s.replica.0)
            .collect();
        assert!(
            signers.contains(&3) && !signers.contains(&1),
            "block {h} certified by {signers:?}"
        );
    }
    for wallet in [payer.from, payer.to] {
        let bal3 = net.account(3, wallet).await;
        let bal0 = net.account(0, wallet).await;
        assert_eq!(bal3.balance_minor, bal0.balance_minor);
    }
}

/// Retention on node0: the oldest blocks lost their transactions but not their header,
/// certificate and transaction ids; the first payment (in a pruned block) is still proven and
/// the proof verifies offline; events below what is kept are refused; and node0 restarts on its
/// pruned store.
async fn retention_kept_what_proofs_need(net: &mut Net, first: settlenet_types::TxId) {
    let s0 = net.status(0).await.expect("node0 status");
    let from = s0.blocks_from.0;
    assert!(
        from > 1 && from + RETAIN + prune_step() > s0.height.0,
        "node0 should keep about the last {RETAIN} blocks: {s0:?}"
    );
    let tx = net.tx(0, first).await.expect("the first payment is known");
    let height = tx.height.expect("the first payment is committed").0;
    assert!(height < from, "payment at {height}, blocks from {from}");
    // Its block: header and certificate, no transactions; its ids still listed.
    let (code, v) = net.get(0, &format!("/v1/blocks/{height}")).await;
    assert_eq!(code, 200, "{v}");
    let block: settlenet_api::Block = serde_json::from_value(v).expect("a block");
    assert!(block.pruned && block.transactions.is_empty(), "{block:?}");
    assert!(block.certificate.signatures.len() >= 3, "{block:?}");
    let (code, v) = net.get(0, &format!("/v1/blocks/{height}/txids")).await;
    assert_eq!(code, 200, "{v}");
    assert!(
        v["ids"]
            .as_array()
            .is_some_and(|ids| ids.contains(&serde_json::json!(first))),
        "{v}"
    );
    // The payment's proof, from a pruned block, verifies against the genesis alone.
    let (code, v) = net.get(0, &format!("/v1/transactions/{first}/proof")).await;
    assert_eq!(code, 200, "{v}");
    let genesis = net.genesis().await;
    let bytes = serde_json::to_vec(&v).expect("json");
    let verified = settlenet_verify::verify_tx_proof(&genesis, &bytes).expect("proof verifies");
    assert_eq!(verified.height.0, height);
    // Events of pruned blocks: refused, naming what is served.
    let (code, v) = net.get(0, "/v1/events?from=1").await;
    assert_eq!(code, 410, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("serves events from block {from}"))),
        "{v}"
    );
    // A restart on the pruned store: it opens, reports the same, and rejoins.
    net.restart(0);
    let again = net.wait_same_state(0, 2, 60).await;
    assert!(again.blocks_from.0 >= from, "{again:?}");
    // node2 starts over from nothing with the default snapshot threshold: it asks for blocks
    // from 1, every peer answers that it holds blocks from later only, and with f+1 such
    // answers it installs a snapshot and catches up.
    net.kill9(2);
    net.local.wipe_data(2).expect("wipe data");
    net.restart(2);
    let s2 = net.wait_same_state(2, 0, 120).await;
    assert_eq!(s2.counters.get("snapshots_installed"), Some(&1), "{s2:?}");
    assert!(s2.base_height.0 > 0, "{s2:?}");
}
