//! # settlenet-node
//!
//! ## Overview
//! A SettleNet validator: the node's pure state machine (`settlenet-machine`: the PBFT replica,
//! the ledger, the mempool, sync) driven by tokio, with the edges that do I/O: libp2p
//! (`settlenet-net`), RocksDB (`settlenet-storage`), the clock ([`clock`]), and a JSON HTTP API
//! (axum, [`api`]).
//!
//! ## Design
//! ```text
//!             HTTP (axum) ──commands──┐
//!                 │ reads             v
//!                 │           ┌─────────────────────┐  effects  ┌─────────┐
//!                 └── store <─┤ Core (driver)       ├──────────>│ libp2p  │
//!                   (RocksDB) │   NodeMachine       │<──────────┤ task    │
//!                             │   (pure: all rules) │  events   └─────────┘
//!                             └─────────────────────┘
//! ```
//! - One task ([`core::Core`]) owns the machine and the store's write path; it turns sockets,
//!   API commands, finished jobs and the machine's wake-up time into events and carries out the
//!   effects in order. The rules live in the machine, which the seeded simulator drives too.
//! - Signatures are batch-verified on blocking threads (API batches, gossip, proposals), each
//!   transaction once per node: a proposal's transactions already verified in our mempool are not
//!   checked again.
//! - A committed block is executed and written in one RocksDB write batch (block, certificate,
//!   transaction index, changed accounts, records, meta). No fsync per block: RocksDB's WAL survives
//!   a process crash, and a block lost to a power cut is fetched again from peers, who hold it
//!   with its certificate.
//! - State transfer (rules in `settlenet_machine`): blocks from peers with verified
//!   certificates, or, far behind, a snapshot anchored by a stable checkpoint, fetched by
//!   `core/fetch.rs` and installed in one write batch.
//! - Tasks: the core, the API server, the network task ([`settlenet_net`]), short-lived tasks
//!   for peers' requests and snapshot fetches, and blocking threads for jobs. Wall time is read
//!   by [`clock`] (the core's `now`) and by the API for request bookkeeping.
//!
//! ## Invariants
//! - The ledger's height and root equal the store's whenever the core waits for an event
//!   (effects are carried out before the next event).
//! - On restart the ledger rebuilt from the store must reproduce the stored state root, or the
//!   node refuses to start.

pub mod api;
pub mod ceremony;
pub mod clock;
pub mod config;
pub mod core;
mod error;
pub mod gate;
pub mod receipt;
pub mod shared;
pub mod store_accounts;
pub mod store_report;
pub mod strikes;
pub mod testnet;

pub use error::NodeError;
pub use settlenet_machine::{evidence, mempool, wire};

use config::NodeConfig;
use error::{bail, Context, Result};
use settlenet_consensus::{Replica, ReplicaConfig};
use settlenet_crypto::{KeyFile, KeyKind};
use settlenet_ledger::{Account, History, Ledger, TxRecord};
use settlenet_net::{Multiaddr, NetConfig, PeerId};
use settlenet_storage::Store;
use settlenet_types::{decode, encode, Hash, Height, View};
use shared::{Shared, StatusSnapshot};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tracing::info;

/// A running node: its API address and a way to stop it.
pub struct RunningNode {
    /// The address the API listens on.
    pub api_addr: std::net::SocketAddr,
    /// Send `true` to stop.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Completes when the node has stopped; an error means it stopped on a fault.
    pub done: tokio::task::JoinHandle<Result<()>>,
}

/// At start, with retention on (`[sync] retain_blocks`), drop the full blocks the store holds
/// beyond the last `retain` heights (a retention just enabled or shortened), keeping their
/// summaries; a store from an older build is pruned in bounded steps. Returns the lowest full
/// block held.
pub fn prune_to_retention(store: &Store, height: Height, retain: u64) -> Result<Height> {
    let from = store.blocks_from()?;
    if retain == 0 {
        return Ok(from);
    }
    let horizon = Height(height.0.saturating_add(1).saturating_sub(retain));
    if horizon <= from {
        return Ok(from);
    }
    let mut reached = from;
    while reached < horizon {
        let next = store.prune_blocks(horizon)?;
        if next <= reached {
            break;
        }
        reached = next;
    }
    info!(
        from = %from,
        to = %reached,
        retain,
        "retention: pruned the bodies of blocks below {reached} (their summaries kept)"
    );
    Ok(reached)
}

