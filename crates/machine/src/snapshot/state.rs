//! The snapshot path's data and pure work: settings, what is captured, served, fetched and
//! installed, the bookkeeping of [`Snapshots`], encoding into chunks and verifying a received
//! snapshot ([`Assembly`]). No machine in reach: the machine's side is in `mod.rs`.

use crate::wire::{
    chunk_hash, SnapshotManifest, MANIFEST_VERSION, SNAPSHOT_CHUNK_MAX_BYTES, SNAPSHOT_MAX_CHUNKS,
};
use serde::{Deserialize, Serialize};
use settlenet_consensus::CheckpointProof;
use settlenet_ledger::{Account, History, Ledger, LedgerSnapshot, TxRecord};
use settlenet_types::{
    encode, AccountId, Genesis, Hash, Height, PublicKey, ReplicaId, Signature, StoredBlock, TxId,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// State transfer settings (`[sync]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// A replica this many blocks (or more) behind its peers fetches a state snapshot instead
    /// of replaying every block; it also does so when peers answer that they no longer hold
    /// the blocks it needs. Then it catches up block by block from the snapshot height.
    pub snapshot_threshold_blocks: u64,
    /// This node keeps a servable snapshot of its state every this many blocks (a multiple of
    /// the consensus checkpoint interval, 16): it takes a RocksDB checkpoint of its store (hard
    /// links, under `<data_dir>/checkpoints/`) when it commits such a height and serves it,
    /// read page by page, once a stable checkpoint proves its root. 0 = serve no snapshots.
    /// Default 4,096 (was 1,024: at 3,000 transfers/s, about 34 blocks a second, that was a
    /// checkpoint, its flush and a full read of the state every 30 s on every validator).
    pub snapshot_interval_blocks: u64,
    /// Largest snapshot accepted from a peer, in bytes, before it is verified.
    pub snapshot_max_bytes: u64,
    /// Keep the full blocks (with their transactions) of only the last this many heights; older
    /// blocks keep their summary (header, certificate, chain link, state root, transaction ids)
    /// and the records, tx index and account history stay. Peers asking for pruned blocks are
    /// answered `BlocksFrom` and catch up from a snapshot. 0 = keep every block. When not 0 it
    /// must be at least [`RETAIN_BLOCKS_MIN`] and twice `snapshot_interval_blocks` (checked
    /// by the node's configuration), so a snapshot and the blocks after it are always served.
    pub retain_blocks: u64,
}

impl SyncConfig {
    /// How far past the horizon retention lets blocks go before it prunes them: an eighth of
    /// `retain_blocks`, within [`PRUNE_STEP_MIN_BLOCKS`] and [`PRUNE_STEP_MAX_BLOCKS`].
    pub fn prune_step_blocks(&self) -> u64 {
        (self.retain_blocks / 8).clamp(PRUNE_STEP_MIN_BLOCKS, PRUNE_STEP_MAX_BLOCKS)
    }

    /// Refuse a retention that could leave a peer unable to catch up: one below
    /// [`RETAIN_BLOCKS_MIN`], below twice the snapshot interval (a lagging peer installs the
    /// latest served snapshot, up to about one interval old, then needs every block after it),
    /// or with no snapshots served at all.
    pub fn check_retention(&self) -> Result<(), String> {
        let retain = self.retain_blocks;
        let interval = self.snapshot_interval_blocks;
        if retain == 0 {
            return Ok(());
        }
        if interval == 0 {
            return Err(format!(
                "[sync] retain_blocks = {retain} needs snapshots to be served                  (snapshot_interval_blocks = 0): a peer behind the retained blocks could never                  catch up"
            ));
        }
        let least = RETAIN_BLOCKS_MIN.max(interval.saturating_mul(2));
        if retain < least {
            return Err(format!(
                "[sync] retain_blocks = {retain} is below {least} (at least {RETAIN_BLOCKS_MIN}                  and twice snapshot_interval_blocks = {interval}), or 0 to keep every block"
            ));
        }
        Ok(())
    }
}

