//! Every public ISO 20022 sample is accepted or rejected for the right reason.

mod common;

use common::*;
use settlenet_batchfile::{parse_file, Format, Location, ParseOptions, ReasonCode};
use settlenet_types::{Amount, Currency};

fn usd() -> Currency {
    "USD".parse().expect("USD")
}

#[test]
fn fedwire_pacs008_resolves_agents_by_aba_clearing_id() {
    let g = genesis();
    let batch = parse_file(
        &sample("fedwire-pacs008-usd-1tx.xml"),
        &g,
        &ParseOptions {
            expected_currency: Some(usd()),
            ..ParseOptions::default()
        },
    )
    .expect("readable");
    assert!(batch.is_ok(), "{:#?}", batch.errors);
    assert_eq!(batch.format, Format::Iso20022);
    assert_eq!(batch.message_id.as_deref(), Some("20250310B1QDRCQR000001"));
    assert_eq!(batch.message_name.as_deref(), Some("pacs.008.001.08"));
    assert_eq!(batch.currency, usd());
    assert_eq!(batch.instructions.len(), 1);
    let i = &batch.instructions[0];
    assert_eq!(i.id, "Scenario01InstrId001");
    assert_eq!(i.end_to_end_id.as_deref(), Some("Scenario01EtoEId001"));
    assert_eq!(i.debtor, BANK_A);
    assert_eq!(i.creditor, BANK_B);
    assert_eq!(i.amount, Amount(51_000_074));
    assert_eq!(i.reference, None);
    assert_eq!(i.creditor_phone, None);
    assert_eq!(
        i.location,
        Location::XmlPath("/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[1]".into())
    );
    assert_eq!(batch.totals.count, 1);
    assert_eq!(batch.totals.sum_minor, 51_000_074);
    assert_eq!(batch.totals.per_debtor.get(&BANK_A), Some(&51_000_074));
    assert_eq!(batch.totals.per_creditor.get(&BANK_B), Some(&51_000_074));
}

#[test]
fn mojaloop_pacs008_credits_a_mobile_number() {
    let g = genesis();
    let batch = parse_file(
        &sample("mojaloop-pacs008-rwf-mobile.xml"),
        &g,
        &ParseOptions::default(),
    )
    .expect("readable");
    assert!(batch.is_ok(), "{:#?}", batch.errors);
    assert_eq!(batch.message_name.as_deref(), Some("pacs.008.001.09"));
    assert_eq!(
        batch.message_id.as_deref(),
        Some("7e2599df-80a1-4f6e-b381-99536c4d2691")
    );
    let i = &batch.instructions[0];
    assert_eq!(i.id, "8c5d9f95");
    assert_eq!(i.tx_id.as_deref(), Some("acd1ef76"));
    // LAKCUS33 (8) matches LAKCUS33XXX; EQBLRWRWXXX matches EQBLRWRW.
    assert_eq!(i.debtor, LAKE_CITY);
    assert_eq!(i.creditor, EQUITY_RW);
    assert_eq!(i.currency, "RWF".parse::<Currency>().expect("RWF"));
    assert_eq!(i.amount, Amount(20_200));
    assert_eq!(i.creditor_phone.as_deref(), Some("+25070610388"));
    assert_eq!(
        i.reference.as_deref(),
        Some("d7d91837-4402-4c8f-9b73-20255b0ec40c")
    );
}

#[test]
fn mojaloop_in_the_wrong_window_is_rejected_for_currency() {
    let g = genesis();
    let batch = parse_file(
        &sample("mojaloop-pacs008-rwf-mobile.xml"),
        &g,
        &ParseOptions {
            expected_currency: Some(usd()),
            ..ParseOptions::default()
        },
    )
    .expect("readable");
    assert!(!batch.is_ok());
    assert!(batch
        .errors
        .iter()
        .any(|p| p.reason == ReasonCode::NotAllowedCurrency && p.field == "Ccy"));
}

