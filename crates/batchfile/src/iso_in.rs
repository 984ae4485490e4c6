//! ISO 20022 pacs.008 / pacs.009 batch files, read as a stream of XML events.
//!
//! Elements are matched by local name (namespace prefixes ignored). The `Document` may be the
//! root, or sit inside any envelope next to an `AppHdr`. Its first child names the message:
//! `FIToFICstmrCdtTrf` (pacs.008, any version) and `FICdtTrf` (pacs.009) are batches; anything
//! else is refused as "not a pacs.008/pacs.009". Each `CdtTrfTxInf` is collected while it
//! streams past and checked when it closes; the group header totals are checked at the end.

use crate::model::{Location, FIELD_LEN_MAX};
use crate::validate::{
    push_bounded, Builder, Decimal, FieldNames, PartyKey, RawField, RawInstruction, RawParty,
};
use crate::ReasonCode;
use quick_xml::events::{BytesStart, Event};
use quick_xml::XmlVersion;
use settlenet_types::ids::format_minor;
use std::collections::BTreeMap;
use std::io::BufRead;

/// Deepest element nesting accepted (real messages nest about 10 deep).
pub const XML_DEPTH_MAX: usize = 64;

const NAMES: FieldNames = FieldNames {
    id: "PmtId",
    debtor: "DbtrAgt",
    creditor: "CdtrAgt",
    amount: "IntrBkSttlmAmt",
    currency: "IntrBkSttlmAmt/@Ccy",
};

/// The message a `Document` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Message {
    Pacs008,
    Pacs009,
    /// Any other message, by its root element's local name.
    Unsupported(String),
}

/// Paths (relative to a `CdtTrfTxInf`) whose first value is kept.
const TX_PATHS: &[&str] = &[
    "PmtId/InstrId",
    "PmtId/EndToEndId",
    "PmtId/TxId",
    "IntrBkSttlmAmt",
    "Amt/InstdAmt",
    "RmtInf/Ustrd",
    "Cdtr/CtctDtls/MobNb",
    "Cdtr/Id/PrvtId/Othr/Id",
    "Cdtr/Id/PrvtId/Othr/SchmeNm/Cd",
    "Cdtr/Id/PrvtId/Othr/SchmeNm/Prtry",
    "DbtrAgt/FinInstnId/BICFI",
    "DbtrAgt/FinInstnId/BIC",
    "DbtrAgt/FinInstnId/ClrSysMmbId/MmbId",
    "CdtrAgt/FinInstnId/BICFI",
    "CdtrAgt/FinInstnId/BIC",
    "CdtrAgt/FinInstnId/ClrSysMmbId/MmbId",
    "Dbtr/FinInstnId/BICFI",
    "Dbtr/FinInstnId/BIC",
    "Dbtr/FinInstnId/ClrSysMmbId/MmbId",
    "Cdtr/FinInstnId/BICFI",
    "Cdtr/FinInstnId/BIC",
    "Cdtr/FinInstnId/ClrSysMmbId/MmbId",
];
/// Elements (relative to a `CdtTrfTxInf`) whose presence and path are kept.
const TX_MARKS: &[&str] = &["DbtrAgt", "CdtrAgt", "Dbtr", "Cdtr"];
/// Paths (relative to `GrpHdr`) whose first value is kept.
const HDR_PATHS: &[&str] = &["MsgId", "NbOfTxs", "CtrlSum", "TtlIntrBkSttlmAmt"];

/// A value with the path it was read at.
#[derive(Debug, Clone)]
struct Seen {
    text: String,
    path: String,
}

#[derive(Debug, Default)]
struct Collected {
    values: BTreeMap<&'static str, Seen>,
    /// `Ccy` attribute of the amount, with its path.
    ccy: Option<Seen>,
}

impl Collected {
    fn get(&self, k: &str) -> Option<&Seen> {
        self.values.get(k)
    }
}

struct State<'b, 'g> {
    b: &'b mut Builder<'g>,
    /// Local names of the open elements, with their display labels (`CdtTrfTxInf[2]`).
    stack: Vec<(String, String)>,
    /// Index in `stack` of the `Document`, while inside it.
    doc: Option<usize>,
    documents: u32,
    message: Option<Message>,
    /// Index in `stack` of the open `GrpHdr` / `CdtTrfTxInf`.
    hdr: Option<usize>,
    tx: Option<usize>,
    hdr_values: Collected,
    tx_values: Collected,
    tx_count: u64,
    /// For unsupported messages: the decimal sum of the transactions' amounts.
    other_sum: Option<Decimal>,
    text: String,
    text_cut: bool,
    failed: bool,
}

