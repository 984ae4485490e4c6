//! Accounts: TigerBeetle's four balance fields, plus who owns the account.

use serde::{Deserialize, Serialize};
use settlenet_types::{
    AccountId, Amount, Currency, Hash, Height, HoldId, MemberId, PublicKey, TxId,
};

/// Largest value any of the four balance fields may hold. Keeping every field within `i128`
/// makes [`Account::balance`] exact; a transaction that would exceed it fails with
/// [`crate::ResultCode::Overflow`].
pub const FIELD_MAX: u128 = i128::MAX as u128;

/// What an account is for. New kinds (e.g. suspense) are added at the end so that existing
/// encodings of the kinds do not change.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum AccountKind {
    /// A user's e-money wallet, opened by an issuing member; never below zero.
    Wallet,
    /// A member's prefunded settlement account at the clearing house; never below zero.
    Settlement,
    /// An issuer's e-money float: debited when e-money is issued, so it may go negative (its
    /// negative balance is the issuer's outstanding e-money liability).
    Float,
    /// A merchant's account at its acquiring member; never below zero.
    Merchant,
    /// A member's net interbank position in one settlement window: credited when the member's
    /// customers receive money from another member's customers, debited when they pay. May go
    /// negative (a net debtor); the positions of a window sum to zero.
    Position,
    /// Fees collected by a member; never below zero.
    Fees,
    /// A merchant hold (authorization). Its four balance fields stay zero: the pending amounts
    /// sit on the payer and the merchant; this entry records the hold's terms and status so that
    /// the state root commits to it.
    Hold,
}

impl AccountKind {
    /// Whether the balance of this kind of account must stay at or above zero.
    pub fn must_stay_nonnegative(&self) -> bool {
        match self {
            AccountKind::Wallet
            | AccountKind::Settlement
            | AccountKind::Merchant
            | AccountKind::Fees
            | AccountKind::Hold => true,
            AccountKind::Float | AccountKind::Position => false,
        }
    }

    /// The purpose label of member-owned accounts with one account per (member, currency), used
    /// by [`AccountId::derived`]; `None` for client-chosen ids (wallets, merchants), positions
    /// (one per window: [`position_id`]) and holds ([`hold_account_id`]).
    pub fn derived_purpose(&self) -> Option<&'static str> {
        match self {
            AccountKind::Settlement => Some("settlement"),
            AccountKind::Float => Some("float"),
            AccountKind::Fees => Some("fees"),
            AccountKind::Wallet
            | AccountKind::Merchant
            | AccountKind::Position
            | AccountKind::Hold => None,
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
    /// The member whose liability (wallet, merchant, float) or asset (settlement, fees) this is;
    /// for a position, the member whose obligation it records; for a hold, the payer's issuer.
    pub member: MemberId,
    /// The one currency the account holds.
    pub currency: Currency,
    /// The owner's key (wallet: signs payments out of it; merchant: captures, voids,
    /// refunds); `None` for member accounts and hold entries.
    pub owner: Option<PublicKey>,
    /// Debits reserved by pending holds (a payer wallet's authorizations).
    pub debits_pending: u128,
    /// Debits posted.
    pub debits_posted: u128,
    /// Credits reserved by pending holds (a merchant's authorizations); not spendable.
    pub credits_pending: u128,
    /// Credits posted.
    pub credits_posted: u128,
    /// The height of the block that created the account (0 for genesis accounts).
    pub created_height: Height,
    /// Kind-specific state (alias and limits of a phone wallet, window of a position, terms of a
    /// hold). Part of the leaf, so the state root commits to it.
    pub detail: AccountDetail,
}

/// Kind-specific state of an account.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum AccountDetail {
    /// Nothing beyond the common fields (member accounts, merchants, `CreateWallet` wallets).
    None,
    /// A wallet opened by `RegisterWallet`.
    Wallet(WalletDetail),
    /// A position account.
    Position {
        /// The settlement window the position belongs to.
        window: u64,
    },
    /// A hold.
    Hold(HoldDetail),
}

/// What a phone wallet carries beyond its balance.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WalletDetail {
    /// `HMAC-SHA256(consortium key, E.164 number)`; the number itself is never stored.
    pub alias: Hash,
    /// Which consortium key computed the alias.
    pub alias_key_version: u16,
    /// KYC tier: an index into [`crate::KYC_TIERS`].
    pub tier: u8,
    /// The UTC day (`timestamp_ms / 86_400_000` of consensus time) `day_outflow` counts.
    pub day: u64,
    /// Minor units sent out of the wallet (payments, fees, authorizations) during `day`.
    pub day_outflow: u128,
}

/// Where a hold is in its life. It leaves `Pending` exactly once.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldStatus {
    /// Authorized; the amount is pending on the payer and the merchant.
    Pending,
    /// Captured (all or part); the rest was released.
    Captured,
    /// Voided; everything was released.
    Voided,
    /// Reached its deadline unresolved; everything was released.
    Expired,
}

/// The terms and status of a hold.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct HoldDetail {
    /// The client-chosen hold id.
    pub hold: HoldId,
    /// The payer's wallet.
    pub from: AccountId,
    /// The merchant's account.
    pub merchant: AccountId,
    /// The amount authorized.
    pub amount: Amount,
    /// Consensus time at or after which the hold is expired.
    pub expires_at_ms: u64,
    /// Where the hold is in its life.
    pub status: HoldStatus,
    /// The `Capture` transaction, once captured (refunds name it).
    pub capture_tx: Option<TxId>,
    /// The amount captured (0 unless captured).
    pub captured: u128,
    /// The total refunded so far; never above `captured`.
    pub refunded: u128,
}

/// The id of the position account of `member` (by name) in `currency` for `window`.
pub fn position_id(member: &str, currency: Currency, window: u64) -> AccountId {
    AccountId::derived(&format!("position/{window}"), member, currency)
}

/// The id of the ledger entry of a hold: a hash of the hold id in its own namespace, so that it
/// cannot be chosen to collide with a wallet or merchant id.
pub fn hold_account_id(hold: &HoldId) -> AccountId {
    let mut h = blake3::Hasher::new();
    h.update(b"settlenet/hold-account/v1\0");
    h.update(&hold.0);
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    AccountId(out)
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

    /// What can be spent: `credits_posted - debits_posted - debits_pending` (pending credits
    /// are not spendable until posted).
    pub fn available(&self) -> i128 {
        self.balance().saturating_sub(signed(self.debits_pending))
    }
}
