//! The crate's one error type.

use settlenet_types::{Hash, Height};
use thiserror::Error;

/// Everything that can go wrong reading or writing the node's store.
///
/// A failed write means the node cannot persist its state; callers are expected to stop rather
/// than continue with state that only lives in memory.
#[derive(Debug, Error)]
pub enum StorageError {
    /// RocksDB refused an operation.
    #[error("storage: cannot {op}: {reason}")]
    Db {
        /// What was attempted, with its subject (e.g. "commit block 17").
        op: String,
        /// RocksDB's explanation.
        reason: String,
    },
    /// The store was asked to open with settings it cannot use.
    #[error("storage: {0}")]
    Config(String),
    /// A stored key or value is not what this code wrote (disk corruption, a foreign writer, or a
    /// format change without a version bump).
    #[error("storage: corrupt {what} at key {key}: {reason}")]
    Corrupt {
        /// What was being read (e.g. "stored block").
        what: &'static str,
        /// The key, in hex.
        key: String,
        /// Why it was refused.
        reason: String,
    },
    /// A value could not be encoded canonically (only possible when it exceeds the size limit).
    #[error("storage: cannot encode {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's explanation.
        reason: String,
    },
    /// The directory was initialised for another network.
    #[error(
        "storage: directory belongs to genesis {stored}, but this node runs genesis {expected}; \
         point the node at its own data directory"
    )]
    GenesisMismatch {
        /// The genesis hash recorded in the store.
        stored: Hash,
        /// The genesis hash the node was started with.
        expected: Hash,
    },
    /// The directory was written by a different storage format.
    #[error(
        "storage: store format version {found} is not supported (this build reads version \
         {supported})"
    )]
    UnsupportedFormat {
        /// The version recorded in the store.
        found: u32,
        /// The only version this build reads and writes.
        supported: u32,
    },
    /// A block was committed at a height other than `last_height + 1`.
    #[error("storage: cannot commit block at height {got}: the next height is {expected}")]
    OutOfOrder {
        /// `last_height + 1`.
        expected: Height,
        /// The height of the block offered.
        got: Height,
    },
    /// A block's `prev_hash` does not link to the last committed block.
    #[error(
        "storage: block {height} has prev_hash {got}, but the block at the previous height is \
         {expected}"
    )]
    BrokenChain {
        /// The height of the block offered.
        height: Height,
        /// The hash of the last committed block.
        expected: Hash,
        /// The block's `prev_hash`.
        got: Hash,
    },
    /// A block's header hash and its certificate disagree, or the certificate is for another height.
    #[error("storage: block {height} is inconsistent: {reason}")]
    InconsistentBlock {
        /// The height of the block offered.
        height: Height,
        /// What disagrees.
        reason: String,
    },
    /// A snapshot was offered at or below the store's head (state never goes backwards).
    #[error(
        "storage: cannot install a snapshot at height {height}: the store is already at height \
         {head}"
    )]
    SnapshotNotAhead {
        /// The snapshot's height.
        height: Height,
        /// The store's last committed height.
        head: Height,
    },
    /// Blocks or chain metadata were requested from a store whose genesis was never written.
    #[error("storage: the store has no genesis state yet (call init_genesis first)")]
    NotInitialised,
    /// `init_genesis` was called on a store that already has state.
    #[error("storage: the store already holds genesis state (last height {last_height})")]
    AlreadyInitialised {
        /// The store's last committed height.
        last_height: Height,
    },
}

impl StorageError {
    /// Wrap a RocksDB error with what was being attempted.
    pub(crate) fn db(op: impl Into<String>, e: rocksdb::Error) -> StorageError {
        StorageError::Db {
            op: op.into(),
            reason: e.into_string(),
        }
    }
}
