//! The consensus write-ahead log and equivocation evidence: opaque keys and values, every write
//! synced (a replica must never forget a vote it sent, nor the proof that a validator lied).

use super::codec::hex;
use super::{EvidencePut, KeyValue, Store, CF_EVIDENCE, CF_META, CF_WAL, META_SAFETY_VIOLATION};
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
        self.evidence_put_quota(key, value, max, 0, usize::MAX)
    }

    /// [`Store::evidence_put`] with a quota per key prefix as well: at most `prefix_max`
    /// records whose key starts with the same `prefix_len` bytes (the accused validator), so
    /// one validator's reports cannot crowd out everyone else's.
    pub fn evidence_put_quota(
        &self,
        key: &[u8],
        value: &[u8],
        max: usize,
        prefix_len: usize,
        prefix_max: usize,
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
        if prefix_len > 0 {
            let prefix = &key[..prefix_len.min(key.len())];
            let mut same = 0usize;
            for item in self.db.iterator_cf(
                self.cf(CF_EVIDENCE)?,
                IteratorMode::From(prefix, rocksdb::Direction::Forward),
            ) {
                let (k, _) =
                    item.map_err(|e| StorageError::db("scan column family evidence", e))?;
                if !k.starts_with(prefix) {
                    break;
                }
                same += 1;
                if same >= prefix_max {
                    return Ok(EvidencePut::Full);
                }
            }
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_EVIDENCE)?, key, value);
        self.write(batch, true, || format!("write evidence {}", hex(key)))?;
        Ok(EvidencePut::Stored)
    }

    /// Keep the record of a safety violation (two blocks certified at one height), synced,
    /// unless one is kept already (the first is kept).
    pub fn safety_put(&self, value: &[u8]) -> Result<(), StorageError> {
        if self.get_raw(CF_META, META_SAFETY_VIOLATION)?.is_some() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META)?, META_SAFETY_VIOLATION, value);
        self.write(batch, true, || {
            "write the safety-violation record".to_string()
        })
    }

    /// The kept safety-violation record, if any.
    pub fn safety_record(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_raw(CF_META, META_SAFETY_VIOLATION)
    }

    /// Every evidence record, in key order.
    pub fn evidence_entries(&self) -> Result<Vec<KeyValue>, StorageError> {
        self.scan(CF_EVIDENCE)
    }

    /// Up to `limit` evidence records after key `after` (from the first when `None`), in key
    /// order.
    pub fn evidence_page(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<KeyValue>, StorageError> {
        let mode = match after {
            Some(k) => IteratorMode::From(k, rocksdb::Direction::Forward),
            None => IteratorMode::Start,
        };
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_EVIDENCE)?, mode) {
            let (k, v) = item.map_err(|e| StorageError::db("scan column family evidence", e))?;
            if after.is_some_and(|a| *k == *a) {
                continue;
            }
            if out.len() == limit {
                break;
            }
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
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
