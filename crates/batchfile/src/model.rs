//! What a parse returns: formats, locations, problems, instructions, totals and options.

use settlenet_types::{Amount, Currency, MemberId};
use std::collections::BTreeMap;
use std::fmt;

/// Default for [`ParseOptions::max_errors`].
pub const MAX_ERRORS_DEFAULT: usize = 100;
/// Most instructions one file may hold; past this the file is refused (one problem, parsing stops).
pub const INSTRUCTIONS_MAX: usize = 1_000_000;
/// Longest instruction id: ISO 20022 `Max35Text`.
pub const ID_LEN_MAX: usize = 35;
/// Longest reference: ISO 20022 `Max140Text` (`RmtInf/Ustrd`).
pub const REFERENCE_LEN_MAX: usize = 140;
/// Longest text kept from one field; longer values are a problem, not a truncation.
pub const FIELD_LEN_MAX: usize = 1024;

/// A batch file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// Comma-separated values with a header line (see the crate docs).
    Csv,
    /// A JSON object with an `instructions` array (see the crate docs).
    Json,
    /// ISO 20022 XML: pacs.008 (`FIToFICstmrCdtTrf`) or pacs.009 (`FICdtTrf`).
    Iso20022,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Csv => "CSV",
            Format::Json => "JSON",
            Format::Iso20022 => "ISO 20022 XML",
        })
    }
}

/// Where in the file something is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// A line of a CSV file (1-based; the header is line 1), or of a JSON file for syntax errors.
    Line(u64),
    /// An element of an XML file, from its `Document`:
    /// `/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[2]/IntrBkSttlmAmt` (attributes as `/@Ccy`).
    XmlPath(String),
    /// A value of a JSON file, as a JSON Pointer: `/instructions/3/amount`.
    JsonPath(String),
    /// The file as a whole (e.g. it holds no instruction).
    File,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::XmlPath(p) | Location::JsonPath(p) => f.write_str(p),
            Location::File => f.write_str("file"),
        }
    }
}

/// An ISO 20022 external status reason code (`ExternalStatusReason1Code`), as carried in a
/// pacs.002 `StsRsnInf/Rsn/Cd`. Every [`Problem`] names the one that fits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReasonCode {
    /// `AM01`: the amount is zero.
    ZeroAmount,
    /// `AM02`: the amount is above what is allowed (does not fit in 64 bits of minor units).
    NotAllowedAmount,
    /// `AM03`: the currency is not allowed (not held, not the window's, or mixed).
    NotAllowedCurrency,
    /// `AM04`: the debtor cannot cover the amount (reported at settlement, never by parsing).
    InsufficientFunds,
    /// `AM10`: the group header's control sum does not match the transactions.
    InvalidControlSum,
    /// `AM12`: the amount is missing or malformed (sign, too many decimals).
    InvalidAmount,
    /// `AM18`: the group header's number of transactions does not match.
    InvalidNumberOfTransactions,
    /// `AC01`: the creditor's account (here: mobile number) is malformed.
    IncorrectAccountNumber,
    /// `AGNT`: the agents are wrong for this payment (debtor and creditor are the same member).
    IncorrectAgent,
    /// `DUPL`: the instruction id was already used in this file.
    DuplicatePayment,
    /// `FF01`: the file or message is malformed, of an unsupported type, or misses a field.
    InvalidFileFormat,
    /// `RC01`: no member has this BIC, clearing member id or name.
    BankIdentifierIncorrect,
    /// `NARR`: see the additional information.
    Narrative,
}

