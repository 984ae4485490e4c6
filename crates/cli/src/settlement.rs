//! The clearing commands (issue 5) other than batches: settlement windows (close, list),
//! liquidity (fund, withdraw, net debit caps, the liquidity view), the settlement report of a
//! window, settlement receipts (fetched from a node, verified offline) and a member's
//! settlement-account statement (camt.053).
//!
//! Every write is signed by a staff key holding the `clearing` role. With `--testnet DIR` and
//! no `--key`, the key is `DIR/keys/<clearing house>/clearing.key`, the clearing house being
//! the genesis member of kind `clearing-house`.

use crate::client::Client;
use crate::commands::{client, print};
use crate::payments::{currency_or_default, get_account, role_file, run_tx};
use crate::txbuild::{parse_amount, read_key, sign, tx_id};
use crate::Target;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use settlenet_batchfile::{write_camt053, Period, Statement, StatementEntry};
use settlenet_crypto::Keypair;
use settlenet_types::ids::{format_minor, format_signed_minor};
use settlenet_types::{AccountId, Currency, Genesis, Member, MemberKind, Operation, Role};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Most history pages a statement reads (100 entries each): 1,000,000 entries.
const STATEMENT_PAGES_MAX: usize = 10_000;
/// Milliseconds in a day.
const DAY_MS: u64 = 86_400_000;

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
        /// Transaction id (default: random); reuse it to retry safely.
        #[arg(long)]
        id: Option<String>,
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

/// Arguments of `settlement fund` and `settlement withdraw`.
#[derive(Args, Debug)]
pub struct LiquidityArgs {
    /// The member whose settlement account moves.
    #[arg(long)]
    pub member: String,
    /// Amount as written, e.g. 1000.00.
    #[arg(long)]
    pub amount: String,
    /// Currency code (default: the network's first currency).
    #[arg(long)]
    pub currency: Option<String>,
    /// Clearing staff key (default with --testnet: the clearing house's clearing.key).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Transaction id (default: random); reuse it to retry safely.
    #[arg(long)]
    pub id: Option<String>,
}

/// Arguments of `settlement cap`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("cap").required(true).args(["amount", "none"])))]
pub struct CapArgs {
    /// The member.
    #[arg(long)]
    pub member: String,
    /// The net debit cap, as written: the member's unsettled net debit never exceeds it.
    #[arg(long)]
    pub amount: Option<String>,
    /// Remove the cap (unlimited).
    #[arg(long)]
    pub none: bool,
    /// Currency code (default: the network's first currency).
    #[arg(long)]
    pub currency: Option<String>,
    /// Clearing staff key (default with --testnet: the clearing house's clearing.key).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Transaction id (default: random); reuse it to retry safely.
    #[arg(long)]
    pub id: Option<String>,
}

/// Output format of `settlement report`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// A table for people.
    Text,
    /// Comma-separated values with a header line and a totals line.
    Csv,
    /// The node's JSON with totals.
    Json,
}

/// Arguments of `settlement report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The settlement window.
    #[arg(long)]
    pub window: u64,
    /// Currency code (default: the network's first currency).
    #[arg(long)]
    pub currency: Option<String>,
    /// Output format (--json is the same as --format json).
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
}

#[derive(Subcommand, Debug)]
pub enum SettlementCmd {
    /// Credit a member's settlement account (e.g. on confirmation of a central-bank transfer).
    Fund(LiquidityArgs),
    /// Debit a member's settlement account (funds returned to it at the central bank).
    Withdraw(LiquidityArgs),
    /// Set or remove a member's net debit cap.
    Cap(CapArgs),
    /// Every member's settlement balance, net debit cap and unsettled net position.
    Liquidity {
        /// Currency code (default: the network's first currency).
        #[arg(long)]
        currency: Option<String>,
    },
    /// A window's settlement report: each member's gross sent and received, net, settled and
    /// carried, with totals (net and settled sum to zero).
    Report(ReportArgs),
}

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

