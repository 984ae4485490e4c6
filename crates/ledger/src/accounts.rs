//! The ledger's accounts: all in memory, or read through from the node's store behind a
//! bounded cache.
//!
//! ```text
//!  memory mode (genesis, tests, the simulator, a snapshot being installed):
//!      resident: every account
//!
//!  store mode (a node, after `Ledger::attach_store`):
//!      get(id) ──▶ resident (written since the last `persisted`; None = removed)
//!               ──▶ hot ──▶ warm (clean copies, at most `capacity` in all)
//!               ──▶ AccountStore::account (the store, which holds every account as of the
//!                   last persisted height) ──▶ hot
//! ```
//!
//! Whatever the cache holds, a read returns the account's value in the ledger's current state:
//! the store holds the state as of the last persisted block and `resident` every write since,
//! so execution is deterministic and independent of what happens to be cached. The cache has
//! two generations: reads go into `hot`; when `hot` holds half the capacity, at the next
//! [`Accounts::persisted`], it becomes `warm` and the old `warm` is dropped. An account read
//! from `warm` is copied back into `hot`. Writes stay in `resident` until the node has written
//! the blocks that made them ([`Accounts::persisted`]), then replace any cached copy.
//!
//! A read that fails (I/O error, an undecodable value) is kept ([`Accounts::read_failure`]) and
//! answered as absent: the node checks after every block and stops before persisting or voting
//! on a state computed with it.

use crate::account::{Account, AccountKind};
use settlenet_types::{AccountId, Currency};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// Where a node's ledger reads the accounts it does not hold: the node's store, which holds
/// every account of the state as of the last block the node persisted.
pub trait AccountStore: Send + Sync {
    /// The value of account `id` as last written, `None` if the state has no such account.
    /// An error says what failed (the store's I/O, an undecodable value) and where.
    fn account(&self, id: &AccountId) -> Result<Option<Account>, String>;
}

/// The default capacity of the account cache of a node's ledger, in accounts (about 300 bytes
/// each in memory: about 60 MB).
pub const ACCOUNT_CACHE_DEFAULT: usize = 200_000;

/// The store side of the accounts: the store and the cache in front of it.
struct Backing {
    store: Arc<dyn AccountStore>,
    /// Copies read since the last rotation.
    hot: elsa::FrozenBTreeMap<AccountId, Box<Account>>,
    /// Copies read in the generation before.
    warm: elsa::FrozenBTreeMap<AccountId, Box<Account>>,
    /// Most accounts `hot` and `warm` hold together (at least 2).
    capacity: usize,
    /// The first failed read, if any.
    failure: OnceLock<String>,
    /// Reads that went to the store (since attach), for the node's status.
    store_reads: std::sync::atomic::AtomicU64,
}

/// The accounts of a ledger. See the module documentation.
pub(crate) struct Accounts {
    /// Memory mode: every account (`Some`). Store mode: accounts written since the last
    /// [`Accounts::persisted`] (`None`: removed).
    resident: BTreeMap<AccountId, Option<Account>>,
    /// The store and its cache, in store mode.
    backing: Option<Backing>,
    /// Accounts in the state.
    count: u64,
    /// Sum of `balance()` per currency over every account but observer entries (which hold no
    /// money): kept in step with every write.
    totals: BTreeMap<Currency, i128>,
}

impl Clone for Accounts {
    /// A copy shares the store but not the cache. In store mode the copy is only valid until
    /// the original's next [`Accounts::persisted`] (the store moves on); nodes never copy a
    /// ledger, the simulator and tests copy ledgers in memory mode.
    fn clone(&self) -> Accounts {
        Accounts {
            resident: self.resident.clone(),
            backing: self.backing.as_ref().map(|b| Backing {
                store: b.store.clone(),
                hot: elsa::FrozenBTreeMap::new(),
                warm: elsa::FrozenBTreeMap::new(),
                capacity: b.capacity,
                failure: OnceLock::new(),
                store_reads: std::sync::atomic::AtomicU64::new(0),
            }),
            count: self.count,
            totals: self.totals.clone(),
        }
    }
}

/// What an account adds to [`Accounts::totals`] (observer entries hold no money).
fn counted(a: &Account) -> Option<(Currency, i128)> {
    (a.kind != AccountKind::Observer).then(|| (a.currency, a.balance()))
}

