//! Checking one record: every field checked (every problem reported, not only the first), the
//! id unique in the file, debtor and creditor different members; a record without problems is
//! kept and counted in the totals.

use super::amount::parse_amount;
use super::raw::RawInstruction;
use super::Builder;
use crate::model::{
    ParsedInstruction, ReasonCode, ID_LEN_MAX, INSTRUCTIONS_MAX, REFERENCE_LEN_MAX,
};

impl Builder<'_> {
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
}
