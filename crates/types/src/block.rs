//! Blocks, their headers, and commit certificates.
//!
//! What consensus agrees on for height `h` is a [`BlockHeader`] (by its hash) plus the transactions
//! it commits to. The header carries the proposer's latest *executed* state root (`state_height`,
//! `state_root`), so every commit certificate also certifies an earlier state root: execution is
//! decoupled from ordering and several heights can be in flight at once. There is deliberately no
//! `prev_hash` inside the header: PBFT may re-propose a prepared block in a later view or fill a gap
//! with a null block, and a proposal-time parent pointer would not survive that. The chain link is
//! recorded when a block is committed ([`StoredBlock::prev_hash`]) and is fully determined by the
//! sequence of certified headers, one per height.

use crate::codec::{encode, merkle_root, Domain};
use crate::error::TypesError;
use crate::ids::{Hash, Height, ReplicaId, Signature, View};
use crate::tx::SignedTransaction;
use serde::{Deserialize, Serialize};

/// The block format version this code writes and accepts.
pub const BLOCK_VERSION: u16 = 1;

/// A block header: the value PBFT orders (by its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockHeader {
    /// Format version ([`BLOCK_VERSION`]).
    pub version: u16,
    /// The chain id from the genesis.
    pub chain_id: String,
    /// Height = PBFT sequence number.
    pub height: Height,
    /// The proposer's clock when it cut the block (consensus time, milliseconds since the epoch).
    pub timestamp_ms: u64,
    /// The validator that proposed the block.
    pub proposer: ReplicaId,
    /// Number of transactions.
    pub tx_count: u32,
    /// Merkle root of the transactions' leaf hashes, in block order.
    pub tx_root: Hash,
    /// The latest height the proposer had executed when it cut this block.
    pub state_height: Height,
    /// The ledger state root after executing `state_height`; replicas refuse the proposal unless
    /// it matches their own.
    pub state_root: Hash,
}

impl BlockHeader {
    /// The header's hash: the digest PBFT messages and certificates refer to.
    pub fn hash(&self) -> Result<Hash, TypesError> {
        Ok(Domain::BlockHeader.hash(&encode("block header", self)?))
    }
}

/// A block: header plus transactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, in execution order.
    pub txs: Vec<SignedTransaction>,
}

impl Block {
    /// Merkle root over the transactions' leaf hashes.
    pub fn compute_tx_root(txs: &[SignedTransaction]) -> Result<Hash, TypesError> {
        let leaves = txs
            .iter()
            .map(SignedTransaction::leaf_hash)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(merkle_root(&leaves))
    }

    /// Check that the header commits to exactly these transactions.
    pub fn check_body(&self) -> Result<(), TypesError> {
        if self.header.tx_count as usize != self.txs.len() {
            return Err(TypesError::Decode {
                what: "block",
                reason: format!(
                    "header says {} transactions, body has {}",
                    self.header.tx_count,
                    self.txs.len()
                ),
            });
        }
        let root = Self::compute_tx_root(&self.txs)?;
        if root != self.header.tx_root {
            return Err(TypesError::Decode {
                what: "block",
                reason: format!(
                    "tx_root {} does not match the transactions ({root})",
                    self.header.tx_root
                ),
            });
        }
        Ok(())
    }
}

/// The two voting phases of PBFT whose signatures are collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
pub enum VoteKind {
    /// PREPARE (PBFT §4.2).
    Prepare,
    /// COMMIT (PBFT §4.2).
    Commit,
}

/// The signed content of a PREPARE or COMMIT vote. Kept here (not in the consensus crate) so that
/// anyone holding the genesis can verify a commit certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    /// Which phase.
    pub kind: VoteKind,
    /// Chain id: a vote on one network is worthless on another.
    pub chain_id: String,
    /// The view the vote was cast in.
    pub view: View,
    /// The height (sequence number).
    pub height: Height,
    /// The block header hash voted for.
    pub block_hash: Hash,
}

impl VoteBody {
    /// The exact bytes a validator signs for this vote.
    pub fn signing_message(&self) -> Result<Vec<u8>, TypesError> {
        Ok(Domain::Consensus.message(&encode("vote", self)?))
    }
}

/// One validator's COMMIT signature inside a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitSignature {
    /// Who signed.
    pub replica: ReplicaId,
    /// The signature over the [`VoteBody`] with `kind = Commit`.
    pub signature: Signature,
}

/// Proof of finality: 2f+1 COMMIT signatures from distinct validators for one block in one view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitCertificate {
    /// The height.
    pub height: Height,
    /// The view in which the commits were cast.
    pub view: View,
    /// The block header hash.
    pub block_hash: Hash,
    /// Signatures, sorted by replica, no replica twice.
    pub signatures: Vec<CommitSignature>,
}

impl CommitCertificate {
    /// The vote every signature in this certificate signs.
    pub fn vote_body(&self, chain_id: &str) -> VoteBody {
        VoteBody {
            kind: VoteKind::Commit,
            chain_id: chain_id.to_string(),
            view: self.view,
            height: self.height,
            block_hash: self.block_hash,
        }
    }
}

/// A committed block as a node stores and serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredBlock {
    /// The block.
    pub block: Block,
    /// Its commit certificate.
    pub certificate: CommitCertificate,
    /// The header hash (= `certificate.block_hash`).
    pub hash: Hash,
    /// The hash of the block committed at the previous height (zero at height 1).
    pub prev_hash: Hash,
    /// The ledger state root after executing this block (every honest node computes the same).
    pub state_root: Hash,
}

/// What a node keeps of a committed block whatever its age: the header, the commit certificate,
/// the chain link, the resulting state root and the ids of its transactions, without their
/// bodies. Enough to check finality (the certificate against the genesis), to link the chain,
/// and to rebuild the block's list of records for a transaction proof; a node that prunes old
/// blocks (`[storage] retain_blocks`) keeps this for every height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockSummary {
    /// The header as certified.
    pub header: BlockHeader,
    /// Its commit certificate.
    pub certificate: CommitCertificate,
    /// The header hash (= `certificate.block_hash`).
    pub hash: Hash,
    /// The hash of the block committed at the previous height (zero at height 1).
    pub prev_hash: Hash,
    /// The ledger state root after executing this block.
    pub state_root: Hash,
    /// Its transactions' ids, in block order.
    pub tx_ids: Vec<crate::ids::TxId>,
}

impl StoredBlock {
    /// The block without its transactions' bodies.
    pub fn summary(&self) -> BlockSummary {
        BlockSummary {
            header: self.block.header.clone(),
            certificate: self.certificate.clone(),
            hash: self.hash,
            prev_hash: self.prev_hash,
            state_root: self.state_root,
            tx_ids: self.block.txs.iter().map(|t| t.tx.id).collect(),
        }
    }
}
