//! What one seed does: the faults of a run, all derived from `(n, seed)`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Heights proposals may reach during the chaos phase (enough for several checkpoints).
pub const CHAOS_HEIGHTS: u64 = 10;
/// Simulated time of the chaos phase.
pub const CHAOS_MS: u64 = 2_000;
/// Heights that must commit on every honest replica after healing...
pub const AFTER_HEAL_HEIGHTS: u64 = 4;
/// ...within this much simulated time (the liveness bound).
pub const AFTER_HEAL_MS: u64 = 40_000;
/// Once the validators are done (the heights after healing and the probe executed), the
/// observer must reach their height within this much simulated time. It asks them every
/// `OBSERVER_POLL_INTERVAL_MS` (250 ms) and fetches up to 64 blocks per answer, so this is
/// eight polls: room for an answer refused (a forging validator) or lost before healing.
pub const OBSERVER_SETTLE_MS: u64 = 2_000;

/// How the one Byzantine replica of a run misbehaves. It runs the honest code; the simulator
/// rewrites, withholds or adds to what it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Byzantine {
    /// As primary, sends different blocks to different peers; as voter, different digests.
    Equivocate,
    /// Sends nothing.
    Silent,
    /// Votes for wrong digests (and proposes blocks other than the ones it logged).
    WrongDigest,
    /// Also resends its own old messages at random.
    Replay,
    /// Also sends validly signed VIEW-CHANGEs for huge views.
    SpamViews,
    /// As primary, names another replica as the proposer of its blocks (the node's proposer
    /// rule must refuse them).
    WrongProposer,
    /// As primary, stamps its blocks a minute in the future (the node's consensus-time rule
    /// must refuse them).
    FutureTimestamp,
    /// Answers block requests (block sync, the observer's only source) with a forged first
    /// block: in turn the real block with one signature short of a quorum, another block under
    /// the real block's signatures, and another block "certified" by its own signature
    /// repeated to a quorum. Every node, the observer included, must refuse them (the
    /// certificate check against the genesis).
    ForgedSyncBlock,
    /// As primary, adds to each block a validly signed transaction that admission refuses
    /// whatever the state (a settlement chunk from a key with no role): the node's proposal
    /// check (`Ledger::check_static`) must refuse the block. Not among [`Byzantine::ALL`] (which
    /// fixes what each seed picks); the simulator's properties test runs it.
    JunkTransactions,
}

impl Byzantine {
    /// Every behaviour, in the order seeds pick them.
    pub const ALL: [Byzantine; 8] = [
        Byzantine::Equivocate,
        Byzantine::Silent,
        Byzantine::WrongDigest,
        Byzantine::Replay,
        Byzantine::SpamViews,
        Byzantine::WrongProposer,
        Byzantine::FutureTimestamp,
        Byzantine::ForgedSyncBlock,
    ];
}

/// The faults of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Validators (n = 3f + 1); the run's observer is node n, after them.
    pub n: usize,
    /// The Byzantine replica and its behaviour, if any (3 runs in 4).
    pub byzantine: Option<(usize, Byzantine)>,
    /// Honest replicas that crash (and restart from their log) during the chaos phase.
    pub crashing: Vec<usize>,
    /// Chance that a message is lost during the chaos phase.
    pub drop_percent: u32,
    /// Chance that a message is delivered twice.
    pub duplicate_percent: u32,
    /// Each copy is delayed uniformly in `1..=max_delay_ms` (so messages reorder).
    pub max_delay_ms: u64,
    /// Whether the chaos phase cuts links: three partitions isolating one node each (a
    /// validator or the observer), half of them in one direction only.
    pub partitions: bool,
    /// Whether the observer crashes (and restarts from its storage) during the chaos phase.
    pub observer_crashes: bool,
}

impl Scenario {
    /// Everything is derived from `(n, seed)`, so a seed replays from the command line.
    pub fn from_seed(n: usize, seed: u64) -> Scenario {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_0000_0000);
        let f = n.saturating_sub(1) / 3;
        let byzantine = if rng.gen_range(0..4) > 0 {
            let kind = Byzantine::ALL[rng.gen_range(0..Byzantine::ALL.len())];
            Some((rng.gen_range(0..n), kind))
        } else {
            None
        };
        let budget = f.saturating_sub(usize::from(byzantine.is_some()));
        let mut crashing = Vec::new();
        // Crashes beyond f are fine for safety but not for liveness during chaos; with a
        // Byzantine one, n = 4 still crashes one honest replica in half the runs (more than f
        // faulty during chaos, only f after healing, when every crashed replica is back).
        let crashes = if budget > 0 {
            rng.gen_range(0..=budget)
        } else {
            usize::from(rng.gen_bool(0.5))
        };
        while crashing.len() < crashes.min(n.saturating_sub(1)) {
            let c = rng.gen_range(0..n);
            if Some(c) != byzantine.map(|b| b.0) && !crashing.contains(&c) {
                crashing.push(c);
            }
        }
        Scenario {
            n,
            byzantine,
            crashing,
            drop_percent: rng.gen_range(0..=15),
            duplicate_percent: rng.gen_range(0..=10),
            max_delay_ms: rng.gen_range(2..=25),
            partitions: rng.gen_bool(0.5),
            // Drawn last, so that it moves none of the draws above.
            observer_crashes: rng.gen_bool(0.5),
        }
    }

    /// Faulty replicas tolerated.
    pub fn f(&self) -> usize {
        self.n.saturating_sub(1) / 3
    }
}
