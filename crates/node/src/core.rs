//! The core actor: one task that owns the PBFT replica, the ledger, the mempool and the store's
//! write path. Everything that changes consensus or ledger state happens here, in order.
//!
//! ```text
//!   net events ──┐                        ┌──> net (send / broadcast)
//!   API commands ├─> Core::run (select!) ─┼──> RocksDB (one write batch per block)
//!   internal   ──┘   replica.step(...)    └──> Shared status (read by the API)
//!   (verified batches, sync responses, ticks)
//! ```
//! CPU-heavy work (batch signature verification) runs on blocking threads and comes back as an
//! internal event, so the loop never stalls on it.

mod snapshot;

use crate::clock::now_ms;
use crate::config::SyncConfig;
use crate::evidence::{kind_name, EvidenceRecord, EVIDENCE_MAX, EVIDENCE_VERSION};
use crate::mempool::{AddError, Mempool};
use crate::shared::{Counters, Shared, StatusSnapshot};
use crate::wire::{Request, Response, Wire, GOSSIP_MAX_TXS, SYNC_MAX_BLOCKS};
use anyhow::{anyhow, Context, Result};
use settlenet_consensus::{
    check_proposal_time, next_proposal_time, Input, Output, Replica, SignedMessage, TimeBounds,
    TimerKind, WalEntry,
};
use settlenet_ledger::{Ledger, TxRecord};
use settlenet_net::{NetEvent, NetHandle, PeerId};
use settlenet_storage::{BlockWrite, EvidencePut, Store};
use settlenet_types::{
    encode, Block, BlockHeader, CommitCertificate, Genesis, Hash, Height, ReplicaId,
    SignedTransaction, StoredBlock, TxId, View,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

/// What a submission came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// In the mempool, waiting for a block.
    Pending,
    /// Already pending (a retry): nothing new was added.
    AlreadyPending,
    /// Already executed: its record stands (a retry of a committed transaction).
    AlreadyCommitted(TxRecord),
    /// Refused before entering the mempool.
    Refused {
        /// Machine-readable code.
        code: String,
        /// Human explanation.
        message: String,
    },
    /// The mempool is full: try again later.
    Busy,
}

/// Requests from the HTTP API.
pub enum ApiCommand {
    /// Submit signature-verified transactions.
    Submit {
        /// The transactions (signatures already verified by the API handler).
        txs: Vec<SignedTransaction>,
        /// One outcome per transaction.
        reply: oneshot::Sender<Vec<SubmitOutcome>>,
    },
    /// Is this transaction pending here?
    IsPending {
        /// The id.
        id: TxId,
        /// The answer.
        reply: oneshot::Sender<bool>,
    },
    /// The wallet registered under a phone alias in a currency (the ledger's alias index).
    WalletByAlias {
        /// `HMAC-SHA256(consortium key, E.164)`.
        alias: Hash,
        /// The currency.
        currency: settlenet_types::Currency,
        /// The wallet's id, if registered.
        reply: oneshot::Sender<Option<settlenet_types::AccountId>>,
    },
    /// The accounts (wallets, merchant accounts) an owner key holds (the ledger's owner index).
    AccountsByOwner {
        /// The owner's public key.
        owner: settlenet_types::PublicKey,
        /// At most this many.
        limit: usize,
        /// Their ids, in id order.
        reply: oneshot::Sender<Vec<settlenet_types::AccountId>>,
    },
    /// Merkle proofs of several accounts against one state (the latest executed), for a
    /// settlement receipt.
    ProveMany {
        /// The accounts.
        accounts: Vec<settlenet_types::AccountId>,
        /// (executed height, its state root, one proof per account or `None` if absent).
        reply: oneshot::Sender<(Height, Hash, Vec<Option<settlenet_ledger::AccountProof>>)>,
    },
    /// What the settlement read API needs from the ledger's derived state for one currency.
    SettlementSummary {
        /// The currency.
        currency: settlenet_types::Currency,
        /// The answer.
        reply: oneshot::Sender<SettlementSummary>,
    },
}

/// The ledger's settlement state of one currency, as `GET /v1/settlement/...` shows it.
#[derive(Debug, Clone)]
pub struct SettlementSummary {
    /// The window obligations go to now.
    pub open_window: u64,
    /// The batch staging for this currency, if any.
    pub staging_batch: Option<settlenet_types::BatchId>,
    /// Per member (by id): its net debit cap and its unsettled net position (all windows not
    /// yet settled; negative = net debtor).
    pub members: Vec<(
        settlenet_types::MemberId,
        Option<settlenet_types::Amount>,
        i128,
    )>,
}

/// Results of work done off the core task.
enum Internal {
    /// Gossiped transactions whose signatures were checked.
    GossipVerified(Vec<SignedTransaction>),
    /// A proposal's transactions were checked.
    ProposalChecked {
        view: View,
        height: Height,
        hash: Hash,
        result: std::result::Result<(), String>,
    },
    /// A peer answered a status request.
    PeerHeight { peer: PeerId, height: Height },
    /// A peer answered a block request (or failed to).
    SyncBlocks {
        peer: PeerId,
        result: std::result::Result<Vec<StoredBlock>, String>,
    },
    /// A peer answered a block request: it holds no block below `base` (it started from a
    /// snapshot).
    PeerPruned { peer: PeerId, base: Height },
    /// Snapshot serving and fetching (see `snapshot.rs`).
    Snapshot(snapshot::Event),
}

