//! The JSON HTTP API.
//!
//! Reads (blocks, accounts, transactions) come straight from the store, which is updated one
//! whole block at a time, so a reader never sees half a block. Writes go to the core actor.
//! `GET /v1/events` streams committed blocks from the store as Server-Sent Events, woken by the
//! committed height the core publishes in [`Shared`] ([`events`]).
//! Every error is JSON: `{"error": {"code": "...", "message": "..."}}` with a 4xx/5xx status.
//!
//! Handlers answer with the types of `settlenet-api` (the contract the client compiles
//! against); [`routes`] is the one list of routes, used by the router and by the test that
//! checks every route is in the OpenAPI document (`GET /v1/openapi.json`).

use crate::config::PhoneKey;
use crate::core::{ApiCommand, SubmitOutcome};
use crate::evidence::EvidenceRecord;
use crate::shared::Shared;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use serde_json::Value;
use settlenet_api as wire;
use settlenet_ledger::{Account, Ledger, TxRecord};
use settlenet_storage::Store;
use settlenet_types::{
    AccountId, BlockSummary, Currency, Genesis, Height, SignedTransaction, StoredBlock, TxId,
};

mod accounts;
pub mod events;
pub mod limits;
mod observers;
mod proof;
pub mod settlement;

pub use accounts::{account_json, HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX, OWNED_ACCOUNTS_MAX};
pub use events::EventStreams;
pub use proof::PROOF_WAIT_MAX;
use proof::{anchor_json, anchor_of, prove_anchored};
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
    /// The consortium phone-alias key, if configured (`[phone]` in the node config).
    pub phone: Option<Arc<PhoneKey>>,
    /// Validator or observer.
    pub role: crate::config::NodeRole,
    /// The genesis hash.
    pub genesis_hash: settlenet_types::Hash,
    /// The slots of `GET /v1/events` streams and the signal that ends them.
    pub events: EventStreams,
    /// Request rate per client and the batch verifier pool.
    pub limits: Arc<limits::Limits>,
}

/// An API error: status, machine code, human message.
pub struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = self.0 == StatusCode::TOO_MANY_REQUESTS;
        let mut response = (self.0, Json(wire::ErrorBody::new(self.1, self.2))).into_response();
        if retry {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
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

/// Every route: (method, path, handler). The router serves exactly these, and a test checks
/// that each is in the OpenAPI document.
pub fn routes() -> Vec<(&'static str, &'static str, MethodRouter<ApiState>)> {
    vec![
        ("GET", "/v1/status", get(status)),
        ("GET", "/v1/genesis", get(genesis)),
        ("GET", "/v1/openapi.json", get(openapi)),
        ("GET", "/v1/blocks/latest", get(latest_block)),
        ("GET", "/v1/blocks/{height}", get(block)),
        ("GET", "/v1/blocks/{height}/txids", get(block_txids)),
        ("POST", "/v1/transactions", post(submit_one)),
        ("POST", "/v1/transactions/batch", post(submit_batch)),
        ("GET", "/v1/transactions/{id}", get(tx_status)),
        ("GET", "/v1/transactions/{id}/proof", get(proof::tx_proof)),
        ("GET", "/v1/accounts", get(accounts::accounts_by_owner)),
        ("GET", "/v1/accounts/{id}", get(accounts::account)),
        ("GET", "/v1/accounts/{id}/history", get(accounts::history)),
        ("GET", "/v1/accounts/{id}/proof", get(proof::proof)),
        ("GET", "/v1/positions", get(accounts::positions)),
        ("POST", "/v1/phone/alias", post(accounts::phone_alias)),
        ("GET", "/v1/evidence", get(evidence)),
        ("GET", "/v1/settlement/windows", get(settlement::windows)),
        (
            "GET",
            "/v1/settlement/windows/{currency}/{window}",
            get(settlement::window),
        ),
        ("GET", "/v1/settlement/batches/{id}", get(settlement::batch)),
        (
            "GET",
            "/v1/settlement/batches/{id}/receipt",
            get(settlement::receipt),
        ),
        (
            "GET",
            "/v1/settlement/liquidity",
            get(settlement::liquidity),
        ),
        ("GET", "/v1/events", get(events::events)),
        ("GET", "/v1/observers", get(observers::observers)),
        ("GET", "/v1/charges/{id}", get(accounts::charge)),
    ]
}

/// Build the router.
pub fn router(state: ApiState, max_body_bytes: usize) -> Router {
    let mut router = Router::new();
    for (_, path, handler) in routes() {
        router = router.route(path, handler);
    }
    let limits = state.limits.clone();
    router
        .layer(axum::middleware::from_fn_with_state(
            limits,
            limits::rate_limit,
        ))
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

/// `GET /v1/openapi.json`: the OpenAPI document of this API.
async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        wire::openapi_json(),
    )
        .into_response()
}

