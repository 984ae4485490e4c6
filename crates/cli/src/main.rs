//! `settlenet`: run validators and local networks, and talk to a node.
//!
//! # Layout
//!
//! Dependencies point down only:
//!
//! ```text
//! main.rs          Cli, Cmd and dispatch
//! demo, bench      scenarios: run a local network and replay commands against it
//!   catchup        `bench catchup`
//! commands/        one module per command family (batch/ is args, pure plan, submit, reports)
//! support/         node selection, output, keys, shared queries
//! load             funding wallets and waiting for many transactions
//! txbuild          building and signing transactions
//! ```
//!
//! Local networks of node processes are run by `settlenet-localnet`; the HTTP client is
//! `settlenet_api::client` (the `client` feature of the API contract crate).

/// jemalloc, not glibc's malloc, for the Rust side of the node (RocksDB's C++ keeps the system
/// allocator): it returns freed memory to the OS by itself and fragments less under many
/// threads; `memory` of `GET /v1/status` reports its figures.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// `println!` that exits quietly when stdout is closed (e.g. `settlenet block 1 | head`),
/// instead of panicking on the broken pipe.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($t)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod bench;
mod catchup;
mod commands;
mod demo;
mod load;
mod soak;
mod support;
mod txbuild;

use anyhow::Result;
use clap::{Parser, Subcommand};
use commands::{
    account, batch, ceremony, chain, charge, network, observer, pay, receipt, settlement,
    statement, wallet, watch, window,
};
use support::Target;

/// SettleNet: a permissioned network where operators, banks and a clearing house clear and
/// settle mobile payments together.
#[derive(Parser, Debug)]
#[command(name = "settlenet", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub target: Target,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true, help_heading = "Output")]
    pub json: bool,
    /// Consensus time (ms since the Unix epoch) until which a transaction this command signs
    /// may execute (default: now + 10 minutes; at most one hour ahead). Part of the
    /// transaction id: a retry is the same command with the same `--nonce` and `--valid-until`.
    #[arg(long, global = true, value_name = "MS", help_heading = "Transactions")]
    pub valid_until: Option<u64>,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run the embedded demo: a local 4-validator network plays a payment scenario.
    Demo(demo::DemoArgs),
    /// Measure committed transfers per second and commit latency.
    Bench(bench::BenchArgs),
    /// Create or run a local test network.
    #[command(subcommand)]
    Testnet(network::TestnetCmd),
    /// Make a node's home (`node init`), or run a node (`node start`).
    #[command(subcommand)]
    Node(NodeCmd),
    /// Genesis ceremony, at each member: make its keys and public descriptor.
    #[command(subcommand)]
    Member(ceremony::MemberCmd),
    /// Genesis ceremony: assemble the genesis from members' descriptors; show a genesis.
    #[command(subcommand)]
    Genesis(ceremony::GenesisCmd),
    /// Integrators: make an observer node's home from a genesis and a peer config.
    Join(ceremony::JoinArgs),
    /// Key management.
    #[command(subcommand)]
    Keys(network::KeysCmd),
    /// Show a node's status.
    Status,
    /// Show a committed block.
    Block {
        /// Height (or "latest").
        height: String,
    },
    /// Show an account, or prove it (`account prove ID --out FILE`).
    #[command(args_conflicts_with_subcommands = true)]
    Account {
        /// Account id (32 hex characters).
        id: Option<String>,
        #[command(subcommand)]
        cmd: Option<account::AccountCmd>,
    },
    /// Show a transaction's status, or prove its record (`tx prove ID --out FILE`).
    #[command(args_conflicts_with_subcommands = true)]
    Tx {
        /// Transaction id (32 hex characters).
        id: Option<String>,
        #[command(subcommand)]
        cmd: Option<account::TxCmd>,
    },
    /// Wallet operations.
    #[command(subcommand)]
    Wallet(wallet::WalletCmd),
    /// Issue e-money into a wallet (signed by the issuer's staff key).
    Issue(wallet::IssueArgs),
    /// Transfer between wallets (signed by the payer's key).
    Transfer(wallet::TransferArgs),
    /// Redeem e-money out of a wallet back to the issuer (signed by the issuer's staff key).
    Redeem(wallet::RedeemArgs),
    /// Pay a wallet or merchant, by phone number or account id (signed by the payer's key).
    Pay(pay::PayArgs),
    /// Merchant accounts.
    #[command(subcommand)]
    Merchant(pay::MerchantCmd),
    /// Authorize a merchant payment: a hold on the payer's wallet (signed by the payer).
    Authorize(pay::AuthorizeArgs),
    /// Capture all or part of a hold; the rest is released (merchant or acquirer key).
    Capture(pay::CaptureArgs),
    /// Release a hold (merchant or acquirer key).
    Void(pay::VoidArgs),
    /// Refund (part of) a capture to the payer (merchant or acquirer key).
    Refund(pay::RefundArgs),
    /// Charge requests: a merchant asks a payer for an amount (QR code or link), the payer
    /// approves or declines, the merchant captures; follow one, export it as pain.013/014.
    #[command(subcommand)]
    Charge(charge::ChargeCmd),
    /// An account's balance: the four posted/pending fields, balance and available.
    Balance {
        /// Account id.
        id: String,
    },
    /// The transactions that changed an account, newest first, paged.
    History(account::HistoryArgs),
    /// Every member's net interbank position in a settlement window.
    Positions {
        /// The settlement window (default: each currency's open window).
        #[arg(long)]
        window: Option<u64>,
    },
    /// Account and transaction proofs.
    #[command(subcommand)]
    Proof(account::ProofCmd),
    /// Settlement windows: close the open one, list them (clearing staff).
    #[command(subcommand)]
    Window(window::WindowCmd),
    /// Settlement liquidity (fund, withdraw, net debit caps) and a window's settlement report.
    #[command(subcommand)]
    Settlement(settlement::SettlementCmd),
    /// Settlement batch files: check offline, submit, status, abort.
    #[command(subcommand)]
    Batch(batch::BatchCmd),
    /// Settlement receipts: fetch one, verify it offline against the genesis.
    #[command(subcommand)]
    Receipt(receipt::ReceiptCmd),
    /// A member's settlement-account statement for a period (optionally as camt.053).
    Statement(statement::StatementArgs),
    /// Follow committed blocks and transaction results as they happen, until Ctrl-C.
    Watch(watch::WatchArgs),
    /// Observer nodes: register or remove a non-validator node's peer id (the sponsoring
    /// member's staff), list the active ones.
    #[command(subcommand)]
    Observer(observer::ObserverCmd),
}