/// Read an ISO 20022 batch into `b`.
pub(crate) fn parse_xml<R: BufRead>(input: R, b: &mut Builder<'_>) {
    let mut reader = quick_xml::Reader::from_reader(input);
    reader.config_mut().expand_empty_elements = true;
    reader.config_mut().check_end_names = true;
    let mut st = State {
        b,
        stack: Vec::new(),
        doc: None,
        documents: 0,
        message: None,
        hdr: None,
        tx: None,
        hdr_values: Collected::default(),
        tx_values: Collected::default(),
        tx_count: 0,
        other_sum: Some(Decimal { units: 0, scale: 0 }),
        text: String::new(),
        text_cut: false,
        failed: false,
    };
    let mut buf = Vec::new();
    loop {
        if st.b.full || st.failed {
            return;
        }
        buf.clear();
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => st.start(&e),
            Ok(Event::End(_)) => st.end(),
            Ok(Event::Text(t)) => {
                let s = t.xml_content(XmlVersion::Implicit1_0);
                st.push_text(&s);
            }
            Ok(Event::CData(t)) => {
                let s = t.xml_content(XmlVersion::Implicit1_0);
                st.push_text(&s);
            }
            Ok(Event::GeneralRef(r)) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    Ok(None) => {
                        quick_xml::escape::resolve_predefined_entity(&r).map(str::to_string)
                    }
                    Err(_) => None,
                };
                match resolved {
                    Some(s) => st.push_text(&s),
                    None => {
                        let at = st.location();
                        st.b.problem(
                            at,
                            "xml",
                            ReasonCode::InvalidFileFormat,
                            format!("unknown entity reference &{};", &*r),
                            None,
                        );
                    }
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {} // declarations, comments, processing instructions
            Err(e) => {
                let at = st.location();
                let pos = reader.error_position();
                st.b.problem(
                    at,
                    "xml",
                    ReasonCode::InvalidFileFormat,
                    format!("malformed XML at byte {pos}: {e}"),
                    None,
                );
                return;
            }
        }
    }
    if st.documents == 0 && !st.failed {
        st.b.problem(
            crate::Location::File,
            "Document",
            ReasonCode::InvalidFileFormat,
            "no ISO 20022 Document element: not a pacs.008/pacs.009 message".into(),
            None,
        );
    }
}

/// The message name from a `Document`'s namespace (`pacs.008.001.08`), if it has one.
fn namespace_message(e: &BytesStart<'_>) -> Option<String> {
    const URN: &str = "urn:iso:std:iso:20022:tech:xsd:";
    e.attributes().flatten().find_map(|a| {
        let key: &str = a.key.as_ref();
        if key != "xmlns" && !key.starts_with("xmlns:") {
            return None;
        }
        let v = a.normalized_value(XmlVersion::Implicit1_0).ok()?;
        let name = v.strip_prefix(URN)?;
        (!name.starts_with("head.")).then(|| name.chars().take(40).collect())
    })
}

/// What a message root element is, for the "not a batch" error.
fn describe(root: &str) -> &'static str {
    match root {
        "CstmrCdtTrfInitn" => "pain.001, a customer's payment initiation",
        "FIToFIPmtStsRpt" => "pacs.002, a payment status report",
        "BkToCstmrStmt" => "camt.053, a bank statement",
        "BkToCstmrDbtCdtNtfctn" => "camt.054, a debit/credit notification",
        "BkToCstmrAcctRpt" => "camt.052, an account report",
        "FIToFICstmrDrctDbt" => "pacs.003, a direct debit",
        "PmtRtr" => "pacs.004, a payment return",
        "FIToFIPmtCxlReq" => "camt.056, a cancellation request",
        _ => "an unknown message",
    }
}

impl State<'_, '_> {
    /// Path of the open element, from the `Document` (or the whole stack outside one).
    fn path_to(&self, depth_inclusive: usize) -> String {
        let from = self.doc.unwrap_or(0);
        let mut p = String::new();
        for (_, label) in self.stack.iter().take(depth_inclusive + 1).skip(from) {
            p.push('/');
            p.push_str(label);
        }
        p
    }

    fn path(&self) -> String {
        self.path_to(self.stack.len().saturating_sub(1))
    }

    fn location(&self) -> Location {
        if self.stack.is_empty() {
            Location::File
        } else {
            Location::XmlPath(self.path())
        }
    }

    fn push_text(&mut self, s: &str) {
        if push_bounded(&mut self.text, s) {
            self.text_cut = true;
        }
    }

