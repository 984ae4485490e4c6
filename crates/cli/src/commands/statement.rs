//! `statement`: a member's settlement-account statement for a period (optionally as camt.053).

use crate::support::*;
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde::Serialize;
use settlenet_types::ids::format_signed_minor;
use settlenet_types::{AccountId, Currency, Operation};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use settlenet_batchfile::{write_camt053, Period, Statement, StatementEntry};

/// Most history pages a statement reads (100 entries each): 1,000,000 entries.
const STATEMENT_PAGES_MAX: usize = 10_000;
/// Milliseconds in a day.
const DAY_MS: u64 = 86_400_000;
/// Entries per history page a statement reads.
const HISTORY_PAGE: u32 = 100;

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
    let balance_now = minor(&acct.balance_minor);
    let mut reports: BTreeMap<u64, i128> = BTreeMap::new();
    let mut after_start: Vec<Booked> = Vec::new();
    let mut cursor: Option<String> = None;
    'pages: for _ in 0..STATEMENT_PAGES_MAX {
        let page = c
            .history(account, HISTORY_PAGE, cursor.as_deref())
            .await?
            .ok_or_else(|| anyhow!("no account {account}"))?;
        for e in &page.entries {
            let time_ms = e.timestamp;
            if time_ms < from_ms {
                break 'pages;
            }
            if e.result != "ok" {
                continue;
            }
            let (amount, what) = match &e.operation {
                Operation::FundSettlement { amount, .. } => {
                    (i128::from(amount.0), "funding".to_string())
                }
                Operation::WithdrawSettlement { amount, .. } => {
                    (-i128::from(amount.0), "withdrawal".to_string())
                }
                Operation::SettleBatch { window: w, .. } => {
                    let w = *w;
                    let settled = match reports.get(&w) {
                        Some(x) => *x,
                        None => {
                            let wv = window(&c, currency, w).await?;
                            let x = wv
                                .report
                                .iter()
                                .find(|l| l.member == member.name)
                                .map(|l| minor(&l.settled_minor))
                                .unwrap_or(0);
                            reports.insert(w, x);
                            x
                        }
                    };
                    (settled, format!("settlement of window {w}"))
                }
                other => bail!(
                    "the settlement account has an entry of a kind a statement does not know \
                     ({}, transaction {})",
                    other.name(),
                    e.tx
                ),
            };
            if amount != 0 {
                after_start.push(Booked {
                    tx: e.tx.to_string(),
                    time_ms,
                    amount,
                    what,
                });
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
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
    let iso = settlenet_batchfile::civil_time::iso_date_time;
    let v = StatementOutput {
        member: &member.name,
        account,
        currency,
        from: iso(from_ms),
        to: iso(to_ms),
        opening: money(opening),
        opening_minor: opening.to_string(),
        closing: money(closing),
        closing_minor: closing.to_string(),
        entries: in_period
            .iter()
            .map(|b| StatementLine {
                tx: b.tx.clone(),
                time: iso(b.time_ms),
                amount: money(b.amount),
                amount_minor: b.amount.to_string(),
                description: b.what.clone(),
            })
            .collect(),
        camt053: a.camt053.as_deref(),
    };
    print(json_out, &v, |v| {
        let mut out = format!(
            "statement of {}'s settlement account {account} ({currency})\n  period {} to {}\n  opening balance {:>18}",
            member.name, v.from, v.to, v.opening
        );
        for e in &v.entries {
            out.push_str(&format!(
                "\n  {} {:>18}  {}  {}",
                e.time, e.amount, e.description, e.tx
            ));
        }
        out.push_str(&format!("\n  closing balance {:>18}", v.closing));
        if let Some(p) = &a.camt053 {
            out.push_str(&format!("\nwrote camt.053 {}", p.display()));
        }
        out
    });
    Ok(())
}

/// What `statement` prints with `--json`.
#[derive(Serialize)]
struct StatementOutput<'a> {
    member: &'a str,
    account: AccountId,
    currency: Currency,
    from: String,
    to: String,
    opening: String,
    opening_minor: String,
    closing: String,
    closing_minor: String,
    entries: Vec<StatementLine>,
    camt053: Option<&'a Path>,
}

/// One booked entry of a statement.
#[derive(Serialize)]
struct StatementLine {
    tx: String,
    time: String,
    amount: String,
    amount_minor: String,
    description: String,
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
