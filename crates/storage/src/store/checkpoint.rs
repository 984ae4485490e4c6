//! Store checkpoints: a consistent copy of the whole store at one moment, in a directory of
//! hard links to the immutable table files (RocksDB's checkpoint), opened read-only to stream
//! a state snapshot from, a page at a time. Taken between two block writes, a checkpoint holds
//! exactly the state at one height; it costs disk only for table files compaction removes from
//! the live store while the checkpoint still links them.

use super::codec::key_array;
use super::{KeyValue, Store, CF_ACCOUNTS, CF_LIVE_RECORDS, COLUMN_FAMILIES};
use crate::error::StorageError;
use rocksdb::checkpoint::Checkpoint;
use rocksdb::{Direction, FlushOptions, IteratorMode};
use settlenet_types::{AccountId, Hash, TxId};
use std::path::Path;

/// The block cache of a store opened read-only (a checkpoint being served): reads are one pass
/// in key order, so a small cache is enough.
pub(super) const READ_ONLY_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Most entries one page read returns (a snapshot chunk reads at most a few thousand).
pub const PAGE_MAX: usize = 65_536;

impl Store {
    /// Start writing every column family's memtables to table files, and return at once. A
    /// checkpoint taken soon after then has little left to flush (taking it waits for that).
    pub fn flush_in_background(&self) -> Result<(), StorageError> {
        let mut opts = FlushOptions::default();
        opts.set_wait(false);
        let cfs = COLUMN_FAMILIES
            .iter()
            .map(|name| self.cf(name))
            .collect::<Result<Vec<_>, _>>()?;
        self.db
            .flush_cfs_opt(&cfs, &opts)
            .map_err(|e| StorageError::db("start flushing the memtables", e))
    }

    /// Write a checkpoint of the store as it is now into `dir`, which must not exist and must
    /// be on the same file system (table files are hard-linked; the memtables are flushed
    /// first). Call it between writes: it holds every write that returned before it.
    pub fn checkpoint(&self, dir: &Path) -> Result<(), StorageError> {
        let checkpoint = Checkpoint::new(&self.db)
            .map_err(|e| StorageError::db("prepare a store checkpoint", e))?;
        checkpoint.create_checkpoint(dir).map_err(|e| {
            StorageError::db(format!("write a store checkpoint to {}", dir.display()), e)
        })
    }

    /// Up to `limit` (at most [`PAGE_MAX`]) encoded accounts with ids above `after` (from the
    /// first if `None`), in id order.
    pub fn accounts_after(
        &self,
        after: Option<&AccountId>,
        limit: usize,
    ) -> Result<Vec<(AccountId, Vec<u8>)>, StorageError> {
        self.page_after(CF_ACCOUNTS, after.map(|a| a.as_bytes().as_slice()), limit)?
            .into_iter()
            .map(|(k, v)| Ok((AccountId(key_array("account key", &k)?), v)))
            .collect()
    }

    /// Up to `limit` (at most [`PAGE_MAX`]) encoded live records with ids above `after` (from
    /// the first if `None`), in id order.
    pub fn live_records_after(
        &self,
        after: Option<&TxId>,
        limit: usize,
    ) -> Result<Vec<(TxId, Vec<u8>)>, StorageError> {
        self.page_after(
            CF_LIVE_RECORDS,
            after.map(|t| t.as_bytes().as_slice()),
            limit,
        )?
        .into_iter()
        .map(|(k, v)| Ok((TxId(key_array("live record key", &k)?), v)))
        .collect()
    }

    /// The chain head's height and state root (`None` before genesis).
    pub fn head_root(&self) -> Result<Option<(settlenet_types::Height, Hash)>, StorageError> {
        Ok(self.head()?.map(|h| (h.height, h.state_root)))
    }

    fn page_after(
        &self,
        cf: &'static str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<KeyValue>, StorageError> {
        let limit = limit.min(PAGE_MAX);
        let mode = match after {
            Some(key) => IteratorMode::From(key, Direction::Forward),
            None => IteratorMode::Start,
        };
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(cf)?, mode) {
            if out.len() >= limit {
                break;
            }
            let (k, v) =
                item.map_err(|e| StorageError::db(format!("scan column family {cf}"), e))?;
            if after.is_some_and(|a| *k == *a) {
                continue;
            }
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }
}
