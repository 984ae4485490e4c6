//! The history accumulator: every transaction record ever written, committed block by block in
//! an append-only Merkle mountain range, so that the state root commits to all of history while
//! the ledger holds only O(log blocks) hashes of it.
//!
//! ```text
//!   block h's records (in block order)  r_0 .. r_{k-1}
//!   record leaf      HistoryRecord.hash(tx id || encode(record))
//!   block root       merkle_root(record leaves)            (Domain::MerkleNode inner nodes)
//!   history leaf     HistoryLeaf.hash(h || k || block root) (u64 big-endian; one per block
//!                                                            that wrote records, in order)
//!   mountain range   perfect binary trees (merkle_node) over the leaves, one per set bit of
//!                    the leaf count, largest first ("peaks")
//!   history root     HistoryRoot.hash(count || bag), bag = peaks folded from the smallest:
//!                    acc = smallest; acc = merkle_node(next larger, acc); ...
//! ```
//!
//! Appending a block creates its leaf and one node per carry (amortised two nodes a block):
//! [`History::append`] returns them, the node persists them ([`HistoryNode`], keyed by level and
//! index), and [`prove_history`] later reads back the O(log blocks) nodes a proof needs. The
//! ledger itself keeps only the peaks.

use crate::error::LedgerError;
use crate::outcome::TxRecord;
use serde::{Deserialize, Serialize};
use settlenet_types::codec::{merkle_node, merkle_root};
use settlenet_types::{encode, Domain, Hash, Height, TxId};

/// Most levels a mountain range of `u64` leaves can have.
const LEVELS_MAX: usize = 64;

/// The leaf of one record in its block's records tree: `HistoryRecord.hash(id || encode(record))`.
pub fn history_record_leaf(id: &TxId, record: &TxRecord) -> Hash {
    match encode("transaction record", record) {
        Ok(bytes) => {
            let mut payload = Vec::with_capacity(16 + bytes.len());
            payload.extend_from_slice(&id.0);
            payload.extend_from_slice(&bytes);
            Domain::HistoryRecord.hash(&payload)
        }
        // A record is well under a kilobyte; encoding fails only beyond the 32 MiB limit.
        Err(e) => panic!("invariant broken: a transaction record cannot be encoded: {e}"),
    }
}

/// The root of one block's records, in block order (`merkle_root` of their leaves; the root of
/// no records is `merkle_root(&[])`).
pub fn block_records_root(records: &[(TxId, TxRecord)]) -> Hash {
    let leaves: Vec<Hash> = records
        .iter()
        .map(|(id, r)| history_record_leaf(id, r))
        .collect();
    merkle_root(&leaves)
}

/// The history leaf of block `height` with `count` records whose root is `block_root`.
pub fn history_leaf(height: Height, count: u64, block_root: &Hash) -> Hash {
    let mut payload = [0u8; 48];
    payload[..8].copy_from_slice(&height.0.to_be_bytes());
    payload[8..16].copy_from_slice(&count.to_be_bytes());
    payload[16..].copy_from_slice(&block_root.0);
    Domain::HistoryLeaf.hash(&payload)
}

/// One node of the mountain range: the root of the perfect subtree over leaves
/// `[index * 2^level, (index + 1) * 2^level)`. Level 0 nodes are the leaves.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryNode {
    /// Height of the subtree (0: a leaf).
    pub level: u8,
    /// Position among the nodes of that level.
    pub index: u64,
    /// Its hash.
    pub hash: Hash,
}

/// The accumulator's state: the number of leaves (blocks that wrote records) and the peaks,
/// largest first (one per set bit of `size`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Leaves appended: one per executed block that wrote records.
    pub size: u64,
    /// Peak hashes, from the largest mountain to the smallest.
    pub peaks: Vec<Hash>,
}

impl History {
    /// Whether `peaks` has one hash per set bit of `size`.
    pub fn check(&self) -> Result<(), LedgerError> {
        if self.peaks.len() != self.size.count_ones() as usize {
            return Err(LedgerError::Restore(format!(
                "history of {} blocks has {} peaks, expected {}",
                self.size,
                self.peaks.len(),
                self.size.count_ones()
            )));
        }
        Ok(())
    }

