//! The PBFT messages (Castro & Liskov OSDI'99: §4.2 normal case, §4.3 CHECKPOINT, §4.4
//! VIEW-CHANGE and NEW-VIEW) and how they are signed.
//!
//! Every message is signed with the sender's validator key over domain-separated bytes
//! (`Domain::Consensus`), never over a bare encoding:
//! - PREPARE and COMMIT sign [`VoteBody::signing_message`] (defined in `settlenet-types`, so that
//!   anyone holding the genesis can check a commit certificate);
//! - PRE-PREPARE signs [`PrePrepareBody::signing_message`], which starts with
//!   [`PRE_PREPARE_TAG`] so that its bytes can never equal a vote's;
//! - CHECKPOINT, VIEW-CHANGE and NEW-VIEW sign their body, which starts with its own tag
//!   ([`CHECKPOINT_TAG`], [`VIEW_CHANGE_TAG`], [`NEW_VIEW_TAG`]), for the same reason.
//!
//! A VIEW-CHANGE's signature covers its [`ViewChangeDigest`] (each prepared block by its
//! header), so a NEW-VIEW carries its quorum of VIEW-CHANGEs as digests ([`ViewChangeProof`])
//! and each re-proposed block once, in O: the largest NEW-VIEW is about one window of blocks,
//! not a quorum of windows ([`max_view_change_bytes`], [`max_new_view_bytes`]).
//!
//! The proofs carried inside VIEW-CHANGE and NEW-VIEW ([`PreparedCertificate`],
//! [`CheckpointProof`], [`ViewChangeProof`]) hold bare signatures, not nested
//! [`SignedMessage`]s: the types are not recursive, so a decoder can never be driven into
//! unbounded recursion by a crafted message.

use crate::error::ConsensusError;
use serde::{Deserialize, Serialize};
use settlenet_crypto::{Keypair, SignatureVerifier, StrictVerifier};
use settlenet_types::block::BlockHeader;
use settlenet_types::block::{VoteBody, VoteKind};
use settlenet_types::genesis::quorum;
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
    /// CHECKPOINT (§4.3): the sender executed up to a height with this state root.
    Checkpoint,
    /// VIEW-CHANGE (§4.4): the sender moves to a new view, with its proofs.
    ViewChange,
    /// NEW-VIEW (§4.4): the new primary starts its view, proven by a quorum of VIEW-CHANGEs.
    NewView,
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
    /// A CHECKPOINT (§4.3).
    Checkpoint(CheckpointBody),
    /// A VIEW-CHANGE (§4.4).
    ViewChange(ViewChangeBody),
    /// A NEW-VIEW (§4.4).
    NewView(NewViewBody),
}

impl Payload {
    /// Which message this is.
    pub fn kind(&self) -> MessageKind {
        match self {
            Payload::PrePrepare { .. } => MessageKind::PrePrepare,
            Payload::Prepare(_) => MessageKind::Prepare,
            Payload::Commit(_) => MessageKind::Commit,
            Payload::Checkpoint(_) => MessageKind::Checkpoint,
            Payload::ViewChange(_) => MessageKind::ViewChange,
            Payload::NewView(_) => MessageKind::NewView,
        }
    }

    /// The view it was sent in (the view moved to, for VIEW-CHANGE and NEW-VIEW; 0 for a
    /// CHECKPOINT, which belongs to no view).
    pub fn view(&self) -> View {
        match self {
            Payload::PrePrepare { view, .. } => *view,
            Payload::Prepare(b) | Payload::Commit(b) => b.view,
            Payload::Checkpoint(_) => View(0),
            Payload::ViewChange(b) => b.view,
            Payload::NewView(b) => b.view,
        }
    }

