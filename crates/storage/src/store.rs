//! The [`Store`]: one RocksDB instance with one column family per kind of data.

use crate::error::StorageError;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType,
    IteratorMode, Options, WriteBatch, WriteOptions, DB,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use settlenet_types::{AccountId, Hash, Height, StoredBlock, TxId, TypesError};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

/// The on-disk format this build reads and writes. Bump it whenever a key layout or a stored
/// value's type changes; a store of any other version is refused at open.
pub const FORMAT_VERSION: u32 = 2;

/// Column family: format version, genesis hash, chain head.
pub const CF_META: &str = "meta";
/// Column family: height (8-byte big-endian) -> encoded [`StoredBlock`].
pub const CF_BLOCKS: &str = "blocks";
/// Column family: block hash (32 bytes) -> encoded [`Height`].
pub const CF_BLOCK_INDEX: &str = "block_index";
/// Column family: tx id (16 bytes) -> encoded `(Height, u32)` (first inclusion).
pub const CF_TX_INDEX: &str = "tx_index";
/// Column family: account id (16 bytes) -> the ledger's encoded account.
pub const CF_ACCOUNTS: &str = "accounts";
/// Column family: tx id (16 bytes) -> the ledger's encoded tx record.
pub const CF_RECORDS: &str = "records";
/// Column family: opaque consensus write-ahead log entries.
pub const CF_WAL: &str = "wal";
/// Column family: account id (16) || height (8, big-endian) || position (4, big-endian) -> tx
/// id (16): the transactions that changed each account, in execution order.
pub const CF_ACCOUNT_HISTORY: &str = "account_history";
/// Column family: opaque evidence key (the node's: validator, kind, view, height) -> opaque
/// evidence record (two conflicting signed messages). Bounded by the caller's `max`.
pub const CF_EVIDENCE: &str = "evidence";

/// Every column family the store opens, in a fixed order. Format version 2 has all of them; a
/// directory of another format version is refused at open (format 1 lacks the account history
/// index). Within format 2, opening a directory creates any missing family (RocksDB requires
/// every existing family to be opened, so an older build refuses a directory that has more).
pub const COLUMN_FAMILIES: [&str; 9] = [
    CF_META,
    CF_BLOCKS,
    CF_BLOCK_INDEX,
    CF_TX_INDEX,
    CF_ACCOUNTS,
    CF_RECORDS,
    CF_WAL,
    CF_ACCOUNT_HISTORY,
    CF_EVIDENCE,
];

/// What [`Store::evidence_put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidencePut {
    /// Written (synced).
    Stored,
    /// A record under that key exists already: the first one is kept, nothing written.
    Duplicate,
    /// The family holds `max` records already: nothing written (the first ones are kept; they
    /// are enough to act on, and a Byzantine validator cannot grow the disk without bound).
    Full,
}

/// Most entries one [`Store::account_history`] call returns.
pub const HISTORY_PAGE_MAX: usize = 1000;

/// Where a transaction sits in the chain: (height, position in its block). History is ordered
/// by it.
pub type TxPosition = (Height, u32);

/// Encoded accounts (`None`: absent) and the height they reflect, from one snapshot.
pub type ConsistentAccounts = (Height, Vec<Option<Vec<u8>>>);

/// One entry of an account's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The block that executed the transaction.
    pub height: Height,
    /// Its position in that block.
    pub index: u32,
    /// The transaction.
    pub tx: TxId,
}

/// Meta key: the store format version (encoded `u32`).
pub const META_FORMAT_VERSION: &[u8] = b"format_version";
/// Meta key: the genesis hash the directory belongs to (encoded [`Hash`]).
pub const META_GENESIS_HASH: &[u8] = b"genesis_hash";
/// Meta key: the chain head (last height, last block hash, state root); absent until genesis.
pub const META_HEAD: &[u8] = b"head";
/// Meta key: the height of the snapshot this store's state was installed from (encoded
/// [`Height`]); absent when the store grew from genesis. Blocks below it are not held.
pub const META_BASE: &[u8] = b"base";

/// Larger than every key of every column family (keys are at most 32 bytes), as the exclusive
/// end of a range delete that empties a column family.
const KEY_END: [u8; 33] = [0xff; 33];

/// A raw key and value, as returned by [`Store::wal_entries`].
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Shared LRU block cache across all column families.
const BLOCK_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Bound on file descriptors RocksDB keeps open (the default is unlimited).
const MAX_OPEN_FILES: i32 = 512;
/// Once the WAL exceeds this, RocksDB flushes the column families that pin old WAL files (the
/// rarely written `meta` and `wal` families would otherwise keep every WAL file alive).
const MAX_TOTAL_WAL_BYTES: u64 = 256 * 1024 * 1024;
/// RocksDB's own info logs kept on disk.
const INFO_LOG_FILES_KEPT: usize = 8;
/// Background flush and compaction threads (the nodes run on small machines).
const BACKGROUND_JOBS: i32 = 2;

