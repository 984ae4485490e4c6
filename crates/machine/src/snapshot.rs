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

use crate::job::Job;
use crate::machine::{Effect, NodeMachine};
use crate::wire::{
    chunk_hash, Request, Response, SnapshotManifest, MANIFEST_VERSION, SNAPSHOT_CHUNK_MAX_BYTES,
    SNAPSHOT_MAX_CHUNKS,
};
use serde::{Deserialize, Serialize};
use settlenet_consensus::{CheckpointProof, Input};
use settlenet_ledger::{Ledger, LedgerSnapshot};
use settlenet_types::{
    encode, AccountId, Genesis, Hash, Height, PublicKey, ReplicaId, Signature, StoredBlock, TxId,
};
use std::collections::{BTreeMap, VecDeque};
use tracing::{error, info};

/// State transfer settings (`[sync]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// A replica this many blocks (or more) behind its peers fetches a state snapshot instead
    /// of replaying every block; it also does so when peers answer that they no longer hold
    /// the blocks it needs. Then it catches up block by block from the snapshot height.
    pub snapshot_threshold_blocks: u64,
    /// This node keeps a servable snapshot of its state every this many blocks (a multiple of
    /// the consensus checkpoint interval, 16): it copies its ledger in memory when it executes
    /// such a height and serves the copy once a stable checkpoint proves its root. 0 = serve
    /// no snapshots.
    pub snapshot_interval_blocks: u64,
    /// Largest snapshot accepted from a peer, in bytes, before it is verified.
    pub snapshot_max_bytes: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            snapshot_threshold_blocks: 5_000,
            snapshot_interval_blocks: 1_024,
            snapshot_max_bytes: 4 * 1024 * 1024 * 1024,
        }
    }
}

/// Most encoded snapshots served at once.
pub const SERVED_MAX: usize = 2;
/// An older served snapshot no peer asked for in this long is dropped (the newest is kept).
pub const SERVED_IDLE_MS: u64 = 60_000;
/// Most captured (not yet proven) ledger copies held.
const CAPTURED_MAX: usize = 2;
/// Accounts plus records per chunk before the byte limit splits it further.
const CHUNK_ITEMS: usize = 4_096;
/// After a failed snapshot fetch, wait this long before trying again (block sync meanwhile).
const RETRY_MS: u64 = 10_000;

/// A ledger copy taken when executing a snapshot height, waiting for its stable checkpoint.
#[derive(Debug)]
pub struct Captured {
    root: Hash,
    block: StoredBlock,
    snapshot: LedgerSnapshot,
}

/// An encoded snapshot this node serves.
#[derive(Debug)]
pub struct Served {
    manifest: SnapshotManifest,
    chunks: Vec<Vec<u8>>,
    last_request_ms: u64,
}

/// A verified snapshot, ready to install.
#[derive(Debug)]
pub struct Fetched {
    /// The peer it came from.
    pub peer: ReplicaId,
    manifest: SnapshotManifest,
    ledger: Ledger,
    accounts: Vec<(AccountId, Vec<u8>)>,
    records: Vec<(TxId, Vec<u8>)>,
}

/// What the driver needs to fetch a snapshot: the peers to try in turn, and what to check
/// ([`Assembly::new`]).
#[derive(Debug, Clone)]
pub struct FetchPlan {
    /// Connected validators, in the order to try them.
    pub peers: Vec<ReplicaId>,
    /// Our height: the snapshot must be above it.
    pub our_height: Height,
    /// Largest snapshot accepted, in bytes.
    pub max_bytes: u64,
}

/// A verified snapshot's state, for the store (one atomic write).
#[derive(Debug)]
pub struct SnapshotInstall {
    /// The anchoring block (with its certificate) at the snapshot height.
    pub block: StoredBlock,
    /// Every account, encoded.
    pub accounts: Vec<(AccountId, Vec<u8>)>,
    /// Every transaction record, encoded.
    pub records: Vec<(TxId, Vec<u8>)>,
}

