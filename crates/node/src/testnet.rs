//! `settlenet testnet init`: a genesis, one home directory per validator, staff keys, and
//! `nodes.json` describing how to reach each node.

use crate::config::{
    ApiConfig, LocalConsensusConfig, MempoolConfig, NodeConfig, P2pConfig, PhoneConfig, PhoneKey,
};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use settlenet_crypto::{KeyFile, KeyKind, Keypair};
use settlenet_types::{
    AccountId, ConsensusParams, Currency, CurrencyInfo, Genesis, GenesisAccount,
    GenesisAccountKind, Member, MemberId, MemberKind, ReplicaId, Role, StaffKey, ValidatorInfo,
};
use std::path::{Path, PathBuf};

/// One node's entry in `nodes.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeEntry {
    /// Node name.
    pub name: String,
    /// Its home directory.
    pub home: PathBuf,
    /// Base URL of its HTTP API.
    pub api: String,
    /// Its libp2p multiaddr including `/p2p/<peer id>`.
    pub p2p: String,
    /// The member that runs it.
    pub member: String,
}

/// Options for [`init`].
#[derive(Debug, Clone)]
pub struct TestnetOptions {
    /// Number of validators (4 tolerates one fault).
    pub validators: usize,
    /// First port: node i listens for p2p on `base_port + i` and HTTP on `base_port + 100 + i`.
    pub base_port: u16,
    /// Chain id.
    pub chain_id: String,
    /// Currencies with exponents.
    pub currencies: Vec<(Currency, u8)>,
    /// Opening balance of every member's settlement account, minor units.
    pub settlement_balance: u64,
    /// Consensus parameters.
    pub consensus: ConsensusParams,
    /// Explicit ports per node (p2p, api), overriding `base_port` (the demo picks free ports).
    pub ports: Option<Vec<(u16, u16)>>,
    /// Default country code for phone numbers written nationally (e.g. "250").
    pub default_country: String,
}

impl Default for TestnetOptions {
    fn default() -> Self {
        TestnetOptions {
            validators: 4,
            base_port: 26600,
            chain_id: "settlenet-local".into(),
            currencies: vec![(Currency(*b"USD"), 2)],
            settlement_balance: 100_000_000,
            consensus: ConsensusParams::default(),
            ports: None,
            default_country: "250".into(),
        }
    }
}

/// Member names and kinds for a testnet of `n` validator-running members.
fn members_for(n: usize) -> Vec<(String, MemberKind)> {
    let mut out = vec![
        ("operator-a".to_string(), MemberKind::Operator),
        ("bank-a".to_string(), MemberKind::Bank),
        ("bank-b".to_string(), MemberKind::Bank),
        ("clearing-house".to_string(), MemberKind::ClearingHouse),
    ];
    let mut i = 0u8;
    while out.len() < n {
        let letter = (b'c' + (i % 24)) as char;
        let suffix = if i >= 24 {
            format!("{}", i / 24)
        } else {
            String::new()
        };
        out.push((format!("bank-{letter}{suffix}"), MemberKind::Bank));
        i += 1;
    }
    out.truncate(n.max(1));
    out
}

/// Roles a testnet member's staff gets, one key per role: operators and banks issue wallets
/// and acquire merchants.
fn staff_roles(kind: MemberKind) -> Vec<Role> {
    match kind {
        MemberKind::ClearingHouse => vec![Role::Clearing],
        _ => vec![Role::Issuer, Role::Acquirer],
    }
}

