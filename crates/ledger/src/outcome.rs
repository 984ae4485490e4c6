//! What executing transactions produces: result codes, the per-id records that make retries
//! idempotent, and the outcome of a block.

use crate::account::{Account, Shortfall};
use crate::history::{History, HistoryNode};
use serde::{Deserialize, Serialize};
use settlenet_types::{AccountId, Hash, Height, SettlementPolicy, TxId};

/// The result of one transaction. Every code but `Ok` means the transaction changed no account.
/// New codes are added at the end: records are persisted with the variant index.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ResultCode {
    /// Applied.
    Ok,
    /// The transaction names another network's chain id.
    WrongChain,
    /// The transaction format version is not one this ledger executes.
    UnsupportedVersion,
    /// The id was already used by a transaction with a different body.
    ExistsWithDifferentBody,
    /// The signer may not perform this operation.
    ForbiddenSigner,
    /// The member named does not exist.
    UnknownMember,
    /// The currency is not held by this network.
    UnknownCurrency,
    /// The account id to create is already in use (or reserved for a member account).
    AccountExists,
    /// The account to debit or credit (other than a transfer's payee) does not exist.
    AccountNotFound,
    /// The payee of a transfer or payment (account or alias) does not exist.
    UnknownPayee,
    /// The account named is not a wallet.
    NotAWallet,
    /// The two accounts hold different currencies.
    CurrencyMismatch,
    /// The amount is zero.
    ZeroAmount,
    /// A transfer from an account to itself.
    SameAccount,
    /// The payer's available balance is below the amount.
    InsufficientFunds,
    /// A balance field would exceed its limit.
    Overflow,
    // ---- Appended with the payment model (records persist the variant index). ----
    /// The signer is a staff key of the member but lacks the role.
    ForbiddenRole,
    /// A wallet with this alias already exists in this currency.
    AliasExists,
    /// The KYC tier is not in the limits table.
    UnknownTier,
    /// The amount (with fee) is above the wallet tier's per-transaction limit.
    ExceedsTransactionLimit,
    /// The wallet's outflow this UTC day (consensus time) would exceed its tier's daily limit.
    ExceedsDailyLimit,
    /// The account named as merchant is not a merchant account.
    NotAMerchant,
    /// A hold with this id already exists.
    HoldExists,
    /// The hold (or the capture a refund names) does not exist.
    HoldNotFound,
    /// The hold was already captured.
    HoldAlreadyCaptured,
    /// The hold was already voided.
    HoldAlreadyVoided,
    /// The hold reached its deadline (consensus time).
    HoldExpired,
    /// The capture amount is above the held amount.
    CaptureExceedsHold,
    /// Refunds would exceed what was captured.
    RefundExceedsCapture,
    /// The hold timeout is zero or above `HOLD_TIMEOUT_MS_MAX`.
    InvalidTimeout,
    // ---- Appended with clearing and settlement. ----
    /// The window is not the currency's open window.
    WindowNotOpen,
    /// The window is open or does not exist yet.
    WindowNotClosed,
    /// The window was already settled.
    WindowAlreadySettled,
    /// Another batch is staging in this currency (a currency stages one batch at a time).
    SettlementInProgress,
    /// The batch id is in use for another currency or window.
    BatchExists,
    /// The batch was already settled or aborted.
    BatchFinished,
    /// No batch with this id.
    UnknownBatch,
    /// The chunk number is at or above `BATCH_CHUNKS_MAX`, or the chunk holds no instruction or more than `SETTLEMENT_CHUNK_MAX`.
    InvalidChunk,
    /// This chunk of the batch was already staged.
    ChunkExists,
    /// The staged chunks are not exactly `0..chunks`, or the instruction count differs.
    BatchIncomplete,
    /// The digest of the staged instructions is not the one named.
    DigestMismatch,
    /// An instruction id is not ISO 20022 `Max35Text` (1 to 35 characters, no control character).
    InvalidInstruction,
    /// An instruction's debtor is its creditor.
    SelfInstruction,
    /// An instruction's beneficiary is not a wallet of its creditor.
    InvalidBeneficiary,
    /// A net debtor cannot cover its debit (policy `reject`); the record names each short member and its shortfall.
    SettlementShortfall,
    /// The payment would take the payer's member's unsettled net debit above its net debit cap.
    NetDebitCapExceeded,
    // ---- Appended with observer nodes. ----
    /// The peer id is not a libp2p peer id as text: 40 to 64 base58btc characters.
    InvalidPeerId,
    /// The observer name is not 1 to 64 printable ASCII characters.
    InvalidObserverName,
    /// The peer id is a genesis validator's.
    ValidatorPeerId,
    /// An active observer with this peer id is already registered (by any member).
    ObserverExists,
    /// The sponsor already has `OBSERVERS_PER_MEMBER_MAX` active observers, or the network `OBSERVERS_MAX`.
    TooManyObservers,
    /// No observer with this peer id, or it was removed.
    ObserverNotFound,
    /// The observer is sponsored by another member than the one named.
    SponsorMismatch,
    /// The transaction's `valid_until_ms` is before the block's consensus time (or, at
    /// admission, the node's clock).
    Expired,
    /// The transaction's id is not `TxId::derive(signer, nonce)`: ids are bound to the key that
    /// signs, so nobody can take another signer's id. Never recorded.
    IdNotDerived,
    /// The transaction's `valid_until_ms` is more than `TX_VALIDITY_MAX_MS` (one hour) past the
    /// block's consensus time (or, at admission, the node's clock).
    ValidityTooLong,
    // ---- Appended with charge requests. ----
    /// A charge request with this id already exists.
    ChargeExists,
    /// No charge request has this id.
    ChargeNotFound,
    /// The charge request reached its expiry (consensus time) before it was approved.
    ChargeExpired,
    /// The charge request was declined by its payer.
    ChargeDeclined,
    /// The charge request was cancelled by the merchant.
    ChargeCancelled,
    /// The charge request was already approved (a request is approved at most once).
    ChargeAlreadyApproved,
    /// The charge request names another wallet as its payer.
    WrongPayer,
    /// The amount approved is not the amount the charge request asks.
    ChargeAmountMismatch,
    /// The charge request names no payer, so no one can decline it (it expires or is cancelled).
    ChargeHasNoPayer,
    /// The merchant already has the most pending charge requests allowed (CHARGES_PENDING_PER_MERCHANT_MAX).
    TooManyCharges,
    /// The charge reference is not ISO 20022 Max35Text (1 to 35 characters, no control character).
    InvalidReference,
    // ---- Appended with the archive of closed entries. ----
    /// The capture's refund window (its hold's deadline plus `REFUND_WINDOW_MS`) is over.
    RefundWindowClosed,
}

