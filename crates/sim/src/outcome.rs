//! What a run reports: one seed's [`Outcome`] and totals over many ([`Summary`]).

use crate::scenario::Scenario;

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
    /// Crashes of validators and the observer (each followed by a restart from the node's log
    /// and storage).
    pub crashes: u64,
    /// Block requests by validators catching up (state transfer; the observer's requests, its
    /// ordinary way to follow, are not counted).
    pub syncs: u64,
    /// Highest height final on an honest validator or the observer.
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
    /// Hold and charge-request entries consensus time expired in final blocks (the sweeps at
    /// the start of a block; counted once per height).
    pub expired: u64,
    /// Account reads the store-mode replicas' ledgers (odd nodes) sent to their storage (cache
    /// misses), over every incarnation.
    pub store_reads: u64,
    /// Proposals honest replicas refused before PREPARE (wrong proposer, timestamp out of
    /// bounds, lagged root not theirs, a bad signature): the node's rules at work.
    pub proposals_refused: u64,
    /// The observer's height at the end (at least every honest validator's).
    pub observer_height: u64,
    /// Messages the observer dropped: blocks it refused to install (their certificate did not
    /// verify against the genesis), mostly.
    pub observer_refused: u64,
    /// Forged blocks a [`crate::Byzantine::ForgedSyncBlock`] validator served (to validators
    /// and the observer).
    pub forged_blocks: u64,
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
    /// Sum of [`Outcome::expired`].
    pub expired: u64,
    /// Sum of [`Outcome::store_reads`].
    pub store_reads: u64,
    /// Sum of [`Outcome::proposals_refused`].
    pub proposals_refused: u64,
    /// Sum of [`Outcome::forged_blocks`].
    pub forged_blocks: u64,
    /// Sum of [`Outcome::observer_refused`].
    pub observer_refused: u64,
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
            expired: o.expired,
            store_reads: o.store_reads,
            proposals_refused: o.proposals_refused,
            forged_blocks: o.forged_blocks,
            observer_refused: o.observer_refused,
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
        self.expired += other.expired;
        self.store_reads += other.store_reads;
        self.proposals_refused += other.proposals_refused;
        self.forged_blocks += other.forged_blocks;
        self.observer_refused += other.observer_refused;
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} seeds, {} view changes, {} crashes, {} state transfers, max height {}, {} null \
             blocks, txs {} ok / {} failed / {} duplicate, {} holds and charge requests expired, \
             {} account reads from storage, {} proposals refused, {} forged sync blocks served, {} messages refused by the \
             observer",
            self.seeds,
            self.view_changes,
            self.crashes,
            self.syncs,
            self.max_height,
            self.null_blocks,
            self.txs_ok,
            self.txs_failed,
            self.txs_duplicate,
            self.expired,
            self.store_reads,
            self.proposals_refused,
            self.forged_blocks,
            self.observer_refused
        )
    }
}
