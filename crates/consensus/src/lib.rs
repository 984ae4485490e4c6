//! # settlenet-consensus
//!
//! ## Overview
//! PBFT (Castro & Liskov, OSDI'99) as a pure, deterministic state machine: the normal case
//! with pipelining (§4.2), checkpoints and garbage collection (§4.3), view change (§4.4, with
//! the liveness rules of §4.5.2), and a write-ahead log of the replica's own votes for crash
//! recovery. The node feeds a [`Replica`] [`Input`]s (network messages, its own block
//! proposals, its verdicts on proposals, state-transfer progress, timer expiries, "work
//! pending", executed heights) and carries out the [`Output`]s (broadcasts, proposal checks,
//! final blocks with their commit certificates, catch-up requests, evidence, log writes,
//! timers, stable checkpoints). There is no I/O, clock, randomness or async here: the same
//! inputs always give the same outputs, so the engine runs unchanged in the node and in
//! seeded simulations (the cluster simulator `crates/sim`).
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
//! View change (v -> v+1, primary of v+1 = replica 1):
//!
//! ```text
//!  timer expires (work known, nothing committed)      f+1 VIEW-CHANGEs for views > mine
//!        |                                                      |
//!        +----> Persist(ViewChange), VIEW-CHANGE(v+1, C, P) <---+   (join the smallest view
//!                        |                                           f+1 others reached)
//!     quorum of VIEW-CHANGEs for v+1 at the new primary
//!                        |
//!        NEW-VIEW(v+1, V, O): O = for each height in (min-s, max-s]: the block prepared in
//!        the highest view in V (same header, same digest), else a null block
//!                        |
//!     backups check O against V, PREPARE every block of O (no VerifyProposal), continue
//! ```
//!
//! - **Messages** ([`SignedMessage`]) are signed by their sender over domain-separated bytes:
//!   votes over `VoteBody::signing_message` (so COMMIT signatures form a
//!   [`settlenet_types::CommitCertificate`] anyone can check with the genesis alone), every
//!   other message over a body whose first field is a tag no other message can carry
//!   ([`PRE_PREPARE_TAG`], [`CHECKPOINT_TAG`], [`VIEW_CHANGE_TAG`], [`NEW_VIEW_TAG`]). Proofs
//!   inside VIEW-CHANGE and NEW-VIEW hold bare signatures, so the message types are not
//!   recursive (no decoder recursion bomb).
//! - **Pipelining**: the primary may have heights `last_committed + 1 ..= last_committed +
//!   max_in_flight` in flight; a replica keeps state for `(h, H]` with the low watermark
//!   `h = max(stable checkpoint, base)` and `H = min(last_committed + 2 * max_in_flight,
//!   h + L)`, `L = 2 * checkpoint_interval + 2 * max_in_flight` (§4.3: nothing is proposed
//!   or accepted more than L above the last stable checkpoint). `base` is the height the node
//!   vouches for without a checkpoint proof: the start height given to [`Replica::new`] /
//!   [`Replica::restore`], or the target of [`Input::SyncedTo`].
//! - **Outside the window**: at or below `h` (or at or below `last_committed`, unless the
//!   current view's NEW-VIEW re-proposed the height) is dropped as stale; above `H`, a validly
//!   signed message is remembered per sender, and once f+1 validators are above the window
//!   the replica emits [`Output::Behind`]. A stable checkpoint or a NEW-VIEW above
//!   `last_committed` also emits `Behind`.
//! - **Checkpoints (§4.3)**: after [`Input::Executed`] at a multiple of
//!   `checkpoint_interval` the replica broadcasts CHECKPOINT(height, state_root); a quorum
//!   on one root is stable: [`Output::StableCheckpoint`] (and a `Persist`), the log at or
//!   below it is discarded and `h` moves.
//! - **View change (§4.4)**: the view timer ([`TimerKind::View`]) runs while work is known
//!   and uncommitted (a PRE-PREPARE accepted, or [`Input::WorkPending`]); every commit resets
//!   the backoff and restarts the timer if proposals are still in flight, else stops it
//!   (the node sends `WorkPending` again if its pool is not empty). On expiry the replica
//!   sends VIEW-CHANGE(v+1) with its stable checkpoint proof and its prepared certificates
//!   above it. §4.5.2: it joins a higher view early only when f+1 other replicas are in
//!   higher views (the smallest of the top f+1), and its NEW-VIEW timer runs only once a
//!   quorum is in its view; before that, the timer only retransmits its VIEW-CHANGE. Each
//!   view change doubles the timeout, capped at `view_timeout_ms_max`. A valid NEW-VIEW for
//!   any view at least ours is joined directly (it carries a quorum of VIEW-CHANGEs).
//! - **Null blocks**: [`null_block`] (no transactions, timestamp 0, the new primary as
//!   proposer, zero state root); [`is_null`] recognises one. Re-proposed prepared blocks keep
//!   their original header, whose `proposer` is the old primary.
//! - **Write-ahead log**: every PRE-PREPARE, PREPARE, COMMIT, VIEW-CHANGE and installed
//!   NEW-VIEW is preceded by [`Output::Persist`] of a [`WalEntry`], and all `Persist` outputs of
//!   a step come first in it. [`Replica::restore`] replays the log: the replica returns in
//!   its latest view with its votes, so it never votes twice differently for a (view,
//!   height), never re-proposes a different block at a height it pre-prepared in that view,
//!   and its next VIEW-CHANGE still carries its prepared certificates.
//! - **Validation is the node's**: a backup PREPAREs a fresh proposal only after
//!   [`Output::VerifyProposal`] is answered valid; blocks carried by a valid NEW-VIEW need no
//!   verdict (a quorum prepared them, or they are null blocks).
//! - **Consensus time** ([`check_proposal_time`], pure): the node refuses a fresh proposal
//!   whose stamp is not strictly between the times this replica accepted around it
//!   ([`Replica::accepted_times_around`] and its committed chain) or is more than its
//!   configured skew from its clock, either way. NEW-VIEW re-proposals and null blocks never
//!   reach `VerifyProposal`, so they are exempt (a re-proposal keeps its original, possibly
//!   old, stamp; a null block has none).
//! - **Signature checks** go through [`ReplicaConfig::verifier`]
//!   (`settlenet_crypto::SignatureVerifier`), which must answer exactly as strict ed25519
//!   verification does: by default a `StrictVerifier` with the validators' keys decoded once;
//!   the cluster simulator shares a memo of verified signatures among its replicas. The engine
//!   stays deterministic: only the cost of an answer depends on the verifier, never the answer.
//! - **Bad input** is an `Err` inside, a dropped message and a counter in [`ReplicaStats`]
//!   outside; never a panic.
//!
//! ### What the node must do with each output
//! - `Broadcast` / `Send`: send to all other validators / to one.
//! - `VerifyProposal`: check the block, answer [`Input::ProposalVerdict`].
//! - `Committed`: store and execute the block with its certificate (null blocks execute
//!   nothing; re-proposed blocks may name an earlier primary as proposer), then send
//!   [`Input::Executed`] with the new state root, and `WorkPending` if its pool is not empty.
//! - `Behind`: fetch certified blocks from peers, then [`Input::SyncedTo`] (and `Executed`).
//! - `Evidence`: keep it for operators.
//! - `Persist`: append to the consensus write-ahead log **synchronously, before carrying out
//!   any later output of the same step**; a failed write stops the node. Entries at or below a
//!   stable checkpoint ([`WalEntry::height`]) may be truncated, except view-level entries
//!   (the latest `ViewChange`/`NewView`) and the latest `StableCheckpoint`.
//! - `SetTimer` / `CancelTimer`: (re)arm / disarm the one timer of that kind; on expiry send
//!   [`Input::Timeout`].
//! - `StableCheckpoint`: store it (height, state root, proof): the start of state transfer
//!   beyond the GC horizon.
//!
//! On start the node calls [`Replica::restore`] with its log (or `Replica::new` on a fresh
//! validator), then polls peers and state-transfers if behind.
//!
//! ### Deviations from the paper
//! - No client requests or replies: the value ordered is a block cut by the primary; "work
//!   known" is the node's pool ([`Input::WorkPending`]) or an accepted PRE-PREPARE.
//! - Signatures instead of MACs everywhere, so prepared certificates and checkpoint proofs in
//!   VIEW-CHANGE are transferable as in the signature variant of the paper.
//! - Only the latest VIEW-CHANGE per sender is kept (bounded memory); a VIEW-CHANGE for a
//!   later view counts as support for an earlier one when deciding to start the NEW-VIEW
//!   timer.
//! - NEW-VIEW's O range is cut to the top L heights below max-s: heights further down were
//!   committed by an honest replica (an honest replica prepares only within L of a height it
//!   has committed), so replicas missing them catch up by state transfer.
//! - A replica's low watermark may come from its own storage or state transfer (`base`),
//!   not only from a stable checkpoint; its VIEW-CHANGE still carries only a proven
//!   checkpoint (the genesis, height 0, needs no proof).
//! - Messages of a view we are not active in yet are buffered (bounded per sender) and
//!   replayed when its NEW-VIEW is installed, instead of relying on retransmission; a
//!   replica that sends a VIEW-CHANGE for the view we are active in gets our NEW-VIEW again.
//! - No retransmission of normal-case messages: a lost PREPARE/COMMIT is recovered by a view
//!   change (re-proposal) or by state transfer.
//!
//! ## Invariants
//! - `Committed` is emitted exactly once per height, in strictly increasing order without gaps,
//!   and only with a certificate of at least `quorum(n)` matching COMMIT signatures from
//!   distinct validators, sorted by replica.
//! - A replica sends at most one PREPARE and one COMMIT per (view, height), and only for a block
//!   its node judged valid, that it proposed itself, or that a valid NEW-VIEW carries; this
//!   holds across crashes given the write-ahead log.
//! - The view never decreases (also across [`Replica::restore`]).
//! - Memory is bounded: at most 2L slots (the window plus a NEW-VIEW's O), one view, each with
//!   one pre-prepare, at most one PREPARE and one COMMIT per validator and one evidence report
//!   per (validator, kind); at most L prepared certificates; checkpoint signatures for at most
//!   `2L/K + 2` heights, one per validator; one VIEW-CHANGE per validator; at most
//!   `3 * max_in_flight + 4` buffered messages per validator; at most n "ahead" claims.
//! - Every iteration that can reach an output is over a `BTreeMap`/`BTreeSet`.
//! - Internal invariants are `assert!`ed after every step.
//!
//! ## Layout
//! - `message.rs`: [`SignedMessage`], [`Payload`], the message bodies and proofs, signing and
//!   verification.
//! - `replica/`: the [`Replica`] state machine. All its state is in one struct; its methods
//!   are spread over one file per sub-protocol, each an `impl Replica` block:
//!   - `mod.rs`: the struct, [`Replica::new`], [`Replica::step`] (the dispatch of every
//!     input), the public queries, the helpers every sub-protocol uses (watermarks, caps, the
//!     view timer, signing a vote), the admission of peer messages, and the invariants
//!     checked after every step;
//!   - `config.rs`: [`ReplicaConfig`], its defaults and limits;
//!   - `interface.rs`: what the node and the replica exchange: [`Input`], [`Output`],
//!     [`WalEntry`], [`TimerKind`];
//!   - `stats.rs`: [`ReplicaStats`], [`DropReason`];
//!   - `slot.rs`: the log entry of one (height, view) and the node's verdict on its block;
//!   - `normal.rs`: the normal case up to PREPARE (§4.2): proposing, PRE-PREPARE, the
//!     node's verdict, collecting votes;
//!   - `commit.rs`: COMMIT, committed-local, [`Output::Committed`] in height order with its
//!     certificate (§4.2);
//!   - `checkpoint.rs`: CHECKPOINT, stable checkpoints, garbage collection (§4.3);
//!   - `view_change.rs`: the view timer's expiry, VIEW-CHANGE, NEW-VIEW and its O set,
//!     [`null_block`] (§4.4, §4.5.2);
//!   - `recovery.rs`: [`Replica::restore`] from the write-ahead log, state transfer
//!     ([`Input::SyncedTo`]), [`Output::Behind`].
//! - `time.rs`: consensus time: [`check_proposal_time`] (the rule a fresh proposal's stamp
//!   must pass: strictly increasing, within a skew of the replica's clock either way),
//!   [`next_proposal_time`].
//! - `error.rs`: [`ConsensusError`].
//! - `tests/` (unit tests): `fixture.rs` (keys, signed messages, blocks, the table runners),
//!   then one file per sub-protocol as in `replica/` (`normal.rs`, `commit.rs`,
//!   `checkpoint.rs`, `view_change.rs`, `recovery.rs`), `config.rs` and `messages.rs`.
//!   Seeded runs of whole clusters, with faults and the real ledger, are `crates/sim`'s.

