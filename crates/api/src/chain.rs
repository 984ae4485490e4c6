//! The chain: node status, blocks, submitted and committed transactions, evidence.

use crate::ErrorDetail;
use serde::{Deserialize, Serialize};
use settlenet_types::{
    BlockHeader, Hash, Height, Operation, PublicKey, ReplicaId, Signature, TxId, View,
};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `GET /v1/status`: where this node is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// The chain id of the genesis.
    pub chain_id: String,
    /// The genesis hash (compare it with `settlenet genesis show`).
    #[schema(value_type = String)]
    pub genesis_hash: Hash,
    /// `validator` or `observer` (an integrator's node: syncs and checks every block, serves
    /// reads, forwards submissions to a validator, never votes).
    pub role: String,
    /// This node's name.
    pub node: String,
    /// Committed (executed and stored) height.
    #[schema(value_type = u64)]
    pub height: Height,
    /// Hash of the block at `height` (zero at genesis).
    #[schema(value_type = String)]
    pub last_block_hash: Hash,
    /// Consensus timestamp of the block at `height`, ms.
    pub last_block_time_ms: u64,
    /// Ledger state root after `height`.
    #[schema(value_type = String)]
    pub state_root: Hash,
    /// Current PBFT view.
    #[schema(value_type = u64)]
    pub view: View,
    /// Height of the last stable checkpoint.
    #[schema(value_type = u64)]
    pub stable_checkpoint: Height,
    /// Name of the current primary.
    pub primary: String,
    /// Names of the connected validator peers.
    pub peers: Vec<String>,
    /// Pending transactions in this node's mempool.
    pub mempool: u64,
    /// The snapshot height this node's state was installed from (0: grown from genesis).
    #[schema(value_type = u64)]
    pub base_height: Height,
    /// The lowest height whose full block (with transactions) this node holds: above
    /// `base_height` and what retention (`[sync] retain_blocks`) pruned. Below it, a block's
    /// header, certificate and transaction ids are still served.
    #[serde(default)]
    #[schema(value_type = u64)]
    pub blocks_from: Height,
    /// Number of validators in the genesis.
    pub validators: u64,
    /// Monotonic counters by name (`txs_committed`, `blocks_committed`, ...).
    pub counters: BTreeMap<String, u64>,
    /// Where this node's memory goes, as far as it can tell.
    #[serde(default)]
    pub memory: MemoryView,
}

/// `memory` of `GET /v1/status`: the process's resident memory and the parts of it the node
/// can account for: the Rust heap (jemalloc's figures: the ledger, the machine, network
/// buffers), RocksDB's memtables, table readers and block cache (C++, the system allocator),
/// the read-only stores of checkpoints being served, and the ledger's in-memory set sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemoryView {
    /// Resident set size of the process (`VmRSS`; 0 where the OS does not say).
    pub rss_bytes: u64,
    /// Bytes the Rust side of the process has allocated and not freed (jemalloc's
    /// `stats.allocated`; 0 where the process does not use jemalloc).
    #[serde(default)]
    pub heap_allocated_bytes: u64,
    /// Bytes of physical memory jemalloc holds for it (`stats.resident`: the allocations, their
    /// pages' free space, and freed pages not yet returned to the OS).
    #[serde(default)]
    pub heap_resident_bytes: u64,
    /// The store's memtables (bounded by its write buffer limit).
    pub store_memtables_bytes: u64,
    /// What the store's open table files hold outside the block cache.
    pub store_table_readers_bytes: u64,
    /// The store's block cache in use.
    pub store_block_cache_bytes: u64,
    /// The block cache's capacity.
    pub store_block_cache_capacity_bytes: u64,
    /// Read-only stores open on checkpoints (snapshots being served).
    pub checkpoint_stores: u64,
    /// What those hold (memtables, table readers, block caches).
    pub checkpoint_stores_bytes: u64,
    /// Accounts in the ledger's state (in the store; see the next two).
    pub ledger_accounts: u64,
    /// Accounts the ledger holds in memory: written by blocks not yet persisted, plus clean
    /// copies cached in front of the store.
    pub ledger_accounts_in_memory: u64,
    /// The account cache's capacity (`[storage] account_cache`).
    pub ledger_account_cache_capacity: u64,
    /// Reads of an account that went to the store (a cache miss) since the node started.
    pub ledger_account_store_reads: u64,
    /// Live transaction records in the ledger (the idempotency set, bounded by validity).
    pub ledger_live_records: u64,
}