impl ResultCode {
    /// Every code, in declaration order (for tables, metrics and tests).
    pub const ALL: [ResultCode; 68] = [
        ResultCode::Ok,
        ResultCode::WrongChain,
        ResultCode::UnsupportedVersion,
        ResultCode::ExistsWithDifferentBody,
        ResultCode::ForbiddenSigner,
        ResultCode::UnknownMember,
        ResultCode::UnknownCurrency,
        ResultCode::AccountExists,
        ResultCode::AccountNotFound,
        ResultCode::UnknownPayee,
        ResultCode::NotAWallet,
        ResultCode::CurrencyMismatch,
        ResultCode::ZeroAmount,
        ResultCode::SameAccount,
        ResultCode::InsufficientFunds,
        ResultCode::Overflow,
        ResultCode::ForbiddenRole,
        ResultCode::AliasExists,
        ResultCode::UnknownTier,
        ResultCode::ExceedsTransactionLimit,
        ResultCode::ExceedsDailyLimit,
        ResultCode::NotAMerchant,
        ResultCode::HoldExists,
        ResultCode::HoldNotFound,
        ResultCode::HoldAlreadyCaptured,
        ResultCode::HoldAlreadyVoided,
        ResultCode::HoldExpired,
        ResultCode::CaptureExceedsHold,
        ResultCode::RefundExceedsCapture,
        ResultCode::InvalidTimeout,
        ResultCode::WindowNotOpen,
        ResultCode::WindowNotClosed,
        ResultCode::WindowAlreadySettled,
        ResultCode::SettlementInProgress,
        ResultCode::BatchExists,
        ResultCode::BatchFinished,
        ResultCode::UnknownBatch,
        ResultCode::InvalidChunk,
        ResultCode::ChunkExists,
        ResultCode::BatchIncomplete,
        ResultCode::DigestMismatch,
        ResultCode::InvalidInstruction,
        ResultCode::SelfInstruction,
        ResultCode::InvalidBeneficiary,
        ResultCode::SettlementShortfall,
        ResultCode::NetDebitCapExceeded,
        ResultCode::InvalidPeerId,
        ResultCode::InvalidObserverName,
        ResultCode::ValidatorPeerId,
        ResultCode::ObserverExists,
        ResultCode::TooManyObservers,
        ResultCode::ObserverNotFound,
        ResultCode::SponsorMismatch,
        ResultCode::Expired,
        ResultCode::IdNotDerived,
        ResultCode::ValidityTooLong,
        ResultCode::ChargeExists,
        ResultCode::ChargeNotFound,
        ResultCode::ChargeExpired,
        ResultCode::ChargeDeclined,
        ResultCode::ChargeCancelled,
        ResultCode::ChargeAlreadyApproved,
        ResultCode::WrongPayer,
        ResultCode::ChargeAmountMismatch,
        ResultCode::ChargeHasNoPayer,
        ResultCode::TooManyCharges,
        ResultCode::InvalidReference,
        ResultCode::RefundWindowClosed,
    ];

