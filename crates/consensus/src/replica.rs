//! The replica: PBFT (Castro & Liskov OSDI'99) as a pure state machine: normal case (§4.2),
//! checkpoints and garbage collection (§4.3), view change (§4.4), and a write-ahead log of
//! its own votes for crash recovery.

use crate::error::ConsensusError;
use crate::message::{
    primary_of, CheckpointBody, CheckpointProof, MessageKind, NewViewBody, Payload, PrePrepareBody,
    PreparedCertificate, Reproposal, SignedMessage, SignedViewChange, ViewChangeBody, NEW_VIEW_TAG,
    VIEW_CHANGE_TAG,
};
use serde::{Deserialize, Serialize};
use settlenet_crypto::{Keypair, SignatureVerifier, StrictVerifier};
use settlenet_types::block::{BlockHeader, VoteBody, VoteKind, BLOCK_VERSION};
use settlenet_types::genesis::quorum;
use settlenet_types::tx::CHAIN_ID_MAX_LEN;
use settlenet_types::{
    Block, CommitCertificate, CommitSignature, Hash, Height, PublicKey, ReplicaId, Signature, View,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Largest accepted `max_in_flight`. The replica keeps up to `2 * max_in_flight` slots, each
/// holding one block, so this bounds memory whatever the configuration says.
pub const MAX_IN_FLIGHT_LIMIT: u64 = 1024;

/// Everything a replica needs to know about itself and the validator set.
#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    /// The chain id from the genesis; part of every signed message.
    pub chain_id: String,
    /// The validators' consensus keys; the index is the [`ReplicaId`].
    pub validators: Vec<PublicKey>,
    /// This replica's id; `validators[me]` must be `key.public()`.
    pub me: ReplicaId,
    /// This replica's consensus key.
    pub key: Keypair,
    /// How many heights the primary may have proposed but not committed (the genesis
    /// `ConsensusParams::max_in_flight`); 1 ..= [`MAX_IN_FLIGHT_LIMIT`].
    pub max_in_flight: u64,
    /// The view timer's first duration (after a commit), in ms; >= 1.
    pub view_timeout_ms_min: u64,
    /// The cap of the view timer's exponential backoff, in ms; >= `view_timeout_ms_min`.
    pub view_timeout_ms_max: u64,
    /// A CHECKPOINT is taken every this many heights (K in §4.3); 1 ..=
    /// [`MAX_CHECKPOINT_INTERVAL`]. Must be equal on every validator.
    pub checkpoint_interval: u64,
    /// Checks every signature the replica receives. It must answer exactly as
    /// `settlenet_crypto::verify` (strict ed25519) does; [`ReplicaConfig::new`] uses a
    /// [`StrictVerifier`] with the validators' keys decoded once. A simulator running many
    /// replicas in one process may share a memoising one among them (a message broadcast to n-1
    /// replicas is then verified once).
    pub verifier: Arc<dyn SignatureVerifier>,
}

/// Default [`ReplicaConfig::view_timeout_ms_min`].
pub const DEFAULT_VIEW_TIMEOUT_MS_MIN: u64 = 2_000;
/// Default [`ReplicaConfig::view_timeout_ms_max`] (Besu #611/#7642: the backoff is capped).
pub const DEFAULT_VIEW_TIMEOUT_MS_MAX: u64 = 30_000;
/// Default [`ReplicaConfig::checkpoint_interval`].
pub const DEFAULT_CHECKPOINT_INTERVAL: u64 = 16;
/// Largest accepted [`ReplicaConfig::checkpoint_interval`] (bounds the log).
pub const MAX_CHECKPOINT_INTERVAL: u64 = 1024;

impl ReplicaConfig {
    /// A configuration with the default timer and checkpoint settings.
    pub fn new(
        chain_id: String,
        validators: Vec<PublicKey>,
        me: ReplicaId,
        key: Keypair,
        max_in_flight: u64,
    ) -> ReplicaConfig {
        ReplicaConfig {
            verifier: Arc::new(StrictVerifier::with_keys(&validators)),
            chain_id,
            validators,
            me,
            key,
            max_in_flight,
            view_timeout_ms_min: DEFAULT_VIEW_TIMEOUT_MS_MIN,
            view_timeout_ms_max: DEFAULT_VIEW_TIMEOUT_MS_MAX,
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
        }
    }
}

/// The replica's timers (one of each kind at most; a new [`Output::SetTimer`] replaces the
/// running one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TimerKind {
    /// §4.4: runs while known work is uncommitted (and while waiting for a NEW-VIEW); on
    /// expiry the replica moves to the next view.
    View,
}

/// What a replica wrote ahead of sending a vote: replayed by [`Replica::restore`] so that a
/// restarted replica never votes differently for a (view, height) it already voted on.
/// Encoded canonically with `settlenet_types::encode`.
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

/// The null block consensus puts at a height no prepared certificate covers in a NEW-VIEW
/// (§4.4): no transactions, timestamp 0, the new primary as proposer, no state root.
pub fn null_block(chain_id: &str, height: Height, proposer: ReplicaId) -> Block {
    Block {
        header: BlockHeader {
            version: BLOCK_VERSION,
            chain_id: chain_id.to_string(),
            height,
            timestamp_ms: 0,
            proposer,
            tx_count: 0,
            tx_root: empty_tx_root(),
            state_height: Height(0),
            state_root: Hash::ZERO,
        },
        txs: Vec::new(),
    }
}

/// Whether `block` is a null block (see [`null_block`]; any proposer).
pub fn is_null(block: &Block) -> bool {
    let h = &block.header;
    block.txs.is_empty()
        && h.version == BLOCK_VERSION
        && h.tx_count == 0
        && h.timestamp_ms == 0
        && h.state_height == Height(0)
        && h.state_root == Hash::ZERO
        && h.tx_root == empty_tx_root()
}

fn empty_tx_root() -> Hash {
    // The Merkle root of no leaves cannot fail to compute (nothing to encode).
    Block::compute_tx_root(&[]).unwrap_or(Hash::ZERO)
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
    /// equal [`Replica::next_proposal_height`].
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
    /// Above the window (it may trigger [`Output::Behind`]).
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
}

impl DropReason {
    /// Every reason, for exporting metrics.
    pub const ALL: [DropReason; 17] = [
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
        }
    }

    fn of(error: &ConsensusError) -> DropReason {
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
    /// Heights emitted as [`Output::Committed`].
    pub committed: u64,
    /// [`Output::Evidence`] emitted.
    pub evidence: u64,
    /// [`Output::Behind`] emitted.
    pub behind: u64,
    /// Proposals the node answered invalid (no PREPARE was sent for them).
    pub proposals_rejected: u64,
    /// Verdicts that matched no pending proposal (late, duplicated, or for a forgotten height).
    pub verdicts_ignored: u64,
    /// [`Input::Propose`] refused: not primary, window full, wrong height or chain, bad body.
    pub proposals_refused: u64,
    /// [`Input::SyncedTo`] at or below the last committed height, or absurdly high (ignored).
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

/// The node's check of a proposal (§4.2: a backup accepts a pre-prepare only if it is valid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// [`Output::VerifyProposal`] emitted, no answer yet.
    Pending,
    /// Accepted (or our own proposal): we may PREPARE and COMMIT it.
    Valid,
    /// Refused: we never vote for it.
    Invalid,
}

/// A PREPARE or COMMIT kept in a slot.
#[derive(Clone, Debug)]
struct Vote {
    /// What it votes for (copied out of the message for counting).
    block_hash: Hash,
    /// The signed message: its signature goes into the certificate, or into evidence.
    message: SignedMessage,
}

/// Everything known about one (view, height). Bounded: one pre-prepare, at most one PREPARE and
/// one COMMIT per validator, at most one evidence report per (validator, kind).
#[derive(Clone, Debug)]
struct Slot {
    /// The accepted PRE-PREPARE (the first validly signed one from the primary).
    pre_prepare: Option<SignedMessage>,
    /// Its block hash, cached: votes are matched against it.
    block_hash: Option<Hash>,
    /// The node's verdict on the pre-prepare's block (meaningful once `pre_prepare` is set).
    verdict: Verdict,
    /// PREPAREs by sender (own included), whatever they vote for: votes may precede the
    /// pre-prepare, and only those matching it count.
    prepares: BTreeMap<ReplicaId, Vote>,
    /// COMMITs by sender (own included).
    commits: BTreeMap<ReplicaId, Vote>,
    /// prepared(m, v, n, i) became true and our COMMIT went out.
    prepared: bool,
    /// committed-local(m, v, n, i) is true; the slot waits for lower heights to be emitted.
    committed_local: bool,
    /// Equivocations already reported, so a Byzantine sender cannot make us emit unboundedly.
    reported: BTreeSet<(ReplicaId, MessageKind)>,
}

