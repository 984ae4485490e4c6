//! Installing a verified state snapshot, against a real RocksDB directory: refusals change
//! nothing, an install replaces the whole state at once, and the chain continues from it.

mod common;

use common::*;
use settlenet_storage::{SnapshotWrite, StorageError, Store};
use settlenet_types::{AccountId, Hash, Height, TxId};

#[test]
fn snapshot_install_replaces_the_state_atomically_and_refusals_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    init(&store);
    let b1 = commit_next(&store, &[1]);
    let b2 = commit_next(&store, &[2, 3]);
    let b3 = commit_next(&store, &[4]);
    let hashes = [b1.hash, b2.hash, b3.hash];
    store.wal_put(&[0, 1], b"old vote").expect("wal");
    store.wal_put(&[0, 2], b"view change").expect("wal");
    assert_eq!(store.base_height().expect("base"), Height(0));

    let anchor = make_block(10, Hash([0x99; 32]), &[9, 9, 12]);
    let accounts = vec![
        (AccountId([1; 16]), account_bytes(1, 7)),
        (AccountId([5; 16]), account_bytes(5, 7)),
    ];
    let records = vec![
        (TxId([9; 16]), record_bytes(9)),
        (TxId([12; 16]), record_bytes(12)),
    ];
    let wal_delete = vec![vec![0u8, 1]];

    // Refused: not above the head, and an anchor whose certificate is for another block.
    let before = snapshot(&store, &hashes);
    let stale = make_block(3, b2.hash, &[7]);
    let err = store
        .install_snapshot(SnapshotWrite {
            block: &stale,
            accounts: &accounts,
            records: &records,
            ledger_history: b"h10",
            wal_delete: &wal_delete,
        })
        .expect_err("stale snapshot");
    assert!(
        matches!(
            err,
            StorageError::SnapshotNotAhead {
                height: Height(3),
                head: Height(3)
            }
        ),
        "{err}"
    );
    let mut forged = anchor.clone();
    forged.certificate.block_hash = Hash([1; 32]);
    let err = store
        .install_snapshot(SnapshotWrite {
            block: &forged,
            accounts: &accounts,
            records: &records,
            ledger_history: b"h10",
            wal_delete: &wal_delete,
        })
        .expect_err("inconsistent anchor");
    assert!(
        matches!(err, StorageError::InconsistentBlock { .. }),
        "{err}"
    );
    assert_eq!(snapshot(&store, &hashes), before);
    assert_eq!(store.base_height().expect("base"), Height(0));
    assert!(store.wal_get(&[0, 1]).expect("wal").is_some());

    store
        .install_snapshot(SnapshotWrite {
            block: &anchor,
            accounts: &accounts,
            records: &records,
            ledger_history: b"h10",
            wal_delete: &wal_delete,
        })
        .expect("install");
    let check = |store: &Store| {
        assert_eq!(store.last_height().expect("h"), Height(10));
        assert_eq!(store.last_block_hash().expect("hash"), anchor.hash);
        assert_eq!(store.state_root().expect("root"), anchor.state_root);
        assert_eq!(store.base_height().expect("base"), Height(10));
        for h in 0..10 {
            assert_eq!(
                store.block(Height(h)).expect("block"),
                None,
                "block {h} kept"
            );
        }
        // No block's changes survive, not even the anchor's (the snapshot does not carry them).
        for h in 0..=10 {
            assert!(
                store.block_changes(Height(h)).expect("changes").is_empty(),
                "changes of block {h} kept"
            );
        }
        assert_eq!(
            store.block(Height(10)).expect("block"),
            Some(anchor.clone())
        );
        for h in &hashes {
            assert_eq!(store.height_of_block(h).expect("index"), None);
        }
        assert_eq!(
            store.height_of_block(&anchor.hash).expect("index"),
            Some(Height(10))
        );
        for id in 1..=4u8 {
            assert_eq!(store.tx_location(&TxId([id; 16])).expect("tx"), None);
        }
        // First inclusion within the anchor wins over its repeat.
        assert_eq!(
            store.tx_location(&TxId([9; 16])).expect("tx"),
            Some((Height(10), 0))
        );
        assert_eq!(
            store.tx_location(&TxId([12; 16])).expect("tx"),
            Some((Height(10), 2))
        );
        assert_eq!(store.all_accounts().expect("accounts"), accounts);
        // The live records are the snapshot's; the archive keeps what this node wrote before.
        assert_eq!(store.live_records().expect("records"), records);
        assert_eq!(
            store.ledger_history().expect("history").as_deref(),
            Some(&b"h10"[..])
        );
        assert!(store.record(&TxId([1; 16])).expect("archive").is_some());
        assert_eq!(store.wal_get(&[0, 1]).expect("wal"), None);
        assert_eq!(
            store.wal_get(&[0, 2]).expect("wal").as_deref(),
            Some(&b"view change"[..])
        );
    };
    check(&store);
    drop(store);
    let store = open(dir.path());
    check(&store);
    // The chain continues from the anchor.
    let b11 = commit_next(&store, &[13]);
    assert_eq!(b11.prev_hash, anchor.hash);
    assert_eq!(store.last_height().expect("h"), Height(11));
    assert_eq!(store.base_height().expect("base"), Height(10));
    assert_eq!(
        store.block_changes(Height(11)).expect("changes"),
        vec![(0, AccountId([1; 16])), (0, AccountId([2; 16]))]
    );
}
