//! Issue 11 against four real validator processes on loopback: junk from keys the consortium
//! gave no role is refused at the door and leaves no trace (no record, no mempool entry), a
//! transaction over the size limit is refused, a clearing clerk's largest settlement chunks
//! still go through (in byte-bounded blocks), and a client over its request rate is refused
//! at once with 429 and `Retry-After` while other clients and the chain carry on; a payment
//! held back past its `valid_until_ms` cannot be played after the user's retry; nobody can
//! take a payment's id with another key (front-running); and a
//! validator that floods the others with invalid signatures and far-future proposals (the
//! test in its place, with its keys) neither stops the other three nor grows their memory.

mod common;

use common::*;
use settlenet_crypto::Keypair;
use settlenet_types::{
    Amount, BatchId, Currency, MemberId, Operation, SettlementInstruction, SETTLEMENT_CHUNK_MAX,
};

const RATE: u32 = 20;
/// How long the Byzantine validator floods.
const FLOOD_SECS: u64 = 12;
/// Bad-signature PREPAREs it offers per second (spread over the three honest nodes).
const FLOOD_RATE: u64 = 50_000;
/// Resident memory no honest node may reach during the flood.
const RSS_MAX_BYTES: u64 = 1 << 30;

/// Resident memory of a process (Linux `/proc/<pid>/status`), in bytes.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `counters.<name>` of node `i`'s status.
async fn counter(net: &Net, i: usize, name: &str) -> u64 {
    let s = net.status(i).await.expect("status");
    s.counters.get(name).copied().unwrap_or(0)
}

fn chunk(count: usize) -> Vec<SettlementInstruction> {
    (0..count)
        .map(|i| SettlementInstruction {
            // 35 four-byte characters, the longest id (the first three number it): the
            // largest legitimate chunk.
            id: (0..35)
                .map(|k| match k {
                    0..=2 => char::from_u32(0x1D100 + ((i >> (6 * k)) & 63) as u32),
                    _ => char::from_u32(0x1D11E),
                })
                .map(|c| c.expect("a 4-byte character"))
                .collect(),
            debtor: MemberId((i % 2) as u16),
            creditor: MemberId(2 + (i % 2) as u16),
            amount: Amount(1 + i as u64 % 97),
            // A creditor wallet named (it need not exist for the size): the largest form.
            beneficiary: Some(settlenet_types::AccountId([9; 16])),
        })
        .collect()
}

