//! # settlenet-storage
//!
//! ## Overview
//! The node's persistent state in one RocksDB directory: committed blocks with their commit
//! certificates, the indexes the API serves (block hash -> height, tx id -> where it was
//! included), the ledger's accounts and tx records, the chain head, and the consensus
//! write-ahead log. The ledger's values arrive already encoded (`Vec<u8>` keyed by id): this
//! crate does not depend on `settlenet-ledger` and never interprets them.
//!
//! ## Design
//! ### Column families and key layout
//! ```text
//! meta         "format_version" -> u32            (FORMAT_VERSION; checked at open)
//!              "genesis_hash"   -> Hash           (the network this directory belongs to)
//!              "head"           -> {height, block_hash, state_root}   (absent until genesis)
//!              "base"           -> Height         (snapshot the state was installed from)
//!              "ledger_history" -> opaque         (the ledger's history accumulator at head)
//!              "pruned"         -> Height         (lowest full block retention kept)
//!              "summaries_from" -> Height         (every block from it has a stored summary)
//! blocks       height (8 bytes big-endian) -> StoredBlock
//! block_summaries height (8)               -> BlockSummary (header, certificate, chain link,
//!                                             state root, tx ids; kept when the body is pruned)
//! block_index  block hash (32 bytes)       -> Height
//! tx_index     tx id (16 bytes)            -> (Height, u32 position)  (first inclusion)
//! accounts     account id (16 bytes)       -> encoded account (opaque): the state, loaded at
//!                                             start
//! archived_accounts account id (16)        -> encoded account (opaque): final values of the
//!                                             closed entries the ledger moved out of its state
//! records      tx id (16 bytes)            -> encoded tx record (opaque): the archive, every
//!                                             record ever written, read by id only
//! live_records tx id (16 bytes)            -> encoded tx record (opaque): the ledger's live
//!                                             set (ids inside their validity), loaded at start
//! history_nodes level (1) || index (8)     -> Hash (the ledger's history accumulator nodes)
//!              0xff || height (8)          -> u64 (the leaf of a block that wrote records)
//! wal          opaque key                  -> opaque value (consensus write-ahead log)
//! account_history  account id (16) || height (8) || position (4) -> tx id (16)
//!              (every transaction that changed the account; read newest first, paged)
//! tx_changes   height (8) || position (4) || account id (16) -> nothing
//!              (the same entries by block: what each transaction changed; read a block at
//!              a time, for the event stream; position u32::MAX: what the block's expiry
//!              sweeps changed)
//! evidence     opaque key                  -> opaque value (equivocation evidence; first kept,
//!                                             bounded by the writer's `max`, synced)
//! ```
//! Heights are big-endian so that iterating `blocks` visits heights in order. Every value this
//! crate interprets is in the canonical encoding (`settlenet_types::encode`); one that does not
//! decode is reported as [`StorageError::Corrupt`], never a panic. The head is one value, so a
//! reader always sees a height, block hash and state root that belong together.
//!
//! ### Writes
//! [`Store::commit_block`] writes a block and everything it changes in one `WriteBatch`: after a
//! crash the store holds either all of a block or none of it. A mutex serialises the writers that
//! check the head before writing, so two concurrent commits cannot both pass the height check.
//!
//! [`Store::prune_blocks`] drops the bodies of old blocks (retention, `[sync] retain_blocks` in
//! the node): it moves a mark below which blocks and their changed-accounts entries are no
//! longer read, then drops the table files wholly below it (no tombstones); each block's
//! summary, the records, the tx index and the account history stay, so certificates, chain
//! links and transaction proofs remain servable.
//!
//! [`Store::checkpoint`] writes a consistent copy of the store (hard links to its table files,
//! after flushing the memtables) into a directory; [`Store::open_read_only`] opens it, and
//! [`Store::accounts_after`] / [`Store::live_records_after`] read it a page at a time in id
//! order: a node serves its state snapshots that way (see `settlenet_machine::snapshot`).
//!
//! [`Store::install_snapshot`] replaces the whole state (accounts, records, blocks and their
//! indexes, head, base, obsolete WAL keys) with a verified snapshot in one synced `WriteBatch`
//! (range deletes plus puts): a crash leaves the old state or the new one.
//!
//! ### Durability
//! - Block commits go to RocksDB's write-ahead log with `sync = false`: the write reaches the
//!   operating system before `commit_block` returns, so it **survives the node process being
//!   killed** (SIGKILL, OOM killer, panic), but the last blocks may be lost on a **power failure or
//!   kernel crash**. This is the usual trade for a BFT replica: committed blocks are held by at
//!   least 2f+1 replicas and a replica that lost its tail re-fetches it from its peers. An fsync per
//!   block would cap throughput at the disk's sync rate.
//! - `init_genesis`, the store identity (format version, genesis hash), every consensus WAL
//!   write (`wal_put`, `wal_delete`) and every evidence record (`evidence_put`) use
//!   `sync = true`: a replica must never forget a vote it sent, nor the proof that a validator
//!   lied.
//!   Because RocksDB has a single write-ahead log, a synced write also makes every earlier
//!   unsynced block commit durable.
//! - [`Store::flush`] writes memtables to SST files and syncs the WAL; call it on clean shutdown.
//!
//! ### Tuning
//! LZ4 compression, one 64 MiB LRU block cache shared by all column families, bloom filters (reads
//! are point lookups), at most 512 open files, the WAL bounded at 256 MiB (so the rarely written
//! families cannot pin old log files), all memtables together bounded at 128 MiB, two background
//! jobs. RocksDB's memory is thus bounded by configuration (cache, memtables, index and filter
//! blocks in the cache), not by the size of the database.
//!
//! ## Invariants
//! - A directory belongs to one genesis hash and one [`FORMAT_VERSION`]; opening it with another is
//!   refused ([`StorageError::GenesisMismatch`], [`StorageError::UnsupportedFormat`]).
//! - `live_records` is the subset of `records` the ledger still holds: a block's new records
//!   are written to both, its pruned ids deleted from `live_records` only, in the same batch.
//! - Blocks are committed at consecutive heights starting at 1, each `prev_hash` equal to the hash
//!   of the block before ([`Hash::ZERO`](settlenet_types::Hash::ZERO) at height 1), and the block's
//!   hash equal to its certificate's. A refused commit writes nothing.
//! - The head (`last_height`, `last_block_hash`, `state_root`) always describes the last block
//!   fully written; every block at or below it has its `blocks` and `block_index` entries.
//! - A tx id's location is its first inclusion (after a snapshot, its first inclusion among the
//!   blocks held), except that the block that wrote its record always takes it
//!   (`BlockWrite::recorded_here`: written without reading the index; an earlier inclusion can
//!   only have been refused without a record, e.g. `validity_too_long`). Repeats never
//!   overwrite it.
//! - Blocks held are `max(1, base) ..= last_height`, consecutive. Each block committed after the
//!   base has its account-history and per-transaction-changes entries (the same set, two keys);
//!   the block at the base has none (a snapshot carries state, not the base block's changes).
//!
//! ## Layout
//! ```text
//! lib.rs             this design doc; the public API re-exported
//! error.rs           StorageError, the crate's one error type
//! store/mod.rs       the Store, column family names, meta keys, the values passed in and out
//! store/open.rs      open (tuning, column families, format version and genesis check), flush
//! store/blocks.rs    genesis, block commits, chain reads (head, blocks, block and tx indexes,
//!                    each block's per-transaction changes)
//! store/state.rs     accounts and tx records, consistent multi-account reads, account history
//! store/snapshot.rs  installing a verified state snapshot in one synced batch
//! store/stats.rs     disk use by column family; a full manual compaction
//! store/checkpoint.rs checkpoints of the whole store (hard links) and paged reads of one, to
//!                    serve a state snapshot without building it in memory
//! store/wal.rs       the consensus write-ahead log and equivocation evidence (synced)
//! store/codec.rs     key layouts and the canonical encoding of interpreted values
//! tests/common/      fixtures shared by the tests: blocks built to order, a before/after view
//! tests/blocks.rs    commits and reads across reopening, refused and concurrent commits, history
//! tests/identity.rs  genesis and format checks at open, older formats, corrupted values
//! tests/durability.rs the consensus WAL and evidence across reopening, blocks across SIGKILL
//! tests/snapshot.rs  snapshot install: refusals change nothing, the chain continues from it
//! ```

mod error;
mod store;

pub use error::StorageError;
pub use store::{
    BlockWrite, EvidencePut, FamilyStats, HistoryEntry, KeyValue, SnapshotWrite, Store,
    StoreMemory, StoreMemoryLimits, TxPosition, BLOCK_CACHE_BYTES, BLOCK_CHANGES_MAX, CF_ACCOUNTS,
    CF_ACCOUNT_HISTORY, CF_BLOCKS, CF_BLOCK_INDEX, CF_BLOCK_SUMMARIES, CF_EVIDENCE,
    CF_HISTORY_NODES, CF_LIVE_RECORDS, CF_META, CF_RECORDS, CF_TX_CHANGES, CF_TX_INDEX, CF_WAL,
    COLUMN_FAMILIES, EXPIRED_POSITION, FORMAT_VERSION, HISTORY_PAGE_MAX, MEMORY_LIMIT_MIN_BYTES,
    MEMTABLES_MAX_BYTES, META_BASE, META_FORMAT_VERSION, META_GENESIS_HASH, META_HEAD,
    META_LEDGER_HISTORY, META_PRUNED, META_SUMMARIES_FROM, PAGE_MAX, PRUNE_UNSUMMARISED_MAX,
};
