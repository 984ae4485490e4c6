//! The machine: its state, what goes in ([`Event`]), what comes out ([`Effect`]), the dispatch,
//! timers and the replica's outputs.

use crate::evidence::{EvidenceRecord, EVIDENCE_VERSION};
use crate::job::{Job, JobResult};
use crate::mempool::Mempool;
use crate::snapshot::state::{
    ChunkRead, FetchPlan, Fetched, PrepareSnapshot, Served, SnapshotInstall, Snapshots, SyncConfig,
};
use crate::wire::{Request, Response, Wire, GOSSIP_MAX_TXS};
use settlenet_consensus::{Input, Output, Replica, SignedMessage, TimerKind, WalEntry};
use settlenet_ledger::{Account, Ledger, TxOutcome, TxRecord};
use settlenet_types::{
    Block, Genesis, Hash, Height, ReplicaId, SignedTransaction, StoredBlock, TxId, View,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use tracing::{debug, info, warn};

/// Bound on proposals waiting for execution to catch up.
pub const DEFERRED_MAX: usize = 64;
/// How many recent (block hash, state root) pairs to remember, for checking proposals' lagged
/// roots and synced blocks.
pub const ROOTS_KEPT: usize = 1024;
/// Transactions accepted from the API are gossiped at most this long after they arrive
/// (`submit` gossips its batch at once; this bounds anything left in the buffer).
pub const GOSSIP_DELAY_MS: u64 = 5;
/// Connected peers are asked for their height this often.
pub const POLL_INTERVAL_MS: u64 = 1_000;
/// A gap this long between two events means the node was not running (frozen, suspended, its
/// host stalled): a running validator gets an event at least every [`POLL_INTERVAL_MS`]. Its
/// consensus timers then start again from the full duration they were set with: it watched
/// nothing meanwhile, so it has no reason to suspect the primary (a backup resumed after
/// SIGSTOP would otherwise start a view change alone and stay out of the current view).
pub const PAUSE_MS: u64 = POLL_INTERVAL_MS + 250;
/// Behind a peer with no progress for this long: fetch blocks.
pub const STALL_MS: u64 = 1_500;
/// An observer asks its validators for their height this often (it learns of new blocks only
/// so: validators send it no consensus message).
pub const OBSERVER_POLL_INTERVAL_MS: u64 = 250;

/// Everything the machine starts from (read from the store by the node, from the simulated
/// storage by the simulator).
pub struct MachineParts {
    /// The genesis.
    pub genesis: Arc<Genesis>,
    /// A validator: its index and its PBFT replica (new, or restored from the write-ahead
    /// log). `None`: an observer, which follows the chain by block sync only, checking every
    /// commit certificate against the genesis, and never votes.
    pub validator: Option<(ReplicaId, Replica)>,
    /// The ledger at the stored height.
    pub ledger: Ledger,
    /// Root of the genesis state (height 0).
    pub genesis_root: Hash,
    /// Hash of the last stored block (zero at genesis).
    pub last_hash: Hash,
    /// Consensus time: the timestamp of the last block that carries one (genesis time before).
    pub last_block_time_ms: u64,
    /// The state root the last committed header certifies ([`certified_root_of`]).
    pub certified_root: Hash,
    /// Recent (height, block hash, state root) known to storage, oldest first (bounded by the
    /// caller; [`ROOTS_KEPT`] at most are kept).
    pub recent: Vec<(Height, Hash, Hash)>,
    /// Mempool capacity (transactions).
    pub mempool_max: usize,
    /// Mempool capacity (encoded bytes of the transactions held).
    pub mempool_max_bytes: usize,
    /// Largest tolerated clock skew of a proposal's timestamp.
    pub max_clock_skew_ms: u64,
    /// State transfer settings.
    pub sync: SyncConfig,
    /// The snapshot height the stored state was installed from (0 = genesis).
    pub base_height: Height,
    /// The lowest full block the store kept under retention (0 = nothing pruned).
    pub pruned_below: Height,
    /// The driver's clock at start.
    pub now_ms: u64,
}

/// The state root a restarted node regards as certified: at height 0 the genesis vouches for
/// the state; after that, the last block's header (unknown for a null block: uncertified).
pub fn certified_root_of(last_block: Option<&StoredBlock>, ledger: &Ledger) -> Hash {
    match last_block {
        Some(b) if !settlenet_consensus::is_null(&b.block) => b.block.header.state_root,
        None if ledger.height() == Height(0) => ledger.state_root(),
        _ => Hash::ZERO,
    }
}

/// What happens to the machine.
#[derive(Debug)]
pub enum Event {
    /// A one-way message from a validator (authenticated by the transport, decoded).
    Wire {
        /// The sender.
        from: ReplicaId,
        /// The message.
        wire: Wire,
    },
    /// The answer to an [`Effect::Request`] (or why there is none: timeout, unreachable).
    Answer {
        /// The peer asked.
        from: ReplicaId,
        /// What was asked (echoed by the driver).
        request: Request,
        /// The peer's response.
        result: Result<Response, String>,
    },
    /// A validator connected.
    PeerConnected(ReplicaId),
    /// A validator disconnected.
    PeerDisconnected(ReplicaId),
    /// An [`Effect::Spawn`]ed job finished.
    JobDone(JobResult),
    /// An [`Effect::FetchSnapshot`] finished: a verified snapshot, or why every peer failed.
    SnapshotFetched(Result<Box<Fetched>, String>),
    /// An [`Effect::PrepareSnapshot`] finished: the checkpoint at `height` indexed for serving
    /// ([`crate::snapshot::prepare_served`]), or why not.
    SnapshotPrepared {
        /// The snapshot height.
        height: Height,
        /// The served snapshot, or why it cannot be served.
        result: Result<Box<Served>, String>,
    },
    /// The time named by [`NodeMachine::next_wake_ms`] has come.
    Wake,
}

/// What the driver must do, in order, before the next event.
#[derive(Debug)]
pub enum Effect {
    /// Send to one validator, or to all others (`None`).
    Send {
        /// The recipient (`None`: every other validator).
        to: Option<ReplicaId>,
        /// The message.
        wire: Wire,
    },
    /// Ask a validator; answer with [`Event::Answer`] (always, failures included).
    Request {
        /// The peer.
        to: ReplicaId,
        /// The request.
        request: Request,
    },
    /// Append to the consensus write-ahead log, synchronously, before anything after it.
    PersistWal(Box<WalEntry>),
    /// Persist an executed block (one atomic write) before anything after it.
    CommitBlock(Box<BlockCommit>),
    /// A checkpoint became stable: drop the WAL entries it makes obsolete
    /// ([`crate::wal::obsolete_at_checkpoint`]).
    StableCheckpoint {
        /// Its height.
        height: Height,
        /// The state root a quorum signed.
        state_root: Hash,
    },
    /// Replace the stored state with a verified snapshot (one atomic write), dropping the WAL
    /// entries at or below it ([`crate::wal::obsolete_below_snapshot`]).
    InstallSnapshot(Box<SnapshotInstall>),
    /// The block at `height` (a snapshot height) was just committed: checkpoint the store now,
    /// before the next block is written, so the checkpoint holds exactly the state at `height`.
    /// A failure only means that snapshot is not served (log it).
    CaptureSnapshot {
        /// The height just committed.
        height: Height,
    },
    /// The checkpoint at this height is proven by a stable checkpoint: index it for serving
    /// off the event loop ([`crate::snapshot::prepare_served`]) and answer with
    /// [`Event::SnapshotPrepared`].
    PrepareSnapshot(Box<PrepareSnapshot>),
    /// Keep (store, count, log) a validator's two conflicting signed messages.
    Evidence(Box<EvidenceRecord>),
    /// Run a job off the event loop; answer with [`Event::JobDone`].
    Spawn(Job),
    /// Fetch and verify a snapshot from these peers in turn; answer with
    /// [`Event::SnapshotFetched`].
    FetchSnapshot(FetchPlan),
    /// Two different blocks are certified at one height: more than f validators are faulty
    /// and the ledger can no longer be trusted. Keep the record and stop the node; the
    /// machine ignores every event after this one.
    SafetyViolation(Box<SafetyViolation>),
    /// The ledger could not read an account from the node's store while executing a block
    /// (what failed and where): the state it computed cannot be trusted, so nothing of it was
    /// persisted or voted on. Stop the node; the machine ignores every event after this one.
    StoreReadFailed(String),
}

/// Two different blocks certified (each by a quorum of commit signatures) at one height.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SafetyViolation {
    /// The height.
    pub height: Height,
    /// The hash of the block this node executed there.
    pub ours: Hash,
    /// The other block's commit certificate (valid against the genesis).
    pub theirs: settlenet_types::CommitCertificate,
}

