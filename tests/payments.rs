//! The payment model end to end, through the `settlenet` CLI against four real validator
//! processes: phone wallets at two issuers, pay by phone across issuers, a merchant at a third
//! member (authorize, partial capture, refund, void), balances, paged history, positions that
//! sum to zero, an account proof verified offline (and refused when tampered with); bad input
//! refused with clear errors and no state change; and a bank-style concurrency test.

mod common;

use common::{cli, cli_fails, cli_json, id, sign, start_net};
use serde_json::Value;
use settlenet_crypto::{KeyFile, Keypair};
use settlenet_types::{AccountId, Amount, MemberId, Operation, Payee};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

fn user_key(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(format!("{name}.key"));
    let v = cli_json(&["keys", "generate", "--out", s(&p)]);
    assert_eq!(v["kind"], "user");
    p
}

fn balance(d: &str, id: &str) -> Value {
    cli_json(&["--testnet", d, "balance", id])
}

/// The four fields and balance of an account, for before/after comparisons.
fn fields(v: &Value) -> [String; 5] {
    [
        "debits_pending",
        "debits_posted",
        "credits_pending",
        "credits_posted",
        "balance",
    ]
    .map(|k| v[k].as_str().unwrap_or("").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payment_flow_through_the_cli() {
    let net = start_net().await;
    let dir = net.dir.path().join("net");
    let d = s(&dir);
    let node2 = net.nodes[2].entry.api.clone();
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
    // The issue's form: the payer's wallet is the one Alice's key owns (no --from).
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
    // Against another network's genesis it fails.
    let other = net.dir.path().join("other");
    cli_json(&["testnet", "init", "--dir", s(&other), "--chain-id", "e2e"]);
    let err = cli_fails(&[
        "proof",
        "verify",
        s(&proof),
        "--genesis",
        s(&other.join("genesis.json")),
    ]);
    assert!(err.contains("certificate"), "{err}");
}

/// Flip bytes of a valid proof file: every change of meaning must be refused with a reason.
fn proof_tampering_is_detected(proof: &Path, genesis: &Path) {
    let good = std::fs::read(proof).expect("proof");
    let text = String::from_utf8(good.clone()).expect("utf8");
    let v: Value = serde_json::from_slice(&good).expect("json");
    let tampered = proof.with_extension("tampered.json");
    let check = |bytes: &[u8], what: &str| -> String {
        std::fs::write(&tampered, bytes).expect("write");
        let err = cli_fails(&["proof", "verify", s(&tampered), "--genesis", s(genesis)]);
        assert!(err.contains("INVALID"), "{what}: {err}");
        err
    };
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_clearly_and_changes_nothing() {
    let net = start_net().await;
    let dir = net.dir.path().join("net");
    let d = s(&dir);
    let alice = user_key(net.dir.path(), "alice");
    let wa = cli_json(&[
        "--testnet",
        d,
        "wallet",
        "register",
        "--phone",
        "+250 700 000 001",
        "--owner-key",
        s(&alice),
        "--issuer",
        "operator-a",
    ])["account"]
        .as_str()
        .expect("wallet")
        .to_string();
    cli_json(&[
        "--testnet",
        d,
        "issue",
        "--wallet",
        &wa,
        "--amount",
        "50.00",
    ]);
    let before = fields(&balance(d, &wa));
    let height_of = |v: &Value| v["height"].as_u64().unwrap_or(0);
    let pay = |to: &str, amount: &str| {
        cli_fails(&[
            "--testnet",
            d,
            "pay",
            "--key",
            s(&alice),
            "--from",
            &wa,
            "--to",
            to,
            "--amount",
            amount,
        ])
    };

    // Unknown payee, by account and by phone: rejected in a block, nothing moves.
    let err = pay("0123456789abcdef0123456789abcdef", "1.00");
    assert!(err.contains("unknown_payee"), "{err}");
    let err = pay("+250 799 999 999", "1.00");
    assert!(err.contains("unknown_payee"), "{err}");
    // Malformed phone numbers: refused before anything is signed; the number is not repeated.
    for bad in [
        "+250 70610388x",
        "12345",
        "+0250706103",
        "tel:+25070610388",
        "+1234567890123456",
    ] {
        let err = pay(bad, "1.00");
        assert!(err.contains("invalid_phone"), "{bad}: {err}");
        let digits: String = bad.chars().filter(|c| c.is_ascii_digit()).collect();
        assert!(!err.contains(&digits), "{bad}: the number leaked: {err}");
        let err = cli_fails(&[
            "--testnet",
            d,
            "wallet",
            "register",
            "--phone",
            bad,
            "--owner-key",
            s(&alice),
            "--issuer",
            "bank-a",
        ]);
        assert!(err.contains("invalid_phone"), "{bad}: {err}");
    }
    // Amounts: zero, beyond u64, too many decimals, not a number.
    let err = pay("+250 700 000 001", "0");
    assert!(err.contains("zero_amount"), "{err}");
    let err = pay("+250 700 000 001", "184467440737095516.16");
    assert!(err.contains("does not fit in 64 bits"), "{err}");
    let err = pay("+250 700 000 001", "1.005");
    assert!(err.contains("decimals"), "{err}");
    let err = pay("+250 700 000 001", "1,00");
    assert!(err.contains("plain decimal"), "{err}");
    // Wrong role: the clearing house's key cannot open wallets; an issuer key cannot open
    // merchant accounts for its member... unless it has the role (operator-a's issuer key has
    // only `issuer`).
    let err = cli_fails(&[
        "--testnet",
        d,
        "wallet",
        "register",
        "--phone",
        "+250 700 000 002",
        "--owner-key",
        s(&alice),
        "--issuer",
        "clearing-house",
    ]);
    assert!(
        err.contains("forbidden_role") || err.contains("clearing"),
        "{err}"
    );
    let err = cli_fails(&[
        "--testnet",
        d,
        "wallet",
        "register",
        "--phone",
        "+250 700 000 002",
        "--owner-key",
        s(&alice),
        "--issuer",
        "clearing-house",
        "--key",
        s(&dir.join("keys/clearing-house/clearing.key")),
    ]);
    assert!(err.contains("forbidden_role"), "{err}");
    let err = cli_fails(&[
        "--testnet",
        d,
        "merchant",
        "register",
        "--owner-key",
        s(&alice),
        "--acquirer",
        "operator-a",
        "--key",
        s(&dir.join("keys/operator-a/issuer.key")),
    ]);
    assert!(err.contains("forbidden_role"), "{err}");
    // Someone else's key cannot spend Alice's wallet.
    let mallory = user_key(net.dir.path(), "mallory");
    let err = cli_fails(&[
        "--testnet",
        d,
        "pay",
        "--key",
        s(&mallory),
        "--from",
        &wa,
        "--to",
        "+250 700 000 001",
        "--amount",
        "1.00",
    ]);
    assert!(
        err.contains("forbidden_signer") || err.contains("same_account"),
        "{err}"
    );

    // Forged and missing signatures, straight at the API.
    let key = KeyFile::read(&alice, None).expect("alice").1;
    let wa_id: AccountId = wa.parse().expect("id");
    let mut forged = sign(
        &net.chain,
        &key,
        id(),
        Operation::Pay {
            from: wa_id,
            to: Payee::Account(AccountId([9; 16])),
            amount: Amount(1),
            fee: None,
        },
    );
    forged.tx.op = Operation::Pay {
        from: wa_id,
        to: Payee::Account(AccountId([9; 16])),
        amount: Amount(4_000),
        fee: None,
    };
    let (code, v) = net.submit(1, &forged).await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_signature", "{v}");
    let mut unsigned = serde_json::to_value(&forged).expect("json");
    unsigned
        .as_object_mut()
        .expect("object")
        .remove("signature");
    let (code, v) = net
        .post_raw(
            2,
            "/v1/transactions",
            serde_json::to_vec(&unsigned).expect("json"),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["error"]["code"], "malformed_transaction", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("signature"),
        "{v}"
    );
    // The alias endpoint: malformed bodies and numbers are 400s that never echo the number.
    for body in [
        r#"{"phone": 25070610388}"#.to_string(),
        r#"{"phone": "+250 70610388x"}"#.to_string(),
        r#"{"phone": "+250 706 103 88", "currency": "usd"}"#.to_string(),
        r#"{"phone": "+250 706 103 88", "extra": 1}"#.to_string(),
    ] {
        let (code, v) = net
            .post_raw(0, "/v1/phone/alias", body.clone().into_bytes())
            .await;
        assert_eq!(code, 400, "{body}: {v}");
        assert!(!v.to_string().contains("70610388"), "{body}: leaked: {v}");
    }

    // Nothing changed.
    assert_eq!(fields(&balance(d, &wa)), before);
    let status = net.status(0).await.expect("status");
    assert!(height_of(&status) > 0);
    net.agree().await;
}

/// Many clients race payments out of the same few wallets through different nodes, retrying
/// some with the same id. Afterwards: no overdraft, every acknowledged payment applied exactly
/// once, money conserved, positions summing to zero, all nodes on one root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_cannot_overdraw_duplicate_or_lose_payments() {
    const WALLETS: usize = 4;
    const CLIENTS: usize = 8;
    const PAYMENTS_PER_CLIENT: usize = 40;
    const FUNDING: u64 = 10_000;
    let net = std::sync::Arc::new(start_net().await);
    let dir = net.dir.path().join("net");
    let issuer_key = |m: &str| {
        KeyFile::read(&dir.join("keys").join(m).join("issuer.key"), None)
            .expect("issuer key")
            .1
    };
    // Wallets alternate between two issuers so that most payments cross members.
    let mut owners = Vec::new();
    let mut wallets = Vec::new();
    let mut setup = Vec::new();
    for w in 0..WALLETS {
        let (member, mid) = if w % 2 == 0 {
            ("operator-a", 0)
        } else {
            ("bank-a", 1)
        };
        let owner = Keypair::generate();
        let account = AccountId(rand::random());
        let key = issuer_key(member);
        let create = sign(
            &net.chain,
            &key,
            id(),
            Operation::CreateWallet {
                account,
                issuer: MemberId(mid),
                owner: owner.public(),
                currency: "USD".parse().expect("usd"),
            },
        );
        let fund = sign(
            &net.chain,
            &key,
            id(),
            Operation::Issue {
                wallet: account,
                amount: Amount(FUNDING),
            },
        );
        setup.push(create);
        setup.push(fund);
        owners.push(owner);
        wallets.push(account);
    }
    for tx in &setup {
        assert_eq!(net.submit(0, tx).await.0, 202);
        assert_eq!(net.wait_final(0, tx.tx.id).await["result"], "ok");
    }
    let owners = std::sync::Arc::new(owners);
    let wallets = std::sync::Arc::new(wallets);

    // Each client: random payer, payee, amount and node; a third of the payments are sent
    // twice (to two nodes) with the same id. Acknowledged = committed with result ok.
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let net = net.clone();
        let owners = owners.clone();
        let wallets = wallets.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut pending = Vec::new();
            for k in 0..PAYMENTS_PER_CLIENT {
                let from = rand::random::<usize>() % WALLETS;
                let to = (from + 1 + rand::random::<usize>() % (WALLETS - 1)) % WALLETS;
                let amount = 100 + rand::random::<u64>() % 900;
                let tx = sign(
                    &net.chain,
                    &owners[from],
                    id(),
                    Operation::Pay {
                        from: wallets[from],
                        to: Payee::Account(wallets[to]),
                        amount: Amount(amount),
                        fee: None,
                    },
                );
                let node = (c + k) % 4;
                let (code, v) = net.submit(node, &tx).await;
                assert!(code == 202 || code == 200, "{v}");
                if k % 3 == 0 {
                    let (code, v) = net.submit((node + 1) % 4, &tx).await;
                    assert!(code == 202 || code == 200, "retry: {v}");
                }
                pending.push((tx.tx.id, from, to, amount));
                if pending.len() >= 8 {
                    for (id, from, to, amount) in pending.drain(..) {
                        let v = net.wait_final((c + 1) % 4, id).await;
                        sent.push((
                            id,
                            from,
                            to,
                            amount,
                            v["result"] == "ok",
                            v["reason"].clone(),
                        ));
                    }
                }
            }
            for (id, from, to, amount) in pending.drain(..) {
                let v = net.wait_final((c + 1) % 4, id).await;
                sent.push((
                    id,
                    from,
                    to,
                    amount,
                    v["result"] == "ok",
                    v["reason"].clone(),
                ));
            }
            sent
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    let acked: Vec<_> = all.iter().filter(|p| p.4).collect();
    let refused: Vec<_> = all.iter().filter(|p| !p.4).collect();
    for p in &refused {
        assert_eq!(p.5, "insufficient_funds", "unexpected refusal {p:?}");
    }
    eprintln!(
        "{} payments: {} applied, {} refused for insufficient funds",
        all.len(),
        acked.len(),
        refused.len()
    );
    assert!(!acked.is_empty());

    // Expected balances from the acknowledged payments alone.
    let mut expected = vec![i128::from(FUNDING); WALLETS];
    for (_, from, to, amount, _, _) in &acked {
        expected[*from] -= i128::from(*amount);
        expected[*to] += i128::from(*amount);
    }
    let h = net.agree().await;
    for (w, want) in wallets.iter().zip(&expected) {
        for i in 0..4 {
            let v = net.get(i, &format!("/v1/accounts/{w}")).await.1;
            assert_eq!(
                v["balance_minor"],
                want.to_string(),
                "wallet {w} on node{i}"
            );
            assert!(
                !v["available"].as_str().unwrap_or("-").starts_with('-'),
                "overdraft {v}"
            );
        }
    }
    let total: i128 = expected.iter().sum();
    assert_eq!(
        total,
        i128::from(FUNDING) * WALLETS as i128,
        "money not conserved"
    );

    // Every acknowledged payment is in the chain exactly once with result ok; retries show up
    // only as duplicates.
    let acked_ids: BTreeSet<String> = acked.iter().map(|p| p.0.to_string()).collect();
    let mut applied: BTreeMap<String, usize> = BTreeMap::new();
    for height in 1..=h {
        let b = net.get(3, &format!("/v1/blocks/{height}")).await.1;
        for t in b["transactions"].as_array().expect("txs") {
            if t["result"] == "ok" {
                *applied
                    .entry(t["id"].as_str().expect("id").to_string())
                    .or_default() += 1;
            }
        }
    }
    for id in &acked_ids {
        assert_eq!(
            applied.get(id),
            Some(&1),
            "payment {id} applied {:?} times",
            applied.get(id)
        );
    }
    // Positions across the two issuers sum to zero.
    let p = net.get(1, "/v1/positions?window=0").await.1;
    assert_eq!(p["totals_minor"]["USD"], "0", "{p}");
    // And every node's history of wallet 0 has the same entries.
    let first = net
        .get(0, &format!("/v1/accounts/{}/history?limit=100", wallets[0]))
        .await
        .1;
    for i in 1..4 {
        let hi = net
            .get(i, &format!("/v1/accounts/{}/history?limit=100", wallets[0]))
            .await
            .1;
        assert_eq!(
            hi["entries"], first["entries"],
            "history differs on node{i}"
        );
    }
}
