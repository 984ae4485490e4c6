//! Snapshot state transfer: the path for a replica too far behind to replay blocks, or whose
//! peers no longer hold the blocks it needs (they started from a snapshot themselves).
//!
//! ```text
//!  serving node                                    catching-up node
//!  execute(H), H % interval == 0                   behind >= snapshot_threshold_blocks
//!    └─ capture: copy of the ledger at H           (or a peer answered BlocksFrom{base})
//!  Output::StableCheckpoint(H, root, proof)          │
//!    └─ root == captured root? encode chunks  <── Request::SnapshotManifest
//!       off-task, hash each, keep (<= 2)      ──> manifest: H, root, checkpoint proof,
//!                                                  block H + commit certificate, chunk hashes
//!                                             <── Request::SnapshotChunk{H, i}  (one at a time)
//!                                             ──> chunk i: checked against its hash, bounded
//!                                                  Ledger::restore_verified(.., root)  (off-task)
//!                                                  Store::install_snapshot (one batch, synced)
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
//! copies its ledger (O(state), on the core task), and once the checkpoint is stable encodes
//! the copy into chunks on a blocking thread. At most [`SERVED_MAX`] encoded snapshots are
//! kept (the newest always; an older one only while a peer is still reading it, idle expiry
//! [`SERVED_IDLE_MS`]); chunks are served from memory, so a served snapshot is consistent by
//! construction.
//!
//! Receiving trusts nothing before it is checked: the manifest's proof and certificate are
//! verified against the genesis before any chunk is fetched; chunk count and total bytes are
//! bounded; each chunk must hash to its manifest entry; the assembled state must reproduce the
//! certified root. A refused peer is logged with the reason and the next peer is tried; the
//! store is written only after everything verified, in one batch.

use super::{Core, Internal};
use crate::clock::now_ms;
use crate::config::SyncConfig;
use crate::shared::Counters;
use crate::wire::{
    chunk_hash, Request, Response, SnapshotManifest, MANIFEST_VERSION, SNAPSHOT_CHUNK_MAX_BYTES,
    SNAPSHOT_MAX_CHUNKS,
};
use anyhow::{Context, Result};
use settlenet_consensus::{CheckpointProof, Input, WalEntry};
use settlenet_ledger::{Ledger, LedgerSnapshot};
use settlenet_net::{NetHandle, PeerId};
use settlenet_storage::SnapshotWrite;
use settlenet_types::{
    encode, AccountId, Genesis, Hash, Height, PublicKey, ReplicaId, Signature, StoredBlock, TxId,
};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use tracing::{error, info, warn};

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
struct Captured {
    root: Hash,
    block: StoredBlock,
    snapshot: LedgerSnapshot,
}

/// An encoded snapshot this node serves.
pub(super) struct Served {
    manifest: SnapshotManifest,
    chunks: Vec<Vec<u8>>,
    last_request_ms: u64,
}

/// A verified snapshot, ready to install.
pub(super) struct Fetched {
    peer: PeerId,
    manifest: SnapshotManifest,
    ledger: Ledger,
    accounts: Vec<(AccountId, Vec<u8>)>,
    records: Vec<(TxId, Vec<u8>)>,
}

/// Results of snapshot work done off the core task.
pub(super) enum Event {
    /// A proven capture was encoded into chunks.
    Encoded(std::result::Result<Box<Served>, String>),
    /// A fetch finished: a verified snapshot, or why every peer was refused.
    Fetched(std::result::Result<Box<Fetched>, String>),
}

/// A stable checkpoint: its height, its state root and the quorum of CHECKPOINT signatures.
type ProvenCheckpoint = (Height, Hash, Vec<(ReplicaId, Signature)>);

/// Snapshot state of the core: what it serves and what it is fetching.
pub(super) struct Snapshots {
    config: SyncConfig,
    /// The height this node's state was installed from (0 = genesis); no block below it held.
    base: Height,
    captured: BTreeMap<Height, Captured>,
    /// The latest stable checkpoint at a snapshot height, for a capture that comes after it
    /// (a replica can see a quorum of CHECKPOINTs before it executes the height itself).
    proven: Option<ProvenCheckpoint>,
    served: VecDeque<Served>,
    /// A fetch task is running.
    fetching: bool,
    /// When the last fetch failed (ms), for the retry delay.
    failed_ms: u64,
}

