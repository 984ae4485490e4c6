//! Exact decimals as written in a file, and amounts in minor units of a currency: a non-zero
//! digit beyond the currency's exponent is refused, never rounded.

use crate::model::ReasonCode;
use settlenet_types::{Amount, Currency};

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
