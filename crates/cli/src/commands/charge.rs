//! Charge requests (request-to-pay): `charge create|show|approve|decline|cancel|capture|wait|
//! export`.
//!
//! The merchant (its key, or its acquirer's staff) creates a request and shows its payload as a
//! QR code or link; the payer's wallet reads the request from a node, checks it against the
//! payload, and approves it (a hold of exactly the amount) or declines it; the merchant
//! captures. `charge wait` follows the request's ledger entry on the event stream and prints
//! each change of its state once.

use crate::support::*;
use crate::txbuild::{self, account_id, parse_amount, read_key, sign, tx_nonce};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use settlenet_api::client::{Client, EventsRequest};
use settlenet_api::{ChargePayload, ChargeView, StreamEvent};
use settlenet_batchfile::{
    write_pain013, write_pain014, Agent, ChargeReportStatus, ChargeRequestDoc,
};
use settlenet_ledger::ChargeStatus;
use settlenet_types::{
    AccountId, Amount, ChargeId, ChargePayer, Genesis, HoldId, MemberId, Operation,
};
use std::path::PathBuf;
use std::time::Duration;

/// Default time a request waits for its payer: five minutes of consensus time.
const CHARGE_TIMEOUT_S_DEFAULT: u64 = 300;
/// Default time the merchant has to capture an approved request: one hour.
const HOLD_TIMEOUT_S_DEFAULT: u64 = 3_600;

#[derive(Subcommand, Debug)]
pub enum ChargeCmd {
    /// Create a charge request (merchant key or its acquirer's staff key); prints its id and
    /// payload (`--qr`: as a QR code in the terminal).
    Create(CreateArgs),
    /// Show a charge request and its status.
    Show {
        /// The charge id (32 hex characters).
        id: String,
        /// Also draw the payload as a QR code.
        #[arg(long)]
        qr: bool,
    },
    /// Approve a charge request as its payer: a hold of exactly the requested amount.
    Approve(PayerArgs),
    /// Decline a charge request that names you as its payer.
    Decline(PayerArgs),
    /// Cancel a pending charge request (merchant key or its acquirer's staff key).
    Cancel(MerchantArgs),
    /// Capture an approved charge request's hold, all or `--amount` (merchant or acquirer).
    Capture(CaptureArgs),
    /// Follow a charge request until it reaches a state; print each change once.
    Wait(WaitArgs),
    /// Write the request as ISO 20022 pain.013, or its status as pain.014.
    Export(ExportArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The merchant account paid on capture.
    #[arg(long)]
    pub merchant: String,
    /// The amount asked, as written, e.g. 12.50.
    #[arg(long)]
    pub amount: String,
    /// The merchant's reference (order or invoice number): 1 to 35 characters.
    #[arg(long)]
    pub reference: String,
    /// The only payer allowed: a phone number or a wallet id (default: anyone who scans it).
    #[arg(long)]
    pub payer: Option<String>,
    /// Seconds the request waits for its payer (consensus time; at most one day).
    #[arg(long, default_value_t = CHARGE_TIMEOUT_S_DEFAULT)]
    pub expires_in: u64,
    /// Seconds the merchant has to capture once approved (at most 7 days).
    #[arg(long, default_value_t = HOLD_TIMEOUT_S_DEFAULT)]
    pub hold_timeout: u64,
    /// The signing key: the merchant's, or its acquirer's staff key (with --testnet: the
    /// acquirer's staff key by default).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The request id (default: random).
    #[arg(long)]
    pub charge: Option<String>,
    /// Draw the payload as a QR code (human output; with --json the payload is in the JSON).
    #[arg(long)]
    pub qr: bool,
    /// Transaction nonce (default: random): with the key and validity, a safe retry.
    #[arg(long)]
    pub nonce: Option<String>,
}

#[derive(Args, Debug)]
pub struct PayerArgs {
    /// The charge id; or give --payload.
    pub id: Option<String>,
    /// The payload read from the QR code or link: checked field by field against the request
    /// on the ledger before signing.
    #[arg(long)]
    pub payload: Option<String>,
    /// The payer's key file.
    #[arg(long)]
    pub key: PathBuf,
    /// The payer's wallet (default: the request's payer, else the one wallet --key owns in the
    /// request's currency).
    #[arg(long)]
    pub from: Option<String>,
    /// The hold's id (approve only; default: random).
    #[arg(long)]
    pub hold: Option<String>,
    /// Transaction nonce (default: random).
    #[arg(long)]
    pub nonce: Option<String>,
}

#[derive(Args, Debug)]
pub struct MerchantArgs {
    /// The charge id.
    pub id: String,
    /// The merchant's key or its acquirer's staff key (with --testnet: the acquirer's).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Transaction nonce (default: random).
    #[arg(long)]
    pub nonce: Option<String>,
}

#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// The charge id.
    pub id: String,
    /// How much to capture, as written (default: all of it).
    #[arg(long)]
    pub amount: Option<String>,
    /// The merchant's key or its acquirer's staff key (with --testnet: the acquirer's).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Transaction nonce (default: random).
    #[arg(long)]
    pub nonce: Option<String>,
}

