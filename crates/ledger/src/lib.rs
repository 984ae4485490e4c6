//! # settlenet-ledger
//!
//! ## Overview
//! The account state machine of SettleNet: given the genesis and the committed blocks in order,
//! every node computes the same accounts, the same per-transaction results and the same state
//! root. It knows the consortium's members and their staff keys' roles (from the genesis),
//! phone-number wallets with KYC limits, e-money issue and redemption against issuer floats,
//! payments addressed by account or phone alias that record interbank obligations in
//! settlement-window positions, and merchant payments (authorize, capture, void, expiry,
//! refund), and clearing and settlement: settlement windows per currency, batches of
//! interbank instructions staged in chunks and settled atomically by multilateral netting,
//! settlement-account funding and net debit caps. It also keeps the registry of observer
//! nodes: non-validator peers that validators admit because a member sponsored them.
//!
//! ```text
//!   node ──precheck(tx)──────────────▶ mempool admission (stateless, no signature check)
//!   node ──apply_block(h, ts, txs)───▶ Ledger ──▶ BlockOutcome { outcomes, changed_accounts,
//!         (signatures already            │           new_records, pruned_records,
//!          batch-verified)               │           history_nodes, history, state_root }
//!                                        └─ 1. drop live records whose validity ended before ts
//!                                              (blocks with transactions only)
//!                                           2. expire holds due at ts (bounded, ordered)
//!                                           3. each tx: derived id, live-set lookup, validity,
//!                                              stateless checks, operation
//!                                           4. append the block's records to the history (if any)
//!   storage ◀───────────── persists all of it at h (records: archive + live set)
//!   restart: Ledger::restore(genesis, h, accounts, live records, history)
//!   catch-up: peer ──ledger.snapshot_chunks(n)──▶ LedgerSnapshot::append ──▶
//!             Ledger::restore_verified(genesis, snapshot, certified state root)
//! ```
//!
//! ## Layout
//! ```text
//! lib.rs               this overview; the public API is re-exported here
//! account.rs           Account, its kinds and details, derived ids (positions, holds, windows, ...)
//! limits.rs            KYC tiers, hold timeouts, per-block bounds, reserved windows
//! outcome.rs           ResultCode, TxOutcome, TxRecord, BlockOutcome
//! netting.rs           multilateral netting and the unwind plan (pure functions)
//! state_tree.rs        the two bucketed Merkle trees, AccountProof, RecordProof, ArchivedRecordProof
//! history.rs           the history accumulator (Merkle mountain range over blocks' records)
//! snapshot.rs          LedgerSnapshot (catch-up), its parts and checks
//! error.rs             LedgerError
//! ledger.rs            the Ledger type: its fields and derived indexes; MemberInfo
//! ledger/genesis.rs      from_genesis, restore, restore_verified; structural account checks
//! ledger/apply.rs        precheck, apply_block, idempotency, dispatch of each operation
//! ledger/staging.rs      the all-or-nothing Staged copy, posting legs, commit, reindex
//! ledger/wallets.rs      CreateWallet, RegisterWallet (phone aliases), RegisterMerchant
//! ledger/issuance.rs     Issue, Redeem
//! ledger/payments.rs     Transfer, Pay: payer checks, payee by alias, KYC limits
//! ledger/holds.rs        Authorize, Capture, Void, Refund, the expiry sweep
//! ledger/clearing.rs     windows, funding, net debit caps, window invariants and reads
//! ledger/batches.rs      StageBatch, SettleBatch (netting, unwind), AbortBatch, batch reads
//! ledger/observers.rs    RegisterObserver, RemoveObserver, the active-observer reads
//! ledger/queries.rs      reads: accounts, records, members, aliases, proofs, snapshots, totals
//! test_util.rs         (feature `test-util`) GenesisBuilder, a genesis fixture for tests
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
//! | `Window` | [`window_account_id`]`(ccy, window)` | - | all zero | a settlement window's record ([`WindowDetail`]): state, heights, gross obligation matrix, batch, carried obligations, unwound members, report |
//! | `Batch` | [`batch_account_id`]`(batch)` | - | all zero | a settlement batch ([`BatchDetail`]): window, state, staged chunk numbers, count, policy |
//! | `Chunk` | [`chunk_account_id`]`(batch, n)` | - | all zero | one staged chunk ([`ChunkDetail`]); its instructions are emptied when the batch settles or aborts |
//! | `Reserve` | `derived("reserve", member, ccy)` | - | none | counter-account of funding and withdrawals: minus its balance is the central-bank money the member brought in |
//! | `Observer` | [`observer_account_id`]`(peer_id)` = `derived("observer", peer_id, XXX)` | - | all zero | a registered observer node ([`ObserverDetail`]: peer id, name, sponsor, registered and removed heights); `member` is its sponsor, currency ISO 4217 `XXX` (no money) |
//!
//! A settlement account's detail is `None` (no net debit cap: unlimited) or
//! [`SettlementDetail`] (its cap).
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
//! | `CloseWindow` | clearing-role staff (any member) | the currency's open window -> `Closed`; `window + 1` opens |
//! | `StageBatch` | clearing-role staff | one chunk (1..=2,000 instructions, number < 64) of a batch for a closed window; nothing moves |
//! | `SettleBatch` | clearing-role staff | nets the window's obligations plus the staged instructions and moves every settlement account in one step (policy `reject` or `unwind`) |
//! | `AbortBatch` | clearing-role staff | a staging batch -> `Aborted`, its chunks emptied, its window back to `Closed` |
//! | `FundSettlement` / `WithdrawSettlement` | clearing-role staff | settlement account +/- amount against the member's `Reserve` |
//! | `SetNetDebitCap` | clearing-role staff | sets or removes the member's cap in a currency |
//! | `RegisterObserver` | staff of `member` (any role) | an active `Observer` entry for a libp2p peer id, sponsored by `member` (or a removed one reactivated); not a validator's peer id, not already active; at most [`OBSERVERS_PER_MEMBER_MAX`] active per member and [`OBSERVERS_MAX`] in all |
//! | `RemoveObserver` | staff of `member` (any role), the observer's sponsor | the entry gets its `removed_height`; validators stop admitting the peer |
//! | `CreateCharge` | merchant key, or acquirer-role staff of its acquirer | a pending `Charge` entry (amount, reference, optional payer, expiry at `ts + timeout_ms`); at most [`CHARGES_PENDING_PER_MERCHANT_MAX`] pending per merchant |
//! | `ApproveCharge` | owner of `from` (the named payer, if any) | a hold of exactly the requested amount on `from` (as `Authorize`, `hold_timeout_ms`); the charge -> `approved` |
//! | `DeclineCharge` | owner of `from`, the charge's named payer | the charge -> `declined` |
//! | `CancelCharge` | as `CreateCharge` | a pending charge -> `cancelled` |
//!
//! A charge follows its hold: `Capture` of it -> `completed`, `Void` -> `voided`, its expiry ->
//! `expired`; a pending charge whose time runs out is swept to `expired` at the start of a block
//! (at most [`CHARGE_EXPIRIES_PER_BLOCK_MAX`] a block; until swept it already refuses approval).
//!
//! Across members, every posted movement between a wallet/merchant of member A and one of
//! member B debits A's position and credits B's for the currency's open window, and adds the
//! amount to that window's gross matrix entry A -> B: B's customers now hold e-money A owes.
//! Holds move no position until captured. The same step checks A's net debit cap: A's
//! unsettled net position over all windows not yet settled, after the payment, must not be a
//! debit above the cap (`net_debit_cap_exceeded`). Only the paying side is checked (a member
//! above its cap, e.g. after the cap was lowered, may still receive); authorizations are not
//! checked (their capture is).
//!
//! ## Clearing and settlement
//! ```text
//!  window w:  Open ──close_window──▶ Closed ──stage_batch──▶ Settling ──settle_batch──▶ Settled
//!                  (w+1 opens)          ▲                        │
//!                                       └──────abort_batch───────┘  (batch -> Aborted)
//!  batch:     Staging ──settle_batch──▶ Settled      Staging ──abort_batch──▶ Aborted
//! ```
//! - **Windows per currency.** Window 0 is open at genesis in every currency; its record is
//!   created by its first obligation (or its close). Closing `w` (the operation names `w`, so a
//!   retried close under a new id cannot close two windows) creates `w + 1`'s record. Several
//!   windows may be closed and awaiting settlement at once; they settle in any order.
//! - **The matrix.** A window's record holds the gross bilateral obligations debtor -> creditor
//!   (at most one entry per ordered pair: members^2), updated in place on commit (not cloned
//!   per payment). Its position accounts always equal the matrix's net positions (asserted in
//!   debug builds after every block).
//! - **Batches.** A batch has a client-chosen id, one currency and one window; a currency
//!   stages at most one batch at a time (`settlement_in_progress`), which bounds staged data to
//!   currencies x 64 chunks x 2,000 instructions. A 100,000-instruction file is 50 chunks, staged
//!   in any order, each at most once; `SettleBatch` names the count of chunks and instructions
//!   and the digest ([`settlenet_types::batch_digest`]: `SettlementBatch`-domain blake3 over
//!   the batch id, currency, window and every instruction in chunk order), so exactly the
//!   submitted file settles. A batch with no chunk settles the window's obligations alone
//!   (the common case) with `chunks = 0`, `instructions = 0`.
//! - **Settling** (one transaction, all legs staged together): (1) each instruction becomes an
//!   obligation of the window (matrix and positions); a beneficiary wallet (at the creditor) is
//!   credited against the creditor's float, i.e. e-money issued against the funds received;
//!   (2) each member's cover is its settlement balance, capped by its net debit cap;
//!   (3) [`netting::plan_settlement`]: nets = credits - debits over the matrix; a net debtor
//!   whose debit exceeds its cover is short. `reject`: the transaction fails
//!   `settlement_shortfall`, nothing moves, and the record's [`RecordDetail`] names each
//!   short member with debit, balance, cap and shortfall; the batch stays staging, so the
//!   clearing operator can fund the member and settle again under a new transaction id, or
//!   abort. `unwind`: every obligation of the short members (as debtor or creditor) is removed,
//!   nets recomputed, repeated until every remaining debtor covers (at most one round per
//!   member); (4) removed obligations are carried to the currency's open window (its matrix and
//!   positions); (5) every position of the window returns to zero, its counter-legs being the
//!   settlement accounts (the settled nets) and the open window (the carried nets); (6) the
//!   window's record gets the batch, the carried obligations, the unwound members with their
//!   shortfalls and a per-member report ([`MemberSettlement`]: sent, received, net, settled,
//!   carried); the batch becomes `Settled`; its chunks are emptied. An unwind is recorded in the
//!   window, the batch and the transaction record's detail.
//! - Instructions carried by an unwind stay obligations (their beneficiaries were credited in
//!   the step that carried them, as a retail payment's payee is credited before settlement).
//! - **Aborted** belongs to the batch, as in Mojaloop where an aborted settlement returns its
//!   windows to `Closed`: possible only while staging, i.e. before any account moved.
//! - **Liquidity.** `FundSettlement` credits the settlement account and debits the member's
//!   `Reserve` account (created on first use); `WithdrawSettlement` the reverse, never below
//!   zero. Money is conserved per currency: the reserve goes negative.
//! - **Caps.** A member's cap lives in its settlement account's detail (so the root commits to
//!   it); the genesis may set initial caps per member and currency ([`Member::net_debit_caps`],
//!   genesis version 2); no cap means unlimited. Settlement also refuses a debit above the cap.
//! - **Reserved ids.** Window records and positions have derived, public ids. The ids of every
//!   window not yet settled and of the [`WINDOWS_RESERVED_AHEAD`] windows after the open one
//!   are refused to new wallets and merchants (a function of the window records, so a restored
//!   ledger reserves the same); a close whose next window's ids were squatted beyond that
//!   horizon fails `account_exists` rather than mixing accounts.
//!
//! [`Member::net_debit_caps`]: settlenet_types::Member::net_debit_caps
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
//!    `insufficient_funds`, `net_debit_cap_exceeded` (after the legs are staged), `overflow`.
//! 4. Settlement operations. Stateless: `zero_amount` (funding, instruction
//!    amounts), `invalid_chunk` (chunk number >= 64, no instruction or more than 2,000; a
//!    `settle_batch` naming more than 64 chunks), `invalid_instruction` (id not ISO 20022
//!    `Max35Text`: 1 to 35 characters, no control character), `self_instruction`. Then
//!    signer (`forbidden_signer`, `forbidden_role`: a staff key with the `clearing` role of
//!    any member), `unknown_member`, `unknown_currency`; close: `window_not_open`; stage and
//!    settle: `batch_exists` (id used for another currency or window), `batch_finished`
//!    (settled or aborted), `window_not_closed` (open or not yet opened),
//!    `window_already_settled`, `settlement_in_progress` (another batch stages in the
//!    currency); stage: `chunk_exists`, `unknown_member`, `invalid_beneficiary` (not a wallet
//!    of the creditor), `currency_mismatch`; settle: `batch_incomplete` (chunks not exactly
//!    `0..chunks` or another count), `digest_mismatch`, `settlement_shortfall` (policy
//!    `reject`), `overflow`; abort: `unknown_batch`, `batch_finished`; withdraw:
//!    `insufficient_funds`.
//! 5. Observer operations. Stateless: `invalid_peer_id` (not 40 to 64 base58btc characters),
//!    `invalid_observer_name` (not 1 to 64 printable ASCII characters). Then `unknown_member`,
//!    `forbidden_signer` (not a staff key of `member`); register: `validator_peer_id`,
//!    `observer_exists` (active, by any sponsor), `account_exists` (a wallet or merchant took
//!    the id first), `too_many_observers`; remove: `observer_not_found` (never registered, or
//!    removed), `sponsor_mismatch`.
//!
//! The exact order per operation is in its module under `ledger/` (dispatched by `execute` in
//! `ledger/apply.rs`) and pinned by the table tests (`tests/rules.rs`, `tests/retail_table.rs`,
//! `tests/settlement_table.rs`); the auditor model in `tests/auditor_model/` restates the
//! retail rules independently.
//!
//! ## Design
//! - **Pure.** No I/O, clock or randomness; `BTreeMap`/`BTreeSet` only, so nothing depends on
//!   hash seeds. Consensus time arrives as `timestamp_ms`; nothing reads a wall clock.
//! - **Accounts** carry TigerBeetle's four fields (`debits_pending`, `debits_posted`,
//!   `credits_pending`, `credits_posted`) in integer minor units (`u128`, each kept at or below
//!   `i128::MAX` so that `balance()` is exact), plus an [`AccountDetail`] for kind-specific state.
//!   Derived ids are reserved (settlement, float, fees and reserve of every member and
//!   currency, and window ids as described above) and no client-chosen account may take one.
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
//! - **Derived indexes** (alias -> wallet, capture tx -> hold, expiry queue, active observers
//!   by peer id) are rebuilt from the accounts by [`Ledger::restore`]; they hold nothing the
//!   accounts do not.
//! - **Observers** are ledger entries, so every validator admits the same peers at the same
//!   height and a snapshot carries the list. [`Ledger::observers`] reads the active ones from
//!   the index in O(observers), never by scanning the accounts. The peer id is checked as text
//!   only (`settlenet_types::check_peer_id`: this crate does not depend on libp2p). A removed
//!   observer's entry stays (storage has no deletion path), so a re-registration, by any
//!   member, reactivates it.
//! - **State root** ([`state_tree`], [`history`]):
//!   `StateRoot.hash(accounts_root || records_root || history_root)`, over two bucketed trees of
//!   the same shape, one over the accounts and one over the live transaction records (the
//!   idempotency index: ids still inside their validity), with domain-separated leaves and
//!   buckets, and a Merkle mountain range with one leaf per block that wrote records over every record ever
//!   written (the ledger keeps its peaks; [`BlockOutcome::history_nodes`] are persisted by the
//!   node for [`ArchivedRecordProof`]s). Each: 2^16
//!   buckets chosen by `blake3(id)[0..2]`, each bucket hash over its sorted `(id, leaf)` list, a
//!   fixed binary Merkle tree of depth 16 above them with precomputed empty subtrees. Only dirty
//!   buckets and their paths are rehashed per block. Two trees rather than one so that an
//!   [`AccountProof`] (the bucket's entries, 16 siblings and the records root) does not grow with
//!   the record history, and a [`RecordProof`] (the same, with the accounts root) does not grow
//!   with the accounts. Holds, positions, windows, batches and chunks are accounts, so the
//!   root commits to them; records are committed to, so a [`LedgerSnapshot`] from a peer is
//!   verified as a whole by
//!   [`Ledger::restore_verified`] against a certified root.
//!
//! ## Invariants
//! - A rejected transaction changes no account; its only trace is its record (none for
//!   `id_not_derived`, `expired` and `validity_too_long`, which a block refuses unrecorded).
//! - An id executes at most once, ever: while its validity lasts its record is live (a replay
//!   is a duplicate); after it, every transaction with that id is `expired` (the id binds the
//!   validity), so its record can leave the live set.
//! - Money is conserved per currency: the sum of all balances, floats included, equals the
//!   genesis total after every block ([`Ledger::totals`]; asserted in debug builds; checked by
//!   [`Ledger::restore`]). Equivalently, everything but floats sums to the genesis balances
//!   plus issued minus redeemed (fees and positions stay inside).
//! - The positions of every window sum to zero in every currency
//!   ([`Ledger::all_position_totals`]); an unsettled window's positions equal its matrix's net
//!   positions; a settled window's positions are all zero; one open window per currency, the
//!   latest (asserted in debug builds after every block). A member's unsettled net position
//!   ([`Ledger::unsettled_net`]) is the sum of its positions over all windows.
//! - A settlement batch applies all its legs or none: with `reject` a short debtor fails the
//!   whole transaction; no settlement account ever goes below zero, and no debit exceeds the
//!   debtor's cap. A window's report sums to zero (net, settled, carried) and its gross sent
//!   equals its gross received.
//! - Wallets, merchants, fees and settlement accounts never have `available() < 0` (asserted
//!   after every block); floats, positions and reserves may go negative; windows, batches,
//!   chunks and holds keep all four fields at zero.
//! - A hold's refunds never exceed its capture; its capture never exceeds its amount; the
//!   pending fields of payer and merchant equal the sum of their pending holds.
//! - The state root depends only on the sets of accounts and live records and on the history
//!   (not on insertion order); a ledger restored from its persisted accounts, live records and
//!   history accumulator has the same root and behaves the same. A block that writes records
//!   appends a history leaf; an empty block neither prunes nor appends, so it leaves the root
//!   as it was (unless holds expire in it); a duplicate or `exists_with_different_body`
//!   changes neither the accounts nor the live records.
//! - Active observers never carry a genesis validator's peer id and stay within
//!   [`OBSERVERS_PER_MEMBER_MAX`] per member and [`OBSERVERS_MAX`] in all (checked by
//!   [`Ledger::restore`] too); observer entries hold no money and are left out of
//!   [`Ledger::totals`].
//! - Heights advance by exactly one per block (asserted).
//!
//! ## Using it (node and storage)
//! - Verify every signature of a block (e.g. `settlenet_crypto::verify_transactions`) before
//!   [`Ledger::apply_block`]; the ledger only checks that the named signer is *allowed*.
//! - Apply heights in order, exactly once each (`height == ledger.height() + 1`, asserted),
//!   with the block's consensus timestamp.
//! - Persist `changed_accounts`, `new_records` (archive and live set), `pruned_records` (out of
//!   the live set), `history_nodes` and `history` of each [`BlockOutcome`] atomically with the
//!   height; restart with [`Ledger::restore`] from the accounts, the live records and the
//!   history. Genesis accounts need not be persisted: [`Ledger::restore`] takes them from the
//!   genesis unless a stored version replaces them. The account encoding gained `detail` with
//!   phone wallets and holds, and changed again with clearing and settlement (new kinds and
//!   details, [`TxRecord::detail`], genesis version 2): a database written before either
//!   change must be rebuilt from genesis.
//! - Settlement read API: [`Ledger::open_window`], [`Ledger::window`], [`Ledger::windows`],
//!   [`Ledger::window_report`], [`Ledger::batch`], [`Ledger::batch_instructions`],
//!   [`Ledger::staging_batch_of`], [`Ledger::settlement_account`],
//!   [`Ledger::reserve_account`], [`Ledger::net_debit_cap`], [`Ledger::unsettled_net`],
//!   [`Ledger::all_position_totals`]; [`TxOutcome::detail`] / [`TxRecord::detail`] carry a
//!   settlement's shortfalls.
//! - Observer read API (for the node's connection allow-list and `GET /v1/observers`):
//!   [`Ledger::observers`], [`Ledger::observer`], [`Ledger::observer_count`]. The list changes
//!   only when a block commits; a node re-reads it after each block.
//! - [`Ledger::precheck`] is for mempool admission only; a transaction that passes it can still
//!   fail in its block, and one that fails it inside a block is recorded as failed.
//! - `Ledger` is `Clone` (e.g. for speculative execution). The trees' arrays are kept in
//!   copy-on-write chunks of 512 elements, so a clone shares them and a write copies only the
//!   chunks it touches (a clone still copies the account and live record maps); every new tree starts
//!   as a clone of the one empty tree built per process.
//! - The root's definition changed when records joined it (new `Domain` tags appended): blocks
//!   and databases written before carry roots of the old definition and must be rebuilt.
//!
//! ## Bounds
//! Everything per block is bounded by the block's transaction count plus
//! [`HOLD_EXPIRIES_PER_BLOCK_MAX`] expiries; a `settle_batch` touches at most 128,000
//! instructions (64 chunks x 2,000), members^2 matrix entries, and one position, settlement
//! account and beneficiary wallet per member / instruction. A window record holds at most
//! members^2 obligations and carried entries and one report line per member. Staged chunks
//! are bounded by one staging batch per currency; settled and aborted chunks are emptied but
//! their (small) entries stay, because storage persists changed accounts and has no deletion
//! path yet. Window records accumulate, one per close. The live record set holds at most the
//! transactions of one validity window ([`settlenet_types::TX_VALIDITY_MAX_MS`], one hour):
//! records leave it when their validity ends, so its memory and the cost of a new record (a
//! bucket of about `live / 65,536` entries) do not grow with history; the history accumulator
//! is at most 64 peaks. The account set still grows with what history creates: wallets and
//! merchants (users), and resolved hold entries (refunds need them), window records and chunk
//! entries; moving accounts out of memory (disk-backed state) is not built yet.
//!
//! Active observers are at most [`OBSERVERS_MAX`] (the index, and each validator's
//! allow-list), [`OBSERVERS_PER_MEMBER_MAX`] per sponsor; a registration counts its sponsor's
//! active observers in O(observers). Removed observer entries stay, like emptied chunks, so
//! their number grows with the distinct peer ids ever registered.
//!
//! Transaction ids are scoped by signer (`TxId::derive` over the key, the nonce and the
//! validity), so nobody can take another key's id. Hold ids are global, as in TigerBeetle: a
//! hold id seen in flight can be taken first by another payer's authorize.

