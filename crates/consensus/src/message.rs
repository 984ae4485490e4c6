//! The three normal-case PBFT messages (Castro & Liskov OSDI'99 §4.2) and how they are signed.
//!
//! Every message is signed with the sender's validator key over domain-separated bytes
//! (`Domain::Consensus`), never over a bare encoding:
//! - PREPARE and COMMIT sign [`VoteBody::signing_message`] (defined in `settlenet-types`, so that
//!   anyone holding the genesis can check a commit certificate);
//! - PRE-PREPARE signs [`PrePrepareBody::signing_message`], which starts with
//!   [`PRE_PREPARE_TAG`] so that its bytes can never equal a vote's.

use crate::error::ConsensusError;
use serde::{Deserialize, Serialize};
use settlenet_crypto::{verify, Keypair};
use settlenet_types::block::{VoteBody, VoteKind};
use settlenet_types::{encode, Block, Domain, Hash, Height, PublicKey, ReplicaId, Signature, View};

/// First field of every [`PrePrepareBody`] (ASCII "PPRE").
///
/// A [`VoteBody`] encodes its `kind` first, as the bincode variant index of [`VoteKind`]: a
/// big-endian `u32` equal to 0 (PREPARE) or 1 (COMMIT). A PRE-PREPARE body starts with this `u32`
/// instead, so the two encodings differ in their first four bytes and a signature on one can
/// never be replayed as the other, even though the remaining fields have the same layout.
pub const PRE_PREPARE_TAG: u32 = 0x5050_5245;

/// The signed content of a PRE-PREPARE: the block is identified by its header hash.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PrePrepareBody {
    /// Always [`PRE_PREPARE_TAG`]; separates this encoding from a [`VoteBody`]'s.
    pub tag: u32,
    /// Chain id: a proposal on one network is worthless on another.
    pub chain_id: String,
    /// The view the block is proposed in.
    pub view: View,
    /// The height (sequence number) it is proposed for.
    pub height: Height,
    /// The block header hash.
    pub block_hash: Hash,
}

impl PrePrepareBody {
    /// The body for a proposal of `block_hash` at (`view`, `height`) on `chain_id`.
    pub fn new(chain_id: &str, view: View, height: Height, block_hash: Hash) -> PrePrepareBody {
        PrePrepareBody {
            tag: PRE_PREPARE_TAG,
            chain_id: chain_id.to_string(),
            view,
            height,
            block_hash,
        }
    }

    /// The exact bytes the primary signs.
    pub fn signing_message(&self) -> Result<Vec<u8>, ConsensusError> {
        Ok(Domain::Consensus.message(&encode("pre-prepare", self)?))
    }
}

/// Which of the three normal-case messages a payload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageKind {
    /// PRE-PREPARE (§4.2): the primary assigns a block to a height.
    PrePrepare,
    /// PREPARE (§4.2): a backup accepted the pre-prepare.
    Prepare,
    /// COMMIT (§4.2): the sender is prepared.
    Commit,
}

/// What a consensus message says.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// The primary proposes `block` at `block.header.height` in `view`.
    PrePrepare {
        /// The view.
        view: View,
        /// The proposed block; its header's height is the sequence number.
        block: Block,
    },
    /// A PREPARE vote; `body.kind` must be [`VoteKind::Prepare`].
    Prepare(VoteBody),
    /// A COMMIT vote; `body.kind` must be [`VoteKind::Commit`].
    Commit(VoteBody),
}

impl Payload {
    /// Which message this is.
    pub fn kind(&self) -> MessageKind {
        match self {
            Payload::PrePrepare { .. } => MessageKind::PrePrepare,
            Payload::Prepare(_) => MessageKind::Prepare,
            Payload::Commit(_) => MessageKind::Commit,
        }
    }

    /// The view it was sent in.
    pub fn view(&self) -> View {
        match self {
            Payload::PrePrepare { view, .. } => *view,
            Payload::Prepare(b) | Payload::Commit(b) => b.view,
        }
    }

