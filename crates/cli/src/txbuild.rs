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
/// transaction held back somewhere can no longer execute an hour after it was signed, so a
/// retry under a new id after that cannot pay twice.
pub const TX_VALIDITY_DEFAULT_MS: u64 = 60 * 60 * 1000;

/// Sign an operation for `chain_id` with `key`, valid for [`TX_VALIDITY_DEFAULT_MS`]; its id
/// is derived from the key and `nonce`.
pub fn sign(
    chain_id: &str,
    key: &Keypair,
    nonce: TxNonce,
    op: Operation,
) -> Result<SignedTransaction> {
    let tx = Transaction::new(
        chain_id,
        key.public(),
        nonce,
        op,
        crate::support::now_ms().saturating_add(TX_VALIDITY_DEFAULT_MS),
    );
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