/// Everything the core needs to start.
pub struct CoreParts {
    /// The genesis.
    pub genesis: Arc<Genesis>,
    /// This validator's index.
    pub me: ReplicaId,
    /// The PBFT replica.
    pub replica: Replica,
    /// The ledger at the store's height.
    pub ledger: Ledger,
    /// The store.
    pub store: Arc<Store>,
    /// Network handle.
    pub net: NetHandle,
    /// Network events.
    pub net_rx: mpsc::Receiver<NetEvent>,
    /// API commands.
    pub api_rx: mpsc::Receiver<ApiCommand>,
    /// Shared status.
    pub shared: Arc<Shared>,
    /// Mempool capacity.
    pub mempool_max: usize,
    /// Largest tolerated clock skew of a proposal's timestamp.
    pub max_clock_skew_ms: u64,
    /// Hash of the last stored block.
    pub last_hash: Hash,
    /// Timestamp of the last stored block (genesis time at height 0).
    pub last_block_time_ms: u64,
    /// Root of the genesis state (height 0).
    pub genesis_root: Hash,
    /// Key of the next consensus WAL entry.
    pub wal_next: u64,
    /// State transfer settings.
    pub sync: SyncConfig,
    /// The snapshot height the store was installed from (0 = genesis).
    pub base_height: Height,
    /// Shutdown signal.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// The core actor.
pub struct Core {
    genesis: Arc<Genesis>,
    me: ReplicaId,
    replica: Replica,
    ledger: Ledger,
    store: Arc<Store>,
    net: NetHandle,
    net_rx: mpsc::Receiver<NetEvent>,
    api_rx: mpsc::Receiver<ApiCommand>,
    shared: Arc<Shared>,
    mempool: Mempool,
    max_clock_skew_ms: u64,
    /// Validator peer ids by replica index, and back.
    peers: Vec<PeerId>,
    peer_index: HashMap<PeerId, ReplicaId>,
    connected: std::collections::BTreeSet<ReplicaId>,
    /// Transactions accepted from our API, to gossip on the next tick.
    gossip_buf: Vec<SignedTransaction>,
    /// Proposals waiting until our ledger reaches their `state_height` (bounded), with the
    /// time (our clock, ms) their PRE-PREPARE arrived: consensus time is judged at arrival.
    deferred: Vec<(View, Block, u64)>,
    /// Proposals whose signatures are being checked: (height, hash) -> block.
    checking: BTreeMap<(Height, Hash), ()>,
    /// Recent state roots by height, for checking proposals' lagged roots (bounded).
    roots: BTreeMap<Height, Hash>,
    last_hash: Hash,
    last_block_time_ms: u64,
    last_proposed_ms: u64,
    /// Highest height a peer reported, and whether a sync request is in flight.
    sync_target: Height,
    sync_in_flight: bool,
    sync_peer_rr: usize,
    /// When our height last changed (for detecting a stall behind peers).
    last_progress_ms: u64,
    internal_tx: mpsc::Sender<Internal>,
    internal_rx: mpsc::Receiver<Internal>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// Key of the next consensus WAL entry (big-endian, so keys sort in write order).
    wal_next: u64,
    /// Running consensus timers: kind -> deadline (ms, node clock).
    timers: BTreeMap<TimerKind, u64>,
    /// The state root the last committed (non-null) block's header certifies. While it differs
    /// from our executed root and nothing is pending, the primary proposes one empty block so
    /// that an idle chain still certifies its latest state (account proofs need that).
    certified_root: Hash,
    /// Snapshots served to peers and the snapshot fetch in flight.
    snapshots: snapshot::Snapshots,
}

/// Bound on proposals waiting for execution to catch up.
const DEFERRED_MAX: usize = 64;
/// How many recent state roots to remember.
const ROOTS_KEPT: usize = 1024;

impl Core {
    /// Build the core.
    pub fn new(p: CoreParts) -> Result<Core> {
        let mut peers = Vec::new();
        let mut peer_index = HashMap::new();
        for v in &p.genesis.validators {
            let peer: PeerId = v
                .peer_id
                .parse()
                .map_err(|e| anyhow!("genesis validator {} peer id: {e}", v.name))?;
            peer_index.insert(peer, v.id);
            peers.push(peer);
        }
        let (internal_tx, internal_rx) = mpsc::channel(1024);
        // At height 0 the genesis itself vouches for the state; after a restart, the last
        // block's header (unknown for a null block: then assume uncertified).
        let certified_root = match p.store.block(p.ledger.height()) {
            Ok(Some(b)) if !settlenet_consensus::is_null(&b.block) => b.block.header.state_root,
            Ok(None) if p.ledger.height() == Height(0) => p.ledger.state_root(),
            _ => Hash::ZERO,
        };
        let mut roots = BTreeMap::new();
        roots.insert(Height(0), p.genesis_root);
        roots.insert(p.ledger.height(), p.ledger.state_root());
        Ok(Core {
            me: p.me,
            replica: p.replica,
            store: p.store,
            net: p.net,
            net_rx: p.net_rx,
            api_rx: p.api_rx,
            shared: p.shared,
            mempool: Mempool::new(p.mempool_max),
            max_clock_skew_ms: p.max_clock_skew_ms,
            peers,
            peer_index,
            connected: Default::default(),
            gossip_buf: Vec::new(),
            deferred: Vec::new(),
            checking: BTreeMap::new(),
            roots,
            last_hash: p.last_hash,
            last_block_time_ms: p.last_block_time_ms,
            last_proposed_ms: 0,
            sync_target: p.ledger.height(),
            sync_in_flight: false,
            sync_peer_rr: 0,
            last_progress_ms: now_ms(),
            ledger: p.ledger,
            genesis: p.genesis,
            internal_tx,
            internal_rx,
            shutdown: p.shutdown,
            wal_next: p.wal_next,
            timers: BTreeMap::new(),
            certified_root,
            snapshots: snapshot::Snapshots::new(p.sync, p.base_height),
        })
    }

    fn name_of(&self, r: ReplicaId) -> String {
        self.genesis
            .validators
            .get(r.0 as usize)
            .map(|v| v.name.clone())
            .unwrap_or_else(|| format!("replica{}", r.0))
    }

