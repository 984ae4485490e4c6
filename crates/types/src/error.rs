//! The crate's one error type.

use thiserror::Error;

/// Errors from parsing or decoding SettleNet values.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TypesError {
    /// Bytes did not decode as the expected canonical value.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded (e.g. "signed transaction").
        what: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
    /// A value could not be encoded (only possible when it exceeds the size limit).
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's explanation.
        reason: String,
    },
    /// A textual field (hex id, currency code, amount) is malformed.
    #[error("invalid {field}: {reason}")]
    Parse {
        /// Which field.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A transaction's id is not the one its signer, nonce and validity give
    /// ([`crate::TxId::derive`]): it cannot be signed or verified.
    #[error(
        "transaction id {id} is not derived from its signer {signer}, nonce {nonce} and \
         validity (expected {expected}): ids are bound to the key that signs and to the \
         validity"
    )]
    IdNotDerived {
        /// The id the transaction carries.
        id: crate::TxId,
        /// Its signer.
        signer: crate::PublicKey,
        /// Its nonce.
        nonce: crate::TxNonce,
        /// `TxId::derive(signer, nonce, valid_until_ms)`.
        expected: crate::TxId,
    },
    /// The genesis is internally inconsistent.
    #[error("invalid genesis: {0}")]
    Genesis(String),
}