impl Slot {
    fn new() -> Slot {
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
    fn holds(&self, message: &SignedMessage) -> bool {
        let kept = match message.payload.kind() {
            MessageKind::PrePrepare => self.pre_prepare.as_ref(),
            MessageKind::Prepare => self.prepares.get(&message.from).map(|v| &v.message),
            MessageKind::Commit => self.commits.get(&message.from).map(|v| &v.message),
            _ => None,
        };
        kept == Some(message)
    }

    fn matching(votes: &BTreeMap<ReplicaId, Vote>, hash: &Hash) -> usize {
        votes.values().filter(|v| &v.block_hash == hash).count()
    }
}

/// One PBFT replica. Pure: no I/O, clock or randomness; the same inputs always give the same
/// outputs.
#[derive(Debug)]
pub struct Replica {
    /// Our chain id; every message must name it.
    chain_id: String,
    /// Validator keys by [`ReplicaId`]; n = `validators.len()`.
    validators: Vec<PublicKey>,
    /// Our id.
    me: ReplicaId,
    /// Our signing key.
    key: Keypair,
    /// Checks received signatures (answers as strict ed25519 verification does).
    verifier: Arc<dyn SignatureVerifier>,
    /// The primary proposes at most this far above `last_committed`; we accept messages up to
    /// twice as far, for replicas ahead of us.
    max_in_flight: u64,
    /// `quorum(n)`: COMMITs needed to commit; PREPAREs needed (with the pre-prepare) to prepare.
    quorum: usize,
    /// First view-timer duration (ms).
    view_timeout_ms_min: u64,
    /// Cap of the view-timer backoff (ms).
    view_timeout_ms_max: u64,
    /// K: a checkpoint every this many heights.
    checkpoint_interval: u64,
    /// L: the log window; nothing is proposed or accepted above `low() + log_window`.
    log_window: u64,
    /// The current view: the view we are active in, or the one we are changing to.
    view: View,
    /// Whether we are active in `view` (false between our VIEW-CHANGE and its NEW-VIEW).
    active: bool,
    /// The highest height emitted as Committed or installed by state transfer.
    last_committed: Height,
    /// A height the node vouches for without a checkpoint proof (the start height, or a
    /// state-transfer target); the low watermark is the higher of it and the stable checkpoint.
    base: Height,
    /// The last stable checkpoint with its proof (§4.3).
    stable: CheckpointProof,
    /// As primary, the height of our next proposal (always > `last_committed`).
    next_proposal: Height,
    /// Heights at or below this were decided by the current view's NEW-VIEW: no fresh
    /// PRE-PREPARE is accepted for them in this view.
    new_view_top: Height,
    /// Per-(height, view) state; view = `view`; heights in (low, window_top] or in the current
    /// NEW-VIEW's O range: at most 2L slots.
    slots: BTreeMap<(Height, View), Slot>,
    /// Our prepared certificates by height (the highest view each), above the stable
    /// checkpoint; at most L entries. What our VIEW-CHANGE carries.
    prepared: BTreeMap<Height, PreparedCertificate>,
    /// CHECKPOINT signatures by height, then sender: (state root, signature). Heights above the
    /// stable checkpoint, at most `checkpoint_heights_cap()` of them, one entry per sender.
    checkpoints: BTreeMap<Height, BTreeMap<ReplicaId, (Hash, Signature)>>,
    /// (height, sender) pairs whose conflicting CHECKPOINTs were reported as evidence (once
    /// each); pruned with `checkpoints`, so bounded by n per kept height.
    checkpoint_reported: BTreeSet<(Height, ReplicaId)>,
    /// Per sender, the view whose conflicting VIEW-CHANGEs were last reported as evidence (at
    /// most n entries: only a sender's latest VIEW-CHANGE is kept, so only its view can
    /// conflict).
    view_change_reported: BTreeMap<ReplicaId, View>,
    /// The latest VIEW-CHANGE per sender (ours included): at most n entries, so a Byzantine
    /// replica spamming view numbers occupies one entry (FISCO BCOS #2211).
    view_changes: BTreeMap<ReplicaId, SignedViewChange>,
    /// The NEW-VIEW we installed for `view`, for retransmission to replicas that ask.
    last_new_view: Option<SignedMessage>,
    /// Replicas we retransmitted `last_new_view` to (reset per view; at most n).
    new_view_resent: BTreeSet<ReplicaId>,
    /// Normal-case messages for a view we are not active in yet, per sender, unverified; at
    /// most `buffer_cap()` each.
    buffered: BTreeMap<ReplicaId, VecDeque<SignedMessage>>,
    /// Whether the view timer is running (as far as we told the node).
    timer_running: bool,
    /// While changing view: the timer is the NEW-VIEW timer (a quorum is in our view), not
    /// the VIEW-CHANGE retransmission timer.
    awaiting_new_view: bool,
    /// View changes since the last commit: the timer doubles with each, up to the cap.
    backoff: u32,
    /// The node reported uncommitted work since the last commit.
    work_pending: bool,
    /// Per validator, the highest height above our window it sent a valid message for
    /// (at most n entries; pruned as the window moves).
    ahead: BTreeMap<ReplicaId, Height>,
    /// The last height reported in [`Output::Behind`] (rate limit).
    last_behind: Height,
    /// Counters.
    stats: ReplicaStats,
}

impl Replica {
    /// Start after `last_committed` (0 for a fresh chain) in `view`.
    pub fn new(
        config: ReplicaConfig,
        last_committed: Height,
        view: View,
    ) -> Result<Replica, ConsensusError> {
        let bad = |s: String| Err(ConsensusError::InvalidConfig(s));
        let n = config.validators.len();
        if n == 0 || n > usize::from(u16::MAX) + 1 {
            return bad(format!("{n} validators; need 1 to 65536"));
        }
        if config.chain_id.is_empty() || config.chain_id.len() > CHAIN_ID_MAX_LEN {
            return bad(format!("chain_id must be 1 to {CHAIN_ID_MAX_LEN} bytes"));
        }
        let Some(my_key) = config.validators.get(usize::from(config.me.0)) else {
            return bad(format!("me = {} but there are {n} validators", config.me));
        };
        if *my_key != config.key.public() {
            return bad(format!(
                "validators[{}] is {}, but the key is {}",
                config.me,
                my_key,
                config.key.public()
            ));
        }
        let distinct: BTreeSet<_> = config.validators.iter().collect();
        if distinct.len() != n {
            return bad("a validator key appears twice".into());
        }
        if config.max_in_flight == 0 || config.max_in_flight > MAX_IN_FLIGHT_LIMIT {
            return bad(format!(
                "max_in_flight {} not in 1..={MAX_IN_FLIGHT_LIMIT}",
                config.max_in_flight
            ));
        }
        if config.checkpoint_interval == 0 || config.checkpoint_interval > MAX_CHECKPOINT_INTERVAL {
            return bad(format!(
                "checkpoint_interval {} not in 1..={MAX_CHECKPOINT_INTERVAL}",
                config.checkpoint_interval
            ));
        }
        if config.view_timeout_ms_min == 0
            || config.view_timeout_ms_max < config.view_timeout_ms_min
        {
            return bad("need 1 <= view_timeout_ms_min <= view_timeout_ms_max".into());
        }
        if last_committed.0 > u64::MAX / 4 || view.0 > u64::MAX / 4 {
            return bad(format!(
                "last_committed {last_committed} or view {view} is absurd"
            ));
        }
        let replica = Replica {
            chain_id: config.chain_id,
            validators: config.validators,
            me: config.me,
            key: config.key,
            verifier: config.verifier,
            max_in_flight: config.max_in_flight,
            quorum: quorum(n),
            view_timeout_ms_min: config.view_timeout_ms_min,
            view_timeout_ms_max: config.view_timeout_ms_max,
            checkpoint_interval: config.checkpoint_interval,
            // Room for two checkpoint intervals (one stabilising while the next fills) plus
            // a full pipelining window on top.
            log_window: 2 * config.checkpoint_interval + 2 * config.max_in_flight,
            view,
            active: true,
            last_committed,
            base: last_committed,
            stable: CheckpointProof::genesis(),
            next_proposal: last_committed.next(),
            new_view_top: Height(0),
            slots: BTreeMap::new(),
            prepared: BTreeMap::new(),
            checkpoints: BTreeMap::new(),
            checkpoint_reported: BTreeSet::new(),
            view_change_reported: BTreeMap::new(),
            view_changes: BTreeMap::new(),
            last_new_view: None,
            new_view_resent: BTreeSet::new(),
            buffered: BTreeMap::new(),
            timer_running: false,
            awaiting_new_view: false,
            backoff: 0,
            work_pending: false,
            ahead: BTreeMap::new(),
            last_behind: last_committed,
            stats: ReplicaStats::default(),
        };
        replica.check_invariants();
        Ok(replica)
    }

