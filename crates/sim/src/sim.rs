//! The event loop: replicas, their ledgers and storage, the network, the faults.

use crate::check::{Checker, VoteKind};
use crate::error::{SimError, Violation};
use crate::memo::MemoVerifier;
use crate::scenario::{
    Byzantine, Scenario, AFTER_HEAL_HEIGHTS, AFTER_HEAL_MS, CHAOS_HEIGHTS, CHAOS_MS,
};
use crate::workload::{self, Workload, CHAIN, MAX_IN_FLIGHT};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use settlenet_consensus::{
    is_null, CheckpointProof, Input, Output, Payload, Replica, ReplicaConfig, SignedMessage,
    TimerKind, ViewChangeBody, WalEntry, VIEW_CHANGE_TAG,
};
use settlenet_crypto::{verify_certificate_with, Keypair, StrictVerifier};
use settlenet_ledger::{Account, Ledger, TxRecord};
use settlenet_types::block::BLOCK_VERSION;
use settlenet_types::{
    decode, encode, AccountId, Block, BlockHeader, CommitCertificate, Currency, Genesis, Hash,
    Height, ReplicaId, SignedTransaction, TxId, View,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// View timer bounds of the simulated replicas (short, so that view changes are frequent).
const TIMEOUT_MIN_MS: u64 = 150;
const TIMEOUT_MAX_MS: u64 = 2_400;
/// Checkpoint interval (short, so that runs cross several checkpoints).
const CHECKPOINT_INTERVAL: u64 = 4;
/// The nodes' pool tick: pending work is reported and primaries propose.
const TICK_MS: u64 = 40;
/// Every this many ticks, a replica behind the best honest peer fetches blocks (status polling).
const SYNC_EVERY_TICKS: u64 = 12;
/// A run that takes more steps than this has a livelock.
const STEPS_MAX: u64 = 3_000_000;
/// Proposals a replica keeps while its ledger is behind their `state_height` (the node's bound).
const DEFERRED_MAX: usize = 64;
/// Old messages the replaying Byzantine replica remembers.
const HISTORY_MAX: usize = 64;

/// How to run a seed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Keep a human-readable trace (returned in [`Outcome::trace`] or [`SimError::trace`]).
    pub trace: bool,
    /// A bug planted on purpose, to show that the checks catch it (tests only).
    pub fault: Option<InjectedFault>,
}

/// A bug the simulator can plant in its own harness, so that tests can show the checks fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectedFault {
    /// This (honest) replica executes every block without its transactions: its ledger
    /// diverges from the others'.
    LedgerSkipsTransactions {
        /// The replica.
        replica: usize,
    },
}

/// What a passing seed did.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Replicas.
    pub n: usize,
    /// The seed.
    pub seed: u64,
    /// The faults of the run.
    pub scenario: Scenario,
    /// Hash of every event of the run (time, replica, kind, values, state roots): the same
    /// seed gives the same hash.
    pub trace_hash: u64,
    /// Replica steps.
    pub steps: u64,
    /// Times a replica moved to a higher view.
    pub view_changes: u64,
    /// Crashes (each followed by a restart from the replica's log and storage).
    pub crashes: u64,
    /// State transfers that installed blocks.
    pub syncs: u64,
    /// Highest height final on an honest replica.
    pub max_height: u64,
    /// Null blocks committed (all replicas).
    pub null_blocks: u64,
    /// Transactions in final blocks that succeeded, failed, or were idempotent retries
    /// (counted once per height).
    pub txs_ok: u64,
    /// See `txs_ok`.
    pub txs_failed: u64,
    /// See `txs_ok`.
    pub txs_duplicate: u64,
    /// Simulated time at the end (ms).
    pub sim_time_ms: u64,
    /// The trace, when asked for.
    pub trace: Vec<String>,
}

/// Totals over many seeds (what the binary and the seed tests print).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Seeds that passed.
    pub seeds: u64,
    /// Sum of [`Outcome::view_changes`].
    pub view_changes: u64,
    /// Sum of [`Outcome::crashes`].
    pub crashes: u64,
    /// Sum of [`Outcome::syncs`].
    pub syncs: u64,
    /// Highest [`Outcome::max_height`].
    pub max_height: u64,
    /// Sum of [`Outcome::null_blocks`].
    pub null_blocks: u64,
    /// Sum of [`Outcome::txs_ok`].
    pub txs_ok: u64,
    /// Sum of [`Outcome::txs_failed`].
    pub txs_failed: u64,
    /// Sum of [`Outcome::txs_duplicate`].
    pub txs_duplicate: u64,
}

impl Summary {
    /// One passing seed.
    pub fn of(o: &Outcome) -> Summary {
        Summary {
            seeds: 1,
            view_changes: o.view_changes,
            crashes: o.crashes,
            syncs: o.syncs,
            max_height: o.max_height,
            null_blocks: o.null_blocks,
            txs_ok: o.txs_ok,
            txs_failed: o.txs_failed,
            txs_duplicate: o.txs_duplicate,
        }
    }

