//! Genesis, block commits and the chain reads, against real RocksDB directories: round trips
//! across reopening, refused commits that change nothing, concurrent commits, and paging
//! through an account's history.

mod common;

use common::*;
use settlenet_storage::{BlockWrite, StorageError, Store};
use settlenet_types::{AccountId, Hash, Height, StoredBlock, TxId};
use std::sync::Arc;

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
    assert_send_sync::<Arc<Store>>();
}

#[test]
fn round_trip_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    assert!(store.is_fresh().expect("fresh"));
    init(&store);
    assert!(!store.is_fresh().expect("fresh"));
    assert_eq!(store.last_height().expect("height"), Height(0));
    assert_eq!(store.last_block_hash().expect("hash"), Hash::ZERO);
    assert_eq!(store.state_root().expect("root"), GENESIS_ROOT);

    let b1 = commit_next(&store, &[10, 11]);
    // Tx 10 is included again in block 2 (a replayed retry): its location stays block 1.
    let b2 = commit_next(&store, &[12, 10]);
    // Tx 13 twice within one block: the first position wins.
    let b3 = commit_next(&store, &[]);
    let b4 = commit_next(&store, &[13, 14, 13]);
    let blocks = [b1, b2, b3, b4];

    let check = |store: &Store| {
        assert!(!store.is_fresh().expect("fresh"));
        assert_eq!(store.last_height().expect("height"), Height(4));
        assert_eq!(store.last_block_hash().expect("hash"), blocks[3].hash);
        assert_eq!(store.state_root().expect("root"), state_root_at(4));
        assert_eq!(store.block(Height(0)).expect("block 0"), None);
        assert_eq!(store.block(Height(5)).expect("block 5"), None);
        for (i, block) in blocks.iter().enumerate() {
            let height = Height(i as u64 + 1);
            assert_eq!(store.block(height).expect("block").as_ref(), Some(block));
            assert_eq!(
                store.height_of_block(&block.hash).expect("index"),
                Some(height)
            );
        }
        assert_eq!(blocks[1].prev_hash, blocks[0].hash);
        assert_eq!(store.height_of_block(&Hash([0x99; 32])).expect("idx"), None);
        let loc = |id: u8| store.tx_location(&TxId([id; 16])).expect("tx index");
        assert_eq!(loc(10), Some((Height(1), 0)));
        assert_eq!(loc(11), Some((Height(1), 1)));
        assert_eq!(loc(12), Some((Height(2), 0)));
        assert_eq!(loc(13), Some((Height(4), 0)));
        assert_eq!(loc(14), Some((Height(4), 1)));
        assert_eq!(loc(15), None);
        assert_eq!(
            store.account(&AccountId([1; 16])).expect("acct"),
            Some(account_bytes(1, 0))
        );
        assert_eq!(
            store.account(&AccountId([2; 16])).expect("acct"),
            Some(account_bytes(2, 4))
        );
        assert_eq!(store.account(&AccountId([3; 16])).expect("acct"), None);
        assert_eq!(
            store.all_accounts().expect("all accounts"),
            vec![
                (AccountId([1; 16]), account_bytes(1, 0)),
                (AccountId([2; 16]), account_bytes(2, 4)),
            ]
        );
        assert_eq!(
            store.record(&TxId([12; 16])).expect("record"),
            Some(record_bytes(12))
        );
        assert_eq!(store.record(&TxId([15; 16])).expect("record"), None);
        let record_ids: Vec<u8> = store
            .live_records()
            .expect("all records")
            .into_iter()
            .map(|(id, bytes)| {
                assert_eq!(bytes, record_bytes(id.0[0]));
                id.0[0]
            })
            .collect();
        assert_eq!(record_ids, vec![10, 11, 12, 13, 14]);
    };
    check(&store);
    drop(store);
    let store = open(dir.path());
    check(&store);
    // Still writable after reopening, and the chain continues.
    let b5 = commit_next(&store, &[15]);
    assert_eq!(b5.prev_hash, blocks[3].hash);
    store.flush().expect("flush");
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.last_height().expect("height"), Height(5));
    assert_eq!(store.block(Height(5)).expect("block 5"), Some(b5));
}

