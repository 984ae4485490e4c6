//! The state commitment: two fixed-depth binary Merkle trees of 2^16 buckets, one over the
//! accounts and one over the live transaction records (the idempotency set: records of ids
//! still inside their validity), combined with the history root (every record ever written,
//! `crate::history`) into one root.
//!
//! ```text
//!          state root = StateRoot.hash(accounts_root || records_root || history_root)
//!                  /                                                       \
//!            accounts_root                                            records_root (live)
//!           /            \          16 levels of merkle_node          /            \
//!   bucket[0] ... bucket[65535]                               bucket[0] ... bucket[65535]
//!       |                                                         |
//!   StateBucket.hash(encode([(id, AccountLeaf.hash(          RecordBucket.hash(encode([(tx id,
//!       encode(account))), ...] sorted by id))                 RecordLeaf.hash(encode(record))),
//!                                                              ...] sorted by tx id))
//! ```
//! A key (account id or transaction id) lives in bucket `u16::from_be_bytes(blake3(id)[0..2])` of
//! its tree. Empty buckets and empty subtrees have precomputed hashes, so only the buckets a block
//! touches and their 16 ancestors are rehashed: O(k * 16) hashes for k changed accounts or new
//! records. Each root depends only on the set of keys and values, never on insertion order.
//!
//! Why two trees rather than records as more leaves of the accounts tree: an account proof then
//! carries only the account's own bucket (accounts, never the records that happen to share its
//! bucket) plus one extra hash (the records root), and a record proof only its record bucket plus
//! the accounts root. The per-block cost is the same either way (one leaf per new record, the
//! dirty buckets and their paths); records grow with history while accounts mostly do not, so
//! mixing them would make every account proof grow with history too.

use crate::account::Account;
use crate::error::LedgerError;
use crate::history::{history_leaf, history_record_leaf, merkle_path_root, HistoryProof};
use crate::outcome::TxRecord;
use serde::{Deserialize, Serialize};
use settlenet_types::codec::merkle_node;
use settlenet_types::{encode, AccountId, Domain, Hash, TxId};
use std::collections::BTreeMap;
use std::ops::{Index, IndexMut};
use std::sync::{Arc, OnceLock};

/// Depth of each tree above its buckets.
pub const TREE_DEPTH: usize = 16;
/// Number of buckets (leaves of each binary tree).
pub const BUCKET_COUNT: usize = 1 << TREE_DEPTH;

/// The bucket of a 16-byte key (account id or transaction id): the first two bytes of
/// `blake3(key)`.
fn bucket_of_key(key: &[u8; 16]) -> u16 {
    let digest = blake3::hash(key);
    let b = digest.as_bytes();
    u16::from_be_bytes([b[0], b[1]])
}

/// The bucket an account id belongs to in the accounts tree.
pub fn bucket_of(id: &AccountId) -> u16 {
    bucket_of_key(&id.0)
}

/// The bucket a transaction id belongs to in the records tree.
pub fn record_bucket_of(id: &TxId) -> u16 {
    bucket_of_key(&id.0)
}

/// The leaf hash of an account: `AccountLeaf.hash(encode(account))`.
pub fn account_leaf(account: &Account) -> Hash {
    match encode("account", account) {
        Ok(bytes) => Domain::AccountLeaf.hash(&bytes),
        // An account is a few hundred bytes; encoding fails only beyond the 32 MiB limit.
        Err(e) => panic!("invariant broken: an account cannot be encoded: {e}"),
    }
}

/// The leaf hash of a transaction record: `RecordLeaf.hash(encode(record))`. The record's
/// transaction id is bound by the bucket entry `(id, leaf)`.
pub fn record_leaf(record: &TxRecord) -> Hash {
    match encode("transaction record", record) {
        Ok(bytes) => Domain::RecordLeaf.hash(&bytes),
        // A record is 32 + 8 + 4 + 4 bytes.
        Err(e) => panic!("invariant broken: a transaction record cannot be encoded: {e}"),
    }
}