    /// Count one passing seed.
    pub fn add(&mut self, o: &Outcome) {
        self.merge(&Summary::of(o));
    }

    /// Add another summary (e.g. another thread's).
    pub fn merge(&mut self, other: &Summary) {
        self.seeds += other.seeds;
        self.view_changes += other.view_changes;
        self.crashes += other.crashes;
        self.syncs += other.syncs;
        self.max_height = self.max_height.max(other.max_height);
        self.null_blocks += other.null_blocks;
        self.txs_ok += other.txs_ok;
        self.txs_failed += other.txs_failed;
        self.txs_duplicate += other.txs_duplicate;
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} seeds, {} view changes, {} crashes, {} state transfers, max height {}, {} null \
             blocks, txs {} ok / {} failed / {} duplicate",
            self.seeds,
            self.view_changes,
            self.crashes,
            self.syncs,
            self.max_height,
            self.null_blocks,
            self.txs_ok,
            self.txs_failed,
            self.txs_duplicate
        )
    }
}

/// Run one seed with `n` replicas: `Ok` with its statistics, or the violation it found.
pub fn run_seed(n: usize, seed: u64) -> Result<Outcome, Box<SimError>> {
    run_seed_with(n, seed, Options::default())
}

/// [`run_seed`] with options.
pub fn run_seed_with(n: usize, seed: u64, options: Options) -> Result<Outcome, Box<SimError>> {
    let mut sim = match Sim::new(n, seed, options) {
        Ok(sim) => sim,
        Err(violation) => {
            return Err(Box::new(SimError {
                n,
                seed,
                time_ms: 0,
                scenario: Scenario::from_seed(n, seed),
                violation,
                trace: Vec::new(),
            }))
        }
    };
    match sim.run() {
        Ok(()) => Ok(sim.outcome()),
        Err(violation) => Err(Box::new(SimError {
            n,
            seed,
            time_ms: sim.now,
            scenario: sim.scenario.clone(),
            violation,
            trace: std::mem::take(&mut sim.trace),
        })),
    }
}

enum Event {
    Deliver {
        to: usize,
        from: usize,
        message: SignedMessage,
    },
    Verdict {
        to: usize,
        incarnation: u64,
        view: View,
        height: Height,
        block_hash: Hash,
        valid: bool,
    },
    Timer {
        to: usize,
        epoch: u64,
    },
    Sync {
        to: usize,
        incarnation: u64,
    },
    Crash {
        who: usize,
    },
    Restart {
        who: usize,
    },
    /// The nodes' pools: work is pending while the target is not reached; primaries propose.
    Tick,
    /// A partition starts (directed links cut) or ends (empty set).
    Partition {
        cut: BTreeSet<(usize, usize)>,
    },
    Heal,
}

/// One node: the replica, and what its storage holds (which survives a crash).
struct Node {
    replica: Replica,
    alive: bool,
    /// Bumped on every restart: events for an earlier incarnation are void.
    incarnation: u64,
    /// The consensus write-ahead log (what `Persist` wrote).
    wal: Vec<WalEntry>,
    /// The ledger in memory (rebuilt from storage on restart).
    ledger: Ledger,
    /// Storage: the state root after each height (index h - 1).
    roots: Vec<Hash>,
    /// Storage: the certified blocks, served to peers for state transfer.
    certified: Vec<(Block, CommitCertificate)>,
    /// Storage: the latest version of every account changed since genesis...
    stored_accounts: BTreeMap<AccountId, Account>,
    /// ...and every transaction record, as the node persists them per block.
    stored_records: Vec<(TxId, TxRecord)>,
    /// Proposals waiting for the ledger to reach their `state_height` (lost on a crash).
    deferred: Vec<(View, Block)>,
    timer_epoch: u64,
}

impl Node {
    fn height(&self) -> u64 {
        self.certified.len() as u64
    }
}

/// The simulation of one seed.
pub struct Sim {
    scenario: Scenario,
    seed: u64,
    rng: ChaCha8Rng,
    now: u64,
    next_id: u64,
    queue: BTreeMap<(u64, u64), Event>,
    nodes: Vec<Node>,
    keys: Vec<Keypair>,
    genesis: Genesis,
    genesis_root: Hash,
    genesis_totals: BTreeMap<Currency, i128>,
    configs: Vec<ReplicaConfig>,
    workload: Workload,
    /// A transaction submitted when the network heals: it must commit on every honest replica.
    probe: Option<SignedTransaction>,
    /// Directed links cut by the current partition.
    cut: BTreeSet<(usize, usize)>,
    healed: bool,
    /// Heights proposals may go up to.
    propose_limit: u64,
    checker: Checker,
    /// Certificates already verified: (height, block hash, encoded certificate).
    verified: BTreeSet<(Height, Hash, Vec<u8>)>,
    /// The replicas' shared signature verifier (a memo in front of strict verification), also
    /// used for commit certificates.
    verifier: Arc<MemoVerifier>,
    /// The Byzantine replica's own old messages, for replay.
    history: Vec<SignedMessage>,
    /// The Byzantine replica's last re-signed message: (original, rewritten). A broadcast is
    /// rewritten once per recipient, always to the same message (ed25519 signing is
    /// deterministic), so it is signed once.
    last_rewrite: Option<(SignedMessage, Option<SignedMessage>)>,
    trace_hash: u64,
    tracing: bool,
    fault: Option<InjectedFault>,
    trace: Vec<String>,
    steps: u64,
    view_changes: u64,
    crashes: u64,
    syncs: u64,
    ticks: u64,
    null_blocks: u64,
    txs_ok: u64,
    txs_failed: u64,
    txs_duplicate: u64,
}

