//! End to end: four real validator processes on loopback, real libp2p, real RocksDB, real
//! signatures. Submits payments, checks agreement, kills a non-primary with SIGKILL, checks the
//! rest keep committing, restarts it and checks it resumes from its own data and catches up; and
//! checks that bad input is refused with a clear error and changes nothing.

mod common;

use common::*;
use serde_json::Value;
use settlenet_api::TxStatus;
use settlenet_crypto::Keypair;
use settlenet_types::{AccountId, Amount, Currency, Operation};
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_agree_survive_a_crash_and_refuse_bad_input() {
    let mut net = start_net().await;
    let chain = net.chain.clone();
    let op_key = net.issuer_key("operator-a");
    let bank_key = net.issuer_key("bank-a");
    let genesis = net.genesis().await;
    let member_id = |name: &str| {
        genesis
            .members
            .iter()
            .find(|m| m.name == name)
            .expect("member")
            .id
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
            nonce(),
            Operation::CreateWallet {
                account: w,
                issuer: member_id(member),
                owner: owner.public(),
                currency: usd,
            },
        );
        let (code, v) = net.submit(0, &tx).await;
        assert_eq!(code, 202, "{v:?}");
        finals.push(tx.tx.id);
    }
    for t in &finals {
        net.wait_committed(0, *t).await;
    }
    let topup = sign(
        &chain,
        &op_key,
        nonce(),
        Operation::Issue {
            wallet: wa,
            amount: Amount(100_000),
        },
    );
    assert_eq!(net.submit(1, &topup).await.0, 202);
    net.wait_committed(0, topup.tx.id).await;

    // Payments submitted to different nodes.
    let mut ids = Vec::new();
    let mut nonces = Vec::new();
    for k in 0..40u64 {
        let tx = sign(
            &chain,
            &alice,
            nonce(),
            Operation::Transfer {
                from: wa,
                to: wb,
                amount: Amount(100 + k),
            },
        );
        let (code, v) = net.submit((k % 4) as usize, &tx).await;
        assert_eq!(code, 202, "{v:?}");
        ids.push(tx.tx.id);
        nonces.push((tx.tx.nonce, tx.tx.valid_until_ms));
    }
    for t in &ids {
        net.wait_committed(0, *t).await;
    }
    let paid: u64 = (0..40u64).map(|k| 100 + k).sum();

    // All nodes agree block by block.
    let h = net.height(0).await;
    for i in 0..4 {
        net.wait_height(i, h, 20).await;
    }
    for height in 1..=h {
        let b0 = net.block(0, height).await.expect("block");
        assert!(b0.certificate.signatures.len() >= 3);
        for i in 1..4 {
            let bi = net.block(i, height).await.expect("block");
            assert_eq!(bi.hash, b0.hash, "block {height} differs on node{i}");
            assert_eq!(
                bi.state_root, b0.state_root,
                "root {height} differs on node{i}"
            );
            assert_eq!(bi.prev_hash, b0.prev_hash);
        }
    }
    let bal = net.account(3, wb).await;
    assert_eq!(bal.balance_minor, paid.to_string());

    // ---- bad input: each refused with a clear error and no state change ----
    let before = net.account(0, wa).await;
    // Forged signature.
    let mut forged = sign(
        &chain,
        &alice,
        nonce(),
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
    assert_eq!(code, 400, "{v:?}");
    assert_eq!(v.expect_err("refused").error.code, "invalid_signature");
    // Replayed id (same key, nonce and validity) with a different body.
    let mut replay = sign_valid_until(
        &chain,
        &alice,
        nonces[0].0,
        Operation::Transfer {
            from: wa,
            to: wb,
            amount: Amount(5_000),
        },
        nonces[0].1,
    );
    replay.signature = alice.sign(&replay.tx.signing_message().expect("msg"));
    let (code, v) = net.submit(2, &replay).await;
    assert_eq!(code, 400, "{v:?}");
    assert_eq!(
        v.expect_err("refused").error.code,
        "exists_with_different_body"
    );
    // Exact retry is idempotent: the first result comes back.
    let first = sign_valid_until(
        &chain,
        &alice,
        nonces[0].0,
        Operation::Transfer {
            from: wa,
            to: wb,
            amount: Amount(100),
        },
        nonces[0].1,
    );
    let (code, v) = net.submit(1, &first).await;
    assert_eq!(code, 200, "{v:?}");
    assert_eq!(v.expect("answer").status, TxStatus::Committed);
    // Overdraft: committed as rejected, nothing moves.
    let over = sign(
        &chain,
        &alice,
        nonce(),
        Operation::Transfer {
            from: wa,
            to: wb,
            amount: Amount(1_000_000),
        },
    );
    assert_eq!(net.submit(3, &over).await.0, 202);
    let v = net.wait_final(0, over.tx.id).await;
    assert_eq!(v.status, TxStatus::Rejected, "{v:?}");
    assert_eq!(v.reason.as_deref(), Some("insufficient_funds"), "{v:?}");
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
        .post(format!("{}/v1/transactions", net.entry(0).api))
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
    let after = net.account(0, wa).await;
    assert_eq!(before.balance_minor, after.balance_minor);

    // ---- crash of a non-primary (node2, SIGKILL): the other three keep committing ----
    let h_before = net.height(2).await;
    let root_before = net.status(2).await.expect("status").state_root;
    net.kill9(2);
    let mut more = Vec::new();
    for k in 0..20u64 {
        let tx = sign(
            &chain,
            &alice,
            nonce(),
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
        net.wait_committed(0, *t).await;
    }
    let h_three = net.height(0).await;
    assert!(h_three > h_before, "no progress with one node down");

    // ---- restart: resumes from its own data, then catches up ----
    net.restart(2);
    let s = net.wait_up(2, 60).await;
    let h_restart = s.height.0;
    assert!(
        h_restart >= h_before,
        "node2 restarted at height {h_restart}, below its {h_before} before the crash"
    );
    if h_restart == h_before {
        assert_eq!(s.state_root, root_before);
    }
    let s = net.wait_height(2, h_three, 30).await;
    net.assert_agree_at(&[0, 2], h_three).await;
    assert!(s.height.0 >= h_three);
    // And it votes again: new payments commit with all four up.
    let tx = sign(
        &chain,
        &alice,
        nonce(),
        Operation::Transfer {
            from: wa,
            to: wb,
            amount: Amount(7),
        },
    );
    assert_eq!(net.submit(2, &tx).await.0, 202);
    net.wait_committed(2, tx.tx.id).await;
}

/// PBFT §4.4 with real processes: SIGKILL the primary (node0); the others change view and keep
/// committing; the old primary restarts from its own data and write-ahead log and catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_primary_triggers_a_view_change_and_commits_continue() {
    let mut net = start_net().await;
    let chain = net.chain.clone();
    let op_key = net.issuer_key("operator-a");
    let alice = Keypair::generate();
    let wa = AccountId(rand::random());
    let wb = AccountId(rand::random());
    let bob = Keypair::generate();
    for (w, owner) in [(wa, &alice), (wb, &bob)] {
        let tx = sign(
            &chain,
            &op_key,
            nonce(),
            Operation::CreateWallet {
                account: w,
                issuer: settlenet_types::MemberId(0),
                owner: owner.public(),
                currency: Currency(*b"USD"),
            },
        );
        assert_eq!(net.submit(1, &tx).await.0, 202);
        net.wait_committed(1, tx.tx.id).await;
    }
    let topup = sign(
        &chain,
        &op_key,
        nonce(),
        Operation::Issue {
            wallet: wa,
            amount: Amount(10_000),
        },
    );
    assert_eq!(net.submit(2, &topup).await.0, 202);
    net.wait_committed(2, topup.tx.id).await;
    assert_eq!(net.status(1).await.expect("status").view.0, 0);

    // The primary of view 0 dies.
    net.kill9(0);
    let started = Instant::now();
    let pay = sign(
        &chain,
        &alice,
        nonce(),
        Operation::Transfer {
            from: wa,
            to: wb,
            amount: Amount(100),
        },
    );
    assert_eq!(net.submit(1, &pay).await.0, 202);
    net.wait_committed(1, pay.tx.id).await;
    let took = started.elapsed();
    for i in 1..4 {
        let s = net.status(i).await.expect("status");
        assert!(s.view.0 >= 1, "node{i} still in view 0: {s:?}");
    }
    eprintln!("view change and commit after the primary's crash took {took:?}");

    // The old primary restarts from its data and WAL, catches up, and the network goes on.
    net.restart(0);
    let h = net.height(1).await;
    net.wait_height(0, h, 30).await;
    for k in 0..5u64 {
        let tx = sign(
            &chain,
            &alice,
            nonce(),
            Operation::Transfer {
                from: wa,
                to: wb,
                amount: Amount(10 + k),
            },
        );
        assert_eq!(net.submit((k % 4) as usize, &tx).await.0, 202);
        net.wait_committed(1, tx.tx.id).await;
    }
    let h = net.height(1).await;
    for i in 0..4 {
        net.wait_height(i, h, 30).await;
    }
    net.assert_agree_at(&[1, 0, 2, 3], h).await;
}
