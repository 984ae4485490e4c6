//! Charge requests: `GET /v1/charges/{id}`, and the compact payload a merchant shows as a QR
//! code or a link.
//!
//! # The payload
//!
//! ```text
//! settlenet:charge?v=1&chain=settlenet-local&id=<32 hex>&m=<merchant, 32 hex>&a=<minor units>&c=USD&x=<expiry ms>&r=<reference>
//! ```
//!
//! A URI (RFC 3986) with every field the payer must check before approving: the network, the
//! request, the merchant account, the amount in minor units, the currency, the expiry (consensus
//! time, ms since the Unix epoch) and the reference (percent-encoded UTF-8). The payload is
//! not trusted on its own: a wallet reads the request from a node (`GET /v1/charges/{id}`) and
//! approves only if both agree ([`ChargePayload::check_against`]); the approval signs the
//! amount, so a tampered amount is refused by the ledger too (`charge_amount_mismatch`).
//! At most [`PAYLOAD_MAX_BYTES`]: the longest possible payload (a 64-character chain id and 35
//! four-byte characters of reference, each percent-encoded as 12) is under 700 bytes; a typical
//! one (an ASCII reference) about 200.

use serde::{Deserialize, Serialize};
use settlenet_ledger::{Account, AccountDetail, ChargeStatus};
use settlenet_types::ids::format_signed_minor;
use settlenet_types::{
    is_max35_text, AccountId, ChargeId, Currency, Genesis, Height, HoldId, PublicKey, TxId,
};
use std::fmt;
use utoipa::ToSchema;

/// The payload's scheme and path.
pub const PAYLOAD_PREFIX: &str = "settlenet:charge?";
/// The payload format version this code writes and reads.
pub const PAYLOAD_VERSION: u32 = 1;
/// Longest payload accepted (bytes).
pub const PAYLOAD_MAX_BYTES: usize = 1024;

/// `GET /v1/charges/{id}`: a charge request and where it is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChargeView {
    /// The request id.
    #[schema(value_type = String)]
    pub id: ChargeId,
    /// Its ledger entry (an account id): follow it with `GET /v1/events?account=`.
    #[schema(value_type = String)]
    pub entry: AccountId,
    /// `pending`, `approved`, `completed`, `declined`, `cancelled`, `expired` or `voided`.
    pub status: String,
    /// The merchant account paid on capture.
    #[schema(value_type = String)]
    pub merchant: AccountId,
    /// The merchant's acquirer (member name).
    pub acquirer: String,
    /// The amount asked, as a decimal.
    pub amount: String,
    /// The amount asked, in minor units.
    pub amount_minor: String,
    /// The currency.
    #[schema(value_type = String)]
    pub currency: Currency,
    /// The merchant's reference.
    pub reference: String,
    /// The only wallet that may approve or decline; `null`: any wallet in the currency.
    #[schema(value_type = Option<String>)]
    pub payer: Option<AccountId>,
    /// The key that created it.
    #[schema(value_type = String)]
    pub created_by: PublicKey,
    /// Consensus time (ms) at which a pending request expires.
    pub expires_at_ms: u64,
    /// Whether the latest block's time has reached `expires_at_ms` while the request is still
    /// `pending`: no block can approve it any more, and the next block marks it `expired`.
    pub expired_by_time: bool,
    /// The timeout of the hold an approval places (ms).
    pub hold_timeout_ms: u64,
    /// The hold an approval placed (the merchant captures it); `null` before.
    #[schema(value_type = Option<String>)]
    pub hold: Option<HoldId>,
    /// The wallet that approved; `null` before.
    #[schema(value_type = Option<String>)]
    pub approved_by: Option<AccountId>,
    /// The amount captured, in minor units (0 unless completed).
    pub captured_minor: String,
    /// The transaction that last changed its status; `null` for an expiry.
    #[schema(value_type = Option<String>)]
    pub status_tx: Option<TxId>,
    /// The block that last changed its status.
    #[schema(value_type = u64)]
    pub status_height: Height,
    /// The block that created it.
    #[schema(value_type = u64)]
    pub created_height: Height,
    /// The QR / link payload of the request (see the module docs).
    pub payload: String,
    /// The committed height read at.
    #[schema(value_type = u64)]
    pub height: Height,
    /// A final request the ledger archived (a day after its last change): read from the node's
    /// archive. Omitted when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
}

