//! The crate's one error type.

use thiserror::Error;

/// Why a genesis, a restore or a proof was refused. Transaction rejections are not errors: they
/// are [`crate::ResultCode`]s recorded in the ledger.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LedgerError {
    /// The genesis is invalid or inconsistent with the ledger's rules.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// The persisted accounts or records handed to [`crate::Ledger::restore`] are inconsistent.
    #[error("cannot restore ledger: {0}")]
    Restore(String),
    /// An [`crate::AccountProof`] does not prove its account against the given root.
    #[error("invalid account proof: {0}")]
    Proof(String),
}
