//! CSV, JSON and synthetic ISO 20022 files: accepted forms and every kind of problem.

mod common;

use common::*;
use settlenet_batchfile::{parse_bytes, Format, Location, ParseOptions, ReasonCode};
use settlenet_types::{Amount, Currency};

fn parse(name: &str, text: &str) -> settlenet_batchfile::ParsedBatch {
    parse_bytes(name, text.as_bytes(), &genesis(), &ParseOptions::default()).expect("readable")
}

fn shown(b: &settlenet_batchfile::ParsedBatch) -> Vec<String> {
    b.errors.iter().map(|p| p.to_string()).collect()
}

#[test]
fn csv_resolves_members_by_name_bic_and_clearing_id() {
    let b = parse(
        "batch.csv",
        "id,debtor,creditor,amount,currency,reference\n\
         # a comment line\n\
         i1,bank-a,BANKUS33,12.50,USD,March invoice\n\
         i2,021040078,bankgb2lxxx,0.99,USD,\n\
         i3 , lake-city ,\"us-bank\", 7 , USD ,\"Smith, J\"\n",
    );
    assert!(b.is_ok(), "{:#?}", shown(&b));
    assert_eq!(b.format, Format::Csv);
    let got: Vec<_> = b
        .instructions
        .iter()
        .map(|i| {
            (
                i.id.as_str(),
                i.debtor,
                i.creditor,
                i.amount.0,
                i.reference.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("i1", BANK_A, BANK_B, 1250, Some("March invoice")),
            ("i2", BANK_B, BANK_A, 99, None),
            ("i3", LAKE_CITY, US_BANK, 700, Some("Smith, J")),
        ]
    );
    assert_eq!(b.instructions[2].location, Location::Line(5));
    assert_eq!(b.totals.count, 3);
    assert_eq!(b.totals.sum_minor, 2049);
    assert_eq!(b.totals.per_debtor.get(&BANK_A), Some(&1250));
    assert_eq!(b.totals.per_creditor.get(&BANK_A), Some(&99));
}

#[test]
fn csv_reports_every_problem_with_its_line_and_field() {
    let b = parse(
        "batch.csv",
        "id,debtor,creditor,amount,currency\n\
         a1,bank-a,bank-b,12.345,USD\n\
         a2,bank-a,bank-a,1.00,USD\n\
         a1,bank-a,bank-b,1.00,USD\n\
         a4,nobody,bank-b,1.00,USD\n\
         a5,bank-a,bank-b,0,USD\n\
         a6,bank-a,bank-b,-3,USD\n\
         a7,bank-a,bank-b,1.00,EUR\n\
         a8,bank-a,bank-b,1.00,XYZ\n\
         a9,bank-a,bank-b,184467440737095516.16,USD\n\
         ,bank-a,bank-b,1.00,USD\n\
         a11,bank-a,bank-b,1e3,USD\n\
         abcdefghijabcdefghijabcdefghijabcdefghij,bank-a,bank-b,1,USD\n",
    );
    assert!(!b.is_ok());
    let s = shown(&b);
    let want = [
        "line 2, field amount: \"12.345\" has 3 decimals, USD allows 2",
        "line 3, field creditor: debtor and creditor are the same member (bank-a); nothing to settle",
        "line 4, field id: instruction id \"a1\" is used more than once in the file",
        "line 5, field debtor: no member has the name, BIC or clearing member id \"nobody\" in the genesis",
        "line 6, field amount: \"0\" is zero; an instruction must move money",
        "line 7, field amount: \"-3\" is negative",
        "line 8, field currency: currency EUR but the file's currency is USD (from line 2)",
        "line 9, field currency: currency XYZ is not held by this network (the genesis has USD, EUR, RWF, JPY)",
        "line 10, field amount: \"184467440737095516.16\" does not fit in 64 bits of minor units",
        "line 11, field id: is missing",
        "line 12, field amount: \"1e3\" is not a decimal number (digits with at most one '.')",
        "line 13, field id: has 40 characters, at most 35 are allowed",
    ];
    assert_eq!(s, want);
    let reasons: Vec<&str> = b.errors.iter().map(|p| p.reason.code()).collect();
    assert_eq!(
        reasons,
        [
            "AM12", "AGNT", "DUPL", "RC01", "AM01", "AM12", "AM03", "AM03", "AM02", "FF01", "AM12",
            "FF01"
        ]
    );
    // Only the lines without a problem are instructions; none may be sent.
    assert!(b.instructions.is_empty());
    assert_eq!(b.instructions_seen, 12);
}

#[test]
fn csv_header_problems_and_bounded_errors() {
    let b = parse(
        "x.csv",
        "id,debtor,creditr,amount,currency\nx,bank-a,bank-b,1,USD\n",
    );
    let s = shown(&b);
    assert!(
        s[0].starts_with("line 1, field creditr: unknown column"),
        "{s:?}"
    );
    assert!(s[1].starts_with("line 1, field creditor: the header has no \"creditor\" column"));

    let mut text = String::from("id,debtor,creditor,amount,currency\n");
    for i in 0..50 {
        text.push_str(&format!("x{i},bank-a,bank-b,1.001,USD\n"));
    }
    let b = parse_bytes(
        "x.csv",
        text.as_bytes(),
        &genesis(),
        &ParseOptions {
            max_errors: 10,
            ..ParseOptions::default()
        },
    )
    .expect("readable");
    assert_eq!(b.errors.len(), 10);
    assert_eq!(b.errors_omitted, 40);
    assert_eq!(b.error_count(), 50);
    assert!(!b.is_ok());
}

#[test]
fn csv_window_currency_and_phones() {
    let g = genesis();
    let opts = ParseOptions {
        expected_currency: Some("RWF".parse::<Currency>().expect("RWF")),
        default_country: Some("250".into()),
        ..ParseOptions::default()
    };
    let text = "id,debtor,creditor,amount,currency,creditor_phone\n\
                p1,lake-city,equity-rw,20200,RWF,+250-70610388\n\
                p2,lake-city,equity-rw,20200.00,RWF,0706 103 88\n\
                p3,lake-city,equity-rw,5,RWF,25070610388\n\
                p4,lake-city,equity-rw,5,USD,\n\
                p5,lake-city,equity-rw,5,RWF,+25070610388999999\n";
    let b = parse_bytes("p.csv", text.as_bytes(), &g, &opts).expect("readable");
    let phones: Vec<_> = b
        .instructions
        .iter()
        .map(|i| i.creditor_phone.as_deref())
        .collect();
    assert_eq!(
        phones,
        [
            Some("+25070610388"),
            Some("+25070610388"),
            Some("+25070610388")
        ]
    );
    assert_eq!(b.instructions[1].amount, Amount(20_200));
    let s = shown(&b);
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!(
        s[0],
        "line 5, field currency: currency USD but the settlement window is in RWF"
    );
    assert!(s[1].starts_with("line 6, field creditor_phone:"), "{s:?}");
    assert!(
        !s[1].contains("25070610388999999"),
        "a phone number leaked: {s:?}"
    );
}

#[test]
fn json_batches() {
    let b = parse(
        "b.json",
        r#"{"message_id": "m-1", "currency": "USD", "instructions": [
             {"id": "j1", "debtor": "bank-a", "creditor": "bank-b", "amount": "12.50", "reference": "r"},
             {"id": "j2", "debtor": "BANKUS33", "creditor": "011104238", "amount": "3", "currency": "USD",
              "creditor_phone": "+1 415 555 0100"}
           ]}"#,
    );
    assert!(b.is_ok(), "{:#?}", shown(&b));
    assert_eq!(b.format, Format::Json);
    assert_eq!(b.message_id.as_deref(), Some("m-1"));
    assert_eq!(b.totals.sum_minor, 1550);
    assert_eq!(
        b.instructions[1].creditor_phone.as_deref(),
        Some("+14155550100")
    );
    assert_eq!(
        b.instructions[0].location,
        Location::JsonPath("/instructions/0".into())
    );

    let b = parse(
        "b.json",
        r#"{"currency": "USD", "instructions": [
             {"id": "j1", "debtor": "bank-a", "creditor": "bank-b", "amount": 12.5},
             {"id": "j2", "debtor": "bank-a", "creditor": "bank-b", "amount": "1.999", "refrence": "x"},
             {"id": "j3", "creditor": "bank-b", "amount": "1"}
           ]}"#,
    );
    let s = shown(&b);
    assert_eq!(
        s,
        [
            "/instructions/0/amount: amounts are decimal strings (\"12.5\"), never JSON numbers, which may be floats",
            "/instructions/1/refrence: unknown key; the keys are id, debtor, creditor, amount, currency, reference, creditor_phone",
            "/instructions/1/amount: \"1.999\" has 3 decimals, USD allows 2",
            "/instructions/2/debtor: is missing",
        ]
    );
    assert!(b.instructions.is_empty());

    let b = parse("b.json", "{\"instructions\": [\n  {\"id\": \"x\",}\n]}");
    assert_eq!(b.errors.len(), 1);
    assert_eq!(b.errors[0].location, Location::Line(2));
}

