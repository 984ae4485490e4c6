//! Building and signing transactions.

use anyhow::{anyhow, Context, Result};
use settlenet_crypto::{KeyFile, KeyKind, Keypair};
use settlenet_types::{
    AccountId, Amount, Currency, Genesis, Operation, SignedTransaction, Transaction, TxNonce,
};
use std::path::Path;

/// A fresh random 128-bit id.
pub fn random_id() -> [u8; 16] {
    rand::random()
}

/// How long a transaction the CLI signs stays valid (`valid_until_ms` = now + this): a
/// transaction held back somewhere can no longer execute ten minutes after it was signed, so a
/// retry under a new id after that cannot pay twice. Well under the ledger's
/// `TX_VALIDITY_MAX_MS` (one hour), so a client clock somewhat ahead is not refused.
pub const TX_VALIDITY_DEFAULT_MS: u64 = 10 * 60 * 1000;

/// The validity given on the command line (`--valid-until`), if any: set once at start.
static VALID_UNTIL: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Record the command line's `--valid-until` (called once, before anything is signed).
pub fn set_valid_until(valid_until_ms: Option<u64>) {
    if let Some(v) = valid_until_ms {
        let _ = VALID_UNTIL.set(v);
    }
}

/// `valid_until_ms` for a transaction signed now: `--valid-until` if given, else now +
/// [`TX_VALIDITY_DEFAULT_MS`].
pub fn default_valid_until() -> u64 {
    match VALID_UNTIL.get() {
        Some(v) => *v,
        None => crate::support::now_ms().saturating_add(TX_VALIDITY_DEFAULT_MS),
    }
}

/// Sign an operation for `chain_id` with `key`, valid for [`TX_VALIDITY_DEFAULT_MS`]; its id
/// is derived from the key, `nonce` and the validity.
pub fn sign(
    chain_id: &str,
    key: &Keypair,
    nonce: TxNonce,
    op: Operation,
) -> Result<SignedTransaction> {
    sign_until(chain_id, key, nonce, op, default_valid_until())
}

/// Sign an operation valid until `valid_until_ms` (a retry that must keep its id signs with
/// the same validity).
pub fn sign_until(
    chain_id: &str,
    key: &Keypair,
    nonce: TxNonce,
    op: Operation,
    valid_until_ms: u64,
) -> Result<SignedTransaction> {
    let tx = Transaction::new(chain_id, key.public(), nonce, op, valid_until_ms);
    let signature = key.sign(&tx.signing_message()?);
    Ok(SignedTransaction { tx, signature })
}

/// Read a signing key of any kind from a key file.
pub fn read_key(path: &Path) -> Result<Keypair> {
    let (_, key) = KeyFile::read(path, None)?;
    Ok(key)
}

/// Read a user (wallet owner) key.
pub fn read_user_key(path: &Path) -> Result<Keypair> {
    let (_, key) = KeyFile::read(path, Some(KeyKind::User))?;
    Ok(key)
}

/// Parse "12.50" in the currency's exponent.
pub fn parse_amount(genesis: &Genesis, currency: Currency, text: &str) -> Result<Amount> {
    let exp = genesis
        .exponent(currency)
        .ok_or_else(|| anyhow!("currency {currency} is not held on this network"))?;
    Amount::parse_decimal(text, exp).with_context(|| format!("amount {text:?} in {currency}"))
}

/// Parse an optional nonce or make a random one.
pub fn tx_nonce(given: Option<&str>) -> Result<TxNonce> {
    match given {
        Some(s) => s.parse().context("--nonce"),
        None => Ok(TxNonce(random_id())),
    }
}

/// Parse an account id.
pub fn account_id(s: &str) -> Result<AccountId> {
    s.parse().with_context(|| format!("account id {s:?}"))
}
