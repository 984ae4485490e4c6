//! The genesis ceremony: how separate institutions found a network without any private key
//! leaving the institution that made it.
//!
//! ```text
//!  each member          member init ──> D/member.json (public, signed)   D/*.key, D/node<j>/*.key (0600)
//!  the coordinator      genesis assemble D1/member.json D2/... ──> genesis.json + peers.toml
//!  every member         genesis show genesis.json ──> hash, compared out of band
//!  each member          node init --genesis --peers --member-dir D --node j ──> validator home
//!  an integrator        join --genesis --peers ──> observer home (+ its peer id, to be registered)
//! ```
//!
//! A member descriptor lists the member's staff keys and, per validator, its consensus key, its
//! network key (whose libp2p peer id the genesis allow-lists) and the address others dial. It
//! carries a proof of possession from every key it lists (each signs the descriptor's body
//! under [`Domain::MemberDescriptor`]), so nobody can put a key they do not hold, or another
//! member's key, into the genesis. `genesis assemble` checks every proof.
//!
//! `testnet init` runs the same steps for every member on one machine.

use crate::config::{
    ApiConfig, LocalConsensusConfig, MempoolConfig, NodeConfig, NodeRole, P2pConfig, PhoneConfig,
};
use crate::error::{bail, config_err, Context, Result};
use crate::testnet::{check_members, staff_roles, MemberSpec};
use serde::{Deserialize, Serialize};
use settlenet_crypto::{KeyFile, KeyKind, Keypair};
use settlenet_net::Multiaddr;
use settlenet_types::{
    AccountId, ConsensusParams, Currency, CurrencyInfo, Domain, Genesis, GenesisAccount,
    GenesisAccountKind, Hash, Member, MemberId, MemberKind, PublicKey, ReplicaId, Signature,
    StaffKey, ValidatorInfo,
};
use std::path::{Path, PathBuf};

/// Version of the member descriptor layout.
pub const DESCRIPTOR_VERSION: u16 = 1;
/// Version of the peer config layout.
pub const PEERS_VERSION: u16 = 1;
/// The descriptor's file name in a member directory.
pub const DESCRIPTOR_FILE: &str = "member.json";
/// The peer config's file name next to the genesis.
pub const PEERS_FILE: &str = "peers.toml";
/// Largest descriptor, genesis or peer config read (bytes): they are small documents.
pub const DOCUMENT_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// What a member hands to the coordinator: public keys and addresses, no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberDescriptor {
    /// [`DESCRIPTOR_VERSION`].
    pub version: u16,
    /// Short unique name (lower-case letters, digits, `-`).
    pub name: String,
    /// Kind of institution.
    pub kind: MemberKind,
    /// BIC, if any.
    pub bic: Option<String>,
    /// National clearing code, if any.
    pub clearing_id: Option<String>,
    /// Staff keys and their roles.
    pub staff: Vec<StaffKey>,
    /// The validators it runs (possibly none).
    pub validators: Vec<ValidatorDescriptor>,
    /// Proofs of possession: a [`Domain::MemberDescriptor`] signature over
    /// [`MemberDescriptor::body_hash`] by every staff key in order, then by each validator's
    /// consensus key and network key.
    pub proofs: Vec<Signature>,
}

/// One validator of a member descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorDescriptor {
    /// Node name (logs, status).
    pub name: String,
    /// Consensus key.
    pub public_key: PublicKey,
    /// Network (libp2p) key; `peer_id` derives from it.
    pub network_key: PublicKey,
    /// libp2p peer id.
    pub peer_id: String,
    /// Where the other nodes dial it (multiaddr without `/p2p`), e.g. `/dns4/bank-a/tcp/26600`.
    pub address: String,
}

impl MemberDescriptor {
    /// Hash of everything but the proofs.
    pub fn body_hash(&self) -> Result<Hash> {
        let body = MemberDescriptor {
            proofs: Vec::new(),
            ..self.clone()
        };
        Ok(Domain::MemberDescriptor.hash(&settlenet_types::encode("member descriptor", &body)?))
    }

    /// The keys that must prove possession, in proof order.
    fn proving_keys(&self) -> Vec<(String, PublicKey)> {
        let mut keys: Vec<(String, PublicKey)> = self
            .staff
            .iter()
            .map(|s| (format!("staff key {:?}", s.name), s.public_key))
            .collect();
        for v in &self.validators {
            keys.push((format!("validator {} consensus key", v.name), v.public_key));
            keys.push((format!("validator {} network key", v.name), v.network_key));
        }
        keys
    }

