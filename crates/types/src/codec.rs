//! The canonical encoding: what gets hashed, signed, stored and sent between nodes.
//!
//! bincode 2 (serde) with big-endian, fixed-width integers: every value has exactly one encoding,
//! and the encoding of a struct is the concatenation of its fields, so it is stable as long as the
//! type definitions are. Types carry an explicit `version` field where they are signed, and every
//! signature or hash is taken over `Domain` tag + encoding, never over the bare encoding.

use crate::error::TypesError;
use serde::{de::DeserializeOwned, Serialize};

/// Upper bound on any single encoded value accepted from outside (a block with its transactions,
/// a network message). Decoding stops with an error before allocating beyond it.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_limit::<MAX_MESSAGE_BYTES>()
}

/// Encode a value canonically.
pub fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, TypesError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| TypesError::Encode {
        what,
        reason: e.to_string(),
    })
}

/// The length of a value's canonical encoding, without building it.
pub fn encoded_len<T: Serialize>(what: &'static str, value: &T) -> Result<usize, TypesError> {
    let mut size = bincode::enc::write::SizeWriter::default();
    bincode::serde::encode_into_writer(value, &mut size, config()).map_err(|e| {
        TypesError::Encode {
            what,
            reason: e.to_string(),
        }
    })?;
    Ok(size.bytes_written)
}

/// Decode a value from its canonical encoding; trailing bytes are an error (so that one value has
/// one encoding and nothing can be smuggled behind it).
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, TypesError> {
    let (value, read) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|e| TypesError::Decode {
            what,
            reason: e.to_string(),
        })?;
    if read != bytes.len() {
        return Err(TypesError::Decode {
            what,
            reason: format!("{} trailing bytes", bytes.len() - read),
        });
    }
    Ok(value)
}

/// Domain tags: every hash and signature is taken over `tag || 0x00 || payload`, so bytes signed for
/// one purpose can never be accepted for another. The version is part of the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// A client's signature over a transaction body.
    Transaction,
    /// The identity hash of a transaction body (idempotency: same id, same body).
    TransactionBody,
    /// A block header's hash (what consensus agrees on).
    BlockHeader,
    /// Leaves of a block's transaction Merkle tree.
    TxLeaf,
    /// Inner nodes of any binary Merkle tree.
    MerkleNode,
    /// A consensus message signature (PRE-PREPARE, PREPARE, COMMIT, ...).
    Consensus,
    /// Account state leaves of the state tree.
    AccountLeaf,
    /// State-tree bucket hashes.
    StateBucket,
    /// The genesis hash.
    Genesis,
    // New domains go at the end; existing tags never change.
    /// Transaction-record leaves of the state tree (`encode(TxRecord)`).
    RecordLeaf,
    /// Record-tree bucket hashes.
    RecordBucket,
    /// The state root: the accounts tree's root, the live records tree's root and the history
    /// root, combined (v2; v1 combined accounts and all records).
    StateRoot,
    /// One chunk of a state snapshot as served to a catching-up replica (its manifest lists
    /// these hashes).
    SnapshotChunk,
    /// The digest of a settlement batch's staged instructions (`settlement::batch_digest`).
    SettlementBatch,
    /// A member descriptor's proofs of possession: each key it lists signs the descriptor's
    /// body (genesis ceremony).
    MemberDescriptor,
    /// What idempotency compares: a transaction body without its `valid_until_ms`.
    TransactionIntent,
    /// A transaction id from its signer's key, nonce and validity ([`crate::TxId::derive`]).
    TransactionId,
    /// A record's leaf in its block's records tree (`id || encode(TxRecord)`): the history
    /// accumulator's input.
    HistoryRecord,
    /// One block's leaf of the history accumulator (height, record count, records root).
    HistoryLeaf,
    /// The history accumulator's root (leaf count, bagged peaks).
    HistoryRoot,
}