    /// The height (sequence number) it is about (the checkpoint's height for CHECKPOINT and
    /// VIEW-CHANGE, 0 for NEW-VIEW).
    pub fn height(&self) -> Height {
        match self {
            Payload::PrePrepare { block, .. } => block.header.height,
            Payload::Prepare(b) | Payload::Commit(b) => b.height,
            Payload::Checkpoint(b) => b.height,
            Payload::ViewChange(b) => b.checkpoint.height,
            Payload::NewView(_) => Height(0),
        }
    }

    /// The block hash it refers to (computed from the header for a PRE-PREPARE).
    pub fn block_hash(&self) -> Result<Hash, ConsensusError> {
        match self {
            Payload::PrePrepare { block, .. } => Ok(block.header.hash()?),
            Payload::Prepare(b) | Payload::Commit(b) => Ok(b.block_hash),
            Payload::Checkpoint(_) | Payload::ViewChange(_) | Payload::NewView(_) => Err(
                ConsensusError::Malformed(format!("{:?} names no block", self.kind())),
            ),
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
        self.verify_by(chain_id, validators, &StrictVerifier::new())
    }

    /// [`SignedMessage::verify`] with signatures checked by `verifier` (the replica's; a
    /// node's network gate calls it off the consensus loop with the replica's memoising
    /// verifier, so the replica's own check is then a memo hit).
    pub fn verify_by(
        &self,
        chain_id: &str,
        validators: &[PublicKey],
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), ConsensusError> {
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
                let expected = if self.payload.kind() == MessageKind::Commit {
                    VoteKind::Commit
                } else {
                    VoteKind::Prepare
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
            Payload::Checkpoint(body) => {
                check_tagged(
                    body.tag,
                    CHECKPOINT_TAG,
                    "checkpoint",
                    &body.chain_id,
                    chain_id,
                )?;
                body.signing_message()?
            }
            Payload::ViewChange(body) => {
                check_tagged(
                    body.tag,
                    VIEW_CHANGE_TAG,
                    "view-change",
                    &body.chain_id,
                    chain_id,
                )?;
                body.signing_message()?
            }
            Payload::NewView(body) => {
                check_tagged(body.tag, NEW_VIEW_TAG, "new-view", &body.chain_id, chain_id)?;
                body.signing_message()?
            }
        };
        verifier
            .verify(key, &signing_message, &self.signature)
            .map_err(|e| ConsensusError::BadSignature {
                from: self.from,
                reason: e.to_string(),
            })?;
        match &self.payload {
            Payload::PrePrepare { block, .. } => block
                .check_body()
                .map_err(|e| ConsensusError::BadBlock(e.to_string()))?,
            Payload::ViewChange(body) => body.check_by(chain_id, validators, verifier)?,
            Payload::NewView(body) => {
                body.check_with_by(chain_id, validators, |_| false, verifier)?
            }
            _ => {}
        }
        Ok(())
    }

    /// [`SignedMessage::verify`] for a NEW-VIEW, skipping the VIEW-CHANGEs `verified` accepts
    /// (already verified by the caller, e.g. received and checked individually).
    pub fn verify_new_view(
        &self,
        chain_id: &str,
        validators: &[PublicKey],
        verified: impl Fn(&ViewChangeProof) -> bool,
    ) -> Result<(), ConsensusError> {
        self.verify_new_view_by(chain_id, validators, verified, &StrictVerifier::new())
    }

    /// [`SignedMessage::verify_new_view`] with signatures checked by `verifier`.
    pub(crate) fn verify_new_view_by(
        &self,
        chain_id: &str,
        validators: &[PublicKey],
        verified: impl Fn(&ViewChangeProof) -> bool,
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), ConsensusError> {
        let Payload::NewView(body) = &self.payload else {
            return Err(ConsensusError::Malformed("not a NEW-VIEW".into()));
        };
        if body.tag != NEW_VIEW_TAG {
            return Err(ConsensusError::Malformed("new-view tag".into()));
        }
        if body.chain_id != chain_id {
            return Err(ConsensusError::WrongChain {
                expected: chain_id.to_string(),
                got: body.chain_id.clone(),
            });
        }
        check_signature(
            verifier,
            validators,
            self.from,
            &body.signing_message()?,
            &self.signature,
        )?;
        body.check_with_by(chain_id, validators, verified, verifier)
    }

    /// Sign a CHECKPOINT (§4.3) for `height` with `state_root`.
    pub fn checkpoint(
        chain_id: &str,
        height: Height,
        state_root: Hash,
        from: ReplicaId,
        key: &Keypair,
    ) -> Result<SignedMessage, ConsensusError> {
        let body = CheckpointBody::new(chain_id, height, state_root);
        let signature = key.sign(&body.signing_message()?);
        Ok(SignedMessage {
            from,
            payload: Payload::Checkpoint(body),
            signature,
        })
    }

    /// Sign a VIEW-CHANGE (§4.4).
    pub fn view_change(
        body: ViewChangeBody,
        from: ReplicaId,
        key: &Keypair,
    ) -> Result<SignedMessage, ConsensusError> {
        let signature = key.sign(&body.signing_message()?);
        Ok(SignedMessage {
            from,
            payload: Payload::ViewChange(body),
            signature,
        })
    }

    /// Sign a NEW-VIEW (§4.4).
    pub fn new_view(
        body: NewViewBody,
        from: ReplicaId,
        key: &Keypair,
    ) -> Result<SignedMessage, ConsensusError> {
        let signature = key.sign(&body.signing_message()?);
        Ok(SignedMessage {
            from,
            payload: Payload::NewView(body),
            signature,
        })
    }
}

/// First field of every [`CheckpointBody`] (ASCII "CHKP").
pub const CHECKPOINT_TAG: u32 = 0x4348_4b50;
/// First field of every [`ViewChangeBody`] (ASCII "VCHG").
pub const VIEW_CHANGE_TAG: u32 = 0x5643_4847;
/// First field of every [`NewViewBody`] (ASCII "NVEW").
pub const NEW_VIEW_TAG: u32 = 0x4e56_4557;

/// The primary of `view` among `n` validators: `view mod n` (§4.1).
pub fn primary_of(view: View, n: usize) -> ReplicaId {
    // n <= 65536 (checked by `Replica::new`), so the remainder fits a u16.
    ReplicaId((view.0 % n.max(1) as u64) as u16)
}

fn key_of(validators: &[PublicKey], r: ReplicaId) -> Result<&PublicKey, ConsensusError> {
    validators
        .get(usize::from(r.0))
        .ok_or(ConsensusError::UnknownSender(r))
}

fn check_signature(
    verifier: &dyn SignatureVerifier,
    validators: &[PublicKey],
    r: ReplicaId,
    message: &[u8],
    signature: &Signature,
) -> Result<(), ConsensusError> {
    verifier
        .verify(key_of(validators, r)?, message, signature)
        .map_err(|e| ConsensusError::BadSignature {
            from: r,
            reason: e.to_string(),
        })
}

/// Signers must be distinct and sorted (one encoding per proof, no replica counted twice).
fn check_sorted(signers: impl Iterator<Item = ReplicaId>) -> Result<(), ConsensusError> {
    let mut last: Option<ReplicaId> = None;
    for r in signers {
        if last.is_some_and(|l| l >= r) {
            return Err(ConsensusError::Malformed(
                "signers not strictly increasing".into(),
            ));
        }
        last = Some(r);
    }
    Ok(())
}

/// The signed content of a CHECKPOINT (§4.3).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CheckpointBody {
    /// Always [`CHECKPOINT_TAG`].
    pub tag: u32,
    /// Chain id.
    pub chain_id: String,
    /// The checkpointed height (a multiple of the checkpoint interval).
    pub height: Height,
    /// The ledger state root after executing `height`.
    pub state_root: Hash,
}

