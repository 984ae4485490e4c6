//! The core: the tokio driver of the node's pure state machine
//! ([`settlenet_machine::NodeMachine`]). One task owns the machine; it turns libp2p events, API
//! commands, finished jobs and the machine's own wake-up time into [`Event`]s, and carries out
//! the [`Effect`]s in order (sends, RocksDB writes, jobs on blocking threads, requests to
//! peers) before it takes the next event.
//!
//! ```text
//!   net events ──┐                              ┌──> net (send / broadcast / request)
//!   API commands ├─> Core::run (select!) ──────┼──> RocksDB (WAL, one write batch per block)
//!   internal   ──┤   machine.handle(now, ev)   ├──> blocking threads (Job::run)
//!   wake-up    ──┘                              └──> Shared status, committed height (API)
//! ```
//! The machine holds every rule; this file holds none: a rule added here would escape the
//! seeded simulator, which drives the same machine.

mod checkpoints;
mod fetch;

use crate::clock::now_ms;
use crate::evidence::kind_name;
use crate::shared::{Counters, Shared, StatusSnapshot};
use crate::wire::{Request, Response, Wire};
use crate::NodeError;
use settlenet_machine::{
    wal, Answer, BlockCommit, Effect, Event, Job, MachineParts, NodeMachine, SnapshotInstall,
    StrictTxVerifier,
};
use settlenet_net::{NetEvent, NetHandle, PeerId};
use settlenet_storage::{BlockWrite, EvidencePut, SnapshotWrite, Store};
use settlenet_types::{encode, Genesis, Hash, Height, ReplicaId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

pub use settlenet_machine::SubmitOutcome;

/// Requests from the HTTP API.
pub enum ApiCommand {
    /// Submit signature-verified transactions.
    Submit {
        /// The transactions (signatures already verified by the API handler).
        txs: Vec<settlenet_types::SignedTransaction>,
        /// One outcome per transaction.
        reply: oneshot::Sender<Vec<SubmitOutcome>>,
    },
    /// Is this transaction pending here?
    IsPending {
        /// The id.
        id: settlenet_types::TxId,
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
    /// A proof of one record of a block against the latest executed state: `block_records`
    /// are the records that block wrote, in block order, and `leaf` its history leaf.
    ProveRecord {
        /// The transaction.
        id: settlenet_types::TxId,
        /// The records its block wrote.
        block_records: Vec<(settlenet_types::TxId, settlenet_ledger::TxRecord)>,
        /// The block's leaf in the history accumulator.
        leaf: u64,
        /// (executed height, its state root, the proof; `Ok(None)` if `id` is not among
        /// `block_records` or a history node is not held; `Err` if reading one failed).
        #[allow(clippy::type_complexity)]
        reply: oneshot::Sender<(
            Height,
            Hash,
            Result<Option<settlenet_ledger::ArchivedRecordProof>, String>,
        )>,
    },
    /// What the settlement read API needs from the ledger's derived state for one currency.
    SettlementSummary {
        /// The currency.
        currency: settlenet_types::Currency,
        /// The answer.
        reply: oneshot::Sender<SettlementSummary>,
    },
    /// The active observer nodes (the ledger's observer index), by peer id.
    Observers {
        /// At most `OBSERVERS_MAX` of them.
        reply: oneshot::Sender<Vec<settlenet_ledger::ObserverDetail>>,
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

/// Everything the core needs to start.
pub struct CoreParts {
    /// The machine, at the store's state.
    pub machine: MachineParts,
    /// The store.
    pub store: Arc<Store>,
    /// Network handle.
    pub net: NetHandle,
    /// Network events, through the gate (decoded, signatures checked).
    pub net_rx: mpsc::Receiver<crate::gate::Gated>,
    /// API commands.
    pub api_rx: mpsc::Receiver<ApiCommand>,
    /// Shared status.
    pub shared: Arc<Shared>,
    /// Key of the next consensus WAL entry.
    pub wal_next: u64,
    /// Shutdown signal.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// The core's own API sender: a validator admits an observer's forwarded transactions
    /// through the same command as its API's, after checking their signatures.
    pub api_tx: mpsc::Sender<ApiCommand>,
    /// Observers this validator admits by its own config (`[p2p] observers`).
    pub config_observers: Vec<PeerId>,
    /// Where store checkpoints for serving snapshots go (`<data_dir>/checkpoints`).
    pub checkpoints_dir: std::path::PathBuf,
    /// Most accounts the ledger keeps cached (`[storage] account_cache`).
    pub account_cache: usize,
}

/// The memtables start flushing in the background this many blocks before a snapshot height,
/// so that the store checkpoint taken at the height (on the event loop, which waits for any
/// flush still running) has little to flush. Measured: 8 blocks (0.25 s at 3,000 transfers/s)
/// left the background flush unfinished and every checkpoint stalled consensus for seconds.
const PRE_FLUSH_BLOCKS: u64 = 64;

/// Bound on machine events waiting from tasks (job results, peers' answers, fetches).
const INTERNAL_MAX: usize = 1024;
/// An observer remembers this many forwarded, not yet committed transaction ids (to answer
/// "pending" for them); the oldest are forgotten first.
pub const FORWARDED_MAX: usize = 100_000;
/// ... and forgets one after this long without its commit (the validator may have dropped it).
pub const FORWARDED_TTL_MS: u64 = 10 * 60 * 1000;

/// The observers members registered on the ledger (peer ids that do not parse are skipped:
/// the ledger checks their form, not that libp2p accepts them).
fn registered_observers(ledger: &settlenet_ledger::Ledger) -> Vec<PeerId> {
    ledger
        .observers()
        .filter_map(|o| o.peer_id.parse::<PeerId>().ok())
        .collect()
}

/// Whether an operation changes the registered observers.
fn changes_observers(op: &settlenet_types::Operation) -> bool {
    matches!(
        op,
        settlenet_types::Operation::RegisterObserver { .. }
            | settlenet_types::Operation::RemoveObserver { .. }
    )
}

/// The core actor.
pub struct Core {
    machine: NodeMachine,
    /// The store as the ledger reads accounts from it, and the cache's capacity.
    account_store: Arc<dyn settlenet_ledger::AccountStore>,
    account_cache: usize,
    genesis: Arc<Genesis>,
    store: Arc<Store>,
    net: NetHandle,
    net_rx: mpsc::Receiver<crate::gate::Gated>,
    api_rx: mpsc::Receiver<ApiCommand>,
    shared: Arc<Shared>,
    /// Validator peer ids by replica index, and back.
    peers: Vec<PeerId>,
    peer_index: HashMap<PeerId, ReplicaId>,
    internal_tx: mpsc::Sender<Event>,
    internal_rx: mpsc::Receiver<Event>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// Key of the next consensus WAL entry (big-endian, so keys sort in write order).
    wal_next: u64,
    /// What the last published status showed, to publish only when it changes.
    published: Option<StatusKey>,
    /// A retention prune is running on a blocking thread.
    pruning: Arc<std::sync::atomic::AtomicBool>,
    /// See [`CoreParts::api_tx`].
    api_tx: mpsc::Sender<ApiCommand>,
    /// See [`CoreParts::config_observers`].
    config_observers: Vec<PeerId>,
    /// Observers admitted now (config and ledger), as last given to the network.
    admitted: std::collections::BTreeSet<PeerId>,
    /// Observer: transactions forwarded to a validator and not yet seen committed, with the
    /// time they were forwarded (bounded by [`FORWARDED_MAX`] and [`FORWARDED_TTL_MS`]).
    forwarded: std::collections::BTreeMap<settlenet_types::TxId, u64>,
    /// Observer: round robin over connected validators for forwarding.
    forward_rr: usize,
    /// Store checkpoints for serving snapshots.
    checkpoints: checkpoints::Checkpoints,
    /// `[sync] snapshot_interval_blocks`.
    snapshot_interval: u64,
}

/// The parts of the status that change: (height, view, stable checkpoint, peers, mempool,
/// base height, first full block held).
type StatusKey = (
    Height,
    settlenet_types::View,
    Height,
    usize,
    usize,
    Height,
    Height,
);

impl Core {
    /// Build the core.
    pub fn new(p: CoreParts) -> Result<Core, NodeError> {
        let genesis = p.machine.genesis.clone();
        let mut peers = Vec::new();
        let mut peer_index = HashMap::new();
        for v in &genesis.validators {
            let peer: PeerId = v.peer_id.parse().map_err(|e| {
                NodeError::Config(format!("genesis validator {} peer id: {e}", v.name))
            })?;
            peer_index.insert(peer, v.id);
            peers.push(peer);
        }
        let (internal_tx, internal_rx) = mpsc::channel(INTERNAL_MAX);
        let genesis_hash = genesis
            .hash()
            .map_err(|e| NodeError::Config(format!("genesis hash: {e}")))?;
        let checkpoints = checkpoints::Checkpoints::new(
            p.checkpoints_dir,
            genesis_hash,
            p.shared.checkpoint_readers.clone(),
        );
        let snapshot_interval = p.machine.sync.snapshot_interval_blocks;
        let account_store: Arc<dyn settlenet_ledger::AccountStore> =
            Arc::new(crate::store_accounts::StoreAccounts(p.store.clone()));
        let mut core = Core {
            machine: NodeMachine::new(p.machine),
            account_store,
            account_cache: p.account_cache,
            genesis,
            store: p.store,
            net: p.net,
            net_rx: p.net_rx,
            api_rx: p.api_rx,
            shared: p.shared,
            peers,
            peer_index,
            internal_tx,
            internal_rx,
            shutdown: p.shutdown,
            wal_next: p.wal_next,
            published: None,
            pruning: Arc::default(),
            api_tx: p.api_tx,
            config_observers: p.config_observers,
            admitted: Default::default(),
            forwarded: Default::default(),
            forward_rr: 0,
            checkpoints,
            snapshot_interval,
        };
        // The store holds the state the machine starts from: the ledger reads accounts from it
        // now, and frees those it held.
        core.machine
            .persisted(&core.account_store, core.account_cache);
        core.refresh_observers();
        Ok(core)
    }

    /// Admit the observers of the config and of the ledger (validators only); tell the
    /// network when the set changed (it closes removed observers' connections).
    fn refresh_observers(&mut self) {
        if self.machine.is_observer() {
            return;
        }
        let mut set: std::collections::BTreeSet<PeerId> =
            self.config_observers.iter().copied().collect();
        set.extend(registered_observers(self.machine.ledger()));
        if set == self.admitted {
            return;
        }
        info!(observers = set.len(), "admitted observers changed");
        self.admitted = set.clone();
        let net = self.net.clone();
        tokio::spawn(async move { net.set_observers(set.into_iter().collect()).await });
    }

    fn name_of(&self, r: ReplicaId) -> String {
        self.genesis
            .validators
            .get(usize::from(r.0))
            .map(|v| v.name.clone())
            .unwrap_or_else(|| format!("replica{}", r.0))
    }

    /// Publish the status for the API if it changed since the last time.
    fn publish_status(&mut self) {
        let m = &self.machine;
        let replica = m.replica();
        let stable = replica.map_or(Height(0), |r| r.stable_checkpoint());
        let key = (
            m.ledger().height(),
            m.view(),
            stable,
            m.connected().len(),
            m.mempool_len(),
            m.base_height(),
            m.blocks_from(),
        );
        if self.published == Some(key) {
            return;
        }
        self.published = Some(key);
        self.shared.set_status(StatusSnapshot {
            height: m.ledger().height(),
            last_block_hash: m.last_hash(),
            state_root: m.ledger().state_root(),
            last_block_time_ms: m.last_block_time_ms(),
            view: m.view(),
            stable_checkpoint: stable,
            primary: replica
                .map(|r| self.name_of(r.primary()))
                .unwrap_or_default(),
            peers: m.connected().iter().map(|r| self.name_of(*r)).collect(),
            mempool: m.mempool_len(),
            base_height: m.base_height(),
            blocks_from: m.blocks_from(),
            ledger_accounts: m.ledger().account_count(),
            account_cache: m.ledger().account_cache_stats(),
            ledger_live_records: m.ledger().record_count(),
        });
    }

    /// Run until shutdown or a fatal error (a failed store write stops the node: it must not go
    /// on with a state it cannot persist).
    pub async fn run(mut self) -> Result<(), NodeError> {
        self.publish_status();
        loop {
            // A due wake-up goes first: a steady flow of messages (from a busy or a hostile
            // peer) must not keep the view timers and block cutting waiting.
            let now = now_ms();
            let wake_at = self.machine.next_wake_ms();
            if now >= wake_at {
                self.handle(Event::Wake)?;
                continue;
            }
            let wake = tokio::time::sleep(Duration::from_millis(wake_at - now));
            tokio::select! {
                biased;
                _ = self.shutdown.changed() => {
                    info!("core: shutting down at height {}", self.machine.ledger().height());
                    self.store.flush().map_err(|e| NodeError::fatal("flushing the store on shutdown", e))?;
                    return Ok(());
                }
                Some(ev) = self.internal_rx.recv() => self.handle(ev)?,
                Some(ev) = self.net_rx.recv() => self.on_net(ev)?,
                Some(cmd) = self.api_rx.recv() => self.on_api(cmd)?,
                _ = wake => self.handle(Event::Wake)?,
                else => return Err(NodeError::Fatal("all core inputs closed".into())),
            }
        }
    }

    /// One event through the machine, then its effects.
    fn handle(&mut self, event: Event) -> Result<(), NodeError> {
        let prepared = matches!(event, Event::SnapshotPrepared { .. });
        let mut out = Vec::new();
        self.machine.handle(now_ms(), event, &mut out);
        self.carry_out(out)?;
        if prepared {
            // A newly served snapshot can retire an older one: delete its checkpoint.
            self.checkpoints
                .retain(&self.machine.snapshot_heights_in_use());
        }
        Ok(())
    }

    // ---- inputs ----

    fn on_net(&mut self, ev: crate::gate::Gated) -> Result<(), NodeError> {
        let ev = match ev {
            crate::gate::Gated::Wire { from, wire, permit } => {
                let result = self.handle(Event::Wire { from, wire });
                drop(permit);
                return result;
            }
            crate::gate::Gated::Net(ev) => ev,
        };
        match ev {
            NetEvent::Message { .. } => {
                // The gate turns every message into `Gated::Wire` or drops it.
                Counters::inc(&self.shared.counters.messages_dropped);
            }
            NetEvent::Request { from, bytes, reply } => {
                let response =
                    if !self.peer_index.contains_key(&from) && !self.admitted.contains(&from) {
                        Counters::inc(&self.shared.counters.messages_dropped);
                        Response::Error("not a validator or an admitted observer".into())
                    } else {
                        match settlenet_types::decode::<Request>("request", &bytes) {
                            Ok(Request::Submit(txs)) => return self.serve_submit(from, txs, reply),
                            Ok(request) => match self.machine.answer(now_ms(), request) {
                                Answer::SnapshotChunk(read) => {
                                    self.checkpoints.read_chunk(read, reply);
                                    return Ok(());
                                }
                                answer => self.serve_request(answer),
                            },
                            Err(e) => crate::wire::unsupported_request(&e.to_string()),
                        }
                    };
                let bytes = encode("response", &response).unwrap_or_default();
                reply.send(bytes);
            }
            NetEvent::PeerConnected(peer) => {
                if let Some(&r) = self.peer_index.get(&peer) {
                    info!(peer = %self.name_of(r), "validator connected");
                    self.handle(Event::PeerConnected(r))?;
                }
            }
            NetEvent::PeerDisconnected(peer) => {
                if let Some(&r) = self.peer_index.get(&peer) {
                    info!(peer = %self.name_of(r), "validator disconnected");
                    self.handle(Event::PeerDisconnected(r))?;
                }
            }
            NetEvent::Refused { peer, addr } => {
                Counters::inc(&self.shared.counters.peers_refused);
                warn!(%peer, ?addr, "refused connection from a peer not in the genesis");
            }
        }
        Ok(())
    }

    /// An observer forwards its clients' transactions: check every signature here (never
    /// trust the observer), admit the good ones as our API would, answer one outcome each.
    fn serve_submit(
        &mut self,
        from: PeerId,
        txs: Vec<settlenet_types::SignedTransaction>,
        reply: settlenet_net::Responder,
    ) -> Result<(), NodeError> {
        let refuse = |reply: settlenet_net::Responder, why: String| {
            reply.send(encode("response", &Response::Error(why)).unwrap_or_default());
        };
        if self.machine.is_observer() {
            refuse(reply, "an observer admits no transaction from peers".into());
            return Ok(());
        }
        if txs.len() > crate::wire::SUBMIT_MAX_TXS {
            Counters::inc(&self.shared.counters.messages_dropped);
            refuse(
                reply,
                format!(
                    "{} transactions in one submission; the limit is {}",
                    txs.len(),
                    crate::wire::SUBMIT_MAX_TXS
                ),
            );
            return Ok(());
        }
        debug!(%from, txs = txs.len(), "transactions forwarded by an observer");
        let api = self.api_tx.clone();
        tokio::spawn(async move {
            let checked = tokio::task::spawn_blocking(move || {
                let all_good = settlenet_crypto::verify_transactions(&txs).is_ok();
                txs.into_iter()
                    .map(|tx| {
                        let ok = all_good
                            || tx.tx.signing_message().is_ok_and(|m| {
                                settlenet_crypto::verify(&tx.tx.signer, &m, &tx.signature).is_ok()
                            });
                        (tx, ok)
                    })
                    .collect::<Vec<_>>()
            })
            .await;
            let Ok(checked) = checked else {
                return refuse(reply, "signature check failed to run".into());
            };
            let good: Vec<_> = checked
                .iter()
                .filter(|(_, ok)| *ok)
                .map(|(t, _)| t.clone())
                .collect();
            let (tx, rx) = oneshot::channel();
            if api
                .send(ApiCommand::Submit {
                    txs: good,
                    reply: tx,
                })
                .await
                .is_err()
            {
                return refuse(reply, "node is shutting down".into());
            }
            let Ok(admitted) = rx.await else {
                return refuse(reply, "node is shutting down".into());
            };
            let mut admitted = admitted.into_iter();
            let outcomes = checked
                .iter()
                .map(|(t, ok)| match ok {
                    true => admitted.next().unwrap_or(SubmitOutcome::Busy),
                    false => SubmitOutcome::Refused {
                        code: "invalid_signature".into(),
                        message: format!(
                            "transaction {} does not carry a valid signature of its signer {}",
                            t.tx.id, t.tx.signer
                        ),
                    },
                })
                .collect();
            reply.send(encode("response", &Response::Submitted(outcomes)).unwrap_or_default());
        });
        Ok(())
    }

    /// Observer: forward an API submission to a connected validator (round robin), and
    /// relay its outcomes; another validator is tried once if the first cannot answer.
    fn forward(
        &mut self,
        txs: Vec<settlenet_types::SignedTransaction>,
        reply: oneshot::Sender<Vec<SubmitOutcome>>,
    ) {
        let candidates: Vec<PeerId> = self
            .machine
            .connected()
            .iter()
            .filter_map(|r| self.peers.get(usize::from(r.0)).copied())
            .collect();
        let n = txs.len();
        if candidates.is_empty() {
            let _ = reply.send(vec![
                SubmitOutcome::Unavailable {
                    message: "this observer is connected to no validator; retry later".into(),
                };
                n
            ]);
            return;
        }
        let now = now_ms();
        self.forwarded
            .retain(|_, at| now.saturating_sub(*at) < FORWARDED_TTL_MS);
        let first = self.forward_rr % candidates.len();
        self.forward_rr = self.forward_rr.wrapping_add(1);
        let order: Vec<PeerId> = (0..candidates.len().min(2))
            .map(|k| candidates[(first + k) % candidates.len()])
            .collect();
        let ids: Vec<settlenet_types::TxId> = txs.iter().map(|t| t.tx.id).collect();
        let net = self.net.clone();
        let bytes = match encode("request", &Request::Submit(txs)) {
            Ok(b) => b,
            Err(e) => {
                let _ = reply.send(vec![
                    SubmitOutcome::Unavailable {
                        message: format!("cannot encode the submission: {e}")
                    };
                    n
                ]);
                return;
            }
        };
        for id in &ids {
            if self.forwarded.len() >= FORWARDED_MAX {
                self.forwarded.pop_first();
            }
            self.forwarded.insert(*id, now);
        }
        tokio::spawn(async move {
            let mut last = String::new();
            for peer in order {
                match net.request(peer, bytes.clone()).await {
                    Ok(answer) => match settlenet_types::decode::<Response>("response", &answer) {
                        Ok(Response::Submitted(outcomes)) if outcomes.len() == n => {
                            let _ = reply.send(outcomes);
                            return;
                        }
                        Ok(Response::Error(e)) => last = format!("validator {peer}: {e}"),
                        Ok(_) => last = format!("validator {peer}: unexpected answer"),
                        Err(e) => last = format!("validator {peer}: undecodable answer: {e}"),
                    },
                    Err(e) => last = format!("validator {peer}: {e}"),
                }
                warn!("forwarding a submission failed: {last}");
            }
            let _ = reply.send(vec![
                SubmitOutcome::Unavailable {
                    message: format!("no validator took the submission ({last}); retry later"),
                };
                n
            ]);
        });
    }

    /// The response to a request the machine answered (a snapshot chunk excepted: read off
    /// the event loop, [`checkpoints::Checkpoints::read_chunk`]).
    fn serve_request(&mut self, answer: Answer) -> Response {
        match answer {
            Answer::Ready(response) => response,
            Answer::SnapshotChunk(read) => Response::Error(format!(
                "snapshot chunk {} at height {} is read elsewhere",
                read.index, read.height
            )),
            Answer::Blocks {
                from,
                upto,
                max,
                max_bytes,
            } => {
                let mut out = Vec::new();
                let mut bytes = 0usize;
                let mut h = from;
                while out.len() < max as usize && h <= upto {
                    match self.store.block(h) {
                        Ok(Some(b)) => {
                            let size = settlenet_types::encoded_len("stored block", &b)
                                .unwrap_or(usize::MAX);
                            if !Answer::take_block(out.len(), bytes, size, max_bytes) {
                                break;
                            }
                            bytes = bytes.saturating_add(size);
                            out.push(b);
                        }
                        Ok(None) => break,
                        Err(e) => return Response::Error(format!("reading block {h}: {e}")),
                    }
                    h = h.next();
                }
                Response::Blocks(out)
            }
        }
    }

    fn on_api(&mut self, cmd: ApiCommand) -> Result<(), NodeError> {
        let ledger = self.machine.ledger();
        match cmd {
            ApiCommand::Submit { txs, reply } if self.machine.is_observer() => {
                self.forward(txs, reply);
            }
            ApiCommand::Submit { txs, reply } => {
                let mut out = Vec::new();
                let outcomes = self.machine.submit(now_ms(), txs, &mut out);
                self.carry_out(out)?;
                let _ = reply.send(outcomes);
            }
            ApiCommand::IsPending { id, reply } => {
                let pending = self.machine.is_pending(&id)
                    || (self.forwarded.contains_key(&id) && ledger.record(&id).is_none());
                let _ = reply.send(pending);
            }
            ApiCommand::WalletByAlias {
                alias,
                currency,
                reply,
            } => {
                let _ = reply.send(ledger.wallet_by_alias(&alias, currency).map(|a| a.id));
            }
            ApiCommand::AccountsByOwner {
                owner,
                limit,
                reply,
            } => {
                let ids = ledger
                    .accounts_owned_by(&owner, limit)
                    .iter()
                    .map(|a| a.id)
                    .collect();
                let _ = reply.send(ids);
            }
            ApiCommand::ProveMany { accounts, reply } => {
                let proofs = accounts.iter().map(|a| ledger.prove(a)).collect();
                let _ = reply.send((ledger.height(), ledger.state_root(), proofs));
            }
            ApiCommand::ProveRecord {
                id,
                block_records,
                leaf,
                reply,
            } => {
                // About two history nodes per level (at most 64 levels), read from the store.
                let mut failed = None;
                let proof = ledger.prove_archived_record(&id, &block_records, leaf, |level, i| {
                    self.store.history_node(level, i).unwrap_or_else(|e| {
                        failed = Some(format!("reading history node ({level}, {i}): {e}"));
                        None
                    })
                });
                let proof = match failed {
                    Some(e) => Err(e),
                    None => Ok(proof),
                };
                let _ = reply.send((ledger.height(), ledger.state_root(), proof));
            }
            ApiCommand::SettlementSummary { currency, reply } => {
                let members = ledger
                    .members()
                    .iter()
                    .map(|m| {
                        (
                            m.id,
                            ledger.net_debit_cap(m.id, currency),
                            ledger.unsettled_net(m.id, currency),
                        )
                    })
                    .collect();
                let _ = reply.send(SettlementSummary {
                    open_window: ledger.open_window(currency),
                    staging_batch: ledger.staging_batch_of(currency),
                    members,
                });
            }
            ApiCommand::Observers { reply } => {
                let _ = reply.send(ledger.observers().cloned().collect());
            }
        }
        // A read of the store this request made failed: the answer treated the account as
        // absent, and the store cannot be trusted. Stop now rather than at the next block.
        if let Some(failure) = self.machine.ledger().store_read_failure() {
            return Err(NodeError::Fatal(format!(
                "the ledger could not read its state from the store while answering an API \
                 request ({failure}). Check the disk and the data directory (`settlenet node \
                 store` reports it); if the store is corrupt, move the data directory away and \
                 let the node sync from its peers"
            )));
        }
        Ok(())
    }

    // ---- effects ----

    /// Carry out effects in order; a failed store write is fatal.
    fn carry_out(&mut self, effects: Vec<Effect>) -> Result<(), NodeError> {
        let mut observers_changed = false;
        let mut checkpoints_changed = false;
        for effect in effects {
            match effect {
                Effect::Send { to, wire } => self.send(to, &wire),
                Effect::Request { to, request } => self.request(to, request),
                Effect::PersistWal(entry) => {
                    let bytes = encode("consensus WAL entry", &entry)?;
                    self.store
                        .wal_put(&self.wal_next.to_be_bytes(), &bytes)
                        .map_err(|e| NodeError::fatal("cannot write the consensus WAL", e))?;
                    self.wal_next += 1;
                }
                Effect::CommitBlock(commit) => {
                    self.commit_block(&commit)?;
                    let interval = self.snapshot_interval;
                    let h = commit.stored.block.header.height.0;
                    if interval > 2 * PRE_FLUSH_BLOCKS
                        && (h + PRE_FLUSH_BLOCKS).is_multiple_of(interval)
                    {
                        checkpoints::Checkpoints::before_capture(&self.store);
                    }
                    if !self.forwarded.is_empty() {
                        for t in &commit.stored.block.txs {
                            self.forwarded.remove(&t.tx.id);
                        }
                    }
                    if commit
                        .stored
                        .block
                        .txs
                        .iter()
                        .any(|t| changes_observers(&t.tx.op))
                    {
                        observers_changed = true;
                    }
                }
                Effect::StableCheckpoint { height, .. } => self.truncate_wal(height)?,
                Effect::CaptureSnapshot { height } => {
                    self.checkpoints.capture(&self.store, height);
                    checkpoints_changed = true;
                }
                Effect::PrepareSnapshot(prepare) => {
                    self.checkpoints.prepare(prepare, self.internal_tx.clone());
                }
                Effect::InstallSnapshot(install) => {
                    self.install_snapshot(&install)?;
                    observers_changed = true;
                }
                Effect::Evidence(record) => self.keep_evidence(&record)?,
                Effect::SafetyViolation(violation) => {
                    let bytes = serde_json::to_vec_pretty(&*violation).map_err(|e| {
                        NodeError::fatal("cannot encode the safety-violation record", e)
                    })?;
                    self.store.safety_put(&bytes).map_err(|e| {
                        NodeError::fatal("cannot keep the safety-violation record", e)
                    })?;
                    return Err(NodeError::Fatal(format!(
                        "SAFETY VIOLATION: block {} executed here and block {} are both \
                         certified at height {}: more than f validators are faulty. The record \
                         (with the other block's commit certificate) is kept in the store's meta \
                         family under `safety_violation`; do not restart this node before the \
                         consortium has investigated",
                        violation.ours, violation.theirs.block_hash, violation.height
                    )));
                }
                Effect::StoreReadFailed(failure) => {
                    return Err(NodeError::Fatal(format!(
                        "the ledger could not read its state from the store ({failure}); \
                         nothing of that block was persisted or voted on. Check the disk and \
                         the data directory (`settlenet node store` reports it); if the store is \
                         corrupt, move the data directory away and let the node sync from its \
                         peers"
                    )));
                }
                Effect::Spawn(job) => self.spawn_job(job),
                Effect::FetchSnapshot(plan) => {
                    let peers = plan
                        .peers
                        .iter()
                        .filter_map(|r| self.peers.get(usize::from(r.0)).map(|p| (*r, *p)))
                        .collect();
                    let task = fetch::fetch(
                        plan,
                        self.genesis.clone(),
                        self.net.clone(),
                        peers,
                        self.shared.clone(),
                    );
                    let internal = self.internal_tx.clone();
                    tokio::spawn(async move {
                        let result = task.await;
                        let _ = internal.send(Event::SnapshotFetched(result)).await;
                    });
                }
            }
        }
        // Every block executed so far is written: the ledger may forget what it wrote.
        self.machine
            .persisted(&self.account_store, self.account_cache);
        if observers_changed {
            self.refresh_observers();
        }
        if checkpoints_changed {
            self.checkpoints
                .retain(&self.machine.snapshot_heights_in_use());
        }
        let c = self.machine.take_counters();
        let s = &self.shared.counters;
        Counters::add(&s.txs_submitted, c.txs_submitted);
        Counters::add(&s.txs_committed, c.txs_committed);
        Counters::add(&s.blocks_committed, c.blocks_committed);
        Counters::add(&s.blocks_synced, c.blocks_synced);
        Counters::add(&s.messages_dropped, c.messages_dropped);
        Counters::add(&s.proposals_refused, c.proposals_refused);
        Counters::add(&s.evidence, c.evidence);
        Counters::add(&s.snapshots_installed, c.snapshots_installed);
        Counters::add(&s.snapshot_chunks_served, c.snapshot_chunks_served);
        self.publish_status();
        Ok(())
    }

    fn send(&self, to: Option<ReplicaId>, wire: &Wire) {
        let bytes = match encode("wire message", wire) {
            Ok(b) => b,
            Err(e) => {
                error!("cannot encode a wire message: {e}");
                return;
            }
        };
        let peer = match to {
            None => None,
            Some(r) => match self.peers.get(usize::from(r.0)) {
                Some(p) => Some(*p),
                None => return,
            },
        };
        // Hand bytes to the network task without waiting; if its queue is momentarily full,
        // wait for room on a separate task rather than drop a consensus message.
        let result = match peer {
            None => self.net.try_broadcast(bytes.clone()),
            Some(p) => self.net.try_send(p, bytes.clone()),
        };
        if let Err(settlenet_net::NetError::QueueFull) = result {
            let net = self.net.clone();
            tokio::spawn(async move {
                match peer {
                    None => net.broadcast(bytes).await,
                    Some(p) => net.send(p, bytes).await,
                }
            });
        }
    }

    /// Ask a peer; the answer (or the failure) comes back as an event.
    fn request(&self, to: ReplicaId, request: Request) {
        let Some(peer) = self.peers.get(usize::from(to.0)).copied() else {
            return;
        };
        let net = self.net.clone();
        let internal = self.internal_tx.clone();
        tokio::spawn(async move {
            let result = match encode("request", &request) {
                Ok(bytes) => match net.request(peer, bytes).await {
                    Ok(answer) => settlenet_types::decode::<Response>("response", &answer)
                        .map_err(|e| format!("undecodable answer: {e}")),
                    Err(e) => Err(format!("request failed: {e}")),
                },
                Err(e) => Err(e.to_string()),
            };
            let _ = internal
                .send(Event::Answer {
                    from: to,
                    request,
                    result,
                })
                .await;
        });
    }

    fn spawn_job(&self, job: Job) {
        let internal = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let result = job.run(&StrictTxVerifier);
            let _ = internal.blocking_send(Event::JobDone(result));
        });
    }

    /// One write batch: the block, its certificate, the tx index, the changed accounts, the
    /// new records (archive and live set), the pruned ids, the history accumulator's nodes and
    /// state, the account history, the new height and root.
    fn commit_block(&self, c: &BlockCommit) -> Result<(), NodeError> {
        let height = c.stored.block.header.height;
        let accounts = c
            .changed_accounts
            .iter()
            .map(|a| Ok((a.id, encode("account", a)?)))
            .collect::<Result<Vec<_>, NodeError>>()?;
        let records = c
            .new_records
            .iter()
            .map(|(id, r)| Ok((*id, encode("tx record", r)?)))
            .collect::<Result<Vec<_>, NodeError>>()?;
        let archived = c
            .archived
            .iter()
            .map(|a| Ok((a.id, encode("account", a)?)))
            .collect::<Result<Vec<_>, NodeError>>()?;
        let history = c.history();
        let nodes: Vec<(u8, u64, settlenet_types::Hash)> = c
            .history_nodes
            .iter()
            .map(|n| (n.level, n.index, n.hash))
            .collect();
        let ledger_history = encode("ledger history", &c.history)?;
        let recorded_here: Vec<bool> = c
            .stored
            .block
            .txs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                c.new_records
                    .binary_search_by_key(&(i as u32), |(_, r)| r.index)
                    .is_ok_and(|k| c.new_records[k].0 == t.tx.id)
            })
            .collect();
        self.store
            .commit_block(BlockWrite {
                block: &c.stored,
                accounts: &accounts,
                records: &records,
                history: &history,
                expired: &c.expired,
                archived: &archived,
                recorded_here: &recorded_here,
                pruned: &c.pruned_records,
                history_nodes: &nodes,
                ledger_history: &ledger_history,
            })
            .map_err(|e| NodeError::fatal(format!("cannot persist block {height}"), e))?;
        // After the write: a stream woken by this height finds the block in the store.
        self.shared.committed.send_replace(height);
        if let Some(below) = c.prune_below {
            self.prune_in_background(below);
        }
        debug!(%height, hash = %c.stored.hash, "stored");
        Ok(())
    }

    /// Retention: drop the bodies of the blocks below `below` on a blocking thread, at most
    /// one prune at a time (if one is still running, the next step covers this range too). The
    /// machine no longer serves these blocks; a failed prune loses nothing (the blocks stay
    /// until the next step or restart).
    fn prune_in_background(&self, below: Height) {
        if self.pruning.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        let store = self.store.clone();
        let pruning = self.pruning.clone();
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            match store.prune_blocks(below) {
                Ok(from) => debug!(
                    %from,
                    ms = started.elapsed().as_millis() as u64,
                    "retention: pruned old block bodies"
                ),
                Err(e) => warn!(%below, "retention: pruning old block bodies failed: {e}"),
            }
            pruning.store(false, std::sync::atomic::Ordering::Release);
        });
    }

    /// The WAL entries in write order, decoded (an undecodable one is kept, never dropped).
    fn wal_decoded(&self) -> Result<Vec<(Vec<u8>, settlenet_consensus::WalEntry)>, NodeError> {
        Ok(self
            .store
            .wal_entries()
            .map_err(|e| NodeError::fatal("cannot read the consensus WAL", e))?
            .into_iter()
            .filter_map(|(key, bytes)| {
                settlenet_types::decode("consensus WAL entry", &bytes)
                    .ok()
                    .map(|e| (key, e))
            })
            .collect())
    }

    /// Drop the WAL entries a stable checkpoint at `height` makes unnecessary.
    fn truncate_wal(&self, height: Height) -> Result<(), NodeError> {
        let entries = self.wal_decoded()?;
        for k in wal::obsolete_at_checkpoint(entries.iter().map(|(_, e)| e), height) {
            self.store
                .wal_delete(&entries[k].0)
                .map_err(|e| NodeError::fatal("cannot truncate the consensus WAL", e))?;
        }
        Ok(())
    }

    fn install_snapshot(&self, s: &SnapshotInstall) -> Result<(), NodeError> {
        let height = s.height();
        let entries = self.wal_decoded()?;
        let wal_delete: Vec<Vec<u8>> =
            wal::obsolete_below_snapshot(entries.iter().map(|(_, e)| e), height)
                .into_iter()
                .map(|k| entries[k].0.clone())
                .collect();
        let ledger_history = encode("ledger history", &s.history)?;
        self.store
            .install_snapshot(SnapshotWrite {
                block: &s.block,
                accounts: &s.accounts,
                records: &s.records,
                ledger_history: &ledger_history,
                wal_delete: &wal_delete,
            })
            .map_err(|e| {
                NodeError::fatal(format!("cannot install the snapshot at height {height}"), e)
            })?;
        self.shared.committed.send_replace(height);
        info!(%height, "state transfer: installed snapshot at height {height}");
        Ok(())
    }

    /// Count, log and store (synced, first report per conflict, bounded) a validator's two
    /// conflicting signed messages. A failed write stops the node like any other.
    fn keep_evidence(&self, record: &crate::evidence::EvidenceRecord) -> Result<(), NodeError> {
        warn!(
            validator = %self.name_of(record.validator),
            kind = kind_name(record.kind()),
            view = %record.view(),
            height = %record.height(),
            first = ?record.first.payload.block_hash().ok(),
            second = ?record.second.payload.block_hash().ok(),
            "EVIDENCE: conflicting signed messages from one validator"
        );
        let bytes = encode("evidence record", record)?;
        let put = self
            .store
            .evidence_put_quota(
                &record.key(),
                &bytes,
                crate::evidence::EVIDENCE_MAX,
                2,
                crate::evidence::EVIDENCE_PER_VALIDATOR_MAX,
            )
            .map_err(|e| NodeError::fatal("cannot write evidence", e))?;
        match put {
            EvidencePut::Stored => Counters::inc(&self.shared.counters.evidence_stored),
            EvidencePut::Duplicate => {}
            EvidencePut::Full => warn!(
                "evidence store is full ({} records): this report is not kept",
                crate::evidence::EVIDENCE_MAX
            ),
        }
        Ok(())
    }
}
