//! The replica: PBFT (Castro & Liskov OSDI'99) as a pure state machine: normal case (§4.2),
//! checkpoints and garbage collection (§4.3), view change (§4.4), and a write-ahead log of
//! its own votes for crash recovery.
//!
//! All protocol state lives in one [`Replica`]; its methods are spread over one file per
//! sub-protocol, each an `impl Replica` block. The struct's fields are private to this module
//! and so visible to its sub-modules; a method another file calls is `pub(super)`.
//!
//! - `mod.rs`: the [`Replica`] struct, [`Replica::new`], [`Replica::step`] (the dispatch of
//!   every [`Input`], and the write-ahead ordering of its outputs), the public queries, the
//!   helpers every sub-protocol uses (watermarks, caps, the view timer, signing a vote), the
//!   admission of peer messages (`on_message`), and the invariants checked after every step.
//! - `config.rs`: [`ReplicaConfig`], its defaults and limits.
//! - `interface.rs`: what the node and the replica exchange: [`Input`], [`Output`],
//!   [`WalEntry`], [`TimerKind`].
//! - `stats.rs`: [`ReplicaStats`] and [`DropReason`].
//! - `slot.rs`: the log entry for one (height, view) and the node's verdict on its block.
//! - `normal.rs`: the normal case up to PREPARE (§4.2): the primary's proposal, a backup's
//!   PRE-PREPARE, the node's verdict, collecting PREPAREs and COMMITs.
//! - `commit.rs`: prepared -> COMMIT, committed-local -> [`Output::Committed`] with its
//!   certificate, strictly in height order.
//! - `checkpoint.rs`: CHECKPOINTs, stable checkpoints and garbage collection (§4.3).
//! - `view_change.rs`: the view timer's expiry, VIEW-CHANGE, NEW-VIEW and its O set, null
//!   blocks (§4.4, §4.5.2).
//! - `recovery.rs`: [`Replica::restore`] from the write-ahead log, state transfer
//!   ([`Input::SyncedTo`]) and reporting [`Output::Behind`].

mod checkpoint;
mod commit;
mod config;
mod interface;
mod normal;
mod recovery;
mod slot;
mod stats;
mod view_change;

pub use config::{
    ReplicaConfig, DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_VIEW_TIMEOUT_MS_MAX,
    DEFAULT_VIEW_TIMEOUT_MS_MIN, MAX_CHECKPOINT_INTERVAL, MAX_IN_FLIGHT_LIMIT,
};
pub use interface::{Input, Output, TimerKind, WalEntry};
pub use stats::{DropReason, ReplicaStats};
pub use view_change::{is_null, is_null_header, null_block};

use crate::error::ConsensusError;
use crate::message::{
    max_new_view_bytes, max_pre_prepare_bytes, max_view_change_bytes, primary_of, CheckpointProof,
    MessageKind, Payload, PreparedCertificate, SignedMessage, SignedViewChange,
};
use settlenet_crypto::{Keypair, SignatureVerifier};
use settlenet_types::block::{VoteBody, VoteKind};
use settlenet_types::genesis::quorum;
use settlenet_types::tx::CHAIN_ID_MAX_LEN;
use settlenet_types::{Hash, Height, PublicKey, ReplicaId, Signature, View};
use slot::{Slot, Verdict};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Normal-case messages are buffered for views at most this far above ours.
pub const BUFFER_VIEWS_AHEAD: u64 = 64;

/// Bytes reserved, below the network's message limit, for the envelope a consensus message
/// travels in (the node's wire enum and version).
pub const WIRE_ENVELOPE_BYTES: usize = 4096;

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
    /// A block's encoded size at most (larger PRE-PREPAREs are dropped).
    block_max_bytes: u64,
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
        let log_window = 2 * config.checkpoint_interval + 2 * config.max_in_flight;
        // Every consensus message fits a network message (plus room for the wire's
        // envelope), whatever the view change carries: a full window of the largest blocks.
        let limit = (settlenet_types::codec::MAX_MESSAGE_BYTES - WIRE_ENVELOPE_BYTES) as u64;
        let largest = [
            ("PRE-PREPARE", max_pre_prepare_bytes(config.block_max_bytes)),
            (
                "VIEW-CHANGE",
                max_view_change_bytes(n as u64, log_window, config.block_max_bytes),
            ),
            (
                "NEW-VIEW",
                max_new_view_bytes(n as u64, log_window, config.block_max_bytes),
            ),
        ];
        for (what, bytes) in largest {
            if bytes > limit {
                return bad(format!(
                    "with {n} validators, blocks of up to {} bytes and a log window of \
                     {log_window} heights, a {what} can reach {bytes} bytes, over the \
                     {limit}-byte message limit: lower block_max_bytes or max_in_flight",
                    config.block_max_bytes
                ));
            }
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
            log_window,
            block_max_bytes: config.block_max_bytes,
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
            // Only views a few rotations ahead are kept (further ones cannot become current
            // before their NEW-VIEW, which carries what matters), and only validly signed
            // messages: a peer's buffer holds its own messages, never forgeries in its name.
            if view.0 > self.view.0.saturating_add(BUFFER_VIEWS_AHEAD) {
                return self.drop(DropReason::TooFarAhead);
            }
            let cap = self.buffer_cap();
            if self.buffered.get(&from).is_some_and(|q| q.len() >= cap) {
                return self.drop(DropReason::BufferFull);
            }
            // So a sender's buffer holds at most `cap` blocks of `block_max_bytes`.
            if self.oversized(&message) {
                return self.drop(DropReason::Oversized);
            }
            if let Err(e) =
                message.verify_by(&self.chain_id, &self.validators, self.verifier.as_ref())
            {
                return self.drop(DropReason::of(&e));
            }
            let queue = self.buffered.entry(from).or_default();
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
