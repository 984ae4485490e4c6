//! Checks shared by every format: member resolution, exact amounts, currencies, ids, totals.
//!
//! Each format reader turns a record into a `RawInstruction` (texts with their locations) and
//! hands it to `Builder::instruction`, which checks it against the genesis and either keeps a
//! [`ParsedInstruction`] or records every [`Problem`] it has.

use crate::model::{
    Format, Location, ParseOptions, ParsedBatch, ParsedInstruction, Problem, ReasonCode, Totals,
    FIELD_LEN_MAX, ID_LEN_MAX, INSTRUCTIONS_MAX, REFERENCE_LEN_MAX,
};
use settlenet_types::{normalize_e164, Amount, Currency, Genesis, MemberId};
use std::collections::{BTreeMap, HashSet};

/// A member identifier that more than one genesis member carries.
const AMBIGUOUS: MemberId = MemberId(u16::MAX);

/// Normalise a BIC for comparison: uppercase, an 8-character BIC gets its `XXX` branch.
/// `None` when the text is not a BIC (see `settlenet_types::genesis::normalize_bic`).
pub fn normalize_bic(text: &str) -> Option<String> {
    // One definition of a BIC for the genesis and the files.
    settlenet_types::genesis::normalize_bic(text).ok()
}

/// Looks members up by name, BIC (8 == 11 with `XXX`) and clearing member id.
#[derive(Debug, Clone)]
pub struct Resolver {
    by_name: BTreeMap<String, MemberId>,
    by_bic: BTreeMap<String, MemberId>,
    by_clearing: BTreeMap<String, MemberId>,
}

fn insert_unique(map: &mut BTreeMap<String, MemberId>, key: String, id: MemberId) {
    map.entry(key)
        .and_modify(|m| {
            if *m != id {
                *m = AMBIGUOUS;
            }
        })
        .or_insert(id);
}

impl Resolver {
    /// Index a genesis' members.
    pub fn new(genesis: &Genesis) -> Resolver {
        let mut r = Resolver {
            by_name: BTreeMap::new(),
            by_bic: BTreeMap::new(),
            by_clearing: BTreeMap::new(),
        };
        for m in &genesis.members {
            insert_unique(&mut r.by_name, m.name.clone(), m.id);
            if let Some(bic) = m.bic.as_deref().and_then(normalize_bic) {
                insert_unique(&mut r.by_bic, bic, m.id);
            }
            if let Some(c) = m.clearing_id.as_deref() {
                insert_unique(&mut r.by_clearing, c.trim().to_string(), m.id);
            }
        }
        r
    }

    fn found(kind: &str, text: &str, hit: Option<&MemberId>) -> Result<Option<MemberId>, String> {
        match hit {
            Some(&AMBIGUOUS) => Err(format!(
                "{kind} {text:?} belongs to more than one member in the genesis"
            )),
            Some(&id) => Ok(Some(id)),
            None => Ok(None),
        }
    }

    /// The member with this BIC.
    pub fn by_bic(&self, bic: &str) -> Result<MemberId, String> {
        let norm = normalize_bic(bic)
            .ok_or_else(|| format!("{bic:?} is not a BIC (8 or 11 letters and digits)"))?;
        Self::found("BIC", &norm, self.by_bic.get(&norm))?
            .ok_or_else(|| format!("no member has BIC {norm} in the genesis"))
    }

    /// The member with this clearing member id.
    pub fn by_clearing(&self, id: &str) -> Result<MemberId, String> {
        let t = id.trim();
        Self::found("clearing member id", t, self.by_clearing.get(t))?
            .ok_or_else(|| format!("no member has clearing member id {t:?} in the genesis"))
    }

