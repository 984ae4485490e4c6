//! The account state machine: genesis, block execution, restore, proofs.

mod clearing;

pub use clearing::BatchStatus;

use crate::account::{
    batch_account_id, hold_account_id, position_id, window_account_id, Account, AccountDetail,
    AccountKind, BatchState, HoldDetail, HoldStatus, Obligation, SettlementDetail, WalletDetail,
    WindowDetail, WindowState, FIELD_MAX,
};
use crate::error::LedgerError;
use crate::limits::{
    DAY_MS, FIRST_WINDOW, HOLD_EXPIRIES_PER_BLOCK_MAX, HOLD_TIMEOUT_MS_MAX, KYC_TIERS,
};
use crate::outcome::{BlockOutcome, RecordDetail, ResultCode, TxOutcome, TxRecord};
use crate::snapshot::{LedgerSnapshot, SNAPSHOT_VERSION};
use crate::state_tree::{AccountProof, RecordProof, StateTree};
use settlenet_types::{
    AccountId, Amount, BatchId, Currency, Genesis, GenesisAccountKind, Hash, Height, MemberId,
    MemberKind, Operation, Payee, PublicKey, Role, SignedTransaction, Transaction, TxId,
    BATCH_CHUNKS_MAX, SETTLEMENT_CHUNK_MAX, TX_VERSION,
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

/// The ledger: every account, every transaction record, and the state tree over both.
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
    /// Sum of balances per currency at genesis; every block must preserve it.
    genesis_totals: BTreeMap<Currency, i128>,
    /// Height of the last executed block (0 = genesis).
    height: Height,
    /// All accounts, by id.
    accounts: BTreeMap<AccountId, Account>,
    /// One record per transaction id ever executed (grows with history; see the crate docs).
    records: BTreeMap<TxId, TxRecord>,
    /// Commitment over `accounts` and `records`.
    tree: StateTree,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("chain_id", &self.chain_id)
            .field("height", &self.height)
            .field("state_root", &self.state_root())
            .field("accounts", &self.accounts.len())
            .field("records", &self.records.len())
            .finish()
    }
}

/// `value + amount`, refusing results above [`FIELD_MAX`].
fn add(value: u128, amount: u128) -> Result<u128, ResultCode> {
    value
        .checked_add(amount)
        .filter(|v| *v <= FIELD_MAX)
        .ok_or(ResultCode::Overflow)
}

/// `value - amount` for releasing pending amounts, which were added before: a shortfall is a
/// broken invariant.
fn release(value: u128, amount: u128, what: &str) -> u128 {
    match value.checked_sub(amount) {
        Some(v) => v,
        None => panic!("invariant broken: releasing {amount} from {what} {value}"),
    }
}

/// Accounts a transaction is about to write, copied from the ledger (or new), and the
/// obligations it adds to window records. Nothing reaches the ledger unless every check of the
/// operation passed: see [`Ledger::commit`].
#[derive(Default)]
struct Staged {
    /// Staged copies of accounts, by id.
    accounts: BTreeMap<AccountId, Account>,
    /// `(currency, window, obligation, height)` to add to the window's matrix on commit, in
    /// place: a window's matrix holds up to members^2 entries, too many to clone per payment.
    obligations: Vec<(Currency, u64, Obligation, Height)>,
}

impl Staged {
    fn new() -> Staged {
        Staged::default()
    }
}

impl std::ops::Deref for Staged {
    type Target = BTreeMap<AccountId, Account>;
    fn deref(&self) -> &Self::Target {
        &self.accounts
    }
}

impl std::ops::DerefMut for Staged {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.accounts
    }
}

/// A new account with zero balances.
fn blank(
    id: AccountId,
    kind: AccountKind,
    member: MemberId,
    currency: Currency,
    owner: Option<PublicKey>,
    height: Height,
    detail: AccountDetail,
) -> Account {
    Account {
        id,
        kind,
        member,
        currency,
        owner,
        debits_pending: 0,
        debits_posted: 0,
        credits_pending: 0,
        credits_posted: 0,
        created_height: height,
        detail,
    }
}

impl Ledger {
    /// A ledger holding no accounts yet, configured from a validated genesis.
    fn configure(genesis: &Genesis) -> Result<Ledger, LedgerError> {
        genesis
            .validate()
            .map_err(|e| LedgerError::Genesis(e.to_string()))?;
        let currencies: BTreeSet<Currency> = genesis.currencies.iter().map(|c| c.code).collect();
        let members: Vec<MemberInfo> = genesis
            .members
            .iter()
            .map(|m| MemberInfo {
                id: m.id,
                name: m.name.clone(),
                kind: m.kind,
                bic: m.bic.clone(),
                clearing_id: m.clearing_id.clone(),
                staff: m
                    .staff
                    .iter()
                    .map(|s| (s.public_key, s.roles.iter().copied().collect()))
                    .collect(),
            })
            .collect();
        let mut reserved_ids = BTreeSet::new();
        for m in &members {
            for c in &currencies {
                for kind in [
                    AccountKind::Settlement,
                    AccountKind::Float,
                    AccountKind::Fees,
                    AccountKind::Reserve,
                ] {
                    if let Some(purpose) = kind.derived_purpose() {
                        reserved_ids.insert(AccountId::derived(purpose, &m.name, *c));
                    }
                }
            }
        }
        let mut ledger = Ledger {
            chain_id: genesis.chain_id.clone(),
            currencies,
            members,
            reserved_ids,
            window_ids: BTreeSet::new(),
            open_windows: BTreeMap::new(),
            staging: BTreeMap::new(),
            unsettled: BTreeMap::new(),
            aliases: BTreeMap::new(),
            owners: BTreeSet::new(),
            captures: BTreeMap::new(),
            expiries: BTreeSet::new(),
            genesis_totals: BTreeMap::new(),
            height: Height(0),
            accounts: BTreeMap::new(),
            records: BTreeMap::new(),
            tree: StateTree::new(),
        };
        for account in ledger.genesis_accounts(genesis)? {
            ledger.tree.set_account(&account);
            ledger.accounts.insert(account.id, account);
        }
        ledger.tree.commit();
        // Window reservations are computed once the accounts are known (restore recomputes
        // them from the window records): here, genesis has window 0 open everywhere.
        ledger.genesis_totals = ledger.totals();
        Ok(ledger)
    }