/// Add (or, with `remove`, take away) what an account counts for to `totals`.
fn tally(totals: &mut BTreeMap<Currency, i128>, what: Option<(Currency, i128)>, remove: bool) {
    if let Some((c, b)) = what {
        let t = totals.entry(c).or_insert(0);
        *t = if remove {
            t.saturating_sub(b)
        } else {
            t.saturating_add(b)
        };
    }
}

/// Figures of the account cache, for a node's status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AccountCacheStats {
    /// Whether the accounts are read from the node's store (otherwise all are in memory).
    pub store_mode: bool,
    /// Accounts held in memory: written and not yet persisted (store mode), or all.
    pub resident: u64,
    /// Clean copies cached (store mode).
    pub cached: u64,
    /// The cache's capacity in accounts (store mode).
    pub capacity: u64,
    /// Reads that went to the store since it was attached.
    pub store_reads: u64,
}

impl Accounts {
    /// No accounts, in memory mode.
    pub(crate) fn new() -> Accounts {
        Accounts {
            resident: BTreeMap::new(),
            backing: None,
            count: 0,
            totals: BTreeMap::new(),
        }
    }

    /// The value of `id` in the current state.
    pub(crate) fn get(&self, id: &AccountId) -> Option<&Account> {
        if let Some(v) = self.resident.get(id) {
            return v.as_ref();
        }
        let b = self.backing.as_ref()?;
        if let Some(a) = b.hot.get(id) {
            return Some(a);
        }
        if let Some(a) = b.warm.get(id) {
            return Some(b.hot.insert(*id, Box::new(a.clone())));
        }
        b.store_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match b.store.account(id) {
            Ok(Some(a)) if a.id == *id => Some(b.hot.insert(*id, Box::new(a))),
            Ok(Some(a)) => {
                let _ = b.failure.set(format!(
                    "the store returned account {} when asked for {id}",
                    a.id
                ));
                None
            }
            Ok(None) => None,
            Err(e) => {
                let _ = b.failure.set(format!("reading account {id}: {e}"));
                None
            }
        }
    }

    /// Whether the state has account `id`.
    pub(crate) fn contains_key(&self, id: &AccountId) -> bool {
        self.get(id).is_some()
    }

    /// Accounts in the state.
    pub(crate) fn len(&self) -> u64 {
        self.count
    }

    /// Sum of balances per currency over every account but observer entries.
    pub(crate) fn totals(&self) -> &BTreeMap<Currency, i128> {
        &self.totals
    }

    /// Write `account` (new or changed); returns its previous value.
    pub(crate) fn insert(&mut self, account: Account) -> Option<Account> {
        let old = self.take_current(&account.id);
        self.count_out(old.as_ref());
        self.count_in(Some(&account));
        self.resident.insert(account.id, Some(account));
        old
    }

    /// Change account `id` in place with `change`, creating it with `create` if the state has
    /// none. Copies the account into memory once (store mode); later changes in the same
    /// block work on that copy (a window's record, changed by every obligation of a block).
    pub(crate) fn modify(
        &mut self,
        id: AccountId,
        create: impl FnOnce() -> Account,
        change: impl FnOnce(&mut Account),
    ) {
        if !matches!(self.resident.get(&id), Some(Some(_))) {
            let current = self.take_current(&id);
            let account = match current {
                Some(a) => a,
                None => {
                    let a = create();
                    self.count_in(Some(&a));
                    a
                }
            };
            self.resident.insert(id, Some(account));
        }
        let Some(Some(account)) = self.resident.get_mut(&id) else {
            unreachable!("inserted above");
        };
        tally(&mut self.totals, counted(account), true);
        change(account);
        tally(&mut self.totals, counted(account), false);
    }

    /// Count an account of the state the store already holds (a ledger being restored in
    /// store mode): into the count and totals, not into memory.
    pub(crate) fn count_restored(&mut self, account: &Account) {
        self.count_in(Some(account));
    }

    /// Remove `id` from the state; returns its value.
    pub(crate) fn remove(&mut self, id: &AccountId) -> Option<Account> {
        let old = self.take_current(id);
        self.count_out(old.as_ref());
        if self.backing.is_some() {
            // A tombstone even if `id` was already gone: the store may still hold it until
            // this event's blocks are persisted.
            self.resident.insert(*id, None);
        } else {
            self.resident.remove(id);
        }
        old
    }

