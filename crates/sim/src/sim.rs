//! The event loop: the nodes (each the node's own [`NodeMachine`] over simulated storage), the
//! network, the faults and the clients.

use crate::check::Checker;
use crate::error::{SimError, Violation};
use crate::memo::{MemoVerifier, TxMemo};
use crate::outcome::Outcome;
use crate::scenario::{
    Scenario, AFTER_HEAL_HEIGHTS, AFTER_HEAL_MS, CHAOS_HEIGHTS, CHAOS_MS, OBSERVER_SETTLE_MS,
};
use crate::workload::{self, Workload, CHAIN, MAX_IN_FLIGHT};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use settlenet_consensus::{Replica, ReplicaConfig, SignedMessage, WalEntry};
use settlenet_crypto::{Keypair, StrictVerifier};
use settlenet_ledger::{Account, AccountStore, Ledger, TxRecord};
use settlenet_machine::wire::{Request, Response, Wire};
use settlenet_machine::{
    certified_root_of, Event as MachineEvent, JobResult, MachineParts, NodeMachine, SyncConfig,
};
use settlenet_types::{
    AccountId, Currency, Genesis, Hash, Height, ReplicaId, SignedTransaction, StoredBlock, TxId,
    View,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// View timer bounds of the simulated replicas (short, so that view changes are frequent).
pub(crate) const TIMEOUT_MIN_MS: u64 = 150;
pub(crate) const TIMEOUT_MAX_MS: u64 = 2_400;
/// Checkpoint interval (short, so that runs cross several checkpoints).
const CHECKPOINT_INTERVAL: u64 = 4;
/// The clients' tick: while heights are wanted, they submit a batch of transactions.
const TICK_MS: u64 = 40;
/// A run that takes more steps than this has a livelock.
const STEPS_MAX: u64 = 3_000_000;
/// The node's default bound on a proposal's clock skew.
pub(crate) const MAX_CLOCK_SKEW_MS: u64 = 2_000;
/// Mempool capacity of a simulated node.
const MEMPOOL_MAX: usize = 10_000;

/// How to run a seed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Keep a human-readable trace (returned in [`Outcome::trace`] or
    /// [`crate::SimError::trace`]).
    pub trace: bool,
    /// A bug planted on purpose, to show that the checks catch it (tests only).
    pub fault: Option<InjectedFault>,
    /// Replace the seed's Byzantine replica and behaviour (tests that need one kind).
    pub byzantine: Option<(usize, crate::Byzantine)>,
}

/// A bug the simulator can plant in its own harness, so that tests can show the checks fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectedFault {
    /// This (honest) node's storage records a wrong state root for every block it executes
    /// (as a diverging ledger would).
    WrongStateRoot {
        /// The node: a validator, or the observer (index n).
        replica: usize,
    },
    /// This node's storage records every block it executes with its certificate one signature
    /// short of a quorum (as a node that installed synced blocks without checking their
    /// certificates would hold them).
    ShortCertificate {
        /// The node: a validator, or the observer (index n).
        node: usize,
    },
    /// The observer's links stay cut for the whole run, healing included: it never catches up.
    ObserverCutOff,
}

/// What happens in a run, in time order.
pub(crate) enum Event {
    /// A wire message arrives.
    Deliver {
        to: usize,
        from: usize,
        wire: Wire,
    },
    /// The answer to a request arrives (or its failure).
    Answer {
        to: usize,
        incarnation: u64,
        from: usize,
        request: Request,
        result: Result<Response, String>,
    },
    /// A job's result comes back.
    Job {
        to: usize,
        incarnation: u64,
        result: JobResult,
    },
    /// The node's wake-up time (void unless `epoch` is its latest).
    Wake {
        to: usize,
        epoch: u64,
    },
    Crash {
        who: usize,
    },
    Restart {
        who: usize,
    },
    /// The clients submit; the Byzantine replica's extras.
    Tick,
    /// A partition starts (directed links cut) or ends (empty set).
    Partition {
        cut: BTreeSet<(usize, usize)>,
    },
    Heal,
}