    /// The snake_case name (identical to the serde name).
    pub fn as_str(&self) -> &'static str {
        match self {
            ResultCode::Ok => "ok",
            ResultCode::WrongChain => "wrong_chain",
            ResultCode::UnsupportedVersion => "unsupported_version",
            ResultCode::ExistsWithDifferentBody => "exists_with_different_body",
            ResultCode::ForbiddenSigner => "forbidden_signer",
            ResultCode::UnknownMember => "unknown_member",
            ResultCode::UnknownCurrency => "unknown_currency",
            ResultCode::AccountExists => "account_exists",
            ResultCode::AccountNotFound => "account_not_found",
            ResultCode::UnknownPayee => "unknown_payee",
            ResultCode::NotAWallet => "not_a_wallet",
            ResultCode::CurrencyMismatch => "currency_mismatch",
            ResultCode::ZeroAmount => "zero_amount",
            ResultCode::SameAccount => "same_account",
            ResultCode::InsufficientFunds => "insufficient_funds",
            ResultCode::Overflow => "overflow",
            ResultCode::ForbiddenRole => "forbidden_role",
            ResultCode::AliasExists => "alias_exists",
            ResultCode::UnknownTier => "unknown_tier",
            ResultCode::ExceedsTransactionLimit => "exceeds_transaction_limit",
            ResultCode::ExceedsDailyLimit => "exceeds_daily_limit",
            ResultCode::NotAMerchant => "not_a_merchant",
            ResultCode::HoldExists => "hold_exists",
            ResultCode::HoldNotFound => "hold_not_found",
            ResultCode::HoldAlreadyCaptured => "hold_already_captured",
            ResultCode::HoldAlreadyVoided => "hold_already_voided",
            ResultCode::HoldExpired => "hold_expired",
            ResultCode::CaptureExceedsHold => "capture_exceeds_hold",
            ResultCode::RefundExceedsCapture => "refund_exceeds_capture",
            ResultCode::InvalidTimeout => "invalid_timeout",
            ResultCode::WindowNotOpen => "window_not_open",
            ResultCode::WindowNotClosed => "window_not_closed",
            ResultCode::WindowAlreadySettled => "window_already_settled",
            ResultCode::SettlementInProgress => "settlement_in_progress",
            ResultCode::BatchExists => "batch_exists",
            ResultCode::BatchFinished => "batch_finished",
            ResultCode::UnknownBatch => "unknown_batch",
            ResultCode::InvalidChunk => "invalid_chunk",
            ResultCode::ChunkExists => "chunk_exists",
            ResultCode::BatchIncomplete => "batch_incomplete",
            ResultCode::DigestMismatch => "digest_mismatch",
            ResultCode::InvalidInstruction => "invalid_instruction",
            ResultCode::SelfInstruction => "self_instruction",
            ResultCode::InvalidBeneficiary => "invalid_beneficiary",
            ResultCode::SettlementShortfall => "settlement_shortfall",
            ResultCode::NetDebitCapExceeded => "net_debit_cap_exceeded",
            ResultCode::InvalidPeerId => "invalid_peer_id",
            ResultCode::InvalidObserverName => "invalid_observer_name",
            ResultCode::ValidatorPeerId => "validator_peer_id",
            ResultCode::ObserverExists => "observer_exists",
            ResultCode::TooManyObservers => "too_many_observers",
            ResultCode::ObserverNotFound => "observer_not_found",
            ResultCode::SponsorMismatch => "sponsor_mismatch",
            ResultCode::Expired => "expired",
            ResultCode::IdNotDerived => "id_not_derived",
            ResultCode::ValidityTooLong => "validity_too_long",
            ResultCode::ChargeExists => "charge_exists",
            ResultCode::ChargeNotFound => "charge_not_found",
            ResultCode::ChargeExpired => "charge_expired",
            ResultCode::ChargeDeclined => "charge_declined",
            ResultCode::ChargeCancelled => "charge_cancelled",
            ResultCode::ChargeAlreadyApproved => "charge_already_approved",
            ResultCode::WrongPayer => "wrong_payer",
            ResultCode::ChargeAmountMismatch => "charge_amount_mismatch",
            ResultCode::ChargeHasNoPayer => "charge_has_no_payer",
            ResultCode::TooManyCharges => "too_many_charges",
            ResultCode::InvalidReference => "invalid_reference",
            ResultCode::RefundWindowClosed => "refund_window_closed",
        }
    }

    /// Whether the transaction was applied.
    pub fn is_ok(&self) -> bool {
        matches!(self, ResultCode::Ok)
    }

    /// One human sentence explaining the code (for API responses and the CLI).
    pub fn describe(&self) -> &'static str {
        match self {
            ResultCode::Ok => "The transaction was applied.",
            ResultCode::WrongChain => "The transaction was signed for a different network.",
            ResultCode::UnsupportedVersion => {
                "The transaction format version is not supported by this ledger."
            }
            ResultCode::ExistsWithDifferentBody => {
                "This transaction id was already used by a transaction with a different body."
            }
            ResultCode::ForbiddenSigner => "The signer is not allowed to perform this operation.",
            ResultCode::UnknownMember => "The member named by the transaction does not exist.",
            ResultCode::UnknownCurrency => "The currency is not held by this network.",
            ResultCode::AccountExists => "An account with this id already exists or is reserved.",
            ResultCode::AccountNotFound => "The account named by the transaction does not exist.",
            ResultCode::UnknownPayee => "The payee account or alias does not exist.",
            ResultCode::NotAWallet => "The account named by the transaction is not a wallet.",
            ResultCode::CurrencyMismatch => "The two accounts hold different currencies.",
            ResultCode::ZeroAmount => "The amount must be greater than zero.",
            ResultCode::SameAccount => "A transfer cannot go from an account to itself.",
            ResultCode::InsufficientFunds => {
                "The payer's available balance is lower than the amount."
            }
            ResultCode::Overflow => "The transaction would overflow an account balance.",
            ResultCode::ForbiddenRole => "The signer is a staff key of the member but does not hold the role this operation needs.",
            ResultCode::AliasExists => "A wallet is already registered under this phone alias in this currency.",
            ResultCode::UnknownTier => "The KYC tier is not defined.",
            ResultCode::ExceedsTransactionLimit => "The amount exceeds the wallet's per-transaction limit.",
            ResultCode::ExceedsDailyLimit => "The payment would exceed the wallet's daily limit.",
            ResultCode::NotAMerchant => "The account named as merchant is not a merchant account.",
            ResultCode::HoldExists => "A hold with this id already exists.",
            ResultCode::HoldNotFound => "The hold or capture does not exist.",
            ResultCode::HoldAlreadyCaptured => "The hold was already captured.",
            ResultCode::HoldAlreadyVoided => "The hold was already voided.",
            ResultCode::HoldExpired => "The hold has expired.",
            ResultCode::CaptureExceedsHold => "The capture amount is larger than the hold.",
            ResultCode::RefundExceedsCapture => "Refunds would exceed the captured amount.",
            ResultCode::InvalidTimeout => "The hold timeout is zero or too long.",
            ResultCode::WindowNotOpen => "The window to close is not the currency's open window.",
            ResultCode::WindowNotClosed => "The window is still open or does not exist yet.",
            ResultCode::WindowAlreadySettled => "The window was already settled.",
            ResultCode::SettlementInProgress => "Another settlement batch is in progress in this currency.",
            ResultCode::BatchExists => "This batch id is already used for another currency or window.",
            ResultCode::BatchFinished => "The batch was already settled or aborted.",
            ResultCode::UnknownBatch => "The batch does not exist.",
            ResultCode::InvalidChunk => "The chunk number or the number of instructions in it is out of range.",
            ResultCode::ChunkExists => "This chunk of the batch was already staged.",
            ResultCode::BatchIncomplete => "The staged chunks or instruction count do not match the batch.",
            ResultCode::DigestMismatch => "The staged instructions do not match the batch digest.",
            ResultCode::InvalidInstruction => "An instruction id must be 1 to 35 characters without control characters.",
            ResultCode::SelfInstruction => "An instruction cannot have the same member as debtor and creditor.",
            ResultCode::InvalidBeneficiary => "The beneficiary is not a wallet held at the creditor member.",
            ResultCode::SettlementShortfall => "A member cannot cover its net debit; the batch was rejected.",
            ResultCode::NetDebitCapExceeded => "The payment would exceed the paying member's net debit cap.",
            ResultCode::InvalidPeerId => "The peer id is not 40 to 64 base58btc characters.",
            ResultCode::InvalidObserverName => "The observer name must be 1 to 64 printable ASCII characters.",
            ResultCode::ValidatorPeerId => "The peer id is a validator's; it cannot be registered as an observer.",
            ResultCode::ObserverExists => "An active observer with this peer id is already registered.",
            ResultCode::TooManyObservers => "The member or the network already has the most active observers allowed.",
            ResultCode::ObserverNotFound => "No active observer with this peer id is registered.",
            ResultCode::SponsorMismatch => "The observer is sponsored by another member.",
            ResultCode::Expired => "The transaction's validity (valid_until_ms) ended before it could execute; it never will.",
            ResultCode::IdNotDerived => "The transaction id is not the one derived from its signer's key and nonce; it is refused and leaves no record.",
            ResultCode::ValidityTooLong => "The transaction's valid_until_ms is more than one hour ahead; sign it again with a nearer one.",
            ResultCode::ChargeExists => "A charge request with this id already exists.",
            ResultCode::ChargeNotFound => "No charge request has this id.",
            ResultCode::ChargeExpired => "The charge request expired before it was approved; the merchant must create a new one.",
            ResultCode::ChargeDeclined => "The payer already declined this charge request.",
            ResultCode::ChargeCancelled => "The merchant cancelled this charge request.",
            ResultCode::ChargeAlreadyApproved => "This charge request was already approved; a request is approved once.",
            ResultCode::WrongPayer => "Only the wallet the charge request names may approve or decline it.",
            ResultCode::ChargeAmountMismatch => "The amount approved differs from the charge request's; check the request again.",
            ResultCode::ChargeHasNoPayer => "A charge request open to any payer cannot be declined; let it expire or ask the merchant to cancel it.",
            ResultCode::TooManyCharges => "The merchant has too many pending charge requests; cancel some or wait for them to expire.",
            ResultCode::InvalidReference => "The charge reference must be 1 to 35 characters with no control character.",
            ResultCode::RefundWindowClosed => "The refund window of this capture (180 days after its hold's deadline) is over.",
        }
    }
}

