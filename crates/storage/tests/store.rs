//! Store tests against real RocksDB directories.

use rocksdb::{Options, DB};
use settlenet_storage::{
    BlockWrite, EvidencePut, HistoryEntry, SnapshotWrite, StorageError, Store, CF_ACCOUNTS,
    CF_BLOCKS, CF_BLOCK_INDEX, CF_META, CF_TX_INDEX, COLUMN_FAMILIES, FORMAT_VERSION,
    META_FORMAT_VERSION, META_HEAD,
};
use settlenet_types::block::BLOCK_VERSION;
use settlenet_types::{
    encode, AccountId, Amount, Block, BlockHeader, CommitCertificate, CommitSignature, Hash,
    Height, Operation, PublicKey, ReplicaId, Signature, SignedTransaction, StoredBlock,
    Transaction, TxId, View, TX_VERSION,
};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

const GENESIS: Hash = Hash([7; 32]);
const OTHER_GENESIS: Hash = Hash([8; 32]);
const GENESIS_ROOT: Hash = Hash([0xaa; 32]);

fn tx(id: u8) -> SignedTransaction {
    SignedTransaction {
        tx: Transaction {
            version: TX_VERSION,
            chain_id: "test-chain".into(),
            id: TxId([id; 16]),
            signer: PublicKey([1; 32]),
            op: Operation::Transfer {
                from: AccountId([1; 16]),
                to: AccountId([2; 16]),
                amount: Amount(u64::from(id)),
            },
        },
        // Storage never verifies signatures.
        signature: Signature([id; 64]),
    }
}

fn state_root_at(height: u64) -> Hash {
    let mut root = [0u8; 32];
    root[..8].copy_from_slice(&height.to_be_bytes());
    root[31] = 0x5e;
    Hash(root)
}

/// A block at `height` linking to `prev_hash`, with one transaction per id in `tx_ids`.
fn make_block(height: u64, prev_hash: Hash, tx_ids: &[u8]) -> StoredBlock {
    let txs: Vec<SignedTransaction> = tx_ids.iter().map(|id| tx(*id)).collect();
    let header = BlockHeader {
        version: BLOCK_VERSION,
        chain_id: "test-chain".into(),
        height: Height(height),
        timestamp_ms: 1_000 * height,
        proposer: ReplicaId(0),
        tx_count: u32::try_from(txs.len()).expect("tx count"),
        tx_root: Block::compute_tx_root(&txs).expect("tx root"),
        state_height: Height(height - 1),
        state_root: state_root_at(height - 1),
    };
    let hash = header.hash().expect("header hash");
    StoredBlock {
        block: Block { header, txs },
        certificate: CommitCertificate {
            height: Height(height),
            view: View(0),
            block_hash: hash,
            signatures: vec![CommitSignature {
                replica: ReplicaId(0),
                signature: Signature([3; 64]),
            }],
        },
        hash,
        prev_hash,
        state_root: state_root_at(height),
    }
}

fn account_bytes(id: u8, version: u8) -> Vec<u8> {
    vec![id, version, 0xac]
}

fn record_bytes(id: u8) -> Vec<u8> {
    vec![id, 0x7e, 0xc0]
}

fn genesis_accounts() -> Vec<(AccountId, Vec<u8>)> {
    vec![
        (AccountId([1; 16]), account_bytes(1, 0)),
        (AccountId([2; 16]), account_bytes(2, 0)),
    ]
}

fn open(path: &Path) -> Store {
    Store::open(path, GENESIS).expect("open store")
}

fn init(store: &Store) {
    store
        .init_genesis(&genesis_accounts(), GENESIS_ROOT)
        .expect("init genesis");
}

