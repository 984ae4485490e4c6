//! The constant rule tables: KYC tiers, hold timeouts, per-block bounds, settlement windows.
//!
//! Kept as constants rather than genesis fields so that the genesis encoding (and hash) of
//! existing networks does not change; governance of limits is not built yet.

/// Limits of one KYC tier, in minor units of the wallet's currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierLimits {
    /// Most one payment (amount plus fee) or authorization may send.
    pub transaction_max: u128,
    /// Most a wallet may send per UTC day of consensus time (payments, fees, authorizations;
    /// a voided or expired authorization still counts: the allowance is used when authorized).
    pub daily_max: u128,
}

/// KYC tiers, indexed by `RegisterWallet::tier`. With a 2-decimal currency: tier 0 (phone
/// number only) 100.00 per payment and 500.00 a day; tier 1 (ID checked) 1,000.00 and
/// 5,000.00; tier 2 (full KYC) 10,000.00 and 50,000.00. `CreateWallet` wallets have no tier and
/// no limits (they predate KYC tiers).
pub const KYC_TIERS: [TierLimits; 3] = [
    TierLimits {
        transaction_max: 10_000,
        daily_max: 50_000,
    },
    TierLimits {
        transaction_max: 100_000,
        daily_max: 500_000,
    },
    TierLimits {
        transaction_max: 1_000_000,
        daily_max: 5_000_000,
    },
];

/// One UTC day in milliseconds: daily limits count by `timestamp_ms / DAY_MS` of the block.
pub const DAY_MS: u64 = 86_400_000;

/// Longest hold timeout accepted (7 days).
pub const HOLD_TIMEOUT_MS_MAX: u64 = 7 * DAY_MS;

/// Most holds expired at the start of one block; the rest expire in the following blocks
/// (earliest deadline first, then by hold entry id). Until swept, an expired hold already
/// refuses capture and void with `hold_expired`.
pub const HOLD_EXPIRIES_PER_BLOCK_MAX: usize = 1024;

/// The settlement window open at genesis in every currency; closing window `w` opens `w + 1`.
pub const FIRST_WINDOW: u64 = 0;

/// How many windows after the open one have their record and position ids reserved (with
/// every window not yet settled): a wallet or merchant cannot be created with one of those ids.
/// Ids are public hashes, so a window further ahead could be squatted by an issuer on purpose;
/// `close_window` then refuses to open it (`account_exists`) rather than mix the accounts.
pub const WINDOWS_RESERVED_AHEAD: u64 = 64;

/// Most active observer nodes one member may sponsor; `register_observer` beyond it fails
/// `too_many_observers`. Validators keep every active peer id in their connection allow-list,
/// so the list is bounded per member (one member cannot crowd out the others)...
pub const OBSERVERS_PER_MEMBER_MAX: usize = 64;

/// ...and in all: at most this many active observers on the network.
pub const OBSERVERS_MAX: usize = 1_024;

/// Longest a charge request may wait for its payer (one day).
pub const CHARGE_TIMEOUT_MS_MAX: u64 = DAY_MS;

/// Most charge requests expired at the start of one block (the rest in the following blocks,
/// earliest first). Until swept, an expired request already refuses approval.
pub const CHARGE_EXPIRIES_PER_BLOCK_MAX: usize = 1024;

/// Most pending charge requests one merchant may have at once; `create_charge` beyond it fails
/// `too_many_charges`. Bounds what one merchant key (or a thief of it) can make every validator
/// hold and sweep.
pub const CHARGES_PENDING_PER_MERCHANT_MAX: usize = 10_000;

/// How long after its hold's deadline a capture can still be refunded (180 days); a later
/// `refund` fails `refund_window_closed`, and a day later the hold's entry leaves the ledger's
/// state for the node's archive (it no longer needs to be in memory).
pub const REFUND_WINDOW_MS: u64 = 180 * DAY_MS;

/// How long a closed entry nothing can change any more stays in the ledger's state before it
/// is archived: a voided or expired hold after its deadline, a final charge request after its
/// last change (one day, for clients still reading it).
pub const CLOSED_ENTRY_KEEP_MS: u64 = DAY_MS;

/// Most closed hold and charge entries archived at the start of one block (earliest first; the
/// rest in the following blocks).
pub const ARCHIVED_PER_BLOCK_MAX: usize = 1024;