    /// Rebuild a replica after a crash: start after `last_committed` (what the node's storage
    /// holds) and replay the write-ahead log, oldest first. The result is in the latest view
    /// the log shows (active if its NEW-VIEW was installed, else waiting for it), holds the
    /// votes already cast in that view (so it never casts a different one), our prepared
    /// certificates (for the next VIEW-CHANGE) and the last stable checkpoint. No outputs:
    /// the node should send [`Input::WorkPending`] if it has work, which starts the timer.
    pub fn restore(
        config: ReplicaConfig,
        last_committed: Height,
        wal: Vec<WalEntry>,
    ) -> Result<Replica, ConsensusError> {
        let mut r = Replica::new(config, last_committed, View(0))?;
        let mut sink = Vec::new();
        for entry in wal {
            r.replay(entry, &mut sink);
            sink.clear();
        }
        // A restarted replica must not believe a timer is running.
        r.timer_running = false;
        r.check_invariants();
        Ok(r)
    }

    /// Advance the replica by one input; append what the node must do to `out`. Every
    /// [`Output::Persist`] of the step comes before the step's other outputs.
    pub fn step(&mut self, input: Input, out: &mut Vec<Output>) {
        let start = out.len();
        match input {
            Input::Message { from, message } => self.on_message(from, message, out),
            Input::Propose(block) => self.on_propose(block, out),
            Input::ProposalVerdict {
                view,
                height,
                block_hash,
                valid,
            } => self.on_verdict(view, height, block_hash, valid, out),
            Input::SyncedTo(height) => self.on_synced(height, out),
            Input::Timeout(kind) => self.on_timeout(kind, out),
            Input::WorkPending => {
                self.work_pending = true;
                self.ensure_timer(out);
            }
            Input::Executed { height, state_root } => self.on_executed(height, state_root, out),
        }
        // Write-ahead: the node writes every Persist before sending anything of this step.
        let produced = out.split_off(start);
        let (persist, rest): (Vec<Output>, Vec<Output>) = produced
            .into_iter()
            .partition(|o| matches!(o, Output::Persist(_)));
        out.extend(persist);
        out.extend(rest);
        self.check_invariants();
    }

    /// The current view (the one we are active in or changing to). Never decreases.
    pub fn view(&self) -> View {
        self.view
    }

    /// Whether the replica is active in its view (false while waiting for a NEW-VIEW).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The primary of the current view: `view mod n` (§4.1).
    pub fn primary(&self) -> ReplicaId {
        primary_of(self.view, self.validators.len())
    }

    /// Whether this replica is the primary of the current view.
    pub fn is_primary(&self) -> bool {
        self.primary() == self.me
    }

    /// The highest height emitted as Committed (or installed by [`Input::SyncedTo`]).
    pub fn last_committed(&self) -> Height {
        self.last_committed
    }

    /// The last stable checkpoint's height (0 before the first).
    pub fn stable_checkpoint(&self) -> Height {
        self.stable.height
    }

    /// If this replica is the active primary and the in-flight window has room, the height
    /// its next proposal must have.
    pub fn next_proposal_height(&self) -> Option<Height> {
        let limit = self
            .last_committed
            .0
            .saturating_add(self.max_in_flight)
            .min(self.window_top().0);
        (self.active && self.is_primary() && self.next_proposal.0 <= limit)
            .then_some(self.next_proposal)
    }

    /// Consensus time around `height` in the current view, for the node's
    /// [`check_proposal_time`](crate::check_proposal_time) and its own proposals' stamps: the
    /// largest timestamp of a block this replica accepted below `height`, and the smallest
    /// above it. "Accepted" means a pre-prepare taken from the primary (its node's verdict
    /// pending or valid, not refused), a block re-proposed by the installed NEW-VIEW, or this
    /// replica's own proposal. Null blocks (timestamp 0) carry no time and are skipped. At most
    /// 2L slots are scanned.
    pub fn accepted_times_around(&self, height: Height) -> (Option<u64>, Option<u64>) {
        let mut below: Option<u64> = None;
        let mut above: Option<u64> = None;
        for ((h, view), slot) in &self.slots {
            if *view != self.view || *h == height || slot.verdict == Verdict::Invalid {
                continue;
            }
            let Some(SignedMessage {
                payload: Payload::PrePrepare { block, .. },
                ..
            }) = &slot.pre_prepare
            else {
                continue;
            };
            if is_null(block) {
                continue;
            }
            let ts = block.header.timestamp_ms;
            if *h < height {
                below = Some(below.map_or(ts, |b| b.max(ts)));
            } else {
                above = Some(above.map_or(ts, |a| a.min(ts)));
            }
        }
        (below, above)
    }

    /// Whether the block at `height` is settled for this replica in the current view: committed
    /// (or installed by state transfer), or its pre-prepare accepted and not refused by the
    /// node (re-proposals and own proposals included). The node checks a pipelined proposal's
    /// time only once the height below it is settled, so the check sees the block it follows.
    pub fn has_accepted(&self, height: Height) -> bool {
        height <= self.last_committed
            || self
                .slots
                .get(&(height, self.view))
                .is_some_and(|s| s.pre_prepare.is_some() && s.verdict != Verdict::Invalid)
    }

    /// Counters: dropped messages by reason, commits, evidence, ...
    pub fn stats(&self) -> ReplicaStats {
        self.stats.clone()
    }

    fn f(&self) -> usize {
        (self.validators.len() - 1) / 3
    }

    /// The low watermark h (§4.3): the stable checkpoint, or the height the node vouches for.
    fn low(&self) -> Height {
        self.stable.height.max(self.base)
    }

    /// The highest height we keep state for (watermark H): a pipelining window above what we
    /// committed, and never more than L above h.
    fn window_top(&self) -> Height {
        let pipeline = self
            .last_committed
            .0
            .saturating_add(self.max_in_flight.saturating_mul(2));
        Height(pipeline.min(self.low().0.saturating_add(self.log_window)))
    }

    /// Per-sender cap on messages buffered for a view we are not active in yet.
    fn buffer_cap(&self) -> usize {
        // PRE-PREPAREs, PREPAREs and COMMITs for one pipelining window, and a little slack.
        (3 * self.max_in_flight + 4) as usize
    }

    /// Cap on the number of checkpoint heights we collect signatures for.
    fn checkpoint_heights_cap(&self) -> usize {
        (2 * self.log_window / self.checkpoint_interval + 2) as usize
    }

    /// The view timer for the current backoff: min * 2^backoff, capped (Besu #611/#7642).
    fn timeout_ms(&self) -> u64 {
        let factor = 1u64.checked_shl(self.backoff.min(63)).unwrap_or(u64::MAX);
        self.view_timeout_ms_min
            .saturating_mul(factor)
            .min(self.view_timeout_ms_max)
    }

    fn set_timer(&mut self, out: &mut Vec<Output>) {
        self.timer_running = true;
        out.push(Output::SetTimer {
            kind: TimerKind::View,
            after_ms: self.timeout_ms(),
        });
    }

    fn cancel_timer(&mut self, out: &mut Vec<Output>) {
        if self.timer_running {
            self.timer_running = false;
            out.push(Output::CancelTimer(TimerKind::View));
        }
    }

    /// §4.4: "a backup starts a timer when it receives a request and the timer is not already
    /// running". Known work here: a PRE-PREPARE we accepted, or the node's pool.
    fn ensure_timer(&mut self, out: &mut Vec<Output>) {
        if !self.timer_running {
            self.set_timer(out);
        }
    }

    /// §4.5.2: a replica waiting for a NEW-VIEW starts its NEW-VIEW timer only once a quorum
    /// of VIEW-CHANGEs for its view is in, so a replica that moved ahead alone waits for the
    /// others instead of running away from them (with a capped backoff they would never
    /// meet). Until then its timer only retransmits its VIEW-CHANGE.
    fn check_view_change_support(&mut self, out: &mut Vec<Output>) {
        if !self.active && !self.awaiting_new_view && self.view_change_support() >= self.quorum {
            self.awaiting_new_view = true;
            self.set_timer(out);
        }
    }

    /// How many replicas (us included) sent a VIEW-CHANGE for our view or a later one. (A
    /// later view counts: with one kept VIEW-CHANGE per sender, a replica that has moved past
    /// our view has passed through it or joined beyond it.)
    fn view_change_support(&self) -> usize {
        self.view_changes
            .values()
            .filter(|vc| vc.body.view >= self.view)
            .count()
    }

    /// Whether a proposal above `last_committed` is known and uncommitted.
    fn in_flight(&self) -> bool {
        self.slots
            .iter()
            .any(|((h, _), s)| *h > self.last_committed && s.pre_prepare.is_some())
    }

