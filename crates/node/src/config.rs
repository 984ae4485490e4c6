//! The node's configuration file (`config.toml` in the node's home directory).

use serde::{Deserialize, Serialize};
pub use settlenet_machine::SyncConfig;
use std::path::{Path, PathBuf};

/// Everything a validator needs besides its keys and the genesis. Paths are relative to the
/// home directory unless absolute.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Node name, for logs and status ("node0").
    pub name: String,
    /// `validator` (votes; its key must be in the genesis) or `observer` (an integrator's node:
    /// syncs and checks every block, serves reads, forwards submissions, never votes).
    #[serde(default)]
    pub role: NodeRole,
    /// The genesis file.
    #[serde(default = "default_genesis")]
    pub genesis: PathBuf,
    /// The hash of the genesis this home was initialised with: the node refuses to start on a
    /// genesis with any other (compare it with `settlenet genesis show`).
    pub genesis_hash: settlenet_types::Hash,
    /// The validator (consensus) key file (validators only).
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
    /// The consortium phone-alias key (absent: `POST /v1/phone/alias` answers 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<PhoneConfig>,
    /// State transfer (catch-up) settings.
    #[serde(default)]
    pub sync: SyncConfig,
    /// The store's memory budget.
    #[serde(default)]
    pub storage: StorageConfig,
}

/// The store's memory: RocksDB's block cache and memtables, its two large configurable parts
/// (`memory` of `GET /v1/status` shows their use), each at least 8 MiB; and the ledger's
/// account cache in front of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Capacity of the block cache (data, index and filter blocks of every column family), MiB.
    #[serde(default = "default_block_cache_mb")]
    pub block_cache_mb: u32,
    /// Most memory all memtables hold together before the largest is flushed, MiB.
    #[serde(default = "default_memtables_mb")]
    pub memtables_mb: u32,
    /// Most accounts the ledger keeps cached in memory (clean copies of what the store holds;
    /// about 300 bytes each). At least 1,000.
    #[serde(default = "default_account_cache")]
    pub account_cache: u32,
}

fn default_account_cache() -> u32 {
    settlenet_ledger::ACCOUNT_CACHE_DEFAULT as u32
}

fn default_block_cache_mb() -> u32 {
    (settlenet_storage::BLOCK_CACHE_BYTES >> 20) as u32
}

fn default_memtables_mb() -> u32 {
    (settlenet_storage::MEMTABLES_MAX_BYTES >> 20) as u32
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            block_cache_mb: default_block_cache_mb(),
            memtables_mb: default_memtables_mb(),
            account_cache: default_account_cache(),
        }
    }
}

/// The smallest `[storage] account_cache` a node accepts, in accounts.
pub const ACCOUNT_CACHE_MIN: u32 = 1_000;

impl StorageConfig {
    /// Refuse an account cache below [`ACCOUNT_CACHE_MIN`] (the store's limits are checked
    /// when it opens).
    pub fn check(&self) -> Result<(), String> {
        if self.account_cache < ACCOUNT_CACHE_MIN {
            return Err(format!(
                "[storage] account_cache = {}: at least {ACCOUNT_CACHE_MIN} accounts (the \
                 default is {})",
                self.account_cache,
                settlenet_ledger::ACCOUNT_CACHE_DEFAULT
            ));
        }
        Ok(())
    }

    /// The store's limits in bytes.
    pub fn limits(&self) -> settlenet_storage::StoreMemoryLimits {
        settlenet_storage::StoreMemoryLimits {
            block_cache_bytes: (self.block_cache_mb as usize) << 20,
            memtables_bytes: (self.memtables_mb as usize) << 20,
        }
    }
}

/// What a node does in the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// A genesis validator: votes, proposes, executes.
    #[default]
    Validator,
    /// A non-voting node: syncs blocks from validators, checks every commit certificate
    /// against the genesis validator set itself, serves the read API and forwards submitted
    /// transactions to a validator.
    Observer,
}

