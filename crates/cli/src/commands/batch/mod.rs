//! Settlement batch files from clearing staff: `batch check` (offline), `batch submit`,
//! `batch status` and `batch abort`.
//!
//! `submit` validates the whole file exactly like `check` (any problem: all are printed,
//! nothing is sent), resolves creditor mobile numbers to wallets, stages the instructions in
//! chunks of [`SETTLEMENT_CHUNK_MAX`] (`stage_batch`, a few chunks per request, each waited
//! for), then settles the window with them in one `settle_batch` naming the chunk count, the
//! instruction count and [`batch_digest`]: exactly the file settles, atomically.
//!
//! Retries are idempotent. The batch id defaults to a hash of the chain, currency, window and
//! the file's bytes, and every transaction id is derived from the batch id (`stage` + chunk
//! number, `settle` + policy + attempt): running the same command again resumes where it
//! stopped (chunks already staged are skipped; a committed settlement is reported, not
//! repeated). After a refused settlement (a member short of liquidity), running it again is a
//! new attempt: fund the member first, or pass `--policy unwind`.

mod args;
mod plan;
mod report;
mod submit;

pub use args::*;

use crate::support::*;
use crate::txbuild::sign;
use anyhow::{anyhow, bail, Context, Result};
use plan::{batch_id_of, batch_id_secret, batch_nonce};
use report::{describe, problems_json, problems_text, unwound_of, write_report, Outcome};
use serde::Serialize;
use serde_json::json;
use settlenet_api::{Batch, BatchState};
use settlenet_batchfile::{parse_file, Format, ParseOptions, ParsedBatch};
use settlenet_types::{BatchId, Currency, Genesis, Operation};
use std::io::Read;
use std::path::Path;

pub async fn batch_cmd(t: &Target, json_out: bool, cmd: BatchCmd) -> Result<()> {
    match cmd {
        BatchCmd::Check(a) => check(t, json_out, a),
        BatchCmd::Submit(a) => submit::run(t, json_out, a).await,
        BatchCmd::Status {
            id,
            pacs002,
            file,
            read,
        } => status(t, json_out, &id, pacs002.as_deref(), file.as_deref(), &read).await,
        BatchCmd::Abort { id, key } => abort(t, json_out, &id, key.as_deref()).await,
    }
}

/// Parse and validate `file` against `genesis`.
pub(crate) fn read_file(genesis: &Genesis, file: &Path, a: &FileArgs) -> Result<ParsedBatch> {
    let expected_currency = a
        .currency
        .as_deref()
        .map(|c| c.parse::<Currency>().context("--currency"))
        .transpose()?;
    let opts = ParseOptions {
        format: a.format.map(Format::from),
        expected_currency,
        default_country: a.default_country.clone(),
        ..ParseOptions::default()
    };
    Ok(parse_file(file, genesis, &opts)?)
}

fn check(t: &Target, json_out: bool, a: CheckArgs) -> Result<()> {
    let genesis = genesis_file(t, a.genesis.as_deref())?;
    let b = read_file(&genesis, &a.file, &a.read)?;
    if !b.is_ok() {
        refuse(json_out, &a.file, &b)?;
    }
    let (v, text) = describe(&genesis, &b, &a.file, a.totals_only);
    print(json_out, &v, |_| text);
    Ok(())
}

/// Print every problem and fail.
fn refuse(json_out: bool, file: &Path, b: &ParsedBatch) -> Result<()> {
    let v = json!({"ok": false, "file": file, "problems": problems_json(b),
        "problems_omitted": b.errors_omitted});
    print(json_out, &v, |_| problems_text(b));
    bail!(
        "{} is refused: {} problem(s); nothing was submitted",
        file.display(),
        b.error_count()
    )
}

/// The default batch id: the chain, currency, window and the file's bytes.
fn default_batch_id(chain: &str, currency: Currency, w: u64, file: &Path) -> Result<BatchId> {
    Ok(batch_id_of(chain, currency, w, &file_digest(file)?))
}