fn mix(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(0x0100_0000_01b3).rotate_left(17)
}

fn prefix(h: &Hash) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.0[..8]);
    u64::from_be_bytes(b)
}

fn block_hash(block: &Block) -> Result<Hash, Violation> {
    block
        .header
        .hash()
        .map_err(|e| Violation::Harness(format!("hashing block {}: {e}", block.header.height)))
}

impl Sim {
    /// Set up a run: replicas, ledgers at genesis, and the scheduled faults.
    pub fn new(n: usize, seed: u64, options: Options) -> Result<Sim, Violation> {
        let scenario = Scenario::from_seed(n, seed);
        let keys = workload::validator_keys(n);
        let genesis = workload::genesis(&keys);
        let ledger = Ledger::from_genesis(&genesis)
            .map_err(|e| Violation::Harness(format!("genesis ledger: {e}")))?;
        let validators: Vec<_> = keys.iter().map(Keypair::public).collect();
        // One memo for all replicas (restarted ones too): a signature any of them verified is
        // not verified again; the answers are those of strict verification.
        let verifier = Arc::new(MemoVerifier::new(StrictVerifier::with_keys(&validators)));
        let configs: Vec<ReplicaConfig> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| ReplicaConfig {
                view_timeout_ms_min: TIMEOUT_MIN_MS,
                view_timeout_ms_max: TIMEOUT_MAX_MS,
                checkpoint_interval: CHECKPOINT_INTERVAL,
                verifier: verifier.clone(),
                ..ReplicaConfig::new(
                    CHAIN.into(),
                    validators.clone(),
                    ReplicaId(i as u16),
                    k.clone(),
                    MAX_IN_FLIGHT,
                )
            })
            .collect();
        let mut nodes = Vec::with_capacity(n);
        for c in &configs {
            let replica = Replica::new(c.clone(), Height(0), View(0))
                .map_err(|e| Violation::Harness(format!("replica: {e}")))?;
            nodes.push(Node {
                replica,
                alive: true,
                incarnation: 0,
                wal: Vec::new(),
                ledger: ledger.clone(),
                roots: Vec::new(),
                certified: Vec::new(),
                stored_accounts: BTreeMap::new(),
                stored_records: Vec::new(),
                deferred: Vec::new(),
                timer_epoch: 0,
            });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let workload = Workload::new(&mut rng);
        let mut sim = Sim {
            scenario,
            seed,
            rng,
            now: 0,
            next_id: 0,
            queue: BTreeMap::new(),
            nodes,
            keys,
            genesis_root: ledger.state_root(),
            genesis_totals: ledger.totals(),
            genesis,
            configs,
            workload,
            probe: None,
            cut: BTreeSet::new(),
            healed: false,
            propose_limit: CHAOS_HEIGHTS,
            checker: Checker::new(),
            verified: BTreeSet::new(),
            verifier,
            history: Vec::new(),
            last_rewrite: None,
            trace_hash: 0xcbf2_9ce4_8422_2325,
            tracing: options.trace,
            fault: options.fault,
            trace: Vec::new(),
            steps: 0,
            view_changes: 0,
            crashes: 0,
            syncs: 0,
            ticks: 0,
            null_blocks: 0,
            txs_ok: 0,
            txs_failed: 0,
            txs_duplicate: 0,
        };
        let scenario = sim.scenario.clone();
        sim.note(|| format!("scenario {scenario:?}"));
        sim.schedule(0, Event::Tick);
        for who in sim.scenario.crashing.clone() {
            let at = sim.rng.gen_range(100..CHAOS_MS - 200);
            sim.schedule(at, Event::Crash { who });
        }
        if sim.scenario.partitions {
            for _ in 0..3 {
                let at = sim.rng.gen_range(0..CHAOS_MS - 300);
                let mut cut = BTreeSet::new();
                let victim = sim.rng.gen_range(0..n);
                let one_way = sim.rng.gen_bool(0.5);
                for j in 0..n {
                    if j != victim {
                        cut.insert((j, victim));
                        if !one_way {
                            cut.insert((victim, j));
                        }
                    }
                }
                sim.schedule(at, Event::Partition { cut });
                let len = sim.rng.gen_range(50..400);
                sim.schedule(
                    at + len,
                    Event::Partition {
                        cut: BTreeSet::new(),
                    },
                );
            }
        }
        sim.schedule(CHAOS_MS, Event::Heal);
        Ok(sim)
    }

