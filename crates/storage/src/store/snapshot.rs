//! Installing a verified state snapshot: the whole state replaced in one synced batch.

use super::codec::{encode, height_key};
use super::{
    Head, SnapshotWrite, Store, CF_ACCOUNTS, CF_ACCOUNT_HISTORY, CF_BLOCKS, CF_BLOCK_INDEX,
    CF_BLOCK_SUMMARIES, CF_LIVE_RECORDS, CF_META, CF_RECORDS, CF_TX_CHANGES, CF_TX_INDEX, CF_WAL,
    META_BASE, META_HEAD, META_LEDGER_HISTORY, META_PRUNED,
};
use crate::error::StorageError;
use rocksdb::WriteBatch;
use std::collections::BTreeSet;
use std::sync::PoisonError;

/// Larger than every key of every column family (keys are at most 32 bytes), as the exclusive
/// end of a range delete that empties a column family.
const KEY_END: [u8; 33] = [0xff; 33];

impl Store {
    /// Replace the whole state with a verified snapshot at `write.block`'s height, in one
    /// atomic, synced `WriteBatch`: every stored account, live record, block, block summary, block-hash index,
    /// tx-index, account-history and per-transaction-changes entry is deleted; the snapshot's
    /// accounts, live records (also added to the archive of records, which keeps what this
    /// node executed before) and history accumulator, the anchoring block (with its index entries) and the new head are
    /// written; the base ([`Store::base_height`]) is set to the snapshot height (and retention's mark
    /// removed); the listed WAL
    /// keys are deleted. After a crash the store holds either its old state or the snapshot,
    /// never a mix.
    ///
    /// Refused without writing anything if the store has no genesis
    /// ([`StorageError::NotInitialised`]), if the snapshot is not above the current head
    /// ([`StorageError::SnapshotNotAhead`]), or if the block's hash, height and certificate
    /// disagree ([`StorageError::InconsistentBlock`]). The caller verifies the certificate and the
    /// state root; this crate does not interpret the ledger's values.
    pub fn install_snapshot(&self, write: SnapshotWrite<'_>) -> Result<(), StorageError> {
        let stored = write.block;
        let height = stored.block.header.height;
        let _guard = self
            .head_write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let head = self.head()?.ok_or(StorageError::NotInitialised)?;
        if height <= head.height {
            return Err(StorageError::SnapshotNotAhead {
                height,
                head: head.height,
            });
        }
        let inconsistent = |reason: String| StorageError::InconsistentBlock { height, reason };
        if stored.certificate.block_hash != stored.hash || stored.certificate.height != height {
            return Err(inconsistent(format!(
                "block hash {} at height {height}, certificate for {} at height {}",
                stored.hash, stored.certificate.block_hash, stored.certificate.height
            )));
        }
        let mut batch = WriteBatch::default();
        for cf in [
            CF_ACCOUNTS,
            CF_LIVE_RECORDS,
            CF_BLOCKS,
            CF_BLOCK_SUMMARIES,
            CF_BLOCK_INDEX,
            CF_TX_INDEX,
            CF_ACCOUNT_HISTORY,
            CF_TX_CHANGES,
        ] {
            batch.delete_range_cf(self.cf(cf)?, &[0u8; 0][..], &KEY_END[..]);
        }
        batch.put_cf(
            self.cf(CF_BLOCKS)?,
            height_key(height),
            encode("stored block", stored)?,
        );
        batch.put_cf(
            self.cf(CF_BLOCK_SUMMARIES)?,
            height_key(height),
            encode("block summary", &stored.summary())?,
        );
        batch.put_cf(
            self.cf(CF_BLOCK_INDEX)?,
            stored.hash.as_bytes(),
            encode("block height", &height)?,
        );
        let tx_index = self.cf(CF_TX_INDEX)?;
        let mut seen_in_block = BTreeSet::new();
        for (position, signed) in stored.block.txs.iter().enumerate() {
            if !seen_in_block.insert(signed.tx.id) {
                continue;
            }
            let position = u32::try_from(position)
                .map_err(|_| inconsistent("more than u32::MAX transactions".to_string()))?;
            batch.put_cf(
                tx_index,
                signed.tx.id.as_bytes(),
                encode("tx location", &(height, position))?,
            );
        }
        let accounts_cf = self.cf(CF_ACCOUNTS)?;
        for (id, bytes) in write.accounts {
            batch.put_cf(accounts_cf, id.as_bytes(), bytes);
        }
        let records_cf = self.cf(CF_RECORDS)?;
        let live_cf = self.cf(CF_LIVE_RECORDS)?;
        for (id, bytes) in write.records {
            batch.put_cf(records_cf, id.as_bytes(), bytes);
            batch.put_cf(live_cf, id.as_bytes(), bytes);
        }
        let wal = self.cf(CF_WAL)?;
        for key in write.wal_delete {
            batch.delete_cf(wal, key);
        }
        let meta = self.cf(CF_META)?;
        batch.put_cf(meta, META_BASE, encode("base height", &height)?);
        batch.delete_cf(meta, META_PRUNED);
        batch.put_cf(meta, META_LEDGER_HISTORY, write.ledger_history);
        let new_head = Head {
            height,
            block_hash: stored.hash,
            state_root: stored.state_root,
        };
        batch.put_cf(meta, META_HEAD, encode("chain head", &new_head)?);
        // A state switch is rare and large: make it durable before consensus is told about it.
        self.write(batch, true, || {
            format!("install snapshot at height {height}")
        })
    }
}