impl CheckpointBody {
    /// The body for (`height`, `state_root`) on `chain_id`.
    pub fn new(chain_id: &str, height: Height, state_root: Hash) -> CheckpointBody {
        CheckpointBody {
            tag: CHECKPOINT_TAG,
            chain_id: chain_id.to_string(),
            height,
            state_root,
        }
    }

    /// The exact bytes a replica signs.
    pub fn signing_message(&self) -> Result<Vec<u8>, ConsensusError> {
        Ok(Domain::Consensus.message(&encode("checkpoint", self)?))
    }
}

/// A stable checkpoint's proof (§4.3): a quorum of CHECKPOINT signatures on one
/// (height, state root). Height 0 (the genesis) needs no signatures.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CheckpointProof {
    /// The height.
    pub height: Height,
    /// The state root after executing it.
    pub state_root: Hash,
    /// CHECKPOINT signatures, sorted by replica, no replica twice.
    pub signatures: Vec<(ReplicaId, Signature)>,
}

impl CheckpointProof {
    /// The genesis checkpoint: height 0, no proof needed.
    pub fn genesis() -> CheckpointProof {
        CheckpointProof {
            height: Height(0),
            state_root: Hash::ZERO,
            signatures: Vec::new(),
        }
    }

    /// Check the proof against the genesis keys.
    pub fn verify(&self, chain_id: &str, validators: &[PublicKey]) -> Result<(), ConsensusError> {
        self.verify_by(chain_id, validators, &StrictVerifier::new())
    }