    fn drop(&mut self, reason: DropReason) {
        *self.stats.dropped.entry(reason).or_insert(0) += 1;
    }

    fn sign_vote(
        &mut self,
        kind: VoteKind,
        height: Height,
        block_hash: Hash,
    ) -> Option<SignedMessage> {
        let body = VoteBody {
            kind,
            chain_id: self.chain_id.clone(),
            view: self.view,
            height,
            block_hash,
        };
        match SignedMessage::vote(body, self.me, &self.key) {
            Ok(m) => Some(m),
            Err(_) => {
                self.stats.internal_errors += 1;
                None
            }
        }
    }

    fn on_message(&mut self, from: ReplicaId, message: SignedMessage, out: &mut Vec<Output>) {
        // The transport authenticated `from`; a message relayed under another name is refused.
        if message.from != from {
            return self.drop(DropReason::FromMismatch);
        }
        if usize::from(from.0) >= self.validators.len() {
            return self.drop(DropReason::UnknownSender);
        }
        if from == self.me {
            return self.drop(DropReason::FromSelf);
        }
        match message.payload.kind() {
            MessageKind::Checkpoint => return self.on_checkpoint(from, message, out),
            MessageKind::ViewChange => return self.on_view_change(from, message, out),
            MessageKind::NewView => return self.on_new_view(from, message, out),
            MessageKind::PrePrepare | MessageKind::Prepare | MessageKind::Commit => {}
        }
        let (view, height) = (message.payload.view(), message.payload.height());
        // §4.2: a replica accepts normal-case messages only for its current view.
        if view < self.view {
            return self.drop(DropReason::WrongView);
        }
        // §4.4: messages of a view we have not entered yet (its NEW-VIEW may be overtaken by
        // the new primary's first proposals) are kept, bounded per sender, until we enter it.
        if view > self.view || !self.active {
            let cap = self.buffer_cap();
            let queue = self.buffered.entry(from).or_default();
            if queue.len() >= cap {
                return self.drop(DropReason::BufferFull);
            }
            queue.push_back(message);
            self.stats.buffered += 1;
            return;
        }
        // §4.3 watermarks: at or below h is garbage-collected; at or below what we committed
        // is done, unless the current view re-proposed it (then we still vote, so that
        // replicas behind us can commit it in this view).
        if height <= self.low()
            || (height <= self.last_committed && !self.slots.contains_key(&(height, view)))
        {
            return self.drop(DropReason::Stale);
        }
        if self
            .slots
            .get(&(height, view))
            .is_some_and(|slot| slot.holds(&message))
        {
            return self.drop(DropReason::Duplicate);
        }
        if let Err(e) = message.verify_by(&self.chain_id, &self.validators, self.verifier.as_ref())
        {
            return self.drop(DropReason::of(&e));
        }
        // §4.2 watermarks: above H we keep nothing, but a validly signed message tells us
        // where the network is.
        if height > self.window_top() && !self.slots.contains_key(&(height, view)) {
            self.note_ahead(from, height, out);
            return self.drop(DropReason::AboveWindow);
        }
        match message.payload.kind() {
            MessageKind::PrePrepare => self.on_pre_prepare(from, height, message, out),
            MessageKind::Prepare => self.on_vote(VoteKind::Prepare, from, height, message, out),
            _ => self.on_vote(VoteKind::Commit, from, height, message, out),
        }
    }

    /// §4.2: a backup accepts a pre-prepare if it is in view v, signed by the primary, within
    /// the watermarks, and it has not accepted another one for (v, n) with a different digest.
    /// Acceptance here means "hand the block to the node for validation"; the PREPARE follows
    /// a valid verdict.
    fn on_pre_prepare(
        &mut self,
        from: ReplicaId,
        height: Height,
        message: SignedMessage,
        out: &mut Vec<Output>,
    ) {
        if from != self.primary() {
            return self.drop(DropReason::NotFromPrimary);
        }
        let block_hash = match message.payload.block_hash() {
            Ok(h) => h,
            Err(_) => return self.drop(DropReason::Malformed),
        };
        let view = self.view;
        let slot = self.slots.entry((height, view)).or_insert_with(Slot::new);
        if let Some(first) = &slot.pre_prepare {
            let reason = if slot.block_hash == Some(block_hash) {
                DropReason::Duplicate
            } else {
                if slot.reported.insert((from, MessageKind::PrePrepare)) {
                    out.push(Output::Evidence {
                        replica: from,
                        first: first.clone(),
                        second: message,
                    });
                    self.stats.evidence += 1;
                }
                DropReason::Conflicting
            };
            return self.drop(reason);
        }
        // §4.4: heights covered by the NEW-VIEW are decided by it (re-proposed in O, or below
        // its range and committed somewhere); a fresh PRE-PREPARE for them is refused.
        if height <= self.new_view_top {
            if slot.prepares.is_empty() && slot.commits.is_empty() {
                self.slots.remove(&(height, view));
            }
            return self.drop(DropReason::DecidedByNewView);
        }
        let Payload::PrePrepare { block, .. } = &message.payload else {
            unreachable!("on_pre_prepare is called for PRE-PREPARE payloads only");
        };
        out.push(Output::VerifyProposal {
            view,
            block: block.clone(),
        });
        slot.pre_prepare = Some(message);
        slot.block_hash = Some(block_hash);
        slot.verdict = Verdict::Pending;
        self.ensure_timer(out);
    }

    /// §4.2: PREPARE and COMMIT messages are accepted if signed, in view, within the watermarks;
    /// they are kept even before the pre-prepare arrives (the network reorders). One vote per
    /// sender and kind; a different second one is equivocation.
    fn on_vote(
        &mut self,
        kind: VoteKind,
        from: ReplicaId,
        height: Height,
        message: SignedMessage,
        out: &mut Vec<Output>,
    ) {
        // §4.2: the primary's PRE-PREPARE stands for its PREPARE; backups do not count a
        // PREPARE from it.
        if kind == VoteKind::Prepare && from == self.primary() {
            return self.drop(DropReason::PrepareFromPrimary);
        }
        let block_hash = match &message.payload {
            Payload::Prepare(b) | Payload::Commit(b) => b.block_hash,
            _ => unreachable!("on_vote is called for votes only"),
        };
        let view = self.view;
        let slot = self.slots.entry((height, view)).or_insert_with(Slot::new);
        let (votes, message_kind) = match kind {
            VoteKind::Prepare => (&mut slot.prepares, MessageKind::Prepare),
            VoteKind::Commit => (&mut slot.commits, MessageKind::Commit),
        };
        if let Some(first) = votes.get(&from) {
            let reason = if first.block_hash == block_hash {
                DropReason::Duplicate
            } else {
                if slot.reported.insert((from, message_kind)) {
                    out.push(Output::Evidence {
                        replica: from,
                        first: first.message.clone(),
                        second: message,
                    });
                    self.stats.evidence += 1;
                }
                DropReason::Conflicting
            };
            return self.drop(reason);
        }
        votes.insert(
            from,
            Vote {
                block_hash,
                message,
            },
        );
        self.advance(height, out);
    }

    /// Primary side of §4.2: assign the next sequence number to a block and multicast the
    /// PRE-PREPARE (written ahead). The primary's own proposal needs no verdict.
    fn on_propose(&mut self, block: Block, out: &mut Vec<Output>) {
        let Some(height) = self.next_proposal_height() else {
            self.stats.proposals_refused += 1;
            return;
        };
        if block.header.height != height
            || block.header.chain_id != self.chain_id
            || block.check_body().is_err()
        {
            self.stats.proposals_refused += 1;
            return;
        }
        let message = match SignedMessage::pre_prepare(
            &self.chain_id,
            self.view,
            block,
            self.me,
            &self.key,
        ) {
            Ok(m) => m,
            Err(_) => {
                self.stats.internal_errors += 1;
                return;
            }
        };
        let block_hash = match message.payload.block_hash() {
            Ok(h) => h,
            Err(_) => {
                self.stats.internal_errors += 1;
                return;
            }
        };
        let slot = self
            .slots
            .entry((height, self.view))
            .or_insert_with(Slot::new);
        // Peers' messages from the primary are dropped (FromSelf), so nobody else filled it;
        // `next_proposal` is above every height we pre-prepared in this view (restored too).
        assert!(
            slot.pre_prepare.is_none(),
            "invariant: a height is proposed once per view"
        );
        slot.pre_prepare = Some(message.clone());
        slot.block_hash = Some(block_hash);
        slot.verdict = Verdict::Valid;
        self.next_proposal = height.next();
        out.push(Output::Persist(WalEntry::PrePrepare(message.clone())));
        out.push(Output::Broadcast(message));
        self.ensure_timer(out);
        // Prepares may already be here (n = 1, or reordering).
        self.advance(height, out);
    }