impl Fetched {
    /// The verified ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// How many encoded accounts it carries for the store.
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }
}

impl SnapshotInstall {
    /// The snapshot height.
    pub fn height(&self) -> Height {
        self.block.block.header.height
    }
}

/// A stable checkpoint: its height, its state root and the quorum of CHECKPOINT signatures.
type ProvenCheckpoint = (Height, Hash, Vec<(ReplicaId, Signature)>);

/// Snapshot state of the machine: what it serves and what it is fetching.
pub(crate) struct Snapshots {
    config: SyncConfig,
    /// The height this node's state was installed from (0 = genesis); no block below it held.
    base: Height,
    captured: BTreeMap<Height, Captured>,
    /// The latest stable checkpoint at a snapshot height, for a capture that comes after it
    /// (a replica can see a quorum of CHECKPOINTs before it executes the height itself).
    proven: Option<ProvenCheckpoint>,
    served: VecDeque<Served>,
    /// A fetch is running.
    fetching: bool,
    /// When the last fetch failed (ms), for the retry delay.
    failed_ms: Option<u64>,
}

impl Snapshots {
    pub(crate) fn new(config: SyncConfig, base: Height) -> Snapshots {
        Snapshots {
            config,
            base,
            captured: BTreeMap::new(),
            proven: None,
            served: VecDeque::new(),
            fetching: false,
            failed_ms: None,
        }
    }

    /// The snapshot height this node started from (0 = genesis).
    pub(crate) fn base(&self) -> Height {
        self.base
    }

    /// The lowest block height held.
    pub(crate) fn first_block(&self) -> Height {
        self.base.max(Height(1))
    }

    /// A fetch is in flight (block sync waits for it).
    pub(crate) fn fetching(&self) -> bool {
        self.fetching
    }

    /// Whether a replica `behind` blocks behind should fetch a snapshot now.
    pub(crate) fn wanted(&self, behind: u64, now: u64) -> bool {
        self.config.snapshot_threshold_blocks > 0
            && behind >= self.config.snapshot_threshold_blocks
            && self.may_start(now)
    }

    fn may_start(&self, now: u64) -> bool {
        !self.fetching
            && self
                .failed_ms
                .is_none_or(|t| now.saturating_sub(t) >= RETRY_MS)
    }

    pub(crate) fn fetch_done(&mut self) {
        self.fetching = false;
    }

    pub(crate) fn fetch_failed(&mut self, now: u64) {
        self.failed_ms = Some(now);
    }
}

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
        out.push(Effect::InstallSnapshot(Box::new(SnapshotInstall {
            block,
            accounts,
            records,
        })));
        self.step(Input::SyncedTo(height), out);
        let mut more = Vec::new();
        self.recheck_deferred(&mut more, out);
        self.run_outputs(more, out);
        self.start_sync(out);
    }
}

/// Encode a proven capture into chunks and its manifest (a [`Job`]).
pub(crate) fn encode_served(captured: Captured, proof: CheckpointProof) -> Result<Served, String> {
    let height = proof.height;
    let state_root = proof.state_root;
    let chunks = encode_chunks(captured.snapshot)?;
    let manifest = SnapshotManifest {
        version: MANIFEST_VERSION,
        height,
        state_root,
        proof,
        block: captured.block,
        chunk_hashes: chunks.iter().map(|c| chunk_hash(c)).collect(),
        total_bytes: chunks.iter().map(|c| c.len() as u64).sum(),
    };
    Ok(Served {
        manifest,
        chunks,
        last_request_ms: 0,
    })
}

/// A snapshot being received: the checked manifest and the chunks accepted so far.
#[derive(Debug)]
pub struct Assembly {
    manifest: SnapshotManifest,
    snapshot: LedgerSnapshot,
    received_bytes: u64,
    next: u32,
}