/// An executed block and everything its atomic write holds.
#[derive(Debug)]
pub struct BlockCommit {
    /// The block, its certificate, hash, previous hash and resulting state root.
    pub stored: StoredBlock,
    /// The final value of every account the block changed.
    pub changed_accounts: Vec<Account>,
    /// The records it created (archived, and live until their validity ends).
    pub new_records: Vec<(TxId, TxRecord)>,
    /// The records that left the ledger's live set at this block.
    pub pruned_records: Vec<TxId>,
    /// The history accumulator nodes the block created.
    pub history_nodes: Vec<settlenet_ledger::HistoryNode>,
    /// The ledger's history accumulator after the block.
    pub history: settlenet_ledger::History,
    /// Each transaction's outcome, in block order.
    pub outcomes: Vec<TxOutcome>,
    /// Installed by block sync (not through our own consensus round).
    pub synced: bool,
    /// Retention: after writing this block, drop the full blocks below this height, keeping
    /// their summaries (`[storage] retain_blocks`; `None` most of the time).
    pub prune_below: Option<Height>,
    /// Hold and charge entries consensus time expired at the start of the block (sorted).
    pub expired: Vec<settlenet_types::AccountId>,
    /// Closed entries the ledger archived at the start of the block (final values, sorted by
    /// id): storage moves them out of the state.
    pub archived: Vec<Account>,
}

