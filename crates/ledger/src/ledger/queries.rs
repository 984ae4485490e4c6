//! Reads: the state root and its halves, accounts and records, members, the indexes (aliases,
//! owners, holds), Merkle proofs, snapshots for catch-up, and the conservation totals.

use super::{Ledger, MemberInfo};
use crate::account::{hold_account_id, position_id, Account};
use crate::history::{history_record_leaf, merkle_path, prove_history, History};
use crate::limits::FIRST_WINDOW;
use crate::outcome::TxRecord;
use crate::snapshot::{LedgerSnapshot, SNAPSHOT_VERSION};
use crate::state_tree::{AccountProof, ArchivedRecordProof, RecordProof};
use settlenet_types::{AccountId, Currency, Hash, Height, MemberId, PublicKey, TxId};
use std::collections::BTreeMap;

impl Ledger {
    /// Height of the last executed block (0 before any).
    pub fn height(&self) -> Height {
        self.height
    }

    /// The chain id transactions must carry.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The state root: commitment over all accounts, the live transaction records and the
    /// history of every record after the last executed block
    /// (`StateRoot.hash(accounts_root || records_root || history_root)`, see
    /// [`crate::state_tree`] and [`crate::history`]).
    pub fn state_root(&self) -> Hash {
        self.tree.root(&self.history.root())
    }

    /// The history accumulator (one leaf per executed block).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Root of the accounts tree alone (one part of [`Ledger::state_root`]).
    pub fn accounts_root(&self) -> Hash {
        self.tree.accounts_root()
    }

    /// Root of the live records tree alone (another part of [`Ledger::state_root`]).
    pub fn records_root(&self) -> Hash {
        self.tree.records_root()
    }

    /// An account by id.
    pub fn account(&self, id: &AccountId) -> Option<&Account> {
        self.accounts.get(id)
    }

    /// The record of a transaction id while it is live (until consensus time passes its
    /// validity); older records are in the history (the node's archive).
    pub fn record(&self, id: &TxId) -> Option<&TxRecord> {
        self.records.get(id)
    }

    /// Every account, sorted by id, while the ledger holds them all in memory; `None` once
    /// it reads them from a node's store ([`Ledger::attach_store`]): iterate the store then.
    pub fn accounts(&self) -> Option<impl Iterator<Item = &Account>> {
        self.accounts.all()
    }

    /// Number of accounts.
    pub fn account_count(&self) -> u64 {
        self.accounts.len()
    }

    /// Every live transaction record, by id in ascending order.
    pub fn records(&self) -> impl Iterator<Item = (&TxId, &TxRecord)> {
        self.records.iter()
    }

    /// Number of live transaction records (at most the transactions of one validity window,
    /// `TX_VALIDITY_MAX_MS`, however long the history).
    pub fn record_count(&self) -> usize {
        self.records.len()
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
        for (c, t) in &mut totals {
            for m in &self.members {
                if let Some(a) = self.accounts.get(&position_id(&m.name, *c, window)) {
                    *t = t.saturating_add(a.balance());
                }
            }
        }
        totals
    }

    /// Merkle proof of an account against [`Ledger::state_root`].
    pub fn prove(&self, id: &AccountId) -> Option<AccountProof> {
        self.tree
            .prove(self.accounts.get(id)?, &self.history.root())
    }

    /// Merkle proof of a live transaction's record against [`Ledger::state_root`].
    pub fn prove_record(&self, id: &TxId) -> Option<RecordProof> {
        self.tree
            .prove_record(id, self.records.get(id)?, &self.history.root())
    }

    /// Merkle proof of any record ever written, against [`Ledger::state_root`]: `block_records`
    /// are the records its block wrote, in block order (as in that block's
    /// [`crate::BlockOutcome::new_records`]), `leaf` the block's position in the history (the
    /// index of the level-0 node of its [`crate::BlockOutcome::history_nodes`]), and `node` reads
    /// persisted history nodes. `None` if `id` is not among `block_records`, or a node is
    /// missing.
    pub fn prove_archived_record(
        &self,
        id: &TxId,
        block_records: &[(TxId, TxRecord)],
        leaf: u64,
        node: impl FnMut(u8, u64) -> Option<Hash>,
    ) -> Option<ArchivedRecordProof> {
        let position = block_records.iter().position(|(i, _)| i == id)?;
        let record = block_records[position].1.clone();
        let leaves: Vec<Hash> = block_records
            .iter()
            .map(|(i, r)| history_record_leaf(i, r))
            .collect();
        let history = prove_history(leaf, self.history.size, node)?;
        Some(ArchivedRecordProof {
            id: *id,
            position: position as u64,
            count: block_records.len() as u64,
            block_siblings: merkle_path(&leaves, position),
            record,
            history,
            accounts_root: self.tree.accounts_root(),
            records_root: self.tree.records_root(),
        })
    }

