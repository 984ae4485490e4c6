//! The typed contract of the node's JSON HTTP API: one request or response type per endpoint,
//! compiled by both sides (the node's handlers build them, the `settlenet` client reads them).
//!
//! # Overview
//!
//! | Route                                          | Answer                          |
//! |------------------------------------------------|---------------------------------|
//! | `GET /v1/status`                               | [`Status`]                      |
//! | `GET /v1/genesis`                              | `settlenet_types::Genesis`      |
//! | `GET /v1/blocks/latest`, `/v1/blocks/{height}` | [`Block`]                       |
//! | `GET /v1/blocks/{height}/txids`                | [`BlockTxIds`]                  |
//! | `POST /v1/transactions`                        | [`TxView`]                      |
//! | `POST /v1/transactions/batch`                  | [`BatchSubmitted`]              |
//! | `GET /v1/transactions/{id}`                    | [`TxView`]                      |
//! | `GET /v1/accounts?owner=`                      | [`OwnedAccounts`]               |
//! | `GET /v1/accounts/{id}`                        | [`AccountView`]                 |
//! | `GET /v1/accounts/{id}/history`                | [`History`]                     |
//! | `GET /v1/accounts/{id}/proof`                  | [`ProofFile`]                   |
//! | `GET /v1/positions`                            | [`Positions`]                   |
//! | `POST /v1/phone/alias`                         | [`AliasRequest`] → [`Alias`]    |
//! | `GET /v1/evidence`                             | [`EvidenceList`]                |
//! | `GET /v1/settlement/windows`                   | [`Windows`]                     |
//! | `GET /v1/settlement/windows/{currency}/{window}` | [`Window`]                    |
//! | `GET /v1/settlement/batches/{id}`              | [`Batch`]                       |
//! | `GET /v1/settlement/batches/{id}/receipt`      | [`Receipt`]                     |
//! | `GET /v1/settlement/liquidity`                 | [`Liquidity`]                   |
//!
//! Every error is an [`ErrorBody`] with a 4xx or 5xx status.
//!
//! # Design
//!
//! The types are plain serde structs: the field names and shapes are the wire format that
//! `docs/api.md` documents, so a field renamed here is a breaking change of the API. Ids,
//! hashes and keys are the `settlenet_types` newtypes (hex strings on the wire); amounts are
//! decimal strings in the currency's exponent next to a `*_minor` string of integer minor
//! units (strings, because an `i128` does not fit a JSON number). Fields that the node adds
//! only in some answers are `Option`s skipped when absent; fields that are always present
//! but may be empty are `Option`s serialized as `null`.
//!
//! This crate depends only on the pure crates (`types`, `ledger`): no RocksDB, libp2p or tokio.
//!
//! # Invariants
//!
//! - Serializing a type and parsing it back gives the same value (the client reads exactly
//!   what the node writes).
//! - The JSON of a type is the JSON `docs/api.md` shows for its endpoint.

mod chain;
mod error;
mod ledger;
mod openapi;
mod settlement;

pub use chain::*;
pub use error::*;
pub use ledger::*;
pub use openapi::{openapi_json, ApiDoc};
pub use settlement::*;