impl BlockCommit {
    /// The account-history index entries: each account a transaction changed, with the
    /// transaction's position in the block and its id.
    pub fn history(&self) -> Vec<(settlenet_types::AccountId, u32, TxId)> {
        self.outcomes
            .iter()
            .enumerate()
            .flat_map(|(i, o)| {
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                o.changed.iter().map(move |a| (*a, i, o.id))
            })
            .collect()
    }
}

/// How a peer's request is answered: directly, or with blocks the driver reads from storage
/// (the machine holds no block bodies).
#[derive(Debug)]
pub enum Answer {
    /// The response.
    Ready(Response),
    /// Respond with `Response::Blocks`: stored blocks `from..=upto`, at most `max`, stopping at
    /// the first missing one, and before the blocks' encoded bytes would pass `max_bytes`
    /// (the first block always goes: [`Answer::take_block`]).
    Blocks {
        /// First height.
        from: Height,
        /// Last height held.
        upto: Height,
        /// At most this many.
        max: u32,
        /// At most this many encoded bytes.
        max_bytes: usize,
    },
    /// Respond with a snapshot chunk read from the store checkpoint at its height
    /// ([`ChunkRead::read`]).
    SnapshotChunk(Box<ChunkRead>),
}

impl Answer {
    /// Whether a block of `block_bytes` goes into a `Blocks` answer that already holds
    /// `count` blocks of `bytes` in all.
    pub fn take_block(count: usize, bytes: usize, block_bytes: usize, max_bytes: usize) -> bool {
        count == 0 || bytes.saturating_add(block_bytes) <= max_bytes
    }
}