impl ReasonCode {
    /// The four-character ISO code.
    pub fn code(self) -> &'static str {
        match self {
            ReasonCode::ZeroAmount => "AM01",
            ReasonCode::NotAllowedAmount => "AM02",
            ReasonCode::NotAllowedCurrency => "AM03",
            ReasonCode::InsufficientFunds => "AM04",
            ReasonCode::InvalidControlSum => "AM10",
            ReasonCode::InvalidAmount => "AM12",
            ReasonCode::InvalidNumberOfTransactions => "AM18",
            ReasonCode::IncorrectAccountNumber => "AC01",
            ReasonCode::IncorrectAgent => "AGNT",
            ReasonCode::DuplicatePayment => "DUPL",
            ReasonCode::InvalidFileFormat => "FF01",
            ReasonCode::BankIdentifierIncorrect => "RC01",
            ReasonCode::Narrative => "NARR",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One thing wrong with a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: a CSV line, an XML element path, a JSON pointer, or the file.
    pub location: Location,
    /// Which field: a CSV column or JSON key (`amount`), an XML element or attribute (`CtrlSum`,
    /// `Ccy`).
    pub field: String,
    /// What is wrong, for a person. Never repeats a phone number.
    pub message: String,
    /// The ISO status reason that fits, for a pacs.002 rejection.
    pub reason: ReasonCode,
    /// The id of the instruction the problem belongs to, when it is known.
    pub instruction_id: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::Line(n) => write!(f, "line {n}, field {}: {}", self.field, self.message),
            // The path already ends with the element or attribute that is the field.
            Location::XmlPath(p) | Location::JsonPath(p) => write!(f, "{p}: {}", self.message),
            Location::File => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

/// How to parse a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Force a format; `None` detects it from the extension (`.csv`, `.json`, `.xml`) and then
    /// from the content (`<` is XML, `{` is JSON, anything else CSV).
    pub format: Option<Format>,
    /// The settlement window's currency: any other currency is a problem.
    pub expected_currency: Option<Currency>,
    /// Country calling code (`"250"`) for national mobile numbers written with a trunk `0`.
    /// Numbers with `+`, `00` or full MSISDN digits do not need it.
    pub default_country: Option<String>,
    /// Keep the first `max_errors` problems and only count the rest
    /// ([`ParsedBatch::errors_omitted`]).
    pub max_errors: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            format: None,
            expected_currency: None,
            default_country: None,
            max_errors: MAX_ERRORS_DEFAULT,
        }
    }
}

/// One valid instruction: the debtor member pays the creditor member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedInstruction {
    /// 0-based position among the file's instructions (valid or not).
    pub index: usize,
    /// Where it is in the file (for XML: its `CdtTrfTxInf[n]`).
    pub location: Location,
    /// Its id (at most 35 characters), unique in the file: the CSV/JSON `id`, or for ISO 20022
    /// the first of `PmtId/InstrId`, `PmtId/TxId`, `PmtId/EndToEndId`.
    pub id: String,
    /// ISO 20022 `PmtId/EndToEndId`, echoed in a pacs.002 as `OrgnlEndToEndId`.
    pub end_to_end_id: Option<String>,
    /// ISO 20022 `PmtId/InstrId`, echoed in a pacs.002 as `OrgnlInstrId`.
    pub instr_id: Option<String>,
    /// ISO 20022 `PmtId/TxId`, echoed in a pacs.002 as `OrgnlTxId`.
    pub tx_id: Option<String>,
    /// The member that pays.
    pub debtor: MemberId,
    /// The member that is paid.
    pub creditor: MemberId,
    /// The amount in minor units (exact; never rounded).
    pub amount: Amount,
    /// Its currency (the batch's currency).
    pub currency: Currency,
    /// Free-text reference (`RmtInf/Ustrd`, CSV/JSON `reference`).
    pub reference: Option<String>,
    /// The creditor's mobile number in E.164, when the creditor is a wallet at the creditor member.
    pub creditor_phone: Option<String>,
}

/// Totals of the valid instructions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Number of valid instructions.
    pub count: u64,
    /// Sum of their amounts, minor units.
    pub sum_minor: u128,
    /// What each member pays, minor units.
    pub per_debtor: BTreeMap<MemberId, u128>,
    /// What each member receives, minor units.
    pub per_creditor: BTreeMap<MemberId, u128>,
}

/// A parsed and validated batch file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedBatch {
    /// The detected (or forced) format.
    pub format: Format,
    /// ISO 20022 `GrpHdr/MsgId`, or the JSON `message_id`.
    pub message_id: Option<String>,
    /// ISO 20022 message name and version from the `Document` namespace (`pacs.008.001.08`), or
    /// `pacs.008`/`pacs.009` when the namespace does not say.
    pub message_name: Option<String>,
    /// The batch currency: the first instruction's, else the expected one, else the genesis' first.
    pub currency: Currency,
    /// Its minor-unit exponent (from the genesis).
    pub exponent: u8,
    /// The valid instructions, in file order. Meaningful only when [`ParsedBatch::is_ok`].
    pub instructions: Vec<ParsedInstruction>,
    /// Totals of the valid instructions.
    pub totals: Totals,
    /// Instructions seen in the file, valid or not.
    pub instructions_seen: u64,
    /// The first [`ParseOptions::max_errors`] problems, in file order.
    pub errors: Vec<Problem>,
    /// Problems found beyond `max_errors` (counted, not kept).
    pub errors_omitted: u64,
}

impl ParsedBatch {
    /// True when the file has no problem at all: only then may it change anything.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty() && self.errors_omitted == 0
    }

    /// Number of problems found (kept and omitted).
    pub fn error_count(&self) -> u64 {
        (self.errors.len() as u64).saturating_add(self.errors_omitted)
    }
}