/// blake3 of the file's bytes, read in 64 KiB pieces.
fn file_digest(file: &Path) -> Result<[u8; 32]> {
    let mut content = blake3::Hasher::new();
    let mut f =
        std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", file.display()))?;
        if n == 0 {
            break;
        }
        content.update(&buf[..n]);
    }
    Ok(*content.finalize().as_bytes())
}

async fn status(
    t: &Target,
    json_out: bool,
    id: &str,
    pacs002: Option<&Path>,
    file: Option<&Path>,
    read: &FileArgs,
) -> Result<()> {
    let c = client(t)?;
    let batch: BatchId = id.parse().context("batch id (32 hex characters)")?;
    let v = c
        .batch(batch)
        .await?
        .ok_or_else(|| anyhow!("no batch {batch} is known to the network"))?;
    let mut group_status = None;
    if let (Some(out), Some(file)) = (pacs002, file) {
        let genesis = c.genesis().await?;
        let b = read_file(&genesis, file, read)?;
        if !b.is_ok() {
            refuse(json_out, file, &b)?;
        }
        if b.totals.count != v.instructions {
            bail!(
                "{} holds {} instructions, batch {batch} {}: not the file of this batch",
                file.display(),
                b.totals.count,
                v.instructions
            );
        }
        let outcome = match v.state {
            BatchState::Settled => {
                let wv = window(&c, v.currency, v.window).await?;
                Outcome::Settled {
                    unwound: unwound_of(&genesis, &wv),
                    carried_to: wv.carried_to,
                }
            }
            BatchState::Aborted => Outcome::Aborted,
            BatchState::Staging => Outcome::Staged,
        };
        group_status = Some(write_report(out, &genesis, &b, file, &batch, &outcome)?);
    }
    let out = BatchStatus {
        batch: &v,
        pacs002,
        pacs002_group_status: group_status.as_deref(),
    };
    print(json_out, &out, |o| {
        let v = o.batch;
        let mut s = format!(
            "batch {batch}: {} (window {} in {})\n  chunks staged {}, instructions {}, policy {}\n  submitted by {} at height {}, finished at height {}",
            v.state.as_str(),
            v.window,
            v.currency,
            v.chunks.len(),
            v.instructions,
            v.policy.as_deref().unwrap_or("-"),
            v.submitted_by,
            v.created_height,
            opt_height(v.finished_height),
        );
        if !v.unwound.is_empty() {
            s.push_str(&format!("\n  unwound: {}", v.unwound.join(", ")));
        }
        if let Some(p) = pacs002 {
            s.push_str(&format!(
                "\nwrote pacs.002 {} (group status {})",
                p.display(),
                o.pacs002_group_status.unwrap_or("")
            ));
        }
        s
    });
    Ok(())
}

/// What `batch status` prints with `--json`: the batch and the pacs.002 it wrote, if any.
#[derive(Serialize)]
struct BatchStatus<'a> {
    /// The node's answer.
    #[serde(flatten)]
    batch: &'a Batch,
    /// The pacs.002 file written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pacs002: Option<&'a Path>,
    /// Its group status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pacs002_group_status: Option<&'a str>,
}

async fn abort(t: &Target, json_out: bool, id: &str, key: Option<&Path>) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let batch: BatchId = id.parse().context("batch id (32 hex characters)")?;
    let key = clearing_key(t, &genesis, key)?;
    let tx = sign(
        &genesis.chain_id,
        &key,
        batch_nonce(&batch_id_secret(&key), &batch, "abort", 0),
        Operation::AbortBatch { batch },
    )?;
    run_tx(
        &c,
        json_out,
        &tx,
        false,
        json!({"batch": batch}),
        format!("aborting batch {batch}: its chunks are discarded and its window is closed again"),
    )
    .await
}