/// Counts since the last [`NodeMachine::take_counters`] (the driver adds them to its metrics).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    /// Transactions accepted into the mempool from the API.
    pub txs_submitted: u64,
    /// Transactions in executed blocks.
    pub txs_committed: u64,
    /// Blocks executed.
    pub blocks_committed: u64,
    /// Blocks installed by block sync.
    pub blocks_synced: u64,
    /// Peer messages dropped (over a limit, invalid, unexpected).
    pub messages_dropped: u64,
    /// Proposals refused (before PREPARE).
    pub proposals_refused: u64,
    /// Conflicting signed messages reported by the replica.
    pub evidence: u64,
    /// Snapshots installed.
    pub snapshots_installed: u64,
    /// Snapshot chunks served.
    pub snapshot_chunks_served: u64,
}

/// A validator's logic: replica, ledger, mempool, sync. See the crate documentation.
pub struct NodeMachine {
    pub(crate) genesis: Arc<Genesis>,
    /// `None` on an observer.
    pub(crate) me: Option<ReplicaId>,
    /// `None` on an observer.
    pub(crate) replica: Option<Replica>,
    pub(crate) ledger: Ledger,
    pub(crate) mempool: Mempool,
    pub(crate) max_clock_skew_ms: u64,
    /// The driver's clock at the event being handled.
    pub(crate) now: u64,
    /// Validators connected now.
    pub(crate) connected: BTreeSet<ReplicaId>,
    /// Transactions accepted from our API, gossiped at `gossip_due_ms`.
    pub(crate) gossip_buf: Vec<SignedTransaction>,
    pub(crate) gossip_due_ms: Option<u64>,
    /// Proposals waiting until our ledger reaches their `state_height` (bounded), with the
    /// time their PRE-PREPARE arrived: consensus time is judged at arrival.
    pub(crate) deferred: Vec<(View, Block, u64)>,
    /// Proposals whose signatures are being checked by a job.
    pub(crate) checking: BTreeSet<(Height, Hash)>,
    /// Recent heights: (block hash, state root) (bounded by [`ROOTS_KEPT`]).
    pub(crate) recent: BTreeMap<Height, (Hash, Hash)>,
    pub(crate) last_hash: Hash,
    pub(crate) last_block_time_ms: u64,
    pub(crate) last_proposed_ms: u64,
    /// Highest height a peer reported, and whether a block request is in flight.
    pub(crate) sync_target: Height,
    /// A safety violation was seen ([`Effect::SafetyViolation`]): nothing more is done.
    pub(crate) halted: bool,
    /// The committed height each validator last claimed (at most n entries); a claim its
    /// maker does not back with blocks when asked is dropped.
    pub(crate) peer_heights: BTreeMap<ReplicaId, Height>,
    /// Peers that answered a block request with `BlocksFrom{base}` (they hold no block we
    /// need), since we last installed blocks: a snapshot is fetched only when f+1 of them (or
    /// every connected peer) say so, so that one Byzantine validator cannot send a replica that
    /// could sync block by block into snapshot fetches.
    pub(crate) blocks_from: BTreeMap<ReplicaId, Height>,
    pub(crate) sync_in_flight: bool,
    pub(crate) sync_peer_rr: usize,
    /// When our height last changed (for detecting a stall behind peers).
    pub(crate) last_progress_ms: u64,
    /// Consensus time of the last sweep of expired transactions from the mempool.
    pub(crate) mempool_swept_ms: u64,
    /// Running consensus timers: kind -> (deadline, duration it was set with) (ms, driver
    /// clock).
    pub(crate) timers: BTreeMap<TimerKind, (u64, u64)>,
    pub(crate) next_poll_ms: u64,
    /// The state root the last committed (non-null) header certifies. While it differs from
    /// our executed root and nothing is pending, the primary proposes one empty block so that
    /// an idle chain still certifies its latest state (account proofs need that).
    pub(crate) certified_root: Hash,
    pub(crate) snapshots: Snapshots,
    pub(crate) counters: Counters,
    /// Something happened after which the replica must hear that work is pending.
    pub(crate) work_signal: bool,
}

