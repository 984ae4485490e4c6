//! `settlenet testnet init`: a genesis, one home directory per validator, staff keys, and
//! `nodes.json` describing how to reach each node.

use crate::config::{
    ApiConfig, LocalConsensusConfig, MempoolConfig, NodeConfig, P2pConfig, PhoneConfig, PhoneKey,
};
use crate::error::{bail, Context, Result};
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
    /// The consortium's members (from `--members FILE`); `None`: a default set of one member
    /// per validator (operator-a, bank-a, bank-b, clearing-house, bank-c, ...).
    pub members: Option<Vec<MemberSpec>>,
}

/// `--members FILE`: the consortium as an operator describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersFile {
    /// The members, in the order their ids are given (0, 1, ...).
    pub members: Vec<MemberSpec>,
}

/// One member of a `--members` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// Short unique name (lower-case letters, digits and `-`), e.g. "bank-a".
    pub name: String,
    /// operator | bank | clearing-house | psp.
    pub kind: MemberKind,
    /// BIC, 8 or 11 characters (an 8-character BIC matches its XXX branch).
    #[serde(default)]
    pub bic: Option<String>,
    /// National clearing code (e.g. an ABA routing number).
    #[serde(default)]
    pub clearing_id: Option<String>,
    /// Validator nodes it runs (0 for a member without a node).
    #[serde(default = "one")]
    pub validators: usize,
}

fn one() -> usize {
    1
}

/// Read and check a `--members` file: names unique and well formed, BICs and clearing ids
/// valid and unique, at least one validator in all. Errors name the file, the member and the
/// field.
pub fn read_members(path: &Path) -> Result<Vec<MemberSpec>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read members file {}", path.display()))?;
    let file: MembersFile = toml::from_str(&text)
        .with_context(|| format!("members file {} is not valid", path.display()))?;
    check_members(&file.members).with_context(|| format!("members file {}", path.display()))?;
    Ok(file.members)
}

fn check_members(members: &[MemberSpec]) -> Result<()> {
    if members.is_empty() {
        bail!("no [[members]]");
    }
    let mut names = std::collections::BTreeSet::new();
    let mut bics = std::collections::BTreeSet::new();
    let mut clearing = std::collections::BTreeSet::new();
    for (i, m) in members.iter().enumerate() {
        let at = format!("member {} ({:?})", i + 1, m.name);
        if m.name.is_empty()
            || m.name.len() > 32
            || !m
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            bail!("{at}: name must be 1 to 32 lower-case letters, digits or '-'");
        }
        if !names.insert(m.name.clone()) {
            bail!("{at}: name used twice");
        }
        if let Some(b) = &m.bic {
            let full = settlenet_types::genesis::normalize_bic(b)
                .map_err(|e| crate::error::config_err!("{at}: bic {b:?}: {e}"))?;
            if !bics.insert(full) {
                bail!("{at}: bic {b} is another member's");
            }
        }
        if let Some(c) = &m.clearing_id {
            if c.is_empty() || c.len() > 35 || !c.chars().all(|x| x.is_ascii_alphanumeric()) {
                bail!("{at}: clearing_id {c:?} must be 1 to 35 letters or digits");
            }
            if !clearing.insert(c.clone()) {
                bail!("{at}: clearing_id {c} is another member's");
            }
        }
        if m.validators > 100 {
            bail!("{at}: validators {} is more than 100", m.validators);
        }
    }
    let n: usize = members.iter().map(|m| m.validators).sum();
    if n == 0 || n > 100 {
        bail!("the members run {n} validators in all: need 1 to 100 (4 tolerate one fault)");
    }
    Ok(())
}

/// ISO 4217 minor-unit exponents of common currencies (for `--currencies USD,EUR`); others are
/// given as `CODE:EXPONENT`.
#[rustfmt::skip]
const ISO4217_EXPONENTS: &[(&str, u8)] = &[
    ("AED", 2), ("AUD", 2), ("BHD", 3), ("BRL", 2), ("CAD", 2), ("CHF", 2), ("CNY", 2),
    ("EUR", 2), ("GBP", 2), ("GHS", 2), ("HKD", 2), ("IDR", 2), ("INR", 2), ("JOD", 3),
    ("JPY", 0), ("KES", 2), ("KRW", 0), ("KWD", 3), ("MXN", 2), ("MYR", 2), ("NGN", 2),
    ("OMR", 3), ("PHP", 2), ("PKR", 2), ("RWF", 0), ("SAR", 2), ("SGD", 2), ("TND", 3),
    ("TZS", 2), ("UGX", 0), ("USD", 2), ("XAF", 0), ("XOF", 0), ("ZAR", 2), ("ZMW", 2),
];

