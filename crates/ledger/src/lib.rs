//! # settlenet-ledger
//!
//! ## Overview
//! The account state machine of SettleNet: given the genesis and the committed blocks in order,
//! every node computes the same accounts, the same per-transaction results and the same state
//! root. This issue covers the basics: member settlement and float accounts (from the genesis),
//! wallets (`CreateWallet`), issuing e-money into a wallet (`Issue`, issuer float -> wallet) and
//! wallet-to-wallet transfers (`Transfer`). Phone-number aliases, holds, refunds and settlement
//! windows come later and slot in as new operations, account kinds and result codes (added at the
//! end of each enum, so existing encodings and roots do not change).
//!
//! ```text
//!   node ──precheck(tx)──────────────▶ mempool admission (stateless, no signature check)
//!   node ──apply_block(h, ts, txs)───▶ Ledger ──▶ BlockOutcome { outcomes, changed_accounts,
//!         (signatures already                                     new_records, state_root }
//!          batch-verified)                              │
//!   storage ◀───────────── persists changed_accounts + new_records at h
//!   restart: Ledger::restore(genesis, h, accounts, records)  (root recomputed and checked)
//! ```
//!
//! ## Design
//! - **Pure.** No I/O, clock or randomness; `BTreeMap`/`BTreeSet` only, so nothing depends on
//!   hash seeds. Consensus time arrives as `timestamp_ms`; nothing reads a wall clock.
//! - **Accounts** carry TigerBeetle's four fields (`debits_pending`, `debits_posted`,
//!   `credits_pending`, `credits_posted`) in integer minor units (`u128`, each kept at or below
//!   `i128::MAX` so that `balance()` is exact). Member accounts have derived ids
//!   (`AccountId::derived("settlement" | "float", member name, currency)`); those ids are reserved
//!   and no wallet may take one. An issuer's float is created on its first `Issue` if the genesis
//!   did not list it.
//! - **Execution of one transaction**: (1) idempotency: a known id with the same body hash returns
//!   the first result (`duplicate: true`), with a different body `exists_with_different_body`;
//!   neither changes anything or writes a record; (2) the stateless checks of
//!   [`Ledger::precheck`]; (3) the operation's checks in a fixed order (existence, kind,
//!   authorization, then amounts), all *before* the first write; (4) a [`TxRecord`] with the
//!   result, success or failure, so a failed id stays failed.
//! - **Authorization**: `CreateWallet` and `Issue` must be signed by a staff key of the issuing
//!   member holding `Role::Issuer` (for `Issue`, the wallet's issuer); `Transfer` by the owner key
//!   of the payer wallet. The ledger trusts that signatures were verified by the caller.
//! - **State root** ([`state_tree`]): 2^16 buckets chosen by `blake3(id)[0..2]`, each bucket hash
//!   over its sorted `(id, leaf)` list, a fixed binary Merkle tree of depth 16 above them with
//!   precomputed empty subtrees. Only dirty buckets and their paths are rehashed per block. An
//!   [`AccountProof`] is the bucket's entries plus 16 sibling hashes.
//!
//! ## Invariants
//! - A rejected transaction changes no account; its only trace is its record.
//! - Money is conserved per currency: [`Ledger::totals`] equals the genesis totals after every
//!   block (asserted in debug builds; checked by [`Ledger::restore`]).
//! - Wallets and settlement accounts never go below zero (asserted after every block); floats may
//!   (a float's negative balance is its issuer's outstanding e-money).
//! - The state root depends only on the set of accounts, not on insertion order; a ledger
//!   restored from its persisted accounts and records has the same root.
//! - Heights advance by exactly one per block (asserted).
//!
//! ## Using it (node and storage)
//! - Verify every signature of a block (e.g. `settlenet_crypto::verify_transactions`) before
//!   [`Ledger::apply_block`]; the ledger only checks that the named signer is *allowed*.
//! - Apply heights in order, exactly once each (`height == ledger.height() + 1`, asserted).
//! - Persist `changed_accounts` and `new_records` of each [`BlockOutcome`] atomically with the
//!   height. Genesis accounts need not be persisted: [`Ledger::restore`] takes them from the
//!   genesis unless a stored version replaces them.
//! - [`Ledger::precheck`] is for mempool admission only; a transaction that passes it can still
//!   fail in its block, and one that fails it inside a block is recorded as failed.
//! - `Ledger` is `Clone` (e.g. for speculative execution) but a clone copies the 4 MiB tree.
//!
//! ## Bounds
//! Everything per block is bounded by the block's transaction count. The account set and the
//! transaction record index grow with history: records are never pruned in this version (they are
//! what makes retries idempotent), so memory grows by one record per executed id. A later issue
//! bounds this (e.g. ids expire after a window of heights). The state root commits to accounts
//! only, not to records.
//!
//! Transaction ids are global, as in TigerBeetle, whose clients are trusted. Here anyone who sees
//! a pending id (e.g. in a gossiped mempool) can spend it first with a body of their own, which
//! fails (`forbidden_signer`) but leaves the honest transaction `exists_with_different_body`; a
//! later issue may scope ids by signer.

pub mod account;
pub mod error;
mod ledger;
pub mod limits;
pub mod outcome;
pub mod state_tree;

pub use account::{
    hold_account_id, position_id, Account, AccountDetail, AccountKind, HoldDetail, HoldStatus,
    WalletDetail, FIELD_MAX,
};
pub use error::LedgerError;
pub use ledger::{Ledger, MemberInfo};
pub use limits::{
    TierLimits, DAY_MS, FIRST_WINDOW, HOLD_EXPIRIES_PER_BLOCK_MAX, HOLD_TIMEOUT_MS_MAX, KYC_TIERS,
};
pub use outcome::{BlockOutcome, ResultCode, TxOutcome, TxRecord};
pub use state_tree::AccountProof;
