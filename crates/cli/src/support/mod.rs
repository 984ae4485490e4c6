//! What every command shares: which node to talk to, output, transaction submission, keys
//! and the queries several commands make. Command modules use this module and never each
//! other.

mod keys;
pub mod malloc;
mod output;
mod query;

pub use keys::*;
pub use output::*;
pub use query::*;

use anyhow::{anyhow, Result};
use clap::Args;
use settlenet_api::client::Client;
use std::path::PathBuf;

/// Which node a client command talks to.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Node selection")]
pub struct Target {
    /// Base URL of a node's HTTP API.
    #[arg(long, global = true, env = "SETTLENET_NODE")]
    pub node: Option<String>,
    /// A testnet directory (from `testnet init`): talk to its first node and use its keys.
    #[arg(long, global = true, env = "SETTLENET_TESTNET")]
    pub testnet: Option<PathBuf>,
}

/// The node URL a client command talks to.
pub fn node_url(t: &Target) -> Result<String> {
    if let Some(n) = &t.node {
        return Ok(n.clone());
    }
    if let Some(dir) = &t.testnet {
        let nodes = settlenet_node::testnet::read_nodes(dir)?;
        return nodes
            .first()
            .map(|n| n.api.clone())
            .ok_or_else(|| anyhow!("{}/nodes.json lists no nodes", dir.display()));
    }
    Ok("http://127.0.0.1:26700".into())
}

/// A client for the node `t` names.
pub fn client(t: &Target) -> Result<Client> {
    Ok(Client::new(&node_url(t)?)?)
}

/// Wall-clock time for report headers (never for anything the ledger decides).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