    /// Names of the stack from `from` (exclusive) to the top, joined by `/`.
    fn rel(&self, from: usize) -> String {
        let mut r = String::new();
        for (name, _) in self.stack.iter().skip(from + 1) {
            if !r.is_empty() {
                r.push('/');
            }
            r.push_str(name);
        }
        r
    }

    fn start(&mut self, e: &BytesStart<'_>) {
        self.text.clear();
        self.text_cut = false;
        let local = e.local_name();
        let name: &str = local.as_ref();
        let name = name.to_string();
        if self.stack.len() >= XML_DEPTH_MAX {
            let at = self.location();
            self.b.problem(
                at,
                &name,
                ReasonCode::InvalidFileFormat,
                format!("elements nest deeper than {XML_DEPTH_MAX}"),
                None,
            );
            self.failed = true;
            return;
        }
        let depth = self.stack.len();
        let mut label = name.clone();
        match self.doc {
            None if name == "Document" => {
                self.documents += 1;
                self.doc = Some(depth);
                if self.documents > 1 {
                    self.stack.push((name.clone(), label));
                    let at = self.location();
                    self.b.problem(
                        at,
                        "Document",
                        ReasonCode::InvalidFileFormat,
                        "a second Document: a file holds exactly one message".into(),
                        None,
                    );
                    self.failed = true;
                    return;
                }
                self.b.message_name = namespace_message(e);
            }
            None => {}
            Some(doc) if depth == doc + 1 => {
                // The message root.
                let msg = match name.as_str() {
                    "FIToFICstmrCdtTrf" => Message::Pacs008,
                    "FICdtTrf" => Message::Pacs009,
                    _ => Message::Unsupported(name.clone()),
                };
                let generic = match msg {
                    Message::Pacs008 => Some("pacs.008"),
                    Message::Pacs009 => Some("pacs.009"),
                    Message::Unsupported(_) => None,
                };
                if let Some(g) = generic {
                    let from_ns = self
                        .b
                        .message_name
                        .as_deref()
                        .is_some_and(|n| n.starts_with(g));
                    if !from_ns {
                        self.b.message_name = Some(g.to_string());
                    }
                }
                if let Message::Unsupported(root) = &msg {
                    self.stack.push((name.clone(), label));
                    let at = self.location();
                    let version = self
                        .b
                        .message_name
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default();
                    self.b.problem(
                        at,
                        root,
                        ReasonCode::InvalidFileFormat,
                        format!(
                            "{root}{version} is {}: not a pacs.008/pacs.009; only \
                             FIToFICstmrCdtTrf (pacs.008) and FICdtTrf (pacs.009) batches can \
                             be submitted",
                            describe(root)
                        ),
                        None,
                    );
                    self.message = Some(msg);
                    return;
                }
                self.message = Some(msg);
            }
            Some(doc) => {
                if name == "GrpHdr" && depth == doc + 2 {
                    self.hdr = Some(depth);
                    self.hdr_values = Collected::default();
                } else if name == "CdtTrfTxInf" && self.tx.is_none() {
                    self.tx_count += 1;
                    label = format!("CdtTrfTxInf[{}]", self.tx_count);
                    self.tx = Some(depth);
                    self.tx_values = Collected::default();
                }
            }
        }
        self.stack.push((name, label));
        // Presence marks and the amount's currency attribute.
        if let Some(tx) = self.tx {
            if depth > tx {
                let rel = self.rel(tx);
                if let Some(k) = TX_MARKS.iter().find(|k| **k == rel) {
                    let path = self.path();
                    self.tx_values.values.entry(k).or_insert(Seen {
                        text: String::new(),
                        path,
                    });
                }
                if rel == "IntrBkSttlmAmt" || rel == "Amt/InstdAmt" {
                    self.tx_values.ccy = ccy_attr(e).map(|text| Seen {
                        text,
                        path: format!("{}/@Ccy", self.path()),
                    });
                }
            }
        } else if let Some(h) = self.hdr {
            if depth > h && self.rel(h) == "TtlIntrBkSttlmAmt" {
                self.hdr_values.ccy = ccy_attr(e).map(|text| Seen {
                    text,
                    path: format!("{}/@Ccy", self.path()),
                });
            }
        }
    }

