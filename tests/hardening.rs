//! Issue 11 against four real validator processes on loopback: junk from keys the consortium
//! gave no role is refused at the door and leaves no trace (no record, no mempool entry), a
//! transaction over the size limit is refused, a clearing clerk's largest settlement chunks
//! still go through (in byte-bounded blocks), and a client over its request rate is refused
//! at once with 429 and `Retry-After` while other clients and the chain carry on.

mod common;

use common::*;
use settlenet_crypto::Keypair;
use settlenet_node::config::NodeConfig;
use settlenet_types::{
    Amount, BatchId, Currency, MemberId, Operation, SettlementInstruction, SETTLEMENT_CHUNK_MAX,
};

const RATE: u32 = 20;

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
        id(),
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
            let mut config = NodeConfig::load(&entry.home).expect("config");
            config.api.rate_per_client = RATE;
            config.api.rate_burst = RATE;
            std::fs::write(
                entry.home.join("config.toml"),
                toml::to_string_pretty(&config).expect("toml"),
            )
            .expect("write config");
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
}
