//! Settlement: windows, batches, receipts and liquidity, as clearing staff and auditors read
//! them.

use crate::Anchor;
use serde::{Deserialize, Serialize};
use settlenet_ledger::AccountProof;
use settlenet_types::{AccountId, BatchId, Currency, Hash, Height};
use utoipa::ToSchema;

/// Default number of windows `GET /v1/settlement/windows` lists.
pub const WINDOWS_LIMIT_DEFAULT: u64 = 20;
/// Largest number of windows `GET /v1/settlement/windows` lists.
pub const WINDOWS_LIMIT_MAX: u64 = 100;
/// Version of the settlement receipt file: 2 since the state root combines three roots (its
/// account proofs carry the live records root and the history root).
pub const RECEIPT_VERSION: u16 = 2;
/// The `kind` field of a settlement receipt file.
pub const RECEIPT_KIND: &str = "settlenet-settlement-receipt";

/// Where a settlement window is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WindowState {
    /// Obligations accrue to it.
    Open,
    /// Closed, awaiting a settlement batch.
    Closed,
    /// A batch is staging on it.
    Settling,
    /// Settled by a batch.
    Settled,
}

impl WindowState {
    /// The name on the wire (`open`, `closed`, `settling`, `settled`).
    pub fn as_str(self) -> &'static str {
        match self {
            WindowState::Open => "open",
            WindowState::Closed => "closed",
            WindowState::Settling => "settling",
            WindowState::Settled => "settled",
        }
    }
}

/// Where a settlement batch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BatchState {
    /// Chunks are being staged.
    Staging,
    /// It settled its window.
    Settled,
    /// It was discarded; nothing moved.
    Aborted,
}

impl BatchState {
    /// The name on the wire (`staging`, `settled`, `aborted`).
    pub fn as_str(self) -> &'static str {
        match self {
            BatchState::Staging => "staging",
            BatchState::Settled => "settled",
            BatchState::Aborted => "aborted",
        }
    }
}

/// `GET /v1/settlement/windows?currency=C&start=N&limit=L`: the windows of a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Windows {
    /// The currency.
    #[schema(value_type = String)]
    pub currency: Currency,
    /// Its minor-unit exponent.
    pub exponent: u8,
    /// The window obligations go to now.
    pub open_window: u64,
    /// The batch staging in this currency (`null`: none).
    #[schema(value_type = Option<String>)]
    pub staging_batch: Option<BatchId>,
    /// The windows asked for, oldest first.
    pub windows: Vec<Window>,
    /// The committed height read at.
    #[schema(value_type = u64)]
    pub height: Height,
}

/// `GET /v1/settlement/windows/{currency}/{window}` (and each of a list): a window's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Window {
    /// The window number.
    pub window: u64,
    /// Its currency.
    #[schema(value_type = String)]
    pub currency: Currency,
    /// The currency's minor-unit exponent.
    pub exponent: u8,
    /// Where it is in its life.
    pub state: WindowState,
    /// The ledger account holding its record.
    #[schema(value_type = String)]
    pub account: AccountId,
    /// The height that opened it.
    #[schema(value_type = u64)]
    pub opened_height: Height,
    /// The height that closed it.
    #[schema(value_type = Option<u64>)]
    pub closed_height: Option<Height>,
    /// The height that settled it.
    #[schema(value_type = Option<u64>)]
    pub settled_height: Option<Height>,
    /// The batch staging on it or that settled it.
    #[schema(value_type = Option<String>)]
    pub batch: Option<BatchId>,
    /// Instructions the batch added.
    pub instructions: u64,
    /// Gross obligations debtor -> creditor.
    pub obligations: Vec<ObligationView>,
    /// Obligations an unwind carried to `carried_to`.
    pub carried: Vec<ObligationView>,
    /// The window the carried obligations went to.
    pub carried_to: Option<u64>,
    /// The members unwound, with their shortfalls.
    pub unwound: Vec<ShortfallView>,
    /// Every member's line (final once settled, else computed from the obligations).
    pub report: Vec<ReportLine>,
    /// Whether `report` is the settled one.
    pub report_final: bool,
    /// The committed height read at (only `GET /v1/settlement/windows/{currency}/{window}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    pub height: Option<Height>,
}

/// A gross obligation between two members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ObligationView {
    /// The member that owes.
    pub debtor: String,
    /// The member owed.
    pub creditor: String,
    /// How much, as a decimal.
    pub amount: String,
    /// The same in minor units.
    pub amount_minor: String,
}