/// The state `charge wait` waits for.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// The payer approved (or a later state).
    Approved,
    /// The merchant captured.
    Completed,
    /// Any final state (completed, declined, cancelled, expired, voided).
    Final,
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// The charge id.
    pub id: String,
    /// The state to wait for; a final state that is not it ends the wait with an error.
    #[arg(long, value_enum, default_value_t = Until::Final)]
    pub until: Until,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The charge id.
    pub id: String,
    /// Write the request (pain.013.001.07).
    #[arg(long, conflicts_with = "pain014", required_unless_present = "pain014")]
    pub pain013: bool,
    /// Write its status: approval, completion or refusal (pain.014.001.07).
    #[arg(long)]
    pub pain014: bool,
    /// Write to this file (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub async fn run(t: &Target, json_out: bool, cmd: ChargeCmd) -> Result<()> {
    match cmd {
        ChargeCmd::Create(a) => create(t, json_out, a).await,
        ChargeCmd::Show { id, qr } => {
            let c = client(t)?;
            let v = get_charge(&c, &id).await?;
            let genesis = c.genesis().await?;
            print(json_out, &v, |v| human(&genesis, v));
            // With --json the payload is in the JSON; the drawing is for people.
            if qr && !json_out {
                say!("{}", qr_text(&v.payload)?);
            }
            Ok(())
        }
        ChargeCmd::Approve(a) => payer_act(t, json_out, a, true).await,
        ChargeCmd::Decline(a) => payer_act(t, json_out, a, false).await,
        ChargeCmd::Cancel(a) => cancel(t, json_out, a).await,
        ChargeCmd::Capture(a) => capture(t, json_out, a).await,
        ChargeCmd::Wait(a) => wait(t, json_out, a).await,
        ChargeCmd::Export(a) => export(t, a).await,
    }
}

/// The payload as a QR code of Unicode half blocks (two modules per character cell).
pub fn qr_text(payload: &str) -> Result<String> {
    let code = qrcode::QrCode::with_error_correction_level(payload, qrcode::EcLevel::M)
        .map_err(|e| anyhow!("the payload does not fit a QR code: {e}"))?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .quiet_zone(true)
        .build())
}

async fn get_charge(c: &Client, id: &str) -> Result<ChargeView> {
    let id: ChargeId = id.parse().context("charge id")?;
    c.charge(id)
        .await?
        .ok_or_else(|| anyhow!("no charge request {id} on the node"))
}

/// The requested amount in minor units, as the node gave it.
fn amount_minor(v: &ChargeView) -> Result<u64> {
    v.amount_minor
        .parse()
        .map_err(|_| anyhow!("the node's amount {:?} is not a number", v.amount_minor))
}

/// A request in words.
fn human(genesis: &Genesis, v: &ChargeView) -> String {
    let mut out = format!(
        "charge {}  {}{}\n  {} {} to merchant {} ({}), reference {:?}\n  payer {}  expires at {} ms  hold timeout {} s",
        v.id,
        v.status,
        if v.expired_by_time { " (past its expiry: no block can approve it)" } else { "" },
        v.amount,
        v.currency,
        v.merchant,
        v.acquirer,
        v.reference,
        v.payer.map_or_else(|| "anyone".to_string(), |p| p.to_string()),
        v.expires_at_ms,
        v.hold_timeout_ms / 1000,
    );
    if let (Some(hold), Some(w)) = (v.hold, v.approved_by) {
        out.push_str(&format!("\n  approved by wallet {w}: hold {hold}"));
    }
    if v.captured_minor != "0" {
        let exp = genesis.exponent(v.currency).unwrap_or(0);
        out.push_str(&format!(
            "\n  captured {}",
            fmt_minor(&v.captured_minor, exp)
        ));
    }
    out.push_str(&format!(
        "\n  entry {} (follow it: settlenet watch --account {})\n  payload {}",
        v.entry, v.entry, v.payload
    ));
    out
}