    /// Backup side of §4.2: once the node has validated the block, accept the pre-prepare and
    /// multicast PREPARE (written ahead). An invalid block is never voted for.
    fn on_verdict(
        &mut self,
        view: View,
        height: Height,
        block_hash: Hash,
        valid: bool,
        out: &mut Vec<Output>,
    ) {
        let usable = self
            .slots
            .get(&(height, view))
            .is_some_and(|s| s.block_hash == Some(block_hash) && s.verdict == Verdict::Pending);
        if !usable || !self.active {
            self.stats.verdicts_ignored += 1;
            return;
        }
        if !valid {
            if let Some(slot) = self.slots.get_mut(&(height, view)) {
                slot.verdict = Verdict::Invalid;
            }
            self.stats.proposals_rejected += 1;
            return;
        }
        self.accept_and_prepare(height, out);
    }

    /// Mark the slot's pre-prepare valid and send our PREPARE for it (a backup only).
    fn accept_and_prepare(&mut self, height: Height, out: &mut Vec<Output>) {
        let view = self.view;
        let is_primary = self.is_primary();
        let Some((block_hash, pre_prepare)) = self.slots.get_mut(&(height, view)).and_then(|s| {
            s.verdict = Verdict::Valid;
            Some((s.block_hash?, s.pre_prepare.clone()?))
        }) else {
            return;
        };
        if !is_primary
            && !self
                .slots
                .get(&(height, view))
                .is_some_and(|s| s.prepares.contains_key(&self.me))
        {
            let Some(message) = self.sign_vote(VoteKind::Prepare, height, block_hash) else {
                return;
            };
            if let Some(slot) = self.slots.get_mut(&(height, view)) {
                slot.prepares.insert(
                    self.me,
                    Vote {
                        block_hash,
                        message: message.clone(),
                    },
                );
            }
            out.push(Output::Persist(WalEntry::Prepare {
                pre_prepare,
                prepare: message.clone(),
            }));
            out.push(Output::Broadcast(message));
        }
        self.advance(height, out);
    }

    /// The replica installed blocks up to `height` by state transfer: everything at or below it
    /// is settled.
    fn on_synced(&mut self, height: Height, out: &mut Vec<Output>) {
        // Heights near u64::MAX cannot come from a real chain (same bound as `new`); refusing
        // them keeps `next_proposal > last_committed` without overflow.
        if height <= self.last_committed || height.0 > u64::MAX / 4 {
            self.stats.syncs_ignored += 1;
            return;
        }
        self.last_committed = height;
        self.base = self.base.max(height);
        self.gc();
        self.next_proposal = self.next_proposal.max(height.next());
        // The next height may already be committed-local.
        self.emit_committed(out);
    }

    /// Drop everything at or below the low watermark (§4.3 garbage collection).
    fn gc(&mut self) {
        let low = self.low();
        let stable = self.stable.height;
        self.slots.retain(|(h, _), _| *h > low);
        self.prepared.retain(|h, _| *h > stable);
        while self.prepared.len() as u64 > self.log_window {
            self.prepared.pop_first();
        }
        self.checkpoints.retain(|h, _| *h > stable);
        self.checkpoint_reported.retain(|(h, _)| *h > stable);
    }

    /// Move the slot at `height` forward: prepared -> COMMIT, committed-local -> emit in order.
    fn advance(&mut self, height: Height, out: &mut Vec<Output>) {
        let primary = self.primary();
        let view = self.view;
        let quorum = self.quorum;
        let Some(slot) = self.slots.get(&(height, view)) else {
            return;
        };
        let Some(block_hash) = slot.block_hash else {
            return;
        };
        if slot.verdict != Verdict::Valid {
            return;
        }
        // §4.2: prepared(m, v, n, i) = the pre-prepare plus 2f (here quorum - 1) matching
        // PREPAREs from distinct backups (the primary's pre-prepare stands for its prepare).
        // Then multicast COMMIT (written ahead with the certificate); the primary commits too.
        if !slot.prepared {
            let prepares: Vec<(ReplicaId, Signature)> = slot
                .prepares
                .iter()
                .filter(|(r, v)| **r != primary && v.block_hash == block_hash)
                .map(|(r, v)| (*r, v.message.signature))
                .collect();
            if prepares.len() + 1 < quorum {
                return;
            }
            let Some(Payload::PrePrepare { block, .. }) =
                slot.pre_prepare.as_ref().map(|m| m.payload.clone())
            else {
                return;
            };
            let pre_prepare_signature = slot.pre_prepare.as_ref().map(|m| m.signature);
            let Some(pre_prepare_signature) = pre_prepare_signature else {
                return;
            };
            let certificate = PreparedCertificate {
                view,
                block,
                pre_prepare_signature,
                prepares,
            };
            let Some(message) = self.sign_vote(VoteKind::Commit, height, block_hash) else {
                return;
            };
            let Some(slot) = self.slots.get_mut(&(height, view)) else {
                return;
            };
            slot.commits.insert(
                self.me,
                Vote {
                    block_hash,
                    message: message.clone(),
                },
            );
            slot.prepared = true;
            if height > self.stable.height {
                self.prepared.insert(height, certificate.clone());
                while self.prepared.len() as u64 > self.log_window {
                    self.prepared.pop_first();
                }
            }
            out.push(Output::Persist(WalEntry::Commit {
                commit: message.clone(),
                prepared: certificate,
            }));
            out.push(Output::Broadcast(message));
        }
        // §4.2: committed-local(m, v, n, i) = prepared and a quorum (2f+1) of matching COMMITs
        // from distinct replicas, own included.
        let Some(slot) = self.slots.get_mut(&(height, view)) else {
            return;
        };
        if !slot.committed_local && Slot::matching(&slot.commits, &block_hash) >= quorum {
            slot.committed_local = true;
            self.emit_committed(out);
        }
    }

    /// §4.2: "execute" (here: emit as final) committed-local blocks strictly in height order,
    /// after every lower height. After a commit the timer backoff resets (Besu #611) and the
    /// timer restarts if work is still in flight.
    fn emit_committed(&mut self, out: &mut Vec<Output>) {
        let mut emitted = false;
        loop {
            let key = (self.last_committed.next(), self.view);
            if !self.slots.get(&key).is_some_and(|s| s.committed_local) {
                break;
            }
            // Keep the slot while the view's NEW-VIEW covers the height, so that replicas
            // behind us can still collect our votes; otherwise it is done.
            let slot = if key.0 <= self.new_view_top {
                self.slots.get(&key).cloned()
            } else {
                self.slots.remove(&key)
            };
            let Some(slot) = slot else {
                break;
            };
            let (Some(block_hash), Some(pre_prepare)) = (slot.block_hash, slot.pre_prepare) else {
                panic!("invariant: a committed-local slot has its pre-prepare");
            };
            let Payload::PrePrepare { block, .. } = pre_prepare.payload else {
                panic!("invariant: a slot's pre-prepare is a PRE-PREPARE");
            };
            // Every matching COMMIT collected, sorted by replica (BTreeMap order), each once.
            let signatures: Vec<CommitSignature> = slot
                .commits
                .iter()
                .filter(|(_, v)| v.block_hash == block_hash)
                .map(|(r, v)| CommitSignature {
                    replica: *r,
                    signature: v.message.signature,
                })
                .collect();
            assert!(
                signatures.len() >= self.quorum,
                "invariant: quorum of commits"
            );
            let certificate = CommitCertificate {
                height: key.0,
                view: key.1,
                block_hash,
                signatures,
            };
            self.last_committed = key.0;
            self.next_proposal = self.next_proposal.max(key.0.next());
            self.stats.committed += 1;
            emitted = true;
            out.push(Output::Committed { block, certificate });
        }
        let top = self.window_top();
        self.ahead.retain(|_, h| *h > top);
        if emitted {
            // §4.4: progress; the next view change starts from the minimum timeout again.
            self.backoff = 0;
            self.work_pending = false;
            if self.in_flight() {
                self.set_timer(out);
            } else {
                self.cancel_timer(out);
            }
        }
    }

    /// Remember that `from` validly signed a message at `height` above our window; report
    /// [`Output::Behind`] once f+1 validators are at or above some height we have not reported:
    /// one of them is honest, so a Byzantine validator alone cannot send the node chasing
    /// heights that do not exist (and then silence later, genuine reports by the rate limit).
    fn note_ahead(&mut self, from: ReplicaId, height: Height, out: &mut Vec<Output>) {
        let claim = self.ahead.entry(from).or_insert(height);
        *claim = (*claim).max(height);
        let f = self.f();
        let mut claims: Vec<Height> = self.ahead.values().copied().collect();
        claims.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(&supported) = claims.get(f) {
            if supported > self.last_behind && supported > self.window_top() {
                self.report_behind(supported, out);
            }
        }
    }

