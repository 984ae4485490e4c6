//! # settlenet-consensus
//!
//! ## Overview
//! PBFT's normal case (Castro & Liskov, OSDI'99 §4.2) as a pure, deterministic state machine.
//! The node feeds a [`Replica`] [`Input`]s (network messages, its own block proposals, its
//! verdicts on proposals, state-transfer progress) and carries out the [`Output`]s (broadcasts,
//! proposal checks, final blocks with their commit certificates, catch-up requests, evidence).
//! There is no I/O, clock, randomness or async here: the same inputs always give the same
//! outputs, so the engine runs unchanged in the node and in seeded simulations.
//!
//! This version keeps the view fixed; view change (timers, VIEW-CHANGE, NEW-VIEW) comes next
//! and fits the state as it is: slots are keyed by (height, view) and messages of other views
//! are dropped and counted.
//!
//! ## Design
//! Normal case for one height `h` in view `v` with n = 4 (primary 0, quorum 3):
//!
//! ```text
//!  node(0)    replica 0 (primary)  replica 1        replica 2        replica 3      node(1..3)
//!    |  Propose(block h)  |               |                |                |             |
//!    |------------------->| PRE-PREPARE(v,h,block)         |                |             |
//!    |                    |-------------->|--------------->|--------------->|             |
//!    |                    |               | VerifyProposal |                |  (each      |
//!    |                    |               |------------------------------------------->  |
//!    |                    |               |<-------------------------- ProposalVerdict -- |
//!    |                    |      PREPARE(v,h,d) from each backup, to all                 |
//!    |                    |<------------->|<-------------->|<-------------->|             |
//!    |          prepared: pre-prepare + quorum-1 matching PREPAREs from backups           |
//!    |                    |      COMMIT(v,h,d) from every replica (primary too), to all   |
//!    |                    |<------------->|<-------------->|<-------------->|             |
//!    |          committed-local: quorum matching COMMITs (own included)                   |
//!    |<-- Committed{block, certificate} -- (in height order, once per height) ---------->|
//! ```
//!
//! - **Messages** ([`SignedMessage`]) are signed by their sender over domain-separated bytes:
//!   votes over `VoteBody::signing_message` (so COMMIT signatures form a
//!   [`settlenet_types::CommitCertificate`] anyone can check with the genesis alone), the
//!   PRE-PREPARE over a [`PrePrepareBody`] whose first field is a tag no vote can carry.
//! - **Pipelining**: the primary may have heights `last_committed + 1 ..= last_committed +
//!   max_in_flight` in flight; a replica keeps state for `(last_committed, last_committed +
//!   2 * max_in_flight]` (the low and high watermarks), since others may be up to one window
//!   ahead of it. Votes may arrive before their pre-prepare; they are kept and counted once it
//!   arrives.
//! - **Outside the window**: at or below `last_committed` is dropped; above, a validly signed
//!   message is remembered per sender, and once f+1 validators are above the window the replica
//!   emits [`Output::Behind`] so the node fetches committed blocks and reports
//!   [`Input::SyncedTo`].
//! - **Validation is the node's**: a backup PREPAREs only after [`Output::VerifyProposal`] is
//!   answered valid; the consensus crate checks only what it can alone (signatures, the block
//!   body against its tx_root, heights, views).
//! - **Bad input** is an `Err` inside, a dropped message and a counter in [`ReplicaStats`]
//!   outside; never a panic.
//!
//! ## Invariants
//! - `Committed` is emitted exactly once per height, in strictly increasing order without gaps,
//!   and only with a certificate of at least `quorum(n)` matching COMMIT signatures from
//!   distinct validators, sorted by replica.
//! - A replica sends at most one PREPARE and one COMMIT per (view, height), and only for a block
//!   its node judged valid (or that it proposed itself).
//! - Memory is bounded: at most `2 * max_in_flight` slots (one view), each with one pre-prepare,
//!   at most one PREPARE and one COMMIT per validator, and at most one evidence report per
//!   (validator, kind); at most n "ahead" claims. `max_in_flight <= MAX_IN_FLIGHT_LIMIT`.
//! - Every iteration that can reach an output is over a `BTreeMap`/`BTreeSet`.
//! - Internal invariants are `assert!`ed after every step.
//!
//! ## Layout
//! - `message.rs`: [`SignedMessage`], [`Payload`], [`PrePrepareBody`], signing and verification.
//! - `replica.rs`: [`Replica`], [`Input`], [`Output`], [`ReplicaStats`].
//! - `error.rs`: [`ConsensusError`].

#![warn(missing_docs)]

mod error;
mod message;
mod replica;

pub use error::ConsensusError;
pub use message::{
    primary_of, CheckpointBody, CheckpointProof, MessageKind, NewViewBody, Payload, PrePrepareBody,
    PreparedCertificate, Reproposal, SignedMessage, SignedViewChange, ViewChangeBody,
    CHECKPOINT_TAG, NEW_VIEW_TAG, PRE_PREPARE_TAG, VIEW_CHANGE_TAG,
};
pub use replica::{
    is_null, null_block, DropReason, Input, Output, Replica, ReplicaConfig, ReplicaStats,
    TimerKind, WalEntry, DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_VIEW_TIMEOUT_MS_MAX,
    DEFAULT_VIEW_TIMEOUT_MS_MIN, MAX_CHECKPOINT_INTERVAL, MAX_IN_FLIGHT_LIMIT,
};

#[cfg(test)]
mod tests;
