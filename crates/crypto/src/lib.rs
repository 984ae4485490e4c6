//! # settlenet-crypto
//!
//! ## Overview
//! Keys, signatures and their files. Everything SettleNet signs (transactions, consensus votes) goes
//! through here, always over the domain-separated bytes defined in `settlenet-types`, never over a
//! bare encoding.
//!
//! ## Design
//! - ed25519: keys and signing with `ed25519-dalek`; verification with `ed25519-consensus`, by
//!   the rules of ZIP 215 (canonical `s`, cofactored equation) plus a refusal of small-order
//!   (weak) keys. Under these rules batch verification agrees with single verification on
//!   every signature whatever the batch around it, so validators never split on a block; a
//!   block's transactions are checked in one `verify_batch` call (about 2.5x cheaper per
//!   signature than one by one), falling back to one-by-one only to name the bad transaction.
//! - Key files are JSON, written with mode 0600, and say what they are (`kind`), so that a
//!   validator key is never mistaken for a wallet key.
//! - Consensus checks signatures through [`SignatureVerifier`], so that a caller can make
//!   verification cheaper without changing its answers: [`StrictVerifier`] (the real one,
//!   with the rules of [`verify`]) decodes the validators' keys once; the simulator memoises results it already computed.
//! - Commit certificates are verified here against the genesis validator set alone, so an auditor
//!   or a syncing node needs nothing else.
//!
//! ## Invariants
//! - A secret key never appears in `Debug` output, logs or errors.
//! - A certificate is accepted only with a quorum of distinct, known validators' valid signatures.

mod cert;
mod error;
mod keyfile;
mod keys;
mod verifier;

pub use cert::{verify_certificate, verify_certificate_with};
pub use error::CryptoError;
pub use keyfile::{KeyFile, KeyKind};
pub use keys::{verify, verify_batch, verify_transactions, Keypair, CHECKED_KEYS_MAX};
pub use verifier::{MemoVerifier, SignatureVerifier, StrictVerifier, MEMO_ENTRIES_MAX};
