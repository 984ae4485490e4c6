//! The consensus write-ahead log and equivocation evidence: opaque keys and values, every write
//! synced (a replica must never forget a vote it sent, nor the proof that a validator lied).

use super::codec::hex;
use super::{EvidencePut, KeyValue, Store, CF_EVIDENCE, CF_WAL};
use crate::error::StorageError;
use rocksdb::{IteratorMode, WriteBatch};
use std::sync::PoisonError;

impl Store {
    /// Store a consensus write-ahead log entry, synced to disk before returning (and with it
    /// every earlier unsynced write, since RocksDB has one WAL).
    pub fn wal_put(&self, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_WAL)?, key, value);
        self.write(batch, true, || {
            format!("write consensus wal entry {}", hex(key))
        })
    }

    /// A consensus write-ahead log entry.
    pub fn wal_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_raw(CF_WAL, key)
    }

    /// Remove a consensus write-ahead log entry (synced). Removing a missing key is not an error.
    pub fn wal_delete(&self, key: &[u8]) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_WAL)?, key);
        self.write(batch, true, || {
            format!("delete consensus wal entry {}", hex(key))
        })
    }

    /// Every consensus write-ahead log entry, in key order.
    pub fn wal_entries(&self) -> Result<Vec<KeyValue>, StorageError> {
        self.scan(CF_WAL)
    }

    /// Keep an evidence record under `key` unless one is already there (the first is kept) or
    /// `max` records are stored; written with sync, like the consensus WAL (evidence of a lying
    /// validator must not be lost to a crash). The check and the write are serialised with
    /// other head writers, so two concurrent calls cannot both pass the bound.
    pub fn evidence_put(
        &self,
        key: &[u8],
        value: &[u8],
        max: usize,
    ) -> Result<EvidencePut, StorageError> {
        let _guard = self
            .head_write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.get_raw(CF_EVIDENCE, key)?.is_some() {
            return Ok(EvidencePut::Duplicate);
        }
        if self.evidence_count()? >= max {
            return Ok(EvidencePut::Full);
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_EVIDENCE)?, key, value);
        self.write(batch, true, || format!("write evidence {}", hex(key)))?;
        Ok(EvidencePut::Stored)
    }

    /// Every evidence record, in key order.
    pub fn evidence_entries(&self) -> Result<Vec<KeyValue>, StorageError> {
        self.scan(CF_EVIDENCE)
    }

    /// How many evidence records are stored (a scan of the keys: the family is small and
    /// bounded by the writer).
    pub fn evidence_count(&self) -> Result<usize, StorageError> {
        let mut n = 0;
        for item in self
            .db
            .iterator_cf(self.cf(CF_EVIDENCE)?, IteratorMode::Start)
        {
            item.map_err(|e| StorageError::db("scan column family evidence", e))?;
            n += 1;
        }
        Ok(n)
    }
}
