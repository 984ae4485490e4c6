//! pacs.002 and camt.053: written, then read back with quick-xml.

mod common;

use common::*;
use quick_xml::events::Event;
use settlenet_batchfile::{
    parse_file, write_camt053, write_pacs002, write_pain013, write_pain014, Agent,
    ChargeReportStatus, ChargeRequestDoc, ParseOptions, Period, ReasonCode, Statement,
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

fn charge_doc(payer: bool) -> ChargeRequestDoc {
    ChargeRequestDoc {
        id: "0707070707070707070707070707070a".into(),
        reference: "Order <77> & co".into(),
        amount_minor: 1_250,
        currency: "USD".parse().expect("usd"),
        exponent: 2,
        created_ms: 1_795_000_000_000,
        expires_at_ms: 1_795_000_300_000,
        creditor_account: "02020202020202020202020202020202".into(),
        creditor_agent: Agent {
            name: "bank-c".into(),
            bic: Some("BANKCCXXXXX".into()),
            clearing_id: None,
        },
        debtor_account: payer.then(|| "01010101010101010101010101010101".to_string()),
        debtor_agent: payer.then(|| Agent {
            name: "operator-a".into(),
            bic: None,
            clearing_id: Some("021040078".into()),
        }),
    }
}

/// The element paths of a message, in document order, without repeats.
fn paths(flat: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (p, _) in flat {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

#[test]
fn pain013_has_the_request_structure() {
    let xml = write_pain013(&charge_doc(true));
    assert!(xml.contains("urn:iso:std:iso:20022:tech:xsd:pain.013.001.07"));
    let flat = flatten(&xml);
    let r = "Document/CdtrPmtActvtnReq";
    let expected: Vec<String> = [
        "GrpHdr/MsgId",
        "GrpHdr/CreDtTm",
        "GrpHdr/NbOfTxs",
        "GrpHdr/CtrlSum",
        "GrpHdr/InitgPty/Nm",
        "PmtInf/PmtInfId",
        "PmtInf/PmtMtd",
        "PmtInf/ReqdExctnDt/DtTm",
        "PmtInf/XpryDt/DtTm",
        "PmtInf/Dbtr/Nm",
        "PmtInf/DbtrAcct/Id/Othr/Id",
        "PmtInf/DbtrAgt/FinInstnId/ClrSysMmbId/MmbId",
        "PmtInf/DbtrAgt/FinInstnId/Nm",
        "PmtInf/CdtTrfTx/PmtId/EndToEndId",
        "PmtInf/CdtTrfTx/Amt/InstdAmt/@Ccy",
        "PmtInf/CdtTrfTx/Amt/InstdAmt",
        "PmtInf/CdtTrfTx/ChrgBr",
        "PmtInf/CdtTrfTx/CdtrAgt/FinInstnId/BICFI",
        "PmtInf/CdtTrfTx/CdtrAgt/FinInstnId/Nm",
        "PmtInf/CdtTrfTx/Cdtr/Nm",
        "PmtInf/CdtTrfTx/CdtrAcct/Id/Othr/Id",
        "PmtInf/CdtTrfTx/RmtInf/Ustrd",
    ]
    .iter()
    .map(|p| format!("{r}/{p}"))
    .collect();
    assert_eq!(paths(&flat), expected, "{xml}");
    assert_eq!(values(&flat, "GrpHdr/NbOfTxs"), ["1"]);
    assert_eq!(values(&flat, "GrpHdr/CtrlSum"), ["12.50"]);
    assert_eq!(values(&flat, "InstdAmt"), ["12.50"]);
    assert_eq!(values(&flat, "InstdAmt/@Ccy"), ["USD"]);
    assert_eq!(values(&flat, "EndToEndId"), ["Order <77> & co"]);
    assert_eq!(values(&flat, "XpryDt/DtTm"), ["2026-11-18T11:11:40.000Z"]);
    assert_eq!(values(&flat, "PmtMtd"), ["TRF"]);
    // An open request (no payer): no debtor account or agent, the rest the same.
    let open = flatten(&write_pain013(&charge_doc(false)));
    assert!(values(&open, "DbtrAcct/Id/Othr/Id").is_empty());
    assert_eq!(values(&open, "Dbtr/Nm"), ["Any wallet holder"]);
}

#[test]
fn pain014_reports_each_status() {
    let doc = charge_doc(true);
    let cases = [
        (ChargeReportStatus::Pending, "PDNG", None),
        (ChargeReportStatus::Accepted, "ACCP", None),
        (ChargeReportStatus::Completed, "ACSC", None),
        (
            ChargeReportStatus::Rejected {
                code: "CUST",
                text: "declined by the payer".into(),
            },
            "RJCT",
            Some("CUST"),
        ),
        (
            ChargeReportStatus::Rejected {
                code: "AEXR",
                text: "expired".into(),
            },
            "RJCT",
            Some("AEXR"),
        ),
    ];
    for (status, code, reason) in cases {
        let xml = write_pain014(&doc, &status, 1_795_000_100_000);
        assert!(xml.contains("urn:iso:std:iso:20022:tech:xsd:pain.014.001.07"));
        let flat = flatten(&xml);
        let r = "Document/CdtrPmtActvtnReqStsRpt";
        let p = paths(&flat);
        for needed in [
            "GrpHdr/MsgId",
            "GrpHdr/CreDtTm",
            "OrgnlGrpInfAndSts/OrgnlMsgId",
            "OrgnlGrpInfAndSts/OrgnlMsgNmId",
            "OrgnlPmtInfAndSts/OrgnlPmtInfId",
            "OrgnlPmtInfAndSts/TxInfAndSts/OrgnlEndToEndId",
            "OrgnlPmtInfAndSts/TxInfAndSts/TxSts",
            "OrgnlPmtInfAndSts/TxInfAndSts/OrgnlTxRef/Amt/InstdAmt",
        ] {
            assert!(
                p.contains(&format!("{r}/{needed}")),
                "{needed} missing in {xml}"
            );
        }
        assert_eq!(values(&flat, "TxSts"), [code]);
        assert_eq!(values(&flat, "OrgnlMsgNmId"), ["pain.013.001.07"]);
        assert_eq!(values(&flat, "OrgnlMsgId"), [doc.id.as_str()]);
        assert_eq!(values(&flat, "OrgnlEndToEndId"), ["Order <77> & co"]);
        assert_eq!(
            values(&flat, "StsRsnInf/Rsn/Cd"),
            reason.into_iter().collect::<Vec<_>>()
        );
        let msg_id = values(&flat, "GrpHdr/MsgId");
        assert!(msg_id[0].chars().count() <= 35, "{msg_id:?}");
    }
}

#[test]
fn a_pain013_is_not_a_settlement_batch() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("request.xml");
    std::fs::write(&path, write_pain013(&charge_doc(false))).expect("write");
    let batch = parse_file(&path, &genesis(), &ParseOptions::default()).expect("readable");
    assert!(!batch.is_ok());
    assert!(batch.instructions.is_empty(), "{:#?}", batch.instructions);
    // First the message type; the group header's count is checked too (it names one
    // transaction, and a pain.013's are no interbank instructions).
    assert_eq!(batch.errors[0].field, "CdtrPmtActvtnReq");
    assert!(
        batch.errors[0].message.contains("not a pacs.008/pacs.009"),
        "{}",
        batch.errors[0]
    );
}