async fn status(State(s): State<ApiState>) -> Json<wire::Status> {
    let st = s.shared.status();
    let memory = memory_view(&s, &st);
    Json(wire::Status {
        chain_id: s.genesis.chain_id.clone(),
        genesis_hash: s.genesis_hash,
        role: match s.role {
            crate::config::NodeRole::Validator => "validator".into(),
            crate::config::NodeRole::Observer => "observer".into(),
        },
        node: s.node.clone(),
        height: st.height,
        last_block_hash: st.last_block_hash,
        last_block_time_ms: st.last_block_time_ms,
        state_root: st.state_root,
        view: st.view,
        stable_checkpoint: st.stable_checkpoint,
        primary: st.primary,
        peers: st.peers,
        mempool: st.mempool as u64,
        base_height: st.base_height,
        blocks_from: st.blocks_from,
        validators: s.genesis.n() as u64,
        counters: s.shared.counters_map(),
        memory,
    })
}

/// The `memory` of `GET /v1/status`. A figure RocksDB cannot give is 0 (logged at debug).
fn memory_view(s: &ApiState, st: &crate::shared::StatusSnapshot) -> wire::MemoryView {
    let store = s.store.memory().unwrap_or_else(|e| {
        tracing::debug!("store memory: {e}");
        settlenet_storage::StoreMemory::default()
    });
    let (checkpoint_stores, checkpoint_stores_bytes) = match s.shared.checkpoint_readers.lock() {
        Ok(readers) => (
            readers.len() as u64,
            readers
                .values()
                .filter_map(|r| r.memory().ok())
                .map(|m| m.total_bytes())
                .sum(),
        ),
        Err(_) => (0, 0),
    };
    let (heap_allocated_bytes, heap_resident_bytes) = heap_bytes();
    wire::MemoryView {
        rss_bytes: rss_bytes().unwrap_or(0),
        heap_allocated_bytes,
        heap_resident_bytes,
        store_memtables_bytes: store.memtables_bytes,
        store_table_readers_bytes: store.table_readers_bytes,
        store_block_cache_bytes: store.block_cache_bytes,
        store_block_cache_capacity_bytes: store.block_cache_capacity_bytes,
        checkpoint_stores,
        checkpoint_stores_bytes,
        ledger_accounts: st.ledger_accounts,
        ledger_accounts_in_memory: st.account_cache.resident + st.account_cache.cached,
        ledger_account_cache_capacity: st.account_cache.capacity,
        ledger_account_store_reads: st.account_cache.store_reads,
        ledger_live_records: st.ledger_live_records as u64,
    }
}

/// jemalloc's `stats.allocated` and `stats.resident`, refreshed now; zeros if jemalloc is not
/// this process's allocator (it then allocates nothing) or cannot say.
fn heap_bytes() -> (u64, u64) {
    use tikv_jemalloc_ctl::{epoch, stats};
    if epoch::advance().is_err() {
        return (0, 0);
    }
    let allocated = stats::allocated::read().unwrap_or(0) as u64;
    let resident = stats::resident::read().unwrap_or(0) as u64;
    (allocated, resident)
}

/// This process's resident set size (`VmRSS` of `/proc/self/status`), where the OS says.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