impl Snapshots {
    pub(super) fn new(config: SyncConfig, base: Height) -> Snapshots {
        Snapshots {
            config,
            base,
            captured: BTreeMap::new(),
            proven: None,
            served: VecDeque::new(),
            fetching: false,
            failed_ms: 0,
        }
    }

    /// The snapshot height this node started from (0 = genesis).
    pub(super) fn base(&self) -> Height {
        self.base
    }

    /// The lowest block height held.
    pub(super) fn first_block(&self) -> Height {
        self.base.max(Height(1))
    }

    /// A fetch is in flight (block sync waits for it).
    pub(super) fn fetching(&self) -> bool {
        self.fetching
    }

    /// Whether a replica `behind` blocks behind should fetch a snapshot now.
    pub(super) fn wanted(&self, behind: u64) -> bool {
        self.config.snapshot_threshold_blocks > 0
            && behind >= self.config.snapshot_threshold_blocks
            && self.may_start()
    }

    fn may_start(&self) -> bool {
        !self.fetching && now_ms().saturating_sub(self.failed_ms) >= RETRY_MS
    }
}

impl Core {
    // ---- serving ----

    /// After executing and storing `block`: copy the ledger if this is a snapshot height.
    pub(super) fn snapshot_capture(&mut self, block: &StoredBlock) {
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
        if let Some((h, root, proof)) = self.snapshots.proven.take() {
            if h == height {
                self.snapshot_on_stable(h, root, proof);
            } else {
                self.snapshots.proven = Some((h, root, proof));
            }
        }
    }