/// The chain head, stored under [`META_HEAD`] as one value so that a reader always sees a
/// height, hash and state root that belong together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    /// Last committed height (0 = genesis only).
    height: Height,
    /// Hash of the block at `height` ([`Hash::ZERO`] at height 0).
    block_hash: Hash,
    /// Ledger state root after executing `height`.
    state_root: Hash,
}

/// What one committed block changes in the store; written in one atomic batch by
/// [`Store::commit_block`].
#[derive(Debug, Clone, Copy)]
pub struct BlockWrite<'a> {
    /// The committed block with its certificate, chain link and post-execution state root.
    pub block: &'a StoredBlock,
    /// Encoded accounts created or changed by the block, keyed by id.
    pub accounts: &'a [(AccountId, Vec<u8>)],
    /// Encoded tx records created by the block, keyed by tx id.
    pub records: &'a [(TxId, Vec<u8>)],
    /// For each transaction of the block that changed accounts: (account, position in the
    /// block, tx id), one entry per account changed (the account history index).
    pub history: &'a [(AccountId, u32, TxId)],
}

/// A verified state snapshot that replaces the store's state; written in one atomic batch by
/// [`Store::install_snapshot`].
#[derive(Debug, Clone, Copy)]
pub struct SnapshotWrite<'a> {
    /// The committed block at the snapshot height with its certificate; its `state_root` is the
    /// certified root of the snapshot. It becomes the head and the lowest block held.
    pub block: &'a StoredBlock,
    /// Every encoded account of the snapshot, keyed by id (replaces all stored accounts).
    pub accounts: &'a [(AccountId, Vec<u8>)],
    /// Every encoded tx record of the snapshot, keyed by tx id (replaces all stored records).
    pub records: &'a [(TxId, Vec<u8>)],
    /// Consensus write-ahead log keys made obsolete by the snapshot (entries at or below its
    /// height), deleted in the same batch.
    pub wal_delete: &'a [Vec<u8>],
}

/// The node's RocksDB store. `Send + Sync`; share it through an `Arc`.
pub struct Store {
    /// The database; every column family of [`COLUMN_FAMILIES`] is open.
    db: DB,
    /// Serialises the writers that read the head before writing (`init_genesis`,
    /// `commit_block`), so that two concurrent commits cannot both pass the height check.
    head_write_lock: Mutex<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn height_key(height: Height) -> [u8; 8] {
    height.0.to_be_bytes()
}

/// `account || height || index`: big-endian, so one account's entries sort by chain position.
fn history_key(account: &AccountId, height: Height, index: u32) -> [u8; 28] {
    let mut k = [0u8; 28];
    k[..16].copy_from_slice(account.as_bytes());
    k[16..24].copy_from_slice(&height.0.to_be_bytes());
    k[24..].copy_from_slice(&index.to_be_bytes());
    k
}

fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, StorageError> {
    settlenet_types::encode(what, value).map_err(|e| match e {
        TypesError::Encode { what, reason } => StorageError::Encode { what, reason },
        other => StorageError::Encode {
            what,
            reason: other.to_string(),
        },
    })
}

fn decode<T: DeserializeOwned>(
    what: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StorageError> {
    settlenet_types::decode(what, bytes).map_err(|e| StorageError::Corrupt {
        what,
        key: hex(key),
        reason: e.to_string(),
    })
}

/// A fixed-size id from a stored key; a key of another length is corruption.
fn key_array<const N: usize>(what: &'static str, key: &[u8]) -> Result<[u8; N], StorageError> {
    <[u8; N]>::try_from(key).map_err(|_| StorageError::Corrupt {
        what,
        key: hex(key),
        reason: format!("key is {} bytes, expected {N}", key.len()),
    })
}

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

impl Store {
    /// Open or create the store at `path`, creating missing column families.
    ///
    /// A new directory is bound to `genesis_hash` and [`FORMAT_VERSION`] at once (synced);
    /// an existing one is refused with [`StorageError::UnsupportedFormat`] if written by another
    /// format and [`StorageError::GenesisMismatch`] if it belongs to another genesis.
    pub fn open(path: &Path, genesis_hash: Hash) -> Result<Store, StorageError> {
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let mut opts = cf_options(&cache);
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_open_files(MAX_OPEN_FILES);
        opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
        opts.set_keep_log_file_num(INFO_LOG_FILES_KEPT);
        opts.set_max_background_jobs(BACKGROUND_JOBS);
        let descriptors = COLUMN_FAMILIES
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, cf_options(&cache)));
        let db = DB::open_cf_descriptors(&opts, path, descriptors)
            .map_err(|e| StorageError::db(format!("open store at {}", path.display()), e))?;
        let store = Store {
            db,
            head_write_lock: Mutex::new(()),
        };
        store.check_identity(genesis_hash)?;
        Ok(store)
    }

