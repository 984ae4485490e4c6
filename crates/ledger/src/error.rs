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
    /// An [`crate::AccountProof`] or [`crate::RecordProof`] does not prove its account or record
    /// against the given root.
    #[error("invalid proof: {0}")]
    Proof(String),
    /// A snapshot handed to [`crate::Ledger::restore_verified`] is internally consistent but its
    /// state root is not the one it was expected to have (something in it was changed, added
    /// or left out).
    #[error("snapshot at height {height} has state root {computed}, expected {expected}: refused")]
    RootMismatch {
        /// The snapshot's height.
        height: settlenet_types::Height,
        /// The root the caller trusts (e.g. certified in a block header).
        expected: settlenet_types::Hash,
        /// The root recomputed from the snapshot.
        computed: settlenet_types::Hash,
    },
}