    /// The member a CSV/JSON cell names: by name, then BIC, then clearing member id.
    pub fn by_any(&self, text: &str) -> Result<MemberId, String> {
        let t = text.trim();
        if let Some(id) = Self::found("name", t, self.by_name.get(t))? {
            return Ok(id);
        }
        if let Some(bic) = normalize_bic(t) {
            if let Some(id) = Self::found("BIC", &bic, self.by_bic.get(&bic))? {
                return Ok(id);
            }
        }
        if let Some(id) = Self::found("clearing member id", t, self.by_clearing.get(t))? {
            return Ok(id);
        }
        Err(format!(
            "no member has the name, BIC or clearing member id {t:?} in the genesis"
        ))
    }
}

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountError {
    /// The reason code that fits.
    pub reason: ReasonCode,
    /// For a person.
    pub message: String,
}

/// A non-negative decimal exactly as written: `units / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decimal {
    pub units: u128,
    pub scale: u32,
}

/// Most decimals a decimal in a file may carry (ISO 20022 amounts have at most 5; sums 17).
const DECIMALS_MAX: usize = 18;

impl Decimal {
    /// Parse `[+]digits[.digits]`; `-` is reported as negative.
    pub fn parse(text: &str) -> Result<Decimal, AmountError> {
        let invalid = |message: String| AmountError {
            reason: ReasonCode::InvalidAmount,
            message,
        };
        let t = text.trim();
        if t.is_empty() {
            return Err(invalid("is empty".into()));
        }
        if t.starts_with('-') {
            return Err(invalid(format!("{t:?} is negative")));
        }
        let body = t.strip_prefix('+').unwrap_or(t);
        let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
        if (int_part.is_empty() && frac_part.is_empty())
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(invalid(format!(
                "{t:?} is not a decimal number (digits with at most one '.')"
            )));
        }
        if frac_part.len() > DECIMALS_MAX {
            return Err(invalid(format!(
                "{t:?} has more than {DECIMALS_MAX} decimals"
            )));
        }
        let too_big = || AmountError {
            reason: ReasonCode::NotAllowedAmount,
            message: format!("{t:?} is too large"),
        };
        let mut units: u128 = 0;
        for b in int_part.bytes().chain(frac_part.bytes()) {
            units = units
                .checked_mul(10)
                .and_then(|u| u.checked_add(u128::from(b - b'0')))
                .ok_or_else(too_big)?;
        }
        Ok(Decimal {
            units,
            scale: frac_part.len() as u32,
        })
    }

    /// The value in minor units of a currency with `exponent` decimals, if exact: decimals
    /// beyond the exponent must be zeros (`12.50` is fine for exponent 1, `12.55` is not).
    /// `Ok(None)` when the value is exact but does not fit in `u128`.
    pub fn to_minor(self, exponent: u8) -> Result<Option<u128>, u32> {
        let exp = u32::from(exponent);
        if self.scale > exp {
            let drop = 10u128.pow(self.scale - exp);
            if !self.units.is_multiple_of(drop) {
                return Err(self.significant_decimals());
            }
            Ok(Some(self.units / drop))
        } else {
            Ok(10u128
                .checked_pow(exp - self.scale)
                .and_then(|m| self.units.checked_mul(m)))
        }
    }

    /// Both at the larger scale, if that fits.
    fn aligned(self, other: Decimal) -> Option<(u128, u128, u32)> {
        let scale = self.scale.max(other.scale);
        let a = self
            .units
            .checked_mul(10u128.checked_pow(scale - self.scale)?)?;
        let b = other
            .units
            .checked_mul(10u128.checked_pow(scale - other.scale)?)?;
        Some((a, b, scale))
    }

    /// The exact sum, if it fits.
    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        let (a, b, scale) = self.aligned(other)?;
        Some(Decimal {
            units: a.checked_add(b)?,
            scale,
        })
    }

    /// Numerically equal (`10.00` equals `10`).
    pub fn equals(self, other: Decimal) -> bool {
        self.aligned(other).is_some_and(|(a, b, _)| a == b)
    }

    /// Decimals up to the last non-zero one.
    fn significant_decimals(self) -> u32 {
        let mut s = self.scale;
        let mut u = self.units;
        while s > 0 && u.is_multiple_of(10) {
            u /= 10;
            s -= 1;
        }
        s
    }
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match u8::try_from(self.scale) {
            Ok(e) => f.write_str(&settlenet_types::ids::format_minor(self.units, e)),
            Err(_) => write!(f, "{}e-{}", self.units, self.scale),
        }
    }
}

