//! Wallets and e-money: `wallet create|register|find`, `issue`, `transfer`, `redeem`.

use crate::support::*;
use crate::txbuild::{self, account_id, parse_amount, read_key, read_user_key, sign, tx_nonce};
use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use settlenet_types::{AccountId, Currency, Operation, Role};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum WalletCmd {
    /// Open a wallet at an issuing member for a user's key.
    Create {
        /// The issuing member's name (e.g. operator-a).
        #[arg(long)]
        issuer: String,
        /// The wallet owner's key file (its public key goes on the ledger).
        #[arg(long)]
        owner_key: PathBuf,
        /// The issuer's staff key (default with --testnet: DIR/keys/<issuer>/issuer.key).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Currency code.
        #[arg(long, default_value = "USD")]
        currency: String,
        /// Wallet account id (default: random).
        #[arg(long)]
        account: Option<String>,
        /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
        /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
        /// a safe retry.
        #[arg(long)]
        nonce: Option<String>,
    },
    /// Open a phone-number wallet: the number goes to the node only to compute its alias
    /// (HMAC with the consortium key); the ledger stores the alias, never the number.
    Register(RegisterArgs),
    /// Find the wallet of a phone number (prints only the wallet id).
    Find(FindArgs),
}

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
    /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
    /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
    /// a safe retry.
    #[arg(long)]
    pub nonce: Option<String>,
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
pub struct IssueArgs {
    /// Wallet credited.
    #[arg(long)]
    pub wallet: String,
    /// Amount as written, e.g. 12.50.
    #[arg(long)]
    pub amount: String,
    /// Issuer staff key (default with --testnet: the wallet issuer's issuer.key).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
    /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
    /// a safe retry.
    #[arg(long)]
    pub nonce: Option<String>,
    /// Return once accepted instead of waiting for the block.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Args, Debug)]
pub struct TransferArgs {
    /// The payer's key file.
    #[arg(long)]
    pub key: PathBuf,
    /// Wallet debited.
    #[arg(long)]
    pub from: String,
    /// Wallet credited.
    #[arg(long)]
    pub to: String,
    /// Amount as written, e.g. 12.50.
    #[arg(long)]
    pub amount: String,
    /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
    /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
    /// a safe retry.
    #[arg(long)]
    pub nonce: Option<String>,
    /// Return once accepted instead of waiting for the block.
    #[arg(long)]
    pub no_wait: bool,
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
    /// Transaction nonce (default: random). The id is derived from the signing key, the nonce
    /// and the validity: the same command with the same key, `--nonce` and `--valid-until` is
    /// a safe retry.
    #[arg(long)]
    pub nonce: Option<String>,
}

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
    let alias = c.alias(&a.phone, Some(currency)).await?;
    let account = match &a.account {
        Some(x) => account_id(x)?,
        None => AccountId(txbuild::random_id()),
    };
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_nonce(a.nonce.as_deref())?,
        Operation::RegisterWallet {
            account,
            issuer: member.id,
            alias: alias.alias,
            alias_key_version: alias.key_version,
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
    let v = c.alias(&a.phone, Some(currency)).await?;
    let Some(wallet) = v.wallet else {
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
    let currency = acct.currency;
    let issuer = acct.member;
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
        tx_nonce(a.nonce.as_deref())?,
        Operation::Redeem { wallet, amount },
    )?;
    run_tx(&c, json_out, &tx, false, json!({}), String::new()).await
}

/// `wallet create`: open a wallet at an issuing member for a user's key.
pub async fn wallet_create(t: &Target, json: bool, cmd: WalletCmd) -> Result<()> {
    let WalletCmd::Create {
        issuer,
        owner_key,
        key,
        currency,
        account,
        nonce,
    } = cmd
    else {
        bail!("not `wallet create`");
    };
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let member = genesis
        .member_by_name(&issuer)
        .ok_or_else(|| anyhow!("no member named {issuer:?} in the genesis"))?;
    let key = staff_key(t, key.as_deref(), &issuer)?;
    let owner = read_user_key(&owner_key)?;
    let currency: Currency = currency.parse()?;
    let account = match account {
        Some(a) => account_id(&a)?,
        None => AccountId(txbuild::random_id()),
    };
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_nonce(nonce.as_deref())?,
        Operation::CreateWallet {
            account,
            issuer: member.id,
            owner: owner.public(),
            currency,
        },
    )?;
    let v = submit_and_wait(&c, &tx, false).await?;
    let out = TxOutput {
        tx: &v,
        extra: json!({ "account": account }),
    };
    print(json, &out, |o| {
        format!("wallet {account}\n{}", human_tx(o.tx))
    });
    ensure_ok(&v)
}

/// `issue`: e-money into a wallet, signed by the issuer's staff key.
pub async fn issue(t: &Target, json: bool, a: IssueArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let wallet = account_id(&a.wallet)?;
    let (acct, currency) = wallet_currency(&c, wallet).await?;
    let issuer = acct.member;
    let key = staff_key(t, a.key.as_deref(), &issuer)?;
    let amount = parse_amount(&genesis, currency, &a.amount)?;
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_nonce(a.nonce.as_deref())?,
        Operation::Issue { wallet, amount },
    )?;
    let v = submit_and_wait(&c, &tx, a.no_wait).await?;
    print(json, &v, human_tx);
    ensure_ok(&v)
}

/// `transfer`: between wallets, signed by the payer's key.
pub async fn transfer(t: &Target, json: bool, a: TransferArgs) -> Result<()> {
    let c = client(t)?;
    let genesis = c.genesis().await?;
    let from = account_id(&a.from)?;
    let to = account_id(&a.to)?;
    let (_, currency) = wallet_currency(&c, from).await?;
    let key = read_key(&a.key)?;
    let amount = parse_amount(&genesis, currency, &a.amount)?;
    let tx = sign(
        &genesis.chain_id,
        &key,
        tx_nonce(a.nonce.as_deref())?,
        Operation::Transfer { from, to, amount },
    )?;
    let v = submit_and_wait(&c, &tx, a.no_wait).await?;
    print(json, &v, human_tx);
    ensure_ok(&v)
}