/// `GET /v1/blocks/{height}` and `GET /v1/blocks/latest`: a committed block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Block {
    /// Its height.
    #[schema(value_type = u64)]
    pub height: Height,
    /// Its header hash.
    #[schema(value_type = String)]
    pub hash: Hash,
    /// The previous block's hash.
    #[schema(value_type = String)]
    pub prev_hash: Hash,
    /// Consensus timestamp, ms.
    pub timestamp: u64,
    /// Ledger state root after executing it.
    #[schema(value_type = String)]
    pub state_root: Hash,
    /// The replica that proposed it.
    #[schema(value_type = u16)]
    pub proposer: ReplicaId,
    /// Transactions in it.
    pub tx_count: u32,
    /// Merkle root of its transactions.
    #[schema(value_type = String)]
    pub tx_root: Hash,
    /// The (earlier) state its header certifies.
    pub certified_state: CertifiedState,
    /// The header as signed.
    #[schema(value_type = Object)]
    pub header: BlockHeader,
    /// Its transactions with their results (empty when `pruned`).
    pub transactions: Vec<BlockTx>,
    /// The node dropped this block's transactions (retention); its header, certificate and
    /// transaction ids (`GET /v1/blocks/{height}/txids`) are kept.
    #[serde(default)]
    pub pruned: bool,
    /// The commit certificate.
    pub certificate: BlockCertificate,
}

/// The state root a block header certifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertifiedState {
    /// The height of that state.
    #[schema(value_type = u64)]
    pub height: Height,
    /// Its root.
    #[schema(value_type = String)]
    pub root: Hash,
}

/// One transaction of a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockTx {
    /// Its id.
    #[schema(value_type = String)]
    pub id: TxId,
    /// Its signer.
    #[schema(value_type = String)]
    pub signer: PublicKey,
    /// What it does.
    #[schema(value_type = Object)]
    pub op: Operation,
    /// The signer's signature.
    #[schema(value_type = String)]
    pub signature: Signature,
    /// The ledger's result code (`ok`, a rejection reason, `duplicate` or `unknown`).
    pub result: String,
}

/// A block's commit certificate with the validators' names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockCertificate {
    /// The height certified.
    #[schema(value_type = u64)]
    pub height: Height,
    /// The view it committed in.
    #[schema(value_type = u64)]
    pub view: View,
    /// The header hash signed.
    #[schema(value_type = String)]
    pub block_hash: Hash,
    /// 2f+1 validator signatures.
    pub signatures: Vec<NamedSignature>,
}

/// A validator's commit signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NamedSignature {
    /// The replica index.
    #[schema(value_type = u16)]
    pub replica: ReplicaId,
    /// The validator's name in the genesis.
    pub validator: String,
    /// Its signature over the header hash.
    #[schema(value_type = String)]
    pub signature: Signature,
}

/// `GET /v1/blocks/{height}/txids`: a block's transaction ids only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockTxIds {
    /// Its height.
    #[schema(value_type = u64)]
    pub height: Height,
    /// Its header hash.
    #[schema(value_type = String)]
    pub hash: Hash,
    /// Consensus timestamp, ms.
    pub timestamp: u64,
    /// The ids, in block order.
    #[schema(value_type = Vec<String>)]
    pub ids: Vec<TxId>,
}

/// Where a transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TxStatus {
    /// In a mempool, waiting for a block.
    Pending,
    /// Executed: the ledger applied it.
    Committed,
    /// Executed and recorded, but the ledger refused it: nothing changed.
    Rejected,
    /// Not accepted by the node (not recorded): see `error`.
    Refused,
}

impl TxStatus {
    /// The name on the wire (`pending`, `committed`, `rejected`, `refused`).
    pub fn as_str(self) -> &'static str {
        match self {
            TxStatus::Pending => "pending",
            TxStatus::Committed => "committed",
            TxStatus::Rejected => "rejected",
            TxStatus::Refused => "refused",
        }
    }

    /// Committed or rejected: it will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, TxStatus::Committed | TxStatus::Rejected)
    }
}

