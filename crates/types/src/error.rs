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
    /// The genesis is internally inconsistent.
    #[error("invalid genesis: {0}")]
    Genesis(String),
}
