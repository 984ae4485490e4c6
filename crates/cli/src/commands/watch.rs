//! `watch`: follow the ledger's events (`GET /v1/events`) until Ctrl-C, one line per event.

use crate::support::*;
use crate::txbuild::account_id;
use anyhow::Result;
use clap::Args;
use settlenet_api::client::EventsRequest;
use settlenet_api::StreamEvent;

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// First block to show (default: the next one committed).
    #[arg(long)]
    pub from: Option<u64>,
    /// Only the transactions that changed this account (every block is still shown).
    #[arg(long)]
    pub account: Option<String>,
}

/// One event as a line of text.
fn human(event: &StreamEvent) -> String {
    match event {
        StreamEvent::Block(b) => {
            let expired: Vec<String> = b.expired.iter().map(|a| a.to_string()).collect();
            format!(
                "block {:>8}  {} txs  hash {}  root {}  time {} ms{}",
                b.height.0,
                b.txs,
                b.hash,
                b.state_root,
                b.time_ms,
                if expired.is_empty() {
                    String::new()
                } else {
                    format!("  expired {}", expired.join(","))
                }
            )
        }
        StreamEvent::Tx(t) => {
            let changed: Vec<String> = t.changed.iter().map(|a| a.to_string()).collect();
            format!(
                "tx    {:>8}  {}  {}  {} {}{}",
                event.id().to_string(),
                t.id,
                t.op,
                t.status.as_str(),
                t.result,
                if changed.is_empty() {
                    String::new()
                } else {
                    format!("  changed {}", changed.join(","))
                }
            )
        }
    }
}

/// `watch [--from H] [--account ID]`: print each event as it comes (`--json`: one JSON object
/// per line), reconnecting and resuming after the last one shown, until Ctrl-C.
pub async fn watch(t: &Target, json: bool, a: WatchArgs) -> Result<()> {
    let account = a.account.as_deref().map(account_id).transpose()?;
    let mut stream = client(t)?.events(EventsRequest {
        from: a.from,
        account,
        after: None,
    })?;
    let mut reconnects = 0;
    loop {
        let resumed_after = stream.last_id();
        let event = tokio::select! {
            event = stream.next() => event?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        if stream.reconnects() != reconnects {
            reconnects = stream.reconnects();
            eprintln!(
                "note: reconnected to the node, resumed after event {}",
                resumed_after.map_or_else(|| "(none)".to_string(), |id| id.to_string())
            );
        }
        if json {
            say!("{}", serde_json::to_string(&event).unwrap_or_default());
        } else {
            say!("{}", human(&event));
        }
    }
}