/// `domain.hash(encode(entries))` for 16-byte keys, `entries` sorted by key.
///
/// Written out by hand (u64 big-endian length, then 16 + 32 bytes per entry: exactly the
/// canonical encoding of `Vec<([u8; 16], Hash)>`, pinned by a test) so that it cannot fail and
/// does not allocate a copy of the entries.
fn bucket_hash_in<'a>(
    domain: Domain,
    entries: impl ExactSizeIterator<Item = (&'a [u8; 16], &'a Hash)>,
) -> Hash {
    let mut payload = Vec::with_capacity(8 + entries.len() * (16 + Hash::LEN));
    payload.extend_from_slice(&(entries.len() as u64).to_be_bytes());
    for (key, leaf) in entries {
        payload.extend_from_slice(key);
        payload.extend_from_slice(&leaf.0);
    }
    domain.hash(&payload)
}

/// An accounts-tree bucket hash: `StateBucket.hash(encode(entries))`, sorted by account id.
pub fn bucket_hash<'a>(entries: impl ExactSizeIterator<Item = (&'a AccountId, &'a Hash)>) -> Hash {
    bucket_hash_in(Domain::StateBucket, entries.map(|(id, h)| (&id.0, h)))
}

/// A records-tree bucket hash: `RecordBucket.hash(encode(entries))`, sorted by transaction id.
pub fn record_bucket_hash<'a>(
    entries: impl ExactSizeIterator<Item = (&'a TxId, &'a Hash)>,
) -> Hash {
    bucket_hash_in(Domain::RecordBucket, entries.map(|(id, h)| (&id.0, h)))
}

/// The state root: `StateRoot.hash(accounts_root || records_root || history_root)`.
pub fn combine_roots(accounts_root: &Hash, records_root: &Hash, history_root: &Hash) -> Hash {
    let mut buf = [0u8; 96];
    buf[..32].copy_from_slice(&accounts_root.0);
    buf[32..64].copy_from_slice(&records_root.0);
    buf[64..].copy_from_slice(&history_root.0);
    Domain::StateRoot.hash(&buf)
}

/// `empty[h]` is the hash of an empty subtree of height `h` (`empty[0]` = an empty bucket).
fn empty_hashes(domain: Domain) -> [Hash; TREE_DEPTH + 1] {
    let mut empty = [bucket_hash_in(domain, std::iter::empty()); TREE_DEPTH + 1];
    for h in 1..=TREE_DEPTH {
        empty[h] = merkle_node(&empty[h - 1], &empty[h - 1]);
    }
    empty
}

/// One bucket's preimage: leaf hash by key, sorted by key.
type Bucket = BTreeMap<[u8; 16], Hash>;

/// Elements per copy-on-write chunk of a tree's arrays (16 KiB of node hashes).
const CHUNK_LEN: usize = 512;

/// A fixed-length array kept as shared chunks: a clone copies only the chunk pointers, and a
/// write copies the chunk it lands in only while another clone still shares it. A tree's arrays
/// are 5.5 MiB, of which one block touches a small part; ledgers are cloned whole (every
/// replica of the simulator starts from a copy of the genesis ledger, and every new tree from
/// the one empty tree), and copying the untouched rest was most of the cost of a clone.
#[derive(Clone)]
struct Chunked<T> {
    /// `len / CHUNK_LEN` chunks of `CHUNK_LEN` elements each.
    chunks: Vec<Arc<Vec<T>>>,
}

impl<T: Clone> Chunked<T> {
    /// `len` (a multiple of [`CHUNK_LEN`]) elements, element `i` being `f(i)`.
    fn from_fn(len: usize, f: impl Fn(usize) -> T) -> Chunked<T> {
        debug_assert!(len.is_multiple_of(CHUNK_LEN));
        let chunks = (0..len / CHUNK_LEN)
            .map(|c| Arc::new((c * CHUNK_LEN..(c + 1) * CHUNK_LEN).map(&f).collect()))
            .collect();
        Chunked { chunks }
    }
}

impl<T> Index<usize> for Chunked<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK_LEN][i % CHUNK_LEN]
    }
}

impl<T: Clone> IndexMut<usize> for Chunked<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut Arc::make_mut(&mut self.chunks[i / CHUNK_LEN])[i % CHUNK_LEN]
    }
}

/// What a proof needs from one tree: the key's bucket, its entries and the 16 siblings.
type Path<'a> = (u16, &'a Bucket, Vec<Hash>);

