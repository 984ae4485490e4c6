//! The payment commands: phone wallets, redeem, pay, merchants and holds, balances, history,
//! positions, and account proofs (fetched from a node, verified offline).
//!
//! Each write command builds an operation, signs it with a key file, submits it, waits for its
//! block and prints the ledger's result code with its sentence (`--json`: the node's answer).
//! Client-chosen ids are random unless `--id` is given: repeating a command with the same
//! `--id` is a safe retry (the first result comes back, nothing happens twice).

use crate::client::Client;
use crate::commands::{client, ensure_ok, human_tx, print, submit_and_wait};
use crate::txbuild::{self, account_id, parse_amount, read_key, read_user_key, sign, tx_id};
use crate::Target;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::{json, Value};
use settlenet_crypto::Keypair;
use settlenet_ledger::AccountProof;
use settlenet_types::{
    AccountId, Amount, Currency, Genesis, Hash, Height, HoldId, Member, Operation, Payee, Role,
    TxId,
};
use std::path::{Path, PathBuf};

/// Default hold timeout of `authorize`: ten minutes of consensus time.
const HOLD_TIMEOUT_MS_DEFAULT: u64 = 10 * 60 * 1000;

#[derive(Args, Debug)]
pub struct RegisterArgs {
    /// The user's phone number as written (+250 706 103 88, +250-70610388, 25070610388, ...).
    #[arg(long)]
    pub phone: String,
    /// The wallet owner's key file (from `settlenet keys generate`).
    #[arg(long)]
    pub owner_key: PathBuf,
    /// The issuer's staff key (role issuer). With --testnet and --issuer it defaults to
    /// DIR/keys/<issuer>/issuer.key.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The issuing member (default: the member whose staff key --key is).
    #[arg(long)]
    pub issuer: Option<String>,
    /// KYC tier (0, 1 or 2): selects per-transaction and daily limits.
    #[arg(long, default_value_t = 0)]
    pub tier: u8,
    /// Currency code (default: the network's first currency).
    #[arg(long)]
    pub currency: Option<String>,
    /// Wallet account id (default: random).
    #[arg(long)]
    pub account: Option<String>,
    /// Transaction id (default: random); reuse it to retry safely.
    #[arg(long)]
    pub id: Option<String>,
}

#[derive(Args, Debug)]
pub struct FindArgs {
    /// The phone number as written.
    #[arg(long)]
    pub phone: String,
    /// Currency code (default: the network's first currency).
    #[arg(long)]
    pub currency: Option<String>,
}

#[derive(Args, Debug)]
pub struct RedeemArgs {
    /// Wallet debited.
    #[arg(long)]
    pub wallet: String,
    /// Amount as written, e.g. 12.50.
    #[arg(long)]
    pub amount: String,
    /// Issuer staff key (default with --testnet: the wallet issuer's issuer.key).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Transaction id (default: random); reuse it to retry safely.
    #[arg(long)]
    pub id: Option<String>,
}

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
    /// Transaction id (default: random); reuse it to retry safely.
    #[arg(long)]
    pub id: Option<String>,
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
        /// Transaction id (default: random); reuse it to retry safely.
        #[arg(long)]
        id: Option<String>,
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
    /// Transaction id (default: random); reuse it to retry safely.
    #[arg(long)]
    pub id: Option<String>,
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
    /// Transaction id (default: random); reuse it to retry safely.
    #[arg(long)]
    pub id: Option<String>,
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
    /// Transaction id (default: random); reuse it to retry safely.
    #[arg(long)]
    pub id: Option<String>,
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
    /// Transaction id (default: random); reuse it to retry safely.
    #[arg(long)]
    pub id: Option<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Account id.
    pub account: String,
    /// Entries per page (1 to 100).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Continue after an earlier page (its `next_cursor`).
    #[arg(long)]
    pub cursor: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AccountCmd {
    /// Fetch an account with a Merkle proof and a certified anchor block, into a file that
    /// `settlenet proof verify` checks offline.
    Prove {
        /// Account id.
        id: String,
        /// Where to write the proof (JSON).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProofCmd {
    /// Verify an account proof offline, trusting only the genesis file.
    Verify {
        /// The proof file (from `settlenet account prove`).
        file: PathBuf,
        /// The network's genesis file.
        #[arg(long)]
        genesis: PathBuf,
    },
}

// ---- helpers ----

/// The currency named, or the network's first.
pub(crate) fn currency_or_default(genesis: &Genesis, given: Option<&str>) -> Result<Currency> {
    let c = match given {
        Some(c) => c.parse::<Currency>()?,
        None => genesis
            .currencies
            .first()
            .map(|c| c.code)
            .ok_or_else(|| anyhow!("the genesis holds no currency"))?,
    };
    if genesis.exponent(c).is_none() {
        bail!("currency {c} is not held by this network");
    }
    Ok(c)
}

/// The member that owns staff key `key` with `role`.
fn member_of_staff_key<'g>(genesis: &'g Genesis, key: &Keypair, role: Role) -> Result<&'g Member> {
    genesis
        .members
        .iter()
        .find(|m| {
            m.staff
                .iter()
                .any(|s| s.public_key == key.public() && s.roles.contains(&role))
        })
        .ok_or_else(|| {
            anyhow!(
                "key {} is not a staff key with role {role:?} of any member; pass the member's \
                 name explicitly to let the ledger judge",
                key.public()
            )
        })
}

