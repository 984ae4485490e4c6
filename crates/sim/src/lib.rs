//! # settlenet-sim
//!
//! ## Overview
//! A deterministic simulator of a SettleNet cluster, for tests (dev-only, not published):
//! n PBFT replicas (`settlenet_consensus::Replica`) and their ledgers
//! (`settlenet_ledger::Ledger`) in one thread, driven by one seed, and in every run one
//! observer (node n: a `NodeMachine` with no replica) that follows them by block sync. The
//! network delays, drops, duplicates and reorders messages and partitions links (also in one
//! direction only); honest replicas and the observer crash and restart from what they
//! persisted; one Byzantine replica (running the honest code with its outgoing messages
//! rewritten) equivocates as primary, stays silent, votes for wrong digests, replays old
//! messages, spams high view numbers or answers block requests with forged blocks.
//!
//! ```text
//!   seed ──▶ Scenario (faults) + Workload (signed transfers) + ChaCha8 rng
//!                │
//!   event queue (time, id) ──▶ Deliver / Verdict / Timer / Sync / Tick / Crash / Restart / Heal
//!                │
//!   Node i: Replica ──Output──▶ harness: send (via the faulty network), Persist to its WAL,
//!           Ledger  ◀──────────  VerifyProposal (state root at state_height), Committed →
//!           storage              apply_block → Executed{root}, Behind → state transfer
//!                │
//!   Observer n: NodeMachine, no replica ── Status / Blocks requests ──▶ validators
//!           (never sent a consensus message)  ◀── answers (forged by a ForgedSyncBlock one)
//!                │
//!   Checker ◀── every step: final blocks, state roots, votes, views (observer included)
//! ```
//!
//! ## Design
//! - **The harness plays the node.** It checks proposals as `settlenet-node` does (a proposal
//!   waits until the ledger reaches its `state_height`, and is refused if its `state_root` is
//!   not ours there), executes committed blocks with [`settlenet_ledger::Ledger::apply_block`],
//!   persists the changed accounts and records, reports `Executed { height, state_root }` with
//!   the real root (so checkpoints carry it), does state transfer (certificates verified,
//!   blocks executed) on `Behind` and periodically, and runs the view timers.
//! - **Crash and restart as the node does.** A crash loses everything in memory; the restart
//!   restores the ledger with `Ledger::restore` from the persisted accounts and records (its
//!   root must equal the root the replica had) and the replica with `Replica::restore` from
//!   its write-ahead log, which is truncated at every stable checkpoint by the node's rule
//!   (votes at or below it go; only the latest VIEW-CHANGE, NEW-VIEW and checkpoint stay).
//! - **Accounts in memory and in storage.** Odd nodes' ledgers read their accounts from their
//!   simulated storage through a cache of `SIM_ACCOUNT_CACHE` (16) accounts (store mode, as
//!   a node's read from RocksDB; attached after each handled event, once its effects are
//!   written), even nodes hold them all in memory and keep the debug builds' whole-state
//!   checks; the checker requires equal roots of both kinds (`Outcome::store_reads` counts the
//!   reads that missed the cache).
//! - **Traffic.** Blocks carry real, really signed transactions ([`workload`]): wallet
//!   creation, issue, transfers, some of which fail (insufficient funds, wrong signer, same
//!   account, unknown wallet), retries of earlier ids (idempotent duplicates) and earlier ids
//!   with another body.
//! - **Signatures are real, each verified once per run.** Every message is signed and checked
//!   with ed25519; the replicas of a run share a [`MemoVerifier`] that remembers the (key,
//!   message digest, signature) triples that verified, so a message broadcast to n-1 replicas,
//!   or a prepared certificate carried by every VIEW-CHANGE and NEW-VIEW, costs one real
//!   verification. Failures are always verified again; answers equal strict verification's,
//!   so traces are the same as without the memo. Commit certificates are checked through it too,
//!   each signature strictly (the node checks them in one batch).
//! - **An observer follows every run.** Node n is booted like a validator but with
//!   `MachineParts { validator: None, .. }`: it polls the validators' heights every
//!   `OBSERVER_POLL_INTERVAL_MS`, fetches blocks with `Request::Blocks`, checks each
//!   certificate against the genesis and executes them on its own ledger, over its own
//!   simulated storage. It sees every live validator as a peer; they do not see it (no
//!   consensus message or gossip is sent to it, broadcasts go to validators only), and the
//!   clients never submit to it (forwarding submissions is its driver's job, not its
//!   machine's). Its faults are those that make sense for it: crash and restart
//!   ([`Scenario::observer_crashes`]), partitions that isolate it (its requests need both
//!   directions of a link), lost and delayed answers, and a
//!   [`Byzantine::ForgedSyncBlock`] validator among the peers it asks.
//! - **Deterministic.** One `ChaCha8Rng` per run, `BTreeMap`s only, simulated time; every event
//!   is folded into a trace hash, so a seed replays exactly ([`Outcome::trace_hash`]).
//!
//! ## Checked (a failure is a [`SimError`] carrying the replay command)
//! After every step, over honest replicas and the observer ([`check::Checker`]):
//! - no two different blocks final at one height; every commit certificate verifies;
//! - equal state roots at equal heights (every height, and every stable checkpoint);
//! - money conserved after every block (`Ledger::totals` equals the genesis totals);
//! - a replica's view never decreases (across restarts too);
//! - no honest replica sends two different PRE-PREPAREs, PREPAREs or COMMITs for one
//!   (view, height), even across a crash; every `Persist` of a step precedes its messages;
//! - a restored ledger equals the one the replica had before the crash;
//! - no honest replica reports evidence against an honest one;
//! - the observer only asks and executes: it never sends a message, logs a vote, or reports a
//!   checkpoint or evidence.
//!
//! Liveness: after the chaos phase the network heals (no loss, no partitions, crashed
//! replicas restarted, at most f faulty); a transaction submitted then, and
//! [`scenario::AFTER_HEAL_HEIGHTS`] new heights, must be executed on every honest replica
//! within [`scenario::AFTER_HEAL_MS`] of simulated time. Then the observer must reach the
//! honest validators' height within [`scenario::OBSERVER_SETTLE_MS`], and hold what they
//! hold: the same block and state root at the top, the same live ledger root.
//!
//! ## Running it
//! `cargo run --release -p settlenet-sim -- --seeds N --seed-start S [--n 4|7|both]`; a
//! failing seed prints `cargo run --release -p settlenet-sim -- --n 4 --seed-start S --seeds 1
//! --verbose`, which replays it with its trace.

mod byzantine;
pub mod check;
mod effects;
pub mod error;
pub mod memo;
mod outcome;
pub mod scenario;
mod sim;
pub mod workload;

pub use check::Checker;
pub use error::{replay_command, SimError, Violation};
pub use memo::{MemoVerifier, TxMemo};
pub use outcome::{Outcome, Summary};
pub use scenario::{Byzantine, Scenario};
pub use sim::{run_seed, run_seed_with, InjectedFault, Options, Sim};
