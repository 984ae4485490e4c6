//! The [`Store`]: one RocksDB instance with one column family per kind of data.
//!
//! This file holds the store's vocabulary (column family names, meta keys, the values callers
//! pass in and get back) and the few private accessors every other file uses; the operations
//! live in one file per concern:
//!
//! - `open.rs`: opening a directory (tuning, column families, format version and genesis
//!   identity) and flushing it on shutdown.
//! - `blocks.rs`: genesis, block commits and the chain reads (head, blocks, block and tx
//!   indexes).
//! - `state.rs`: the ledger's accounts and tx records, and the account history index.
//! - `snapshot.rs`: replacing the whole state with a verified snapshot.
//! - `stats.rs`: disk use by column family, and a full manual compaction.
//! - `checkpoint.rs`: checkpoints of the whole store (hard links), read a page at a time to
//!   serve a snapshot.
//! - `wal.rs`: the consensus write-ahead log and equivocation evidence (opaque, synced).
//! - `codec.rs`: key layouts and the canonical encoding of the values this crate interprets.

mod blocks;
mod checkpoint;
mod codec;
mod open;
mod snapshot;
mod state;
mod stats;
mod wal;

use crate::error::StorageError;
use codec::{decode, hex};
use rocksdb::{ColumnFamily, IteratorMode, WriteBatch, WriteOptions, DB};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use settlenet_types::{AccountId, Hash, Height, StoredBlock, TxId};

pub use checkpoint::PAGE_MAX;
pub use open::{StoreMemoryLimits, BLOCK_CACHE_BYTES, MEMORY_LIMIT_MIN_BYTES, MEMTABLES_MAX_BYTES};
pub use stats::{FamilyStats, StoreMemory};
use std::sync::Mutex;

/// The on-disk format this build reads and writes. Bump it whenever a key layout or a stored
/// value's type changes; a store of any other version is refused at open. Format 4 added the
/// live records, the history accumulator's nodes and state (bounded idempotency).
pub const FORMAT_VERSION: u32 = 4;

/// Column family: format version, genesis hash, chain head.
pub const CF_META: &str = "meta";
/// Column family: height (8-byte big-endian) -> encoded [`StoredBlock`].
pub const CF_BLOCKS: &str = "blocks";
/// Column family: block hash (32 bytes) -> encoded [`Height`].
pub const CF_BLOCK_INDEX: &str = "block_index";
/// Column family: tx id (16 bytes) -> encoded `(Height, u32)` (first inclusion).
pub const CF_TX_INDEX: &str = "tx_index";
/// Column family: account id (16 bytes) -> the ledger's encoded account.
pub const CF_ACCOUNTS: &str = "accounts";
/// Column family: tx id (16 bytes) -> the ledger's encoded tx record: every record ever written
/// (the archive; records are looked up by id here, never loaded whole).
pub const CF_RECORDS: &str = "records";
/// Column family: tx id (16 bytes) -> the ledger's encoded tx record, for the live records only
/// (ids still inside their validity): what a restart loads. Bounded by one validity window of
/// transactions.
pub const CF_LIVE_RECORDS: &str = "live_records";
/// Column family: level (1 byte) || index (8, big-endian) -> hash (32): the nodes of the
/// ledger's history accumulator, for proofs of archived records; and 0xff || height (8) -> leaf
/// index (8): which leaf each block that wrote records is.
pub const CF_HISTORY_NODES: &str = "history_nodes";
/// Column family: opaque consensus write-ahead log entries.
pub const CF_WAL: &str = "wal";
/// Column family: account id (16) || height (8, big-endian) || position (4, big-endian) -> tx
/// id (16): the transactions that changed each account, in execution order.
pub const CF_ACCOUNT_HISTORY: &str = "account_history";
/// Column family: height (8, big-endian) || position (4, big-endian) || account id (16) ->
/// nothing: the accounts each transaction of a block changed, in block order (the reverse of
/// [`CF_ACCOUNT_HISTORY`], read a block at a time by the event stream).
pub const CF_TX_CHANGES: &str = "tx_changes";
/// Column family: height (8, big-endian) -> encoded [`settlenet_types::BlockSummary`] (header, certificate, chain
/// link, state root, transaction ids): written with every block and kept when its body is
/// pruned ([`Store::prune_blocks`]).
pub const CF_BLOCK_SUMMARIES: &str = "block_summaries";
/// Column family: account id (16) -> encoded account: closed hold and charge entries the ledger
/// archived (moved out of its state: [`CF_ACCOUNTS`] no longer has them), final values, for
/// reads by id.
pub const CF_ARCHIVED_ACCOUNTS: &str = "archived_accounts";
/// Column family: opaque evidence key (the node's: validator, kind, view, height) -> opaque
/// evidence record (two conflicting signed messages). Bounded by the caller's `max`.
pub const CF_EVIDENCE: &str = "evidence";

