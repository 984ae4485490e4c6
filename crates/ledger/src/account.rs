//! Accounts: TigerBeetle's four balance fields, plus who owns the account.

use serde::{Deserialize, Serialize};
use settlenet_types::{AccountId, Currency, Height, MemberId, PublicKey};

/// Largest value any of the four balance fields may hold. Keeping every field within `i128`
/// makes [`Account::balance`] exact; a transaction that would exceed it fails with
/// [`crate::ResultCode::Overflow`].
pub const FIELD_MAX: u128 = i128::MAX as u128;

/// What an account is for. New kinds (merchant, position, fees, suspense) are added at the end so
/// that existing encodings, and therefore state roots, do not change.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum AccountKind {
    /// A user's e-money wallet, opened by an issuing member; never below zero.
    Wallet,
    /// A member's prefunded settlement account at the clearing house; never below zero.
    Settlement,
    /// An issuer's e-money float: debited when e-money is issued, so it may go negative (its
    /// negative balance is the issuer's outstanding e-money liability).
    Float,
}

impl AccountKind {
    /// Whether the balance of this kind of account must stay at or above zero.
    pub fn must_stay_nonnegative(&self) -> bool {
        match self {
            AccountKind::Wallet | AccountKind::Settlement => true,
            AccountKind::Float => false,
        }
    }

    /// The purpose label of member-owned accounts, used by [`AccountId::derived`]; `None` for
    /// wallets, whose ids are chosen by clients.
    pub fn derived_purpose(&self) -> Option<&'static str> {
        match self {
            AccountKind::Wallet => None,
            AccountKind::Settlement => Some("settlement"),
            AccountKind::Float => Some("float"),
        }
    }
}

/// One account of the ledger. Its canonical encoding is the leaf of the state tree.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The account id (client-chosen for wallets, [`AccountId::derived`] for member accounts).
    pub id: AccountId,
    /// What the account is for.
    pub kind: AccountKind,
    /// The member whose liability (wallet, float) or asset (settlement) this is.
    pub member: MemberId,
    /// The one currency the account holds.
    pub currency: Currency,
    /// The wallet owner's key, which signs transfers out of it; `None` for member accounts.
    pub owner: Option<PublicKey>,
    /// Debits reserved by holds not yet resolved (always 0 until holds exist).
    pub debits_pending: u128,
    /// Debits posted.
    pub debits_posted: u128,
    /// Credits reserved by holds not yet resolved (always 0 until holds exist).
    pub credits_pending: u128,
    /// Credits posted.
    pub credits_posted: u128,
    /// The height of the block that created the account (0 for genesis accounts).
    pub created_height: Height,
}

/// `u128` to `i128`; every field is kept at or below [`FIELD_MAX`], so this never saturates.
fn signed(value: u128) -> i128 {
    i128::try_from(value).unwrap_or(i128::MAX)
}

impl Account {
    /// Posted balance in minor units: `credits_posted - debits_posted`.
    pub fn balance(&self) -> i128 {
        signed(self.credits_posted).saturating_sub(signed(self.debits_posted))
    }

    /// What can be spent: the posted balance minus pending debits.
    pub fn available(&self) -> i128 {
        self.balance().saturating_sub(signed(self.debits_pending))
    }
}
