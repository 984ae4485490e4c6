//! Snapshot state transfer, the machine's side: capturing ledger copies, serving them, and
//! verifying and installing one fetched from a peer. The path for a replica too far behind to
//! replay blocks, or whose peers no longer hold the blocks it needs.
//!
//! ```text
//!  serving node                                    catching-up node
//!  execute(H), H % interval == 0                   behind >= snapshot_threshold_blocks
//!    └─ Effect::CaptureSnapshot (after block H's   (or a peer answered BlocksFrom{base})
//!       CommitBlock): the driver takes a RocksDB     │ Effect::FetchSnapshot (the driver asks
//!       checkpoint of its store (hard links)          │  peers in turn)
//!  Output::StableCheckpoint(H, root, proof)
//!    └─ root == captured root?
//!       Effect::PrepareSnapshot: the driver reads
//!       the checkpoint once (prepare_served): chunk
//!       plans and hashes -> Event::SnapshotPrepared
//!       (keep <= 2)                           <── Request::SnapshotManifest
//!                                             ──> manifest: H, root, checkpoint proof,
//!                                                  block H + commit certificate, chunk hashes
//!                                             <── Request::SnapshotChunk{H, i}  (one at a time)
//!    Answer::SnapshotChunk: the driver reads  ──> chunk i: Assembly::accept_chunk (hash, bounds)
//!    chunk i from the checkpoint (ChunkRead)
//!                                                  Assembly::finish: Ledger::restore_verified
//!                                                  Event::SnapshotFetched ─▶ Effect::InstallSnapshot
//!                                                  Input::SyncedTo(H), then blocks from H+1
//! ```
//!
//! **The anchor is a stable checkpoint** (PBFT §4.3): a quorum of CHECKPOINT signatures on
//! (H, state root) proves the root at H against the genesis keys alone, and every multiple of
//! the checkpoint interval gets one. A committed header's lagged `state_root` would also
//! certify a root, but only for the `state_height` some proposer happened to have executed, so
//! a server could not choose H in advance and capture its state there. The block at H with its
//! commit certificate travels with the manifest: its hash links block H+1 and its timestamp is
//! the consensus time at H.
//!
//! Serving costs neither memory in proportion to the state nor consensus time: when it commits
//! a snapshot height the node takes a RocksDB checkpoint of its store (hard links to the
//! immutable table files, taken between two block writes, so it holds exactly the state at
//! that height); once the checkpoint is stable the driver reads it once, in id order, to cut
//! it into chunks and hash them ([`prepare_served`]), keeping only a [`state::ChunkPlan`] (a
//! few dozen bytes) and a hash per chunk. A chunk asked for is read again from the checkpoint
//! and checked against its hash before it is sent. At most [`SERVED_MAX`] snapshots are
//! served (the newest always; an older one only while a peer is still reading it, idle expiry
//! [`SERVED_IDLE_MS`]); the driver deletes every checkpoint the machine no longer names
//! ([`NodeMachine::snapshot_heights_in_use`]).
//!
//! Receiving trusts nothing before it is checked ([`Assembly`]): the manifest's proof and
//! certificate are verified against the genesis before any chunk is fetched; chunk count and
//! total bytes are bounded; each chunk must hash to its manifest entry; the assembled state
//! must reproduce the certified root. The store is written only after everything verified, in
//! one batch.

pub(crate) mod state;

pub use state::{
    encode_chunks, plan_chunks, plan_chunks_within, prepare_served, read_chunk, Assembly,
    ChunkPlan, ChunkRead, FetchPlan, Fetched, PrepareSnapshot, Served, SnapshotInstall,
    SnapshotSource, SyncConfig, PRUNE_STEP_MAX_BLOCKS, PRUNE_STEP_MIN_BLOCKS, RETAIN_BLOCKS_MIN,
    SERVED_IDLE_MS, SERVED_MAX,
};

use crate::machine::{Answer, Effect, NodeMachine};
use crate::wire::{Request, Response};
use settlenet_consensus::{CheckpointProof, Input};
use settlenet_types::{Hash, Height, ReplicaId, Signature, StoredBlock};
use state::{Captured, CAPTURED_MAX};
use std::collections::BTreeSet;
use tracing::{error, info};

