//! Genesis, block commits and the chain reads: the head (height, block hash, state root), blocks
//! by height, and the block-hash and tx-id indexes.

use super::codec::{
    changes_key, encode, height_key, hex, history_key, history_leaf_key, history_node_key,
    key_array,
};
use super::{
    BlockWrite, Head, Store, BLOCK_CHANGES_MAX, CF_ACCOUNTS, CF_ACCOUNT_HISTORY, CF_BLOCKS,
    CF_BLOCK_INDEX, CF_BLOCK_SUMMARIES, CF_HISTORY_NODES, CF_LIVE_RECORDS, CF_META, CF_RECORDS,
    CF_TX_CHANGES, CF_TX_INDEX, META_BASE, META_HEAD, META_LEDGER_HISTORY, META_PRUNED,
    META_SUMMARIES_FROM, PRUNE_UNSUMMARISED_MAX,
};
use crate::error::StorageError;
use rocksdb::{Direction, IteratorMode, WriteBatch};
use settlenet_types::{AccountId, BlockSummary, Hash, Height, StoredBlock, TxId};
use std::collections::BTreeSet;
use std::sync::PoisonError;

impl Store {
    /// True if no genesis state was written yet (a fresh directory).
    pub fn is_fresh(&self) -> Result<bool, StorageError> {
        Ok(self.head()?.is_none())
    }

    /// Write the genesis accounts and mark the store initialised at height 0 with `state_root`,
    /// in one atomic, synced batch. Refused ([`StorageError::AlreadyInitialised`]) if the store
    /// already has state.
    pub fn init_genesis(
        &self,
        accounts: &[(AccountId, Vec<u8>)],
        state_root: Hash,
    ) -> Result<(), StorageError> {
        let _guard = self
            .head_write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(head) = self.head()? {
            return Err(StorageError::AlreadyInitialised {
                last_height: head.height,
            });
        }
        let accounts_cf = self.cf(CF_ACCOUNTS)?;
        let mut batch = WriteBatch::default();
        for (id, bytes) in accounts {
            batch.put_cf(accounts_cf, id.as_bytes(), bytes);
        }
        let head = Head {
            height: Height(0),
            block_hash: Hash::ZERO,
            state_root,
        };
        batch.put_cf(self.cf(CF_META)?, META_HEAD, encode("chain head", &head)?);
        // Genesis happens once: sync it so the directory is never half-initialised.
        self.write(batch, true, || "write genesis state".to_string())
    }