impl Domain {
    /// The tag bytes, including the encoding version.
    pub fn tag(self) -> &'static [u8] {
        match self {
            Domain::Transaction => b"settlenet/tx-signature/v1",
            Domain::TransactionBody => b"settlenet/tx-body/v1",
            Domain::BlockHeader => b"settlenet/block-header/v1",
            Domain::TxLeaf => b"settlenet/tx-leaf/v1",
            Domain::MerkleNode => b"settlenet/merkle-node/v1",
            Domain::Consensus => b"settlenet/consensus/v1",
            Domain::AccountLeaf => b"settlenet/account-leaf/v1",
            Domain::StateBucket => b"settlenet/state-bucket/v1",
            Domain::Genesis => b"settlenet/genesis/v1",
            Domain::RecordLeaf => b"settlenet/record-leaf/v1",
            Domain::RecordBucket => b"settlenet/record-bucket/v1",
            Domain::StateRoot => b"settlenet/state-root/v2",
            Domain::SnapshotChunk => b"settlenet/snapshot-chunk/v1",
            Domain::SettlementBatch => b"settlenet/settlement-batch/v1",
            Domain::MemberDescriptor => b"settlenet/member-descriptor/v1",

            Domain::TransactionIntent => b"settlenet/tx-intent/v1",
            // v2 (transaction format 4): the preimage gained the validity.
            Domain::TransactionId => b"settlenet/tx-id/v2",
            Domain::HistoryRecord => b"settlenet/history-record/v1",
            Domain::HistoryLeaf => b"settlenet/history-leaf/v1",
            Domain::HistoryRoot => b"settlenet/history-root/v1",
        }
    }

    /// `tag || 0x00 || payload`: the exact bytes that get hashed or signed.
    pub fn message(self, payload: &[u8]) -> Vec<u8> {
        let tag = self.tag();
        let mut out = Vec::with_capacity(tag.len() + 1 + payload.len());
        out.extend_from_slice(tag);
        out.push(0);
        out.extend_from_slice(payload);
        out
    }

    /// blake3 of `tag || 0x00 || payload`.
    pub fn hash(self, payload: &[u8]) -> crate::Hash {
        let mut h = blake3::Hasher::new();
        h.update(self.tag());
        h.update(&[0]);
        h.update(payload);
        crate::Hash(*h.finalize().as_bytes())
    }
}

/// Binary Merkle root over leaf hashes (blake3, domain-separated). An odd node is carried up
/// unchanged; the root of no leaves is the hash of the empty node.
pub fn merkle_root(leaves: &[crate::Hash]) -> crate::Hash {
    if leaves.is_empty() {
        return Domain::MerkleNode.hash(&[]);
    }
    let mut level: Vec<crate::Hash> = leaves.to_vec();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            match pair {
                [a, b] => next.push(merkle_node(a, b)),
                [a] => next.push(*a),
                _ => unreachable!("chunks(2) yields one or two items"),
            }
        }
        level = next;
    }
    level[0]
}

/// Hash of an inner Merkle node.
pub fn merkle_node(left: &crate::Hash, right: &crate::Hash) -> crate::Hash {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(&left.0);
    buf[32..].copy_from_slice(&right.0);
    Domain::MerkleNode.hash(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = encode("u64", &7u64).expect("encode");
        bytes.push(0);
        assert!(decode::<u64>("u64", &bytes).is_err());
    }

    #[test]
    fn integers_are_fixed_width_big_endian() {
        assert_eq!(encode("u32", &1u32).expect("encode"), vec![0, 0, 0, 1]);
    }

    #[test]
    fn domains_separate_hashes() {
        assert_ne!(
            Domain::Transaction.hash(b"x"),
            Domain::BlockHeader.hash(b"x")
        );
    }

    #[test]
    fn domain_tags_are_distinct() {
        let all = [
            Domain::Transaction,
            Domain::TransactionBody,
            Domain::BlockHeader,
            Domain::TxLeaf,
            Domain::MerkleNode,
            Domain::Consensus,
            Domain::AccountLeaf,
            Domain::StateBucket,
            Domain::Genesis,
            Domain::RecordLeaf,
            Domain::RecordBucket,
            Domain::StateRoot,
            Domain::SnapshotChunk,
            Domain::SettlementBatch,
            Domain::MemberDescriptor,
            Domain::TransactionIntent,
            Domain::TransactionId,
            Domain::HistoryRecord,
            Domain::HistoryLeaf,
            Domain::HistoryRoot,
        ];
        let tags: std::collections::BTreeSet<&[u8]> = all.iter().map(|d| d.tag()).collect();
        assert_eq!(tags.len(), all.len());
        // No tag is a prefix of another followed by the 0x00 separator's position.
        assert!(tags.iter().all(|t| !t.contains(&0)));
    }

    #[test]
    fn merkle_root_depends_on_order_and_count() {
        let a = Domain::TxLeaf.hash(b"a");
        let b = Domain::TxLeaf.hash(b"b");
        assert_ne!(merkle_root(&[a, b]), merkle_root(&[b, a]));
        assert_ne!(merkle_root(&[a]), merkle_root(&[a, a]));
        assert_eq!(merkle_root(&[a]), a);
    }

    #[test]
    fn oversized_length_prefix_is_refused_without_allocating() {
        // A Vec<u8> claiming u64::MAX elements.
        let bytes = u64::MAX.to_be_bytes();
        assert!(decode::<Vec<u8>>("vec", &bytes).is_err());
    }
}