pub(crate) fn role_file(role: Role) -> &'static str {
    match role {
        Role::Issuer => "issuer.key",
        Role::Acquirer => "acquirer.key",
        Role::Clearing => "clearing.key",
        Role::Auditor => "auditor.key",
        Role::Governor => "governor.key",
    }
}

/// A staff key and its member: `--key` (member named or derived from the key), or the testnet's
/// `DIR/keys/<member>/<role>.key`.
fn staff<'g>(
    t: &Target,
    genesis: &'g Genesis,
    key: Option<&Path>,
    member: Option<&str>,
    role: Role,
    flag: &str,
) -> Result<(Keypair, &'g Member)> {
    let named = member
        .map(|m| {
            genesis
                .member_by_name(m)
                .ok_or_else(|| anyhow!("no member named {m:?} in the genesis"))
        })
        .transpose()?;
    let key = match (key, named, &t.testnet) {
        (Some(p), _, _) => read_key(p)?,
        (None, Some(m), Some(dir)) => {
            read_key(&dir.join("keys").join(&m.name).join(role_file(role)))?
        }
        _ => bail!(
            "--key is required (the {role:?} staff key file), or pass --testnet DIR and {flag} \
             NAME to use the testnet's keys"
        ),
    };
    let member = match named {
        Some(m) => m,
        None => member_of_staff_key(genesis, &key, role)?,
    };
    Ok((key, member))
}

/// The JSON of an account, or a clear error if it does not exist.
pub(crate) async fn get_account(c: &Client, id: AccountId) -> Result<Value> {
    c.get_opt(&format!("/v1/accounts/{id}"))
        .await?
        .ok_or_else(|| anyhow!("no account {id}"))
}