impl NodeMachine {
    /// A machine at the given state.
    pub fn new(p: MachineParts) -> NodeMachine {
        let mut recent = BTreeMap::new();
        recent.insert(Height(0), (Hash::ZERO, p.genesis_root));
        for (h, hash, root) in p.recent {
            recent.insert(h, (hash, root));
        }
        recent.insert(p.ledger.height(), (p.last_hash, p.ledger.state_root()));
        while recent.len() > ROOTS_KEPT {
            recent.pop_first();
        }
        let (me, replica) = match p.validator {
            Some((me, replica)) => (Some(me), Some(replica)),
            None => (None, None),
        };
        NodeMachine {
            me,
            replica,
            mempool: Mempool::new(p.mempool_max, p.mempool_max_bytes),
            max_clock_skew_ms: p.max_clock_skew_ms,
            now: p.now_ms,
            connected: BTreeSet::new(),
            gossip_buf: Vec::new(),
            gossip_due_ms: None,
            deferred: Vec::new(),
            checking: BTreeSet::new(),
            recent,
            last_hash: p.last_hash,
            last_block_time_ms: p.last_block_time_ms,
            last_proposed_ms: 0,
            sync_target: p.ledger.height(),
            halted: false,
            peer_heights: BTreeMap::new(),
            blocks_from: BTreeMap::new(),
            sync_in_flight: false,
            sync_peer_rr: 0,
            last_progress_ms: p.now_ms,
            mempool_swept_ms: 0,
            timers: BTreeMap::new(),
            next_poll_ms: p.now_ms,
            certified_root: p.certified_root,
            snapshots: Snapshots::new(p.sync, p.base_height, p.pruned_below),
            counters: Counters::default(),
            work_signal: true,
            ledger: p.ledger,
            genesis: p.genesis,
        }
    }

    // ---- reads ----

    /// The ledger (read-only: the driver answers API reads from it).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The driver has carried out every effect so far, so its store holds every block
    /// executed until now: the ledger reads its accounts from `store` from here on (attached
    /// the first time, and again after a snapshot install replaced the ledger with one held
    /// in memory), keeping at most `cache_capacity` of them cached.
    pub fn persisted(
        &mut self,
        store: &std::sync::Arc<dyn settlenet_ledger::AccountStore>,
        cache_capacity: usize,
    ) {
        if self.ledger.account_cache_stats().store_mode {
            self.ledger.persisted();
        } else {
            self.ledger.attach_store(store.clone(), cache_capacity);
        }
    }

    /// The replica (read-only); `None` on an observer.
    pub fn replica(&self) -> Option<&Replica> {
        self.replica.as_ref()
    }

    /// Whether a safety violation stopped this machine ([`Effect::SafetyViolation`]).
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// Whether this machine is an observer (no replica: it follows, never votes).
    pub fn is_observer(&self) -> bool {
        self.replica.is_none()
    }

    /// The replica's current view (0 on an observer).
    pub fn view(&self) -> View {
        self.replica.as_ref().map_or(View(0), |r| r.view())
    }

    /// Whether a transaction is pending here.
    pub fn is_pending(&self, id: &TxId) -> bool {
        self.mempool.contains(id)
    }

    /// Pending transactions.
    pub fn mempool_len(&self) -> usize {
        self.mempool.len()
    }

    /// Connected validators.
    pub fn connected(&self) -> &BTreeSet<ReplicaId> {
        &self.connected
    }

    /// Hash of the last executed block (zero at genesis).
    pub fn last_hash(&self) -> Hash {
        self.last_hash
    }

    /// Consensus time: the timestamp of the last block that carried one.
    pub fn last_block_time_ms(&self) -> u64 {
        self.last_block_time_ms
    }

    /// The snapshot height this node's state was installed from (0 = genesis).
    pub fn base_height(&self) -> Height {
        self.snapshots.base()
    }

    /// The lowest height whose full block this node holds and serves (above its snapshot base
    /// and what retention pruned).
    pub fn blocks_from(&self) -> Height {
        self.snapshots.first_block()
    }

    /// The genesis.
    pub fn genesis(&self) -> &Arc<Genesis> {
        &self.genesis
    }