#[derive(Subcommand, Debug)]
pub enum NodeCmd {
    /// Write a validator's home from the genesis and its member directory (keys copied in,
    /// config pinned to the genesis hash).
    Init(Box<ceremony::NodeInitArgs>),
    /// Run one node (validator or observer) from its home directory.
    Start {
        /// The node's home directory.
        #[arg(long)]
        home: std::path::PathBuf,
    },
    /// A stopped node's store on disk: bytes by column family and by kind of file; with
    /// `--compact`, compact it fully and show what that reclaimed.
    Store {
        /// The node's home directory.
        #[arg(long)]
        home: std::path::PathBuf,
        /// Flush and fully compact the store first (minutes on a large store).
        #[arg(long)]
        compact: bool,
    },
}

/// Run the command `cli` names.
async fn dispatch(cli: Cli) -> Result<()> {
    let json = cli.json;
    crate::txbuild::set_valid_until(cli.valid_until);
    let t = cli.target;
    match cli.command {
        Cmd::Demo(a) => demo::run(a).await,
        Cmd::Bench(a) => bench::run(a, &t, json).await,
        Cmd::Testnet(c @ network::TestnetCmd::Init { .. }) => network::testnet_init(json, c),
        Cmd::Testnet(network::TestnetCmd::Start { dir }) => network::testnet_start(&dir).await,
        Cmd::Node(NodeCmd::Start { home }) => network::node_start(&home).await,
        Cmd::Node(NodeCmd::Init(a)) => ceremony::node_init(json, *a),
        Cmd::Node(NodeCmd::Store { home, compact }) => network::node_store(json, &home, compact),
        Cmd::Member(ceremony::MemberCmd::Init(a)) => ceremony::member_init(json, a),
        Cmd::Genesis(ceremony::GenesisCmd::Assemble(a)) => ceremony::assemble(json, a),
        Cmd::Genesis(ceremony::GenesisCmd::Show { file }) => ceremony::show(json, &file),
        Cmd::Join(a) => ceremony::join(json, a),
        Cmd::Keys(network::KeysCmd::Generate { out, kind }) => {
            network::keys_generate(json, &out, kind)
        }
        Cmd::Status => chain::status(&t, json).await,
        Cmd::Block { height } => chain::block(&t, json, &height).await,
        Cmd::Account {
            cmd: Some(account::AccountCmd::Prove { id, out }),
            ..
        } => account::prove(&t, json, &id, &out).await,
        Cmd::Account { id, cmd: None } => chain::account(&t, json, id).await,
        Cmd::Tx {
            cmd: Some(account::TxCmd::Prove { id, out }),
            ..
        } => account::tx_prove(&t, json, &id, &out).await,
        Cmd::Tx { id, cmd: None } => chain::tx(&t, json, id).await,
        Cmd::Wallet(c @ wallet::WalletCmd::Create { .. }) => {
            wallet::wallet_create(&t, json, c).await
        }
        Cmd::Wallet(wallet::WalletCmd::Register(a)) => wallet::wallet_register(&t, json, a).await,
        Cmd::Wallet(wallet::WalletCmd::Find(a)) => wallet::wallet_find(&t, json, a).await,
        Cmd::Issue(a) => wallet::issue(&t, json, a).await,
        Cmd::Transfer(a) => wallet::transfer(&t, json, a).await,
        Cmd::Redeem(a) => wallet::redeem(&t, json, a).await,
        Cmd::Pay(a) => pay::pay(&t, json, a).await,
        Cmd::Merchant(m) => pay::merchant(&t, json, m).await,
        Cmd::Authorize(a) => pay::authorize(&t, json, a).await,
        Cmd::Capture(a) => pay::capture(&t, json, a).await,
        Cmd::Void(a) => pay::void(&t, json, a).await,
        Cmd::Refund(a) => pay::refund(&t, json, a).await,
        Cmd::Charge(c) => charge::run(&t, json, c).await,
        Cmd::Balance { id } => account::balance(&t, json, &id).await,
        Cmd::History(a) => account::history(&t, json, a).await,
        Cmd::Positions { window } => account::positions(&t, json, window).await,
        Cmd::Proof(account::ProofCmd::Verify { file, genesis }) => {
            account::proof_verify(json, &file, &genesis)
        }
        Cmd::Window(w) => window::window_cmd(&t, json, w).await,
        Cmd::Settlement(x) => settlement::settlement_cmd(&t, json, x).await,
        Cmd::Batch(b) => batch::batch_cmd(&t, json, b).await,
        Cmd::Receipt(r) => receipt::receipt_cmd(&t, json, r).await,
        Cmd::Statement(a) => statement::statement(&t, json, a).await,
        Cmd::Watch(a) => watch::watch(&t, json, a).await,
        Cmd::Observer(o) => observer::observer_cmd(&t, json, o).await,
    }
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: node logs usually go to files.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn main() {
    let cli = Cli::parse();
    // Before any thread starts: a node runs with glibc's malloc tuned (support::malloc).
    let malloc_untuned = match cli.command {
        Cmd::Node(NodeCmd::Start { .. }) => support::malloc::tune_or_reexec().err(),
        _ => None,
    };
    let default_log = match cli.command {
        Cmd::Node(_) => "info",
        _ => "warn",
    };
    init_tracing(default_log);
    if let Some(reason) = malloc_untuned {
        tracing::warn!("{reason}; the node runs with glibc's default malloc settings");
    } else if let (Cmd::Node(NodeCmd::Start { .. }), Some(t)) =
        (&cli.command, std::env::var_os("GLIBC_TUNABLES"))
    {
        tracing::info!("GLIBC_TUNABLES={}", t.to_string_lossy());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result: Result<()> = runtime.block_on(dispatch(cli));
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