impl NodeMachine {
    // ---- serving ----

    /// The heights whose store checkpoints the driver must keep (captured, being indexed,
    /// served); it deletes the others.
    pub fn snapshot_heights_in_use(&self) -> BTreeSet<Height> {
        self.snapshots.heights_in_use()
    }

    /// After committing `block` (its `CommitBlock` already in `out`): if this is a snapshot
    /// height, have the driver checkpoint the store now, before the next block is written.
    pub(crate) fn snapshot_capture(&mut self, block: &StoredBlock, out: &mut Vec<Effect>) {
        let height = block.block.header.height;
        let interval = self.snapshots.config.snapshot_interval_blocks;
        if interval == 0 || !height.0.is_multiple_of(interval) {
            return;
        }
        self.snapshots.captured.insert(
            height,
            Captured {
                root: block.state_root,
                block: block.clone(),
                history: self.ledger.history().clone(),
            },
        );
        out.push(Effect::CaptureSnapshot { height });
        while self.snapshots.captured.len() > CAPTURED_MAX {
            self.snapshots.captured.pop_first();
        }
        // A quorum of CHECKPOINTs can arrive before we execute the height ourselves.
        if let Some((h, root, proof)) = self.snapshots.proven.take() {
            if h == height {
                self.snapshot_on_stable(h, root, proof, out);
            } else {
                self.snapshots.proven = Some((h, root, proof));
            }
        }
    }

    /// A checkpoint became stable: if we captured that height, have the driver index it for
    /// serving.
    pub(crate) fn snapshot_on_stable(
        &mut self,
        height: Height,
        state_root: Hash,
        proof: Vec<(ReplicaId, Signature)>,
        out: &mut Vec<Effect>,
    ) {
        let interval = self.snapshots.config.snapshot_interval_blocks;
        if interval == 0 || !height.0.is_multiple_of(interval) {
            return;
        }
        let Some(captured) = self.snapshots.captured.remove(&height) else {
            if height > self.ledger.height() {
                self.snapshots.proven = Some((height, state_root, proof));
            }
            return;
        };
        self.snapshots.captured.retain(|h, _| *h > height);
        if captured.root != state_root {
            error!(
                %height,
                ours = %captured.root,
                certified = %state_root,
                "SAFETY: our state root differs from the stable checkpoint; not serving it"
            );
            return;
        }
        let proof = CheckpointProof {
            height,
            state_root,
            signatures: proof,
        };
        self.snapshots.preparing.insert(height);
        out.push(Effect::PrepareSnapshot(Box::new(PrepareSnapshot {
            height,
            state_root,
            history: captured.history,
            proof,
            block: captured.block,
        })));
    }

    /// The driver indexed a checkpoint: serve it (the newest always; older ones while read).
    pub(crate) fn on_snapshot_prepared(
        &mut self,
        height: Height,
        result: Result<Box<Served>, String>,
    ) {
        self.snapshots.preparing.remove(&height);
        let mut served = match result {
            Ok(s) if s.manifest.height == height => s,
            Ok(s) => {
                error!(%height, got = %s.manifest.height, "snapshot prepared for another height; not serving it");
                return;
            }
            Err(e) => {
                error!(%height, "cannot prepare the snapshot at height {height} for serving: {e}");
                return;
            }
        };
        info!(
            %height,
            chunks = served.plans.len(),
            bytes = served.manifest.total_bytes,
            "snapshot ready to serve"
        );
        let now = self.now;
        served.last_request_ms = now;
        let s = &mut self.snapshots.served;
        s.push_back(*served);
        while s.len() > 1
            && (s.len() > SERVED_MAX
                || s.front()
                    .is_some_and(|o| now.saturating_sub(o.last_request_ms) > SERVED_IDLE_MS))
        {
            s.pop_front();
        }
    }

