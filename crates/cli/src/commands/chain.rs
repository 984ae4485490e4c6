//! `status`, `block`, `account ID` and `tx ID`: reading the chain.

use crate::support::*;
use crate::txbuild::account_id;
use anyhow::{anyhow, bail, Context, Result};
use settlenet_api::AccountView;
use settlenet_types::TxId;

/// Transactions `block` lists before "... and N more".
const BLOCK_TXS_SHOWN_MAX: usize = 20;

fn human_account(v: &AccountView) -> String {
    format!(
        "account {}\n  kind      {}\n  member    {}\n  currency  {}\n  balance   {}\n  available {}\n  owner     {}",
        v.id,
        v.kind,
        v.member,
        v.currency,
        v.balance,
        v.available,
        v.owner.map_or_else(|| "-".to_string(), |o| o.to_string()),
    )
}

/// `status`: a node's status.
pub async fn status(t: &Target, json: bool) -> Result<()> {
    let v = client(t)?.status().await?;
    print(json, &v, |v| {
        format!(
            "chain    {}\nnode     {}\nheight   {}\nblock    {}\nroot     {}\nview     {} (primary {})\npeers    {}\nmempool  {}",
            v.chain_id,
            v.node,
            v.height,
            v.last_block_hash,
            v.state_root,
            v.view,
            v.primary,
            v.peers.join(", "),
            v.mempool,
        )
    });
    Ok(())
}

/// `block HEIGHT|latest`: a committed block.
pub async fn block(t: &Target, json: bool, height: &str) -> Result<()> {
    let height = if height == "latest" {
        None
    } else {
        Some(
            height
                .parse::<u64>()
                .map_err(|_| anyhow!("height {height:?} is not a number or \"latest\""))?,
        )
    };
    let v = client(t)?.block(height).await?;
    print(json, &v, |v| {
        let mut s = format!(
            "block {}  hash {}\n  prev       {}\n  time       {} ms\n  state root {}\n  proposer   {}\n  txs        {}\n  certificate: view {}, {} signatures ({})",
            v.height,
            v.hash,
            v.prev_hash,
            v.timestamp,
            v.state_root,
            v.proposer,
            v.tx_count,
            v.certificate.view,
            v.certificate.signatures.len(),
            v.certificate
                .signatures
                .iter()
                .map(|x| x.validator.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        );
        if v.pruned {
            s.push_str(
                "\n  transactions pruned by this node (retention); their ids: \
                 GET /v1/blocks/{height}/txids",
            );
        }
        for tx in v.transactions.iter().take(BLOCK_TXS_SHOWN_MAX) {
            s.push_str(&format!("\n  - {} {} {}", tx.id, tx.op.name(), tx.result));
        }
        let n = v.transactions.len();
        if n > BLOCK_TXS_SHOWN_MAX {
            s.push_str(&format!("\n  ... and {} more", n - BLOCK_TXS_SHOWN_MAX));
        }
        s
    });
    Ok(())
}

/// `account ID`: an account.
pub async fn account(t: &Target, json: bool, id: Option<String>) -> Result<()> {
    let Some(id) = id else {
        bail!("give an account id (settlenet account ID) or a subcommand (prove)");
    };
    let id = account_id(&id)?;
    let c = client(t)?;
    let v = c
        .account(id)
        .await?
        .ok_or_else(|| anyhow!("{}/v1/accounts/{id}: 404: not found", c.base()))?;
    print(json, &v, human_account);
    Ok(())
}

/// `tx ID`: a transaction's status.
pub async fn tx(t: &Target, json: bool, id: Option<String>) -> Result<()> {
    let Some(id) = id else {
        bail!("give a transaction id (settlenet tx ID) or a subcommand (prove)");
    };
    let id: TxId = id.parse().context("transaction id")?;
    let c = client(t)?;
    let v = c
        .tx(id)
        .await?
        .ok_or_else(|| anyhow!("{}/v1/transactions/{id}: 404: not found", c.base()))?;
    print(json, &v, human_tx);
    Ok(())
}