    fn outcome(&self) -> Outcome {
        Outcome {
            n: self.scenario.n,
            seed: self.seed,
            scenario: self.scenario.clone(),
            trace_hash: self.trace_hash,
            steps: self.steps,
            view_changes: self.view_changes,
            crashes: self.crashes,
            syncs: self.syncs,
            max_height: self.checker.top().0,
            null_blocks: self.null_blocks,
            txs_ok: self.txs_ok,
            txs_failed: self.txs_failed,
            txs_duplicate: self.txs_duplicate,
            sim_time_ms: self.now,
            trace: self.trace.clone(),
        }
    }

    fn is_byzantine(&self, i: usize) -> bool {
        self.scenario.byzantine.is_some_and(|(b, _)| b == i)
    }

    fn honest(&self, i: usize) -> bool {
        !self.is_byzantine(i)
    }

    /// Add a line to the human-readable trace (built only when tracing).
    fn note(&mut self, line: impl FnOnce() -> String) {
        if self.tracing {
            let line = format!("t={:>6} {}", self.now, line());
            self.trace.push(line);
        }
    }

    fn mark(&mut self, i: usize, what: u64, a: u64, b: u64) {
        let mut h = self.trace_hash;
        for x in [self.now, i as u64, what, a, b] {
            h = mix(h, x);
        }
        self.trace_hash = h;
    }

    fn schedule(&mut self, delay: u64, event: Event) {
        self.next_id += 1;
        self.queue.insert((self.now + delay, self.next_id), event);
    }

    fn send(&mut self, from: usize, to: usize, message: SignedMessage) {
        if from == to {
            return;
        }
        if !self.healed
            && (self.cut.contains(&(from, to))
                || self.rng.gen_range(0..100) < self.scenario.drop_percent)
        {
            return;
        }
        let copies = if self.rng.gen_range(0..100) < self.scenario.duplicate_percent {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.rng.gen_range(1..=self.scenario.max_delay_ms);
            self.schedule(
                delay,
                Event::Deliver {
                    to,
                    from,
                    message: message.clone(),
                },
            );
        }
    }

    /// One replica step, with the write-ahead and view checks, then its outputs.
    fn step(&mut self, i: usize, input: Input) -> Result<(), Violation> {
        if !self.nodes[i].alive {
            return Ok(());
        }
        self.steps += 1;
        let mut out = Vec::new();
        self.nodes[i].replica.step(input, &mut out);
        // Write-ahead: every Persist of a step precedes every message of it.
        let first_message = out
            .iter()
            .position(|o| matches!(o, Output::Broadcast(_) | Output::Send { .. }));
        let last_persist = out.iter().rposition(|o| matches!(o, Output::Persist(_)));
        if let (Some(m), Some(p)) = (first_message, last_persist) {
            if p > m {
                return Err(Violation::PersistAfterMessage { replica: i });
            }
        }
        let view = self.nodes[i].replica.view();
        if self.checker.view(i, view)? {
            self.view_changes += 1;
            self.mark(i, 1, view.0, 0);
            self.note(|| format!("r{i} enters view {view}"));
        }
        for output in out {
            self.handle(i, output)?;
        }
        Ok(())
    }

    fn check_vote(&mut self, i: usize, m: &SignedMessage) -> Result<(), Violation> {
        if !self.honest(i) {
            return Ok(());
        }
        let (kind, hash) = match &m.payload {
            Payload::PrePrepare { block, .. } => (VoteKind::PrePrepare, block_hash(block)?),
            Payload::Prepare(b) => (VoteKind::Prepare, b.block_hash),
            Payload::Commit(b) => (VoteKind::Commit, b.block_hash),
            _ => return Ok(()),
        };
        self.checker
            .vote(i, kind, m.payload.view(), m.payload.height(), hash)
    }

