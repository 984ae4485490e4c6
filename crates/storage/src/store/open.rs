//! Opening a store directory: RocksDB tuning, the column families, and the directory's
//! identity (format version and genesis hash, checked or recorded at open); and flushing it on
//! clean shutdown.

use super::codec::{encode, hex};
use super::{
    Store, CF_META, COLUMN_FAMILIES, FORMAT_VERSION, META_FORMAT_VERSION, META_GENESIS_HASH,
};
use crate::error::StorageError;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, Options, WriteBatch, DB,
};
use settlenet_types::Hash;
use std::path::Path;
use std::sync::Mutex;

/// Default shared LRU block cache across all column families ([`StoreMemoryLimits`]).
pub const BLOCK_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Bound on file descriptors RocksDB keeps open (the default is unlimited).
const MAX_OPEN_FILES: i32 = 512;
/// Once the WAL exceeds this, RocksDB flushes the column families that pin old WAL files (the
/// rarely written `meta` and `wal` families would otherwise keep every WAL file alive).
const MAX_TOTAL_WAL_BYTES: u64 = 256 * 1024 * 1024;
/// RocksDB's own info logs kept on disk.
const INFO_LOG_FILES_KEPT: usize = 8;
/// Default for the most memory all column families' memtables may hold together: past it
/// RocksDB flushes the largest. Without it each of the twelve families could hold two 64 MiB
/// memtables.
pub const MEMTABLES_MAX_BYTES: usize = 128 * 1024 * 1024;
/// The smallest block cache and memtable budget a store accepts.
pub const MEMORY_LIMIT_MIN_BYTES: usize = 8 * 1024 * 1024;

/// The memory a store may use for its block cache and memtables (RocksDB's two large,
/// configurable parts; what `Store::memory` reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreMemoryLimits {
    /// Capacity of the LRU block cache shared by every column family (data, index and filter
    /// blocks).
    pub block_cache_bytes: usize,
    /// Most bytes all memtables hold together before RocksDB flushes the largest.
    pub memtables_bytes: usize,
}

impl Default for StoreMemoryLimits {
    fn default() -> Self {
        StoreMemoryLimits {
            block_cache_bytes: BLOCK_CACHE_BYTES,
            memtables_bytes: MEMTABLES_MAX_BYTES,
        }
    }
}
/// Background flush and compaction threads (the nodes run on small machines).
const BACKGROUND_JOBS: i32 = 2;

fn cf_options(cache: &Cache) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    // Almost every read is a point lookup by id or height.
    table.set_bloom_filter(10.0, false);
    table.set_cache_index_and_filter_blocks(true);
    let mut opts = Options::default();
    opts.set_compression_type(DBCompressionType::Lz4);
    opts.set_bottommost_compression_type(DBCompressionType::Lz4);
    opts.set_block_based_table_factory(&table);
    opts
}

fn db_options(cache: &Cache, memtables_bytes: usize) -> Options {
    let mut opts = cf_options(cache);
    opts.set_max_open_files(MAX_OPEN_FILES);
    opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
    opts.set_db_write_buffer_size(memtables_bytes);
    opts.set_keep_log_file_num(INFO_LOG_FILES_KEPT);
    opts.set_max_background_jobs(BACKGROUND_JOBS);
    opts
}

impl Store {
    /// Open or create the store at `path`, creating missing column families.
    ///
    /// A new directory is bound to `genesis_hash` and [`FORMAT_VERSION`] at once (synced);
    /// an existing one is refused with [`StorageError::UnsupportedFormat`] if written by another
    /// format and [`StorageError::GenesisMismatch`] if it belongs to another genesis. (Format 4
    /// changed what the ledger stores, its state root and the transaction format: an older
    /// directory cannot be upgraded in place; its chain is restarted from a new genesis.)
    pub fn open(path: &Path, genesis_hash: Hash) -> Result<Store, StorageError> {
        Store::open_with(path, genesis_hash, StoreMemoryLimits::default())
    }