    /// A checkpoint became stable: if we captured that height, encode it for serving.
    pub(super) fn snapshot_on_stable(
        &mut self,
        height: Height,
        state_root: Hash,
        proof: Vec<(ReplicaId, Signature)>,
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
        let internal = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let result = encode_chunks(captured.snapshot).map(|chunks| {
                let manifest = SnapshotManifest {
                    version: MANIFEST_VERSION,
                    height,
                    state_root,
                    proof,
                    block: captured.block,
                    chunk_hashes: chunks.iter().map(|c| chunk_hash(c)).collect(),
                    total_bytes: chunks.iter().map(|c| c.len() as u64).sum(),
                };
                Box::new(Served {
                    manifest,
                    chunks,
                    last_request_ms: now_ms(),
                })
            });
            let _ = internal.blocking_send(Internal::Snapshot(Event::Encoded(result)));
        });
    }

    /// Answer `SnapshotManifest` / `SnapshotChunk`.
    pub(super) fn serve_snapshot(&mut self, request: Request) -> Response {
        let now = now_ms();
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
                Counters::inc(&self.shared.counters.snapshot_chunks_served);
                Response::SnapshotChunk {
                    height,
                    index,
                    bytes: bytes.clone(),
                }
            }
            other => Response::Error(format!("not a snapshot request: {other:?}")),
        }
    }

    pub(super) fn on_snapshot_event(&mut self, ev: Event) -> Result<()> {
        match ev {
            Event::Encoded(Ok(served)) => {
                info!(
                    height = %served.manifest.height,
                    chunks = served.chunks.len(),
                    bytes = served.manifest.total_bytes,
                    "snapshot ready to serve"
                );
                let now = now_ms();
                let s = &mut self.snapshots.served;
                s.push_back(*served);
                // Older ones stay only while someone still reads them, and never more than
                // SERVED_MAX in all.
                while s.len() > 1
                    && (s.len() > SERVED_MAX
                        || s.front().is_some_and(|o| {
                            now.saturating_sub(o.last_request_ms) > SERVED_IDLE_MS
                        }))
                {
                    s.pop_front();
                }
            }
            Event::Encoded(Err(e)) => error!("cannot encode a snapshot for serving: {e}"),
            Event::Fetched(result) => {
                self.snapshots.fetching = false;
                match result {
                    Ok(f) => self.install_snapshot(*f)?,
                    Err(e) => {
                        self.snapshots.failed_ms = now_ms();
                        warn!("state transfer: no snapshot installed: {e}; block sync continues");
                        self.start_sync();
                    }
                }
            }
        }
        Ok(())
    }

    // ---- receiving ----

    /// Fetch a snapshot from the connected peers, one after another until one verifies.
    pub(super) fn start_snapshot_sync(&mut self) {
        if !self.snapshots.may_start() || self.connected.is_empty() {
            return;
        }
        let mut peers: Vec<PeerId> = self
            .connected
            .iter()
            .filter_map(|r| self.peers.get(r.0 as usize).copied())
            .collect();
        if peers.is_empty() {
            return;
        }
        let rotate = self.sync_peer_rr % peers.len();
        peers.rotate_left(rotate);
        self.sync_peer_rr = self.sync_peer_rr.wrapping_add(1);
        self.snapshots.fetching = true;
        let ctx = FetchContext {
            genesis: self.genesis.clone(),
            our_height: self.ledger.height(),
            max_bytes: self.snapshots.config.snapshot_max_bytes,
        };
        info!(
            height = %ctx.our_height,
            target = %self.sync_target,
            "state transfer: far behind; fetching a snapshot"
        );
        let net = self.net.clone();
        let internal = self.internal_tx.clone();
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let mut reasons = Vec::new();
            let mut result = Err(String::new());
            for peer in peers {
                match fetch_from(&ctx, &net, peer).await {
                    Ok(f) => {
                        result = Ok(f);
                        break;
                    }
                    Err(reason) => {
                        Counters::inc(&shared.counters.snapshots_refused);
                        warn!(%peer, "state transfer: snapshot from peer refused: {reason}");
                        reasons.push(format!("{peer}: {reason}"));
                    }
                }
            }
            if result.is_err() {
                result = Err(format!("every peer refused ({})", reasons.join("; ")));
            }
            let _ = internal
                .send(Internal::Snapshot(Event::Fetched(result)))
                .await;
        });
    }

    /// Replace our state with a verified snapshot, tell consensus, and continue block by block.
    fn install_snapshot(&mut self, f: Fetched) -> Result<()> {
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
            self.start_sync();
            return Ok(());
        }
        // The consensus log at or below the snapshot is obsolete; view-level entries (the
        // latest VIEW-CHANGE / NEW-VIEW / stable checkpoint) are kept so the replica never
        // forgets which view it is in.
        let mut wal_delete = Vec::new();
        for (key, bytes) in self.store.wal_entries()? {
            let Ok(entry) = settlenet_types::decode::<WalEntry>("consensus WAL entry", &bytes)
            else {
                continue;
            };
            let view_level = matches!(
                entry,
                WalEntry::ViewChange(_) | WalEntry::NewView(_) | WalEntry::StableCheckpoint(_)
            );
            if !view_level && entry.height() <= height {
                wal_delete.push(key);
            }
        }
        let block = manifest.block;
        self.store
            .install_snapshot(SnapshotWrite {
                block: &block,
                accounts: &accounts,
                records: &records,
                wal_delete: &wal_delete,
            })
            .with_context(|| {
                format!("FATAL: cannot install the snapshot at height {height}; stopping the node")
            })?;
        self.ledger = ledger;
        self.snapshots.base = height;
        self.snapshots.captured.clear();
        self.last_hash = block.hash;
        self.last_block_time_ms = self.last_block_time_ms.max(block.block.header.timestamp_ms);
        self.last_progress_ms = now_ms();
        self.roots.retain(|h, _| h.0 == 0);
        self.roots.insert(height, manifest.state_root);
        self.sync_target = self.sync_target.max(height);
        Counters::inc(&self.shared.counters.snapshots_installed);
        info!(
            %height,
            root = %manifest.state_root,
            %peer,
            accounts = accounts.len(),
            records = records.len(),
            "state transfer: installed snapshot at height {height}"
        );
        self.step(Input::SyncedTo(height))?;
        let mut more = Vec::new();
        self.recheck_deferred(&mut more);
        self.drain(more)?;
        self.publish_status();
        self.start_sync();
        Ok(())
    }
}

/// What a fetch task needs from the core.
struct FetchContext {
    genesis: Arc<Genesis>,
    our_height: Height,
    max_bytes: u64,
}