/// Parse an amount exactly into minor units of `currency` (with `exponent` decimals).
///
/// Refused: empty, negative, zero, not a plain decimal, a non-zero digit beyond the exponent
/// (never rounded), more than `u64::MAX` minor units. Trailing zeros beyond the exponent are
/// exact and accepted (`"10.00"` for a currency with no decimals is `10`).
pub fn parse_amount(text: &str, currency: Currency, exponent: u8) -> Result<Amount, AmountError> {
    let t = text.trim();
    let d = Decimal::parse(t)?;
    let minor = match d.to_minor(exponent) {
        Ok(m) => m,
        Err(decimals) => {
            return Err(AmountError {
                reason: ReasonCode::InvalidAmount,
                message: format!("{t:?} has {decimals} decimals, {currency} allows {exponent}"),
            })
        }
    };
    let too_big = || AmountError {
        reason: ReasonCode::NotAllowedAmount,
        message: format!("{t:?} does not fit in 64 bits of minor units"),
    };
    let minor = minor.ok_or_else(too_big)?;
    if minor == 0 {
        return Err(AmountError {
            reason: ReasonCode::ZeroAmount,
            message: format!("{t:?} is zero; an instruction must move money"),
        });
    }
    u64::try_from(minor).map(Amount).map_err(|_| too_big())
}

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
    fn missing_at(&self, field: &str) -> Location {
        match &self.location {
            Location::XmlPath(p) => Location::XmlPath(format!("{p}/{field}")),
            Location::JsonPath(p) => Location::JsonPath(format!("{p}/{field}")),
            other => other.clone(),
        }
    }
}

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
    /// Set when the file exceeded [`INSTRUCTIONS_MAX`]; readers stop.
    pub full: bool,
}

impl<'a> Builder<'a> {
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

    /// Check a currency code against the genesis, the window and the batch; on success it
    /// becomes the batch currency if there was none. Records problems; returns the currency.
    pub fn check_currency(&mut self, raw: &RawField, id: Option<&str>) -> Option<(Currency, u8)> {
        if raw.reported {
            return None;
        }
        let code: Currency = match raw.value.trim().parse() {
            Ok(c) => c,
            Err(_) => {
                self.problem(
                    raw.location.clone(),
                    &raw.field,
                    ReasonCode::NotAllowedCurrency,
                    format!(
                        "{:?} is not a three-letter uppercase ISO 4217 code",
                        raw.value.trim()
                    ),
                    id,
                );
                return None;
            }
        };
        let Some(exponent) = self.genesis.exponent(code) else {
            let held: Vec<&str> = self
                .genesis
                .currencies
                .iter()
                .map(|c| c.code.as_str())
                .collect();
            self.problem(
                raw.location.clone(),
                &raw.field,
                ReasonCode::NotAllowedCurrency,
                format!(
                    "currency {code} is not held by this network (the genesis has {})",
                    held.join(", ")
                ),
                id,
            );
            return None;
        };
        if let Some(expected) = self.opts.expected_currency {
            if expected != code {
                self.problem(
                    raw.location.clone(),
                    &raw.field,
                    ReasonCode::NotAllowedCurrency,
                    format!("currency {code} but the settlement window is in {expected}"),
                    id,
                );
                return None;
            }
        }
        match &self.currency {
            Some((batch, _, first)) if *batch != code => {
                let message =
                    format!("currency {code} but the file's currency is {batch} (from {first})");
                self.problem(
                    raw.location.clone(),
                    &raw.field,
                    ReasonCode::NotAllowedCurrency,
                    message,
                    id,
                );
                None
            }
            Some(_) => Some((code, exponent)),
            None => {
                self.currency = Some((code, exponent, raw.location.clone()));
                Some((code, exponent))
            }
        }
    }