#[test]
fn bad_ctrlsum_in_an_envelope_is_rejected_for_ctrlsum_and_total() {
    let g = genesis();
    let batch = parse_file(
        &sample("bad-ctrlsum-pacs008-usd.xml"),
        &g,
        &ParseOptions::default(),
    )
    .expect("readable");
    assert!(!batch.is_ok());
    // The transaction itself is fine: found through the <message> wrapper, past the AppHdr.
    assert_eq!(batch.instructions.len(), 1);
    assert_eq!(batch.instructions[0].debtor, ITAU);
    assert_eq!(batch.instructions[0].creditor, US_BANK);
    let shown: Vec<String> = batch.errors.iter().map(|p| p.to_string()).collect();
    assert_eq!(batch.errors.len(), 2, "{shown:#?}");
    assert_eq!(
        shown[0],
        "/Document/FIToFICstmrCdtTrf/GrpHdr/CtrlSum: 10000.00 but the transactions sum to 5000.00"
    );
    assert_eq!(batch.errors[0].reason, ReasonCode::InvalidControlSum);
    assert_eq!(
        shown[1],
        "/Document/FIToFICstmrCdtTrf/GrpHdr/TtlIntrBkSttlmAmt: 10000.00 but the transactions sum \
         to 5000.00"
    );
    assert_eq!(batch.errors[1].field, "TtlIntrBkSttlmAmt");
}

#[test]
fn pain001_is_an_unsupported_message_and_its_nboftxs_is_wrong() {
    let g = genesis();
    let batch = parse_file(
        &sample("bad-nboftxs-pain001-eur.xml"),
        &g,
        &ParseOptions::default(),
    )
    .expect("readable");
    assert!(!batch.is_ok());
    assert!(batch.instructions.is_empty());
    let first = &batch.errors[0];
    assert_eq!(first.field, "CstmrCdtTrfInitn");
    assert_eq!(first.reason, ReasonCode::InvalidFileFormat);
    assert!(
        first.message.contains("not a pacs.008/pacs.009") && first.message.contains("pain.001"),
        "{first}"
    );
    let nb = batch
        .errors
        .iter()
        .find(|p| p.field == "NbOfTxs")
        .expect("NbOfTxs problem");
    assert_eq!(
        nb.to_string(),
        "/Document/CstmrCdtTrfInitn/GrpHdr/NbOfTxs: 1 but the message has 2 transactions"
    );
    let ctrl = batch
        .errors
        .iter()
        .find(|p| p.field == "CtrlSum")
        .expect("CtrlSum problem");
    assert!(ctrl.message.contains("20.00"), "{ctrl}");
}

#[test]
fn status_reports_and_statements_are_not_batches() {
    let g = genesis();
    for (file, root, kind) in [
        ("cbpr-pacs002-accepted.xml", "FIToFIPmtStsRpt", "pacs.002"),
        (
            "finland-camt053-eur-10entries.xml",
            "BkToCstmrStmt",
            "camt.053",
        ),
    ] {
        let batch = parse_file(&sample(file), &g, &ParseOptions::default()).expect("readable");
        assert!(!batch.is_ok(), "{file}");
        assert_eq!(batch.errors.len(), 1, "{file}: {:#?}", batch.errors);
        let p = &batch.errors[0];
        assert_eq!(p.field, root);
        assert!(
            p.message.contains("not a pacs.008/pacs.009") && p.message.contains(kind),
            "{file}: {p}"
        );
        assert_eq!(p.location, Location::XmlPath(format!("/Document/{root}")));
    }
}

#[test]
fn every_sample_is_classified() {
    // Guard: a new sample in the folder must get a test above.
    let dir = sample("");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("samples")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "bad-ctrlsum-pacs008-usd.xml",
            "bad-nboftxs-pain001-eur.xml",
            "cbpr-pacs002-accepted.xml",
            "fedwire-pacs008-usd-1tx.xml",
            "finland-camt053-eur-10entries.xml",
            "mojaloop-pacs008-rwf-mobile.xml",
        ]
    );
}
