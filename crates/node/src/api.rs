//! The JSON HTTP API.
//!
//! Reads (blocks, accounts, transactions) come straight from the store, which is updated one
//! whole block at a time, so a reader never sees half a block. Writes go to the core actor.
//! Every error is JSON: `{"error": {"code": "...", "message": "..."}}` with a 4xx/5xx status.

use crate::core::{ApiCommand, SubmitOutcome};
use crate::evidence::EvidenceRecord;
use crate::shared::Shared;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use settlenet_ledger::{Account, TxRecord};
use settlenet_storage::Store;
use settlenet_types::{AccountId, Genesis, Height, SignedTransaction, StoredBlock, TxId};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The genesis.
    pub genesis: Arc<Genesis>,
    /// This node's name.
    pub node: String,
    /// The store (reads).
    pub store: Arc<Store>,
    /// Status and counters.
    pub shared: Arc<Shared>,
    /// Commands to the core.
    pub core: mpsc::Sender<ApiCommand>,
    /// Most transactions in one batch.
    pub max_batch_txs: usize,
}

/// An API error: status, machine code, human message.
pub struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(json!({"error": {"code": self.1, "message": self.2}})),
        )
            .into_response()
    }
}

fn bad(code: &'static str, msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, code, msg.into())
}

fn internal(msg: impl std::fmt::Display) -> ApiError {
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        msg.to_string(),
    )
}

/// Build the router.
pub fn router(state: ApiState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/genesis", get(genesis))
        .route("/v1/blocks/latest", get(latest_block))
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/blocks/{height}/txids", get(block_txids))
        .route("/v1/transactions", post(submit_one))
        .route("/v1/transactions/batch", post(submit_batch))
        .route("/v1/transactions/{id}", get(tx_status))
        .route("/v1/accounts/{id}", get(account))
        .route("/v1/evidence", get(evidence))
        .fallback(|| async {
            ApiError(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint".into(),
            )
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

async fn status(State(s): State<ApiState>) -> Json<Value> {
    let st = s.shared.status();
    Json(json!({
        "chain_id": s.genesis.chain_id,
        "node": s.node,
        "height": st.height,
        "last_block_hash": st.last_block_hash,
        "last_block_time_ms": st.last_block_time_ms,
        "state_root": st.state_root,
        "view": st.view,
        "stable_checkpoint": st.stable_checkpoint,
        "primary": st.primary,
        "peers": st.peers,
        "mempool": st.mempool,
        "base_height": st.base_height,
        "validators": s.genesis.n(),
        "counters": s.shared.counters.to_json(),
    }))
}

/// Every stored equivocation record (at most `EVIDENCE_MAX`), by validator, kind, view, height.
async fn evidence(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let entries = s.store.evidence_entries().map_err(internal)?;
    let mut list = Vec::with_capacity(entries.len());
    for (key, bytes) in entries {
        let record: EvidenceRecord = settlenet_types::decode("evidence record", &bytes)
            .map_err(|e| internal(format!("stored evidence {}: {e}", hex::encode(&key))))?;
        list.push(crate::evidence::render(&s.genesis, &record));
    }
    Ok(Json(json!({"count": list.len(), "evidence": list})))
}

async fn genesis(State(s): State<ApiState>) -> Json<Genesis> {
    Json((*s.genesis).clone())
}

async fn latest_block(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let h = s.shared.status().height;
    if h.0 == 0 {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            "no block committed yet".into(),
        ));
    }
    block_json(&s, h).map(Json)
}

async fn block(
    State(s): State<ApiState>,
    Path(height): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let h = parse_height(&height)?;
    block_json(&s, Height(h)).map(Json)
}

async fn block_txids(
    State(s): State<ApiState>,
    Path(height): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let h = parse_height(&height)?;
    let Some(b) = s.store.block(Height(h)).map_err(internal)? else {
        return Err(below_base(&s, Height(h)).unwrap_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no block at height {h}"),
            )
        }));
    };
    let ids: Vec<TxId> = b.block.txs.iter().map(|t| t.tx.id).collect();
    Ok(Json(
        json!({"height": h, "hash": b.hash, "timestamp": b.block.header.timestamp_ms, "ids": ids}),
    ))
}

fn parse_height(text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| {
        bad(
            "invalid_height",
            format!("height {text:?} is not a non-negative integer"),
        )
    })
}