    /// Check the descriptor on its own: version, names, keys, peer ids, addresses, proofs.
    pub fn check(&self) -> Result<()> {
        if self.version != DESCRIPTOR_VERSION {
            bail!(
                "version {} is not supported (this build reads version {DESCRIPTOR_VERSION})",
                self.version
            );
        }
        check_members(&[self.spec_for_check()])?;
        if self.staff.is_empty() {
            bail!("member {}: no staff key", self.name);
        }
        for s in &self.staff {
            if s.roles.is_empty() {
                bail!("member {}: staff key {:?} has no role", self.name, s.name);
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for v in &self.validators {
            if v.name.is_empty() || v.name.len() > 64 || !names.insert(v.name.clone()) {
                bail!(
                    "member {}: validator name {:?} empty, too long or repeated",
                    self.name,
                    v.name
                );
            }
            let derived = settlenet_net::peer_id_from_public_key(v.network_key.0)
                .map_err(|e| config_err!("validator {}: {e}", v.name))?;
            if derived.to_string() != v.peer_id {
                bail!(
                    "validator {}: peer id {} is not the network key's ({derived})",
                    v.name,
                    v.peer_id
                );
            }
            p2p_address(&v.address).with_context(|| format!("validator {} address", v.name))?;
        }
        let keys = self.proving_keys();
        if self.proofs.len() != keys.len() {
            bail!(
                "member {}: {} proofs of possession for {} keys",
                self.name,
                self.proofs.len(),
                keys.len()
            );
        }
        let message = Domain::MemberDescriptor.message(&self.body_hash()?.0);
        for ((what, key), proof) in keys.iter().zip(&self.proofs) {
            settlenet_crypto::verify(key, &message, proof).map_err(|_| {
                config_err!(
                    "member {}: {what} {key}: the proof of possession does not verify (the \
                     descriptor was changed after it was signed, or the key is not theirs)",
                    self.name
                )
            })?;
        }
        Ok(())
    }

    fn spec_for_check(&self) -> MemberSpec {
        MemberSpec {
            name: self.name.clone(),
            kind: self.kind,
            bic: self.bic.clone(),
            clearing_id: self.clearing_id.clone(),
            // check_members wants at least one validator overall; counted by `assemble`.
            validators: self.validators.len().max(1),
        }
    }
}

/// `member init`: one validator to create.
#[derive(Debug, Clone)]
pub struct ValidatorInit {
    /// Node name.
    pub name: String,
    /// Address others dial: a multiaddr or `HOST:PORT` (see [`p2p_address`]).
    pub address: String,
}

/// `member init` options.
#[derive(Debug, Clone)]
pub struct MemberInit {
    /// Member name.
    pub name: String,
    /// Kind of institution.
    pub kind: MemberKind,
    /// BIC.
    pub bic: Option<String>,
    /// National clearing code.
    pub clearing_id: Option<String>,
    /// The validators it runs.
    pub validators: Vec<ValidatorInit>,
}

/// Turn an address as an operator writes it into a TCP multiaddr without `/p2p`:
/// a multiaddr (`/ip4/10.0.0.5/tcp/26600`, `/dns4/bank-a.example/tcp/26600`) or `HOST:PORT`
/// (`10.0.0.5:26600`, `[::1]:26600`, `bank-a.example:26600`).
pub fn p2p_address(text: &str) -> Result<Multiaddr> {
    use libp2p::multiaddr::Protocol;
    let addr: Multiaddr = if text.starts_with('/') {
        text.parse()
            .with_context(|| format!("{text:?} is not a multiaddr"))?
    } else {
        let (host, port) = text.rsplit_once(':').with_context(|| {
            format!("{text:?}: expected HOST:PORT or a multiaddr like /dns4/HOST/tcp/PORT")
        })?;
        let port: u16 = port
            .parse()
            .with_context(|| format!("{text:?}: port {port:?}"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let mut a = Multiaddr::empty();
        match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) => a.push(Protocol::Ip4(ip)),
            Ok(std::net::IpAddr::V6(ip)) => a.push(Protocol::Ip6(ip)),
            Err(_) => {
                if host.is_empty()
                    || host.len() > 253
                    || !host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                {
                    bail!("{text:?}: {host:?} is not an IP address or a DNS name");
                }
                a.push(Protocol::Dns4(host.to_string().into()))
            }
        }
        a.push(Protocol::Tcp(port));
        a
    };
    let mut has_host = false;
    let mut has_tcp = false;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(_)
            | Protocol::Ip6(_)
            | Protocol::Dns(_)
            | Protocol::Dns4(_)
            | Protocol::Dns6(_) => has_host = true,
            Protocol::Tcp(_) => has_tcp = true,
            Protocol::P2p(_) => bail!("{text:?}: give the address without /p2p/<peer id>"),
            other => bail!("{text:?}: unsupported protocol {other}"),
        }
    }
    if !has_host || !has_tcp {
        bail!("{text:?}: an address needs a host (ip4, ip6, dns4) and a tcp port");
    }
    Ok(addr)
}

