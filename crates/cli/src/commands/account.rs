//! Account views: `balance`, `history`, `positions`, and account and transaction proofs
//! (`account prove`, `tx prove`, `proof verify`: fetched from a node, verified offline).

use crate::support::*;
use crate::txbuild::account_id;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};

use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Account id.
    pub account: String,
    /// Entries per page (1 to 100).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Continue after an earlier page (its `next_cursor`).
    #[arg(long)]
    pub cursor: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AccountCmd {
    /// Fetch an account with a Merkle proof and a certified anchor block, into a file that
    /// `settlenet proof verify` checks offline.
    Prove {
        /// Account id.
        id: String,
        /// Where to write the proof (JSON).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum TxCmd {
    /// Fetch a transaction's record with a proof against the ledger's history and a certified
    /// anchor block, into a file that `settlenet proof verify` checks offline. Works for any
    /// transaction ever recorded (live or not) whose block the node holds.
    Prove {
        /// Transaction id.
        id: String,
        /// Where to write the proof (JSON).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProofCmd {
    /// Verify an account or transaction proof offline, trusting only the genesis file.
    Verify {
        /// The proof file (from `settlenet account prove` or `settlenet tx prove`).
        file: PathBuf,
        /// The network's genesis file.
        #[arg(long)]
        genesis: PathBuf,
    },
}

pub async fn balance(t: &Target, json_out: bool, id: &str) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let id = account_id(id)?;
    let v = get_account(&c, id).await?;
    let exp = genesis.exponent(v.currency).unwrap_or(0);
    print(json_out, &v, |v| {
        format!(
            "account {} ({} at {}, {})\n  credits posted   {}\n  debits posted    {}\n  credits pending  {}\n  debits pending   {}\n  balance          {}\n  available        {}",
            v.id,
            v.kind,
            v.member,
            v.currency,
            fmt_minor(&v.credits_posted, exp),
            fmt_minor(&v.debits_posted, exp),
            fmt_minor(&v.credits_pending, exp),
            fmt_minor(&v.debits_pending, exp),
            v.balance,
            v.available,
        )
    });
    Ok(())
}

pub async fn history(t: &Target, json_out: bool, a: HistoryArgs) -> Result<()> {
    let c = client(t)?;
    let id = account_id(&a.account)?;
    if let Some(cur) = &a.cursor {
        if !cur.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("--cursor {cur:?} is not a cursor from an earlier page");
        }
    }
    let v = c
        .history(id, a.limit, a.cursor.as_deref())
        .await?
        .ok_or_else(|| anyhow!("no account {id}"))?;
    print(json_out, &v, |v| {
        let mut s = format!("history of {id} (newest first)");
        if v.entries.is_empty() {
            s.push_str("\n  (no transactions)");
        }
        for e in &v.entries {
            s.push_str(&format!(
                "\n  {:>6}:{:<4} {:<17} {:>14} {:<8} {}",
                e.height.0,
                e.index,
                e.op,
                e.amount.as_deref().unwrap_or("-"),
                e.result,
                e.tx,
            ));
        }
        if let Some(next) = &v.next_cursor {
            s.push_str(&format!("\nmore: --cursor {next}"));
        }
        s
    });
    Ok(())
}

pub async fn positions(t: &Target, json_out: bool, window: Option<u64>) -> Result<()> {
    let c = client(t)?;
    let v = c.positions(window).await?;
    print(json_out, &v, |v| {
        let which = match v.window {
            Some(w) => format!("settlement window {w}"),
            None => "the open settlement windows".to_string(),
        };
        let mut s = format!(
            "positions in {which} (height {}); positive = owed to the member",
            v.height
        );
        for p in &v.positions {
            s.push_str(&format!(
                "\n  {:<16} {} {:>14}  (window {})",
                p.member, p.currency, p.position, p.window,
            ));
        }
        for (c, total) in &v.totals_minor {
            s.push_str(&format!("\n  sum {c}: {total} minor units"));
        }
        s
    });
    Ok(())
}

/// Write a proof file as pretty JSON with its keys sorted (as proof files were always written).
fn write_proof(out: &Path, v: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(&serde_json::to_value(v)?)?;
    std::fs::write(out, format!("{text}\n"))
        .with_context(|| format!("cannot write {}", out.display()))
}

pub async fn prove(t: &Target, json_out: bool, id: &str, out: &Path) -> Result<()> {
    let c = client(t)?;
    let id = account_id(id)?;
    let v = c
        .proof(id)
        .await?
        .ok_or_else(|| anyhow!("no account {id}"))?;
    write_proof(out, &v)?;
    print(json_out, &v, |v| {
        format!(
            "account {id}: balance {} {}\nproven against state root {} (height {}), certified by block {} ({} signatures)\nwrote {}",
            v.account.balance,
            v.account.currency,
            v.state_root,
            v.state_height,
            v.anchor.height,
            v.anchor.certificate.signatures.len(),
            out.display()
        )
    });
    Ok(())
}

pub async fn tx_prove(t: &Target, json_out: bool, id: &str, out: &Path) -> Result<()> {
    let c = client(t)?;
    let id: settlenet_types::TxId = id.parse().context("transaction id")?;
    let v = c
        .tx_proof(id)
        .await?
        .ok_or_else(|| anyhow!("no record of transaction {id}"))?;
    write_proof(out, &v)?;
    print(json_out, &v, |v| {
        format!(
            "transaction {id}: {} at height {} index {}\nproven against state root {} (height {}), certified by block {} ({} signatures)\nwrote {}",
            v.result,
            v.height,
            v.index,
            v.state_root,
            v.state_height,
            v.anchor.height,
            v.anchor.certificate.signatures.len(),
            out.display()
        )
    });
    Ok(())
}

pub fn proof_verify(json_out: bool, file: &Path, genesis: &Path) -> Result<()> {
    let genesis = settlenet_node::testnet::read_genesis(genesis)?;
    let bytes =
        std::fs::read(file).with_context(|| format!("cannot read proof {}", file.display()))?;
    if settlenet_verify::is_tx_proof(&bytes) {
        let v = settlenet_verify::verify_tx_proof(&genesis, &bytes)
            .with_context(|| format!("proof {} is INVALID", file.display()))?;
        print(json_out, &v, |v| {
            format!(
                "proof VALID: transaction {} executed at height {} index {} with result {}; the ledger's history under state root {} (height {}) holds it, certified by block {} with {} validator signatures",
                v.tx_id,
                v.height,
                v.index,
                v.result,
                v.state_root,
                v.state_height,
                v.anchor_height,
                v.signatures,
            )
        });
        return Ok(());
    }
    let v = settlenet_verify::verify_proof(&genesis, &bytes)
        .with_context(|| format!("proof {} is INVALID", file.display()))?;
    print(json_out, &v, |v| {
        format!(
            "proof VALID: account {} ({} {}, balance {}) is in the state with root {} (height {}), certified by block {} with {} validator signatures",
            v.account.id,
            v.account.kind,
            v.account.currency,
            v.account.balance,
            v.state_root,
            v.state_height,
            v.anchor_height,
            v.signatures,
        )
    });
    Ok(())
}