    /// The current value of `id`, moved out of `resident` or copied from the store's side,
    /// before it is overwritten or removed.
    fn take_current(&mut self, id: &AccountId) -> Option<Account> {
        match self.resident.remove(id) {
            Some(v) => v,
            None => self.get(id).cloned(),
        }
    }

    fn count_out(&mut self, old: Option<&Account>) {
        if let Some(a) = old {
            self.count = self.count.saturating_sub(1);
            tally(&mut self.totals, counted(a), true);
        }
    }

    fn count_in(&mut self, new: Option<&Account>) {
        if let Some(a) = new {
            self.count = self.count.saturating_add(1);
            tally(&mut self.totals, counted(a), false);
        }
    }

    /// Every account, in id order, in memory mode; `None` in store mode (iterate the store).
    pub(crate) fn all(&self) -> Option<impl Iterator<Item = &Account> + '_> {
        self.backing
            .is_none()
            .then(|| self.resident.values().filter_map(Option::as_ref))
    }

    /// Sum of balances per currency recomputed over every account (memory mode), to check the
    /// kept [`Accounts::totals`]; `None` in store mode.
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    pub(crate) fn recount_totals(&self) -> Option<BTreeMap<Currency, i128>> {
        let mut totals = BTreeMap::new();
        for a in self.all()? {
            tally(&mut totals, counted(a), false);
        }
        Some(totals)
    }

    /// From now on, read accounts from `store`, which must hold every account of the current
    /// state (the node has persisted the state: call right after opening or installing it).
    /// Keeps at most `capacity` clean copies (at least 2). In store mode already, only the
    /// store and the capacity change. Frees the accounts held in memory.
    pub(crate) fn attach_store(&mut self, store: Arc<dyn AccountStore>, capacity: usize) {
        self.backing = Some(Backing {
            store,
            hot: elsa::FrozenBTreeMap::new(),
            warm: elsa::FrozenBTreeMap::new(),
            capacity: capacity.max(2),
            failure: OnceLock::new(),
            store_reads: std::sync::atomic::AtomicU64::new(0),
        });
        self.resident = BTreeMap::new();
    }

    /// The store holds every write so far (the node wrote the blocks executed until now):
    /// writes leave `resident` for the cache, which rotates a generation if `hot` is half full.
    /// Nothing in memory mode.
    pub(crate) fn persisted(&mut self) {
        let Some(b) = self.backing.as_mut() else {
            return;
        };
        let resident = std::mem::take(&mut self.resident);
        let (hot, warm) = (b.hot.as_mut(), b.warm.as_mut());
        for (id, value) in resident {
            warm.remove(&id);
            match value {
                Some(a) => {
                    hot.insert(id, Box::new(a));
                }
                None => {
                    hot.remove(&id);
                }
            }
        }
        if b.hot.len() >= b.capacity / 2 {
            b.warm = std::mem::take(&mut b.hot);
        }
    }

    /// The first read of the store that failed since it was attached, if any: a state
    /// computed after it cannot be trusted.
    pub(crate) fn read_failure(&self) -> Option<&str> {
        self.backing
            .as_ref()
            .and_then(|b| b.failure.get().map(String::as_str))
    }

    /// Figures for a node's status.
    pub(crate) fn stats(&self) -> AccountCacheStats {
        match &self.backing {
            None => AccountCacheStats {
                store_mode: false,
                resident: self.count,
                ..AccountCacheStats::default()
            },
            Some(b) => AccountCacheStats {
                store_mode: true,
                resident: self.resident.len() as u64,
                cached: (b.hot.len() + b.warm.len()) as u64,
                capacity: b.capacity as u64,
                store_reads: b.store_reads.load(std::sync::atomic::Ordering::Relaxed),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountDetail;
    use settlenet_types::{Height, MemberId};
    use std::sync::Mutex;

    /// A store over a map, counting reads, that can be told to fail.
    #[derive(Default)]
    struct MapStore {
        map: Mutex<BTreeMap<AccountId, Account>>,
        fail: std::sync::atomic::AtomicBool,
    }

    impl AccountStore for MapStore {
        fn account(&self, id: &AccountId) -> Result<Option<Account>, String> {
            if self.fail.load(std::sync::atomic::Ordering::Relaxed) {
                return Err("disk on fire".to_string());
            }
            Ok(self.map.lock().expect("lock").get(id).cloned())
        }
    }

    fn account(n: u8, credits: u128) -> Account {
        Account {
            id: AccountId([n; 16]),
            kind: AccountKind::Wallet,
            member: MemberId(0),
            currency: "EUR".parse().expect("currency"),
            owner: None,
            debits_pending: 0,
            debits_posted: 0,
            credits_pending: 0,
            credits_posted: credits,
            created_height: Height(0),
            detail: AccountDetail::None,
        }
    }

    /// What the node does after each block: write the changes, then `persisted`.
    fn persist(accounts: &mut Accounts, store: &MapStore) {
        let mut map = store.map.lock().expect("lock");
        for (id, v) in &accounts.resident {
            match v {
                Some(a) => {
                    map.insert(*id, a.clone());
                }
                None => {
                    map.remove(id);
                }
            }
        }
        drop(map);
        accounts.persisted();
    }

    #[test]
    fn store_mode_reads_what_memory_mode_holds_whatever_is_cached() {
        let store = Arc::new(MapStore::default());
        let mut memory = Accounts::new();
        let mut backed = Accounts::new();
        for n in 0..50u8 {
            memory.insert(account(n, u128::from(n)));
            backed.insert(account(n, u128::from(n)));
        }
        persist(&mut backed, &store);
        backed.attach_store(store.clone(), 8);
        for round in 0..20u8 {
            for n in (0..50u8).filter(|n| (n + round) % 3 == 0) {
                let a = account(n, u128::from(n) + u128::from(round));
                memory.insert(a.clone());
                backed.insert(a);
            }
            let gone = AccountId([round; 16]);
            assert_eq!(memory.remove(&gone), backed.remove(&gone));
            for n in 0..50u8 {
                let id = AccountId([n; 16]);
                assert_eq!(
                    memory.get(&id),
                    backed.get(&id),
                    "round {round}, account {n}"
                );
            }
            assert_eq!(memory.len(), backed.len());
            assert_eq!(memory.totals(), backed.totals());
            persist(&mut backed, &store);
            let s = backed.stats();
            assert!(s.cached <= 8 + 50, "{s:?}");
            assert_eq!(s.resident, 0);
        }
        assert_eq!(memory.recount_totals().as_ref(), Some(memory.totals()));
        assert!(backed.read_failure().is_none());
        assert!(backed.all().is_none());
    }

    #[test]
    fn an_account_removed_twice_before_it_is_persisted_stays_removed() {
        let store = Arc::new(MapStore::default());
        let mut backed = Accounts::new();
        backed.insert(account(1, 5));
        persist(&mut backed, &store);
        backed.attach_store(store.clone(), 8);
        let id = AccountId([1; 16]);
        assert!(backed.remove(&id).is_some());
        assert!(backed.remove(&id).is_none());
        assert!(
            backed.get(&id).is_none(),
            "the store still holds it until persisted"
        );
        assert_eq!(backed.len(), 0);
        persist(&mut backed, &store);
        assert!(backed.get(&id).is_none());
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let store = Arc::new(MapStore::default());
        let mut backed = Accounts::new();
        for n in 0..200u8 {
            backed.insert(account(n, 1));
        }
        persist(&mut backed, &store);
        backed.attach_store(store.clone(), 20);
        for n in 0..200u8 {
            assert!(backed.get(&AccountId([n; 16])).is_some());
            if n % 5 == 0 {
                backed.persisted();
            }
            // A generation may overshoot by the reads of one block before it rotates.
            assert!(backed.stats().cached <= 20 + 5, "{:?}", backed.stats());
        }
    }

    #[test]
    fn a_failed_read_is_kept_and_answered_as_absent() {
        let store = Arc::new(MapStore::default());
        let mut backed = Accounts::new();
        backed.insert(account(1, 5));
        persist(&mut backed, &store);
        backed.attach_store(store.clone(), 8);
        store.fail.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(backed.get(&AccountId([1; 16])).is_none());
        let failure = backed.read_failure().expect("kept");
        assert!(failure.contains("disk on fire"), "{failure}");
        assert!(
            failure.contains(&AccountId([1; 16]).to_string()),
            "{failure}"
        );
    }
}