const PREFIXED_PACS009: &str = r#"<?xml version="1.0"?>
<Envelope xmlns="urn:swift:xsd:envelope">
  <h:AppHdr xmlns:h="urn:iso:std:iso:20022:tech:xsd:head.001.001.02"><h:MsgDefIdr>pacs.009.001.08</h:MsgDefIdr></h:AppHdr>
  <p:Document xmlns:p="urn:iso:std:iso:20022:tech:xsd:pacs.009.001.08">
    <p:FICdtTrf>
      <p:GrpHdr>
        <p:MsgId>B2B-1</p:MsgId>
        <p:NbOfTxs>2</p:NbOfTxs>
        <p:CtrlSum>1000.01</p:CtrlSum>
        <p:TtlIntrBkSttlmAmt Ccy="USD">1000.010</p:TtlIntrBkSttlmAmt>
      </p:GrpHdr>
      <p:CdtTrfTxInf>
        <p:PmtId><p:InstrId>A&amp;B-1</p:InstrId><p:EndToEndId>NOTPROVIDED</p:EndToEndId></p:PmtId>
        <p:IntrBkSttlmAmt Ccy="USD">1000</p:IntrBkSttlmAmt>
        <p:Dbtr><p:FinInstnId><p:BICFI>BANKGB2LXXX</p:BICFI></p:FinInstnId></p:Dbtr>
        <p:Cdtr><p:FinInstnId><p:ClrSysMmbId><p:MmbId>021040078</p:MmbId></p:ClrSysMmbId></p:FinInstnId></p:Cdtr>
        <p:RmtInf><p:Ustrd>cover &lt;1&gt;</p:Ustrd></p:RmtInf>
      </p:CdtTrfTxInf>
      <p:CdtTrfTxInf>
        <p:PmtId><p:TxId>T-2</p:TxId></p:PmtId>
        <p:IntrBkSttlmAmt Ccy="USD"><![CDATA[0.01]]></p:IntrBkSttlmAmt>
        <p:DbtrAgt><p:FinInstnId><p:BIC>itususp1</p:BIC></p:FinInstnId></p:DbtrAgt>
        <p:Dbtr><p:FinInstnId><p:BICFI>NOTAMEMBER</p:BICFI></p:FinInstnId></p:Dbtr>
        <p:CdtrAgt><p:FinInstnId><p:BICFI>USTBUS31XXX</p:BICFI></p:FinInstnId></p:CdtrAgt>
        <p:Cdtr><p:FinInstnId><p:BICFI>NOTAMEMBER</p:BICFI></p:FinInstnId></p:Cdtr>
      </p:CdtTrfTxInf>
    </p:FICdtTrf>
  </p:Document>