impl Assembly {
    /// Check a manifest before fetching anything it describes: versions, the checkpoint proof
    /// and the anchoring block's certificate against the genesis, and the size bounds.
    pub fn new(
        genesis: &Genesis,
        our_height: Height,
        max_bytes: u64,
        manifest: SnapshotManifest,
    ) -> std::result::Result<Assembly, String> {
        let m = &manifest;
        if m.version != MANIFEST_VERSION {
            return Err(format!("manifest version {} unsupported", m.version));
        }
        if m.height <= our_height {
            return Err(format!(
                "snapshot at height {} is not ahead of ours ({our_height})",
                m.height
            ));
        }
        if m.proof.height != m.height || m.proof.state_root != m.state_root {
            return Err(format!(
                "checkpoint proof is for ({}, {}), manifest says ({}, {})",
                m.proof.height, m.proof.state_root, m.height, m.state_root
            ));
        }
        let keys: Vec<PublicKey> = genesis.validators.iter().map(|v| v.public_key).collect();
        m.proof
            .verify(&genesis.chain_id, &keys)
            .map_err(|e| format!("bad checkpoint proof: {e}"))?;
        let header = &m.block.block.header;
        if header.chain_id != genesis.chain_id || header.height != m.height {
            return Err(format!(
                "anchoring block is for chain {:?} height {}",
                header.chain_id, header.height
            ));
        }
        let hash = header.hash().map_err(|e| e.to_string())?;
        if hash != m.block.hash {
            return Err("anchoring block's hash does not match its header".into());
        }
        m.block
            .block
            .check_body()
            .map_err(|e| format!("anchoring block: {e}"))?;
        settlenet_crypto::verify_certificate(genesis, m.height, &hash, &m.block.certificate)
            .map_err(|e| format!("anchoring block: {e}"))?;
        if m.block.state_root != m.state_root {
            return Err("anchoring block's state root differs from the checkpoint's".into());
        }
        let chunks = m.chunk_hashes.len();
        if chunks == 0 || chunks > SNAPSHOT_MAX_CHUNKS {
            return Err(format!(
                "{chunks} chunks (1..={SNAPSHOT_MAX_CHUNKS} allowed)"
            ));
        }
        let cap = (chunks as u64).saturating_mul(SNAPSHOT_CHUNK_MAX_BYTES as u64);
        if m.total_bytes > max_bytes || m.total_bytes > cap {
            return Err(format!(
                "snapshot of {} bytes over the limit ({max_bytes} bytes, \
                 [sync] snapshot_max_bytes)",
                m.total_bytes
            ));
        }
        let snapshot = LedgerSnapshot::empty(m.height);
        Ok(Assembly {
            manifest,
            snapshot,
            received_bytes: 0,
            next: 0,
        })
    }

    /// The snapshot's height (from its checked manifest).
    pub fn height(&self) -> Height {
        self.manifest.height
    }

    /// How many chunks the manifest lists.
    pub fn chunk_count(&self) -> u32 {
        // Bounded by SNAPSHOT_MAX_CHUNKS in `new`.
        self.manifest.chunk_hashes.len() as u32
    }

    /// Accept chunk `index` (chunks arrive in order): bounded, hashing to its manifest entry,
    /// decoding to a part of the snapshot's height.
    pub fn accept_chunk(&mut self, index: u32, bytes: Vec<u8>) -> std::result::Result<(), String> {
        if index != self.next {
            return Err(format!(
                "chunk {index} out of order (expected {})",
                self.next
            ));
        }
        if bytes.len() > SNAPSHOT_CHUNK_MAX_BYTES {
            return Err(format!(
                "chunk {index} is {} bytes, over the limit",
                bytes.len()
            ));
        }
        self.received_bytes += bytes.len() as u64;
        if self.received_bytes > self.manifest.total_bytes {
            return Err(format!(
                "chunks exceed the manifest's {} bytes",
                self.manifest.total_bytes
            ));
        }
        let expected = self.manifest.chunk_hashes[index as usize];
        let got = chunk_hash(&bytes);
        if got != expected {
            return Err(format!(
                "chunk {index} hashes to {got}, the manifest lists {expected}: tampered or corrupt"
            ));
        }
        let part = LedgerSnapshot::from_bytes(&bytes).map_err(|e| format!("chunk {index}: {e}"))?;
        self.snapshot
            .append(part)
            .map_err(|e| format!("chunk {index}: {e}"))?;
        self.next += 1;
        Ok(())
    }