/// The smallest non-zero `retain_blocks` (sixteen consensus checkpoint intervals).
pub const RETAIN_BLOCKS_MIN: u64 = 256;
/// Retention prunes once an eighth of `retain_blocks` (at least this many blocks) is past the
/// horizon, not at every block: each prune moves a mark and drops whole table files.
pub const PRUNE_STEP_MIN_BLOCKS: u64 = 32;
/// ... and at most this many blocks.
pub const PRUNE_STEP_MAX_BLOCKS: u64 = 1_024;

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            snapshot_threshold_blocks: 5_000,
            snapshot_interval_blocks: 4_096,
            snapshot_max_bytes: 4 * 1024 * 1024 * 1024,
            retain_blocks: 0,
        }
    }
}

/// Most encoded snapshots served at once.
pub const SERVED_MAX: usize = 2;
/// An older served snapshot no peer asked for in this long is dropped (the newest is kept).
pub const SERVED_IDLE_MS: u64 = 60_000;
/// Most captured (not yet proven) store checkpoints held.
pub(crate) const CAPTURED_MAX: usize = 2;
/// Accounts plus records per chunk before the byte limit splits it further.
const CHUNK_ITEMS: usize = 4_096;
/// After a failed snapshot fetch, wait this long before trying again (block sync meanwhile).
const RETRY_MS: u64 = 10_000;

/// A snapshot height this node executed and checkpointed its store at
/// ([`crate::Effect::CaptureSnapshot`]), waiting for its stable checkpoint. The state itself
/// is in the store checkpoint, not here.
#[derive(Debug)]
pub struct Captured {
    pub(crate) root: Hash,
    pub(crate) block: StoredBlock,
    pub(crate) history: History,
}

/// What the driver needs to index a proven store checkpoint for serving
/// ([`crate::Effect::PrepareSnapshot`]; [`prepare_served`] does the work).
#[derive(Debug)]
pub struct PrepareSnapshot {
    /// The snapshot height (the store checkpoint taken at it).
    pub height: Height,
    /// The certified state root at `height`.
    pub state_root: Hash,
    /// The ledger's history accumulator at `height` (every chunk carries it).
    pub history: History,
    /// The stable checkpoint's proof.
    pub proof: CheckpointProof,
    /// The committed block at `height`.
    pub block: StoredBlock,
}

/// Where one chunk's items are in the checkpoint: `accounts` accounts after
/// `accounts_after` (in id order; `None`: from the first), then `records` live records after
/// `records_after`. A few dozen bytes a chunk, so a served snapshot costs memory in proportion
/// to its chunk count, not its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkPlan {
    /// The last account of the chunks before (`None`: from the first account).
    pub accounts_after: Option<AccountId>,
    /// Accounts in the chunk.
    pub accounts: u32,
    /// The last record of the chunks before (`None`: from the first record).
    pub records_after: Option<TxId>,
    /// Records in the chunk.
    pub records: u32,
}

/// A snapshot this node serves: its manifest and where each chunk's items are; chunks are
/// read from the store checkpoint when asked ([`ChunkRead`]).
#[derive(Debug)]
pub struct Served {
    pub(crate) manifest: SnapshotManifest,
    pub(crate) plans: Vec<ChunkPlan>,
    pub(crate) history: History,
    pub(crate) last_request_ms: u64,
}