</Envelope>"#;

#[test]
fn pacs009_prefixed_in_an_envelope() {
    let b = parse("b2b", PREFIXED_PACS009);
    assert!(b.is_ok(), "{:#?}", shown(&b));
    assert_eq!(b.format, Format::Iso20022);
    assert_eq!(b.message_name.as_deref(), Some("pacs.009.001.08"));
    assert_eq!(b.message_id.as_deref(), Some("B2B-1"));
    let i = &b.instructions;
    assert_eq!(
        (i[0].id.as_str(), i[0].debtor, i[0].creditor),
        ("A&B-1", BANK_A, BANK_B)
    );
    assert_eq!(i[0].reference.as_deref(), Some("cover <1>"));
    // Agents take precedence over the pacs.009 Dbtr/Cdtr.
    assert_eq!(
        (i[1].id.as_str(), i[1].debtor, i[1].creditor),
        ("T-2", ITAU, US_BANK)
    );
    assert_eq!(b.totals.sum_minor, 100_001);
}

#[test]
fn xml_problems_have_element_paths() {
    let xml = r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.13"><FIToFICstmrCdtTrf>
      <GrpHdr><MsgId>M</MsgId><NbOfTxs>3</NbOfTxs><TtlIntrBkSttlmAmt Ccy="EUR">1</TtlIntrBkSttlmAmt></GrpHdr>
      <CdtTrfTxInf><PmtId><InstrId>X1</InstrId></PmtId>
        <IntrBkSttlmAmt Ccy="USD">1.005</IntrBkSttlmAmt>
        <DbtrAgt><FinInstnId><BICFI>ZZZZZZZZ</BICFI></FinInstnId></DbtrAgt>
        <CdtrAgt><FinInstnId><Nm>no id</Nm></FinInstnId></CdtrAgt>
      </CdtTrfTxInf>
      <CdtTrfTxInf><PmtId><InstrId>X1</InstrId></PmtId>
        <IntrBkSttlmAmt>1</IntrBkSttlmAmt>
        <CdtrAgt><FinInstnId><BICFI>BANKGB2L</BICFI></FinInstnId></CdtrAgt>
        <Cdtr><CtctDtls><MobNb>+250-7061</MobNb></CtctDtls></Cdtr>
      </CdtTrfTxInf>
    </FIToFICstmrCdtTrf></Document>"#;
    let b = parse("", xml);
    let s = shown(&b);
    let t1 = "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[1]";
    let t2 = "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[2]";
    let want = vec![
        format!("{t1}/DbtrAgt/FinInstnId/BICFI: no member has BIC ZZZZZZZZXXX in the genesis"),
        format!("{t1}/CdtrAgt: names no BIC (BICFI/BIC) and no clearing member id (ClrSysMmbId/MmbId)"),
        format!("{t1}/IntrBkSttlmAmt: \"1.005\" has 3 decimals, USD allows 2"),
        format!("{t2}/PmtId/InstrId: instruction id \"X1\" is used more than once in the file"),
        format!("{t2}/DbtrAgt: is missing"),
        format!("{t2}/IntrBkSttlmAmt/@Ccy: is missing"),
        format!("{t2}/Cdtr/CtctDtls/MobNb: the creditor's mobile number is not usable: invalid phone number: has 7 digits with its country code; E.164 numbers have 8 to 15"),
        "/Document/FIToFICstmrCdtTrf/GrpHdr/NbOfTxs: 3 but the message has 2 transactions".to_string(),
        "/Document/FIToFICstmrCdtTrf/GrpHdr/TtlIntrBkSttlmAmt/@Ccy: EUR but the transactions are in USD".to_string(),
    ];
    assert_eq!(s, want);
    assert_eq!(b.errors[0].field, "BICFI");
    assert_eq!(b.errors[0].reason, ReasonCode::BankIdentifierIncorrect);
    assert_eq!(b.errors[0].instruction_id.as_deref(), Some("X1"));
}