    /// The genesis accounts as ledger accounts, checking that member accounts use derived ids.
    fn genesis_accounts(&self, genesis: &Genesis) -> Result<Vec<Account>, LedgerError> {
        let mut out = Vec::with_capacity(genesis.accounts.len());
        for g in &genesis.accounts {
            let kind = match g.kind {
                GenesisAccountKind::Settlement => AccountKind::Settlement,
                GenesisAccountKind::Float => AccountKind::Float,
            };
            let account = Account {
                id: g.id,
                kind,
                member: g.member,
                currency: g.currency,
                owner: None,
                debits_pending: 0,
                debits_posted: 0,
                credits_pending: 0,
                credits_posted: u128::from(g.balance),
                created_height: Height(0),
                detail: AccountDetail::None,
            };
            self.check_account(&account, Height(0))
                .map_err(LedgerError::Genesis)?;
            out.push(account);
        }
        // Net debit caps live in the member's settlement account (created with a zero balance
        // if the genesis lists none), so the state root commits to them.
        for m in &genesis.members {
            for cap in &m.net_debit_caps {
                let id = AccountId::derived("settlement", &m.name, cap.currency);
                let detail = AccountDetail::Settlement(SettlementDetail {
                    net_debit_cap: cap.cap,
                });
                match out.iter_mut().find(|a| a.id == id) {
                    Some(a) if a.kind == AccountKind::Settlement => a.detail = detail,
                    Some(a) => {
                        return Err(LedgerError::Genesis(format!(
                            "account {} is not {}'s settlement account",
                            a.id, m.name
                        )))
                    }
                    None => out.push(blank(
                        id,
                        AccountKind::Settlement,
                        m.id,
                        cap.currency,
                        None,
                        Height(0),
                        detail,
                    )),
                }
            }
        }
        Ok(out)
    }

    /// Structural checks on an account (from the genesis or from storage) at `height`.
    fn check_account(&self, a: &Account, height: Height) -> Result<(), String> {
        let member = self
            .members
            .get(usize::from(a.member.0))
            .ok_or_else(|| format!("account {} names unknown member {}", a.id, a.member))?;
        if !self.currencies.contains(&a.currency) {
            return Err(format!(
                "account {} has unknown currency {}",
                a.id, a.currency
            ));
        }
        let expected_id = match (&a.kind, &a.detail) {
            (
                AccountKind::Settlement
                | AccountKind::Float
                | AccountKind::Fees
                | AccountKind::Reserve,
                AccountDetail::None,
            )
            | (AccountKind::Settlement, AccountDetail::Settlement(_)) => a
                .kind
                .derived_purpose()
                .map(|purpose| AccountId::derived(purpose, &member.name, a.currency)),
            (AccountKind::Position, AccountDetail::Position { window }) => {
                Some(position_id(&member.name, a.currency, *window))
            }
            (AccountKind::Hold, AccountDetail::Hold(h)) => {
                if a.debits_pending != 0
                    || a.debits_posted != 0
                    || a.credits_pending != 0
                    || a.credits_posted != 0
                    || h.refunded > h.captured
                    || h.captured > u128::from(h.amount.0)
                {
                    return Err(format!("hold entry {} has inconsistent amounts", a.id));
                }
                Some(hold_account_id(&h.hold))
            }
            (AccountKind::Window, AccountDetail::Window(w)) => {
                Self::check_zero(a)?;
                Some(window_account_id(a.currency, w.window))
            }
            (AccountKind::Batch, AccountDetail::Batch(b)) => {
                Self::check_zero(a)?;
                Some(batch_account_id(&b.batch))
            }
            (AccountKind::Chunk, AccountDetail::Chunk(c)) => {
                Self::check_zero(a)?;
                Some(crate::account::chunk_account_id(&c.batch, c.chunk))
            }
            (AccountKind::Wallet, AccountDetail::None | AccountDetail::Wallet(_))
            | (AccountKind::Merchant, AccountDetail::None) => None,
            (kind, detail) => {
                return Err(format!(
                    "account {} of kind {kind:?} has detail {detail:?}",
                    a.id
                ))
            }
        };
        match expected_id {
            Some(want) => {
                if a.id != want {
                    return Err(format!(
                        "{:?} account {} of {} in {} must have id {want}",
                        a.kind, a.id, member.name, a.currency
                    ));
                }
                if a.owner.is_some() {
                    return Err(format!("member account {} has an owner key", a.id));
                }
            }
            None => {
                if self.reserved_ids.contains(&a.id) {
                    return Err(format!(
                        "account {} uses a reserved member account id",
                        a.id
                    ));
                }
                if a.owner.is_none() {
                    return Err(format!("account {} has no owner key", a.id));
                }
            }
        }
        if let AccountDetail::Wallet(w) = &a.detail {
            if usize::from(w.tier) >= KYC_TIERS.len() {
                return Err(format!("wallet {} has unknown tier {}", a.id, w.tier));
            }
        }
        let fields = [
            a.debits_pending,
            a.debits_posted,
            a.credits_pending,
            a.credits_posted,
        ];
        if fields.iter().any(|f| *f > FIELD_MAX) {
            return Err(format!(
                "account {} has a balance field above the limit",
                a.id
            ));
        }
        if a.kind.must_stay_nonnegative() && a.available() < 0 {
            return Err(format!("account {} is below zero", a.id));
        }
        if a.created_height > height {
            return Err(format!(
                "account {} was created at {} after height {height}",
                a.id, a.created_height
            ));
        }
        Ok(())
    }

    /// Record entries (windows, batches, chunks) keep their four balance fields at zero.
    fn check_zero(a: &Account) -> Result<(), String> {
        if a.debits_pending != 0
            || a.debits_posted != 0
            || a.credits_pending != 0
            || a.credits_posted != 0
        {
            return Err(format!("record entry {} has nonzero balances", a.id));
        }
        Ok(())
    }

    /// Validate `genesis` and create its accounts at height 0.
    pub fn from_genesis(genesis: &Genesis) -> Result<Ledger, LedgerError> {
        let mut ledger = Ledger::configure(genesis)?;
        for a in ledger.accounts.values().cloned().collect::<Vec<_>>() {
            ledger.reindex(None, &a);
        }
        ledger.reserve_all_windows();
        Ok(ledger)
    }

