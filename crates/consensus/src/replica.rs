//! The replica: PBFT's normal case (Castro & Liskov OSDI'99 §4.2) as a pure state machine.

use crate::error::ConsensusError;
use crate::message::{MessageKind, Payload, SignedMessage};
use settlenet_crypto::Keypair;
use settlenet_types::block::{VoteBody, VoteKind};
use settlenet_types::genesis::quorum;
use settlenet_types::tx::CHAIN_ID_MAX_LEN;
use settlenet_types::{
    Block, CommitCertificate, CommitSignature, Hash, Height, PublicKey, ReplicaId, View,
};
use std::collections::{BTreeMap, BTreeSet};

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
}

/// What the node must do as a result of an input.
// Evidence carries two messages and is rare; boxing would change the shape the node is written
// against for no measurable gain (outputs are short-lived).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send to every other validator.
    Broadcast(SignedMessage),
    /// Send to one validator. (Not produced by the normal case; reserved for view change and
    /// retransmission.)
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
}

impl DropReason {
    /// Every reason, for exporting metrics.
    pub const ALL: [DropReason; 14] = [
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
        };
        kept == Some(message)
    }

    fn matching(votes: &BTreeMap<ReplicaId, Vote>, hash: &Hash) -> usize {
        votes.values().filter(|v| &v.block_hash == hash).count()
    }
}