    fn report_behind(&mut self, height: Height, out: &mut Vec<Output>) {
        if height > self.last_behind && height > self.last_committed {
            self.last_behind = height;
            self.stats.behind += 1;
            out.push(Output::Behind { height });
        }
    }

    // ---------------------------------------------------------------------------------------
    // Checkpoints (§4.3)
    // ---------------------------------------------------------------------------------------

    /// §4.3: "when a replica produces a checkpoint it multicasts CHECKPOINT(n, d, i)": here
    /// every `checkpoint_interval` heights, once the node executed the height.
    fn on_executed(&mut self, height: Height, state_root: Hash, out: &mut Vec<Output>) {
        if height.0 == 0
            || !height.0.is_multiple_of(self.checkpoint_interval)
            || height <= self.stable.height
            || height > self.last_committed
            || self
                .checkpoints
                .get(&height)
                .is_some_and(|m| m.contains_key(&self.me))
        {
            return;
        }
        let message =
            match SignedMessage::checkpoint(&self.chain_id, height, state_root, self.me, &self.key)
            {
                Ok(m) => m,
                Err(_) => {
                    self.stats.internal_errors += 1;
                    return;
                }
            };
        self.record_checkpoint(self.me, height, state_root, message.signature);
        out.push(Output::Broadcast(message));
        self.try_stabilize(height, out);
    }

    /// §4.3: collect CHECKPOINTs from others; a quorum on one (height, root) is a proof.
    fn on_checkpoint(&mut self, from: ReplicaId, message: SignedMessage, out: &mut Vec<Output>) {
        let Payload::Checkpoint(body) = &message.payload else {
            return self.drop(DropReason::Malformed);
        };
        let (height, state_root) = (body.height, body.state_root);
        if height <= self.stable.height {
            return self.drop(DropReason::Stale);
        }
        if !height.0.is_multiple_of(self.checkpoint_interval) {
            return self.drop(DropReason::Malformed);
        }
        if let Some((root, sig)) = self.checkpoints.get(&height).and_then(|m| m.get(&from)) {
            if *root == state_root {
                return self.drop(DropReason::Duplicate);
            }
            let (root, sig) = (*root, *sig);
            // Two roots signed for one height: evidence, once the second signature verifies
            // (the first was verified when it was kept).
            if let Err(e) =
                message.verify_by(&self.chain_id, &self.validators, self.verifier.as_ref())
            {
                return self.drop(DropReason::of(&e));
            }
            if self.checkpoint_reported.insert((height, from)) {
                let first = SignedMessage {
                    from,
                    payload: Payload::Checkpoint(CheckpointBody::new(&self.chain_id, height, root)),
                    signature: sig,
                };
                out.push(Output::Evidence {
                    replica: from,
                    first,
                    second: message,
                });
                self.stats.evidence += 1;
            }
            return self.drop(DropReason::Conflicting);
        }
        if let Err(e) = message.verify_by(&self.chain_id, &self.validators, self.verifier.as_ref())
        {
            return self.drop(DropReason::of(&e));
        }
        let top = Height(
            self.last_committed
                .max(self.low())
                .0
                .saturating_add(2 * self.log_window),
        );
        if height > top {
            self.note_ahead(from, height, out);
            return self.drop(DropReason::AboveWindow);
        }
        self.record_checkpoint(from, height, state_root, message.signature);
        self.try_stabilize(height, out);
    }

    fn record_checkpoint(&mut self, from: ReplicaId, height: Height, root: Hash, sig: Signature) {
        self.checkpoints
            .entry(height)
            .or_default()
            .insert(from, (root, sig));
        // Bounded: the oldest heights go first (a newer one stabilising covers them).
        while self.checkpoints.len() > self.checkpoint_heights_cap() {
            self.checkpoints.pop_first();
        }
        if let Some(oldest) = self.checkpoints.keys().next().copied() {
            self.checkpoint_reported.retain(|(h, _)| *h >= oldest);
        }
    }

    fn try_stabilize(&mut self, height: Height, out: &mut Vec<Output>) {
        let Some(votes) = self.checkpoints.get(&height) else {
            return;
        };
        let mut by_root: BTreeMap<Hash, Vec<(ReplicaId, Signature)>> = BTreeMap::new();
        for (r, (root, sig)) in votes {
            by_root.entry(*root).or_default().push((*r, *sig));
        }
        let Some((state_root, signatures)) = by_root
            .into_iter()
            .find(|(_, sigs)| sigs.len() >= self.quorum)
        else {
            return;
        };
        let proof = CheckpointProof {
            height,
            state_root,
            signatures,
        };
        self.adopt_stable(proof, out);
    }

    /// §4.3: a checkpoint with a proof is stable: discard the log at or below it and advance
    /// the low watermark. If we have not committed that far, the network is ahead of us.
    fn adopt_stable(&mut self, proof: CheckpointProof, out: &mut Vec<Output>) {
        if proof.height <= self.stable.height {
            return;
        }
        let (height, state_root) = (proof.height, proof.state_root);
        out.push(Output::Persist(WalEntry::StableCheckpoint(proof.clone())));
        out.push(Output::StableCheckpoint {
            height,
            state_root,
            proof: proof.signatures.clone(),
        });
        self.stable = proof;
        self.stats.stable_checkpoints += 1;
        self.gc();
        self.next_proposal = self.next_proposal.max(self.low().next());
        if self.last_committed < height {
            self.report_behind(height, out);
        }
    }

    // ---------------------------------------------------------------------------------------
    // View change (§4.4)
    // ---------------------------------------------------------------------------------------

    /// §4.4: "if the timer of backup i expires in view v, the backup starts a view change to
    /// move the system to view v+1". While waiting for a NEW-VIEW the timer runs too; on
    /// expiry we move on to the next view with a doubled timeout.
    fn on_timeout(&mut self, kind: TimerKind, out: &mut Vec<Output>) {
        match kind {
            TimerKind::View => {
                if !self.timer_running {
                    self.stats.timeouts_ignored += 1;
                    return;
                }
                self.timer_running = false;
                if self.active || self.awaiting_new_view {
                    let next = self.view.next();
                    return self.start_view_change(next, out);
                }
                // Fewer than a quorum are in our view yet: our VIEW-CHANGE may have been lost
                // (there is no other retransmission), so send it again and keep waiting.
                if let Some(vc) = self.view_changes.get(&self.me).cloned() {
                    out.push(Output::Broadcast(SignedMessage {
                        from: self.me,
                        payload: Payload::ViewChange(vc.body),
                        signature: vc.signature,
                    }));
                }
                self.set_timer(out);
            }
        }
    }

    /// §4.4: stop accepting normal-case messages of the old view and multicast
    /// VIEW-CHANGE(v', n, C, P, i), written ahead. The timer restarts with a doubled duration.
    fn start_view_change(&mut self, target: View, out: &mut Vec<Output>) {
        assert!(target > self.view, "invariant: views only increase");
        self.view = target;
        self.active = false;
        self.slots.clear();
        self.new_view_top = Height(0);
        self.last_new_view = None;
        self.new_view_resent.clear();
        self.backoff = self.backoff.saturating_add(1);
        self.stats.view_changes += 1;
        for queue in self.buffered.values_mut() {
            queue.retain(|m| m.payload.view() >= target);
        }
        self.buffered.retain(|_, q| !q.is_empty());
        let body = ViewChangeBody {
            tag: VIEW_CHANGE_TAG,
            chain_id: self.chain_id.clone(),
            view: target,
            checkpoint: self.stable.clone(),
            prepared: self
                .prepared
                .range(self.stable.height.next()..)
                .map(|(_, c)| c.clone())
                .collect(),
        };
        match SignedMessage::view_change(body.clone(), self.me, &self.key) {
            Ok(message) => {
                self.view_changes.insert(
                    self.me,
                    SignedViewChange {
                        from: self.me,
                        body,
                        signature: message.signature,
                    },
                );
                out.push(Output::Persist(WalEntry::ViewChange(message.clone())));
                out.push(Output::Broadcast(message));
            }
            Err(_) => self.stats.internal_errors += 1,
        }
        self.awaiting_new_view = false;
        self.set_timer(out);
        self.check_view_change_support(out);
        self.try_new_view(out);
    }

