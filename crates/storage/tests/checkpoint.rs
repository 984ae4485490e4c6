//! Store checkpoints, against real RocksDB directories: a checkpoint holds exactly the state
//! when it was taken (later blocks do not reach it), opens read-only (writes refused, other
//! genesis refused), and pages through accounts and live records in id order.

mod common;

use common::*;
use settlenet_storage::{StorageError, Store};
use settlenet_types::{AccountId, Hash, Height, TxId};

#[test]
fn a_checkpoint_holds_the_state_it_was_taken_at_and_pages_in_id_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("db"));
    init(&store);
    commit_next(&store, &[5, 1, 9]);
    let b2 = commit_next(&store, &[3, 7]);
    store.flush_in_background().expect("background flush");
    let cp = dir.path().join("checkpoints").join("2");
    std::fs::create_dir_all(cp.parent().expect("parent")).expect("dir");
    store.checkpoint(&cp).expect("checkpoint");
    // A checkpoint never overwrites: the same directory again is refused.
    let err = store.checkpoint(&cp).expect_err("exists");
    assert!(matches!(err, StorageError::Db { .. }), "{err}");

    // The live store goes on; the checkpoint does not see it.
    commit_next(&store, &[2, 4]);
    let ro = Store::open_read_only(&cp, GENESIS).expect("open read-only");
    assert_eq!(
        ro.head_root().expect("head"),
        Some((Height(2), b2.state_root))
    );
    assert_eq!(ro.ledger_history().expect("history"), Some(vec![2u8]));
    let ids: Vec<u8> = ro
        .live_records_after(None, 100)
        .expect("records")
        .iter()
        .map(|(id, _)| id.0[0])
        .collect();
    assert_eq!(
        ids,
        vec![1, 3, 5, 7, 9],
        "id order, block 3's records absent"
    );
    // Pages: strictly after the cursor, at most the limit.
    let page = ro
        .live_records_after(Some(&TxId([3; 16])), 2)
        .expect("page");
    assert_eq!(
        page,
        vec![
            (TxId([5; 16]), record_bytes(5)),
            (TxId([7; 16]), record_bytes(7))
        ]
    );
    assert!(ro
        .live_records_after(Some(&TxId([9; 16])), 10)
        .expect("end")
        .is_empty());
    let accounts = ro.accounts_after(None, 10).expect("accounts");
    assert_eq!(
        accounts,
        vec![
            (AccountId([1; 16]), account_bytes(1, 0)),
            (AccountId([2; 16]), account_bytes(2, 2)),
        ],
        "account 2 as of height 2"
    );
    assert_eq!(
        ro.accounts_after(Some(&AccountId([1; 16])), 10)
            .expect("after 1")
            .len(),
        1
    );
    // Read-only: a write is refused and changes nothing.
    assert!(ro.wal_put(&[1], b"x").is_err());
    assert_eq!(
        ro.head_root().expect("head"),
        Some((Height(2), b2.state_root))
    );
    drop(ro);

    // Another network's genesis, and a directory that is no store, are refused.
    let err = Store::open_read_only(&cp, Hash([0xee; 32])).expect_err("other genesis");
    assert!(matches!(err, StorageError::GenesisMismatch { .. }), "{err}");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    assert!(Store::open_read_only(&empty, GENESIS).is_err());
    assert_eq!(
        store.head_root().expect("live head").map(|(h, _)| h),
        Some(Height(3))
    );

    // Disk use by family, and a full compaction that keeps every entry.
    store.compact().expect("compact");
    let stats = store.family_stats().expect("stats");
    assert_eq!(stats.len(), settlenet_storage::COLUMN_FAMILIES.len());
    let records = stats.iter().find(|f| f.name == "records").expect("records");
    assert!(
        // An empty memtable still reports its arena's first block (2 KiB).
        records.sst_bytes > 0 && records.keys == 7 && records.memtable_bytes < 64 * 1024,
        "{records:?}"
    );
    assert_eq!(
        store.live_records_after(None, 100).expect("records").len(),
        7
    );
}

#[test]
fn memory_limits_are_applied_reported_and_too_small_ones_refused() {
    use settlenet_storage::{StoreMemoryLimits, MEMORY_LIMIT_MIN_BYTES};
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    // Below the minimum: refused by name, and nothing is created.
    for (limits, what) in [
        (
            StoreMemoryLimits {
                block_cache_bytes: MEMORY_LIMIT_MIN_BYTES - 1,
                memtables_bytes: 32 << 20,
            },
            "block cache",
        ),
        (
            StoreMemoryLimits {
                block_cache_bytes: 32 << 20,
                memtables_bytes: 1 << 20,
            },
            "memtable budget",
        ),
    ] {
        let err = Store::open_with(&db, GENESIS, limits).expect_err("too small");
        assert!(
            matches!(err, StorageError::Config(_)) && err.to_string().contains(what),
            "{err}"
        );
        assert!(!db.exists(), "a refused open created {}", db.display());
    }
    let limits = StoreMemoryLimits {
        block_cache_bytes: 16 << 20,
        memtables_bytes: 32 << 20,
    };
    let store = Store::open_with(&db, GENESIS, limits).expect("open");
    init(&store);
    for i in 1..=20u8 {
        commit_next(&store, &[i, i.wrapping_add(100)]);
    }
    let m = store.memory().expect("memory");
    assert_eq!(m.block_cache_capacity_bytes, 16 << 20, "{m:?}");
    assert!(m.block_cache_bytes <= 16 << 20, "{m:?}");
    assert!(
        m.memtables_bytes > 0 && m.memtables_bytes <= 32 << 20,
        "{m:?}"
    );
    assert_eq!(
        m.total_bytes(),
        m.memtables_bytes + m.table_readers_bytes + m.block_cache_bytes
    );
    // The default store reports the default capacity.
    drop(store);
    let store = open(&db);
    assert_eq!(
        store.memory().expect("memory").block_cache_capacity_bytes,
        settlenet_storage::BLOCK_CACHE_BYTES as u64
    );
}