/// The ledger's state at one height, read in id order, a page at a time: a store checkpoint
/// (the node's) or a [`LedgerSnapshot`] in memory (tests, tools). Encoded chunks depend only on
/// what it returns, so reading the same state twice gives the same bytes.
pub trait SnapshotSource {
    /// Up to `limit` accounts with ids above `after` (all ids if `None`), in id order.
    fn accounts_after(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> std::result::Result<Vec<Account>, String>;
    /// Up to `limit` live records with ids above `after` (all if `None`), in id order.
    fn records_after(
        &self,
        after: Option<TxId>,
        limit: usize,
    ) -> std::result::Result<Vec<(TxId, TxRecord)>, String>;
}

impl SnapshotSource for LedgerSnapshot {
    fn accounts_after(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> std::result::Result<Vec<Account>, String> {
        let start = after.map_or(0, |id| self.accounts.partition_point(|a| a.id <= id));
        Ok(self
            .accounts
            .iter()
            .skip(start)
            .take(limit)
            .cloned()
            .collect())
    }

    fn records_after(
        &self,
        after: Option<TxId>,
        limit: usize,
    ) -> std::result::Result<Vec<(TxId, TxRecord)>, String> {
        let start = after.map_or(0, |id| self.records.partition_point(|(r, _)| *r <= id));
        Ok(self
            .records
            .iter()
            .skip(start)
            .take(limit)
            .cloned()
            .collect())
    }
}

/// A chunk a peer asked for ([`crate::Answer::SnapshotChunk`]): the driver reads it from the
/// store checkpoint at `height` with [`ChunkRead::read`], off its event loop.
#[derive(Debug, Clone)]
pub struct ChunkRead {
    /// The snapshot height.
    pub height: Height,
    /// The chunk's index.
    pub index: u32,
    pub(crate) plan: ChunkPlan,
    pub(crate) history: History,
    pub(crate) hash: Hash,
}

impl ChunkRead {
    /// Read and encode the chunk; the answer for the peer. A chunk that no longer hashes to
    /// its manifest entry (the checkpoint changed or is damaged) is refused, never sent.
    pub fn read(&self, source: &dyn SnapshotSource) -> crate::wire::Response {
        use crate::wire::Response;
        match read_chunk(source, self.height, &self.history, &self.plan) {
            Ok(bytes) if chunk_hash(&bytes) == self.hash => Response::SnapshotChunk {
                height: self.height,
                index: self.index,
                bytes,
            },
            Ok(_) => Response::Error(format!(
                "snapshot at height {} chunk {}: the stored checkpoint no longer matches its                  manifest",
                self.height, self.index
            )),
            Err(e) => Response::Error(format!(
                "snapshot at height {} chunk {}: {e}",
                self.height, self.index
            )),
        }
    }
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
    /// The lowest full block retention kept (0 = nothing pruned); only summaries below it.
    pub(crate) pruned: Height,
    pub(crate) captured: BTreeMap<Height, Captured>,
    /// Proven heights the driver is indexing ([`crate::Effect::PrepareSnapshot`] sent, no
    /// [`crate::Event::SnapshotPrepared`] yet).
    pub(crate) preparing: BTreeSet<Height>,
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
    pub(crate) fn new(config: SyncConfig, base: Height, pruned: Height) -> Snapshots {
        Snapshots {
            config,
            base,
            pruned,
            captured: BTreeMap::new(),
            preparing: BTreeSet::new(),
            proven: None,
            served: VecDeque::new(),
            fetching: false,
            failed_ms: None,
        }
    }

    /// The heights whose store checkpoints are still needed: captured, being indexed, or
    /// served. The driver deletes every other checkpoint.
    pub(crate) fn heights_in_use(&self) -> BTreeSet<Height> {
        let mut heights: BTreeSet<Height> = self.captured.keys().copied().collect();
        heights.extend(self.preparing.iter().copied());
        heights.extend(self.served.iter().map(|s| s.manifest.height));
        heights
    }

    /// The snapshot height this node started from (0 = genesis).
    pub(crate) fn base(&self) -> Height {
        self.base
    }

    /// The lowest height whose full block is held.
    pub(crate) fn first_block(&self) -> Height {
        self.base.max(self.pruned).max(Height(1))
    }

