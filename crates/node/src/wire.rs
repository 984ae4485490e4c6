//! What nodes send each other over libp2p (canonical encoding, versioned by its first variant
//! tags; unknown tags fail to decode and are dropped and counted).

use serde::{Deserialize, Serialize};
use settlenet_consensus::SignedMessage;
use settlenet_types::{Height, SignedTransaction, StoredBlock};

/// Most blocks in one sync response.
pub const SYNC_MAX_BLOCKS: u32 = 64;
/// Most transactions in one gossip batch.
pub const GOSSIP_MAX_TXS: usize = 4_096;

/// One-way messages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Wire {
    /// A PBFT message.
    Consensus(SignedMessage),
    /// Transactions submitted to the sender, for every validator's mempool.
    Txs(Vec<SignedTransaction>),
}

/// Requests (answered by the peer).
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
}

/// Answers.
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
}
