//! Fuzz targets: the three batch file readers (`parse_bytes` with the format forced, so that a
//! mutated file reaches the reader it came from), against the sample genesis of
//! `tests/common`.
//!
//! For every input: no panic, no absurd allocation, `Ok` (in memory nothing can fail to be read:
//! everything wrong is a `Problem`); and a batch without problems keeps the crate's invariants:
//! every instruction between two different members, an amount above zero, unique ids of at most
//! `ID_LEN_MAX` characters, totals that are the exact count and sum of the instructions.
//!
//! Seeds: `fuzz/corpus/batchfile_{csv,json,iso20022}/` (the documented CSV and JSON forms),
//! and for ISO 20022 the public sample messages in `tests/data/iso20022/` (pacs.008, pacs.009
//! in an envelope, pain.001, pacs.002, camt.053).

mod common;

use common::genesis;
use settlenet_batchfile::{parse_bytes, Format, ParseOptions, ParsedBatch, ID_LEN_MAX};
use settlenet_fuzz::Target;
use std::collections::BTreeSet;
use std::path::PathBuf;

const CSV_SAMPLES: &[(&str, &str)] = &[
    (
        "members-by-name-bic-clearing-id.csv",
        "id,debtor,creditor,amount,currency,reference\n\
         # a comment line\n\
         i1,bank-a,BANKUS33,12.50,USD,March invoice\n\
         i2,021040078,bankgb2lxxx,0.99,USD,\n\
         i3 , lake-city ,\"us-bank\", 7 , USD ,\"Smith, J\"\n",
    ),
    (
        "phones.csv",
        "id,debtor,creditor,amount,currency,creditor_phone\n\
         p1,lake-city,equity-rw,20200,RWF,+250-70610388\n\
         p2,lake-city,equity-rw,20200.00,RWF,0706 103 88\n\
         p3,lake-city,equity-rw,5,RWF,25070610388\n",
    ),
    (
        "problems.csv",
        "amount,id,creditor,debtor,currency\n\
         -1,a,bank-a,bank-a,USD\n\
         1e3,b,nobody,bank-b,EUR\n\
         0.001,a,bank-b,bank-a,usd\n",
    ),
];

const JSON_SAMPLES: &[(&str, &str)] = &[
    (
        "batch.json",
        r#"{"message_id": "m-1", "currency": "USD", "instructions": [
  {"id": "j1", "debtor": "bank-a", "creditor": "bank-b", "amount": "12.50", "reference": "r"},
  {"id": "j2", "debtor": "BANKUS33", "creditor": "011104238", "amount": "3", "currency": "USD",
   "creditor_phone": "+1 415 555 0100"}
]}"#,
    ),
    (
        "problems.json",
        r#"{"currency": "USD", "instructions": [
  {"id": "j1", "debtor": "bank-a", "creditor": "bank-b", "amount": 12.5},
  {"id": "j2", "debtor": "bank-a", "creditor": "bank-b", "amount": "1.999", "refrence": "x"},
  {"id": "j3", "creditor": "bank-b", "amount": "1"}
]}"#,
    ),
];

fn text_samples(samples: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    samples
        .iter()
        .map(|(n, t)| (n.to_string(), t.as_bytes().to_vec()))
        .collect()
}

fn iso_samples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/iso20022");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the ISO 20022 samples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    files
}

/// The crate's invariants for a batch without problems.
fn check_invariants(b: &ParsedBatch) {
    if !b.is_ok() {
        return;
    }
    settlenet_fuzz::accepted();
    let mut ids = BTreeSet::new();
    let mut sum: u128 = 0;
    for i in &b.instructions {
        assert_ne!(i.debtor, i.creditor, "instruction {} pays itself", i.id);
        assert!(i.amount.0 > 0, "instruction {} has amount 0", i.id);
        assert!(
            !i.id.is_empty() && i.id.chars().count() <= ID_LEN_MAX,
            "id {:?}",
            i.id
        );
        assert!(ids.insert(i.id.clone()), "id {} twice", i.id);
        assert_eq!(i.currency, b.currency);
        sum += u128::from(i.amount.0);
    }
    assert_eq!(b.totals.count, b.instructions.len() as u64);
    assert_eq!(b.totals.sum_minor, sum);
}

fn fuzz(format: Format, seeds: Target) {
    let g = genesis();
    let opts = ParseOptions {
        format: Some(format),
        default_country: Some("250".into()),
        ..ParseOptions::default()
    };
    seeds.run(|bytes| {
        let batch =
            parse_bytes("fuzz", bytes, &g, &opts).expect("in memory, nothing fails to read");
        assert_eq!(batch.format, format);
        check_invariants(&batch);
    });
}

#[test]
fn fuzz_csv() {
    let t = Target::new("batchfile_csv")
        .samples(text_samples(CSV_SAMPLES))
        .tokens(&[
            "id",
            "debtor",
            "creditor",
            "amount",
            "currency",
            "reference",
            "creditor_phone",
            "bank-a",
            "bank-b",
            "BANKGB2L",
            "021040078",
            "RWF",
            "12.50",
        ]);
    fuzz(Format::Csv, t);
}

#[test]
fn fuzz_json() {
    let t = Target::new("batchfile_json")
        .samples(text_samples(JSON_SAMPLES))
        .tokens(&[
            "\"id\"",
            "\"debtor\"",
            "\"creditor\"",
            "\"amount\"",
            "\"currency\"",
            "\"instructions\"",
            "\"message_id\"",
            "\"creditor_phone\"",
            "\"bank-a\"",
            "\"12.50\"",
        ]);
    fuzz(Format::Json, t);
}

#[test]
fn fuzz_iso20022() {
    let t = Target::new("batchfile_iso20022")
        .files(&iso_samples())
        .tokens(&[
            "<Document>",
            "</Document>",
            "<CdtTrfTxInf>",
            "</CdtTrfTxInf>",
            "<GrpHdr>",
            "<NbOfTxs>",
            "<CtrlSum>",
            "<IntrBkSttlmAmt Ccy=\"USD\">",
            "</IntrBkSttlmAmt>",
            "<BICFI>",
            "</BICFI>",
            "<MmbId>",
            "<InstrId>",
            "<EndToEndId>",
            "<DbtrAgt>",
            "<CdtrAgt>",
            "<FinInstnId>",
            "<FIToFICstmrCdtTrf>",
            "<FICdtTrf>",
            "<Ustrd>",
            "<MobNb>",
            "<AppHdr>",
            "<Envelope>",
        ]);
    fuzz(Format::Iso20022, t);
}
