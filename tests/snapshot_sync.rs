//! End to end, snapshot state transfer: four validator processes; the fourth is stopped, the
//! others commit a few hundred blocks, the fourth's data directory is wiped and it restarts
//! with a low `[sync] snapshot_threshold_blocks`. It must install a snapshot anchored by a
//! stable checkpoint, catch up block by block to the others' height and state root, refuse
//! block requests below its base with a clear 404, and then vote: with another validator
//! stopped, blocks still commit and their certificates carry its signature.

mod common;

use common::*;
use settlenet_node::config::NodeConfig;
use settlenet_node::testnet::NodeEntry;
use std::time::{Duration, Instant};

/// Set `[sync]` in a node's config.toml.
fn configure_sync(entry: &NodeEntry, threshold: u64, interval: u64) {
    let mut config = NodeConfig::load(&entry.home).expect("config");
    config.sync.snapshot_threshold_blocks = threshold;
    config.sync.snapshot_interval_blocks = interval;
    std::fs::write(
        entry.home.join("config.toml"),
        toml::to_string_pretty(&config).expect("toml"),
    )
    .expect("write config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_validator_installs_a_snapshot_catches_up_and_votes() {
    // Every node serves a snapshot every 32 blocks; only node3 switches to snapshots early.
    let mut net = start_net_configured(&[], |i, e| {
        configure_sync(e, if i == 3 { 50 } else { 5_000 }, 32)
    })
    .await;
    let payer = Payer::setup(&net, 0, 1_000_000).await;

    // node3 goes down; the others commit a few hundred blocks (one payment per block or so).
    net.nodes[3].kill9();
    let start = net.height(0).await;
    let target = start + 300;
    let mut last = None;
    let begun = Instant::now();
    while net.height(0).await < target {
        assert!(
            begun.elapsed() < Duration::from_secs(240),
            "the three validators did not commit 300 blocks in 240s"
        );
        last = Some(payer.pay(&net, 0, 1).await);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let last = last.expect("submitted");
    assert_eq!(
        net.wait_final_within(0, last, 60).await["status"],
        "committed"
    );
    let _ = net.wait_same_state(1, 0, 60).await;
    let _ = net.wait_same_state(2, 0, 60).await;

    // Wipe node3's state and start it: it is far more than 50 blocks behind.
    let data = net.nodes[3].data_dir();
    std::fs::remove_dir_all(&data).expect("wipe data");
    std::fs::create_dir_all(&data).expect("data dir");
    net.nodes[3].start();
    let s3 = net.wait_same_state(3, 0, 120).await;
    let base = s3["base_height"].as_u64().expect("base_height");
    assert!(
        base >= 32 && base % 32 == 0 && base > start,
        "node3 should have installed a snapshot at a checkpoint after {start}: {s3}"
    );
    assert_eq!(s3["counters"]["snapshots_installed"], 1, "{s3}");
    let log = net.nodes[3].log();
    assert!(
        log.contains(&format!("installed snapshot at height {base}")),
        "node3's log does not report the snapshot"
    );
    // It holds blocks from its base only, and says so.
    let (code, v) = net.get(3, "/v1/blocks/1").await;
    assert_eq!(code, 404, "{v}");
    assert_eq!(v["error"]["code"], "below_base", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("holds blocks from {base}")),
        "{v}"
    );
    let (code, anchor) = net.get(3, &format!("/v1/blocks/{base}")).await;
    assert_eq!(code, 200, "{anchor}");
    let (_, same) = net.get(0, &format!("/v1/blocks/{base}")).await;
    assert_eq!(anchor["hash"], same["hash"]);
    assert_eq!(anchor["state_root"], same["state_root"]);
    for wallet in [payer.from, payer.to] {
        let bal3 = net.get(3, &format!("/v1/accounts/{wallet}")).await.1;
        let bal0 = net.get(0, &format!("/v1/accounts/{wallet}")).await.1;
        assert_eq!(bal3["balance_minor"], bal0["balance_minor"]);
    }

    // node1 goes down: a quorum (3 of 4) now needs node3's votes.
    net.nodes[1].kill9();
    let before = net.height(0).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(payer.pay(&net, 3, 1).await);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    for id in &ids {
        assert_eq!(
            net.wait_final_within(0, *id, 60).await["status"],
            "committed"
        );
    }
    let after = net.wait_same_state(3, 0, 60).await;
    let after_h = after["height"].as_u64().expect("height");
    assert!(after_h > before);
    for h in before + 1..=after_h {
        let (code, b) = net.get(0, &format!("/v1/blocks/{h}")).await;
        assert_eq!(code, 200, "{b}");
        let signers: Vec<u64> = b["certificate"]["signatures"]
            .as_array()
            .expect("signatures")
            .iter()
            .map(|s| s["replica"].as_u64().expect("replica"))
            .collect();
        assert!(
            signers.contains(&3) && !signers.contains(&1),
            "block {h} certified by {signers:?}"
        );
    }
    for wallet in [payer.from, payer.to] {
        let bal3 = net.get(3, &format!("/v1/accounts/{wallet}")).await.1;
        let bal0 = net.get(0, &format!("/v1/accounts/{wallet}")).await.1;
        assert_eq!(bal3["balance_minor"], bal0["balance_minor"]);
    }
}