/// Refuse to write into a directory that holds anything.
fn fresh_dir(dir: &Path, what: &str) -> Result<PathBuf> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty: refusing to overwrite an existing {what}",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    dir.canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))
}

/// Read a small document, refusing anything over [`DOCUMENT_MAX_BYTES`].
pub fn read_document(path: &Path, what: &str) -> Result<String> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if meta.len() > DOCUMENT_MAX_BYTES {
        bail!(
            "{what} {} is {} bytes: larger than {DOCUMENT_MAX_BYTES}, not a {what}",
            path.display(),
            meta.len()
        );
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// `member init`: generate the member's staff keys and its validators' consensus and network
/// keys in `dir` (mode 0600), and write the signed public descriptor `dir/member.json`.
///
/// Layout: `dir/member.json`, `dir/<role>.key` (staff), `dir/node<j>/validator.key` and
/// `dir/node<j>/network.key` for its j-th validator.
pub fn member_init(dir: &Path, opts: &MemberInit) -> Result<MemberDescriptor> {
    let dir = fresh_dir(dir, "member directory")?;
    let mut signers: Vec<Keypair> = Vec::new();
    let mut staff = Vec::new();
    for role in staff_roles(opts.kind) {
        let role_name = role_name(role);
        let key = Keypair::generate();
        KeyFile::new(KeyKind::Staff, &key).write(&dir.join(format!("{role_name}.key")))?;
        staff.push(StaffKey {
            name: role_name,
            public_key: key.public(),
            roles: vec![role],
        });
        signers.push(key);
    }
    let mut validators = Vec::new();
    for (j, v) in opts.validators.iter().enumerate() {
        let address = p2p_address(&v.address)
            .with_context(|| format!("validator {} address", v.name))?
            .to_string();
        let vkey = Keypair::generate();
        let nkey = Keypair::generate();
        let peer = settlenet_net::peer_id_from_seed(nkey.secret_bytes())
            .map_err(|e| config_err!("network key: {e}"))?;
        let node_dir = dir.join(format!("node{j}"));
        std::fs::create_dir_all(&node_dir)
            .with_context(|| format!("cannot create {}", node_dir.display()))?;
        KeyFile::new(KeyKind::Validator, &vkey).write(&node_dir.join("validator.key"))?;
        KeyFile::new(KeyKind::Network, &nkey).write(&node_dir.join("network.key"))?;
        validators.push(ValidatorDescriptor {
            name: v.name.clone(),
            public_key: vkey.public(),
            network_key: nkey.public(),
            peer_id: peer.to_string(),
            address,
        });
        signers.push(vkey);
        signers.push(nkey);
    }
    let mut descriptor = MemberDescriptor {
        version: DESCRIPTOR_VERSION,
        name: opts.name.clone(),
        kind: opts.kind,
        bic: opts.bic.clone(),
        clearing_id: opts.clearing_id.clone(),
        staff,
        validators,
        proofs: Vec::new(),
    };
    let message = Domain::MemberDescriptor.message(&descriptor.body_hash()?.0);
    descriptor.proofs = signers.iter().map(|k| k.sign(&message)).collect();
    descriptor
        .check()
        .with_context(|| format!("member {}", opts.name))?;
    write_new(
        &dir.join(DESCRIPTOR_FILE),
        &serde_json::to_string_pretty(&descriptor)?,
    )?;
    Ok(descriptor)
}

/// A staff role's name as used for key files (`issuer`, `acquirer`, `clearing`).
pub fn role_name(role: settlenet_types::Role) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| "staff".into())
}

/// Read and check a member descriptor.
pub fn read_descriptor(path: &Path) -> Result<MemberDescriptor> {
    let text = read_document(path, "member descriptor")?;
    let d: MemberDescriptor = serde_json::from_str(&text)
        .with_context(|| format!("member descriptor {} is not valid", path.display()))?;
    d.check()
        .with_context(|| format!("member descriptor {}", path.display()))?;
    Ok(d)
}

/// `genesis assemble` options.
#[derive(Debug, Clone)]
pub struct AssembleOptions {
    /// The network's name; the chain id is this name bound to the genesis
    /// ([`Genesis::bind_chain_id`]).
    pub chain_name: String,
    /// Currencies and exponents.
    pub currencies: Vec<(Currency, u8)>,
    /// Opening balance of every member's settlement account (minor units).
    pub settlement_balance: u64,
    /// Consensus parameters.
    pub consensus: ConsensusParams,
    /// Consensus time of height 0 (ms since the epoch).
    pub genesis_time_ms: u64,
}

