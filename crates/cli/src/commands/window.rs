//! Settlement windows: `window close` and `window list` (clearing staff).
//!
//! Every write is signed by a staff key holding the `clearing` role. With `--testnet DIR` and
//! no `--key`, the key is `DIR/keys/<clearing house>/clearing.key`, the clearing house being
//! the genesis member of kind `clearing-house`.

use crate::support::*;
use crate::txbuild::{sign, tx_nonce};
use anyhow::Result;
use clap::Subcommand;
use serde_json::json;
use settlenet_types::Operation;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum WindowCmd {
    /// Close a currency's open settlement window (opening the next): payments committed after
    /// the close fall in the new window. Signed by a clearing staff key.
    Close {
        /// Currency code (default: the network's first currency).
        #[arg(long)]
        currency: Option<String>,
        /// The window to close (default: the open one). Naming it makes a retry harmless.
        #[arg(long)]
        window: Option<u64>,
        /// Clearing staff key (default with --testnet: the clearing house's clearing.key).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
        /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
        /// a safe retry.
        #[arg(long)]
        nonce: Option<String>,
    },
    /// List a currency's settlement windows: state, heights, batch, obligations.
    List {
        /// Currency code (default: the network's first currency).
        #[arg(long)]
        currency: Option<String>,
        /// First window listed (default: the last 20 up to the open one).
        #[arg(long)]
        start: Option<u64>,
        /// Windows listed (1 to 100).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

pub async fn window_cmd(t: &Target, json_out: bool, cmd: WindowCmd) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    match cmd {
        WindowCmd::Close {
            currency,
            window: w,
            key,
            nonce,
        } => {
            let currency = currency_or_default(&genesis, currency.as_deref())?;
            let key = clearing_key(t, &genesis, key.as_deref())?;
            let w = match w {
                Some(w) => w,
                None => c.windows(currency, None, 1).await?.open_window,
            };
            let tx = sign(
                &genesis.chain_id,
                &key,
                tx_nonce(nonce.as_deref())?,
                Operation::CloseWindow {
                    currency,
                    window: w,
                },
            )?;
            run_tx(
                &c,
                json_out,
                &tx,
                false,
                json!({"currency": currency, "window": w, "opened": w + 1}),
                format!(
                    "closing settlement window {w} in {currency}: payments from now on fall in \
                     window {}",
                    w + 1
                ),
            )
            .await
        }
        WindowCmd::List {
            currency,
            start,
            limit,
        } => {
            let currency = currency_or_default(&genesis, currency.as_deref())?;
            let v = c.windows(currency, start, limit).await?;
            print(json_out, &v, |v| {
                let mut out = format!(
                    "settlement windows in {currency} (open: {}; staging batch: {})\n  {:>6} {:<9} {:>7} {:>7} {:>8} {:>11} {:>12}  batch",
                    v.open_window,
                    v.staging_batch.map_or_else(|| "none".to_string(), |b| b.to_string()),
                    "window", "state", "opened", "closed", "settled", "obligations", "instructions"
                );
                for w in &v.windows {
                    out.push_str(&format!(
                        "\n  {:>6} {:<9} {:>7} {:>7} {:>8} {:>11} {:>12}  {}",
                        w.window.to_string(),
                        w.state.as_str(),
                        opt_height(Some(w.opened_height)),
                        opt_height(w.closed_height),
                        opt_height(w.settled_height),
                        w.obligations.len(),
                        w.instructions.to_string(),
                        w.batch.map_or_else(|| "-".to_string(), |b| b.to_string()),
                    ));
                }
                out
            });
            Ok(())
        }
    }
}
