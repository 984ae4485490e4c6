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

use crate::client::Client;
use crate::commands::{client, print};
use crate::payments::{alias_of, run_tx};
use crate::settlement::{clearing_key, genesis_file, now_ms, window, windows};
use crate::txbuild::sign;
use crate::Target;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use settlenet_batchfile::{
    parse_file, write_pacs002, Format, ParseOptions, ParsedBatch, ParsedInstruction, ReasonCode,
    StatusReason, StatusReport, TxStatus, TxStatusEntry,
};
use settlenet_types::ids::format_minor;
use settlenet_types::{
    batch_digest, AccountId, BatchId, Currency, Genesis, MemberId, Operation,
    SettlementInstruction, SettlementPolicy, SignedTransaction, TxId, BATCH_CHUNKS_MAX,
    SETTLEMENT_CHUNK_MAX,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Most settlement attempts of one batch and policy (each refused attempt is recorded).
const SETTLE_ATTEMPTS_MAX: u32 = 64;
/// How long one staged chunk or the settlement may take to commit.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(180);

/// A batch file's format, when the extension does not say.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// CSV with a header line.
    Csv,
    /// JSON with an `instructions` array.
    Json,
    /// ISO 20022 pacs.008 or pacs.009.
    Xml,
}

impl From<FileFormat> for Format {
    fn from(f: FileFormat) -> Format {
        match f {
            FileFormat::Csv => Format::Csv,
            FileFormat::Json => Format::Json,
            FileFormat::Xml => Format::Iso20022,
        }
    }
}

/// What to do with a member that cannot cover its net debit.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyArg {
    /// Refuse the whole batch, naming each short member (nothing moves).
    Reject,
    /// Remove the short members' obligations, settle the rest, carry the removed ones to the
    /// next window.
    Unwind,
}

impl From<PolicyArg> for SettlementPolicy {
    fn from(p: PolicyArg) -> SettlementPolicy {
        match p {
            PolicyArg::Reject => SettlementPolicy::Reject,
            PolicyArg::Unwind => SettlementPolicy::Unwind,
        }
    }
}

/// How a file is read (shared by `check`, `submit` and `status`).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Batch file")]
pub struct FileArgs {
    /// The currency the file must be in (default: the file's own).
    #[arg(long)]
    pub currency: Option<String>,
    /// The file's format (default: from the extension, then the content).
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
    /// Country calling code for national mobile numbers with a trunk 0 (e.g. 250).
    #[arg(long)]
    pub default_country: Option<String>,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The batch file (CSV, JSON, pacs.008 or pacs.009).
    pub file: PathBuf,
    /// The network's genesis file (default with --testnet: DIR/genesis.json).
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    #[command(flatten)]
    pub read: FileArgs,
    /// Print only the totals, not every instruction.
    #[arg(long)]
    pub totals_only: bool,
}

#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// The batch file (CSV, JSON, pacs.008 or pacs.009).
    pub file: PathBuf,
    /// Clearing staff key (default with --testnet: the clearing house's clearing.key).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The closed window to settle (default: the newest closed, not settled window of the
    /// file's currency).
    #[arg(long)]
    pub window: Option<u64>,
    /// What to do with a member that cannot cover its net debit.
    #[arg(long, value_enum, default_value = "reject")]
    pub policy: PolicyArg,
    /// Batch id, 32 hex characters (default: derived from the file's content and the window,
    /// so that running the same command again resumes).
    #[arg(long)]
    pub id: Option<String>,
    /// Write an ISO 20022 pacs.002 status report here.
    #[arg(long)]
    pub pacs002: Option<PathBuf>,
    /// Chunks per HTTP request.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub chunks_per_request: u32,
    #[command(flatten)]
    pub read: FileArgs,
}

