//! Building a ledger: from the genesis, from this node's persisted accounts and records after
//! a restart, or from a peer's snapshot checked against a certified root. Every account that
//! does not come from executing a block passes the structural checks here.

use super::staging::blank;
use super::{Ledger, MemberInfo};
use crate::account::{
    batch_account_id, hold_account_id, observer_account_id, position_id, window_account_id,
    Account, AccountDetail, AccountKind, SettlementDetail, WindowState, FIELD_MAX,
};
use crate::error::LedgerError;
use crate::history::History;
use crate::limits::{FIRST_WINDOW, KYC_TIERS, OBSERVERS_MAX, OBSERVERS_PER_MEMBER_MAX};
use crate::outcome::TxRecord;
use crate::snapshot::{LedgerSnapshot, SNAPSHOT_VERSION};
use crate::state_tree::StateTree;
use settlenet_types::{
    check_observer_name, check_peer_id, AccountId, Currency, Genesis, GenesisAccountKind, Hash,
    Height, MemberId, TxId,
};
use std::collections::{BTreeMap, BTreeSet};

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
            charge_expiries: BTreeSet::new(),
            charge_holds: BTreeMap::new(),
            charges_pending: BTreeMap::new(),
            archive_queue: BTreeSet::new(),
            validator_peers: genesis
                .validators
                .iter()
                .map(|v| v.peer_id.clone())
                .collect(),
            observers: BTreeMap::new(),
            genesis_totals: BTreeMap::new(),
            height: Height(0),
            accounts: crate::accounts::Accounts::new(),
            records: BTreeMap::new(),
            record_expiries: BTreeSet::new(),
            history: History::default(),
            tree: StateTree::new(),
        };
        for account in ledger.genesis_accounts(genesis)? {
            ledger.tree.set_account(&account);
            ledger.accounts.insert(account);
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
        // Observer entries hold no money: their currency is ISO 4217's "no currency".
        let currency_ok = if a.kind == AccountKind::Observer {
            a.currency == Currency::NONE
        } else {
            self.currencies.contains(&a.currency)
        };
        if !currency_ok {
            return Err(format!(
                "{:?} account {} has unknown currency {}",
                a.kind, a.id, a.currency
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
            (AccountKind::Observer, AccountDetail::Observer(o)) => {
                Self::check_zero(a)?;
                check_peer_id(&o.peer_id).map_err(|e| format!("observer entry {}: {e}", a.id))?;
                check_observer_name(&o.name)
                    .map_err(|e| format!("observer entry {}: {e}", a.id))?;
                if o.sponsor != a.member
                    || o.registered_height > height
                    || o.removed_height.is_some_and(|r| r < o.registered_height)
                {
                    return Err(format!(
                        "observer entry {} has an inconsistent sponsor or heights",
                        a.id
                    ));
                }
                Some(observer_account_id(&o.peer_id))
            }
            (AccountKind::Charge, AccountDetail::Charge(c)) => {
                Self::check_zero(a)?;
                if !settlenet_types::is_max35_text(&c.reference)
                    || c.captured > u128::from(c.amount.0)
                    || c.status_height > height
                {
                    return Err(format!(
                        "charge entry {} has an inconsistent reference, amount or height",
                        a.id
                    ));
                }
                Some(crate::account::charge_account_id(&c.charge))
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

    /// Every account of a ledger being built (memory mode: from the genesis, or restored from
    /// parts); nothing in store mode.
    pub(super) fn in_memory(&self) -> impl Iterator<Item = &Account> {
        self.accounts.all().into_iter().flatten()
    }

    /// Validate `genesis` and create its accounts at height 0.
    pub fn from_genesis(genesis: &Genesis) -> Result<Ledger, LedgerError> {
        let mut ledger = Ledger::configure(genesis)?;
        let all: Vec<Account> = ledger.in_memory().cloned().collect();
        let mut unsettled = Vec::new();
        for a in all {
            ledger.reindex(None, &a);
            if let AccountDetail::Window(w) = &a.detail {
                if w.state != WindowState::Settled {
                    unsettled.push((a.currency, w.window));
                }
            }
        }
        ledger.reserve_all_windows(unsettled.into_iter());
        Ok(ledger)
    }

    /// Rebuild from persisted parts (after a restart): accounts, live tx records and the history
    /// accumulator as stored, at `height`, every account held in memory.
    ///
    /// `accounts` may be every account, or only those changed since genesis (the union of the
    /// blocks' `changed_accounts`): a genesis account not listed keeps its genesis value. The
    /// parts are checked (ids, members, currencies, limits, no id twice, money conserved per
    /// currency; at most one history leaf per block); the state tree is recomputed from scratch,
    /// O(accounts + live records), whatever the length of history. The parts
    /// are trusted to be what this node itself executed: to accept state from a peer, use
    /// [`Ledger::restore_verified`], which also checks the root.
    pub fn restore(
        genesis: &Genesis,
        height: Height,
        accounts: Vec<Account>,
        records: Vec<(TxId, TxRecord)>,
        history: History,
    ) -> Result<Ledger, LedgerError> {
        Ledger::rebuild(
            genesis,
            height,
            accounts.into_iter().map(Ok),
            records,
            history,
            None,
        )
    }

    /// [`Ledger::restore`] for a node whose store holds every account of the state at
    /// `height`: `accounts` streams them (each decoded as it is read, in id order, as the
    /// store iterates them) and none is kept in memory; the ledger reads them from `store`
    /// from then on, through a cache of `cache_capacity` (see [`Ledger::attach_store`]). The
    /// same checks as `restore`, except that ids must come in ascending order (no id twice);
    /// the first error of the stream is returned as it is.
    pub fn restore_from_store(
        genesis: &Genesis,
        height: Height,
        accounts: impl Iterator<Item = Result<Account, LedgerError>>,
        records: Vec<(TxId, TxRecord)>,
        history: History,
        store: std::sync::Arc<dyn crate::AccountStore>,
        cache_capacity: usize,
    ) -> Result<Ledger, LedgerError> {
        Ledger::rebuild(
            genesis,
            height,
            accounts,
            records,
            history,
            Some((store, cache_capacity)),
        )
    }

    /// `restore` (memory mode, `store` = `None`) or `restore_from_store`.
    fn rebuild(
        genesis: &Genesis,
        height: Height,
        accounts: impl Iterator<Item = Result<Account, LedgerError>>,
        records: Vec<(TxId, TxRecord)>,
        history: History,
        store: Option<(std::sync::Arc<dyn crate::AccountStore>, usize)>,
    ) -> Result<Ledger, LedgerError> {
        let bad = |s: String| Err(LedgerError::Restore(s));
        let mut ledger = Ledger::configure(genesis)?;
        let store_mode = store.is_some();
        if let Some((store, capacity)) = store {
            // The store holds every account, genesis ones included: start from none.
            ledger.accounts = crate::accounts::Accounts::new();
            ledger.tree = StateTree::new();
            ledger.accounts.attach_store(store, capacity);
        }
        ledger.height = height;
        history.check()?;
        if history.size > height.0 {
            return bad(format!(
                "history of {} blocks at height {height}",
                history.size
            ));
        }
        ledger.history = history;
        // What the checks after the accounts need: windows (currency, window, state) and
        // holds (entry, payer, merchant, currency).
        let mut windows: Vec<(Currency, u64, WindowState)> = Vec::new();
        let mut holds: Vec<(AccountId, AccountId, AccountId, Currency)> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut last: Option<AccountId> = None;
        for account in accounts {
            let account = account?;
            if store_mode {
                if last.is_some_and(|l| l >= account.id) {
                    return bad(format!(
                        "account {} out of order or given twice (after {})",
                        account.id,
                        last.map(|l| l.to_string()).unwrap_or_default()
                    ));
                }
                last = Some(account.id);
            } else if !seen.insert(account.id) {
                return bad(format!("account {} given twice", account.id));
            }
            ledger
                .check_account(&account, height)
                .map_err(LedgerError::Restore)?;
            ledger.tree.set_account(&account);
            if store_mode {
                ledger.index_restored(&account, &mut windows, &mut holds)?;
                ledger.accounts.count_restored(&account);
            } else {
                ledger.accounts.insert(account);
            }
        }
        if !store_mode {
            // Genesis accounts not listed keep their genesis values: index them all now.
            let all: Vec<Account> = ledger.in_memory().cloned().collect();
            for account in &all {
                ledger.index_restored(account, &mut windows, &mut holds)?;
            }
        }
        for (id, record) in records {
            if record.height.0 == 0 || record.height > height {
                return bad(format!(
                    "record {id} has height {} outside 1..={height}",
                    record.height
                ));
            }
            ledger.tree.set_record(&id, &record);
            ledger.record_expiries.insert((record.valid_until_ms, id));
            if ledger.records.insert(id, record).is_some() {
                return bad(format!("record {id} given twice"));
            }
        }
        ledger.tree.commit();
        for (entry, from, merchant, currency) in holds {
            let party = |id: &AccountId, kind: AccountKind| {
                ledger
                    .accounts
                    .get(id)
                    .is_some_and(|a| a.kind == kind && a.currency == currency)
            };
            if !party(&from, AccountKind::Wallet) || !party(&merchant, AccountKind::Merchant) {
                return bad(format!(
                    "hold entry {entry} names a missing payer or merchant"
                ));
            }
        }
        if let Some(failure) = ledger.accounts.read_failure() {
            return bad(format!("the store failed a read: {failure}"));
        }
        let mut open = BTreeMap::new();
        for (c, w, state) in &windows {
            if *state == WindowState::Open && open.insert(*c, *w).is_some() {
                return bad(format!("two open windows in {c}"));
            }
        }
        for (c, w, _) in &windows {
            let o = open.get(c).copied().unwrap_or(FIRST_WINDOW);
            if *w > o {
                return bad(format!("window {w} of {c} is after the open window {o}"));
            }
        }
        // Active observers: what `register_observer` guarantees (no validator's peer id,
        // within the limits), so that a node never admits more peers than the bounds say.
        let mut sponsored: BTreeMap<MemberId, usize> = BTreeMap::new();
        for o in ledger.observers.values() {
            if ledger.validator_peers.contains(&o.peer_id) {
                return bad(format!("observer {} has a validator's peer id", o.peer_id));
            }
            *sponsored.entry(o.sponsor).or_insert(0) += 1;
        }
        if ledger.observers.len() > OBSERVERS_MAX
            || sponsored.values().any(|n| *n > OBSERVERS_PER_MEMBER_MAX)
        {
            return bad(format!(
                "{} active observers exceed the limits ({OBSERVERS_PER_MEMBER_MAX} per member, \
                 {OBSERVERS_MAX} in all)",
                ledger.observers.len()
            ));
        }
        ledger.reserve_all_windows(
            windows
                .iter()
                .filter(|(_, _, state)| *state != WindowState::Settled)
                .map(|(c, w, _)| (*c, *w)),
        );
        let totals = ledger.totals();
        if totals != ledger.genesis_totals {
            return bad(format!(
                "money is not conserved: totals {totals:?}, genesis {:?}",
                ledger.genesis_totals
            ));
        }
        Ok(ledger)
    }

    /// One restored account into the derived indexes, after checking that its alias is not
    /// taken; notes a window or hold for the checks after every account is known.
    fn index_restored(
        &mut self,
        account: &Account,
        windows: &mut Vec<(Currency, u64, WindowState)>,
        holds: &mut Vec<(AccountId, AccountId, AccountId, Currency)>,
    ) -> Result<(), LedgerError> {
        match &account.detail {
            AccountDetail::Wallet(w) if self.aliases.contains_key(&(w.alias, account.currency)) => {
                return Err(LedgerError::Restore(format!(
                    "alias {} registered twice in {}",
                    w.alias, account.currency
                )));
            }
            AccountDetail::Hold(h) => {
                holds.push((account.id, h.from, h.merchant, account.currency));
            }
            AccountDetail::Window(w) => windows.push((account.currency, w.window, w.state)),
            _ => {}
        }
        self.reindex(None, account);
        Ok(())
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
            history,
        } = snapshot;
        if version != SNAPSHOT_VERSION {
            return Err(LedgerError::Restore(format!(
                "snapshot version {version} is not supported (expected {SNAPSHOT_VERSION})"
            )));
        }
        let ledger = Ledger::restore(genesis, height, accounts, records, history)?;
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
}