/// Commit one block carrying `tx_ids`, with a record per tx and account 2 rewritten.
fn commit_next(store: &Store, tx_ids: &[u8]) -> StoredBlock {
    let height = store.last_height().expect("last height").0 + 1;
    let block = make_block(height, store.last_block_hash().expect("last hash"), tx_ids);
    let accounts = vec![(
        AccountId([2; 16]),
        account_bytes(2, u8::try_from(height).expect("small height")),
    )];
    let records: Vec<(TxId, Vec<u8>)> = tx_ids
        .iter()
        .map(|id| (TxId([*id; 16]), record_bytes(*id)))
        .collect();
    // Every tx changed account 1; odd ids also account 2.
    let mut history = Vec::new();
    for (i, id) in tx_ids.iter().enumerate() {
        let i = u32::try_from(i).expect("position");
        history.push((AccountId([1; 16]), i, TxId([*id; 16])));
        if id % 2 == 1 {
            history.push((AccountId([2; 16]), i, TxId([*id; 16])));
        }
    }
    store
        .commit_block(BlockWrite {
            block: &block,
            accounts: &accounts,
            records: &records,
            history: &history,
        })
        .expect("commit block");
    block
}

/// Everything observable through the public API, for before/after comparisons.
#[derive(Debug, PartialEq)]
struct Snapshot {
    last_height: Height,
    last_hash: Hash,
    state_root: Option<Hash>,
    blocks: Vec<Option<StoredBlock>>,
    block_index: Vec<Option<Height>>,
    tx_index: Vec<Option<(Height, u32)>>,
    accounts: Vec<(AccountId, Vec<u8>)>,
    records: Vec<(TxId, Vec<u8>)>,
    history: Vec<HistoryEntry>,
}

fn snapshot(store: &Store, hashes: &[Hash]) -> Snapshot {
    Snapshot {
        last_height: store.last_height().expect("height"),
        last_hash: store.last_block_hash().expect("hash"),
        state_root: store.state_root().ok(),
        blocks: (0..6)
            .map(|h| store.block(Height(h)).expect("block"))
            .collect(),
        block_index: hashes
            .iter()
            .map(|h| store.height_of_block(h).expect("index"))
            .collect(),
        tx_index: (0..=20)
            .map(|id| store.tx_location(&TxId([id; 16])).expect("tx index"))
            .collect(),
        accounts: store.all_accounts().expect("accounts"),
        records: store.all_records().expect("records"),
        history: store
            .account_history(&AccountId([1; 16]), None, 1000)
            .expect("history"),
    }
}

fn raw_db(path: &Path) -> DB {
    DB::open_cf(&Options::default(), path, COLUMN_FAMILIES).expect("raw open")
}

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
            .all_records()
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
fn consensus_wal_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    assert_eq!(store.wal_entries().expect("entries"), Vec::new());
    store.wal_put(b"view", b"\x00\x03").expect("put");
    store.wal_put(b"prepared/0001", b"block-a").expect("put");
    store.wal_put(b"prepared/0002", b"block-b").expect("put");
    store
        .wal_put(b"prepared/0001", b"block-a2")
        .expect("overwrite");
    store.wal_delete(b"prepared/0002").expect("delete");
    store.wal_delete(b"missing").expect("delete missing");
    assert_eq!(
        store.wal_get(b"view").expect("get"),
        Some(b"\x00\x03".to_vec())
    );
    assert_eq!(store.wal_get(b"prepared/0002").expect("get"), None);
    drop(store);
    let store = open(dir.path());
    assert_eq!(
        store.wal_entries().expect("entries"),
        vec![
            (b"prepared/0001".to_vec(), b"block-a2".to_vec()),
            (b"view".to_vec(), b"\x00\x03".to_vec()),
        ]
    );
    // The consensus WAL does not touch the chain.
    assert!(store.is_fresh().expect("fresh"));
}

