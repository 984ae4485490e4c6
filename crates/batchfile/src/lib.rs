//! # settlenet-batchfile
//!
//! ## Overview
//! Settlement batch files as members send them to `settlenet batch submit` / `batch check`:
//! CSV, JSON, and ISO 20022 `pacs.008` (any `pacs.008.001.*`) and `pacs.009` messages. A file is
//! parsed and validated against the [`Genesis`] as a whole: every instruction is resolved to a
//! debtor and a creditor member, its amount read exactly in minor units, and *every* problem
//! reported with its CSV line or XML element path and its field. A file with any problem must
//! change nothing. The crate also writes what goes back to a bank's system: an ISO 20022
//! `pacs.002` status report ([`write_pacs002`]) and a `camt.053` statement ([`write_camt053`]).
//!
//! It is pure: no network, no clock (times are passed in as epoch milliseconds), and no file
//! access except [`parse_file`] reading the named file.
//!
//! ## Design
//! ```text
//!  file ─┬─ .csv  ─ csv::Reader (record by record) ──┐
//!        ├─ .json ─ serde_json::Value (whole file) ───┼─> RawInstruction ─> Builder ─> ParsedBatch
//!        └─ .xml  ─ quick_xml::Reader (event stream) ─┘   (texts+places)   (genesis)   (+ Problems)
//! ```
//! - **Streaming.** CSV and XML are read as streams: a 100,000-instruction file holds only the
//!   parsed instructions in memory, never a tree of the document. JSON is read whole (bounded).
//! - **Format detection**: [`ParseOptions::format`], else the extension (`.csv`, `.json`,
//!   `.xml`), else the first non-blank byte (`<` XML, `{` JSON, anything else CSV).
//! - **ISO 20022**: elements are matched by local name, so namespace prefixes and versions do
//!   not matter. The `Document` is found at any depth (bare, in a `<message>` or `<Envelope>`
//!   next to an `AppHdr`); its first child must be `FIToFICstmrCdtTrf` (pacs.008) or `FICdtTrf`
//!   (pacs.009), anything else (pain.001, pacs.002, camt.053, ...) is refused as "not a
//!   pacs.008/pacs.009". Per `CdtTrfTxInf`: the amount is `IntrBkSttlmAmt` with its `Ccy`; the
//!   debtor member is `DbtrAgt/FinInstnId`, the creditor member `CdtrAgt/FinInstnId` (for
//!   pacs.009, when those agents are absent, `Dbtr/FinInstnId` and `Cdtr/FinInstnId`), each by
//!   `BICFI` (or the older `BIC`) and/or `ClrSysMmbId/MmbId`; the instruction id is `InstrId`,
//!   else `TxId`, else `EndToEndId`; the reference is the first `RmtInf/Ustrd`; a creditor
//!   wallet is `Cdtr/CtctDtls/MobNb` (or `Cdtr/Id/PrvtId/Othr/Id` when its scheme names a
//!   mobile number), normalised to E.164. Unknown elements and comments are ignored. The group
//!   header's `NbOfTxs`, `CtrlSum` and `TtlIntrBkSttlmAmt` (and its `Ccy`) must match the
//!   transactions. For a refused message type the header counts are still checked, so that a
//!   pain.001 whose `NbOfTxs` is wrong is reported for that too.
//! - **Members** come from the genesis: by BIC (an 8-character BIC equals its `XXX` branch:
//!   `BANKGB2L` == `BANKGB2LXXX`, case-insensitive), by clearing member id (exact), and in
//!   CSV/JSON also by member name. An identifier that two members share is a problem, never a
//!   guess.
//! - **Problems, not errors.** [`parse_file`] returns `Err` only when the file cannot be read;
//!   everything wrong inside it is a [`Problem`] in [`ParsedBatch::errors`] (the first
//!   [`ParseOptions::max_errors`], the rest counted in [`ParsedBatch::errors_omitted`]). Each
//!   problem names the ISO status reason that fits it, so a pacs.002 rejection can be written
//!   ([`StatusReport::for_batch`]).
//!
//! ## CSV format
//! UTF-8, comma-separated, a header line naming the columns in any order (case-insensitive):
//! ```text
//! id,debtor,creditor,amount,currency,reference
//! inv-2025-0001,bank-a,BANKGB2L,1250.00,USD,March invoice
//! inv-2025-0002,021040078,bank-a,0.99,USD,
//! ```
//! - `id` (required): the instruction id, 1 to 35 characters, unique in the file;
//! - `debtor`, `creditor` (required): a member's name, BIC, or clearing member id;
//! - `amount` (required): a plain decimal (`1250`, `1250.5`, `1250.50`), no sign, no exponent,
//!   no thousands separator, at most the currency's decimals (trailing zeros beyond it are
//!   exact and accepted); greater than zero;
//! - `currency` (required): the ISO 4217 code, the same on every line;
//! - `reference` (optional): free text, at most 140 characters;
//! - `creditor_phone` (optional): the creditor wallet's mobile number (E.164, `+250-70610388`,
//!   MSISDN digits, or a national number with [`ParseOptions::default_country`]).
//!
//! Fields are trimmed; quote fields that contain commas (`"Smith, J"`). Lines starting with
//! `#` and blank lines are skipped. Line numbers in problems count from the header (line 1).
//!
//! ## JSON format
//! ```json
//! {
//!   "message_id": "batch-2025-03-10-1",
//!   "currency": "USD",
//!   "instructions": [
//!     {"id": "inv-1", "debtor": "bank-a", "creditor": "BANKGB2L", "amount": "12.50",
//!      "currency": "USD", "reference": "March invoice"},
//!     {"id": "inv-2", "debtor": "bank-b", "creditor": "bank-a", "amount": "7",
//!      "creditor_phone": "+250-70610388"}
//!   ]
//! }
//! ```
//! Fields mean what they mean in CSV. Amounts are decimal **strings**: a JSON number is refused,
//! since JSON numbers are floats to most producers. An instruction's `currency` defaults to the
//! top-level `currency`; `message_id` (optional) is echoed in a pacs.002. Unknown keys are
//! problems (a typo must not silently drop a field). Problems are located by JSON Pointer
//! (`/instructions/3/amount`).
//!
//! ## Invariants
//! - A [`ParsedBatch`] with [`ParsedBatch::is_ok`] has: every instruction resolved to two
//!   different members, an amount > 0 in minor units of the one batch currency (held by the
//!   genesis, equal to [`ParseOptions::expected_currency`] when given), unique ids of at most 35
//!   characters; and `totals` are the exact count and sums of `instructions`. For ISO files the
//!   group header agrees with the transactions.
//! - An amount is never rounded: a non-zero digit beyond the currency's exponent is a problem.
//! - Everything read is bounded: [`INSTRUCTIONS_MAX`] instructions, [`FIELD_LEN_MAX`] characters
//!   per field, [`iso_in::XML_DEPTH_MAX`] nesting, [`json_in::JSON_BYTES_MAX`] bytes of JSON.
//! - No problem message repeats a phone number.
//! - A written camt.053's closing balance is opening + credits - debits, exactly.
//!
//! ## Layout
//! ```text
//! lib.rs               this design doc; format detection; parse_file / parse_bytes
//! model.rs             what a parse returns: ParsedBatch, instructions, problems, totals, bounds
//! error.rs             BatchFileError, the crate's one error type (a file that cannot be read)
//! csv_in.rs            the CSV reader (record by record)
//! json_in.rs           the JSON reader (whole file, bounded)
//! iso_in.rs            the ISO 20022 pacs.008 / pacs.009 reader (XML event stream)
//! validate/mod.rs      the Builder: one file's state, problem reporting, the whole-file close
//! validate/raw.rs      what a reader hands over: texts and parties with where they were written
//! validate/record.rs   checking one record and keeping it in the totals
//! validate/fields.rs   field checks: currency, member, bounded text, creditor mobile number
//! validate/members.rs  members by name, BIC and clearing member id (Resolver)
//! validate/amount.rs   exact decimals and amounts in minor units, never rounded
//! pacs002.rs           the pacs.002 status report written back to a bank
//! camt053.rs           the camt.053 statement written back to a bank
//! xml_out.rs           a minimal XML text writer (indented, escaped) shared by both writers
//! civil_time.rs        epoch milliseconds to ISO 8601 text (UTC, no clock, no dependency)
//! tests/common/        a genesis whose members carry the sample files' BICs and clearing ids
//! tests/formats.rs     CSV, JSON and synthetic ISO 20022: accepted forms, every kind of problem
//! tests/samples.rs     public ISO 20022 samples, accepted or rejected for the right reason
//! tests/scale_and_props.rs  100,000 rows streamed; exact amount parsing (property tests)
//! tests/writers.rs     pacs.002 and camt.053 written, then read back
//! ```

