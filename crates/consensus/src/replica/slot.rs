//! The log entry for one (height, view): its PRE-PREPARE, the node's verdict on the block,
//! and the PREPAREs and COMMITs collected for it.

use crate::message::{MessageKind, SignedMessage};
use settlenet_types::{Hash, ReplicaId};
use std::collections::{BTreeMap, BTreeSet};

/// The node's check of a proposal (§4.2: a backup accepts a pre-prepare only if it is valid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// [`Output::VerifyProposal`](crate::Output::VerifyProposal) emitted, no answer yet.
    Pending,
    /// Accepted (or our own proposal): we may PREPARE and COMMIT it.
    Valid,
    /// Refused: we never vote for it.
    Invalid,
}

/// A PREPARE or COMMIT kept in a slot.
#[derive(Clone, Debug)]
pub(super) struct Vote {
    /// What it votes for (copied out of the message for counting).
    pub(super) block_hash: Hash,
    /// The signed message: its signature goes into the certificate, or into evidence.
    pub(super) message: SignedMessage,
}

/// Everything known about one (view, height). Bounded: one pre-prepare, at most one PREPARE and
/// one COMMIT per validator, at most one evidence report per (validator, kind).
#[derive(Clone, Debug)]
pub(super) struct Slot {
    /// The accepted PRE-PREPARE (the first validly signed one from the primary).
    pub(super) pre_prepare: Option<SignedMessage>,
    /// Its block hash, cached: votes are matched against it.
    pub(super) block_hash: Option<Hash>,
    /// The node's verdict on the pre-prepare's block (meaningful once `pre_prepare` is set).
    pub(super) verdict: Verdict,
    /// PREPAREs by sender (own included), whatever they vote for: votes may precede the
    /// pre-prepare, and only those matching it count.
    pub(super) prepares: BTreeMap<ReplicaId, Vote>,
    /// COMMITs by sender (own included).
    pub(super) commits: BTreeMap<ReplicaId, Vote>,
    /// prepared(m, v, n, i) became true and our COMMIT went out.
    pub(super) prepared: bool,
    /// committed-local(m, v, n, i) is true; the slot waits for lower heights to be emitted.
    pub(super) committed_local: bool,
    /// Equivocations already reported, so a Byzantine sender cannot make us emit unboundedly.
    pub(super) reported: BTreeSet<(ReplicaId, MessageKind)>,
}

impl Slot {
    pub(super) fn new() -> Slot {
        Slot {
            pre_prepare: None,
            block_hash: None,
            verdict: Verdict::Pending,
            prepares: BTreeMap::new(),
            commits: BTreeMap::new(),
            prepared: false,
            committed_local: false,
            reported: BTreeSet::new(),
        }
    }

    /// Whether exactly this message is already kept (cheap check before verifying a signature).
    pub(super) fn holds(&self, message: &SignedMessage) -> bool {
        let kept = match message.payload.kind() {
            MessageKind::PrePrepare => self.pre_prepare.as_ref(),
            MessageKind::Prepare => self.prepares.get(&message.from).map(|v| &v.message),
            MessageKind::Commit => self.commits.get(&message.from).map(|v| &v.message),
            _ => None,
        };
        kept == Some(message)
    }

    pub(super) fn matching(votes: &BTreeMap<ReplicaId, Vote>, hash: &Hash) -> usize {
        votes.values().filter(|v| &v.block_hash == hash).count()
    }
}