/// Refuse a secret file (key) that its group or others may read: an operator must fix the
/// mode (chmod 600) before the node starts.
pub fn check_private_file(path: &Path, what: &str) -> crate::error::Result<()> {
    use crate::error::Context;
    let meta = std::fs::metadata(path).with_context(|| format!("{what} {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            crate::error::bail!(
                "{what} {} has mode {mode:03o}: a private key must be readable by its owner only \
                 (chmod 600 {})",
                path.display(),
                path.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    Ok(())
}

/// Where the consortium's phone-alias key lives. The key itself is never in this file, never on
/// the ledger, never logged and never returned by the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneConfig {
    /// A file holding the 32-byte key as 64 hex characters (mode 0600; group- or
    /// world-readable files are refused).
    pub key_file: PathBuf,
    /// The version of that key, carried next to every alias it computes (for rotation).
    pub key_version: u16,
    /// Country code for national numbers written with a trunk `0` (e.g. "250").
    pub default_country: String,
}

/// The loaded consortium phone key. `Debug` never shows the key.
#[derive(Clone)]
pub struct PhoneKey {
    key: [u8; PHONE_KEY_BYTES],
    /// The key's version.
    pub version: u16,
    /// Default country code for national numbers.
    pub default_country: String,
}

/// Length of the consortium phone key.
pub const PHONE_KEY_BYTES: usize = 32;

impl std::fmt::Debug for PhoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneKey")
            .field("key", &"<redacted>")
            .field("version", &self.version)
            .field("default_country", &self.default_country)
            .finish()
    }
}

impl PhoneKey {
    /// Read the key file named by `config` (relative paths against `home`). Refuses a file that
    /// is not exactly 64 hex characters (plus an optional newline) or that others can read.
    pub fn load(home: &Path, config: &PhoneConfig) -> crate::error::Result<PhoneKey> {
        use crate::error::{bail, Context};
        let path = NodeConfig::resolve(home, &config.key_file);
        check_private_file(&path, "[phone] key_file")?;
        let meta = std::fs::metadata(&path)
            .with_context(|| format!("[phone] key_file {}", path.display()))?;
        if meta.len() > 1024 {
            bail!(
                "[phone] key_file {} is not a key file (too large)",
                path.display()
            );
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("[phone] key_file {}", path.display()))?;
        let bytes = hex::decode(text.trim()).map_err(|_| {
            crate::error::config_err!(
                "[phone] key_file {} must hold {PHONE_KEY_BYTES} bytes as hex",
                path.display()
            )
        })?;
        let key: [u8; PHONE_KEY_BYTES] = bytes.try_into().map_err(|_| {
            crate::error::config_err!(
                "[phone] key_file {} must hold exactly {PHONE_KEY_BYTES} bytes as hex",
                path.display()
            )
        })?;
        // Check the default country once, here, rather than on every request.
        settlenet_types::phone::normalize_e164("+10000000000", &config.default_country)
            .with_context(|| format!("[phone] default_country {:?}", config.default_country))?;
        Ok(PhoneKey {
            key,
            version: config.key_version,
            default_country: config.default_country.clone(),
        })
    }

    /// The alias of a number as typed (any accepted spelling).
    pub fn alias(&self, phone: &str) -> Result<settlenet_types::Hash, settlenet_types::TypesError> {
        let e164 = settlenet_types::phone::normalize_e164(phone, &self.default_country)?;
        Ok(settlenet_types::phone::phone_alias(&self.key, &e164))
    }

    /// The key's bytes (for copying it into a new node home; never log them).
    pub fn key_bytes(&self) -> &[u8; PHONE_KEY_BYTES] {
        &self.key
    }

    /// A fresh random key.
    pub fn generate() -> [u8; PHONE_KEY_BYTES] {
        rand::random()
    }

