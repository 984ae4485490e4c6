//! The OpenAPI 3.1 document of the API, derived from the types of this crate.
//!
//! Each route is declared once below with `#[utoipa::path]` on an empty function: the functions
//! exist only to carry the route's method, path, parameters and answers into the document
//! (the node's handlers live in `settlenet-node`, which tests that every route its router
//! serves is documented here).

#![allow(dead_code)]

use crate::*;
use utoipa::OpenApi;

/// The OpenAPI document of the node's HTTP API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "SettleNet node API",
        description = "The JSON HTTP API of a SettleNet validator node (see docs/api.md). Every \
                       error is {\"error\": {\"code\", \"message\"}} with a 4xx or 5xx status."
    ),
    paths(
        status,
        genesis,
        openapi_document,
        latest_block,
        block,
        block_txids,
        submit,
        submit_batch,
        transaction,
        transaction_proof,
        accounts_by_owner,
        account,
        history,
        proof,
        positions,
        phone_alias,
        evidence,
        settlement_windows,
        settlement_window,
        settlement_batch,
        settlement_receipt,
        settlement_liquidity,
        events,
        observers,
        charge,
    ),
    components(schemas(ErrorBody, ErrorDetail, BlockEvent, TxEvent, TxEventStatus))
)]
pub struct ApiDoc;

/// The document as pretty JSON (what `GET /v1/openapi.json` serves).
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// A node's status.
#[utoipa::path(get, path = "/v1/status", responses((status = 200, body = Status)))]
fn status() {}

/// The network's genesis (`settlenet_types::Genesis`).
#[utoipa::path(get, path = "/v1/genesis", responses((status = 200, body = serde_json::Value)))]
fn genesis() {}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, body = serde_json::Value)))]
fn openapi_document() {}

/// The latest committed block.
#[utoipa::path(get, path = "/v1/blocks/latest", responses(
    (status = 200, body = Block),
    (status = 404, description = "no block committed yet", body = ErrorBody),
))]
fn latest_block() {}

/// A committed block.
#[utoipa::path(get, path = "/v1/blocks/{height}",
    params(("height" = u64, Path, description = "block height")),
    responses(
        (status = 200, body = Block),
        (status = 400, description = "invalid_height", body = ErrorBody),
        (status = 404, description = "not_found, or below_base on a node started from a snapshot", body = ErrorBody),
    ))]
fn block() {}

/// A committed block's transaction ids.
#[utoipa::path(get, path = "/v1/blocks/{height}/txids",
    params(("height" = u64, Path, description = "block height")),
    responses((status = 200, body = BlockTxIds), (status = 404, body = ErrorBody)))]
fn block_txids() {}

/// Submit one signed transaction (`settlenet_types::SignedTransaction`).
#[utoipa::path(post, path = "/v1/transactions",
    request_body(content = serde_json::Value, description = "a signed transaction"),
    responses(
        (status = 202, description = "pending", body = TxView),
        (status = 200, description = "already executed: its record", body = TxView),
        (status = 400, description = "refused, malformed or badly signed", body = TxView),
        (status = 429, description = "mempool_full (with Retry-After); or rate_limited, over this client's request rate", body = TxView),
    ))]
fn submit() {}

/// Submit signed transactions; any malformed or badly signed one refuses the whole request.
#[utoipa::path(post, path = "/v1/transactions/batch",
    request_body(content = Vec<serde_json::Value>, description = "signed transactions"),
    responses(
        (status = 202, body = BatchSubmitted),
        (status = 400, body = ErrorBody),
        (status = 413, description = "batch_too_large", body = ErrorBody),
        (status = 429, description = "every transaction refused for load (mempool_full, Retry-After), or busy (the node's batch verifiers), or rate_limited", body = BatchSubmitted),
    ))]
fn submit_batch() {}

/// A transaction's status.
#[utoipa::path(get, path = "/v1/transactions/{id}",
    params(("id" = String, Path, description = "transaction id, 32 hex characters")),
    responses((status = 200, body = TxView), (status = 404, body = ErrorBody)))]
fn transaction() {}

/// A transaction's record with a proof that the ledger's history holds it, and the committed
/// block certifying the proving state root (for any transaction ever recorded, live or not).
#[utoipa::path(get, path = "/v1/transactions/{id}/proof",
    params(("id" = String, Path, description = "transaction id, 32 hex characters")),
    responses(
        (status = 200, body = TxProofFile),
        (status = 400, body = ErrorBody),
        (status = 404, description = "no record (unknown, pending, or refused without a record)", body = ErrorBody),
        (status = 503, description = "not_yet_certified", body = ErrorBody),
    ))]
fn transaction_proof() {}

/// The wallets and merchant accounts an owner key holds.
#[utoipa::path(get, path = "/v1/accounts",
    params(
        ("owner" = String, Query, description = "the owner's public key, 64 hex characters"),
        ("currency" = Option<String>, Query, description = "only accounts in this currency"),
    ),
    responses((status = 200, body = OwnedAccounts), (status = 400, body = ErrorBody)))]
fn accounts_by_owner() {}

/// An account.
#[utoipa::path(get, path = "/v1/accounts/{id}",
    params(("id" = String, Path, description = "account id, 32 hex characters")),
    responses((status = 200, body = AccountView), (status = 404, body = ErrorBody)))]
fn account() {}

/// The transactions that changed an account, newest first, paged.
#[utoipa::path(get, path = "/v1/accounts/{id}/history",
    params(
        ("id" = String, Path, description = "account id"),
        ("limit" = Option<u64>, Query, description = "page size, 1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses((status = 200, body = History), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn history() {}

/// An account with a Merkle proof and the committed block certifying its state root.
#[utoipa::path(get, path = "/v1/accounts/{id}/proof",
    params(("id" = String, Path, description = "account id")),
    responses(
        (status = 200, body = ProofFile),
        (status = 404, body = ErrorBody),
        (status = 503, description = "not_yet_certified", body = ErrorBody),
    ))]
