//! The arguments of `batch check|submit|status|abort`.

use clap::{Args, Subcommand, ValueEnum};
use settlenet_batchfile::Format;
use settlenet_types::SettlementPolicy;
use std::path::PathBuf;

/// A batch file's format, when the extension does not say.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// CSV with a header line.
    Csv,
    /// JSON with an `instructions` array.
    Json,
    /// ISO 20022 pacs.008 or pacs.009.
    Xml,
}

impl From<FileFormat> for Format {
    fn from(f: FileFormat) -> Format {
        match f {
            FileFormat::Csv => Format::Csv,
            FileFormat::Json => Format::Json,
            FileFormat::Xml => Format::Iso20022,
        }
    }
}

/// What to do with a member that cannot cover its net debit.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyArg {
    /// Refuse the whole batch, naming each short member (nothing moves).
    Reject,
    /// Remove the short members' obligations, settle the rest, carry the removed ones to the
    /// next window.
    Unwind,
}

impl From<PolicyArg> for SettlementPolicy {
    fn from(p: PolicyArg) -> SettlementPolicy {
        match p {
            PolicyArg::Reject => SettlementPolicy::Reject,
            PolicyArg::Unwind => SettlementPolicy::Unwind,
        }
    }
}

/// How a file is read (shared by `check`, `submit` and `status`).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Batch file")]
pub struct FileArgs {
    /// The currency the file must be in (default: the file's own).
    #[arg(long)]
    pub currency: Option<String>,
    /// The file's format (default: from the extension, then the content).
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
    /// Country calling code for national mobile numbers with a trunk 0 (e.g. 250).
    #[arg(long)]
    pub default_country: Option<String>,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The batch file (CSV, JSON, pacs.008 or pacs.009).
    pub file: PathBuf,
    /// The network's genesis file (default with --testnet: DIR/genesis.json).
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    #[command(flatten)]
    pub read: FileArgs,
    /// Print only the totals, not every instruction.
    #[arg(long)]
    pub totals_only: bool,
}

#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// The batch file (CSV, JSON, pacs.008 or pacs.009).
    pub file: PathBuf,
    /// Clearing staff key (default with --testnet: the clearing house's clearing.key).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The closed window to settle (default: the newest closed, not settled window of the
    /// file's currency).
    #[arg(long)]
    pub window: Option<u64>,
    /// What to do with a member that cannot cover its net debit.
    #[arg(long, value_enum, default_value = "reject")]
    pub policy: PolicyArg,
    /// Batch id, 32 hex characters (default: derived from the file's content and the window,
    /// so that running the same command again resumes).
    #[arg(long)]
    pub id: Option<String>,
    /// Write an ISO 20022 pacs.002 status report here.
    #[arg(long)]
    pub pacs002: Option<PathBuf>,
    /// Chunks per HTTP request.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub chunks_per_request: u32,
    #[command(flatten)]
    pub read: FileArgs,
}

#[derive(Subcommand, Debug)]
pub enum BatchCmd {
    /// Validate a batch file offline against the genesis: every problem with its line or
    /// element path and field; else each instruction resolved to members, and the totals.
    /// Submits nothing; exits non-zero on any problem.
    Check(CheckArgs),
    /// Validate, stage and settle a batch file on a closed window, atomically.
    Submit(SubmitArgs),
    /// Show a batch's state; optionally write its pacs.002 status report.
    Status {
        /// The batch id.
        id: String,
        /// Write an ISO 20022 pacs.002 status report here (needs --file).
        #[arg(long, requires = "file")]
        pacs002: Option<PathBuf>,
        /// The batch file submitted (to report every instruction).
        #[arg(long)]
        file: Option<PathBuf>,
        #[command(flatten)]
        read: FileArgs,
    },
    /// Discard a staging batch (nothing has moved); its window returns to closed.
    Abort {
        /// The batch id.
        id: String,
        /// Clearing staff key (default with --testnet: the clearing house's clearing.key).
        #[arg(long)]
        key: Option<PathBuf>,
    },
}