    /// Counts since the last call (then reset).
    pub fn take_counters(&mut self) -> Counters {
        std::mem::take(&mut self.counters)
    }

    /// The earliest time (driver clock, ms) at which the machine has something to do; the
    /// driver sends [`Event::Wake`] then (or later). Never earlier than 1 ms after the last
    /// event, so a driver cannot spin.
    pub fn next_wake_ms(&mut self) -> u64 {
        let mut wake = self.next_poll_ms;
        if let Some(t) = self.timers.values().map(|(deadline, _)| *deadline).min() {
            wake = wake.min(t);
        }
        if let Some(t) = self.gossip_due_ms {
            wake = wake.min(t);
        }
        if let Some(t) = self.proposal_due_ms() {
            wake = wake.min(t);
        }
        wake.max(self.now + 1)
    }

    // ---- input ----

    /// Handle one event at `now_ms` (the driver's clock; never decreasing), appending what
    /// must happen to `out`.
    pub fn handle(&mut self, now_ms: u64, event: Event, out: &mut Vec<Effect>) {
        if self.halted {
            return;
        }
        self.advance_clock(now_ms);
        match event {
            Event::Wire { from, wire } => match wire {
                Wire::Consensus(message) => self.step(Input::Message { from, message }, out),
                Wire::Txs(txs) => self.on_gossip(txs, out),
            },
            Event::Answer {
                from,
                request,
                result,
            } => self.on_answer(from, request, result, out),
            Event::PeerConnected(r) => {
                if Some(r) != self.me && usize::from(r.0) < self.genesis.validators.len() {
                    self.connected.insert(r);
                }
            }
            Event::PeerDisconnected(r) => {
                self.connected.remove(&r);
            }
            Event::JobDone(result) => self.on_job_done(result, out),
            Event::SnapshotFetched(result) => self.on_snapshot_fetched(result, out),
            Event::SnapshotPrepared { height, result } => self.on_snapshot_prepared(height, result),
            Event::Wake => self.on_wake(out),
        }
        self.finish(out);
    }

    /// Move the clock to `now_ms` (never back). After a pause longer than [`PAUSE_MS`] the
    /// running timers restart from their full durations.
    fn advance_clock(&mut self, now_ms: u64) {
        let gap = now_ms.saturating_sub(self.now);
        if gap > PAUSE_MS && !self.timers.is_empty() {
            debug!(
                paused_ms = gap,
                "no event for longer than a running node goes without one: timers restart"
            );
            for (deadline, duration) in self.timers.values_mut() {
                *deadline = now_ms.saturating_add(*duration);
            }
        }
        self.now = self.now.max(now_ms);
    }

    /// Submit signature-verified transactions from the API: one outcome each.
    pub fn submit(
        &mut self,
        now_ms: u64,
        txs: Vec<SignedTransaction>,
        out: &mut Vec<Effect>,
    ) -> Vec<crate::SubmitOutcome> {
        self.advance_clock(now_ms);
        let outcomes = txs.into_iter().map(|tx| self.admit(tx, true)).collect();
        // An API request is already a batch: gossip it now rather than wait for more (the
        // primary counts a transaction's wait from when it arrives there).
        if !self.gossip_buf.is_empty() {
            self.flush_gossip(out);
        }
        self.finish(out);
        outcomes
    }

    /// Answer a peer's request (read-only but for snapshot serving's bookkeeping).
    pub fn answer(&mut self, now_ms: u64, request: Request) -> Answer {
        self.advance_clock(now_ms);
        self.serve(request)
    }

    /// After every event: cut blocks that are due and tell the replica about pending work.
    fn finish(&mut self, out: &mut Vec<Effect>) {
        self.maybe_propose(out);
        if self.work_signal && !self.mempool.is_empty() {
            // Known, uncommitted work: the replica keeps its view timer running (PBFT §4.4).
            self.step(Input::WorkPending, out);
        }
        self.work_signal = false;
    }