impl std::fmt::Display for ResultCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the ledger remembers about a transaction id: the body it was first used with and the
/// result, so that a retry returns the same answer and can never flip it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TxRecord {
    /// `Transaction::intent_hash` of the first body seen with this id (the body without its
    /// `valid_until_ms`, which the id binds anyway).
    pub body_hash: Hash,
    /// The block that executed it.
    pub height: Height,
    /// Its position in that block.
    pub index: u32,
    /// Its result (failures are recorded too: a failed id stays failed).
    pub result: ResultCode,
    /// What more the result needs to be understood: for a settlement batch rejected
    /// for a shortfall, or applied with unwinds, the members concerned and their shortfalls.
    /// `None` for every other transaction.
    pub detail: Option<RecordDetail>,
    /// The transaction's `valid_until_ms`: the record is live (in the idempotency set) until
    /// consensus time passes it.
    pub valid_until_ms: u64,
}

/// Detail recorded with a result (bounded: at most one entry per member).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RecordDetail {
    /// A `settle_batch` whose debtors did not all cover: with policy `reject` the batch was
    /// refused (`settlement_shortfall`) and `members` are the short members; with `unwind` it
    /// settled without them and `members` are the unwound members, in removal order.
    Settlement {
        /// The policy the batch named.
        policy: SettlementPolicy,
        /// The window.
        window: u64,
        /// Each member concerned and its shortfall.
        members: Vec<Shortfall>,
    },
}