    /// Answer `SnapshotManifest` / `SnapshotChunk` (a chunk is read by the driver).
    pub(crate) fn serve_snapshot(&mut self, request: Request) -> Answer {
        let now = self.now;
        let served = &mut self.snapshots.served;
        match request {
            Request::SnapshotManifest => match served.back_mut() {
                Some(s) => {
                    s.last_request_ms = now;
                    Answer::Ready(Response::SnapshotManifest(Box::new(s.manifest.clone())))
                }
                None => Answer::Ready(Response::Error(
                    "no snapshot served yet (none taken since this node started, or \
                     [sync] snapshot_interval_blocks = 0)"
                        .into(),
                )),
            },
            Request::SnapshotChunk { height, index } => {
                let Some(s) = served.iter_mut().find(|s| s.manifest.height == height) else {
                    let have: Vec<String> = served
                        .iter()
                        .map(|s| s.manifest.height.to_string())
                        .collect();
                    return Answer::Ready(Response::Error(format!(
                        "no snapshot at height {height} (serving heights {have:?}); ask for the \
                         manifest again"
                    )));
                };
                let (Some(plan), Some(hash)) = (
                    s.plans.get(index as usize),
                    s.manifest.chunk_hashes.get(index as usize),
                ) else {
                    return Answer::Ready(Response::Error(format!(
                        "snapshot at height {height} has {} chunks; no chunk {index}",
                        s.plans.len()
                    )));
                };
                s.last_request_ms = now;
                self.counters.snapshot_chunks_served += 1;
                Answer::SnapshotChunk(Box::new(ChunkRead {
                    height,
                    index,
                    plan: plan.clone(),
                    history: s.history.clone(),
                    hash: *hash,
                }))
            }
            other => Answer::Ready(Response::Error(format!(
                "not a snapshot request: {other:?}"
            ))),
        }
    }

    // ---- receiving ----

    /// Ask the driver to fetch a snapshot from the connected peers, one after another until
    /// one verifies.
    pub(crate) fn start_snapshot_sync(&mut self, out: &mut Vec<Effect>) {
        if !self.snapshots.may_start(self.now) || self.connected.is_empty() {
            return;
        }
        let mut peers: Vec<ReplicaId> = self.connected.iter().copied().collect();
        let rotate = self.sync_peer_rr % peers.len();
        peers.rotate_left(rotate);
        self.sync_peer_rr = self.sync_peer_rr.wrapping_add(1);
        self.snapshots.fetching = true;
        info!(
            height = %self.ledger.height(),
            target = %self.sync_target,
            "state transfer: far behind; fetching a snapshot"
        );
        out.push(Effect::FetchSnapshot(FetchPlan {
            peers,
            our_height: self.ledger.height(),
            max_bytes: self.snapshots.config.snapshot_max_bytes,
        }));
    }

    /// Replace our state with a verified snapshot, tell consensus, and continue block by block.
    pub(crate) fn install_snapshot(&mut self, f: Fetched, out: &mut Vec<Effect>) {
        let Fetched {
            peer,
            manifest,
            ledger,
            accounts,
            records,
        } = f;
        let height = manifest.height;
        if height <= self.ledger.height() {
            info!(%height, ours = %self.ledger.height(), "state transfer: snapshot no longer ahead; ignored");
            self.start_sync(out);
            return;
        }
        let block = manifest.block;
        info!(
            %height,
            root = %manifest.state_root,
            %peer,
            accounts = accounts.len(),
            records = records.len(),
            "state transfer: installing snapshot at height {height}"
        );
        self.ledger = ledger;
        self.blocks_from.clear();
        self.snapshots.base = height;
        self.snapshots.captured.clear();
        self.last_hash = block.hash;
        self.last_block_time_ms = self.last_block_time_ms.max(block.block.header.timestamp_ms);
        self.last_progress_ms = self.now;
        self.recent.retain(|h, _| h.0 == 0);
        self.remember(height, block.hash, manifest.state_root);
        self.sync_target = self.sync_target.max(height);
        self.counters.snapshots_installed += 1;
        let history = self.ledger.history().clone();
        out.push(Effect::InstallSnapshot(Box::new(SnapshotInstall {
            block,
            accounts,
            records,
            history,
        })));
        self.step(Input::SyncedTo(height), out);
        let mut more = Vec::new();
        self.recheck_deferred(&mut more, out);
        self.run_outputs(more, out);
        self.start_sync(out);
    }
}
