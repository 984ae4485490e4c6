//! The field checks a record is made of: a currency against the genesis, the window and the
//! batch; a party resolved to a member; a bounded text; a creditor's mobile number. Each records
//! its problems on the `Builder` and returns the value only when it is usable.

use super::raw::{PartyKey, RawField, RawInstruction, RawParty};
use super::Builder;
use crate::model::ReasonCode;
use settlenet_types::{normalize_e164, Currency, MemberId};

impl Builder<'_> {
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

    pub(super) fn resolve(&mut self, party: &RawParty, id: Option<&str>) -> Option<MemberId> {
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

    pub(super) fn check_text(
        &mut self,
        raw: &RawField,
        max: usize,
        id: Option<&str>,
    ) -> Option<String> {
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

    pub(super) fn missing(
        &mut self,
        raw: &RawInstruction,
        field: &str,
        reason: ReasonCode,
        id: Option<&str>,
    ) {
        let at = raw.missing_at(field);
        self.problem(at, field, reason, "is missing".into(), id);
    }

    pub(super) fn phone(&mut self, raw: &RawField, id: Option<&str>) -> Option<String> {
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
}