/// One incrementally maintained bucketed tree over 16-byte keys.
#[derive(Clone)]
struct BucketTree {
    /// Domain of the bucket hashes (which tree this is).
    domain: Domain,
    /// Leaf hashes per bucket (indexed by bucket), sorted by key (the bucket's preimage). An
    /// array rather than a map: every block touches thousands of buckets, and an empty
    /// `BTreeMap` does not allocate (65,536 x 24 bytes).
    buckets: Chunked<Bucket>,
    /// Heap-ordered node hashes: `nodes[1]` is the root, `nodes[BUCKET_COUNT + b]` is bucket `b`,
    /// the children of `i` are `2i` and `2i + 1`; `nodes[0]` is unused. 4 MiB, fixed.
    nodes: Chunked<Hash>,
    /// Buckets changed since the last `commit`, with repeats (sorted and deduplicated there).
    dirty: Vec<u16>,
}

impl BucketTree {
    /// The empty tree: a clone of the one built per domain for the process (cheap: it shares
    /// every chunk until written).
    fn new(domain: Domain) -> BucketTree {
        static ACCOUNTS: OnceLock<BucketTree> = OnceLock::new();
        static RECORDS: OnceLock<BucketTree> = OnceLock::new();
        match domain {
            Domain::StateBucket => ACCOUNTS.get_or_init(|| BucketTree::build(domain)).clone(),
            Domain::RecordBucket => RECORDS.get_or_init(|| BucketTree::build(domain)).clone(),
            _ => BucketTree::build(domain),
        }
    }

    /// Compute the empty tree of `domain`.
    fn build(domain: Domain) -> BucketTree {
        let empty = empty_hashes(domain);
        let nodes = Chunked::from_fn(2 * BUCKET_COUNT, |i| match i {
            0 => Hash::ZERO,
            // Node i sits at depth floor(log2 i); its subtree height is TREE_DEPTH - depth.
            _ => empty[TREE_DEPTH - (usize::BITS - 1 - i.leading_zeros()) as usize],
        });
        BucketTree {
            domain,
            buckets: Chunked::from_fn(BUCKET_COUNT, |_| BTreeMap::new()),
            nodes,
            dirty: Vec::new(),
        }
    }

    fn set(&mut self, key: [u8; 16], leaf: Hash) {
        let bucket = bucket_of_key(&key);
        self.buckets[usize::from(bucket)].insert(key, leaf);
        self.dirty.push(bucket);
    }

    fn remove(&mut self, key: &[u8; 16]) {
        let bucket = bucket_of_key(key);
        if self.buckets[usize::from(bucket)].remove(key).is_some() {
            self.dirty.push(bucket);
        }
    }

    /// Rehash the dirty buckets and their paths to the root.
    fn commit(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        let mut level: Vec<usize> = Vec::with_capacity(dirty.len());
        for bucket in dirty {
            let entries = &self.buckets[usize::from(bucket)];
            let index = BUCKET_COUNT + usize::from(bucket);
            self.nodes[index] = bucket_hash_in(self.domain, entries.iter());
            level.push(index);
        }
        // `level` is sorted and stays sorted when halved, so removing adjacent repeats leaves
        // each parent once.
        for _ in 0..TREE_DEPTH {
            for i in level.iter_mut() {
                *i /= 2;
            }
            level.dedup();
            for &p in &level {
                self.nodes[p] = merkle_node(&self.nodes[2 * p], &self.nodes[2 * p + 1]);
            }
        }
    }

    fn root(&self) -> Hash {
        debug_assert!(self.dirty.is_empty(), "state root read before commit");
        self.nodes[1]
    }

    /// The bucket's entries and the 16 siblings of `key`'s bucket, if `key` is in the tree.
    fn path(&self, key: &[u8; 16]) -> Option<Path<'_>> {
        debug_assert!(self.dirty.is_empty(), "proof read before commit");
        let bucket = bucket_of_key(key);
        let entries = &self.buckets[usize::from(bucket)];
        if !entries.contains_key(key) {
            return None;
        }
        let mut siblings = Vec::with_capacity(TREE_DEPTH);
        let mut index = BUCKET_COUNT + usize::from(bucket);
        for _ in 0..TREE_DEPTH {
            siblings.push(self.nodes[index ^ 1]);
            index /= 2;
        }
        Some((bucket, entries, siblings))
    }
}

/// The incrementally maintained state commitment. Callers `set_*` leaves, then `commit` once
/// per block.
#[derive(Clone)]
pub(crate) struct StateTree {
    /// Over every account.
    accounts: BucketTree,
    /// Over the live transaction records (ids still inside their validity).
    records: BucketTree,
}