async fn create(t: &Target, json_out: bool, a: CreateArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let merchant = account_id(&a.merchant).context("--merchant")?;
    let m = get_account(&c, merchant).await?;
    if m.kind != "merchant" {
        bail!(
            "--merchant {merchant} is a {} account, not a merchant",
            m.kind
        );
    }
    let amount = parse_amount(&genesis, m.currency, &a.amount).context("--amount")?;
    if !settlenet_types::is_max35_text(&a.reference) {
        bail!("--reference must be 1 to 35 characters with no control character");
    }
    let payer = match a.payer.as_deref() {
        None => None,
        // 32 hex characters are a wallet id (a phone number has at most 15 digits).
        Some(p) => Some(match p.parse::<AccountId>() {
            Ok(id) => ChargePayer::Account(id),
            Err(_) => ChargePayer::Alias(c.alias(p, Some(m.currency)).await?.alias),
        }),
    };
    let charge = match &a.charge {
        Some(x) => x.parse::<ChargeId>().context("--charge")?,
        None => ChargeId(txbuild::random_id()),
    };
    let key = merchant_side_key(t, a.key.as_deref(), &m.member)?;
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_nonce(a.nonce.as_deref())?,
        Operation::CreateCharge {
            charge,
            merchant,
            amount,
            reference: a.reference.clone(),
            payer,
            timeout_ms: a.expires_in.saturating_mul(1000),
            hold_timeout_ms: a.hold_timeout.saturating_mul(1000),
        },
    )?;
    let v = submit_and_wait(&c, &tx, false).await?;
    ensure_ok(&v).map_err(|e| anyhow!("charge {charge}: {e}"))?;
    let view = c
        .charge(charge)
        .await?
        .ok_or_else(|| anyhow!("charge {charge} committed but the node does not show it"))?;
    let out = json!({"tx": v, "charge": view});
    print(json_out, &out, |_| {
        format!("{}\n{}", human_tx(&v), human(&genesis, &view))
    });
    if a.qr && !json_out {
        say!("{}", qr_text(&view.payload)?);
    }
    Ok(())
}

/// Approve (`approve`) or decline a request as its payer.
async fn payer_act(t: &Target, json_out: bool, a: PayerArgs, approve: bool) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let payload = a.payload.as_deref().map(ChargePayload::parse).transpose()?;
    let id = match (&a.id, &payload) {
        (Some(id), _) => id.clone(),
        (None, Some(p)) => p.charge.to_string(),
        (None, None) => bail!("give the charge id or --payload"),
    };
    let view = get_charge(&c, &id).await?;
    if let Some(p) = &payload {
        if p.chain_id != genesis.chain_id {
            bail!(
                "the payload is for network {:?}, the node serves {:?}",
                p.chain_id,
                genesis.chain_id
            );
        }
        p.check_against(&view)?;
    }
    if view.status() != Some(ChargeStatus::Pending) {
        bail!(
            "charge {} is {}: only a pending request can be answered",
            view.id,
            view.status
        );
    }
    if view.expired_by_time {
        bail!(
            "charge {} is past its expiry: no block can approve it",
            view.id
        );
    }
    let key = read_key(&a.key)?;
    let from = match (&a.from, view.payer) {
        (Some(f), _) => account_id(f).context("--from")?,
        (None, Some(p)) => p,
        (None, None) => payer_wallet(&c, &key, None, Some(view.currency)).await?.0,
    };
    let amount = Amount(amount_minor(&view)?);
    let (op, extra, prefix) = if approve {
        let hold = match &a.hold {
            Some(h) => h.parse::<HoldId>().context("--hold")?,
            None => HoldId(txbuild::random_id()),
        };
        (
            Operation::ApproveCharge {
                charge: view.id,
                hold,
                from,
                amount,
            },
            json!({"charge": view.id, "hold": hold}),
            format!(
                "approve charge {}: {} {} to merchant {} (hold {hold})",
                view.id, view.amount, view.currency, view.merchant
            ),
        )
    } else {
        (
            Operation::DeclineCharge {
                charge: view.id,
                from,
            },
            json!({"charge": view.id}),
            format!("decline charge {}", view.id),
        )
    };
    let tx = sign(&genesis.chain_id, &key, tx_nonce(a.nonce.as_deref())?, op)?;
    run_tx(&c, json_out, &tx, false, extra, prefix).await
}