/// The outcome of one transaction of a block.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TxOutcome {
    /// The transaction id.
    pub id: TxId,
    /// The result: for a duplicate, the first result.
    pub result: ResultCode,
    /// Same id and body seen before: the first result is returned, nothing changed and no new
    /// record was written.
    pub duplicate: bool,
    /// The accounts this transaction changed, sorted by id (empty unless it was applied now;
    /// hold expiries at the start of a block belong to no transaction).
    pub changed: Vec<AccountId>,
    /// The record's detail (see [`TxRecord::detail`]); for a duplicate, the first one.
    pub detail: Option<RecordDetail>,
}

/// The outcome of a block: everything storage must persist, and the new state root.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BlockOutcome {
    /// One per transaction, in block order.
    pub outcomes: Vec<TxOutcome>,
    /// The final value of every account created or modified by the block, sorted by id.
    pub changed_accounts: Vec<Account>,
    /// Records created by this block, in block order (none for duplicates,
    /// `exists_with_different_body`, `id_not_derived`, `expired` and `validity_too_long`).
    pub new_records: Vec<(TxId, TxRecord)>,
    /// Records that left the live set at this block (their validity ended before its time),
    /// sorted by `(valid_until_ms, id)`: storage drops them from the live set, keeps them in
    /// the archive.
    pub pruned_records: Vec<TxId>,
    /// Nodes of the history accumulator this block created (its leaf first).
    pub history_nodes: Vec<HistoryNode>,
    /// The accumulator after the block (persisted with it, for restarts).
    pub history: History,
    /// The state root after the block (accounts, live records, history).
    pub state_root: Hash,
    /// Hold and charge entries that consensus time expired at the start of this block (by the
    /// sweep, not by a transaction), sorted by id: the event stream reports them.
    pub expired: Vec<AccountId>,
    /// Closed hold and charge entries that left the state at the start of this block (their
    /// final values, sorted by id): storage moves them from the state to its archive.
    pub archived: Vec<Account>,
}