    /// §4.4: accept a VIEW-CHANGE for a view at least ours (only the latest per sender is
    /// kept); join a higher view once f+1 others are there (§4.5.2: "the smallest view in
    /// the set"), so one Byzantine replica cannot drag us through views; as the new primary,
    /// form the NEW-VIEW once a quorum is in.
    fn on_view_change(&mut self, from: ReplicaId, message: SignedMessage, out: &mut Vec<Output>) {
        let Payload::ViewChange(body) = &message.payload else {
            return self.drop(DropReason::Malformed);
        };
        let view = body.view;
        if view < self.view {
            return self.drop(DropReason::WrongView);
        }
        if view == self.view && self.active {
            // The sender missed this view's NEW-VIEW: send it again, once per replica.
            if let Some(nv) = self.last_new_view.clone() {
                if self.new_view_resent.insert(from) {
                    out.push(Output::Send {
                        to: from,
                        message: nv,
                    });
                }
            }
            return self.drop(DropReason::Stale);
        }
        if let Some(kept) = self.view_changes.get(&from) {
            if kept.body.view > view {
                return self.drop(DropReason::WrongView);
            }
            if kept.body.view == view {
                if kept.signature == message.signature {
                    return self.drop(DropReason::Duplicate);
                }
                // ed25519 signatures are deterministic and an honest replica signs one
                // VIEW-CHANGE per view (`start_view_change` only moves to higher views, and a
                // restart resumes from the logged one), so a second, different, validly
                // signed VIEW-CHANGE for the same view is equivocation.
                let first = SignedMessage {
                    from,
                    payload: Payload::ViewChange(kept.body.clone()),
                    signature: kept.signature,
                };
                if let Err(e) =
                    message.verify_by(&self.chain_id, &self.validators, self.verifier.as_ref())
                {
                    return self.drop(DropReason::of(&e));
                }
                if self.view_change_reported.get(&from) != Some(&view) {
                    self.view_change_reported.insert(from, view);
                    out.push(Output::Evidence {
                        replica: from,
                        first,
                        second: message,
                    });
                    self.stats.evidence += 1;
                }
                return self.drop(DropReason::Conflicting);
            }
        }
        if body.prepared.len() as u64 > self.log_window {
            return self.drop(DropReason::InvalidProof);
        }
        if let Err(e) = message.verify_by(&self.chain_id, &self.validators, self.verifier.as_ref())
        {
            return self.drop(match e {
                ConsensusError::BadSignature { from: f, .. } if f != from => {
                    DropReason::InvalidProof
                }
                e => DropReason::of(&e),
            });
        }
        let body = body.clone();
        self.view_changes.insert(
            from,
            SignedViewChange {
                from,
                body,
                signature: message.signature,
            },
        );
        // §4.5.2: f+1 VIEW-CHANGEs from others for views above ours: join the smallest view
        // that f+1 of them reached (at least one of those is honest).
        let f = self.f();
        let mut higher: Vec<View> = self
            .view_changes
            .iter()
            .filter(|(r, vc)| **r != self.me && vc.body.view > self.view)
            .map(|(_, vc)| vc.body.view)
            .collect();
        higher.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(&target) = higher.get(f) {
            self.start_view_change(target, out);
        } else {
            self.check_view_change_support(out);
            self.try_new_view(out);
        }
    }

    /// §4.4: the O set of a NEW-VIEW for V: min-s is the latest stable checkpoint in V,
    /// max-s the highest prepared height; every height between gets the block prepared in
    /// the highest view, or a null block. Deviation: the range is cut to at most L heights
    /// below max-s; heights further down were committed by an honest replica (an honest
    /// replica prepares only within L of its own committed low watermark), so they are left
    /// to state transfer. Returns (start, blocks for start+1 ..= max-s).
    fn compute_o(&self, view: View, vcs: &[SignedViewChange]) -> (Height, Vec<Block>) {
        let min_s = vcs
            .iter()
            .map(|v| v.body.checkpoint.height)
            .max()
            .unwrap_or(Height(0));
        let mut best: BTreeMap<Height, &PreparedCertificate> = BTreeMap::new();
        for vc in vcs {
            for cert in &vc.body.prepared {
                if cert.height() <= min_s {
                    continue;
                }
                let entry = best.entry(cert.height()).or_insert(cert);
                if cert.view > entry.view {
                    *entry = cert;
                }
            }
        }
        let max_s = best.keys().next_back().copied().unwrap_or(min_s);
        let start = Height(min_s.0.max(max_s.0.saturating_sub(self.log_window)));
        let proposer = primary_of(view, self.validators.len());
        let blocks = (start.0 + 1..=max_s.0)
            .map(|h| match best.get(&Height(h)) {
                Some(cert) => cert.block.clone(),
                None => null_block(&self.chain_id, Height(h), proposer),
            })
            .collect();
        (start, blocks)
    }

    /// §4.4: the new primary, holding a quorum of VIEW-CHANGEs for its view, multicasts
    /// NEW-VIEW(v', V, O) (written ahead) and enters the view.
    fn try_new_view(&mut self, out: &mut Vec<Output>) {
        if self.active || !self.is_primary() {
            return;
        }
        let vcs: Vec<SignedViewChange> = self
            .view_changes
            .values()
            .filter(|vc| vc.body.view == self.view)
            .take(self.quorum)
            .cloned()
            .collect();
        if vcs.len() < self.quorum {
            return;
        }
        let (_, blocks) = self.compute_o(self.view, &vcs);
        let mut pre_prepares = Vec::with_capacity(blocks.len());
        for block in blocks {
            let signature = block
                .header
                .hash()
                .map_err(ConsensusError::from)
                .and_then(|hash| {
                    PrePrepareBody::new(&self.chain_id, self.view, block.header.height, hash)
                        .signing_message()
                })
                .map(|m| self.key.sign(&m));
            match signature {
                Ok(signature) => pre_prepares.push(Reproposal { block, signature }),
                Err(_) => {
                    self.stats.internal_errors += 1;
                    return;
                }
            }
        }
        let body = NewViewBody {
            tag: NEW_VIEW_TAG,
            chain_id: self.chain_id.clone(),
            view: self.view,
            view_changes: vcs,
            pre_prepares,
        };
        let message = match SignedMessage::new_view(body, self.me, &self.key) {
            Ok(m) => m,
            Err(_) => {
                self.stats.internal_errors += 1;
                return;
            }
        };
        out.push(Output::Broadcast(message.clone()));
        self.install_new_view(message, out);
    }

    /// §4.4: a backup accepts a NEW-VIEW for a view at least its own if it is signed by that
    /// view's primary, V holds a quorum of valid VIEW-CHANGEs for it, and O is exactly what V
    /// implies. A valid NEW-VIEW for a higher view is joined directly: its quorum includes
    /// f+1 honest replicas.
    fn on_new_view(&mut self, from: ReplicaId, message: SignedMessage, out: &mut Vec<Output>) {
        let Payload::NewView(body) = &message.payload else {
            return self.drop(DropReason::Malformed);
        };
        let view = body.view;
        if view < self.view {
            return self.drop(DropReason::WrongView);
        }
        if view == self.view && self.active {
            return self.drop(DropReason::Duplicate);
        }
        if from != primary_of(view, self.validators.len()) {
            return self.drop(DropReason::NotFromPrimary);
        }
        if body.view_changes.len() > self.validators.len()
            || body
                .view_changes
                .iter()
                .any(|v| v.body.prepared.len() as u64 > self.log_window)
        {
            return self.drop(DropReason::InvalidProof);
        }
        // VIEW-CHANGEs we already hold (verified when they arrived) are not checked again:
        // a NEW-VIEW carries a quorum of them, each with up to L prepared certificates.
        let known = |vc: &SignedViewChange| self.view_changes.get(&vc.from) == Some(vc);
        if let Err(e) = message.verify_new_view_by(
            &self.chain_id,
            &self.validators,
            known,
            self.verifier.as_ref(),
        ) {
            return self.drop(match e {
                ConsensusError::BadSignature { from: f, .. } if f != from => {
                    DropReason::InvalidProof
                }
                e => DropReason::of(&e),
            });
        }
        let (_, blocks) = self.compute_o(view, &body.view_changes);
        let matches = blocks.len() == body.pre_prepares.len()
            && blocks
                .iter()
                .zip(&body.pre_prepares)
                .all(|(b, re)| *b == re.block);
        if !matches {
            return self.drop(DropReason::InvalidProof);
        }
        if view > self.view {
            self.view = view;
            self.stats.view_changes += 1;
        }
        self.install_new_view(message, out);
    }

