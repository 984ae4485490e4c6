//! # settlenet-ledger
//!
//! ## Overview
//! The account state machine of SettleNet: given the genesis and the committed blocks in order,
//! every node computes the same accounts, the same per-transaction results and the same state
//! root. It knows the consortium's members and their staff keys' roles (from the genesis),
//! phone-number wallets with KYC limits, e-money issue and redemption against issuer floats,
//! payments addressed by account or phone alias that record interbank obligations in
//! settlement-window positions, and merchant payments (authorize, capture, void, expiry,
//! refund). Settlement of windows (close, net, settle) is the next issue.
//!
//! ```text
//!   node ──precheck(tx)──────────────▶ mempool admission (stateless, no signature check)
//!   node ──apply_block(h, ts, txs)───▶ Ledger ──▶ BlockOutcome { outcomes, changed_accounts,
//!         (signatures already            │                        new_records, state_root }
//!          batch-verified)               └─ 1. expire holds due at ts (bounded, ordered)
//!                                           2. each tx: idempotency, stateless, operation
//!   storage ◀───────────── persists changed_accounts + new_records at h
//!   restart: Ledger::restore(genesis, h, accounts, records)  (root and indexes recomputed)
//!   catch-up: peer ──ledger.snapshot_chunks(n)──▶ LedgerSnapshot::append ──▶
//!             Ledger::restore_verified(genesis, snapshot, certified state root)
//! ```
//!
//! ## Account kinds ([`AccountKind`])
//! | kind | id | owner | limit | what it is |
//! |---|---|---|---|---|
//! | `Wallet` | client-chosen | user key | >= 0 | e-money, a liability of its issuer; phone wallets carry a [`WalletDetail`] (alias, key version, KYC tier, today's outflow) |
//! | `Settlement` | `derived("settlement", member, ccy)` | - | >= 0 | prefunded liquidity at the clearing house (genesis) |
//! | `Float` | `derived("float", member, ccy)` | - | none | the issuer's float: minus its outstanding e-money |
//! | `Merchant` | client-chosen | merchant key | >= 0 | a merchant at an acquiring member |
//! | `Position` | [`position_id`]`(member, ccy, window)` | - | none | net interbank obligation in one settlement window |
//! | `Fees` | `derived("fees", member, ccy)` | - | >= 0 | fees collected by a member |
//! | `Hold` | [`hold_account_id`]`(hold)` | - | all zero | a hold's terms and status ([`HoldDetail`]); its amount is pending on payer and merchant |
//!
//! Member accounts (float, fees, positions) are created on first use. "Limit" is on
//! `available() = credits_posted - debits_posted - debits_pending`.
//!
//! ## Operations (`settlenet_types::Operation`) and who signs them
//! | operation | signer | effect |
//! |---|---|---|
//! | `CreateWallet` | issuer-role staff of the issuer | a wallet with no alias and no limits |
//! | `RegisterWallet` | issuer-role staff of the issuer | a phone wallet; one per (alias, currency); tier from [`KYC_TIERS`] |
//! | `Issue` / `Redeem` | issuer-role staff of the wallet's issuer | float -> wallet / wallet -> float |
//! | `Transfer` | wallet owner | wallet -> wallet (by account), positions across members, KYC limits |
//! | `Pay` | wallet owner | wallet -> wallet or merchant, by account or alias; optional fee to the payer's issuer's `Fees`; positions across members |
//! | `RegisterMerchant` | acquirer-role staff of the acquirer | a merchant account |
//! | `Authorize` | wallet owner | pending debit on the wallet, pending credit on the merchant, a `Hold` entry expiring at `ts + timeout_ms` |
//! | `Capture` | merchant key, or acquirer-role staff of its acquirer | posts all or part, releases the rest (positions across members) |
//! | `Void` | as `Capture` | releases everything |
//! | `Refund` | as `Capture` | merchant -> payer, linked to the `Capture` tx id; total never above what was captured |
//!
//! Across members, every posted movement between a wallet/merchant of member A and one of
//! member B debits A's position and credits B's for the open window ([`FIRST_WINDOW`] until
//! window closing exists): B's customers now hold e-money A owes. Holds move no position until
//! captured.
//!
//! ## Result codes ([`ResultCode`]), in the order they are checked
//! 1. Idempotency: `exists_with_different_body` (same id, other body; a same-body retry returns
//!    the first result with `duplicate: true`). Neither writes a record.
//! 2. Stateless ([`Ledger::precheck`]): `wrong_chain`, `unsupported_version`, `zero_amount`
//!    (amount or fee), `same_account` (by account), `invalid_timeout` (0 or above
//!    [`HOLD_TIMEOUT_MS_MAX`]).
//! 3. Per operation, existence, kind, authorization, state, then amounts:
//!    `account_not_found`, `not_a_wallet`, `not_a_merchant`, `unknown_payee` (unknown payee
//!    account, or no wallet with this alias in the payer's currency), `unknown_member`,
//!    `forbidden_signer` (not the owner, or not a staff key of that member), `forbidden_role`
//!    (a staff key of that member without the role), `unknown_currency`, `unknown_tier`,
//!    `account_exists`, `alias_exists`, `hold_exists`, `hold_not_found` (also for a refund whose
//!    capture id is unknown), `hold_already_captured`, `hold_already_voided`, `hold_expired`
//!    (also past the deadline but not yet swept), `currency_mismatch`, `capture_exceeds_hold`,
//!    `refund_exceeds_capture`, `exceeds_transaction_limit`, `exceeds_daily_limit`,
//!    `insufficient_funds`, `overflow`.
//!
//! The exact order per operation is in `execute` and pinned by the table tests; the auditor
//! model in `tests/auditor.rs` restates it independently.
//!
//! ## Design
//! - **Pure.** No I/O, clock or randomness; `BTreeMap`/`BTreeSet` only, so nothing depends on
//!   hash seeds. Consensus time arrives as `timestamp_ms`; nothing reads a wall clock.
//! - **Accounts** carry TigerBeetle's four fields (`debits_pending`, `debits_posted`,
//!   `credits_pending`, `credits_posted`) in integer minor units (`u128`, each kept at or below
//!   `i128::MAX` so that `balance()` is exact), plus an [`AccountDetail`] for kind-specific state.
//!   Derived ids are reserved (settlement, float, fees and the first window's positions of every
//!   member and currency) and no client-chosen account may take one.
//! - **All legs or none.** An operation copies the accounts it touches into a staging map,
//!   applies every leg there with checked arithmetic, and writes back only if every leg
//!   succeeded and no account that must stay at or above zero went below.
//! - **Members and roles** come from the genesis ([`MemberInfo`]: kind, BIC, clearing id, staff
//!   keys with roles). The ledger trusts that signatures were verified by the caller and checks
//!   only that the signer is allowed.
//! - **Phone numbers never reach the ledger.** `RegisterWallet` carries
//!   `alias = HMAC-SHA256(K, E.164)` and its key version (`settlenet_types::phone`); the ledger
//!   indexes wallets by `(alias, currency)`.
//! - **KYC limits** ([`KYC_TIERS`], a constant table so the genesis encoding is unchanged):
//!   per transaction (amount + fee) and per UTC day of consensus time (`timestamp_ms /
//!   DAY_MS`), counting payments, fees and authorizations out of the wallet; the day's counter
//!   lives in the wallet, so the root commits to it. `CreateWallet` wallets have no limits.
//! - **Holds** expire by consensus time: at the start of each block, pending holds whose
//!   `expires_at_ms <= timestamp_ms` are released in `(expires_at_ms, entry id)` order, at most
//!   [`HOLD_EXPIRIES_PER_BLOCK_MAX`]; a hold past its deadline refuses capture and void even
//!   before it is swept. A hold leaves `Pending` exactly once.
//! - **Derived indexes** (alias -> wallet, capture tx -> hold, expiry queue) are rebuilt from the
//!   accounts by [`Ledger::restore`]; they hold nothing the accounts do not.
//! - **State root** ([`state_tree`]): `StateRoot.hash(accounts_root || records_root)`, over
//!   two bucketed trees of the same shape, one over the accounts and one over the transaction
//!   records (the idempotency index), with domain-separated leaves and buckets. Each: 2^16
//!   buckets chosen by `blake3(id)[0..2]`, each bucket hash over its sorted `(id, leaf)` list, a
//!   fixed binary Merkle tree of depth 16 above them with precomputed empty subtrees. Only dirty
//!   buckets and their paths are rehashed per block. Two trees rather than one so that an
//!   [`AccountProof`] (the bucket's entries, 16 siblings and the records root) does not grow with
//!   the record history, and a [`RecordProof`] (the same, with the accounts root) does not grow
//!   with the accounts. Holds and positions are accounts, so the root commits to them; records
//!   are committed to, so a [`LedgerSnapshot`] from a peer is verified as a whole by
//!   [`Ledger::restore_verified`] against a certified root.
//!
//! ## Invariants
//! - A rejected transaction changes no account; its only trace is its record.
//! - Money is conserved per currency: the sum of all balances, floats included, equals the
//!   genesis total after every block ([`Ledger::totals`]; asserted in debug builds; checked by
//!   [`Ledger::restore`]). Equivalently, everything but floats sums to the genesis balances
//!   plus issued minus redeemed (fees and positions stay inside).
//! - The positions of a window sum to zero in every currency ([`Ledger::position_totals`];
//!   asserted in debug builds).
//! - Wallets, merchants, fees and settlement accounts never have `available() < 0` (asserted
//!   after every block); floats and positions may go negative.
//! - A hold's refunds never exceed its capture; its capture never exceeds its amount; the
//!   pending fields of payer and merchant equal the sum of their pending holds.
//! - The state root depends only on the sets of accounts and records, not on insertion order; a
//!   ledger restored from its persisted accounts and records has the same root and behaves the
//!   same. A transaction that writes a record changes the root even when it fails; a duplicate
//!   or `exists_with_different_body` changes nothing.
//! - Heights advance by exactly one per block (asserted).
//!
//! ## Using it (node and storage)
//! - Verify every signature of a block (e.g. `settlenet_crypto::verify_transactions`) before
//!   [`Ledger::apply_block`]; the ledger only checks that the named signer is *allowed*.
//! - Apply heights in order, exactly once each (`height == ledger.height() + 1`, asserted),
//!   with the block's consensus timestamp.
//! - Persist `changed_accounts` and `new_records` of each [`BlockOutcome`] atomically with the
//!   height. Genesis accounts need not be persisted: [`Ledger::restore`] takes them from the
//!   genesis unless a stored version replaces them. The account encoding gained `detail` in
//!   issue 4: databases written before must be rebuilt from genesis.
//! - [`Ledger::precheck`] is for mempool admission only; a transaction that passes it can still
//!   fail in its block, and one that fails it inside a block is recorded as failed.
//! - `Ledger` is `Clone` (e.g. for speculative execution) but a clone copies the two 4 MiB trees
//!   and every bucket.
//! - The root's definition changed when records joined it (new `Domain` tags appended): blocks
//!   and databases written before carry roots of the old definition and must be rebuilt.
//!
//! ## Bounds
//! Everything per block is bounded by the block's transaction count plus
//! [`HOLD_EXPIRIES_PER_BLOCK_MAX`] expiries. The account set and the transaction record index
//! grow with history: records are never pruned in this version (they are what makes retries
//! idempotent), so memory grows by one record per executed id, and resolved hold entries stay
//! (refunds need them). A later issue bounds this (e.g. ids and resolved holds expire after a
//! window of heights). The state root commits to both; with 2^16 record buckets, a new record
//! rehashes a bucket of about `records / 65,536` entries.
//!
//! Transaction ids are global, as in TigerBeetle, whose clients are trusted. Here anyone who sees
//! a pending id (e.g. in a gossiped mempool) can spend it first with a body of their own, which
//! fails (`forbidden_signer`) but leaves the honest transaction `exists_with_different_body`; a
//! later issue may scope ids by signer. Hold ids are global in the same way.

pub mod account;
pub mod error;
mod ledger;
pub mod limits;
pub mod netting;
pub mod outcome;
pub mod snapshot;
pub mod state_tree;

pub use account::{
    batch_account_id, chunk_account_id, hold_account_id, position_id, window_account_id, Account,
    AccountDetail, AccountKind, BatchDetail, BatchState, ChunkDetail, HoldDetail, HoldStatus,
    MemberSettlement, Obligation, SettlementDetail, Shortfall, WalletDetail, WindowDetail,
    WindowState, FIELD_MAX,
};
pub use error::LedgerError;
pub use ledger::{BatchStatus, Ledger, MemberInfo};
pub use limits::{
    TierLimits, DAY_MS, FIRST_WINDOW, HOLD_EXPIRIES_PER_BLOCK_MAX, HOLD_TIMEOUT_MS_MAX, KYC_TIERS,
    WINDOWS_RESERVED_AHEAD,
};
pub use outcome::{BlockOutcome, RecordDetail, ResultCode, TxOutcome, TxRecord};
pub use snapshot::{LedgerSnapshot, SNAPSHOT_VERSION};
pub use state_tree::{AccountProof, RecordProof};
