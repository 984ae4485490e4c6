//! What a run can find: a broken property ([`Violation`]) and where it happened ([`SimError`]).

use crate::scenario::Scenario;
use settlenet_types::{Hash, Height, View};
use thiserror::Error;

/// A property the simulator checks, broken. A `replica` names a node: the validators are
/// `0..n`, the observer is `n`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Violation {
    /// Safety: two honest replicas finalized different blocks at one height.
    #[error("two different blocks final at height {height}: {first} and {second}")]
    TwoBlocksFinal {
        /// The height.
        height: Height,
        /// The block final first.
        first: Hash,
        /// The other one.
        second: Hash,
    },
    /// Two honest replicas (or one replica and a stable checkpoint) disagree on the state root
    /// at one height.
    #[error("replica {replica}: state root {theirs} at height {height} differs from {ours}")]
    StateRootDiffers {
        /// The replica that reported the second root.
        replica: usize,
        /// The height.
        height: Height,
        /// The root first reported at that height.
        ours: Hash,
        /// The replica's root.
        theirs: Hash,
    },
    /// A replica's view went down (also across a restart).
    #[error("replica {replica}: view went from {from} down to {to}")]
    ViewDecreased {
        /// The replica.
        replica: usize,
        /// Its highest view so far.
        from: View,
        /// Its view now.
        to: View,
    },
    /// An honest replica sent two different votes of one kind for one (view, height), possibly
    /// across a crash.
    #[error("honest replica {replica} sent two different {kind} messages for view {view}, height {height}")]
    TwoVotes {
        /// The replica.
        replica: usize,
        /// `pre-prepare`, `prepare` or `commit`.
        kind: &'static str,
        /// The view.
        view: View,
        /// The height.
        height: Height,
    },
    /// A committed block's certificate does not verify, or heights were skipped.
    #[error("replica {replica}: bad commit at height {height}: {reason}")]
    BadCommit {
        /// The replica.
        replica: usize,
        /// The height.
        height: Height,
        /// Why.
        reason: String,
    },
    /// An honest replica reported evidence against an honest one.
    #[error("replica {replica} reports evidence against honest replica {accused}")]
    FalseEvidence {
        /// The reporter.
        replica: usize,
        /// The accused.
        accused: usize,
    },
    /// The ledger's money is not conserved after a block.
    #[error("replica {replica}: money not conserved at height {height}: {detail}")]
    MoneyNotConserved {
        /// The replica.
        replica: usize,
        /// The height.
        height: Height,
        /// Totals found and expected.
        detail: String,
    },
    /// A restarted replica's ledger, restored from what it persisted, is not the one it had.
    #[error("replica {replica}: ledger restored at height {height} differs: {detail}")]
    RestoreDiffers {
        /// The replica.
        replica: usize,
        /// The height.
        height: Height,
        /// What differs.
        detail: String,
    },
    /// Liveness: after healing (at most f faulty), the new heights did not commit in time.
    #[error("no progress after healing: {detail}")]
    NoProgress {
        /// Chains, goal and views.
        detail: String,
    },
    /// The observer did what only a validator does (sent a message, logged a vote, reported
    /// a checkpoint or evidence).
    #[error("the observer acted as a validator: {effect}")]
    ObserverActed {
        /// What it did.
        effect: String,
    },
    /// The observer did not reach the validators' height in time after they were done.
    #[error("the observer is at height {height}, the validators at {validators}, {after_ms} ms after they were done")]
    ObserverBehind {
        /// The observer's height.
        height: Height,
        /// The honest validators' highest height.
        validators: Height,
        /// How long it was given.
        after_ms: u64,
    },
    /// At the end, the observer's chain or ledger is not the validators'.
    #[error("the observer differs from the validators at height {height}: {detail}")]
    ObserverDiffers {
        /// The validators' height.
        height: Height,
        /// What differs.
        detail: String,
    },
    /// The harness itself failed (encoding, signing, an output it cannot handle).
    #[error("harness: {0}")]
    Harness(String),
}

/// A failed seed: the violation, when and where, and how to replay it.
#[derive(Debug, Clone, Error)]
#[error("seed {seed} n={n} at t={time_ms} ms: {violation}\n  scenario: {scenario:?}\n  replay: {}", replay_command(*n, *seed))]
pub struct SimError {
    /// Replicas.
    pub n: usize,
    /// The seed.
    pub seed: u64,
    /// Simulated time of the failure.
    pub time_ms: u64,
    /// The faults of the run.
    pub scenario: Scenario,
    /// What broke.
    pub violation: Violation,
    /// The trace up to the failure (only when tracing was asked for).
    pub trace: Vec<String>,
}

impl SimError {
    /// The one-line command that replays this seed with its trace.
    pub fn replay_command(&self) -> String {
        replay_command(self.n, self.seed)
    }
}

/// The one-line command that replays seed `seed` with `n` replicas, printing its trace.
pub fn replay_command(n: usize, seed: u64) -> String {
    format!(
        "cargo run --release -p settlenet-sim -- --n {n} --seed-start {seed} --seeds 1 --verbose"
    )
}
