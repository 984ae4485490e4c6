//! Phone numbers: E.164 normalisation and the alias the ledger stores instead of the number.
//!
//! A plain or salted hash of a phone number is reversed by enumerating the ~10^10 numbers of a
//! country, so the ledger only ever sees `alias = HMAC-SHA256(K, E.164 number)`, where `K` is a
//! consortium secret held in node and CLI configuration (never on the ledger) and identified by a
//! key version carried next to the alias. This module is pure: the node or the CLI calls
//! [`normalize_e164`] then [`phone_alias`], and only the alias goes into a transaction.
//!
//! Accepted spellings (after removing spaces, `-`, `.`, `(`, `)`):
//! - E.164 with a plus: `+25070610388`, `+250 706 103 88`, ISO 20022's `+250-70610388`;
//! - the international prefix `00`: `0025070610388`;
//! - bare MSISDN digits, which by definition include the country code: `25070610388`;
//! - a national number with a trunk `0`: `070610388` takes the default country code.
//!
//! The result has 8 to 15 digits after the `+` (E.164 allows at most 15) and never starts with
//! `0`. Nothing here checks numbering plans; a well-formed but unassigned number is accepted.
//! Error messages say why a number was refused but never repeat it: they reach API answers and
//! logs, where no phone number may appear.

use crate::error::TypesError;
use crate::ids::Hash;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Most digits an E.164 number has (country code included).
pub const E164_DIGITS_MAX: usize = 15;
/// Fewest digits accepted (country code included); shorter strings are typos, not numbers.
pub const E164_DIGITS_MIN: usize = 8;
/// Longest input accepted before normalisation (bounds the work on outside input).
pub const PHONE_INPUT_LEN_MAX: usize = 32;

/// A phone number in E.164 form (`+` then 8 to 15 digits, the first not `0`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct E164(String);

impl E164 {
    /// The number as text, e.g. `+25070610388`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for E164 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(reason: impl Into<String>) -> TypesError {
    TypesError::Parse {
        field: "phone number",
        reason: reason.into(),
    }
}

/// Normalise a phone number to E.164. `default_country_code` (1 to 3 digits, e.g. `"250"`) is
/// used only for national numbers written with a trunk `0`.
pub fn normalize_e164(input: &str, default_country_code: &str) -> Result<E164, TypesError> {
    if input.len() > PHONE_INPUT_LEN_MAX {
        return Err(bad(format!("longer than {PHONE_INPUT_LEN_MAX} characters")));
    }
    let cc = default_country_code.trim().trim_start_matches('+');
    if cc.is_empty()
        || cc.len() > 3
        || !cc.bytes().all(|b| b.is_ascii_digit())
        || cc.starts_with('0')
    {
        return Err(bad(format!(
            "default country code {default_country_code:?} is not 1 to 3 digits"
        )));
    }
    let cleaned: String = input
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let (plus, rest) = match cleaned.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, cleaned.as_str()),
    };
    if rest.is_empty() {
        return Err(bad("no digits"));
    }
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "contains characters other than digits, spaces and - . ( ) (and one leading +)",
        ));
    }
    let digits = if plus {
        rest.to_string()
    } else if let Some(international) = rest.strip_prefix("00") {
        international.to_string()
    } else if let Some(national) = rest.strip_prefix('0') {
        format!("{cc}{national}")
    } else {
        rest.to_string()
    };
    if digits.starts_with('0') {
        return Err(bad("a country code never starts with 0"));
    }
    if digits.len() < E164_DIGITS_MIN || digits.len() > E164_DIGITS_MAX {
        return Err(bad(format!(
            "has {} digits with its country code; E.164 numbers have {E164_DIGITS_MIN} to \
             {E164_DIGITS_MAX}",
            digits.len()
        )));
    }
    Ok(E164(format!("+{digits}")))
}

/// The alias the ledger stores for a phone number: `HMAC-SHA256(key, "+25070610388")`.
///
/// The key is the consortium secret of one key version; callers send that version with the
/// alias (`alias_key_version` in `RegisterWallet`) so that keys can be rotated.
pub fn phone_alias(key: &[u8], number: &E164) -> Hash {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(number.as_str().as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    Hash(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_normalise_to_e164() {
        let ok: &[(&str, &str, &str)] = &[
            ("+25070610388", "250", "+25070610388"),
            ("+250 706 103 88", "250", "+25070610388"),
            ("+250-70610388", "250", "+25070610388"),
            ("25070610388", "250", "+25070610388"),
            ("0025070610388", "250", "+25070610388"),
            ("070610388", "250", "+25070610388"),
            ("0706 103 88", "+250", "+25070610388"),
            ("(070) 610-388", "250", "+25070610388"),
            ("  +1 (415) 555-0100 ", "250", "+14155550100"),
            ("07911123456", "44", "+447911123456"),
            ("+123456789012345", "1", "+123456789012345"),
            ("+12345678", "1", "+12345678"),
        ];
        for (input, cc, want) in ok {
            let got = normalize_e164(input, cc).map(|n| n.as_str().to_string());
            assert_eq!(got.as_deref(), Ok(*want), "{input:?} with default {cc}");
        }
    }

    #[test]
    fn malformed_numbers_are_refused() {
        let bad: &[(&str, &str)] = &[
            ("", "250"),
            ("+", "250"),
            ("   ", "250"),
            ("+250 70610388x", "250"),
            ("+250+70610388", "250"),
            ("tel:+25070610388", "250"),
            ("+1234567", "250"),          // 7 digits
            ("+1234567890123456", "250"), // 16 digits
            ("+0250706103", "250"),       // country code starting with 0
            ("000250706103", "250"),      // 00 then 0
            ("0123", "250"),              // national, too short
            ("+２５０70610388", "250"),   // non-ASCII digits
            ("070610388", ""),            // no default country code
            ("070610388", "2500"),        // default country code too long
            ("070610388", "0"),           // default country code starting with 0
            ("070610388", "2a"),
            ("+250 706 103 88 00 00 00 00 00 00", "250"), // longer than the input bound
        ];
        for (input, cc) in bad {
            let err = normalize_e164(input, cc).expect_err("should be refused");
            let digits: String = input.chars().filter(|c| c.is_ascii_digit()).collect();
            if digits.len() >= 4 {
                assert!(
                    !err.to_string().contains(&digits) && !err.to_string().contains(input),
                    "{input:?}: the error repeats the number: {err}"
                );
            }
        }
    }

    #[test]
    fn aliases_are_hmac_sha256_of_the_e164_text() {
        let n = normalize_e164("+250 706 103 88", "250").expect("valid");
        // Reference: python3 -c "import hmac,hashlib;print(hmac.new(b'consortium-key-v1',
        //   b'+25070610388',hashlib.sha256).hexdigest())"
        assert_eq!(
            phone_alias(b"consortium-key-v1", &n).to_hex(),
            REFERENCE_ALIAS
        );
        // Every spelling of the number gives the same alias; another key gives another alias.
        for spelling in ["+250-70610388", "25070610388", "070610388"] {
            let m = normalize_e164(spelling, "250").expect("valid");
            assert_eq!(
                phone_alias(b"consortium-key-v1", &m),
                phone_alias(b"consortium-key-v1", &n)
            );
        }
        assert_ne!(
            phone_alias(b"consortium-key-v2", &n),
            phone_alias(b"consortium-key-v1", &n)
        );
    }

    const REFERENCE_ALIAS: &str =
        "eea54096ca0c249e2e83a81ef411501a6a4233e666d5b88989a7575eb3b4d006";
}