    /// [`CheckpointProof::verify`] with signatures checked by `verifier`.
    pub(crate) fn verify_by(
        &self,
        chain_id: &str,
        validators: &[PublicKey],
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), ConsensusError> {
        if self.height == Height(0) {
            return if self.signatures.is_empty() {
                Ok(())
            } else {
                Err(ConsensusError::Malformed(
                    "genesis checkpoint has signatures".into(),
                ))
            };
        }
        if self.signatures.len() < quorum(validators.len()) {
            return Err(ConsensusError::Malformed(
                "checkpoint proof below quorum".into(),
            ));
        }
        check_sorted(self.signatures.iter().map(|(r, _)| *r))?;
        let message =
            CheckpointBody::new(chain_id, self.height, self.state_root).signing_message()?;
        for (r, signature) in &self.signatures {
            check_signature(verifier, validators, *r, &message, signature)?;
        }
        Ok(())
    }
}

/// A prepared certificate (§4.4's P set entry): the PRE-PREPARE of `block` in `view` plus
/// quorum-1 matching PREPAREs from distinct backups, as bare signatures.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PreparedCertificate {
    /// The view the block was prepared in.
    pub view: View,
    /// The block (its height is the sequence number).
    pub block: Block,
    /// The primary of `view`'s PRE-PREPARE signature.
    pub pre_prepare_signature: Signature,
    /// PREPARE signatures from backups (never the primary), sorted by replica.
    pub prepares: Vec<(ReplicaId, Signature)>,
}

impl PreparedCertificate {
    /// The height.
    pub fn height(&self) -> Height {
        self.block.header.height
    }

    /// Check the certificate; returns the block hash.
    pub fn verify(&self, chain_id: &str, validators: &[PublicKey]) -> Result<Hash, ConsensusError> {
        self.verify_by(chain_id, validators, &StrictVerifier::new())
    }

    /// [`PreparedCertificate::verify`] with signatures checked by `verifier`.
    pub(crate) fn verify_by(
        &self,
        chain_id: &str,
        validators: &[PublicKey],
        verifier: &dyn SignatureVerifier,
    ) -> Result<Hash, ConsensusError> {
        let block_hash = check_prepared(
            chain_id,
            validators,
            verifier,
            self.view,
            &self.block.header,
            &self.pre_prepare_signature,
            &self.prepares,
        )?;
        self.block
            .check_body()
            .map_err(|e| ConsensusError::BadBlock(e.to_string()))?;
        Ok(block_hash)
    }

