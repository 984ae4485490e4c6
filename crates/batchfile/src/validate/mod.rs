//! Checks shared by every format: member resolution, exact amounts, currencies, ids, totals.
//!
//! Each format reader turns a record into a `RawInstruction` (texts with their locations) and
//! hands it to `Builder::instruction`, which checks it against the genesis and either keeps a
//! [`ParsedInstruction`] or records every [`Problem`] it has.
//!
//! This file holds the `Builder`: the state of one file being checked, problem reporting (the
//! first `max_errors` kept, the rest counted) and the whole-file close. The rest, one concern a
//! file:
//!
//! - `raw.rs`: what a reader hands over (texts and parties with where they were written).
//! - `record.rs`: checking one record and keeping it (ids, parties, currency, amount, totals).
//! - `fields.rs`: the field checks a record is made of (currency, member, text, mobile number).
//! - `members.rs`: looking members up by name, BIC and clearing member id.
//! - `amount.rs`: exact decimals and amounts in minor units, never rounded.

mod amount;
mod fields;
mod members;
mod raw;
mod record;

pub(crate) use amount::Decimal;
pub use amount::{parse_amount, AmountError};
pub use members::{normalize_bic, Resolver};
pub(crate) use raw::{push_bounded, FieldNames, PartyKey, RawField, RawInstruction, RawParty};

use crate::model::{
    Format, Location, ParseOptions, ParsedBatch, ParsedInstruction, Problem, ReasonCode, Totals,
};
use settlenet_types::{Currency, Genesis};
use std::collections::HashSet;

/// Accumulates instructions and problems for one file.
pub(crate) struct Builder<'a> {
    genesis: &'a Genesis,
    resolver: Resolver,
    opts: &'a ParseOptions,
    pub format: Format,
    pub message_id: Option<String>,
    pub message_name: Option<String>,
    /// The batch currency, its exponent, and where it was first seen.
    currency: Option<(Currency, u8, Location)>,
    ids: HashSet<String>,
    instructions: Vec<ParsedInstruction>,
    totals: Totals,
    /// Sum of every parsed amount, valid instruction or not (for ISO group-header checks);
    /// `None` once an amount could not be parsed.
    sum_all_minor: Option<u128>,
    seen: u64,
    errors: Vec<Problem>,
    errors_omitted: u64,
    /// Set when the file exceeded [`INSTRUCTIONS_MAX`](crate::model::INSTRUCTIONS_MAX); readers
    /// stop.
    pub full: bool,
}

impl<'a> Builder<'a> {
    /// An empty batch in `format`, checked against `genesis` with `opts`.
    pub fn new(genesis: &'a Genesis, opts: &'a ParseOptions, format: Format) -> Builder<'a> {
        Builder {
            genesis,
            resolver: Resolver::new(genesis),
            opts,
            format,
            message_id: None,
            message_name: None,
            currency: None,
            ids: HashSet::new(),
            instructions: Vec::new(),
            totals: Totals::default(),
            sum_all_minor: Some(0),
            seen: 0,
            errors: Vec::new(),
            errors_omitted: 0,
            full: false,
        }
    }

    /// Record a problem (kept while under `max_errors`, counted after).
    pub fn problem(
        &mut self,
        location: Location,
        field: &str,
        reason: ReasonCode,
        message: String,
        instruction_id: Option<&str>,
    ) {
        if self.errors.len() < self.opts.max_errors {
            self.errors.push(Problem {
                location,
                field: field.to_string(),
                message,
                reason,
                instruction_id: instruction_id.map(str::to_string),
            });
        } else {
            self.errors_omitted = self.errors_omitted.saturating_add(1);
        }
    }

    /// The batch currency and exponent, once known.
    pub fn currency(&self) -> Option<(Currency, u8)> {
        self.currency.as_ref().map(|(c, e, _)| (*c, *e))
    }

    /// Sum of all parsed amounts (valid instruction or not), if every amount parsed.
    pub fn sum_all_minor(&self) -> Option<u128> {
        self.sum_all_minor
    }

    /// Close the batch; an empty batch is a problem.
    pub fn finish(mut self, empty_location: Location) -> ParsedBatch {
        if self.seen == 0 && self.errors.is_empty() && self.errors_omitted == 0 {
            self.problem(
                empty_location,
                "instructions",
                ReasonCode::InvalidFileFormat,
                "the file holds no instruction".into(),
                None,
            );
        }
        let (currency, exponent) = match (&self.currency, self.opts.expected_currency) {
            (Some((c, e, _)), _) => (*c, *e),
            (None, Some(c)) => (c, self.genesis.exponent(c).unwrap_or(0)),
            (None, None) => self
                .genesis
                .currencies
                .first()
                .map(|c| (c.code, c.exponent))
                .unwrap_or((Currency(*b"XXX"), 0)),
        };
        ParsedBatch {
            format: self.format,
            message_id: self.message_id,
            message_name: self.message_name,
            currency,
            exponent,
            instructions: self.instructions,
            totals: self.totals,
            instructions_seen: self.seen,
            errors: self.errors,
            errors_omitted: self.errors_omitted,
        }
    }
}