/// Parse `--currencies USD,EUR,KES` (exponents from ISO 4217) or `ABC:3` (explicit exponent).
pub fn parse_currencies(text: &str) -> Result<Vec<(Currency, u8)>> {
    let mut out: Vec<(Currency, u8)> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (code, exp) = match item.split_once(':') {
            Some((c, e)) => {
                let e: u8 = e
                    .parse()
                    .ok()
                    .filter(|e| *e <= 8)
                    .with_context(|| format!("currency {item:?}: exponent must be 0 to 8"))?;
                (c, Some(e))
            }
            None => (item, None),
        };
        let code: Currency = code
            .to_ascii_uppercase()
            .parse()
            .map_err(|e| crate::error::config_err!("currency {item:?}: {e}"))?;
        let exp = match exp {
            Some(e) => e,
            None => ISO4217_EXPONENTS
                .iter()
                .find(|(c, _)| *c == code.to_string())
                .map(|(_, e)| *e)
                .with_context(|| {
                    format!("currency {code}: exponent not known here; write it as {code}:2")
                })?,
        };
        if out.iter().any(|(c, _)| *c == code) {
            bail!("currency {code} listed twice");
        }
        out.push((code, exp));
    }
    if out.is_empty() {
        bail!("--currencies: no currency given (e.g. USD,EUR)");
    }
    Ok(out)
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
            members: None,
        }
    }
}

