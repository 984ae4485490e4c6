//! pacs.002 and camt.053: written, then read back with quick-xml.

mod common;

use common::*;
use quick_xml::events::Event;
use settlenet_batchfile::{
    parse_file, write_camt053, write_pacs002, ParseOptions, Period, ReasonCode, Statement,
    StatementEntry, StatusReason, StatusReport, TxStatus, TxStatusEntry,
};

/// (path of local names, text) of every text-bearing element, and attributes as `path/@name`.
fn flatten(xml: &str) -> Vec<(String, String)> {
    let mut r = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut text = String::new();
    loop {
        match r.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                let n = e.local_name();
                let n: &str = n.as_ref();
                stack.push(n.to_string());
                for a in e.attributes().flatten() {
                    let k = a.key.local_name();
                    let k: &str = k.as_ref();
                    if !a.key.as_ref().starts_with("xmlns") {
                        out.push((format!("{}/@{k}", stack.join("/")), a.value.to_string()));
                    }
                }
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.xml_content(quick_xml::XmlVersion::Implicit1_0)),
            Event::GeneralRef(g) => {
                let s = quick_xml::escape::resolve_predefined_entity(&g).expect("predefined");
                text.push_str(s);
            }
            Event::End(_) => {
                if !text.trim().is_empty() {
                    out.push((stack.join("/"), text.trim().to_string()));
                }
                text.clear();
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn values<'a>(flat: &'a [(String, String)], suffix: &str) -> Vec<&'a str> {
    flat.iter()
        .filter(|(p, _)| p.ends_with(suffix))
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn pacs002_round_trip() {
    let report = StatusReport {
        message_id: "STS-1".into(),
        created_ms: 1_741_611_600_000,
        original_message_id: "20250310B1QDRCQR000001".into(),
        original_message_name: "pacs.008.001.08".into(),
        group_reasons: vec![],
        transactions: vec![
            TxStatusEntry {
                original_instr_id: Some("I1".into()),
                original_end_to_end_id: Some("E1".into()),
                original_tx_id: None,
                status: TxStatus::Acsc,
                reason: None,
            },
            TxStatusEntry {
                original_instr_id: Some("I<2>&".into()),
                original_end_to_end_id: None,
                original_tx_id: Some("T2".into()),
                status: TxStatus::Rjct,
                reason: Some(StatusReason {
                    code: ReasonCode::InsufficientFunds,
                    additional_info: Some("bank-a cannot cover 5000.00 USD \"now\"".into()),
                }),
            },
            TxStatusEntry {
                original_instr_id: Some("I3".into()),
                original_end_to_end_id: None,
                original_tx_id: None,
                status: TxStatus::Acsp,
                reason: None,
            },
        ],
    };
    assert_eq!(report.group_status(), "PART");
    let xml = write_pacs002(&report);
    let flat = flatten(&xml);
    assert!(xml.contains("urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"));
    assert_eq!(values(&flat, "GrpHdr/MsgId"), ["STS-1"]);
    assert_eq!(
        values(&flat, "GrpHdr/CreDtTm"),
        ["2025-03-10T13:00:00.000Z"]
    );
    assert_eq!(
        values(&flat, "OrgnlGrpInfAndSts/OrgnlMsgId"),
        ["20250310B1QDRCQR000001"]
    );
    assert_eq!(values(&flat, "OrgnlMsgNmId"), ["pacs.008.001.08"]);
    assert_eq!(values(&flat, "GrpSts"), ["PART"]);
    assert_eq!(values(&flat, "TxInfAndSts/TxSts"), ["ACSC", "RJCT", "ACSP"]);
    assert_eq!(
        values(&flat, "TxInfAndSts/OrgnlInstrId"),
        ["I1", "I<2>&", "I3"]
    );
    assert_eq!(values(&flat, "OrgnlEndToEndId"), ["E1"]);
    assert_eq!(values(&flat, "OrgnlTxId"), ["T2"]);
    assert_eq!(values(&flat, "StsRsnInf/Rsn/Cd"), ["AM04"]);
    assert_eq!(
        values(&flat, "StsRsnInf/AddtlInf"),
        ["bank-a cannot cover 5000.00 USD \"now\""]
    );
    // Same element vocabulary as the public CBPR+ sample.
    let sample = std::fs::read_to_string(sample("cbpr-pacs002-accepted.xml")).expect("sample");
    let theirs = flatten(&sample);
    for leaf in [
        "FIToFIPmtStsRpt/GrpHdr/MsgId",
        "TxInfAndSts/OrgnlInstrId",
        "TxInfAndSts/TxSts",
    ] {
        assert!(
            !values(&theirs, leaf).is_empty() && !values(&flat, leaf).is_empty(),
            "{leaf}"
        );
    }
}

#[test]
fn pacs002_for_a_rejected_sample_file() {
    let g = genesis();
    let batch = parse_file(
        &sample("bad-ctrlsum-pacs008-usd.xml"),
        &g,
        &ParseOptions::default(),
    )
    .expect("readable");
    let report = StatusReport::for_batch(&batch, "bad.xml", "STS-2", 0, TxStatus::Acsp);
    assert_eq!(report.group_status(), "RJCT");
    let flat = flatten(&write_pacs002(&report));
    assert_eq!(values(&flat, "OrgnlMsgId"), ["823823423"]);
    assert_eq!(values(&flat, "OrgnlMsgNmId"), ["pacs.008.001.07"]);
    // Group reasons: the two header problems.
    assert_eq!(
        values(&flat, "OrgnlGrpInfAndSts/StsRsnInf/Rsn/Cd"),
        ["AM10", "AM12"]
    );
    // The (valid) transaction is rejected with the file.
    assert_eq!(values(&flat, "TxInfAndSts/TxSts"), ["RJCT"]);
    assert_eq!(values(&flat, "TxInfAndSts/OrgnlInstrId"), ["23423423"]);
    assert_eq!(values(&flat, "TxInfAndSts/OrgnlTxId"), ["123452342"]);

    let ok = parse_file(
        &sample("fedwire-pacs008-usd-1tx.xml"),
        &g,
        &ParseOptions::default(),
    )
    .expect("readable");
    let report = StatusReport::for_batch(&ok, "fed.xml", "STS-3", 0, TxStatus::Acsp);
    let flat = flatten(&write_pacs002(&report));
    assert_eq!(values(&flat, "GrpSts"), ["ACSP"]);
    assert_eq!(values(&flat, "TxSts"), ["ACSP"]);
    assert_eq!(values(&flat, "OrgnlEndToEndId"), ["Scenario01EtoEId001"]);
}

fn to_minor(text: &str) -> i128 {
    let (i, f) = text.split_once('.').unwrap_or((text, ""));
    i.parse::<i128>().expect("int") * 100 + f.parse::<i128>().unwrap_or(0)
}

#[test]
fn camt053_balances_add_up() {
    let st = Statement {
        message_id: "STMT-1".into(),
        statement_id: "bank-a/USD/2025-03-10".into(),
        created_ms: 1_741_651_200_000,
        account: "settlement:bank-a:USD".into(),
        owner: Some("Bank A & Co".into()),
        currency: "USD".parse().expect("USD"),
        exponent: 2,
        opening: -1_000,
        entries: vec![
            StatementEntry {
                reference: "tx-1".into(),
                amount: 5_000,
                credit: true,
                booking_time_ms: 1_741_611_600_000,
                description: Some("window 7 <net>".into()),
            },
            StatementEntry {
                reference: "tx-2".into(),
                amount: 1_250,
                credit: false,
                booking_time_ms: 1_741_611_700_000,
                description: None,
            },
        ],
        period: Period {
            from_ms: 1_741_564_800_000,
            to_ms: 1_741_651_199_999,
        },
    };
    assert_eq!(st.closing().expect("fits"), 2_750);
    let xml = write_camt053(&st).expect("writes");
    assert!(xml.contains("urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"));
    let flat = flatten(&xml);
    assert_eq!(values(&flat, "Bal/Tp/CdOrPrtry/Cd"), ["OPBD", "CLBD"]);
    assert_eq!(values(&flat, "Bal/Amt"), ["10.00", "27.50"]);
    assert_eq!(values(&flat, "Bal/CdtDbtInd"), ["DBIT", "CRDT"]);
    assert_eq!(values(&flat, "Ownr/Nm"), ["Bank A & Co"]);
    assert_eq!(values(&flat, "Ntry/AddtlNtryInf"), ["window 7 <net>"]);
    assert_eq!(
        values(&flat, "Ntry/BookgDt/DtTm")[0],
        "2025-03-10T13:00:00.000Z"
    );

    // Read back: opening + entries = closing.
    let signed = |amt: &str, ind: &str| {
        if ind == "CRDT" {
            to_minor(amt)
        } else {
            -to_minor(amt)
        }
    };
    let bal_amt = values(&flat, "Bal/Amt");
    let bal_ind = values(&flat, "Bal/CdtDbtInd");
    let opening = signed(bal_amt[0], bal_ind[0]);
    let closing = signed(bal_amt[1], bal_ind[1]);
    let entries: i128 = values(&flat, "Ntry/Amt")
        .iter()
        .zip(values(&flat, "Ntry/CdtDbtInd"))
        .map(|(a, i)| signed(a, i))
        .sum();
    assert_eq!(opening + entries, closing);
    assert_eq!(values(&flat, "Ntry/Amt/@Ccy"), ["USD", "USD"]);
    assert_eq!(values(&flat, "TtlCdtNtries/Sum"), ["50.00"]);
    assert_eq!(values(&flat, "TtlDbtNtries/Sum"), ["12.50"]);

    // The public Finnish sample's balances add up the same way (our reading of the format).
    let fi = flatten(
        &std::fs::read_to_string(sample("finland-camt053-eur-10entries.xml")).expect("sample"),
    );
    let codes = values(&fi, "Bal/Tp/CdOrPrtry/Cd");
    let amts = values(&fi, "Bal/Amt");
    let inds = values(&fi, "Bal/CdtDbtInd");
    let bal = |code: &str| {
        let k = codes.iter().position(|c| *c == code).expect("balance");
        signed(amts[k], inds[k])
    };
    let fi_entries: i128 = values(&fi, "Ntry/Amt")
        .iter()
        .zip(values(&fi, "Ntry/CdtDbtInd"))
        .map(|(a, i)| signed(a, i))
        .sum();
    assert_eq!(bal("OPBD") + fi_entries, bal("CLBD"));
}

#[test]
fn camt053_refuses_overflow() {
    let st = Statement {
        message_id: "m".into(),
        statement_id: "s".into(),
        created_ms: 0,
        account: "a".into(),
        owner: None,
        currency: "JPY".parse().expect("JPY"),
        exponent: 0,
        opening: i128::MAX,
        entries: vec![StatementEntry {
            reference: "r".into(),
            amount: 1,
            credit: true,
            booking_time_ms: 0,
            description: None,
        }],
        period: Period {
            from_ms: 0,
            to_ms: 0,
        },
    };
    assert!(write_camt053(&st).is_err());
}