/// Arguments of `statement`.
#[derive(Args, Debug)]
pub struct StatementArgs {
    /// The member whose settlement account is stated.
    #[arg(long)]
    pub member: String,
    /// Currency code (default: the network's first currency).
    #[arg(long)]
    pub currency: Option<String>,
    /// First day of the period, YYYY-MM-DD (UTC; default: the beginning of the ledger).
    #[arg(long)]
    pub from: Option<String>,
    /// Last day of the period, YYYY-MM-DD (UTC, inclusive; default: now).
    #[arg(long)]
    pub to: Option<String>,
    /// Also write the statement as an ISO 20022 camt.053 file.
    #[arg(long)]
    pub camt053: Option<PathBuf>,
}

// ---- helpers shared with `batch` ----

/// The genesis member that runs clearing: the first of kind clearing-house, else the first
/// with a staff key holding the clearing role.
pub(crate) fn clearing_member(genesis: &Genesis) -> Option<&Member> {
    genesis
        .members
        .iter()
        .find(|m| m.kind == MemberKind::ClearingHouse)
        .or_else(|| {
            genesis
                .members
                .iter()
                .find(|m| m.staff.iter().any(|s| s.roles.contains(&Role::Clearing)))
        })
}

/// The clearing staff key: `--key`, or the testnet's `keys/<clearing house>/clearing.key`.
pub(crate) fn clearing_key(t: &Target, genesis: &Genesis, key: Option<&Path>) -> Result<Keypair> {
    match (key, &t.testnet) {
        (Some(p), _) => read_key(p),
        (None, Some(dir)) => {
            let m = clearing_member(genesis).ok_or_else(|| {
                anyhow!("no member of the genesis has clearing staff; pass --key")
            })?;
            read_key(
                &dir.join("keys")
                    .join(&m.name)
                    .join(role_file(Role::Clearing)),
            )
        }
        (None, None) => bail!(
            "--key is required (a staff key with the clearing role), or pass --testnet DIR to \
             use the clearing house's key"
        ),
    }
}

/// The genesis: `--genesis FILE`, else the testnet's `DIR/genesis.json`.
pub(crate) fn genesis_file(t: &Target, given: Option<&Path>) -> Result<Genesis> {
    let path = match (given, &t.testnet) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(dir)) => dir.join("genesis.json"),
        (None, None) => bail!("--genesis FILE is required (or --testnet DIR)"),
    };
    settlenet_node::testnet::read_genesis(&path)
        .with_context(|| format!("reading the genesis {}", path.display()))
}

