//! The ledger's [`AccountStore`] over the node's RocksDB store: the `accounts` column family,
//! which every block's write keeps equal to the ledger's state at the stored height.

use settlenet_ledger::{Account, AccountStore};
use settlenet_storage::Store;
use settlenet_types::{decode, AccountId};
use std::sync::Arc;

/// Reads accounts from the node's store for its ledger (see `settlenet_ledger::AccountStore`).
pub struct StoreAccounts(pub Arc<Store>);

impl AccountStore for StoreAccounts {
    fn account(&self, id: &AccountId) -> Result<Option<Account>, String> {
        let Some(bytes) = self.0.account(id).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        decode::<Account>("account", &bytes)
            .map(Some)
            .map_err(|e| format!("the stored value of account {id} does not decode: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_store_holds() {
        use crate::testnet::{init, read_genesis, TestnetOptions};
        let dir = tempfile::tempdir().expect("tempdir");
        let entries = init(dir.path(), &TestnetOptions::default()).expect("testnet");
        let genesis = read_genesis(&entries[0].home.join("genesis.json")).expect("genesis");
        let data = dir.path().join("data");
        let (store, ledger, _) =
            crate::open_state(&genesis, &data, Default::default(), 1_000).expect("open");
        assert!(
            ledger.accounts().is_none(),
            "the node's ledger reads from its store"
        );
        let accounts = StoreAccounts(store);
        let all: Vec<Account> = settlenet_ledger::Ledger::from_genesis(&genesis)
            .expect("genesis")
            .accounts()
            .expect("memory mode")
            .cloned()
            .collect();
        assert!(!all.is_empty());
        for a in &all {
            assert_eq!(accounts.account(&a.id).expect("read").as_ref(), Some(a));
        }
        assert_eq!(
            accounts.account(&AccountId([0xee; 16])).expect("read"),
            None
        );
    }
}
