//! # settlenet-machine
//!
//! ## Overview
//! A validator's whole logic as one pure, deterministic state machine: the PBFT
//! [`Replica`](settlenet_consensus::Replica), the [`Ledger`](settlenet_ledger::Ledger), the
//! [`mempool`], block sync and snapshot state transfer. It takes `(now_ms, Event)` and appends
//! [`Effect`]s; it does no I/O, reads no clock, draws no randomness and spawns nothing.
//!
//! ```text
//!                 ┌──────────────────────── NodeMachine ─────────────────────────┐
//!  Event ───────▶ │ admission ─▶ mempool ─▶ proposing ─▶ Replica::step ─▶ outputs │ ──▶ Effect
//!  (wire, answer, │ proposal checks (chain, proposer, consensus time, lagged root, │  (send, request,
//!   peer up/down, │   signatures via Job) ─▶ ProposalVerdict                      │   persist WAL,
//!   job done,     │ Committed ─▶ Ledger::apply_block ─▶ Executed ─▶ checkpoints    │   commit block,
//!   wake)         │ sync: status polls, block requests, snapshots                 │   spawn job, ...)
//!                 └────────────────────────────────────────────────────────────────┘
//!        ▲                                                                   │
//!        └──── driver: settlenet-node (tokio, libp2p, RocksDB)  ◀────────────┘
//!                      settlenet-sim  (seeded event queue, faulty network)
//! ```
//!
//! ## Design
//! - **One machine, two drivers.** `settlenet-node`'s `Core` turns sockets, the API, timers
//!   and the store into [`Event`]s and carries out [`Effect`]s; the seeded simulator
//!   (`settlenet-sim`) drives the very same machine with a simulated network. So every rule
//!   the node enforces (admission, who may propose, consensus time, lagged state roots,
//!   transaction signatures, sync and its certificate checks) runs under thousands of seeds.
//! - **Effects are carried out in order, before the next event.** A `PersistWal` precedes the
//!   messages it covers; a `CommitBlock` is written before anything after it is sent, and
//!   before the driver answers the API about it (nothing is acknowledged that is not durable).
//! - **CPU-heavy but pure work is a [`Job`].** Signature batches and snapshot encoding are
//!   handed to the driver as `Effect::Spawn(job)`; the driver runs [`Job::run`] where it likes
//!   (a blocking thread in the node, inline in the simulator) and returns the result as
//!   `Event::JobDone`.
//! - **Time is an input.** `now_ms` comes with every event; timers are deadlines the driver
//!   asks for with [`NodeMachine::next_wake_ms`] and answers with `Event::Wake`. No polling:
//!   the machine names the next moment it has something to do (a view timer, a gossip flush,
//!   a block to cut, a status poll).
//! - **Peers are replica ids.** The driver maps transport identities (libp2p peer ids) to
//!   [`ReplicaId`](settlenet_types::ReplicaId)s and refuses strangers before the machine sees
//!   anything; wire messages arrive decoded (the driver's decoder enforces size limits).
//!
//! ## Invariants
//! - Blocks are executed strictly in height order; a committed block's write is emitted before
//!   any effect that depends on it.
//! - Everything a peer or client can grow is bounded: the mempool ([`mempool::Mempool`]),
//!   deferred proposals ([`DEFERRED_MAX`]), remembered roots ([`ROOTS_KEPT`]), gossip batches
//!   ([`wire::GOSSIP_MAX_TXS`]), sync responses ([`wire::SYNC_MAX_BLOCKS`]), snapshots
//!   captured and served ([`snapshot::SERVED_MAX`]), chunks received
//!   ([`wire::SNAPSHOT_MAX_CHUNKS`], [`wire::SNAPSHOT_CHUNK_MAX_BYTES`]).
//! - `BTreeMap`/`BTreeSet` wherever iteration order reaches an effect: one seed, one trace.
//!
//! ## Layout
//! - `machine.rs`: the struct, [`Event`], [`Effect`], dispatch, timers and status.
//! - `admit.rs`: submissions and gossip into the mempool.
//! - `propose.rs`: cutting blocks and checking other primaries' proposals.
//! - `execute.rs`: executing committed blocks, block sync from peers, serving requests.
//! - `snapshot/`: snapshot capture, serving and install (`mod.rs`, the machine's side); the
//!   data, bookkeeping, chunk encoding and verification ([`snapshot::Assembly`]) in `state.rs`.
//! - `job.rs`: work run off the event loop. `wal.rs`: write-ahead log truncation rules.
//! - `wire.rs`, `mempool.rs`, `evidence.rs`: the wire format, the pool, evidence records.

mod admit;
pub mod evidence;
mod execute;
mod job;
mod machine;
pub mod mempool;
mod propose;
pub mod snapshot;
pub mod wal;
pub mod wire;

pub use admit::SubmitOutcome;
pub use job::{Job, JobResult, StrictTxVerifier, TxVerifier};
pub use machine::{
    certified_root_of, Answer, BlockCommit, Counters, Effect, Event, MachineParts, NodeMachine,
    SafetyViolation, DEFERRED_MAX, GOSSIP_DELAY_MS, OBSERVER_POLL_INTERVAL_MS, POLL_INTERVAL_MS,
    ROOTS_KEPT, STALL_MS,
};
pub use snapshot::{
    ChunkRead, FetchPlan, Fetched, PrepareSnapshot, SnapshotInstall, SnapshotSource, SyncConfig,
    PRUNE_STEP_MAX_BLOCKS, PRUNE_STEP_MIN_BLOCKS, RETAIN_BLOCKS_MIN,
};
