//! Paying: `pay`, `merchant register`, and card-style holds: `authorize`, `capture`, `void`,
//! `refund`.
//!
//! Each write command builds an operation, signs it with a key file, submits it, waits for its
//! block and prints the ledger's result code with its sentence (`--json`: the node's answer).
//! Transaction ids are derived from the signing key, a nonce (random unless `--nonce` is
//! given) and the validity (`--valid-until`, default now + 10 minutes): repeating a command
//! with the same key, `--nonce` and `--valid-until` is a safe retry (the first result
//! comes back, nothing happens twice).

use crate::support::*;
use crate::txbuild::{self, account_id, parse_amount, read_key, sign, tx_nonce};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use settlenet_api::client::Client;
use settlenet_ledger::AccountDetail;
use settlenet_types::{AccountId, Amount, Currency, HoldId, Operation, Payee, Role, TxId};
use std::path::PathBuf;

/// Default hold timeout of `authorize`: ten minutes of consensus time.
const HOLD_TIMEOUT_MS_DEFAULT: u64 = 10 * 60 * 1000;

#[derive(Args, Debug)]
pub struct PayArgs {
    /// The payer's key file.
    #[arg(long)]
    pub key: PathBuf,
    /// The payer's wallet (default: the one wallet --key owns, in --currency if given).
    #[arg(long)]
    pub from: Option<String>,
    /// With several wallets owned by --key: the currency of the one to pay from.
    #[arg(long)]
    pub currency: Option<String>,
    /// The payee: a phone number, or an account id (32 hex characters).
    #[arg(long)]
    pub to: String,
    /// Amount the payee receives, as written, e.g. 12.50.
    #[arg(long)]
    pub amount: String,
    /// Fee paid on top to the payer's issuer, as written.
    #[arg(long)]
    pub fee: Option<String>,
    /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
    /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
    /// a safe retry.
    #[arg(long)]
    pub nonce: Option<String>,
    /// Return once accepted instead of waiting for the block.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Subcommand, Debug)]
pub enum MerchantCmd {
    /// Open a merchant account at an acquiring member.
    Register {
        /// The merchant's key file (it may capture, void and refund).
        #[arg(long)]
        owner_key: PathBuf,
        /// The acquirer's staff key (role acquirer). With --testnet and --acquirer it defaults
        /// to DIR/keys/<acquirer>/acquirer.key.
        #[arg(long)]
        key: Option<PathBuf>,
        /// The acquiring member (default: the member whose staff key --key is).
        #[arg(long)]
        acquirer: Option<String>,
        /// Currency code (default: the network's first currency).
        #[arg(long)]
        currency: Option<String>,
        /// Merchant account id (default: random).
        #[arg(long)]
        account: Option<String>,
        /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
        /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
        /// a safe retry.
        #[arg(long)]
        nonce: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct AuthorizeArgs {
    /// The payer's key file.
    #[arg(long)]
    pub key: PathBuf,
    /// The payer's wallet (default: the one wallet --key owns in the merchant's currency).
    #[arg(long)]
    pub from: Option<String>,
    /// The merchant account.
    #[arg(long)]
    pub merchant: String,
    /// Amount held, as written.
    #[arg(long)]
    pub amount: String,
    /// The hold expires this long after its block (consensus time), in milliseconds.
    #[arg(long, default_value_t = HOLD_TIMEOUT_MS_DEFAULT)]
    pub timeout_ms: u64,
    /// Hold id (default: random).
    #[arg(long)]
    pub hold: Option<String>,
    /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
    /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
    /// a safe retry.
    #[arg(long)]
    pub nonce: Option<String>,
}

#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// The hold.
    #[arg(long)]
    pub hold: String,
    /// Amount to capture, as written (default: all of it); the rest is released.
    #[arg(long)]
    pub amount: Option<String>,
    /// The merchant's key, or the acquirer's staff key (default with --testnet: the
    /// acquirer's acquirer.key).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
    /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
    /// a safe retry.
    #[arg(long)]
    pub nonce: Option<String>,
}

#[derive(Args, Debug)]
pub struct VoidArgs {
    /// The hold.
    #[arg(long)]
    pub hold: String,
    /// The merchant's key, or the acquirer's staff key (default with --testnet: the
    /// acquirer's acquirer.key).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
    /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
    /// a safe retry.
    #[arg(long)]
    pub nonce: Option<String>,
}

#[derive(Args, Debug)]
pub struct RefundArgs {
    /// The id of the capture transaction refunded.
    #[arg(long)]
    pub capture: String,
    /// Amount refunded, as written.
    #[arg(long)]
    pub amount: String,
    /// The merchant's key, or the acquirer's staff key (default with --testnet: the
    /// acquirer's acquirer.key).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
    /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
    /// a safe retry.
    #[arg(long)]
    pub nonce: Option<String>,
}

/// A hold's ledger entry: (currency, amount in minor units, merchant id, merchant's member).
async fn hold_info(c: &Client, hold: HoldId) -> Result<(Currency, u64, AccountId, String)> {
    let entry = c
        .account(settlenet_ledger::hold_account_id(&hold))
        .await?
        .ok_or_else(|| anyhow!("no hold {hold}"))?;
    let AccountDetail::Hold(d) = &entry.detail else {
        bail!("account {} is not a hold", entry.id);
    };
    let m = get_account(c, d.merchant).await?;
    Ok((entry.currency, d.amount.0, d.merchant, m.member))
}

/// The hold a committed capture transaction captured.
async fn hold_of_capture(c: &Client, capture: TxId) -> Result<HoldId> {
    let t = c
        .tx(capture)
        .await?
        .ok_or_else(|| anyhow!("no transaction {capture} is known to the node"))?;
    let (Some(height), Some(index)) = (t.height, t.index) else {
        bail!("transaction {capture} is not committed");
    };
    let b = c.block(Some(height.0)).await?;
    if b.pruned {
        bail!(
            "the node no longer holds the transactions of block {height}, where capture \
             {capture} is (retention: [sync] retain_blocks); ask a node that keeps that block"
        );
    }
    match b.transactions.get(index as usize).map(|tx| &tx.op) {
        Some(Operation::Capture { hold, .. }) => Ok(*hold),
        _ => bail!("transaction {capture} is not a capture"),
    }
}

pub async fn pay(t: &Target, json_out: bool, a: PayArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let key = read_key(&a.key)?;
    let want = a
        .currency
        .as_deref()
        .map(|x| x.parse::<Currency>().context("--currency"))
        .transpose()?;
    let (from, currency) = payer_wallet(&c, &key, a.from.as_deref(), want).await?;
    let amount = parse_amount(&genesis, currency, &a.amount)?;
    let fee = a
        .fee
        .as_deref()
        .map(|f| parse_amount(&genesis, currency, f).context("--fee"))
        .transpose()?;
    // 32 hex characters are an account id (a phone number has at most 15 digits).
    let to = match a.to.parse::<AccountId>() {
        Ok(id) => Payee::Account(id),
        Err(_) => {
            let v = c.alias(&a.to, Some(currency)).await?;
            Payee::Alias(v.alias)
        }
    };
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_nonce(a.nonce.as_deref())?,
        Operation::Pay {
            from,
            to,
            amount,
            fee,
        },
    )?;
    run_tx(&c, json_out, &tx, a.no_wait, json!({}), String::new()).await
}

pub async fn merchant(t: &Target, json_out: bool, cmd: MerchantCmd) -> Result<()> {
    let MerchantCmd::Register {
        owner_key,
        key,
        acquirer,
        currency,
        account,
        nonce,
    } = cmd;
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let currency = currency_or_default(&genesis, currency.as_deref())?;
    let (key, member) = staff(
        t,
        &genesis,
        key.as_deref(),
        acquirer.as_deref(),
        Role::Acquirer,
        "--acquirer",
    )?;
    let owner = read_key(&owner_key)?;
    let account = match &account {
        Some(x) => account_id(x)?,
        None => AccountId(txbuild::random_id()),
    };
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_nonce(nonce.as_deref())?,
        Operation::RegisterMerchant {
            account,
            acquirer: member.id,
            owner: owner.public(),
            currency,
        },
    )?;
    run_tx(
        &c,
        json_out,
        &tx,
        false,
        json!({"account": account, "acquirer": member.name}),
        format!("merchant {account} at {}", member.name),
    )
    .await
}