    fn handle(&mut self, i: usize, output: Output) -> Result<(), Violation> {
        match output {
            Output::Broadcast(m) => {
                self.check_vote(i, &m)?;
                self.mark(i, 2, m.payload.view().0, m.payload.height().0);
                self.note(|| {
                    format!(
                        "r{i} sends {:?} view {} height {}",
                        m.payload.kind(),
                        m.payload.view(),
                        m.payload.height()
                    )
                });
                for j in 0..self.scenario.n {
                    if j != i {
                        if let Some(m) = self.rewrite(i, j, &m) {
                            self.send(i, j, m);
                        }
                    }
                }
            }
            Output::Send { to, message } => {
                let to = usize::from(to.0);
                if let Some(m) = self.rewrite(i, to, &message) {
                    self.send(i, to, m);
                }
            }
            Output::VerifyProposal { view, block } => self.verify_proposal(i, view, block)?,
            Output::Committed { block, certificate } => {
                let height = block.header.height;
                let hash = block_hash(&block)?;
                if height.0 != self.nodes[i].height() + 1 {
                    return Err(Violation::BadCommit {
                        replica: i,
                        height,
                        reason: format!("committed after height {}", self.nodes[i].height()),
                    });
                }
                self.verify_certificate(i, height, hash, &certificate)?;
                if is_null(&block) {
                    self.null_blocks += 1;
                }
                let root = self.execute(i, block, certificate)?;
                self.step(
                    i,
                    Input::Executed {
                        height,
                        state_root: root,
                    },
                )?;
            }
            Output::Behind { height } => {
                self.mark(i, 4, height.0, 0);
                let delay = self.rng.gen_range(1..=10);
                let incarnation = self.nodes[i].incarnation;
                self.schedule(delay, Event::Sync { to: i, incarnation });
            }
            Output::Evidence { replica, .. } => {
                let accused = usize::from(replica.0);
                if !self.is_byzantine(accused) && self.honest(i) {
                    return Err(Violation::FalseEvidence {
                        replica: i,
                        accused,
                    });
                }
            }
            Output::Persist(entry) => {
                // The log must round-trip through the canonical codec.
                let bytes = encode("wal", &entry)
                    .map_err(|e| Violation::Harness(format!("encoding a WAL entry: {e}")))?;
                let back: WalEntry = decode("wal", &bytes)
                    .map_err(|e| Violation::Harness(format!("decoding a WAL entry: {e}")))?;
                if back != entry {
                    return Err(Violation::Harness("a WAL entry does not round-trip".into()));
                }
                self.nodes[i].wal.push(entry);
            }
            Output::SetTimer { kind, after_ms } => {
                if kind != TimerKind::View || !(TIMEOUT_MIN_MS..=TIMEOUT_MAX_MS).contains(&after_ms)
                {
                    return Err(Violation::Harness(format!(
                        "replica {i} set timer {kind:?} for {after_ms} ms"
                    )));
                }
                self.nodes[i].timer_epoch += 1;
                let epoch = self.nodes[i].timer_epoch;
                self.schedule(after_ms, Event::Timer { to: i, epoch });
            }
            Output::CancelTimer(_) => self.nodes[i].timer_epoch += 1,
            Output::StableCheckpoint {
                height, state_root, ..
            } => {
                self.mark(i, 5, height.0, prefix(&state_root));
                self.note(|| format!("r{i} stable checkpoint {height} root {state_root}"));
                if self.honest(i) {
                    self.checker.state_root(i, height, state_root)?;
                }
                self.truncate_wal(i, height);
            }
        }
        Ok(())
    }

    /// The node's WAL truncation at a stable checkpoint (`settlenet-node`, `truncate_wal`):
    /// votes at or below it go, and all but the latest VIEW-CHANGE, NEW-VIEW and checkpoint
    /// entry. Restarts then restore from the truncated log, as the node's do.
    fn truncate_wal(&mut self, i: usize, height: Height) {
        let wal = std::mem::take(&mut self.nodes[i].wal);
        let kind = |e: &WalEntry| match e {
            WalEntry::ViewChange(_) => Some(0),
            WalEntry::NewView(_) => Some(1),
            WalEntry::StableCheckpoint(_) => Some(2),
            _ => None,
        };
        let mut latest = [None; 3];
        for (k, e) in wal.iter().enumerate() {
            if let Some(x) = kind(e) {
                latest[x] = Some(k);
            }
        }
        self.nodes[i].wal = wal
            .into_iter()
            .enumerate()
            .filter(|(k, e)| match kind(e) {
                Some(x) => latest[x] == Some(*k),
                None => e.height() > height,
            })
            .map(|(_, e)| e)
            .collect();
    }

    fn verify_certificate(
        &mut self,
        i: usize,
        height: Height,
        hash: Hash,
        certificate: &CommitCertificate,
    ) -> Result<(), Violation> {
        let bytes = encode("certificate", certificate)
            .map_err(|e| Violation::Harness(format!("encoding a certificate: {e}")))?;
        let key = (height, hash, bytes);
        if self.verified.contains(&key) {
            return Ok(());
        }
        // Each signature strictly (at least as strict as the node's batch check), through the
        // memo: the replica verified every COMMIT signature of its certificate on receipt.
        verify_certificate_with(
            &self.genesis,
            height,
            &hash,
            certificate,
            self.verifier.as_ref(),
        )
        .map_err(|e| Violation::BadCommit {
            replica: i,
            height,
            reason: format!("certificate: {e}"),
        })?;
        self.verified.insert(key);
        Ok(())
    }

    /// The node's proposal check: a proposal waits until the ledger reaches its
    /// `state_height`, and is valid when its `state_root` is ours at that height. (Transaction
    /// signatures are not verified here: they are valid by construction, and the check costs.)
    fn verify_proposal(&mut self, i: usize, view: View, block: Block) -> Result<(), Violation> {
        let h = &block.header;
        let hash = block_hash(&block)?;
        let mine = self.nodes[i].height();
        if !is_null(&block) && h.state_height.0 > mine {
            let (height, state_height) = (h.height, h.state_height);
            self.note(|| format!("r{i} defers proposal {height} until it executes {state_height}"));
            if self.nodes[i].deferred.len() < DEFERRED_MAX {
                self.nodes[i].deferred.push((view, block));
            }
            return Ok(());
        }
        let valid = is_null(&block) || {
            let ours = match h.state_height.0 {
                0 => self.genesis_root,
                s => self.nodes[i].roots[(s - 1) as usize],
            };
            ours == h.state_root && h.chain_id == CHAIN && h.version == BLOCK_VERSION
        };
        let height = h.height;
        self.note(|| format!("r{i} checks proposal {height} {hash}: valid {valid}"));
        let delay = self.rng.gen_range(0..=3);
        let incarnation = self.nodes[i].incarnation;
        self.schedule(
            delay,
            Event::Verdict {
                to: i,
                incarnation,
                view,
                height: block.header.height,
                block_hash: hash,
                valid,
            },
        );
        Ok(())
    }