impl ChargeView {
    /// The view of a charge entry read at `height` (whose block time is `now_ms`); `None` if
    /// `a` is not a charge entry.
    pub fn of(genesis: &Genesis, a: &Account, height: Height, now_ms: u64) -> Option<ChargeView> {
        let AccountDetail::Charge(c) = &a.detail else {
            return None;
        };
        let exp = genesis.exponent(a.currency).unwrap_or(0);
        let acquirer = genesis
            .members
            .get(usize::from(a.member.0))
            .map(|m| m.name.clone())
            .unwrap_or_default();
        let payload = ChargePayload {
            chain_id: genesis.chain_id.clone(),
            charge: c.charge,
            merchant: c.merchant,
            amount_minor: c.amount.0,
            currency: a.currency,
            expires_at_ms: c.expires_at_ms,
            reference: c.reference.clone(),
        };
        Some(ChargeView {
            id: c.charge,
            entry: a.id,
            status: c.status.as_str().to_string(),
            merchant: c.merchant,
            acquirer,
            amount: format_signed_minor(i128::from(c.amount.0), exp),
            amount_minor: c.amount.0.to_string(),
            currency: a.currency,
            reference: c.reference.clone(),
            payer: c.payer,
            created_by: c.created_by,
            expires_at_ms: c.expires_at_ms,
            expired_by_time: c.status == ChargeStatus::Pending && now_ms >= c.expires_at_ms,
            hold_timeout_ms: c.hold_timeout_ms,
            hold: c.hold.map(|(h, _)| h),
            approved_by: c.hold.map(|(_, w)| w),
            captured_minor: c.captured.to_string(),
            status_tx: c.status_tx,
            status_height: c.status_height,
            created_height: a.created_height,
            payload: payload.to_uri(),
            height,
            archived: false,
        })
    }

    /// The status as the ledger's type (`None` for a name this build does not know).
    pub fn status(&self) -> Option<ChargeStatus> {
        [
            ChargeStatus::Pending,
            ChargeStatus::Approved,
            ChargeStatus::Completed,
            ChargeStatus::Declined,
            ChargeStatus::Cancelled,
            ChargeStatus::Expired,
            ChargeStatus::Voided,
        ]
        .into_iter()
        .find(|s| s.as_str() == self.status)
    }
}

/// What a QR code or link carries about a charge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargePayload {
    /// The network.
    pub chain_id: String,
    /// The request.
    pub charge: ChargeId,
    /// The merchant account.
    pub merchant: AccountId,
    /// The amount, minor units.
    pub amount_minor: u64,
    /// The currency.
    pub currency: Currency,
    /// The expiry (consensus time, ms).
    pub expires_at_ms: u64,
    /// The merchant's reference.
    pub reference: String,
}

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError(pub String);

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "charge payload: {}", self.0)
    }
}

impl std::error::Error for PayloadError {}

