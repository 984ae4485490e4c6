//! Settlement receipts: `receipt get` (from a node) and `receipt verify` (offline, against the
//! genesis alone).

use crate::support::*;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde::Serialize;
use serde_json::json;
use settlenet_api::Receipt;
use settlenet_types::{BatchId, Currency, Hash, Height};
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum ReceiptCmd {
    /// Fetch a settled batch's receipt (block, commit certificate, Merkle proofs of every
    /// member's settlement account) into a file, exactly as the node sends it.
    Get {
        /// The batch id.
        batch: String,
        /// Where to write the receipt (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a receipt offline, trusting only the genesis file.
    Verify {
        /// The receipt file (from `settlenet receipt get`).
        file: PathBuf,
        /// The network's genesis file (default with --testnet: DIR/genesis.json).
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
}

pub async fn receipt_cmd(t: &Target, json_out: bool, cmd: ReceiptCmd) -> Result<()> {
    match cmd {
        ReceiptCmd::Get { batch, out } => {
            let c = client(t)?;
            let id: settlenet_types::BatchId = batch.parse().context("batch id")?;
            let bytes = match c.receipt(id).await? {
                Ok(bytes) => bytes,
                Err(r) => bail!("no receipt for batch {id} ({}): {}", r.status, r.message),
            };
            std::fs::write(&out, &bytes)
                .with_context(|| format!("cannot write {}", out.display()))?;
            let v: Receipt =
                serde_json::from_slice(&bytes).context("the receipt does not parse")?;
            let summary = ReceiptSaved {
                batch: v.batch,
                currency: v.currency,
                window: v.window,
                state_height: v.state_height,
                state_root: v.state_root,
                anchor_height: v.anchor.height,
                signatures: v.anchor.certificate.signatures.len(),
                members: v.settlement_proofs.len(),
                file: &out,
                bytes: bytes.len(),
            };
            print(json_out, &summary, |v| {
                format!(
                    "receipt of batch {} (window {} in {}): state root {} at height {}, certified by block {} with {} validator signatures, proofs of {} settlement accounts\nwrote {} ({} bytes); check it offline with `settlenet receipt verify {} --genesis GENESIS`",
                    v.batch, v.window, v.currency, v.state_root,
                    v.state_height, v.anchor_height, v.signatures, v.members,
                    out.display(), v.bytes, out.display()
                )
            });
            Ok(())
        }
        ReceiptCmd::Verify { file, genesis } => {
            let genesis = genesis_file(t, genesis.as_deref())?;
            let bytes = std::fs::read(&file)
                .with_context(|| format!("cannot read receipt {}", file.display()))?;
            let v = match settlenet_node::receipt::verify_receipt(&genesis, &bytes) {
                Ok(v) => v,
                Err(e) => {
                    if json_out {
                        say!(
                            "{}",
                            serde_json::to_string_pretty(
                                &json!({"valid": false, "error": format!("{e:#}")})
                            )?
                        );
                    } else {
                        say!("receipt INVALID: {e:#}");
                    }
                    bail!("receipt {} is INVALID", file.display());
                }
            };
            print(json_out, &v, |v| {
                let mut out = format!(
                    "receipt VALID: batch {} settled window {} in {} at height {}.\n  Proven against state root {} (height {}), certified by block {} with {} validator signatures of the genesis validators.\n  Settlement accounts after the batch:",
                    v.batch, v.window, v.currency, opt_height(v.settled_height),
                    v.state_root, v.state_height, v.anchor_height, v.signatures
                );
                out.push_str(&format!(
                    "\n    {:<16} {:>15} {:>15} {:>15} {:>18}",
                    "member", "net", "settled", "carried", "settlement balance"
                ));
                for m in &v.members {
                    out.push_str(&format!(
                        "\n    {:<16} {:>15} {:>15} {:>15} {:>18}",
                        m.member, m.net, m.settled, m.carried, m.settlement_balance
                    ));
                }
                if v.unwound > 0 {
                    out.push_str(&format!(
                        "\n  {} member(s) were unwound (their obligations carried to the next window).",
                        v.unwound
                    ));
                }
                out
            });
            Ok(())
        }
    }
}

/// What `receipt get` prints: what the saved receipt covers.
#[derive(Serialize)]
struct ReceiptSaved<'a> {
    batch: BatchId,
    currency: Currency,
    window: u64,
    state_height: Height,
    state_root: Hash,
    anchor_height: Height,
    signatures: usize,
    members: usize,
    file: &'a Path,
    bytes: usize,
}
