//! Printing answers: JSON with `--json`, else words; a transaction's result in a sentence.

use anyhow::{bail, Result};
use serde::Serialize;
use settlenet_api::client::Client;
use settlenet_api::{TxStatus, TxView};
use std::time::Duration;

/// Print `v` as pretty JSON (`--json`; keys sorted, as the node's answers always printed) or as
/// the text `human` makes of it.
pub fn print<T: Serialize>(json: bool, v: &T, human: impl FnOnce(&T) -> String) {
    if json {
        let value = serde_json::to_value(v).unwrap_or_default();
        say!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        say!("{}", human(v));
    }
}

/// Submit a transaction and, unless `no_wait`, wait until it is committed or rejected.
pub async fn submit_and_wait(
    c: &Client,
    tx: &settlenet_types::SignedTransaction,
    no_wait: bool,
) -> Result<TxView> {
    let v = c.submit(tx).await?;
    if no_wait || v.status != TxStatus::Pending {
        return Ok(v);
    }
    Ok(c.wait_tx(tx.tx.id, Duration::from_secs(30)).await?)
}

/// An error if the transaction was rejected.
pub fn ensure_ok(v: &TxView) -> Result<()> {
    match v.status {
        TxStatus::Rejected => bail!(
            "rejected: {} ({})",
            v.reason.as_deref().unwrap_or(""),
            v.message.as_deref().unwrap_or("")
        ),
        _ => Ok(()),
    }
}

/// A height, or `null` if the answer has none.
pub fn height_text(h: Option<settlenet_types::Height>) -> String {
    h.map_or_else(|| "null".to_string(), |h| h.0.to_string())
}

/// A transaction's result in one sentence.
pub fn human_tx(v: &TxView) -> String {
    match v.status {
        TxStatus::Committed => format!(
            "ok: {} (transaction {} committed at height {})",
            v.message.as_deref().unwrap_or("applied"),
            v.id,
            height_text(v.height),
        ),
        TxStatus::Rejected => format!(
            "rejected: {}: {} (transaction {} recorded at height {}; nothing changed)",
            v.reason.as_deref().unwrap_or(""),
            v.message.as_deref().unwrap_or(""),
            v.id,
            height_text(v.height),
        ),
        TxStatus::Pending => format!("transaction {} pending", v.id),
        TxStatus::Refused => format!("transaction {} refused", v.id),
    }
}

/// A transaction's answer with fields the command adds (the account it opened, ...).
#[derive(Serialize)]
pub struct TxOutput<'a, E: Serialize> {
    /// The node's answer.
    #[serde(flatten)]
    pub tx: &'a TxView,
    /// What the command adds.
    #[serde(flatten)]
    pub extra: E,
}

/// Submit, wait, print the result in words (or JSON with `extra` fields), fail if rejected.
pub async fn run_tx(
    c: &Client,
    json_out: bool,
    tx: &settlenet_types::SignedTransaction,
    no_wait: bool,
    extra: impl Serialize,
    human_prefix: String,
) -> Result<()> {
    let v = submit_and_wait(c, tx, no_wait).await?;
    let out = TxOutput { tx: &v, extra };
    print(json_out, &out, |o| {
        if human_prefix.is_empty() {
            human_tx(o.tx)
        } else {
            format!("{human_prefix}\n{}", human_tx(o.tx))
        }
    });
    ensure_ok(&v)
}

/// An unsigned `*_minor` string of the API as a decimal by the exponent.
pub fn fmt_minor(v: &str, exp: u8) -> String {
    v.parse::<u128>()
        .map(|m| settlenet_types::ids::format_minor(m, exp))
        .unwrap_or_else(|_| v.to_string())
}

/// A signed `*_minor` string of the API as an integer (0 if it is not one).
pub fn minor(v: &str) -> i128 {
    v.parse().unwrap_or(0)
}

/// A signed `*_minor` string of the API as a decimal by the exponent.
pub fn money_of(v: &str, exp: u8) -> String {
    settlenet_types::ids::format_signed_minor(minor(v), exp)
}

/// An optional height, or `-`.
pub fn opt_height(h: Option<settlenet_types::Height>) -> String {
    h.map_or_else(|| "-".to_string(), |h| h.0.to_string())
}
