//! The clearing day end to end, through the `settlenet` CLI against four real validator
//! processes: payments clear across members during the day; the clearing house closes the
//! window; a broken batch file is refused offline and on submit (every problem listed, nothing
//! submitted); a CSV batch and a pacs.008 (creditor by mobile number, credited to that wallet)
//! settle atomically, each with a pacs.002; the settlement report sums to zero; the receipt
//! verifies offline against the genesis alone and fails when any byte is tampered with; a
//! shortfall refuses a batch naming the member, and the same batch with `--policy unwind`
//! settles the rest; net debit caps stop a payment; a member statement's camt.053 balances.

mod common;

use common::{
    cli_fails, cli_json, cli_ok as ok, cli_outcome as run, register_phone_wallet, s,
    settlement_balance, start_net, user_key,
};
use serde_json::Value;
use std::path::Path;

fn minor(v: &Value) -> i128 {
    v.as_str()
        .map(|x| x.parse().expect("minor units"))
        .or_else(|| v.as_i64().map(i128::from))
        .unwrap_or_else(|| panic!("not minor units: {v}"))
}

/// The texts of every `<name>` element of an XML document (a small scan, enough for tests).
fn elements(xml: &str, name: &str) -> Vec<String> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(gt) = after.find('>') else { break };
        // `<TxSts>` and `<TxSts Ccy="..">`, not `<TxStsFoo>`.
        let head = &after[..gt];
        if !(head.is_empty() || head.starts_with(' ')) {
            rest = after;
            continue;
        }
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        out.push(body[..end].to_string());
        rest = &body[end..];
    }
    out
}

fn pacs008(msg_id: &str, txs: &[(&str, &str, &str, &str, Option<&str>)]) -> String {
    // (end-to-end id, debtor BIC, creditor BIC, amount, creditor mobile)
    let mut sum_cents = 0u64;
    let mut body = String::new();
    for (id, dbtr, cdtr, amount, mobile) in txs {
        let (w, f) = amount.split_once('.').expect("amount with cents");
        sum_cents += w.parse::<u64>().expect("w") * 100 + f.parse::<u64>().expect("f");
        let cdtr_party = mobile
            .map(|m| format!("<Cdtr><CtctDtls><MobNb>{m}</MobNb></CtctDtls></Cdtr>"))
            .unwrap_or_default();
        body.push_str(&format!(
            r#"
    <CdtTrfTxInf>
      <PmtId><InstrId>{id}-i</InstrId><EndToEndId>{id}</EndToEndId><TxId>{id}-t</TxId></PmtId>
      <IntrBkSttlmAmt Ccy="USD">{amount}</IntrBkSttlmAmt>
      <ChrgBr>SLEV</ChrgBr>
      <DbtrAgt><FinInstnId><BICFI>{dbtr}</BICFI></FinInstnId></DbtrAgt>
      <CdtrAgt><FinInstnId><BICFI>{cdtr}</BICFI></FinInstnId></CdtrAgt>
      {cdtr_party}
      <RmtInf><Ustrd>clearing day test</Ustrd></RmtInf>
    </CdtTrfTxInf>"#
        ));
    }
    let total = format!("{}.{:02}", sum_cents / 100, sum_cents % 100);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">
  <FIToFICstmrCdtTrf>
    <GrpHdr>
      <MsgId>{msg_id}</MsgId>
      <CreDtTm>2025-03-10T16:00:00Z</CreDtTm>
      <NbOfTxs>{}</NbOfTxs>
      <CtrlSum>{total}</CtrlSum>
      <TtlIntrBkSttlmAmt Ccy="USD">{total}</TtlIntrBkSttlmAmt>
      <SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf>
    </GrpHdr>{body}
  </FIToFICstmrCdtTrf>
</Document>
"#,
        txs.len()
    )
}