    /// Execute a certified block on node i's ledger and persist it ("storage"). Returns the
    /// new state root.
    fn execute(
        &mut self,
        i: usize,
        block: Block,
        certificate: CommitCertificate,
    ) -> Result<Hash, Violation> {
        let height = block.header.height;
        let hash = block_hash(&block)?;
        let honest = self.honest(i);
        let new = honest && self.checker.final_block(height, hash)?;
        let node = &mut self.nodes[i];
        if node.ledger.height().next() != height {
            return Err(Violation::BadCommit {
                replica: i,
                height,
                reason: format!("ledger at {}", node.ledger.height()),
            });
        }
        let skip = self.fault == Some(InjectedFault::LedgerSkipsTransactions { replica: i });
        let txs = if skip { &[][..] } else { &block.txs[..] };
        let outcome = node
            .ledger
            .apply_block(height, block.header.timestamp_ms, txs);
        let totals = node.ledger.totals();
        if totals != self.genesis_totals {
            return Err(Violation::MoneyNotConserved {
                replica: i,
                height,
                detail: format!("totals {totals:?}, genesis {:?}", self.genesis_totals),
            });
        }
        for account in outcome.changed_accounts {
            node.stored_accounts.insert(account.id, account);
        }
        node.stored_records.extend(outcome.new_records);
        let root = outcome.state_root;
        node.roots.push(root);
        node.certified.push((block, certificate));
        if new {
            for o in &outcome.outcomes {
                if o.duplicate {
                    self.txs_duplicate += 1;
                } else if o.result.is_ok() {
                    self.txs_ok += 1;
                } else {
                    self.txs_failed += 1;
                }
            }
        }
        self.mark(i, 3, height.0, prefix(&root));
        self.note(|| {
            let results: Vec<String> = outcome
                .outcomes
                .iter()
                .map(|o| format!("{}{}", o.result, if o.duplicate { "(dup)" } else { "" }))
                .collect();
            format!(
                "r{i} executes {height} {hash} root {root} [{}]",
                results.join(" ")
            )
        });
        if honest {
            self.checker.state_root(i, height, root)?;
        }
        self.recheck_deferred(i)?;
        Ok(root)
    }

