//! Accounts: TigerBeetle's four balance fields, plus who owns the account.

use serde::{Deserialize, Serialize};
use settlenet_types::{
    AccountId, Amount, BatchId, ChargeId, Currency, Hash, Height, HoldId, MemberId, PublicKey,
    SettlementInstruction, SettlementPolicy, TxId,
};

/// Largest value any of the four balance fields may hold. Keeping every field within `i128`
/// makes [`Account::balance`] exact; a transaction that would exceed it fails with
/// [`crate::ResultCode::Overflow`].
pub const FIELD_MAX: u128 = i128::MAX as u128;

/// What an account is for. New kinds (e.g. suspense) are added at the end so that existing
/// encodings of the kinds do not change.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
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
    // ---- Appended with clearing and settlement. ----
    /// A settlement window's record ([`WindowDetail`]): state, heights, the gross obligation
    /// matrix and, once settled, the batch and each member's settlement. Balance fields zero.
    Window,
    /// A settlement batch's record ([`BatchDetail`]). Balance fields zero.
    Batch,
    /// One staged chunk of a batch's instructions ([`ChunkDetail`]); emptied once the batch
    /// settles or is aborted. Balance fields zero.
    Chunk,
    /// A member's reserve (funding) account in a currency: the counter-account of
    /// `FundSettlement` (debited) and `WithdrawSettlement` (credited). May go negative: minus
    /// its balance is the central-bank money the member brought in. The sum over members is the
    /// clearing house's reserve.
    Reserve,
    // ---- Appended with observer nodes. ----
    /// A registered observer node ([`ObserverDetail`]): a libp2p peer id that validators admit
    /// although it is no validator. Id [`observer_account_id`]`(peer_id)`, currency
    /// [`Currency::NONE`] (`XXX`), `member` its sponsor. Balance fields zero. Kept after
    /// removal (with `removed_height`), so a re-registration reactivates the same entry.
    Observer,
    // ---- Appended with charge requests. ----
    /// A merchant's charge request ([`ChargeDetail`]): amount, reference, payer, expiry and
    /// status. Id [`charge_account_id`]`(charge)`; `member` the merchant's acquirer, currency the
    /// merchant's. Balance fields zero.
    Charge,
}

impl AccountKind {
    /// Whether the balance of this kind of account must stay at or above zero.
    pub fn must_stay_nonnegative(&self) -> bool {
        match self {
            AccountKind::Wallet
            | AccountKind::Settlement
            | AccountKind::Merchant
            | AccountKind::Fees
            | AccountKind::Hold
            | AccountKind::Window
            | AccountKind::Batch
            | AccountKind::Chunk
            | AccountKind::Observer
            | AccountKind::Charge => true,
            AccountKind::Float | AccountKind::Position | AccountKind::Reserve => false,
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
            AccountKind::Reserve => Some("reserve"),
            AccountKind::Wallet
            | AccountKind::Merchant
            | AccountKind::Position
            | AccountKind::Hold
            | AccountKind::Window
            | AccountKind::Batch
            | AccountKind::Chunk
            | AccountKind::Observer
            | AccountKind::Charge => None,
        }
    }
}

/// One account of the ledger. Its canonical encoding is the leaf of the state tree.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
    // ---- Appended with clearing and settlement. ----
    /// A settlement account with a net debit cap (without one it has `None`: unlimited).
    Settlement(SettlementDetail),
    /// A settlement window's record.
    Window(WindowDetail),
    /// A settlement batch's record.
    Batch(BatchDetail),
    /// A staged chunk of a batch.
    Chunk(ChunkDetail),
    // ---- Appended with observer nodes. ----
    /// A registered observer node.
    Observer(ObserverDetail),
    // ---- Appended with charge requests. ----
    /// A merchant's charge request.
    Charge(ChargeDetail),
}

/// Where a charge request is in its life: `Pending` until approved, declined, cancelled or
/// expired; an approved request follows its hold (captured: `Completed`, voided: `Voided`,
/// expired uncaptured: `Expired`). Every state but `Pending` and `Approved` is final.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    /// Waiting for the payer.
    Pending,
    /// The payer approved: its hold is pending on the payer's wallet.
    Approved,
    /// The merchant captured the hold (all or part).
    Completed,
    /// The named payer declined.
    Declined,
    /// The merchant cancelled it before it was approved.
    Cancelled,
    /// Consensus time reached its expiry while pending, or its hold's deadline uncaptured.
    Expired,
    /// The merchant voided the approved hold.
    Voided,
}