    /// The height (sequence number) it is about.
    pub fn height(&self) -> Height {
        match self {
            Payload::PrePrepare { block, .. } => block.header.height,
            Payload::Prepare(b) | Payload::Commit(b) => b.height,
        }
    }

    /// The block hash it refers to (computed from the header for a PRE-PREPARE).
    pub fn block_hash(&self) -> Result<Hash, ConsensusError> {
        match self {
            Payload::PrePrepare { block, .. } => Ok(block.header.hash()?),
            Payload::Prepare(b) | Payload::Commit(b) => Ok(b.block_hash),
        }
    }
}

/// A consensus message with its sender and the sender's signature; what travels on the wire
/// (encoded with `settlenet_types::encode`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SignedMessage {
    /// The validator that signed it.
    pub from: ReplicaId,
    /// The content.
    pub payload: Payload,
    /// `from`'s signature over the payload's signing message.
    pub signature: Signature,
}

impl SignedMessage {
    /// Sign a PRE-PREPARE for `block` in `view` (the height is the header's).
    pub fn pre_prepare(
        chain_id: &str,
        view: View,
        block: Block,
        from: ReplicaId,
        key: &Keypair,
    ) -> Result<SignedMessage, ConsensusError> {
        let body = PrePrepareBody::new(chain_id, view, block.header.height, block.header.hash()?);
        let signature = key.sign(&body.signing_message()?);
        Ok(SignedMessage {
            from,
            payload: Payload::PrePrepare { view, block },
            signature,
        })
    }

    /// Sign a PREPARE or COMMIT (by `body.kind`).
    pub fn vote(
        body: VoteBody,
        from: ReplicaId,
        key: &Keypair,
    ) -> Result<SignedMessage, ConsensusError> {
        let signature = key.sign(&body.signing_message()?);
        let payload = match body.kind {
            VoteKind::Prepare => Payload::Prepare(body),
            VoteKind::Commit => Payload::Commit(body),
        };
        Ok(SignedMessage {
            from,
            payload,
            signature,
        })
    }

    /// Check that this message is well formed for `chain_id` and validly signed by `from`, whose
    /// key is `validators[from]`. For a PRE-PREPARE, also check that the block commits to its
    /// transactions (`Block::check_body`); the signature covers the header's hash and height, so
    /// the pre-prepare's height and digest are those of the block it carries.
    ///
    /// Cheap structural checks come before the signature, and the signature before the body
    /// check (which hashes every transaction).
    pub fn verify(&self, chain_id: &str, validators: &[PublicKey]) -> Result<(), ConsensusError> {
        let key = validators
            .get(usize::from(self.from.0))
            .ok_or(ConsensusError::UnknownSender(self.from))?;
        let wrong_chain = |got: &str| ConsensusError::WrongChain {
            expected: chain_id.to_string(),
            got: got.to_string(),
        };
        let signing_message = match &self.payload {
            Payload::PrePrepare { view, block } => {
                if block.header.chain_id != chain_id {
                    return Err(wrong_chain(&block.header.chain_id));
                }
                PrePrepareBody::new(chain_id, *view, block.header.height, block.header.hash()?)
                    .signing_message()?
            }
            Payload::Prepare(body) | Payload::Commit(body) => {
                let expected = match self.payload.kind() {
                    MessageKind::Commit => VoteKind::Commit,
                    _ => VoteKind::Prepare,
                };
                if body.kind != expected {
                    return Err(ConsensusError::Malformed(format!(
                        "{:?} message carries a {:?} vote",
                        self.payload.kind(),
                        body.kind
                    )));
                }
                if body.chain_id != chain_id {
                    return Err(wrong_chain(&body.chain_id));
                }
                body.signing_message()?
            }
        };
        verify(key, &signing_message, &self.signature).map_err(|e| {
            ConsensusError::BadSignature {
                from: self.from,
                reason: e.to_string(),
            }
        })?;
        if let Payload::PrePrepare { block, .. } = &self.payload {
            block
                .check_body()
                .map_err(|e| ConsensusError::BadBlock(e.to_string()))?;
        }
        Ok(())
    }
}
