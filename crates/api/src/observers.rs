//! Observer nodes: the non-validator nodes (integrators' nodes that sync blocks and serve
//! reads) whose libp2p peer ids members registered on the ledger.

use serde::{Deserialize, Serialize};
use settlenet_types::{Height, MemberId};
use utoipa::ToSchema;

/// One active observer of `GET /v1/observers` (the answer is a JSON array of these, sorted by
/// peer id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ObserverView {
    /// Its libp2p peer id, as libp2p prints it (base58btc).
    pub peer_id: String,
    /// The label its sponsor gave it.
    pub name: String,
    /// The sponsoring member's name.
    pub sponsor: String,
    /// The sponsoring member's id.
    #[schema(value_type = u16)]
    pub sponsor_id: MemberId,
    /// The height of the block that registered it (last, if it was registered again).
    #[schema(value_type = u64)]
    pub registered_height: Height,
}