    /// Rebuild from persisted parts (after a restart): accounts and tx records as stored, at
    /// `height`.
    ///
    /// `accounts` may be every account, or only those changed since genesis (the union of the
    /// blocks' `changed_accounts`): a genesis account not listed keeps its genesis value. The
    /// parts are checked (ids, members, currencies, limits, no id twice, money conserved per
    /// currency); the state tree is recomputed from scratch, O(accounts + records). The parts
    /// are trusted to be what this node itself executed: to accept state from a peer, use
    /// [`Ledger::restore_verified`], which also checks the root.
    pub fn restore(
        genesis: &Genesis,
        height: Height,
        accounts: Vec<Account>,
        records: Vec<(TxId, TxRecord)>,
    ) -> Result<Ledger, LedgerError> {
        let bad = |s: String| Err(LedgerError::Restore(s));
        let mut ledger = Ledger::configure(genesis)?;
        ledger.height = height;
        let mut seen = BTreeSet::new();
        for account in accounts {
            if !seen.insert(account.id) {
                return bad(format!("account {} given twice", account.id));
            }
            ledger
                .check_account(&account, height)
                .map_err(LedgerError::Restore)?;
            ledger.tree.set_account(&account);
            ledger.accounts.insert(account.id, account);
        }
        for (id, record) in records {
            if record.height.0 == 0 || record.height > height {
                return bad(format!(
                    "record {id} has height {} outside 1..={height}",
                    record.height
                ));
            }
            ledger.tree.set_record(&id, &record);
            if ledger.records.insert(id, record).is_some() {
                return bad(format!("record {id} given twice"));
            }
        }
        ledger.tree.commit();
        let all: Vec<Account> = ledger.accounts.values().cloned().collect();
        for account in &all {
            if let AccountDetail::Wallet(w) = &account.detail {
                if ledger.aliases.contains_key(&(w.alias, account.currency)) {
                    return bad(format!(
                        "alias {} registered twice in {}",
                        w.alias, account.currency
                    ));
                }
            }
            if let AccountDetail::Hold(h) = &account.detail {
                let party = |id: &AccountId, kind: AccountKind| {
                    ledger
                        .accounts
                        .get(id)
                        .is_some_and(|a| a.kind == kind && a.currency == account.currency)
                };
                if !party(&h.from, AccountKind::Wallet)
                    || !party(&h.merchant, AccountKind::Merchant)
                {
                    return bad(format!(
                        "hold entry {} names a missing payer or merchant",
                        account.id
                    ));
                }
            }
            ledger.reindex(None, account);
        }
        let mut open = BTreeMap::new();
        for a in ledger.accounts.values() {
            if let AccountDetail::Window(w) = &a.detail {
                if w.state == WindowState::Open && open.insert(a.currency, w.window).is_some() {
                    return bad(format!("two open windows in {}", a.currency));
                }
            }
        }
        for a in ledger.accounts.values() {
            if let AccountDetail::Window(w) = &a.detail {
                let o = open.get(&a.currency).copied().unwrap_or(FIRST_WINDOW);
                if w.window > o {
                    return bad(format!(
                        "window {} of {} is after the open window {o}",
                        w.window, a.currency
                    ));
                }
            }
        }
        ledger.reserve_all_windows();
        let totals = ledger.totals();
        if totals != ledger.genesis_totals {
            return bad(format!(
                "money is not conserved: totals {totals:?}, genesis {:?}",
                ledger.genesis_totals
            ));
        }
        Ok(ledger)
    }

    /// Height of the last executed block (0 before any).
    pub fn height(&self) -> Height {
        self.height
    }

    /// The chain id transactions must carry.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The state root: commitment over all accounts and all transaction records after the last
    /// executed block (`StateRoot.hash(accounts_root || records_root)`, see [`crate::state_tree`]).
    pub fn state_root(&self) -> Hash {
        self.tree.root()
    }

    /// Root of the accounts tree alone (one half of [`Ledger::state_root`]).
    pub fn accounts_root(&self) -> Hash {
        self.tree.accounts_root()
    }

    /// Root of the records tree alone (the other half of [`Ledger::state_root`]).
    pub fn records_root(&self) -> Hash {
        self.tree.records_root()
    }

    /// An account by id.
    pub fn account(&self, id: &AccountId) -> Option<&Account> {
        self.accounts.get(id)
    }

    /// The record of a transaction id, if it was ever executed.
    pub fn record(&self, id: &TxId) -> Option<&TxRecord> {
        self.records.get(id)
    }

    /// Every account, sorted by id.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    /// Number of accounts.
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// Every transaction record, by id in ascending order.
    pub fn records(&self) -> impl Iterator<Item = (&TxId, &TxRecord)> {
        self.records.iter()
    }

    /// Number of transaction records (grows with history).
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// Cheap stateless checks for mempool admission (chain id, version, nonzero amount, not same
    /// account). Signatures are NOT checked here. Inside a block the same checks run again and a
    /// failure is recorded against the id.
    pub fn precheck(&self, tx: &SignedTransaction) -> Result<(), ResultCode> {
        self.check_stateless(&tx.tx)
    }

    fn check_stateless(&self, tx: &Transaction) -> Result<(), ResultCode> {
        if tx.chain_id != self.chain_id {
            return Err(ResultCode::WrongChain);
        }
        if tx.version != TX_VERSION {
            return Err(ResultCode::UnsupportedVersion);
        }
        let nonzero = |amount: &Amount| {
            if amount.0 == 0 {
                Err(ResultCode::ZeroAmount)
            } else {
                Ok(())
            }
        };
        match &tx.op {
            Operation::CreateWallet { .. }
            | Operation::RegisterWallet { .. }
            | Operation::RegisterMerchant { .. }
            | Operation::Void { .. }
            | Operation::CloseWindow { .. }
            | Operation::AbortBatch { .. }
            | Operation::SetNetDebitCap { .. } => Ok(()),
            Operation::Issue { amount, .. }
            | Operation::Redeem { amount, .. }
            | Operation::Capture { amount, .. }
            | Operation::Refund { amount, .. }
            | Operation::FundSettlement { amount, .. }
            | Operation::WithdrawSettlement { amount, .. } => nonzero(amount),
            Operation::StageBatch {
                chunk,
                instructions,
                ..
            } => {
                if *chunk >= BATCH_CHUNKS_MAX
                    || instructions.is_empty()
                    || instructions.len() > SETTLEMENT_CHUNK_MAX
                {
                    return Err(ResultCode::InvalidChunk);
                }
                for i in instructions {
                    nonzero(&i.amount)?;
                    if !i.id_is_valid() {
                        return Err(ResultCode::InvalidInstruction);
                    }
                    if i.debtor == i.creditor {
                        return Err(ResultCode::SelfInstruction);
                    }
                }
                Ok(())
            }
            Operation::SettleBatch {
                chunks,
                instructions,
                ..
            } => {
                let most = u64::from(BATCH_CHUNKS_MAX) * SETTLEMENT_CHUNK_MAX as u64;
                if *chunks > BATCH_CHUNKS_MAX || *instructions > most {
                    return Err(ResultCode::InvalidChunk);
                }
                Ok(())
            }
            Operation::Transfer { from, to, amount } => {
                nonzero(amount)?;
                if from == to {
                    return Err(ResultCode::SameAccount);
                }
                Ok(())
            }
            Operation::Pay {
                from,
                to,
                amount,
                fee,
            } => {
                nonzero(amount)?;
                if let Some(fee) = fee {
                    nonzero(fee)?;
                }
                if *to == Payee::Account(*from) {
                    return Err(ResultCode::SameAccount);
                }
                Ok(())
            }
            Operation::Authorize {
                from,
                merchant,
                amount,
                timeout_ms,
                ..
            } => {
                nonzero(amount)?;
                if from == merchant {
                    return Err(ResultCode::SameAccount);
                }
                if *timeout_ms == 0 || *timeout_ms > HOLD_TIMEOUT_MS_MAX {
                    return Err(ResultCode::InvalidTimeout);
                }
                Ok(())
            }
        }
    }