    /// Everything a replica needs to rebuild this ledger: height, every account, every live
    /// record and the history accumulator, each sorted by id (so the encoding of the snapshot of one state is unique).
    /// Clones the whole state at once; [`Ledger::snapshot_chunks`] clones one chunk at a time.
    /// `None` once the ledger reads its accounts from a node's store: a node serves snapshots
    /// from a checkpoint of its store.
    pub fn snapshot(&self) -> Option<LedgerSnapshot> {
        Some(LedgerSnapshot {
            version: SNAPSHOT_VERSION,
            height: self.height,
            accounts: self.accounts.all()?.cloned().collect(),
            records: self
                .records
                .iter()
                .map(|(id, r)| (*id, r.clone()))
                .collect(),
            history: self.history.clone(),
        })
    }

    /// The snapshot in parts of at most `items_per_chunk` accounts plus records each (at least
    /// one), accounts first then records, each in id order; every part carries the height.
    /// Cloned lazily, one part at a time. Concatenated with [`LedgerSnapshot::append`], the
    /// parts give exactly [`Ledger::snapshot`]. The ledger cannot change while the iterator
    /// borrows it. `None` in store mode, as [`Ledger::snapshot`].
    pub fn snapshot_chunks(
        &self,
        items_per_chunk: usize,
    ) -> Option<impl Iterator<Item = LedgerSnapshot> + '_> {
        let size = items_per_chunk.max(1);
        let height = self.height;
        let history = &self.history;
        let mut accounts = self.accounts.all()?.peekable();
        let mut records = self.records.iter().peekable();
        Some(std::iter::from_fn(move || {
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
                history: history.clone(),
            })
        }))
    }

    /// Sum over accounts of `balance()` per currency, every genesis currency listed (for
    /// conservation checks); observer entries, which hold no money, are left out. Kept in
    /// step with every write, so O(currencies); debug builds recompute it over every account
    /// after each block (memory mode). Saturates rather than wraps; reaching `i128` limits
    /// would take about 2^63 maximal transactions.
    pub fn totals(&self) -> BTreeMap<Currency, i128> {
        let mut totals: BTreeMap<Currency, i128> =
            self.currencies.iter().map(|c| (*c, 0)).collect();
        for (c, t) in self.accounts.totals() {
            totals.insert(*c, *t);
        }
        totals
    }

    /// The same sum recomputed over every account, in memory mode (`None` in store mode).
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    pub(super) fn recount_totals(&self) -> Option<BTreeMap<Currency, i128>> {
        let mut totals: BTreeMap<Currency, i128> =
            self.currencies.iter().map(|c| (*c, 0)).collect();
        totals.extend(self.accounts.recount_totals()?);
        Some(totals)
    }

    /// From now on read accounts from `store`, which holds every account of the current
    /// state (a node calls this once it has opened or installed the state), keeping at most
    /// `cache_capacity` clean copies in memory; the accounts held in memory are freed. After
    /// each block, once the node has written the block's changes to the store, it calls
    /// [`Ledger::persisted`].
    pub fn attach_store(
        &mut self,
        store: std::sync::Arc<dyn crate::AccountStore>,
        cache_capacity: usize,
    ) {
        self.accounts.attach_store(store, cache_capacity);
    }

    /// The node has written every block executed so far to its store: the accounts they
    /// changed leave memory for the cache. Nothing in memory mode.
    pub fn persisted(&mut self) {
        self.accounts.persisted();
    }

    /// The first read of the node's store that failed, if any (what failed and where). A
    /// ledger that reports one computed its last blocks without an account it has: the node
    /// must stop before persisting or voting on them.
    pub fn store_read_failure(&self) -> Option<&str> {
        self.accounts.read_failure()
    }

    /// Figures of the account cache (store mode) or of the accounts in memory.
    pub fn account_cache_stats(&self) -> crate::AccountCacheStats {
        self.accounts.stats()
    }
}