    /// The certificate with the block's header only (what the signature of a VIEW-CHANGE
    /// covers, and what a NEW-VIEW carries).
    pub fn digest(&self) -> PreparedDigest {
        PreparedDigest {
            view: self.view,
            header: self.block.header.clone(),
            pre_prepare_signature: self.pre_prepare_signature,
            prepares: self.prepares.clone(),
        }
    }
}

/// A prepared certificate with the block's header instead of the whole block: the header
/// commits to the transactions (`tx_root`) and its hash is what the signatures are on, so it
/// proves as much as the certificate; the block itself travels once, in the NEW-VIEW's O.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PreparedDigest {
    /// The view the block was prepared in.
    pub view: View,
    /// The block's header (its height is the sequence number).
    pub header: BlockHeader,
    /// The primary of `view`'s PRE-PREPARE signature.
    pub pre_prepare_signature: Signature,
    /// PREPARE signatures from backups (never the primary), sorted by replica.
    pub prepares: Vec<(ReplicaId, Signature)>,
}

impl PreparedDigest {
    /// The height.
    pub fn height(&self) -> Height {
        self.header.height
    }
}

/// The checks of a prepared certificate on its header: chain, a quorum of distinct backups'
/// PREPAREs and the primary's PRE-PREPARE, all on the header's hash. Returns the hash.
fn check_prepared(
    chain_id: &str,
    validators: &[PublicKey],
    verifier: &dyn SignatureVerifier,
    view: View,
    header: &BlockHeader,
    pre_prepare_signature: &Signature,
    prepares: &[(ReplicaId, Signature)],
) -> Result<Hash, ConsensusError> {
    let n = validators.len();
    let primary = primary_of(view, n);
    let height = header.height;
    if header.chain_id != chain_id {
        return Err(ConsensusError::WrongChain {
            expected: chain_id.to_string(),
            got: header.chain_id.clone(),
        });
    }
    let block_hash = header.hash()?;
    if prepares.len() + 1 < quorum(n) {
        return Err(ConsensusError::Malformed(
            "prepared certificate below quorum".into(),
        ));
    }
    check_sorted(prepares.iter().map(|(r, _)| *r))?;
    if prepares.iter().any(|(r, _)| *r == primary) {
        return Err(ConsensusError::Malformed(
            "prepared certificate counts the primary's PREPARE".into(),
        ));
    }
    let pp = PrePrepareBody::new(chain_id, view, height, block_hash).signing_message()?;
    check_signature(verifier, validators, primary, &pp, pre_prepare_signature)?;
    let vote = VoteBody {
        kind: VoteKind::Prepare,
        chain_id: chain_id.to_string(),
        view,
        height,
        block_hash,
    }
    .signing_message()?;
    for (r, signature) in prepares {
        check_signature(verifier, validators, *r, &vote, signature)?;
    }
    Ok(block_hash)
}

/// The signed content of a VIEW-CHANGE (§4.4): "VIEW-CHANGE, v+1, n, C, P, i".
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ViewChangeBody {
    /// Always [`VIEW_CHANGE_TAG`].
    pub tag: u32,
    /// Chain id.
    pub chain_id: String,
    /// The view the sender moves to.
    pub view: View,
    /// The sender's last stable checkpoint with its proof (C and n in the paper).
    pub checkpoint: CheckpointProof,
    /// Prepared certificates for heights above the checkpoint, strictly increasing by height,
    /// each from a view below `view` (P in the paper).
    pub prepared: Vec<PreparedCertificate>,
}

impl ViewChangeBody {
    /// The exact bytes a replica signs: those of its [`ViewChangeDigest`], so that the same
    /// signature proves the VIEW-CHANGE in full (sent to every replica) and in digest form
    /// (carried by a NEW-VIEW).
    pub fn signing_message(&self) -> Result<Vec<u8>, ConsensusError> {
        self.digest().signing_message()
    }