/// Open the store and the ledger at the stored height, initialising a fresh store from the
/// genesis. Checks that the rebuilt ledger reproduces the stored state root. The ledger reads
/// its accounts from the store (through a cache of `account_cache` accounts): a restart
/// streams them once to rebuild the state tree and the indexes and keeps none of them.
pub fn open_state(
    genesis: &settlenet_types::Genesis,
    data_dir: &Path,
    limits: settlenet_storage::StoreMemoryLimits,
    account_cache: usize,
) -> Result<(Arc<Store>, Ledger, Hash)> {
    let genesis_hash = genesis.hash()?;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let store = Store::open_with(data_dir, genesis_hash, limits).with_context(|| {
        format!(
            "cannot open the store in {} ([storage])",
            data_dir.display()
        )
    })?;
    let store = Arc::new(store);
    let account_store: Arc<dyn settlenet_ledger::AccountStore> =
        Arc::new(store_accounts::StoreAccounts(store.clone()));
    let genesis_ledger = Ledger::from_genesis(genesis).context("genesis ledger")?;
    let genesis_root = genesis_ledger.state_root();
    if store.is_fresh()? {
        let accounts = genesis_ledger
            .accounts()
            .context("the genesis ledger holds its accounts in memory")?
            .map(|a| Ok((a.id, encode("account", a)?)))
            .collect::<Result<Vec<_>>>()?;
        store.init_genesis(&accounts, genesis_root)?;
        let mut ledger = genesis_ledger;
        ledger.attach_store(account_store, account_cache);
        return Ok((store, ledger, genesis_root));
    }
    let height = store.last_height()?;
    let records = store
        .live_records()?
        .into_iter()
        .map(|(id, bytes)| {
            decode::<TxRecord>("tx record", &bytes)
                .map(|r| (id, r))
                .with_context(|| format!("stored live tx record {id}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let history = match store.ledger_history()? {
        Some(bytes) => decode::<History>("ledger history", &bytes)
            .context("the stored ledger history accumulator")?,
        None => History::default(),
    };
    let accounts = store.accounts_iter()?.map(|item| {
        let (id, bytes) =
            item.map_err(|e| settlenet_ledger::LedgerError::Restore(e.to_string()))?;
        decode::<Account>("account", &bytes).map_err(|e| {
            settlenet_ledger::LedgerError::Restore(format!("stored account {id}: {e}"))
        })
    });
    let ledger = Ledger::restore_from_store(
        genesis,
        height,
        accounts,
        records,
        history,
        account_store,
        account_cache,
    )
    .with_context(|| format!("restoring the ledger from {}", data_dir.display()))?;
    let stored_root = store.state_root()?;
    if ledger.state_root() != stored_root {
        bail!(
            "the ledger rebuilt from {} has state root {} but the store recorded {} at height {}: \
             the data directory is corrupt; move it away and let the node sync from its peers",
            data_dir.display(),
            ledger.state_root(),
            stored_root,
            height
        );
    }
    Ok((store, ledger, genesis_root))
}

/// Start a node (a validator, or an observer by `role = "observer"`) from its home directory.
/// Must be called inside a tokio runtime.
pub async fn start(home: &Path) -> Result<RunningNode> {
    let config = NodeConfig::load(home)?;
    let genesis_path = NodeConfig::resolve(home, &config.genesis);
    let genesis = Arc::new(testnet::read_genesis(&genesis_path)?);
    let genesis_hash = genesis.hash()?;
    if genesis_hash != config.genesis_hash {
        bail!(
            "the genesis {} hashes to {genesis_hash}, but this node was initialised with genesis \
             {} (config.toml genesis_hash): refusing to start on another network's genesis",
            genesis_path.display(),
            config.genesis_hash
        );
    }
    let network_key_path = NodeConfig::resolve(home, &config.network_key);
    config::check_private_file(&network_key_path, "network key")?;
    let (_, nkey) = KeyFile::read(&network_key_path, Some(KeyKind::Network))?;
    let net_keypair = settlenet_net::keypair_from_seed(nkey.secret_bytes())
        .map_err(|e| crate::error::config_err!("network key: {e}"))?;
    let my_peer = PeerId::from(net_keypair.public());
    let role = config.role;
    let validator = match role {
        config::NodeRole::Validator => {
            let vkey_path = NodeConfig::resolve(home, &config.validator_key);
            config::check_private_file(&vkey_path, "validator key")?;
            let (_, vkey) = KeyFile::read(&vkey_path, Some(KeyKind::Validator))?;
            let me = genesis
                .validators
                .iter()
                .find(|v| v.public_key == vkey.public())
                .map(|v| v.id)
                .ok_or_else(|| {
                    crate::error::config_err!(
                        "validator key {} is not in the genesis validator set (an integrator's \
                         node runs with role = \"observer\")",
                        vkey.public()
                    )
                })?;
            let expected_peer = &genesis.validators[me.0 as usize].peer_id;
            if &my_peer.to_string() != expected_peer {
                bail!(
                    "network key gives peer id {my_peer}, but the genesis lists {expected_peer} for this validator"
                );
            }
            Some((me, vkey))
        }
        config::NodeRole::Observer => {
            if genesis
                .validators
                .iter()
                .any(|v| v.peer_id == my_peer.to_string())
            {
                bail!(
                    "network key gives peer id {my_peer}, a genesis validator's: an observer needs \
                     its own network key (settlenet join makes one)"
                );
            }
            None
        }
    };

    // The consortium phone key: loaded once, never logged (its Debug is redacted).
    let phone = config
        .phone
        .as_ref()
        .map(|p| config::PhoneKey::load(home, p))
        .transpose()?
        .map(Arc::new);
    match &phone {
        Some(k) => info!(key_version = k.version, "phone aliases enabled"),
        None => info!("no [phone] key configured: POST /v1/phone/alias answers 503"),
    }

    let data_dir = NodeConfig::resolve(home, &config.data_dir);
    config.storage.check().map_err(|e| {
        crate::error::NodeError::Config(format!("{}: {e}", home.join("config.toml").display()))
    })?;
    let (store, ledger, genesis_root) = open_state(
        &genesis,
        &data_dir,
        config.storage.limits(),
        config.storage.account_cache as usize,
    )?;
    let height = ledger.height();
    let base_height = store.base_height()?;
    let interval = config.sync.snapshot_interval_blocks;
    if !interval.is_multiple_of(settlenet_consensus::DEFAULT_CHECKPOINT_INTERVAL) {
        bail!(
            "[sync] snapshot_interval_blocks = {interval} must be a multiple of the checkpoint \
             interval ({}), or 0",
            settlenet_consensus::DEFAULT_CHECKPOINT_INTERVAL
        );
    }
    config
        .sync
        .check_retention()
        .map_err(crate::error::NodeError::Config)?;
    let blocks_from = prune_to_retention(&store, height, config.sync.retain_blocks)?;
    let last_hash = match store.block_summary(height)? {
        Some(b) => b.hash,
        None => Hash::ZERO,
    };
    // Consensus time is the stamp of the last block that carries one: null blocks (view-change
    // gap fillers, timestamp 0) are skipped; the genesis time before the first block. A store
    // installed from a snapshot holds no block below its base: the walk stops there (if every
    // block from the base up is null, the genesis time is the lower bound known).
    let mut last_time = genesis.genesis_time_ms;
    let mut h = height;
    while h.0 > 0 {
        match store.block_summary(h)? {
            Some(b) if !settlenet_consensus::is_null_header(&b.header) => {
                last_time = last_time.max(b.header.timestamp_ms);
                break;
            }
            Some(_) if h <= base_height => break,
            Some(_) => h = Height(h.0 - 1),
            None => bail!("the store has no block at height {h}, below its head {height}"),
        }
    }
    if clock::offset_ms() != 0 {
        tracing::warn!(
            offset_ms = clock::offset_ms(),
            "TEST HOOK: this node's clock is shifted by {} (never set it in production)",
            clock::CLOCK_OFFSET_ENV
        );
    }
    info!(
        node = %config.name,
        %height,
        base = %base_height,
        blocks_from = %blocks_from,
        root = %ledger.state_root(),
        "opened state"
    );

    // Votes already cast survive a crash: the replica is rebuilt from its write-ahead log so it
    // never votes differently for a (view, height) it already voted on.
    let wal_raw = store.wal_entries()?;
    let wal_next = wal_raw
        .last()
        .and_then(|(k, _)| <[u8; 8]>::try_from(k.as_slice()).ok())
        .map(|k| u64::from_be_bytes(k) + 1)
        .unwrap_or(0);
    let wal = wal_raw
        .iter()
        .map(|(k, v)| {
            decode::<settlenet_consensus::WalEntry>("consensus WAL entry", v)
                .with_context(|| format!("consensus WAL entry {}", hex::encode(k)))
        })
        .collect::<Result<Vec<_>>>()?;
    let wal_len = wal.len();
    // One memo of verified consensus signatures, shared by the network gate (which checks
    // them off the consensus loop) and the replica (whose own checks then hit the memo).
    let validator_keys: Vec<settlenet_types::PublicKey> =
        genesis.validators.iter().map(|v| v.public_key).collect();
    let memo = Arc::new(settlenet_crypto::MemoVerifier::new(
        settlenet_crypto::StrictVerifier::with_keys(&validator_keys),
    ));
    let validator = match validator {
        Some((me, vkey)) => {
            let replica_config = ReplicaConfig {
                block_max_bytes: genesis.consensus.block_max_bytes,
                verifier: memo.clone(),
                ..ReplicaConfig::new(
                    genesis.chain_id.clone(),
                    genesis.validators.iter().map(|v| v.public_key).collect(),
                    me,
                    vkey,
                    genesis.consensus.max_in_flight,
                )
            };
            let replica = if wal.is_empty() {
                Replica::new(replica_config, height, View(0))
            } else {
                Replica::restore(replica_config, height, wal)
            }
            .map_err(|e| crate::error::config_err!("consensus: {e}"))?;
            info!(view = %replica.view(), wal_entries = wal_len, "consensus state restored");
            Some((me, replica))
        }
        None => {
            info!("observer: following the validators; this node never votes");
            None
        }
    };
    let view = validator.as_ref().map_or(View(0), |(_, r)| r.view());
    let stable_checkpoint = validator
        .as_ref()
        .map_or(Height(0), |(_, r)| r.stable_checkpoint());

    // Network.
    let listen: Multiaddr = config
        .p2p
        .listen
        .parse()
        .with_context(|| format!("p2p.listen {:?}", config.p2p.listen))?;
    let mut bootstrap = Vec::new();
    for a in &config.p2p.bootstrap {
        bootstrap.push(ceremony::bootstrap_address(a).context("[p2p] bootstrap")?);
    }
    let advertise = config
        .p2p
        .advertise
        .iter()
        .map(|a| ceremony::p2p_address(a))
        .collect::<Result<Vec<_>>>()
        .context("[p2p] advertise")?;
    // The committee: genesis validators. Observers are admitted on top of it by the core
    // (config `[p2p] observers` and the ledger's registrations).
    let allowed = genesis
        .validators
        .iter()
        .map(|v| v.peer_id.parse::<PeerId>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| crate::error::config_err!("genesis peer id: {e}"))?;
    if role == config::NodeRole::Observer && !bootstrap.iter().any(|(p, _)| allowed.contains(p)) {
        bail!("[p2p] bootstrap names no genesis validator: an observer syncs from validators");
    }
    let config_observers = config
        .p2p
        .observers
        .iter()
        .map(|p| {
            p.parse::<PeerId>()
                .map_err(|e| crate::error::config_err!("[p2p] observers: {p:?}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let (net, net_rx) = settlenet_net::spawn(NetConfig {
        keypair: net_keypair,
        listen: vec![listen],
        bootstrap,
        allowed,
        advertise,
        request_timeout: Duration::from_secs(10),
        inbound: settlenet_net::InboundQuota {
            messages_per_sec: config.p2p.peer_messages_per_sec.max(1),
            bytes_per_sec: config.p2p.peer_bytes_per_sec.max(1),
        },
    })
    .map_err(|e| crate::error::config_err!("network: {e}"))?;

    let shared = Arc::new(Shared {
        status: RwLock::new(StatusSnapshot {
            height,
            last_block_hash: last_hash,
            state_root: ledger.state_root(),
            last_block_time_ms: last_time,
            view,
            stable_checkpoint,
            primary: String::new(),
            peers: vec![],
            mempool: 0,
            base_height,
            blocks_from,
            ledger_accounts: ledger.account_count(),
            account_cache: ledger.account_cache_stats(),
            ledger_live_records: ledger.record_count(),
        }),
        counters: Default::default(),
        net: net.clone(),
        committed: tokio::sync::watch::Sender::new(height),
        checkpoint_readers: Default::default(),
    });
    shared::Counters::set(
        &shared.counters.evidence_stored,
        store.evidence_count()? as u64,
    );
    let (api_tx, api_rx) = tokio::sync::mpsc::channel(4096);
    let api_tx_core = api_tx.clone();
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);

    let verify_threads = match config.api.verify_threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let limits = Arc::new(api::limits::Limits::new(
        config.api.rate_per_client,
        config.api.rate_burst,
        verify_threads,
    ));
    {
        let limits = limits.clone();
        let mut stop = shutdown_rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(api::limits::CLIENTS_SWEEP);
            loop {
                tokio::select! {
                    _ = tick.tick() => limits.sweep(),
                    _ = stop.changed() => return,
                }
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(&config.api.listen)
        .await
        .with_context(|| format!("cannot listen for the API on {}", config.api.listen))?;
    let api_addr = listener.local_addr()?;
    let app = api::router(
        api::ApiState {
            genesis: genesis.clone(),
            node: config.name.clone(),
            store: store.clone(),
            shared: shared.clone(),
            core: api_tx,
            max_batch_txs: config.api.max_batch_txs,
            phone,
            role,
            genesis_hash,
            events: api::EventStreams::new(config.api.max_event_streams, shutdown_rx.clone()),
            limits: limits.clone(),
        },
        config.api.max_body_bytes,
    );
    let mut api_shutdown = shutdown_rx.clone();
    let api_task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = api_shutdown.changed().await;
        })
        .await
    });

    // Recent (height, hash, root) for checking proposals' lagged roots after a restart.
    let keep = (4 * genesis.consensus.max_in_flight).max(16);
    let mut recent = Vec::new();
    let mut h = Height(height.0.saturating_sub(keep).max(base_height.0).max(1));
    while h <= height {
        if let Some(b) = store.block_summary(h)? {
            recent.push((h, b.hash, b.state_root));
        }
        h = h.next();
    }
    let last_block = store.block(height)?;
    let certified_root = settlenet_machine::certified_root_of(last_block.as_ref(), &ledger);
    let mut peer_index = std::collections::HashMap::new();
    for v in &genesis.validators {
        let peer: PeerId = v
            .peer_id
            .parse()
            .map_err(|e| crate::error::config_err!("genesis validator {} peer id: {e}", v.name))?;
        peer_index.insert(peer, v.id);
    }
    let (gated_tx, gated_rx) = tokio::sync::mpsc::channel(gate::GATE_OUT_MAX);
    tokio::spawn(
        gate::Gate {
            net_rx,
            out: gated_tx,
            context: Arc::new(gate::GateContext {
                chain_id: genesis.chain_id.clone(),
                validators: validator_keys,
                peer_index,
                verifier: memo,
            }),
            strikes: strikes::Strikes::new(
                config.p2p.ban_after_bad_signatures,
                gate::ban_duration(config.p2p.ban_secs),
            ),
            net: net.clone(),
            shared: shared.clone(),
        }
        .run(),
    );
    let core = core::Core::new(core::CoreParts {
        machine: settlenet_machine::MachineParts {
            genesis: genesis.clone(),
            validator,
            ledger,
            genesis_root,
            last_hash,
            last_block_time_ms: last_time,
            certified_root,
            recent,
            mempool_max: config.mempool.max_txs,
            mempool_max_bytes: config.mempool.max_bytes,
            max_clock_skew_ms: config.consensus.max_clock_skew_ms,
            sync: config.sync.clone(),
            base_height,
            pruned_below: blocks_from,
            now_ms: clock::now_ms(),
        },
        store,
        net: net.clone(),
        net_rx: gated_rx,
        api_rx,
        shared,
        wal_next,
        shutdown: shutdown_rx,
        api_tx: api_tx_core,
        config_observers,
        account_cache: config.storage.account_cache as usize,
        checkpoints_dir: data_dir.join("checkpoints"),
    })?;
    info!(node = %config.name, ?role, api = %api_addr, peer = %my_peer, "node started");
    let done = tokio::spawn(async move {
        let result = core.run().await;
        net.shutdown().await;
        let _ = api_task.await;
        result
    });
    Ok(RunningNode {
        api_addr,
        shutdown: shutdown_tx,
        done,
    })
}