/// A member that could not cover its net debit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShortfallView {
    /// The member.
    pub member: String,
    /// Its net debit, as a decimal.
    pub debit: String,
    /// Its settlement balance.
    pub balance: String,
    /// Its net debit cap (`null`: none).
    pub cap: Option<String>,
    /// What it lacked.
    pub shortfall: String,
    /// The same in minor units.
    pub shortfall_minor: String,
}

/// A member's line of a window's settlement report (decimals, then minor units).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportLine {
    /// The member.
    pub member: String,
    /// Gross sent.
    pub sent: String,
    /// Gross received.
    pub received: String,
    /// Received minus sent.
    pub net: String,
    /// Moved between settlement accounts.
    pub settled: String,
    /// Carried to the next window by an unwind.
    pub carried: String,
    /// `sent` in minor units.
    pub sent_minor: String,
    /// `received` in minor units.
    pub received_minor: String,
    /// `net` in minor units.
    pub net_minor: String,
    /// `settled` in minor units.
    pub settled_minor: String,
    /// `carried` in minor units.
    pub carried_minor: String,
}

/// `GET /v1/settlement/batches/{id}`: a batch's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Batch {
    /// The batch id.
    #[schema(value_type = String)]
    pub batch: BatchId,
    /// Its currency.
    #[schema(value_type = String)]
    pub currency: Currency,
    /// The window it settles.
    pub window: u64,
    /// Where it is in its life.
    pub state: BatchState,
    /// The chunk numbers staged, sorted.
    pub chunks: Vec<u32>,
    /// Instructions staged.
    pub instructions: u64,
    /// The policy it settled with (`reject`, `unwind`; `null` before).
    pub policy: Option<String>,
    /// The height that settled or aborted it.
    #[schema(value_type = Option<u64>)]
    pub finished_height: Option<Height>,
    /// The members it unwound.
    pub unwound: Vec<String>,
    /// The member whose clearing staff submitted it.
    pub submitted_by: String,
    /// The height that created its record.
    #[schema(value_type = u64)]
    pub created_height: Height,
    /// The ledger account holding its record.
    #[schema(value_type = String)]
    pub account: AccountId,
    /// The committed height read at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    pub height: Option<Height>,
}

/// `GET /v1/settlement/batches/{id}/receipt` (the file `settlenet receipt get` writes): proofs
/// that a batch settled its window, verifiable offline with the genesis alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// [`RECEIPT_VERSION`].
    pub version: u16,
    /// [`RECEIPT_KIND`].
    pub kind: String,
    /// The chain.
    pub chain_id: String,
    /// The batch.
    #[schema(value_type = String)]
    pub batch: BatchId,
    /// Its currency.
    #[schema(value_type = String)]
    pub currency: Currency,
    /// The window it settled.
    pub window: u64,
    /// The height of the proven state.
    #[schema(value_type = u64)]
    pub state_height: Height,
    /// Its root.
    #[schema(value_type = String)]
    pub state_root: Hash,
    /// The window record's proof.
    #[schema(value_type = Object)]
    pub window_proof: AccountProof,
    /// The batch record's proof.
    #[schema(value_type = Object)]
    pub batch_proof: AccountProof,
    /// Every member's settlement account, proven.
    pub settlement_proofs: Vec<MemberProof>,
    /// The committed block that settled the batch.
    pub settled_block: Anchor,
    /// The committed block certifying `state_root`.
    pub anchor: Anchor,
}

/// A member's settlement account, proven.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberProof {
    /// The member.
    pub member: String,
    /// The proof of its settlement account.
    #[schema(value_type = Object)]
    pub proof: AccountProof,
}

/// `GET /v1/settlement/liquidity?currency=C`: each member's settlement liquidity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Liquidity {
    /// The currency.
    #[schema(value_type = String)]
    pub currency: Currency,
    /// Its minor-unit exponent.
    pub exponent: u8,
    /// The window obligations go to now.
    pub open_window: u64,
    /// One line per member.
    pub members: Vec<MemberLiquidity>,
    /// The committed height read at.
    #[schema(value_type = u64)]
    pub height: Height,
}

/// A member's settlement balance, net debit cap and unsettled net position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberLiquidity {
    /// The member.
    pub member: String,
    /// Its settlement account.
    #[schema(value_type = String)]
    pub settlement_account: AccountId,
    /// The account's balance, as a decimal.
    pub balance: String,
    /// The same in minor units.
    pub balance_minor: String,
    /// Its net debit cap (`null`: unlimited).
    pub net_debit_cap: Option<String>,
    /// Its net position over the windows not yet settled (negative: net debtor).
    pub unsettled_net: String,
    /// The same in minor units.
    pub unsettled_net_minor: String,
}