/// What integrators and validators dial: written next to the genesis by `genesis assemble`,
/// handed by a member to its integrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// [`PEERS_VERSION`].
    pub version: u16,
    /// The chain id (for people: the hash is what is checked).
    pub chain_id: String,
    /// The genesis hash: a node refuses a genesis with any other.
    pub genesis_hash: Hash,
    /// Validators' addresses, each ending in `/p2p/<peer id>`.
    pub bootstrap: Vec<String>,
}

impl PeerConfig {
    /// Read and check a peer config (TOML).
    pub fn read(path: &Path) -> Result<PeerConfig> {
        let text = read_document(path, "peer config")?;
        let p: PeerConfig = toml::from_str(&text)
            .with_context(|| format!("peer config {} is not valid", path.display()))?;
        if p.version != PEERS_VERSION {
            bail!(
                "peer config {}: version {} is not supported (expected {PEERS_VERSION})",
                path.display(),
                p.version
            );
        }
        for a in &p.bootstrap {
            bootstrap_address(a).with_context(|| format!("peer config {}", path.display()))?;
        }
        Ok(p)
    }

    /// Check it belongs to `genesis`.
    pub fn check_genesis(&self, genesis_hash: Hash) -> Result<()> {
        if self.genesis_hash != genesis_hash {
            bail!(
                "the peer config is for genesis {} but the genesis given hashes to {genesis_hash}: \
                 they belong to different networks",
                self.genesis_hash
            );
        }
        Ok(())
    }
}

/// Parse a bootstrap address: a multiaddr ending in `/p2p/<peer id>`.
pub fn bootstrap_address(text: &str) -> Result<(settlenet_net::PeerId, Multiaddr)> {
    let addr: Multiaddr = text
        .parse()
        .with_context(|| format!("bootstrap address {text:?}"))?;
    let peer = addr
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::P2p(id) => Some(id),
            _ => None,
        })
        .with_context(|| format!("bootstrap address {text:?} must end in /p2p/<peer id>"))?;
    Ok((peer, addr))
}