    /// Write `key` as hex to `path` (mode 0600, never overwriting a file).
    pub fn write_file(path: &Path, key: &[u8; PHONE_KEY_BYTES]) -> crate::error::Result<()> {
        use crate::error::Context;
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.write_all(format!("{}\n", hex::encode(key)).as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Peer-to-peer settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pConfig {
    /// Multiaddr to listen on, e.g. "/ip4/0.0.0.0/tcp/26600".
    pub listen: String,
    /// Addresses other nodes reach this one at, if not `listen` (NAT, containers, DNS names),
    /// e.g. "/dns4/bank-a.example/tcp/26600".
    #[serde(default)]
    pub advertise: Vec<String>,
    /// Validators to dial: multiaddrs ending in `/p2p/<peer id>` (DNS names allowed:
    /// "/dns4/bank-a/tcp/26600/p2p/12D3KooW...").
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// Observers this validator admits on its own authority (peer ids), besides those members
    /// registered on the ledger (`settlenet observer register`).
    #[serde(default)]
    pub observers: Vec<String>,
    /// Messages per second each peer may hand this node; over it, its messages wait
    /// unacknowledged (its window fills and it slows down), then are refused.
    #[serde(default = "default_peer_messages_per_sec")]
    pub peer_messages_per_sec: u32,
    /// Bytes per second each peer may hand this node (same treatment).
    #[serde(default = "default_peer_bytes_per_sec")]
    pub peer_bytes_per_sec: u64,
    /// Invalid consensus signatures from one validator within a minute that get it banned
    /// (0: never ban).
    #[serde(default = "default_ban_after_bad_signatures")]
    pub ban_after_bad_signatures: u32,
    /// How long the first ban lasts (seconds); each further ban of the same peer doubles it,
    /// up to an hour.
    #[serde(default = "default_ban_secs")]
    pub ban_secs: u64,
}

/// Default `[p2p] peer_messages_per_sec`.
pub fn default_peer_messages_per_sec() -> u32 {
    settlenet_net::InboundQuota::default().messages_per_sec
}

/// Default `[p2p] peer_bytes_per_sec`.
pub fn default_peer_bytes_per_sec() -> u64 {
    settlenet_net::InboundQuota::default().bytes_per_sec
}

/// Default `[p2p] ban_after_bad_signatures`.
pub fn default_ban_after_bad_signatures() -> u32 {
    32
}

/// Default `[p2p] ban_secs`.
pub fn default_ban_secs() -> u64 {
    60
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
    /// Most concurrent `GET /v1/events` streams; beyond it the API answers 503.
    #[serde(default = "default_event_streams_max")]
    pub max_event_streams: usize,
    /// Requests per second one client (IP address; IPv6 by /64) may make; over it the API
    /// answers 429 with `Retry-After`. 0: no limit.
    #[serde(default = "default_rate_per_client")]
    pub rate_per_client: u32,
    /// Burst allowed above `rate_per_client` (requests).
    #[serde(default = "default_rate_burst")]
    pub rate_burst: u32,
    /// Batch submissions whose signatures are checked at once (0: one per CPU); a few more
    /// wait, the rest get 429.
    #[serde(default)]
    pub verify_threads: usize,
}

/// Default `[api] rate_per_client`.
pub fn default_rate_per_client() -> u32 {
    2_000
}

/// Default `[api] rate_burst`.
pub fn default_rate_burst() -> u32 {
    4_000
}

/// Mempool bounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolConfig {
    /// Most pending transactions held; beyond it submissions are refused as busy.
    pub max_txs: usize,
    /// Most encoded bytes of pending transactions held (default 256 MiB); beyond it
    /// submissions are refused as busy.
    #[serde(default = "default_mempool_max_bytes")]
    pub max_bytes: usize,
}

fn default_mempool_max_bytes() -> usize {
    256 * 1024 * 1024
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_txs: 200_000,
            max_bytes: default_mempool_max_bytes(),
        }
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
pub(crate) fn default_body_limit() -> usize {
    16 * 1024 * 1024
}
pub(crate) fn default_batch_max() -> usize {
    10_000
}

fn default_event_streams_max() -> usize {
    crate::api::events::EVENT_STREAMS_DEFAULT
}

impl NodeConfig {
    /// Read `home/config.toml`.
    pub fn load(home: &Path) -> crate::error::Result<NodeConfig> {
        use crate::error::Context;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_section_defaults_limits_and_refuses_unknown_keys() {
        let d = StorageConfig::default();
        assert_eq!((d.block_cache_mb, d.memtables_mb), (64, 128));
        assert_eq!(d.limits(), settlenet_storage::StoreMemoryLimits::default());
        let c: StorageConfig = toml::from_str("block_cache_mb = 256").expect("parse");
        assert_eq!(c.limits().block_cache_bytes, 256 << 20);
        assert_eq!(c.memtables_mb, 128);
        let err = toml::from_str::<StorageConfig>("block_cache = 256").expect_err("typo");
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = toml::from_str::<StorageConfig>("memtables_mb = -1").expect_err("negative");
        assert!(err.to_string().contains("memtables_mb"), "{err}");
        // The account cache: a default, a minimum, and no negative or absurd values.
        assert_eq!(
            d.account_cache as usize,
            settlenet_ledger::ACCOUNT_CACHE_DEFAULT
        );
        assert_eq!(d.check(), Ok(()));
        let small: StorageConfig = toml::from_str("account_cache = 10").expect("parse");
        let err = small.check().expect_err("too small");
        assert!(
            err.contains("account_cache = 10") && err.contains("1000"),
            "{err}"
        );
        let err = toml::from_str::<StorageConfig>("account_cache = -5").expect_err("negative");
        assert!(err.to_string().contains("account_cache"), "{err}");
        let err = toml::from_str::<StorageConfig>("account_cache = 99999999999").expect_err("huge");
        assert!(err.to_string().contains("account_cache"), "{err}");
    }
}