impl ChargeStatus {
    /// The snake_case name (identical to the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeStatus::Pending => "pending",
            ChargeStatus::Approved => "approved",
            ChargeStatus::Completed => "completed",
            ChargeStatus::Declined => "declined",
            ChargeStatus::Cancelled => "cancelled",
            ChargeStatus::Expired => "expired",
            ChargeStatus::Voided => "voided",
        }
    }

    /// Whether nothing can change it any more.
    pub fn is_final(self) -> bool {
        !matches!(self, ChargeStatus::Pending | ChargeStatus::Approved)
    }
}

/// The terms and status of a charge request (the detail of an [`AccountKind::Charge`] entry).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ChargeDetail {
    /// The client-chosen request id.
    pub charge: ChargeId,
    /// The merchant account paid on capture.
    pub merchant: AccountId,
    /// The amount asked.
    pub amount: Amount,
    /// The merchant's reference (`Max35Text`).
    pub reference: String,
    /// The only wallet that may approve or decline (a phone alias is resolved to its wallet
    /// when the request executes); `None`: any wallet in the currency.
    pub payer: Option<AccountId>,
    /// The key that created it (the merchant's, or its acquirer's staff).
    pub created_by: PublicKey,
    /// Consensus time at or after which a pending request is expired.
    pub expires_at_ms: u64,
    /// The timeout of the hold an approval places.
    pub hold_timeout_ms: u64,
    /// Where the request is in its life.
    pub status: ChargeStatus,
    /// The hold an approval placed, and the wallet it is on (set once approved).
    pub hold: Option<(HoldId, AccountId)>,
    /// The transaction that last changed its status (`None` for a change by consensus time).
    pub status_tx: Option<TxId>,
    /// The height of the block that last changed its status.
    pub status_height: Height,
    /// That block's consensus time (ms): a final request is archived
    /// [`CLOSED_ENTRY_KEEP_MS`](crate::CLOSED_ENTRY_KEEP_MS) after it.
    pub status_ms: u64,
    /// The amount captured (0 unless completed).
    pub captured: u128,
}

/// A registered observer node (the detail of an [`AccountKind::Observer`] entry): a
/// non-validator node whose libp2p peer id validators admit while it is active.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ObserverDetail {
    /// Its libp2p peer id as text (checked by `settlenet_types::check_peer_id`).
    pub peer_id: String,
    /// A label for people (checked by `settlenet_types::check_observer_name`).
    pub name: String,
    /// The member that registered it (the entry's `member`); only its staff may remove it.
    pub sponsor: MemberId,
    /// The height of the block that registered it last (a re-registration sets it again).
    pub registered_height: Height,
    /// The height of the block that removed it; `None` while it is active.
    pub removed_height: Option<Height>,
}

impl ObserverDetail {
    /// Whether validators admit it (registered and not removed since).
    pub fn is_active(&self) -> bool {
        self.removed_height.is_none()
    }
}

/// What a settlement account carries when its member has a net debit cap.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SettlementDetail {
    /// The member's unsettled net debit in this currency (across every window not yet
    /// settled) never exceeds this; a settlement never debits more than this either.
    pub net_debit_cap: Amount,
}

/// Where a settlement window is in its life: `Open -> Closed -> Settling -> Settled`. A batch
/// that is aborted returns its window from `Settling` to `Closed` (as in Mojaloop, where an
/// aborted settlement releases its windows): the `Aborted` state belongs to the batch.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
pub enum WindowState {
    /// Payments across members record their obligations here.
    Open,
    /// Closed by the clearing operator; no new obligation; awaiting a batch.
    Closed,
    /// A batch is staging chunks for it ([`WindowDetail::batch`]).
    Settling,
    /// Settled: final and irrevocable; its positions are zero.
    Settled,
}

/// One gross bilateral obligation: `debtor` owes `creditor` `amount`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct Obligation {
    /// The member whose customers paid (or who owes by instruction).
    pub debtor: MemberId,
    /// The member whose customers were paid.
    pub creditor: MemberId,
    /// Minor units.
    pub amount: u128,
}

/// A member that could not cover its net debit when a batch was applied.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Shortfall {
    /// The member.
    pub member: MemberId,
    /// Its net debit at that point (what it owed the others in net).
    pub debit: u128,
    /// Its settlement account's available balance.
    pub balance: u128,
    /// Its net debit cap, if any.
    pub cap: Option<Amount>,
    /// `debit - min(balance, cap)`: how much it was short.
    pub shortfall: u128,
}

