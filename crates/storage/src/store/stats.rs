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

impl Store {
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