    /// Commit one block atomically (one `WriteBatch`): the block by height, its hash -> height
    /// index, a tx id -> (height, index) entry for each transaction not included before, the
    /// accounts and records, the account history and each position's changed accounts, and the
    /// new head (height, block hash, `block.state_root`).
    ///
    /// Refused without writing anything if the store has no genesis
    /// ([`StorageError::NotInitialised`]), if the height is not `last_height() + 1`
    /// ([`StorageError::OutOfOrder`]), if `prev_hash` is not `last_block_hash()`
    /// ([`StorageError::BrokenChain`]), or if the block's hash, header and certificate disagree
    /// ([`StorageError::InconsistentBlock`]).
    ///
    /// Written to RocksDB's WAL without fsync: it survives the process being killed, not a power
    /// failure or kernel crash (see the crate docs).
    pub fn commit_block(&self, write: BlockWrite<'_>) -> Result<(), StorageError> {
        let stored = write.block;
        let height = stored.block.header.height;
        let _guard = self
            .head_write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let head = self.head()?.ok_or(StorageError::NotInitialised)?;
        let expected = head.height.next();
        if height != expected || head.height.0 == u64::MAX {
            return Err(StorageError::OutOfOrder {
                expected,
                got: height,
            });
        }
        if stored.prev_hash != head.block_hash {
            return Err(StorageError::BrokenChain {
                height,
                expected: head.block_hash,
                got: stored.prev_hash,
            });
        }
        let inconsistent = |reason: String| StorageError::InconsistentBlock { height, reason };
        if stored.certificate.block_hash != stored.hash {
            return Err(inconsistent(format!(
                "hash {} but certificate is for {}",
                stored.hash, stored.certificate.block_hash
            )));
        }
        if stored.certificate.height != height {
            return Err(inconsistent(format!(
                "certificate is for height {}",
                stored.certificate.height
            )));
        }

        let mut batch = WriteBatch::default();
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
        // First inclusion wins, both against earlier blocks and within this block.
        let mut seen_in_block = BTreeSet::new();
        for (position, signed) in stored.block.txs.iter().enumerate() {
            let id = signed.tx.id;
            // A transaction that wrote its record in this block was never executed before: its
            // index entry is written without a read. Only the others (repeats, refusals that
            // leave no record) are looked up, so the cost of a block does not depend on how
            // large the index has grown (a read per transaction did: past about a million
            // transactions its filter blocks no longer stayed in the cache).
            let fresh = write.recorded_here.get(position).copied().unwrap_or(false);
            if !seen_in_block.insert(id) || (!fresh && self.tx_location(&id)?.is_some()) {
                continue;
            }
            let position = u32::try_from(position)
                .map_err(|_| inconsistent("more than u32::MAX transactions".to_string()))?;
            batch.put_cf(
                tx_index,
                id.as_bytes(),
                encode("tx location", &(height, position))?,
            );
        }
        let accounts_cf = self.cf(CF_ACCOUNTS)?;
        for (id, bytes) in write.accounts {
            batch.put_cf(accounts_cf, id.as_bytes(), bytes);
        }
        let archive_cf = self.cf(super::CF_ARCHIVED_ACCOUNTS)?;
        for (id, bytes) in write.archived {
            batch.delete_cf(accounts_cf, id.as_bytes());
            batch.put_cf(archive_cf, id.as_bytes(), bytes);
        }
        let records_cf = self.cf(CF_RECORDS)?;
        let live_cf = self.cf(CF_LIVE_RECORDS)?;
        for id in write.pruned {
            batch.delete_cf(live_cf, id.as_bytes());
        }
        for (id, bytes) in write.records {
            batch.put_cf(records_cf, id.as_bytes(), bytes);
            batch.put_cf(live_cf, id.as_bytes(), bytes);
        }
        let nodes_cf = self.cf(CF_HISTORY_NODES)?;
        for (level, index, hash) in write.history_nodes {
            batch.put_cf(nodes_cf, history_node_key(*level, *index), hash.0);
        }
        // The block's leaf (its first node, at level 0), found again by height for proofs.
        if let Some((0, leaf, _)) = write.history_nodes.first() {
            batch.put_cf(nodes_cf, history_leaf_key(height), leaf.to_be_bytes());
        }
        batch.put_cf(self.cf(CF_META)?, META_LEDGER_HISTORY, write.ledger_history);
        let history_cf = self.cf(CF_ACCOUNT_HISTORY)?;
        let changes_cf = self.cf(CF_TX_CHANGES)?;
        for (account, index, tx) in write.history {
            if *index as usize >= stored.block.txs.len() {
                return Err(inconsistent(format!(
                    "history entry for position {index} of a block of {} transactions",
                    stored.block.txs.len()
                )));
            }
            batch.put_cf(
                history_cf,
                history_key(account, height, *index),
                tx.as_bytes(),
            );
            batch.put_cf(changes_cf, changes_key(height, *index, account), []);
        }
        for account in write.expired {
            batch.put_cf(
                changes_cf,
                changes_key(height, super::EXPIRED_POSITION, account),
                [],
            );
        }
        let new_head = Head {
            height,
            block_hash: stored.hash,
            state_root: stored.state_root,
        };
        batch.put_cf(
            self.cf(CF_META)?,
            META_HEAD,
            encode("chain head", &new_head)?,
        );
        self.write(batch, false, || format!("commit block {height}"))
    }

    /// The height of the snapshot this store was installed from (blocks below it are not
    /// held); `Height(0)` if the store grew from genesis.
    pub fn base_height(&self) -> Result<Height, StorageError> {
        Ok(self
            .get_decoded(CF_META, META_BASE, "base height")?
            .unwrap_or(Height(0)))
    }

    /// The lowest height whose full block (with its transactions) this store holds: above the
    /// snapshot it was installed from ([`Store::base_height`]) and above what retention pruned
    /// ([`Store::prune_blocks`]); at least 1.
    pub fn blocks_from(&self) -> Result<Height, StorageError> {
        let pruned = self.pruned_below()?;
        Ok(Height(self.base_height()?.0.max(pruned.0).max(1)))
    }