/// One member's line of a window's settlement report. Every column sums to zero over the
/// members except `sent` and `received`, whose sums are equal.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MemberSettlement {
    /// The member.
    pub member: MemberId,
    /// Gross obligations as debtor (payments out, instructions as debtor).
    pub sent: u128,
    /// Gross obligations as creditor.
    pub received: u128,
    /// `received - sent`: the multilateral net position.
    pub net: i128,
    /// What its settlement account moved (credit positive): `net` minus what was carried.
    pub settled: i128,
    /// The part of `net` carried to the next window by an unwind.
    pub carried: i128,
}

/// A settlement window's record (the detail of a [`AccountKind::Window`] entry).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WindowDetail {
    /// The window number (0 is open at genesis; closing `w` opens `w + 1`).
    pub window: u64,
    /// Where it is in its life.
    pub state: WindowState,
    /// The height of the block that opened it (0 for window 0).
    pub opened_height: Height,
    /// The height of the block that closed it.
    pub closed_height: Option<Height>,
    /// The height of the block that settled it.
    pub settled_height: Option<Height>,
    /// The batch staging for it (`Settling`) or that settled it (`Settled`).
    pub batch: Option<BatchId>,
    /// Gross obligations debtor -> creditor, sorted, at most one per pair (so at most
    /// members^2 entries): payments across members while open, plus the batch's instructions
    /// and obligations carried in from unwinds.
    pub obligations: Vec<Obligation>,
    /// Instructions the settling batch added to `obligations`.
    pub instructions: u64,
    /// Obligations removed by an unwind and carried to window `carried_to`.
    pub carried: Vec<Obligation>,
    /// The window the carried obligations went to.
    pub carried_to: Option<u64>,
    /// The members unwound, with their shortfall when removed, in removal order.
    pub unwound: Vec<Shortfall>,
    /// Per-member settlement, by member id (empty until settled).
    pub report: Vec<MemberSettlement>,
}

impl WindowDetail {
    /// A window just opened at `height`, with no obligation.
    pub fn opened(window: u64, height: Height) -> WindowDetail {
        WindowDetail {
            window,
            state: WindowState::Open,
            opened_height: height,
            closed_height: None,
            settled_height: None,
            batch: None,
            obligations: Vec::new(),
            instructions: 0,
            carried: Vec::new(),
            carried_to: None,
            unwound: Vec::new(),
            report: Vec::new(),
        }
    }

    /// Add `o` to the matrix, merging with the entry of the same (debtor, creditor) pair and
    /// keeping the entries sorted. Saturates: an entry never exceeds its debtor's position
    /// debits, which stay at or below `FIELD_MAX`.
    pub fn add_obligation(&mut self, o: Obligation) {
        match self
            .obligations
            .binary_search_by_key(&(o.debtor, o.creditor), |e| (e.debtor, e.creditor))
        {
            Ok(i) => {
                let e = &mut self.obligations[i];
                e.amount = e.amount.saturating_add(o.amount);
            }
            Err(i) => self.obligations.insert(i, o),
        }
    }

    /// Gross sent, gross received and net per member over the matrix (settled and carried
    /// zero until settled), by member id: the window's report before settlement.
    pub fn gross_report(&self) -> Vec<MemberSettlement> {
        let mut rows: std::collections::BTreeMap<MemberId, MemberSettlement> =
            std::collections::BTreeMap::new();
        let row = |m: MemberId| MemberSettlement {
            member: m,
            sent: 0,
            received: 0,
            net: 0,
            settled: 0,
            carried: 0,
        };
        for o in &self.obligations {
            let d = rows.entry(o.debtor).or_insert_with(|| row(o.debtor));
            d.sent = d.sent.saturating_add(o.amount);
            let c = rows.entry(o.creditor).or_insert_with(|| row(o.creditor));
            c.received = c.received.saturating_add(o.amount);
        }
        rows.into_values()
            .map(|mut r| {
                r.net = signed(r.received).saturating_sub(signed(r.sent));
                r
            })
            .collect()
    }
}

/// Where a batch is in its life. It leaves `Staging` exactly once.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Chunks are being staged; nothing has moved.
    Staging,
    /// Applied: every settlement account moved in one step.
    Settled,
    /// Discarded before anything moved.
    Aborted,
}

