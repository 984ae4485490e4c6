//! `settlenet testnet init`: a genesis, one home directory per validator, staff keys, and
//! `nodes.json` describing how to reach each node.

use crate::config::PhoneKey;
use crate::error::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use settlenet_types::{ConsensusParams, Currency, Genesis, MemberKind, Role};
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
    /// The IPv4 address each node listens on (p2p and API) and is reached at; `None`:
    /// 127.0.0.1 for every node. Tests that put each node in a network namespace of its own
    /// give one address per node.
    pub hosts: Option<Vec<std::net::Ipv4Addr>>,
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

pub(crate) fn check_members(members: &[MemberSpec]) -> Result<()> {
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
            hosts: None,
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
pub(crate) fn staff_roles(kind: MemberKind) -> Vec<Role> {
    match kind {
        MemberKind::ClearingHouse => vec![Role::Clearing],
        _ => vec![Role::Issuer, Role::Acquirer],
    }
}

/// Write a testnet into `dir` (which must be empty or absent). Returns the node entries.
///
/// It runs the genesis ceremony ([`crate::ceremony`]) for every member on this machine:
/// `member init` into `dir/keys/<member>` (staff keys `dir/keys/<member>/<role>.key`),
/// `genesis assemble` into `dir/genesis.json` and `dir/peers.toml`, then `node init` into
/// `dir/node<i>` for each validator, all on loopback.
pub fn init(dir: &Path, opts: &TestnetOptions) -> Result<Vec<NodeEntry>> {
    use crate::ceremony::{self, Endpoints, MemberInit, NodeInit, ValidatorInit};
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
    // Node i belongs to the member whose validators it is, in file order; (member, j) is its
    // place in that member's directory.
    let node_members: Vec<(usize, usize)> = specs
        .iter()
        .enumerate()
        .flat_map(|(m, spec)| (0..spec.validators).map(move |j| (m, j)))
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
    let hosts: Vec<std::net::Ipv4Addr> = match &opts.hosts {
        Some(h) if h.len() == n => h.clone(),
        Some(_) => bail!("hosts given for the wrong number of nodes"),
        None => vec![std::net::Ipv4Addr::LOCALHOST; n],
    };
    let host = |i: usize| hosts[i];

    // 1. Every member makes its keys and descriptor.
    let mut descriptors = Vec::new();
    for (m, spec) in specs.iter().enumerate() {
        let validators = node_members
            .iter()
            .enumerate()
            .filter(|(_, (owner, _))| *owner == m)
            .map(|(i, _)| ValidatorInit {
                name: format!("node{i}"),
                address: format!("/ip4/{}/tcp/{}", host(i), ports[i].0),
            })
            .collect();
        descriptors.push(ceremony::member_init(
            &dir.join("keys").join(&spec.name),
            &MemberInit {
                name: spec.name.clone(),
                kind: spec.kind,
                bic: spec.bic.clone(),
                clearing_id: spec.clearing_id.clone(),
                validators,
            },
        )?);
    }
    // 2. The genesis and the peer config.
    let (genesis, peers) = ceremony::assemble(
        &descriptors,
        &ceremony::AssembleOptions {
            chain_name: opts.chain_id.clone(),
            currencies: opts.currencies.clone(),
            settlement_balance: opts.settlement_balance,
            consensus: opts.consensus.clone(),
            genesis_time_ms: crate::clock::now_ms(),
        },
    )?;
    let genesis_path = dir.join("genesis.json");
    ceremony::write_genesis(&genesis_path, &genesis, &peers)?;
    // One consortium phone key, shared by every node (each home holds a copy, mode 0600).
    let phone_path = dir.join("phone.key");
    PhoneKey::write_file(&phone_path, &PhoneKey::generate())?;
    // 3. Every node's home.
    let mut entries = Vec::new();
    for (i, (m, j)) in node_members.iter().enumerate() {
        let home = dir.join(format!("node{i}"));
        ceremony::node_init(&NodeInit {
            genesis: genesis_path.clone(),
            peers: Some(peers.clone()),
            bootstrap: Vec::new(),
            member_dir: dir.join("keys").join(&specs[*m].name),
            node: *j,
            home: home.clone(),
            endpoints: Endpoints {
                listen: format!("/ip4/{}/tcp/{}", host(i), ports[i].0),
                advertise: Vec::new(),
                api_listen: format!("{}:{}", host(i), ports[i].1),
            },
            phone_key: Some(phone_path.clone()),
            default_country: opts.default_country.clone(),
        })
        .with_context(|| format!("node{i}"))?;
        entries.push(NodeEntry {
            name: format!("node{i}"),
            home,
            api: format!("http://{}:{}", host(i), ports[i].1),
            p2p: peers.bootstrap[i].clone(),
            member: specs[*m].name.clone(),
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
    let text = crate::ceremony::read_document(path, "genesis")?;
    parse_genesis(&text, path)
}

/// Parse and validate a genesis read from `path`.
pub fn parse_genesis(text: &str, path: &Path) -> Result<Genesis> {
    let g: Genesis = serde_json::from_str(text)
        .with_context(|| format!("invalid genesis {}", path.display()))?;
    g.validate()
        .with_context(|| format!("invalid genesis {}", path.display()))?;
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use settlenet_types::GenesisAccountKind;

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