/// The 404 for a height below the snapshot this node started from, if it is one.
fn below_base(s: &ApiState, h: Height) -> Option<ApiError> {
    let base = s.shared.status().base_height;
    (base.0 > 0 && h < base).then(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "below_base",
            format!(
                "this node holds blocks from {base} (it started from a state snapshot at \
                 height {base}); block {h} is older: ask a peer"
            ),
        )
    })
}

fn block_json(s: &ApiState, h: Height) -> Result<Value, ApiError> {
    let Some(b) = s.store.block(h).map_err(internal)? else {
        if let Some(e) = below_base(s, h) {
            return Err(e);
        }
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no block at height {h} (committed height is {})",
                s.shared.status().height
            ),
        ));
    };
    Ok(render_block(s, &b))
}

fn render_block(s: &ApiState, b: &StoredBlock) -> Value {
    let h = &b.block.header;
    let txs: Vec<Value> = b
        .block
        .txs
        .iter()
        .map(|t| {
            let record: Option<TxRecord> = s
                .store
                .record(&t.tx.id)
                .ok()
                .flatten()
                .and_then(|bytes| settlenet_types::decode("tx record", &bytes).ok());
            let result = match record {
                Some(r) if r.height == h.height => r.result.as_str().to_string(),
                Some(_) => "duplicate".to_string(),
                None => "unknown".to_string(),
            };
            json!({"id": t.tx.id, "signer": t.tx.signer, "op": t.tx.op, "signature": t.signature, "result": result})
        })
        .collect();
    let sigs: Vec<Value> = b
        .certificate
        .signatures
        .iter()
        .map(|c| {
            let name = s
                .genesis
                .validators
                .get(c.replica.0 as usize)
                .map(|v| v.name.clone())
                .unwrap_or_default();
            json!({"replica": c.replica, "validator": name, "signature": c.signature})
        })
        .collect();
    json!({
        "height": h.height,
        "hash": b.hash,
        "prev_hash": b.prev_hash,
        "timestamp": h.timestamp_ms,
        "state_root": b.state_root,
        "proposer": h.proposer,
        "tx_count": h.tx_count,
        "tx_root": h.tx_root,
        "certified_state": {"height": h.state_height, "root": h.state_root},
        "header": h,
        "transactions": txs,
        "certificate": {"height": b.certificate.height, "view": b.certificate.view, "block_hash": b.certificate.block_hash, "signatures": sigs},
    })
}

fn parse_tx(value: Value, where_: &str) -> Result<SignedTransaction, ApiError> {
    let tx: SignedTransaction = serde_json::from_value(value)
        .map_err(|e| bad("malformed_transaction", format!("{where_}: {e}")))?;
    let msg = tx
        .tx
        .signing_message()
        .map_err(|e| bad("malformed_transaction", format!("{where_}: {e}")))?;
    settlenet_crypto::verify(&tx.tx.signer, &msg, &tx.signature).map_err(|e| {
        bad(
            "invalid_signature",
            format!(
                "{where_}: transaction {} does not carry a valid signature of its signer {}: {e}",
                tx.tx.id, tx.tx.signer
            ),
        )
    })?;
    Ok(tx)
}

fn body_json(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let body = body.map_err(|e| {
        ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_rejected",
            format!("request body refused: {e}"),
        )
    })?;
    serde_json::from_slice(&body).map_err(|e| bad("malformed_json", format!("request body: {e}")))
}

async fn submit(s: &ApiState, txs: Vec<SignedTransaction>) -> Result<Vec<SubmitOutcome>, ApiError> {
    let (reply, rx) = oneshot::channel();
    s.core
        .send(ApiCommand::Submit { txs, reply })
        .await
        .map_err(|_| internal("node is shutting down"))?;
    rx.await.map_err(|_| internal("node is shutting down"))
}

fn outcome_json(id: TxId, o: &SubmitOutcome) -> (StatusCode, Value) {
    match o {
        SubmitOutcome::Pending => (StatusCode::ACCEPTED, json!({"id": id, "status": "pending"})),
        SubmitOutcome::AlreadyPending => (
            StatusCode::ACCEPTED,
            json!({"id": id, "status": "pending", "note": "already pending: retry ignored"}),
        ),
        SubmitOutcome::AlreadyCommitted(r) => (StatusCode::OK, record_json(id, r)),
        SubmitOutcome::Refused { code, message } => (
            StatusCode::BAD_REQUEST,
            json!({"id": id, "status": "refused", "error": {"code": code, "message": message}}),
        ),
        SubmitOutcome::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"id": id, "status": "refused", "error": {"code": "mempool_full", "message": "the node's mempool is full; retry later"}}),
        ),
    }
}