    fn publish_status(&self) {
        let primary = self.name_of(self.replica.primary());
        let peers = self.connected.iter().map(|r| self.name_of(*r)).collect();
        self.shared.set_status(StatusSnapshot {
            height: self.ledger.height(),
            last_block_hash: self.last_hash,
            state_root: self.ledger.state_root(),
            last_block_time_ms: self.last_block_time_ms,
            view: self.replica.view(),
            stable_checkpoint: self.replica.stable_checkpoint(),
            primary,
            peers,
            mempool: self.mempool.len(),
            base_height: self.snapshots.base(),
        });
    }

    /// Run until shutdown or a fatal error (a failed store write stops the node: it must not go
    /// on with a state it cannot persist).
    pub async fn run(mut self) -> Result<()> {
        self.publish_status();
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut poll = tokio::time::interval(Duration::from_millis(1000));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.changed() => {
                    info!("core: shutting down at height {}", self.ledger.height());
                    self.store.flush().context("flushing the store on shutdown")?;
                    return Ok(());
                }
                Some(ev) = self.internal_rx.recv() => self.on_internal(ev)?,
                Some(ev) = self.net_rx.recv() => self.on_net(ev)?,
                Some(cmd) = self.api_rx.recv() => self.on_api(cmd),
                _ = tick.tick() => self.on_tick()?,
                _ = poll.tick() => self.poll_peers(),
                else => return Err(anyhow!("all core inputs closed")),
            }
        }
    }

    // ---- inputs ----

    fn on_net(&mut self, ev: NetEvent) -> Result<()> {
        match ev {
            NetEvent::Message { from, bytes } => {
                let Some(&replica) = self.peer_index.get(&from) else {
                    Counters::inc(&self.shared.counters.messages_dropped);
                    warn!(%from, "message from a peer that is not a validator: dropped");
                    return Ok(());
                };
                match settlenet_types::decode::<Wire>("wire message", &bytes) {
                    Ok(Wire::Consensus(message)) => {
                        self.step(Input::Message {
                            from: replica,
                            message,
                        })?;
                    }
                    Ok(Wire::Txs(txs)) => self.on_gossip(txs),
                    Err(e) => {
                        Counters::inc(&self.shared.counters.messages_dropped);
                        warn!(peer = %self.name_of(replica), "undecodable message dropped: {e}");
                    }
                }
            }
            NetEvent::Request { from, bytes, reply } => {
                let response = if self.peer_index.contains_key(&from) {
                    self.serve_request(&bytes)
                } else {
                    Response::Error("not a validator".into())
                };
                let bytes = encode("response", &response).unwrap_or_default();
                reply.send(bytes);
            }
            NetEvent::PeerConnected(peer) => {
                if let Some(&r) = self.peer_index.get(&peer) {
                    info!(peer = %self.name_of(r), "validator connected");
                    self.connected.insert(r);
                    self.publish_status();
                }
            }
            NetEvent::PeerDisconnected(peer) => {
                if let Some(&r) = self.peer_index.get(&peer) {
                    info!(peer = %self.name_of(r), "validator disconnected");
                    self.connected.remove(&r);
                    self.publish_status();
                }
            }
            NetEvent::Refused { peer, addr } => {
                Counters::inc(&self.shared.counters.peers_refused);
                warn!(%peer, ?addr, "refused connection from a peer not in the genesis");
            }
        }
        Ok(())
    }

    fn serve_request(&mut self, bytes: &[u8]) -> Response {
        match settlenet_types::decode::<Request>("request", bytes) {
            Ok(Request::Status) => Response::Status {
                height: self.ledger.height(),
            },
            Ok(Request::Blocks { from, .. }) if from < self.snapshots.first_block() => {
                Response::BlocksFrom {
                    base: self.snapshots.first_block(),
                }
            }
            Ok(Request::Blocks { from, max }) => {
                let max = max.clamp(1, SYNC_MAX_BLOCKS);
                let mut out = Vec::new();
                let mut h = from;
                while out.len() < max as usize && h <= self.ledger.height() {
                    match self.store.block(h) {
                        Ok(Some(b)) => out.push(b),
                        Ok(None) => break,
                        Err(e) => return Response::Error(format!("reading block {h}: {e}")),
                    }
                    h = h.next();
                }
                Response::Blocks(out)
            }
            Ok(r @ (Request::SnapshotManifest | Request::SnapshotChunk { .. })) => {
                self.serve_snapshot(r)
            }
            Err(e) => crate::wire::unsupported_request(&e.to_string()),
        }
    }

    fn on_api(&mut self, cmd: ApiCommand) {
        match cmd {
            ApiCommand::Submit { txs, reply } => {
                let now = now_ms();
                let mut outcomes = Vec::with_capacity(txs.len());
                for tx in txs {
                    let outcome = self.admit(tx, now, true);
                    outcomes.push(outcome);
                }
                let _ = reply.send(outcomes);
            }
            ApiCommand::IsPending { id, reply } => {
                let _ = reply.send(self.mempool.contains(&id));
            }
            ApiCommand::WalletByAlias {
                alias,
                currency,
                reply,
            } => {
                let _ = reply.send(self.ledger.wallet_by_alias(&alias, currency).map(|a| a.id));
            }
            ApiCommand::AccountsByOwner {
                owner,
                limit,
                reply,
            } => {
                let ids = self
                    .ledger
                    .accounts_owned_by(&owner, limit)
                    .iter()
                    .map(|a| a.id)
                    .collect();
                let _ = reply.send(ids);
            }
            ApiCommand::ProveMany { accounts, reply } => {
                let proofs = accounts.iter().map(|a| self.ledger.prove(a)).collect();
                let _ = reply.send((self.ledger.height(), self.ledger.state_root(), proofs));
            }
            ApiCommand::SettlementSummary { currency, reply } => {
                let members = self
                    .ledger
                    .members()
                    .iter()
                    .map(|m| {
                        (
                            m.id,
                            self.ledger.net_debit_cap(m.id, currency),
                            self.ledger.unsettled_net(m.id, currency),
                        )
                    })
                    .collect();
                let _ = reply.send(SettlementSummary {
                    open_window: self.ledger.open_window(currency),
                    staging_batch: self.ledger.staging_batch_of(currency),
                    members,
                });
            }
        }
    }

    /// Admit a signature-verified transaction to the mempool.
    fn admit(&mut self, tx: SignedTransaction, now: u64, from_api: bool) -> SubmitOutcome {
        if let Some(record) = self.ledger.record(&tx.tx.id) {
            return match tx.tx.body_hash() {
                Ok(h) if h == record.body_hash => SubmitOutcome::AlreadyCommitted(record.clone()),
                _ => SubmitOutcome::Refused {
                    code: "exists_with_different_body".into(),
                    message: format!(
                        "transaction id {} was already used at height {} for a different body; \
                         choose a new id",
                        tx.tx.id, record.height
                    ),
                },
            };
        }
        if let Some(pending) = self.mempool.get(&tx.tx.id) {
            if pending != &tx {
                return SubmitOutcome::Refused {
                    code: "exists_with_different_body".into(),
                    message: format!(
                        "transaction id {} is pending with a different body; choose a new id",
                        tx.tx.id
                    ),
                };
            }
        }
        if let Err(code) = self.ledger.precheck(&tx) {
            return SubmitOutcome::Refused {
                code: code.as_str().to_string(),
                message: code.describe().to_string(),
            };
        }
        let gossip = from_api.then(|| tx.clone());
        match self.mempool.add(tx, now) {
            Ok(()) => {
                if let Some(tx) = gossip {
                    Counters::inc(&self.shared.counters.txs_submitted);
                    self.gossip_buf.push(tx);
                }
                SubmitOutcome::Pending
            }
            Err(AddError::Duplicate) => SubmitOutcome::AlreadyPending,
            Err(AddError::Full) => SubmitOutcome::Busy,
        }
    }

    fn on_gossip(&mut self, txs: Vec<SignedTransaction>) {
        if txs.len() > GOSSIP_MAX_TXS {
            Counters::inc(&self.shared.counters.messages_dropped);
            warn!(
                "gossip batch of {} transactions is over the limit",
                txs.len()
            );
            return;
        }
        // Skip what we already hold, verify the rest off the core task.
        let fresh: Vec<_> = txs
            .into_iter()
            .filter(|t| !self.mempool.contains(&t.tx.id) && self.ledger.record(&t.tx.id).is_none())
            .collect();
        if fresh.is_empty() {
            return;
        }
        let internal = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let good = if settlenet_crypto::verify_transactions(&fresh).is_ok() {
                fresh
            } else {
                // Keep the valid ones; a forged one is dropped (and would be refused in a block).
                fresh
                    .into_iter()
                    .filter(|t| {
                        settlenet_crypto::verify_transactions(std::slice::from_ref(t)).is_ok()
                    })
                    .collect()
            };
            let _ = internal.blocking_send(Internal::GossipVerified(good));
        });
    }

    fn on_internal(&mut self, ev: Internal) -> Result<()> {
        match ev {
            Internal::GossipVerified(txs) => {
                let now = now_ms();
                for tx in txs {
                    let _ = self.admit(tx, now, false);
                }
            }
            Internal::ProposalChecked {
                view,
                height,
                hash,
                result,
            } => {
                self.checking.remove(&(height, hash));
                let valid = match result {
                    Ok(()) => true,
                    Err(reason) => {
                        Counters::inc(&self.shared.counters.proposals_refused);
                        warn!(%height, %hash, "refusing proposal: {reason}");
                        false
                    }
                };
                self.step(Input::ProposalVerdict {
                    view,
                    height,
                    block_hash: hash,
                    valid,
                })?;
            }
            Internal::PeerHeight { peer, height } => {
                let _ = peer;
                if height > self.sync_target {
                    self.sync_target = height;
                }
                let behind = self.sync_target.0.saturating_sub(self.ledger.height().0);
                if self.snapshots.wanted(behind) {
                    self.start_snapshot_sync();
                    return Ok(());
                }
                let stalled = now_ms().saturating_sub(self.last_progress_ms) > 1500;
                if behind > 0 && (stalled || behind > 2 * self.genesis.consensus.max_in_flight) {
                    self.start_sync();
                }
            }
            Internal::SyncBlocks { peer, result } => {
                self.sync_in_flight = false;
                match result {
                    Ok(blocks) => {
                        let got = blocks.len();
                        let installed = self.install_synced(blocks)?;
                        if installed > 0 {
                            info!(
                                installed,
                                height = %self.ledger.height(),
                                "state transfer: installed blocks from {peer}"
                            );
                        }
                        // More to fetch: keep going while the peer gives us blocks.
                        if installed > 0
                            && (got as u32 == SYNC_MAX_BLOCKS
                                || self.ledger.height() < self.sync_target)
                        {
                            self.start_sync();
                        }
                    }
                    Err(e) => warn!(%peer, "state transfer request failed: {e}"),
                }
            }
            Internal::PeerPruned { peer, base } => {
                self.sync_in_flight = false;
                warn!(%peer, %base, "state transfer: peer holds blocks from {base} only; fetching a snapshot");
                self.start_snapshot_sync();
            }
            Internal::Snapshot(ev) => self.on_snapshot_event(ev)?,
        }
        Ok(())
    }

    fn on_tick(&mut self) -> Result<()> {
        if !self.gossip_buf.is_empty() {
            let batch = std::mem::take(&mut self.gossip_buf);
            for chunk in batch.chunks(GOSSIP_MAX_TXS) {
                match encode("wire message", &Wire::Txs(chunk.to_vec())) {
                    Ok(bytes) => self.net_out(None, bytes),
                    Err(e) => error!("cannot encode gossip: {e}"),
                }
            }
        }
        self.maybe_propose()?;
        let now = now_ms();
        let due: Vec<TimerKind> = self
            .timers
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        for kind in due {
            self.timers.remove(&kind);
            self.step(Input::Timeout(kind))?;
        }
        if !self.mempool.is_empty() {
            // Known, uncommitted work: the replica keeps its view timer running (PBFT §4.4).
            self.step(Input::WorkPending)?;
        }
        Ok(())
    }

    fn poll_peers(&mut self) {
        for r in self.connected.iter().copied() {
            let Some(peer) = self.peers.get(r.0 as usize).copied() else {
                continue;
            };
            let net = self.net.clone();
            let internal = self.internal_tx.clone();
            tokio::spawn(async move {
                let Ok(req) = encode("request", &Request::Status) else {
                    return;
                };
                if let Ok(bytes) = net.request(peer, req).await {
                    if let Ok(Response::Status { height }) =
                        settlenet_types::decode::<Response>("response", &bytes)
                    {
                        let _ = internal.send(Internal::PeerHeight { peer, height }).await;
                    }
                }
            });
        }
    }

    // ---- proposing ----

    fn maybe_propose(&mut self) -> Result<()> {
        let max = self.genesis.consensus.block_max_txs as usize;
        let delay = self.genesis.consensus.block_delay_ms;
        loop {
            let Some(height) = self.replica.next_proposal_height() else {
                return Ok(());
            };
            let now = now_ms();
            let Some(oldest) = self.mempool.oldest_unproposed_ms() else {
                return self.maybe_propose_empty(height, now);
            };
            if self.mempool.unproposed_upper_bound() < max && now.saturating_sub(oldest) < delay {
                return Ok(());
            }
            let txs = self.mempool.take_for_proposal(max);
            if txs.is_empty() {
                return Ok(());
            }
            let timestamp_ms = self.proposal_stamp(height, now);
            let header = BlockHeader {
                version: settlenet_types::block::BLOCK_VERSION,
                chain_id: self.genesis.chain_id.clone(),
                height,
                timestamp_ms,
                proposer: self.me,
                tx_count: txs.len() as u32,
                tx_root: Block::compute_tx_root(&txs)?,
                state_height: self.ledger.height(),
                state_root: self.ledger.state_root(),
            };
            debug!(%height, txs = txs.len(), "proposing");
            self.step(Input::Propose(Block { header, txs }))?;
        }
    }

    /// The consensus time stamp for our proposal at `height`, recorded as our latest: after
    /// everything we know below this height (committed, in flight, re-proposed by a NEW-VIEW
    /// with a faster clock's stamp), so backups find it strictly increasing.
    fn proposal_stamp(&mut self, height: Height, now: u64) -> u64 {
        let (below, _) = self.replica.accepted_times_around(height);
        let previous = below
            .unwrap_or(0)
            .max(self.last_block_time_ms)
            .max(self.last_proposed_ms);
        let timestamp_ms = next_proposal_time(now, previous);
        self.last_proposed_ms = timestamp_ms;
        timestamp_ms
    }

    /// Propose one empty block when idle and our latest executed state is not yet certified by
    /// any committed header: nothing pending, nothing in flight, and at most one per block
    /// delay. It terminates: an empty block changes no account (unless holds expire in it), so
    /// once it commits the certified root equals the executed one.
    fn maybe_propose_empty(&mut self, height: Height, now: u64) -> Result<()> {
        if self.ledger.state_root() == self.certified_root
            || !self.mempool.is_empty()
            || height != self.ledger.height().next()
            || now.saturating_sub(self.last_proposed_ms) < self.genesis.consensus.block_delay_ms
        {
            return Ok(());
        }
        let timestamp_ms = self.proposal_stamp(height, now);
        let header = BlockHeader {
            version: settlenet_types::block::BLOCK_VERSION,
            chain_id: self.genesis.chain_id.clone(),
            height,
            timestamp_ms,
            proposer: self.me,
            tx_count: 0,
            tx_root: Block::compute_tx_root(&[])?,
            state_height: self.ledger.height(),
            state_root: self.ledger.state_root(),
        };
        debug!(%height, "proposing an empty block to certify the latest state");
        self.step(Input::Propose(Block {
            header,
            txs: Vec::new(),
        }))
    }

    // ---- consensus ----

    fn step(&mut self, input: Input) -> Result<()> {
        let view = self.replica.view();
        let mut out = Vec::new();
        self.replica.step(input, &mut out);
        self.drain(out)?;
        if self.replica.view() != view {
            info!(view = %self.replica.view(), primary = %self.name_of(self.replica.primary()), "entered a new view");
            self.on_view_changed();
            self.publish_status();
        }
        Ok(())
    }

    /// A new view: transactions of our uncommitted proposals become proposable again, and a
    /// backup hands its oldest pending transactions (at most one gossip batch) to the new
    /// primary, which may not have them (it was down when they were gossiped, for example).
    fn on_view_changed(&mut self) {
        self.mempool.requeue_proposed();
        if self.replica.is_primary() {
            return;
        }
        let pending = self.mempool.oldest_unproposed(GOSSIP_MAX_TXS);
        if pending.is_empty() {
            return;
        }
        let Some(peer) = self
            .peers
            .get(usize::from(self.replica.primary().0))
            .copied()
        else {
            return;
        };
        match encode("wire message", &Wire::Txs(pending)) {
            Ok(bytes) => self.net_out(Some(peer), bytes),
            Err(e) => error!("cannot encode pending transactions for the new primary: {e}"),
        }
    }

    /// Carry out outputs in order; handling one may produce more (e.g. a commit unblocks a
    /// deferred proposal), which are carried out after it.
    fn drain(&mut self, out: Vec<Output>) -> Result<()> {
        let mut queue: std::collections::VecDeque<Output> = out.into();
        while let Some(o) = queue.pop_front() {
            let mut more = Vec::new();
            self.on_output(o, &mut more)?;
            queue.extend(more);
        }
        Ok(())
    }

    fn on_output(&mut self, o: Output, more: &mut Vec<Output>) -> Result<()> {
        match o {
            Output::Broadcast(m) => self.send_consensus(None, m),
            Output::Send { to, message } => self.send_consensus(Some(to), message),
            Output::VerifyProposal { view, block } => {
                self.verify_proposal(view, block, now_ms(), more);
                // The block above it may have been waiting for this one.
                self.recheck_deferred(more);
            }
            Output::Committed { block, certificate } => {
                if let Some((height, state_root)) = self.execute(block, certificate, false)? {
                    let mut out = Vec::new();
                    self.replica
                        .step(Input::Executed { height, state_root }, &mut out);
                    more.extend(out);
                }
                self.recheck_deferred(more);
            }
            Output::Persist(entry) => self.persist(&entry)?,
            Output::SetTimer { kind, after_ms } => {
                self.timers.insert(kind, now_ms().saturating_add(after_ms));
            }
            Output::CancelTimer(kind) => {
                self.timers.remove(&kind);
            }
            Output::StableCheckpoint {
                height,
                state_root,
                proof,
            } => {
                info!(%height, root = %state_root, "stable checkpoint");
                self.truncate_wal(height)?;
                self.snapshot_on_stable(height, state_root, proof);
                self.publish_status();
            }
            Output::Behind { height } => {
                if height > self.sync_target {
                    self.sync_target = height;
                }
                self.start_sync();
            }
            Output::Evidence {
                replica,
                first,
                second,
            } => self.keep_evidence(replica, first, second)?,
        }
        Ok(())
    }

    /// Count, log and store (synced, first report per conflict, bounded) a validator's two
    /// conflicting signed messages. A failed write stops the node like any other.
    fn keep_evidence(
        &mut self,
        replica: ReplicaId,
        first: SignedMessage,
        second: SignedMessage,
    ) -> Result<()> {
        Counters::inc(&self.shared.counters.evidence);
        let record = EvidenceRecord {
            version: EVIDENCE_VERSION,
            validator: replica,
            first,
            second,
            first_seen_ms: now_ms(),
        };
        warn!(
            validator = %self.name_of(replica),
            kind = kind_name(record.kind()),
            view = %record.view(),
            height = %record.height(),
            first = ?record.first.payload.block_hash().ok(),
            second = ?record.second.payload.block_hash().ok(),
            "EVIDENCE: conflicting signed messages from one validator"
        );
        let bytes = encode("evidence record", &record)?;
        let put = self
            .store
            .evidence_put(&record.key(), &bytes, EVIDENCE_MAX)
            .context("FATAL: cannot write evidence; stopping the node")?;
        match put {
            EvidencePut::Stored => Counters::inc(&self.shared.counters.evidence_stored),
            EvidencePut::Duplicate => {}
            EvidencePut::Full => {
                warn!("evidence store is full ({EVIDENCE_MAX} records): this report is not kept")
            }
        }
        Ok(())
    }

    /// Write a consensus WAL entry synchronously; the outputs after it (the votes it covers) are
    /// sent only once it is on disk. A failed write stops the node.
    fn persist(&mut self, entry: &WalEntry) -> Result<()> {
        let bytes = encode("consensus WAL entry", entry)?;
        self.store
            .wal_put(&self.wal_next.to_be_bytes(), &bytes)
            .context("FATAL: cannot write the consensus WAL; stopping the node")?;
        self.wal_next += 1;
        Ok(())
    }

    /// Drop WAL entries a stable checkpoint at `height` makes unnecessary: votes at or below it,
    /// and all but the latest VIEW-CHANGE, NEW-VIEW and checkpoint entry.
    fn truncate_wal(&mut self, height: Height) -> Result<()> {
        let entries = self.store.wal_entries()?;
        let mut latest: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
        let mut drop = Vec::new();
        for (key, bytes) in entries {
            let Ok(entry) = settlenet_types::decode::<WalEntry>("consensus WAL entry", &bytes)
            else {
                continue;
            };
            let kind = match entry {
                WalEntry::ViewChange(_) => 0,
                WalEntry::NewView(_) => 1,
                WalEntry::StableCheckpoint(_) => 2,
                _ => {
                    if entry.height() <= height {
                        drop.push(key);
                    }
                    continue;
                }
            };
            if let Some(older) = latest.insert(kind, key) {
                drop.push(older);
            }
        }
        for key in drop {
            self.store.wal_delete(&key)?;
        }
        Ok(())
    }

    fn send_consensus(&self, to: Option<ReplicaId>, m: SignedMessage) {
        let bytes = match encode("wire message", &Wire::Consensus(m)) {
            Ok(b) => b,
            Err(e) => {
                error!("cannot encode consensus message: {e}");
                return;
            }
        };
        match to {
            None => self.net_out(None, bytes),
            Some(r) => {
                if let Some(peer) = self.peers.get(r.0 as usize).copied() {
                    self.net_out(Some(peer), bytes);
                }
            }
        }
    }

    /// Hand bytes to the network task without waiting; if its queue is momentarily full, wait
    /// for room on a separate task rather than drop a consensus message.
    fn net_out(&self, to: Option<PeerId>, bytes: Vec<u8>) {
        let result = match to {
            None => self.net.try_broadcast(bytes.clone()),
            Some(peer) => self.net.try_send(peer, bytes.clone()),
        };
        if let Err(settlenet_net::NetError::QueueFull) = result {
            let net = self.net.clone();
            tokio::spawn(async move {
                match to {
                    None => net.broadcast(bytes).await,
                    Some(peer) => net.send(peer, bytes).await,
                }
            });
        }
    }

    /// Check a proposal before preparing it: chain, proposer, timestamp, lagged state root, and
    /// (off-task) every transaction signature not already verified by our mempool.
    /// `received_ms` is our clock when its PRE-PREPARE arrived.
    fn verify_proposal(
        &mut self,
        view: View,
        block: Block,
        received_ms: u64,
        more: &mut Vec<Output>,
    ) {
        let h = &block.header;
        let hash = match h.hash() {
            Ok(x) => x,
            Err(e) => {
                warn!("unhashable proposal: {e}");
                return;
            }
        };
        if !self.ready_to_verify(&block) {
            if self.deferred.len() < DEFERRED_MAX {
                self.deferred.push((view, block, received_ms));
            } else {
                warn!(height = %h.height, "too many proposals waiting for execution; dropping one");
            }
            return;
        }
        let static_check = self.check_header(h, received_ms);
        if let Err(reason) = static_check {
            Counters::inc(&self.shared.counters.proposals_refused);
            warn!(height = %h.height, %hash, "refusing proposal: {reason}");
            let mut out = Vec::new();
            self.replica.step(
                Input::ProposalVerdict {
                    view,
                    height: h.height,
                    block_hash: hash,
                    valid: false,
                },
                &mut out,
            );
            more.extend(out);
            return;
        }
        let height = h.height;
        // Signatures of transactions we already verified (identical copies in our mempool) are
        // not checked again.
        let unverified: Vec<SignedTransaction> = block
            .txs
            .iter()
            .filter(|t| self.mempool.get(&t.tx.id) != Some(*t))
            .cloned()
            .collect();
        if unverified.is_empty() {
            let mut out = Vec::new();
            self.replica.step(
                Input::ProposalVerdict {
                    view,
                    height,
                    block_hash: hash,
                    valid: true,
                },
                &mut out,
            );
            more.extend(out);
            return;
        }
        self.checking.insert((height, hash), ());
        let internal = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let result =
                settlenet_crypto::verify_transactions(&unverified).map_err(|e| e.to_string());
            let _ = internal.blocking_send(Internal::ProposalChecked {
                view,
                height,
                hash,
                result,
            });
        });
    }

    fn check_header(&self, h: &BlockHeader, received_ms: u64) -> std::result::Result<(), String> {
        if h.chain_id != self.genesis.chain_id {
            return Err(format!("chain id {:?}", h.chain_id));
        }
        if h.version != settlenet_types::block::BLOCK_VERSION {
            return Err(format!("block version {}", h.version));
        }
        if h.proposer != self.replica.primary() {
            return Err(format!("proposer {} is not the primary", h.proposer));
        }
        // Consensus time (settlenet_consensus::check_proposal_time): strictly after what we
        // committed and accepted below this height, before what we accepted above it, and within
        // the skew of our clock when the PRE-PREPARE arrived. Re-proposals and null blocks
        // never come here (a NEW-VIEW carries them), so they are exempt.
        let (below, above) = self.replica.accepted_times_around(h.height);
        let bounds = TimeBounds {
            now_ms: received_ms,
            max_skew_ms: self.max_clock_skew_ms,
            previous_ms: below.map_or(self.last_block_time_ms, |b| b.max(self.last_block_time_ms)),
            next_ms: above,
        };
        check_proposal_time(h.timestamp_ms, &bounds).map_err(|e| e.to_string())?;
        let ours = match self.roots.get(&h.state_height) {
            Some(r) => *r,
            None => match self.store.block(h.state_height) {
                Ok(Some(b)) => b.state_root,
                Ok(None) => return Err(format!("no state root for height {}", h.state_height)),
                Err(e) => return Err(format!("reading block {}: {e}", h.state_height)),
            },
        };
        if ours != h.state_root {
            return Err(format!(
                "state root {} at height {} differs from ours {ours}",
                h.state_root, h.state_height
            ));
        }
        Ok(())
    }

    /// A proposal is checked once we have executed its lagged state height (to compare roots)
    /// and hold the block below it (committed, or accepted in this view: its time bounds this
    /// one's, see `check_header`).
    fn ready_to_verify(&self, block: &Block) -> bool {
        let h = &block.header;
        let below = Height(h.height.0.saturating_sub(1));
        h.state_height <= self.ledger.height()
            && (below <= self.ledger.height() || self.replica.has_accepted(below))
    }

    fn recheck_deferred(&mut self, more: &mut Vec<Output>) {
        // Proposals of views we left will not be voted on.
        let view = self.replica.view();
        self.deferred.retain(|(v, _, _)| *v >= view);
        if self.deferred.is_empty() {
            return;
        }
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|(_, b, _)| self.ready_to_verify(b));
        self.deferred = waiting;
        for (view, block, received_ms) in ready {
            self.verify_proposal(view, block, received_ms, more);
        }
    }

    // ---- execution ----

    /// Execute and persist a committed block (from consensus, or verified from a peer).
    /// Returns the height and state root it executed, or `None` if it skipped the block.
    fn execute(
        &mut self,
        block: Block,
        certificate: CommitCertificate,
        synced: bool,
    ) -> Result<Option<(Height, Hash)>> {
        let height = block.header.height;
        if height <= self.ledger.height() {
            // Already installed by state transfer; consensus agrees by construction.
            match self.store.block(height)? {
                Some(b) if b.hash == certificate.block_hash => {}
                other => error!(
                    %height,
                    ours = ?other.map(|b| b.hash),
                    theirs = %certificate.block_hash,
                    "SAFETY: two different blocks certified at one height"
                ),
            }
            return Ok(None);
        }
        if height != self.ledger.height().next() {
            warn!(%height, ours = %self.ledger.height(), "gap before committed block; syncing");
            self.sync_target = self.sync_target.max(height);
            self.start_sync();
            return Ok(None);
        }
        let hash = certificate.block_hash;
        if !settlenet_consensus::is_null(&block) {
            self.certified_root = block.header.state_root;
        }
        let outcome = self
            .ledger
            .apply_block(height, block.header.timestamp_ms, &block.txs);
        let accounts = outcome
            .changed_accounts
            .iter()
            .map(|a| Ok((a.id, encode("account", a)?)))
            .collect::<Result<Vec<_>>>()?;
        let records = outcome
            .new_records
            .iter()
            .map(|(id, r)| Ok((*id, encode("tx record", r)?)))
            .collect::<Result<Vec<_>>>()?;
        // Account history index: each account a transaction changed -> (position, tx id).
        let history: Vec<(settlenet_types::AccountId, u32, TxId)> = outcome
            .outcomes
            .iter()
            .enumerate()
            .flat_map(|(i, o)| {
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                o.changed.iter().map(move |a| (*a, i, o.id))
            })
            .collect();
        let ids: Vec<TxId> = block.txs.iter().map(|t| t.tx.id).collect();
        let n_txs = block.txs.len() as u64;
        let timestamp = block.header.timestamp_ms;
        let stored = StoredBlock {
            block,
            certificate,
            hash,
            prev_hash: self.last_hash,
            state_root: outcome.state_root,
        };
        self.store
            .commit_block(BlockWrite {
                block: &stored,
                accounts: &accounts,
                records: &records,
                history: &history,
            })
            .with_context(|| format!("FATAL: cannot persist block {height}; stopping the node"))?;
        self.last_hash = hash;
        // Null blocks (view-change gap fillers) carry no time: consensus time stays put.
        self.last_block_time_ms = self.last_block_time_ms.max(timestamp);
        self.last_progress_ms = now_ms();
        self.snapshot_capture(&stored);
        self.roots.insert(height, outcome.state_root);
        while self.roots.len() > ROOTS_KEPT {
            self.roots.pop_first();
        }
        self.mempool.remove_committed(ids.iter());
        let c = &self.shared.counters;
        Counters::inc(&c.blocks_committed);
        Counters::add(&c.txs_committed, n_txs);
        if synced {
            Counters::inc(&c.blocks_synced);
        }
        debug!(%height, %hash, txs = n_txs, root = %outcome.state_root, "committed");
        self.publish_status();
        Ok(Some((height, outcome.state_root)))
    }

    fn start_sync(&mut self) {
        if self.sync_in_flight || self.connected.is_empty() || self.snapshots.fetching() {
            return;
        }
        let candidates: Vec<ReplicaId> = self.connected.iter().copied().collect();
        let r = candidates[self.sync_peer_rr % candidates.len()];
        self.sync_peer_rr = self.sync_peer_rr.wrapping_add(1);
        let Some(peer) = self.peers.get(r.0 as usize).copied() else {
            return;
        };
        let from = self.ledger.height().next();
        let Ok(req) = encode(
            "request",
            &Request::Blocks {
                from,
                max: SYNC_MAX_BLOCKS,
            },
        ) else {
            return;
        };
        self.sync_in_flight = true;
        let net = self.net.clone();
        let internal = self.internal_tx.clone();
        tokio::spawn(async move {
            let result = match net.request(peer, req).await {
                Ok(bytes) => match settlenet_types::decode::<Response>("response", &bytes) {
                    Ok(Response::Blocks(b)) => Ok(b),
                    Ok(Response::BlocksFrom { base }) => {
                        let _ = internal.send(Internal::PeerPruned { peer, base }).await;
                        return;
                    }
                    Ok(Response::Error(e)) => Err(e),
                    Ok(_) => Err("unexpected response".into()),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
            let _ = internal.send(Internal::SyncBlocks { peer, result }).await;
        });
    }

    /// Verify and install blocks fetched from a peer. Each must be the next height, commit to its
    /// transactions, and carry a valid certificate from a quorum of genesis validators. Returns
    /// how many were installed; stops at the first bad one.
    fn install_synced(&mut self, blocks: Vec<StoredBlock>) -> Result<usize> {
        let mut installed = 0;
        for sb in blocks {
            let expected = self.ledger.height().next();
            let h = sb.block.header.height;
            if h < expected {
                continue;
            }
            if h != expected {
                warn!(%h, %expected, "state transfer: peer sent a non-consecutive block");
                break;
            }
            if let Err(e) = self.verify_synced(&sb) {
                warn!(%h, "state transfer: refusing block from peer: {e}");
                Counters::inc(&self.shared.counters.messages_dropped);
                break;
            }
            let StoredBlock {
                block, certificate, ..
            } = sb;
            if let Some((height, state_root)) = self.execute(block, certificate, true)? {
                self.step(Input::Executed { height, state_root })?;
            }
            installed += 1;
        }
        if installed > 0 {
            self.step(Input::SyncedTo(self.ledger.height()))?;
            let mut more = Vec::new();
            self.recheck_deferred(&mut more);
            self.drain(more)?;
        }
        Ok(installed)
    }

    fn verify_synced(&self, sb: &StoredBlock) -> std::result::Result<(), String> {
        let h = &sb.block.header;
        if h.chain_id != self.genesis.chain_id {
            return Err(format!("chain id {:?}", h.chain_id));
        }
        sb.block.check_body().map_err(|e| e.to_string())?;
        let hash = h.hash().map_err(|e| e.to_string())?;
        settlenet_crypto::verify_certificate(&self.genesis, h.height, &hash, &sb.certificate)
            .map_err(|e| e.to_string())?;
        if !settlenet_consensus::is_null(&sb.block) && h.state_height <= self.ledger.height() {
            let ours = self.roots.get(&h.state_height).copied().or_else(|| {
                self.store
                    .block(h.state_height)
                    .ok()
                    .flatten()
                    .map(|b| b.state_root)
            });
            if let Some(ours) = ours {
                if ours != h.state_root {
                    return Err(format!(
                        "certified state root at {} differs from ours: DIVERGENCE",
                        h.state_height
                    ));
                }
            }
        }
        Ok(())
    }
}
