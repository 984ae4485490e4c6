//! Identifiers and quantities.

use crate::error::TypesError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

crate::hex_newtype!(
    /// A blake3 digest.
    Hash, 32, "hash"
);
crate::hex_newtype!(
    /// An ed25519 public key (validator, staff member or wallet owner).
    PublicKey, 32, "public key"
);
crate::hex_newtype!(
    /// An ed25519 signature.
    Signature, 64, "signature"
);
crate::hex_newtype!(
    /// A 128-bit transaction id, derived from the signer's key, the client's nonce and the
    /// transaction's validity ([`TxId::derive`]): retrying the same signed transaction is
    /// idempotent, and nobody without the signer's key can take the id first.
    TxId, 16, "transaction id"
);
crate::hex_newtype!(
    /// A client-chosen 128-bit transaction nonce: with the signer's key and the validity it
    /// gives the transaction id ([`TxId::derive`]).
    TxNonce, 16, "transaction nonce"
);
crate::hex_newtype!(
    /// A 128-bit account id (wallet ids are chosen by the client; member accounts are derived).
    AccountId, 16, "account id"
);

crate::hex_newtype!(
    /// A client-chosen 128-bit id of a hold (an authorized, not yet resolved merchant payment).
    HoldId, 16, "hold id"
);

crate::hex_newtype!(
    /// A client-chosen 128-bit id of a charge request (a merchant asking a payer to pay a given
    /// amount; the payer approves it with a hold).
    ChargeId, 16, "charge id"
);

crate::hex_newtype!(
    /// A client-chosen 128-bit id of a settlement batch: its chunks are staged under it and one
    /// `SettleBatch` applies them all.
    BatchId, 16, "batch id"
);

impl Hash {
    /// The all-zero hash, used as "no previous block" at height 1.
    pub const ZERO: Hash = Hash([0; 32]);
}

impl TxId {
    /// The id of the transaction that `signer` signs with `nonce`, valid until
    /// `valid_until_ms`: the first 16 bytes of `Domain::TransactionId` over the key, the nonce
    /// and the validity (u64 big-endian). Ids are scoped by signer: a transaction another key
    /// signs can never carry this id (that would take a 128-bit preimage), so seeing a pending
    /// transaction does not let anyone claim its id first. Binding the validity makes an id's
    /// life finite: once consensus time passes `valid_until_ms` no transaction with this id can
    /// execute again, so the ledger forgets ids past their validity (bounded idempotency) and
    /// an id still executes at most once, ever.
    pub fn derive(signer: &PublicKey, nonce: &TxNonce, valid_until_ms: u64) -> TxId {
        let mut payload = [0u8; 56];
        payload[..32].copy_from_slice(&signer.0);
        payload[32..48].copy_from_slice(&nonce.0);
        payload[48..].copy_from_slice(&valid_until_ms.to_be_bytes());
        let hash = crate::codec::Domain::TransactionId.hash(&payload);
        let mut out = [0u8; 16];
        out.copy_from_slice(&hash.0[..16]);
        TxId(out)
    }
}

impl AccountId {
    /// Deterministic id of a member-owned account, from a purpose label and the member's name.
    pub fn derived(purpose: &str, member: &str, currency: Currency) -> AccountId {
        let mut h = blake3::Hasher::new();
        h.update(b"settlenet/derived-account/v1\0");
        h.update(purpose.as_bytes());
        h.update(&[0]);
        h.update(member.as_bytes());
        h.update(&[0]);
        h.update(&currency.0);
        let mut out = [0u8; 16];
        out.copy_from_slice(&h.finalize().as_bytes()[..16]);
        AccountId(out)
    }
}