    /// After the last chunk: rebuild the ledger and accept it only if it reproduces the
    /// certified root. CPU-heavy (O(state)): call off the core task.
    pub fn finish(
        self,
        genesis: &Genesis,
        peer: ReplicaId,
    ) -> std::result::Result<Fetched, String> {
        if self.next != self.chunk_count() {
            return Err(format!(
                "only {} of {} chunks received",
                self.next,
                self.chunk_count()
            ));
        }
        if self.received_bytes != self.manifest.total_bytes {
            return Err(format!(
                "received {} bytes, the manifest says {}",
                self.received_bytes, self.manifest.total_bytes
            ));
        }
        let ledger = Ledger::restore_verified(genesis, self.snapshot, &self.manifest.state_root)
            .map_err(|e| e.to_string())?;
        let accounts = ledger
            .accounts()
            .map(|a| Ok((a.id, encode("account", a)?)))
            .collect::<std::result::Result<Vec<_>, settlenet_types::TypesError>>()
            .map_err(|e| e.to_string())?;
        let records = ledger
            .records()
            .map(|(id, r)| Ok((*id, encode("tx record", r)?)))
            .collect::<std::result::Result<Vec<_>, settlenet_types::TypesError>>()
            .map_err(|e| e.to_string())?;
        Ok(Fetched {
            peer,
            manifest: self.manifest,
            ledger,
            accounts,
            records,
        })
    }
}

/// Split a snapshot into encoded parts of at most [`CHUNK_ITEMS`] items and
/// [`SNAPSHOT_CHUNK_MAX_BYTES`] bytes each (a part over the byte limit is halved).
pub fn encode_chunks(snapshot: LedgerSnapshot) -> std::result::Result<Vec<Vec<u8>>, String> {
    let height = snapshot.height;
    let mut accounts = snapshot.accounts.into_iter().peekable();
    let mut records = snapshot.records.into_iter().peekable();
    let mut out = Vec::new();
    while accounts.peek().is_some() || records.peek().is_some() {
        let mut part = LedgerSnapshot::empty(height);
        part.accounts = accounts.by_ref().take(CHUNK_ITEMS).collect();
        let room = CHUNK_ITEMS - part.accounts.len();
        part.records = records.by_ref().take(room).collect();
        encode_part(part, SNAPSHOT_CHUNK_MAX_BYTES, &mut out)?;
    }
    if out.is_empty() {
        encode_part(
            LedgerSnapshot::empty(height),
            SNAPSHOT_CHUNK_MAX_BYTES,
            &mut out,
        )?;
    }
    Ok(out)
}

/// Encode one part, halving it until each piece is under `max_bytes`.
pub fn encode_part(
    part: LedgerSnapshot,
    max_bytes: usize,
    out: &mut Vec<Vec<u8>>,
) -> std::result::Result<(), String> {
    let bytes = part.to_bytes().map_err(|e| e.to_string())?;
    if bytes.len() <= max_bytes {
        out.push(bytes);
        return Ok(());
    }
    if part.len() <= 1 {
        return Err(format!(
            "one snapshot item encodes to {} bytes, over the chunk limit",
            bytes.len()
        ));
    }
    let half = part.len() / 2;
    let mut first = LedgerSnapshot::empty(part.height);
    let mut second = LedgerSnapshot::empty(part.height);
    let LedgerSnapshot {
        mut accounts,
        mut records,
        ..
    } = part;
    if accounts.len() >= half {
        second.accounts = accounts.split_off(half);
        second.records = records;
        first.accounts = accounts;
    } else {
        second.records = records.split_off(half - accounts.len());
        first.accounts = accounts;
        first.records = records;
    }
    encode_part(first, max_bytes, out)?;
    encode_part(second, max_bytes, out)
}