impl StateTree {
    /// The tree of no accounts and no records.
    pub(crate) fn new() -> StateTree {
        StateTree {
            accounts: BucketTree::new(Domain::StateBucket),
            records: BucketTree::new(Domain::RecordBucket),
        }
    }

    /// Insert or replace an account's leaf hash (takes effect at the next `commit`).
    pub(crate) fn set_account(&mut self, account: &Account) {
        self.accounts.set(account.id.0, account_leaf(account));
    }

    /// Insert or replace a transaction record's leaf hash (takes effect at the next `commit`).
    pub(crate) fn set_record(&mut self, id: &TxId, record: &TxRecord) {
        self.records.set(id.0, record_leaf(record));
    }

    /// Remove an archived account's leaf (takes effect at the next `commit`).
    pub(crate) fn remove_account(&mut self, id: &AccountId) {
        self.accounts.remove(&id.0);
    }

    /// Remove a record that left the live set (takes effect at the next `commit`).
    pub(crate) fn remove_record(&mut self, id: &TxId) {
        self.records.remove(&id.0);
    }

    /// Rehash the dirty buckets of both trees and their paths to the roots.
    pub(crate) fn commit(&mut self) {
        self.accounts.commit();
        self.records.commit();
    }

    /// Root of the accounts tree (as of the last `commit`).
    pub(crate) fn accounts_root(&self) -> Hash {
        self.accounts.root()
    }

    /// Root of the live records tree (as of the last `commit`).
    pub(crate) fn records_root(&self) -> Hash {
        self.records.root()
    }

    /// The state root with `history_root` (as of the last `commit`).
    pub(crate) fn root(&self, history_root: &Hash) -> Hash {
        combine_roots(&self.accounts.root(), &self.records.root(), history_root)
    }

    /// A proof for `account`, which must be the committed value of an account in the tree.
    pub(crate) fn prove(&self, account: &Account, history_root: &Hash) -> Option<AccountProof> {
        let (bucket, entries, siblings) = self.accounts.path(&account.id.0)?;
        Some(AccountProof {
            account: account.clone(),
            bucket,
            entries: entries.iter().map(|(k, h)| (AccountId(*k), *h)).collect(),
            siblings,
            records_root: self.records.root(),
            history_root: *history_root,
        })
    }

    /// A proof for the live record of `id`, which must be its committed record.
    pub(crate) fn prove_record(
        &self,
        id: &TxId,
        record: &TxRecord,
        history_root: &Hash,
    ) -> Option<RecordProof> {
        let (bucket, entries, siblings) = self.records.path(&id.0)?;
        Some(RecordProof {
            id: *id,
            record: record.clone(),
            bucket,
            entries: entries.iter().map(|(k, h)| (TxId(*k), *h)).collect(),
            siblings,
            accounts_root: self.accounts.root(),
            history_root: *history_root,
        })
    }
}

/// Check one Merkle path: `key` with `leaf` among the sorted `entries` of `bucket`, up through
/// `siblings`; return the tree's root it leads to.
fn path_root(
    domain: Domain,
    key: &[u8; 16],
    leaf: &Hash,
    bucket: u16,
    entries: &[([u8; 16], Hash)],
    siblings: &[Hash],
) -> Result<Hash, String> {
    if siblings.len() != TREE_DEPTH {
        return Err(format!(
            "{} sibling hashes, expected {TREE_DEPTH}",
            siblings.len()
        ));
    }
    if bucket_of_key(key) != bucket {
        return Err(format!(
            "the key belongs to bucket {}, not {bucket}",
            bucket_of_key(key)
        ));
    }
    if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
        return Err("bucket entries are not sorted by id without repeats".into());
    }
    if !entries.iter().any(|(k, h)| k == key && h == leaf) {
        return Err("the leaf is not among the bucket entries".into());
    }
    let mut hash = bucket_hash_in(domain, entries.iter().map(|(k, h)| (k, h)));
    let mut index = BUCKET_COUNT + usize::from(bucket);
    for sibling in siblings {
        hash = if index.is_multiple_of(2) {
            merkle_node(&hash, sibling)
        } else {
            merkle_node(sibling, &hash)
        };
        index /= 2;
    }
    Ok(hash)
}