/// The accounts of a node's storage: the genesis values, and the latest version of every
/// account changed since (`None`: archived). A store-mode replica's ledger reads from it
/// ([`AccountStore`]), as a node's reads from RocksDB.
pub(crate) struct SimAccounts {
    genesis: Arc<BTreeMap<AccountId, Account>>,
    pub(crate) changed: Mutex<BTreeMap<AccountId, Option<Account>>>,
}

impl SimAccounts {
    pub(crate) fn new(genesis: Arc<BTreeMap<AccountId, Account>>) -> SimAccounts {
        SimAccounts {
            genesis,
            changed: Mutex::new(BTreeMap::new()),
        }
    }

    /// Every account changed since genesis and still in the state (what `Ledger::restore`
    /// takes).
    pub(crate) fn changed_accounts(&self) -> Result<Vec<Account>, Violation> {
        Ok(self
            .changed
            .lock()
            .map_err(|_| Violation::Harness("a poisoned storage lock".into()))?
            .values()
            .flatten()
            .cloned()
            .collect())
    }
}

impl AccountStore for SimAccounts {
    fn account(&self, id: &AccountId) -> Result<Option<Account>, String> {
        let changed = self
            .changed
            .lock()
            .map_err(|_| "a poisoned storage lock".to_string())?;
        Ok(match changed.get(id) {
            Some(v) => v.clone(),
            None => self.genesis.get(id).cloned(),
        })
    }
}

/// Most accounts a store-mode replica's ledger caches: small, so that most reads of a block
/// miss and go to the storage.
pub(crate) const SIM_ACCOUNT_CACHE: usize = 16;

/// Whether node `i`'s ledger reads its accounts from its storage (odd nodes) rather than
/// holding them all in memory (even nodes, which keep the debug builds' whole-state checks):
/// honest replicas of both kinds must compute the same roots.
pub(crate) fn store_mode(i: usize) -> bool {
    i % 2 == 1
}

/// What a node's storage holds (it survives a crash), as the node's RocksDB would.
pub(crate) struct Storage {
    /// The consensus write-ahead log.
    pub(crate) wal: Vec<WalEntry>,
    /// Executed blocks with certificates (index h - 1).
    pub(crate) blocks: Vec<StoredBlock>,
    /// The accounts...
    pub(crate) accounts: Arc<SimAccounts>,
    /// ...the live transaction records (written with their block, dropped when pruned)...
    pub(crate) records: BTreeMap<TxId, TxRecord>,
    /// ...and the ledger's history accumulator after the last block.
    pub(crate) history: settlenet_ledger::History,
}

impl Storage {
    pub(crate) fn new(genesis_accounts: Arc<BTreeMap<AccountId, Account>>) -> Storage {
        Storage {
            wal: Vec::new(),
            blocks: Vec::new(),
            accounts: Arc::new(SimAccounts::new(genesis_accounts)),
            records: BTreeMap::new(),
            history: settlenet_ledger::History::default(),
        }
    }

    pub(crate) fn height(&self) -> u64 {
        self.blocks.len() as u64
    }
}

/// One node (a validator, or the observer): its machine (gone while crashed) and its storage.
pub(crate) struct SimNode {
    pub(crate) machine: Option<NodeMachine>,
    /// Bumped on every restart: answers and job results for an earlier incarnation are void.
    pub(crate) incarnation: u64,
    /// The latest wake-up scheduled, and its epoch.
    pub(crate) wake_at: Option<u64>,
    pub(crate) wake_epoch: u64,
    pub(crate) storage: Storage,
}

impl SimNode {
    pub(crate) fn alive(&self) -> bool {
        self.machine.is_some()
    }

    pub(crate) fn height(&self) -> u64 {
        self.storage.height()
    }
}