/// A member by name, or an error listing the names.
pub(crate) fn member_named<'g>(genesis: &'g Genesis, name: &str) -> Result<&'g Member> {
    genesis.member_by_name(name).ok_or_else(|| {
        anyhow!(
            "no member named {name:?} in the genesis (members: {})",
            genesis
                .members
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// A JSON string holding an integer (the API's `*_minor` fields).
pub(crate) fn minor(v: &Value) -> i128 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().map(i128::from).unwrap_or(0),
        _ => 0,
    }
}

/// The windows of a currency (`GET /v1/settlement/windows`).
pub(crate) async fn windows(
    c: &Client,
    currency: Currency,
    start: Option<u64>,
    limit: u32,
) -> Result<Value> {
    let mut path = format!("/v1/settlement/windows?currency={currency}&limit={limit}");
    if let Some(s) = start {
        path.push_str(&format!("&start={s}"));
    }
    c.get(&path).await
}

/// One window (`GET /v1/settlement/windows/{c}/{w}`), or a clear error.
pub(crate) async fn window(c: &Client, currency: Currency, w: u64) -> Result<Value> {
    c.get_opt(&format!("/v1/settlement/windows/{currency}/{w}"))
        .await?
        .ok_or_else(|| anyhow!("no settlement window {w} in {currency}"))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn opt_height(v: &Value) -> String {
    v.as_u64().map(|h| h.to_string()).unwrap_or("-".into())
}

// ---- windows ----

pub async fn window_cmd(t: &Target, json_out: bool, cmd: WindowCmd) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    match cmd {
        WindowCmd::Close {
            currency,
            window: w,
            key,
            id,
        } => {
            let currency = currency_or_default(&genesis, currency.as_deref())?;
            let key = clearing_key(t, &genesis, key.as_deref())?;
            let w = match w {
                Some(w) => w,
                None => windows(&c, currency, None, 1).await?["open_window"]
                    .as_u64()
                    .ok_or_else(|| anyhow!("the node did not name the open window"))?,
            };
            let tx = sign(
                &genesis.chain_id,
                &key,
                tx_id(id.as_deref())?,
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
            let v = windows(&c, currency, start, limit).await?;
            print(json_out, &v, |v| {
                let mut out = format!(
                    "settlement windows in {currency} (open: {}; staging batch: {})\n  {:>6} {:<9} {:>7} {:>7} {:>8} {:>11} {:>12}  batch",
                    v["open_window"],
                    v["staging_batch"].as_str().unwrap_or("none"),
                    "window", "state", "opened", "closed", "settled", "obligations", "instructions"
                );
                for w in v["windows"].as_array().into_iter().flatten() {
                    out.push_str(&format!(
                        "\n  {:>6} {:<9} {:>7} {:>7} {:>8} {:>11} {:>12}  {}",
                        w["window"].to_string(),
                        s(&w["state"]),
                        opt_height(&w["opened_height"]),
                        opt_height(&w["closed_height"]),
                        opt_height(&w["settled_height"]),
                        w["obligations"].as_array().map(|a| a.len()).unwrap_or(0),
                        w["instructions"].to_string(),
                        w["batch"].as_str().unwrap_or("-"),
                    ));
                }
                out
            });
            Ok(())
        }
    }
}

// ---- liquidity ----

pub async fn settlement_cmd(t: &Target, json_out: bool, cmd: SettlementCmd) -> Result<()> {
    match cmd {
        SettlementCmd::Fund(a) => fund_or_withdraw(t, json_out, a, true).await,
        SettlementCmd::Withdraw(a) => fund_or_withdraw(t, json_out, a, false).await,
        SettlementCmd::Cap(a) => cap(t, json_out, a).await,
        SettlementCmd::Liquidity { currency } => liquidity(t, json_out, currency).await,
        SettlementCmd::Report(a) => report(t, json_out, a).await,
    }
}

async fn fund_or_withdraw(t: &Target, json_out: bool, a: LiquidityArgs, fund: bool) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let currency = currency_or_default(&genesis, a.currency.as_deref())?;
    let member = member_named(&genesis, &a.member)?;
    let key = clearing_key(t, &genesis, a.key.as_deref())?;
    let amount = parse_amount(&genesis, currency, &a.amount)?;
    let op = if fund {
        Operation::FundSettlement {
            member: member.id,
            currency,
            amount,
        }
    } else {
        Operation::WithdrawSettlement {
            member: member.id,
            currency,
            amount,
        }
    };
    let tx = sign(&genesis.chain_id, &key, tx_id(a.id.as_deref())?, op)?;
    let account = AccountId::derived("settlement", &member.name, currency);
    let exp = genesis.exponent(currency).unwrap_or(0);
    run_tx(
        &c,
        json_out,
        &tx,
        false,
        json!({"member": member.name, "settlement_account": account}),
        format!(
            "{} {} {currency} {} {}'s settlement account {account}",
            if fund { "funding" } else { "withdrawing" },
            format_minor(u128::from(amount.0), exp),
            if fund { "into" } else { "from" },
            member.name
        ),
    )
    .await?;
    if !json_out {
        let v = get_account(&c, account).await?;
        say!("  settlement balance now {} {currency}", s(&v["balance"]));
    }
    Ok(())
}

async fn cap(t: &Target, json_out: bool, a: CapArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let currency = currency_or_default(&genesis, a.currency.as_deref())?;
    let member = member_named(&genesis, &a.member)?;
    let key = clearing_key(t, &genesis, a.key.as_deref())?;
    let cap = match (&a.amount, a.none) {
        (Some(x), false) => Some(parse_amount(&genesis, currency, x)?),
        (None, true) => None,
        _ => bail!("give either --amount A or --none"),
    };
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_id(a.id.as_deref())?,
        Operation::SetNetDebitCap {
            member: member.id,
            currency,
            cap,
        },
    )?;
    let exp = genesis.exponent(currency).unwrap_or(0);
    let what = match cap {
        Some(x) => format!(
            "net debit cap of {} in {currency}: {}",
            member.name,
            format_minor(u128::from(x.0), exp)
        ),
        None => format!("net debit cap of {} in {currency}: none", member.name),
    };
    run_tx(
        &c,
        json_out,
        &tx,
        false,
        json!({"member": member.name}),
        what,
    )
    .await
}

