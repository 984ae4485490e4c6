//! `settlenet`: run validators and local networks, and talk to a node.

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

mod batch;
mod bench;
mod catchup;
mod client;
mod commands;
mod demo;
mod local;
mod payments;
mod settlement;
mod txbuild;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

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
    #[command(subcommand)]
    pub command: Cmd,
}

/// Which node a client command talks to.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Node selection")]
pub struct Target {
    /// Base URL of a node's HTTP API.
    #[arg(long, global = true, env = "SETTLENET_NODE")]
    pub node: Option<String>,
    /// A testnet directory (from `testnet init`): talk to its first node and use its keys.
    #[arg(long, global = true, env = "SETTLENET_TESTNET")]
    pub testnet: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run the embedded demo: a local 4-validator network plays a payment scenario.
    Demo(demo::DemoArgs),
    /// Measure committed transfers per second and commit latency.
    Bench(bench::BenchArgs),
    /// Create or run a local test network.
    #[command(subcommand)]
    Testnet(commands::TestnetCmd),
    /// Run a validator node.
    #[command(subcommand)]
    Node(commands::NodeCmd),
    /// Key management.
    #[command(subcommand)]
    Keys(commands::KeysCmd),
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
        cmd: Option<payments::AccountCmd>,
    },
    /// Show a transaction's status.
    Tx {
        /// Transaction id (32 hex characters).
        id: String,
    },
    /// Wallet operations.
    #[command(subcommand)]
    Wallet(commands::WalletCmd),
    /// Issue e-money into a wallet (signed by the issuer's staff key).
    Issue(commands::IssueArgs),
    /// Transfer between wallets (signed by the payer's key).
    Transfer(commands::TransferArgs),
    /// Redeem e-money out of a wallet back to the issuer (signed by the issuer's staff key).
    Redeem(payments::RedeemArgs),
    /// Pay a wallet or merchant, by phone number or account id (signed by the payer's key).
    Pay(payments::PayArgs),
    /// Merchant accounts.
    #[command(subcommand)]
    Merchant(payments::MerchantCmd),
    /// Authorize a merchant payment: a hold on the payer's wallet (signed by the payer).
    Authorize(payments::AuthorizeArgs),
    /// Capture all or part of a hold; the rest is released (merchant or acquirer key).
    Capture(payments::CaptureArgs),
    /// Release a hold (merchant or acquirer key).
    Void(payments::VoidArgs),
    /// Refund (part of) a capture to the payer (merchant or acquirer key).
    Refund(payments::RefundArgs),
    /// An account's balance: the four posted/pending fields, balance and available.
    Balance {
        /// Account id.
        id: String,
    },
    /// The transactions that changed an account, newest first, paged.
    History(payments::HistoryArgs),
    /// Every member's net interbank position in a settlement window.
    Positions {
        /// The settlement window (default: each currency's open window).
        #[arg(long)]
        window: Option<u64>,
    },
    /// Account proofs.
    #[command(subcommand)]
    Proof(payments::ProofCmd),
    /// Settlement windows: close the open one, list them (clearing staff).
    #[command(subcommand)]
    Window(settlement::WindowCmd),
    /// Settlement liquidity (fund, withdraw, net debit caps) and a window's settlement report.
    #[command(subcommand)]
    Settlement(settlement::SettlementCmd),
    /// Settlement batch files: check offline, submit, status, abort.
    #[command(subcommand)]
    Batch(batch::BatchCmd),
    /// Settlement receipts: fetch one, verify it offline against the genesis.
    #[command(subcommand)]
    Receipt(settlement::ReceiptCmd),
    /// A member's settlement-account statement for a period (optionally as camt.053).
    Statement(settlement::StatementArgs),
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
    let default_log = match cli.command {
        Cmd::Node(_) => "info",
        _ => "warn",
    };
    init_tracing(default_log);
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
    let result: Result<()> = runtime.block_on(commands::dispatch(cli));
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
