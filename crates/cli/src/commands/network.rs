//! `testnet init|start`, `node start` and `keys generate`: running nodes and making keys.

use crate::support::*;
use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use serde::Serialize;
use settlenet_crypto::{KeyFile, KeyKind, Keypair};
use settlenet_types::PublicKey;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum TestnetCmd {
    /// Write a genesis, node homes, keys and nodes.json into DIR.
    Init {
        /// Number of validators (n = 3f+1 tolerates f faults), one per default member.
        #[arg(long, default_value_t = 4, conflicts_with = "members")]
        validators: usize,
        /// The consortium's members (TOML: [[members]] name, kind, bic, clearing_id,
        /// validators); default: operator-a, bank-a, bank-b, clearing-house, bank-c, ...
        #[arg(long)]
        members: Option<PathBuf>,
        /// Currencies held, e.g. USD,EUR,KES (ISO 4217 exponents) or ABC:2.
        #[arg(long, default_value = "USD")]
        currencies: String,
        /// Directory to create (must be empty or absent).
        #[arg(long)]
        dir: PathBuf,
        /// Node i uses p2p port P+i and API port P+100+i.
        #[arg(long, default_value_t = 26600)]
        base_port: u16,
        /// Chain id.
        #[arg(long, default_value = "settlenet-local")]
        chain_id: String,
    },
    /// Run every node of DIR as child processes until Ctrl-C.
    Start {
        /// The testnet directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Generate an ed25519 key pair into a new file (mode 0600; never overwrites).
    Generate {
        /// Where to write the key file.
        #[arg(long)]
        out: PathBuf,
        /// What the key is for.
        #[arg(long, value_enum, default_value = "user")]
        kind: KeyKindArg,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum KeyKindArg {
    User,
    Staff,
    Validator,
    Network,
}

pub async fn node_start(home: &Path) -> Result<()> {
    let node = settlenet_node::start(home).await?;
    let mut done = node.done;
    tokio::select! {
        r = &mut done => {
            return Ok(r.context("node task")??);
        }
        _ = shutdown_signal() => {
            tracing::info!("signal received: stopping");
            let _ = node.shutdown.send(true);
        }
    }
    Ok(done.await.context("node task")??)
}

/// `settlenet node store`: a stopped node's store on disk.
pub fn node_store(json: bool, home: &Path, compact: bool) -> Result<()> {
    let report = settlenet_node::store_report::store_report(home, compact)?;
    print(json, &report, store_report_text);
    Ok(())
}

/// A store report as text: one line per column family with data, then the files by kind.
pub fn store_report_text(r: &settlenet_node::store_report::StoreReport) -> String {
    use std::fmt::Write;
    let mb = |b: u64| b as f64 / 1_048_576.0;
    let mut out = format!("store {} at height {}\n", r.data_dir.display(), r.height);
    let mut section = |title: &str, f: &settlenet_node::store_report::StoreFigures| {
        let _ = writeln!(out, "{title}:");
        let _ = writeln!(
            out,
            "  {:16} {:>10} {:>10} {:>12} {:>10}",
            "column family", "sst MB", "live MB", "keys (est.)", "memtab MB"
        );
        for c in f
            .families
            .iter()
            .filter(|c| c.sst_bytes + c.memtable_bytes > 0)
        {
            let _ = writeln!(
                out,
                "  {:16} {:>10.1} {:>10.1} {:>12} {:>10.1}",
                c.name,
                mb(c.sst_bytes),
                mb(c.live_bytes),
                c.keys,
                mb(c.memtable_bytes)
            );
        }
        let d = &f.files;
        let _ = writeln!(
            out,
            "  files: {:.1} MB = tables {:.1} + write-ahead log {:.1} + other {:.1} + checkpoints {:.1}",
            mb(d.total()),
            mb(d.sst),
            mb(d.wal),
            mb(d.other),
            mb(d.checkpoints)
        );
    };
    section("as found", &r.before);
    if let Some(after) = &r.after {
        section("after a full compaction", after);
    }
    out.trim_end().to_string()
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

pub async fn testnet_start(dir: &Path) -> Result<()> {
    let nodes = settlenet_node::testnet::read_nodes(dir)?;
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let exe = std::env::current_exe().context("locating the settlenet binary")?;
    let mut net = settlenet_localnet::LocalNet::start(exe, nodes, &filter)?;
    say!("Started {} nodes (logs in <home>/node.log):", net.len());
    for n in net.entries() {
        say!("  {:6} {:15} {}", n.name, n.member, n.api);
    }
    say!("Press Ctrl-C to stop them all.");
    let mut check = tokio::time::interval(Duration::from_millis(500));
    // One signal listener for the whole run: a listener made anew on each tick would miss a
    // signal that arrives between two of them (tokio delivers only to current listeners).
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => {
                say!("stopping...");
                net.stop();
                return Ok(());
            }
            _ = check.tick() => {
                if let Err(e) = net.check_alive() {
                    net.stop();
                    return Err(e.into());
                }
            }
        }
    }
}

/// `testnet init`: write a genesis, node homes, keys and nodes.json into `dir`.
pub fn testnet_init(json: bool, cmd: TestnetCmd) -> Result<()> {
    let TestnetCmd::Init {
        validators,
        members,
        currencies,
        dir,
        base_port,
        chain_id,
    } = cmd
    else {
        bail!("not `testnet init`");
    };

    let members = members
        .as_deref()
        .map(settlenet_node::testnet::read_members)
        .transpose()?;
    let opts = settlenet_node::testnet::TestnetOptions {
        validators,
        base_port,
        chain_id,
        currencies: settlenet_node::testnet::parse_currencies(&currencies)?,
        members,
        ..Default::default()
    };
    let nodes = settlenet_node::testnet::init(&dir, &opts)?;
    if json {
        say!("{}", serde_json::to_string_pretty(&nodes)?);
    } else {
        say!("Testnet written to {}:", dir.display());
        say!("  genesis.json, nodes.json, keys/<member>/<role>.key");
        for n in &nodes {
            say!(
                "  {:6} {:15} api {}  home {}",
                n.name,
                n.member,
                n.api,
                n.home.display()
            );
        }
        say!(
            "Start it with: settlenet testnet start --dir {}",
            dir.display()
        );
    }
    Ok(())
}

/// `keys generate`: a new key pair in a new file (mode 0600).
pub fn keys_generate(json: bool, out: &Path, kind: KeyKindArg) -> Result<()> {
    let kind = match kind {
        KeyKindArg::User => KeyKind::User,
        KeyKindArg::Staff => KeyKind::Staff,
        KeyKindArg::Validator => KeyKind::Validator,
        KeyKindArg::Network => KeyKind::Network,
    };
    let key = Keypair::generate();
    KeyFile::new(kind, &key).write(out)?;
    let peer_id = match kind {
        KeyKind::Network => Some(
            settlenet_net::peer_id_from_seed(key.secret_bytes())
                .map_err(|e| anyhow!("{e}"))?
                .to_string(),
        ),
        _ => None,
    };
    let v = KeyWritten {
        file: out,
        kind,
        public_key: key.public(),
        peer_id,
    };
    print(json, &v, |v| {
        let mut s = format!(
            "wrote {} (mode 0600)\npublic key: {}",
            out.display(),
            v.public_key
        );
        if let Some(p) = &v.peer_id {
            s.push_str(&format!("\npeer id:    {p}"));
        }
        s
    });
    Ok(())
}

/// What `keys generate` prints with `--json`.
#[derive(Serialize)]
struct KeyWritten<'a> {
    /// The key file written.
    file: &'a Path,
    /// What the key is for.
    kind: KeyKind,
    /// Its public key.
    public_key: PublicKey,
    /// The libp2p peer id (network keys only).
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_id: Option<String>,
}
