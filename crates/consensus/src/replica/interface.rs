//! What the node and the replica exchange: the [`Input`]s the node feeds in, the [`Output`]s
//! it must carry out, the [`WalEntry`]s it logs, and the [`TimerKind`]s it runs.

use crate::message::{CheckpointProof, PreparedCertificate, SignedMessage};
use serde::{Deserialize, Serialize};
use settlenet_types::{Block, CommitCertificate, Hash, Height, ReplicaId, Signature, View};

/// The replica's timers (one of each kind at most; a new [`Output::SetTimer`] replaces the
/// running one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TimerKind {
    /// §4.4: runs while known work is uncommitted (and while waiting for a NEW-VIEW); on
    /// expiry the replica moves to the next view.
    View,
}

/// What a replica wrote ahead of sending a vote: replayed by
/// [`Replica::restore`](crate::Replica::restore) so that a restarted replica never votes
/// differently for a (view, height) it already voted on. Encoded canonically with
/// `settlenet_types::encode`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WalEntry {
    /// Our own PRE-PREPARE (as primary).
    PrePrepare(SignedMessage),
    /// Our PREPARE, with the PRE-PREPARE it accepted.
    Prepare {
        /// The accepted PRE-PREPARE.
        pre_prepare: SignedMessage,
        /// Our PREPARE.
        prepare: SignedMessage,
    },
    /// Our COMMIT, with the prepared certificate that justified it (needed for VIEW-CHANGE).
    Commit {
        /// Our COMMIT.
        commit: SignedMessage,
        /// The certificate.
        prepared: PreparedCertificate,
    },
    /// Our VIEW-CHANGE: we left the previous view.
    ViewChange(SignedMessage),
    /// A NEW-VIEW we installed (our own as new primary, or the one we accepted).
    NewView(SignedMessage),
    /// A checkpoint became stable: the log at or below it may be truncated.
    StableCheckpoint(CheckpointProof),
}

impl WalEntry {
    /// The height the entry is about (0 for view-level entries), for the node's truncation:
    /// entries of kind PrePrepare/Prepare/Commit at or below a stable checkpoint may be dropped.
    pub fn height(&self) -> Height {
        match self {
            WalEntry::PrePrepare(m) => m.payload.height(),
            WalEntry::Prepare { prepare, .. } => prepare.payload.height(),
            WalEntry::Commit { commit, .. } => commit.payload.height(),
            WalEntry::ViewChange(_) | WalEntry::NewView(_) => Height(0),
            WalEntry::StableCheckpoint(p) => p.height,
        }
    }
}

/// What the replica is asked to process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A message from another validator, as received from the network (signature NOT yet
    /// checked: the replica checks it). `from` is the authenticated transport sender.
    Message {
        /// The sender as authenticated by the transport.
        from: ReplicaId,
        /// The message.
        message: SignedMessage,
    },
    /// The node (when this replica is primary) hands over a block it cut; `header.height` must
    /// equal [`Replica::next_proposal_height`](crate::Replica::next_proposal_height).
    Propose(Block),
    /// The node's answer to [`Output::VerifyProposal`]: the block's transactions, signatures,
    /// tx_root, timestamp and lagged state root were checked.
    ProposalVerdict {
        /// The view of the proposal.
        view: View,
        /// Its height.
        height: Height,
        /// Its header hash.
        block_hash: Hash,
        /// Whether the node accepts the block.
        valid: bool,
    },
    /// The node installed committed blocks up to this height by state transfer (with verified
    /// certificates); forget everything at or below it and continue from there.
    SyncedTo(Height),
    /// A timer set by [`Output::SetTimer`] expired.
    Timeout(TimerKind),
    /// The node knows of uncommitted work (transactions in its pool): start the view timer if
    /// it is not running. The replica treats work as pending until the next commit; the node
    /// sends this again after a commit if work remains.
    WorkPending,
    /// The node executed the block at `height`, reaching `state_root`. Every
    /// `checkpoint_interval` heights this produces a CHECKPOINT (§4.3).
    Executed {
        /// The executed height.
        height: Height,
        /// The ledger state root after it.
        state_root: Hash,
    },
}

/// What the node must do as a result of an input.
// Evidence carries two messages and is rare; boxing would change the shape the node is written
// against for no measurable gain (outputs are short-lived).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send to every other validator.
    Broadcast(SignedMessage),
    /// Send to one validator (a NEW-VIEW retransmitted to a replica still asking for it).
    Send {
        /// The recipient.
        to: ReplicaId,
        /// The message.
        message: SignedMessage,
    },
    /// Check this block before the replica PREPAREs it; answer with [`Input::ProposalVerdict`].
    VerifyProposal {
        /// The view of the proposal.
        view: View,
        /// The proposed block.
        block: Block,
    },
    /// Final: emitted exactly once per height, in strictly increasing height order, no gaps.
    Committed {
        /// The block.
        block: Block,
        /// A quorum (at least) of COMMIT signatures, sorted by replica.
        certificate: CommitCertificate,
    },
    /// At least f+1 validators sent validly signed messages at `height` or above, beyond this
    /// replica's window: the node should fetch committed blocks from peers and report
    /// [`Input::SyncedTo`].
    Behind {
        /// The height the network has at least reached (some honest validator is there).
        height: Height,
    },
    /// Two validly signed, conflicting messages from one validator for the same
    /// (view, height, kind); the first is the one kept.
    Evidence {
        /// The equivocating validator.
        replica: ReplicaId,
        /// The message the replica kept.
        first: SignedMessage,
        /// The conflicting one.
        second: SignedMessage,
    },
    /// Write this to the write-ahead log, synchronously, before carrying out any later output
    /// of the same step (all `Persist` outputs of a step come first). A failed write must stop
    /// the node.
    Persist(WalEntry),
    /// (Re)start timer `kind` to fire [`Input::Timeout`] after `after_ms`, replacing any
    /// running timer of that kind.
    SetTimer {
        /// Which timer.
        kind: TimerKind,
        /// Its duration in ms.
        after_ms: u64,
    },
    /// Stop timer `kind` (no Timeout must follow; a late one is ignored anyway).
    CancelTimer(TimerKind),
    /// A checkpoint became stable (§4.3): store it; it proves the state root at `height` and
    /// is the starting point for state transfer beyond the garbage-collection horizon.
    StableCheckpoint {
        /// The height.
        height: Height,
        /// The state root a quorum signed.
        state_root: Hash,
        /// The quorum's CHECKPOINT signatures, sorted by replica.
        proof: Vec<(ReplicaId, Signature)>,
    },
}