pub mod account;
mod accounts;
pub mod error;
pub mod history;
mod ledger;
pub mod limits;
pub mod netting;
pub mod outcome;
pub mod snapshot;
pub mod state_tree;
#[cfg(feature = "test-util")]
pub mod test_util;

pub use account::{
    batch_account_id, charge_account_id, chunk_account_id, hold_account_id, observer_account_id,
    position_id, window_account_id, Account, AccountDetail, AccountKind, BatchDetail, BatchState,
    ChargeDetail, ChargeStatus, ChunkDetail, HoldDetail, HoldStatus, MemberSettlement, Obligation,
    ObserverDetail, SettlementDetail, Shortfall, WalletDetail, WindowDetail, WindowState,
    FIELD_MAX,
};
pub use accounts::{AccountCacheStats, AccountStore, ACCOUNT_CACHE_DEFAULT};
pub use error::LedgerError;
pub use history::{History, HistoryNode, HistoryProof};
pub use ledger::{BatchStatus, Ledger, MemberInfo};
pub use limits::{
    TierLimits, ARCHIVED_PER_BLOCK_MAX, CHARGES_PENDING_PER_MERCHANT_MAX,
    CHARGE_EXPIRIES_PER_BLOCK_MAX, CHARGE_TIMEOUT_MS_MAX, CLOSED_ENTRY_KEEP_MS, DAY_MS,
    FIRST_WINDOW, HOLD_EXPIRIES_PER_BLOCK_MAX, HOLD_TIMEOUT_MS_MAX, KYC_TIERS, OBSERVERS_MAX,
    OBSERVERS_PER_MEMBER_MAX, REFUND_WINDOW_MS, WINDOWS_RESERVED_AHEAD,
};
pub use outcome::{BlockOutcome, RecordDetail, ResultCode, TxOutcome, TxRecord};
pub use snapshot::{LedgerSnapshot, SNAPSHOT_VERSION};
pub use state_tree::{AccountProof, ArchivedRecordProof, RecordProof};