pub mod camt053;
pub mod civil_time;
mod csv_in;
pub mod error;
pub mod iso_in;
pub mod json_in;
pub mod model;
pub mod pacs002;
pub mod pain013;
pub mod validate;
pub mod xml_out;

pub use camt053::{write_camt053, EntryTotals, Period, Statement, StatementEntry};
pub use error::BatchFileError;
pub use model::{
    Format, Location, ParseOptions, ParsedBatch, ParsedInstruction, Problem, ReasonCode, Totals,
    FIELD_LEN_MAX, ID_LEN_MAX, INSTRUCTIONS_MAX, MAX_ERRORS_DEFAULT, REFERENCE_LEN_MAX,
};
pub use pacs002::{write_pacs002, StatusReason, StatusReport, TxStatus, TxStatusEntry};
pub use pain013::{
    write_pain013, write_pain014, Agent, ChargeReportStatus, ChargeRequestDoc, PAIN013_NAMESPACE,
    PAIN014_NAMESPACE,
};
pub use validate::{normalize_bic, parse_amount, AmountError, Resolver};
pub use xml_out::escape_xml;

use settlenet_types::Genesis;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use validate::Builder;

/// The format a file name's extension names, if any.
pub fn format_from_name(name: &str) -> Option<Format> {
    let ext = Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "csv" => Some(Format::Csv),
        "json" => Some(Format::Json),
        "xml" => Some(Format::Iso20022),
        _ => None,
    }
}