async fn ask(net: &NetHandle, peer: PeerId, request: &Request) -> Result<Response, String> {
    let bytes = encode("request", request).map_err(|e| e.to_string())?;
    let answer = net
        .request(peer, bytes)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    settlenet_types::decode::<Response>("response", &answer)
        .map_err(|e| format!("undecodable answer: {e}"))
}

async fn fetch_from(
    ctx: &FetchContext,
    net: &NetHandle,
    peer: PeerId,
) -> std::result::Result<Box<Fetched>, String> {
    let manifest = match ask(net, peer, &Request::SnapshotManifest).await? {
        Response::SnapshotManifest(m) => *m,
        Response::Error(e) => return Err(format!("peer has no snapshot: {e}")),
        other => return Err(format!("unexpected answer to SnapshotManifest: {other:?}")),
    };
    let mut assembly = Assembly::new(&ctx.genesis, ctx.our_height, ctx.max_bytes, manifest)?;
    let height = assembly.manifest.height;
    for index in 0..assembly.chunk_count() {
        let request = Request::SnapshotChunk { height, index };
        match ask(net, peer, &request).await? {
            Response::SnapshotChunk {
                height: h,
                index: i,
                bytes,
            } if h == height && i == index => assembly.accept_chunk(index, bytes)?,
            Response::Error(e) => return Err(format!("chunk {index}: {e}")),
            _ => return Err(format!("unexpected answer to chunk {index}")),
        }
    }
    let genesis = ctx.genesis.clone();
    let fetched = tokio::task::spawn_blocking(move || assembly.finish(&genesis, peer))
        .await
        .map_err(|e| format!("verification task failed: {e}"))??;
    Ok(Box::new(fetched))
}

/// A snapshot being received: the checked manifest and the chunks accepted so far.
pub(super) struct Assembly {
    manifest: SnapshotManifest,
    snapshot: LedgerSnapshot,
    received_bytes: u64,
    next: u32,
}