/// The simulation of one seed.
pub struct Sim {
    pub(crate) scenario: Scenario,
    pub(crate) seed: u64,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) now: u64,
    next_id: u64,
    queue: BTreeMap<(u64, u64), Event>,
    pub(crate) nodes: Vec<SimNode>,
    pub(crate) keys: Vec<Keypair>,
    pub(crate) genesis: Arc<Genesis>,
    genesis_root: Hash,
    pub(crate) genesis_totals: BTreeMap<Currency, i128>,
    configs: Vec<ReplicaConfig>,
    workload: Workload,
    /// A transaction submitted when the network heals: it must commit on every honest replica.
    probe: Option<SignedTransaction>,
    /// Directed links cut by the current partition.
    pub(crate) cut: BTreeSet<(usize, usize)>,
    pub(crate) healed: bool,
    /// Heights the clients want (they submit until every honest replica reached it).
    goal: u64,
    pub(crate) checker: Checker,
    /// Certificates already verified: (height, block hash, encoded certificate).
    pub(crate) verified: BTreeSet<(Height, Hash, Vec<u8>)>,
    /// The replicas' shared signature verifier (a memo in front of strict verification), also
    /// used for commit certificates.
    pub(crate) verifier: Arc<MemoVerifier>,
    /// The nodes' shared transaction-signature verifier (a memo in front of strict batches).
    pub(crate) tx_verifier: TxMemo,
    /// The Byzantine replica's own old messages, for replay.
    pub(crate) history: Vec<SignedMessage>,
    /// The Byzantine replica's last re-signed message: (original, rewritten). A broadcast is
    /// rewritten once per recipient, always to the same message (ed25519 signing is
    /// deterministic), so it is signed once.
    pub(crate) last_rewrite: Option<(SignedMessage, Option<SignedMessage>)>,
    trace_hash: u64,
    tracing: bool,
    pub(crate) fault: Option<InjectedFault>,
    pub(crate) trace: Vec<String>,
    pub(crate) steps: u64,
    pub(crate) view_changes: u64,
    crashes: u64,
    pub(crate) syncs: u64,
    pub(crate) ticks: u64,
    pub(crate) null_blocks: u64,
    pub(crate) txs_ok: u64,
    pub(crate) txs_failed: u64,
    pub(crate) txs_duplicate: u64,
    pub(crate) expired: u64,
    /// Store reads of crashed incarnations' ledgers (the live ones' are added at the end).
    pub(crate) store_reads: u64,
    pub(crate) proposals_refused: u64,
    /// Messages the observer dropped (blocks it refused to install, mostly).
    pub(crate) observer_refused: u64,
    /// Forged blocks a [`crate::Byzantine::ForgedSyncBlock`] validator served.
    pub(crate) forged_blocks: u64,
}

fn mix(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(0x0100_0000_01b3).rotate_left(17)
}

pub(crate) fn prefix(h: &Hash) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.0[..8]);
    u64::from_be_bytes(b)
}