pub async fn authorize(t: &Target, json_out: bool, a: AuthorizeArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let merchant = account_id(&a.merchant)?;
    let key = read_key(&a.key)?;
    let merchant_currency = get_account(&c, merchant).await?.currency;
    let (from, currency) =
        payer_wallet(&c, &key, a.from.as_deref(), Some(merchant_currency)).await?;
    let amount = parse_amount(&genesis, currency, &a.amount)?;
    let hold = match &a.hold {
        Some(h) => h.parse::<HoldId>().context("--hold")?,
        None => HoldId(txbuild::random_id()),
    };
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_nonce(a.nonce.as_deref())?,
        Operation::Authorize {
            hold,
            from,
            merchant,
            amount,
            timeout_ms: a.timeout_ms,
        },
    )?;
    run_tx(
        &c,
        json_out,
        &tx,
        false,
        json!({"hold": hold}),
        format!("hold {hold}"),
    )
    .await
}

pub async fn capture(t: &Target, json_out: bool, a: CaptureArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let hold: HoldId = a.hold.parse().context("--hold")?;
    let (currency, held, _, member) = hold_info(&c, hold).await?;
    let amount = match &a.amount {
        Some(x) => parse_amount(&genesis, currency, x)?,
        None => Amount(held),
    };
    let key = merchant_side_key(t, a.key.as_deref(), &member)?;
    let nonce = tx_nonce(a.nonce.as_deref())?;
    let tx = sign(
        &genesis.chain_id,
        &key,
        nonce,
        Operation::Capture { hold, amount },
    )?;
    let id = tx.tx.id;
    run_tx(
        &c,
        json_out,
        &tx,
        false,
        json!({"hold": hold, "capture": id}),
        format!("capture {id} of hold {hold} (refunds name this id)"),
    )
    .await
}

pub async fn void(t: &Target, json_out: bool, a: VoidArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let hold: HoldId = a.hold.parse().context("--hold")?;
    let (_, _, _, member) = hold_info(&c, hold).await?;
    let key = merchant_side_key(t, a.key.as_deref(), &member)?;
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_nonce(a.nonce.as_deref())?,
        Operation::Void { hold },
    )?;
    run_tx(
        &c,
        json_out,
        &tx,
        false,
        json!({"hold": hold}),
        String::new(),
    )
    .await
}

pub async fn refund(t: &Target, json_out: bool, a: RefundArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let capture: TxId = a.capture.parse().context("--capture")?;
    let hold = hold_of_capture(&c, capture).await?;
    let (currency, _, _, member) = hold_info(&c, hold).await?;
    let amount = parse_amount(&genesis, currency, &a.amount)?;
    let key = merchant_side_key(t, a.key.as_deref(), &member)?;
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_nonce(a.nonce.as_deref())?,
        Operation::Refund { capture, amount },
    )?;
    run_tx(&c, json_out, &tx, false, json!({}), String::new()).await
}