/// A Merkle proof that an account, with exactly this value, is part of a state root.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccountProof {
    /// The account proven.
    pub account: Account,
    /// Its bucket ([`bucket_of`] its id).
    pub bucket: u16,
    /// Every `(id, leaf hash)` of the bucket, sorted by id.
    pub entries: Vec<(AccountId, Hash)>,
    /// The sibling hashes from the bucket up to the accounts root (16 of them).
    pub siblings: Vec<Hash>,
    /// The live records tree's root, combined with the accounts root and the history root
    /// into the state root.
    pub records_root: Hash,
    /// The history root.
    pub history_root: Hash,
}

impl AccountProof {
    /// Check the proof against the state `root`; on success return the proven account.
    pub fn verify(&self, root: &Hash) -> Result<Account, LedgerError> {
        let entries: Vec<([u8; 16], Hash)> =
            self.entries.iter().map(|(id, h)| (id.0, *h)).collect();
        let accounts_root = path_root(
            Domain::StateBucket,
            &self.account.id.0,
            &account_leaf(&self.account),
            self.bucket,
            &entries,
            &self.siblings,
        )
        .map_err(|e| LedgerError::Proof(format!("account {}: {e}", self.account.id)))?;
        if combine_roots(&accounts_root, &self.records_root, &self.history_root) != *root {
            return Err(LedgerError::Proof(format!(
                "account {}: the proof does not lead to state root {root}",
                self.account.id
            )));
        }
        Ok(self.account.clone())
    }
}

/// A Merkle proof that transaction id `id` has exactly the record `record` in the live set under
/// a state root (e.g. a receipt: this transaction executed at this height and index, with this
/// result). A record that left the live set is proven by an [`ArchivedRecordProof`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RecordProof {
    /// The transaction id.
    pub id: TxId,
    /// Its record.
    pub record: TxRecord,
    /// Its bucket ([`record_bucket_of`] the id).
    pub bucket: u16,
    /// Every `(tx id, leaf hash)` of the bucket, sorted by id.
    pub entries: Vec<(TxId, Hash)>,
    /// The sibling hashes from the bucket up to the records root (16 of them).
    pub siblings: Vec<Hash>,
    /// The accounts tree's root, combined with the records root and the history root into the
    /// state root.
    pub accounts_root: Hash,
    /// The history root.
    pub history_root: Hash,
}

impl RecordProof {
    /// Check the proof against the state `root`; on success return the proven record.
    pub fn verify(&self, root: &Hash) -> Result<TxRecord, LedgerError> {
        let entries: Vec<([u8; 16], Hash)> =
            self.entries.iter().map(|(id, h)| (id.0, *h)).collect();
        let records_root = path_root(
            Domain::RecordBucket,
            &self.id.0,
            &record_leaf(&self.record),
            self.bucket,
            &entries,
            &self.siblings,
        )
        .map_err(|e| LedgerError::Proof(format!("record of {}: {e}", self.id)))?;
        if combine_roots(&self.accounts_root, &records_root, &self.history_root) != *root {
            return Err(LedgerError::Proof(format!(
                "record of {}: the proof does not lead to state root {root}",
                self.id
            )));
        }
        Ok(self.record.clone())
    }
}

/// A proof that transaction id `id` has exactly the record `record` in the history committed
/// by a state root: the record's path in its block's records tree, that block's leaf in the
/// history accumulator, and the two other roots. Valid for any later state (history only
/// grows), whether or not the record is still live.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ArchivedRecordProof {
    /// The transaction id.
    pub id: TxId,
    /// Its record (its `height` names the block).
    pub record: TxRecord,
    /// Its position among the records its block wrote.
    pub position: u64,
    /// How many records its block wrote.
    pub count: u64,
    /// Siblings from the record's leaf to its block's records root.
    pub block_siblings: Vec<Hash>,
    /// The block's leaf in the history accumulator.
    pub history: HistoryProof,
    /// The accounts tree's root of the proving state.
    pub accounts_root: Hash,
    /// The live records tree's root of the proving state.
    pub records_root: Hash,
}

