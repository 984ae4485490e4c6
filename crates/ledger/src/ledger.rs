//! The account state machine: the [`Ledger`] type and its state. Its methods live in one
//! child module per concern; each adds an `impl Ledger` block and shares the private fields.
//!
//! ```text
//! ledger.rs            Ledger (fields, derived indexes), MemberInfo
//! ledger/genesis.rs    from_genesis, restore, restore_verified: build and check the state
//! ledger/apply.rs      precheck, apply_block, per-transaction idempotency and dispatch
//! ledger/staging.rs    Staged: the all-or-nothing copy, posting legs, commit and reindex
//! ledger/wallets.rs    CreateWallet, RegisterWallet (phone aliases), RegisterMerchant
//! ledger/issuance.rs   Issue, Redeem (wallet against the issuer's float)
//! ledger/payments.rs   Transfer, Pay: payer checks, payee by account or alias, KYC limits
//! ledger/holds.rs      Authorize, Capture, Void, Refund, expiry sweep
//! ledger/charges.rs    CreateCharge, ApproveCharge, DeclineCharge, CancelCharge, expiry sweep
//! ledger/clearing.rs   settlement windows, liquidity (funding, caps), window read API
//! ledger/batches.rs    StageBatch, SettleBatch (netting), AbortBatch, batch read API
//! ledger/observers.rs  RegisterObserver, RemoveObserver, the observer read API
//! ledger/queries.rs    reads: accounts, records, members, aliases, proofs, snapshots, totals
//! ```

mod apply;
mod batches;
mod charges;
mod clearing;
mod genesis;
mod holds;
mod issuance;
mod observers;
mod payments;
mod queries;
mod staging;
mod wallets;

pub use batches::BatchStatus;

use crate::account::ObserverDetail;
use crate::history::History;
use crate::outcome::TxRecord;
use crate::state_tree::StateTree;
use settlenet_types::{
    AccountId, BatchId, Currency, Hash, Height, MemberId, MemberKind, PublicKey, Role, TxId,
};
use std::collections::{BTreeMap, BTreeSet};

/// A member as the ledger knows it, from the genesis: identity, payment identifiers and the
/// roles of its staff keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// The member's id (its index in the genesis).
    pub id: MemberId,
    /// The member's name: derived account ids are computed from it.
    pub name: String,
    /// Kind of institution.
    pub kind: MemberKind,
    /// BIC, if any.
    pub bic: Option<String>,
    /// National clearing code, if any.
    pub clearing_id: Option<String>,
    /// Staff keys and the roles each holds.
    pub staff: BTreeMap<PublicKey, BTreeSet<Role>>,
}

/// The ledger: every account, the live transaction records, the history accumulator, and the
/// state tree over them.
///
/// Pure and deterministic: no I/O, clock or randomness; ordered maps only.
#[derive(Clone)]
pub struct Ledger {
    /// Transactions for any other chain are refused.
    chain_id: String,
    /// Currencies the network holds.
    currencies: BTreeSet<Currency>,
    /// Indexed by `MemberId`.
    members: Vec<MemberInfo>,
    /// Derived ids of member accounts (settlement, float, fees, reserve per member and
    /// currency): a wallet may not take one, so a member account created on first use never
    /// collides.
    reserved_ids: BTreeSet<AccountId>,
    /// Record and position ids of every window not yet settled and of the next
    /// [`WINDOWS_RESERVED_AHEAD`] windows after the open one, per currency: a function of the
    /// window records (so a restored ledger computes the same set), refused to new accounts.
    window_ids: BTreeSet<AccountId>,
    /// The open settlement window per currency (derived from the window records; a currency
    /// without one has window 0 open).
    open_windows: BTreeMap<Currency, u64>,
    /// The batch staging in each currency, if any (derived from the batch records).
    staging: BTreeMap<Currency, BatchId>,
    /// Each member's net position per currency summed over all its position accounts: settled
    /// windows' positions are zero, so this is its unsettled net position (derived).
    unsettled: BTreeMap<(MemberId, Currency), i128>,
    /// Phone wallets by `(alias, currency)`: derived from the accounts (rebuilt on restore).
    aliases: BTreeMap<(Hash, Currency), AccountId>,
    /// Wallets and merchant accounts by owner key (derived; rebuilt on restore): lets a user
    /// who holds only their key find their wallet.
    owners: BTreeSet<(PublicKey, AccountId)>,
    /// Hold entries by the id of their `Capture` transaction (derived; rebuilt on restore).
    captures: BTreeMap<TxId, AccountId>,
    /// Pending holds by `(expires_at_ms, hold entry id)`: the expiry sweep's queue (derived).
    expiries: BTreeSet<(u64, AccountId)>,
    /// Pending charge requests by `(expires_at_ms, charge entry id)`: their sweep's queue
    /// (derived).
    charge_expiries: BTreeSet<(u64, AccountId)>,
    /// Approved charge requests by the entry id of their hold (derived): capture, void and
    /// the hold's expiry move the request on.
    charge_holds: BTreeMap<AccountId, AccountId>,
    /// Closed hold and charge entries by `(archive_at_ms, id)`: the archive queue (derived; see
    /// [`crate::account::archive_at_ms`]).
    archive_queue: BTreeSet<(u64, AccountId)>,
    /// Pending charge requests per merchant account (derived; no entry at zero): at most
    /// [`CHARGES_PENDING_PER_MERCHANT_MAX`] each.
    ///
    /// [`CHARGES_PENDING_PER_MERCHANT_MAX`]: crate::CHARGES_PENDING_PER_MERCHANT_MAX
    charges_pending: BTreeMap<AccountId, usize>,
    /// The genesis validators' libp2p peer ids: never registrable as observers.
    validator_peers: BTreeSet<String>,
    /// Active observers by peer id (derived from the observer entries; rebuilt on restore), so
    /// that [`Ledger::observers`] is O(observers). At most [`OBSERVERS_MAX`] entries.
    ///
    /// [`OBSERVERS_MAX`]: crate::OBSERVERS_MAX
    observers: BTreeMap<String, ObserverDetail>,
    /// Sum of balances per currency at genesis; every block must preserve it.
    genesis_totals: BTreeMap<Currency, i128>,
    /// Height of the last executed block (0 = genesis).
    height: Height,
    /// All accounts, by id: in memory, or read through from the node's store
    /// ([`crate::accounts`]).
    accounts: crate::accounts::Accounts,
    /// The live records: one per transaction id still inside its validity (the idempotency
    /// set). A record leaves it once consensus time passes its `valid_until_ms`: no transaction
    /// with that id can execute any more (the id binds the validity), and the record stays in
    /// the history (`history`, and the node's archive).
    records: BTreeMap<TxId, TxRecord>,
    /// The live records by `(valid_until_ms, id)`: the pruning queue (derived).
    record_expiries: BTreeSet<(u64, TxId)>,
    /// The accumulator over every record ever written, block by block (its peaks).
    history: History,
    /// Commitment over `accounts` and the live `records` (with `history`, the state root).
    tree: StateTree,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("chain_id", &self.chain_id)
            .field("height", &self.height)
            .field("state_root", &self.state_root())
            .field("accounts", &self.accounts.len())
            .field("live_records", &self.records.len())
            .field("history", &self.history.size)
            .finish()
    }
}
