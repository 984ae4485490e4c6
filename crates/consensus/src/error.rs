//! The crate's one error type.

use settlenet_types::ReplicaId;
use thiserror::Error;

/// Why a configuration or a consensus message was refused.
///
/// Errors about peer messages never escape [`crate::Replica::step`]: there they become a dropped
/// message and a counter in [`crate::ReplicaStats`]. They are returned by
/// [`crate::SignedMessage::verify`] and [`crate::Replica::new`].
#[derive(Debug, Error)]
pub enum ConsensusError {
    /// The replica configuration is unusable (empty validator set, key not in the set, ...).
    #[error("invalid replica configuration: {0}")]
    InvalidConfig(String),
    /// The claimed sender is not in the validator set.
    #[error("sender {0} is not a validator")]
    UnknownSender(ReplicaId),
    /// The message names another network.
    #[error("message is for chain {got:?}, this is {expected:?}")]
    WrongChain {
        /// Our chain id.
        expected: String,
        /// The chain id in the message.
        got: String,
    },
    /// The signature does not verify under the sender's genesis key.
    #[error("bad signature from {from}: {reason}")]
    BadSignature {
        /// The claimed sender.
        from: ReplicaId,
        /// The verifier's explanation.
        reason: String,
    },
    /// A PRE-PREPARE's block does not commit to its transactions.
    #[error("bad block in pre-prepare: {0}")]
    BadBlock(String),
    /// The message is structurally wrong (e.g. a COMMIT body inside a PREPARE).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Encoding or hashing failed (only possible beyond the codec's size limit).
    #[error(transparent)]
    Types(#[from] settlenet_types::TypesError),
}