impl ArchivedRecordProof {
    /// Check the proof against the state `root`; on success return the proven record.
    pub fn verify(&self, root: &Hash) -> Result<TxRecord, LedgerError> {
        let fail = |e: String| LedgerError::Proof(format!("record of {}: {e}", self.id));
        // The leaf binds the block's height and record count, so the leaf's position needs no
        // separate check.
        let block_root = merkle_path_root(
            &history_record_leaf(&self.id, &self.record),
            self.position,
            self.count,
            &self.block_siblings,
        )
        .map_err(fail)?;
        let leaf = history_leaf(self.record.height, self.count, &block_root);
        let history_root = self.history.root(&leaf).map_err(fail)?;
        if combine_roots(&self.accounts_root, &self.records_root, &history_root) != *root {
            return Err(fail(format!(
                "the proof does not lead to state root {root}"
            )));
        }
        Ok(self.record.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_hash_is_the_canonical_encoding() {
        let entries: Vec<(AccountId, Hash)> = (0u8..5)
            .map(|i| (AccountId([i; 16]), Domain::AccountLeaf.hash(&[i])))
            .collect();
        let want = Domain::StateBucket.hash(&encode("bucket", &entries).expect("encode"));
        assert_eq!(bucket_hash(entries.iter().map(|(a, h)| (a, h))), want);
        let none: Vec<(AccountId, Hash)> = Vec::new();
        let want = Domain::StateBucket.hash(&encode("bucket", &none).expect("encode"));
        assert_eq!(bucket_hash(std::iter::empty()), want);
        let records: Vec<(TxId, Hash)> = (0u8..5)
            .map(|i| (TxId([i; 16]), Domain::RecordLeaf.hash(&[i])))
            .collect();
        let want = Domain::RecordBucket.hash(&encode("bucket", &records).expect("encode"));
        assert_eq!(
            record_bucket_hash(records.iter().map(|(a, h)| (a, h))),
            want
        );
    }

    #[test]
    fn empty_tree_root_is_the_full_empty_subtree() {
        let tree = StateTree::new();
        assert_eq!(
            tree.accounts_root(),
            empty_hashes(Domain::StateBucket)[TREE_DEPTH]
        );
        assert_eq!(
            tree.records_root(),
            empty_hashes(Domain::RecordBucket)[TREE_DEPTH]
        );
        // The two empty trees differ: their buckets are domain-separated.
        assert_ne!(tree.accounts_root(), tree.records_root());
        // Cross-check against the generic Merkle root over 65,536 empty buckets.
        let leaves = vec![bucket_hash(std::iter::empty()); BUCKET_COUNT];
        assert_eq!(
            tree.accounts_root(),
            settlenet_types::codec::merkle_root(&leaves)
        );
        assert_eq!(
            tree.root(&Hash::ZERO),
            combine_roots(&tree.accounts_root(), &tree.records_root(), &Hash::ZERO)
        );
    }

    #[test]
    fn clones_share_chunks_but_never_writes() {
        let fresh = BucketTree::build(Domain::RecordBucket);
        let mut a = BucketTree::new(Domain::RecordBucket);
        assert_eq!(a.root(), fresh.root());
        a.set([1; 16], Domain::RecordLeaf.hash(&[1]));
        a.commit();
        let mut b = a.clone();
        b.set([2; 16], Domain::RecordLeaf.hash(&[2]));
        b.commit();
        // Neither the template, nor `a`, nor a new empty tree sees `b`'s write.
        assert_eq!(BucketTree::new(Domain::RecordBucket).root(), fresh.root());
        let mut c = BucketTree::build(Domain::RecordBucket);
        c.set([1; 16], Domain::RecordLeaf.hash(&[1]));
        c.commit();
        assert_eq!(a.root(), c.root());
        assert_ne!(a.root(), b.root());
        c.set([2; 16], Domain::RecordLeaf.hash(&[2]));
        c.commit();
        assert_eq!(b.root(), c.root());
    }

    #[test]
    fn incremental_root_equals_full_recomputation() {
        let mut tree = BucketTree::new(Domain::RecordBucket);
        for i in 0u8..40 {
            tree.set([i; 16], Domain::RecordLeaf.hash(&[i]));
            if i % 7 == 0 {
                tree.commit();
            }
        }
        tree.commit();
        let mut leaves = Vec::with_capacity(BUCKET_COUNT);
        for b in 0..BUCKET_COUNT {
            let bucket = u16::try_from(b).expect("fits");
            leaves.push(bucket_hash_in(
                Domain::RecordBucket,
                tree.buckets[usize::from(bucket)].iter(),
            ));
        }
        assert_eq!(tree.root(), settlenet_types::codec::merkle_root(&leaves));
    }
}