fn record_json(id: TxId, r: &TxRecord) -> Value {
    if r.result.is_ok() {
        json!({"id": id, "status": "committed", "height": r.height, "index": r.index, "result": r.result.as_str()})
    } else {
        json!({"id": id, "status": "rejected", "height": r.height, "index": r.index, "reason": r.result.as_str(), "message": r.result.describe()})
    }
}

async fn submit_one(
    State(s): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let value = body_json(body)?;
    let tx = parse_tx(value, "request body")?;
    let id = tx.tx.id;
    let outcomes = submit(&s, vec![tx]).await?;
    let o = outcomes
        .first()
        .ok_or_else(|| internal("no outcome from the core"))?;
    let (code, v) = outcome_json(id, o);
    Ok((code, Json(v)).into_response())
}

async fn submit_batch(
    State(s): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let value = body_json(body)?;
    let Value::Array(items) = value else {
        return Err(bad(
            "malformed_json",
            "batch body must be a JSON array of signed transactions",
        ));
    };
    if items.len() > s.max_batch_txs {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "{} transactions in one batch; the limit is {}",
                items.len(),
                s.max_batch_txs
            ),
        ));
    }
    // Parse and verify everything first (signatures in one batch); any bad one refuses the
    // whole request, naming its index, and nothing is submitted.
    let mut txs = Vec::with_capacity(items.len());
    for (i, v) in items.into_iter().enumerate() {
        let tx: SignedTransaction = serde_json::from_value(v)
            .map_err(|e| bad("malformed_transaction", format!("transaction [{i}]: {e}")))?;
        txs.push(tx);
    }
    let verify = txs.clone();
    tokio::task::spawn_blocking(move || settlenet_crypto::verify_transactions(&verify))
        .await
        .map_err(internal)?
        .map_err(|e| bad("invalid_signature", e.to_string()))?;
    let ids: Vec<TxId> = txs.iter().map(|t| t.tx.id).collect();
    let outcomes = submit(&s, txs).await?;
    let mut accepted = 0usize;
    let results: Vec<Value> = ids
        .iter()
        .zip(outcomes.iter())
        .map(|(id, o)| {
            let (code, v) = outcome_json(*id, o);
            if code.is_success() {
                accepted += 1;
            }
            v
        })
        .collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"accepted": accepted, "results": results})),
    )
        .into_response())
}

async fn tx_status(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: TxId = id
        .parse()
        .map_err(|e| bad("invalid_id", format!("transaction id: {e}")))?;
    if let Some(bytes) = s.store.record(&id).map_err(internal)? {
        let r: TxRecord = settlenet_types::decode("tx record", &bytes).map_err(internal)?;
        return Ok(Json(record_json(id, &r)));
    }
    let (reply, rx) = oneshot::channel();
    s.core
        .send(ApiCommand::IsPending { id, reply })
        .await
        .map_err(|_| internal("node is shutting down"))?;
    if rx.await.unwrap_or(false) {
        return Ok(Json(json!({"id": id, "status": "pending"})));
    }
    Err(ApiError(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("transaction {id} is neither pending on this node nor committed"),
    ))
}

/// JSON view of an account, with decimal amounts.
pub fn account_json(genesis: &Genesis, a: &Account) -> Value {
    let exp = genesis.exponent(a.currency).unwrap_or(0);
    let member = genesis
        .members
        .get(a.member.0 as usize)
        .map(|m| m.name.clone())
        .unwrap_or_default();
    json!({
        "id": a.id,
        "kind": format!("{:?}", a.kind).to_lowercase(),
        "member": member,
        "currency": a.currency,
        "owner": a.owner,
        "balance": settlenet_types::ids::format_signed_minor(a.balance(), exp),
        "available": settlenet_types::ids::format_signed_minor(a.available(), exp),
        "balance_minor": a.balance().to_string(),
        "debits_pending": a.debits_pending.to_string(),
        "debits_posted": a.debits_posted.to_string(),
        "credits_pending": a.credits_pending.to_string(),
        "credits_posted": a.credits_posted.to_string(),
        "created_height": a.created_height,
    })
}

async fn account(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: AccountId = id
        .parse()
        .map_err(|e| bad("invalid_id", format!("account id: {e}")))?;
    let Some(bytes) = s.store.account(&id).map_err(internal)? else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no account {id}"),
        ));
    };
    let a: Account = settlenet_types::decode("account", &bytes).map_err(internal)?;
    let mut v = account_json(&s.genesis, &a);
    v["height"] = json!(s.shared.status().height);
    Ok(Json(v))
}
