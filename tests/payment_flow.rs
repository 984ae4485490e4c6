//! The payment model end to end, through the `settlenet` CLI against four real validator
//! processes: phone wallets at two issuers, pay by phone across issuers, a merchant at a third
//! member (authorize, partial capture, refund, void), balances, paged history, positions that
//! sum to zero, and an account proof and a transaction proof verified offline (and refused when
//! tampered with).

mod common;

use common::{balance, cli, cli_fails, cli_json, fields, s, start_net, user_key};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payment_flow_through_the_cli() {
    let net = start_net().await;
    let dir = net.dir.path().join("net");
    let d = s(&dir);
    let node2 = net.entry(2).api.clone();
    let alice = user_key(net.dir.path(), "alice");
    let bob = user_key(net.dir.path(), "bob");
    let shop = user_key(net.dir.path(), "shop");

    // Two phone wallets at two issuers. The number never comes back in any output.
    let reg = |phone: &str, owner: &Path, issuer: &str| -> String {
        let out = cli(&[
            "--testnet",
            d,
            "wallet",
            "register",
            "--phone",
            phone,
            "--owner-key",
            s(owner),
            "--issuer",
            issuer,
            "--tier",
            "1",
        ]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("ok: The transaction was applied."), "{text}");
        let digits: String = phone.chars().filter(|c| c.is_ascii_digit()).collect();
        assert!(!text.contains(&digits[3..]), "the number leaked: {text}");
        text.split_whitespace()
            .nth(1)
            .expect("wallet id")
            .to_string()
    };
    let wa = reg("+250 706 103 88", &alice, "operator-a");
    let wb = reg("+250-78-812-3456", &bob, "bank-a");
    assert_eq!(wa.len(), 32);

    // One wallet per (number, currency): another spelling of Alice's number is the same alias.
    let err = cli_fails(&[
        "--testnet",
        d,
        "wallet",
        "register",
        "--phone",
        "070610388",
        "--owner-key",
        s(&bob),
        "--issuer",
        "bank-a",
    ]);
    assert!(err.contains("alias_exists"), "{err}");

    // Find by phone, any spelling, through another node: only the wallet id comes back.
    let out = cli(&["--node", &node2, "wallet", "find", "--phone", "25070610388"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), wa);
    let v = cli_json(&[
        "--node",
        &node2,
        "wallet",
        "find",
        "--phone",
        "+250 788 123 456",
    ]);
    assert_eq!(v["wallet"], wb.as_str());
    assert!(!v.to_string().contains("788123456"));
    let err = cli_fails(&[
        "--testnet",
        d,
        "wallet",
        "find",
        "--phone",
        "+250 799 000 000",
    ]);
    assert!(err.contains("no wallet is registered"), "{err}");

    // Issue, then pay by phone across issuers with a fee.
    cli_json(&[
        "--testnet",
        d,
        "issue",
        "--wallet",
        &wa,
        "--amount",
        "500.00",
    ]);
    // The form: the payer's wallet is the one Alice's key owns (no --from).
    let v = cli_json(&[
        "--testnet",
        d,
        "pay",
        "--key",
        s(&alice),
        "--to",
        "+250 788 123 456",
        "--amount",
        "120.50",
        "--fee",
        "0.50",
    ]);
    assert_eq!(v["status"], "committed", "{v}");
    let paid = v["id"].as_str().expect("tx id").to_string();
    assert_eq!(balance(d, &wa)["balance"], "379.00");
    assert_eq!(balance(d, &wb)["balance"], "120.50");
    // Human output of `balance`: the four fields, formatted by the currency's exponent.
    let out = cli(&["--testnet", d, "balance", &wb]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("credits posted   120.50"), "{text}");
    assert!(text.contains("available        120.50"), "{text}");

    // A merchant at a third member; authorize, capture part, refund part.
    let m = cli_json(&[
        "--testnet",
        d,
        "merchant",
        "register",
        "--owner-key",
        s(&shop),
        "--acquirer",
        "bank-b",
    ]);
    let wm = m["account"].as_str().expect("merchant").to_string();
    // A key that owns no wallet (the shop's key owns a merchant account) cannot pay without
    // --from, and says why.
    let err = cli_fails(&[
        "--testnet",
        d,
        "pay",
        "--key",
        s(&shop),
        "--to",
        &wa,
        "--amount",
        "1.00",
    ]);
    assert!(err.contains("owns no wallet"), "{err}");
    let a = cli_json(&[
        "--testnet",
        d,
        "authorize",
        "--key",
        s(&alice),
        "--from",
        &wa,
        "--merchant",
        &wm,
        "--amount",
        "80.00",
    ]);
    let h1 = a["hold"].as_str().expect("hold").to_string();
    let b = balance(d, &wa);
    assert_eq!(b["debits_pending"], "8000");
    assert_eq!(b["available"], "299.00");
    assert_eq!(balance(d, &wm)["credits_pending"], "8000");
    // Captured by the merchant's own key, through another node.
    let c = cli_json(&[
        "--node",
        &node2,
        "--testnet",
        d,
        "capture",
        "--hold",
        &h1,
        "--amount",
        "50.00",
        "--key",
        s(&shop),
    ]);
    assert_eq!(c["status"], "committed", "{c}");
    let capture = c["capture"].as_str().expect("capture id").to_string();
    let b = balance(d, &wa);
    assert_eq!(
        (b["balance"].as_str(), b["debits_pending"].as_str()),
        (Some("329.00"), Some("0"))
    );
    assert_eq!(balance(d, &wm)["balance"], "50.00");
    // A hold resolves once.
    let err = cli_fails(&["--testnet", d, "capture", "--hold", &h1]);
    assert!(err.contains("hold_already_captured"), "{err}");
    // Refund part (acquirer key by default with --testnet), never above the capture.
    let r = cli_json(&[
        "--testnet",
        d,
        "refund",
        "--capture",
        &capture,
        "--amount",
        "20.00",
    ]);
    assert_eq!(r["status"], "committed", "{r}");
    let err = cli_fails(&[
        "--testnet",
        d,
        "refund",
        "--capture",
        &capture,
        "--amount",
        "40.00",
    ]);
    assert!(err.contains("refund_exceeds_capture"), "{err}");
    assert_eq!(balance(d, &wa)["balance"], "349.00");
    assert_eq!(balance(d, &wm)["balance"], "30.00");
    // Another hold, voided; it cannot be captured afterwards.
    let a = cli_json(&[
        "--testnet",
        d,
        "authorize",
        "--key",
        s(&alice),
        "--from",
        &wa,
        "--merchant",
        &wm,
        "--amount",
        "10.00",
    ]);
    let h2 = a["hold"].as_str().expect("hold").to_string();
    let out = cli(&["--testnet", d, "void", "--hold", &h2]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok:"));
    let err = cli_fails(&["--testnet", d, "capture", "--hold", &h2]);
    assert!(err.contains("hold_already_voided"), "{err}");
    let b = balance(d, &wa);
    assert_eq!(
        fields(&b),
        ["0", "17100", "0", "52000", "349.00"].map(String::from)
    );

    // History, newest first, in pages of 3 through the opaque cursor.
    let mut ops = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args: Vec<&str> = vec!["--testnet", d, "history", &wa, "--limit", "3"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let v = cli_json(&args);
        pages += 1;
        for e in v["entries"].as_array().expect("entries") {
            ops.push(e["op"].as_str().expect("op").to_string());
            assert_eq!(e["result"], "ok");
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(
        ops,
        [
            "void",
            "authorize",
            "refund",
            "capture",
            "authorize",
            "pay",
            "issue",
            "register_wallet"
        ]
    );
    assert_eq!(pages, 3);
    let err = cli_fails(&["--testnet", d, "history", &wa, "--limit", "0"]);
    assert!(err.contains("invalid_limit"), "{err}");
    let err = cli_fails(&["--testnet", d, "history", &wa, "--cursor", "abcd"]);
    assert!(err.contains("invalid_cursor"), "{err}");

    // Positions of window 0: operator-a owes 120.50 (P2P) + 50.00 (capture) - 20.00 (refund).
    let p = cli_json(&["--testnet", d, "positions", "--window", "0"]);
    let pos: BTreeMap<String, String> = p["positions"]
        .as_array()
        .expect("positions")
        .iter()
        .map(|r| {
            (
                r["member"].as_str().expect("member").to_string(),
                r["position"].as_str().expect("position").to_string(),
            )
        })
        .collect();
    assert_eq!(pos["operator-a"], "-150.50", "{p}");
    assert_eq!(pos["bank-a"], "120.50", "{p}");
    assert_eq!(pos["bank-b"], "30.00", "{p}");
    assert_eq!(pos["clearing-house"], "0.00", "{p}");
    assert_eq!(p["totals_minor"]["USD"], "0", "{p}");
    let out = cli(&["--testnet", d, "positions"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("sum USD: 0 minor units"));

    // All nodes agree.
    net.agree().await;

    // A proof of Alice's wallet, verified offline against the genesis alone.
    let proof = net.dir.path().join("alice.proof.json");
    let v = cli_json(&[
        "--node",
        &node2,
        "account",
        "prove",
        &wa,
        "--out",
        s(&proof),
    ]);
    assert_eq!(v["account"]["balance"], "349.00");
    let genesis = dir.join("genesis.json");
    let ok = cli_json(&["proof", "verify", s(&proof), "--genesis", s(&genesis)]);
    assert_eq!(ok["valid"], true);
    assert_eq!(ok["account"]["id"], wa.as_str());
    proof_tampering_is_detected(&proof, &genesis);

    // A proof of the payment's record (block, position, result) against the ledger's history,
    // verified offline the same way; tampered, refused.
    let tx_proof = net.dir.path().join("payment.proof.json");
    let v = cli_json(&[
        "--node",
        &node2,
        "tx",
        "prove",
        &paid,
        "--out",
        s(&tx_proof),
    ]);
    assert_eq!(v["result"], "ok", "{v}");
    let ok = cli_json(&["proof", "verify", s(&tx_proof), "--genesis", s(&genesis)]);
    assert_eq!(ok["valid"], true, "{ok}");
    assert_eq!(ok["tx_id"], paid.as_str());
    assert_eq!(ok["result"], "ok");
    assert_eq!(ok["height"], v["height"]);
    tx_proof_tampering_is_detected(&tx_proof, &genesis);
    // An id with no record: a clear 404, no file.
    let none = net.dir.path().join("none.proof.json");
    let err = cli_fails(&[
        "--node",
        &node2,
        "tx",
        "prove",
        &"ab".repeat(16),
        "--out",
        s(&none),
    ]);
    assert!(err.contains("no record of transaction"), "{err}");
    assert!(!none.exists());
    let err = cli_fails(&["--node", &node2, "tx", "prove", "xyz", "--out", s(&none)]);
    assert!(err.contains("transaction id"), "{err}");
    // Against another network's genesis it fails: given the same name, the two networks
    // still have different chain ids (each bound to its own genesis).
    let other = net.dir.path().join("other");
    cli_json(&["testnet", "init", "--dir", s(&other), "--chain-id", "e2e"]);
    let err = cli_fails(&[
        "proof",
        "verify",
        s(&proof),
        "--genesis",
        s(&other.join("genesis.json")),
    ]);
    assert!(err.contains("the genesis is for \"e2e-"), "{err}");
}

/// Flip bytes of a valid account proof file: every change of meaning must be refused with a
/// reason.
fn proof_tampering_is_detected(proof: &Path, genesis: &Path) {
    let v: Value = serde_json::from_slice(&std::fs::read(proof).expect("proof")).expect("json");
    // Targeted: a balance field of the proven account, a sibling hash, a certificate
    // signature, the header's timestamp, the claimed root, the summary's balance.
    let mut edits: Vec<(&str, Value)> = Vec::new();
    let mut e = v.clone();
    let cp = e["proof"]["account"]["credits_posted"]
        .as_u64()
        .expect("credits")
        + 1;
    e["proof"]["account"]["credits_posted"] = cp.into();
    edits.push(("proven balance", e));
    let mut e = v.clone();
    e["proof"]["siblings"][3] = Value::String("11".repeat(32));
    edits.push(("sibling", e));
    let mut e = v.clone();
    let sig = e["anchor"]["certificate"]["signatures"][0]["signature"]
        .as_str()
        .expect("sig")
        .to_string();
    let flipped = format!(
        "{}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    );
    e["anchor"]["certificate"]["signatures"][0]["signature"] = flipped.into();
    edits.push(("certificate signature", e));
    let mut e = v.clone();
    let ts = e["anchor"]["header"]["timestamp_ms"].as_u64().expect("ts") + 1;
    e["anchor"]["header"]["timestamp_ms"] = ts.into();
    edits.push(("header timestamp", e));
    let mut e = v.clone();
    e["state_root"] = Value::String("22".repeat(32));
    edits.push(("state root", e));
    let mut e = v.clone();
    e["account"]["balance"] = "1000000.00".into();
    edits.push(("summary balance", e));
    let mut e = v.clone();
    e["anchor"]["certificate"]["signatures"]
        .as_array_mut()
        .expect("sigs")
        .truncate(2);
    edits.push(("too few signatures", e));
    tampering_is_refused(proof, genesis, edits);
}

/// Each targeted edit of a valid proof file, and 40 single-character changes of hex and
/// decimal digits anywhere in it, must be refused as INVALID; the untouched file still verifies.
fn tampering_is_refused(proof: &Path, genesis: &Path, edits: Vec<(&str, Value)>) {
    let good = std::fs::read(proof).expect("proof");
    let text = String::from_utf8(good.clone()).expect("utf8");
    let tampered = proof.with_extension("tampered.json");
    let check = |bytes: &[u8], what: &str| -> String {
        std::fs::write(&tampered, bytes).expect("write");
        let err = cli_fails(&["proof", "verify", s(&tampered), "--genesis", s(genesis)]);
        assert!(err.contains("INVALID"), "{what}: {err}");
        err
    };
    for (what, e) in edits {
        let err = check(&serde_json::to_vec_pretty(&e).expect("json"), what);
        eprintln!("tampered {what}: {}", err.lines().last().unwrap_or(""));
    }
    // Random single-character changes of hex digits and decimal digits anywhere in the file.
    let positions: Vec<usize> = text
        .char_indices()
        .filter(|(_, c)| c.is_ascii_digit() || ('a'..='f').contains(c))
        .map(|(i, _)| i)
        .collect();
    for k in 0..40usize {
        let i = positions[(k * 7919 + 13) % positions.len()];
        let mut bytes = good.clone();
        let c = bytes[i];
        bytes[i] = if c == b'0' {
            b'1'
        } else if c.is_ascii_digit() {
            b'0'
        } else {
            b'a' + (c - b'a' + 1) % 6
        };
        if bytes[i] == c {
            continue;
        }
        check(&bytes, &format!("byte {i}"));
    }
    // The untouched file still verifies.
    std::fs::write(&tampered, &good).expect("write");
    let out = cli(&["proof", "verify", s(&tampered), "--genesis", s(genesis)]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("proof VALID"));
}

/// The same for a transaction proof: the claimed id, result, height or index, the proven
/// record's result or height, the block's record count, the state root, the file's kind.
fn tx_proof_tampering_is_detected(proof: &Path, genesis: &Path) {
    let v: Value = serde_json::from_slice(&std::fs::read(proof).expect("proof")).expect("json");
    let mut edits: Vec<(&str, Value)> = Vec::new();
    let mut e = v.clone();
    e["result"] = "insufficient_funds".into();
    edits.push(("claimed result", e));
    let mut e = v.clone();
    e["proof"]["record"]["result"] = "insufficient_funds".into();
    e["result"] = "insufficient_funds".into();
    edits.push(("proven result", e));
    let mut e = v.clone();
    let h = e["height"].as_u64().expect("height");
    e["height"] = (h + 1).into();
    edits.push(("claimed height", e));
    let mut e = v.clone();
    e["proof"]["record"]["height"] = (h + 1).into();
    e["height"] = (h + 1).into();
    edits.push(("proven height", e));
    let mut e = v.clone();
    let i = e["index"].as_u64().expect("index");
    e["index"] = (i + 1).into();
    edits.push(("claimed index", e));
    let mut e = v.clone();
    e["tx_id"] = "cd".repeat(16).into();
    edits.push(("claimed id", e));
    let mut e = v.clone();
    let count = e["proof"]["count"].as_u64().expect("count");
    e["proof"]["count"] = (count + 1).into();
    edits.push(("record count", e));
    let mut e = v.clone();
    e["state_root"] = Value::String("22".repeat(32));
    edits.push(("state root", e));
    let mut e = v.clone();
    e["kind"] = "settlenet-tx-proof-v0".into();
    edits.push(("kind", e));
    tampering_is_refused(proof, genesis, edits);
}