    /// Check (or, for a new directory, record) the format version and the genesis hash.
    fn check_identity(&self, genesis_hash: Hash) -> Result<(), StorageError> {
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
    /// accounts and records, and the new head (height, block hash, `block.state_root`).
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
            self.cf(CF_BLOCK_INDEX)?,
            stored.hash.as_bytes(),
            encode("block height", &height)?,
        );
        let tx_index = self.cf(CF_TX_INDEX)?;
        // First inclusion wins, both against earlier blocks and within this block.
        let mut seen_in_block = BTreeSet::new();
        for (position, signed) in stored.block.txs.iter().enumerate() {
            let id = signed.tx.id;
            if !seen_in_block.insert(id) || self.tx_location(&id)?.is_some() {
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
        let records_cf = self.cf(CF_RECORDS)?;
        for (id, bytes) in write.records {
            batch.put_cf(records_cf, id.as_bytes(), bytes);
        }
        let history_cf = self.cf(CF_ACCOUNT_HISTORY)?;
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

    /// Replace the whole state with a verified snapshot at `write.block`'s height, in one
    /// atomic, synced `WriteBatch`: every stored account, record, block, block-hash index and
    /// tx-index entry is deleted; the snapshot's accounts and records, the anchoring block (with
    /// its index entries) and the new head are written; the base ([`Store::base_height`]) is
    /// set to the snapshot height; the listed WAL keys are deleted. After a crash the store holds
    /// either its old state or the snapshot, never a mix.
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
            CF_RECORDS,
            CF_BLOCKS,
            CF_BLOCK_INDEX,
            CF_TX_INDEX,
            CF_ACCOUNT_HISTORY,
        ] {
            batch.delete_range_cf(self.cf(cf)?, &[0u8; 0][..], &KEY_END[..]);
        }
        batch.put_cf(
            self.cf(CF_BLOCKS)?,
            height_key(height),
            encode("stored block", stored)?,
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
        for (id, bytes) in write.records {
            batch.put_cf(records_cf, id.as_bytes(), bytes);
        }
        let wal = self.cf(CF_WAL)?;
        for key in write.wal_delete {
            batch.delete_cf(wal, key);
        }
        let meta = self.cf(CF_META)?;
        batch.put_cf(meta, META_BASE, encode("base height", &height)?);
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

    /// The height of the snapshot this store was installed from (blocks below it are not
    /// held); `Height(0)` if the store grew from genesis.
    pub fn base_height(&self) -> Result<Height, StorageError> {
        Ok(self
            .get_decoded(CF_META, META_BASE, "base height")?
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

    /// The block committed at `height`, if any.
    pub fn block(&self, height: Height) -> Result<Option<StoredBlock>, StorageError> {
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

    /// The encoded account `id`, as last written by genesis or a block.
    pub fn account(&self, id: &AccountId) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_raw(CF_ACCOUNTS, id.as_bytes())
    }

    /// The encoded tx record of `id`.
    pub fn record(&self, id: &TxId) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_raw(CF_RECORDS, id.as_bytes())
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

    /// Every stored tx record, in tx id order (for rebuilding the ledger at start-up).
    pub fn all_records(&self) -> Result<Vec<(TxId, Vec<u8>)>, StorageError> {
        self.scan(CF_RECORDS)?
            .into_iter()
            .map(|(k, v)| Ok((TxId(key_array("record key", &k)?), v)))
            .collect()
    }

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

    fn head(&self) -> Result<Option<Head>, StorageError> {
        self.get_decoded(CF_META, META_HEAD, "chain head")
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StorageError> {
        self.db.cf_handle(name).ok_or_else(|| StorageError::Db {
            op: format!("use column family {name}"),
            reason: "column family is not open".to_string(),
        })
    }

    fn write(
        &self,
        batch: WriteBatch,
        sync: bool,
        op: impl FnOnce() -> String,
    ) -> Result<(), StorageError> {
        let mut opts = WriteOptions::default();
        opts.set_sync(sync);
        // The WAL is what makes an unsynced write survive a killed process; never disable it.
        opts.disable_wal(false);
        self.db
            .write_opt(batch, &opts)
            .map_err(|e| StorageError::db(op(), e))
    }

    fn get_raw(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.db
            .get_cf(self.cf(cf)?, key)
            .map_err(|e| StorageError::db(format!("read {cf} key {}", hex(key)), e))
    }

    fn get_decoded<T: DeserializeOwned>(
        &self,
        cf: &'static str,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, StorageError> {
        let value = self
            .db
            .get_pinned_cf(self.cf(cf)?, key)
            .map_err(|e| StorageError::db(format!("read {what} ({cf} key {})", hex(key)), e))?;
        value.map(|bytes| decode(what, key, &bytes)).transpose()
    }

    fn scan(&self, cf: &'static str) -> Result<Vec<KeyValue>, StorageError> {
        self.db
            .iterator_cf(self.cf(cf)?, IteratorMode::Start)
            .map(|item| {
                item.map(|(k, v)| (k.into_vec(), v.into_vec()))
                    .map_err(|e| StorageError::db(format!("scan column family {cf}"), e))
            })
            .collect()
    }
}