/// `genesis assemble`: check every descriptor and build the genesis and the peer config.
pub fn assemble(
    descriptors: &[MemberDescriptor],
    opts: &AssembleOptions,
) -> Result<(Genesis, PeerConfig)> {
    for d in descriptors {
        d.check().with_context(|| format!("member {}", d.name))?;
    }
    let specs: Vec<MemberSpec> = descriptors
        .iter()
        .map(|d| MemberSpec {
            validators: d.validators.len(),
            ..d.spec_for_check()
        })
        .collect();
    check_members(&specs)?;
    if opts.currencies.is_empty() {
        bail!("no currency given");
    }
    let mut members = Vec::new();
    let mut validators = Vec::new();
    let mut bootstrap = Vec::new();
    for (i, d) in descriptors.iter().enumerate() {
        let id = MemberId(u16::try_from(i).map_err(|_| config_err!("too many members"))?);
        members.push(Member {
            id,
            name: d.name.clone(),
            kind: d.kind,
            bic: d.bic.clone(),
            clearing_id: d.clearing_id.clone(),
            staff: d.staff.clone(),
            net_debit_caps: Vec::new(),
        });
        for v in &d.validators {
            let r =
                u16::try_from(validators.len()).map_err(|_| config_err!("too many validators"))?;
            validators.push(ValidatorInfo {
                id: ReplicaId(r),
                name: v.name.clone(),
                member: id,
                public_key: v.public_key,
                peer_id: v.peer_id.clone(),
            });
            bootstrap.push(format!("{}/p2p/{}", v.address, v.peer_id));
        }
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
    let mut genesis = Genesis {
        version: settlenet_types::genesis::GENESIS_VERSION,
        chain_id: String::new(),
        genesis_time_ms: opts.genesis_time_ms,
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
    genesis
        .bind_chain_id(&opts.chain_name)
        .context("--chain-name")?;
    genesis.validate().context("the assembled genesis")?;
    let peers = PeerConfig {
        version: PEERS_VERSION,
        chain_id: genesis.chain_id.clone(),
        genesis_hash: genesis.hash()?,
        bootstrap,
    };
    Ok((genesis, peers))
}

/// Write the genesis and the peer config into `dir` (never overwriting either).
pub fn write_genesis(
    genesis_path: &Path,
    genesis: &Genesis,
    peers: &PeerConfig,
) -> Result<PathBuf> {
    let peers_path = genesis_path.with_file_name(PEERS_FILE);
    if genesis_path.exists() || peers_path.exists() {
        bail!(
            "{} or {} exists: refusing to overwrite a genesis",
            genesis_path.display(),
            peers_path.display()
        );
    }
    if let Some(parent) = genesis_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    write_new(genesis_path, &serde_json::to_string_pretty(genesis)?)?;
    write_new(
        &peers_path,
        &toml::to_string_pretty(peers).context("encoding the peer config")?,
    )?;
    Ok(peers_path)
}

/// Create `path` (never overwriting) with `text`, synced.
fn write_new(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// What `genesis show` prints.
#[derive(Debug, Clone, Serialize)]
pub struct GenesisSummary {
    /// The hash every institution compares out of band.
    pub hash: Hash,
    /// The chain id.
    pub chain_id: String,
    /// Whether the chain id is bound to this genesis.
    pub chain_id_bound: bool,
    /// Consensus time of height 0.
    pub genesis_time_ms: u64,
    /// Currencies with exponents, e.g. "USD:2".
    pub currencies: Vec<String>,
    /// Members: name, kind, BIC, validators.
    pub members: Vec<MemberSummary>,
    /// Validators.
    pub validators: usize,
    /// Faulty validators tolerated.
    pub faults_tolerated: usize,
}

/// One member in a [`GenesisSummary`].
#[derive(Debug, Clone, Serialize)]
pub struct MemberSummary {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: MemberKind,
    /// BIC.
    pub bic: Option<String>,
    /// Staff keys.
    pub staff_keys: usize,
    /// Validators: name and peer id.
    pub validators: Vec<(String, String)>,
}

/// Summarise a genesis for `genesis show`.
pub fn summary(genesis: &Genesis) -> Result<GenesisSummary> {
    Ok(GenesisSummary {
        hash: genesis.hash()?,
        chain_id: genesis.chain_id.clone(),
        chain_id_bound: genesis.chain_id_is_bound(),
        genesis_time_ms: genesis.genesis_time_ms,
        currencies: genesis
            .currencies
            .iter()
            .map(|c| format!("{}:{}", c.code, c.exponent))
            .collect(),
        members: genesis
            .members
            .iter()
            .map(|m| MemberSummary {
                name: m.name.clone(),
                kind: m.kind,
                bic: m.bic.clone(),
                staff_keys: m.staff.len(),
                validators: genesis
                    .validators
                    .iter()
                    .filter(|v| v.member == m.id)
                    .map(|v| (v.name.clone(), v.peer_id.clone()))
                    .collect(),
            })
            .collect(),
        validators: genesis.n(),
        faults_tolerated: genesis.f(),
    })
}

/// Where a node listens and how it is reached (`node init`, `join`).
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// p2p listen multiaddr, e.g. `/ip4/0.0.0.0/tcp/26600`.
    pub listen: String,
    /// Advertised p2p addresses (if others reach it elsewhere than `listen`).
    pub advertise: Vec<String>,
    /// API listen socket address, e.g. `0.0.0.0:26700`.
    pub api_listen: String,
}

/// `node init` options.
#[derive(Debug, Clone)]
pub struct NodeInit {
    /// The genesis file.
    pub genesis: PathBuf,
    /// The peer config written with it (bootstrap addresses; its hash must match).
    pub peers: Option<PeerConfig>,
    /// Extra bootstrap addresses (`.../p2p/<peer id>`).
    pub bootstrap: Vec<String>,
    /// The member directory `member init` wrote.
    pub member_dir: PathBuf,
    /// Which of the member's validators (0-based).
    pub node: usize,
    /// The home to create.
    pub home: PathBuf,
    /// Listen and advertised addresses.
    pub endpoints: Endpoints,
    /// The consortium phone-alias key file to copy in (mode 0600), if any.
    pub phone_key: Option<PathBuf>,
    /// Default country code for national phone numbers.
    pub default_country: String,
}

/// `node init`: a validator's home from the genesis and its member directory: keys copied in
/// (mode 0600), the genesis, and a config pinned to the genesis hash.
pub fn node_init(opts: &NodeInit) -> Result<NodeConfig> {
    let genesis_text = read_document(&opts.genesis, "genesis")?;
    let genesis = crate::testnet::parse_genesis(&genesis_text, &opts.genesis)?;
    let hash = genesis.hash()?;
    if let Some(p) = &opts.peers {
        p.check_genesis(hash)?;
    }
    let descriptor = read_descriptor(&opts.member_dir.join(DESCRIPTOR_FILE))?;
    let v = descriptor.validators.get(opts.node).with_context(|| {
        format!(
            "member {} has {} validator(s): there is no validator {} (--validator)",
            descriptor.name,
            descriptor.validators.len(),
            opts.node
        )
    })?;
    let listed = genesis
        .validators
        .iter()
        .find(|g| g.public_key == v.public_key)
        .with_context(|| {
            format!(
                "validator {} ({}) of {} is not in this genesis",
                v.name, v.public_key, descriptor.name
            )
        })?;
    if listed.peer_id != v.peer_id {
        bail!(
            "validator {}: the genesis lists peer id {} but the member directory holds {}",
            v.name,
            listed.peer_id,
            v.peer_id
        );
    }
    let key_dir = opts.member_dir.join(format!("node{}", opts.node));
    let (_, vkey) = KeyFile::read(&key_dir.join("validator.key"), Some(KeyKind::Validator))?;
    let (_, nkey) = KeyFile::read(&key_dir.join("network.key"), Some(KeyKind::Network))?;
    if vkey.public() != v.public_key || nkey.public() != v.network_key {
        bail!(
            "the keys in {} are not the ones member.json lists for {}",
            key_dir.display(),
            v.name
        );
    }
    let home = fresh_dir(&opts.home, "node home")?;
    write_new(&home.join("genesis.json"), genesis_text.trim_end())?;
    KeyFile::new(KeyKind::Validator, &vkey).write(&home.join("validator.key"))?;
    KeyFile::new(KeyKind::Network, &nkey).write(&home.join("network.key"))?;
    let phone = match &opts.phone_key {
        Some(src) => {
            let key = crate::config::PhoneKey::load(
                Path::new("/"),
                &PhoneConfig {
                    key_file: src.clone(),
                    key_version: 1,
                    default_country: opts.default_country.clone(),
                },
            )?;
            crate::config::PhoneKey::write_file(&home.join("phone.key"), key.key_bytes())?;
            Some(PhoneConfig {
                key_file: "phone.key".into(),
                key_version: 1,
                default_country: opts.default_country.clone(),
            })
        }
        None => None,
    };
    let mut bootstrap: Vec<String> = opts
        .peers
        .iter()
        .flat_map(|p| p.bootstrap.iter().cloned())
        .chain(opts.bootstrap.iter().cloned())
        .filter(|a| !a.ends_with(&format!("/p2p/{}", v.peer_id)))
        .collect();
    bootstrap.dedup();
    let config = home_config(
        &home,
        v.name.clone(),
        NodeRole::Validator,
        hash,
        bootstrap,
        &opts.endpoints,
        phone,
    )?;
    Ok(config)
}

/// `join` options: an observer's home.
#[derive(Debug, Clone)]
pub struct JoinInit {
    /// Node name.
    pub name: String,
    /// The genesis file.
    pub genesis: PathBuf,
    /// The peer config (bootstrap addresses, genesis hash).
    pub peers: PeerConfig,
    /// Extra bootstrap addresses.
    pub bootstrap: Vec<String>,
    /// The home to create.
    pub home: PathBuf,
    /// Listen and advertised addresses.
    pub endpoints: Endpoints,
}

/// `join`: an observer's home (a new network key, the genesis, a config pinned to its hash).
/// Returns the config and the observer's peer id, which a member registers
/// (`settlenet observer register`) or a validator lists in `[p2p] observers`.
pub fn join(opts: &JoinInit) -> Result<(NodeConfig, String)> {
    let genesis_text = read_document(&opts.genesis, "genesis")?;
    let genesis = crate::testnet::parse_genesis(&genesis_text, &opts.genesis)?;
    let hash = genesis.hash()?;
    opts.peers.check_genesis(hash)?;
    let mut bootstrap: Vec<String> = opts
        .peers
        .bootstrap
        .iter()
        .chain(&opts.bootstrap)
        .cloned()
        .collect();
    bootstrap.dedup();
    if bootstrap.is_empty() {
        bail!("no bootstrap address: an observer needs at least one validator to sync from");
    }
    let home = fresh_dir(&opts.home, "node home")?;
    write_new(&home.join("genesis.json"), genesis_text.trim_end())?;
    let nkey = Keypair::generate();
    KeyFile::new(KeyKind::Network, &nkey).write(&home.join("network.key"))?;
    let peer = settlenet_net::peer_id_from_seed(nkey.secret_bytes())
        .map_err(|e| config_err!("network key: {e}"))?;
    let config = home_config(
        &home,
        opts.name.clone(),
        NodeRole::Observer,
        hash,
        bootstrap,
        &opts.endpoints,
        None,
    )?;
    Ok((config, peer.to_string()))
}

/// Write `home/config.toml`.
fn home_config(
    home: &Path,
    name: String,
    role: NodeRole,
    genesis_hash: Hash,
    bootstrap: Vec<String>,
    endpoints: &Endpoints,
    phone: Option<PhoneConfig>,
) -> Result<NodeConfig> {
    let listen: Multiaddr = endpoints
        .listen
        .parse()
        .with_context(|| format!("--listen {:?}", endpoints.listen))?;
    let advertise = endpoints
        .advertise
        .iter()
        .map(|a| p2p_address(a).map(|m| m.to_string()))
        .collect::<Result<Vec<_>>>()
        .context("--advertise")?;
    for a in &bootstrap {
        bootstrap_address(a)?;
    }
    endpoints
        .api_listen
        .parse::<std::net::SocketAddr>()
        .with_context(|| format!("--api-listen {:?} (expected IP:PORT)", endpoints.api_listen))?;
    std::fs::create_dir_all(home.join("data"))
        .with_context(|| format!("cannot create {}", home.join("data").display()))?;
    let config = NodeConfig {
        name,
        role,
        genesis: "genesis.json".into(),
        genesis_hash,
        validator_key: "validator.key".into(),
        network_key: "network.key".into(),
        data_dir: "data".into(),
        p2p: P2pConfig {
            listen: listen.to_string(),
            advertise,
            bootstrap,
            observers: Vec::new(),
            peer_messages_per_sec: crate::config::default_peer_messages_per_sec(),
            peer_bytes_per_sec: crate::config::default_peer_bytes_per_sec(),
            ban_after_bad_signatures: crate::config::default_ban_after_bad_signatures(),
            ban_secs: crate::config::default_ban_secs(),
        },
        api: ApiConfig {
            listen: endpoints.api_listen.clone(),
            max_body_bytes: crate::config::default_body_limit(),
            max_batch_txs: crate::config::default_batch_max(),
            max_event_streams: crate::api::events::EVENT_STREAMS_DEFAULT,
            rate_per_client: crate::config::default_rate_per_client(),
            rate_burst: crate::config::default_rate_burst(),
            verify_threads: 0,
        },
        mempool: MempoolConfig::default(),
        consensus: LocalConsensusConfig::default(),
        phone,
        sync: Default::default(),
        storage: Default::default(),
    };
    let toml = toml::to_string_pretty(&config).context("encoding config.toml")?;
    write_new(&home.join("config.toml"), &toml)?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory, removed when dropped.
    struct Tmp(PathBuf);

    impl Tmp {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tmp(name: &str) -> Tmp {
        Tmp(std::env::temp_dir().join(format!(
            "settlenet-ceremony-{name}-{}-{}",
            std::process::id(),
            crate::clock::now_ms()
        )))
    }

    fn member(dir: &Path, name: &str, kind: MemberKind, port: u16) -> MemberDescriptor {
        member_init(
            &dir.join(name),
            &MemberInit {
                name: name.into(),
                kind,
                bic: None,
                clearing_id: None,
                validators: vec![ValidatorInit {
                    name: name.into(),
                    address: format!("{name}:{port}"),
                }],
            },
        )
        .expect("member init")
    }

    fn options() -> AssembleOptions {
        AssembleOptions {
            chain_name: "settlenet".into(),
            currencies: vec![(Currency(*b"USD"), 2)],
            settlement_balance: 1_000,
            consensus: ConsensusParams::default(),
            genesis_time_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn addresses_are_written_as_multiaddrs() {
        let ok = [
            ("10.0.0.5:26600", "/ip4/10.0.0.5/tcp/26600"),
            ("[::1]:26600", "/ip6/::1/tcp/26600"),
            ("bank-a.example:1", "/dns4/bank-a.example/tcp/1"),
            ("/dns4/bank-a/tcp/26600", "/dns4/bank-a/tcp/26600"),
            ("/ip4/127.0.0.1/tcp/5", "/ip4/127.0.0.1/tcp/5"),
        ];
        for (text, want) in ok {
            assert_eq!(p2p_address(text).expect(text).to_string(), want);
        }
        for bad in [
            "bank-a",
            "bank-a:http",
            "bank_a!:1",
            "/ip4/1.2.3.4",
            "/ip4/1.2.3.4/udp/1",
            "/ip4/1.2.3.4/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN",
            ":26600",
        ] {
            assert!(p2p_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn four_institutions_assemble_one_genesis_and_every_descriptor_is_checked() {
        let dir = tmp("assemble");
        let d = dir.path();
        let members = vec![
            member(d, "operator-a", MemberKind::Operator, 1),
            member(d, "bank-a", MemberKind::Bank, 2),
            member(d, "bank-b", MemberKind::Bank, 3),
            member(d, "clearing-house", MemberKind::ClearingHouse, 4),
        ];
        // What is written is what was returned, and it reads back checked.
        let read = read_descriptor(&d.join("bank-a").join(DESCRIPTOR_FILE)).expect("read");
        assert_eq!(read, members[1]);
        // No secret in a descriptor.
        let text = std::fs::read_to_string(d.join("bank-a").join(DESCRIPTOR_FILE)).expect("read");
        assert!(!text.contains("secret"), "{text}");

        let (g, peers) = assemble(&members, &options()).expect("assemble");
        assert_eq!(g.n(), 4);
        assert!(g.chain_id_is_bound());
        assert_eq!(peers.genesis_hash, g.hash().expect("hash"));
        assert_eq!(peers.bootstrap.len(), 4);
        assert!(peers.bootstrap[1].starts_with("/dns4/bank-a/tcp/2/p2p/12D3KooW"));
        // Same inputs, same genesis: every institution can re-run the assembly and compare.
        let (again, _) = assemble(&members, &options()).expect("assemble");
        assert_eq!(again.hash().expect("hash"), g.hash().expect("hash"));

        // A member slipping in another member's validator key: its proof cannot verify.
        let mut thief = members[1].clone();
        thief.validators[0].public_key = members[2].validators[0].public_key;
        let e = assemble(&[members[0].clone(), thief], &options()).expect_err("stolen key");
        assert!(e.to_string().contains("proof of possession"), "{e}");
        // A descriptor edited after signing (a changed address).
        let mut edited = members[1].clone();
        edited.validators[0].address = "/dns4/evil/tcp/1".into();
        let e = assemble(&[edited], &options()).expect_err("edited");
        assert!(e.to_string().contains("proof of possession"), "{e}");
        // A peer id that is not the network key's.
        let mut wrong_peer = members[1].clone();
        wrong_peer.validators[0].peer_id = members[2].validators[0].peer_id.clone();
        let e = assemble(&[wrong_peer], &options()).expect_err("peer id");
        assert!(e.to_string().contains("not the network key's"), "{e}");
        // The same member twice.
        let e = assemble(&[members[1].clone(), members[1].clone()], &options()).expect_err("twice");
        assert!(e.to_string().contains("used twice"), "{e}");
        // A member directory is never overwritten.
        let e = member_init(
            &d.join("bank-a"),
            &MemberInit {
                name: "bank-a".into(),
                kind: MemberKind::Bank,
                bic: None,
                clearing_id: None,
                validators: vec![],
            },
        )
        .expect_err("overwrite");
        assert!(e.to_string().contains("not empty"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn node_init_pins_the_genesis_and_keeps_keys_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmp("node-init");
        let d = dir.path();
        let members = vec![
            member(d, "bank-a", MemberKind::Bank, 2),
            member(d, "bank-b", MemberKind::Bank, 3),
        ];
        let (g, peers) = assemble(&members, &options()).expect("assemble");
        let genesis_path = d.join("out").join("genesis.json");
        write_genesis(&genesis_path, &g, &peers).expect("write");
        let peers = PeerConfig::read(&d.join("out").join(PEERS_FILE)).expect("peers");
        let endpoints = Endpoints {
            listen: "/ip4/0.0.0.0/tcp/26600".into(),
            advertise: vec!["bank-a:26600".into()],
            api_listen: "0.0.0.0:26700".into(),
        };
        let init = NodeInit {
            genesis: genesis_path.clone(),
            peers: Some(peers.clone()),
            bootstrap: vec![],
            member_dir: d.join("bank-a"),
            node: 0,
            home: d.join("home-a"),
            endpoints: endpoints.clone(),
            phone_key: None,
            default_country: "250".into(),
        };
        let config = node_init(&init).expect("node init");
        assert_eq!(config.genesis_hash, g.hash().expect("hash"));
        assert_eq!(config.p2p.bootstrap.len(), 1, "the others, not itself");
        assert_eq!(config.p2p.advertise, ["/dns4/bank-a/tcp/26600"]);
        for key in ["validator.key", "network.key"] {
            let mode = std::fs::metadata(d.join("home-a").join(key))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
        let back = NodeConfig::load(&d.join("home-a")).expect("config reads back");
        assert_eq!(back.genesis_hash, config.genesis_hash);

        // A peer config from another network.
        let mut foreign = peers.clone();
        foreign.genesis_hash = Hash([7; 32]);
        let e = node_init(&NodeInit {
            peers: Some(foreign),
            home: d.join("home-x"),
            ..init.clone()
        })
        .expect_err("foreign peers");
        assert!(e.to_string().contains("different networks"), "{e}");
        // A validator that does not exist.
        let e = node_init(&NodeInit {
            node: 1,
            home: d.join("home-y"),
            ..init.clone()
        })
        .expect_err("no such node");
        assert!(e.to_string().contains("no validator 1"), "{e}");

        // An observer joins from the genesis and the peer config.
        let (obs, peer) = join(&JoinInit {
            name: "auditor".into(),
            genesis: genesis_path,
            peers,
            bootstrap: vec![],
            home: d.join("observer"),
            endpoints,
        })
        .expect("join");
        assert_eq!(obs.role, NodeRole::Observer);
        assert_eq!(obs.p2p.bootstrap.len(), 2);
        assert!(peer.starts_with("12D3KooW"));
        assert!(!d.join("observer").join("validator.key").exists());
    }
}
