//! The state commitment: a fixed-depth binary Merkle tree over 2^16 buckets of accounts.
//!
//! ```text
//!                         root                       depth 0
//!                  /                \
//!               ...                 ...              16 levels of merkle_node
//!         bucket[0]  bucket[1]  ...  bucket[65535]   leaves: bucket hashes
//!                        |
//!        StateBucket.hash(encode([(id, AccountLeaf.hash(encode(account))), ...] sorted by id))
//! ```
//! An account lives in bucket `u16::from_be_bytes(blake3(id)[0..2])`. Empty buckets and empty
//! subtrees have precomputed hashes, so only the buckets a block touches and their 16 ancestors
//! are rehashed: O(k * 16) hashes for k changed accounts. The root depends only on the set of
//! accounts, never on the order they were inserted in.

use crate::account::Account;
use crate::error::LedgerError;
use serde::{Deserialize, Serialize};
use settlenet_types::codec::merkle_node;
use settlenet_types::{encode, AccountId, Domain, Hash};
use std::collections::{BTreeMap, BTreeSet};

/// Depth of the tree above the buckets.
pub const TREE_DEPTH: usize = 16;
/// Number of buckets (leaves of the binary tree).
pub const BUCKET_COUNT: usize = 1 << TREE_DEPTH;

/// The bucket an account id belongs to: the first two bytes of `blake3(id)`.
pub fn bucket_of(id: &AccountId) -> u16 {
    let digest = blake3::hash(&id.0);
    let b = digest.as_bytes();
    u16::from_be_bytes([b[0], b[1]])
}

/// The leaf hash of an account: `AccountLeaf.hash(encode(account))`.
pub fn account_leaf(account: &Account) -> Hash {
    match encode("account", account) {
        Ok(bytes) => Domain::AccountLeaf.hash(&bytes),
        // An account is a few hundred bytes; encoding fails only beyond the 32 MiB limit.
        Err(e) => panic!("invariant broken: an account cannot be encoded: {e}"),
    }
}

/// A bucket hash: `StateBucket.hash(encode(entries))`, with `entries` sorted by id.
///
/// Written out by hand (u64 big-endian length, then 16 + 32 bytes per entry: exactly the
/// canonical encoding of `Vec<(AccountId, Hash)>`, pinned by a test) so that it cannot fail and
/// does not allocate a copy of the entries.
pub fn bucket_hash<'a>(entries: impl ExactSizeIterator<Item = (&'a AccountId, &'a Hash)>) -> Hash {
    let mut payload = Vec::with_capacity(8 + entries.len() * (AccountId::LEN + Hash::LEN));
    payload.extend_from_slice(&(entries.len() as u64).to_be_bytes());
    for (id, leaf) in entries {
        payload.extend_from_slice(&id.0);
        payload.extend_from_slice(&leaf.0);
    }
    Domain::StateBucket.hash(&payload)
}

/// `empty[h]` is the hash of an empty subtree of height `h` (`empty[0]` = an empty bucket).
fn empty_hashes() -> [Hash; TREE_DEPTH + 1] {
    let mut empty = [bucket_hash(std::iter::empty()); TREE_DEPTH + 1];
    for h in 1..=TREE_DEPTH {
        empty[h] = merkle_node(&empty[h - 1], &empty[h - 1]);
    }
    empty
}

/// The incrementally maintained tree. Callers `set` leaves, then `commit` once per block.
#[derive(Clone)]
pub(crate) struct StateTree {
    /// Leaf hashes per non-empty bucket, sorted by account id (the bucket's preimage).
    buckets: BTreeMap<u16, BTreeMap<AccountId, Hash>>,
    /// Heap-ordered node hashes: `nodes[1]` is the root, `nodes[BUCKET_COUNT + b]` is bucket `b`,
    /// the children of `i` are `2i` and `2i + 1`; `nodes[0]` is unused. 4 MiB, fixed.
    nodes: Vec<Hash>,
    /// Buckets changed since the last `commit`.
    dirty: BTreeSet<u16>,
}

impl StateTree {
    /// The tree of no accounts.
    pub(crate) fn new() -> StateTree {
        let empty = empty_hashes();
        let mut nodes = vec![Hash::ZERO; 2 * BUCKET_COUNT];
        for (i, node) in nodes.iter_mut().enumerate().skip(1) {
            // Node i sits at depth floor(log2 i); its subtree height is TREE_DEPTH - depth.
            let depth = (usize::BITS - 1 - i.leading_zeros()) as usize;
            *node = empty[TREE_DEPTH - depth];
        }
        StateTree {
            buckets: BTreeMap::new(),
            nodes,
            dirty: BTreeSet::new(),
        }
    }

    /// Insert or replace an account's leaf hash (takes effect at the next `commit`).
    pub(crate) fn set(&mut self, id: AccountId, leaf: Hash) {
        let bucket = bucket_of(&id);
        self.buckets.entry(bucket).or_default().insert(id, leaf);
        self.dirty.insert(bucket);
    }