/// Write a testnet into `dir` (which must be empty or absent). Returns the node entries.
pub fn init(dir: &Path, opts: &TestnetOptions) -> Result<Vec<NodeEntry>> {
    if opts.validators == 0 || opts.validators > 100 {
        bail!("--validators must be between 1 and 100");
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty: refusing to overwrite an existing testnet",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let n = opts.validators;
    let member_list = members_for(n);
    let ports: Vec<(u16, u16)> = match &opts.ports {
        Some(p) if p.len() == n => p.clone(),
        Some(_) => bail!("ports given for the wrong number of nodes"),
        None => (0..n)
            .map(|i| {
                let p = opts.base_port.checked_add(i as u16);
                let a = opts.base_port.checked_add(100 + i as u16);
                match (p, a) {
                    (Some(p), Some(a)) => Ok((p, a)),
                    _ => bail!(
                        "--base-port {} leaves no room for {n} nodes",
                        opts.base_port
                    ),
                }
            })
            .collect::<Result<_>>()?,
    };

    // Staff keys.
    let mut members = Vec::new();
    for (i, (name, kind)) in member_list.iter().enumerate() {
        let kdir = dir.join("keys").join(name);
        std::fs::create_dir_all(&kdir)?;
        let mut staff = Vec::new();
        for role in staff_roles(*kind) {
            let role_name = serde_json::to_value(role)?
                .as_str()
                .unwrap_or("staff")
                .to_string();
            let key = Keypair::generate();
            KeyFile::new(KeyKind::Staff, &key).write(&kdir.join(format!("{role_name}.key")))?;
            staff.push(StaffKey {
                name: role_name,
                public_key: key.public(),
                roles: vec![role],
            });
        }
        members.push(Member {
            id: MemberId(i as u16),
            name: name.clone(),
            kind: *kind,
            bic: None,
            clearing_id: None,
            staff,
            net_debit_caps: Vec::new(),
        });
    }

    // Validator and network keys, one node per member.
    let mut validators = Vec::new();
    let mut net_seeds = Vec::new();
    let mut val_keys = Vec::new();
    for (i, member) in members.iter().enumerate() {
        let vkey = Keypair::generate();
        let nkey = Keypair::generate();
        let peer = settlenet_net::peer_id_from_seed(nkey.secret_bytes())
            .map_err(|e| anyhow::anyhow!("network key: {e}"))?;
        validators.push(ValidatorInfo {
            id: ReplicaId(i as u16),
            name: format!("node{i}"),
            member: member.id,
            public_key: vkey.public(),
            peer_id: peer.to_string(),
        });
        val_keys.push(vkey);
        net_seeds.push(nkey);
    }

    let mut accounts = Vec::new();
    for (code, _) in &opts.currencies {
        for m in &members {
            accounts.push(GenesisAccount {
                id: AccountId::derived("settlement", &m.name, *code),
                kind: GenesisAccountKind::Settlement,
                member: m.id,
                currency: *code,
                balance: opts.settlement_balance,
            });
            if m.kind != MemberKind::ClearingHouse {
                accounts.push(GenesisAccount {
                    id: AccountId::derived("float", &m.name, *code),
                    kind: GenesisAccountKind::Float,
                    member: m.id,
                    currency: *code,
                    balance: 0,
                });
            }
        }
    }

    let genesis = Genesis {
        version: settlenet_types::genesis::GENESIS_VERSION,
        chain_id: opts.chain_id.clone(),
        genesis_time_ms: crate::clock::now_ms(),
        currencies: opts
            .currencies
            .iter()
            .map(|(code, exponent)| CurrencyInfo {
                code: *code,
                exponent: *exponent,
            })
            .collect(),
        members,
        validators,
        accounts,
        consensus: opts.consensus.clone(),
    };
    genesis.validate().context("generated genesis is invalid")?;
    let genesis_json = serde_json::to_string_pretty(&genesis)?;
    std::fs::write(dir.join("genesis.json"), &genesis_json)?;

    let p2p_addrs: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "/ip4/127.0.0.1/tcp/{}/p2p/{}",
                ports[i].0, genesis.validators[i].peer_id
            )
        })
        .collect();
    // One consortium phone key, shared by every node (each home holds a copy, mode 0600).
    let phone_key = PhoneKey::generate();
    let mut entries = Vec::new();
    for i in 0..n {
        let home = dir.join(format!("node{i}"));
        std::fs::create_dir_all(home.join("data"))?;
        PhoneKey::write_file(&home.join("phone.key"), &phone_key)?;
        std::fs::write(home.join("genesis.json"), &genesis_json)?;
        KeyFile::new(KeyKind::Validator, &val_keys[i]).write(&home.join("validator.key"))?;
        KeyFile::new(KeyKind::Network, &net_seeds[i]).write(&home.join("network.key"))?;
        let config = NodeConfig {
            name: format!("node{i}"),
            genesis: "genesis.json".into(),
            validator_key: "validator.key".into(),
            network_key: "network.key".into(),
            data_dir: "data".into(),
            p2p: P2pConfig {
                listen: format!("/ip4/127.0.0.1/tcp/{}", ports[i].0),
                bootstrap: (0..n)
                    .filter(|j| *j != i)
                    .map(|j| p2p_addrs[j].clone())
                    .collect(),
            },
            api: ApiConfig {
                listen: format!("127.0.0.1:{}", ports[i].1),
                max_body_bytes: 16 * 1024 * 1024,
                max_batch_txs: 10_000,
            },
            mempool: MempoolConfig::default(),
            consensus: LocalConsensusConfig::default(),
            phone: Some(PhoneConfig {
                key_file: "phone.key".into(),
                key_version: 1,
                default_country: opts.default_country.clone(),
            }),
            sync: Default::default(),
        };
        std::fs::write(home.join("config.toml"), toml::to_string_pretty(&config)?)?;
        entries.push(NodeEntry {
            name: format!("node{i}"),
            home,
            api: format!("http://127.0.0.1:{}", ports[i].1),
            p2p: p2p_addrs[i].clone(),
            member: genesis.members[i].name.clone(),
        });
    }
    std::fs::write(
        dir.join("nodes.json"),
        serde_json::to_string_pretty(&entries)?,
    )?;
    Ok(entries)
}

/// Read `DIR/nodes.json`.
pub fn read_nodes(dir: &Path) -> Result<Vec<NodeEntry>> {
    let path = dir.join("nodes.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("invalid {}", path.display()))
}

/// Read and validate a genesis file.
pub fn read_genesis(path: &Path) -> Result<Genesis> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read genesis {}", path.display()))?;
    let g: Genesis = serde_json::from_str(&text)
        .with_context(|| format!("invalid genesis {}", path.display()))?;
    g.validate()
        .with_context(|| format!("invalid genesis {}", path.display()))?;
    Ok(g)
}