    fn resolve(&mut self, party: &RawParty, id: Option<&str>) -> Option<MemberId> {
        let result = match &party.key {
            PartyKey::Reported => return None,
            PartyKey::Any(text) => self.resolver.by_any(text),
            PartyKey::Agent { bic, clearing } => match (bic.as_deref(), clearing.as_deref()) {
                (Some(b), Some(c)) => match (self.resolver.by_bic(b), self.resolver.by_clearing(c))
                {
                    (Ok(x), Ok(y)) if x != y => Err(format!(
                        "BIC {b} and clearing member id {c:?} name different members"
                    )),
                    (Ok(x), _) | (_, Ok(x)) => Ok(x),
                    (Err(e), Err(_)) => Err(format!("{e}, nor clearing member id {:?}", c.trim())),
                },
                (Some(b), None) => self.resolver.by_bic(b),
                (None, Some(c)) => self.resolver.by_clearing(c),
                (None, None) => Err(
                    "names no BIC (BICFI/BIC) and no clearing member id (ClrSysMmbId/MmbId)"
                        .to_string(),
                ),
            },
        };
        match result {
            Ok(m) => Some(m),
            Err(message) => {
                self.problem(
                    party.location.clone(),
                    &party.field,
                    ReasonCode::BankIdentifierIncorrect,
                    message,
                    id,
                );
                None
            }
        }
    }

    fn check_text(&mut self, raw: &RawField, max: usize, id: Option<&str>) -> Option<String> {
        if raw.reported {
            return None;
        }
        let v = raw.value.trim();
        if v.is_empty() {
            self.problem(
                raw.location.clone(),
                &raw.field,
                ReasonCode::InvalidFileFormat,
                "is empty".into(),
                id,
            );
            return None;
        }
        let n = v.chars().count();
        if n > max {
            self.problem(
                raw.location.clone(),
                &raw.field,
                ReasonCode::InvalidFileFormat,
                format!("has {n} characters, at most {max} are allowed"),
                id,
            );
            return None;
        }
        if v.chars().any(char::is_control) {
            self.problem(
                raw.location.clone(),
                &raw.field,
                ReasonCode::InvalidFileFormat,
                "contains control characters".into(),
                id,
            );
            return None;
        }
        Some(v.to_string())
    }

    fn missing(&mut self, raw: &RawInstruction, field: &str, reason: ReasonCode, id: Option<&str>) {
        let at = raw.missing_at(field);
        self.problem(at, field, reason, "is missing".into(), id);
    }

