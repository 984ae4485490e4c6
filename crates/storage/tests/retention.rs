//! Block retention against real RocksDB directories: pruning drops old blocks' bodies and their
//! changed-accounts entries, keeps every block's summary (header, certificate, chain link, state
//! root, transaction ids), the records, the tx index and the account history; it survives a
//! reopen, never passes the head, never goes back; and a directory written before summaries
//! existed is pruned a bounded number of blocks a call, keeping summaries derived from its blocks.

mod common;

use common::*;
use settlenet_storage::{
    BlockWrite, Store, CF_BLOCK_SUMMARIES, CF_META, META_SUMMARIES_FROM, PRUNE_UNSUMMARISED_MAX,
};
use settlenet_types::{AccountId, Height, StoredBlock, TxId};

/// Commit `n` blocks of one transaction each, with its record and account-history entry.
fn commit_many(store: &Store, n: u64) -> Vec<StoredBlock> {
    (0..n)
        .map(|i| {
            let id = u8::try_from(i % 250).expect("small") + 1;
            let height = store.last_height().expect("height").0 + 1;
            let block = make_block(height, store.last_block_hash().expect("hash"), &[id]);
            let tx = TxId([id; 16]);
            store
                .commit_block(BlockWrite {
                    block: &block,
                    accounts: &[],
                    records: &[(tx, record_bytes(id))],
                    history: &[(AccountId([1; 16]), 0, tx)],
                    expired: &[],
                    archived: &[],
                    recorded_here: &[],
                    pruned: &[],
                    history_nodes: &[],
                    ledger_history: &[1],
                })
                .expect("commit");
            block
        })
        .collect()
}

#[test]
fn pruning_keeps_summaries_records_and_history_and_drops_bodies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    init(&store);
    let blocks = commit_many(&store, 10);
    assert_eq!(store.blocks_from().expect("from"), Height(1));
    let history_before = store
        .account_history(&AccountId([1; 16]), None, 100)
        .expect("history");
    assert_eq!(history_before.len(), 10);

    assert_eq!(store.prune_blocks(Height(6)).expect("prune"), Height(6));
    let check = |store: &Store, from: u64| {
        assert_eq!(store.blocks_from().expect("from"), Height(from));
        for (i, b) in blocks.iter().enumerate() {
            let h = Height(i as u64 + 1);
            let held = store.block(h).expect("block");
            if h.0 < from {
                assert_eq!(held, None, "block {h} pruned");
                assert!(store.block_changes(h).expect("changes").is_empty());
            } else {
                assert_eq!(held.as_ref(), Some(b), "block {h} kept");
                assert!(!store.block_changes(h).expect("changes").is_empty());
            }
            // Whatever the age: the summary, the tx index, the record, the block index.
            assert_eq!(store.block_summary(h).expect("summary"), Some(b.summary()));
            let id = b.block.txs[0].tx.id;
            assert_eq!(store.tx_location(&id).expect("loc"), Some((h, 0)));
            assert!(store.record(&id).expect("record").is_some());
            assert_eq!(store.height_of_block(&b.hash).expect("index"), Some(h));
        }
        assert_eq!(store.block_summary(Height(0)).expect("genesis"), None);
        assert_eq!(store.block_summary(Height(11)).expect("above"), None);
        assert_eq!(
            store
                .account_history(&AccountId([1; 16]), None, 100)
                .expect("history"),
            history_before
        );
    };
    check(&store, 6);
    // Never back, and it survives a reopen.
    assert_eq!(store.prune_blocks(Height(3)).expect("prune"), Height(6));
    drop(store);
    let store = open(dir.path());
    check(&store, 6);
    // Never the head's block.
    assert_eq!(
        store.prune_blocks(Height(1_000)).expect("prune"),
        Height(10)
    );
    check(&store, 10);
    // The chain goes on.
    let next = commit_next(&store, &[200]);
    assert_eq!(store.block(Height(11)).expect("block"), Some(next.clone()));
    assert_eq!(
        store.block_summary(Height(11)).expect("s"),
        Some(next.summary())
    );
}

#[test]
fn a_directory_from_before_summaries_is_pruned_in_bounded_steps_keeping_summaries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    init(&store);
    let old_count = PRUNE_UNSUMMARISED_MAX + 44;
    let mut blocks = commit_many(&store, old_count);
    drop(store);
    // Make it look written by an older build: no summaries, no marker.
    {
        let db = raw_db(dir.path());
        let summaries = db.cf_handle(CF_BLOCK_SUMMARIES).expect("cf");
        let mut batch = rocksdb::WriteBatch::default();
        batch.delete_range_cf(summaries, [0u8; 8], [0xffu8; 8]);
        batch.delete_cf(db.cf_handle(CF_META).expect("meta"), META_SUMMARIES_FROM);
        db.write(batch).expect("write");
    }
    let store = open(dir.path());
    blocks.extend(commit_many(&store, 20));
    let all = blocks.len() as u64;
    // Summaries of the older blocks are derived from the blocks themselves.
    for (i, b) in blocks.iter().enumerate() {
        let h = Height(i as u64 + 1);
        assert_eq!(store.block_summary(h).expect("summary"), Some(b.summary()));
    }
    // Pruning to near the head: the first call stops after the bounded number of older blocks.
    let target = Height(all - 5);
    let first = store.prune_blocks(target).expect("prune");
    assert_eq!(first, Height(1 + PRUNE_UNSUMMARISED_MAX));
    let second = store.prune_blocks(target).expect("prune");
    assert_eq!(second, target);
    for (i, b) in blocks.iter().enumerate() {
        let h = Height(i as u64 + 1);
        assert_eq!(store.block(h).expect("block").is_some(), h >= target);
        assert_eq!(
            store.block_summary(h).expect("summary"),
            Some(b.summary()),
            "summary of {h}"
        );
        let id: TxId = b.block.txs[0].tx.id;
        assert!(store.tx_location(&id).expect("loc").is_some());
    }
}
