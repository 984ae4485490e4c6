//! # settlenet-types
//!
//! ## Overview
//! The vocabulary every SettleNet crate speaks: identifiers, amounts, transactions, blocks, commit
//! certificates and the genesis. Nothing here does I/O or cryptography; `settlenet-crypto` signs and
//! verifies these values, `settlenet-consensus` orders them, `settlenet-ledger` executes them.
//!
//! ## Design
//! - **One canonical encoding** ([`codec`]): bincode 2 with big-endian fixed-width integers and a size
//!   limit. Everything that is hashed or signed is encoded this way, behind a versioned domain tag, so
//!   that two honest nodes always produce the same bytes and a signature for one purpose can never be
//!   replayed for another.
//! - **JSON for people and HTTP**: byte strings (hashes, keys, ids) serialize as lowercase hex in
//!   human-readable formats and as raw bytes in the canonical one.
//! - **Newtypes** for every quantity that could be confused with another (`Height`, `View`,
//!   `ReplicaId`, `MemberId`, `AccountId`, `TxId`, `Amount`).
//!
//! - **Settlement** ([`settlement`]): the instructions a settlement batch carries, the
//!   shortfall policy, the chunk bounds and the batch digest that pins a batch's content.
//! - **Observer nodes** ([`observer`]): the textual checks of an observer's libp2p peer id and
//!   name, shared by the ledger and the CLI (this crate does not depend on libp2p).
//! - **Phone numbers** ([`phone`]): E.164 normalisation and the HMAC-SHA256 alias, so that
//!   nodes and the CLI compute the same alias and only the alias reaches a transaction.
//!
//! ## Invariants
//! - Decoding outside input never panics and never allocates beyond [`codec::MAX_MESSAGE_BYTES`].
//! - A block's `tx_root` commits to its transactions in order; its hash commits to its header.

pub mod block;
pub mod codec;
pub mod error;
pub mod genesis;
pub mod hex_bytes;
pub mod ids;
pub mod observer;
pub mod phone;
pub mod settlement;
pub mod tx;

pub use block::{
    Block, BlockHeader, BlockSummary, CommitCertificate, CommitSignature, StoredBlock,
};
pub use codec::{decode, encode, encoded_len, Domain};
pub use error::TypesError;
pub use genesis::{
    ConsensusParams, CurrencyInfo, Genesis, GenesisAccount, GenesisAccountKind, Member, MemberKind,
    NetDebitCap, Role, StaffKey, ValidatorInfo, BLOCK_MAX_BYTES_DEFAULT, BLOCK_MAX_BYTES_LIMIT,
    BLOCK_MAX_BYTES_MIN,
};
pub use ids::{
    AccountId, Amount, BatchId, ChargeId, Currency, Hash, Height, HoldId, MemberId, PublicKey,
    ReplicaId, Signature, TxId, TxNonce, View,
};
pub use observer::{
    check_observer_name, check_peer_id, OBSERVER_NAME_MAX_CHARS, PEER_ID_MAX_CHARS,
    PEER_ID_MIN_CHARS,
};
pub use phone::{normalize_e164, phone_alias, E164};
pub use settlement::{
    batch_digest, is_max35_text, SettlementInstruction, SettlementPolicy, BATCH_CHUNKS_MAX,
    INSTRUCTION_ID_MAX_CHARS, SETTLEMENT_CHUNK_MAX,
};
pub use tx::{
    ChargePayer, Operation, Payee, SignedTransaction, Transaction, CHAIN_ID_MAX_LEN, TX_MAX_BYTES,
    TX_VALIDITY_MAX_MS, TX_VERSION,
};