#![warn(missing_docs)]

mod error;
mod message;
mod replica;
mod time;

pub use error::ConsensusError;
pub use message::{
    max_new_view_bytes, max_pre_prepare_bytes, max_view_change_bytes, primary_of, CheckpointBody,
    CheckpointProof, MessageKind, NewViewBody, Payload, PrePrepareBody, PreparedCertificate,
    PreparedDigest, Reproposal, SignedMessage, SignedViewChange, ViewChangeBody, ViewChangeDigest,
    ViewChangeProof, CHECKPOINT_TAG, HEADER_MAX_BYTES, NEW_VIEW_TAG, PRE_PREPARE_TAG,
    VIEW_CHANGE_TAG,
};
pub use replica::{
    is_null, is_null_header, null_block, DropReason, Input, Output, Replica, ReplicaConfig,
    ReplicaStats, TimerKind, WalEntry, BUFFER_VIEWS_AHEAD, DEFAULT_CHECKPOINT_INTERVAL,
    DEFAULT_VIEW_TIMEOUT_MS_MAX, DEFAULT_VIEW_TIMEOUT_MS_MIN, MAX_CHECKPOINT_INTERVAL,
    MAX_IN_FLIGHT_LIMIT, WIRE_ENVELOPE_BYTES,
};
pub use time::{check_proposal_time, next_proposal_time, TimeBounds, TimeError};

#[cfg(test)]
mod tests;
