//! State the core publishes for the HTTP API to read without asking it.

use serde::Serialize;
use settlenet_types::{Hash, Height, View};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// A snapshot of the node's position, refreshed after every commit and peer change.
#[derive(Debug, Clone, Serialize)]
pub struct StatusSnapshot {
    /// Committed (executed and stored) height.
    pub height: Height,
    /// Hash of the block at `height` (zero at genesis).
    pub last_block_hash: Hash,
    /// Ledger state root after `height`.
    pub state_root: Hash,
    /// Consensus timestamp of the block at `height` (ms).
    pub last_block_time_ms: u64,
    /// Current PBFT view.
    pub view: View,
    /// Height of the last stable checkpoint (0 before the first): the replica's low watermark.
    pub stable_checkpoint: Height,
    /// Name of the current primary.
    pub primary: String,
    /// Names of connected validator peers.
    pub peers: Vec<String>,
    /// Pending transactions.
    pub mempool: usize,
    /// The snapshot height this node's state was installed from (0 = grown from genesis); it
    /// holds no block below it.
    pub base_height: Height,
    /// The lowest height whose full block this node holds and serves (above `base_height` and
    /// what retention pruned).
    pub blocks_from: Height,
    /// Accounts in the ledger.
    pub ledger_accounts: u64,
    /// The ledger's account cache.
    pub account_cache: settlenet_ledger::AccountCacheStats,
    /// Live transaction records in the ledger.
    pub ledger_live_records: usize,
}

/// The read-only stores open on checkpoints, by height (the core opens and retires them; the
/// status reads what they hold).
pub type CheckpointReaders = std::sync::Arc<
    std::sync::Mutex<std::collections::HashMap<Height, std::sync::Arc<settlenet_storage::Store>>>,
>;

/// Monotonic counters (exposed under `counters` in `/v1/status`).
#[derive(Debug, Default)]
pub struct Counters {
    /// Transactions accepted into this node's mempool from its API.
    pub txs_submitted: AtomicU64,
    /// Transactions in blocks this node committed.
    pub txs_committed: AtomicU64,
    /// Blocks committed.
    pub blocks_committed: AtomicU64,
    /// Blocks installed by state transfer from peers.
    pub blocks_synced: AtomicU64,
    /// Peer messages dropped (undecodable, from non-validators, invalid signatures...).
    pub messages_dropped: AtomicU64,
    /// Connections refused because the peer is not a validator.
    pub peers_refused: AtomicU64,
    /// Proposals this node refused to prepare.
    pub proposals_refused: AtomicU64,
    /// Conflicting signed messages reported by the replica since this process started
    /// (equivocation evidence).
    pub evidence: AtomicU64,
    /// State snapshots installed from peers.
    pub snapshots_installed: AtomicU64,
    /// Snapshots refused (bad proof, certificate, chunk or root; or the peer had none).
    pub snapshots_refused: AtomicU64,
    /// Snapshot chunks served to peers.
    pub snapshot_chunks_served: AtomicU64,
    /// Evidence records in the store (`GET /v1/evidence`), across restarts.
    pub evidence_stored: AtomicU64,
    /// Consensus messages from validators whose signatures (their own or ones they carry)
    /// did not verify; dropped by the network gate before the consensus loop saw them.
    pub bad_signatures: AtomicU64,
    /// Validators banned for sending invalid signatures (`[p2p] ban_after_bad_signatures`).
    pub peers_banned: AtomicU64,
}

impl Counters {
    /// Add one.
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Set to n (a count loaded at start).
    pub fn set(c: &AtomicU64, n: u64) {
        c.store(n, Ordering::Relaxed);
    }

    /// Add n.
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Every counter by name, as `GET /v1/status` shows them.
    pub fn to_map(&self) -> std::collections::BTreeMap<String, u64> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("txs_submitted", g(&self.txs_submitted)),
            ("txs_committed", g(&self.txs_committed)),
            ("blocks_committed", g(&self.blocks_committed)),
            ("blocks_synced", g(&self.blocks_synced)),
            ("messages_dropped", g(&self.messages_dropped)),
            ("peers_refused", g(&self.peers_refused)),
            ("proposals_refused", g(&self.proposals_refused)),
            ("evidence", g(&self.evidence)),
            ("snapshots_installed", g(&self.snapshots_installed)),
            ("snapshots_refused", g(&self.snapshots_refused)),
            ("snapshot_chunks_served", g(&self.snapshot_chunks_served)),
            ("evidence_stored", g(&self.evidence_stored)),
            ("bad_signatures", g(&self.bad_signatures)),
            ("peers_banned", g(&self.peers_banned)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// What the core shares with the API.
pub struct Shared {
    /// Latest status.
    pub status: RwLock<StatusSnapshot>,
    /// Counters.
    pub counters: Counters,
    /// The network's own counters (`net_*` in `GET /v1/status`).
    pub net: settlenet_net::NetHandle,
    /// The committed height, set by the core right after it stored a block (or installed a
    /// snapshot): every block at or below it is in the store. Event streams
    /// (`GET /v1/events`) sleep on it and read the new blocks from the store themselves, so
    /// a `watch` (one value, never full) is enough: the core never waits for a reader, and a
    /// slow reader misses nothing.
    pub committed: tokio::sync::watch::Sender<Height>,
    /// The read-only stores open on checkpoints.
    pub checkpoint_readers: CheckpointReaders,
}

impl Shared {
    /// Every counter by name, the node's and the network's (`net_` prefixed), as
    /// `GET /v1/status` shows them.
    pub fn counters_map(&self) -> std::collections::BTreeMap<String, u64> {
        let mut map = self.counters.to_map();
        let n = self.net.stats();
        for (name, value) in [
            ("net_messages_received", n.messages_received),
            ("net_messages_sent", n.messages_sent),
            ("net_messages_dropped", n.messages_dropped),
            ("net_messages_held", n.messages_held),
            ("net_messages_refused", n.messages_refused),
            ("net_events_dropped", n.events_dropped),
            ("net_peers_refused", n.peers_refused),
            ("net_peers_banned", n.peers_banned),
        ] {
            map.insert(name.to_string(), value);
        }
        map
    }

    /// Read the status (a poisoned lock still yields the last value).
    pub fn status(&self) -> StatusSnapshot {
        match self.status.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replace the status.
    pub fn set_status(&self, s: StatusSnapshot) {
        match self.status.write() {
            Ok(mut g) => *g = s,
            Err(p) => *p.into_inner() = s,
        }
    }
}
