//! Fixtures shared by the store tests: blocks and transactions built to order, a store opened
//! and initialised at a known genesis, and a before/after view of everything the public API
//! shows.
// Each test file is its own crate and uses only some of these fixtures.
#![allow(dead_code)]

use rocksdb::{Options, DB};
use settlenet_storage::{BlockWrite, HistoryEntry, Store, COLUMN_FAMILIES};
use settlenet_types::block::BLOCK_VERSION;
use settlenet_types::{
    AccountId, Amount, Block, BlockHeader, CommitCertificate, CommitSignature, Hash, Height,
    Operation, PublicKey, ReplicaId, Signature, SignedTransaction, StoredBlock, Transaction, TxId,
    TxNonce, View,
};
use std::path::Path;

pub const GENESIS: Hash = Hash([7; 32]);
pub const OTHER_GENESIS: Hash = Hash([8; 32]);
pub const GENESIS_ROOT: Hash = Hash([0xaa; 32]);

pub fn tx(id: u8) -> SignedTransaction {
    SignedTransaction {
        // Storage never checks ids or signatures: the id is `[id; 16]`, for the index tests.
        tx: Transaction {
            id: TxId([id; 16]),
            ..Transaction::new(
                "test-chain",
                PublicKey([1; 32]),
                TxNonce([id; 16]),
                Operation::Transfer {
                    from: AccountId([1; 16]),
                    to: AccountId([2; 16]),
                    amount: Amount(u64::from(id)),
                },
                u64::MAX,
            )
        },
        signature: Signature([id; 64]),
    }
}

pub fn state_root_at(height: u64) -> Hash {
    let mut root = [0u8; 32];
    root[..8].copy_from_slice(&height.to_be_bytes());
    root[31] = 0x5e;
    Hash(root)
}

/// A block at `height` linking to `prev_hash`, with one transaction per id in `tx_ids`.
pub fn make_block(height: u64, prev_hash: Hash, tx_ids: &[u8]) -> StoredBlock {
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

pub fn account_bytes(id: u8, version: u8) -> Vec<u8> {
    vec![id, version, 0xac]
}

pub fn record_bytes(id: u8) -> Vec<u8> {
    vec![id, 0x7e, 0xc0]
}

pub fn genesis_accounts() -> Vec<(AccountId, Vec<u8>)> {
    vec![
        (AccountId([1; 16]), account_bytes(1, 0)),
        (AccountId([2; 16]), account_bytes(2, 0)),
    ]
}

pub fn open(path: &Path) -> Store {
    Store::open(path, GENESIS).expect("open store")
}

pub fn init(store: &Store) {
    store
        .init_genesis(&genesis_accounts(), GENESIS_ROOT)
        .expect("init genesis");
}

/// Commit one block carrying `tx_ids`, with a record per tx and account 2 rewritten.
pub fn commit_next(store: &Store, tx_ids: &[u8]) -> StoredBlock {
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
            expired: &[],
            archived: &[],
            recorded_here: &[],
            pruned: &[],
            history_nodes: &[(0, height - 1, Hash([height as u8; 32]))],
            ledger_history: &[height as u8],
        })
        .expect("commit block");
    block
}

/// Everything observable through the public API, for before/after comparisons.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub last_height: Height,
    pub last_hash: Hash,
    pub state_root: Option<Hash>,
    pub blocks: Vec<Option<StoredBlock>>,
    pub block_index: Vec<Option<Height>>,
    pub tx_index: Vec<Option<(Height, u32)>>,
    pub accounts: Vec<(AccountId, Vec<u8>)>,
    pub records: Vec<(TxId, Vec<u8>)>,
    pub ledger_history: Option<Vec<u8>>,
    pub history: Vec<HistoryEntry>,
    pub changes: Vec<Vec<(u32, AccountId)>>,
}

pub fn snapshot(store: &Store, hashes: &[Hash]) -> Snapshot {
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
        records: store.live_records().expect("records"),
        ledger_history: store.ledger_history().expect("ledger history"),
        history: store
            .account_history(&AccountId([1; 16]), None, 1000)
            .expect("history"),
        changes: (0..6)
            .map(|h| store.block_changes(Height(h)).expect("changes"))
            .collect(),
    }
}

pub fn raw_db(path: &Path) -> DB {
    DB::open_cf(&Options::default(), path, COLUMN_FAMILIES).expect("raw open")
}