/// The format the first non-blank byte suggests (after a UTF-8 byte-order mark).
pub fn format_from_content(head: &[u8]) -> Format {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => Format::Iso20022,
        Some(b'{') => Format::Json,
        _ => Format::Csv,
    }
}

fn run<R: BufRead>(
    format: Format,
    input: R,
    genesis: &Genesis,
    opts: &ParseOptions,
    name: &str,
) -> Result<ParsedBatch, BatchFileError> {
    let mut b = Builder::new(genesis, opts, format);
    match format {
        Format::Csv => csv_in::parse_csv(input, &mut b),
        Format::Iso20022 => iso_in::parse_xml(input, &mut b),
        Format::Json => {
            let mut bytes = Vec::new();
            input
                .take(json_in::JSON_BYTES_MAX as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(|source| BatchFileError::Io {
                    path: name.to_string(),
                    source,
                })?;
            json_in::parse_json(&bytes, &mut b);
        }
    }
    Ok(b.finish(Location::File))
}

/// Parse and validate a batch file from disk, streaming it.
///
/// `Err` only when the file cannot be opened or read; every problem inside it is in
/// [`ParsedBatch::errors`].
pub fn parse_file(
    path: &Path,
    genesis: &Genesis,
    opts: &ParseOptions,
) -> Result<ParsedBatch, BatchFileError> {
    let name = path.display().to_string();
    let io = |source| BatchFileError::Io {
        path: name.clone(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let format = match opts.format.or_else(|| format_from_name(&name)) {
        Some(f) => f,
        None => format_from_content(reader.fill_buf().map_err(io)?),
    };
    run(format, reader, genesis, opts, &name)
}

/// Parse and validate a batch held in memory; `name` is used for format detection by
/// extension (it may be empty) and in messages.
pub fn parse_bytes(
    name: &str,
    bytes: &[u8],
    genesis: &Genesis,
    opts: &ParseOptions,
) -> Result<ParsedBatch, BatchFileError> {
    let format = opts
        .format
        .or_else(|| format_from_name(name))
        .unwrap_or_else(|| format_from_content(bytes));
    run(format, bytes, genesis, opts, name)
}