    /// The height from which every block has a stored summary (see [`META_SUMMARIES_FROM`]);
    /// `u64::MAX` if the directory has no marker (a read-only store of an older build).
    fn summaries_from(&self) -> Result<Height, StorageError> {
        Ok(self
            .get_decoded(CF_META, META_SUMMARIES_FROM, "summaries-from height")?
            .unwrap_or(Height(u64::MAX)))
    }

    /// Record, on a directory opened for writing that has no summaries marker, that blocks from
    /// the one after its head up have stored summaries (a new directory: all of them).
    pub(super) fn mark_summaries_from(&self) -> Result<(), StorageError> {
        if self.get_raw(CF_META, META_SUMMARIES_FROM)?.is_some() {
            return Ok(());
        }
        let from = match self.head()? {
            Some(head) => head.height.next(),
            None => Height(0),
        };
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(CF_META)?,
            META_SUMMARIES_FROM,
            encode("summaries-from height", &from)?,
        );
        self.write(batch, true, || "record the summaries marker".to_string())
    }

    /// The summary of the block committed at `height` (header, certificate, chain link, state
    /// root, transaction ids), whether or not its body is still held; `None` below the
    /// snapshot this store was installed from, and above the head.
    pub fn block_summary(&self, height: Height) -> Result<Option<BlockSummary>, StorageError> {
        let key = height_key(height);
        let summary: Option<BlockSummary> =
            self.get_decoded(CF_BLOCK_SUMMARIES, &key, "block summary")?;
        let summary = match summary {
            Some(s) => Some(s),
            // Written by an older build: derived from the block while it is held.
            None if height < self.summaries_from()? => self.block(height)?.map(|b| b.summary()),
            None => None,
        };
        match summary {
            Some(s) if s.header.height != height => Err(StorageError::Corrupt {
                what: "block summary",
                key: hex(&key),
                reason: format!(
                    "stored under height {height} but is for height {}",
                    s.header.height
                ),
            }),
            other => Ok(other),
        }
    }

    /// Drop the bodies of the blocks below `below` (their transactions and each transaction's
    /// changed-accounts entries), keeping each block's summary ([`Store::block_summary`]), the
    /// records, the tx index and the account history. The head's block is never pruned.
    /// Returns the lowest height whose full block is still held ([`Store::blocks_from`]).
    ///
    /// The mark moves first (one small write): from then on [`Store::block`] and
    /// [`Store::block_changes`] answer nothing below it. The space is then given back by
    /// dropping whole table files that lie entirely below the mark (RocksDB's
    /// `DeleteFilesInRange`: no tombstones, no compaction; heights only grow, so each file
    /// covers a contiguous range of them and is dropped once the mark passes its end; level-0
    /// files wait until they are compacted to level 1). Blocks written by an older build without
    /// a stored summary are read once to keep it, at most [`PRUNE_UNSUMMARISED_MAX`] a call.
    pub fn prune_blocks(&self, below: Height) -> Result<Height, StorageError> {
        let reached = {
            let _guard = self
                .head_write_lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let head = self.head()?.ok_or(StorageError::NotInitialised)?;
            let from = self.blocks_from()?;
            let below = Height(below.0.min(head.height.0));
            if below <= from {
                return Ok(from);
            }
            let summaries = self.cf(CF_BLOCK_SUMMARIES)?;
            let mut batch = WriteBatch::default();
            let summarised = self.summaries_from()?;
            let mut reached = from;
            // Older blocks without a stored summary: keep it from the block, a bounded number a
            // call.
            let unsummarised_end = Height(below.0.min(summarised.0));
            while reached < unsummarised_end && reached.0 - from.0 < PRUNE_UNSUMMARISED_MAX {
                if let Some(b) = self.block(reached)? {
                    batch.put_cf(
                        summaries,
                        height_key(reached),
                        encode("block summary", &b.summary())?,
                    );
                }
                reached = reached.next();
            }
            if reached >= summarised.min(below) {
                reached = below;
            }
            batch.put_cf(
                self.cf(CF_META)?,
                META_PRUNED,
                encode("pruned height", &reached)?,
            );
            self.write(batch, false, || format!("prune blocks below {reached}"))?;
            reached
        };
        // Give the space back: files wholly below the mark. A block file ending at the mark's
        // own height is kept (`reached` is held); a changes key is longer than 8 bytes, so every
        // changes key of height `reached` sorts after `height_key(reached)`.
        let last_pruned = height_key(Height(reached.0.saturating_sub(1)));
        self.db
            .delete_file_in_range_cf(self.cf(CF_BLOCKS)?, height_key(Height(0)), last_pruned)
            .map_err(|e| StorageError::db(format!("drop block files below {reached}"), e))?;
        self.db
            .delete_file_in_range_cf(
                self.cf(CF_TX_CHANGES)?,
                height_key(Height(0)),
                height_key(reached),
            )
            .map_err(|e| StorageError::db(format!("drop changes files below {reached}"), e))?;
        Ok(reached)
    }

    /// The height below which retention pruned the blocks (0 if none).
    fn pruned_below(&self) -> Result<Height, StorageError> {
        Ok(self
            .get_decoded(CF_META, META_PRUNED, "pruned height")?
            .unwrap_or(Height(0)))
    }

    /// The last committed height; `Height(0)` after genesis and on a fresh store.
    pub fn last_height(&self) -> Result<Height, StorageError> {
        Ok(self.head()?.map_or(Height(0), |h| h.height))
    }

    /// The hash of the block at [`Store::last_height`]; [`Hash::ZERO`] at height 0 and on a fresh
    /// store.
    pub fn last_block_hash(&self) -> Result<Hash, StorageError> {
        Ok(self.head()?.map_or(Hash::ZERO, |h| h.block_hash))
    }

    /// The ledger state root after [`Store::last_height`]; [`StorageError::NotInitialised`] on a
    /// fresh store (there is no state to have a root).
    pub fn state_root(&self) -> Result<Hash, StorageError> {
        Ok(self.head()?.ok_or(StorageError::NotInitialised)?.state_root)
    }

    /// The block committed at `height`, if any (none below what retention pruned, whether or
    /// not its bytes are still on disk).
    pub fn block(&self, height: Height) -> Result<Option<StoredBlock>, StorageError> {
        if height < self.pruned_below()? {
            return Ok(None);
        }
        let key = height_key(height);
        let block: Option<StoredBlock> = self.get_decoded(CF_BLOCKS, &key, "stored block")?;
        match block {
            Some(b) if b.block.header.height != height => Err(StorageError::Corrupt {
                what: "stored block",
                key: hex(&key),
                reason: format!(
                    "stored under height {height} but is for height {}",
                    b.block.header.height
                ),
            }),
            other => Ok(other),
        }
    }

    /// The height of the committed block with header hash `hash`, if any.
    pub fn height_of_block(&self, hash: &Hash) -> Result<Option<Height>, StorageError> {
        self.get_decoded(CF_BLOCK_INDEX, hash.as_bytes(), "block height")
    }

    /// Where transaction `id` was first included: (height, position in the block).
    pub fn tx_location(&self, id: &TxId) -> Result<Option<(Height, u32)>, StorageError> {
        self.get_decoded(CF_TX_INDEX, id.as_bytes(), "tx location")
    }

    /// The accounts each transaction of the block at `height` changed: (position in the block,
    /// account), in position then account order (at most [`BLOCK_CHANGES_MAX`]); last, under
    /// [`EXPIRED_POSITION`](super::EXPIRED_POSITION), the entries its expiry sweep changed. Empty for a
    /// block not held, and for the block a snapshot was installed at (its changes are not part
    /// of the snapshot).
    pub fn block_changes(&self, height: Height) -> Result<Vec<(u32, AccountId)>, StorageError> {
        if height < self.pruned_below()? {
            return Ok(Vec::new());
        }
        let cf = self.cf(CF_TX_CHANGES)?;
        let prefix = height_key(height);
        let iter = self
            .db
            .iterator_cf(cf, IteratorMode::From(&prefix, Direction::Forward));
        let mut out = Vec::new();
        for item in iter {
            if out.len() >= BLOCK_CHANGES_MAX {
                break;
            }
            let (k, _) = item
                .map_err(|e| StorageError::db(format!("scan the changes of block {height}"), e))?;
            if k.len() != 28 || k[..8] != prefix {
                break;
            }
            let index = u32::from_be_bytes(key_array("changes position", &k[8..12])?);
            let account = AccountId(key_array("changes account", &k[12..28])?);
            out.push((index, account));
        }
        Ok(out)
    }
}