/// Every column family the store opens, in a fixed order. Format version 4 has all of them; a
/// directory of another format version is refused at open. Opening a directory creates any
/// missing family (RocksDB requires every existing family to be opened, so an older build
/// refuses a directory that has more).
pub const COLUMN_FAMILIES: [&str; 14] = [
    CF_META,
    CF_BLOCKS,
    CF_BLOCK_INDEX,
    CF_TX_INDEX,
    CF_ACCOUNTS,
    CF_RECORDS,
    CF_WAL,
    CF_ACCOUNT_HISTORY,
    CF_EVIDENCE,
    CF_TX_CHANGES,
    CF_LIVE_RECORDS,
    CF_HISTORY_NODES,
    CF_BLOCK_SUMMARIES,
    CF_ARCHIVED_ACCOUNTS,
];

/// What [`Store::evidence_put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidencePut {
    /// Written (synced).
    Stored,
    /// A record under that key exists already: the first one is kept, nothing written.
    Duplicate,
    /// The family holds `max` records already: nothing written (the first ones are kept; they
    /// are enough to act on, and a Byzantine validator cannot grow the disk without bound).
    Full,
}

/// Most entries one [`Store::account_history`] call returns.
pub const HISTORY_PAGE_MAX: usize = 1000;

/// The position under which [`Store::block_changes`] lists the entries a block's expiry sweep
/// changed (no transaction has it: a block holds far fewer than `u32::MAX`).
pub const EXPIRED_POSITION: u32 = u32::MAX;

/// Most entries one [`Store::block_changes`] call returns (a block's changes are bounded by its
/// transactions; this bounds a corrupt or hostile store's answer too).
pub const BLOCK_CHANGES_MAX: usize = 1 << 20;

/// Where a transaction sits in the chain: (height, position in its block). History is ordered
/// by it.
pub type TxPosition = (Height, u32);

/// Encoded accounts (`None`: absent) and the height they reflect, from one snapshot.
pub type ConsistentAccounts = (Height, Vec<Option<Vec<u8>>>);

/// One entry of an account's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The block that executed the transaction.
    pub height: Height,
    /// Its position in that block.
    pub index: u32,
    /// The transaction.
    pub tx: TxId,
}

/// Meta key: the store format version (encoded `u32`).
pub const META_FORMAT_VERSION: &[u8] = b"format_version";
/// Meta key: the genesis hash the directory belongs to (encoded [`Hash`]).
pub const META_GENESIS_HASH: &[u8] = b"genesis_hash";
/// Meta key: the chain head (last height, last block hash, state root); absent until genesis.
pub const META_HEAD: &[u8] = b"head";
/// Meta key of the safety-violation record ([`Store::safety_put`]): two different blocks
/// certified at one height. Opaque to the store; kept until an operator removes the store.
pub const META_SAFETY_VIOLATION: &[u8] = b"safety_violation";
/// Meta key: the height of the snapshot this store's state was installed from (encoded
/// [`Height`]); absent when the store grew from genesis. Blocks below it are not held.
pub const META_BASE: &[u8] = b"base";
/// Meta key: the lowest height whose full block retention kept (encoded [`Height`]); absent
/// when nothing was pruned. Blocks below it are held as summaries only.
pub const META_PRUNED: &[u8] = b"pruned";
/// Meta key: every block from this height up has a stored summary (encoded [`Height`]): 0 for a
/// directory created by a build that writes them; for an older directory, the height after its
/// head when this build first opened it (older blocks' summaries are derived from the blocks).
pub const META_SUMMARIES_FROM: &[u8] = b"summaries_from";
/// Most blocks without a stored summary (written by an older build) pruned by one
/// [`Store::prune_blocks`] call: each is read once to keep its summary.
pub const PRUNE_UNSUMMARISED_MAX: u64 = 256;
/// Meta key: the ledger's history accumulator at the head (opaque bytes, written with each
/// block); absent at genesis.
pub const META_LEDGER_HISTORY: &[u8] = b"ledger_history";

/// A raw key and value, as returned by [`Store::wal_entries`].
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// The chain head, stored under [`META_HEAD`] as one value so that a reader always sees a
/// height, hash and state root that belong together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    /// Last committed height (0 = genesis only).
    height: Height,
    /// Hash of the block at `height` ([`Hash::ZERO`] at height 0).
    block_hash: Hash,
    /// Ledger state root after executing `height`.
    state_root: Hash,
}