impl Assembly {
    /// Check a manifest before fetching anything it describes: versions, the checkpoint proof
    /// and the anchoring block's certificate against the genesis, and the size bounds.
    pub(super) fn new(
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

    /// How many chunks the manifest lists.
    pub(super) fn chunk_count(&self) -> u32 {
        // Bounded by SNAPSHOT_MAX_CHUNKS in `new`.
        self.manifest.chunk_hashes.len() as u32
    }

    /// Accept chunk `index` (chunks arrive in order): bounded, hashing to its manifest entry,
    /// decoding to a part of the snapshot's height.
    pub(super) fn accept_chunk(
        &mut self,
        index: u32,
        bytes: Vec<u8>,
    ) -> std::result::Result<(), String> {
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
    pub(super) fn finish(
        self,
        genesis: &Genesis,
        peer: PeerId,
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
fn encode_chunks(snapshot: LedgerSnapshot) -> std::result::Result<Vec<Vec<u8>>, String> {
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

fn encode_part(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testnet::{init, read_genesis, TestnetOptions};
    use settlenet_consensus::CheckpointBody;
    use settlenet_crypto::{KeyFile, KeyKind, Keypair};
    use settlenet_ledger::Account;
    use settlenet_types::block::BLOCK_VERSION;
    use settlenet_types::block::{VoteBody, VoteKind};
    use settlenet_types::{Block, BlockHeader, CommitCertificate, CommitSignature, View};

    struct Fixture {
        genesis: Genesis,
        manifest: SnapshotManifest,
        chunks: Vec<Vec<u8>>,
        root: Hash,
        dir: std::path::PathBuf,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// A real 4-validator genesis, a ledger at height 32, a certified block 32 and a stable
    /// checkpoint proof for its root, served in several chunks.
    fn fixture() -> Fixture {
        let dir =
            std::env::temp_dir().join(format!("settlenet-snapshot-test-{}", rand::random::<u64>()));
        let entries = init(&dir, &TestnetOptions::default()).expect("testnet");
        let genesis = read_genesis(&entries[0].home.join("genesis.json")).expect("genesis");
        let keys: Vec<Keypair> = entries
            .iter()
            .map(|e| {
                KeyFile::read(&e.home.join("validator.key"), Some(KeyKind::Validator))
                    .expect("key")
                    .1
            })
            .collect();
        let key_of = |r: usize| {
            keys.iter()
                .find(|k| k.public() == genesis.validators[r].public_key)
                .expect("validator key")
        };
        let height = Height(32);
        let accounts: Vec<Account> = Ledger::from_genesis(&genesis)
            .expect("ledger")
            .accounts()
            .cloned()
            .collect();
        assert!(accounts.len() >= 3, "enough accounts for several chunks");
        let ledger = Ledger::restore(&genesis, height, accounts, vec![]).expect("restore");
        let root = ledger.state_root();
        let header = BlockHeader {
            version: BLOCK_VERSION,
            chain_id: genesis.chain_id.clone(),
            height,
            timestamp_ms: 1_000,
            proposer: ReplicaId(0),
            tx_count: 0,
            tx_root: Block::compute_tx_root(&[]).expect("root"),
            state_height: Height(31),
            state_root: Hash::ZERO,
        };
        let hash = header.hash().expect("hash");
        let vote = VoteBody {
            kind: VoteKind::Commit,
            chain_id: genesis.chain_id.clone(),
            view: View(0),
            height,
            block_hash: hash,
        }
        .signing_message()
        .expect("vote");
        let checkpoint = CheckpointBody::new(&genesis.chain_id, height, root)
            .signing_message()
            .expect("checkpoint");
        let block = StoredBlock {
            block: Block {
                header,
                txs: vec![],
            },
            certificate: CommitCertificate {
                height,
                view: View(0),
                block_hash: hash,
                signatures: (0..3)
                    .map(|r| CommitSignature {
                        replica: ReplicaId(r as u16),
                        signature: key_of(r).sign(&vote),
                    })
                    .collect(),
            },
            hash,
            prev_hash: Hash([5; 32]),
            state_root: root,
        };
        let proof = CheckpointProof {
            height,
            state_root: root,
            signatures: (0..3)
                .map(|r| (ReplicaId(r as u16), key_of(r).sign(&checkpoint)))
                .collect(),
        };
        let chunks: Vec<Vec<u8>> = ledger
            .snapshot_chunks(1)
            .map(|p| p.to_bytes().expect("part"))
            .collect();
        let manifest = SnapshotManifest {
            version: MANIFEST_VERSION,
            height,
            state_root: root,
            proof,
            block,
            chunk_hashes: chunks.iter().map(|c| chunk_hash(c)).collect(),
            total_bytes: chunks.iter().map(|c| c.len() as u64).sum(),
        };
        Fixture {
            genesis,
            manifest,
            chunks,
            root,
            dir,
        }
    }

    fn receive(
        fx: &Fixture,
        manifest: SnapshotManifest,
        chunks: &[Vec<u8>],
    ) -> std::result::Result<Fetched, String> {
        let mut a = Assembly::new(&fx.genesis, Height(3), u64::MAX, manifest)?;
        for (i, c) in chunks.iter().enumerate() {
            a.accept_chunk(i as u32, c.clone())?;
        }
        a.finish(&fx.genesis, PeerId::random())
    }

    #[test]
    fn an_honest_snapshot_is_accepted() {
        let fx = fixture();
        assert!(fx.chunks.len() >= 3);
        let f = receive(&fx, fx.manifest.clone(), &fx.chunks).expect("accepted");
        assert_eq!(f.ledger.state_root(), fx.root);
        assert_eq!(f.ledger.height(), Height(32));
        assert_eq!(f.accounts.len(), f.ledger.account_count());
        // The serving side's own chunking gives parts that assemble to the same state.
        let served = encode_chunks(f.ledger.snapshot()).expect("chunks");
        let mut m = fx.manifest.clone();
        m.chunk_hashes = served.iter().map(|c| chunk_hash(c)).collect();
        m.total_bytes = served.iter().map(|c| c.len() as u64).sum();
        let again = receive(&fx, m, &served).expect("accepted");
        assert_eq!(again.ledger.state_root(), fx.root);
    }

    #[test]
    fn a_tampered_chunk_is_refused() {
        let fx = fixture();
        let mut chunks = fx.chunks.clone();
        let last = chunks[1].len() - 1;
        chunks[1][last] ^= 1;
        let err = receive(&fx, fx.manifest.clone(), &chunks)
            .err()
            .expect("refused");
        assert!(err.contains("chunk 1") && err.contains("tampered"), "{err}");
    }

    #[test]
    fn a_consistent_manifest_over_a_wrong_state_is_refused_by_the_root() {
        let fx = fixture();
        // The peer changes an account (money untouched) and lists hashes that match what it
        // sends: every chunk passes, the rebuilt state does not reproduce the certified root.
        let mut chunks = fx.chunks.clone();
        let mut part = LedgerSnapshot::from_bytes(&chunks[0]).expect("part");
        part.accounts[0].created_height = Height(1);
        chunks[0] = part.to_bytes().expect("bytes");
        let mut m = fx.manifest.clone();
        m.chunk_hashes = chunks.iter().map(|c| chunk_hash(c)).collect();
        m.total_bytes = chunks.iter().map(|c| c.len() as u64).sum();
        let err = receive(&fx, m, &chunks).err().expect("refused");
        assert!(err.contains("state root"), "{err}");
    }

    #[test]
    fn bad_anchors_and_oversized_snapshots_are_refused_before_any_chunk() {
        let fx = fixture();
        type Tamper = Box<dyn Fn(&mut SnapshotManifest)>;
        let cases: Vec<(&str, Tamper, &str)> = vec![
            (
                "another root, proof unchanged",
                Box::new(|m| m.state_root = Hash([9; 32])),
                "checkpoint proof is for",
            ),
            (
                "another root with a proof claiming it",
                Box::new(|m| {
                    m.state_root = Hash([9; 32]);
                    m.proof.state_root = Hash([9; 32]);
                }),
                "bad checkpoint proof",
            ),
            (
                "a forged commit signature",
                Box::new(|m| m.block.certificate.signatures[0].signature.0[0] ^= 1),
                "anchoring block",
            ),
            (
                "a certificate below quorum",
                Box::new(|m| {
                    m.block.certificate.signatures.pop();
                }),
                "anchoring block",
            ),
            (
                "a proof below quorum",
                Box::new(|m| {
                    m.proof.signatures.pop();
                }),
                "bad checkpoint proof",
            ),
            (
                "a block of another height",
                Box::new(|m| m.height = Height(48)),
                "checkpoint proof is for",
            ),
            (
                "no chunks",
                Box::new(|m| m.chunk_hashes.clear()),
                "0 chunks",
            ),
        ];
        for (what, tamper, expected) in cases {
            let mut m = fx.manifest.clone();
            tamper(&mut m);
            let err = Assembly::new(&fx.genesis, Height(3), u64::MAX, m)
                .err()
                .unwrap_or_else(|| panic!("{what}: accepted"));
            assert!(err.contains(expected), "{what}: {err}");
        }
        let err = Assembly::new(&fx.genesis, Height(32), u64::MAX, fx.manifest.clone())
            .err()
            .expect("not ahead");
        assert!(err.contains("not ahead"), "{err}");
        let err = Assembly::new(&fx.genesis, Height(3), 10, fx.manifest.clone())
            .err()
            .expect("too big");
        assert!(err.contains("over the limit"), "{err}");
    }

    #[test]
    fn oversized_parts_are_split_below_the_chunk_limit() {
        let fx = fixture();
        let f = receive(&fx, fx.manifest.clone(), &fx.chunks).expect("accepted");
        let snapshot = f.ledger.snapshot();
        let whole = snapshot.to_bytes().expect("bytes").len();
        let limit = whole / 2;
        let mut out = Vec::new();
        encode_part(snapshot, limit, &mut out).expect("encode");
        assert!(out.len() >= 2, "split into {} parts", out.len());
        assert!(out.iter().all(|c| c.len() <= limit));
        let mut m = fx.manifest.clone();
        m.chunk_hashes = out.iter().map(|c| chunk_hash(c)).collect();
        m.total_bytes = out.iter().map(|c| c.len() as u64).sum();
        let again = receive(&fx, m, &out).expect("accepted");
        assert_eq!(again.ledger.state_root(), fx.root);
        // One item over the limit cannot be split: refused, not looped on.
        let err = encode_part(f.ledger.snapshot(), 8, &mut Vec::new()).expect_err("refused");
        assert!(err.contains("over the chunk limit"), "{err}");
    }
}