/// Issue 18: a block's records go to the archive and the live set; its pruned ids leave the live
/// set (what a restart loads) but stay in the archive (looked up by id); history nodes and the
/// accumulator are kept with the block, across reopening.
#[test]
fn pruned_records_leave_the_live_set_and_stay_in_the_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    init(&store);
    commit_next(&store, &[10, 11]);
    let b2 = make_block(2, store.last_block_hash().expect("hash"), &[12]);
    store
        .commit_block(BlockWrite {
            block: &b2,
            accounts: &[],
            records: &[(TxId([12; 16]), record_bytes(12))],
            history: &[],
            expired: &[],
            archived: &[],
            recorded_here: &[],
            pruned: &[TxId([10; 16])],
            history_nodes: &[(0, 1, Hash([2; 32])), (1, 0, Hash([3; 32]))],
            ledger_history: b"after 2",
        })
        .expect("commit");
    let check = |store: &Store| {
        let live: Vec<u8> = store
            .live_records()
            .expect("live")
            .into_iter()
            .map(|(id, _)| id.0[0])
            .collect();
        assert_eq!(live, vec![11, 12]);
        for id in [10u8, 11, 12] {
            assert_eq!(
                store.record(&TxId([id; 16])).expect("archive"),
                Some(record_bytes(id)),
                "record {id} archived"
            );
        }
        assert_eq!(store.history_node(0, 0).expect("node"), Some(Hash([1; 32])));
        assert_eq!(store.history_node(1, 0).expect("node"), Some(Hash([3; 32])));
        assert_eq!(store.history_node(1, 1).expect("node"), None);
        assert_eq!(store.history_leaf_of(Height(2)).expect("leaf"), Some(1));
        assert_eq!(store.history_leaf_of(Height(1)).expect("leaf"), Some(0));
        assert_eq!(store.history_leaf_of(Height(3)).expect("leaf"), None);
        assert_eq!(
            store.ledger_history().expect("history").as_deref(),
            Some(&b"after 2"[..])
        );
    };
    check(&store);
    drop(store);
    check(&open(dir.path()));
}

#[test]
fn fresh_store_has_no_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    assert_eq!(store.last_height().expect("height"), Height(0));
    assert_eq!(store.last_block_hash().expect("hash"), Hash::ZERO);
    assert!(matches!(
        store.state_root(),
        Err(StorageError::NotInitialised)
    ));
    let block = make_block(1, Hash::ZERO, &[1]);
    let err = store
        .commit_block(BlockWrite {
            block: &block,
            accounts: &[],
            records: &[],
            history: &[],
            expired: &[],
            archived: &[],
            recorded_here: &[],
            pruned: &[],
            history_nodes: &[],
            ledger_history: &[],
        })
        .expect_err("commit before genesis");
    assert!(matches!(err, StorageError::NotInitialised), "{err}");
    assert!(store.is_fresh().expect("fresh"));
}

#[test]
fn second_genesis_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    init(&store);
    commit_next(&store, &[1]);
    let err = store
        .init_genesis(&[(AccountId([1; 16]), vec![0xff])], Hash([1; 32]))
        .expect_err("second genesis");
    assert!(
        matches!(err, StorageError::AlreadyInitialised { last_height } if last_height == Height(1)),
        "{err}"
    );
    assert_eq!(
        store.account(&AccountId([1; 16])).expect("acct"),
        Some(account_bytes(1, 0))
    );
    assert_eq!(store.last_height().expect("height"), Height(1));
}

