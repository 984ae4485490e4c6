//! The crate's one error type.

use thiserror::Error;

/// Errors from keys, signatures and key files.
#[derive(Debug, Error)]
pub enum CryptoError {
    /// A signature did not verify.
    #[error("invalid signature: {0}")]
    BadSignature(String),
    /// A public key is not a valid ed25519 point (or is weak).
    #[error("invalid public key {key}: {reason}")]
    BadPublicKey {
        /// The key, hex.
        key: String,
        /// Why.
        reason: String,
    },
    /// A key file could not be read or written.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A commit certificate does not prove finality.
    #[error("invalid commit certificate for height {height}: {reason}")]
    BadCertificate {
        /// The height it claims.
        height: u64,
        /// Why it was refused.
        reason: String,
    },
    /// Encoding failed.
    #[error(transparent)]
    Types(#[from] settlenet_types::TypesError),
}