/// `POST /v1/transactions`, `GET /v1/transactions/{id}` and each result of a batch: a
/// transaction's status and, once executed, its record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TxView {
    /// The transaction id.
    #[schema(value_type = String)]
    pub id: TxId,
    /// Where it is.
    pub status: TxStatus,
    /// The block that executed it (committed or rejected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    pub height: Option<Height>,
    /// Its index in that block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// The result code when committed (`ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The rejection reason code when rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The result in words (committed or rejected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A remark, e.g. that a retry of a pending transaction was ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Why the node refused it (status `refused`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
    /// What the ledger recorded beyond the result (a settlement's shortfalls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<TxDetail>,
}

impl TxView {
    /// A transaction waiting in a mempool.
    pub fn pending(id: TxId) -> TxView {
        TxView {
            id,
            status: TxStatus::Pending,
            height: None,
            index: None,
            result: None,
            reason: None,
            message: None,
            note: None,
            error: None,
            detail: None,
        }
    }

    /// A transaction the node did not accept.
    pub fn refused(id: TxId, code: impl Into<String>, message: impl Into<String>) -> TxView {
        TxView {
            status: TxStatus::Refused,
            error: Some(ErrorDetail {
                code: code.into(),
                message: message.into(),
            }),
            ..TxView::pending(id)
        }
    }
}

/// The ledger's detail of a transaction record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxDetail {
    /// A settlement: its policy, window and each short member.
    pub settlement: SettlementRecord,
}

/// What a settlement transaction recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SettlementRecord {
    /// `reject` or `unwind`.
    pub policy: String,
    /// The window it settled (or tried to).
    pub window: u64,
    /// Each member that could not cover its net debit.
    pub members: Vec<MemberShortfallMinor>,
}

/// A member short of liquidity in a settlement, in minor units (the record does not carry
/// the currency).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberShortfallMinor {
    /// The member's name.
    pub member: String,
    /// Its net debit.
    pub debit_minor: String,
    /// Its settlement balance.
    pub balance_minor: String,
    /// Its net debit cap (`null`: none).
    pub cap_minor: Option<String>,
    /// What it lacked.
    pub shortfall_minor: String,
}

/// `POST /v1/transactions/batch`: one result per transaction, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BatchSubmitted {
    /// How many were accepted (pending or already committed).
    pub accepted: u64,
    /// Each transaction's status.
    pub results: Vec<TxView>,
}

/// `GET /v1/evidence`: the equivocations this node recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvidenceList {
    /// How many on this page.
    pub count: u64,
    /// Each record, in (validator, kind, view, height) order.
    pub evidence: Vec<Evidence>,
    /// The cursor of the next page (`?after=`), when there may be more.
    #[serde(default)]
    pub next: Option<String>,
}

/// One equivocation: a validator's two conflicting signed messages for one (view, height,
/// kind), each re-checkable by anyone holding the genesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Evidence {
    /// The validator's index.
    #[schema(value_type = u16)]
    pub validator: settlenet_types::ReplicaId,
    /// Its name in the genesis.
    pub validator_name: Option<String>,
    /// The member that runs it.
    pub member: Option<String>,
    /// `pre_prepare`, `prepare`, `commit`, `checkpoint`, `view_change` or `new_view`.
    pub kind: String,
    /// The view of both messages.
    #[schema(value_type = u64)]
    pub view: View,
    /// The height of both messages.
    #[schema(value_type = u64)]
    pub height: Height,
    /// The message received first.
    pub first: EvidenceMessage,
    /// The conflicting one.
    pub second: EvidenceMessage,
    /// This node's clock when it first saw the conflict (ms since the Unix epoch).
    pub first_seen_ms: u64,
}

/// One of the two messages of an [`Evidence`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvidenceMessage {
    /// The block digest it is about (votes and proposals).
    #[schema(value_type = Option<String>)]
    pub digest: Option<Hash>,
    /// The state root (checkpoints).
    #[schema(value_type = Option<String>)]
    pub state_root: Option<Hash>,
    /// The signature.
    #[schema(value_type = String)]
    pub signature: settlenet_types::Signature,
    /// The whole signed message in its canonical encoding, hex.
    pub message: Option<String>,
}