    /// Enter the NEW-VIEW's view: re-propose O (no verdict needed: a quorum prepared those
    /// blocks, and null blocks are built by consensus), PREPARE each as a backup, and replay
    /// buffered messages of the view.
    fn install_new_view(&mut self, message: SignedMessage, out: &mut Vec<Output>) {
        let Payload::NewView(body) = &message.payload else {
            return;
        };
        let body = body.clone();
        out.push(Output::Persist(WalEntry::NewView(message.clone())));
        let heights = self.enter_new_view(&body, message);
        let (start, top) = heights;
        if self.last_committed < start {
            self.report_behind(start, out);
        }
        for h in start.0 + 1..=top.0 {
            if self.slots.contains_key(&(Height(h), self.view)) {
                self.accept_and_prepare(Height(h), out);
            }
        }
        if self.in_flight() || self.work_pending {
            self.set_timer(out);
        } else {
            self.cancel_timer(out);
        }
        // Messages that overtook the NEW-VIEW.
        let mut replay = Vec::new();
        let view = self.view;
        for queue in self.buffered.values_mut() {
            let (now, later): (VecDeque<_>, VecDeque<_>) =
                queue.drain(..).partition(|m| m.payload.view() == view);
            replay.extend(now);
            *queue = later
                .into_iter()
                .filter(|m| m.payload.view() > view)
                .collect();
        }
        self.buffered.retain(|_, q| !q.is_empty());
        for m in replay {
            self.on_message(m.from, m, out);
        }
        self.emit_committed(out);
    }

    /// The state part of installing a NEW-VIEW (shared with WAL replay): returns the O range.
    fn enter_new_view(&mut self, body: &NewViewBody, message: SignedMessage) -> (Height, Height) {
        let view = body.view;
        self.view = view;
        self.active = true;
        self.awaiting_new_view = false;
        self.slots.clear();
        self.stats.new_views += 1;
        self.view_changes.retain(|_, vc| vc.body.view > view);
        self.new_view_resent.clear();
        self.last_new_view = Some(message);
        // The best checkpoint proven in V is as good as our own (§4.4: min-s).
        if let Some(best) = body
            .view_changes
            .iter()
            .map(|v| &v.body.checkpoint)
            .max_by_key(|c| c.height)
        {
            if best.height > self.stable.height {
                self.stable = best.clone();
                self.gc();
            }
        }
        let (start, top) = match (body.pre_prepares.first(), body.pre_prepares.last()) {
            (Some(first), Some(last)) => (
                Height(first.block.header.height.0.saturating_sub(1)),
                last.block.header.height,
            ),
            _ => (self.stable.height, self.stable.height),
        };
        self.new_view_top = top;
        let primary = self.primary();
        let low = self.low();
        for re in &body.pre_prepares {
            let height = re.block.header.height;
            if height <= low {
                continue;
            }
            let Ok(block_hash) = re.block.header.hash() else {
                continue;
            };
            let mut slot = Slot::new();
            slot.pre_prepare = Some(SignedMessage {
                from: primary,
                payload: Payload::PrePrepare {
                    view,
                    block: re.block.clone(),
                },
                signature: re.signature,
            });
            slot.block_hash = Some(block_hash);
            slot.verdict = Verdict::Valid;
            self.slots.insert((height, view), slot);
        }
        // The new primary proposes above O (PBFT: from max-s + 1), whatever it proposed in an
        // earlier view: heights above O were prepared by no quorum member, so they are free in
        // this view. Keeping an older, higher `next_proposal` here would leave those heights
        // unproposed by every primary that had proposed them before: a livelock (found by the
        // simulator, `settlenet-sim --n 4 --seed-start 967`). Our own PRE-PREPAREs of this view
        // are replayed after this NEW-VIEW (the log is replayed oldest first) and raise it again.
        self.next_proposal = top.next().max(self.last_committed.next());
        (start, top)
    }

    // ---------------------------------------------------------------------------------------
    // Crash recovery
    // ---------------------------------------------------------------------------------------

    /// Replay one WAL entry into the state (no messages are sent).
    fn replay(&mut self, entry: WalEntry, sink: &mut Vec<Output>) {
        match entry {
            WalEntry::StableCheckpoint(proof) => self.adopt_stable(proof, sink),
            WalEntry::ViewChange(message) => {
                let Payload::ViewChange(body) = &message.payload else {
                    return;
                };
                if body.view <= self.view {
                    return;
                }
                for cert in &body.prepared {
                    self.restore_prepared(cert.clone());
                }
                self.view = body.view;
                self.active = false;
                self.slots.clear();
                self.new_view_top = Height(0);
                self.view_changes.insert(
                    self.me,
                    SignedViewChange {
                        from: self.me,
                        body: body.clone(),
                        signature: message.signature,
                    },
                );
            }
            WalEntry::NewView(message) => {
                let Payload::NewView(body) = &message.payload else {
                    return;
                };
                if body.view < self.view
                    || (body.view == self.view && self.active && self.view != View(0))
                {
                    return;
                }
                let body = body.clone();
                self.enter_new_view(&body, message);
            }
            WalEntry::PrePrepare(message) => {
                self.restore_slot(&message, None, None);
            }
            WalEntry::Prepare {
                pre_prepare,
                prepare,
            } => {
                self.restore_slot(&pre_prepare, Some(prepare), None);
            }
            WalEntry::Commit { commit, prepared } => {
                let pre_prepare = SignedMessage {
                    from: primary_of(prepared.view, self.validators.len()),
                    payload: Payload::PrePrepare {
                        view: prepared.view,
                        block: prepared.block.clone(),
                    },
                    signature: prepared.pre_prepare_signature,
                };
                self.restore_prepared(prepared);
                self.restore_slot(&pre_prepare, None, Some(commit));
            }
        }
    }

    fn restore_prepared(&mut self, cert: PreparedCertificate) {
        let height = cert.height();
        if height <= self.stable.height {
            return;
        }
        let keep = self
            .prepared
            .get(&height)
            .is_none_or(|c| c.view <= cert.view);
        if keep {
            self.prepared.insert(height, cert);
        }
        while self.prepared.len() as u64 > self.log_window {
            self.prepared.pop_first();
        }
    }

    /// Put our own recorded vote back into the slot of the current view (older views' votes
    /// cannot conflict with anything we will send).
    fn restore_slot(
        &mut self,
        pre_prepare: &SignedMessage,
        prepare: Option<SignedMessage>,
        commit: Option<SignedMessage>,
    ) {
        let view = pre_prepare.payload.view();
        let height = pre_prepare.payload.height();
        if view > self.view {
            // Only view 0 is entered without a NEW-VIEW; anything else in a higher view means
            // its NEW-VIEW entry is missing: trust our own vote and enter the view.
            self.view = view;
            self.active = true;
            self.slots.clear();
        }
        if view != self.view || !self.active || height <= self.low() || height > self.window_top() {
            return;
        }
        if height <= self.last_committed && !self.slots.contains_key(&(height, view)) {
            return;
        }
        let Ok(block_hash) = pre_prepare.payload.block_hash() else {
            return;
        };
        let me = self.me;
        let slot = self.slots.entry((height, view)).or_insert_with(Slot::new);
        if slot.pre_prepare.is_none() {
            slot.pre_prepare = Some(pre_prepare.clone());
            slot.block_hash = Some(block_hash);
        }
        slot.verdict = Verdict::Valid;
        if let Some(m) = prepare {
            slot.prepares.insert(
                me,
                Vote {
                    block_hash,
                    message: m,
                },
            );
        }
        if let Some(m) = commit {
            slot.commits.insert(
                me,
                Vote {
                    block_hash,
                    message: m,
                },
            );
            slot.prepared = true;
        }
        if pre_prepare.from == me {
            self.next_proposal = self.next_proposal.max(height.next());
        }
    }

    /// Internal invariants, checked after every step (cheap: O(window * n)).
    fn check_invariants(&self) {
        let n = self.validators.len();
        assert!(
            self.next_proposal > self.last_committed,
            "next proposal above committed"
        );
        assert!(
            self.slots.len() as u64 <= 2 * self.log_window,
            "slots bounded: the window, plus a NEW-VIEW's O (at most L heights)"
        );
        assert!(
            self.active || self.slots.is_empty(),
            "no slots while changing view"
        );
        assert!(self.ahead.len() <= n, "ahead claims bounded by n");
        assert!(self.view_changes.len() <= n, "one view-change per sender");
        assert!(self.buffered.len() <= n, "buffers per sender");
        assert!(
            self.buffered.values().all(|q| q.len() <= self.buffer_cap()),
            "buffers bounded"
        );
        assert!(self.prepared.len() as u64 <= self.log_window);
        assert!(self.checkpoints.len() <= self.checkpoint_heights_cap());
        assert!(self
            .checkpoints
            .iter()
            .all(|(h, m)| *h > self.stable.height && m.len() <= n));
        let low = self.low();
        for ((height, view), slot) in &self.slots {
            assert!(*height > low, "slot above the low watermark");
            assert_eq!(*view, self.view, "slot in the current view");
            assert!(
                slot.prepares.len() <= n && slot.commits.len() <= n,
                "votes bounded"
            );
            assert_eq!(slot.pre_prepare.is_some(), slot.block_hash.is_some());
            assert!(
                !slot.prepared || slot.verdict == Verdict::Valid,
                "prepared only if valid"
            );
        }
    }
}
