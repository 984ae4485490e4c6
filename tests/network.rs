//! End to end: four real validator processes on loopback, real libp2p, real RocksDB, real
//! signatures. Submits payments, checks agreement, kills a non-primary with SIGKILL, checks the
//! rest keep committing, restarts it and checks it resumes from its own data and catches up; and
//! checks that bad input is refused with a clear error and changes nothing.

mod common;

use common::*;
use serde_json::Value;
use settlenet_crypto::{KeyFile, Keypair};
use settlenet_types::{AccountId, Amount, Currency, Operation};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_agree_survive_a_crash_and_refuse_bad_input() {
    let mut net = start_net().await;
    let chain = net.chain.clone();
    let kd = net.keys_dir();
    let issuer = |m: &str| {
        KeyFile::read(&kd.join("keys").join(m).join("issuer.key"), None)
            .expect("issuer key")
            .1
    };
    let op_key = issuer("operator-a");
    let bank_key = issuer("bank-a");
    let genesis: Value = net.get(0, "/v1/genesis").await.1;
    let member_id = |name: &str| -> u16 {
        genesis["members"]
            .as_array()
            .expect("members")
            .iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["id"].as_u64())
            .expect("member") as u16
    };
    let usd = Currency(*b"USD");

    // Wallets at two issuers, topped up.
    let alice = Keypair::generate();
    let bob = Keypair::generate();
    let wa = AccountId(rand::random());
    let wb = AccountId(rand::random());
    let mut finals = Vec::new();
    for (key, member, owner, w) in [
        (&op_key, "operator-a", &alice, wa),
        (&bank_key, "bank-a", &bob, wb),
    ] {
        let tx = sign(
            &chain,
            key,
            id(),
            Operation::CreateWallet {
                account: w,
                issuer: settlenet_types::MemberId(member_id(member)),
                owner: owner.public(),
                currency: usd,
            },
        );
        let (code, v) = net.submit(0, &tx).await;
        assert_eq!(code, 202, "{v}");
        finals.push(tx.tx.id);
    }
    for t in &finals {
        assert_eq!(net.wait_final(0, *t).await["status"], "committed");
    }
    let topup = sign(
        &chain,
        &op_key,
        id(),
        Operation::Issue {
            wallet: wa,
            amount: Amount(100_000),
        },
    );
    assert_eq!(net.submit(1, &topup).await.0, 202);
    assert_eq!(net.wait_final(0, topup.tx.id).await["status"], "committed");

    // Payments submitted to different nodes.
    let mut ids = Vec::new();
    for k in 0..40u64 {
        let tx = sign(
            &chain,
            &alice,
            id(),
            Operation::Transfer {
                from: wa,
                to: wb,
                amount: Amount(100 + k),
            },
        );
        let (code, v) = net.submit((k % 4) as usize, &tx).await;
        assert_eq!(code, 202, "{v}");
        ids.push(tx.tx.id);
    }
    for t in &ids {
        assert_eq!(net.wait_final(0, *t).await["status"], "committed");
    }
    let paid: u64 = (0..40u64).map(|k| 100 + k).sum();

    // All nodes agree block by block.
    let h = net.status(0).await.expect("status")["height"]
        .as_u64()
        .expect("h");
    for i in 0..4 {
        net.wait_height(i, h, 20).await;
    }
    for height in 1..=h {
        let b0 = net.get(0, &format!("/v1/blocks/{height}")).await.1;
        assert!(
            b0["certificate"]["signatures"]
                .as_array()
                .expect("sigs")
                .len()
                >= 3
        );
        for i in 1..4 {
            let bi = net.get(i, &format!("/v1/blocks/{height}")).await.1;
            assert_eq!(bi["hash"], b0["hash"], "block {height} differs on node{i}");
            assert_eq!(
                bi["state_root"], b0["state_root"],
                "root {height} differs on node{i}"
            );
            assert_eq!(bi["prev_hash"], b0["prev_hash"]);
        }
    }
    let bal = net.get(3, &format!("/v1/accounts/{wb}")).await.1;
    assert_eq!(bal["balance_minor"], paid.to_string());

    // ---- bad input: each refused with a clear error and no state change ----
    let before = net.get(0, &format!("/v1/accounts/{wa}")).await.1;
    // Forged signature.
    let mut forged = sign(
        &chain,
        &alice,
        id(),
        Operation::Transfer {
            from: wa,
            to: wb,
            amount: Amount(1),
        },
    );
    forged.tx.op = Operation::Transfer {
        from: wa,
        to: wb,
        amount: Amount(90_000),
    };
    let (code, v) = net.submit(0, &forged).await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_signature", "{v}");
    // Replayed id with a different body.
    let mut replay = sign(
        &chain,
        &alice,
        ids[0],
        Operation::Transfer {
            from: wa,
            to: wb,
            amount: Amount(5_000),
        },
    );
    replay.signature = alice.sign(&replay.tx.signing_message().expect("msg"));
    let (code, v) = net.submit(2, &replay).await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["error"]["code"], "exists_with_different_body", "{v}");
    // Exact retry is idempotent: the first result comes back.
    let first = sign(
        &chain,
        &alice,
        ids[0],
        Operation::Transfer {
            from: wa,
            to: wb,
            amount: Amount(100),
        },
    );
    let (code, v) = net.submit(1, &first).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["status"], "committed");
    // Overdraft: committed as rejected, nothing moves.
    let over = sign(
        &chain,
        &alice,
        id(),
        Operation::Transfer {
            from: wa,
            to: wb,
            amount: Amount(1_000_000),
        },
    );
    assert_eq!(net.submit(3, &over).await.0, 202);
    let v = net.wait_final(0, over.tx.id).await;
    assert_eq!(v["status"], "rejected", "{v}");
    assert_eq!(v["reason"], "insufficient_funds", "{v}");
    // Malformed JSON and an oversized body.
    let (code, v) = net
        .post_raw(0, "/v1/transactions", b"{\"tx\": ".to_vec())
        .await;
    assert_eq!(code, 400);
    assert_eq!(v["error"]["code"], "malformed_json", "{v}");
    // The server answers 413 and closes the connection mid-upload, so this request gets a
    // client of its own (a pooled connection would be reused half-closed by the next request).
    let lone = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let r = lone
        .post(format!("{}/v1/transactions", net.nodes[0].entry.api))
        .header("content-type", "application/json")
        .body(vec![b' '; 17 * 1024 * 1024])
        .send()
        .await
        .expect("oversized POST answered");
    assert_eq!(r.status().as_u16(), 413);
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(v["error"]["code"], "body_rejected", "{v}");
    let (code, v) = net.get(0, "/v1/accounts/nothex").await;
    assert_eq!(code, 400, "{v}");
    let after = net.get(0, &format!("/v1/accounts/{wa}")).await.1;
    assert_eq!(before["balance_minor"], after["balance_minor"]);

    // ---- crash of a non-primary (node2, SIGKILL): the other three keep committing ----
    let h_before = net.status(2).await.expect("status")["height"]
        .as_u64()
        .expect("h");
    let root_before = net.status(2).await.expect("status")["state_root"].clone();
    net.nodes[2].kill9();
    let mut more = Vec::new();
    for k in 0..20u64 {
        let tx = sign(
            &chain,
            &alice,
            id(),
            Operation::Transfer {
                from: wa,
                to: wb,
                amount: Amount(1 + k),
            },
        );
        let node = [0usize, 1, 3][(k % 3) as usize];
        assert_eq!(net.submit(node, &tx).await.0, 202);
        more.push(tx.tx.id);
    }
    for t in &more {
        assert_eq!(net.wait_final(0, *t).await["status"], "committed");
    }
    let h_three = net.status(0).await.expect("s")["height"]
        .as_u64()
        .expect("h");
    assert!(h_three > h_before, "no progress with one node down");

    // ---- restart: resumes from its own data, then catches up ----
    net.nodes[2].start();
    let s = loop {
        if let Some(s) = net.status(2).await {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let h_restart = s["height"].as_u64().expect("h");
    assert!(
        h_restart >= h_before,
        "node2 restarted at height {h_restart}, below its {h_before} before the crash"
    );
    if h_restart == h_before {
        assert_eq!(s["state_root"], root_before);
    }
    let s = net.wait_height(2, h_three, 30).await;
    let s0 = net.get(0, &format!("/v1/blocks/{h_three}")).await.1;
    let s2 = net.get(2, &format!("/v1/blocks/{h_three}")).await.1;
    assert_eq!(s0["hash"], s2["hash"]);
    assert_eq!(s0["state_root"], s2["state_root"]);
    assert!(s["height"].as_u64().unwrap_or(0) >= h_three);
    // And it votes again: new payments commit with all four up.
    let tx = sign(
        &chain,
        &alice,
        id(),
        Operation::Transfer {
            from: wa,
            to: wb,
            amount: Amount(7),
        },
    );
    assert_eq!(net.submit(2, &tx).await.0, 202);
    assert_eq!(net.wait_final(2, tx.tx.id).await["status"], "committed");
}

/// PBFT §4.4 with real processes: SIGKILL the primary (node0); the others change view and keep
/// committing; the old primary restarts from its own data and write-ahead log and catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_primary_triggers_a_view_change_and_commits_continue() {
    let mut net = start_net().await;
    let chain = net.chain.clone();
    let kd = net.keys_dir();
    let op_key = KeyFile::read(&kd.join("keys/operator-a/issuer.key"), None)
        .expect("issuer key")
        .1;
    let alice = Keypair::generate();
    let wa = AccountId(rand::random());
    let wb = AccountId(rand::random());
    let bob = Keypair::generate();
    for (w, owner) in [(wa, &alice), (wb, &bob)] {
        let tx = sign(
            &chain,
            &op_key,
            id(),
            Operation::CreateWallet {
                account: w,
                issuer: settlenet_types::MemberId(0),
                owner: owner.public(),
                currency: Currency(*b"USD"),
            },
        );
        assert_eq!(net.submit(1, &tx).await.0, 202);
        assert_eq!(net.wait_final(1, tx.tx.id).await["status"], "committed");
    }
    let topup = sign(
        &chain,
        &op_key,
        id(),
        Operation::Issue {
            wallet: wa,
            amount: Amount(10_000),
        },
    );
    assert_eq!(net.submit(2, &topup).await.0, 202);
    assert_eq!(net.wait_final(2, topup.tx.id).await["status"], "committed");
    assert_eq!(net.status(1).await.expect("status")["view"], 0);

    // The primary of view 0 dies.
    net.nodes[0].kill9();
    let started = Instant::now();
    let pay = sign(
        &chain,
        &alice,
        id(),
        Operation::Transfer {
            from: wa,
            to: wb,
            amount: Amount(100),
        },
    );
    assert_eq!(net.submit(1, &pay).await.0, 202);
    let v = net.wait_final(1, pay.tx.id).await;
    assert_eq!(v["status"], "committed", "{v}");
    let took = started.elapsed();
    for i in 1..4 {
        let s = net.status(i).await.expect("status");
        assert!(
            s["view"].as_u64().unwrap_or(0) >= 1,
            "node{i} still in view 0: {s}"
        );
    }
    eprintln!("view change and commit after the primary's crash took {took:?}");

    // The old primary restarts from its data and WAL, catches up, and the network goes on.
    net.nodes[0].start();
    let h = net.status(1).await.expect("status")["height"]
        .as_u64()
        .expect("h");
    net.wait_height(0, h, 30).await;
    for k in 0..5u64 {
        let tx = sign(
            &chain,
            &alice,
            id(),
            Operation::Transfer {
                from: wa,
                to: wb,
                amount: Amount(10 + k),
            },
        );
        assert_eq!(net.submit((k % 4) as usize, &tx).await.0, 202);
        assert_eq!(net.wait_final(1, tx.tx.id).await["status"], "committed");
    }
    let h = net.status(1).await.expect("status")["height"]
        .as_u64()
        .expect("h");
    for i in 0..4 {
        net.wait_height(i, h, 30).await;
    }
    let b1 = net.get(1, &format!("/v1/blocks/{h}")).await.1;
    for i in [0usize, 2, 3] {
        let bi = net.get(i, &format!("/v1/blocks/{h}")).await.1;
        assert_eq!(bi["hash"], b1["hash"], "node{i} differs at {h}");
        assert_eq!(bi["state_root"], b1["state_root"]);
    }
}