    /// Execute a committed block.
    ///
    /// Precondition: every signature was verified by the caller (the node batch-verifies blocks
    /// before voting); the ledger trusts `tx.signer` and checks only that it is *allowed*.
    /// `height` must be `self.height() + 1` (asserted). `timestamp_ms` is consensus time: it
    /// expires holds (swept first, at most [`HOLD_EXPIRIES_PER_BLOCK_MAX`] per block), sets new
    /// holds' deadlines and selects the UTC day of daily limits. Timestamps are expected to
    /// increase (consensus guarantees it); the ledger does not depend on it for safety.
    pub fn apply_block(
        &mut self,
        height: Height,
        timestamp_ms: u64,
        txs: &[SignedTransaction],
    ) -> BlockOutcome {
        assert_eq!(
            height,
            self.height.next(),
            "blocks must be applied in order: ledger at {}, block at {height}",
            self.height
        );
        let mut outcomes = Vec::with_capacity(txs.len());
        let mut changed = BTreeSet::new();
        let mut new_records = Vec::new();
        self.expire_holds(timestamp_ms, &mut changed);
        for (index, stx) in txs.iter().enumerate() {
            // A block that decodes within the message limit holds far fewer than 2^32 txs.
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            outcomes.push(self.apply_tx(
                height,
                timestamp_ms,
                index,
                &stx.tx,
                &mut changed,
                &mut new_records,
            ));
        }
        let mut changed_accounts = Vec::with_capacity(changed.len());
        for id in &changed {
            if let Some(account) = self.accounts.get(id) {
                self.tree.set_account(account);
                changed_accounts.push(account.clone());
            }
        }
        for (id, record) in &new_records {
            self.tree.set_record(id, record);
        }
        self.tree.commit();
        self.height = height;

        for a in &changed_accounts {
            assert!(
                !a.kind.must_stay_nonnegative() || a.available() >= 0,
                "invariant broken: account {} below zero after block {height}",
                a.id
            );
        }
        // O(accounts): only in debug builds (tests, the simulator).
        debug_assert_eq!(
            self.totals(),
            self.genesis_totals,
            "invariant broken: money not conserved after block {height}"
        );
        #[cfg(debug_assertions)]
        self.assert_window_invariants(height);
        BlockOutcome {
            outcomes,
            changed_accounts,
            new_records,
            state_root: self.tree.root(),
        }
    }

    /// Expire pending holds whose deadline is at or before `now_ms`, earliest first, at most
    /// [`HOLD_EXPIRIES_PER_BLOCK_MAX`]. Releasing only lowers pending fields, so it cannot fail.
    fn expire_holds(&mut self, now_ms: u64, changed: &mut BTreeSet<AccountId>) {
        let due: Vec<AccountId> = self
            .expiries
            .iter()
            .take_while(|(deadline, _)| *deadline <= now_ms)
            .take(HOLD_EXPIRIES_PER_BLOCK_MAX)
            .map(|(_, id)| *id)
            .collect();
        for id in due {
            let mut staged = Staged::new();
            let result = self
                .release_hold(&mut staged, &id, HoldStatus::Expired)
                .map(|_| ());
            match result.and_then(|()| self.commit(staged, changed)) {
                Ok(()) => {}
                Err(code) => panic!("invariant broken: expiring hold entry {id}: {code}"),
            }
        }
    }

    /// Execute one transaction: idempotency, stateless checks, then the operation.
    fn apply_tx(
        &mut self,
        height: Height,
        now_ms: u64,
        index: u32,
        tx: &Transaction,
        changed: &mut BTreeSet<AccountId>,
        new_records: &mut Vec<(TxId, TxRecord)>,
    ) -> TxOutcome {
        let outcome = |result, duplicate, changed: Vec<AccountId>, detail| TxOutcome {
            id: tx.id,
            result,
            duplicate,
            changed,
            detail,
        };
        let Ok(body_hash) = tx.body_hash() else {
            // Encoding fails only beyond the 32 MiB limit, i.e. with a chain id no chain has,
            // and never for a transaction decoded from a block. Nothing to record it under.
            return outcome(ResultCode::WrongChain, false, Vec::new(), None);
        };
        if let Some(record) = self.records.get(&tx.id) {
            return if record.body_hash == body_hash {
                outcome(record.result, true, Vec::new(), record.detail.clone())
            } else {
                outcome(ResultCode::ExistsWithDifferentBody, false, Vec::new(), None)
            };
        }
        // The accounts this transaction changed (empty unless it succeeded: writes are all or
        // none), reported per transaction for the node's account-history index.
        let mut touched = BTreeSet::new();
        let mut detail = None;
        let result = match self
            .check_stateless(tx)
            .and_then(|()| self.execute(height, now_ms, tx, &mut touched, &mut detail))
        {
            Ok(()) => ResultCode::Ok,
            Err(code) => code,
        };
        changed.extend(touched.iter().copied());
        let record = TxRecord {
            body_hash,
            height,
            index,
            result,
            detail: detail.clone(),
        };
        self.records.insert(tx.id, record.clone());
        new_records.push((tx.id, record));
        outcome(result, false, touched.into_iter().collect(), detail)
    }

    /// Whether `signer` may act for `member` in `role`: `unknown_member` if there is no such
    /// member, `forbidden_signer` if the key is not one of its staff keys, `forbidden_role` if
    /// it is but lacks the role.
    fn check_staff(
        &self,
        member: MemberId,
        signer: &PublicKey,
        role: Role,
    ) -> Result<(), ResultCode> {
        let m = self
            .members
            .get(usize::from(member.0))
            .ok_or(ResultCode::UnknownMember)?;
        match m.staff.get(signer) {
            None => Err(ResultCode::ForbiddenSigner),
            Some(roles) if roles.contains(&role) => Ok(()),
            Some(_) => Err(ResultCode::ForbiddenRole),
        }
    }

    /// Capture, void and refund: the merchant's own key, or an acquirer-role staff key of the
    /// merchant's acquirer.
    fn check_merchant_side(
        &self,
        merchant: &Account,
        signer: &PublicKey,
    ) -> Result<(), ResultCode> {
        if merchant.owner == Some(*signer) {
            return Ok(());
        }
        self.check_staff(merchant.member, signer, Role::Acquirer)
    }

    /// The payer checks shared by transfers, payments and authorizations: it exists, is a
    /// wallet and `signer` owns it.
    fn payer(&self, from: &AccountId, signer: &PublicKey) -> Result<&Account, ResultCode> {
        let payer = self.accounts.get(from).ok_or(ResultCode::AccountNotFound)?;
        if payer.kind != AccountKind::Wallet {
            return Err(ResultCode::NotAWallet);
        }
        if payer.owner != Some(*signer) {
            return Err(ResultCode::ForbiddenSigner);
        }
        Ok(payer)
    }