/// Percent-encode everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decode `%XX` escapes (strictly: a `%` must be followed by two hex digits) as UTF-8.
fn percent_decode(text: &str) -> Result<String, PayloadError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| PayloadError(format!("bad escape at byte {i}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PayloadError("reference is not UTF-8".into()))
}

impl ChargePayload {
    /// The payload as a URI.
    pub fn to_uri(&self) -> String {
        format!(
            "{PAYLOAD_PREFIX}v={PAYLOAD_VERSION}&chain={}&id={}&m={}&a={}&c={}&x={}&r={}",
            percent_encode(&self.chain_id),
            self.charge,
            self.merchant,
            self.amount_minor,
            self.currency,
            self.expires_at_ms,
            percent_encode(&self.reference)
        )
    }

    /// Parse a payload: the prefix, version 1, every field exactly once, nothing else.
    pub fn parse(text: &str) -> Result<ChargePayload, PayloadError> {
        let text = text.trim();
        if text.len() > PAYLOAD_MAX_BYTES {
            return Err(PayloadError(format!(
                "{} bytes, more than {PAYLOAD_MAX_BYTES}",
                text.len()
            )));
        }
        let query = text
            .strip_prefix(PAYLOAD_PREFIX)
            .ok_or_else(|| PayloadError(format!("does not start with {PAYLOAD_PREFIX:?}")))?;
        let mut fields: [Option<&str>; 8] = [None; 8];
        const NAMES: [&str; 8] = ["v", "chain", "id", "m", "a", "c", "x", "r"];
        for pair in query.split('&') {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| PayloadError(format!("field {pair:?} has no '='")))?;
            let slot = NAMES
                .iter()
                .position(|n| *n == k)
                .ok_or_else(|| PayloadError(format!("unknown field {k:?}")))?;
            if fields[slot].replace(v).is_some() {
                return Err(PayloadError(format!("field {k:?} given twice")));
            }
        }
        let field = |i: usize| {
            fields[i].ok_or_else(|| PayloadError(format!("field {:?} missing", NAMES[i])))
        };
        if field(0)? != PAYLOAD_VERSION.to_string() {
            return Err(PayloadError(format!(
                "version {:?}, this build reads {PAYLOAD_VERSION}",
                field(0)?
            )));
        }
        let number = |i: usize| -> Result<u64, PayloadError> {
            let v = field(i)?;
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PayloadError(format!("{} {v:?} is not a number", NAMES[i])));
            }
            v.parse()
                .map_err(|_| PayloadError(format!("{} {v:?} is too large", NAMES[i])))
        };
        let reference = percent_decode(field(7)?)?;
        if !is_max35_text(&reference) {
            return Err(PayloadError(
                "reference is not 1 to 35 characters without control characters".into(),
            ));
        }
        Ok(ChargePayload {
            chain_id: percent_decode(field(1)?)?,
            charge: field(2)?
                .parse()
                .map_err(|e| PayloadError(format!("id: {e}")))?,
            merchant: field(3)?
                .parse()
                .map_err(|e| PayloadError(format!("merchant: {e}")))?,
            amount_minor: number(4)?,
            currency: field(5)?
                .parse()
                .map_err(|e| PayloadError(format!("currency: {e}")))?,
            expires_at_ms: number(6)?,
            reference,
        })
    }

    /// Whether the request a node returned is the one this payload describes: every field
    /// equal. A wallet approves only if this holds (a payload altered on the way, or a node
    /// that lies about one field, is caught).
    pub fn check_against(&self, view: &ChargeView) -> Result<(), PayloadError> {
        let mismatch = |what: &str, shown: String, ledger: String| {
            Err(PayloadError(format!(
                "{what} is {shown} in the payload but {ledger} on the ledger"
            )))
        };
        if self.charge != view.id {
            return mismatch("id", self.charge.to_string(), view.id.to_string());
        }
        if self.merchant != view.merchant {
            return mismatch(
                "merchant",
                self.merchant.to_string(),
                view.merchant.to_string(),
            );
        }
        if self.amount_minor.to_string() != view.amount_minor {
            return mismatch(
                "amount",
                self.amount_minor.to_string(),
                view.amount_minor.clone(),
            );
        }
        if self.currency != view.currency {
            return mismatch(
                "currency",
                self.currency.to_string(),
                view.currency.to_string(),
            );
        }
        if self.expires_at_ms != view.expires_at_ms {
            return mismatch(
                "expiry",
                self.expires_at_ms.to_string(),
                view.expires_at_ms.to_string(),
            );
        }
        if self.reference != view.reference {
            return mismatch("reference", self.reference.clone(), view.reference.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> ChargePayload {
        ChargePayload {
            chain_id: "settlenet-local".into(),
            charge: ChargeId([7; 16]),
            merchant: AccountId([2; 16]),
            amount_minor: 12_50,
            currency: "USD".parse().expect("usd"),
            expires_at_ms: 1_795_000_000_000,
            reference: "Order #77 / café".into(),
        }
    }

    #[test]
    fn a_payload_round_trips_and_fits_a_qr_code() {
        let p = payload();
        let uri = p.to_uri();
        assert!(
            uri.starts_with("settlenet:charge?v=1&chain=settlenet-local&id="),
            "{uri}"
        );
        assert!(uri.contains("&r=Order%20%2377%20%2F%20caf%C3%A9"), "{uri}");
        assert_eq!(ChargePayload::parse(&uri), Ok(p.clone()));
        // The longest reference (35 four-byte characters) still fits.
        let long = ChargePayload {
            reference: "\u{10FFFF}".repeat(35),
            chain_id: "c".repeat(64),
            ..p
        };
        assert!(long.to_uri().len() < 700, "{}", long.to_uri().len());
        assert_eq!(ChargePayload::parse(&long.to_uri()), Ok(long));
    }

    #[test]
    fn hostile_payloads_are_refused_with_the_reason() {
        let uri = payload().to_uri();
        let cases: Vec<(String, &str)> = vec![
            ("https://evil.example/pay".into(), "does not start"),
            (uri.replace("v=1", "v=2"), "version"),
            (uri.replace("&a=1250", "&a=-1250"), "not a number"),
            (
                uri.replace("&a=1250", "&a=99999999999999999999"),
                "too large",
            ),
            (format!("{uri}&a=1"), "given twice"),
            (format!("{uri}&to=x"), "unknown field"),
            (uri.replace("&c=USD", ""), "missing"),
            (uri.replace("&r=Order", "&r=%ZZOrder"), "bad escape"),
            (uri.replace("&r=Order", "&r=%FFOrder"), "UTF-8"),
            (format!("{uri}{}", "x".repeat(1_100)), "more than"),
            (uri.replace("&x=", "&x"), "has no '='"),
        ];
        for (text, why) in cases {
            let e = ChargePayload::parse(&text).expect_err(&text);
            assert!(e.0.contains(why), "{text}: {e}");
        }
        let empty_reference = {
            let mut p = payload();
            p.reference = String::new();
            p.to_uri()
        };
        assert!(ChargePayload::parse(&empty_reference).is_err());
    }
}
