//! The node's configuration file (`config.toml` in the node's home directory).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything a validator needs besides its keys and the genesis. Paths are relative to the
/// home directory unless absolute.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Node name, for logs and status ("node0").
    pub name: String,
    /// The genesis file.
    #[serde(default = "default_genesis")]
    pub genesis: PathBuf,
    /// The validator (consensus) key file.
    #[serde(default = "default_validator_key")]
    pub validator_key: PathBuf,
    /// The libp2p network key file.
    #[serde(default = "default_network_key")]
    pub network_key: PathBuf,
    /// RocksDB directory.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Peer-to-peer settings.
    pub p2p: P2pConfig,
    /// HTTP API settings.
    pub api: ApiConfig,
    /// Mempool bounds.
    #[serde(default)]
    pub mempool: MempoolConfig,
    /// Local consensus-time checks.
    #[serde(default)]
    pub consensus: LocalConsensusConfig,
    /// State transfer (catch-up) settings.
    #[serde(default)]
    pub sync: SyncConfig,
}

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

/// Peer-to-peer settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pConfig {
    /// Multiaddr to listen on, e.g. "/ip4/0.0.0.0/tcp/26600".
    pub listen: String,
    /// Other validators: multiaddrs ending in `/p2p/<peer id>`.
    #[serde(default)]
    pub bootstrap: Vec<String>,
}

/// HTTP API settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Socket address to listen on, e.g. "127.0.0.1:26700".
    pub listen: String,
    /// Largest request body accepted (bytes).
    #[serde(default = "default_body_limit")]
    pub max_body_bytes: usize,
    /// Most transactions in one batch submission.
    #[serde(default = "default_batch_max")]
    pub max_batch_txs: usize,
}

/// Mempool bounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolConfig {
    /// Most pending transactions held; beyond it submissions get 503.
    pub max_txs: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig { max_txs: 200_000 }
    }
}

/// Local consensus-time checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConsensusConfig {
    /// A proposal stamped further than this into this node's future is refused.
    pub max_clock_skew_ms: u64,
}

impl Default for LocalConsensusConfig {
    fn default() -> Self {
        LocalConsensusConfig {
            max_clock_skew_ms: 2_000,
        }
    }
}

fn default_genesis() -> PathBuf {
    "genesis.json".into()
}
fn default_validator_key() -> PathBuf {
    "validator.key".into()
}
fn default_network_key() -> PathBuf {
    "network.key".into()
}
fn default_data_dir() -> PathBuf {
    "data".into()
}
fn default_body_limit() -> usize {
    16 * 1024 * 1024
}
fn default_batch_max() -> usize {
    10_000
}

impl NodeConfig {
    /// Read `home/config.toml`.
    pub fn load(home: &Path) -> anyhow::Result<NodeConfig> {
        use anyhow::Context;
        let path = home.join("config.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read node config {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid node config {}", path.display()))
    }

    /// Resolve a configured path against the home directory.
    pub fn resolve(home: &Path, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            home.join(p)
        }
    }
}
