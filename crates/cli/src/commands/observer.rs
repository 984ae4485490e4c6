//! Observer nodes (`observer register|remove|list`): the non-validator nodes (an integrator's
//! node that syncs blocks and serves reads) that validators admit because a sponsoring member
//! registered their libp2p peer id on the ledger.
//!
//! Writes are signed by a staff key of the sponsoring member, whatever its roles. With
//! `--testnet DIR` and no `--key`, the key is the first of the member's staff key files found
//! in `DIR/keys/<member>/`. The peer id and name are checked here before signing, with the same
//! functions the ledger uses.

use crate::support::*;
use crate::txbuild::{sign, tx_nonce};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use settlenet_ledger::observer_account_id;
use settlenet_types::{check_observer_name, check_peer_id, Operation};
use std::path::PathBuf;

/// Arguments of `observer register`.
#[derive(Args, Debug)]
pub struct RegisterArgs {
    /// The sponsoring member: its staff signs, and only its staff may remove the observer.
    #[arg(long)]
    pub member: String,
    /// The observer node's libp2p peer id, as libp2p prints it (base58btc, e.g. 12D3KooW...).
    #[arg(long)]
    pub peer_id: String,
    /// A label for people: 1 to 64 printable ASCII characters.
    #[arg(long)]
    pub name: String,
    /// A staff key file of the member, any role (default with --testnet: one of the member's
    /// keys in DIR/keys/<member>/).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
    /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
    /// a safe retry.
    #[arg(long)]
    pub nonce: Option<String>,
}

/// Arguments of `observer remove`.
#[derive(Args, Debug)]
pub struct RemoveArgs {
    /// The sponsoring member.
    #[arg(long)]
    pub member: String,
    /// The observer node's libp2p peer id.
    #[arg(long)]
    pub peer_id: String,
    /// A staff key file of the member, any role (default with --testnet: one of the member's
    /// keys in DIR/keys/<member>/).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
    /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
    /// a safe retry.
    #[arg(long)]
    pub nonce: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ObserverCmd {
    /// Register an observer node's peer id: validators admit it (signed by the sponsor's staff).
    Register(RegisterArgs),
    /// Remove an observer: validators stop admitting its peer id (signed by the sponsor's staff).
    Remove(RemoveArgs),
    /// The active observers: peer id, name, sponsor, registration height.
    List,
}

pub async fn observer_cmd(t: &Target, json_out: bool, cmd: ObserverCmd) -> Result<()> {
    match cmd {
        ObserverCmd::Register(a) => register(t, json_out, a).await,
        ObserverCmd::Remove(a) => remove(t, json_out, a).await,
        ObserverCmd::List => list(t, json_out).await,
    }
}

async fn register(t: &Target, json_out: bool, a: RegisterArgs) -> Result<()> {
    check_peer_id(&a.peer_id).context("--peer-id")?;
    check_observer_name(&a.name).context("--name")?;
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let member = member_named(&genesis, &a.member)?;
    let key = member_staff_key(t, member, a.key.as_deref())?;
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_nonce(a.nonce.as_deref())?,
        Operation::RegisterObserver {
            member: member.id,
            peer_id: a.peer_id.clone(),
            name: a.name.clone(),
        },
    )?;
    run_tx(
        &c,
        json_out,
        &tx,
        false,
        json!({
            "member": member.name,
            "peer_id": a.peer_id,
            "name": a.name,
            "observer_account": observer_account_id(&a.peer_id),
        }),
        format!(
            "registering observer {:?} ({}) sponsored by {}",
            a.name, a.peer_id, member.name
        ),
    )
    .await
}

async fn remove(t: &Target, json_out: bool, a: RemoveArgs) -> Result<()> {
    check_peer_id(&a.peer_id).context("--peer-id")?;
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let member = member_named(&genesis, &a.member)?;
    let key = member_staff_key(t, member, a.key.as_deref())?;
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_nonce(a.nonce.as_deref())?,
        Operation::RemoveObserver {
            member: member.id,
            peer_id: a.peer_id.clone(),
        },
    )?;
    run_tx(
        &c,
        json_out,
        &tx,
        false,
        json!({
            "member": member.name,
            "peer_id": a.peer_id,
            "observer_account": observer_account_id(&a.peer_id),
        }),
        format!(
            "removing observer {} sponsored by {}",
            a.peer_id, member.name
        ),
    )
    .await
}

async fn list(t: &Target, json_out: bool) -> Result<()> {
    let c = client(t)?;
    let observers = c.observers().await?;
    print(json_out, &observers, |list| {
        if list.is_empty() {
            return "no active observer".to_string();
        }
        let mut out = format!(
            "{} active observer{}\n  {:<52} {:<24} {:<16} {:>10}",
            list.len(),
            if list.len() == 1 { "" } else { "s" },
            "peer id",
            "name",
            "sponsor",
            "registered"
        );
        for o in list {
            out.push_str(&format!(
                "\n  {:<52} {:<24} {:<16} {:>10}",
                o.peer_id, o.name, o.sponsor, o.registered_height.0
            ));
        }
        out
    });
    Ok(())
}