/// Change one character of `text` after the first occurrence of `marker` (the first digit or
/// hex character): a tampered receipt.
fn tamper(text: &str, marker: &str) -> String {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in the receipt"))
        + marker.len();
    let (i, c) = text[at..]
        .char_indices()
        .find(|(_, c)| c.is_ascii_hexdigit())
        .expect("a digit after the marker");
    let flipped = match c {
        '0'..='8' => ((c as u8) + 1) as char,
        '9' => '0',
        'a'..='e' => ((c as u8) + 1) as char,
        _ => '0',
    };
    let mut out = text.to_string();
    out.replace_range(at + i..at + i + 1, &flipped.to_string());
    assert_ne!(out, text);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clearing_day_through_the_cli() {
    let net = start_net().await;
    let dir = net.dir.path().join("net");
    let d = s(&dir);
    let genesis = dir.join("genesis.json");
    let g = s(&genesis);
    let tmp = net.dir.path();
    let alice = user_key(tmp, "alice");
    let bob = user_key(tmp, "bob");

    // ---- During the day: payments clear across members. ----
    let reg = |phone: &str, owner: &Path, issuer: &str| {
        register_phone_wallet(d, phone, owner, issuer, "2")
    };
    let wa = reg("+250 788 000 001", &alice, "operator-a");
    let wb = reg("+250 788 000 002", &bob, "bank-a");
    ok(&[
        "--testnet",
        d,
        "issue",
        "--wallet",
        &wa,
        "--amount",
        "200.00",
    ]);
    ok(&[
        "--testnet",
        d,
        "pay",
        "--key",
        s(&alice),
        "--to",
        "+250788000002",
        "--amount",
        "12.50",
    ]);
    // A net debit cap stops a payment that would take operator-a's unsettled debit above it.
    ok(&[
        "--testnet",
        d,
        "settlement",
        "cap",
        "--member",
        "operator-a",
        "--amount",
        "20.00",
    ]);
    let err = cli_fails(&[
        "--testnet",
        d,
        "pay",
        "--key",
        s(&alice),
        "--to",
        &wb,
        "--amount",
        "10.00",
    ]);
    assert!(err.contains("net_debit_cap_exceeded"), "{err}");
    ok(&[
        "--testnet",
        d,
        "settlement",
        "cap",
        "--member",
        "operator-a",
        "--none",
    ]);
    let liq = cli_json(&["--testnet", d, "settlement", "liquidity"]);
    let op = liq["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["member"] == "operator-a")
        .expect("operator-a")
        .clone();
    assert_eq!(op["unsettled_net"], "-12.50", "{liq}");
    assert!(op["net_debit_cap"].is_null(), "{liq}");

    // ---- Batch submit before any window is closed: 'close the window first'. ----
    let good_csv = tmp.join("day1.csv");
    std::fs::write(
        &good_csv,
        "id,debtor,creditor,amount,currency,reference\n\
         inv-1,bank-a,bank-b,100.00,USD,March invoice\n\
         inv-2,BNKBRWRWXXX,operator-a,40.00,USD,\n\
         inv-3,bank-a,CLRHRWRWXXX,5.25,USD,fees\n",
    )
    .expect("write csv");
    let err = cli_fails(&["--testnet", d, "batch", "submit", s(&good_csv)]);
    assert!(err.contains("close the window first"), "{err}");

    // ---- The clearing house closes window 0. ----
    let v = cli_json(&["--testnet", d, "window", "close"]);
    assert_eq!(v["status"], "committed", "{v}");
    assert_eq!(v["window"], 0);
    let v = cli_json(&["--testnet", d, "window", "list"]);
    assert_eq!(v["open_window"], 1, "{v}");
    let w0 = &v["windows"][0];
    assert_eq!(w0["state"], "closed", "{v}");
    // Closing it again names a window that is no longer open: refused, nothing changes.
    let err = cli_fails(&["--testnet", d, "window", "close", "--window", "0"]);
    assert!(err.contains("window_not_open"), "{err}");

    // ---- A broken file: every problem listed, offline and on submit; nothing submitted. ----
    let bad = tmp.join("bad.csv");
    std::fs::write(
        &bad,
        "id,debtor,creditor,amount,currency\n\
         ok-1,bank-a,bank-b,1.00,USD\n\
         bad-1,bank-a,NOSUCHBANKXX,2.00,USD\n\
         bad-2,bank-a,bank-b,1.005,USD\n\
         ok-1,bank-b,bank-a,3.00,USD\n",
    )
    .expect("write bad csv");
    let (good, out, err) = run(&["batch", "check", s(&bad), "--genesis", g]);
    assert!(!good, "a bad file must fail the check: {out}");
    assert!(out.contains("line 3") && out.contains("creditor"), "{out}");
    assert!(out.contains("line 4") && out.contains("amount"), "{out}");
    assert!(out.contains("line 5") && out.contains("id"), "{out}");
    assert!(err.contains("nothing was submitted"), "{err}");
    let (good, out, _) = run(&["--testnet", d, "batch", "submit", s(&bad)]);
    assert!(!good);
    assert!(out.contains("line 3") && out.contains("line 4"), "{out}");
    let v = cli_json(&["--testnet", d, "window", "list"]);
    assert!(v["staging_batch"].is_null(), "{v}");
    assert_eq!(
        v["windows"][0]["state"], "closed",
        "nothing was staged: {v}"
    );

    // ---- The good CSV: offline check, then submit with a pacs.002. ----
    let out = ok(&["batch", "check", s(&good_csv), "--genesis", g]);
    assert!(
        out.contains("inv-1") && out.contains("bank-a") && out.contains("bank-b"),
        "{out}"
    );
    assert!(
        out.contains("clearing-house") && out.contains("file OK"),
        "{out}"
    );
    let v = cli_json(&["batch", "check", s(&good_csv), "--genesis", g]);
    assert_eq!(v["count"], 3);
    assert_eq!(v["total"], "145.25");
    let p002 = tmp.join("day1-pacs002.xml");
    let v = cli_json(&[
        "--testnet",
        d,
        "batch",
        "submit",
        s(&good_csv),
        "--pacs002",
        s(&p002),
    ]);
    assert_eq!(v["status"], "settled", "{v}");
    assert_eq!(v["window"], 0);
    assert_eq!(v["instructions"], 3);
    let batch1 = v["batch"].as_str().expect("batch id").to_string();
    let xml = std::fs::read_to_string(&p002).expect("pacs.002");
    assert!(xml.contains("pacs.002.001"), "{xml}");
    assert_eq!(elements(&xml, "GrpSts"), vec!["ACSC"], "{xml}");
    assert_eq!(elements(&xml, "TxSts"), vec!["ACSC"; 3], "{xml}");
    assert_eq!(
        elements(&xml, "OrgnlInstrId"),
        vec!["inv-1", "inv-2", "inv-3"],
        "{xml}"
    );
    // Re-running the same command resumes: already settled, nothing happens twice.
    let again = cli_json(&[
        "--testnet",
        d,
        "batch",
        "submit",
        s(&good_csv),
        "--window",
        "0",
    ]);
    assert_eq!(again["batch"], batch1.as_str());
    assert_eq!(again["status"], "settled", "{again}");
    // ...and so does the command exactly as first typed (no --window): the window it settled is
    // found from the batch id.
    let again = cli_json(&["--testnet", d, "batch", "submit", s(&good_csv)]);
    assert_eq!(again["batch"], batch1.as_str());
    assert_eq!(again["status"], "settled", "{again}");
    assert_eq!(again["window"], 0, "{again}");
    let st = cli_json(&["--testnet", d, "batch", "status", &batch1]);
    assert_eq!(st["state"], "settled", "{st}");
    assert_eq!(st["instructions"], 3);

    // ---- The settlement report sums to zero. ----
    let rep = cli_json(&["--testnet", d, "settlement", "report", "--window", "0"]);
    assert_eq!(rep["state"], "settled", "{rep}");
    assert_eq!(rep["totals"]["net_minor"], "0", "{rep}");
    assert_eq!(rep["totals"]["settled_minor"], "0", "{rep}");
    let line = |m: &str| {
        rep["report"]
            .as_array()
            .expect("report")
            .iter()
            .find(|l| l["member"] == m)
            .unwrap_or_else(|| panic!("{m} in the report"))
            .clone()
    };
    // bank-a: pays 100.00 + 5.25 in the file, receives 12.50 from the day's payment.
    assert_eq!(line("bank-a")["net"], "-92.75", "{rep}");
    assert_eq!(line("bank-a")["settled"], "-92.75", "{rep}");
    assert_eq!(line("operator-a")["net"], "27.50", "{rep}");
    let csv = ok(&[
        "--testnet",
        d,
        "settlement",
        "report",
        "--window",
        "0",
        "--format",
        "csv",
    ]);
    assert!(
        csv.starts_with("member,sent,received,net,settled,carried"),
        "{csv}"
    );
    let total = csv.lines().last().expect("totals line");
    assert!(total.starts_with("TOTAL,"), "{csv}");
    let cols: Vec<&str> = total.split(',').collect();
    assert_eq!((cols[3], cols[4]), ("0.00", "0.00"), "{csv}");
    let text = ok(&["--testnet", d, "settlement", "report", "--window", "0"]);
    assert!(text.contains("sum to zero: yes"), "{text}");

    // ---- The receipt, verified offline; any tampered byte fails. ----
    let receipt = tmp.join("receipt.json");
    ok(&[
        "--testnet",
        d,
        "receipt",
        "get",
        &batch1,
        "--out",
        s(&receipt),
    ]);
    let out = ok(&["receipt", "verify", s(&receipt), "--genesis", g]);
    assert!(out.contains("receipt VALID"), "{out}");
    let v = cli_json(&["receipt", "verify", s(&receipt), "--genesis", g]);
    assert_eq!(v["valid"], true);
    let original = std::fs::read_to_string(&receipt).expect("receipt");
    for marker in [
        "\"credits_posted\"",
        "\"debits_posted\"",
        "\"signature\"",
        "\"state_root\"",
    ] {
        let bad = tmp.join("tampered.json");
        std::fs::write(&bad, tamper(&original, marker)).expect("write");
        let (good, out, err) = run(&["receipt", "verify", s(&bad), "--genesis", g]);
        assert!(!good, "a receipt tampered at {marker} verified: {out}");
        assert!(
            out.contains("INVALID") || err.contains("INVALID"),
            "{out}{err}"
        );
    }
    // Every byte, not just those four: each letter or digit of the file changed in turn (a
    // digit to the next digit, a letter to the next letter, so never to the same value in
    // another case) is refused by the offline verification.
    let genesis: settlenet_types::Genesis =
        serde_json::from_str(&std::fs::read_to_string(g).expect("genesis")).expect("genesis");
    settlenet_node::receipt::verify_receipt(&genesis, original.as_bytes()).expect("valid");
    let mut accepted = Vec::new();
    let mut tried = 0usize;
    for (i, c) in original.bytes().enumerate() {
        let other = match c {
            b'0'..=b'8' | b'a'..=b'y' | b'A'..=b'Y' => c + 1,
            b'9' => b'0',
            b'z' => b'a',
            b'Z' => b'A',
            _ => continue,
        };
        let mut bytes = original.as_bytes().to_vec();
        bytes[i] = other;
        tried += 1;
        if settlenet_node::receipt::verify_receipt(&genesis, &bytes).is_ok() {
            let from = i.saturating_sub(40);
            accepted.push(format!(
                "byte {i}: …{}…",
                &original[from..(i + 10).min(original.len())]
            ));
        }
    }
    assert!(tried > 5_000, "{tried}");
    assert!(
        accepted.is_empty(),
        "tampered receipts accepted:\n{}",
        accepted.join("\n")
    );
    // An unsettled batch has no receipt.
    let err = cli_fails(&[
        "--testnet",
        d,
        "receipt",
        "get",
        "00000000000000000000000000000001",
        "--out",
        s(&tmp.join("none.json")),
    ]);
    assert!(err.contains("no receipt"), "{err}");

    // ---- A pacs.008: a creditor by mobile number, credited to that wallet. ----
    ok(&["--testnet", d, "window", "close"]);
    let x008 = tmp.join("pacs008.xml");
    std::fs::write(
        &x008,
        pacs008(
            "MSG-DAY2",
            &[
                (
                    "e2e-1",
                    "BNKARWRWXXX",
                    "OPRARWRWXXX",
                    "7.00",
                    Some("+250-788-000-001"),
                ),
                ("e2e-2", "BNKBRWRWXXX", "BNKARWRWXXX", "3.50", None),
            ],
        ),
    )
    .expect("write pacs.008");
    let out = ok(&["batch", "check", s(&x008), "--genesis", g]);
    assert!(out.contains("phone wallet (resolved at submit)"), "{out}");
    // The JSON format, checked offline: members by name, BIC or clearing id; a problem is
    // located by its JSON path.
    let json_file = tmp.join("day.json");
    std::fs::write(
        &json_file,
        r#"{"currency": "USD", "instructions": [
            {"id": "j-1", "debtor": "bank-a", "creditor": "BNKBRWRW", "amount": "1.25", "currency": "USD"},
            {"id": "j-2", "debtor": "operator-a", "creditor": "bank-a", "amount": "2.00", "currency": "USD", "reference": "inv 7"}
        ]}"#,
    )
    .expect("write json");
    let v = cli_json(&["batch", "check", s(&json_file), "--genesis", g]);
    assert_eq!(v["count"], 2, "{v}");
    let bad_json = tmp.join("bad.json");
    std::fs::write(
        &bad_json,
        r#"{"currency": "USD", "instructions": [
            {"id": "j-1", "debtor": "bank-a", "creditor": "bank-b", "amount": "1.255", "currency": "USD"}
        ]}"#,
    )
    .expect("write json");
    let (good, out, err) = run(&["batch", "check", s(&bad_json), "--genesis", g]);
    assert!(!good, "{out}");
    assert!(out.contains("/instructions/0/amount"), "{out}{err}");
    assert!(err.contains("1 problem"), "{err}");
    let before = cli_json(&["--testnet", d, "balance", &wa]);
    let p002b = tmp.join("day2-pacs002.xml");
    let v = cli_json(&[
        "--testnet",
        d,
        "batch",
        "submit",
        s(&x008),
        "--pacs002",
        s(&p002b),
    ]);
    assert_eq!(v["status"], "settled", "{v}");
    assert_eq!(v["window"], 1);
    let after = cli_json(&["--testnet", d, "balance", &wa]);
    assert_eq!(
        minor(&after["balance_minor"]) - minor(&before["balance_minor"]),
        700,
        "the mobile creditor's wallet is credited 7.00"
    );
    let xml = std::fs::read_to_string(&p002b).expect("pacs.002");
    assert_eq!(elements(&xml, "OrgnlMsgId"), vec!["MSG-DAY2"], "{xml}");
    assert_eq!(elements(&xml, "OrgnlEndToEndId"), vec!["e2e-1", "e2e-2"]);
    assert_eq!(elements(&xml, "TxSts"), vec!["ACSC"; 2], "{xml}");
    // An unknown mobile number: refused before anything is sent.
    ok(&["--testnet", d, "window", "close"]);
    let x_unknown = tmp.join("unknown-mobile.xml");
    std::fs::write(
        &x_unknown,
        pacs008(
            "MSG-X",
            &[(
                "e2e-x",
                "BNKARWRWXXX",
                "OPRARWRWXXX",
                "1.00",
                Some("+250788999999"),
            )],
        ),
    )
    .expect("write");
    let err = cli_fails(&["--testnet", d, "batch", "submit", s(&x_unknown)]);
    assert!(err.contains("e2e-x") && err.contains("no wallet"), "{err}");
    assert!(!err.contains("788999999"), "the number leaked: {err}");
    let v = cli_json(&["--testnet", d, "window", "list"]);
    assert!(v["staging_batch"].is_null(), "{v}");

    // ---- A shortfall: bank-b drained, the batch refused naming it; then unwound. ----
    let bal = settlement_balance(d, "bank-b");
    let drain = format!("{}.{:02}", (bal - 100) / 100, (bal - 100) % 100);
    ok(&[
        "--testnet",
        d,
        "settlement",
        "withdraw",
        "--member",
        "bank-b",
        "--amount",
        &drain,
    ]);
    assert_eq!(settlement_balance(d, "bank-b"), 100);
    let short_csv = tmp.join("day3.csv");
    std::fs::write(
        &short_csv,
        "id,debtor,creditor,amount,currency\n\
         s-1,bank-b,bank-a,50.00,USD\n\
         s-2,bank-a,operator-a,10.00,USD\n",
    )
    .expect("write");
    let id = "5e771e0000000000000000000000d3a3";
    let p002c = tmp.join("day3-pacs002.xml");
    let (good, out, err) = run(&[
        "--testnet",
        d,
        "batch",
        "submit",
        s(&short_csv),
        "--id",
        id,
        "--pacs002",
        s(&p002c),
    ]);
    assert!(!good, "a shortfall must fail: {out}");
    assert!(
        out.contains("REFUSED") && out.contains("settlement_shortfall"),
        "{out}"
    );
    assert!(
        out.contains("bank-b") && out.contains("shortfall 49.00"),
        "{out}"
    );
    assert!(err.contains("refused"), "{err}");
    let xml = std::fs::read_to_string(&p002c).expect("pacs.002");
    assert_eq!(elements(&xml, "TxSts"), vec!["RJCT"; 2], "{xml}");
    assert!(xml.contains("<Cd>AM04</Cd>"), "{xml}");
    assert_eq!(settlement_balance(d, "bank-b"), 100, "nothing moved");
    let st = cli_json(&["--testnet", d, "batch", "status", id]);
    assert_eq!(st["state"], "staging", "{st}");
    // The same batch with --policy unwind: bank-b's obligations are carried, the rest settles.
    let v = cli_json(&[
        "--testnet",
        d,
        "batch",
        "submit",
        s(&short_csv),
        "--id",
        id,
        "--policy",
        "unwind",
        "--pacs002",
        s(&p002c),
    ]);
    assert_eq!(v["status"], "settled", "{v}");
    let w = v["window"].as_u64().expect("window");
    assert_eq!(v["unwound"][0]["member"], "bank-b", "{v}");
    let xml = std::fs::read_to_string(&p002c).expect("pacs.002");
    assert_eq!(elements(&xml, "TxSts"), vec!["RJCT", "ACSC"], "{xml}");
    assert_eq!(elements(&xml, "GrpSts"), vec!["PART"], "{xml}");
    let rep = cli_json(&[
        "--testnet",
        d,
        "settlement",
        "report",
        "--window",
        &w.to_string(),
    ]);
    assert_eq!(rep["totals"]["net_minor"], "0", "{rep}");
    assert_eq!(rep["totals"]["settled_minor"], "0", "{rep}");
    assert_eq!(rep["totals"]["carried_minor"], "0", "{rep}");
    let text = ok(&[
        "--testnet",
        d,
        "settlement",
        "report",
        "--window",
        &w.to_string(),
    ]);
    assert!(text.contains("unwound: bank-b"), "{text}");
    let out = ok(&[
        "--testnet",
        d,
        "batch",
        "status",
        id,
        "--pacs002",
        s(&tmp.join("st.xml")),
        "--file",
        s(&short_csv),
    ]);
    assert!(
        out.contains("settled") && out.contains("unwound: bank-b"),
        "{out}"
    );

    // ---- Abort: a staged batch is discarded, its window closed again. ----
    // Window 3 holds bank-b's carried obligation; bank-b is still short, so the batch stays
    // staged after its refused settlement, and the clerk aborts it.
    let v = cli_json(&["--testnet", d, "window", "close"]);
    let w3 = v["window"].as_u64().expect("window");
    assert_eq!(
        w3,
        w + 1,
        "the carried obligations went to the window opened by the close"
    );
    let id2 = "ab0e7ed000000000000000000000000a";
    let (good, out, _) = run(&[
        "--testnet",
        d,
        "batch",
        "submit",
        s(&short_csv),
        "--id",
        id2,
    ]);
    assert!(!good, "{out}");
    assert!(out.contains("bank-b"), "{out}");
    let v = cli_json(&["--testnet", d, "batch", "abort", id2]);
    assert_eq!(v["status"], "committed", "{v}");
    let st = cli_json(&["--testnet", d, "batch", "status", id2]);
    assert_eq!(st["state"], "aborted", "{st}");
    let v = cli_json(&["--testnet", d, "window", "list"]);
    assert!(v["staging_batch"].is_null(), "{v}");
    let err = cli_fails(&[
        "--testnet",
        d,
        "batch",
        "submit",
        s(&short_csv),
        "--id",
        id2,
    ]);
    assert!(err.contains("aborted"), "{err}");

    // ---- A statement of bank-b's settlement account: opening + entries = closing. ----
    let camt = tmp.join("bank-b-camt053.xml");
    let v = cli_json(&[
        "--testnet",
        d,
        "statement",
        "--member",
        "bank-b",
        "--camt053",
        s(&camt),
    ]);
    let opening = minor(&v["opening_minor"]);
    let closing = minor(&v["closing_minor"]);
    let entries: i128 = v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| minor(&e["amount_minor"]))
        .sum();
    assert_eq!(opening + entries, closing, "{v}");
    assert_eq!(closing, settlement_balance(d, "bank-b"), "{v}");
    assert_eq!(opening, 100_000_000, "the genesis balance: {v}");
    assert!(v["entries"].as_array().expect("entries").len() >= 3, "{v}");
    let xml = std::fs::read_to_string(&camt).expect("camt.053");
    assert!(xml.contains("camt.053.001.02"), "{xml}");
    assert!(
        xml.contains("<Cd>OPBD</Cd>") && xml.contains("<Cd>CLBD</Cd>"),
        "{xml}"
    );
    assert_eq!(
        elements(&xml, "Ntry").len(),
        v["entries"].as_array().expect("entries").len()
    );
    // A period in the future holds no entry: opening = closing = the balance now.
    let v = cli_json(&[
        "--testnet",
        d,
        "statement",
        "--member",
        "bank-b",
        "--from",
        "2999-01-01",
        "--to",
        "2999-01-31",
    ]);
    assert_eq!(v["opening_minor"], v["closing_minor"], "{v}");
}
