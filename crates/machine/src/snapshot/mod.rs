//! Snapshot state transfer, the machine's side: capturing ledger copies, serving them, and
//! verifying and installing one fetched from a peer. The path for a replica too far behind to
//! replay blocks, or whose peers no longer hold the blocks it needs.
//!
//! ```text
//!  serving node                                    catching-up node
//!  execute(H), H % interval == 0                   behind >= snapshot_threshold_blocks
//!    └─ capture: copy of the ledger at H           (or a peer answered BlocksFrom{base})
//!  Output::StableCheckpoint(H, root, proof)          │ Effect::FetchSnapshot (the driver asks
//!    └─ root == captured root? Job: encode    <── Request::SnapshotManifest     peers in turn)
//!       chunks, hash each, keep (<= 2)        ──> manifest: H, root, checkpoint proof,
//!                                                  block H + commit certificate, chunk hashes
//!                                             <── Request::SnapshotChunk{H, i}  (one at a time)
//!                                             ──> chunk i: Assembly::accept_chunk (hash, bounds)
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
//! Serving costs memory, not consensus time: when it executes a snapshot height the node
//! copies its ledger (copy-on-write), and once the checkpoint is stable a [`Job`] encodes the
//! copy into chunks. At most [`SERVED_MAX`] encoded snapshots are kept (the newest always; an
//! older one only while a peer is still reading it, idle expiry [`SERVED_IDLE_MS`]); chunks
//! are served from memory, so a served snapshot is consistent by construction.
//!
//! Receiving trusts nothing before it is checked ([`Assembly`]): the manifest's proof and
//! certificate are verified against the genesis before any chunk is fetched; chunk count and
//! total bytes are bounded; each chunk must hash to its manifest entry; the assembled state
//! must reproduce the certified root. The store is written only after everything verified, in
//! one batch.

pub(crate) mod state;

pub use state::{
    encode_chunks, encode_part, Assembly, FetchPlan, Fetched, SnapshotInstall, SyncConfig,
    SERVED_IDLE_MS, SERVED_MAX,
};

use crate::job::Job;
use crate::machine::{Effect, NodeMachine};
use crate::wire::{Request, Response};
use settlenet_consensus::{CheckpointProof, Input};
use settlenet_types::{Hash, Height, ReplicaId, Signature, StoredBlock};
use state::{Captured, Served, CAPTURED_MAX};
use tracing::{error, info};

impl NodeMachine {
    // ---- serving ----

    /// After executing `block`: copy the ledger if this is a snapshot height.
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
                snapshot: self.ledger.snapshot(),
            },
        );
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

    /// A checkpoint became stable: if we captured that height, encode it for serving.
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
        self.spawn(
            Job::EncodeSnapshot {
                captured: Box::new(captured),
                proof,
            },
            out,
        );
    }

    /// A snapshot was encoded: serve it (the newest always; older ones while read).
    pub(crate) fn on_snapshot_encoded(&mut self, result: Result<Box<Served>, String>) {
        let mut served = match result {
            Ok(s) => s,
            Err(e) => {
                error!("cannot encode a snapshot for serving: {e}");
                return;
            }
        };
        info!(
            height = %served.manifest.height,
            chunks = served.chunks.len(),
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

    /// Answer `SnapshotManifest` / `SnapshotChunk`.
    pub(crate) fn serve_snapshot(&mut self, request: Request) -> Response {
        let now = self.now;
        let served = &mut self.snapshots.served;
        match request {
            Request::SnapshotManifest => match served.back_mut() {
                Some(s) => {
                    s.last_request_ms = now;
                    Response::SnapshotManifest(Box::new(s.manifest.clone()))
                }
                None => Response::Error(
                    "no snapshot served yet (none taken since this node started, or \
                     [sync] snapshot_interval_blocks = 0)"
                        .into(),
                ),
            },
            Request::SnapshotChunk { height, index } => {
                let Some(s) = served.iter_mut().find(|s| s.manifest.height == height) else {
                    let have: Vec<String> = served
                        .iter()
                        .map(|s| s.manifest.height.to_string())
                        .collect();
                    return Response::Error(format!(
                        "no snapshot at height {height} (serving heights {have:?}); ask for the \
                         manifest again"
                    ));
                };
                let Some(bytes) = s.chunks.get(index as usize) else {
                    return Response::Error(format!(
                        "snapshot at height {height} has {} chunks; no chunk {index}",
                        s.chunks.len()
                    ));
                };
                s.last_request_ms = now;
                self.counters.snapshot_chunks_served += 1;
                Response::SnapshotChunk {
                    height,
                    index,
                    bytes: bytes.clone(),
                }
            }
            other => Response::Error(format!("not a snapshot request: {other:?}")),
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
