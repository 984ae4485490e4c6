//! `GET /v1/observers`: the active observer nodes, i.e. the non-validator peers (integrators'
//! nodes that sync blocks and serve reads) whose libp2p peer ids members registered on the
//! ledger (the contract is in `docs/api.md`).
//!
//! Observer entries are ledger accounts with ids hashed from their peer ids, so the store
//! cannot list them short of scanning every account; the ledger keeps an index of the active
//! ones (at most `OBSERVERS_MAX`), which the core task reads.

use super::{internal, ApiError, ApiState};
use crate::core::ApiCommand;
use axum::extract::State;
use axum::Json;
use settlenet_api as wire;
use tokio::sync::oneshot;

/// Every active observer, by peer id, with its sponsor's name.
pub(super) async fn observers(
    State(s): State<ApiState>,
) -> Result<Json<Vec<wire::ObserverView>>, ApiError> {
    let (reply, rx) = oneshot::channel();
    s.core
        .send(ApiCommand::Observers { reply })
        .await
        .map_err(|_| internal("node is shutting down"))?;
    let observers = rx.await.map_err(|_| internal("node is shutting down"))?;
    let list = observers
        .into_iter()
        .map(|o| wire::ObserverView {
            sponsor: s
                .genesis
                .members
                .get(usize::from(o.sponsor.0))
                .map_or_else(|| format!("member-{}", o.sponsor.0), |m| m.name.clone()),
            sponsor_id: o.sponsor,
            registered_height: o.registered_height,
            peer_id: o.peer_id,
            name: o.name,
        })
        .collect();
    Ok(Json(list))
}