    fn recheck_deferred(&mut self, i: usize) -> Result<(), Violation> {
        let mine = self.nodes[i].height();
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.nodes[i].deferred)
            .into_iter()
            .partition(|(_, b)| b.header.state_height.0 <= mine);
        self.nodes[i].deferred = waiting;
        for (view, block) in ready {
            self.verify_proposal(i, view, block)?;
        }
        Ok(())
    }

    /// The Byzantine replica's rewriting of its outgoing messages (None: not sent).
    fn rewrite(&mut self, i: usize, to: usize, m: &SignedMessage) -> Option<SignedMessage> {
        let Some((b, kind)) = self.scenario.byzantine else {
            return Some(m.clone());
        };
        if b != i {
            return Some(m.clone());
        }
        if self.history.len() < HISTORY_MAX {
            self.history.push(m.clone());
        }
        match kind {
            Byzantine::Silent => None,
            Byzantine::Replay | Byzantine::SpamViews => Some(m.clone()),
            Byzantine::Equivocate if to.is_multiple_of(2) => Some(m.clone()),
            Byzantine::Equivocate | Byzantine::WrongDigest => match &self.last_rewrite {
                Some((original, rewritten)) if original == m => rewritten.clone(),
                _ => {
                    let rewritten = self.resign(i, m);
                    self.last_rewrite = Some((m.clone(), rewritten.clone()));
                    rewritten
                }
            },
        }
    }

    /// The Byzantine replica's lie: a PRE-PREPARE of another block (timestamp changed), or a
    /// vote for another digest, validly signed; other messages unchanged.
    fn resign(&self, i: usize, m: &SignedMessage) -> Option<SignedMessage> {
        let key = &self.keys[i];
        match &m.payload {
            Payload::PrePrepare { view, block } => {
                let mut block = block.clone();
                block.header.timestamp_ms ^= 0xdead;
                SignedMessage::pre_prepare(CHAIN, *view, block, m.from, key).ok()
            }
            Payload::Prepare(body) | Payload::Commit(body) => {
                let mut body = body.clone();
                body.block_hash.0[0] ^= 0xff;
                SignedMessage::vote(body, m.from, key).ok()
            }
            _ => Some(m.clone()),
        }
    }

    fn byzantine_extras(&mut self) -> Result<(), Violation> {
        let Some((b, kind)) = self.scenario.byzantine else {
            return Ok(());
        };
        if !self.nodes[b].alive {
            return Ok(());
        }
        match kind {
            Byzantine::Replay if !self.history.is_empty() => {
                for _ in 0..3 {
                    let k = self.rng.gen_range(0..self.history.len());
                    let to = self.rng.gen_range(0..self.scenario.n);
                    let m = self.history[k].clone();
                    self.send(b, to, m);
                }
            }
            Byzantine::SpamViews if self.ticks.is_multiple_of(4) => {
                let view = View(self.nodes[b].replica.view().0 + self.rng.gen_range(2..1_000_000));
                let body = ViewChangeBody {
                    tag: VIEW_CHANGE_TAG,
                    chain_id: CHAIN.into(),
                    view,
                    checkpoint: CheckpointProof::genesis(),
                    prepared: vec![],
                };
                let m = SignedMessage::view_change(body, ReplicaId(b as u16), &self.keys[b])
                    .map_err(|e| Violation::Harness(format!("signing a VIEW-CHANGE: {e}")))?;
                for j in 0..self.scenario.n {
                    self.send(b, j, m.clone());
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// State transfer as the node does it: certified blocks from the most advanced honest peer,
    /// each certificate verified and each block executed.
    fn sync(&mut self, i: usize) -> Result<(), Violation> {
        let Some(source) = (0..self.scenario.n)
            .filter(|j| *j != i && self.honest(*j))
            .max_by_key(|j| (self.nodes[*j].height(), std::cmp::Reverse(*j)))
        else {
            return Ok(());
        };
        let have = self.nodes[i].height();
        let target = self.nodes[source].height();
        if target <= have {
            return Ok(());
        }
        self.syncs += 1;
        self.mark(i, 6, have, target);
        self.note(|| format!("r{i} fetches {}..={target} from r{source}", have + 1));
        let mut roots = Vec::new();
        for idx in have..target {
            let (block, cert) = self.nodes[source].certified[idx as usize].clone();
            let height = block.header.height;
            let hash = block_hash(&block)?;
            self.verify_certificate(i, height, hash, &cert)?;
            roots.push((height, self.execute(i, block, cert)?));
        }
        self.step(i, Input::SyncedTo(Height(target)))?;
        for (height, state_root) in roots {
            self.step(i, Input::Executed { height, state_root })?;
        }
        Ok(())
    }

    fn make_block(&mut self, height: Height, proposer: usize) -> Result<Block, Violation> {
        let mut txs = self.workload.draw(&mut self.rng)?;
        if let Some(probe) = &self.probe {
            txs.insert(0, probe.clone());
        }
        let node = &self.nodes[proposer];
        Ok(Block {
            header: BlockHeader {
                version: BLOCK_VERSION,
                chain_id: CHAIN.into(),
                height,
                timestamp_ms: self.now + 1,
                proposer: ReplicaId(proposer as u16),
                tx_count: txs.len() as u32,
                tx_root: Block::compute_tx_root(&txs)
                    .map_err(|e| Violation::Harness(format!("tx root: {e}")))?,
                state_height: node.ledger.height(),
                state_root: node.ledger.state_root(),
            },
            txs,
        })
    }

    fn tick(&mut self) -> Result<(), Violation> {
        let goal = self.propose_limit;
        for i in 0..self.scenario.n {
            if !self.nodes[i].alive {
                continue;
            }
            if self.nodes[i].height() < goal {
                self.step(i, Input::WorkPending)?;
            }
            while let Some(h) = self.nodes[i].replica.next_proposal_height() {
                if h.0 > goal {
                    break;
                }
                let block = self.make_block(h, i)?;
                let count = block.txs.len();
                self.note(|| format!("r{i} proposes {h} with {count} txs"));
                self.step(i, Input::Propose(block))?;
            }
        }
        self.byzantine_extras()?;
        // The node's periodic catch-up (status polling): a replica behind the best honest
        // peer fetches certified blocks.
        self.ticks += 1;
        if self.ticks.is_multiple_of(SYNC_EVERY_TICKS) {
            let best = (0..self.scenario.n)
                .filter(|j| self.honest(*j))
                .map(|j| self.nodes[j].height())
                .max()
                .unwrap_or(0);
            for i in 0..self.scenario.n {
                if self.nodes[i].alive && self.nodes[i].height() < best {
                    let incarnation = self.nodes[i].incarnation;
                    self.schedule(1, Event::Sync { to: i, incarnation });
                }
            }
        }
        self.schedule(TICK_MS, Event::Tick);
        Ok(())
    }

    fn crash(&mut self, who: usize) {
        self.mark(who, 8, 0, 0);
        self.note(|| format!("r{who} crashes"));
        self.crashes += 1;
        let node = &mut self.nodes[who];
        node.alive = false;
        node.timer_epoch += 1;
        node.deferred.clear();
        let back = self.rng.gen_range(50..800);
        self.schedule(back, Event::Restart { who });
    }

    /// Restart from storage, as the node does: the ledger restored from the persisted accounts
    /// and records (it must equal the one executed before the crash), the replica from its WAL.
    fn restart(&mut self, who: usize) -> Result<(), Violation> {
        if self.nodes[who].alive {
            return Ok(());
        }
        let node = &self.nodes[who];
        let last = Height(node.height());
        let expected = node.roots.last().copied().unwrap_or(self.genesis_root);
        let ledger = Ledger::restore(
            &self.genesis,
            last,
            node.stored_accounts.values().cloned().collect(),
            node.stored_records.clone(),
        )
        .map_err(|e| Violation::RestoreDiffers {
            replica: who,
            height: last,
            detail: e.to_string(),
        })?;
        if ledger.state_root() != expected {
            return Err(Violation::RestoreDiffers {
                replica: who,
                height: last,
                detail: format!("root {} instead of {expected}", ledger.state_root()),
            });
        }
        let replica = Replica::restore(self.configs[who].clone(), last, node.wal.clone())
            .map_err(|e| Violation::Harness(format!("replica {who}: restore: {e}")))?;
        let node = &mut self.nodes[who];
        node.ledger = ledger;
        node.replica = replica;
        node.alive = true;
        node.incarnation += 1;
        node.timer_epoch += 1;
        self.mark(who, 7, last.0, 0);
        self.note(|| format!("r{who} restarts at height {last}"));
        let view = self.nodes[who].replica.view();
        if self.checker.view(who, view)? {
            self.view_changes += 1;
        }
        self.step(who, Input::WorkPending)
    }

    fn honest_min_height(&self) -> u64 {
        (0..self.scenario.n)
            .filter(|i| self.honest(*i))
            .map(|i| self.nodes[i].height())
            .min()
            .unwrap_or(0)
    }

    /// Whether the probe transaction is executed on every honest replica.
    fn probe_done(&self) -> bool {
        self.probe.as_ref().is_some_and(|p| {
            (0..self.scenario.n)
                .filter(|i| self.honest(*i))
                .all(|i| self.nodes[i].ledger.record(&p.tx.id).is_some())
        })
    }

    fn heal(&mut self) -> Result<u64, Violation> {
        self.healed = true;
        self.cut.clear();
        self.note(|| "the network heals".into());
        for who in 0..self.scenario.n {
            self.restart(who)?;
        }
        self.probe = Some(self.workload.probe()?);
        let goal = self.checker.top().0 + AFTER_HEAL_HEIGHTS;
        self.propose_limit = goal;
        Ok(goal)
    }

    /// Run to the end: the chaos phase, healing, and the liveness goal.
    pub fn run(&mut self) -> Result<(), Violation> {
        let mut deadline = u64::MAX;
        let mut goal = 0;
        while let Some(((time, _), event)) = self.queue.pop_first() {
            self.now = time;
            match event {
                Event::Deliver { to, from, message } => {
                    let from = ReplicaId(from as u16);
                    self.step(to, Input::Message { from, message })?;
                }
                Event::Verdict {
                    to,
                    incarnation,
                    view,
                    height,
                    block_hash,
                    valid,
                } => {
                    if self.nodes[to].incarnation == incarnation {
                        self.step(
                            to,
                            Input::ProposalVerdict {
                                view,
                                height,
                                block_hash,
                                valid,
                            },
                        )?;
                    }
                }
                Event::Timer { to, epoch } => {
                    if self.nodes[to].timer_epoch == epoch {
                        self.step(to, Input::Timeout(TimerKind::View))?;
                    }
                }
                Event::Sync { to, incarnation } => {
                    if self.nodes[to].alive && self.nodes[to].incarnation == incarnation {
                        self.sync(to)?;
                    }
                }
                Event::Crash { who } => self.crash(who),
                Event::Restart { who } => self.restart(who)?,
                Event::Partition { cut } => {
                    if !self.healed {
                        self.note(|| format!("links cut: {cut:?}"));
                        self.cut = cut;
                    }
                }
                Event::Heal => {
                    goal = self.heal()?;
                    deadline = self.now + AFTER_HEAL_MS;
                }
                Event::Tick => self.tick()?,
            }
            if self.healed && self.honest_min_height() >= goal {
                if self.probe_done() {
                    return Ok(());
                }
                // The heights are there but the probe is not: propose more.
                goal += 1;
                self.propose_limit = goal;
            }
            if self.now > deadline {
                return Err(Violation::NoProgress {
                    detail: format!(
                        "after {AFTER_HEAL_MS} ms: heights {:?}, goal {goal}, probe executed: {}, \
                         (view, active) {:?}",
                        self.nodes.iter().map(Node::height).collect::<Vec<_>>(),
                        self.probe_done(),
                        self.nodes
                            .iter()
                            .map(|n| (n.replica.view().0, n.replica.is_active()))
                            .collect::<Vec<_>>()
                    ),
                });
            }
            if self.steps > STEPS_MAX {
                return Err(Violation::NoProgress {
                    detail: format!("more than {STEPS_MAX} steps"),
                });
            }
        }
        Err(Violation::NoProgress {
            detail: "the event queue drained before the goal".into(),
        })
    }
}
