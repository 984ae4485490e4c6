//! `GET /v1/accounts/{id}/proof`: an account with a Merkle proof and the committed block that
//! certifies its state root (also used by settlement receipts); `GET
//! /v1/transactions/{id}/proof`: a transaction's record with a proof against the ledger's
//! history, certified the same way.

use super::{
    accounts::account_json, internal, not_found, parse_account_id, parse_tx_id, ApiError, ApiState,
};
use crate::core::ApiCommand;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use settlenet_api as wire;
use settlenet_ledger::TxRecord;
use settlenet_storage::Store;
use settlenet_types::{AccountId, Hash, Height, StoredBlock, TxId};
use std::future::Future;
use std::time::Duration;
use tokio::sync::oneshot;

// ---- proofs ----

/// How long `GET /v1/accounts/{id}/proof` waits for a block certifying the latest state.
pub const PROOF_WAIT_MAX: Duration = Duration::from_secs(5);
/// How far back (in blocks) an anchor is searched for below the proven height.
const ANCHOR_LOOKBACK: u64 = 8;
/// How many committed blocks above the proven height are searched before asking again.
const ANCHOR_LOOKAHEAD_MAX: u64 = 256;

/// An account with a Merkle proof against a state root, and an anchor: a committed block whose
/// header carries that root, with its commit certificate. Verifiable offline with the genesis.
pub(super) async fn proof(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<wire::ProofFile>, ApiError> {
    let id = parse_account_id(&id)?;
    let Some(p) = prove_anchored(&s, vec![id]).await? else {
        return Err(not_found(format!("no account {id}")));
    };
    let Some(Some(proof)) = p.proofs.into_iter().next() else {
        return Err(not_found(format!("no account {id}")));
    };
    let h = &p.anchor.block.header;
    Ok(Json(wire::ProofFile {
        version: wire::PROOF_VERSION,
        chain_id: s.genesis.chain_id.clone(),
        account_id: id,
        account: account_json(&s.genesis, &proof.account),
        state_height: h.state_height,
        state_root: p.root,
        proof,
        anchor: anchor_json(&p.anchor),
    }))
}

/// Proofs of several accounts under one state root, with the committed block that certifies it.
pub(crate) struct Anchored {
    /// One proof per account asked for (`None`: no such account).
    pub proofs: Vec<Option<settlenet_ledger::AccountProof>>,
    /// The state root they verify against.
    pub root: Hash,
    /// A committed block whose header certifies `root`.
    pub anchor: StoredBlock,
}

/// The JSON `anchor` object of proof and receipt files: `height`, `hash`, `header`,
/// `certificate`.
pub(super) fn anchor_json(anchor: &StoredBlock) -> wire::Anchor {
    anchor_of(&anchor.block.header, anchor.hash, &anchor.certificate)
}

/// An anchor (a certified header) from its parts, e.g. a block summary's.
pub(super) fn anchor_of(
    header: &settlenet_types::BlockHeader,
    hash: Hash,
    certificate: &settlenet_types::CommitCertificate,
) -> wire::Anchor {
    wire::Anchor {
        height: header.height,
        hash,
        header: header.clone(),
        certificate: certificate.clone(),
    }
}

/// Prove `accounts` against the latest executed state and find the committed block that
/// certifies that state, waiting up to [`PROOF_WAIT_MAX`] for it (the next block certifies the
/// state its predecessor left; an idle primary proposes one). `Ok(None)` if the first account
/// does not exist; `503 not_yet_certified` if no block certifies the state in time.
pub(super) async fn prove_anchored(
    s: &ApiState,
    accounts: Vec<AccountId>,
) -> Result<Option<Anchored>, ApiError> {
    let accounts = &accounts;
    let certified = certify(s, || async move {
        let (reply, rx) = oneshot::channel();
        let command = ApiCommand::ProveMany {
            accounts: accounts.clone(),
            reply,
        };
        let (height, root, proofs) = ask(s, command, rx).await?;
        if proofs.first().is_none_or(Option::is_none) {
            return Ok(None);
        }
        Ok(Some((height, root, proofs)))
    })
    .await?;
    Ok(certified.map(|(proofs, root, anchor)| Anchored {
        proofs,
        root,
        anchor,
    }))
}

/// Send `command` to the node's core and wait for its answer on `rx`.
async fn ask<T>(
    s: &ApiState,
    command: ApiCommand,
    rx: oneshot::Receiver<T>,
) -> Result<T, ApiError> {
    s.core
        .send(command)
        .await
        .map_err(|_| internal("node is shutting down"))?;
    rx.await.map_err(|_| internal("node is shutting down"))
}

/// Run `prove` (which proves something against the latest executed state: `(height, root,
/// proof)`, or `None` if there is nothing to prove) until a committed block certifies the
/// state it proved against, for up to [`PROOF_WAIT_MAX`]. `Ok(None)` as soon as `prove` says
/// so; `503 not_yet_certified` if no block certifies the state in time.
async fn certify<T, F, Fut>(
    s: &ApiState,
    mut prove: F,
) -> Result<Option<(T, Hash, StoredBlock)>, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<(Height, Hash, T)>, ApiError>>,
{
    let deadline = tokio::time::Instant::now() + PROOF_WAIT_MAX;
    loop {
        let Some((height, root, proof)) = prove().await? else {
            return Ok(None);
        };
        if let Some(anchor) = find_anchor(s, height, &root)? {
            return Ok(Some((proof, root, anchor)));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_yet_certified",
                format!(
                    "no committed block certifies the state root at height {height} yet \
                     (waited {} s); retry",
                    PROOF_WAIT_MAX.as_secs()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /v1/transactions/{id}/proof`: the transaction's record with a proof that the ledger's
/// history holds it (its path in its block's records, that block's leaf in the history
/// accumulator), against the latest executed state root, and the committed block certifying
/// that root. Works for any record ever written whose block this node holds, live or not.
pub(super) async fn tx_proof(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<wire::TxProofFile>, ApiError> {
    let id = parse_tx_id(&id)?;
    let store = s.store.clone();
    let permit = s.limits.proof_read()?;
    let found = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        block_records_of(&store, &id)
    })
    .await
    .map_err(internal)??;
    let (record, block_records, leaf) = found;
    let (state, records, block) = (&s, &block_records, record.height);
    let certified = certify(state, || async move {
        let (reply, rx) = oneshot::channel();
        let command = ApiCommand::ProveRecord {
            id,
            block_records: records.clone(),
            leaf,
            reply,
        };
        let (height, root, proof) = ask(state, command, rx).await?;
        match proof.map_err(internal)? {
            Some(p) => Ok(Some((height, root, p))),
            None => Err(not_held(format!(
                "this node does not hold the history of block {block} (it installed a \
                 snapshot above it); ask a node that executed it"
            ))),
        }
    })
    .await?;
    let Some((proof, root, anchor)) = certified else {
        return Err(not_found(format!("no record of transaction {id}")));
    };
    let h = &anchor.block.header;
    Ok(Json(wire::TxProofFile {
        kind: wire::TX_PROOF_KIND.to_string(),
        version: wire::TX_PROOF_VERSION,
        chain_id: s.genesis.chain_id.clone(),
        tx_id: id,
        height: record.height,
        index: record.index,
        result: record.result.as_str().to_string(),
        state_height: h.state_height,
        state_root: root,
        proof,
        anchor: anchor_json(&anchor),
    }))
}

/// The records a block wrote, in block order.
type BlockRecords = Vec<(TxId, TxRecord)>;

/// The record of `id`, every record its block wrote (in block order: the transactions whose
/// record names this block and their position in it; repeats and refusals without a record
/// are left out, as the ledger left them out of the block's history leaf) and that block's
/// history leaf. `404 not_found` if there is no record of `id`; `404 not_held` if the block or
/// its leaf is not held (below a snapshot this node installed).
fn block_records_of(store: &Store, id: &TxId) -> Result<(TxRecord, BlockRecords, u64), ApiError> {
    let decode = |bytes: &[u8]| -> Result<TxRecord, ApiError> {
        settlenet_types::decode("tx record", bytes).map_err(internal)
    };
    let Some(bytes) = store.record(id).map_err(internal)? else {
        return Err(not_found(format!("no record of transaction {id}")));
    };
    let record = decode(&bytes)?;
    let height = record.height;
    let not_held_here = || {
        not_held(format!(
            "this node does not hold block {height} (it installed a snapshot above it); ask a \
             node that executed it"
        ))
    };
    // The summary outlives the block's body (retention): its ids are all the proof needs.
    let block = store
        .block_summary(height)
        .map_err(internal)?
        .ok_or_else(not_held_here)?;
    let leaf = store
        .history_leaf_of(height)
        .map_err(internal)?
        .ok_or_else(not_held_here)?;
    let ids = block.tx_ids;
    let mut records = Vec::new();
    for (index, (tx, bytes)) in ids
        .iter()
        .zip(store.records_many(&ids).map_err(internal)?)
        .enumerate()
    {
        let Some(bytes) = bytes else { continue };
        let r = decode(&bytes)?;
        if r.height == height && usize::try_from(r.index).is_ok_and(|i| i == index) {
            records.push((*tx, r));
        }
    }
    Ok((record, records, leaf))
}

/// `404 not_held`: this node does not hold what the answer needs.
fn not_held(message: String) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not_held", message)
}

/// A committed, non-null block whose header carries `root` as its certified state root, searched
/// a few blocks below `height` (an idle chain's root repeats) and the blocks above it.
fn find_anchor(s: &ApiState, height: Height, root: &Hash) -> Result<Option<StoredBlock>, ApiError> {
    let last = s.store.last_height().map_err(internal)?.0;
    let from = height.0.saturating_sub(ANCHOR_LOOKBACK).max(1);
    let to = last.min(height.0.saturating_add(ANCHOR_LOOKAHEAD_MAX));
    for h in from..=to {
        let Some(b) = s.store.block(Height(h)).map_err(internal)? else {
            continue;
        };
        if !settlenet_consensus::is_null(&b.block) && b.block.header.state_root == *root {
            return Ok(Some(b));
        }
    }
    Ok(None)
}