/// What one committed block changes in the store; written in one atomic batch by
/// [`Store::commit_block`].
#[derive(Debug, Clone, Copy)]
pub struct BlockWrite<'a> {
    /// The committed block with its certificate, chain link and post-execution state root.
    pub block: &'a StoredBlock,
    /// Encoded accounts created or changed by the block, keyed by id.
    pub accounts: &'a [(AccountId, Vec<u8>)],
    /// Encoded tx records created by the block, keyed by tx id: written to the archive and to
    /// the live records.
    pub records: &'a [(TxId, Vec<u8>)],
    /// Per position in the block: whether that transaction wrote its record in this block (so
    /// it was never executed before and its tx-index entry needs no read first). Missing
    /// positions count as `false` (looked up).
    pub recorded_here: &'a [bool],
    /// Records that left the ledger's live set at this block (deleted from the live records;
    /// the archive keeps them).
    pub pruned: &'a [TxId],
    /// History accumulator nodes the block created: (level, index, hash), its leaf first (none
    /// if it wrote no record).
    pub history_nodes: &'a [(u8, u64, Hash)],
    /// The ledger's encoded history accumulator after the block.
    pub ledger_history: &'a [u8],
    /// For each transaction of the block that changed accounts: (account, position in the
    /// block, tx id), one entry per account changed (the account history index, and its reverse:
    /// each position's changed accounts).
    pub history: &'a [(AccountId, u32, TxId)],
    /// Hold and charge entries consensus time expired at the start of the block (no
    /// transaction changed them): kept with the block's changes under position
    /// [`EXPIRED_POSITION`], for the event stream.
    pub expired: &'a [AccountId],
    /// Closed entries the ledger archived at this block: deleted from [`CF_ACCOUNTS`], written
    /// to [`CF_ARCHIVED_ACCOUNTS`].
    pub archived: &'a [(AccountId, Vec<u8>)],
}

/// A verified state snapshot that replaces the store's state; written in one atomic batch by
/// [`Store::install_snapshot`].
#[derive(Debug, Clone, Copy)]
pub struct SnapshotWrite<'a> {
    /// The committed block at the snapshot height with its certificate; its `state_root` is the
    /// certified root of the snapshot. It becomes the head and the lowest block held.
    pub block: &'a StoredBlock,
    /// Every encoded account of the snapshot, keyed by id (replaces all stored accounts).
    pub accounts: &'a [(AccountId, Vec<u8>)],
    /// Every encoded live tx record of the snapshot, keyed by tx id (replaces the live records;
    /// added to the archive).
    pub records: &'a [(TxId, Vec<u8>)],
    /// The ledger's encoded history accumulator at the snapshot height.
    pub ledger_history: &'a [u8],
    /// Consensus write-ahead log keys made obsolete by the snapshot (entries at or below its
    /// height), deleted in the same batch.
    pub wal_delete: &'a [Vec<u8>],
}

/// The node's RocksDB store. `Send + Sync`; share it through an `Arc`.
pub struct Store {
    /// The database; every column family of [`COLUMN_FAMILIES`] is open.
    db: DB,
    /// Its block cache (shared by every column family).
    cache: rocksdb::Cache,
    /// The block cache's capacity in bytes.
    cache_capacity: usize,
    /// Serialises the writers that read the head before writing (`init_genesis`,
    /// `commit_block`), so that two concurrent commits cannot both pass the height check.
    head_write_lock: Mutex<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

// Private accessors shared by the operation files: every read and write goes through them, so
// errors name the column family and key alike everywhere.
impl Store {
    fn head(&self) -> Result<Option<Head>, StorageError> {
        self.get_decoded(CF_META, META_HEAD, "chain head")
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StorageError> {
        self.db.cf_handle(name).ok_or_else(|| StorageError::Db {
            op: format!("use column family {name}"),
            reason: "column family is not open".to_string(),
        })
    }

    fn write(
        &self,
        batch: WriteBatch,
        sync: bool,
        op: impl FnOnce() -> String,
    ) -> Result<(), StorageError> {
        let mut opts = WriteOptions::default();
        opts.set_sync(sync);
        // The WAL is what makes an unsynced write survive a killed process; never disable it.
        opts.disable_wal(false);
        self.db
            .write_opt(batch, &opts)
            .map_err(|e| StorageError::db(op(), e))
    }

    fn get_raw(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.db
            .get_cf(self.cf(cf)?, key)
            .map_err(|e| StorageError::db(format!("read {cf} key {}", hex(key)), e))
    }

    fn get_decoded<T: DeserializeOwned>(
        &self,
        cf: &'static str,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, StorageError> {
        let value = self
            .db
            .get_pinned_cf(self.cf(cf)?, key)
            .map_err(|e| StorageError::db(format!("read {what} ({cf} key {})", hex(key)), e))?;
        value.map(|bytes| decode(what, key, &bytes)).transpose()
    }

    fn scan(&self, cf: &'static str) -> Result<Vec<KeyValue>, StorageError> {
        self.db
            .iterator_cf(self.cf(cf)?, IteratorMode::Start)
            .map(|item| {
                item.map(|(k, v)| (k.into_vec(), v.into_vec()))
                    .map_err(|e| StorageError::db(format!("scan column family {cf}"), e))
            })
            .collect()
    }
}
