//! What a format reader hands to the `Builder`: each text with where it was written and its field
//! name, before any check; and the bound on a text while it is read.

use crate::model::{Location, FIELD_LEN_MAX};

/// A text value read from a file, with where it was and its field name.
#[derive(Debug, Clone)]
pub(crate) struct RawField {
    pub value: String,
    pub location: Location,
    pub field: String,
    /// Present but already reported as wrong (e.g. a JSON number where a string belongs).
    pub reported: bool,
}

impl RawField {
    /// A value read at `location` for `field`.
    pub fn new(value: impl Into<String>, location: Location, field: impl Into<String>) -> RawField {
        RawField {
            value: value.into(),
            location,
            field: field.into(),
            reported: false,
        }
    }
}

/// How a party (debtor or creditor member) was written.
#[derive(Debug, Clone)]
pub(crate) enum PartyKey {
    /// A CSV/JSON cell: member name, BIC or clearing member id.
    Any(String),
    /// Present but already reported as wrong.
    Reported,
    /// An ISO 20022 `FinInstnId`: BIC (`BICFI`/`BIC`) and/or `ClrSysMmbId/MmbId`.
    Agent {
        bic: Option<String>,
        clearing: Option<String>,
    },
}

/// A party with where it was written.
#[derive(Debug, Clone)]
pub(crate) struct RawParty {
    pub key: PartyKey,
    pub location: Location,
    pub field: String,
}

/// Field names to use when a field is missing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldNames {
    pub id: &'static str,
    pub debtor: &'static str,
    pub creditor: &'static str,
    pub amount: &'static str,
    pub currency: &'static str,
}

/// One record as read, before any check.
#[derive(Debug, Clone)]
pub(crate) struct RawInstruction {
    /// Where the record is (a line, a `CdtTrfTxInf[n]`, a JSON array element).
    pub location: Location,
    /// Where a missing field would have been; for XML, `location` plus `/Element`.
    pub names: FieldNames,
    pub id: Option<RawField>,
    pub instr_id: Option<String>,
    pub end_to_end_id: Option<String>,
    pub tx_id: Option<String>,
    pub debtor: Option<RawParty>,
    pub creditor: Option<RawParty>,
    pub amount: Option<RawField>,
    pub currency: Option<RawField>,
    pub reference: Option<RawField>,
    pub creditor_phone: Option<RawField>,
    /// The reader already reported a problem with this record (e.g. an unknown JSON key).
    pub prior_problem: bool,
}

impl RawInstruction {
    /// A record at `location` with no field read yet.
    pub fn new(location: Location, names: FieldNames) -> RawInstruction {
        RawInstruction {
            location,
            names,
            id: None,
            instr_id: None,
            end_to_end_id: None,
            tx_id: None,
            debtor: None,
            creditor: None,
            amount: None,
            currency: None,
            reference: None,
            creditor_phone: None,
            prior_problem: false,
        }
    }

    /// Where a missing `field` would be.
    pub(super) fn missing_at(&self, field: &str) -> Location {
        match &self.location {
            Location::XmlPath(p) => Location::XmlPath(format!("{p}/{field}")),
            Location::JsonPath(p) => Location::JsonPath(format!("{p}/{field}")),
            other => other.clone(),
        }
    }
}

/// Cap a text at [`FIELD_LEN_MAX`] characters while it is read; `true` if it was cut.
pub(crate) fn push_bounded(buf: &mut String, text: &str) -> bool {
    let room = FIELD_LEN_MAX.saturating_sub(buf.len());
    if text.len() <= room {
        buf.push_str(text);
        false
    } else {
        let mut end = room;
        while end > 0 && !text.is_char_boundary(end) {
            end -= 1;
        }
        buf.push_str(&text[..end]);
        true
    }
}