/// The payer's wallet and its currency: `--from` if given, else the one wallet the key owns
/// (in `currency` if given), found through the node's owner index.
async fn payer_wallet(
    c: &Client,
    key: &Keypair,
    from: Option<&str>,
    currency: Option<Currency>,
) -> Result<(AccountId, Currency)> {
    if let Some(from) = from {
        let id = account_id(from)?;
        return Ok((id, currency_of(&get_account(c, id).await?)?));
    }
    let owner = key.public();
    let mut path = format!("/v1/accounts?owner={owner}");
    if let Some(cur) = currency {
        path.push_str(&format!("&currency={cur}"));
    }
    let v = c.get(&path).await?;
    let wallets: Vec<&Value> = v["accounts"]
        .as_array()
        .map(|a| a.iter().filter(|x| x["kind"] == "wallet").collect())
        .unwrap_or_default();
    let in_currency = currency.map(|c| format!(" in {c}")).unwrap_or_default();
    match wallets.as_slice() {
        [] => bail!(
            "key {owner} owns no wallet{in_currency}; an issuer registers one with \
             `settlenet wallet register --owner-key ...`, or pass --from WALLET"
        ),
        [one] => {
            let id = account_id(one["id"].as_str().unwrap_or(""))
                .context("wallet id in the node's answer")?;
            Ok((id, currency_of(one)?))
        }
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|w| {
                    format!(
                        "{} ({})",
                        w["id"].as_str().unwrap_or("?"),
                        w["currency"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            bail!(
                "key {owner} owns {} wallets{in_currency}: {}; pass --from WALLET{}",
                many.len(),
                list.join(", "),
                if currency.is_none() {
                    " or --currency"
                } else {
                    ""
                }
            )
        }
    }
}

pub(crate) fn currency_of(account: &Value) -> Result<Currency> {
    account["currency"]
        .as_str()
        .unwrap_or("")
        .parse()
        .context("account currency")
}

/// The alias of a phone number, computed by the node with the consortium key.
pub(crate) async fn alias_of(c: &Client, phone: &str, currency: Currency) -> Result<Value> {
    let (status, v) = c
        .post(
            "/v1/phone/alias",
            &json!({"phone": phone, "currency": currency}),
        )
        .await?;
    if !(200..300).contains(&status) {
        bail!(
            "phone number refused ({status}): {}",
            crate::client::error_text(&v)
        );
    }
    Ok(v)
}

fn parse_hash(v: &Value, what: &str) -> Result<Hash> {
    v.as_str()
        .unwrap_or("")
        .parse()
        .with_context(|| format!("{what} in the node's answer"))
}

/// A hold's ledger entry: (currency, amount in minor units, merchant id, merchant's member).
async fn hold_info(c: &Client, hold: HoldId) -> Result<(Currency, u64, AccountId, String)> {
    let entry = c
        .get_opt(&format!(
            "/v1/accounts/{}",
            settlenet_ledger::hold_account_id(&hold)
        ))
        .await?
        .ok_or_else(|| anyhow!("no hold {hold}"))?;
    let d = &entry["detail"]["Hold"];
    let amount = d["amount"]
        .as_u64()
        .ok_or_else(|| anyhow!("hold {hold}: no amount in the node's answer"))?;
    let merchant = account_id(d["merchant"].as_str().unwrap_or(""))?;
    let m = get_account(c, merchant).await?;
    Ok((
        currency_of(&entry)?,
        amount,
        merchant,
        m["member"].as_str().unwrap_or("").to_string(),
    ))
}

/// The hold a committed capture transaction captured.
async fn hold_of_capture(c: &Client, capture: TxId) -> Result<HoldId> {
    let t = c
        .get_opt(&format!("/v1/transactions/{capture}"))
        .await?
        .ok_or_else(|| anyhow!("no transaction {capture} is known to the node"))?;
    let height = t["height"]
        .as_u64()
        .ok_or_else(|| anyhow!("transaction {capture} is not committed"))?;
    let index = t["index"].as_u64().unwrap_or(0) as usize;
    let b = c.get(&format!("/v1/blocks/{height}")).await?;
    let op = &b["transactions"][index]["op"]["capture"];
    op["hold"]
        .as_str()
        .ok_or_else(|| anyhow!("transaction {capture} is not a capture"))?
        .parse()
        .context("hold id")
}

/// Submit, wait, print the result in words (or JSON with `extra` fields), fail if rejected.
pub(crate) async fn run_tx(
    c: &Client,
    json_out: bool,
    tx: &settlenet_types::SignedTransaction,
    no_wait: bool,
    extra: Value,
    human_prefix: String,
) -> Result<()> {
    let v = submit_and_wait(c, tx, no_wait).await?;
    let mut out = v.clone();
    if let (Some(o), Value::Object(e)) = (out.as_object_mut(), extra) {
        o.extend(e);
    }
    print(json_out, &out, |v| {
        if human_prefix.is_empty() {
            human_tx(v)
        } else {
            format!("{human_prefix}\n{}", human_tx(v))
        }
    });
    ensure_ok(&v)
}

fn fmt_minor(v: &Value, exp: u8) -> String {
    v.as_str()
        .and_then(|s| s.parse::<u128>().ok())
        .map(|m| settlenet_types::ids::format_minor(m, exp))
        .unwrap_or_else(|| v.to_string())
}

// ---- commands ----

pub async fn wallet_register(t: &Target, json_out: bool, a: RegisterArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let currency = currency_or_default(&genesis, a.currency.as_deref())?;
    let (key, member) = staff(
        t,
        &genesis,
        a.key.as_deref(),
        a.issuer.as_deref(),
        Role::Issuer,
        "--issuer",
    )?;
    let owner = read_user_key(&a.owner_key)?;
    let alias = alias_of(&c, &a.phone, currency).await?;
    let account = match &a.account {
        Some(x) => account_id(x)?,
        None => AccountId(txbuild::random_id()),
    };
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_id(a.id.as_deref())?,
        Operation::RegisterWallet {
            account,
            issuer: member.id,
            alias: parse_hash(&alias["alias"], "alias")?,
            alias_key_version: alias["key_version"]
                .as_u64()
                .and_then(|v| u16::try_from(v).ok())
                .ok_or_else(|| anyhow!("no key_version in the node's answer"))?,
            owner: owner.public(),
            currency,
            tier: a.tier,
        },
    )?;
    run_tx(
        &c,
        json_out,
        &tx,
        false,
        json!({"account": account, "issuer": member.name}),
        format!("wallet {account} at {}", member.name),
    )
    .await
}

pub async fn wallet_find(t: &Target, json_out: bool, a: FindArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let currency = currency_or_default(&genesis, a.currency.as_deref())?;
    let v = alias_of(&c, &a.phone, currency).await?;
    let Some(wallet) = v["wallet"].as_str() else {
        bail!("no wallet is registered for this number in {currency}");
    };
    // Only the wallet id: the number is never printed back.
    print(
        json_out,
        &json!({"wallet": wallet, "currency": currency}),
        |_| wallet.to_string(),
    );
    Ok(())
}

pub async fn redeem(t: &Target, json_out: bool, a: RedeemArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let wallet = account_id(&a.wallet)?;
    let acct = get_account(&c, wallet).await?;
    let currency = currency_of(&acct)?;
    let issuer = acct["member"].as_str().unwrap_or("").to_string();
    let (key, _) = staff(
        t,
        &genesis,
        a.key.as_deref(),
        Some(&issuer),
        Role::Issuer,
        "--issuer",
    )?;
    let amount = parse_amount(&genesis, currency, &a.amount)?;
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_id(a.id.as_deref())?,
        Operation::Redeem { wallet, amount },
    )?;
    run_tx(&c, json_out, &tx, false, json!({}), String::new()).await
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
            let v = alias_of(&c, &a.to, currency).await?;
            Payee::Alias(parse_hash(&v["alias"], "alias")?)
        }
    };
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_id(a.id.as_deref())?,
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
        id,
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
        tx_id(id.as_deref())?,
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
    let merchant_currency = currency_of(&get_account(&c, merchant).await?)?;
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
        tx_id(a.id.as_deref())?,
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

