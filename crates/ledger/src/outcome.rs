//! What executing transactions produces: result codes, the per-id records that make retries
//! idempotent, and the outcome of a block.

use crate::account::Account;
use serde::{Deserialize, Serialize};
use settlenet_types::{Hash, Height, TxId};

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
    /// The payee of a transfer does not exist.
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
}

impl ResultCode {
    /// Every code, in declaration order (for tables, metrics and tests).
    pub const ALL: [ResultCode; 16] = [
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
            ResultCode::UnknownPayee => "The payee account does not exist.",
            ResultCode::NotAWallet => "The account named by the transaction is not a wallet.",
            ResultCode::CurrencyMismatch => "The two accounts hold different currencies.",
            ResultCode::ZeroAmount => "The amount must be greater than zero.",
            ResultCode::SameAccount => "A transfer cannot go from an account to itself.",
            ResultCode::InsufficientFunds => {
                "The payer's available balance is lower than the amount."
            }
            ResultCode::Overflow => "The transaction would overflow an account balance.",
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
    /// `Transaction::body_hash` of the first body seen with this id.
    pub body_hash: Hash,
    /// The block that executed it.
    pub height: Height,
    /// Its position in that block.
    pub index: u32,
    /// Its result (failures are recorded too: a failed id stays failed).
    pub result: ResultCode,
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
}

/// The outcome of a block: everything storage must persist, and the new state root.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BlockOutcome {
    /// One per transaction, in block order.
    pub outcomes: Vec<TxOutcome>,
    /// The final value of every account created or modified by the block, sorted by id.
    pub changed_accounts: Vec<Account>,
    /// Records created by this block, in block order (none for duplicates and for
    /// `exists_with_different_body`).
    pub new_records: Vec<(TxId, TxRecord)>,
    /// The state root after the block.
    pub state_root: Hash,
}