async fn liquidity(t: &Target, json_out: bool, currency: Option<String>) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let currency = currency_or_default(&genesis, currency.as_deref())?;
    let v = c
        .get(&format!("/v1/settlement/liquidity?currency={currency}"))
        .await?;
    print(json_out, &v, |v| {
        let mut out = format!(
            "settlement liquidity in {currency} (unsettled net: + owed to the member)\n  {:<16} {:>16} {:>16} {:>16}",
            "member", "balance", "net debit cap", "unsettled net"
        );
        for m in v["members"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "\n  {:<16} {:>16} {:>16} {:>16}",
                s(&m["member"]),
                s(&m["balance"]),
                m["net_debit_cap"].as_str().unwrap_or("none"),
                s(&m["unsettled_net"]),
            ));
        }
        out
    });
    Ok(())
}

// ---- report ----

/// The report lines of a window and their totals, minor units:
/// (sent, received, net, settled, carried).
fn report_totals(w: &Value) -> [i128; 5] {
    let mut t = [0i128; 5];
    for l in w["report"].as_array().into_iter().flatten() {
        for (i, k) in [
            "sent_minor",
            "received_minor",
            "net_minor",
            "settled_minor",
            "carried_minor",
        ]
        .iter()
        .enumerate()
        {
            t[i] = t[i].saturating_add(minor(&l[*k]));
        }
    }
    t
}

pub async fn report(t: &Target, json_out: bool, a: ReportArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let currency = currency_or_default(&genesis, a.currency.as_deref())?;
    let w = window(&c, currency, a.window).await?;
    let exp = w["exponent"]
        .as_u64()
        .and_then(|e| u8::try_from(e).ok())
        .or_else(|| genesis.exponent(currency))
        .unwrap_or(0);
    let totals = report_totals(&w);
    let money = |v: i128| format_signed_minor(v, exp);
    let format = if json_out {
        ReportFormat::Json
    } else {
        a.format
    };
    match format {
        ReportFormat::Json => {
            let mut v = w.clone();
            v["totals"] = json!({
                "sent": money(totals[0]), "received": money(totals[1]), "net": money(totals[2]),
                "settled": money(totals[3]), "carried": money(totals[4]),
                "sent_minor": totals[0].to_string(), "received_minor": totals[1].to_string(),
                "net_minor": totals[2].to_string(), "settled_minor": totals[3].to_string(),
                "carried_minor": totals[4].to_string(),
            });
            say!("{}", serde_json::to_string_pretty(&v)?);
        }
        ReportFormat::Csv => {
            say!("member,sent,received,net,settled,carried");
            for l in w["report"].as_array().into_iter().flatten() {
                say!(
                    "{},{},{},{},{},{}",
                    s(&l["member"]),
                    s(&l["sent"]),
                    s(&l["received"]),
                    s(&l["net"]),
                    s(&l["settled"]),
                    s(&l["carried"])
                );
            }
            say!(
                "TOTAL,{},{},{},{},{}",
                money(totals[0]),
                money(totals[1]),
                money(totals[2]),
                money(totals[3]),
                money(totals[4])
            );
        }
        ReportFormat::Text => {
            let state = s(&w["state"]);
            say!(
                "settlement report, window {} in {currency}: {state}{}{}",
                a.window,
                w["settled_height"]
                    .as_u64()
                    .map(|h| format!(" at height {h}"))
                    .unwrap_or_default(),
                if w["report_final"] == true {
                    String::new()
                } else {
                    " (not settled yet: settled and carried are still zero)".to_string()
                }
            );
            if let Some(b) = w["batch"].as_str() {
                say!(
                    "  batch {b}, {} instructions from the batch file",
                    w["instructions"]
                );
            }
            say!(
                "  {:<16} {:>15} {:>15} {:>15} {:>15} {:>15}",
                "member",
                "sent",
                "received",
                "net",
                "settled",
                "carried"
            );
            for l in w["report"].as_array().into_iter().flatten() {
                say!(
                    "  {:<16} {:>15} {:>15} {:>15} {:>15} {:>15}",
                    s(&l["member"]),
                    s(&l["sent"]),
                    s(&l["received"]),
                    s(&l["net"]),
                    s(&l["settled"]),
                    s(&l["carried"])
                );
            }
            say!(
                "  {:<16} {:>15} {:>15} {:>15} {:>15} {:>15}",
                "total",
                money(totals[0]),
                money(totals[1]),
                money(totals[2]),
                money(totals[3]),
                money(totals[4])
            );
            for u in w["unwound"].as_array().into_iter().flatten() {
                say!(
                    "  unwound: {} could not cover a net debit of {} (balance {}, shortfall {}); its obligations were carried to window {}",
                    s(&u["member"]),
                    s(&u["debit"]),
                    s(&u["balance"]),
                    s(&u["shortfall"]),
                    opt_height(&w["carried_to"])
                );
            }
            say!(
                "  net and settled each sum to zero: {}",
                if totals[2] == 0 && totals[3] == 0 {
                    "yes"
                } else {
                    "NO"
                }
            );
        }
    }
    if totals[2] != 0 || totals[3] != 0 {
        bail!(
            "the report does not sum to zero (net {}, settled {})",
            totals[2],
            totals[3]
        );
    }
    Ok(())
}