/// The merchant-side key: `--key`, or the testnet's acquirer key of the merchant's member.
fn merchant_side_key(t: &Target, key: Option<&Path>, member: &str) -> Result<Keypair> {
    match (key, &t.testnet) {
        (Some(p), _) => read_key(p),
        (None, Some(dir)) => read_key(&dir.join("keys").join(member).join("acquirer.key")),
        (None, None) => bail!(
            "--key is required (the merchant's key or its acquirer's staff key), or pass \
             --testnet DIR to use the testnet's acquirer key"
        ),
    }
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
    let id = tx_id(a.id.as_deref())?;
    let tx = sign(
        &genesis.chain_id,
        &key,
        id,
        Operation::Capture { hold, amount },
    )?;
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
        tx_id(a.id.as_deref())?,
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
        tx_id(a.id.as_deref())?,
        Operation::Refund { capture, amount },
    )?;
    run_tx(&c, json_out, &tx, false, json!({}), String::new()).await
}

pub async fn balance(t: &Target, json_out: bool, id: &str) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let id = account_id(id)?;
    let v = get_account(&c, id).await?;
    let exp = genesis.exponent(currency_of(&v)?).unwrap_or(0);
    print(json_out, &v, |v| {
        format!(
            "account {} ({} at {}, {})\n  credits posted   {}\n  debits posted    {}\n  credits pending  {}\n  debits pending   {}\n  balance          {}\n  available        {}",
            v["id"].as_str().unwrap_or(""),
            v["kind"].as_str().unwrap_or(""),
            v["member"].as_str().unwrap_or(""),
            v["currency"].as_str().unwrap_or(""),
            fmt_minor(&v["credits_posted"], exp),
            fmt_minor(&v["debits_posted"], exp),
            fmt_minor(&v["credits_pending"], exp),
            fmt_minor(&v["debits_pending"], exp),
            v["balance"].as_str().unwrap_or(""),
            v["available"].as_str().unwrap_or(""),
        )
    });
    Ok(())
}