#[derive(Subcommand, Debug)]
pub enum BatchCmd {
    /// Validate a batch file offline against the genesis: every problem with its line or
    /// element path and field; else each instruction resolved to members, and the totals.
    /// Submits nothing; exits non-zero on any problem.
    Check(CheckArgs),
    /// Validate, stage and settle a batch file on a closed window, atomically.
    Submit(SubmitArgs),
    /// Show a batch's state; optionally write its pacs.002 status report.
    Status {
        /// The batch id.
        id: String,
        /// Write an ISO 20022 pacs.002 status report here (needs --file).
        #[arg(long, requires = "file")]
        pacs002: Option<PathBuf>,
        /// The batch file submitted (to report every instruction).
        #[arg(long)]
        file: Option<PathBuf>,
        #[command(flatten)]
        read: FileArgs,
    },
    /// Discard a staging batch (nothing has moved); its window returns to closed.
    Abort {
        /// The batch id.
        id: String,
        /// Clearing staff key (default with --testnet: the clearing house's clearing.key).
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

pub async fn batch_cmd(t: &Target, json_out: bool, cmd: BatchCmd) -> Result<()> {
    match cmd {
        BatchCmd::Check(a) => check(t, json_out, a),
        BatchCmd::Submit(a) => submit(t, json_out, a).await,
        BatchCmd::Status {
            id,
            pacs002,
            file,
            read,
        } => status(t, json_out, &id, pacs002.as_deref(), file.as_deref(), &read).await,
        BatchCmd::Abort { id, key } => abort(t, json_out, &id, key.as_deref()).await,
    }
}

// ---- reading and describing a file ----

fn name_of(genesis: &Genesis, m: MemberId) -> String {
    genesis
        .members
        .get(usize::from(m.0))
        .map(|x| x.name.clone())
        .unwrap_or_else(|| format!("member {}", m.0))
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

/// Every problem of a refused file, one a line: where, which field, what.
fn problems_text(b: &ParsedBatch) -> String {
    let mut out = format!(
        "{} problem(s) in the file; nothing was submitted:",
        b.error_count()
    );
    for p in &b.errors {
        out.push_str(&format!(
            "\n  {}: field {}: {} [{}]",
            p.location, p.field, p.message, p.reason
        ));
    }
    if b.errors_omitted > 0 {
        out.push_str(&format!("\n  ... and {} more problem(s)", b.errors_omitted));
    }
    out
}

fn problems_json(b: &ParsedBatch) -> Value {
    json!(b
        .errors
        .iter()
        .map(|p| json!({
            "location": p.location.to_string(), "field": p.field, "message": p.message,
            "reason": p.reason.code(), "instruction": p.instruction_id,
        }))
        .collect::<Vec<_>>())
}

/// Per member: (pays, receives), minor units.
fn member_totals(b: &ParsedBatch) -> BTreeMap<MemberId, (u128, u128)> {
    let mut m: BTreeMap<MemberId, (u128, u128)> = BTreeMap::new();
    for (id, x) in &b.totals.per_debtor {
        m.entry(*id).or_default().0 = *x;
    }
    for (id, x) in &b.totals.per_creditor {
        m.entry(*id).or_default().1 = *x;
    }
    m
}

/// A `*_minor` string of the API as a decimal by the exponent.
fn money_of(v: &Value, exp: u8) -> String {
    settlenet_types::ids::format_signed_minor(crate::settlement::minor(v), exp)
}

fn signed_money(pays: u128, receives: u128, exp: u8) -> String {
    if receives >= pays {
        format_minor(receives - pays, exp)
    } else {
        format!("-{}", format_minor(pays - receives, exp))
    }
}

/// The check's description of a valid file (JSON and text).
fn describe(genesis: &Genesis, b: &ParsedBatch, file: &Path, totals_only: bool) -> (Value, String) {
    let exp = b.exponent;
    let money = |x: u128| format_minor(x, exp);
    let mut text = format!(
        "{}: {}{}{}, {} instruction(s) in {}, total {}",
        file.display(),
        b.format,
        b.message_name
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default(),
        b.message_id
            .as_deref()
            .map(|m| format!(" (message {m})"))
            .unwrap_or_default(),
        b.totals.count,
        b.currency,
        money(b.totals.sum_minor)
    );
    let mut list = Vec::new();
    if !totals_only {
        text.push_str(&format!(
            "\n  {:<35} {:<16} {:<16} {:>15}  creditor account",
            "id", "debtor", "creditor", "amount"
        ));
    }
    for i in &b.instructions {
        let beneficiary = if i.creditor_phone.is_some() {
            "phone wallet (resolved at submit)"
        } else {
            "-"
        };
        if !totals_only {
            text.push_str(&format!(
                "\n  {:<35} {:<16} {:<16} {:>15}  {beneficiary}",
                i.id,
                name_of(genesis, i.debtor),
                name_of(genesis, i.creditor),
                money(u128::from(i.amount.0)),
            ));
        }
        if list.len() < 10_000 {
            list.push(json!({
                "id": i.id, "debtor": name_of(genesis, i.debtor),
                "creditor": name_of(genesis, i.creditor), "amount": money(u128::from(i.amount.0)),
                "reference": i.reference,
                "creditor_account": if i.creditor_phone.is_some() { json!("phone wallet (resolved at submit)") } else { Value::Null },
            }));
        }
    }
    text.push_str(&format!(
        "\n  totals per member ({}):\n  {:<16} {:>15} {:>15} {:>15}",
        b.currency, "member", "pays", "receives", "net"
    ));
    let mut members = Vec::new();
    for (m, (pays, receives)) in member_totals(b) {
        text.push_str(&format!(
            "\n  {:<16} {:>15} {:>15} {:>15}",
            name_of(genesis, m),
            money(pays),
            money(receives),
            signed_money(pays, receives, exp)
        ));
        members.push(json!({"member": name_of(genesis, m), "pays": money(pays),
            "receives": money(receives), "net": signed_money(pays, receives, exp)}));
    }
    text.push_str(&format!(
        "\n  {:<16} {:>15} {:>15} {:>15}\nfile OK: nothing was submitted (offline check)",
        "total",
        money(b.totals.sum_minor),
        money(b.totals.sum_minor),
        money(0)
    ));
    let v = json!({
        "ok": true, "file": file, "format": b.format.to_string(), "message_name": b.message_name,
        "message_id": b.message_id, "currency": b.currency, "count": b.totals.count,
        "total": money(b.totals.sum_minor), "members": members, "instructions": list,
    });
    (v, text)
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

// ---- ids ----

fn derived16(label: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut h = blake3::Hasher::new();
    h.update(label);
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

/// A transaction id derived from the batch: the same batch, step and number always give the
/// same id, so a retry is answered with the first result.
fn batch_tx_id(batch: &BatchId, step: &str, n: u32) -> TxId {
    TxId(derived16(
        b"settlenet/batch-tx/v1\0",
        &[&batch.0, step.as_bytes(), &n.to_le_bytes()],
    ))
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

/// The batch id of a file (by its digest) settling window `w`.
fn batch_id_of(chain: &str, currency: Currency, w: u64, digest: &[u8; 32]) -> BatchId {
    BatchId(derived16(
        b"settlenet/batch-id/v1\0",
        &[chain.as_bytes(), &currency.0, &w.to_le_bytes(), digest],
    ))
}

// ---- outcome and pacs.002 ----

/// What happened to a batch, for the status report.
enum Outcome {
    /// Staged, not settled: every instruction ACSP.
    Staged,
    /// Settled; instructions of unwound members were carried, not settled.
    Settled {
        unwound: BTreeMap<MemberId, String>,
        carried_to: Option<u64>,
    },
    /// The settlement was refused (shortfall): nothing moved.
    Refused {
        short: BTreeMap<MemberId, String>,
        reason: String,
    },
    /// Aborted: nothing moved and nothing will.
    Aborted,
}

fn status_report(
    genesis: &Genesis,
    b: &ParsedBatch,
    file: &Path,
    batch: &BatchId,
    outcome: &Outcome,
) -> StatusReport {
    let file_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut report = StatusReport::for_batch(
        b,
        &file_name,
        &format!("S-{batch}"),
        now_ms(),
        TxStatus::Acsp,
    );
    let entry = |i: &ParsedInstruction| -> (TxStatus, Option<StatusReason>) {
        let reason = |code, text: String| {
            Some(StatusReason {
                code,
                additional_info: Some(text),
            })
        };
        match outcome {
            Outcome::Staged => (TxStatus::Acsp, None),
            Outcome::Settled {
                unwound,
                carried_to,
            } => match unwound
                .get(&i.debtor)
                .map(|s| (i.debtor, s))
                .or_else(|| unwound.get(&i.creditor).map(|s| (i.creditor, s)))
            {
                None => (TxStatus::Acsc, None),
                Some((m, shortfall)) => (
                    TxStatus::Rjct,
                    reason(
                        ReasonCode::InsufficientFunds,
                        format!(
                            "{} could not cover its net debit (short {shortfall}) and was unwound; carried to window {}",
                            name_of(genesis, m),
                            carried_to.map(|w| w.to_string()).unwrap_or("-".into())
                        ),
                    ),
                ),
            },
            Outcome::Refused { short, reason: why } => {
                if let Some(s) = short.get(&i.debtor) {
                    (
                        TxStatus::Rjct,
                        reason(
                            ReasonCode::InsufficientFunds,
                            format!(
                                "debtor {} cannot cover its net debit: short {s}; batch refused",
                                name_of(genesis, i.debtor)
                            ),
                        ),
                    )
                } else {
                    (
                        TxStatus::Rjct,
                        reason(
                            ReasonCode::InsufficientFunds,
                            format!("batch refused, nothing settled: {why}"),
                        ),
                    )
                }
            }
            Outcome::Aborted => (
                TxStatus::Rjct,
                reason(
                    ReasonCode::Narrative,
                    "the batch was aborted; nothing settled".into(),
                ),
            ),
        }
    };
    report.transactions = b
        .instructions
        .iter()
        .map(|i| {
            let (status, reason) = entry(i);
            TxStatusEntry::for_instruction(i, status, reason)
        })
        .collect();
    report
}

fn write_report(
    path: &Path,
    genesis: &Genesis,
    b: &ParsedBatch,
    file: &Path,
    batch: &BatchId,
    outcome: &Outcome,
) -> Result<String> {
    let report = status_report(genesis, b, file, batch, outcome);
    std::fs::write(path, write_pacs002(&report))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(report.group_status().to_string())
}

/// The unwound members of a window, with their shortfalls.
fn unwound_of(genesis: &Genesis, w: &Value) -> BTreeMap<MemberId, String> {
    w["unwound"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| {
            let m = genesis.member_by_name(u["member"].as_str()?)?;
            Some((m.id, u["shortfall"].as_str().unwrap_or("").to_string()))
        })
        .collect()
}

// ---- submit ----

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
    let v = windows(c, currency, None, 100).await?;
    let list: Vec<&Value> = v["windows"].as_array().into_iter().flatten().collect();
    if let Some(w) = list
        .iter()
        .rev()
        .find(|w| w["state"] == "closed" || w["state"] == "settling")
        .and_then(|w| w["window"].as_u64())
    {
        return Ok(w);
    }
    // The file is read once, whatever the number of settled windows.
    let digest = match id {
        Some(_) => None,
        None => Some(file_digest(file)?),
    };
    for w in list.iter().rev().filter(|w| w["state"] == "settled") {
        let (Some(n), Some(settled_by)) = (w["window"].as_u64(), w["batch"].as_str()) else {
            continue;
        };
        let ours = match (id, &digest) {
            (Some(id), _) => id,
            (None, Some(d)) => batch_id_of(chain, currency, n, d),
            (None, None) => continue,
        };
        if ours.to_string() == settled_by {
            return Ok(n);
        }
    }
    bail!(
        "no closed window awaiting settlement in {currency} (open window: {}): close the window \
         first (settlenet window close --currency {currency})",
        v["open_window"]
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
            let r = match alias_of(c, phone, b.currency).await {
                Ok(v) => match v["wallet"].as_str() {
                    None => Err(format!(
                        "no wallet is registered for the creditor's mobile number in {}",
                        b.currency
                    )),
                    Some(w) => {
                        let id: AccountId = w.parse().context("wallet id in the node's answer")?;
                        let acct = crate::payments::get_account(c, id).await?;
                        Ok((id, acct["member"].as_str().unwrap_or("").to_string()))
                    }
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
    for (r, tx) in v["results"].as_array().into_iter().flatten().zip(txs) {
        if r["status"] == "refused" {
            bail!(
                "the node refused {what} (transaction {}): {}",
                tx.tx.id,
                crate::client::error_text(r)
            );
        }
    }
    Ok(())
}

async fn submit(t: &Target, json_out: bool, a: SubmitArgs) -> Result<()> {
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
                TxStatus::Acsp,
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
    let existing = c
        .get_opt(&format!("/v1/settlement/batches/{batch}"))
        .await?;
    let mut staged: BTreeSet<u32> = BTreeSet::new();
    let mut already_settled = false;
    if let Some(x) = &existing {
        if x["window"].as_u64() != Some(w) || x["currency"] != currency.to_string().as_str() {
            bail!(
                "batch {batch} belongs to window {} in {}, not window {w} in {currency}; pass another --id",
                x["window"],
                x["currency"].as_str().unwrap_or("?")
            );
        }
        match x["state"].as_str() {
            Some("aborted") => bail!("batch {batch} was aborted; submit under another --id"),
            Some("settled") => already_settled = true,
            _ => {
                staged = x["chunks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.as_u64().and_then(|c| u32::try_from(c).ok()))
                    .collect();
            }
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
    // 3. Creditor wallets, then the instructions and their chunks.
    let wallets = beneficiaries(&c, &genesis, &b).await?;
    let instructions: Vec<SettlementInstruction> = b
        .instructions
        .iter()
        .zip(wallets)
        .map(|(i, beneficiary)| SettlementInstruction {
            id: i.id.clone(),
            debtor: i.debtor,
            creditor: i.creditor,
            amount: i.amount,
            beneficiary,
        })
        .collect();
    let chunks: Vec<&[SettlementInstruction]> = instructions.chunks(SETTLEMENT_CHUNK_MAX).collect();
    let n_chunks = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
    if n_chunks > BATCH_CHUNKS_MAX {
        bail!(
            "{} instructions need {n_chunks} chunks of {SETTLEMENT_CHUNK_MAX}; a batch holds at most {BATCH_CHUNKS_MAX} ({} instructions): split the file",
            instructions.len(),
            BATCH_CHUNKS_MAX as usize * SETTLEMENT_CHUNK_MAX
        );
    }
    let digest = batch_digest(&batch, currency, w, instructions.iter())?;

    // 4. Stage the chunks not staged yet, a few per request, each waited for.
    if !already_settled {
        let bar = progress(instructions.len() as u64);
        let done: usize = staged
            .iter()
            .filter_map(|k| chunks.get(*k as usize).map(|c| c.len()))
            .sum();
        bar.set_position(done as u64);
        let todo: Vec<u32> = (0..n_chunks).filter(|k| !staged.contains(k)).collect();
        for group in todo.chunks(a.chunks_per_request as usize) {
            let mut txs = Vec::with_capacity(group.len());
            for &k in group {
                let part = chunks.get(k as usize).copied().unwrap_or_default();
                txs.push(sign(
                    &genesis.chain_id,
                    &key,
                    batch_tx_id(&batch, "stage", k),
                    Operation::StageBatch {
                        batch,
                        currency,
                        window: w,
                        chunk: k,
                        instructions: part.to_vec(),
                    },
                )?);
            }
            send(&c, &txs, "a chunk").await?;
            for (tx, &k) in txs.iter().zip(group) {
                let v = c.wait_tx(tx.tx.id, COMMIT_TIMEOUT).await?;
                if v["status"] == "rejected" && v["reason"] != "chunk_exists" {
                    bar.abandon();
                    bail!(
                        "chunk {k} of batch {batch} was rejected: {}: {} (nothing has moved; the batch is staging: fix and run again, or `settlenet batch abort {batch}`)",
                        v["reason"].as_str().unwrap_or(""),
                        v["message"].as_str().unwrap_or("")
                    );
                }
                bar.inc(chunks.get(k as usize).map(|c| c.len()).unwrap_or(0) as u64);
            }
        }
        bar.finish_and_clear();
    }

    // 5. Settle: one transaction, atomically, under a derived id (attempt n after n refusals).
    let mut settle: Option<Value> = None;
    if !already_settled {
        let step = format!("settle-{policy}");
        for attempt in 0..SETTLE_ATTEMPTS_MAX {
            let id = batch_tx_id(&batch, &step, attempt);
            let prior = c.get_opt(&format!("/v1/transactions/{id}")).await?;
            let final_record = match prior {
                Some(v) if v["status"] == "rejected" => continue,
                Some(v) if v["status"] == "committed" => v,
                Some(_) => c.wait_tx(id, COMMIT_TIMEOUT).await?,
                None => {
                    let tx = sign(
                        &genesis.chain_id,
                        &key,
                        id,
                        Operation::SettleBatch {
                            batch,
                            currency,
                            window: w,
                            chunks: n_chunks,
                            instructions: instructions.len() as u64,
                            digest,
                            policy,
                        },
                    )?;
                    send(&c, std::slice::from_ref(&tx), "the settlement").await?;
                    c.wait_tx(id, COMMIT_TIMEOUT).await?
                }
            };
            // The record with the ledger's detail (shortfalls), as the node keeps it.
            settle = Some(
                c.get_opt(&format!("/v1/transactions/{id}"))
                    .await?
                    .unwrap_or(final_record),
            );
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
        .map(|v| v["status"] == "rejected")
        .unwrap_or(false);
    let outcome = if refused {
        let v = settle.as_ref().cloned().unwrap_or_default();
        let short: BTreeMap<MemberId, String> = v["detail"]["settlement"]["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let mm = genesis.member_by_name(m["member"].as_str()?)?;
                Some((mm.id, money_of(&m["shortfall_minor"], exp)))
            })
            .collect();
        let reason = format!(
            "{}: {}",
            v["reason"].as_str().unwrap_or(""),
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
            carried_to: wv["carried_to"].as_u64(),
        }
    };
    let group_status = match &a.pacs002 {
        Some(p) => Some(write_report(p, &genesis, &b, &a.file, &batch, &outcome)?),
        None => None,
    };
    let v = json!({
        "batch": batch, "currency": currency, "window": w, "policy": policy.to_string(),
        "instructions": instructions.len(), "chunks": n_chunks, "digest": digest,
        "status": if refused { "refused" } else { "settled" },
        "settlement": settle, "window_state": wv["state"], "report": wv["report"],
        "unwound": wv["unwound"], "carried_to": wv["carried_to"],
        "pacs002": a.pacs002, "pacs002_group_status": group_status,
        "elapsed_ms": started.elapsed().as_millis() as u64, "cli_peak_rss_kib": peak_rss_kib(None),
    });
    print(json_out, &v, |v| {
        let mut out = String::new();
        if refused {
            let s = &v["settlement"];
            out.push_str(&format!(
                "REFUSED: batch {batch} did not settle window {w}: {}: {} (transaction {} at height {}; nothing moved)",
                s["reason"].as_str().unwrap_or(""),
                s["message"].as_str().unwrap_or(""),
                s["id"].as_str().unwrap_or(""),
                s["height"]
            ));
            for m in s["detail"]["settlement"]["members"]
                .as_array()
                .into_iter()
                .flatten()
            {
                out.push_str(&format!(
                    "\n  {} cannot cover a net debit of {} {currency}: settlement balance {}, cap {}, shortfall {}",
                    m["member"].as_str().unwrap_or(""),
                    money_of(&m["debit_minor"], exp),
                    money_of(&m["balance_minor"], exp),
                    if m["cap_minor"].is_null() { "none".to_string() } else { money_of(&m["cap_minor"], exp) },
                    money_of(&m["shortfall_minor"], exp),
                ));
            }
            out.push_str(&format!(
                "\n  The batch stays staged. Fund the member (settlenet settlement fund --member NAME --amount A) and run this command again, run it with --policy unwind, or abort it (settlenet batch abort {batch})."
            ));
        } else {
            let (height, how) = match &settle {
                Some(s) => (
                    s["height"].clone(),
                    format!("transaction {}", s["id"].as_str().unwrap_or("")),
                ),
                None => (wv["settled_height"].clone(), "earlier".into()),
            };
            out.push_str(&format!(
                "SETTLED: batch {batch} settled window {w} in {currency} at height {height} ({how}): {} file instruction(s) in {n_chunks} chunk(s) with the window's obligations, atomically",
                instructions.len()
            ));
            out.push_str(&format!(
                "\n  {:<16} {:>15} {:>15} {:>15}",
                "member", "net", "settled", "carried"
            ));
            for l in wv["report"].as_array().into_iter().flatten() {
                out.push_str(&format!(
                    "\n  {:<16} {:>15} {:>15} {:>15}",
                    l["member"].as_str().unwrap_or(""),
                    l["net"].as_str().unwrap_or(""),
                    l["settled"].as_str().unwrap_or(""),
                    l["carried"].as_str().unwrap_or(""),
                ));
            }
            for u in wv["unwound"].as_array().into_iter().flatten() {
                out.push_str(&format!(
                    "\n  unwound: {} could not cover a net debit of {} (balance {}, shortfall {}); its obligations were carried to window {}",
                    u["member"].as_str().unwrap_or(""),
                    u["debit"].as_str().unwrap_or(""),
                    u["balance"].as_str().unwrap_or(""),
                    u["shortfall"].as_str().unwrap_or(""),
                    wv["carried_to"]
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

// ---- status and abort ----

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
    let mut v = c
        .get_opt(&format!("/v1/settlement/batches/{batch}"))
        .await?
        .ok_or_else(|| anyhow!("no batch {batch} is known to the network"))?;
    if let (Some(out), Some(file)) = (pacs002, file) {
        let genesis = c.genesis().await?;
        let b = read_file(&genesis, file, read)?;
        if !b.is_ok() {
            refuse(json_out, file, &b)?;
        }
        if Some(b.totals.count) != v["instructions"].as_u64() {
            bail!(
                "{} holds {} instructions, batch {batch} {}: not the file of this batch",
                file.display(),
                b.totals.count,
                v["instructions"]
            );
        }
        let currency: Currency = v["currency"].as_str().unwrap_or("").parse()?;
        let outcome = match v["state"].as_str() {
            Some("settled") => {
                let w = v["window"].as_u64().unwrap_or(0);
                let wv = window(&c, currency, w).await?;
                Outcome::Settled {
                    unwound: unwound_of(&genesis, &wv),
                    carried_to: wv["carried_to"].as_u64(),
                }
            }
            Some("aborted") => Outcome::Aborted,
            _ => Outcome::Staged,
        };
        let g = write_report(out, &genesis, &b, file, &batch, &outcome)?;
        v["pacs002"] = json!(out);
        v["pacs002_group_status"] = json!(g);
    }
    print(json_out, &v, |v| {
        let mut s = format!(
            "batch {batch}: {} (window {} in {})\n  chunks staged {}, instructions {}, policy {}\n  submitted by {} at height {}, finished at height {}",
            v["state"].as_str().unwrap_or(""),
            v["window"],
            v["currency"].as_str().unwrap_or(""),
            v["chunks"].as_array().map(|a| a.len()).unwrap_or(0),
            v["instructions"],
            v["policy"].as_str().unwrap_or("-"),
            v["submitted_by"].as_str().unwrap_or(""),
            v["created_height"],
            v["finished_height"].as_u64().map(|h| h.to_string()).unwrap_or("-".into()),
        );
        let unwound: Vec<&str> = v["unwound"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str())
            .collect();
        if !unwound.is_empty() {
            s.push_str(&format!("\n  unwound: {}", unwound.join(", ")));
        }
        if let Some(p) = pacs002 {
            s.push_str(&format!(
                "\nwrote pacs.002 {} (group status {})",
                p.display(),
                v["pacs002_group_status"].as_str().unwrap_or("")
            ));
        }
        s
    });
    Ok(())
}

async fn abort(t: &Target, json_out: bool, id: &str, key: Option<&Path>) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let batch: BatchId = id.parse().context("batch id (32 hex characters)")?;
    let key = clearing_key(t, &genesis, key)?;
    let tx = sign(
        &genesis.chain_id,
        &key,
        batch_tx_id(&batch, "abort", 0),
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