/// Table of bad commits: each is refused with the listed error and leaves the store unchanged,
/// including the accounts and records attached to it.
#[test]
fn refused_commits_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    init(&store);
    let b1 = commit_next(&store, &[1, 2]);
    let b2 = commit_next(&store, &[3]);

    let mut wrong_cert_hash = make_block(3, b2.hash, &[9]);
    wrong_cert_hash.certificate.block_hash = Hash([0x42; 32]);
    let mut wrong_cert_height = make_block(3, b2.hash, &[9]);
    wrong_cert_height.certificate.height = Height(2);
    type IsExpected = fn(&StorageError) -> bool;
    let cases: Vec<(&str, StoredBlock, IsExpected)> = vec![
        ("gap: height 4 after 2", make_block(4, b2.hash, &[9]), |e| {
            matches!(e, StorageError::OutOfOrder { expected, got }
                if *expected == Height(3) && *got == Height(4))
        }),
        (
            "replay: height 2 again",
            make_block(2, b1.hash, &[9]),
            |e| {
                matches!(e, StorageError::OutOfOrder { expected, got }
                if *expected == Height(3) && *got == Height(2))
            },
        ),
        (
            "replay: height 1 again",
            make_block(1, Hash::ZERO, &[9]),
            |e| matches!(e, StorageError::OutOfOrder { .. }),
        ),
        ("broken chain", make_block(3, b1.hash, &[9]), |e| {
            matches!(e, StorageError::BrokenChain { .. })
        }),
        ("certificate for another block", wrong_cert_hash, |e| {
            matches!(e, StorageError::InconsistentBlock { .. })
        }),
        ("certificate for another height", wrong_cert_height, |e| {
            matches!(e, StorageError::InconsistentBlock { .. })
        }),
    ];
    let hashes: Vec<Hash> = [&b1, &b2]
        .iter()
        .map(|b| b.hash)
        .chain(cases.iter().map(|(_, b, _)| b.hash))
        .collect();
    let before = snapshot(&store, &hashes);
    assert_eq!(before.last_height, Height(2));
    for (name, block, is_expected) in &cases {
        let err = store
            .commit_block(BlockWrite {
                block,
                accounts: &[(AccountId([1; 16]), vec![0xde, 0xad])],
                records: &[(TxId([9; 16]), vec![0xbe, 0xef])],
                history: &[(AccountId([1; 16]), 0, TxId([9; 16]))],
                expired: &[],
                archived: &[],
                recorded_here: &[],
                pruned: &[],
                history_nodes: &[],
                ledger_history: &[],
            })
            .expect_err(name);
        assert!(is_expected(&err), "{name}: unexpected error {err}");
        assert_eq!(
            snapshot(&store, &hashes),
            before,
            "{name} changed the store"
        );
    }
    drop(store);
    let store = open(dir.path());
    assert_eq!(snapshot(&store, &hashes), before, "changed after reopen");
}

#[test]
fn concurrent_commits_of_one_height_admit_exactly_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(open(dir.path()));
    init(&store);
    let block = Arc::new(make_block(1, Hash::ZERO, &[1]));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            let block = Arc::clone(&block);
            std::thread::spawn(move || {
                store
                    .commit_block(BlockWrite {
                        block: &block,
                        accounts: &[],
                        records: &[],
                        history: &[],
                        expired: &[],
                        archived: &[],
                        recorded_here: &[],
                        pruned: &[],
                        history_nodes: &[],
                        ledger_history: &[],
                    })
                    .is_ok()
            })
        })
        .collect();
    let ok = handles
        .into_iter()
        .map(|h| h.join().expect("join"))
        .filter(|ok| *ok)
        .count();
    assert_eq!(ok, 1);
    assert_eq!(store.last_height().expect("height"), Height(1));
}

