//! Subcommands other than `demo` and `bench`.

use crate::client::Client;
use crate::txbuild::{self, account_id, parse_amount, read_key, read_user_key, sign, tx_id};
use crate::{Cli, Cmd, Target};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;
use settlenet_crypto::{KeyFile, KeyKind, Keypair};
use settlenet_types::{AccountId, Currency, Operation, TxId};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum TestnetCmd {
    /// Write a genesis, node homes, keys and nodes.json into DIR.
    Init {
        /// Number of validators (n = 3f+1 tolerates f faults), one per default member.
        #[arg(long, default_value_t = 4, conflicts_with = "members")]
        validators: usize,
        /// The consortium's members (TOML: [[members]] name, kind, bic, clearing_id,
        /// validators); default: operator-a, bank-a, bank-b, clearing-house, bank-c, ...
        #[arg(long)]
        members: Option<PathBuf>,
        /// Currencies held, e.g. USD,EUR,KES (ISO 4217 exponents) or ABC:2.
        #[arg(long, default_value = "USD")]
        currencies: String,
        /// Directory to create (must be empty or absent).
        #[arg(long)]
        dir: PathBuf,
        /// Node i uses p2p port P+i and API port P+100+i.
        #[arg(long, default_value_t = 26600)]
        base_port: u16,
        /// Chain id.
        #[arg(long, default_value = "settlenet-local")]
        chain_id: String,
    },
    /// Run every node of DIR as child processes until Ctrl-C.
    Start {
        /// The testnet directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum NodeCmd {
    /// Run one validator from its home directory (config.toml, keys, genesis, data).
    Start {
        /// The node's home directory.
        #[arg(long)]
        home: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Generate an ed25519 key pair into a new file (mode 0600; never overwrites).
    Generate {
        /// Where to write the key file.
        #[arg(long)]
        out: PathBuf,
        /// What the key is for.
        #[arg(long, value_enum, default_value = "user")]
        kind: KeyKindArg,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum KeyKindArg {
    User,
    Staff,
    Validator,
    Network,
}

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
        /// Transaction id (default: random); reuse it to retry safely.
        #[arg(long)]
        id: Option<String>,
    },
    /// Open a phone-number wallet: the number goes to the node only to compute its alias
    /// (HMAC with the consortium key); the ledger stores the alias, never the number.
    Register(crate::payments::RegisterArgs),
    /// Find the wallet of a phone number (prints only the wallet id).
    Find(crate::payments::FindArgs),
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
    /// Transaction id (default: random); reuse it to retry safely.
    #[arg(long)]
    pub id: Option<String>,
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
    /// Transaction id (default: random); reuse it to retry safely.
    #[arg(long)]
    pub id: Option<String>,
    /// Return once accepted instead of waiting for the block.
    #[arg(long)]
    pub no_wait: bool,
}

/// The node URL a client command talks to.
pub fn node_url(t: &Target) -> Result<String> {
    if let Some(n) = &t.node {
        return Ok(n.clone());
    }
    if let Some(dir) = &t.testnet {
        let nodes = settlenet_node::testnet::read_nodes(dir)?;
        return nodes
            .first()
            .map(|n| n.api.clone())
            .ok_or_else(|| anyhow!("{}/nodes.json lists no nodes", dir.display()));
    }
    Ok("http://127.0.0.1:26700".into())
}

pub(crate) fn client(t: &Target) -> Result<Client> {
    Client::new(&node_url(t)?)
}

pub(crate) fn print(json: bool, v: &Value, human: impl FnOnce(&Value) -> String) {
    if json {
        say!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        say!("{}", human(v));
    }
}

pub async fn dispatch(cli: Cli) -> Result<()> {
    let json = cli.json;
    let t = cli.target.clone();
    match cli.command {
        Cmd::Demo(a) => crate::demo::run(a).await,
        Cmd::Bench(a) => crate::bench::run(a, &t, json).await,
        Cmd::Testnet(TestnetCmd::Init {
            validators,
            members,
            currencies,
            dir,
            base_port,
            chain_id,
        }) => {
            let members = members
                .as_deref()
                .map(settlenet_node::testnet::read_members)
                .transpose()?;
            let opts = settlenet_node::testnet::TestnetOptions {
                validators,
                base_port,
                chain_id,
                currencies: settlenet_node::testnet::parse_currencies(&currencies)?,
                members,
                ..Default::default()
            };
            let nodes = settlenet_node::testnet::init(&dir, &opts)?;
            if json {
                say!("{}", serde_json::to_string_pretty(&nodes)?);
            } else {
                say!("Testnet written to {}:", dir.display());
                say!("  genesis.json, nodes.json, keys/<member>/<role>.key");
                for n in &nodes {
                    say!(
                        "  {:6} {:15} api {}  home {}",
                        n.name,
                        n.member,
                        n.api,
                        n.home.display()
                    );
                }
                say!(
                    "Start it with: settlenet testnet start --dir {}",
                    dir.display()
                );
            }
            Ok(())
        }
        Cmd::Testnet(TestnetCmd::Start { dir }) => testnet_start(&dir).await,
        Cmd::Node(NodeCmd::Start { home }) => node_start(&home).await,
        Cmd::Keys(KeysCmd::Generate { out, kind }) => {
            let kind = match kind {
                KeyKindArg::User => KeyKind::User,
                KeyKindArg::Staff => KeyKind::Staff,
                KeyKindArg::Validator => KeyKind::Validator,
                KeyKindArg::Network => KeyKind::Network,
            };
            let key = Keypair::generate();
            KeyFile::new(kind, &key).write(&out)?;
            let mut v = serde_json::json!({"file": out, "kind": kind, "public_key": key.public()});
            if kind == KeyKind::Network {
                v["peer_id"] = Value::String(
                    settlenet_net::peer_id_from_seed(key.secret_bytes())
                        .map_err(|e| anyhow!("{e}"))?
                        .to_string(),
                );
            }
            print(json, &v, |v| {
                let mut s = format!(
                    "wrote {} (mode 0600)\npublic key: {}",
                    out.display(),
                    key.public()
                );
                if let Some(p) = v["peer_id"].as_str() {
                    s.push_str(&format!("\npeer id:    {p}"));
                }
                s
            });
            Ok(())
        }
        Cmd::Status => {
            let v = client(&t)?.status().await?;
            print(json, &v, |v| {
                format!(
                    "chain    {}\nnode     {}\nheight   {}\nblock    {}\nroot     {}\nview     {} (primary {})\npeers    {}\nmempool  {}",
                    v["chain_id"].as_str().unwrap_or(""),
                    v["node"].as_str().unwrap_or(""),
                    v["height"],
                    v["last_block_hash"].as_str().unwrap_or(""),
                    v["state_root"].as_str().unwrap_or(""),
                    v["view"],
                    v["primary"].as_str().unwrap_or(""),
                    v["peers"].as_array().map(|p| p.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
                    v["mempool"],
                )
            });
            Ok(())
        }
        Cmd::Block { height } => {
            let path = if height == "latest" {
                "/v1/blocks/latest".to_string()
            } else {
                let h: u64 = height
                    .parse()
                    .map_err(|_| anyhow!("height {height:?} is not a number or \"latest\""))?;
                format!("/v1/blocks/{h}")
            };
            let v = client(&t)?.get(&path).await?;
            print(json, &v, |v| {
                let mut s = format!(
                    "block {}  hash {}\n  prev       {}\n  time       {} ms\n  state root {}\n  proposer   {}\n  txs        {}\n  certificate: view {}, {} signatures ({})",
                    v["height"], v["hash"].as_str().unwrap_or(""), v["prev_hash"].as_str().unwrap_or(""),
                    v["timestamp"], v["state_root"].as_str().unwrap_or(""), v["proposer"], v["tx_count"],
                    v["certificate"]["view"],
                    v["certificate"]["signatures"].as_array().map(|a| a.len()).unwrap_or(0),
                    v["certificate"]["signatures"].as_array().map(|a| a.iter().filter_map(|x| x["validator"].as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
                );
                for tx in v["transactions"].as_array().into_iter().flatten().take(20) {
                    s.push_str(&format!(
                        "\n  - {} {} {}",
                        tx["id"].as_str().unwrap_or(""),
                        tx["op"]
                            .as_object()
                            .and_then(|o| o.keys().next().cloned())
                            .unwrap_or_default(),
                        tx["result"].as_str().unwrap_or("")
                    ));
                }
                let n = v["transactions"].as_array().map(|a| a.len()).unwrap_or(0);
                if n > 20 {
                    s.push_str(&format!("\n  ... and {} more", n - 20));
                }
                s
            });
            Ok(())
        }
        Cmd::Account {
            cmd: Some(crate::payments::AccountCmd::Prove { id, out }),
            ..
        } => crate::payments::prove(&t, json, &id, &out).await,
        Cmd::Account { id, cmd: None } => {
            let Some(id) = id else {
                bail!("give an account id (settlenet account ID) or a subcommand (prove)");
            };
            let id = account_id(&id)?;
            let v = client(&t)?.get(&format!("/v1/accounts/{id}")).await?;
            print(json, &v, human_account);
            Ok(())
        }
        Cmd::Tx { id } => {
            let id: TxId = id.parse().context("transaction id")?;
            let v = client(&t)?.get(&format!("/v1/transactions/{id}")).await?;
            print(json, &v, human_tx);
            Ok(())
        }
        Cmd::Wallet(WalletCmd::Create {
            issuer,
            owner_key,
            key,
            currency,
            account,
            id,
        }) => {
            let c = client(&t)?;
            let genesis = c.genesis().await?;
            let member = genesis
                .member_by_name(&issuer)
                .ok_or_else(|| anyhow!("no member named {issuer:?} in the genesis"))?;
            let key = staff_key(&t, key.as_deref(), &issuer)?;
            let owner = read_user_key(&owner_key)?;
            let currency: Currency = currency.parse()?;
            let account = match account {
                Some(a) => account_id(&a)?,
                None => AccountId(txbuild::random_id()),
            };
            let tx = sign(
                &genesis.chain_id,
                &key,
                tx_id(id.as_deref())?,
                Operation::CreateWallet {
                    account,
                    issuer: member.id,
                    owner: owner.public(),
                    currency,
                },
            )?;
            let v = submit_and_wait(&c, &tx, false).await?;
            let mut out = v.clone();
            out["account"] = Value::String(account.to_string());
            print(json, &out, |v| format!("wallet {account}\n{}", human_tx(v)));
            ensure_ok(&v)
        }
        Cmd::Wallet(WalletCmd::Register(a)) => crate::payments::wallet_register(&t, json, a).await,
        Cmd::Wallet(WalletCmd::Find(a)) => crate::payments::wallet_find(&t, json, a).await,
        Cmd::Redeem(a) => crate::payments::redeem(&t, json, a).await,
        Cmd::Pay(a) => crate::payments::pay(&t, json, a).await,
        Cmd::Merchant(m) => crate::payments::merchant(&t, json, m).await,
        Cmd::Authorize(a) => crate::payments::authorize(&t, json, a).await,
        Cmd::Capture(a) => crate::payments::capture(&t, json, a).await,
        Cmd::Void(a) => crate::payments::void(&t, json, a).await,
        Cmd::Refund(a) => crate::payments::refund(&t, json, a).await,
        Cmd::Balance { id } => crate::payments::balance(&t, json, &id).await,
        Cmd::History(a) => crate::payments::history(&t, json, a).await,
        Cmd::Positions { window } => crate::payments::positions(&t, json, window).await,
        Cmd::Proof(crate::payments::ProofCmd::Verify { file, genesis }) => {
            crate::payments::proof_verify(json, &file, &genesis)
        }
        Cmd::Window(w) => crate::settlement::window_cmd(&t, json, w).await,
        Cmd::Settlement(x) => crate::settlement::settlement_cmd(&t, json, x).await,
        Cmd::Batch(b) => crate::batch::batch_cmd(&t, json, b).await,
        Cmd::Receipt(r) => crate::settlement::receipt_cmd(&t, json, r).await,
        Cmd::Statement(a) => crate::settlement::statement(&t, json, a).await,
        Cmd::Issue(a) => {
            let c = client(&t)?;
            let genesis = c.genesis().await?;
            let wallet = account_id(&a.wallet)?;
            let (acct, currency) = wallet_currency(&c, wallet).await?;
            let issuer = acct["member"].as_str().unwrap_or("").to_string();
            let key = staff_key(&t, a.key.as_deref(), &issuer)?;
            let amount = parse_amount(&genesis, currency, &a.amount)?;
            let tx = sign(
                &genesis.chain_id,
                &key,
                tx_id(a.id.as_deref())?,
                Operation::Issue { wallet, amount },
            )?;
            let v = submit_and_wait(&c, &tx, a.no_wait).await?;
            print(json, &v, human_tx);
            ensure_ok(&v)
        }
        Cmd::Transfer(a) => {
            let c = client(&t)?;
            let genesis = c.genesis().await?;
            let from = account_id(&a.from)?;
            let to = account_id(&a.to)?;
            let (_, currency) = wallet_currency(&c, from).await?;
            let key = read_key(&a.key)?;
            let amount = parse_amount(&genesis, currency, &a.amount)?;
            let tx = sign(
                &genesis.chain_id,
                &key,
                tx_id(a.id.as_deref())?,
                Operation::Transfer { from, to, amount },
            )?;
            let v = submit_and_wait(&c, &tx, a.no_wait).await?;
            print(json, &v, human_tx);
            ensure_ok(&v)
        }
    }
}

/// An account's JSON and its currency (404 becomes "no account").
async fn wallet_currency(c: &Client, id: AccountId) -> Result<(Value, Currency)> {
    let acct = c
        .get_opt(&format!("/v1/accounts/{id}"))
        .await?
        .ok_or_else(|| anyhow!("no account {id}"))?;
    let currency: Currency = acct["currency"]
        .as_str()
        .unwrap_or("")
        .parse()
        .context("account currency")?;
    Ok((acct, currency))
}

/// The issuer staff key: given explicitly, or the testnet's for that member.
fn staff_key(t: &Target, given: Option<&Path>, member: &str) -> Result<Keypair> {
    if let Some(p) = given {
        return read_key(p);
    }
    if let Some(dir) = &t.testnet {
        return read_key(&dir.join("keys").join(member).join("issuer.key"));
    }
    bail!("--key is required (the issuer's staff key file), or pass --testnet DIR to use its keys")
}

pub(crate) async fn submit_and_wait(
    c: &Client,
    tx: &settlenet_types::SignedTransaction,
    no_wait: bool,
) -> Result<Value> {
    let v = c.submit(tx).await?;
    if no_wait || v["status"] != "pending" {
        return Ok(v);
    }
    c.wait_tx(tx.tx.id, Duration::from_secs(30)).await
}

pub(crate) fn ensure_ok(v: &Value) -> Result<()> {
    match v["status"].as_str() {
        Some("rejected") => bail!(
            "rejected: {} ({})",
            v["reason"].as_str().unwrap_or(""),
            v["message"].as_str().unwrap_or("")
        ),
        _ => Ok(()),
    }
}

pub(crate) fn human_tx(v: &Value) -> String {
    match v["status"].as_str() {
        Some("committed") => format!(
            "ok: {} (transaction {} committed at height {})",
            v["message"].as_str().unwrap_or("applied"),
            v["id"].as_str().unwrap_or(""),
            v["height"],
        ),
        Some("rejected") => format!(
            "rejected: {}: {} (transaction {} recorded at height {}; nothing changed)",
            v["reason"].as_str().unwrap_or(""),
            v["message"].as_str().unwrap_or(""),
            v["id"].as_str().unwrap_or(""),
            v["height"],
        ),
        Some(s) => format!("transaction {} {s}", v["id"].as_str().unwrap_or("")),
        None => v.to_string(),
    }
}

fn human_account(v: &Value) -> String {
    format!(
        "account {}\n  kind      {}\n  member    {}\n  currency  {}\n  balance   {}\n  available {}\n  owner     {}",
        v["id"].as_str().unwrap_or(""),
        v["kind"].as_str().unwrap_or(""),
        v["member"].as_str().unwrap_or(""),
        v["currency"].as_str().unwrap_or(""),
        v["balance"].as_str().unwrap_or(""),
        v["available"].as_str().unwrap_or(""),
        v["owner"].as_str().unwrap_or("-"),
    )
}

async fn node_start(home: &Path) -> Result<()> {
    let node = settlenet_node::start(home).await?;
    let mut done = node.done;
    tokio::select! {
        r = &mut done => {
            return r.context("node task")?;
        }
        _ = shutdown_signal() => {
            tracing::info!("signal received: stopping");
            let _ = node.shutdown.send(true);
        }
    }
    done.await.context("node task")?
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn testnet_start(dir: &Path) -> Result<()> {
    let nodes = settlenet_node::testnet::read_nodes(dir)?;
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let mut net = crate::local::LocalNet::start(nodes, &filter)?;
    say!(
        "Started {} nodes (logs in <home>/node.log):",
        net.nodes.len()
    );
    for n in &net.nodes {
        say!("  {:6} {:15} {}", n.name, n.member, n.api);
    }
    say!("Press Ctrl-C to stop them all.");
    let mut check = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = shutdown_signal() => {
                say!("stopping...");
                net.stop();
                return Ok(());
            }
            _ = check.tick() => {
                if let Err(e) = net.check_alive() {
                    net.stop();
                    return Err(e);
                }
            }
        }
    }
}