    /// Rehash the dirty buckets and their paths to the root.
    pub(crate) fn commit(&mut self) {
        let mut level: BTreeSet<usize> = BTreeSet::new();
        for bucket in std::mem::take(&mut self.dirty) {
            let hash = match self.buckets.get(&bucket) {
                Some(entries) => bucket_hash(entries.iter()),
                None => bucket_hash(std::iter::empty()),
            };
            let index = BUCKET_COUNT + usize::from(bucket);
            self.nodes[index] = hash;
            level.insert(index);
        }
        for _ in 0..TREE_DEPTH {
            let parents: BTreeSet<usize> = level.iter().map(|i| i / 2).collect();
            for &p in &parents {
                self.nodes[p] = merkle_node(&self.nodes[2 * p], &self.nodes[2 * p + 1]);
            }
            level = parents;
        }
    }

    /// The root (as of the last `commit`).
    pub(crate) fn root(&self) -> Hash {
        debug_assert!(self.dirty.is_empty(), "state root read before commit");
        self.nodes[1]
    }

    /// A proof for `account`, which must be the committed value of an account in the tree.
    pub(crate) fn prove(&self, account: &Account) -> Option<AccountProof> {
        let bucket = bucket_of(&account.id);
        let entries = self.buckets.get(&bucket)?;
        if !entries.contains_key(&account.id) {
            return None;
        }
        let mut siblings = Vec::with_capacity(TREE_DEPTH);
        let mut index = BUCKET_COUNT + usize::from(bucket);
        for _ in 0..TREE_DEPTH {
            siblings.push(self.nodes[index ^ 1]);
            index /= 2;
        }
        Some(AccountProof {
            account: account.clone(),
            bucket,
            entries: entries.iter().map(|(id, leaf)| (*id, *leaf)).collect(),
            siblings,
        })
    }
}

/// A Merkle proof that an account, with exactly this value, is part of a state root.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AccountProof {
    /// The account proven.
    pub account: Account,
    /// Its bucket ([`bucket_of`] its id).
    pub bucket: u16,
    /// Every `(id, leaf hash)` of the bucket, sorted by id.
    pub entries: Vec<(AccountId, Hash)>,
    /// The sibling hashes from the bucket up to the root (16 of them).
    pub siblings: Vec<Hash>,
}

impl AccountProof {
    /// Check the proof against `root`; on success return the proven account.
    pub fn verify(&self, root: &Hash) -> Result<Account, LedgerError> {
        let bad = |s: &str| Err(LedgerError::Proof(s.to_string()));
        if self.siblings.len() != TREE_DEPTH {
            return bad("wrong number of sibling hashes");
        }
        if bucket_of(&self.account.id) != self.bucket {
            return bad("the account does not belong to the bucket");
        }
        if !self.entries.windows(2).all(|w| w[0].0 < w[1].0) {
            return bad("bucket entries are not sorted by id without repeats");
        }
        let leaf = account_leaf(&self.account);
        if !self
            .entries
            .iter()
            .any(|(id, h)| *id == self.account.id && *h == leaf)
        {
            return bad("the account's leaf is not among the bucket entries");
        }
        let mut hash = bucket_hash(self.entries.iter().map(|(id, h)| (id, h)));
        let mut index = BUCKET_COUNT + usize::from(self.bucket);
        for sibling in &self.siblings {
            hash = if index.is_multiple_of(2) {
                merkle_node(&hash, sibling)
            } else {
                merkle_node(sibling, &hash)
            };
            index /= 2;
        }
        if hash != *root {
            return bad("the proof does not lead to the given root");
        }
        Ok(self.account.clone())
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
    }

    #[test]
    fn empty_tree_root_is_the_full_empty_subtree() {
        let tree = StateTree::new();
        assert_eq!(tree.root(), empty_hashes()[TREE_DEPTH]);
        // Cross-check against the generic Merkle root over 65,536 empty buckets.
        let leaves = vec![bucket_hash(std::iter::empty()); BUCKET_COUNT];
        assert_eq!(tree.root(), settlenet_types::codec::merkle_root(&leaves));
    }

    #[test]
    fn incremental_root_equals_full_recomputation() {
        let mut tree = StateTree::new();
        for i in 0u8..40 {
            tree.set(AccountId([i; 16]), Domain::AccountLeaf.hash(&[i]));
            if i % 7 == 0 {
                tree.commit();
            }
        }
        tree.commit();
        let mut leaves = Vec::with_capacity(BUCKET_COUNT);
        for b in 0..BUCKET_COUNT {
            let bucket = u16::try_from(b).expect("fits");
            leaves.push(match tree.buckets.get(&bucket) {
                Some(e) => bucket_hash(e.iter()),
                None => bucket_hash(std::iter::empty()),
            });
        }
        assert_eq!(tree.root(), settlenet_types::codec::merkle_root(&leaves));
    }
}