pub async fn history(t: &Target, json_out: bool, a: HistoryArgs) -> Result<()> {
    let c = client(t)?;
    let id = account_id(&a.account)?;
    let mut path = format!("/v1/accounts/{id}/history?limit={}", a.limit);
    if let Some(cur) = &a.cursor {
        if !cur.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("--cursor {cur:?} is not a cursor from an earlier page");
        }
        path.push_str(&format!("&cursor={cur}"));
    }
    let v = c
        .get_opt(&path)
        .await?
        .ok_or_else(|| anyhow!("no account {id}"))?;
    print(json_out, &v, |v| {
        let mut s = format!("history of {id} (newest first)");
        let entries = v["entries"].as_array().cloned().unwrap_or_default();
        if entries.is_empty() {
            s.push_str("\n  (no transactions)");
        }
        for e in &entries {
            s.push_str(&format!(
                "\n  {:>6}:{:<4} {:<17} {:>14} {:<8} {}",
                e["height"],
                e["index"],
                e["op"].as_str().unwrap_or(""),
                e["amount"].as_str().unwrap_or("-"),
                e["result"].as_str().unwrap_or(""),
                e["tx"].as_str().unwrap_or(""),
            ));
        }
        if let Some(next) = v["next_cursor"].as_str() {
            s.push_str(&format!("\nmore: --cursor {next}"));
        }
        s
    });
    Ok(())
}

pub async fn positions(t: &Target, json_out: bool, window: Option<u64>) -> Result<()> {
    let c = client(t)?;
    let path = match window {
        Some(w) => format!("/v1/positions?window={w}"),
        None => "/v1/positions".to_string(),
    };
    let v = c.get(&path).await?;
    print(json_out, &v, |v| {
        let which = match v["window"].as_u64() {
            Some(w) => format!("settlement window {w}"),
            None => "the open settlement windows".to_string(),
        };
        let mut s = format!(
            "positions in {which} (height {}); positive = owed to the member",
            v["height"]
        );
        for p in v["positions"].as_array().into_iter().flatten() {
            s.push_str(&format!(
                "\n  {:<16} {} {:>14}  (window {})",
                p["member"].as_str().unwrap_or(""),
                p["currency"].as_str().unwrap_or(""),
                p["position"].as_str().unwrap_or(""),
                p["window"],
            ));
        }
        if let Some(totals) = v["totals_minor"].as_object() {
            for (c, total) in totals {
                s.push_str(&format!(
                    "\n  sum {c}: {} minor units",
                    total.as_str().unwrap_or("")
                ));
            }
        }
        s
    });
    Ok(())
}