    /// The body with each prepared certificate's block reduced to its header.
    pub fn digest(&self) -> ViewChangeDigest {
        ViewChangeDigest {
            tag: self.tag,
            chain_id: self.chain_id.clone(),
            view: self.view,
            checkpoint: self.checkpoint.clone(),
            prepared: self
                .prepared
                .iter()
                .map(PreparedCertificate::digest)
                .collect(),
        }
    }

    /// Check the proofs inside (not the outer signature).
    pub fn check(&self, chain_id: &str, validators: &[PublicKey]) -> Result<(), ConsensusError> {
        self.check_by(chain_id, validators, &StrictVerifier::new())
    }

    /// [`ViewChangeBody::check`] with signatures checked by `verifier`.
    pub(crate) fn check_by(
        &self,
        chain_id: &str,
        validators: &[PublicKey],
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), ConsensusError> {
        self.checkpoint.verify_by(chain_id, validators, verifier)?;
        check_prepared_order(
            self.checkpoint.height,
            self.view,
            self.prepared.iter().map(|c| (c.height(), c.view)),
        )?;
        for cert in &self.prepared {
            cert.verify_by(chain_id, validators, verifier)?;
        }
        Ok(())
    }
}

/// Prepared certificates are above the checkpoint, strictly increasing by height, each from a
/// view below the VIEW-CHANGE's.
fn check_prepared_order(
    checkpoint: Height,
    view: View,
    certs: impl Iterator<Item = (Height, View)>,
) -> Result<(), ConsensusError> {
    let mut last = checkpoint;
    for (height, cert_view) in certs {
        if height <= last {
            return Err(ConsensusError::Malformed(
                "prepared certificates not above the checkpoint and increasing".into(),
            ));
        }
        last = height;
        if cert_view >= view {
            return Err(ConsensusError::Malformed(
                "prepared certificate from a view not below the new one".into(),
            ));
        }
    }
    Ok(())
}

/// A VIEW-CHANGE body with its prepared certificates as [`PreparedDigest`]s: what the
/// sender signs, and what a NEW-VIEW carries (so a NEW-VIEW holds each re-proposed block
/// once, in O, instead of once per VIEW-CHANGE that prepared it).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ViewChangeDigest {
    /// Always [`VIEW_CHANGE_TAG`].
    pub tag: u32,
    /// Chain id.
    pub chain_id: String,
    /// The view the sender moves to.
    pub view: View,
    /// The sender's last stable checkpoint with its proof.
    pub checkpoint: CheckpointProof,
    /// The prepared certificates, by header.
    pub prepared: Vec<PreparedDigest>,
}

impl ViewChangeDigest {
    /// The exact bytes the sender signed.
    pub fn signing_message(&self) -> Result<Vec<u8>, ConsensusError> {
        Ok(Domain::Consensus.message(&encode("view-change", self)?))
    }

    /// Check the proofs inside (not the outer signature): the checkpoint, and each
    /// certificate's signatures on its header.
    pub(crate) fn check_by(
        &self,
        chain_id: &str,
        validators: &[PublicKey],
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), ConsensusError> {
        self.checkpoint.verify_by(chain_id, validators, verifier)?;
        check_prepared_order(
            self.checkpoint.height,
            self.view,
            self.prepared.iter().map(|c| (c.height(), c.view)),
        )?;
        for cert in &self.prepared {
            check_prepared(
                chain_id,
                validators,
                verifier,
                cert.view,
                &cert.header,
                &cert.pre_prepare_signature,
                &cert.prepares,
            )?;
        }
        Ok(())
    }
}

/// A VIEW-CHANGE as carried inside a NEW-VIEW: sender, body, signature.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SignedViewChange {
    /// Who sent it.
    pub from: ReplicaId,
    /// What it says.
    pub body: ViewChangeBody,
    /// `from`'s signature over `body`.
    pub signature: Signature,
}

