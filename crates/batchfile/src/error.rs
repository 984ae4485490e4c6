//! The crate's one error type.

use thiserror::Error;

/// Why a batch file could not be read at all, or a report could not be written.
///
/// Problems *inside* a readable file (a bad amount, an unknown BIC, malformed XML) are not errors:
/// they are collected, all of them, in [`crate::ParsedBatch::errors`].
#[derive(Debug, Error)]
pub enum BatchFileError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file's path as given.
        path: String,
        /// The operating system's explanation.
        #[source]
        source: std::io::Error,
    },
    /// A statement or report does not add up (e.g. its balance does not fit in 128 bits).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was being written.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
}
