//! Opening a directory, against real RocksDB directories: its genesis and format version are
//! checked, a directory of an older format is refused, one missing a newer column family opens,
//! and values corrupted behind the store's back are reported rather than panicked on.

mod common;

use common::*;
use rocksdb::{Options, DB};
use settlenet_storage::{
    EvidencePut, StorageError, Store, CF_ACCOUNTS, CF_BLOCKS, CF_BLOCK_INDEX, CF_META, CF_TX_INDEX,
    COLUMN_FAMILIES, FORMAT_VERSION, META_FORMAT_VERSION, META_HEAD,
};
use settlenet_types::{encode, Hash, Height, TxId};

#[test]
fn other_genesis_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    init(&store);
    commit_next(&store, &[1]);
    drop(store);
    let err = Store::open(dir.path(), OTHER_GENESIS).expect_err("other genesis");
    match &err {
        StorageError::GenesisMismatch { stored, expected } => {
            assert_eq!(*stored, GENESIS);
            assert_eq!(*expected, OTHER_GENESIS);
        }
        other => panic!("unexpected error {other}"),
    }
    // A directory is bound to its genesis from the first open, even before init_genesis.
    let fresh = tempfile::tempdir().expect("tempdir");
    drop(open(fresh.path()));
    assert!(matches!(
        Store::open(fresh.path(), OTHER_GENESIS),
        Err(StorageError::GenesisMismatch { .. })
    ));
    // The right genesis still opens, with its data.
    let store = open(dir.path());
    assert_eq!(store.last_height().expect("height"), Height(1));
}

#[test]
fn unknown_format_version_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(dir.path()));
    {
        let db = raw_db(dir.path());
        let meta = db.cf_handle(CF_META).expect("meta cf");
        db.put_cf(meta, META_FORMAT_VERSION, encode("v", &99u32).expect("enc"))
            .expect("put");
    }
    let err = Store::open(dir.path(), GENESIS).expect_err("unknown format");
    assert!(
        matches!(err, StorageError::UnsupportedFormat { found: 99, supported } if supported == FORMAT_VERSION),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("99"), "{message}");
    assert!(message.contains(&FORMAT_VERSION.to_string()), "{message}");
}

/// Table of corruptions written behind the store's back: each read reports `Corrupt`, naming
/// what was read, instead of panicking or returning garbage.
#[test]
fn corrupted_values_are_reported_not_panicked() {
    type Read = fn(&Store) -> Result<(), StorageError>;
    let b1_hash = make_block(1, Hash::ZERO, &[1]).hash;
    /// (case, column family, key, garbage value, expected `what`, the read that must fail)
    type Case = (
        &'static str,
        &'static str,
        Vec<u8>,
        Vec<u8>,
        &'static str,
        Read,
    );
    let cases: Vec<Case> = vec![
        (
            "block garbage",
            CF_BLOCKS,
            1u64.to_be_bytes().to_vec(),
            vec![0xff; 7],
            "stored block",
            |s| s.block(Height(1)).map(drop),
        ),
        (
            "block under the wrong height",
            CF_BLOCKS,
            2u64.to_be_bytes().to_vec(),
            encode("b", &make_block(1, Hash::ZERO, &[1])).expect("enc"),
            "stored block",
            |s| s.block(Height(2)).map(drop),
        ),
        (
            "block index garbage",
            CF_BLOCK_INDEX,
            b1_hash.0.to_vec(),
            vec![1, 2, 3],
            "block height",
            |s| {
                s.height_of_block(&make_block(1, Hash::ZERO, &[1]).hash)
                    .map(drop)
            },
        ),
        (
            "tx index garbage",
            CF_TX_INDEX,
            vec![1; 16],
            vec![0; 13],
            "tx location",
            |s| s.tx_location(&TxId([1; 16])).map(drop),
        ),
        (
            "head garbage",
            CF_META,
            META_HEAD.to_vec(),
            vec![0; 3],
            "chain head",
            |s| s.last_height().map(drop),
        ),
        (
            "account key of the wrong length",
            CF_ACCOUNTS,
            vec![1; 5],
            vec![0],
            "account key",
            |s| s.all_accounts().map(drop),
        ),
    ];
    for (name, cf, key, value, what_expected, read) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = open(dir.path());
            init(&store);
            commit_next(&store, &[1]);
        }
        {
            let db = raw_db(dir.path());
            let handle = db.cf_handle(cf).expect("cf");
            db.put_cf(handle, &key, &value).expect("raw put");
        }
        let store = open(dir.path());
        match read(&store) {
            Err(StorageError::Corrupt {
                what, key: shown, ..
            }) => {
                assert_eq!(what, what_expected, "{name}");
                let key_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(shown, key_hex, "{name}");
            }
            other => panic!("{name}: expected Corrupt, got {other:?}"),
        }
    }
}

#[test]
fn a_directory_without_the_evidence_family_opens() {
    // A directory created before the `evidence` column family existed.
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let older: Vec<&str> = COLUMN_FAMILIES
            .iter()
            .copied()
            .filter(|cf| *cf != "evidence")
            .collect();
        assert_eq!(older.len(), COLUMN_FAMILIES.len() - 1);
        DB::open_cf(&opts, dir.path(), older).expect("older layout");
    }
    let store = open(dir.path());
    assert_eq!(store.evidence_count().expect("count"), 0);
    assert_eq!(
        store.evidence_put(b"k", b"v", 10).expect("put"),
        EvidencePut::Stored
    );
}

#[test]
fn an_older_format_is_refused_not_upgraded() {
    // Format 3 held every record as the ledger's state, under another state root: it cannot
    // become format 4 in place.
    for old in [2u32, 3] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        init(&store);
        drop(store);
        {
            let db = raw_db(dir.path());
            let meta = db.cf_handle(CF_META).expect("meta cf");
            db.put_cf(meta, META_FORMAT_VERSION, encode("v", &old).expect("enc"))
                .expect("put");
        }
        match Store::open(dir.path(), GENESIS) {
            Err(StorageError::UnsupportedFormat { found, supported }) => {
                assert_eq!((found, supported), (old, FORMAT_VERSION));
            }
            other => panic!("format {old}: expected UnsupportedFormat, got {other:?}"),
        }
    }
}