    /// KYC limits of a phone wallet sending `total` at `now_ms`; no limits for other wallets.
    fn check_limits(payer: &Account, total: u128, now_ms: u64) -> Result<(), ResultCode> {
        let AccountDetail::Wallet(w) = &payer.detail else {
            return Ok(());
        };
        let limits = KYC_TIERS
            .get(usize::from(w.tier))
            .ok_or(ResultCode::UnknownTier)?;
        if total > limits.transaction_max {
            return Err(ResultCode::ExceedsTransactionLimit);
        }
        let used = if w.day == now_ms / DAY_MS {
            w.day_outflow
        } else {
            0
        };
        if used.saturating_add(total) > limits.daily_max {
            return Err(ResultCode::ExceedsDailyLimit);
        }
        Ok(())
    }

    /// Count `total` against a staged phone wallet's daily outflow.
    fn count_outflow(payer: &mut Account, total: u128, now_ms: u64) {
        if let AccountDetail::Wallet(w) = &mut payer.detail {
            let today = now_ms / DAY_MS;
            if w.day != today {
                w.day = today;
                w.day_outflow = 0;
            }
            w.day_outflow = w.day_outflow.saturating_add(total);
        }
    }

    /// The staged copy of an existing account.
    fn stage<'s>(
        &self,
        staged: &'s mut Staged,
        id: &AccountId,
    ) -> Result<&'s mut Account, ResultCode> {
        match staged.entry(*id) {
            std::collections::btree_map::Entry::Occupied(e) => Ok(e.into_mut()),
            std::collections::btree_map::Entry::Vacant(e) => {
                let account = self.accounts.get(id).ok_or(ResultCode::AccountNotFound)?;
                Ok(e.insert(account.clone()))
            }
        }
    }

    /// The staged copy of a member account (float, fees, position of the open window), created
    /// with zero balances on first use.
    fn stage_member_account<'s>(
        &self,
        staged: &'s mut Staged,
        kind: AccountKind,
        member: MemberId,
        currency: Currency,
        height: Height,
    ) -> Result<&'s mut Account, ResultCode> {
        let name = &self
            .members
            .get(usize::from(member.0))
            .ok_or(ResultCode::UnknownMember)?
            .name;
        let (id, detail) = match kind.derived_purpose() {
            Some(purpose) => (
                AccountId::derived(purpose, name, currency),
                AccountDetail::None,
            ),
            None => {
                let window = self.open_window(currency);
                (
                    position_id(name, currency, window),
                    AccountDetail::Position { window },
                )
            }
        };
        let account = staged
            .entry(id)
            .or_insert_with(|| match self.accounts.get(&id) {
                Some(a) => a.clone(),
                None => blank(id, kind.clone(), member, currency, None, height, detail),
            });
        debug_assert_eq!(account.kind, kind);
        Ok(account)
    }

    /// Post `amount` from `from` to `to` (same currency, checked by the caller). When their
    /// members differ, the same step records the obligation in the open window: the payer's
    /// member's position is debited and the payee's member's position credited.
    fn post(
        &self,
        staged: &mut Staged,
        from: &AccountId,
        to: &AccountId,
        amount: u128,
        height: Height,
    ) -> Result<(), ResultCode> {
        let payer = self.stage(staged, from)?;
        payer.debits_posted = add(payer.debits_posted, amount)?;
        let (payer_member, currency) = (payer.member, payer.currency);
        let payee = self.stage(staged, to)?;
        payee.credits_posted = add(payee.credits_posted, amount)?;
        let payee_member = payee.member;
        if payer_member != payee_member {
            let debtor = self.stage_member_account(
                staged,
                AccountKind::Position,
                payer_member,
                currency,
                height,
            )?;
            debtor.debits_posted = add(debtor.debits_posted, amount)?;
            let creditor = self.stage_member_account(
                staged,
                AccountKind::Position,
                payee_member,
                currency,
                height,
            )?;
            creditor.credits_posted = add(creditor.credits_posted, amount)?;
            self.check_cap(staged, payer_member, currency)?;
            staged.obligations.push((
                currency,
                self.open_window(currency),
                Obligation {
                    debtor: payer_member,
                    creditor: payee_member,
                    amount,
                },
                height,
            ));
        }
        Ok(())
    }

    /// Release a pending hold's amount from payer and merchant and mark it `status`.
    fn release_hold(
        &self,
        staged: &mut Staged,
        hold_entry: &AccountId,
        status: HoldStatus,
    ) -> Result<HoldDetail, ResultCode> {
        let entry = self.stage(staged, hold_entry)?;
        let AccountDetail::Hold(h) = &mut entry.detail else {
            return Err(ResultCode::HoldNotFound);
        };
        assert_eq!(h.status, HoldStatus::Pending, "releasing a resolved hold");
        h.status = status;
        let h = h.clone();
        let held = u128::from(h.amount.0);
        let payer = self.stage(staged, &h.from)?;
        payer.debits_pending = release(payer.debits_pending, held, "debits_pending");
        let merchant = self.stage(staged, &h.merchant)?;
        merchant.credits_pending = release(merchant.credits_pending, held, "credits_pending");
        Ok(h)
    }

    /// Write staged accounts to the ledger, all or none: if any account that must stay at or
    /// above zero would not, nothing is written and the operation fails `insufficient_funds`.
    fn commit(
        &mut self,
        staged: Staged,
        changed: &mut BTreeSet<AccountId>,
    ) -> Result<(), ResultCode> {
        if staged
            .values()
            .any(|a| a.kind.must_stay_nonnegative() && a.available() < 0)
        {
            return Err(ResultCode::InsufficientFunds);
        }
        let Staged {
            accounts,
            obligations,
        } = staged;
        for (id, account) in accounts {
            let old = self.accounts.insert(id, account.clone());
            self.reindex(old.as_ref(), &account);
            changed.insert(id);
        }
        for (currency, window, o, height) in obligations {
            let id = window_account_id(currency, window);
            let record = self.accounts.entry(id).or_insert_with(|| {
                // Window 0's record is created by its first obligation; later windows' by
                // the close that opened them.
                blank(
                    id,
                    AccountKind::Window,
                    MemberId(0),
                    currency,
                    None,
                    height,
                    AccountDetail::Window(WindowDetail::opened(window, Height(0))),
                )
            });
            match &mut record.detail {
                AccountDetail::Window(w) => w.add_obligation(o),
                other => panic!("invariant broken: window entry {id} holds {other:?}"),
            }
            changed.insert(id);
        }
        Ok(())
    }

    /// Keep the derived indexes (aliases, owners, captures, expiry queue) in step with an
    /// account.
    fn reindex(&mut self, old: Option<&Account>, new: &Account) {
        if let Some(owner) = new.owner {
            self.owners.insert((owner, new.id));
        }
        if new.kind == AccountKind::Position {
            let before = old.map_or(0, |a| a.balance());
            let net = self
                .unsettled
                .entry((new.member, new.currency))
                .or_insert(0);
            *net = net.saturating_add(new.balance().saturating_sub(before));
        }
        if let AccountDetail::Window(w) = &new.detail {
            if w.state == WindowState::Open {
                self.open_windows.insert(new.currency, w.window);
            }
            let w = w.clone();
            self.reindex_window(new.currency, &w);
        }
        if let AccountDetail::Batch(b) = &new.detail {
            if b.state == BatchState::Staging {
                self.staging.insert(new.currency, b.batch);
            } else if self.staging.get(&new.currency) == Some(&b.batch) {
                self.staging.remove(&new.currency);
            }
        }
        if let AccountDetail::Wallet(w) = &new.detail {
            self.aliases.insert((w.alias, new.currency), new.id);
        }
        if let Some(Account {
            detail: AccountDetail::Hold(h),
            ..
        }) = old
        {
            self.expiries
                .remove(&(h.expires_at_ms, old.map_or(new.id, |a| a.id)));
        }
        if let AccountDetail::Hold(h) = &new.detail {
            if h.status == HoldStatus::Pending {
                self.expiries.insert((h.expires_at_ms, new.id));
            }
            if let Some(capture) = h.capture_tx {
                self.captures.insert(capture, new.id);
            }
        }
    }

    /// Run the operation. Checks come in a fixed order (existence, kind, authorization, state,
    /// then amounts); writes go to a staging copy that is committed only if everything passed,
    /// so an `Err` leaves every account untouched.
    fn execute(
        &mut self,
        height: Height,
        now_ms: u64,
        tx: &Transaction,
        changed: &mut BTreeSet<AccountId>,
        detail: &mut Option<RecordDetail>,
    ) -> Result<(), ResultCode> {
        let signer = &tx.signer;
        let mut staged = Staged::new();
        match &tx.op {
            Operation::CloseWindow { currency, window } => {
                self.close_window(&mut staged, height, signer, *currency, *window)?;
            }
            Operation::StageBatch {
                batch,
                currency,
                window,
                chunk,
                instructions,
            } => {
                self.stage_batch(
                    &mut staged,
                    height,
                    signer,
                    batch,
                    *currency,
                    *window,
                    *chunk,
                    instructions,
                )?;
            }
            Operation::SettleBatch {
                batch,
                currency,
                window,
                chunks,
                instructions,
                digest,
                policy,
            } => {
                let request = clearing::SettleRequest {
                    batch: *batch,
                    currency: *currency,
                    window: *window,
                    chunks: *chunks,
                    instructions: *instructions,
                    digest: *digest,
                    policy: *policy,
                };
                self.settle_batch(&mut staged, height, signer, &request, detail)?;
            }
            Operation::AbortBatch { batch } => {
                self.abort_batch(&mut staged, height, signer, batch)?;
            }
            Operation::FundSettlement {
                member,
                currency,
                amount,
            }
            | Operation::WithdrawSettlement {
                member,
                currency,
                amount,
            } => {
                let funding = matches!(tx.op, Operation::FundSettlement { .. });
                self.fund(
                    &mut staged,
                    height,
                    signer,
                    *member,
                    *currency,
                    *amount,
                    funding,
                )?;
            }
            Operation::SetNetDebitCap {
                member,
                currency,
                cap,
            } => {
                self.set_cap(&mut staged, height, signer, *member, *currency, *cap)?;
            }
            Operation::CreateWallet {
                account,
                issuer,
                owner,
                currency,
            } => {
                self.check_staff(*issuer, signer, Role::Issuer)?;
                self.check_new_account(account, currency)?;
                staged.insert(
                    *account,
                    blank(
                        *account,
                        AccountKind::Wallet,
                        *issuer,
                        *currency,
                        Some(*owner),
                        height,
                        AccountDetail::None,
                    ),
                );
            }
            Operation::RegisterWallet {
                account,
                issuer,
                alias,
                alias_key_version,
                owner,
                currency,
                tier,
            } => {
                self.check_staff(*issuer, signer, Role::Issuer)?;
                if !self.currencies.contains(currency) {
                    return Err(ResultCode::UnknownCurrency);
                }
                if usize::from(*tier) >= KYC_TIERS.len() {
                    return Err(ResultCode::UnknownTier);
                }
                self.check_new_account(account, currency)?;
                if self.aliases.contains_key(&(*alias, *currency)) {
                    return Err(ResultCode::AliasExists);
                }
                let detail = AccountDetail::Wallet(WalletDetail {
                    alias: *alias,
                    alias_key_version: *alias_key_version,
                    tier: *tier,
                    day: now_ms / DAY_MS,
                    day_outflow: 0,
                });
                staged.insert(
                    *account,
                    blank(
                        *account,
                        AccountKind::Wallet,
                        *issuer,
                        *currency,
                        Some(*owner),
                        height,
                        detail,
                    ),
                );
            }
            Operation::RegisterMerchant {
                account,
                acquirer,
                owner,
                currency,
            } => {
                self.check_staff(*acquirer, signer, Role::Acquirer)?;
                self.check_new_account(account, currency)?;
                staged.insert(
                    *account,
                    blank(
                        *account,
                        AccountKind::Merchant,
                        *acquirer,
                        *currency,
                        Some(*owner),
                        height,
                        AccountDetail::None,
                    ),
                );
            }
            Operation::Issue { wallet, amount } | Operation::Redeem { wallet, amount } => {
                let w = self
                    .accounts
                    .get(wallet)
                    .ok_or(ResultCode::AccountNotFound)?;
                if w.kind != AccountKind::Wallet {
                    return Err(ResultCode::NotAWallet);
                }
                let (member, currency) = (w.member, w.currency);
                self.check_staff(member, signer, Role::Issuer)?;
                let amount = u128::from(amount.0);
                let issuing = matches!(tx.op, Operation::Issue { .. });
                if !issuing && w.available() < i128::try_from(amount).unwrap_or(i128::MAX) {
                    return Err(ResultCode::InsufficientFunds);
                }
                // The float is created on first use if the genesis did not list it; its id is
                // reserved, so no wallet can hold it.
                let float = self.stage_member_account(
                    &mut staged,
                    AccountKind::Float,
                    member,
                    currency,
                    height,
                )?;
                if issuing {
                    float.debits_posted = add(float.debits_posted, amount)?;
                } else {
                    float.credits_posted = add(float.credits_posted, amount)?;
                }
                let w = self.stage(&mut staged, wallet)?;
                if issuing {
                    w.credits_posted = add(w.credits_posted, amount)?;
                } else {
                    w.debits_posted = add(w.debits_posted, amount)?;
                }
            }
            Operation::Transfer { from, to, amount } => {
                self.pay(
                    &mut staged,
                    height,
                    now_ms,
                    signer,
                    from,
                    &Payee::Account(*to),
                    *amount,
                    None,
                    true,
                )?;
            }
            Operation::Pay {
                from,
                to,
                amount,
                fee,
            } => {
                self.pay(
                    &mut staged,
                    height,
                    now_ms,
                    signer,
                    from,
                    to,
                    *amount,
                    *fee,
                    false,
                )?;
            }
            Operation::Authorize {
                hold,
                from,
                merchant,
                amount,
                timeout_ms,
            } => {
                let entry = hold_account_id(hold);
                if self.accounts.contains_key(&entry) {
                    return Err(ResultCode::HoldExists);
                }
                let payer = self.payer(from, signer)?;
                let m = self
                    .accounts
                    .get(merchant)
                    .ok_or(ResultCode::AccountNotFound)?;
                if m.kind != AccountKind::Merchant {
                    return Err(ResultCode::NotAMerchant);
                }
                if payer.currency != m.currency {
                    return Err(ResultCode::CurrencyMismatch);
                }
                let (member, currency) = (payer.member, payer.currency);
                let amount_u = u128::from(amount.0);
                Self::check_limits(payer, amount_u, now_ms)?;
                if payer.available() < i128::from(amount.0) {
                    return Err(ResultCode::InsufficientFunds);
                }
                let p = self.stage(&mut staged, from)?;
                p.debits_pending = add(p.debits_pending, amount_u)?;
                Self::count_outflow(p, amount_u, now_ms);
                let m = self.stage(&mut staged, merchant)?;
                m.credits_pending = add(m.credits_pending, amount_u)?;
                let detail = AccountDetail::Hold(HoldDetail {
                    hold: *hold,
                    from: *from,
                    merchant: *merchant,
                    amount: *amount,
                    expires_at_ms: now_ms.saturating_add(*timeout_ms),
                    status: HoldStatus::Pending,
                    capture_tx: None,
                    captured: 0,
                    refunded: 0,
                });
                staged.insert(
                    entry,
                    blank(
                        entry,
                        AccountKind::Hold,
                        member,
                        currency,
                        None,
                        height,
                        detail,
                    ),
                );
            }
            Operation::Capture { hold, .. } | Operation::Void { hold } => {
                let entry = hold_account_id(hold);
                let h = self.pending_hold(&entry, signer, now_ms)?;
                let (status, capture) = match &tx.op {
                    Operation::Capture { amount, .. } => {
                        if amount.0 > h.amount.0 {
                            return Err(ResultCode::CaptureExceedsHold);
                        }
                        (HoldStatus::Captured, Some(u128::from(amount.0)))
                    }
                    _ => (HoldStatus::Voided, None),
                };
                self.release_hold(&mut staged, &entry, status)?;
                if let Some(amount) = capture {
                    self.post(&mut staged, &h.from, &h.merchant, amount, height)?;
                    let e = self.stage(&mut staged, &entry)?;
                    if let AccountDetail::Hold(d) = &mut e.detail {
                        d.captured = amount;
                        d.capture_tx = Some(tx.id);
                    }
                }
            }
            Operation::Refund { capture, amount } => {
                let entry = *self.captures.get(capture).ok_or(ResultCode::HoldNotFound)?;
                let h = match self.accounts.get(&entry).map(|a| &a.detail) {
                    Some(AccountDetail::Hold(h)) => h.clone(),
                    _ => return Err(ResultCode::HoldNotFound),
                };
                let m = self
                    .accounts
                    .get(&h.merchant)
                    .ok_or(ResultCode::AccountNotFound)?;
                self.check_merchant_side(m, signer)?;
                let amount = u128::from(amount.0);
                if h.refunded.saturating_add(amount) > h.captured {
                    return Err(ResultCode::RefundExceedsCapture);
                }
                if m.available() < i128::try_from(amount).unwrap_or(i128::MAX) {
                    return Err(ResultCode::InsufficientFunds);
                }
                self.post(&mut staged, &h.merchant, &h.from, amount, height)?;
                let e = self.stage(&mut staged, &entry)?;
                if let AccountDetail::Hold(d) = &mut e.detail {
                    d.refunded = add(d.refunded, amount)?;
                }
            }
        }
        self.commit(staged, changed)
    }

    /// Checks for creating a client-chosen account: currency known, id unused and not reserved.
    fn check_new_account(
        &self,
        account: &AccountId,
        currency: &Currency,
    ) -> Result<(), ResultCode> {
        if !self.currencies.contains(currency) {
            return Err(ResultCode::UnknownCurrency);
        }
        if self.accounts.contains_key(account)
            || self.reserved_ids.contains(account)
            || self.window_ids.contains(account)
        {
            return Err(ResultCode::AccountExists);
        }
        Ok(())
    }

    /// A hold that capture or void may resolve: it exists, `signer` acts for the merchant, it
    /// is still pending and not past its deadline.
    fn pending_hold(
        &self,
        entry: &AccountId,
        signer: &PublicKey,
        now_ms: u64,
    ) -> Result<HoldDetail, ResultCode> {
        let h = match self.accounts.get(entry).map(|a| &a.detail) {
            Some(AccountDetail::Hold(h)) => h.clone(),
            _ => return Err(ResultCode::HoldNotFound),
        };
        let m = self
            .accounts
            .get(&h.merchant)
            .ok_or(ResultCode::AccountNotFound)?;
        self.check_merchant_side(m, signer)?;
        match h.status {
            HoldStatus::Captured => Err(ResultCode::HoldAlreadyCaptured),
            HoldStatus::Voided => Err(ResultCode::HoldAlreadyVoided),
            HoldStatus::Expired => Err(ResultCode::HoldExpired),
            HoldStatus::Pending if now_ms >= h.expires_at_ms => Err(ResultCode::HoldExpired),
            HoldStatus::Pending => Ok(h),
        }
    }

    /// Transfers and payments: payer checks, payee resolution (by account or alias), currency,
    /// limits, funds; then the legs (payment, optional fee to the payer's issuer, positions
    /// across members), staged together.
    #[allow(clippy::too_many_arguments)]
    fn pay(
        &self,
        staged: &mut Staged,
        height: Height,
        now_ms: u64,
        signer: &PublicKey,
        from: &AccountId,
        to: &Payee,
        amount: Amount,
        fee: Option<Amount>,
        wallet_only: bool,
    ) -> Result<(), ResultCode> {
        let payer = self.payer(from, signer)?;
        let payee_id = match to {
            Payee::Account(id) => *id,
            Payee::Alias(alias) => *self
                .aliases
                .get(&(*alias, payer.currency))
                .ok_or(ResultCode::UnknownPayee)?,
        };
        let payee = self
            .accounts
            .get(&payee_id)
            .ok_or(ResultCode::UnknownPayee)?;
        match payee.kind {
            AccountKind::Wallet => {}
            AccountKind::Merchant if !wallet_only => {}
            _ => return Err(ResultCode::NotAWallet),
        }
        if payee_id == *from {
            return Err(ResultCode::SameAccount);
        }
        if payer.currency != payee.currency {
            return Err(ResultCode::CurrencyMismatch);
        }
        let (amount, fee) = (u128::from(amount.0), fee.map_or(0, |f| u128::from(f.0)));
        let total = amount + fee; // both below 2^64
        Self::check_limits(payer, total, now_ms)?;
        if payer.available() < i128::try_from(total).unwrap_or(i128::MAX) {
            return Err(ResultCode::InsufficientFunds);
        }
        let (member, currency) = (payer.member, payer.currency);
        self.post(staged, from, &payee_id, amount, height)?;
        if fee > 0 {
            let fees =
                self.stage_member_account(staged, AccountKind::Fees, member, currency, height)?;
            fees.credits_posted = add(fees.credits_posted, fee)?;
            let p = self.stage(staged, from)?;
            p.debits_posted = add(p.debits_posted, fee)?;
        }
        Self::count_outflow(self.stage(staged, from)?, total, now_ms);
        Ok(())
    }

    /// A member as known from the genesis.
    pub fn member(&self, id: MemberId) -> Option<&MemberInfo> {
        self.members.get(usize::from(id.0))
    }

    /// Every member, by id.
    pub fn members(&self) -> &[MemberInfo] {
        &self.members
    }

    /// The settlement window of `currency` that obligations are recorded in now
    /// ([`FIRST_WINDOW`] until the first close).
    pub fn open_window(&self, currency: Currency) -> u64 {
        self.open_windows
            .get(&currency)
            .copied()
            .unwrap_or(FIRST_WINDOW)
    }

    /// The wallet registered under `alias` in `currency`, if any.
    pub fn wallet_by_alias(&self, alias: &Hash, currency: Currency) -> Option<&Account> {
        self.accounts.get(self.aliases.get(&(*alias, currency))?)
    }

    /// The accounts (wallets, merchant accounts) whose owner key is `owner`, in id order, at
    /// most `limit` of them.
    pub fn accounts_owned_by(&self, owner: &PublicKey, limit: usize) -> Vec<&Account> {
        self.owners
            .range((*owner, AccountId([0; 16]))..=(*owner, AccountId([0xff; 16])))
            .filter_map(|(_, id)| self.accounts.get(id))
            .take(limit)
            .collect()
    }

    /// The ledger entry of a hold, if it exists.
    pub fn hold(&self, hold: &settlenet_types::HoldId) -> Option<&Account> {
        self.accounts.get(&hold_account_id(hold))
    }

    /// Sum of the balances of `window`'s position accounts per currency: zero in every currency
    /// (each obligation debits one member's position and credits another's).
    pub fn position_totals(&self, window: u64) -> BTreeMap<Currency, i128> {
        let mut totals: BTreeMap<Currency, i128> =
            self.currencies.iter().map(|c| (*c, 0)).collect();
        for a in self.accounts.values() {
            if a.detail == (AccountDetail::Position { window }) {
                let t = totals.entry(a.currency).or_insert(0);
                *t = t.saturating_add(a.balance());
            }
        }
        totals
    }

    /// Merkle proof of an account against [`Ledger::state_root`].
    pub fn prove(&self, id: &AccountId) -> Option<AccountProof> {
        self.tree.prove(self.accounts.get(id)?)
    }

    /// Merkle proof of a transaction's record against [`Ledger::state_root`].
    pub fn prove_record(&self, id: &TxId) -> Option<RecordProof> {
        self.tree.prove_record(id, self.records.get(id)?)
    }

    /// Everything a replica needs to rebuild this ledger: height, every account and every
    /// record, each sorted by id (so the encoding of the snapshot of one state is unique).
    /// Clones the whole state at once; [`Ledger::snapshot_chunks`] clones one chunk at a time.
    pub fn snapshot(&self) -> LedgerSnapshot {
        LedgerSnapshot {
            version: SNAPSHOT_VERSION,
            height: self.height,
            accounts: self.accounts.values().cloned().collect(),
            records: self
                .records
                .iter()
                .map(|(id, r)| (*id, r.clone()))
                .collect(),
        }
    }

    /// The snapshot in parts of at most `items_per_chunk` accounts plus records each (at least
    /// one), accounts first then records, each in id order; every part carries the height.
    /// Cloned lazily, one part at a time. Concatenated with [`LedgerSnapshot::append`], the
    /// parts give exactly [`Ledger::snapshot`]. The ledger cannot change while the iterator
    /// borrows it.
    pub fn snapshot_chunks(
        &self,
        items_per_chunk: usize,
    ) -> impl Iterator<Item = LedgerSnapshot> + '_ {
        let size = items_per_chunk.max(1);
        let height = self.height;
        let mut accounts = self.accounts.values().peekable();
        let mut records = self.records.iter().peekable();
        std::iter::from_fn(move || {
            if accounts.peek().is_none() && records.peek().is_none() {
                return None;
            }
            let chunk_accounts: Vec<Account> = accounts.by_ref().take(size).cloned().collect();
            let room = size - chunk_accounts.len();
            let chunk_records: Vec<(TxId, TxRecord)> = records
                .by_ref()
                .take(room)
                .map(|(id, r)| (*id, r.clone()))
                .collect();
            Some(LedgerSnapshot {
                version: SNAPSHOT_VERSION,
                height,
                accounts: chunk_accounts,
                records: chunk_records,
            })
        })
    }

    /// Rebuild from a snapshot received from a peer, accepting it only if its state root is
    /// `expected_root` (e.g. the `state_root` a block header certified for `snapshot.height`).
    ///
    /// Runs every check of [`Ledger::restore`] (the snapshot may list every account or only
    /// those changed since genesis), then compares roots: a snapshot with a record or account
    /// changed, added or left out is refused with [`LedgerError::RootMismatch`]. Nothing is
    /// kept from a refused snapshot.
    pub fn restore_verified(
        genesis: &Genesis,
        snapshot: LedgerSnapshot,
        expected_root: &Hash,
    ) -> Result<Ledger, LedgerError> {
        let LedgerSnapshot {
            version,
            height,
            accounts,
            records,
        } = snapshot;
        if version != SNAPSHOT_VERSION {
            return Err(LedgerError::Restore(format!(
                "snapshot version {version} is not supported (expected {SNAPSHOT_VERSION})"
            )));
        }
        let ledger = Ledger::restore(genesis, height, accounts, records)?;
        let computed = ledger.state_root();
        if computed != *expected_root {
            return Err(LedgerError::RootMismatch {
                height,
                expected: *expected_root,
                computed,
            });
        }
        Ok(ledger)
    }

    /// Sum over accounts of `balance()` per currency, every genesis currency listed (for
    /// conservation checks). Saturates rather than wraps; reaching `i128` limits would take
    /// about 2^63 maximal transactions.
    pub fn totals(&self) -> BTreeMap<Currency, i128> {
        let mut totals: BTreeMap<Currency, i128> =
            self.currencies.iter().map(|c| (*c, 0)).collect();
        for a in self.accounts.values() {
            let t = totals.entry(a.currency).or_insert(0);
            *t = t.saturating_add(a.balance());
        }
        totals
    }
}