    fn end(&mut self) {
        let depth = self.stack.len().saturating_sub(1);
        if self.text_cut {
            let at = self.location();
            let name = self
                .stack
                .last()
                .map(|(n, _)| n.clone())
                .unwrap_or_default();
            self.b.problem(
                at,
                &name,
                ReasonCode::InvalidFileFormat,
                format!("text longer than {FIELD_LEN_MAX} characters"),
                None,
            );
            self.text_cut = false;
        }
        if let Some(tx) = self.tx {
            if depth > tx {
                let rel = self.rel(tx);
                if let Some(k) = TX_PATHS.iter().find(|k| **k == rel) {
                    let path = self.path();
                    let text = self.text.trim().to_string();
                    self.tx_values
                        .values
                        .entry(k)
                        .or_insert(Seen { text, path });
                }
            } else if depth == tx {
                let path = self.path();
                self.tx = None;
                self.finish_tx(path);
            }
        } else if let Some(h) = self.hdr {
            if depth > h {
                let rel = self.rel(h);
                if let Some(k) = HDR_PATHS.iter().find(|k| **k == rel) {
                    let path = self.path();
                    let text = self.text.trim().to_string();
                    self.hdr_values
                        .values
                        .entry(k)
                        .or_insert(Seen { text, path });
                }
            } else if depth == h {
                self.hdr = None;
                if let Some(id) = self.hdr_values.get("MsgId") {
                    self.b.message_id = Some(id.text.clone());
                }
            }
        }
        if let Some(doc) = self.doc {
            if depth == doc + 1 {
                self.check_group_header();
            }
            if depth == doc {
                self.doc = None;
            }
        }
        self.text.clear();
        self.stack.pop();
    }

    fn agent(&self, prefix: &str) -> Option<RawParty> {
        let v = &self.tx_values;
        let mark = v.get(prefix)?;
        let bic = v
            .get(&format!("{prefix}/FinInstnId/BICFI"))
            .or_else(|| v.get(&format!("{prefix}/FinInstnId/BIC")));
        let clr = v.get(&format!("{prefix}/FinInstnId/ClrSysMmbId/MmbId"));
        let (location, field) = match (bic, clr) {
            (Some(s), _) => (s.path.clone(), s.path.rsplit('/').next().unwrap_or("BICFI")),
            (None, Some(s)) => (s.path.clone(), "MmbId"),
            (None, None) => (
                mark.path.clone(),
                prefix.split('/').next().unwrap_or(prefix),
            ),
        };
        Some(RawParty {
            key: PartyKey::Agent {
                bic: bic.map(|s| s.text.clone()),
                clearing: clr.map(|s| s.text.clone()),
            },
            location: Location::XmlPath(location),
            field: field.to_string(),
        })
    }

    fn finish_tx(&mut self, path: String) {
        match &self.message {
            Some(Message::Pacs008) | Some(Message::Pacs009) => {}
            _ => {
                // Not a batch: only count and sum for the group-header checks.
                let amount = self
                    .tx_values
                    .get("IntrBkSttlmAmt")
                    .or_else(|| self.tx_values.get("Amt/InstdAmt"))
                    .and_then(|s| Decimal::parse(&s.text).ok());
                self.other_sum = match (self.other_sum, amount) {
                    (Some(s), Some(a)) => s.checked_add(a),
                    _ => None,
                };
                return;
            }
        }
        let pacs009 = self.message == Some(Message::Pacs009);
        let v = &self.tx_values;
        let field = |k: &str| {
            v.get(k).map(|s| {
                RawField::new(
                    s.text.clone(),
                    Location::XmlPath(s.path.clone()),
                    k.rsplit('/').next().unwrap_or(k),
                )
            })
        };
        let mut raw = RawInstruction::new(Location::XmlPath(path), NAMES);
        raw.instr_id = v.get("PmtId/InstrId").map(|s| s.text.clone());
        raw.tx_id = v.get("PmtId/TxId").map(|s| s.text.clone());
        raw.end_to_end_id = v.get("PmtId/EndToEndId").map(|s| s.text.clone());
        // The id: InstrId (the instructing agent's), else TxId (unique between the agents),
        // else EndToEndId (the customer's; often "NOTPROVIDED", so last).
        raw.id = field("PmtId/InstrId")
            .or_else(|| field("PmtId/TxId"))
            .or_else(|| field("PmtId/EndToEndId").filter(|f| f.value != "NOTPROVIDED"));
        raw.debtor = self
            .agent("DbtrAgt")
            .or_else(|| pacs009.then(|| self.agent("Dbtr")).flatten());
        raw.creditor = self
            .agent("CdtrAgt")
            .or_else(|| pacs009.then(|| self.agent("Cdtr")).flatten());
        raw.amount = field("IntrBkSttlmAmt");
        raw.currency = v
            .ccy
            .as_ref()
            .filter(|_| raw.amount.is_some())
            .map(|s| RawField::new(s.text.clone(), Location::XmlPath(s.path.clone()), "Ccy"));
        raw.reference = field("RmtInf/Ustrd");
        raw.creditor_phone = field("Cdtr/CtctDtls/MobNb").or_else(|| {
            let scheme = v
                .get("Cdtr/Id/PrvtId/Othr/SchmeNm/Cd")
                .or_else(|| v.get("Cdtr/Id/PrvtId/Othr/SchmeNm/Prtry"))?
                .text
                .to_ascii_uppercase();
            let mobile = ["MSISDN", "MOBILE", "MOBNB", "PHONE", "TEL"]
                .iter()
                .any(|m| scheme.contains(m));
            mobile.then(|| field("Cdtr/Id/PrvtId/Othr/Id")).flatten()
        });
        self.b.instruction(raw);
    }