pub async fn prove(t: &Target, json_out: bool, id: &str, out: &Path) -> Result<()> {
    let c = client(t)?;
    let id = account_id(id)?;
    let v = c
        .get_opt(&format!("/v1/accounts/{id}/proof"))
        .await?
        .ok_or_else(|| anyhow!("no account {id}"))?;
    let text = serde_json::to_string_pretty(&v)?;
    std::fs::write(out, format!("{text}\n"))
        .with_context(|| format!("cannot write {}", out.display()))?;
    print(json_out, &v, |v| {
        format!(
            "account {id}: balance {} {}\nproven against state root {} (height {}), certified by block {} ({} signatures)\nwrote {}",
            v["account"]["balance"].as_str().unwrap_or(""),
            v["account"]["currency"].as_str().unwrap_or(""),
            v["state_root"].as_str().unwrap_or(""),
            v["state_height"],
            v["anchor"]["height"],
            v["anchor"]["certificate"]["signatures"]
                .as_array()
                .map(|a| a.len())
                .unwrap_or(0),
            out.display()
        )
    });
    Ok(())
}

/// What `account prove` writes. Every field is checked; unknown fields are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofFile {
    version: u32,
    chain_id: String,
    account_id: AccountId,
    account: Value,
    state_height: Height,
    state_root: Hash,
    proof: AccountProof,
    anchor: settlenet_node::receipt::Anchor,
}

/// Check a proof file against the genesis alone: the anchor's commit certificate (a quorum of
/// genesis validators), its header hash, the certified state root, and the Merkle path from
/// the account to that root.
pub fn verify_proof(genesis: &Genesis, bytes: &[u8]) -> Result<Value> {
    let f: ProofFile = serde_json::from_slice(bytes).context("not a well-formed proof file")?;
    if f.version != 1 {
        bail!("proof file version {} is not supported (1 is)", f.version);
    }
    if f.chain_id != genesis.chain_id || f.anchor.header.chain_id != genesis.chain_id {
        bail!(
            "the proof is for chain {:?} (header: {:?}), the genesis is for {:?}",
            f.chain_id,
            f.anchor.header.chain_id,
            genesis.chain_id
        );
    }
    settlenet_node::receipt::verify_anchor(genesis, &f.anchor, f.state_height, &f.state_root)?;
    let h = &f.anchor.header;
    let account = f
        .proof
        .verify(&f.state_root)
        .map_err(|e| anyhow!("the Merkle proof does not verify: {e}"))?;
    if account.id != f.account_id {
        bail!(
            "the proof is for account {}, the file names {}",
            account.id,
            f.account_id
        );
    }
    let shown = settlenet_node::api::account_json(genesis, &account);
    if shown != f.account {
        bail!("the account summary in the file does not match the proven account");
    }
    Ok(json!({
        "valid": true,
        "account": shown,
        "state_height": f.state_height,
        "state_root": f.state_root,
        "anchor_height": h.height,
        "signatures": f.anchor.certificate.signatures.len(),
    }))
}

pub fn proof_verify(json_out: bool, file: &Path, genesis: &Path) -> Result<()> {
    let genesis = settlenet_node::testnet::read_genesis(genesis)?;
    let bytes =
        std::fs::read(file).with_context(|| format!("cannot read proof {}", file.display()))?;
    let v = verify_proof(&genesis, &bytes)
        .with_context(|| format!("proof {} is INVALID", file.display()))?;
    print(json_out, &v, |v| {
        format!(
            "proof VALID: account {} ({} {}, balance {}) is in the state with root {} (height {}), certified by block {} with {} validator signatures",
            v["account"]["id"].as_str().unwrap_or(""),
            v["account"]["kind"].as_str().unwrap_or(""),
            v["account"]["currency"].as_str().unwrap_or(""),
            v["account"]["balance"].as_str().unwrap_or(""),
            v["state_root"].as_str().unwrap_or(""),
            v["state_height"],
            v["anchor_height"],
            v["signatures"],
        )
    });
    Ok(())
}
