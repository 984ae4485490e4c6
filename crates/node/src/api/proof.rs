//! `GET /v1/accounts/{id}/proof`: an account with a Merkle proof and the committed block that
//! certifies its state root (also used by settlement receipts).

use super::{accounts::account_json, internal, not_found, parse_account_id, ApiError, ApiState};
use crate::core::ApiCommand;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use settlenet_api as wire;
use settlenet_types::{AccountId, Hash, Height, StoredBlock};
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
    let h = &anchor.block.header;
    wire::Anchor {
        height: h.height,
        hash: anchor.hash,
        header: h.clone(),
        certificate: anchor.certificate.clone(),
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
    let deadline = tokio::time::Instant::now() + PROOF_WAIT_MAX;
    loop {
        let (reply, rx) = oneshot::channel();
        s.core
            .send(ApiCommand::ProveMany {
                accounts: accounts.clone(),
                reply,
            })
            .await
            .map_err(|_| internal("node is shutting down"))?;
        let (height, root, proofs) = rx.await.map_err(|_| internal("node is shutting down"))?;
        if proofs.first().is_none_or(Option::is_none) {
            return Ok(None);
        }
        if let Some(anchor) = find_anchor(s, height, &root)? {
            return Ok(Some(Anchored {
                proofs,
                root,
                anchor,
            }));
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