impl SignedViewChange {
    /// The VIEW-CHANGE in the form a NEW-VIEW carries.
    pub fn proof(&self) -> ViewChangeProof {
        ViewChangeProof {
            from: self.from,
            body: self.body.digest(),
            signature: self.signature,
        }
    }
}

/// A VIEW-CHANGE as carried inside a NEW-VIEW: sender, digest body, signature (valid for the
/// full body too: both sign the digest).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ViewChangeProof {
    /// Who sent it.
    pub from: ReplicaId,
    /// What it says, certificates by header.
    pub body: ViewChangeDigest,
    /// `from`'s signature over `body`.
    pub signature: Signature,
}

/// A PRE-PREPARE as carried inside a NEW-VIEW (O in the paper): the block and the new
/// primary's PRE-PREPARE signature for (view, height, hash).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Reproposal {
    /// The block: a prepared block with its original header, or a null block.
    pub block: Block,
    /// The new primary's PRE-PREPARE signature.
    pub signature: Signature,
}

/// The signed content of a NEW-VIEW (§4.4): "NEW-VIEW, v+1, V, O".
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct NewViewBody {
    /// Always [`NEW_VIEW_TAG`].
    pub tag: u32,
    /// Chain id.
    pub chain_id: String,
    /// The new view.
    pub view: View,
    /// A quorum of VIEW-CHANGEs for `view` from distinct replicas, sorted by sender (V), in
    /// digest form: the blocks they prepared travel once, in `pre_prepares`.
    pub view_changes: Vec<ViewChangeProof>,
    /// The re-proposals for every height in the range V determines, in height order (O).
    pub pre_prepares: Vec<Reproposal>,
}

impl NewViewBody {
    /// The exact bytes the new primary signs.
    pub fn signing_message(&self) -> Result<Vec<u8>, ConsensusError> {
        Ok(Domain::Consensus.message(&encode("new-view", self)?))
    }

    /// Check V (a quorum of valid VIEW-CHANGEs for this view from distinct replicas) and the
    /// signatures in O. Whether O is the right one for V is the replica's check (it needs the
    /// configuration).
    pub fn check(&self, chain_id: &str, validators: &[PublicKey]) -> Result<(), ConsensusError> {
        self.check_with(chain_id, validators, |_| false)
    }

    /// [`NewViewBody::check`], skipping the (costly) proof checks of VIEW-CHANGEs for which
    /// `verified` is true: the caller already verified exactly those.
    pub fn check_with(
        &self,
        chain_id: &str,
        validators: &[PublicKey],
        verified: impl Fn(&ViewChangeProof) -> bool,
    ) -> Result<(), ConsensusError> {
        self.check_with_by(chain_id, validators, verified, &StrictVerifier::new())
    }

    /// [`NewViewBody::check_with`] with signatures checked by `verifier`.
    pub(crate) fn check_with_by(
        &self,
        chain_id: &str,
        validators: &[PublicKey],
        verified: impl Fn(&ViewChangeProof) -> bool,
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), ConsensusError> {
        if self.view_changes.len() < quorum(validators.len()) {
            return Err(ConsensusError::Malformed(
                "new-view with fewer than a quorum of view-changes".into(),
            ));
        }
        check_sorted(self.view_changes.iter().map(|v| v.from))?;
        for vc in &self.view_changes {
            if vc.body.view != self.view || vc.body.tag != VIEW_CHANGE_TAG {
                return Err(ConsensusError::Malformed(
                    "view-change for another view inside new-view".into(),
                ));
            }
            if vc.body.chain_id != chain_id {
                return Err(ConsensusError::WrongChain {
                    expected: chain_id.to_string(),
                    got: vc.body.chain_id.clone(),
                });
            }
            if verified(vc) {
                continue;
            }
            check_signature(
                verifier,
                validators,
                vc.from,
                &vc.body.signing_message()?,
                &vc.signature,
            )?;
            vc.body.check_by(chain_id, validators, verifier)?;
        }
        let primary = primary_of(self.view, validators.len());
        for re in &self.pre_prepares {
            let header = &re.block.header;
            if header.chain_id != chain_id {
                return Err(ConsensusError::WrongChain {
                    expected: chain_id.to_string(),
                    got: header.chain_id.clone(),
                });
            }
            let body = PrePrepareBody::new(chain_id, self.view, header.height, header.hash()?);
            check_signature(
                verifier,
                validators,
                primary,
                &body.signing_message()?,
                &re.signature,
            )?;
            re.block
                .check_body()
                .map_err(|e| ConsensusError::BadBlock(e.to_string()))?;
        }
        Ok(())
    }
}

