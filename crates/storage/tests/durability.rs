//! What must survive: the consensus write-ahead log and evidence across reopening, and committed
//! blocks across the node process being killed (SIGKILL, in a child process).

mod common;

use common::*;
use settlenet_storage::EvidencePut;
use settlenet_types::{AccountId, Hash, Height, TxId};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

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
