//! Driving load into a local network: submit many transactions across nodes and wait for
//! them, open and fund wallets (for `demo`, `bench` and `bench catchup`).

use crate::txbuild::{random_id, read_key, sign};
use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use settlenet_api::client::Client;
use settlenet_api::TxStatus;
use settlenet_crypto::Keypair;
use settlenet_types::{AccountId, Amount, Currency, Operation, SignedTransaction, TxNonce};
use std::time::{Duration, Instant};

/// Submit transactions round-robin across nodes (in batches), then wait until every one is
/// final; returns "committed" or "rejected: <reason>" for each.
pub async fn submit_and_wait_all(
    clients: &[Client],
    txs: &[SignedTransaction],
    bar: Option<&ProgressBar>,
) -> Result<Vec<String>> {
    let chunk = 50;
    for (i, batch) in txs.chunks(chunk).enumerate() {
        let c = &clients[i % clients.len()];
        let v = c.submit_batch(batch).await?;
        for r in &v.results {
            if r.status == TxStatus::Refused {
                bail!("{} refused a transaction: {r:?}", c.base());
            }
        }
    }
    let mut out = vec![String::new(); txs.len()];
    let mut done = 0usize;
    // Transactions become final roughly in the order they were submitted: each round asks
    // from the first one not yet final and stops at the first still pending, so a large setup
    // (`bench --wallets 100000`) asks about each transaction about once, not once a round.
    let mut first = 0usize;
    let deadline = Instant::now() + Duration::from_secs(60);
    while done < txs.len() {
        let mut i = first;
        while i < txs.len() {
            if !out[i].is_empty() {
                i += 1;
                continue;
            }
            let view = match clients[0].tx(txs[i].tx.id).await {
                Ok(v) => v,
                // Over the node's request rate: wait as it says, then ask again.
                Err(settlenet_api::client::ClientError::Status { status: 429, .. }) => break,
                Err(e) => return Err(e.into()),
            };
            match view.map(|v| (v.status, v.reason)) {
                Some((TxStatus::Committed, _)) => out[i] = "committed".into(),
                Some((TxStatus::Rejected, reason)) => {
                    out[i] = format!("rejected: {}", reason.as_deref().unwrap_or(""))
                }
                _ => break,
            }
            done += 1;
            i += 1;
            if let Some(b) = bar {
                b.set_position(done as u64);
            }
        }
        while first < txs.len() && !out[first].is_empty() {
            first += 1;
        }
        if done < txs.len() {
            if Instant::now() > deadline {
                bail!("{} transactions not final after 60 s", txs.len() - done);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(out)
}

/// The members with at least one `issuer`-role staff key, by name (who can open and fund
/// wallets for a load run).
pub fn issuer_names(genesis: &settlenet_types::Genesis) -> Vec<&str> {
    genesis
        .members
        .iter()
        .filter(|m| {
            m.staff
                .iter()
                .any(|s| s.roles.contains(&settlenet_types::Role::Issuer))
        })
        .map(|m| m.name.as_str())
        .collect()
}

/// Open `count` USD wallets, round-robin over `issuers` (member names with an `issuer.key` under
/// `dir/keys`), fund each with `amount`, and wait until both steps are final. Returns each
/// wallet's owner key and id.
pub async fn fund_wallets(
    clients: &[Client],
    genesis: &settlenet_types::Genesis,
    dir: &std::path::Path,
    issuers: &[&str],
    count: usize,
    amount: Amount,
) -> Result<Vec<(Keypair, AccountId)>> {
    let chain = &genesis.chain_id;
    let mut owners = Vec::with_capacity(count);
    let mut setup = Vec::with_capacity(count);
    let mut funding = Vec::with_capacity(count);
    for i in 0..count {
        let issuer = issuers[i % issuers.len()];
        let member = genesis.member_by_name(issuer).context("issuer")?;
        let ikey = read_key(&dir.join("keys").join(issuer).join("issuer.key"))?;
        let owner = Keypair::generate();
        let wallet = AccountId(random_id());
        setup.push(sign(
            chain,
            &ikey,
            TxNonce(random_id()),
            Operation::CreateWallet {
                account: wallet,
                issuer: member.id,
                owner: owner.public(),
                currency: Currency(*b"USD"),
            },
        )?);
        funding.push(sign(
            chain,
            &ikey,
            TxNonce(random_id()),
            Operation::Issue { wallet, amount },
        )?);
        owners.push((owner, wallet));
    }
    submit_and_wait_all(clients, &setup, None).await?;
    submit_and_wait_all(clients, &funding, None).await?;
    Ok(owners)
}