#[test]
fn account_history_pages_newest_first_with_a_cursor() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path());
    init(&store);
    commit_next(&store, &[1, 2, 3]);
    commit_next(&store, &[4, 5]);
    commit_next(&store, &[6]);
    let a1 = AccountId([1; 16]);
    let all = store.account_history(&a1, None, 100).expect("history");
    let ids: Vec<u8> = all.iter().map(|e| e.tx.0[0]).collect();
    assert_eq!(ids, vec![6, 5, 4, 3, 2, 1]);
    assert_eq!((all[0].height, all[0].index), (Height(3), 0));
    assert_eq!((all[5].height, all[5].index), (Height(1), 0));
    // Pages of 2, each continuing strictly before the last entry of the previous page.
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.account_history(&a1, cursor, 2).expect("page");
        if page.is_empty() {
            break;
        }
        cursor = page.last().map(|e| (e.height, e.index));
        pages.push(page.iter().map(|e| e.tx.0[0]).collect::<Vec<_>>());
    }
    assert_eq!(pages, vec![vec![6, 5], vec![4, 3], vec![2, 1]]);
    // Account 2 saw only the odd ids; an unknown account has no history; the other account's
    // entries never leak into a neighbour's page.
    let a2: Vec<u8> = store
        .account_history(&AccountId([2; 16]), None, 100)
        .expect("history")
        .iter()
        .map(|e| e.tx.0[0])
        .collect();
    assert_eq!(a2, vec![5, 3, 1]);
    assert!(store
        .account_history(&AccountId([3; 16]), None, 100)
        .expect("history")
        .is_empty());
    assert!(store
        .account_history(&AccountId([0; 16]), None, 100)
        .expect("history")
        .is_empty());
    // Before the very first position: nothing.
    assert!(store
        .account_history(&a1, Some((Height(0), 0)), 10)
        .expect("history")
        .is_empty());
    // Survives reopening.
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.account_history(&a1, None, 100).expect("history"), all);
}

#[test]
fn block_changes_list_each_position_s_accounts_in_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path());
    init(&store);
    commit_next(&store, &[1, 2, 3]);
    commit_next(&store, &[4]);
    let a1 = AccountId([1; 16]);
    let a2 = AccountId([2; 16]);
    // Every tx changed account 1; odd ids also account 2 (see `commit_next`).
    assert_eq!(
        store.block_changes(Height(1)).expect("changes"),
        vec![(0, a1), (0, a2), (1, a1), (2, a1), (2, a2)]
    );
    // A block's entries never run into the next block's.
    assert_eq!(
        store.block_changes(Height(2)).expect("changes"),
        vec![(0, a1)]
    );
    // Blocks not held (genesis, above the head): none.
    assert!(store.block_changes(Height(0)).expect("changes").is_empty());
    assert!(store.block_changes(Height(3)).expect("changes").is_empty());
    // The same entries as the account history, seen from the other side.
    let from_history: usize = [a1, a2]
        .iter()
        .map(|a| store.account_history(a, None, 100).expect("history").len())
        .sum();
    let from_changes = (1..=2)
        .map(|h| store.block_changes(Height(h)).expect("changes").len())
        .sum::<usize>();
    assert_eq!(from_history, from_changes);
    drop(store);
    let store = open(dir.path());
    assert_eq!(
        store.block_changes(Height(2)).expect("changes"),
        vec![(0, a1)]
    );
}

/// Issue 18: an entry the ledger archived leaves the accounts (what a restart loads into
/// memory) and is kept, final value, in the archive (read by id), across reopening.
#[test]
fn archived_accounts_leave_the_state_and_stay_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    init(&store);
    let id = AccountId([1; 16]);
    assert!(
        store.account(&id).expect("read").is_some(),
        "a genesis account"
    );
    let b1 = make_block(1, store.last_block_hash().expect("hash"), &[10]);
    store
        .commit_block(BlockWrite {
            block: &b1,
            accounts: &[],
            records: &[(TxId([10; 16]), record_bytes(10))],
            history: &[],
            expired: &[],
            archived: &[(id, account_bytes(1, 9))],
            recorded_here: &[],
            pruned: &[],
            history_nodes: &[],
            ledger_history: b"after 1",
        })
        .expect("commit");
    let check = |store: &Store| {
        assert_eq!(store.account(&id).expect("read"), None);
        assert!(!store
            .all_accounts()
            .expect("all")
            .iter()
            .any(|(a, _)| *a == id));
        assert_eq!(
            store.archived_account(&id).expect("archive"),
            Some(account_bytes(1, 9))
        );
        assert_eq!(
            store
                .archived_account(&AccountId([2; 16]))
                .expect("archive"),
            None
        );
    };
    check(&store);
    store.flush().expect("flush");
    drop(store);
    check(&open(dir.path()));
}