async fn cancel(t: &Target, json_out: bool, a: MerchantArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let view = get_charge(&c, &a.id).await?;
    let key = merchant_side_key(t, a.key.as_deref(), &view.acquirer)?;
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_nonce(a.nonce.as_deref())?,
        Operation::CancelCharge { charge: view.id },
    )?;
    run_tx(
        &c,
        json_out,
        &tx,
        false,
        json!({"charge": view.id}),
        format!("cancel charge {}", view.id),
    )
    .await
}

async fn capture(t: &Target, json_out: bool, a: CaptureArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let view = get_charge(&c, &a.id).await?;
    let Some(hold) = view.hold else {
        bail!(
            "charge {} is {}: nothing to capture until the payer approves",
            view.id,
            view.status
        );
    };
    let amount = match &a.amount {
        Some(x) => parse_amount(&genesis, view.currency, x).context("--amount")?,
        None => Amount(amount_minor(&view)?),
    };
    let key = merchant_side_key(t, a.key.as_deref(), &view.acquirer)?;
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_nonce(a.nonce.as_deref())?,
        Operation::Capture { hold, amount },
    )?;
    let id = tx.tx.id;
    run_tx(
        &c,
        json_out,
        &tx,
        false,
        json!({"charge": view.id, "hold": hold, "capture": id}),
        format!(
            "capture {id} of charge {} (hold {hold}; refunds name this id)",
            view.id
        ),
    )
    .await
}

/// Whether `status` satisfies `until`.
fn reached(status: ChargeStatus, until: Until) -> bool {
    match until {
        Until::Approved => status != ChargeStatus::Pending,
        Until::Completed => status == ChargeStatus::Completed,
        Until::Final => status.is_final(),
    }
}

async fn wait(t: &Target, json_out: bool, a: WaitArgs) -> Result<()> {
    let c = client(t)?;
    let first = get_charge(&c, &a.id).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(a.timeout);
    // From the block that created it: every change since is on the stream, in order.
    let mut stream = c.events(EventsRequest {
        from: Some(first.created_height.0),
        account: Some(first.entry),
        after: None,
    })?;
    let mut shown: Option<(String, u64)> = None;
    let report = |v: &ChargeView, by_time: bool| {
        let line = json!({
            "charge": v.id,
            "status": if by_time { "expired" } else { v.status.as_str() },
            "height": v.height,
            "status_height": v.status_height,
            "status_tx": v.status_tx,
            "hold": v.hold,
        });
        if json_out {
            say!("{}", line);
        } else if by_time {
            say!(
                "charge {}: expired (the latest block's time passed {} ms; no block can approve it)",
                v.id,
                v.expires_at_ms
            );
        } else {
            say!(
                "charge {}: {} at height {}{}",
                v.id,
                v.status,
                v.status_height,
                v.hold.map(|h| format!(" (hold {h})")).unwrap_or_default()
            );
        }
    };
    loop {
        let v = get_charge(&c, &a.id).await?;
        let status = v
            .status()
            .ok_or_else(|| anyhow!("unknown charge status {:?}", v.status))?;
        let key = (v.status.clone(), v.status_height.0);
        if shown.as_ref() != Some(&key) {
            report(&v, false);
            shown = Some(key);
        }
        // Past its expiry while pending: no block can approve it any more, whether or not a
        // block has marked it yet (an idle network makes none).
        let effective = if v.expired_by_time {
            ChargeStatus::Expired
        } else {
            status
        };
        if v.expired_by_time {
            report(&v, true);
        }
        if reached(effective, a.until) {
            return Ok(());
        }
        if effective.is_final() {
            bail!(
                "charge {} ended {} before reaching {:?}",
                v.id,
                effective.as_str(),
                a.until
            );
        }
        // Until an event names the entry (a transaction that changed it, or a block that
        // expired it), or a block passes its expiry.
        loop {
            let event = tokio::time::timeout_at(deadline, stream.next())
                .await
                .map_err(|_| {
                    anyhow!("charge {}: still {} after {} s", v.id, v.status, a.timeout)
                })??;
            let relevant = match &event {
                StreamEvent::Tx(tx) => tx.changed.contains(&v.entry),
                StreamEvent::Block(b) => {
                    b.expired.contains(&v.entry)
                        || (effective == ChargeStatus::Pending && b.time_ms >= v.expires_at_ms)
                }
            };
            if relevant {
                break;
            }
        }
    }
}