/// A settlement batch's record (the detail of a [`AccountKind::Batch`] entry).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BatchDetail {
    /// The client-chosen batch id.
    pub batch: BatchId,
    /// The window it settles.
    pub window: u64,
    /// Where it is in its life.
    pub state: BatchState,
    /// The chunk numbers staged, sorted (at most `BATCH_CHUNKS_MAX`).
    pub chunks: Vec<u32>,
    /// Instructions staged in all.
    pub instructions: u64,
    /// The policy it settled with.
    pub policy: Option<SettlementPolicy>,
    /// The height that settled or aborted it.
    pub finished_height: Option<Height>,
    /// The members it unwound.
    pub unwound: Vec<MemberId>,
}

/// A staged chunk (the detail of a [`AccountKind::Chunk`] entry).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ChunkDetail {
    /// Its batch.
    pub batch: BatchId,
    /// Its number.
    pub chunk: u32,
    /// How many instructions it staged (kept after they are dropped).
    pub count: u32,
    /// The instructions while the batch stages; emptied when it settles or is aborted (the
    /// window's record keeps their effect; the entry itself stays, because storage persists
    /// changed accounts and has no deletion path yet).
    pub instructions: Vec<SettlementInstruction>,
}

/// What a phone wallet carries beyond its balance.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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

/// When a closed entry leaves the ledger's state for the node's archive (consensus time, ms):
/// a captured hold [`CLOSED_ENTRY_KEEP_MS`](crate::CLOSED_ENTRY_KEEP_MS) after its refund
/// window is over (a refund in between fails `refund_window_closed`), a voided or expired hold
/// [`CLOSED_ENTRY_KEEP_MS`](crate::CLOSED_ENTRY_KEEP_MS) after its deadline, a final charge
/// request that long after its last change. `None` for everything else (an open hold or
/// request, every other kind): it stays.
pub fn archive_at_ms(account: &Account) -> Option<u64> {
    match &account.detail {
        AccountDetail::Hold(h) => match h.status {
            HoldStatus::Pending => None,
            HoldStatus::Captured => Some(
                h.expires_at_ms
                    .saturating_add(crate::REFUND_WINDOW_MS)
                    .saturating_add(crate::CLOSED_ENTRY_KEEP_MS),
            ),
            HoldStatus::Voided | HoldStatus::Expired => {
                Some(h.expires_at_ms.saturating_add(crate::CLOSED_ENTRY_KEEP_MS))
            }
        },
        AccountDetail::Charge(c) if c.status.is_final() => {
            Some(c.status_ms.saturating_add(crate::CLOSED_ENTRY_KEEP_MS))
        }
        _ => None,
    }
}

/// The id of the ledger entry of a charge request: a hash of the charge id in its own
/// namespace, so that it cannot be chosen to collide with any other account.
pub fn charge_account_id(charge: &ChargeId) -> AccountId {
    let mut h = blake3::Hasher::new();
    h.update(b"settlenet/charge-account/v1\0");
    h.update(&charge.0);
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    AccountId(out)
}

/// The id of the ledger entry of the observer node with libp2p peer id `peer_id`:
/// `AccountId::derived("observer", peer_id, XXX)`, one entry per peer id.
pub fn observer_account_id(peer_id: &str) -> AccountId {
    AccountId::derived("observer", peer_id, Currency::NONE)
}

/// A namespaced 16-byte id: `blake3(tag || 0 || parts...)[..16]`.
fn namespaced(tag: &[u8], parts: &[&[u8]]) -> AccountId {
    let mut h = blake3::Hasher::new();
    h.update(tag);
    h.update(&[0]);
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    AccountId(out)
}

/// The id of the record of settlement window `window` in `currency`.
pub fn window_account_id(currency: Currency, window: u64) -> AccountId {
    namespaced(
        b"settlenet/window-account/v1",
        &[&currency.0, &window.to_be_bytes()],
    )
}

/// The id of a settlement batch's record.
pub fn batch_account_id(batch: &BatchId) -> AccountId {
    namespaced(b"settlenet/batch-account/v1", &[&batch.0])
}

/// The id of a staged chunk of a batch.
pub fn chunk_account_id(batch: &BatchId, chunk: u32) -> AccountId {
    namespaced(
        b"settlenet/chunk-account/v1",
        &[&batch.0, &chunk.to_be_bytes()],
    )
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