/// One PBFT replica, normal case only (the view is fixed until view change lands). Pure: no I/O,
/// clock or randomness; the same inputs always give the same outputs.
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
    /// The primary proposes at most this far above `last_committed`; we accept messages up to
    /// twice as far, for replicas ahead of us.
    max_in_flight: u64,
    /// `quorum(n)`: COMMITs needed to commit; PREPAREs needed (with the pre-prepare) to prepare.
    quorum: usize,
    /// The current view (fixed in this version).
    view: View,
    /// The highest height emitted as Committed or installed by state transfer.
    last_committed: Height,
    /// As primary, the height of our next proposal (always > `last_committed`).
    next_proposal: Height,
    /// Per-(height, view) state; keys in (last_committed, window_top], view = `view`.
    slots: BTreeMap<(Height, View), Slot>,
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
        if last_committed.0 > u64::MAX / 2 {
            return bad(format!("last_committed {last_committed} is absurd"));
        }
        let replica = Replica {
            chain_id: config.chain_id,
            validators: config.validators,
            me: config.me,
            key: config.key,
            max_in_flight: config.max_in_flight,
            quorum: quorum(n),
            view,
            last_committed,
            next_proposal: last_committed.next(),
            slots: BTreeMap::new(),
            ahead: BTreeMap::new(),
            last_behind: last_committed,
            stats: ReplicaStats::default(),
        };
        replica.check_invariants();
        Ok(replica)
    }

    /// Advance the replica by one input; append what the node must do to `out`.
    pub fn step(&mut self, input: Input, out: &mut Vec<Output>) {
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
        }
        self.check_invariants();
    }

    /// The current view.
    pub fn view(&self) -> View {
        self.view
    }

    /// The primary of the current view: `view mod n` (§4.1).
    pub fn primary(&self) -> ReplicaId {
        let n = self.validators.len() as u64;
        // n <= 65536 (checked in `new`), so the remainder fits a u16.
        ReplicaId((self.view.0 % n) as u16)
    }

    /// Whether this replica is the primary of the current view.
    pub fn is_primary(&self) -> bool {
        self.primary() == self.me
    }

    /// The highest height emitted as Committed (or installed by [`Input::SyncedTo`]).
    pub fn last_committed(&self) -> Height {
        self.last_committed
    }

    /// If this replica is primary and the in-flight window has room, the height its next
    /// proposal must have.
    pub fn next_proposal_height(&self) -> Option<Height> {
        let limit = self.last_committed.0.saturating_add(self.max_in_flight);
        (self.is_primary() && self.next_proposal.0 <= limit).then_some(self.next_proposal)
    }

    /// Counters: dropped messages by reason, commits, evidence, ...
    pub fn stats(&self) -> ReplicaStats {
        self.stats.clone()
    }

    /// The highest height we keep state for (watermark H in §4.2's terms).
    fn window_top(&self) -> Height {
        Height(
            self.last_committed
                .0
                .saturating_add(self.max_in_flight.saturating_mul(2)),
        )
    }

    fn drop(&mut self, reason: DropReason) {
        *self.stats.dropped.entry(reason).or_insert(0) += 1;
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
        let (view, height) = (message.payload.view(), message.payload.height());
        // §4.2: a replica accepts messages only for its current view. (View change will keep
        // a bounded number of higher-view messages; for now they are dropped.)
        if view != self.view {
            return self.drop(DropReason::WrongView);
        }
        // §4.2 watermarks: below h (here: committed) is done.
        if height <= self.last_committed {
            return self.drop(DropReason::Stale);
        }
        if self
            .slots
            .get(&(height, view))
            .is_some_and(|slot| slot.holds(&message))
        {
            return self.drop(DropReason::Duplicate);
        }
        if let Err(e) = message.verify(&self.chain_id, &self.validators) {
            return self.drop(DropReason::of(&e));
        }
        // §4.2 watermarks: above H we keep nothing, but a validly signed message tells us
        // where the network is.
        if height > self.window_top() {
            self.note_ahead(from, height, out);
            return self.drop(DropReason::AboveWindow);
        }
        match message.payload.kind() {
            MessageKind::PrePrepare => self.on_pre_prepare(from, height, message, out),
            MessageKind::Prepare => self.on_vote(VoteKind::Prepare, from, height, message, out),
            MessageKind::Commit => self.on_vote(VoteKind::Commit, from, height, message, out),
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
            Payload::PrePrepare { .. } => unreachable!("on_vote is called for votes only"),
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
    /// PRE-PREPARE. The primary's own proposal needs no verdict.
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
        // Peers' messages from the primary are dropped (FromSelf), so nobody else filled it.
        assert!(
            slot.pre_prepare.is_none(),
            "invariant: a height is proposed once per view"
        );
        slot.pre_prepare = Some(message.clone());
        slot.block_hash = Some(block_hash);
        slot.verdict = Verdict::Valid;
        self.next_proposal = height.next();
        out.push(Output::Broadcast(message));
        // Prepares may already be here (n = 1, or reordering).
        self.advance(height, out);
    }

    /// Backup side of §4.2: once the node has validated the block, accept the pre-prepare and
    /// multicast PREPARE. An invalid block is never voted for.
    fn on_verdict(
        &mut self,
        view: View,
        height: Height,
        block_hash: Hash,
        valid: bool,
        out: &mut Vec<Output>,
    ) {
        let Some(slot) = self.slots.get_mut(&(height, view)) else {
            self.stats.verdicts_ignored += 1;
            return;
        };
        if slot.block_hash != Some(block_hash) || slot.verdict != Verdict::Pending {
            self.stats.verdicts_ignored += 1;
            return;
        }
        if !valid {
            slot.verdict = Verdict::Invalid;
            self.stats.proposals_rejected += 1;
            return;
        }
        slot.verdict = Verdict::Valid;
        let body = VoteBody {
            kind: VoteKind::Prepare,
            chain_id: self.chain_id.clone(),
            view,
            height,
            block_hash,
        };
        let message = match SignedMessage::vote(body, self.me, &self.key) {
            Ok(m) => m,
            Err(_) => {
                self.stats.internal_errors += 1;
                return;
            }
        };
        slot.prepares.insert(
            self.me,
            Vote {
                block_hash,
                message: message.clone(),
            },
        );
        out.push(Output::Broadcast(message));
        self.advance(height, out);
    }

    /// The replica installed blocks up to `height` by state transfer: everything at or below it
    /// is settled.
    fn on_synced(&mut self, height: Height, out: &mut Vec<Output>) {
        // Heights near u64::MAX cannot come from a real chain (same bound as `new`); refusing
        // them keeps `next_proposal > last_committed` without overflow.
        if height <= self.last_committed || height.0 > u64::MAX / 2 {
            self.stats.syncs_ignored += 1;
            return;
        }
        self.slots.retain(|(h, _), _| *h > height);
        self.last_committed = height;
        self.next_proposal = self.next_proposal.max(height.next());
        // The next height may already be committed-local.
        self.emit_committed(out);
    }

    /// Move the slot at `height` forward: prepared -> COMMIT, committed-local -> emit in order.
    fn advance(&mut self, height: Height, out: &mut Vec<Output>) {
        let primary = self.primary();
        let view = self.view;
        let Some(slot) = self.slots.get_mut(&(height, view)) else {
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
        // Then multicast COMMIT; the primary commits too.
        if !slot.prepared {
            let prepares = slot
                .prepares
                .iter()
                .filter(|(r, v)| **r != primary && v.block_hash == block_hash)
                .count();
            if prepares + 1 < self.quorum {
                return;
            }
            let body = VoteBody {
                kind: VoteKind::Commit,
                chain_id: self.chain_id.clone(),
                view,
                height,
                block_hash,
            };
            let message = match SignedMessage::vote(body, self.me, &self.key) {
                Ok(m) => m,
                Err(_) => {
                    self.stats.internal_errors += 1;
                    return;
                }
            };
            slot.commits.insert(
                self.me,
                Vote {
                    block_hash,
                    message: message.clone(),
                },
            );
            slot.prepared = true;
            out.push(Output::Broadcast(message));
        }
        // §4.2: committed-local(m, v, n, i) = prepared and a quorum (2f+1) of matching COMMITs
        // from distinct replicas, own included.
        if !slot.committed_local && Slot::matching(&slot.commits, &block_hash) >= self.quorum {
            slot.committed_local = true;
            self.emit_committed(out);
        }
    }

    /// §4.2: "execute" (here: emit as final) committed-local blocks strictly in height order,
    /// after every lower height.
    fn emit_committed(&mut self, out: &mut Vec<Output>) {
        loop {
            let key = (self.last_committed.next(), self.view);
            if !self.slots.get(&key).is_some_and(|s| s.committed_local) {
                break;
            }
            let Some(slot) = self.slots.remove(&key) else {
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
            out.push(Output::Committed { block, certificate });
        }
        let top = self.window_top();
        self.ahead.retain(|_, h| *h > top);
    }

    /// Remember that `from` validly signed a message at `height` above our window; report
    /// [`Output::Behind`] once f+1 validators are at or above some height we have not reported:
    /// one of them is honest, so a Byzantine validator alone cannot send the node chasing
    /// heights that do not exist (and then silence later, genuine reports by the rate limit).
    fn note_ahead(&mut self, from: ReplicaId, height: Height, out: &mut Vec<Output>) {
        let claim = self.ahead.entry(from).or_insert(height);
        *claim = (*claim).max(height);
        let f = (self.validators.len() - 1) / 3;
        let mut claims: Vec<Height> = self.ahead.values().copied().collect();
        claims.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(&supported) = claims.get(f) {
            if supported > self.last_behind && supported > self.window_top() {
                self.last_behind = supported;
                self.stats.behind += 1;
                out.push(Output::Behind { height: supported });
            }
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
            self.slots.len() as u64 <= self.max_in_flight.saturating_mul(2),
            "slots bounded by the window"
        );
        assert!(self.ahead.len() <= n, "ahead claims bounded by n");
        let top = self.window_top();
        for ((height, view), slot) in &self.slots {
            assert!(
                *height > self.last_committed && *height <= top,
                "slot in window"
            );
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
