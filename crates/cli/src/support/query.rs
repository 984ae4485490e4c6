//! What several commands read: the genesis (from a file or the node), accounts, currencies,
//! phone aliases and settlement windows.

use crate::support::Target;
use anyhow::{anyhow, bail, Context, Result};
use settlenet_api::client::Client;
use settlenet_api::{AccountView, Window};
use settlenet_types::{AccountId, Currency, Genesis, Member};
use std::path::Path;

/// The currency named, or the network's first.
pub fn currency_or_default(genesis: &Genesis, given: Option<&str>) -> Result<Currency> {
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

/// The genesis: `--genesis FILE`, else the testnet's `DIR/genesis.json`.
pub fn genesis_file(t: &Target, given: Option<&Path>) -> Result<Genesis> {
    let path = match (given, &t.testnet) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(dir)) => dir.join("genesis.json"),
        (None, None) => bail!("--genesis FILE is required (or --testnet DIR)"),
    };
    settlenet_node::testnet::read_genesis(&path)
        .with_context(|| format!("reading the genesis {}", path.display()))
}

/// A member by name, or an error listing the names.
pub fn member_named<'g>(genesis: &'g Genesis, name: &str) -> Result<&'g Member> {
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

/// An account, or a clear error if it does not exist.
pub async fn get_account(c: &Client, id: AccountId) -> Result<AccountView> {
    c.account(id)
        .await?
        .ok_or_else(|| anyhow!("no account {id}"))
}

/// An account and its currency (404 becomes "no account").
pub async fn wallet_currency(c: &Client, id: AccountId) -> Result<(AccountView, Currency)> {
    let acct = get_account(c, id).await?;
    let currency = acct.currency;
    Ok((acct, currency))
}

/// One window, or a clear error.
pub async fn window(c: &Client, currency: Currency, w: u64) -> Result<Window> {
    c.window(currency, w)
        .await?
        .ok_or_else(|| anyhow!("no settlement window {w} in {currency}"))
}

/// The payer's wallet and its currency: `--from` if given, else the one wallet the key owns
/// (in `currency` if given), found through the node's owner index.
pub async fn payer_wallet(
    c: &Client,
    key: &settlenet_crypto::Keypair,
    from: Option<&str>,
    currency: Option<Currency>,
) -> Result<(AccountId, Currency)> {
    if let Some(from) = from {
        let id = crate::txbuild::account_id(from)?;
        return Ok((id, get_account(c, id).await?.currency));
    }
    let owner = key.public();
    let v = c.accounts_by_owner(owner, currency).await?;
    let wallets: Vec<&AccountView> = v.accounts.iter().filter(|x| x.kind == "wallet").collect();
    let in_currency = currency.map(|c| format!(" in {c}")).unwrap_or_default();
    match wallets.as_slice() {
        [] => bail!(
            "key {owner} owns no wallet{in_currency}; an issuer registers one with \
             `settlenet wallet register --owner-key ...`, or pass --from WALLET"
        ),
        [one] => Ok((one.id, one.currency)),
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|w| format!("{} ({})", w.id, w.currency))
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