#[test]
fn malformed_and_foreign_xml() {
    let b = parse(
        "x.xml",
        "<Document><FIToFICstmrCdtTrf><GrpHdr></FIToFICstmrCdtTrf></Document>",
    );
    assert_eq!(b.errors.len(), 1, "{:?}", shown(&b));
    assert!(
        b.errors[0].message.starts_with("malformed XML at byte"),
        "{:?}",
        shown(&b)
    );
    let b = parse("x.xml", "<html><body>hello</body></html>");
    assert_eq!(
        shown(&b),
        ["Document: no ISO 20022 Document element: not a pacs.008/pacs.009 message"]
    );
    let b = parse("x.xml", "<Document><FIToFICstmrCdtTrf><GrpHdr><NbOfTxs>0</NbOfTxs></GrpHdr></FIToFICstmrCdtTrf></Document>");
    assert_eq!(
        shown(&b),
        ["/Document/FIToFICstmrCdtTrf/CdtTrfTxInf: the message holds no transaction"]
    );
    let b = parse("empty.csv", "id,debtor,creditor,amount,currency\n");
    assert_eq!(shown(&b), ["instructions: the file holds no instruction"]);
}

#[test]
fn format_is_detected_by_extension_then_content() {
    let csv = "id,debtor,creditor,amount,currency\nx,bank-a,bank-b,1,USD\n";
    assert_eq!(parse("a.CSV", csv).format, Format::Csv);
    assert_eq!(parse("noext", csv).format, Format::Csv);
    assert_eq!(
        parse("noext", " {\"instructions\":[]}").format,
        Format::Json
    );
    assert_eq!(
        parse("noext", "\u{feff}<Document/>").format,
        Format::Iso20022
    );
    let forced = parse_bytes(
        "a.txt",
        csv.as_bytes(),
        &genesis(),
        &ParseOptions {
            format: Some(Format::Json),
            ..ParseOptions::default()
        },
    )
    .expect("readable");
    assert_eq!(forced.format, Format::Json);
    assert!(!forced.is_ok());
}

#[test]
fn ambiguous_identifiers_are_refused() {
    let mut g = genesis();
    g.members[1].bic = Some("BANKGB2LXXX".into()); // same as bank-a's 8-character BIC
    let b = parse_bytes(
        "a.csv",
        b"id,debtor,creditor,amount,currency\nx,BANKGB2L,lake-city,1,USD\n",
        &g,
        &ParseOptions::default(),
    )
    .expect("readable");
    assert_eq!(
        shown(&b),
        ["line 2, field debtor: BIC \"BANKGB2LXXX\" belongs to more than one member in the genesis"]
    );
}