    fn on_wake(&mut self, out: &mut Vec<Effect>) {
        let now = self.now;
        if self.gossip_due_ms.is_some_and(|t| t <= now) {
            self.flush_gossip(out);
        }
        let due: Vec<TimerKind> = self
            .timers
            .iter()
            .filter(|(_, (deadline, _))| *deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        for kind in due {
            self.timers.remove(&kind);
            self.step(Input::Timeout(kind), out);
        }
        if self.next_poll_ms <= now {
            self.next_poll_ms = now
                + if self.is_observer() {
                    OBSERVER_POLL_INTERVAL_MS
                } else {
                    POLL_INTERVAL_MS
                };
            for r in self.connected.clone() {
                out.push(Effect::Request {
                    to: r,
                    request: Request::Status,
                });
            }
        }
        self.work_signal = true;
    }

    fn on_job_done(&mut self, result: JobResult, out: &mut Vec<Effect>) {
        match result {
            JobResult::GossipVerified { good, forged } => {
                self.counters.messages_dropped += forged;
                for tx in good {
                    let _ = self.admit(tx, false);
                }
            }
            JobResult::ProposalChecked {
                view,
                height,
                hash,
                result,
            } => {
                self.checking.remove(&(height, hash));
                let valid = match result {
                    Ok(()) => true,
                    Err(reason) => {
                        self.counters.proposals_refused += 1;
                        warn!(%height, %hash, "refusing proposal: {reason}");
                        false
                    }
                };
                self.step(
                    Input::ProposalVerdict {
                        view,
                        height,
                        block_hash: hash,
                        valid,
                    },
                    out,
                );
            }
        }
    }

    // ---- consensus ----

    /// The one path into the replica: step it, then carry out its outputs (which may step it
    /// again, e.g. `Executed` after `Committed`).
    pub(crate) fn step(&mut self, input: Input, out: &mut Vec<Effect>) {
        let Some(replica) = self.replica.as_mut() else {
            return; // an observer has no replica to tell
        };
        let view = replica.view();
        let mut outputs = Vec::new();
        replica.step(input, &mut outputs);
        let mut queue: VecDeque<Output> = outputs.into();
        while let Some(o) = queue.pop_front() {
            let mut more = Vec::new();
            self.on_output(o, &mut more, out);
            queue.extend(more);
        }
        if let Some(r) = self.replica.as_ref().filter(|r| r.view() != view) {
            info!(view = %r.view(), primary = %r.primary(), "entered a new view");
            self.on_view_changed(out);
        }
    }

    /// Step the replica from inside an output's handling: its outputs join the queue.
    pub(crate) fn step_inner(&mut self, input: Input, more: &mut Vec<Output>) {
        if let Some(r) = self.replica.as_mut() {
            r.step(input, more);
        }
    }

    /// A new view: transactions of our uncommitted proposals become proposable again, and a
    /// backup hands its oldest pending transactions (at most one gossip batch) to the new
    /// primary, which may not have them (it was down when they were gossiped, for example).
    pub(crate) fn on_view_changed(&mut self, out: &mut Vec<Effect>) {
        self.mempool.requeue_proposed();
        self.work_signal = true;
        let Some(primary) = self
            .replica
            .as_ref()
            .filter(|r| !r.is_primary())
            .map(|r| r.primary())
        else {
            return;
        };
        let pending = self.mempool.oldest_unproposed(GOSSIP_MAX_TXS);
        if !pending.is_empty() {
            out.push(Effect::Send {
                to: Some(primary),
                wire: Wire::Txs(pending),
            });
        }
    }

    pub(crate) fn on_output(&mut self, o: Output, more: &mut Vec<Output>, out: &mut Vec<Effect>) {
        match o {
            Output::Broadcast(message) => out.push(Effect::Send {
                to: None,
                wire: Wire::Consensus(message),
            }),
            Output::Send { to, message } => out.push(Effect::Send {
                to: Some(to),
                wire: Wire::Consensus(message),
            }),
            Output::VerifyProposal { view, block } => {
                let now = self.now;
                self.verify_proposal(view, block, now, more, out);
                // The block above it may have been waiting for this one.
                self.recheck_deferred(more, out);
            }
            Output::Committed { block, certificate } => {
                if let Some((height, state_root)) = self.execute(block, certificate, false, out) {
                    self.step_inner(Input::Executed { height, state_root }, more);
                }
                self.recheck_deferred(more, out);
            }
            Output::Persist(entry) => out.push(Effect::PersistWal(Box::new(entry))),
            Output::SetTimer { kind, after_ms } => {
                self.timers
                    .insert(kind, (self.now.saturating_add(after_ms), after_ms));
            }
            Output::CancelTimer(kind) => {
                self.timers.remove(&kind);
            }
            Output::StableCheckpoint {
                height,
                state_root,
                proof,
            } => {
                info!(%height, root = %state_root, "stable checkpoint");
                out.push(Effect::StableCheckpoint { height, state_root });
                self.snapshot_on_stable(height, state_root, proof, out);
            }
            Output::Behind { height } => {
                if height > self.sync_target {
                    self.sync_target = height;
                }
                self.start_sync(out);
            }
            Output::Evidence {
                replica,
                first,
                second,
            } => self.evidence(replica, first, second, out),
        }
    }

    fn evidence(
        &mut self,
        replica: ReplicaId,
        first: SignedMessage,
        second: SignedMessage,
        out: &mut Vec<Effect>,
    ) {
        self.counters.evidence += 1;
        out.push(Effect::Evidence(Box::new(EvidenceRecord {
            version: EVIDENCE_VERSION,
            validator: replica,
            first: crate::evidence::compact(first),
            second: crate::evidence::compact(second),
            first_seen_ms: self.now,
        })));
    }

    /// Remember (block hash, state root) at a height, bounded.
    pub(crate) fn remember(&mut self, height: Height, hash: Hash, root: Hash) {
        self.recent.insert(height, (hash, root));
        while self.recent.len() > ROOTS_KEPT {
            self.recent.pop_first();
        }
    }

    /// Our state root at `height`, if still remembered.
    pub(crate) fn root_at(&self, height: Height) -> Option<Hash> {
        self.recent.get(&height).map(|(_, root)| *root)
    }

    pub(crate) fn on_answer(
        &mut self,
        from: ReplicaId,
        request: Request,
        result: Result<Response, String>,
        out: &mut Vec<Effect>,
    ) {
        match (request, result) {
            (Request::Status, Ok(Response::Status { height })) => {
                self.on_peer_height(from, height, out)
            }
            (Request::Status, _) => {}
            (Request::Blocks { .. }, Ok(Response::Blocks(blocks))) => {
                self.sync_in_flight = false;
                self.on_blocks(from, blocks, out);
            }
            (Request::Blocks { .. }, Ok(Response::BlocksFrom { base })) => {
                self.sync_in_flight = false;
                self.on_blocks_from(from, base, out);
            }
            (Request::Blocks { .. }, other) => {
                self.sync_in_flight = false;
                let why = match other {
                    Ok(Response::Error(e)) | Err(e) => e,
                    Ok(_) => "unexpected response".into(),
                };
                warn!(peer = %from, "state transfer request failed: {why}");
            }
            (Request::SnapshotManifest | Request::SnapshotChunk { .. } | Request::Submit(_), _) => {
                // Snapshot fetches run as one FetchSnapshot effect, not through here.
                self.counters.messages_dropped += 1;
            }
        }
    }

    fn on_snapshot_fetched(&mut self, result: Result<Box<Fetched>, String>, out: &mut Vec<Effect>) {
        self.snapshots.fetch_done();
        match result {
            Ok(f) => self.install_snapshot(*f, out),
            Err(e) => {
                self.snapshots.fetch_failed(self.now);
                warn!("state transfer: no snapshot installed: {e}; block sync continues");
                self.start_sync(out);
            }
        }
    }

    /// Hand a proven ledger copy to a job for encoding.
    pub(crate) fn spawn(&mut self, job: Job, out: &mut Vec<Effect>) {
        out.push(Effect::Spawn(job));
    }
}