/// The default members for `n` validators, one validator each, with fictional BICs (so that
/// ISO 20022 files can name them) on the pattern `<4 letters>RWRW`.
fn default_members(n: usize) -> Vec<MemberSpec> {
    members_for(n)
        .into_iter()
        .enumerate()
        .map(|(i, (name, kind))| {
            let code = match name.as_str() {
                "operator-a" => "OPRA".to_string(),
                "bank-a" => "BNKA".to_string(),
                "bank-b" => "BNKB".to_string(),
                "clearing-house" => "CLRH".to_string(),
                _ => {
                    // BNxy: two letters from the index, unique for up to 676 members.
                    let k = i as u32;
                    let a = char::from(b'A' + (k / 26 % 26) as u8);
                    let b = char::from(b'A' + (k % 26) as u8);
                    format!("BN{a}{b}")
                }
            };
            MemberSpec {
                name,
                kind,
                bic: Some(format!("{code}RWRWXXX")),
                clearing_id: None,
                validators: 1,
            }
        })
        .collect()
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
    let specs = match &opts.members {
        Some(m) => {
            check_members(m)?;
            m.clone()
        }
        None => {
            if opts.validators == 0 || opts.validators > 100 {
                bail!("--validators must be between 1 and 100");
            }
            default_members(opts.validators)
        }
    };
    if opts.currencies.is_empty() {
        bail!("no currency given");
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
    // Node i belongs to the member whose validators it is, in file order.
    let node_members: Vec<usize> = specs
        .iter()
        .enumerate()
        .flat_map(|(m, spec)| std::iter::repeat_n(m, spec.validators))
        .collect();
    let n = node_members.len();
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
    for (i, spec) in specs.iter().enumerate() {
        let (name, kind) = (&spec.name, &spec.kind);
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
            bic: spec.bic.clone(),
            clearing_id: spec.clearing_id.clone(),
            staff,
            net_debit_caps: Vec::new(),
        });
    }

    // Validator and network keys: each member's `validators` nodes, in file order.
    let mut validators = Vec::new();
    let mut net_seeds = Vec::new();
    let mut val_keys = Vec::new();
    for (i, m) in node_members.iter().enumerate() {
        let member = &members[*m];
        let vkey = Keypair::generate();
        let nkey = Keypair::generate();
        let peer = settlenet_net::peer_id_from_seed(nkey.secret_bytes())
            .map_err(|e| crate::error::config_err!("network key: {e}"))?;
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
                max_event_streams: crate::api::events::EVENT_STREAMS_DEFAULT,
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
        let toml = toml::to_string_pretty(&config).context("encoding config.toml")?;
        std::fs::write(home.join("config.toml"), toml)
            .with_context(|| format!("cannot write {}", home.join("config.toml").display()))?;
        entries.push(NodeEntry {
            name: format!("node{i}"),
            home,
            api: format!("http://127.0.0.1:{}", ports[i].1),
            p2p: p2p_addrs[i].clone(),
            member: genesis.members[node_members[i]].name.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, kind: MemberKind, bic: Option<&str>, validators: usize) -> MemberSpec {
        MemberSpec {
            name: name.into(),
            kind,
            bic: bic.map(String::from),
            clearing_id: None,
            validators,
        }
    }

    #[test]
    fn currencies_take_iso_exponents_or_explicit_ones() {
        let c = parse_currencies("USD, eur,JPY,ABC:3").expect("currencies");
        let got: Vec<(String, u8)> = c.iter().map(|(c, e)| (c.to_string(), *e)).collect();
        assert_eq!(
            got,
            [
                ("USD".into(), 2),
                ("EUR".into(), 2),
                ("JPY".into(), 0),
                ("ABC".into(), 3)
            ]
        );
        for (bad, why) in [
            ("", "no currency"),
            ("USD,USD", "twice"),
            ("ABC", "ABC:2"),
            ("USD:9", "0 to 8"),
            ("US", "currency"),
        ] {
            let e = format!("{:#}", parse_currencies(bad).expect_err(bad));
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn a_members_file_is_checked_field_by_field() {
        let ok = toml::from_str::<MembersFile>(
            r#"
            [[members]]
            name = "bank-a"
            kind = "bank"
            bic = "BANKGB2LXXX"
            clearing_id = "021000021"
            validators = 2
            [[members]]
            name = "mno-x"
            kind = "operator"
            [[members]]
            name = "auditor-psp"
            kind = "psp"
            validators = 0
            "#,
        )
        .expect("parse");
        check_members(&ok.members).expect("valid");
        assert_eq!(ok.members[1].validators, 1, "default: one validator");
        let unknown_field = toml::from_str::<MembersFile>(
            "[[members]]\nname = \"a\"\nkind = \"bank\"\nbicc = \"X\"\n",
        );
        assert!(unknown_field.is_err());
        let cases: Vec<(Vec<MemberSpec>, &str)> = vec![
            (vec![], "no [[members]]"),
            (
                vec![spec("Bank A", MemberKind::Bank, None, 1)],
                "lower-case",
            ),
            (
                vec![
                    spec("a", MemberKind::Bank, None, 1),
                    spec("a", MemberKind::Bank, None, 1),
                ],
                "used twice",
            ),
            (
                vec![spec("a", MemberKind::Bank, Some("BANKGB2"), 1)],
                "8 or 11",
            ),
            (
                vec![
                    spec("a", MemberKind::Bank, Some("BANKGB2L"), 1),
                    spec("b", MemberKind::Bank, Some("BANKGB2LXXX"), 1),
                ],
                "another member's",
            ),
            (vec![spec("a", MemberKind::Bank, None, 0)], "need 1 to 100"),
        ];
        for (members, want) in cases {
            let e = format!("{:#}", check_members(&members).expect_err(want));
            assert!(e.contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn init_from_a_members_file_gives_each_member_its_nodes_keys_and_identifiers() {
        let dir = std::env::temp_dir().join(format!(
            "settlenet-testnet-members-{}-{}",
            std::process::id(),
            crate::clock::now_ms()
        ));
        let opts = TestnetOptions {
            members: Some(vec![
                MemberSpec {
                    clearing_id: Some("021000021".into()),
                    ..spec("bank-a", MemberKind::Bank, Some("BANKGB2L"), 2)
                },
                spec("mno-x", MemberKind::Operator, Some("MNOXRWRW"), 1),
                spec("ch", MemberKind::ClearingHouse, None, 1),
                spec("psp-z", MemberKind::Psp, None, 0),
            ]),
            currencies: parse_currencies("USD,RWF").expect("currencies"),
            base_port: 41000,
            ..Default::default()
        };
        let nodes = init(&dir, &opts).expect("init");
        let names: Vec<&str> = nodes.iter().map(|n| n.member.as_str()).collect();
        assert_eq!(names, ["bank-a", "bank-a", "mno-x", "ch"]);
        let g = read_genesis(&dir.join("genesis.json")).expect("genesis");
        assert_eq!(g.members.len(), 4);
        assert_eq!(g.validators.len(), 4);
        assert_eq!(
            g.member_by_bic("BANKGB2LXXX").map(|m| m.name.as_str()),
            Some("bank-a")
        );
        assert_eq!(
            g.member_by_clearing_id("021000021")
                .map(|m| m.name.as_str()),
            Some("bank-a")
        );
        assert_eq!(g.exponent("RWF".parse().expect("rwf")), Some(0));
        assert!(dir.join("keys/psp-z/issuer.key").exists());
        assert!(dir.join("keys/ch/clearing.key").exists());
        // Settlement accounts for every member in every currency.
        assert_eq!(
            g.accounts
                .iter()
                .filter(|a| a.kind == GenesisAccountKind::Settlement)
                .count(),
            8
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn default_members_have_distinct_valid_bics() {
        let m = default_members(30);
        check_members(&m).expect("valid");
        assert_eq!(m[1].bic.as_deref(), Some("BNKARWRWXXX"));
    }
}
