//! The typed contract of the node's JSON HTTP API: one request or response type per endpoint,
//! compiled by both sides (the node's handlers build them, the `settlenet` client reads them).
//!
//! # Overview
//!
//! | Route                                          | Answer                          |
//! |------------------------------------------------|---------------------------------|
//! | `GET /v1/status`                               | [`Status`]                      |
//! | `GET /v1/genesis`                              | `settlenet_types::Genesis`      |
//! | `GET /v1/openapi.json`                         | [`openapi_json`] (this crate's) |
//! | `GET /v1/blocks/latest`, `/v1/blocks/{height}` | [`Block`]                       |
//! | `GET /v1/blocks/{height}/txids`                | [`BlockTxIds`]                  |
//! | `POST /v1/transactions`                        | [`TxView`]                      |
//! | `POST /v1/transactions/batch`                  | [`BatchSubmitted`]              |
//! | `GET /v1/transactions/{id}`                    | [`TxView`]                      |
//! | `GET /v1/transactions/{id}/proof`              | [`TxProofFile`]                 |
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
//! | `GET /v1/events` (Server-Sent Events)          | [`TxEvent`], [`BlockEvent`]     |
//! | `GET /v1/observers`                            | an array of [`ObserverView`]    |
//! | `GET /v1/charges/{id}`                         | [`ChargeView`]                  |
//!
//! Every error is an [`ErrorBody`] with a 4xx or 5xx status. `GET /v1/events` is a stream of
//! Server-Sent Events, not one JSON answer: its format, ids and resume rules are in [`events`]
//! (the module), and `client::EventStream` reads it.
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
//! The cargo feature `client` adds `client::Client`, the typed HTTP client over this contract
//! (reqwest and tokio), so that the CLI, the local process-cluster runner and the end-to-end
//! tests read every answer through the same types the node writes.
//!
//! # Invariants
//!
//! - Serializing a type and parsing it back gives the same value (the client reads exactly
//!   what the node writes).
//! - The JSON of a type is the JSON `docs/api.md` shows for its endpoint.

mod chain;
mod charges;
#[cfg(feature = "client")]
pub mod client;
mod error;
pub mod events;
mod ledger;
mod observers;
mod openapi;
mod settlement;

pub use chain::*;
pub use charges::{
    ChargePayload, ChargeView, PayloadError, PAYLOAD_MAX_BYTES, PAYLOAD_PREFIX, PAYLOAD_VERSION,
};
pub use error::*;
pub use events::{BlockEvent, EventId, StreamEvent, TxEvent, TxEventStatus};
pub use ledger::*;
pub use observers::*;
pub use openapi::{openapi_json, ApiDoc};
pub use settlement::*;

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use serde_json::{json, Value};

    /// Parse `wire` as `T` and serialize it again: the same JSON (fields that are absent stay
    /// absent, `null`s stay `null`).
    fn round_trip<T: DeserializeOwned + Serialize>(wire: Value) {
        let typed: T = serde_json::from_value(wire.clone()).expect("parses");
        assert_eq!(serde_json::to_value(&typed).expect("serializes"), wire);
    }

    const ID: &str = "000102030405060708090a0b0c0d0e0f";
    const HASH: &str = "1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn answers_keep_their_shape() {
        // The JSON the node sends, one shape per line.
        round_trip::<TxView>(json!({"id": ID, "status": "pending"}));
        round_trip::<TxView>(
            json!({"id": ID, "status": "pending", "note": "already pending: retry ignored"}),
        );
        round_trip::<TxView>(
            json!({"id": ID, "status": "committed", "height": 7, "index": 0,
            "result": "ok", "message": "applied"}),
        );
        round_trip::<TxView>(
            json!({"id": ID, "status": "rejected", "height": 7, "index": 1,
            "reason": "settlement_shortfall", "message": "short",
            "detail": {"settlement": {"policy": "reject", "window": 0, "members": [
                {"member": "bank-a", "debit_minor": "10", "balance_minor": "0",
                 "cap_minor": null, "shortfall_minor": "10"}]}}}),
        );
        round_trip::<TxView>(json!({"id": ID, "status": "refused",
            "error": {"code": "mempool_full", "message": "retry later"}}));
        round_trip::<ErrorBody>(json!({"error": {"code": "not_found", "message": "no block"}}));
        round_trip::<Alias>(json!({"alias": HASH, "key_version": 1, "currency": "USD"}));
        round_trip::<Alias>(
            json!({"alias": HASH, "key_version": 1, "currency": "USD", "wallet": ID}),
        );
        round_trip::<Positions>(json!({"window": null, "height": 3, "positions": [],
            "totals_minor": {"USD": "0"}}));
        round_trip::<History>(json!({"account": ID, "entries": [], "next_cursor": null,
            "height": 3}));
        round_trip::<Vec<ObserverView>>(json!([{"peer_id":
            "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA", "name": "acme indexer",
            "sponsor": "bank-a", "sponsor_id": 0, "registered_height": 12}]));
        round_trip::<Batch>(json!({"batch": ID, "currency": "USD", "window": 0,
            "state": "staging", "chunks": [0, 1], "instructions": 4000, "policy": null,
            "finished_height": null, "unwound": [], "submitted_by": "clearing-house",
            "created_height": 9, "account": ID, "height": 12}));
    }

    #[test]
    fn states_are_named_as_on_the_wire() {
        for s in [
            WindowState::Open,
            WindowState::Closed,
            WindowState::Settling,
            WindowState::Settled,
        ] {
            assert_eq!(serde_json::to_value(s).ok(), Some(json!(s.as_str())));
        }
        for s in [
            BatchState::Staging,
            BatchState::Settled,
            BatchState::Aborted,
        ] {
            assert_eq!(serde_json::to_value(s).ok(), Some(json!(s.as_str())));
        }
        for s in [
            TxStatus::Pending,
            TxStatus::Committed,
            TxStatus::Rejected,
            TxStatus::Refused,
        ] {
            assert_eq!(serde_json::to_value(s).ok(), Some(json!(s.as_str())));
        }
    }
}