fn proof() {}

/// Every member's net interbank position in a settlement window.
#[utoipa::path(get, path = "/v1/positions",
    params(("window" = Option<u64>, Query, description = "the window (default: each currency's open window)")),
    responses((status = 200, body = Positions), (status = 400, body = ErrorBody)))]
fn positions() {}

/// The alias of a phone number and the wallet registered under it.
#[utoipa::path(post, path = "/v1/phone/alias",
    request_body = AliasRequest,
    responses(
        (status = 200, body = Alias),
        (status = 400, body = ErrorBody),
        (status = 503, description = "phone_key_not_configured", body = ErrorBody),
    ))]
fn phone_alias() {}

/// The equivocations this node recorded.
#[utoipa::path(get, path = "/v1/evidence",
    params(
        ("after" = Option<String>, Query, description = "the cursor `next` of the previous page"),
        ("limit" = Option<u32>, Query, description = "records per page, 1 to 200 (default 50)"),
    ),
    responses((status = 200, body = EvidenceList), (status = 400, body = ErrorBody)))]
fn evidence() {}

/// The settlement windows of a currency.
#[utoipa::path(get, path = "/v1/settlement/windows",
    params(
        ("currency" = Option<String>, Query, description = "currency (default: the genesis's first)"),
        ("start" = Option<u64>, Query, description = "first window listed"),
        ("limit" = Option<u64>, Query, description = "windows listed, 1 to 100 (default 20)"),
    ),
    responses((status = 200, body = Windows), (status = 400, body = ErrorBody)))]
fn settlement_windows() {}

/// One settlement window.
#[utoipa::path(get, path = "/v1/settlement/windows/{currency}/{window}",
    params(
        ("currency" = String, Path, description = "currency code"),
        ("window" = u64, Path, description = "window number"),
    ),
    responses((status = 200, body = Window), (status = 404, body = ErrorBody)))]
fn settlement_window() {}

/// A settlement batch's record.
#[utoipa::path(get, path = "/v1/settlement/batches/{id}",
    params(("id" = String, Path, description = "batch id, 32 hex characters")),
    responses((status = 200, body = Batch), (status = 404, body = ErrorBody)))]
fn settlement_batch() {}

/// A settled batch's receipt, verifiable offline with the genesis.
#[utoipa::path(get, path = "/v1/settlement/batches/{id}/receipt",
    params(("id" = String, Path, description = "batch id")),
    responses(
        (status = 200, body = Receipt),
        (status = 404, body = ErrorBody),
        (status = 409, description = "batch_not_settled", body = ErrorBody),
    ))]
fn settlement_receipt() {}

/// Each member's settlement balance, net debit cap and unsettled net position.
#[utoipa::path(get, path = "/v1/settlement/liquidity",
    params(("currency" = Option<String>, Query, description = "currency (default: the genesis's first)")),
    responses((status = 200, body = Liquidity), (status = 400, body = ErrorBody)))]
fn settlement_liquidity() {}

/// The ledger as Server-Sent Events: for each committed block, its transactions' `tx` events
/// (only those that changed `account`, if given) then its `block` event. Each event's SSE `id`
/// is `HEIGHT` (block) or `HEIGHT:INDEX` (transaction); resume with `Last-Event-ID` (it wins
/// over `from`). A comment line every 15 s keeps the connection alive.
#[utoipa::path(get, path = "/v1/events",
    params(
        ("from" = Option<u64>, Query, description = "first block to stream (default: the next one committed)"),
        ("account" = Option<String>, Query, description = "only the transactions that changed this account (32 hex characters); block events are all sent"),
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this event id (HEIGHT or HEIGHT:INDEX); wins over `from`"),
    ),
    responses(
        (status = 200, description = "a stream of `tx` (TxEvent) and `block` (BlockEvent) events, and possibly a last `error` (ErrorBody)",
            content_type = "text/event-stream", body = StreamEvent),
        (status = 400, description = "invalid_from, invalid_account, invalid_last_event_id, invalid_query", body = ErrorBody),
        (status = 410, description = "below_base: the start is below the lowest block this node serves", body = ErrorBody),
        (status = 503, description = "too_many_streams", body = ErrorBody),
    ))]
fn events() {}
/// The active observer nodes (non-validator peers admitted by the validators), by peer id.
#[utoipa::path(get, path = "/v1/observers", responses((status = 200, body = [ObserverView])))]
fn observers() {}

/// A charge request (a merchant asking a payer for an amount) and its status; its `payload` is
/// what a QR code or link carries.
#[utoipa::path(get, path = "/v1/charges/{id}",
    params(("id" = String, Path, description = "charge id (32 hex characters)")),
    responses((status = 200, body = ChargeView), (status = 400, body = ErrorBody),
        (status = 404, description = "charge_not_found", body = ErrorBody)))]
fn charge() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_route_once() {
        let doc = ApiDoc::openapi();
        assert_eq!(doc.paths.paths.len(), 25);
        let json: serde_json::Value =
            serde_json::from_str(&openapi_json()).expect("the document is JSON");
        assert!(json["components"]["schemas"]["Window"].is_object());
        assert!(json["components"]["schemas"]["ObserverView"].is_object());
        assert!(json["components"]["schemas"]["TxProofFile"].is_object());
        assert!(json["components"]["schemas"]["ChargeView"].is_object());
    }
}