// ---- receipts ----

pub async fn receipt_cmd(t: &Target, json_out: bool, cmd: ReceiptCmd) -> Result<()> {
    match cmd {
        ReceiptCmd::Get { batch, out } => {
            let c = client(t)?;
            let id: settlenet_types::BatchId = batch.parse().context("batch id")?;
            let (status, bytes) = c
                .get_raw(&format!("/v1/settlement/batches/{id}/receipt"))
                .await?;
            if !(200..300).contains(&status) {
                let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                bail!(
                    "no receipt for batch {id} ({status}): {}",
                    crate::client::error_text(&v)
                );
            }
            std::fs::write(&out, &bytes)
                .with_context(|| format!("cannot write {}", out.display()))?;
            let v: Value = serde_json::from_slice(&bytes).context("the receipt is not JSON")?;
            let summary = json!({
                "batch": v["batch"], "currency": v["currency"], "window": v["window"],
                "state_height": v["state_height"], "state_root": v["state_root"],
                "anchor_height": v["anchor"]["height"],
                "signatures": v["anchor"]["certificate"]["signatures"].as_array().map(|a| a.len()).unwrap_or(0),
                "members": v["settlement_proofs"].as_array().map(|a| a.len()).unwrap_or(0),
                "file": out, "bytes": bytes.len(),
            });
            print(json_out, &summary, |v| {
                format!(
                    "receipt of batch {} (window {} in {}): state root {} at height {}, certified by block {} with {} validator signatures, proofs of {} settlement accounts\nwrote {} ({} bytes); check it offline with `settlenet receipt verify {} --genesis GENESIS`",
                    s(&v["batch"]), v["window"], s(&v["currency"]), s(&v["state_root"]),
                    v["state_height"], v["anchor_height"], v["signatures"], v["members"],
                    out.display(), v["bytes"], out.display()
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
                    s(&v["batch"]), v["window"], s(&v["currency"]), opt_height(&v["settled_height"]),
                    s(&v["state_root"]), v["state_height"], v["anchor_height"], v["signatures"]
                );
                out.push_str(&format!(
                    "\n    {:<16} {:>15} {:>15} {:>15} {:>18}",
                    "member", "net", "settled", "carried", "settlement balance"
                ));
                for m in v["members"].as_array().into_iter().flatten() {
                    out.push_str(&format!(
                        "\n    {:<16} {:>15} {:>15} {:>15} {:>18}",
                        s(&m["member"]),
                        s(&m["net"]),
                        s(&m["settled"]),
                        s(&m["carried"]),
                        s(&m["settlement_balance"])
                    ));
                }
                if v["unwound"].as_u64().unwrap_or(0) > 0 {
                    out.push_str(&format!(
                        "\n  {} member(s) were unwound (their obligations carried to the next window).",
                        v["unwound"]
                    ));
                }
                out
            });
            Ok(())
        }
    }
}

