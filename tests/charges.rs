//! The purchase flow end to end, through the `settlenet` CLI against four real validator
//! processes: a shop (merchant at bank-b) creates charge requests; Alice (a phone wallet at
//! operator-a) and Bob (bank-a) approve them from the QR payload; the shop captures; one
//! request is declined, one cancelled, one expires; a tampered payload is refused before
//! anything is signed. `charge wait` and the event stream show every change of a request's
//! state once; pain.013/pain.014 are written; the clearing day settles the interbank
//! obligations the captures created.

mod common;

use common::{
    cli, cli_fails, cli_json, register_phone_wallet, s, settlement_balance, start_net, user_key,
};
use serde_json::Value;
use settlenet_api::client::EventsRequest;
use settlenet_api::StreamEvent;
use settlenet_types::{AccountId, Height};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn create(d: &str, args: &[&str]) -> Value {
    let mut all = vec!["--testnet", d, "charge", "create"];
    all.extend_from_slice(args);
    let v = cli_json(&all);
    assert_eq!(v["tx"]["status"], "committed", "{v}");
    v["charge"].clone()
}

fn status(d: &str, id: &str) -> Value {
    cli_json(&["--testnet", d, "charge", "show", id])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charge_requests_from_creation_to_settlement() {
    let net = start_net().await;
    let dir = net.dir.path().join("net");
    let d = s(&dir);
    let alice = user_key(net.dir.path(), "alice");
    let bob = user_key(net.dir.path(), "bob");
    let shop = user_key(net.dir.path(), "shop");

    let reg = |phone: &str, owner: &Path, issuer: &str| {
        register_phone_wallet(d, phone, owner, issuer, "1")
    };
    let wa = reg("+250 706 103 88", &alice, "operator-a");
    let wb = reg("+250 788 123 456", &bob, "bank-a");
    for w in [&wa, &wb] {
        cli_json(&["--testnet", d, "issue", "--wallet", w, "--amount", "100.00"]);
    }
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
    let before: Vec<i128> = ["operator-a", "bank-a", "bank-b"]
        .iter()
        .map(|m| settlement_balance(d, m))
        .collect();

    // ---- A: the shop asks Alice (by phone) for 25.00; she approves from the QR payload. ----
    let a = create(
        d,
        &[
            "--merchant",
            &wm,
            "--amount",
            "25.00",
            "--reference",
            "order-1001",
            "--payer",
            "+250 706 103 88",
            "--key",
            s(&shop),
            "--qr",
        ],
    );
    let a_id = a["id"].as_str().expect("id").to_string();
    let a_entry: AccountId = a["entry"]
        .as_str()
        .expect("entry")
        .parse()
        .expect("entry id");
    assert_eq!(a["status"], "pending");
    assert_eq!(
        a["payer"],
        wa.as_str(),
        "the phone resolved to Alice's wallet: {a}"
    );
    assert_eq!(a["amount"], "25.00");
    let payload = a["payload"].as_str().expect("payload").to_string();
    assert!(payload.starts_with("settlenet:charge?v=1&"), "{payload}");
    assert!(
        !payload.contains("706103"),
        "the number is not in the payload: {payload}"
    );
    // Hostile reads: not an id, an unknown id.
    let (code, body) = net.get(0, "/v1/charges/not-an-id").await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (400, Some("invalid_id")),
        "{body}"
    );
    let (code, body) = net.get(0, &format!("/v1/charges/{}", "0".repeat(32))).await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (404, Some("charge_not_found")),
        "{body}"
    );
    // A charge's entry is not another account kind's: a wallet id is no charge id.
    let (code, _) = net.get(0, &format!("/v1/charges/{wa}")).await;
    assert_eq!(code, 404);
    // The human form draws the QR code.
    let out = cli(&["--testnet", d, "charge", "show", &a_id, "--qr"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("pending") && text.contains('█'),
        "{text}"
    );

    // The point of sale waits on it (no polling: the event stream) while the payer acts.
    let mut waiter = Command::new(common::BIN)
        .args([
            "--json",
            "--testnet",
            d,
            "charge",
            "wait",
            &a_id,
            "--until",
            "completed",
            "--timeout",
            "120",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn charge wait");
    let (line_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let waiter_out = waiter.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(waiter_out)
            .lines()
            .map_while(Result::ok)
        {
            let _ = line_tx.send(line);
        }
    });
    // It has read the request (pending) before anyone acts on it.
    let first = lines_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("charge wait started");

    // A payload altered on the way is refused before anything is signed.
    let tampered = payload.replace("&a=2500&", "&a=250&");
    assert_ne!(tampered, payload);
    let err = cli_fails(&[
        "--testnet",
        d,
        "charge",
        "approve",
        "--payload",
        &tampered,
        "--key",
        s(&alice),
    ]);
    assert!(
        err.contains("amount is 250 in the payload but 2500 on the ledger"),
        "{err}"
    );
    // Bob is not the named payer: the ledger refuses.
    let err = cli_fails(&[
        "--testnet",
        d,
        "charge",
        "approve",
        &a_id,
        "--key",
        s(&bob),
        "--from",
        &wb,
    ]);
    assert!(err.contains("wrong_payer"), "{err}");
    let v = cli_json(&[
        "--testnet",
        d,
        "charge",
        "approve",
        "--payload",
        &payload,
        "--key",
        s(&alice),
    ]);
    assert_eq!(v["status"], "committed", "{v}");
    let err = cli_fails(&[
        "--testnet",
        d,
        "charge",
        "approve",
        &a_id,
        "--key",
        s(&alice),
    ]);
    assert!(err.contains("approved: only a pending request"), "{err}");
    let v = status(d, &a_id);
    assert_eq!(v["status"], "approved");
    assert_eq!(v["approved_by"], wa.as_str());
    assert_eq!(
        cli_json(&["--testnet", d, "balance", &wa])["debits_pending"],
        "2500"
    );
    // The shop captures it all (its own key).
    let v = cli_json(&[
        "--testnet",
        d,
        "charge",
        "capture",
        &a_id,
        "--key",
        s(&shop),
    ]);
    assert_eq!(v["status"], "committed", "{v}");
    let out = waiter.wait_with_output().expect("charge wait");
    reader.join().expect("reader");
    let lines: Vec<String> = std::iter::once(first).chain(lines_rx.try_iter()).collect();
    assert!(
        out.status.success(),
        "{lines:?}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("json line")["status"]
                .as_str()
                .expect("status")
                .to_string()
        })
        .collect();
    assert_eq!(seen, ["pending", "approved", "completed"], "{lines:?}");
    let v = status(d, &a_id);
    assert_eq!(
        (v["status"].as_str(), v["captured_minor"].as_str()),
        (Some("completed"), Some("2500"))
    );

    // The event stream of A's entry: each change of its state once, in order.
    let created = v["created_height"].as_u64().expect("height");
    let mut stream = net
        .client(1)
        .events(EventsRequest {
            from: Some(created),
            account: Some(a_entry),
            after: None,
        })
        .expect("stream");
    let mut ops = Vec::new();
    let head = net.height(1).await;
    loop {
        let e = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("event in time")
            .expect("event");
        match e {
            StreamEvent::Tx(t) => {
                assert!(t.changed.contains(&a_entry));
                ops.push((t.op.clone(), t.result.clone()));
            }
            StreamEvent::Block(b) => {
                assert!(b.expired.is_empty(), "A never expired");
                if b.height >= Height(head) {
                    break;
                }
            }
        }
    }
    let ok = |op: &str| (op.to_string(), "ok".to_string());
    // (Bob's refused approval changed nothing, so it is not among A's events.)
    assert_eq!(
        ops,
        [ok("create_charge"), ok("approve_charge"), ok("capture")]
    );

    // ---- B: an open request (a QR on the counter); Bob approves, the shop captures part. ----
    let b = create(
        d,
        &[
            "--merchant",
            &wm,
            "--amount",
            "10.00",
            "--reference",
            "table 7",
            "--key",
            s(&shop),
        ],
    );
    let b_id = b["id"].as_str().expect("id").to_string();
    let b_payload = b["payload"].as_str().expect("payload").to_string();
    assert!(b_payload.contains("&r=table%207"), "{b_payload}");
    cli_json(&[
        "--testnet",
        d,
        "charge",
        "approve",
        "--payload",
        &b_payload,
        "--key",
        s(&bob),
    ]);
    // The acquirer's staff key by default with --testnet.
    let v = cli_json(&[
        "--testnet",
        d,
        "charge",
        "capture",
        &b_id,
        "--amount",
        "4.00",
    ]);
    assert_eq!(v["status"], "committed", "{v}");
    assert_eq!(status(d, &b_id)["status"], "completed");
    assert_eq!(
        cli_json(&["--testnet", d, "balance", &wb])["balance"],
        "96.00"
    );

    // ---- C: declined by the named payer; D: cancelled; E: expires. ----
    let c = create(
        d,
        &[
            "--merchant",
            &wm,
            "--amount",
            "5.00",
            "--reference",
            "C",
            "--payer",
            &wb,
            "--key",
            s(&shop),
        ],
    );
    let c_id = c["id"].as_str().expect("id").to_string();
    let err = cli_fails(&[
        "--testnet",
        d,
        "charge",
        "decline",
        &c_id,
        "--key",
        s(&alice),
        "--from",
        &wa,
    ]);
    assert!(err.contains("wrong_payer"), "{err}");
    cli_json(&["--testnet", d, "charge", "decline", &c_id, "--key", s(&bob)]);
    assert_eq!(status(d, &c_id)["status"], "declined");
    let err = cli_fails(&["--testnet", d, "charge", "approve", &c_id, "--key", s(&bob)]);
    assert!(err.contains("declined"), "{err}");
    let e = create(
        d,
        &[
            "--merchant",
            &wm,
            "--amount",
            "6.00",
            "--reference",
            "E",
            "--expires-in",
            "2",
            "--key",
            s(&shop),
        ],
    );
    let e_id = e["id"].as_str().expect("id").to_string();
    let e_entry: AccountId = e["entry"]
        .as_str()
        .expect("entry")
        .parse()
        .expect("entry id");
    let dd = create(
        d,
        &[
            "--merchant",
            &wm,
            "--amount",
            "7.00",
            "--reference",
            "D",
            "--key",
            s(&shop),
        ],
    );
    let d_id = dd["id"].as_str().expect("id").to_string();
    let err = cli_fails(&[
        "--testnet",
        d,
        "charge",
        "cancel",
        &d_id,
        "--key",
        s(&alice),
    ]);
    assert!(err.contains("forbidden_signer"), "{err}");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    // This block's start sweeps E (its time is past E's expiry).
    cli_json(&["--testnet", d, "charge", "cancel", &d_id]);
    assert_eq!(status(d, &d_id)["status"], "cancelled");
    let v = status(d, &e_id);
    assert_eq!(v["status"], "expired", "{v}");
    assert!(
        v["status_tx"].is_null(),
        "expired by consensus time, not a transaction: {v}"
    );
    let err = cli_fails(&["--testnet", d, "charge", "approve", &e_id, "--key", s(&bob)]);
    assert!(err.contains("expired"), "{err}");
    let out = cli(&[
        "--testnet",
        d,
        "charge",
        "wait",
        &e_id,
        "--until",
        "completed",
        "--timeout",
        "10",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ended expired"),
        "{out:?}"
    );
    // The expiry is on the stream once, in the block event of the block that swept it.
    let mut stream = net
        .client(2)
        .events(EventsRequest {
            from: Some(e["created_height"].as_u64().expect("height")),
            account: Some(e_entry),
            after: None,
        })
        .expect("stream");
    let head = net.height(2).await;
    let (mut expiries, mut txs) = (0, 0);
    loop {
        match stream.next().await.expect("event") {
            StreamEvent::Tx(_) => txs += 1,
            StreamEvent::Block(b) => {
                expiries += b.expired.iter().filter(|x| **x == e_entry).count();
                assert!(
                    b.expired.iter().all(|x| *x == e_entry),
                    "filtered to the account"
                );
                if b.height >= Height(head) {
                    break;
                }
            }
        }
    }
    // Its creation, then the expiry once.
    assert_eq!((txs, expiries), (1, 1));

    // ---- ISO 20022: the request as pain.013, each outcome as pain.014. ----
    let xml = String::from_utf8_lossy(
        &cli(&["--testnet", d, "charge", "export", &a_id, "--pain013"]).stdout,
    )
    .into_owned();
    assert!(
        xml.contains("<CdtrPmtActvtnReq>") && xml.contains("<EndToEndId>order-1001</EndToEndId>"),
        "{xml}"
    );
    assert!(
        xml.contains("<InstdAmt Ccy=\"USD\">25.00</InstdAmt>"),
        "{xml}"
    );
    for (id, code, reason) in [
        (&a_id, "ACSC", None),
        (&c_id, "RJCT", Some("CUST")),
        (&d_id, "RJCT", Some("DS02")),
        (&e_id, "RJCT", Some("AEXR")),
    ] {
        let file = net.dir.path().join(format!("{id}-pain014.xml"));
        cli(&[
            "--testnet",
            d,
            "charge",
            "export",
            id,
            "--pain014",
            "--out",
            s(&file),
        ]);
        let xml = std::fs::read_to_string(&file).expect("pain.014");
        assert!(xml.contains(&format!("<TxSts>{code}</TxSts>")), "{xml}");
        if let Some(r) = reason {
            assert!(xml.contains(&format!("<Cd>{r}</Cd>")), "{xml}");
        }
    }

    // ---- The clearing day settles what the captures created across members. ----
    let v = cli_json(&["--testnet", d, "window", "close"]);
    assert_eq!(v["window"], 0, "{v}");
    let csv = net.dir.path().join("day.csv");
    std::fs::write(
        &csv,
        "id,debtor,creditor,amount,currency,reference\ninv-1,bank-a,bank-b,1.00,USD,\n",
    )
    .expect("csv");
    let v = cli_json(&["--testnet", d, "batch", "submit", s(&csv)]);
    assert_eq!(v["status"], "settled", "{v}");
    let after: Vec<i128> = ["operator-a", "bank-a", "bank-b"]
        .iter()
        .map(|m| settlement_balance(d, m))
        .collect();
    // Alice's issuer owes the shop's acquirer 25.00, Bob's 4.00 (+ the file's 1.00).
    assert_eq!(
        [
            after[0] - before[0],
            after[1] - before[1],
            after[2] - before[2]
        ],
        [-2_500, -500, 3_000]
    );
}