    /// After committing `height`: the height below which the driver drops full blocks now, if
    /// retention is on and the horizon (`height + 1 - retain_blocks`) moved at least
    /// [`SyncConfig::prune_step_blocks`] past the last prune. Recorded as pruned.
    pub(crate) fn prune_after(&mut self, height: Height) -> Option<Height> {
        let retain = self.config.retain_blocks;
        if retain == 0 {
            return None;
        }
        let horizon = Height(height.0.saturating_add(1).saturating_sub(retain));
        let first = self.first_block();
        if horizon.0 < first.0.saturating_add(self.config.prune_step_blocks()) {
            return None;
        }
        self.pruned = horizon;
        Some(horizon)
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

/// Index a proven store checkpoint for serving: read it once in id order, cut it into chunks
/// ([`plan_chunks`]), and describe them in the manifest. The driver runs it off its event loop
/// and answers with [`crate::Event::SnapshotPrepared`]; memory: one chunk at a time, plus a
/// [`ChunkPlan`] and a hash per chunk.
pub fn prepare_served(
    source: &dyn SnapshotSource,
    prepare: PrepareSnapshot,
) -> std::result::Result<Box<Served>, String> {
    let PrepareSnapshot {
        height,
        state_root,
        history,
        proof,
        block,
    } = prepare;
    let mut chunk_hashes = Vec::new();
    let mut total_bytes = 0u64;
    let plans = plan_chunks(source, height, &history, &mut |bytes| {
        chunk_hashes.push(chunk_hash(bytes));
        total_bytes += bytes.len() as u64;
    })?;
    if plans.len() > SNAPSHOT_MAX_CHUNKS {
        return Err(format!(
            "the state at height {height} needs {} chunks, over the limit of \
             {SNAPSHOT_MAX_CHUNKS}",
            plans.len()
        ));
    }
    let manifest = SnapshotManifest {
        version: MANIFEST_VERSION,
        height,
        state_root,
        proof,
        block,
        chunk_hashes,
        total_bytes,
    };
    Ok(Box::new(Served {
        manifest,
        plans,
        history,
        last_request_ms: 0,
    }))
}

/// Cut the state `source` holds at `height` into chunks: parts of at most [`CHUNK_ITEMS`]
/// items (accounts first, then records, each in id order; a part may hold the last accounts
/// and the first records), a part over [`SNAPSHOT_CHUNK_MAX_BYTES`] halved until each piece
/// fits. Each chunk's bytes go to `on_chunk` as they are made (none is kept); the plans say
/// where each chunk's items are, for [`read_chunk`]. Always at least one chunk.
pub fn plan_chunks(
    source: &dyn SnapshotSource,
    height: Height,
    history: &History,
    on_chunk: &mut dyn FnMut(&[u8]),
) -> std::result::Result<Vec<ChunkPlan>, String> {
    plan_chunks_within(source, height, history, SNAPSHOT_CHUNK_MAX_BYTES, on_chunk)
}

/// [`plan_chunks`] with another byte limit per chunk (tests of the splitting).
pub fn plan_chunks_within(
    source: &dyn SnapshotSource,
    height: Height,
    history: &History,
    max_bytes: usize,
    on_chunk: &mut dyn FnMut(&[u8]),
) -> std::result::Result<Vec<ChunkPlan>, String> {
    let mut plans = Vec::new();
    let mut accounts_after: Option<AccountId> = None;
    let mut records_after: Option<TxId> = None;
    let mut accounts_done = false;
    let mut records_done = false;
    loop {
        let mut part = part_at(height, history);
        if !accounts_done {
            part.accounts = source.accounts_after(accounts_after, CHUNK_ITEMS)?;
            accounts_done = part.accounts.len() < CHUNK_ITEMS;
        }
        let room = CHUNK_ITEMS - part.accounts.len();
        if accounts_done && !records_done && room > 0 {
            part.records = source.records_after(records_after, room)?;
            records_done = part.records.len() < room;
        }
        if part.is_empty() && !plans.is_empty() {
            break;
        }
        let start = (accounts_after, records_after);
        if let Some(a) = part.accounts.last() {
            accounts_after = Some(a.id);
        }
        if let Some((r, _)) = part.records.last() {
            records_after = Some(*r);
        }
        cut_part(part, start, max_bytes, &mut plans, on_chunk)?;
        if accounts_done && records_done {
            break;
        }
    }
    Ok(plans)
}

/// Read and encode the chunk `plan` describes (the same bytes [`plan_chunks`] made, if the
/// source holds the same state).
pub fn read_chunk(
    source: &dyn SnapshotSource,
    height: Height,
    history: &History,
    plan: &ChunkPlan,
) -> std::result::Result<Vec<u8>, String> {
    let mut part = part_at(height, history);
    if plan.accounts > 0 {
        part.accounts = source.accounts_after(plan.accounts_after, plan.accounts as usize)?;
    }
    if plan.records > 0 {
        part.records = source.records_after(plan.records_after, plan.records as usize)?;
    }
    if part.accounts.len() != plan.accounts as usize || part.records.len() != plan.records as usize
    {
        return Err(format!(
            "the stored state holds {} accounts and {} records where the chunk has {} and {}",
            part.accounts.len(),
            part.records.len(),
            plan.accounts,
            plan.records
        ));
    }
    part.to_bytes().map_err(|e| e.to_string())
}

/// An empty part at `height` carrying `history`.
fn part_at(height: Height, history: &History) -> LedgerSnapshot {
    let mut part = LedgerSnapshot::empty(height);
    part.history = history.clone();
    part
}

/// Encode `part` (whose items come after `start`), halving it until each piece is under
/// `max_bytes`; one plan and one `on_chunk` call per piece, in order.
fn cut_part(
    part: LedgerSnapshot,
    start: (Option<AccountId>, Option<TxId>),
    max_bytes: usize,
    plans: &mut Vec<ChunkPlan>,
    on_chunk: &mut dyn FnMut(&[u8]),
) -> std::result::Result<(), String> {
    let bytes = part.to_bytes().map_err(|e| e.to_string())?;
    if bytes.len() <= max_bytes {
        on_chunk(&bytes);
        plans.push(ChunkPlan {
            accounts_after: start.0,
            accounts: part.accounts.len() as u32,
            records_after: start.1,
            records: part.records.len() as u32,
        });
        return Ok(());
    }
    if part.len() <= 1 {
        return Err(format!(
            "one snapshot item encodes to {} bytes, over the chunk limit",
            bytes.len()
        ));
    }
    let half = part.len() / 2;
    let mut first = part_at(part.height, &part.history);
    let mut second = part_at(part.height, &part.history);
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
    let middle = (
        first.accounts.last().map(|a| a.id).or(start.0),
        first.records.last().map(|(r, _)| *r).or(start.1),
    );
    cut_part(first, start, max_bytes, plans, on_chunk)?;
    cut_part(second, middle, max_bytes, plans, on_chunk)
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
            .ok_or("a ledger restored from a snapshot holds its accounts in memory")?
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

/// Split a snapshot held in memory into its encoded chunks (the same chunks a node serving
/// that state from its store makes: [`plan_chunks`]).
pub fn encode_chunks(snapshot: &LedgerSnapshot) -> std::result::Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    plan_chunks(snapshot, snapshot.height, &snapshot.history, &mut |bytes| {
        out.push(bytes.to_vec())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Response;
    use settlenet_crypto::Keypair;
    use settlenet_ledger::test_util::{GenesisBuilder, MemberSpec};
    use settlenet_types::{Currency, Role};

    fn state() -> LedgerSnapshot {
        let keys: Vec<_> = (1..=4u8)
            .map(|i| Keypair::from_seed([i; 32]).public())
            .collect();
        let genesis = GenesisBuilder::new("snapshot-test")
            .currency(Currency(*b"USD"), 2)
            .member(MemberSpec::bank("bank-a").staff(
                "issuer",
                Keypair::from_seed([42; 32]).public(),
                &[Role::Issuer],
            ))
            .member(MemberSpec::bank("bank-b"))
            .settlement("bank-a", Currency(*b"USD"), 1_000_000)
            .float("bank-a", Currency(*b"USD"), 1_000_000)
            .settlement("bank-b", Currency(*b"USD"), 2_000_000)
            .float("bank-b", Currency(*b"USD"), 2_000_000)
            .validators(&keys)
            .build();
        let ledger = Ledger::from_genesis(&genesis).expect("ledger");
        // Every account (a snapshot of a fresh ledger lists only those changed since genesis).
        let mut state = ledger.snapshot().expect("accounts in memory");
        state.accounts = ledger
            .accounts()
            .expect("accounts in memory")
            .cloned()
            .collect();
        state.accounts.sort_by_key(|a| a.id);
        state
    }

    /// What a served chunk read does when the store under it changed: refused, never sent.
    #[test]
    fn a_chunk_is_sent_only_if_it_still_hashes_to_its_manifest_entry() {
        let state = state();
        assert!(state.accounts.len() >= 2, "{}", state.accounts.len());
        let mut chunks = Vec::new();
        let half = state.to_bytes().expect("bytes").len() / 2;
        let plans = plan_chunks_within(&state, state.height, &state.history, half, &mut |b| {
            chunks.push(b.to_vec())
        })
        .expect("plans");
        assert!(plans.len() >= 2, "small chunks: {}", plans.len());
        let read = |source: &LedgerSnapshot, i: usize| {
            ChunkRead {
                height: state.height,
                index: i as u32,
                plan: plans[i].clone(),
                history: state.history.clone(),
                hash: chunk_hash(&chunks[i]),
            }
            .read(source)
        };
        for (i, expected) in chunks.iter().enumerate() {
            match read(&state, i) {
                Response::SnapshotChunk { bytes, index, .. } => {
                    assert_eq!(index as usize, i);
                    assert_eq!(&bytes, expected);
                }
                other => panic!("chunk {i}: {other:?}"),
            }
        }
        // The same number of items, one of them changed: the hash catches it.
        let mut changed = state.clone();
        changed.accounts[0].created_height = Height(99);
        match read(&changed, 0) {
            Response::Error(e) => assert!(e.contains("no longer matches"), "{e}"),
            other => panic!("a changed chunk was sent: {other:?}"),
        }
    }

    /// Retention: the horizon trails the head by `retain_blocks`, moves in steps of
    /// [`SyncConfig::prune_step_blocks`], never below the snapshot base or back; configurations that could
    /// strand a lagging peer are refused.
    #[test]
    fn retention_prunes_in_steps_behind_the_head_and_refuses_unsafe_settings() {
        let config = SyncConfig {
            snapshot_interval_blocks: 512,
            retain_blocks: 1_024,
            ..SyncConfig::default()
        };
        assert_eq!(config.check_retention(), Ok(()));
        let step = config.prune_step_blocks();
        assert_eq!(step, 128);
        let mut s = Snapshots::new(config.clone(), Height(0), Height(0));
        assert_eq!(s.first_block(), Height(1));
        let mut pruned = Vec::new();
        for h in 1..=2_000u64 {
            if let Some(below) = s.prune_after(Height(h)) {
                // The last `retain_blocks` heights stay whole.
                assert_eq!(below.0, h + 1 - 1_024, "at {h}");
                assert_eq!(s.first_block(), below);
                pruned.push(below.0);
            }
        }
        assert_eq!(pruned.first(), Some(&(1 + step)));
        assert!(pruned.windows(2).all(|w| w[1] - w[0] == step), "{pruned:?}");
        // Started from a snapshot far above: nothing to prune until the horizon passes it.
        let mut s = Snapshots::new(config.clone(), Height(5_000), Height(0));
        assert_eq!(s.prune_after(Height(5_100)), None);
        assert_eq!(s.prune_after(Height(6_022 + step)), None);
        assert_eq!(
            s.prune_after(Height(6_023 + step)),
            Some(Height(5_000 + step))
        );
        // The step: an eighth of the retention, within its bounds.
        for (retain, step) in [(256, 32), (8_192, 1_024), (100_000, 1_024), (2_048, 256)] {
            let c = SyncConfig {
                retain_blocks: retain,
                ..SyncConfig::default()
            };
            assert_eq!(c.prune_step_blocks(), step, "retain {retain}");
        }
        // Off: never.
        let mut off = Snapshots::new(SyncConfig::default(), Height(0), Height(0));
        assert_eq!(off.prune_after(Height(1_000_000)), None);
        // A store that pruned further than this configuration would (a larger retain now).
        let mut s = Snapshots::new(config.clone(), Height(0), Height(900));
        assert_eq!(s.first_block(), Height(900));
        assert_eq!(s.prune_after(Height(1_900)), None);
        // Unsafe settings.
        for (interval, retain, needle) in [
            (0, 4_096, "snapshots to be served"),
            (512, 1_000, "below 1024"),
            (4_096, 8_000, "below 8192"),
        ] {
            let c = SyncConfig {
                snapshot_interval_blocks: interval,
                retain_blocks: retain,
                ..SyncConfig::default()
            };
            let err = c.check_retention().expect_err("refused");
            assert!(err.contains(needle), "{err}");
        }
    }
}