    fn check_group_header(&mut self) {
        let msg_path = self.path();
        let hdr = std::mem::take(&mut self.hdr_values);
        let supported = matches!(
            self.message,
            Some(Message::Pacs008) | Some(Message::Pacs009)
        );
        if supported && self.tx_count == 0 {
            self.b.problem(
                Location::XmlPath(format!("{msg_path}/CdtTrfTxInf")),
                "CdtTrfTxInf",
                ReasonCode::InvalidFileFormat,
                "the message holds no transaction".into(),
                None,
            );
        }
        if let Some(n) = hdr.get("NbOfTxs") {
            match n.text.parse::<u64>() {
                Ok(count) if count == self.tx_count => {}
                Ok(count) => self.b.problem(
                    Location::XmlPath(n.path.clone()),
                    "NbOfTxs",
                    ReasonCode::InvalidNumberOfTransactions,
                    format!("{count} but the message has {} transactions", self.tx_count),
                    None,
                ),
                Err(_) => self.b.problem(
                    Location::XmlPath(n.path.clone()),
                    "NbOfTxs",
                    ReasonCode::InvalidNumberOfTransactions,
                    format!("{:?} is not a number of transactions", n.text),
                    None,
                ),
            }
        } else if supported {
            self.b.problem(
                Location::XmlPath(format!("{msg_path}/GrpHdr/NbOfTxs")),
                "NbOfTxs",
                ReasonCode::InvalidNumberOfTransactions,
                "is missing".into(),
                None,
            );
        }
        if let (Some(ccy), true) = (&hdr.ccy, supported) {
            match self.b.currency() {
                Some((batch, _)) if ccy.text.trim() != batch.as_str() => self.b.problem(
                    Location::XmlPath(ccy.path.clone()),
                    "Ccy",
                    ReasonCode::NotAllowedCurrency,
                    format!("{} but the transactions are in {batch}", ccy.text.trim()),
                    None,
                ),
                Some(_) => {}
                None => {
                    let f =
                        RawField::new(ccy.text.clone(), Location::XmlPath(ccy.path.clone()), "Ccy");
                    self.b.check_currency(&f, None);
                }
            }
        }
        for key in ["CtrlSum", "TtlIntrBkSttlmAmt"] {
            let Some(s) = hdr.get(key) else { continue };
            let reason = if key == "CtrlSum" {
                ReasonCode::InvalidControlSum
            } else {
                ReasonCode::InvalidAmount
            };
            let stated = match Decimal::parse(&s.text) {
                Ok(d) => d,
                Err(e) => {
                    self.b.problem(
                        Location::XmlPath(s.path.clone()),
                        key,
                        reason,
                        e.message,
                        None,
                    );
                    continue;
                }
            };
            let mismatch = if supported {
                // Compare in minor units of the batch currency; skip when an amount failed
                // (that problem is already reported).
                match (self.b.currency(), self.b.sum_all_minor()) {
                    (Some((_, exponent)), Some(sum)) => match stated.to_minor(exponent) {
                        Ok(Some(m)) if m == sum => None,
                        Ok(Some(m)) => {
                            Some((format_minor(m, exponent), format_minor(sum, exponent)))
                        }
                        _ => Some((s.text.clone(), format_minor(sum, exponent))),
                    },
                    _ => None,
                }
            } else {
                match self.other_sum {
                    Some(sum) if !sum.equals(stated) => Some((s.text.clone(), sum.to_string())),
                    _ => None,
                }
            };
            if let Some((stated, sum)) = mismatch {
                self.b.problem(
                    Location::XmlPath(s.path.clone()),
                    key,
                    reason,
                    format!("{stated} but the transactions sum to {sum}"),
                    None,
                );
            }
        }
    }
}

fn ccy_attr(e: &BytesStart<'_>) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        let local = a.key.local_name();
        let k: &str = local.as_ref();
        (k == "Ccy")
            .then(|| a.normalized_value(XmlVersion::Implicit1_0).ok())
            .flatten()
            .map(|v| v.trim().to_string())
    })
}
