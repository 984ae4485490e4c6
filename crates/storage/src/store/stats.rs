//! What the store holds on disk, by column family, and a manual compaction: for operators
//! (`settlenet node store`) and for the disk-growth figures in docs/benchmarks.md.

use super::{Store, COLUMN_FAMILIES};
use crate::error::StorageError;

/// Disk and memory use of one column family, as RocksDB reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyStats {
    /// The column family.
    pub name: &'static str,
    /// Bytes of its table files on disk (`rocksdb.total-sst-files-size`), including data that
    /// compaction would drop.
    pub sst_bytes: u64,
    /// RocksDB's estimate of the bytes of live data (`rocksdb.estimate-live-data-size`).
    pub live_bytes: u64,
    /// RocksDB's estimate of the number of keys (`rocksdb.estimate-num-keys`).
    pub keys: u64,
    /// Bytes in its memtables (`rocksdb.cur-size-all-mem-tables`), not yet in table files.
    pub memtable_bytes: u64,
}

/// What a store holds in memory now, by RocksDB's own accounting
/// (`rocksdb::perf::get_memory_usage_stats` over the database and its block cache).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreMemory {
    /// Bytes of every memtable, flushed or not (bounded by the write buffer limit).
    pub memtables_bytes: u64,
    /// Bytes the open table files keep outside the block cache (their readers).
    pub table_readers_bytes: u64,
    /// Bytes in the block cache (data, index and filter blocks; bounded by its capacity).
    pub block_cache_bytes: u64,
    /// The block cache's capacity.
    pub block_cache_capacity_bytes: u64,
}

impl StoreMemory {
    /// The sum of what RocksDB accounts for.
    pub fn total_bytes(&self) -> u64 {
        self.memtables_bytes
            .saturating_add(self.table_readers_bytes)
            .saturating_add(self.block_cache_bytes)
    }
}

impl Store {
    /// What this store holds in memory now (see [`StoreMemory`]).
    pub fn memory(&self) -> Result<StoreMemory, StorageError> {
        let stats = rocksdb::perf::get_memory_usage_stats(Some(&[&self.db]), Some(&[&self.cache]))
            .map_err(|e| StorageError::db("read the store's memory use".to_string(), e))?;
        Ok(StoreMemory {
            memtables_bytes: stats.mem_table_total,
            table_readers_bytes: stats.mem_table_readers_total,
            block_cache_bytes: stats.cache_total,
            block_cache_capacity_bytes: self.cache_capacity as u64,
        })
    }

    /// Disk and memory use of every column family, in [`COLUMN_FAMILIES`] order.
    pub fn family_stats(&self) -> Result<Vec<FamilyStats>, StorageError> {
        COLUMN_FAMILIES
            .iter()
            .map(|name| {
                let cf = self.cf(name)?;
                let int = |property: &str| -> Result<u64, StorageError> {
                    self.db
                        .property_int_value_cf(cf, property)
                        .map(|v| v.unwrap_or(0))
                        .map_err(|e| {
                            StorageError::db(format!("read {property} of column family {name}"), e)
                        })
                };
                Ok(FamilyStats {
                    name,
                    sst_bytes: int("rocksdb.total-sst-files-size")?,
                    live_bytes: int("rocksdb.estimate-live-data-size")?,
                    keys: int("rocksdb.estimate-num-keys")?,
                    memtable_bytes: int("rocksdb.cur-size-all-mem-tables")?,
                })
            })
            .collect()
    }

    /// Flush every memtable, then compact every column family fully (blocks until done; on
    /// a large store, minutes). Run it on a stopped node's store to see what compaction
    /// reclaims; a running node compacts in the background by itself.
    pub fn compact(&self) -> Result<(), StorageError> {
        self.flush()?;
        for name in COLUMN_FAMILIES {
            self.db
                .compact_range_cf(self.cf(name)?, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }
}
