//! Counters for metrics and tests: [`ReplicaStats`], and [`DropReason`], why a peer message
//! was dropped.

use crate::error::ConsensusError;
use std::collections::BTreeMap;

/// Why a peer message was dropped (the key of [`ReplicaStats::dropped`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// `message.from` differs from the transport's authenticated sender.
    FromMismatch,
    /// The sender is not a validator.
    UnknownSender,
    /// The message claims to come from this replica.
    FromSelf,
    /// Structurally wrong (vote kind does not match the message kind, unencodable).
    Malformed,
    /// Another chain id.
    WrongChain,
    /// The signature does not verify.
    BadSignature,
    /// A PRE-PREPARE whose block does not commit to its transactions.
    BadBlock,
    /// Sent in another view than ours.
    WrongView,
    /// At or below the last committed height.
    Stale,
    /// Above the window (it may trigger [`Output::Behind`](crate::Output::Behind)).
    AboveWindow,
    /// A PRE-PREPARE from a replica that is not the primary of its view.
    NotFromPrimary,
    /// A PREPARE from the primary (its PRE-PREPARE stands for its PREPARE, §4.2).
    PrepareFromPrimary,
    /// The same message (or the same vote) again.
    Duplicate,
    /// A validly signed message conflicting with one already kept (evidence is emitted once).
    Conflicting,
    /// A VIEW-CHANGE or NEW-VIEW whose proofs are wrong (O does not follow from V, ...).
    InvalidProof,
    /// A message for a view we are not active in could not be buffered (per-sender cap).
    BufferFull,
    /// A PRE-PREPARE at a height the current view's NEW-VIEW already decided.
    DecidedByNewView,
    /// A PRE-PREPARE whose block is larger than the genesis `block_max_bytes`.
    Oversized,
    /// A message for a view more than `BUFFER_VIEWS_AHEAD` above ours.
    TooFarAhead,
}

impl DropReason {
    /// Every reason, for exporting metrics.
    pub const ALL: [DropReason; 19] = [
        DropReason::FromMismatch,
        DropReason::UnknownSender,
        DropReason::FromSelf,
        DropReason::Malformed,
        DropReason::WrongChain,
        DropReason::BadSignature,
        DropReason::BadBlock,
        DropReason::WrongView,
        DropReason::Stale,
        DropReason::AboveWindow,
        DropReason::NotFromPrimary,
        DropReason::PrepareFromPrimary,
        DropReason::Duplicate,
        DropReason::Conflicting,
        DropReason::InvalidProof,
        DropReason::BufferFull,
        DropReason::DecidedByNewView,
        DropReason::Oversized,
        DropReason::TooFarAhead,
    ];

    /// A stable snake_case name, for metric labels.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::FromMismatch => "from_mismatch",
            DropReason::UnknownSender => "unknown_sender",
            DropReason::FromSelf => "from_self",
            DropReason::Malformed => "malformed",
            DropReason::WrongChain => "wrong_chain",
            DropReason::BadSignature => "bad_signature",
            DropReason::BadBlock => "bad_block",
            DropReason::WrongView => "wrong_view",
            DropReason::Stale => "stale",
            DropReason::AboveWindow => "above_window",
            DropReason::NotFromPrimary => "not_from_primary",
            DropReason::PrepareFromPrimary => "prepare_from_primary",
            DropReason::Duplicate => "duplicate",
            DropReason::Conflicting => "conflicting",
            DropReason::InvalidProof => "invalid_proof",
            DropReason::BufferFull => "buffer_full",
            DropReason::DecidedByNewView => "decided_by_new_view",
            DropReason::Oversized => "oversized",
            DropReason::TooFarAhead => "too_far_ahead",
        }
    }

    pub(super) fn of(error: &ConsensusError) -> DropReason {
        match error {
            ConsensusError::UnknownSender(_) => DropReason::UnknownSender,
            ConsensusError::WrongChain { .. } => DropReason::WrongChain,
            ConsensusError::BadSignature { .. } => DropReason::BadSignature,
            ConsensusError::BadBlock(_) => DropReason::BadBlock,
            ConsensusError::InvalidConfig(_)
            | ConsensusError::Malformed(_)
            | ConsensusError::Types(_) => DropReason::Malformed,
        }
    }
}

/// Counters, for metrics and tests. All are totals since the replica was created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaStats {
    /// Peer messages dropped, by reason (reasons never seen are absent).
    pub dropped: BTreeMap<DropReason, u64>,
    /// Heights emitted as [`Output::Committed`](crate::Output::Committed).
    pub committed: u64,
    /// [`Output::Evidence`](crate::Output::Evidence) emitted.
    pub evidence: u64,
    /// [`Output::Behind`](crate::Output::Behind) emitted.
    pub behind: u64,
    /// Proposals the node answered invalid (no PREPARE was sent for them).
    pub proposals_rejected: u64,
    /// Verdicts that matched no pending proposal (late, duplicated, or for a forgotten height).
    pub verdicts_ignored: u64,
    /// [`Input::Propose`](crate::Input::Propose) refused: not primary, window full, wrong height or
    /// chain, bad body.
    pub proposals_refused: u64,
    /// [`Input::SyncedTo`](crate::Input::SyncedTo) at or below the last committed height, or
    /// absurdly high (ignored).
    pub syncs_ignored: u64,
    /// Own messages that could not be signed (encoding beyond the size limit); should stay 0.
    pub internal_errors: u64,
    /// View changes started (VIEW-CHANGE sent).
    pub view_changes: u64,
    /// NEW-VIEWs installed.
    pub new_views: u64,
    /// Checkpoints that became stable.
    pub stable_checkpoints: u64,
    /// Timeouts for a timer that was not running (late or duplicated).
    pub timeouts_ignored: u64,
    /// Messages for a future view buffered until its NEW-VIEW.
    pub buffered: u64,
}

impl ReplicaStats {
    /// How many messages were dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(&reason).copied().unwrap_or(0)
    }

    /// How many messages were dropped in all.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}
