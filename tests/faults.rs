//! End to end, with real processes on loopback: the faults beyond a single crash.
//!
//! - a backup frozen (SIGSTOP) while the others move their stable checkpoint past it, then
//!   resumed (SIGCONT): it catches up by state transfer and votes again;
//! - a replica whose data directory is deleted: it syncs from its peers to the same height and
//!   state root;
//! - f+1 = 2 of 4 down: nothing is final, payments stay pending; once they return, progress
//!   resumes and the pending payments commit;
//! - a primary whose clock is 30 s slow: its proposals are refused, a view change replaces it;
//! - a validator that signs two conflicting PREPAREs (sent over libp2p with its own keys): the
//!   receiving node keeps the evidence, serves it at `GET /v1/evidence`, across a restart.
//!
//! The tests of this file run one at a time (a shared lock): each runs four validators, and the
//! CI machine has two cores.

mod common;

use common::*;
use settlenet_api::{EvidenceList, Status, TxStatus};
use settlenet_consensus::SignedMessage;
use settlenet_types::block::{VoteBody, VoteKind};
use settlenet_types::{Hash, Height, ReplicaId};
use std::time::{Duration, Instant};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `counters.<name>` of a status.
fn counter(s: &Status, name: &str) -> u64 {
    s.counters.get(name).copied().unwrap_or(0)
}

