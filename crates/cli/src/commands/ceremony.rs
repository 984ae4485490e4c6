//! The genesis ceremony across institutions: `member init`, `genesis assemble|show`,
//! `node init` and `join` (rules in `settlenet_node::ceremony`).

use crate::support::*;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use settlenet_node::ceremony::{
    self, AssembleOptions, Endpoints, JoinInit, MemberInit, NodeInit, PeerConfig, ValidatorInit,
};
use settlenet_types::{ConsensusParams, MemberKind};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum MemberCmd {
    /// Make this member's keys here (mode 0600) and its public descriptor (member.json) to
    /// hand to the coordinator. No private key leaves DIR.
    Init(MemberInitArgs),
}

#[derive(Args, Debug)]
pub struct MemberInitArgs {
    /// Short unique name: lower-case letters, digits and '-' (e.g. bank-a).
    #[arg(long)]
    name: String,
    /// operator | bank | clearing-house | psp.
    #[arg(long, value_parser = parse_kind)]
    kind: MemberKind,
    /// BIC (8 or 11 characters).
    #[arg(long)]
    bic: Option<String>,
    /// National clearing code.
    #[arg(long)]
    clearing_id: Option<String>,
    /// Validator nodes this member runs.
    #[arg(long, default_value_t = 1)]
    validators: usize,
    /// Where the other nodes reach each validator, one per validator: HOST:PORT or a
    /// multiaddr (/dns4/bank-a.example/tcp/26600).
    #[arg(long)]
    p2p: Vec<String>,
    /// The directory to create (must be empty or absent).
    #[arg(long)]
    dir: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum GenesisCmd {
    /// Check every member descriptor and write genesis.json and peers.toml.
    Assemble(AssembleArgs),
    /// Print a genesis's hash and summary (every institution compares the hash out of band).
    Show {
        /// The genesis file.
        file: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct AssembleArgs {
    /// The members' descriptors (member.json), in the order their ids are given.
    #[arg(long, num_args = 1.., required = true)]
    members: Vec<PathBuf>,
    /// Currencies held, e.g. USD,EUR (ISO 4217 exponents) or ABC:2.
    #[arg(long, default_value = "USD")]
    currencies: String,
    /// The network's name; the chain id is this name bound to the genesis hash.
    #[arg(long, default_value = "settlenet")]
    chain_name: String,
    /// Opening balance of every member's settlement account, minor units.
    #[arg(long, default_value_t = 100_000_000)]
    settlement_balance: u64,
    /// Consensus time of height 0, ms since the epoch (default: now). Give it to make the
    /// assembly reproducible by every institution.
    #[arg(long)]
    genesis_time_ms: Option<u64>,
    /// Where to write the genesis; peers.toml is written next to it.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args, Debug)]
pub struct NodeInitArgs {
    /// The genesis file.
    #[arg(long)]
    genesis: PathBuf,
    /// The peer config written with the genesis (default: peers.toml next to it, if present).
    #[arg(long)]
    peers: Option<PathBuf>,
    /// More bootstrap addresses (.../p2p/<peer id>).
    #[arg(long)]
    bootstrap: Vec<String>,
    /// The member directory `member init` wrote.
    #[arg(long)]
    member_dir: PathBuf,
    /// Which of the member's validators (0-based: the member directory's node<N>/).
    #[arg(long, default_value_t = 0)]
    validator: usize,
    /// The node's home to create.
    #[arg(long)]
    home: PathBuf,
    #[command(flatten)]
    endpoints: EndpointArgs,
    /// The consortium phone-alias key file to copy in (mode 0600).
    #[arg(long)]
    phone_key: Option<PathBuf>,
    /// Country code for national phone numbers.
    #[arg(long, default_value = "250")]
    default_country: String,
}

#[derive(Args, Debug)]
pub struct JoinArgs {
    /// The genesis file.
    #[arg(long)]
    genesis: PathBuf,
    /// The peer config a member handed over (genesis hash, bootstrap addresses).
    #[arg(long)]
    peers: PathBuf,
    /// More bootstrap addresses (.../p2p/<peer id>).
    #[arg(long)]
    bootstrap: Vec<String>,
    /// The node's name (logs, status).
    #[arg(long, default_value = "observer")]
    name: String,
    /// The node's home to create.
    #[arg(long)]
    home: PathBuf,
    #[command(flatten)]
    endpoints: EndpointArgs,
}

#[derive(Args, Debug)]
pub struct EndpointArgs {
    /// p2p listen multiaddr.
    #[arg(long, default_value = "/ip4/0.0.0.0/tcp/26600")]
    listen: String,
    /// Where others reach this node, if not the listen address (HOST:PORT or multiaddr).
    #[arg(long)]
    advertise: Vec<String>,
    /// HTTP API listen address.
    #[arg(long, default_value = "127.0.0.1:26700")]
    api_listen: String,
}

impl EndpointArgs {
    fn endpoints(&self) -> Endpoints {
        Endpoints {
            listen: self.listen.clone(),
            advertise: self.advertise.clone(),
            api_listen: self.api_listen.clone(),
        }
    }
}

fn parse_kind(s: &str) -> Result<MemberKind, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("{s:?}: expected operator, bank, clearing-house or psp"))
}

/// `member init`.
pub fn member_init(json: bool, a: MemberInitArgs) -> Result<()> {
    if a.p2p.len() != a.validators {
        bail!(
            "--validators {} needs {} --p2p address(es) (one per validator), got {}",
            a.validators,
            a.validators,
            a.p2p.len()
        );
    }
    let validators = a
        .p2p
        .iter()
        .enumerate()
        .map(|(j, address)| ValidatorInit {
            name: if a.validators == 1 {
                a.name.clone()
            } else {
                format!("{}-{j}", a.name)
            },
            address: address.clone(),
        })
        .collect();
    let d = ceremony::member_init(
        &a.dir,
        &MemberInit {
            name: a.name.clone(),
            kind: a.kind,
            bic: a.bic.clone(),
            clearing_id: a.clearing_id.clone(),
            validators,
        },
    )?;
    print(json, &d, |d| {
        let mut s = format!(
            "member {} ({}) written to {}:\n  member.json   public descriptor: send it to the \
             coordinator\n",
            d.name,
            d.kind,
            a.dir.display()
        );
        for k in &d.staff {
            s.push_str(&format!(
                "  {}.key  staff key {} (keep it here, mode 0600)\n",
                k.name, k.public_key
            ));
        }
        for (j, v) in d.validators.iter().enumerate() {
            s.push_str(&format!(
                "  node{j}/       validator {} at {}, peer id {}\n",
                v.name, v.address, v.peer_id
            ));
        }
        s.push_str("Next: the coordinator runs `settlenet genesis assemble --members ...`.");
        s
    });
    Ok(())
}

/// `genesis assemble`.
pub fn assemble(json: bool, a: AssembleArgs) -> Result<()> {
    let descriptors = a
        .members
        .iter()
        .map(|p| ceremony::read_descriptor(p).map_err(anyhow::Error::from))
        .collect::<Result<Vec<_>>>()?;
    let genesis_time_ms = match a.genesis_time_ms {
        Some(t) => t,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("system clock before 1970")?
            .as_millis() as u64,
    };
    let (genesis, peers) = ceremony::assemble(
        &descriptors,
        &AssembleOptions {
            chain_name: a.chain_name.clone(),
            currencies: settlenet_node::testnet::parse_currencies(&a.currencies)?,
            settlement_balance: a.settlement_balance,
            consensus: ConsensusParams::default(),
            genesis_time_ms,
        },
    )?;
    let peers_path = ceremony::write_genesis(&a.out, &genesis, &peers)?;
    let summary = ceremony::summary(&genesis)?;
    print(json, &summary, |s| {
        format!(
            "wrote {} and {}\n{}\nEvery institution checks this hash with `settlenet genesis show` \
             before it starts its node.",
            a.out.display(),
            peers_path.display(),
            show_text(s)
        )
    });
    Ok(())
}

/// `genesis show`.
pub fn show(json: bool, file: &std::path::Path) -> Result<()> {
    let genesis = settlenet_node::testnet::read_genesis(file)?;
    let summary = ceremony::summary(&genesis)?;
    print(json, &summary, show_text);
    Ok(())
}

fn show_text(s: &ceremony::GenesisSummary) -> String {
    let mut out = format!(
        "genesis hash  {}\nchain id      {}{}\ncurrencies    {}\nvalidators    {} (tolerates {} \
         faulty)\nmembers:\n",
        s.hash,
        s.chain_id,
        if s.chain_id_bound {
            " (bound to this genesis)"
        } else {
            " (NOT bound to this genesis)"
        },
        s.currencies.join(", "),
        s.validators,
        s.faults_tolerated
    );
    for m in &s.members {
        out.push_str(&format!(
            "  {:16} {:15} bic {:12} staff keys {}  validators {}\n",
            m.name,
            m.kind.to_string(),
            m.bic.as_deref().unwrap_or("-"),
            m.staff_keys,
            m.validators
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.trim_end().to_string()
}

/// `node init`.
pub fn node_init(json: bool, a: NodeInitArgs) -> Result<()> {
    let peers_path = a.peers.clone().or_else(|| {
        let p = a.genesis.with_file_name(ceremony::PEERS_FILE);
        p.exists().then_some(p)
    });
    let peers = peers_path.as_deref().map(PeerConfig::read).transpose()?;
    let config = ceremony::node_init(&NodeInit {
        genesis: a.genesis.clone(),
        peers,
        bootstrap: a.bootstrap.clone(),
        member_dir: a.member_dir.clone(),
        node: a.validator,
        home: a.home.clone(),
        endpoints: a.endpoints.endpoints(),
        phone_key: a.phone_key.clone(),
        default_country: a.default_country.clone(),
    })?;
    print(json, &config, |c| {
        format!(
            "validator {} home written to {}\n  genesis {} pinned in config.toml\n  p2p {}, \
             api {}, {} bootstrap peer(s)\nStart it with: settlenet node start --home {}",
            c.name,
            a.home.display(),
            c.genesis_hash,
            c.p2p.listen,
            c.api.listen,
            c.p2p.bootstrap.len(),
            a.home.display()
        )
    });
    Ok(())
}

/// `join`.
pub fn join(json: bool, a: JoinArgs) -> Result<()> {
    let peers = PeerConfig::read(&a.peers)?;
    let (config, peer_id) = ceremony::join(&JoinInit {
        name: a.name.clone(),
        genesis: a.genesis.clone(),
        peers,
        bootstrap: a.bootstrap.clone(),
        home: a.home.clone(),
        endpoints: a.endpoints.endpoints(),
    })?;
    #[derive(serde::Serialize)]
    struct Joined<'a> {
        home: &'a std::path::Path,
        peer_id: &'a str,
        config: &'a settlenet_node::config::NodeConfig,
    }
    let v = Joined {
        home: &a.home,
        peer_id: &peer_id,
        config: &config,
    };
    print(json, &v, |v| {
        format!(
            "observer home written to {}\n  peer id {}\nGive this peer id to your sponsoring \
             member; its staff registers it:\n  settlenet observer register --member <member> \
             --peer-id {} --name {} --key <staff key>\n(or a validator lists it in [p2p] \
             observers). Then: settlenet node start --home {}",
            v.home.display(),
            v.peer_id,
            v.peer_id,
            a.name,
            v.home.display()
        )
    });
    Ok(())
}
