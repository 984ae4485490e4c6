//! Settlement liquidity (`settlement fund|withdraw|cap|liquidity`) and a window's settlement
//! report (`settlement report`).

use crate::support::*;
use crate::txbuild::{parse_amount, sign, tx_nonce};
use anyhow::{bail, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use serde_json::json;
use settlenet_api::Window;
use settlenet_types::ids::{format_minor, format_signed_minor};
use settlenet_types::{AccountId, Operation};
use std::path::PathBuf;

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
    /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
    /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
    /// a safe retry.
    #[arg(long)]
    pub nonce: Option<String>,
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
    /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
    /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
    /// a safe retry.
    #[arg(long)]
    pub nonce: Option<String>,
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
    let tx = sign(&genesis.chain_id, &key, tx_nonce(a.nonce.as_deref())?, op)?;
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
        say!("  settlement balance now {} {currency}", v.balance);
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
        tx_nonce(a.nonce.as_deref())?,
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
    let v = c.liquidity(currency).await?;
    print(json_out, &v, |v| {
        let mut out = format!(
            "settlement liquidity in {currency} (unsettled net: + owed to the member)\n  {:<16} {:>16} {:>16} {:>16}",
            "member", "balance", "net debit cap", "unsettled net"
        );
        for m in &v.members {
            out.push_str(&format!(
                "\n  {:<16} {:>16} {:>16} {:>16}",
                m.member,
                m.balance,
                m.net_debit_cap.as_deref().unwrap_or("none"),
                m.unsettled_net,
            ));
        }
        out
    });
    Ok(())
}

/// The report lines of a window and their totals, minor units:
/// (sent, received, net, settled, carried).
fn report_totals(w: &Window) -> [i128; 5] {
    let mut t = [0i128; 5];
    for l in &w.report {
        for (i, k) in [
            &l.sent_minor,
            &l.received_minor,
            &l.net_minor,
            &l.settled_minor,
            &l.carried_minor,
        ]
        .iter()
        .enumerate()
        {
            t[i] = t[i].saturating_add(minor(k));
        }
    }
    t
}

/// `settlement report --format json`: the window with its totals.
#[derive(Serialize)]
struct ReportOutput<'a> {
    /// The window's record.
    #[serde(flatten)]
    window: &'a Window,
    /// The sums of its report lines.
    totals: Totals,
}

/// The sums of a report's lines (decimals, then minor units).
#[derive(Serialize)]
struct Totals {
    sent: String,
    received: String,
    net: String,
    settled: String,
    carried: String,
    sent_minor: String,
    received_minor: String,
    net_minor: String,
    settled_minor: String,
    carried_minor: String,
}

pub async fn report(t: &Target, json_out: bool, a: ReportArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let currency = currency_or_default(&genesis, a.currency.as_deref())?;
    let w = window(&c, currency, a.window).await?;
    let exp = w.exponent;
    let totals = report_totals(&w);
    let money = |v: i128| format_signed_minor(v, exp);
    let format = if json_out {
        ReportFormat::Json
    } else {
        a.format
    };
    match format {
        ReportFormat::Json => {
            let v = ReportOutput {
                window: &w,
                totals: Totals {
                    sent: money(totals[0]),
                    received: money(totals[1]),
                    net: money(totals[2]),
                    settled: money(totals[3]),
                    carried: money(totals[4]),
                    sent_minor: totals[0].to_string(),
                    received_minor: totals[1].to_string(),
                    net_minor: totals[2].to_string(),
                    settled_minor: totals[3].to_string(),
                    carried_minor: totals[4].to_string(),
                },
            };
            print(true, &v, |_| String::new());
        }
        ReportFormat::Csv => {
            say!("member,sent,received,net,settled,carried");
            for l in &w.report {
                say!(
                    "{},{},{},{},{},{}",
                    l.member,
                    l.sent,
                    l.received,
                    l.net,
                    l.settled,
                    l.carried
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
            let state = w.state.as_str();
            say!(
                "settlement report, window {} in {currency}: {state}{}{}",
                a.window,
                w.settled_height
                    .map(|h| format!(" at height {h}"))
                    .unwrap_or_default(),
                if w.report_final {
                    String::new()
                } else {
                    " (not settled yet: settled and carried are still zero)".to_string()
                }
            );
            if let Some(b) = w.batch {
                say!(
                    "  batch {b}, {} instructions from the batch file",
                    w.instructions
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
            for l in &w.report {
                say!(
                    "  {:<16} {:>15} {:>15} {:>15} {:>15} {:>15}",
                    l.member,
                    l.sent,
                    l.received,
                    l.net,
                    l.settled,
                    l.carried
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
            for u in &w.unwound {
                say!(
                    "  unwound: {} could not cover a net debit of {} (balance {}, shortfall {}); its obligations were carried to window {}",
                    u.member,
                    u.debit,
                    u.balance,
                    u.shortfall,
                    w.carried_to.map_or_else(|| "-".to_string(), |c| c.to_string())
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