    /// [`Store::open`] with a block cache and memtable budget other than the defaults; each
    /// must be at least [`MEMORY_LIMIT_MIN_BYTES`] ([`StorageError::Config`] otherwise).
    pub fn open_with(
        path: &Path,
        genesis_hash: Hash,
        limits: StoreMemoryLimits,
    ) -> Result<Store, StorageError> {
        for (what, bytes) in [
            ("block cache", limits.block_cache_bytes),
            ("memtable budget", limits.memtables_bytes),
        ] {
            if bytes < MEMORY_LIMIT_MIN_BYTES {
                return Err(StorageError::Config(format!(
                    "the store's {what} of {bytes} bytes is below the minimum of \
                     {MEMORY_LIMIT_MIN_BYTES}"
                )));
            }
        }
        let cache = Cache::new_lru_cache(limits.block_cache_bytes);
        let mut opts = db_options(&cache, limits.memtables_bytes);
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let descriptors = COLUMN_FAMILIES
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, cf_options(&cache)));
        let db = DB::open_cf_descriptors(&opts, path, descriptors)
            .map_err(|e| StorageError::db(format!("open store at {}", path.display()), e))?;
        let store = Store {
            db,
            cache,
            cache_capacity: limits.block_cache_bytes,
            head_write_lock: Mutex::new(()),
        };
        store.check_identity(genesis_hash, false)?;
        store.mark_summaries_from()?;
        Ok(store)
    }

    /// Open a store directory read-only (a checkpoint being served): nothing is created or
    /// written, every write fails; refused like [`Store::open`] if it is of another format or
    /// genesis, and if it has no identity at all.
    pub fn open_read_only(path: &Path, genesis_hash: Hash) -> Result<Store, StorageError> {
        let cache = Cache::new_lru_cache(super::checkpoint::READ_ONLY_CACHE_BYTES);
        let opts = db_options(&cache, MEMORY_LIMIT_MIN_BYTES);
        let descriptors = COLUMN_FAMILIES
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, cf_options(&cache)));
        let db =
            DB::open_cf_descriptors_read_only(&opts, path, descriptors, false).map_err(|e| {
                StorageError::db(format!("open store at {} read-only", path.display()), e)
            })?;
        let store = Store {
            db,
            cache,
            cache_capacity: super::checkpoint::READ_ONLY_CACHE_BYTES,
            head_write_lock: Mutex::new(()),
        };
        store.check_identity(genesis_hash, true)?;
        Ok(store)
    }

    /// Check (or, for a new directory opened for writing, record) the format version and the
    /// genesis hash.
    fn check_identity(&self, genesis_hash: Hash, read_only: bool) -> Result<(), StorageError> {
        let version: Option<u32> =
            self.get_decoded(CF_META, META_FORMAT_VERSION, "store format version")?;
        let stored_genesis: Option<Hash> =
            self.get_decoded(CF_META, META_GENESIS_HASH, "genesis hash")?;
        match (version, stored_genesis) {
            (Some(found), _) if found != FORMAT_VERSION => Err(StorageError::UnsupportedFormat {
                found,
                supported: FORMAT_VERSION,
            }),
            (Some(_), Some(stored)) if stored != genesis_hash => {
                Err(StorageError::GenesisMismatch {
                    stored,
                    expected: genesis_hash,
                })
            }
            (Some(_), Some(_)) => Ok(()),
            (None, None) if read_only => Err(StorageError::Corrupt {
                what: "store identity",
                key: hex(META_FORMAT_VERSION),
                reason: "no format version and no genesis hash: not a SettleNet store".into(),
            }),
            (None, None) => {
                let meta = self.cf(CF_META)?;
                let mut batch = WriteBatch::default();
                batch.put_cf(
                    meta,
                    META_FORMAT_VERSION,
                    encode("store format version", &FORMAT_VERSION)?,
                );
                batch.put_cf(
                    meta,
                    META_GENESIS_HASH,
                    encode("genesis hash", &genesis_hash)?,
                );
                self.write(batch, true, || "record store identity".to_string())
            }
            (version, genesis) => Err(StorageError::Corrupt {
                what: "store identity",
                key: hex(if version.is_none() {
                    META_FORMAT_VERSION
                } else {
                    META_GENESIS_HASH
                }),
                reason: format!(
                    "format version present: {}, genesis hash present: {} (both or neither \
                     expected)",
                    version.is_some(),
                    genesis.is_some()
                ),
            }),
        }
    }

    /// Flush every column family's memtable to SST files and fsync the WAL: after this returns,
    /// everything written so far survives a power failure. For clean shutdown.
    pub fn flush(&self) -> Result<(), StorageError> {
        for name in COLUMN_FAMILIES {
            self.db
                .flush_cf(self.cf(name)?)
                .map_err(|e| StorageError::db(format!("flush column family {name}"), e))?;
        }
        self.db
            .flush_wal(true)
            .map_err(|e| StorageError::db("sync the write-ahead log", e))
    }
}
