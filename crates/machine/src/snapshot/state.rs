//! The snapshot path's data and pure work: settings, what is captured, served, fetched and
//! installed, the bookkeeping of [`Snapshots`], encoding into chunks and verifying a received
//! snapshot ([`Assembly`]). No machine in reach: the machine's side is in `mod.rs`.

use crate::wire::{
    chunk_hash, SnapshotManifest, MANIFEST_VERSION, SNAPSHOT_CHUNK_MAX_BYTES, SNAPSHOT_MAX_CHUNKS,
};
use serde::{Deserialize, Serialize};
use settlenet_consensus::CheckpointProof;
use settlenet_ledger::{Ledger, LedgerSnapshot};
use settlenet_types::{
    encode, AccountId, Genesis, Hash, Height, PublicKey, ReplicaId, Signature, StoredBlock, TxId,
};
use std::collections::{BTreeMap, VecDeque};

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
pub(crate) const CAPTURED_MAX: usize = 2;
/// Accounts plus records per chunk before the byte limit splits it further.
const CHUNK_ITEMS: usize = 4_096;
/// After a failed snapshot fetch, wait this long before trying again (block sync meanwhile).
const RETRY_MS: u64 = 10_000;

/// A ledger copy taken when executing a snapshot height, waiting for its stable checkpoint.
#[derive(Debug)]
pub struct Captured {
    pub(crate) root: Hash,
    pub(crate) block: StoredBlock,
    pub(crate) snapshot: LedgerSnapshot,
}

/// An encoded snapshot this node serves.
#[derive(Debug)]
pub struct Served {
    pub(crate) manifest: SnapshotManifest,
    pub(crate) chunks: Vec<Vec<u8>>,
    pub(crate) last_request_ms: u64,
}

/// A verified snapshot, ready to install.
#[derive(Debug)]
pub struct Fetched {
    /// The peer it came from.
    pub peer: ReplicaId,
    pub(crate) manifest: SnapshotManifest,
    pub(crate) ledger: Ledger,
    pub(crate) accounts: Vec<(AccountId, Vec<u8>)>,
    pub(crate) records: Vec<(TxId, Vec<u8>)>,
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
    /// Every live transaction record, encoded.
    pub records: Vec<(TxId, Vec<u8>)>,
    /// The ledger's history accumulator at the snapshot height.
    pub history: settlenet_ledger::History,
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
pub(crate) type ProvenCheckpoint = (Height, Hash, Vec<(ReplicaId, Signature)>);

/// Snapshot state of the machine: what it serves and what it is fetching.
pub(crate) struct Snapshots {
    pub(crate) config: SyncConfig,
    /// The height this node's state was installed from (0 = genesis); no block below it held.
    pub(crate) base: Height,
    pub(crate) captured: BTreeMap<Height, Captured>,
    /// The latest stable checkpoint at a snapshot height, for a capture that comes after it
    /// (a replica can see a quorum of CHECKPOINTs before it executes the height itself).
    pub(crate) proven: Option<ProvenCheckpoint>,
    pub(crate) served: VecDeque<Served>,
    /// A fetch is running.
    pub(crate) fetching: bool,
    /// When the last fetch failed (ms), for the retry delay.
    pub(crate) failed_ms: Option<u64>,
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

    pub(crate) fn may_start(&self, now: u64) -> bool {
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
    let history = snapshot.history;
    let empty = || {
        let mut part = LedgerSnapshot::empty(height);
        part.history = history.clone();
        part
    };
    let mut accounts = snapshot.accounts.into_iter().peekable();
    let mut records = snapshot.records.into_iter().peekable();
    let mut out = Vec::new();
    while accounts.peek().is_some() || records.peek().is_some() {
        let mut part = empty();
        part.accounts = accounts.by_ref().take(CHUNK_ITEMS).collect();
        let room = CHUNK_ITEMS - part.accounts.len();
        part.records = records.by_ref().take(room).collect();
        encode_part(part, SNAPSHOT_CHUNK_MAX_BYTES, &mut out)?;
    }
    if out.is_empty() {
        encode_part(empty(), SNAPSHOT_CHUNK_MAX_BYTES, &mut out)?;
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
    first.history = part.history.clone();
    let mut second = LedgerSnapshot::empty(part.height);
    second.history = part.history.clone();
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