/// Submit payments one at a time, each waiting until final on `watch`, until `done` holds for
/// `watch`'s status (or `max` payments).
async fn pay_until(
    net: &Net,
    payer: &Payer,
    to: &[usize],
    watch: usize,
    max: u64,
    done: impl Fn(&Status) -> bool,
) -> u64 {
    for k in 0..max {
        let s = net.status(watch).await.expect("status");
        if done(&s) {
            return k;
        }
        let id = payer.pay(net, to[k as usize % to.len()], 1 + k % 7).await;
        net.wait_committed(watch, id).await;
    }
    panic!("condition not reached after {max} payments");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_backup_catches_up_past_a_stable_checkpoint_and_votes_again() {
    let _one = ONE_AT_A_TIME.lock().await;
    let net = start_net().await;
    let payer = Payer::setup(&net, 1, 1_000_000).await;
    let h_frozen = net.height(3).await;

    // Freeze node3 (a backup in view 0) and commit until the others' stable checkpoint is two
    // checkpoint intervals (2 x 16) past its height.
    net.sigstop(3);
    let frozen_at = Instant::now();
    let paid = pay_until(&net, &payer, &[0, 1, 2], 0, 400, |s| {
        s.stable_checkpoint.0 >= h_frozen + 32
    })
    .await;
    let s0 = net.status(0).await.expect("status");
    let target = s0.height.0;
    eprintln!(
        "node3 frozen at {h_frozen} for {:?}; others at {target}, stable checkpoint {} ({paid} payments)",
        frozen_at.elapsed(),
        s0.stable_checkpoint.0
    );
    assert!(
        net.status(3).await.is_none(),
        "a frozen node answers nothing"
    );

    // Resume: it catches up by state transfer (nothing it holds can finish those heights).
    net.sigcont(3);
    let resumed = Instant::now();
    let s3 = net.wait_height(3, target, 30).await;
    eprintln!(
        "node3 caught up {} blocks in {:?}",
        target - h_frozen,
        resumed.elapsed()
    );
    assert!(
        counter(&s3, "blocks_synced") > 0,
        "node3 caught up without state transfer: {s3:?}"
    );
    net.assert_agree_at(&[0, 1, 2, 3], target).await;

    // And it votes again: a block node3 itself commits through consensus carries its own
    // COMMIT in its certificate (a synced block carries the others').
    let mut voted = false;
    for k in 0..20u64 {
        let id = payer.pay(&net, (k % 4) as usize, 3).await;
        let v = net.wait_committed(3, id).await;
        let h = v.height.expect("height").0;
        let b = net.block(3, h).await.expect("block");
        if b.certificate.signatures.iter().any(|s| s.replica.0 == 3) {
            voted = true;
            break;
        }
    }
    if !voted {
        // The views in the two statuses tell "rejoined alone in a higher view" (docs/security.md,
        // not done yet) from anything else; the end of node3's log says why.
        let log = net.local.log(3);
        let tail: Vec<&str> = log.lines().rev().take(80).collect();
        panic!(
            "node3 never committed a block with its own vote after resuming; node0 {:?}; \
             node3 {:?}; the end of node3's log (newest first):\n{}",
            net.status(0).await,
            net.status(3).await,
            tail.join("\n")
        );
    }
    let h = net.height(0).await;
    for i in 0..4 {
        net.wait_height(i, h, 20).await;
    }
    net.assert_agree_at(&[0, 1, 2, 3], h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_an_empty_data_directory_syncs_from_its_peers() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut net = start_net().await;
    let payer = Payer::setup(&net, 0, 1_000_000).await;
    pay_until(&net, &payer, &[0, 1, 3], 0, 100, |s| s.height.0 >= 24).await;
    let h = net.height(0).await;
    net.wait_height(2, h, 20).await;

    // node2 loses its disk: stop it, delete its data directory, start it again.
    net.kill9(2);
    assert!(net.local.data_dir(2).exists());
    net.local.wipe_data(2).expect("delete data dir");
    net.restart(2);
    let started = Instant::now();
    let s2 = net.wait_height(2, h, 30).await;
    eprintln!(
        "node2 rebuilt {h} blocks from its peers in {:?}",
        started.elapsed()
    );
    assert!(counter(&s2, "blocks_synced") >= h, "{s2:?}");
    net.assert_agree_at(&[0, 1, 2, 3], h).await;
    let s0 = net.block(0, h).await.expect("block");
    assert_eq!(s2.state_root, s0.state_root);

    // It takes part again: payments submitted to it commit everywhere.
    let id = payer.pay(&net, 2, 5).await;
    net.wait_committed(2, id).await;
    let h = net.height(2).await;
    for i in 0..4 {
        net.wait_height(i, h, 20).await;
    }
    net.assert_agree_at(&[0, 1, 2, 3], h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_f_plus_one_down_nothing_is_final_until_they_return() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut net = start_net().await;
    let payer = Payer::setup(&net, 0, 1_000_000).await;

    // f+1 = 2 of 4 validators crash.
    net.kill9(2);
    net.kill9(3);
    let h0 = net.height(0).await;
    let h1 = net.height(1).await;
    let mut pending = Vec::new();
    for k in 0..4u64 {
        let node = (k % 2) as usize;
        pending.push((node, payer.pay(&net, node, 10 + k).await));
    }

    // No quorum: for several seconds, no height moves and every payment stays pending.
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(6) {
        assert_eq!(
            net.height(0).await,
            h0,
            "node0 finalized a block without a quorum"
        );
        assert_eq!(
            net.height(1).await,
            h1,
            "node1 finalized a block without a quorum"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for (node, id) in &pending {
        let v = net.tx(*node, *id).await;
        assert_eq!(v.map(|v| v.status), Some(TxStatus::Pending));
    }

    // They return: progress resumes and the pending payments commit.
    let back = Instant::now();
    net.restart(2);
    net.restart(3);
    for (node, id) in &pending {
        let v = net.wait_final_within(*node, *id, 45).await;
        assert_eq!(v.status, TxStatus::Committed, "{v:?}");
    }
    eprintln!(
        "pending payments final {:?} after the two returned",
        back.elapsed()
    );
    let h = net.height(0).await;
    assert!(h > h0);
    for i in 0..4 {
        net.wait_height(i, h, 30).await;
    }
    net.assert_agree_at(&[0, 1, 2, 3], h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_with_a_slow_clock_is_refused_and_replaced() {
    let _one = ONE_AT_A_TIME.lock().await;
    // node0, the primary of view 0, runs 30 s behind (test hook, see crates/node/src/clock.rs).
    let offset = vec![(
        settlenet_node::clock::CLOCK_OFFSET_ENV.to_string(),
        "-30000".to_string(),
    )];
    let net = start_net_with(&[offset]).await;
    // Its first stamp is at least just after the genesis time: let that age past the skew.
    let settle = Duration::from_secs(3).saturating_sub(net.created.elapsed());
    tokio::time::sleep(settle).await;

    let payer = Payer::setup(&net, 1, 1_000_000).await;
    let id = payer.pay(&net, 2, 1).await;
    net.wait_committed(1, id).await;
    for i in 1..4 {
        let s = net.status(i).await.expect("status");
        assert!(s.view.0 >= 1, "node{i} still in view 0: {s:?}");
        assert!(
            counter(&s, "proposals_refused") >= 1,
            "node{i} refused nothing: {s:?}"
        );
        let log = net.local.log(i);
        assert!(
            log.contains("ms in this replica's past"),
            "node{i} did not refuse an old stamp (see its node.log)"
        );
    }
    // Consensus time follows the honest clocks and strictly increases.
    let h = net.height(1).await;
    let mut last = 0u64;
    for height in 1..=h {
        let ts = net.block(1, height).await.expect("block").timestamp;
        if ts == 0 {
            continue; // a null block
        }
        assert!(ts > last, "block {height}: {ts} not after {last}");
        last = ts;
    }
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    assert!(
        wall.abs_diff(last) < 10_000,
        "last consensus time {last} is far from the wall clock {wall}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_validator_leaves_evidence() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut net = start_net().await;
    for i in 0..4 {
        let v = evidence(&net, i).await;
        assert_eq!(v.count, 0, "{v:?}");
        assert!(v.evidence.is_empty(), "{v:?}");
    }

    // The test takes node3's place on the network with node3's own keys.
    net.kill9(3);
    let impostor = net.impostor(3, &[0]).await;
    let genesis = impostor.genesis.clone();
    let vkey = impostor.key.clone();

    // Two PREPAREs for one (view, height), for two different blocks, both signed by node3.
    let s0 = net.status(0).await.expect("status");
    let view = s0.view;
    let height = Height(s0.height.0 + 1);
    let prepare = |digest: Hash| {
        SignedMessage::vote(
            VoteBody {
                kind: VoteKind::Prepare,
                chain_id: genesis.chain_id.clone(),
                view,
                height,
                block_hash: digest,
            },
            ReplicaId(3),
            &vkey,
        )
        .expect("sign")
    };
    let (a, b) = (prepare(Hash([0xa1; 32])), prepare(Hash([0xb2; 32])));
    for m in [&a, &b, &a, &b] {
        impostor.send(0, m).await;
    }

    let deadline = Instant::now() + Duration::from_secs(10);
    let list = loop {
        let v = evidence(&net, 0).await;
        if v.count >= 1 {
            break v;
        }
        assert!(Instant::now() < deadline, "no evidence on node0: {v:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(list.count, 1, "one record per conflict: {list:?}");
    let e = &list.evidence[0];
    assert_eq!(e.validator, ReplicaId(3), "{e:?}");
    assert_eq!(e.validator_name.as_deref(), Some("node3"), "{e:?}");
    assert_eq!(
        e.member.as_deref(),
        Some(
            genesis.members[usize::from(genesis.validators[3].member.0)]
                .name
                .as_str()
        )
    );
    assert_eq!(e.kind, "prepare", "{e:?}");
    assert_eq!(e.view, view, "{e:?}");
    assert_eq!(e.height, height, "{e:?}");
    // Whichever of the two arrived first is the one kept ("first"): messages travel on
    // separate streams, so their order on arrival is not the order they were sent in.
    let (first, second) = if e.first.digest == Some(Hash([0xa1; 32])) {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let digest = |m: &SignedMessage| m.payload.block_hash().ok();
    assert_eq!(e.first.digest, digest(first), "{e:?}");
    assert_eq!(e.second.digest, digest(second), "{e:?}");
    assert_eq!(e.first.signature, first.signature, "{e:?}");
    assert_eq!(e.second.signature, second.signature, "{e:?}");
    // The stored messages are the signed originals: anyone can check them with the genesis.
    let keys: Vec<_> = genesis.validators.iter().map(|v| v.public_key).collect();
    for (side, original) in [(&e.first, first), (&e.second, second)] {
        let bytes = hex::decode(side.message.as_deref().expect("hex")).expect("hex");
        let m: SignedMessage = settlenet_types::decode("signed message", &bytes).expect("decode");
        assert_eq!(&m, original);
        m.verify(&genesis.chain_id, &keys).expect("valid signature");
    }
    assert!(e.first_seen_ms > 0, "{e:?}");
    let s0 = net.status(0).await.expect("status");
    assert_eq!(counter(&s0, "evidence"), 1, "{s0:?}");
    assert_eq!(counter(&s0, "evidence_stored"), 1, "{s0:?}");
    impostor.handle.shutdown().await;

    // Kept on disk: it survives a crash of node0.
    net.kill9(0);
    net.restart(0);
    let s0 = net.wait_up(0, 20).await;
    assert_eq!(counter(&s0, "evidence_stored"), 1, "{s0:?}");
    let again = evidence(&net, 0).await;
    assert_eq!(again.evidence, list.evidence);
}

/// `GET /v1/evidence` on node `i`.
async fn evidence(net: &Net, i: usize) -> EvidenceList {
    net.client(i)
        .get("/v1/evidence")
        .await
        .expect("evidence list")
}