/// The checks every tagged message body shares: its tag names its kind (so one kind's signed bytes
/// can never pass for another's) and its chain id is ours.
fn check_tagged(
    tag: u32,
    expected_tag: u32,
    what: &str,
    body_chain: &str,
    chain_id: &str,
) -> Result<(), ConsensusError> {
    if tag != expected_tag {
        return Err(ConsensusError::Malformed(format!("{what} tag")));
    }
    if body_chain != chain_id {
        return Err(ConsensusError::WrongChain {
            expected: chain_id.to_string(),
            got: body_chain.to_string(),
        });
    }
    Ok(())
}

// ---- The largest messages, in encoded bytes (bincode, fixed-width integers: a `Vec` or
// ---- `String` is an 8-byte length and its items, an enum a 4-byte variant index).

/// A block header at its largest (the longest chain id).
pub const HEADER_MAX_BYTES: u64 =
    2 + (8 + settlenet_types::CHAIN_ID_MAX_LEN as u64) + 8 + 8 + 2 + 4 + 32 + 8 + 32;
/// What a [`SignedMessage`] adds to its payload's body: sender, variant index, signature.
const SIGNED_MESSAGE_OVERHEAD: u64 = 2 + 4 + 64;
/// A tagged body's common prefix: tag, chain id at its longest, view.
const TAGGED_PREFIX_BYTES: u64 = 4 + 8 + settlenet_types::CHAIN_ID_MAX_LEN as u64 + 8;

/// `n` (replica, signature) pairs in a vector.
fn signatures_bytes(n: u64) -> u64 {
    8 + n * (2 + 64)
}

/// A VIEW-CHANGE body's fixed part: tag, chain, view, a checkpoint proof signed by all `n`,
/// the certificates' vector length.
fn view_change_prefix_bytes(n: u64) -> u64 {
    TAGGED_PREFIX_BYTES + (8 + 32 + signatures_bytes(n)) + 8
}

/// The largest VIEW-CHANGE message among `n` validators with a log window of `log_window`
/// heights (its most prepared certificates) and blocks of at most `block_max_bytes` encoded.
pub fn max_view_change_bytes(n: u64, log_window: u64, block_max_bytes: u64) -> u64 {
    let certificate = 8 + block_max_bytes + 64 + signatures_bytes(n);
    SIGNED_MESSAGE_OVERHEAD + view_change_prefix_bytes(n) + log_window * certificate
}

/// The largest NEW-VIEW message: `n` VIEW-CHANGEs in digest form (at most `n` are accepted)
/// and O, at most `log_window` re-proposed blocks with the new primary's signatures.
pub fn max_new_view_bytes(n: u64, log_window: u64, block_max_bytes: u64) -> u64 {
    let digest = 8 + HEADER_MAX_BYTES + 64 + signatures_bytes(n);
    let proof = 2 + view_change_prefix_bytes(n) + log_window * digest + 64;
    SIGNED_MESSAGE_OVERHEAD
        + TAGGED_PREFIX_BYTES
        + 8
        + n * proof
        + 8
        + log_window * (block_max_bytes + 64)
}

/// The largest PRE-PREPARE message: a view and a block.
pub fn max_pre_prepare_bytes(block_max_bytes: u64) -> u64 {
    SIGNED_MESSAGE_OVERHEAD + 8 + block_max_bytes
}