// ---- statements ----

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` (UTC) as epoch milliseconds at the start of that day.
fn parse_date_ms(text: &str, flag: &str) -> Result<u64> {
    let bad = || anyhow!("{flag} {text:?}: expected a date YYYY-MM-DD");
    let parts: Vec<&str> = text.trim().split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let (y, m, d): (i64, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let days = days_from_civil(y, m, d);
    // Refuse 2025-02-30 rather than rolling it over.
    if settlenet_batchfile::civil_time::civil_from_days(days) != (y, m, d) {
        return Err(bad());
    }
    u64::try_from(days)
        .ok()
        .and_then(|d| d.checked_mul(DAY_MS))
        .ok_or_else(bad)
}

/// One entry of a settlement account, signed (credit > 0), with its booking time.
struct Booked {
    tx: String,
    time_ms: u64,
    amount: i128,
    what: String,
}

pub async fn statement(t: &Target, json_out: bool, a: StatementArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let currency = currency_or_default(&genesis, a.currency.as_deref())?;
    let exp = genesis.exponent(currency).unwrap_or(0);
    let member = member_named(&genesis, &a.member)?;
    let account = AccountId::derived("settlement", &member.name, currency);
    let from_ms = a
        .from
        .as_deref()
        .map(|d| parse_date_ms(d, "--from"))
        .transpose()?
        .unwrap_or(0);
    let now_ms = now_ms();
    let to_ms = match a.to.as_deref() {
        Some(d) => parse_date_ms(d, "--to")?.saturating_add(DAY_MS - 1),
        None => now_ms,
    };
    if to_ms < from_ms {
        bail!("--to is before --from");
    }
    // The balance now, then every entry back to the start of the period (newest first).
    let acct = get_account(&c, account).await?;
    let balance_now = minor(&acct["balance_minor"]);
    let mut reports: BTreeMap<u64, i128> = BTreeMap::new();
    let mut after_start: Vec<Booked> = Vec::new();
    let mut cursor: Option<String> = None;
    'pages: for _ in 0..STATEMENT_PAGES_MAX {
        let mut path = format!("/v1/accounts/{account}/history?limit=100");
        if let Some(cur) = &cursor {
            path.push_str(&format!("&cursor={cur}"));
        }
        let page = c.get(&path).await?;
        for e in page["entries"].as_array().into_iter().flatten() {
            let time_ms = e["timestamp"].as_u64().unwrap_or(0);
            if time_ms < from_ms {
                break 'pages;
            }
            if e["result"] != "ok" {
                continue;
            }
            let op_name = s(&e["op"]);
            let op = &e["operation"][op_name];
            let amount_of = |op: &Value| -> Result<i128> {
                op["amount"]
                    .as_u64()
                    .map(i128::from)
                    .ok_or_else(|| anyhow!("{op_name} without an amount in the node's answer"))
            };
            let (amount, what) = match op_name {
                "fund_settlement" => (amount_of(op)?, "funding".to_string()),
                "withdraw_settlement" => (-amount_of(op)?, "withdrawal".to_string()),
                "settle_batch" => {
                    let w = op["window"]
                        .as_u64()
                        .ok_or_else(|| anyhow!("settle_batch without a window"))?;
                    let settled = match reports.get(&w) {
                        Some(x) => *x,
                        None => {
                            let wv = window(&c, currency, w).await?;
                            let x = wv["report"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .find(|l| l["member"] == member.name.as_str())
                                .map(|l| minor(&l["settled_minor"]))
                                .unwrap_or(0);
                            reports.insert(w, x);
                            x
                        }
                    };
                    (settled, format!("settlement of window {w}"))
                }
                other => bail!(
                    "the settlement account has an entry of a kind a statement does not know \
                     ({other}, transaction {})",
                    s(&e["tx"])
                ),
            };
            if amount != 0 {
                after_start.push(Booked {
                    tx: s(&e["tx"]).to_string(),
                    time_ms,
                    amount,
                    what,
                });
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let moved_since_start: i128 = after_start.iter().map(|b| b.amount).sum();
    let opening = balance_now
        .checked_sub(moved_since_start)
        .ok_or_else(|| anyhow!("balance arithmetic overflows"))?;
    let mut in_period: Vec<&Booked> = after_start.iter().filter(|b| b.time_ms <= to_ms).collect();
    in_period.reverse(); // booking order
    let closing = opening + in_period.iter().map(|b| b.amount).sum::<i128>();
    let st = Statement {
        message_id: format!("STMT-{}-{}", member.name, now_ms),
        statement_id: format!("{}-{}-{}", member.name, currency, from_ms / DAY_MS),
        created_ms: now_ms,
        account: account.to_string(),
        owner: Some(member.name.clone()),
        currency,
        exponent: exp,
        opening,
        entries: in_period
            .iter()
            .map(|b| StatementEntry {
                reference: b.tx.clone(),
                amount: b.amount.unsigned_abs(),
                credit: b.amount > 0,
                booking_time_ms: b.time_ms,
                description: Some(b.what.clone()),
            })
            .collect(),
        period: Period { from_ms, to_ms },
    };
    let checked = st.closing()?;
    if checked != closing {
        bail!("statement does not balance: {checked} != {closing}");
    }
    if let Some(path) = &a.camt053 {
        let xml = write_camt053(&st)?;
        std::fs::write(path, xml).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let money = |v: i128| format_signed_minor(v, exp);
    let v = json!({
        "member": member.name,
        "account": account,
        "currency": currency,
        "from": settlenet_batchfile::civil_time::iso_date_time(from_ms),
        "to": settlenet_batchfile::civil_time::iso_date_time(to_ms),
        "opening": money(opening),
        "opening_minor": opening.to_string(),
        "closing": money(closing),
        "closing_minor": closing.to_string(),
        "entries": in_period.iter().map(|b| json!({
            "tx": b.tx, "time": settlenet_batchfile::civil_time::iso_date_time(b.time_ms),
            "amount": money(b.amount), "amount_minor": b.amount.to_string(), "description": b.what,
        })).collect::<Vec<_>>(),
        "camt053": a.camt053,
    });
    print(json_out, &v, |v| {
        let mut out = format!(
            "statement of {}'s settlement account {account} ({currency})\n  period {} to {}\n  opening balance {:>18}",
            member.name, s(&v["from"]), s(&v["to"]), s(&v["opening"])
        );
        for e in v["entries"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "\n  {} {:>18}  {}  {}",
                s(&e["time"]),
                s(&e["amount"]),
                s(&e["description"]),
                s(&e["tx"])
            ));
        }
        out.push_str(&format!("\n  closing balance {:>18}", s(&v["closing"])));
        if let Some(p) = &a.camt053 {
            out.push_str(&format!("\nwrote camt.053 {}", p.display()));
        }
        out
    });
    Ok(())
}

/// Wall-clock time for report headers (never for anything the ledger decides).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_to_utc_midnight() {
        assert_eq!(parse_date_ms("1970-01-01", "--from").ok(), Some(0));
        assert_eq!(
            parse_date_ms("2025-03-10", "--from").ok(),
            Some(1_741_564_800_000)
        );
        assert!(parse_date_ms("2025-02-30", "--from").is_err());
        assert!(parse_date_ms("2025-3", "--from").is_err());
        assert!(parse_date_ms("yesterday", "--from").is_err());
    }
}
