//! What nodes send each other over libp2p, in the canonical encoding.
//!
//! Versioning: an enum's variants are encoded by their index, so existing variants never move
//! or change and new ones are appended ([`WIRE_VERSION`] counts those additions). A peer
//! running an older build cannot decode a newer variant: a one-way message is dropped and
//! counted, and a request is answered with [`Response::Error`] naming this node's wire version
//! (see [`unsupported_request`]), so the asking side can tell "old peer" from "bad peer".

use serde::{Deserialize, Serialize};
use settlenet_consensus::{CheckpointProof, SignedMessage};
use settlenet_types::{Hash, Height, SignedTransaction, StoredBlock};

/// Wire protocol revision: 1 = Status/Blocks; 2 = snapshots (`SnapshotManifest`,
/// `SnapshotChunk`) and `BlocksFrom`; 3 = `Submit`/`Submitted` (an observer forwards its
/// clients' transactions to a validator).
pub const WIRE_VERSION: u16 = 3;
/// Most transactions in one forwarded submission (an observer's API batch).
pub const SUBMIT_MAX_TXS: usize = 10_000;
/// Most blocks in one sync response.
pub const SYNC_MAX_BLOCKS: u32 = 64;
/// Most encoded bytes of blocks (with certificates) in one block-sync answer; the first block
/// is always sent (a block with its certificate is far below the frame limit).
pub const SYNC_MAX_BYTES: usize = 16 * 1024 * 1024;
/// Most transactions in one gossip batch.
pub const GOSSIP_MAX_TXS: usize = 4_096;
/// Most encoded bytes of transactions in one gossip message (a quarter of the frame limit).
pub const GOSSIP_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Largest encoded snapshot chunk a node serves or accepts (far below the 32 MiB frame limit).
pub const SNAPSHOT_CHUNK_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Most chunks in one snapshot manifest (bounds the manifest itself: 32 bytes per chunk hash).
pub const SNAPSHOT_MAX_CHUNKS: usize = 65_536;

/// One-way messages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Wire {
    /// A PBFT message.
    Consensus(SignedMessage),
    /// Transactions submitted to the sender, for every validator's mempool.
    Txs(Vec<SignedTransaction>),
}

/// Requests (answered by the peer). New variants go at the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// "What is your committed height?"
    Status,
    /// Committed blocks with certificates from `from` on, at most `max`.
    Blocks {
        /// First height wanted.
        from: Height,
        /// At most this many.
        max: u32,
    },
    /// "Describe the latest state snapshot you serve" (wire version 2).
    SnapshotManifest,
    /// One chunk of the snapshot at `height` (wire version 2).
    SnapshotChunk {
        /// The snapshot's height (from its manifest).
        height: Height,
        /// Chunk index, `0 .. manifest.chunk_hashes.len()`.
        index: u32,
    },
    /// Transactions an observer's clients submitted, for the validator to admit as if they
    /// came to its own API (it checks every signature itself; wire version 3). At most
    /// [`SUBMIT_MAX_TXS`].
    Submit(Vec<SignedTransaction>),
}

/// Answers. New variants go at the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Response {
    /// The peer's committed height.
    Status {
        /// Height.
        height: Height,
    },
    /// Consecutive committed blocks starting at the requested height (possibly none).
    Blocks(Vec<StoredBlock>),
    /// The request could not be served.
    Error(String),
    /// A snapshot the peer serves (wire version 2).
    SnapshotManifest(Box<SnapshotManifest>),
    /// One chunk of a snapshot: the canonical encoding of a `settlenet_ledger::LedgerSnapshot`
    /// part (wire version 2).
    SnapshotChunk {
        /// The snapshot's height.
        height: Height,
        /// The chunk index.
        index: u32,
        /// The encoded part.
        bytes: Vec<u8>,
    },
    /// Answer to `Blocks` from a node that started from a snapshot and holds no block below
    /// `base`: ask another peer, or fetch a snapshot (wire version 2).
    BlocksFrom {
        /// The lowest height this node holds.
        base: Height,
    },
    /// Answer to `Submit`: one outcome per transaction, in order (wire version 3).
    Submitted(Vec<crate::SubmitOutcome>),
}

/// Version of [`SnapshotManifest`]'s layout.
pub const MANIFEST_VERSION: u16 = 1;

/// What a peer says about the snapshot it serves. Nothing in it is trusted by itself: the
/// receiver checks `proof` (a quorum of CHECKPOINT signatures on (`height`, `state_root`)),
/// `block`'s commit certificate, each chunk against `chunk_hashes`, and finally the whole state
/// against `state_root`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotManifest {
    /// [`MANIFEST_VERSION`].
    pub version: u16,
    /// The height of the state (a stable checkpoint).
    pub height: Height,
    /// The state root at `height`, as the checkpoint proof certifies.
    pub state_root: Hash,
    /// The stable checkpoint proof for (`height`, `state_root`).
    pub proof: CheckpointProof,
    /// The committed block at `height` with its commit certificate (its hash links the next
    /// block; its timestamp is the consensus time at `height`).
    pub block: StoredBlock,
    /// Hash of each chunk's bytes ([`chunk_hash`]), in order.
    pub chunk_hashes: Vec<Hash>,
    /// Sum of the chunks' lengths.
    pub total_bytes: u64,
}

/// The hash a manifest lists for a chunk (domain-separated).
pub fn chunk_hash(bytes: &[u8]) -> Hash {
    settlenet_types::Domain::SnapshotChunk.hash(bytes)
}

/// The answer to a request this build cannot decode.
pub fn unsupported_request(reason: &str) -> Response {
    Response::Error(format!(
        "unsupported or malformed request (this node speaks wire version {WIRE_VERSION}): \
         {reason}"
    ))
}