    /// Append a leaf; return the nodes created (the leaf first, then each merged parent).
    pub fn append(&mut self, leaf: Hash) -> Vec<HistoryNode> {
        let mut nodes = vec![HistoryNode {
            level: 0,
            index: self.size,
            hash: leaf,
        }];
        let mut hash = leaf;
        let mut index = self.size;
        let mut level = 0u8;
        while self.size >> level & 1 == 1 {
            let Some(left) = self.peaks.pop() else {
                // `check` holds: one peak per set bit.
                panic!(
                    "invariant broken: history of {} blocks lacks a peak",
                    self.size
                );
            };
            hash = merkle_node(&left, &hash);
            index >>= 1;
            level += 1;
            nodes.push(HistoryNode { level, index, hash });
        }
        self.peaks.push(hash);
        self.size += 1;
        nodes
    }

    /// The history root.
    pub fn root(&self) -> Hash {
        bag(self.size, &self.peaks)
    }
}

/// `HistoryRoot.hash(size || bag(peaks))`.
fn bag(size: u64, peaks: &[Hash]) -> Hash {
    let mut acc = Hash::ZERO;
    for (i, p) in peaks.iter().rev().enumerate() {
        acc = if i == 0 { *p } else { merkle_node(p, &acc) };
    }
    let mut payload = [0u8; 40];
    payload[..8].copy_from_slice(&size.to_be_bytes());
    payload[8..].copy_from_slice(&acc.0);
    Domain::HistoryRoot.hash(&payload)
}

/// The peaks of a range of `size` leaves as `(level, index)`, largest first.
fn peak_positions(size: u64) -> Vec<(u8, u64)> {
    let mut out = Vec::new();
    let mut start = 0u64;
    for level in (0..LEVELS_MAX as u8).rev() {
        if size >> level & 1 == 1 {
            out.push((level, start >> level));
            start += 1 << level;
        }
    }
    out
}

/// The peak holding leaf `leaf` in a range of `size` leaves: (its position among the peaks,
/// its level).
fn peak_of(leaf: u64, size: u64) -> Option<(usize, u8)> {
    let mut start = 0u64;
    for (pos, (level, _)) in peak_positions(size).into_iter().enumerate() {
        let end = start + (1u64 << level);
        if leaf < end {
            return Some((pos, level));
        }
        start = end;
    }
    None
}

/// A proof that a history leaf is leaf `leaf` of a range of `size` leaves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HistoryProof {
    /// The leaf's position (among the blocks that wrote records).
    pub leaf: u64,
    /// Leaves in the range the proof is against (the height of the proving state).
    pub size: u64,
    /// Siblings from the leaf up to its peak.
    pub siblings: Vec<Hash>,
    /// Every peak of the range, largest first.
    pub peaks: Vec<Hash>,
}

impl HistoryProof {
    /// The history root this proof leads to from `leaf_hash`, or why it cannot.
    pub fn root(&self, leaf_hash: &Hash) -> Result<Hash, String> {
        let Some((pos, level)) = peak_of(self.leaf, self.size) else {
            return Err(format!(
                "leaf {} is outside a history of {} blocks",
                self.leaf, self.size
            ));
        };
        if self.siblings.len() != usize::from(level) {
            return Err(format!(
                "{} sibling hashes, expected {level}",
                self.siblings.len()
            ));
        }
        if self.peaks.len() != self.size.count_ones() as usize {
            return Err(format!(
                "{} peaks, expected {}",
                self.peaks.len(),
                self.size.count_ones()
            ));
        }
        let mut hash = *leaf_hash;
        let mut index = self.leaf;
        for s in &self.siblings {
            hash = if index & 1 == 0 {
                merkle_node(&hash, s)
            } else {
                merkle_node(s, &hash)
            };
            index >>= 1;
        }
        if self.peaks[pos] != hash {
            return Err("the leaf's path does not lead to its peak".into());
        }
        Ok(bag(self.size, &self.peaks))
    }
}

/// A proof for leaf `leaf` of the range of `size` leaves, reading the nodes it needs through
/// `node(level, index)` (persisted [`HistoryNode`]s). `None` if `leaf >= size` or a node is
/// missing (e.g. below the snapshot a node was installed from).
pub fn prove_history(
    leaf: u64,
    size: u64,
    mut node: impl FnMut(u8, u64) -> Option<Hash>,
) -> Option<HistoryProof> {
    let (_, level) = peak_of(leaf, size)?;
    let mut siblings = Vec::with_capacity(usize::from(level));
    for l in 0..level {
        siblings.push(node(l, (leaf >> l) ^ 1)?);
    }
    let mut peaks = Vec::new();
    for (l, i) in peak_positions(size) {
        peaks.push(node(l, i)?);
    }
    Some(HistoryProof {
        leaf,
        size,
        siblings,
        peaks,
    })
}