/// The message's view of a member.
fn agent_of(genesis: &Genesis, member: MemberId) -> Option<Agent> {
    let m = genesis.members.get(usize::from(member.0))?;
    Some(Agent {
        name: m.name.clone(),
        bic: m.bic.clone(),
        clearing_id: m.clearing_id.clone(),
    })
}

async fn export(t: &Target, a: ExportArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let v = get_charge(&c, &a.id).await?;
    let creditor_agent = genesis
        .members
        .iter()
        .find(|m| m.name == v.acquirer)
        .map(|m| Agent {
            name: m.name.clone(),
            bic: m.bic.clone(),
            clearing_id: m.clearing_id.clone(),
        })
        .ok_or_else(|| anyhow!("the genesis has no member {:?}", v.acquirer))?;
    let debtor_account = v.approved_by.or(v.payer);
    let debtor_agent = match debtor_account {
        Some(w) => get_account(&c, w)
            .await
            .ok()
            .and_then(|acc| {
                genesis
                    .members
                    .iter()
                    .position(|m| m.name == acc.member)
                    .and_then(|i| u16::try_from(i).ok())
            })
            .and_then(|i| agent_of(&genesis, MemberId(i))),
        None => None,
    };
    let doc = ChargeRequestDoc {
        id: v.id.to_string(),
        reference: v.reference.clone(),
        amount_minor: u128::from(amount_minor(&v)?),
        currency: v.currency,
        exponent: genesis.exponent(v.currency).unwrap_or(0),
        created_ms: block_time(&c, v.created_height.0).await?,
        expires_at_ms: v.expires_at_ms,
        creditor_account: v.merchant.to_string(),
        creditor_agent,
        debtor_account: debtor_account.map(|w| w.to_string()),
        debtor_agent,
    };
    let xml = if a.pain013 {
        write_pain013(&doc)
    } else {
        let status = v
            .status()
            .ok_or_else(|| anyhow!("unknown charge status {:?}", v.status))?;
        let status = match status {
            ChargeStatus::Pending if v.expired_by_time => expired(),
            ChargeStatus::Pending => ChargeReportStatus::Pending,
            ChargeStatus::Approved => ChargeReportStatus::Accepted,
            ChargeStatus::Completed => ChargeReportStatus::Completed,
            ChargeStatus::Declined => ChargeReportStatus::Rejected {
                code: "CUST",
                text: "declined by the payer".into(),
            },
            ChargeStatus::Cancelled => ChargeReportStatus::Rejected {
                code: "DS02",
                text: "cancelled by the merchant".into(),
            },
            ChargeStatus::Voided => ChargeReportStatus::Rejected {
                code: "DS02",
                text: "approved, then voided by the merchant".into(),
            },
            ChargeStatus::Expired => expired(),
        };
        write_pain014(&doc, &status, block_time(&c, v.status_height.0).await?)
    };
    match &a.out {
        Some(path) => {
            std::fs::write(path, &xml).with_context(|| format!("write {}", path.display()))?;
            say!("wrote {}", path.display());
        }
        None => say!("{}", xml.trim_end()),
    }
    Ok(())
}

fn expired() -> ChargeReportStatus {
    ChargeReportStatus::Rejected {
        code: "AEXR",
        text: "expired before the payer approved it, or its hold before capture".into(),
    }
}

/// A committed block's consensus time (ms).
async fn block_time(c: &Client, height: u64) -> Result<u64> {
    Ok(c.block(Some(height)).await?.timestamp)
}