fn stage(chain: &str, key: &Keypair, batch: u8, n: usize) -> settlenet_types::SignedTransaction {
    sign(
        chain,
        key,
        nonce(),
        Operation::StageBatch {
            batch: BatchId([batch; 16]),
            currency: Currency(*b"USD"),
            window: 0,
            chunk: 0,
            instructions: chunk(n),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_is_refused_at_the_door_and_a_flooding_client_gets_429() {
    let net = start_net_configured(&[], |i, entry| {
        if i == 0 {
            edit_config(entry, |c| {
                c.api.rate_per_client = RATE;
                c.api.rate_burst = RATE;
            });
        }
    })
    .await;

    // 1. An outsider's large stage_batch transactions (the hole: each primary in turn
    // proposed a block too big to send). Refused at once, no record anywhere.
    let outsider = Keypair::generate();
    let mut junk_ids = Vec::new();
    for b in 0..30u8 {
        let tx = stage(&net.chain, &outsider, b, SETTLEMENT_CHUNK_MAX);
        let (code, answer) = net.submit(1 + usize::from(b) % 3, &tx).await;
        assert_eq!(code, 400, "{answer:?}");
        let body = answer.expect_err("refused");
        assert_eq!(
            body.error.code, "forbidden_signer",
            "{}",
            body.error.message
        );
        junk_ids.push(tx.tx.id);
    }
    // A staff key without the clearing role is refused too (its own code).
    let issuer = net.issuer_key("bank-a");
    let (code, answer) = net.submit(1, &stage(&net.chain, &issuer, 99, 10)).await;
    assert_eq!(code, 400);
    assert_eq!(answer.expect_err("refused").error.code, "forbidden_role");

    // 2. Over the size limit (3,000 instructions of the longest ids, about 500 KB).
    let clearing = settlenet_crypto::KeyFile::read(
        &net.keys_dir().join("keys/clearing-house/clearing.key"),
        None,
    )
    .expect("clearing key")
    .1;
    let (code, answer) = net
        .submit(1, &stage(&net.chain, &clearing, 98, 3_000))
        .await;
    assert_eq!(code, 400);
    let body = answer.expect_err("refused");
    assert_eq!(body.error.code, "too_large", "{}", body.error.message);

    // 3. The clearing clerk's largest chunks (about 354 KB each) all commit, one per block
    // (blocks are bounded in bytes), and payments go on meanwhile.
    let payer = Payer::setup(&net, 1, 1_000_000).await;
    let mut chunks = Vec::new();
    for b in 0..6u8 {
        let tx = stage(&net.chain, &clearing, 10 + b, SETTLEMENT_CHUNK_MAX);
        let (code, answer) = net.submit(2, &tx).await;
        assert_eq!(code, 202, "{answer:?}");
        chunks.push(tx.tx.id);
    }
    let pay = payer.pay(&net, 3, 125).await;
    let mut heights = Vec::new();
    for id in chunks.iter().chain([&pay]) {
        let v = net.wait_final_within(2, *id, 60).await;
        heights.push(v.height.expect("final").0);
    }
    // 640 KiB blocks hold at most one of these chunks each.
    let mut distinct = heights[..chunks.len()].to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        chunks.len(),
        "one large chunk per block: {heights:?}"
    );

    // No junk left a trace: no node knows the ids, no mempool holds them.
    let top = net.agree().await;
    // (Node 0 limits this client's request rate: the other three are asked about each id.)
    for i in 0..4 {
        if i > 0 {
            for id in &junk_ids {
                assert!(net.tx(i, *id).await.is_none(), "node{i} knows junk {id}");
            }
        }
        assert_eq!(net.status(i).await.expect("up").mempool, 0);
    }
    assert!(top > 0);

    // 4. A client over its rate on node 0 gets 429 with Retry-After at once; node 1 still
    // answers the same client.
    let url = format!("{}/v1/status", net.local.api(0));
    let mut refused = None;
    for _ in 0..(4 * RATE) {
        let r = net.http.get(&url).send().await.expect("GET");
        if r.status().as_u16() == 429 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("a 429 within four times the burst");
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=5).contains(&retry), "{retry}");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(
        net.status(1).await.is_some(),
        "another node is not affected"
    );
    // After the wait the client is served again.
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    let again = net.http.get(&url).send().await.expect("GET");
    assert_eq!(again.status().as_u16(), 200);

    // 5. Replay after a retry (hole 7): a payment signed valid for 2 s is held back (by a
    // node, or an attacker who saw it); the user retries under a new id and it commits. Once
    // the first one's validity has passed it is refused at the door, and no node ever runs it.
    let held = sign_valid_until(
        &net.chain,
        &payer.key,
        nonce(),
        payer.transfer(77),
        now_ms() + 2_000,
    );
    let retry = payer.pay(&net, 1, 77).await;
    net.wait_final_within(1, retry, 30).await;
    while now_ms() <= held.tx.valid_until_ms + 50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for i in 1..4 {
        let (code, answer) = net.submit(i, &held).await;
        assert_eq!(code, 400, "node{i}: {answer:?}");
        let body = answer.expect_err("refused");
        assert_eq!(body.error.code, "expired", "{}", body.error.message);
    }
    let top = net.height(1).await;
    net.wait_height(2, top, 30).await;
    for i in 1..4 {
        assert!(
            net.tx(i, held.tx.id).await.is_none(),
            "node{i} knows the held payment"
        );
    }

    // Validity is bounded above (one hour): a payment signed valid for two days is refused at
    // the door, leaving nothing.
    let far = sign_valid_until(
        &net.chain,
        &payer.key,
        nonce(),
        payer.transfer(3),
        now_ms() + 2 * 24 * 3_600_000,
    );
    let (code, answer) = net.submit(2, &far).await;
    assert_eq!(code, 400, "{answer:?}");
    assert_eq!(answer.expect_err("refused").error.code, "validity_too_long");
    assert!(net.tx(2, far.tx.id).await.is_none());

    // 6. Front-running (hole 7): someone who saw a payment in flight signs a transaction of
    // their own under its id, to have it ordered first and the payment refused. Ids are derived
    // from the signer: the copy has no signing message, so the thief signs the bytes by hand;
    // every node refuses it at the door, and the payment then commits under its id.
    let payment = payer.payment(5);
    let thief_key = Keypair::generate();
    let mut copy = sign(&net.chain, &thief_key, nonce(), payer.transfer(1));
    copy.tx.id = payment.tx.id;
    let body_hash = copy.tx.body_hash().expect("body hash");
    copy.signature = thief_key.sign(&settlenet_types::Domain::Transaction.message(&body_hash.0));
    for i in 1..4 {
        let (code, answer) = net.submit(i, &copy).await;
        assert_eq!(code, 400, "node{i}: {answer:?}");
        let body = answer.expect_err("refused");
        assert!(
            body.error.message.contains("not derived from its signer"),
            "node{i}: {}",
            body.error.message
        );
    }
    assert_eq!(net.submit(2, &payment).await.0, 202);
    let v = net.wait_final_within(3, payment.tx.id, 30).await;
    assert_eq!(v.result.as_deref(), Some("ok"), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_flooding_bad_signatures_cannot_stop_the_other_three() {
    use settlenet_consensus::{null_block, SignedMessage};
    use settlenet_types::{Height, View};
    use std::time::{Duration, Instant};

    // Node 1 never bans: it takes the whole flood (at its per-peer quota) and must still vote,
    // since with node 3 Byzantine every honest vote is needed for a quorum. Nodes 0 and 2 ban
    // at the default threshold.
    let mut net = start_net_configured(&[], |i, entry| {
        if i == 1 {
            edit_config(entry, |c| c.p2p.ban_after_bad_signatures = 0);
        }
    })
    .await;
    let payer = Payer::setup(&net, 0, 1_000_000).await;
    net.kill9(3);
    let impostor = net.impostor(3, &[0, 1, 2]).await;
    let chain = impostor.genesis.chain_id.clone();
    let s0 = net.status(0).await.expect("status");
    let (view, start_height) = (s0.view, s0.height.0);

    // The flood: PREPAREs with random signatures and digests (no two alike, so each must be
    // checked), FLOOD_RATE a second, round robin over nodes 0..2; and every 10 ms two validly
    // signed PRE-PREPAREs for views node 3 would lead, one far ahead (beyond any buffer) and
    // one a few views ahead (buffered, within its cap).
    let flood = tokio::spawn(async move {
        let started = Instant::now();
        let (offered, taken) = impostor
            .flood(
                &[0, 1, 2],
                view,
                start_height,
                FLOOD_RATE,
                Duration::from_secs(FLOOD_SECS),
                |imp| {
                    for ahead in [1_000u64, 8] {
                        // A view node 3 leads: (view mod 4) == 3.
                        let v = View((view.0 + ahead) / 4 * 4 + 3);
                        let block = null_block(&chain, Height(start_height + 1), imp.replica);
                        let m = SignedMessage::pre_prepare(&chain, v, block, imp.replica, &imp.key)
                            .expect("sign");
                        for to in &imp.peers[..3] {
                            let _ = imp.handle.try_send(*to, Impostor::wire(&m));
                        }
                    }
                },
            )
            .await;
        (offered, taken, started.elapsed(), impostor.handle.stats())
    });

    // Meanwhile payments go on through every honest node, one at a time, each final.
    let pids: Vec<u32> = (0..3)
        .map(|i| net.local.pid(i).expect("node running"))
        .collect();
    let mut peak = [0u64; 3];
    let mut paid = 0;
    let started = Instant::now();
    while !flood.is_finished() {
        let id = payer.pay(&net, paid % 3, 1).await;
        net.wait_final_within(paid % 3, id, 30).await;
        paid += 1;
        for (p, pid) in peak.iter_mut().zip(&pids) {
            *p = (*p).max(rss_bytes(*pid).unwrap_or(0));
        }
    }
    let (offered, taken, flood_time, stats) = flood.await.expect("flood task");
    let during = started.elapsed();
    let top = net.height(0).await;
    for i in 1..3 {
        net.wait_height(i, top, 30).await;
    }
    net.assert_agree_at(&[0, 1, 2], top).await;
    let bad: Vec<u64> = counters_of(&net, "bad_signatures").await;
    let banned: Vec<u64> = counters_of(&net, "peers_banned").await;
    println!(
        "flood: {offered} bad PREPAREs offered in {:.1} s ({:.0}/s), {taken} taken by the \
         impostor's queue, {} acked by the nodes, {} dropped; bad signatures counted by \
         nodes 0-2 {bad:?}, bans {banned:?}; {paid} payments final during the flood \
         ({:.1} s), height {start_height} -> {top}; peak RSS MB {:?}",
        flood_time.as_secs_f64(),
        offered as f64 / flood_time.as_secs_f64(),
        stats.messages_sent,
        stats.messages_dropped,
        during.as_secs_f64(),
        peak.map(|b| b / (1024 * 1024)),
    );
    assert!(
        offered as f64 >= 0.95 * (FLOOD_RATE * FLOOD_SECS) as f64,
        "the flood was offered: {offered}"
    );
    assert!(
        paid >= 5,
        "payments kept committing during the flood: {paid}"
    );
    assert!(top > start_height + 5, "height {start_height} -> {top}");
    // Node 1 took the flood and checked it all off its consensus loop; 0 and 2 banned node 3.
    assert!(bad[1] >= 1_000, "node 1 saw the flood: {bad:?}");
    assert_eq!(banned[1], 0, "node 1 never bans: {banned:?}");
    assert!(banned[0] >= 1 && banned[2] >= 1, "{banned:?}");
    for (i, p) in peak.iter().enumerate() {
        assert!(*p > 0 && *p < RSS_MAX_BYTES, "node {i} peak RSS {p} bytes");
    }
}

/// A counter of nodes 0, 1 and 2.
async fn counters_of(net: &Net, name: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for i in 0..3 {
        out.push(counter(net, i, name).await);
    }
    out
}
