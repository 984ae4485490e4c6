//! The account state machine: genesis, block execution, restore, proofs.

use crate::account::{Account, AccountKind, FIELD_MAX};
use crate::error::LedgerError;
use crate::outcome::{BlockOutcome, ResultCode, TxOutcome, TxRecord};
use crate::state_tree::{account_leaf, AccountProof, StateTree};
use settlenet_types::{
    AccountId, Amount, Currency, Genesis, GenesisAccountKind, Hash, Height, MemberId, Operation,
    PublicKey, Role, SignedTransaction, Transaction, TxId, TX_VERSION,
};
use std::collections::{BTreeMap, BTreeSet};

/// What the ledger needs to know about a member to authorize its staff.
#[derive(Clone, Debug)]
struct MemberAuth {
    /// The member's name: derived account ids are computed from it.
    name: String,
    /// Staff keys holding `Role::Issuer`: they may open wallets and issue e-money.
    issuer_keys: BTreeSet<PublicKey>,
}

/// The ledger: every account, every transaction record, and the state tree over the accounts.
///
/// Pure and deterministic: no I/O, clock or randomness; ordered maps only.
#[derive(Clone)]
pub struct Ledger {
    /// Transactions for any other chain are refused.
    chain_id: String,
    /// Currencies the network holds.
    currencies: BTreeSet<Currency>,
    /// Indexed by `MemberId`.
    members: Vec<MemberAuth>,
    /// Derived ids of every possible member account (settlement and float, per member and
    /// currency): a wallet may not take one, so a float created on first issue never collides.
    reserved_ids: BTreeSet<AccountId>,
    /// Sum of balances per currency at genesis; every block must preserve it.
    genesis_totals: BTreeMap<Currency, i128>,
    /// Height of the last executed block (0 = genesis).
    height: Height,
    /// All accounts, by id.
    accounts: BTreeMap<AccountId, Account>,
    /// One record per transaction id ever executed (grows with history; see the crate docs).
    records: BTreeMap<TxId, TxRecord>,
    /// Commitment over `accounts`.
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
fn add(value: u128, amount: Amount) -> Result<u128, ResultCode> {
    value
        .checked_add(u128::from(amount.0))
        .filter(|v| *v <= FIELD_MAX)
        .ok_or(ResultCode::Overflow)
}

impl Ledger {
    /// A ledger holding no accounts yet, configured from a validated genesis.
    fn configure(genesis: &Genesis) -> Result<Ledger, LedgerError> {
        genesis
            .validate()
            .map_err(|e| LedgerError::Genesis(e.to_string()))?;
        let currencies: BTreeSet<Currency> = genesis.currencies.iter().map(|c| c.code).collect();
        let members: Vec<MemberAuth> = genesis
            .members
            .iter()
            .map(|m| MemberAuth {
                name: m.name.clone(),
                issuer_keys: m
                    .staff
                    .iter()
                    .filter(|s| s.roles.contains(&Role::Issuer))
                    .map(|s| s.public_key)
                    .collect(),
            })
            .collect();
        let mut reserved_ids = BTreeSet::new();
        for m in &members {
            for c in &currencies {
                for kind in [AccountKind::Settlement, AccountKind::Float] {
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
            genesis_totals: BTreeMap::new(),
            height: Height(0),
            accounts: BTreeMap::new(),
            records: BTreeMap::new(),
            tree: StateTree::new(),
        };
        for account in ledger.genesis_accounts(genesis)? {
            ledger.tree.set(account.id, account_leaf(&account));
            ledger.accounts.insert(account.id, account);
        }
        ledger.tree.commit();
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
            };
            self.check_account(&account, Height(0))
                .map_err(LedgerError::Genesis)?;
            out.push(account);
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
        match a.kind.derived_purpose() {
            Some(purpose) => {
                let want = AccountId::derived(purpose, &member.name, a.currency);
                if a.id != want {
                    return Err(format!(
                        "{purpose} account {} of {} in {} must have id {want}",
                        a.id, member.name, a.currency
                    ));
                }
                if a.owner.is_some() {
                    return Err(format!("member account {} has an owner key", a.id));
                }
            }
            None => {
                if self.reserved_ids.contains(&a.id) {
                    return Err(format!("wallet {} uses a reserved member account id", a.id));
                }
                if a.owner.is_none() {
                    return Err(format!("wallet {} has no owner key", a.id));
                }
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

    /// Validate `genesis` and create its accounts at height 0.
    pub fn from_genesis(genesis: &Genesis) -> Result<Ledger, LedgerError> {
        Ledger::configure(genesis)
    }

    /// Rebuild from persisted parts (after a restart): accounts and tx records as stored, at
    /// `height`.
    ///
    /// `accounts` may be every account, or only those changed since genesis (the union of the
    /// blocks' `changed_accounts`): a genesis account not listed keeps its genesis value. The
    /// parts are checked (ids, members, currencies, limits, no id twice, money conserved per
    /// currency); the state tree is recomputed from scratch, O(accounts).
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
            ledger.tree.set(account.id, account_leaf(&account));
            ledger.accounts.insert(account.id, account);
        }
        for (id, record) in records {
            if record.height.0 == 0 || record.height > height {
                return bad(format!(
                    "record {id} has height {} outside 1..={height}",
                    record.height
                ));
            }
            if ledger.records.insert(id, record).is_some() {
                return bad(format!("record {id} given twice"));
            }
        }
        ledger.tree.commit();
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

    /// The state root: commitment over all accounts after the last executed block.
    pub fn state_root(&self) -> Hash {
        self.tree.root()
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
        match &tx.op {
            Operation::CreateWallet { .. } => Ok(()),
            Operation::Issue { amount, .. } => {
                if amount.0 == 0 {
                    return Err(ResultCode::ZeroAmount);
                }
                Ok(())
            }
            Operation::Transfer { from, to, amount } => {
                if amount.0 == 0 {
                    return Err(ResultCode::ZeroAmount);
                }
                if from == to {
                    return Err(ResultCode::SameAccount);
                }
                Ok(())
            }
        }
    }

    /// Execute a committed block.
    ///
    /// Precondition: every signature was verified by the caller (the node batch-verifies blocks
    /// before voting); the ledger trusts `tx.signer` and checks only that it is *allowed*.
    /// `height` must be `self.height() + 1` (asserted). `timestamp_ms` is consensus time; unused
    /// until holds with timeouts exist, it is part of the signature so callers need not change.
    pub fn apply_block(
        &mut self,
        height: Height,
        timestamp_ms: u64,
        txs: &[SignedTransaction],
    ) -> BlockOutcome {
        let _ = timestamp_ms;
        assert_eq!(
            height,
            self.height.next(),
            "blocks must be applied in order: ledger at {}, block at {height}",
            self.height
        );
        let mut outcomes = Vec::with_capacity(txs.len());
        let mut changed = BTreeSet::new();
        let mut new_records = Vec::new();
        for (index, stx) in txs.iter().enumerate() {
            // A block that decodes within the message limit holds far fewer than 2^32 txs.
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            outcomes.push(self.apply_tx(height, index, &stx.tx, &mut changed, &mut new_records));
        }
        let mut changed_accounts = Vec::with_capacity(changed.len());
        for id in &changed {
            if let Some(account) = self.accounts.get(id) {
                self.tree.set(*id, account_leaf(account));
                changed_accounts.push(account.clone());
            }
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
        BlockOutcome {
            outcomes,
            changed_accounts,
            new_records,
            state_root: self.tree.root(),
        }
    }

    /// Execute one transaction: idempotency, stateless checks, then the operation.
    fn apply_tx(
        &mut self,
        height: Height,
        index: u32,
        tx: &Transaction,
        changed: &mut BTreeSet<AccountId>,
        new_records: &mut Vec<(TxId, TxRecord)>,
    ) -> TxOutcome {
        let outcome = |result, duplicate| TxOutcome {
            id: tx.id,
            result,
            duplicate,
        };
        let Ok(body_hash) = tx.body_hash() else {
            // Encoding fails only beyond the 32 MiB limit, i.e. with a chain id no chain has,
            // and never for a transaction decoded from a block. Nothing to record it under.
            return outcome(ResultCode::WrongChain, false);
        };
        if let Some(record) = self.records.get(&tx.id) {
            return if record.body_hash == body_hash {
                outcome(record.result, true)
            } else {
                outcome(ResultCode::ExistsWithDifferentBody, false)
            };
        }
        let result = match self
            .check_stateless(tx)
            .and_then(|()| self.execute(height, tx, changed))
        {
            Ok(()) => ResultCode::Ok,
            Err(code) => code,
        };
        let record = TxRecord {
            body_hash,
            height,
            index,
            result,
        };
        self.records.insert(tx.id, record.clone());
        new_records.push((tx.id, record));
        outcome(result, false)
    }

    /// Whether `signer` is an issuer-role staff key of `member`.
    fn is_issuer(&self, member: MemberId, signer: &PublicKey) -> Result<(), ResultCode> {
        let m = self
            .members
            .get(usize::from(member.0))
            .ok_or(ResultCode::UnknownMember)?;
        if m.issuer_keys.contains(signer) {
            Ok(())
        } else {
            Err(ResultCode::ForbiddenSigner)
        }
    }

    /// Run the operation. Every check happens before the first write, so an `Err` leaves every
    /// account untouched.
    fn execute(
        &mut self,
        height: Height,
        tx: &Transaction,
        changed: &mut BTreeSet<AccountId>,
    ) -> Result<(), ResultCode> {
        match &tx.op {
            Operation::CreateWallet {
                account,
                issuer,
                owner,
                currency,
            } => {
                self.is_issuer(*issuer, &tx.signer)?;
                if !self.currencies.contains(currency) {
                    return Err(ResultCode::UnknownCurrency);
                }
                if self.accounts.contains_key(account) || self.reserved_ids.contains(account) {
                    return Err(ResultCode::AccountExists);
                }
                self.accounts.insert(
                    *account,
                    Account {
                        id: *account,
                        kind: AccountKind::Wallet,
                        member: *issuer,
                        currency: *currency,
                        owner: Some(*owner),
                        debits_pending: 0,
                        debits_posted: 0,
                        credits_pending: 0,
                        credits_posted: 0,
                        created_height: height,
                    },
                );
                changed.insert(*account);
                Ok(())
            }
            Operation::Issue { wallet, amount } => {
                let w = self
                    .accounts
                    .get(wallet)
                    .ok_or(ResultCode::AccountNotFound)?;
                if w.kind != AccountKind::Wallet {
                    return Err(ResultCode::NotAWallet);
                }
                let (member, currency) = (w.member, w.currency);
                self.is_issuer(member, &tx.signer)?;
                let wallet_credits = add(w.credits_posted, *amount)?;
                let name = &self.members[usize::from(member.0)].name;
                let float_id = AccountId::derived("float", name, currency);
                // The float is created on first issue if the genesis did not list it; its id is
                // reserved, so no wallet can hold it.
                let mut float = self.accounts.get(&float_id).cloned().unwrap_or(Account {
                    id: float_id,
                    kind: AccountKind::Float,
                    member,
                    currency,
                    owner: None,
                    debits_pending: 0,
                    debits_posted: 0,
                    credits_pending: 0,
                    credits_posted: 0,
                    created_height: height,
                });
                debug_assert_eq!(float.kind, AccountKind::Float);
                float.debits_posted = add(float.debits_posted, *amount)?;
                if let Some(w) = self.accounts.get_mut(wallet) {
                    w.credits_posted = wallet_credits;
                }
                self.accounts.insert(float_id, float);
                changed.insert(*wallet);
                changed.insert(float_id);
                Ok(())
            }
            Operation::Transfer { from, to, amount } => {
                let payer = self.accounts.get(from).ok_or(ResultCode::AccountNotFound)?;
                if payer.kind != AccountKind::Wallet {
                    return Err(ResultCode::NotAWallet);
                }
                if payer.owner != Some(tx.signer) {
                    return Err(ResultCode::ForbiddenSigner);
                }
                let payee = self.accounts.get(to).ok_or(ResultCode::UnknownPayee)?;
                if payee.kind != AccountKind::Wallet {
                    return Err(ResultCode::NotAWallet);
                }
                if payer.currency != payee.currency {
                    return Err(ResultCode::CurrencyMismatch);
                }
                if payer.available() < i128::from(amount.0) {
                    return Err(ResultCode::InsufficientFunds);
                }
                let payer_debits = add(payer.debits_posted, *amount)?;
                let payee_credits = add(payee.credits_posted, *amount)?;
                if let Some(p) = self.accounts.get_mut(from) {
                    p.debits_posted = payer_debits;
                }
                if let Some(p) = self.accounts.get_mut(to) {
                    p.credits_posted = payee_credits;
                }
                changed.insert(*from);
                changed.insert(*to);
                Ok(())
            }
        }
    }

    /// Merkle proof of an account against [`Ledger::state_root`].
    pub fn prove(&self, id: &AccountId) -> Option<AccountProof> {
        self.tree.prove(self.accounts.get(id)?)
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