#[test]
fn evidence_is_kept_once_bounded_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    assert_eq!(store.evidence_count().expect("count"), 0);
    assert_eq!(
        store
            .evidence_put(b"v1/prepare/0/5", b"first", 3)
            .expect("put"),
        EvidencePut::Stored
    );
    // The first record under a key is kept.
    assert_eq!(
        store
            .evidence_put(b"v1/prepare/0/5", b"second", 3)
            .expect("put"),
        EvidencePut::Duplicate
    );
    assert_eq!(
        store.evidence_put(b"v2/commit/0/5", b"b", 3).expect("put"),
        EvidencePut::Stored
    );
    assert_eq!(
        store.evidence_put(b"v3/commit/1/9", b"c", 3).expect("put"),
        EvidencePut::Stored
    );
    // Bounded: a fourth distinct key is not written.
    assert_eq!(
        store.evidence_put(b"v3/commit/2/9", b"d", 3).expect("put"),
        EvidencePut::Full
    );
    assert_eq!(store.evidence_count().expect("count"), 3);
    drop(store);
    let store = open(dir.path());
    assert_eq!(
        store.evidence_entries().expect("entries"),
        vec![
            (b"v1/prepare/0/5".to_vec(), b"first".to_vec()),
            (b"v2/commit/0/5".to_vec(), b"b".to_vec()),
            (b"v3/commit/1/9".to_vec(), b"c".to_vec()),
        ]
    );
    // Evidence does not touch the chain.
    assert!(store.is_fresh().expect("fresh"));
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

const CRASH_DIR_ENV: &str = "SETTLENET_STORAGE_CRASH_DIR";
const CRASH_BLOCKS: u64 = 40;
const CRASH_MARKER: &str = "settlenet-storage-crash-child: committed";
const CRASH_CHILD_WAIT_S_MAX: u64 = 120;

/// The child half of `committed_blocks_survive_sigkill`: does nothing unless the parent set
/// `CRASH_DIR_ENV`. Commits blocks without flushing or closing, says so, then waits to be killed.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR_ENV) else {
        return;
    };
    let store = open(Path::new(&dir));
    init(&store);
    for h in 1..=CRASH_BLOCKS {
        let id = u8::try_from(h).expect("small height");
        commit_next(&store, &[id, id.wrapping_add(100)]);
    }
    // The harness has already printed "test crash_child ... " without a newline.
    let mut out = std::io::stdout();
    writeln!(out, "\n{CRASH_MARKER}").expect("stdout");
    out.flush().expect("flush stdout");
    // Bounded, so that a parent that never kills us does not hang forever; exiting here (or
    // dropping the store) would not be a crash, so the parent checks that SIGKILL ended us.
    std::thread::sleep(std::time::Duration::from_secs(CRASH_CHILD_WAIT_S_MAX));
    std::process::exit(3);
}

#[test]
fn committed_blocks_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CRASH_DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let committed = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.trim() == CRASH_MARKER);
    // SIGKILL: no destructors, no flush, no clean close of RocksDB.
    child.kill().expect("kill child");
    let status = child.wait().expect("wait child");
    assert!(committed, "child exited without committing ({status})");
    assert_eq!(
        status.signal(),
        Some(9),
        "child was expected to die by SIGKILL ({status})"
    );

    let store = open(dir.path());
    assert_eq!(store.last_height().expect("height"), Height(CRASH_BLOCKS));
    let mut prev_hash = Hash::ZERO;
    for h in 1..=CRASH_BLOCKS {
        let id = u8::try_from(h).expect("small height");
        let expected = make_block(h, prev_hash, &[id, id.wrapping_add(100)]);
        assert_eq!(
            store.block(Height(h)).expect("block").as_ref(),
            Some(&expected),
            "block {h}"
        );
        assert_eq!(
            store.tx_location(&TxId([id; 16])).expect("tx"),
            Some((Height(h), 0))
        );
        prev_hash = expected.hash;
    }
    assert_eq!(store.last_block_hash().expect("hash"), prev_hash);
    assert_eq!(
        store.state_root().expect("root"),
        state_root_at(CRASH_BLOCKS)
    );
    assert_eq!(
        store.account(&AccountId([2; 16])).expect("acct"),
        Some(account_bytes(2, u8::try_from(CRASH_BLOCKS).expect("small")))
    );
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
        assert_eq!(store.all_records().expect("records"), records);
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
}
