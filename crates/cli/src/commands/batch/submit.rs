//! `batch submit`: validate, resolve creditor wallets, stage the chunks and settle.

use super::args::SubmitArgs;
use super::plan::*;
use super::report::*;
use super::{default_batch_id, file_digest, read_file, refuse};
use crate::support::*;
use crate::txbuild::{default_valid_until, sign, sign_until};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use settlenet_api::client::Client;
use settlenet_api::{BatchState, ReportLine, ShortfallView, TxStatus, TxView, WindowState};
use settlenet_batchfile::{self as pacs, write_pacs002, ParsedBatch, StatusReport};
use settlenet_types::ids::format_minor;
use settlenet_types::{
    AccountId, BatchId, Currency, Genesis, Hash, MemberId, SettlementPolicy, SignedTransaction,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

/// Most settlement attempts of one batch and policy (each refused attempt is recorded).
const SETTLE_ATTEMPTS_MAX: u32 = 64;
/// How long one staged chunk or the settlement may take to commit.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(180);

/// The default window: the newest of the currency that is closed (or settling: a batch of
/// ours may be staging on it), not settled. If there is none, a settled window that this very
/// batch (`--id`, or the id derived from the file) settled: re-running a command whose batch
/// already settled then says so instead of asking to close a window.
async fn default_window(
    c: &Client,
    currency: Currency,
    chain: &str,
    file: &Path,
    id: Option<BatchId>,
) -> Result<u64> {
    let v = c.windows(currency, None, 100).await?;
    if let Some(w) = v
        .windows
        .iter()
        .rev()
        .find(|w| matches!(w.state, WindowState::Closed | WindowState::Settling))
    {
        return Ok(w.window);
    }
    // The file is read once, whatever the number of settled windows.
    let digest = match id {
        Some(_) => None,
        None => Some(file_digest(file)?),
    };
    for w in v
        .windows
        .iter()
        .rev()
        .filter(|w| w.state == WindowState::Settled)
    {
        let (n, Some(settled_by)) = (w.window, w.batch) else {
            continue;
        };
        let ours = match (id, &digest) {
            (Some(id), _) => id,
            (None, Some(d)) => batch_id_of(chain, currency, n, d),
            (None, None) => continue,
        };
        if ours == settled_by {
            return Ok(n);
        }
    }
    bail!(
        "no closed window awaiting settlement in {currency} (open window: {}): close the window \
         first (settlenet window close --currency {currency})",
        v.open_window
    )
}

/// Resolve creditor mobile numbers to wallets of the creditor member. Every problem is
/// collected (the number itself is never printed).
async fn beneficiaries(
    c: &Client,
    genesis: &Genesis,
    b: &ParsedBatch,
) -> Result<Vec<Option<AccountId>>> {
    let mut by_phone: BTreeMap<String, Result<(AccountId, String), String>> = BTreeMap::new();
    let mut out = Vec::with_capacity(b.instructions.len());
    let mut problems = Vec::new();
    for i in &b.instructions {
        let Some(phone) = &i.creditor_phone else {
            out.push(None);
            continue;
        };
        if !by_phone.contains_key(phone) {
            let r = match c.alias(phone, Some(b.currency)).await {
                Ok(v) => match v.wallet {
                    None => Err(format!(
                        "no wallet is registered for the creditor's mobile number in {}",
                        b.currency
                    )),
                    Some(id) => Ok((id, get_account(c, id).await?.member)),
                },
                Err(e) => Err(format!("{e:#}")),
            };
            by_phone.insert(phone.clone(), r);
        }
        match by_phone.get(phone) {
            Some(Ok((id, member))) if *member == name_of(genesis, i.creditor) => {
                out.push(Some(*id))
            }
            Some(Ok((id, member))) => {
                problems.push(format!(
                    "{} (instruction {}): the creditor's wallet {id} is at {member}, not at the creditor member {}",
                    i.location, i.id, name_of(genesis, i.creditor)
                ));
                out.push(None);
            }
            Some(Err(e)) => {
                problems.push(format!("{} (instruction {}): {e}", i.location, i.id));
                out.push(None);
            }
            None => out.push(None),
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} instruction(s) name a creditor wallet that cannot be credited; nothing was submitted:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(out)
}

fn progress(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "staging {bar:40} {pos}/{len} instructions ({elapsed}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Peak resident memory of this process, KiB (Linux; 0 elsewhere).
pub(crate) fn peak_rss_kib(pid: Option<u32>) -> u64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".into(),
    };
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Submit a group of transactions; a refusal (not a rejection: nothing recorded) is an error.
async fn send(c: &Client, txs: &[SignedTransaction], what: &str) -> Result<()> {
    let v = c.submit_batch(txs).await?;
    for (r, tx) in v.results.iter().zip(txs) {
        if r.status == TxStatus::Refused {
            bail!(
                "the node refused {what} (transaction {}): {}",
                tx.tx.id,
                r.error
                    .as_ref()
                    .map_or_else(|| "refused".to_string(), |e| e.to_string())
            );
        }
    }
    Ok(())
}

/// `batch submit`.
pub(super) async fn run(t: &Target, json_out: bool, a: SubmitArgs) -> Result<()> {
    let started = Instant::now();
    let c = client(t)?;
    let genesis = c.genesis().await?;
    // 1. The whole file, exactly as `check` reads it.
    let b = read_file(&genesis, &a.file, &a.read)?;
    if !b.is_ok() {
        if let Some(p) = &a.pacs002 {
            let report = StatusReport::for_batch(
                &b,
                &a.file.display().to_string(),
                "STS-REFUSED-FILE",
                now_ms(),
                pacs::TxStatus::Acsp,
            );
            std::fs::write(p, write_pacs002(&report))
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
        refuse(json_out, &a.file, &b)?;
    }
    let currency = b.currency;
    let exp = b.exponent;
    let key = clearing_key(t, &genesis, a.key.as_deref())?;
    let policy = SettlementPolicy::from(a.policy);
    // 2. The window and the batch id.
    let given_id =
        a.id.as_deref()
            .map(|x| x.parse::<BatchId>().context("--id (32 hex characters)"))
            .transpose()?;
    let w = match a.window {
        Some(w) => w,
        None => default_window(&c, currency, &genesis.chain_id, &a.file, given_id).await?,
    };
    let batch = match given_id {
        Some(id) => id,
        None => default_batch_id(&genesis.chain_id, currency, w, &a.file)?,
    };
    let existing = c.batch(batch).await?;
    let mut staged: BTreeSet<u32> = BTreeSet::new();
    let mut already_settled = false;
    if let Some(x) = &existing {
        if x.window != w || x.currency != currency {
            bail!(
                "batch {batch} belongs to window {} in {}, not window {w} in {currency}; pass another --id",
                x.window,
                x.currency
            );
        }
        match x.state {
            BatchState::Aborted => bail!("batch {batch} was aborted; submit under another --id"),
            BatchState::Settled => already_settled = true,
            BatchState::Staging => staged = x.chunks.iter().copied().collect(),
        }
    }
    if !json_out {
        say!(
            "{}: {} instruction(s), {} {currency}; batch {batch} on window {w} (policy {policy}){}",
            a.file.display(),
            b.totals.count,
            format_minor(b.totals.sum_minor, exp),
            if existing.is_some() {
                " - resuming"
            } else {
                ""
            }
        );
    }
    // 3. Creditor wallets, then the plan: the instructions, their chunks and digest.
    let wallets = beneficiaries(&c, &genesis, &b).await?;
    let plan = Plan::new(batch, currency, w, instructions_of(&b, wallets), &key)?;
    let n_chunks = plan.chunk_count();

    // 4. Stage the chunks not staged yet, a few per request, each waited for.
    if !already_settled {
        let bar = progress(plan.instructions.len() as u64);
        let done: usize = staged.iter().map(|k| plan.chunk(*k).len()).sum();
        bar.set_position(done as u64);
        let todo: Vec<u32> = (0..n_chunks).filter(|k| !staged.contains(k)).collect();
        for group in todo.chunks(a.chunks_per_request as usize) {
            let mut txs = Vec::with_capacity(group.len());
            for &k in group {
                txs.push(sign(
                    &genesis.chain_id,
                    &key,
                    plan.stage_nonce(k),
                    plan.stage_op(k),
                )?);
            }
            send(&c, &txs, "a chunk").await?;
            for (tx, &k) in txs.iter().zip(group) {
                let v = c.wait_tx(tx.tx.id, COMMIT_TIMEOUT).await?;
                if v.status == TxStatus::Rejected && v.reason.as_deref() != Some("chunk_exists") {
                    bar.abandon();
                    bail!(
                        "chunk {k} of batch {batch} was rejected: {}: {} (nothing has moved; the batch is staging: fix and run again, or `settlenet batch abort {batch}`)",
                        v.reason.as_deref().unwrap_or(""),
                        v.message.as_deref().unwrap_or("")
                    );
                }
                bar.inc(plan.chunk(k).len() as u64);
            }
        }
        bar.finish_and_clear();
    }

    // 5. Settle: one transaction, atomically, under a derived id (attempt n after n refusals).
    let mut settle: Option<TxView> = None;
    if !already_settled {
        // One validity for this run's attempts, so each attempt keeps its id while it is
        // retried and looked up. A later run signs under another validity, hence new ids: that
        // is safe, because settling is idempotent by batch (a settled batch is never settled
        // again; a run first reads the batch's state).
        let settle_until = default_valid_until();
        for attempt in 0..SETTLE_ATTEMPTS_MAX {
            let id = plan.settle_id(policy, attempt, settle_until);
            let prior = c.tx(id).await?;
            let final_record = match prior {
                Some(v) if v.status == TxStatus::Rejected => continue,
                Some(v) if v.status == TxStatus::Committed => v,
                Some(_) => c.wait_tx(id, COMMIT_TIMEOUT).await?,
                None => {
                    let tx = sign_until(
                        &genesis.chain_id,
                        &key,
                        plan.settle_nonce(policy, attempt),
                        plan.settle_op(policy),
                        settle_until,
                    )?;
                    send(&c, std::slice::from_ref(&tx), "the settlement").await?;
                    c.wait_tx(id, COMMIT_TIMEOUT).await?
                }
            };
            // The record with the ledger's detail (shortfalls), as the node keeps it.
            settle = Some(c.tx(id).await?.unwrap_or(final_record));
            break;
        }
        if settle.is_none() {
            bail!("batch {batch}: {SETTLE_ATTEMPTS_MAX} settlement attempts with policy {policy} were refused; abort it or pass another --id");
        }
    }

    // 6. The outcome, in words.
    let wv = window(&c, currency, w).await?;
    let refused = settle
        .as_ref()
        .is_some_and(|v| v.status == TxStatus::Rejected);
    let short_members = settle
        .as_ref()
        .and_then(|v| v.detail.as_ref())
        .map(|d| d.settlement.members.as_slice())
        .unwrap_or_default();
    let outcome = if refused {
        let short: BTreeMap<MemberId, String> = short_members
            .iter()
            .filter_map(|m| {
                let mm = genesis.member_by_name(&m.member)?;
                Some((mm.id, money_of(&m.shortfall_minor, exp)))
            })
            .collect();
        let reason = format!(
            "{}: {}",
            settle
                .as_ref()
                .and_then(|v| v.reason.as_deref())
                .unwrap_or(""),
            short
                .iter()
                .map(|(m, s)| format!("{} short {s}", name_of(&genesis, *m)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Outcome::Refused { short, reason }
    } else {
        Outcome::Settled {
            unwound: unwound_of(&genesis, &wv),
            carried_to: wv.carried_to,
        }
    };
    let group_status = match &a.pacs002 {
        Some(p) => Some(write_report(p, &genesis, &b, &a.file, &batch, &outcome)?),
        None => None,
    };
    let v = Submitted {
        batch,
        currency,
        window: w,
        policy: policy.to_string(),
        instructions: plan.instructions.len(),
        chunks: n_chunks,
        digest: plan.digest,
        status: if refused { "refused" } else { "settled" },
        settlement: settle.as_ref(),
        window_state: wv.state,
        report: &wv.report,
        unwound: &wv.unwound,
        carried_to: wv.carried_to,
        pacs002: a.pacs002.as_deref(),
        pacs002_group_status: group_status.as_deref(),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        cli_peak_rss_kib: peak_rss_kib(None),
    };
    let carried_to = wv
        .carried_to
        .map_or_else(|| "null".to_string(), |c| c.to_string());
    print(json_out, &v, |v| {
        let mut out = String::new();
        if let (true, Some(s)) = (refused, v.settlement) {
            out.push_str(&format!(
                "REFUSED: batch {batch} did not settle window {w}: {}: {} (transaction {} at height {}; nothing moved)",
                s.reason.as_deref().unwrap_or(""),
                s.message.as_deref().unwrap_or(""),
                s.id,
                height_text(s.height)
            ));
            for m in short_members {
                out.push_str(&format!(
                    "\n  {} cannot cover a net debit of {} {currency}: settlement balance {}, cap {}, shortfall {}",
                    m.member,
                    money_of(&m.debit_minor, exp),
                    money_of(&m.balance_minor, exp),
                    m.cap_minor.as_deref().map_or_else(|| "none".to_string(), |c| money_of(c, exp)),
                    money_of(&m.shortfall_minor, exp),
                ));
            }
            out.push_str(&format!(
                "\n  The batch stays staged. Fund the member (settlenet settlement fund --member NAME --amount A) and run this command again, run it with --policy unwind, or abort it (settlenet batch abort {batch})."
            ));
        } else {
            let (height, how) = match v.settlement {
                Some(s) => (s.height, format!("transaction {}", s.id)),
                None => (wv.settled_height, "earlier".into()),
            };
            out.push_str(&format!(
                "SETTLED: batch {batch} settled window {w} in {currency} at height {} ({how}): {} file instruction(s) in {n_chunks} chunk(s) with the window's obligations, atomically",
                height_text(height),
                plan.instructions.len()
            ));
            out.push_str(&format!(
                "\n  {:<16} {:>15} {:>15} {:>15}",
                "member", "net", "settled", "carried"
            ));
            for l in &wv.report {
                out.push_str(&format!(
                    "\n  {:<16} {:>15} {:>15} {:>15}",
                    l.member, l.net, l.settled, l.carried,
                ));
            }
            for u in &wv.unwound {
                out.push_str(&format!(
                    "\n  unwound: {} could not cover a net debit of {} (balance {}, shortfall {}); its obligations were carried to window {carried_to}",
                    u.member, u.debit, u.balance, u.shortfall,
                ));
            }
            out.push_str(&format!(
                "\n  receipt: settlenet receipt get {batch} --out receipt.json"
            ));
        }
        if let (Some(p), Some(g)) = (&a.pacs002, &group_status) {
            out.push_str(&format!(
                "\nwrote pacs.002 {} (group status {g})",
                p.display()
            ));
        }
        out
    });
    if refused {
        bail!("batch {batch} was refused (settlement_shortfall)");
    }
    Ok(())
}

/// What `batch submit` prints with `--json`.
#[derive(Serialize)]
struct Submitted<'a> {
    batch: BatchId,
    currency: Currency,
    window: u64,
    policy: String,
    instructions: usize,
    chunks: u32,
    digest: Hash,
    /// `settled` or `refused`.
    status: &'static str,
    /// The settlement transaction's record (`null` if it settled in an earlier run).
    settlement: Option<&'a TxView>,
    window_state: WindowState,
    report: &'a [ReportLine],
    unwound: &'a [ShortfallView],
    carried_to: Option<u64>,
    pacs002: Option<&'a Path>,
    pacs002_group_status: Option<&'a str>,
    elapsed_ms: u64,
    cli_peak_rss_kib: u64,
}