    /// Check one record; keep it if it has no problem.
    pub fn instruction(&mut self, raw: RawInstruction) {
        if self.full {
            return;
        }
        let index = self.seen as usize;
        if index >= INSTRUCTIONS_MAX {
            self.full = true;
            self.problem(
                raw.location.clone(),
                raw.names.id,
                ReasonCode::InvalidFileFormat,
                format!("the file has more than {INSTRUCTIONS_MAX} instructions; split it"),
                None,
            );
            return;
        }
        self.seen += 1;
        let problems_before = self.errors.len() as u64 + self.errors_omitted;

        // Id: present, at most 35 characters, unique in the file.
        let id = match &raw.id {
            None => {
                self.missing(&raw, raw.names.id, ReasonCode::InvalidFileFormat, None);
                None
            }
            Some(f) => self.check_text(f, ID_LEN_MAX, None),
        };
        let idr = id.as_deref();
        if let (Some(i), Some(f)) = (idr, &raw.id) {
            if !self.ids.insert(i.to_string()) {
                self.problem(
                    f.location.clone(),
                    &f.field,
                    ReasonCode::DuplicatePayment,
                    format!("instruction id {i:?} is used more than once in the file"),
                    idr,
                );
            }
        }

        let debtor = match &raw.debtor {
            None => {
                self.missing(
                    &raw,
                    raw.names.debtor,
                    ReasonCode::BankIdentifierIncorrect,
                    idr,
                );
                None
            }
            Some(p) => self.resolve(p, idr),
        };
        let creditor = match &raw.creditor {
            None => {
                self.missing(
                    &raw,
                    raw.names.creditor,
                    ReasonCode::BankIdentifierIncorrect,
                    idr,
                );
                None
            }
            Some(p) => self.resolve(p, idr),
        };
        if let (Some(d), Some(c), Some(p)) = (debtor, creditor, &raw.creditor) {
            if d == c {
                let name = self
                    .genesis
                    .members
                    .get(usize::from(d.0))
                    .map(|m| m.name.clone())
                    .unwrap_or_default();
                self.problem(
                    p.location.clone(),
                    &p.field,
                    ReasonCode::IncorrectAgent,
                    format!("debtor and creditor are the same member ({name}); nothing to settle"),
                    idr,
                );
            }
        }

        let currency = match &raw.currency {
            None => {
                self.missing(
                    &raw,
                    raw.names.currency,
                    ReasonCode::NotAllowedCurrency,
                    idr,
                );
                None
            }
            Some(f) => self.check_currency(f, idr),
        };

        let amount = match (&raw.amount, currency) {
            (None, _) => {
                self.missing(&raw, raw.names.amount, ReasonCode::InvalidAmount, idr);
                None
            }
            (Some(f), _) if f.reported => None,
            (Some(_), None) => None, // the currency problem is reported; no exponent to check
            (Some(f), Some((code, exponent))) => match parse_amount(&f.value, code, exponent) {
                Ok(a) => Some(a),
                Err(e) => {
                    self.problem(f.location.clone(), &f.field, e.reason, e.message, idr);
                    None
                }
            },
        };
        self.sum_all_minor = match (self.sum_all_minor, amount) {
            (Some(s), Some(a)) => s.checked_add(u128::from(a.0)),
            _ => None,
        };

        let reference = match &raw.reference {
            Some(f) if !f.value.trim().is_empty() => self.check_text(f, REFERENCE_LEN_MAX, idr),
            _ => None,
        };

        let creditor_phone = match &raw.creditor_phone {
            Some(f) if !f.reported && !f.value.trim().is_empty() => self.phone(f, idr),
            _ => None,
        };

        let problems_after = self.errors.len() as u64 + self.errors_omitted;
        if problems_after != problems_before || raw.prior_problem {
            return;
        }
        let (Some(id), Some(debtor), Some(creditor), Some(amount), Some((currency, _))) =
            (id, debtor, creditor, amount, currency)
        else {
            return;
        };
        let t = &mut self.totals;
        t.count += 1;
        t.sum_minor = t.sum_minor.saturating_add(u128::from(amount.0));
        let d = t.per_debtor.entry(debtor).or_insert(0);
        *d = d.saturating_add(u128::from(amount.0));
        let c = t.per_creditor.entry(creditor).or_insert(0);
        *c = c.saturating_add(u128::from(amount.0));
        self.instructions.push(ParsedInstruction {
            index,
            location: raw.location,
            id,
            end_to_end_id: raw.end_to_end_id,
            instr_id: raw.instr_id,
            tx_id: raw.tx_id,
            debtor,
            creditor,
            amount,
            currency,
            reference,
            creditor_phone,
        });
    }

    fn phone(&mut self, raw: &RawField, id: Option<&str>) -> Option<String> {
        let v = raw.value.trim();
        // `normalize_e164` needs a default country code only for trunk-0 national numbers.
        let cleaned: String = v
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let national = cleaned.starts_with('0') && !cleaned.starts_with("00");
        let cc = match self.opts.default_country.as_deref() {
            Some(cc) => cc.to_string(),
            None if national => {
                self.problem(
                    raw.location.clone(),
                    &raw.field,
                    ReasonCode::IncorrectAccountNumber,
                    "the creditor's mobile number is a national number (leading 0) and no \
                     default country code is configured"
                        .into(),
                    id,
                );
                return None;
            }
            // Not used for numbers with +, 00 or full MSISDN digits.
            None => "1".to_string(),
        };
        match normalize_e164(v, &cc) {
            Ok(n) => Some(n.as_str().to_string()),
            Err(e) => {
                // The types error never repeats the number (no phone numbers in logs).
                self.problem(
                    raw.location.clone(),
                    &raw.field,
                    ReasonCode::IncorrectAccountNumber,
                    format!("the creditor's mobile number is not usable: {e}"),
                    id,
                );
                None
            }
        }
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