macro_rules! int_newtype {
    ($(#[$meta:meta])* $name:ident, $int:ty) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $int);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

int_newtype!(
    /// A block height; equal to the PBFT sequence number of the block. Height 0 is the genesis.
    Height, u64
);
int_newtype!(
    /// A PBFT view number; the primary of view `v` is validator `v mod n`.
    View, u64
);
int_newtype!(
    /// A validator's index in the genesis validator list.
    ReplicaId, u16
);
int_newtype!(
    /// A member's index in the genesis member list.
    MemberId, u16
);
int_newtype!(
    /// An amount in integer minor units of one currency (cents for USD). Never a float.
    Amount, u64
);

impl Height {
    /// The next height.
    pub fn next(self) -> Height {
        Height(self.0.saturating_add(1))
    }
}

impl View {
    /// The next view.
    pub fn next(self) -> View {
        View(self.0.saturating_add(1))
    }
}

/// An ISO 4217 currency code, three uppercase ASCII letters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency(pub [u8; 3]);

impl Currency {
    /// ISO 4217 `XXX`, "no currency": the currency field of ledger entries that hold no money
    /// (e.g. an observer node's registration).
    pub const NONE: Currency = Currency(*b"XXX");

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Constructed only from uppercase ASCII (see FromStr), so always valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl FromStr for Currency {
    type Err = TypesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.trim().as_bytes();
        if b.len() != 3 || !b.iter().all(|c| c.is_ascii_uppercase()) {
            return Err(TypesError::Parse {
                field: "currency",
                reason: format!("{s:?} is not a three-letter uppercase ISO 4217 code"),
            });
        }
        Ok(Currency([b[0], b[1], b[2]]))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(self.as_str())
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            let b = <[u8; 3]>::deserialize(d)?;
            let s = std::str::from_utf8(&b).map_err(serde::de::Error::custom)?;
            s.parse().map_err(serde::de::Error::custom)
        }
    }
}

impl Amount {
    /// Parse a decimal amount as people write it ("12.50") into minor units, exactly: more decimals
    /// than the currency's exponent is an error, never a rounding.
    pub fn parse_decimal(text: &str, exponent: u8) -> Result<Amount, TypesError> {
        let err = |reason: String| TypesError::Parse {
            field: "amount",
            reason,
        };
        let t = text.trim();
        if t.is_empty() {
            return Err(err("empty amount".into()));
        }
        let (int_part, frac_part) = match t.split_once('.') {
            Some((i, f)) => (i, f),
            None => (t, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(err(format!("{t:?} has no digits")));
        }
        if !int_part.bytes().all(|c| c.is_ascii_digit())
            || !frac_part.bytes().all(|c| c.is_ascii_digit())
        {
            return Err(err(format!(
                "{t:?} is not a plain decimal number (digits and at most one '.')"
            )));
        }
        if frac_part.len() > exponent as usize {
            return Err(err(format!(
                "{t:?} has {} decimals but the currency has {exponent}",
                frac_part.len()
            )));
        }
        let scale = 10u64
            .checked_pow(u32::from(exponent))
            .ok_or_else(|| err("currency exponent too large".into()))?;
        let int_value: u64 = if int_part.is_empty() {
            0
        } else {
            int_part
                .parse()
                .map_err(|_| err(format!("{t:?} does not fit in 64 bits of minor units")))?
        };
        let mut frac_value: u64 = 0;
        for (i, c) in frac_part.bytes().enumerate() {
            let digit = u64::from(c - b'0');
            let place = 10u64.pow(u32::from(exponent) - 1 - i as u32);
            frac_value += digit * place;
        }
        int_value
            .checked_mul(scale)
            .and_then(|v| v.checked_add(frac_value))
            .map(Amount)
            .ok_or_else(|| err(format!("{t:?} does not fit in 64 bits of minor units")))
    }

    /// Format minor units as a decimal with the currency's exponent ("1250" -> "12.50").
    pub fn to_decimal(self, exponent: u8) -> String {
        format_minor(u128::from(self.0), exponent)
    }
}

/// Format a non-negative count of minor units as a decimal string.
pub fn format_minor(value: u128, exponent: u8) -> String {
    if exponent == 0 {
        return value.to_string();
    }
    let scale = 10u128.pow(u32::from(exponent));
    format!(
        "{}.{:0width$}",
        value / scale,
        value % scale,
        width = exponent as usize
    )
}

/// Format a signed count of minor units as a decimal string.
pub fn format_signed_minor(value: i128, exponent: u8) -> String {
    let sign = if value < 0 { "-" } else { "" };
    format!("{sign}{}", format_minor(value.unsigned_abs(), exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_exactly() {
        let cases: &[(&str, u8, Option<u64>)] = &[
            ("12.50", 2, Some(1250)),
            ("12.5", 2, Some(1250)),
            ("12", 2, Some(1200)),
            (".5", 2, Some(50)),
            ("0.01", 2, Some(1)),
            ("12.505", 2, None),
            ("-1", 2, None),
            ("1e3", 2, None),
            ("", 2, None),
            (".", 2, None),
            ("184467440737095516.15", 2, Some(u64::MAX)),
            ("184467440737095516.16", 2, None),
            ("7", 0, Some(7)),
            ("7.0", 0, None),
        ];
        for (text, exp, want) in cases {
            let got = Amount::parse_decimal(text, *exp).ok().map(|a| a.0);
            assert_eq!(got, *want, "parse {text:?} exp {exp}");
        }
    }

    #[test]
    fn amounts_format() {
        assert_eq!(Amount(1250).to_decimal(2), "12.50");
        assert_eq!(Amount(5).to_decimal(2), "0.05");
        assert_eq!(Amount(5).to_decimal(0), "5");
        assert_eq!(format_signed_minor(-5, 2), "-0.05");
    }

    #[test]
    fn hex_ids_round_trip_and_reject_garbage() {
        let id: TxId = "00112233445566778899aabbccddeeff".parse().expect("parse");
        assert_eq!(id.to_string(), "00112233445566778899aabbccddeeff");
        assert!("0011".parse::<TxId>().is_err());
        assert!("zz112233445566778899aabbccddeeff".parse::<TxId>().is_err());
        let json = serde_json::to_string(&id).expect("json");
        assert_eq!(json, "\"00112233445566778899aabbccddeeff\"");
        let back: TxId = serde_json::from_str(&json).expect("json back");
        assert_eq!(back, id);
        let bin = crate::encode("id", &id).expect("bin");
        assert_eq!(bin.len(), 16);
    }

    #[test]
    fn currency_codes() {
        assert!("USD".parse::<Currency>().is_ok());
        assert!("usd".parse::<Currency>().is_err());
        assert!("US".parse::<Currency>().is_err());
        let c: Currency = "EUR".parse().expect("eur");
        assert_eq!(crate::encode("c", &c).expect("bin"), b"EUR".to_vec());
    }
}
