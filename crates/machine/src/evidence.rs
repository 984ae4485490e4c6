//! Equivocation evidence: two validly signed, conflicting consensus messages from one
//! validator for one (view, height, kind), as the replica reports them
//! ([`settlenet_consensus::Output::Evidence`]).
//!
//! The core keeps each report in the store's `evidence` column family (synced, first report
//! per key kept, at most [`EVIDENCE_MAX`] records), counts it and logs it at warn; the API
//! serves the records at `GET /v1/evidence`, a page at a time. A record holds both signed
//! messages, blocks without their transactions ([`compact`]), so anyone with the genesis can
//! check the signatures again (`message` is the canonical encoding, in hex).

use serde::{Deserialize, Serialize};
use settlenet_consensus::{MessageKind, Payload, SignedMessage};
use settlenet_types::{Height, ReplicaId, View};

/// Version of [`EvidenceRecord`]'s encoding (its first field).
pub const EVIDENCE_VERSION: u8 = 1;
/// Most evidence records a node keeps. One report per (validator, kind, view, height) is
/// enough to act on; the bound keeps a Byzantine validator from filling the disk.
pub const EVIDENCE_MAX: usize = 1024;
/// Most evidence records a node keeps against one validator: one Byzantine validator's
/// reports cannot crowd out the others'.
pub const EVIDENCE_PER_VALIDATOR_MAX: usize = 64;

/// The message as evidence keeps it: blocks without their transactions. Every signature
/// stays checkable: a PRE-PREPARE's covers the block header's hash, and a VIEW-CHANGE's its
/// digest form (certificates by header); the header's `tx_root` still commits to the
/// transactions left out. A record is then a few kilobytes, not a window of full blocks.
pub fn compact(mut message: SignedMessage) -> SignedMessage {
    match &mut message.payload {
        Payload::PrePrepare { block, .. } => block.txs = Vec::new(),
        Payload::ViewChange(body) => {
            for cert in &mut body.prepared {
                cert.block.txs = Vec::new();
            }
        }
        _ => {}
    }
    message
}

/// One stored piece of evidence (canonical encoding in the store).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct EvidenceRecord {
    /// [`EVIDENCE_VERSION`].
    pub version: u8,
    /// The validator that signed both messages.
    pub validator: ReplicaId,
    /// The message the replica kept (received first).
    pub first: SignedMessage,
    /// The conflicting one.
    pub second: SignedMessage,
    /// This node's clock when it first saw the conflict (ms since the Unix epoch).
    pub first_seen_ms: u64,
}

/// The short name of a message kind in keys and JSON.
pub fn kind_name(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::PrePrepare => "pre_prepare",
        MessageKind::Prepare => "prepare",
        MessageKind::Commit => "commit",
        MessageKind::Checkpoint => "checkpoint",
        MessageKind::ViewChange => "view_change",
        MessageKind::NewView => "new_view",
    }
}

fn kind_code(kind: MessageKind) -> u8 {
    match kind {
        MessageKind::PrePrepare => 0,
        MessageKind::Prepare => 1,
        MessageKind::Commit => 2,
        MessageKind::Checkpoint => 3,
        MessageKind::ViewChange => 4,
        MessageKind::NewView => 5,
    }
}

impl EvidenceRecord {
    /// The kind of the conflicting messages.
    pub fn kind(&self) -> MessageKind {
        self.first.payload.kind()
    }

    /// The view of the conflict.
    pub fn view(&self) -> View {
        self.first.payload.view()
    }

    /// The height of the conflict.
    pub fn height(&self) -> Height {
        self.first.payload.height()
    }

    /// The store key: validator (2 bytes), kind (1), view (8), height (8), all big-endian, so
    /// records list by validator, then kind, view and height, and one conflict is kept once.
    pub fn key(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(19);
        k.extend_from_slice(&self.validator.0.to_be_bytes());
        k.push(kind_code(self.kind()));
        k.extend_from_slice(&self.view().0.to_be_bytes());
        k.extend_from_slice(&self.height().0.to_be_bytes());
        k
    }
}