/// The sibling hashes of leaf `index` in `merkle_root(leaves)` (a level's odd last node is
/// promoted unchanged: it has no sibling there).
pub fn merkle_path(leaves: &[Hash], mut index: usize) -> Vec<Hash> {
    let mut path = Vec::new();
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        let sibling = index ^ 1;
        if sibling < level.len() {
            path.push(level[sibling]);
        }
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => merkle_node(a, b),
                [a] => *a,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
        index /= 2;
    }
    path
}

/// The root `merkle_root` gives a tree of `count` leaves in which leaf `index` is `leaf`, with
/// `path` from [`merkle_path`].
pub fn merkle_path_root(
    leaf: &Hash,
    mut index: u64,
    mut count: u64,
    path: &[Hash],
) -> Result<Hash, String> {
    if index >= count {
        return Err(format!("position {index} is outside {count} records"));
    }
    let mut hash = *leaf;
    let mut siblings = path.iter();
    while count > 1 {
        let sibling = index ^ 1;
        if sibling < count {
            let Some(s) = siblings.next() else {
                return Err("too few sibling hashes".into());
            };
            hash = if index & 1 == 0 {
                merkle_node(&hash, s)
            } else {
                merkle_node(s, &hash)
            };
        }
        index /= 2;
        count = count.div_ceil(2);
    }
    if siblings.next().is_some() {
        return Err("too many sibling hashes".into());
    }
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn leaf(i: u64) -> Hash {
        Domain::HistoryLeaf.hash(&i.to_be_bytes())
    }

    /// The root of `n` leaves computed from scratch: the perfect trees of the peaks, bagged.
    fn from_scratch(n: u64) -> Hash {
        let leaves: Vec<Hash> = (0..n).map(leaf).collect();
        let mut peaks = Vec::new();
        let mut start = 0usize;
        for (level, _) in peak_positions(n) {
            let len = 1usize << level;
            peaks.push(merkle_root(&leaves[start..start + len]));
            start += len;
        }
        bag(n, &peaks)
    }

    #[test]
    fn appends_equal_the_root_from_scratch_and_every_leaf_proves() {
        let mut h = History::default();
        let mut stored: BTreeMap<(u8, u64), Hash> = BTreeMap::new();
        assert_eq!(h.root(), from_scratch(0));
        for n in 0..70u64 {
            for node in h.append(leaf(n)) {
                assert!(stored.insert((node.level, node.index), node.hash).is_none());
            }
            h.check().expect("peaks");
            assert_eq!(h.root(), from_scratch(n + 1), "size {}", n + 1);
            for j in 0..=n {
                let p = prove_history(j, h.size, |l, i| stored.get(&(l, i)).copied())
                    .expect("nodes stored");
                assert_eq!(p.root(&leaf(j)), Ok(h.root()), "leaf {j} of {}", n + 1);
                // Another leaf, position or size does not lead there.
                assert_ne!(p.root(&leaf(j + 1)), Ok(h.root()));
                let mut q = p.clone();
                q.leaf ^= 1;
                assert_ne!(q.root(&leaf(j)), Ok(h.root()));
                let mut q = p.clone();
                q.size += 1;
                assert_ne!(q.root(&leaf(j)), Ok(h.root()));
            }
        }
        // Amortised: about two nodes stored per leaf.
        assert!(stored.len() < 2 * 70, "{}", stored.len());
        assert!(prove_history(70, 70, |l, i| stored.get(&(l, i)).copied()).is_none());
    }

    #[test]
    fn block_paths_lead_to_the_block_root() {
        for n in 1..20usize {
            let leaves: Vec<Hash> = (0..n as u64).map(leaf).collect();
            let root = merkle_root(&leaves);
            for i in 0..n {
                let path = merkle_path(&leaves, i);
                let got = merkle_path_root(&leaves[i], i as u64, n as u64, &path);
                assert_eq!(got, Ok(root), "leaf {i} of {n}");
                if n > 1 {
                    let other = (i + 1) % n;
                    assert_ne!(
                        merkle_path_root(&leaves[i], other as u64, n as u64, &path),
                        Ok(root)
                    );
                }
            }
        }
    }

    /// The history root is pinned: a verifier in another language reproduces it.
    #[test]
    fn an_empty_history_has_a_fixed_root() {
        let h = History::default();
        let mut payload = [0u8; 40];
        payload[8..].copy_from_slice(&Hash::ZERO.0);
        assert_eq!(h.root(), Domain::HistoryRoot.hash(&payload));
    }
}