/// Evidence records on one page of `GET /v1/evidence` when `limit` is not given.
pub const EVIDENCE_PAGE_DEFAULT: usize = 50;
/// Most evidence records on one page.
pub const EVIDENCE_PAGE_MAX: usize = 200;

#[derive(serde::Deserialize)]
struct EvidenceQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/evidence[?after=CURSOR][&limit=N]`: the stored equivocation records (at most
/// `EVIDENCE_MAX`), by validator, kind, view, height, a page at a time.
async fn evidence(
    State(s): State<ApiState>,
    Query(q): Query<EvidenceQuery>,
) -> Result<Json<wire::EvidenceList>, ApiError> {
    let limit = match q.limit.as_deref() {
        None => EVIDENCE_PAGE_DEFAULT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=EVIDENCE_PAGE_MAX).contains(&n) => n,
            _ => {
                return Err(bad(
                    "invalid_limit",
                    format!("limit {text:?} must be a number from 1 to {EVIDENCE_PAGE_MAX}"),
                ))
            }
        },
    };
    let after = match q.after.as_deref() {
        None => None,
        Some(text) => match hex::decode(text) {
            Ok(k) if !k.is_empty() && k.len() <= 64 => Some(k),
            _ => {
                return Err(bad(
                    "invalid_cursor",
                    format!("after {text:?} is not a cursor this API gave out"),
                ))
            }
        },
    };
    let entries = s
        .store
        .evidence_page(after.as_deref(), limit)
        .map_err(internal)?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|(k, _)| hex::encode(k)))
        .flatten();
    let mut list = Vec::with_capacity(entries.len());
    for (key, bytes) in entries {
        let record: EvidenceRecord = settlenet_types::decode("evidence record", &bytes)
            .map_err(|e| internal(format!("stored evidence {}: {e}", hex::encode(&key))))?;
        list.push(evidence_view(&s.genesis, &record));
    }
    Ok(Json(wire::EvidenceList {
        count: list.len() as u64,
        evidence: list,
        next,
    }))
}

/// A stored record as the API shows it: names from the genesis, both messages re-checkable.
fn evidence_view(genesis: &Genesis, r: &EvidenceRecord) -> wire::Evidence {
    let validator = genesis.validators.get(usize::from(r.validator.0));
    let member = validator.and_then(|v| genesis.members.iter().find(|m| m.id == v.member));
    let message = |m: &settlenet_consensus::SignedMessage| wire::EvidenceMessage {
        digest: m.payload.block_hash().ok(),
        state_root: match &m.payload {
            settlenet_consensus::Payload::Checkpoint(b) => Some(b.state_root),
            _ => None,
        },
        signature: m.signature,
        message: settlenet_types::encode("signed message", m)
            .map(hex::encode)
            .ok(),
    };
    wire::Evidence {
        validator: r.validator,
        validator_name: validator.map(|v| v.name.clone()),
        member: member.map(|m| m.name.clone()),
        kind: crate::evidence::kind_name(r.kind()).to_string(),
        view: r.view(),
        height: r.height(),
        first: message(&r.first),
        second: message(&r.second),
        first_seen_ms: r.first_seen_ms,
    }
}

async fn genesis(State(s): State<ApiState>) -> Json<Genesis> {
    Json((*s.genesis).clone())
}

async fn latest_block(State(s): State<ApiState>) -> Result<Json<wire::Block>, ApiError> {
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
) -> Result<Json<wire::Block>, ApiError> {
    let h = parse_height(&height)?;
    block_json(&s, Height(h)).map(Json)
}

async fn block_txids(
    State(s): State<ApiState>,
    Path(height): Path<String>,
) -> Result<Json<wire::BlockTxIds>, ApiError> {
    let h = Height(parse_height(&height)?);
    let b = summary_or_404(&s, h)?;
    Ok(Json(wire::BlockTxIds {
        height: h,
        hash: b.hash,
        timestamp: b.header.timestamp_ms,
        ids: b.tx_ids,
    }))
}

/// The summary of the block at `h` (whether or not its body is still held), or the 404 that
/// says why there is none.
fn summary_or_404(s: &ApiState, h: Height) -> Result<BlockSummary, ApiError> {
    s.store
        .block_summary(h)
        .map_err(internal)?
        .ok_or_else(|| no_block(s, h))
}

fn parse_height(text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| {
        bad(
            "invalid_height",
            format!("height {text:?} is not a non-negative integer"),
        )
    })
}

/// The 404 for a block this node has no summary of: below the snapshot it started from, or
/// not committed yet.
fn no_block(s: &ApiState, h: Height) -> ApiError {
    let base = s.shared.status().base_height;
    if base.0 > 0 && h < base {
        return ApiError(
            StatusCode::NOT_FOUND,
            "below_base",
            format!(
                "this node holds blocks from {base} (it started from a state snapshot at \
                 height {base}); block {h} is older: ask a peer"
            ),
        );
    }
    ApiError(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no block at height {h} (committed height is {})",
            s.shared.status().height
        ),
    )
}

/// The block at `h` with its transactions and their results; a block whose body retention
/// pruned is served from its summary (header, certificate, no transactions, `pruned`).
fn block_json(s: &ApiState, h: Height) -> Result<wire::Block, ApiError> {
    if let Some(b) = s.store.block(h).map_err(internal)? {
        return Ok(render_block(s, &b));
    }
    let summary = summary_or_404(s, h)?;
    Ok(render_header(s, &summary, Vec::new(), true))
}

fn render_block(s: &ApiState, b: &StoredBlock) -> wire::Block {
    let h = &b.block.header;
    let transactions = b
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
                None => match Ledger::unrecorded_refusal(&t.tx, h.timestamp_ms) {
                    Some(code) => code.as_str().to_string(),
                    None => "unknown".to_string(),
                },
            };
            wire::BlockTx {
                id: t.tx.id,
                signer: t.tx.signer,
                op: t.tx.op.clone(),
                signature: t.signature,
                result,
            }
        })
        .collect();
    render_header(s, &b.summary(), transactions, false)
}

/// A block's JSON from its summary and the transactions to show.
fn render_header(
    s: &ApiState,
    b: &BlockSummary,
    transactions: Vec<wire::BlockTx>,
    pruned: bool,
) -> wire::Block {
    let h = &b.header;
    let signatures = b
        .certificate
        .signatures
        .iter()
        .map(|c| wire::NamedSignature {
            replica: c.replica,
            validator: s
                .genesis
                .validators
                .get(c.replica.0 as usize)
                .map(|v| v.name.clone())
                .unwrap_or_default(),
            signature: c.signature,
        })
        .collect();
    wire::Block {
        height: h.height,
        hash: b.hash,
        prev_hash: b.prev_hash,
        timestamp: h.timestamp_ms,
        state_root: b.state_root,
        proposer: h.proposer,
        tx_count: h.tx_count,
        tx_root: h.tx_root,
        certified_state: wire::CertifiedState {
            height: h.state_height,
            root: h.state_root,
        },
        header: h.clone(),
        transactions,
        pruned,
        certificate: wire::BlockCertificate {
            height: b.certificate.height,
            view: b.certificate.view,
            block_hash: b.certificate.block_hash,
            signatures,
        },
    }
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

fn outcome_json(genesis: &Genesis, id: TxId, o: &SubmitOutcome) -> (StatusCode, wire::TxView) {
    match o {
        SubmitOutcome::Pending => (StatusCode::ACCEPTED, wire::TxView::pending(id)),
        SubmitOutcome::AlreadyPending => (
            StatusCode::ACCEPTED,
            wire::TxView {
                note: Some("already pending: retry ignored".into()),
                ..wire::TxView::pending(id)
            },
        ),
        SubmitOutcome::AlreadyCommitted(r) => (StatusCode::OK, record_json(genesis, id, r)),
        SubmitOutcome::Refused { code, message } => (
            StatusCode::BAD_REQUEST,
            wire::TxView::refused(id, code.clone(), message.clone()),
        ),
        SubmitOutcome::Busy => (
            StatusCode::TOO_MANY_REQUESTS,
            wire::TxView::refused(
                id,
                "mempool_full",
                "the node's mempool is full; retry later",
            ),
        ),
        SubmitOutcome::Unavailable { message } => (
            StatusCode::SERVICE_UNAVAILABLE,
            wire::TxView::refused(id, "unavailable", message.clone()),
        ),
    }
}

fn record_json(genesis: &Genesis, id: TxId, r: &TxRecord) -> wire::TxView {
    let ok = r.result.is_ok();
    let detail = match &r.detail {
        Some(settlenet_ledger::RecordDetail::Settlement {
            policy,
            window,
            members,
        }) => {
            // Amounts in minor units: the record does not carry the currency (the batch does).
            let name = |m: settlenet_types::MemberId| {
                genesis
                    .members
                    .get(usize::from(m.0))
                    .map_or_else(|| format!("member-{}", m.0), |x| x.name.clone())
            };
            let members = members
                .iter()
                .map(|x| wire::MemberShortfallMinor {
                    member: name(x.member),
                    debit_minor: x.debit.to_string(),
                    balance_minor: x.balance.to_string(),
                    cap_minor: x.cap.map(|c| c.0.to_string()),
                    shortfall_minor: x.shortfall.to_string(),
                })
                .collect();
            Some(wire::TxDetail {
                settlement: wire::SettlementRecord {
                    policy: policy.to_string(),
                    window: *window,
                    members,
                },
            })
        }
        _ => None,
    };
    wire::TxView {
        id,
        status: if ok {
            wire::TxStatus::Committed
        } else {
            wire::TxStatus::Rejected
        },
        height: Some(r.height),
        index: Some(r.index),
        result: ok.then(|| r.result.as_str().to_string()),
        reason: (!ok).then(|| r.result.as_str().to_string()),
        message: Some(r.result.describe().to_string()),
        note: None,
        error: None,
        detail,
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
    let (code, v) = outcome_json(&s.genesis, id, o);
    let mut response = (code, Json(v)).into_response();
    if code == StatusCode::TOO_MANY_REQUESTS {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    Ok(response)
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
    // One blocking verification per verifier thread; a bounded queue waits, the rest is
    // refused at once (429).
    let permits = s.limits.verifier().await?;
    let verify = txs.clone();
    tokio::task::spawn_blocking(move || {
        let result = settlenet_crypto::verify_transactions(&verify);
        drop(permits);
        result
    })
    .await
    .map_err(internal)?
    .map_err(|e| bad("invalid_signature", e.to_string()))?;
    let ids: Vec<TxId> = txs.iter().map(|t| t.tx.id).collect();
    let outcomes = submit(&s, txs).await?;
    let mut accepted = 0usize;
    let mut busy = 0usize;
    let results: Vec<wire::TxView> = ids
        .iter()
        .zip(outcomes.iter())
        .map(|(id, o)| {
            let (code, v) = outcome_json(&s.genesis, *id, o);
            if code.is_success() {
                accepted += 1;
            }
            if code == StatusCode::TOO_MANY_REQUESTS {
                busy += 1;
            }
            v
        })
        .collect();
    // Every transaction refused for load: the whole request is (429, retry later); some:
    // 202 with each one's outcome, and `Retry-After` for those that were not taken.
    let status = if busy > 0 && busy == results.len() {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::ACCEPTED
    };
    let mut response = (
        status,
        Json(wire::BatchSubmitted {
            accepted: accepted as u64,
            results,
        }),
    )
        .into_response();
    if busy > 0 {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    Ok(response)
}

async fn tx_status(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<wire::TxView>, ApiError> {
    let id = parse_tx_id(&id)?;
    if let Some(bytes) = s.store.record(&id).map_err(internal)? {
        let r: TxRecord = settlenet_types::decode("tx record", &bytes).map_err(internal)?;
        return Ok(Json(record_json(&s.genesis, id, &r)));
    }
    // In a block that refused it without a record (outside its validity): that verdict.
    if let Some(r) = unrecorded_record(&s, &id)? {
        return Ok(Json(record_json(&s.genesis, id, &r)));
    }
    let (reply, rx) = oneshot::channel();
    s.core
        .send(ApiCommand::IsPending { id, reply })
        .await
        .map_err(|_| internal("node is shutting down"))?;
    if rx.await.unwrap_or(false) {
        return Ok(Json(wire::TxView::pending(id)));
    }
    Err(ApiError(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("transaction {id} is neither pending on this node nor committed"),
    ))
}

/// The result of transaction `id` if a block holds it but refused it without writing a record
/// (`Ledger::unrecorded_refusal`), as the record it would have had.
fn unrecorded_record(s: &ApiState, id: &TxId) -> Result<Option<TxRecord>, ApiError> {
    let Some((height, index)) = s.store.tx_location(id).map_err(internal)? else {
        return Ok(None);
    };
    let Some(b) = s.store.block(height).map_err(internal)? else {
        if height < s.store.blocks_from().map_err(internal)? {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                "pruned",
                format!(
                    "transaction {id} is in block {height} at position {index}, which refused \
                     it without a record; this node no longer holds that block's transactions \
                     (retention), so it cannot say why: ask a node that keeps block {height}"
                ),
            ));
        }
        return Ok(None);
    };
    let Some(t) = b.block.txs.get(index as usize) else {
        return Ok(None);
    };
    let now = b.block.header.timestamp_ms;
    Ok(
        Ledger::unrecorded_refusal(&t.tx, now).map(|result| TxRecord {
            body_hash: t.tx.intent_hash().unwrap_or(settlenet_types::Hash::ZERO),
            height,
            index,
            result,
            detail: None,
            valid_until_ms: t.tx.valid_until_ms,
        }),
    )
}

fn not_found(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not_found", msg.into())
}

fn parse_tx_id(text: &str) -> Result<TxId, ApiError> {
    text.parse()
        .map_err(|e| bad("invalid_id", format!("transaction id: {e}")))
}

fn parse_account_id(text: &str) -> Result<AccountId, ApiError> {
    text.parse()
        .map_err(|e| bad("invalid_id", format!("account id: {e}")))
}

fn read_account(s: &ApiState, id: &AccountId) -> Result<Option<Account>, ApiError> {
    s.store
        .account(id)
        .map_err(internal)?
        .map(|bytes| settlenet_types::decode::<Account>("account", &bytes).map_err(internal))
        .transpose()
}

/// The currency a request names (default: the genesis's first) and its exponent: `400
/// invalid_currency` / `unknown_currency` otherwise.
fn currency_param(s: &ApiState, text: Option<&str>) -> Result<(Currency, u8), ApiError> {
    let currency = match text {
        Some(c) => c
            .parse::<Currency>()
            .map_err(|e| bad("invalid_currency", format!("currency: {e}")))?,
        None => s
            .genesis
            .currencies
            .first()
            .map(|c| c.code)
            .ok_or_else(|| internal("the genesis holds no currency"))?,
    };
    let exp = s.genesis.exponent(currency).ok_or_else(|| {
        bad(
            "unknown_currency",
            format!("currency {currency} is not held by this network"),
        )
    })?;
    Ok((currency, exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_openapi_document() {
        let doc: Value = serde_json::from_str(&wire::openapi_json()).expect("the document is JSON");
        let routes = routes();
        for (method, path, _) in &routes {
            let item = &doc["paths"][*path];
            assert!(
                item.is_object(),
                "{method} {path} is not in the OpenAPI document"
            );
            assert!(
                item[method.to_lowercase()].is_object(),
                "{path} has no {method} operation in the OpenAPI document"
            );
        }
        let documented = doc["paths"].as_object().map_or(0, |p| p.len());
        assert_eq!(
            documented,
            routes.len(),
            "the document lists a route the router lacks"
        );
    }
}