impl Sim {
    /// Set up a run: nodes at genesis, and the scheduled faults.
    pub fn new(n: usize, seed: u64, options: Options) -> Result<Sim, Violation> {
        let mut scenario = Scenario::from_seed(n, seed);
        if let Some(b) = options.byzantine {
            scenario.byzantine = Some(b);
            scenario.crashing.retain(|c| *c != b.0);
        }
        let keys = workload::validator_keys(n);
        let genesis = Arc::new(workload::genesis(&keys));
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
        let genesis_accounts: Arc<BTreeMap<AccountId, Account>> = Arc::new(
            ledger
                .accounts()
                .into_iter()
                .flatten()
                .map(|a| (a.id, a.clone()))
                .collect(),
        );
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let workload = Workload::new(&mut rng);
        let mut sim = Sim {
            scenario,
            seed,
            rng,
            now: 0,
            next_id: 0,
            queue: BTreeMap::new(),
            // The n validators, then the observer.
            nodes: (0..=n)
                .map(|_| SimNode {
                    machine: None,
                    incarnation: 0,
                    wake_at: None,
                    wake_epoch: 0,
                    storage: Storage::new(genesis_accounts.clone()),
                })
                .collect(),
            keys,
            genesis_root: ledger.state_root(),
            genesis_totals: ledger.totals(),
            genesis,
            configs,
            workload,
            probe: None,
            cut: BTreeSet::new(),
            healed: false,
            goal: CHAOS_HEIGHTS,
            checker: Checker::new(),
            verified: BTreeSet::new(),
            verifier,
            tx_verifier: TxMemo::default(),
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
            expired: 0,
            store_reads: 0,
            proposals_refused: 0,
            observer_refused: 0,
            forged_blocks: 0,
        };
        let scenario = sim.scenario.clone();
        sim.note(|| format!("scenario {scenario:?}"));
        for i in 0..=n {
            sim.boot(i)?;
        }
        sim.schedule(0, Event::Tick);
        for who in sim.scenario.crashing.clone() {
            let at = sim.rng.gen_range(100..CHAOS_MS - 200);
            sim.schedule(at, Event::Crash { who });
        }
        if sim.scenario.observer_crashes {
            let at = sim.rng.gen_range(100..CHAOS_MS - 200);
            sim.schedule(at, Event::Crash { who: n });
        }
        if sim.scenario.partitions {
            for _ in 0..3 {
                let at = sim.rng.gen_range(0..CHAOS_MS - 300);
                let mut cut = BTreeSet::new();
                // A validator or the observer; the observer's only links are its requests to
                // the validators (both directions must be up for an answer).
                let victim = sim.rng.gen_range(0..=n);
                let one_way = sim.rng.gen_bool(0.5);
                for j in 0..=n {
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

    pub(crate) fn outcome(&self) -> Outcome {
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
            expired: self.expired,
            store_reads: self.store_reads
                + self
                    .nodes
                    .iter()
                    .filter_map(|n| n.machine.as_ref())
                    .map(|m| m.ledger().account_cache_stats().store_reads)
                    .sum::<u64>(),
            proposals_refused: self.proposals_refused,
            observer_height: self.nodes[self.observer()].height(),
            observer_refused: self.observer_refused,
            forged_blocks: self.forged_blocks,
            sim_time_ms: self.now,
            trace: self.trace.clone(),
        }
    }

    pub(crate) fn is_byzantine(&self, i: usize) -> bool {
        self.scenario.byzantine.is_some_and(|(b, _)| b == i)
    }

    pub(crate) fn honest(&self, i: usize) -> bool {
        !self.is_byzantine(i)
    }

    /// The observer's index: after the n validators.
    pub(crate) fn observer(&self) -> usize {
        self.scenario.n
    }

    pub(crate) fn is_observer(&self, i: usize) -> bool {
        i == self.observer()
    }

    /// Add a line to the human-readable trace (built only when tracing).
    pub(crate) fn note(&mut self, line: impl FnOnce() -> String) {
        if self.tracing {
            let line = format!("t={:>6} {}", self.now, line());
            self.trace.push(line);
        }
    }

    pub(crate) fn mark(&mut self, i: usize, what: u64, a: u64, b: u64) {
        let mut h = self.trace_hash;
        for x in [self.now, i as u64, what, a, b] {
            h = mix(h, x);
        }
        self.trace_hash = h;
    }

    pub(crate) fn schedule(&mut self, delay: u64, event: Event) {
        self.next_id += 1;
        self.queue.insert((self.now + delay, self.next_id), event);
    }

    /// Whether a message from `from` to `to` gets through now (partitions, random loss).
    pub(crate) fn link_up(&mut self, from: usize, to: usize) -> bool {
        if self.fault == Some(InjectedFault::ObserverCutOff)
            && (self.is_observer(from) || self.is_observer(to))
        {
            return false;
        }
        self.healed
            || (!self.cut.contains(&(from, to))
                && self.rng.gen_range(0..100) >= self.scenario.drop_percent)
    }

    /// A wire message onto the faulty network: lost, delayed, reordered, duplicated.
    pub(crate) fn send(&mut self, from: usize, to: usize, wire: Wire) {
        if from == to || !self.link_up(from, to) {
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
                    wire: wire.clone(),
                },
            );
        }
    }

    /// Start node `i` from its storage, as the node starts from RocksDB: the ledger restored
    /// from the stored accounts, live records and history (it must reproduce the stored root), a validator's
    /// replica from its write-ahead log, then it connects to every live validator. The
    /// observer (`i == n`) starts the same way with no replica (`validator: None`); it sees
    /// the validators as peers, they do not see it (an integrator's observer is admitted by
    /// their config, and they send it no consensus message).
    fn boot(&mut self, i: usize) -> Result<(), Violation> {
        let observer = self.is_observer(i);
        let storage = &self.nodes[i].storage;
        let last = Height(storage.height());
        let expected = storage
            .blocks
            .last()
            .map_or(self.genesis_root, |b| b.state_root);
        let ledger = Ledger::restore(
            &self.genesis,
            last,
            storage.accounts.changed_accounts()?,
            storage
                .records
                .iter()
                .map(|(id, r)| (*id, r.clone()))
                .collect(),
            storage.history.clone(),
        )
        .map_err(|e| Violation::RestoreDiffers {
            replica: i,
            height: last,
            detail: e.to_string(),
        })?;
        if ledger.state_root() != expected {
            return Err(Violation::RestoreDiffers {
                replica: i,
                height: last,
                detail: format!("root {} instead of {expected}", ledger.state_root()),
            });
        }
        let validator = if observer {
            if !storage.wal.is_empty() {
                return Err(Violation::Harness(
                    "the observer has a consensus log".into(),
                ));
            }
            None
        } else {
            let replica = if storage.wal.is_empty() {
                Replica::new(self.configs[i].clone(), last, View(0))
            } else {
                Replica::restore(self.configs[i].clone(), last, storage.wal.clone())
            }
            .map_err(|e| Violation::Harness(format!("replica {i}: restore: {e}")))?;
            Some((ReplicaId(i as u16), replica))
        };
        // Consensus time: the last block that carries a stamp (null blocks carry none).
        let last_block_time_ms = storage
            .blocks
            .iter()
            .rev()
            .find(|b| !settlenet_consensus::is_null(&b.block))
            .map_or(self.genesis.genesis_time_ms, |b| {
                b.block.header.timestamp_ms
            });
        let recent = storage
            .blocks
            .iter()
            .rev()
            .take(64)
            .map(|b| (b.block.header.height, b.hash, b.state_root))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let machine = NodeMachine::new(MachineParts {
            genesis: self.genesis.clone(),
            validator,
            certified_root: certified_root_of(storage.blocks.last(), &ledger),
            last_hash: storage.blocks.last().map_or(Hash::ZERO, |b| b.hash),
            ledger,
            genesis_root: self.genesis_root,
            last_block_time_ms,
            recent,
            mempool_max: MEMPOOL_MAX,
            mempool_max_bytes: usize::MAX,
            max_clock_skew_ms: MAX_CLOCK_SKEW_MS,
            // Snapshots are the node's path for replicas thousands of blocks behind; a run is
            // tens of heights long, so every catch-up here is block sync.
            sync: SyncConfig {
                snapshot_threshold_blocks: 0,
                snapshot_interval_blocks: 0,
                ..SyncConfig::default()
            },
            base_height: Height(0),
            pruned_below: Height(0),
            now_ms: self.now,
        });
        let node = &mut self.nodes[i];
        node.machine = Some(machine);
        node.incarnation += 1;
        let view = self.nodes[i].machine.as_ref().map_or(View(0), |m| m.view());
        if self.checker.view(i, view)? {
            self.view_changes += 1;
        }
        for j in 0..self.scenario.n {
            if j != i && self.nodes[j].alive() {
                self.handle(i, MachineEvent::PeerConnected(ReplicaId(j as u16)))?;
                if !observer {
                    self.handle(j, MachineEvent::PeerConnected(ReplicaId(i as u16)))?;
                }
            }
        }
        if !observer {
            let o = self.observer();
            self.handle(o, MachineEvent::PeerConnected(ReplicaId(i as u16)))?;
        }
        self.handle(i, MachineEvent::Wake)
    }

    /// Schedule node `i`'s next wake-up if it changed.
    pub(crate) fn reschedule_wake(&mut self, i: usize) {
        let Some(machine) = self.nodes[i].machine.as_mut() else {
            return;
        };
        let at = machine.next_wake_ms();
        if self.nodes[i].wake_at == Some(at) {
            return;
        }
        let node = &mut self.nodes[i];
        node.wake_at = Some(at);
        node.wake_epoch += 1;
        let epoch = node.wake_epoch;
        let delay = at.saturating_sub(self.now);
        self.schedule(delay, Event::Wake { to: i, epoch });
    }

    /// The clients: while heights are wanted, a batch of transactions goes to a random live
    /// validator; the probe (after healing) is retried at a random honest validator until it
    /// is final. Never to the observer: forwarding submissions is its driver's job, not its
    /// machine's.
    fn tick(&mut self) -> Result<(), Violation> {
        let wanted = (0..self.scenario.n)
            .filter(|i| self.honest(*i))
            .any(|i| self.nodes[i].height() < self.goal);
        if wanted {
            let txs = self.workload.draw(&mut self.rng)?;
            let live: Vec<usize> = (0..self.scenario.n)
                .filter(|i| self.nodes[*i].alive())
                .collect();
            if !live.is_empty() && !txs.is_empty() {
                let to = live[self.rng.gen_range(0..live.len())];
                self.submit(to, txs)?;
            }
        }
        if let Some(probe) = self.probe.clone() {
            if !self.probe_done() {
                let honest: Vec<usize> = (0..self.scenario.n)
                    .filter(|i| self.honest(*i) && self.nodes[*i].alive())
                    .collect();
                if !honest.is_empty() {
                    let to = honest[self.rng.gen_range(0..honest.len())];
                    self.submit(to, vec![probe])?;
                }
            }
        }
        self.byzantine_extras()?;
        self.ticks += 1;
        self.schedule(TICK_MS, Event::Tick);
        Ok(())
    }

    fn crash(&mut self, who: usize) -> Result<(), Violation> {
        self.mark(who, 8, 0, 0);
        self.note(|| format!("r{who} crashes"));
        self.crashes += 1;
        if let Some(m) = self.nodes[who].machine.take() {
            self.store_reads += m.ledger().account_cache_stats().store_reads;
        }
        let node = &mut self.nodes[who];
        node.wake_at = None;
        node.wake_epoch += 1;
        // Only the observer's peers see it go: the validators never saw it come.
        if !self.is_observer(who) {
            for j in 0..=self.scenario.n {
                if j != who {
                    self.handle(j, MachineEvent::PeerDisconnected(ReplicaId(who as u16)))?;
                }
            }
        }
        let back = self.rng.gen_range(50..800);
        self.schedule(back, Event::Restart { who });
        Ok(())
    }

    /// Restart from storage, as the node does.
    fn restart(&mut self, who: usize) -> Result<(), Violation> {
        if self.nodes[who].alive() {
            return Ok(());
        }
        let last = self.nodes[who].height();
        self.mark(who, 7, last, 0);
        self.note(|| format!("r{who} restarts at height {last}"));
        self.boot(who)
    }

    fn honest_min_height(&self) -> u64 {
        (0..self.scenario.n)
            .filter(|i| self.honest(*i))
            .map(|i| self.nodes[i].height())
            .min()
            .unwrap_or(0)
    }

    fn honest_max_height(&self) -> u64 {
        (0..self.scenario.n)
            .filter(|i| self.honest(*i))
            .map(|i| self.nodes[i].height())
            .max()
            .unwrap_or(0)
    }

    /// Whether the observer is up and has executed every height an honest validator has.
    fn observer_caught_up(&self) -> bool {
        let o = &self.nodes[self.observer()];
        o.alive() && o.height() >= self.honest_max_height()
    }

    /// At the end: the observer holds the very chain an honest validator at the top height
    /// holds (block hash and state root at that height), and its live ledger is theirs (root,
    /// last block). Every height before was already checked as it was executed.
    fn check_observer(&self) -> Result<(), Violation> {
        let top = self.honest_max_height();
        let o = &self.nodes[self.observer()];
        let Some(v) = (0..self.scenario.n)
            .find(|i| self.honest(*i) && self.nodes[*i].height() == top)
            .map(|i| &self.nodes[i])
        else {
            return Err(Violation::Harness("no honest validator at the top".into()));
        };
        let differs = |detail: String| Violation::ObserverDiffers {
            height: Height(top),
            detail,
        };
        if top > 0 {
            let k = (top - 1) as usize;
            let (Some(ours), Some(theirs)) = (o.storage.blocks.get(k), v.storage.blocks.get(k))
            else {
                return Err(differs("the observer has no block at the top".into()));
            };
            if ours.hash != theirs.hash || ours.state_root != theirs.state_root {
                return Err(differs(format!(
                    "stored block {} root {}, the validators' {} root {}",
                    ours.hash, ours.state_root, theirs.hash, theirs.state_root
                )));
            }
        }
        if o.height() == top {
            if let (Some(om), Some(vm)) = (o.machine.as_ref(), v.machine.as_ref()) {
                let (ours, theirs) = (om.ledger().state_root(), vm.ledger().state_root());
                if ours != theirs || om.last_hash() != vm.last_hash() {
                    return Err(differs(format!(
                        "ledger root {ours} after {}, the validators' {theirs} after {}",
                        om.last_hash(),
                        vm.last_hash()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether the probe transaction is executed on every honest replica.
    fn probe_done(&self) -> bool {
        self.probe.as_ref().is_some_and(|p| {
            (0..self.scenario.n).filter(|i| self.honest(*i)).all(|i| {
                self.nodes[i]
                    .machine
                    .as_ref()
                    .is_some_and(|m| m.ledger().record(&p.tx.id).is_some())
            })
        })
    }

    fn heal(&mut self) -> Result<u64, Violation> {
        self.healed = true;
        self.cut.clear();
        self.note(|| "the network heals".into());
        for who in 0..=self.scenario.n {
            self.restart(who)?;
        }
        self.probe = Some(self.workload.probe()?);
        self.goal = self.checker.top().0 + AFTER_HEAL_HEIGHTS;
        Ok(self.goal)
    }

    /// Run to the end: the chaos phase, healing, the liveness goal, and the observer catching
    /// up with the validators.
    pub fn run(&mut self) -> Result<(), Violation> {
        let mut deadline = u64::MAX;
        // When the validators were done (goal reached, probe executed everywhere): from then
        // on only the observer is waited for.
        let mut validators_done: Option<u64> = None;
        while let Some(((time, _), event)) = self.queue.pop_first() {
            self.now = time;
            match event {
                Event::Deliver { to, from, wire } => {
                    let from = ReplicaId(from as u16);
                    self.handle(to, MachineEvent::Wire { from, wire })?;
                }
                Event::Answer {
                    to,
                    incarnation,
                    from,
                    request,
                    result,
                } => {
                    if self.nodes[to].incarnation == incarnation {
                        let from = ReplicaId(from as u16);
                        self.handle(
                            to,
                            MachineEvent::Answer {
                                from,
                                request,
                                result,
                            },
                        )?;
                    }
                }
                Event::Job {
                    to,
                    incarnation,
                    result,
                } => {
                    if self.nodes[to].incarnation == incarnation {
                        self.handle(to, MachineEvent::JobDone(result))?;
                    }
                }
                Event::Wake { to, epoch } => {
                    if self.nodes[to].wake_epoch == epoch {
                        self.nodes[to].wake_at = None;
                        self.handle(to, MachineEvent::Wake)?;
                    }
                }
                Event::Crash { who } => self.crash(who)?,
                Event::Restart { who } => self.restart(who)?,
                Event::Partition { cut } => {
                    if !self.healed {
                        self.note(|| format!("links cut: {cut:?}"));
                        self.cut = cut;
                    }
                }
                Event::Heal => {
                    self.heal()?;
                    deadline = self.now + AFTER_HEAL_MS;
                }
                Event::Tick => self.tick()?,
            }
            if validators_done.is_none() && self.healed && self.honest_min_height() >= self.goal {
                if self.probe_done() {
                    validators_done = Some(self.now);
                } else {
                    // The heights are there but the probe is not: want more.
                    self.goal += 1;
                }
            }
            if let Some(done) = validators_done {
                if self.observer_caught_up() {
                    return self.check_observer();
                }
                if self.now > done + OBSERVER_SETTLE_MS {
                    return Err(Violation::ObserverBehind {
                        height: Height(self.nodes[self.observer()].height()),
                        validators: Height(self.honest_max_height()),
                        after_ms: OBSERVER_SETTLE_MS,
                    });
                }
                continue;
            }
            if self.now > deadline {
                return Err(Violation::NoProgress {
                    detail: format!(
                        "after {AFTER_HEAL_MS} ms: heights {:?}, goal {}, probe executed: {}, \
                         (view, active) {:?}",
                        self.nodes.iter().map(SimNode::height).collect::<Vec<_>>(),
                        self.goal,
                        self.probe_done(),
                        self.nodes
                            .iter()
                            .map(|n| n
                                .machine
                                .as_ref()
                                .map(|m| (m.view().0, m.replica().is_some_and(|r| r.is_active()))))
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
