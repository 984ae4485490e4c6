//! The ledger's state as stored: encoded accounts and tx records (opaque to this crate), read
//! one at a time, all at once at start-up, or several from one consistent snapshot; and the
//! account history index, read newest first in pages.

use super::codec::{decode, hex, history_key, history_leaf_key, history_node_key, key_array};
use super::{
    ConsistentAccounts, Head, HistoryEntry, Store, TxPosition, CF_ACCOUNTS, CF_ACCOUNT_HISTORY,
    CF_HISTORY_NODES, CF_LIVE_RECORDS, CF_META, CF_RECORDS, HISTORY_PAGE_MAX, META_HEAD,
    META_LEDGER_HISTORY,
};
use crate::error::StorageError;
use rocksdb::IteratorMode;
use settlenet_types::{AccountId, Hash, Height, TxId};

impl Store {
    /// The encoded account `id`, as last written by genesis or a block.
    pub fn account(&self, id: &AccountId) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_raw(CF_ACCOUNTS, id.as_bytes())
    }

    /// The encoded final value of an account the ledger archived (a closed hold or charge
    /// entry), if it was.
    pub fn archived_account(&self, id: &AccountId) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_raw(super::CF_ARCHIVED_ACCOUNTS, id.as_bytes())
    }

    /// The encoded tx record of `id`.
    pub fn record(&self, id: &TxId) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_raw(CF_RECORDS, id.as_bytes())
    }

    /// The encoded tx records of `ids`, in order (`None` where there is none), read in one
    /// batch (e.g. the records a block wrote, for a proof of one of them).
    pub fn records_many(&self, ids: &[TxId]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let cf = self.cf(CF_RECORDS)?;
        self.db
            .batched_multi_get_cf(cf, ids.iter().map(TxId::as_bytes), false)
            .into_iter()
            .zip(ids)
            .map(|(r, id)| {
                r.map(|v| v.map(|p| p.to_vec())).map_err(|e| {
                    StorageError::db(format!("read {CF_RECORDS} key {}", hex(id.as_bytes())), e)
                })
            })
            .collect()
    }

    /// The transactions that changed `account`, newest first: at most `limit` (capped at
    /// [`HISTORY_PAGE_MAX`]) entries strictly before `before` (a position from an earlier page),
    /// or from the newest if `None`.
    pub fn account_history(
        &self,
        account: &AccountId,
        before: Option<TxPosition>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StorageError> {
        let limit = limit.min(HISTORY_PAGE_MAX);
        let cf = self.cf(CF_ACCOUNT_HISTORY)?;
        // Seek to the last key <= the upper bound, then walk backwards within the prefix.
        let upper: [u8; 28] = match before {
            Some((h, i)) => {
                // Strictly before (h, i): the largest key below it.
                match (i.checked_sub(1), h.0.checked_sub(1)) {
                    (Some(i), _) => history_key(account, h, i),
                    (None, Some(h)) => history_key(account, Height(h), u32::MAX),
                    (None, None) => return Ok(Vec::new()),
                }
            }
            None => history_key(account, Height(u64::MAX), u32::MAX),
        };
        let iter = self
            .db
            .iterator_cf(cf, IteratorMode::From(&upper, rocksdb::Direction::Reverse));
        let mut out = Vec::new();
        for item in iter {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item
                .map_err(|e| StorageError::db(format!("scan history of account {account}"), e))?;
            if k.len() != 28 || &k[..16] != account.as_bytes() {
                break;
            }
            let height = Height(u64::from_be_bytes(key_array("history height", &k[16..24])?));
            let index = u32::from_be_bytes(key_array("history position", &k[24..28])?);
            let tx = TxId(key_array("history tx id", &v)?);
            out.push(HistoryEntry { height, index, tx });
        }
        Ok(out)
    }

    /// Several accounts and the height they reflect, read from one snapshot: a block committed
    /// meanwhile is seen entirely or not at all (e.g. positions that must sum to zero).
    pub fn accounts_consistent(
        &self,
        ids: &[AccountId],
    ) -> Result<ConsistentAccounts, StorageError> {
        let snapshot = self.db.snapshot();
        let head = snapshot
            .get_cf(self.cf(CF_META)?, META_HEAD)
            .map_err(|e| StorageError::db("read the chain head from a snapshot", e))?
            .map(|b| decode::<Head>("chain head", META_HEAD, &b))
            .transpose()?;
        let accounts = self.cf(CF_ACCOUNTS)?;
        let values = ids
            .iter()
            .map(|id| {
                snapshot
                    .get_cf(accounts, id.as_bytes())
                    .map_err(|e| StorageError::db(format!("read account {id} from a snapshot"), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((head.map_or(Height(0), |h| h.height), values))
    }

    /// Every stored account, in id order (for rebuilding the ledger at start-up).
    pub fn all_accounts(&self) -> Result<Vec<(AccountId, Vec<u8>)>, StorageError> {
        self.scan(CF_ACCOUNTS)?
            .into_iter()
            .map(|(k, v)| Ok((AccountId(key_array("account key", &k)?), v)))
            .collect()
    }

    /// Every stored account, in id order, read as the iterator advances (a start-up in store
    /// mode: the ledger rebuilds its tree and indexes without holding the accounts). An item
    /// that cannot be read is an error, and the iteration should stop there.
    pub fn accounts_iter(
        &self,
    ) -> Result<impl Iterator<Item = Result<(AccountId, Vec<u8>), StorageError>> + '_, StorageError>
    {
        let iter = self
            .db
            .iterator_cf(self.cf(CF_ACCOUNTS)?, IteratorMode::Start);
        Ok(iter.map(|item| {
            let (k, v) = item.map_err(|e| StorageError::db("scan column family accounts", e))?;
            Ok((AccountId(key_array("account key", &k)?), v.into_vec()))
        }))
    }

    /// Every live tx record, in tx id order (for rebuilding the ledger at start-up: at most one
    /// validity window of transactions, however long the history).
    pub fn live_records(&self) -> Result<Vec<(TxId, Vec<u8>)>, StorageError> {
        self.scan(CF_LIVE_RECORDS)?
            .into_iter()
            .map(|(k, v)| Ok((TxId(key_array("live record key", &k)?), v)))
            .collect()
    }

    /// The ledger's encoded history accumulator at the head (`None` before the first block).
    pub fn ledger_history(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_raw(CF_META, META_LEDGER_HISTORY)
    }

    /// The history leaf of block `height` (`None` if it wrote no record, or is not held).
    pub fn history_leaf_of(&self, height: Height) -> Result<Option<u64>, StorageError> {
        match self.get_raw(CF_HISTORY_NODES, &history_leaf_key(height))? {
            None => Ok(None),
            Some(v) => Ok(Some(u64::from_be_bytes(key_array("history leaf", &v)?))),
        }
    }

    /// A node of the ledger's history accumulator, if held.
    pub fn history_node(&self, level: u8, index: u64) -> Result<Option<Hash>, StorageError> {
        let key = history_node_key(level, index);
        match self.get_raw(CF_HISTORY_NODES, &key)? {
            None => Ok(None),
            Some(v) => Ok(Some(Hash(key_array("history node", &v)?))),
        }
    }
}
