//! The network gate: the task between the network and the core. It decodes peers' messages and
//! checks every consensus signature on a blocking thread, so the core's loop (timers,
//! proposals, commits) never spends its time on a flood, and counts invalid signatures against
//! their sender, banning a validator that keeps sending them ([`crate::strikes`]).
//!
//! ```text
//!   net events ──> Gate::run ── batch of ≤ GATE_BATCH_MAX ──> spawn_blocking(decode, verify_by)
//!                     │                                                   │
//!                     └─── ban (NetHandle::ban) <── bad signature ────────┤
//!   core <── Gated (bounded, GATE_OUT_MAX) <── pass ──────────────────────┘
//! ```
//! Signatures that verify are remembered by the [`MemoVerifier`] the replica shares, so the
//! replica's own check of a gated message costs a hash. The rules stay in the machine: a
//! message passes with every check the replica makes still ahead of it; the gate only drops
//! what no rule could accept (undecodable, not from a validator, a signature that does not
//! verify) and keeps the order in which each peer's messages arrived.

use crate::shared::{Counters, Shared};
use crate::strikes::Strikes;
use crate::wire::Wire;
use settlenet_consensus::ConsensusError;
use settlenet_crypto::MemoVerifier;
use settlenet_net::{InboundPermit, NetEvent, NetHandle, PeerId};
use settlenet_types::{PublicKey, ReplicaId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// Events taken from the network per blocking batch.
pub const GATE_BATCH_MAX: usize = 256;
/// Checked events waiting for the core; when full, the gate waits (and the network's event
/// queue, bounded in count and bytes, absorbs or refuses the rest).
pub const GATE_OUT_MAX: usize = 1024;

/// What the core receives from the network, through the gate.
#[derive(Debug)]
pub enum Gated {
    /// A decoded message from a validator; a consensus message's signatures verified.
    Wire {
        /// The sender.
        from: ReplicaId,
        /// The message.
        wire: Wire,
        /// Its bytes' share of the network's inbound budget, released when handled.
        permit: InboundPermit,
    },
    /// Every other network event, as it came.
    Net(NetEvent),
}

/// What the blocking check needs (shared, read-only).
#[derive(Debug)]
pub struct GateContext {
    /// The chain id messages must carry.
    pub chain_id: String,
    /// Validator keys by replica index.
    pub validators: Vec<PublicKey>,
    /// Validator peer ids.
    pub peer_index: HashMap<PeerId, ReplicaId>,
    /// The replica's verifier.
    pub verifier: Arc<MemoVerifier>,
}

/// The gate's verdict on one event.
#[derive(Debug)]
enum Verdict {
    Pass(Gated),
    /// A signature did not verify: `peer` sent it (or forwarded it).
    BadSignature {
        peer: PeerId,
        replica: ReplicaId,
        reason: String,
    },
    /// Dropped for another reason (logged at debug level; counted).
    Dropped {
        peer: PeerId,
        why: String,
    },
}

impl GateContext {
    fn check(&self, event: NetEvent) -> Verdict {
        let NetEvent::Message {
            from,
            bytes,
            permit,
        } = event
        else {
            return Verdict::Pass(Gated::Net(event));
        };
        let Some(&replica) = self.peer_index.get(&from) else {
            return Verdict::Dropped {
                peer: from,
                why: "message from a peer that is not a validator".into(),
            };
        };
        let wire = match settlenet_types::decode::<Wire>("wire message", &bytes) {
            Ok(wire) => wire,
            Err(e) => {
                return Verdict::Dropped {
                    peer: from,
                    why: format!("undecodable message: {e}"),
                }
            }
        };
        drop(bytes);
        if let Wire::Consensus(message) = &wire {
            // A message claiming another sender is the replica's to drop (`from_mismatch`),
            // without a signature check.
            if message.from == replica {
                if let Err(ConsensusError::BadSignature { reason, .. }) =
                    message.verify_by(&self.chain_id, &self.validators, self.verifier.as_ref())
                {
                    return Verdict::BadSignature {
                        peer: from,
                        replica,
                        reason,
                    };
                }
                // Other failures (wrong chain, malformed, bad block body) are the replica's to
                // drop and count with their reason.
            }
        }
        Verdict::Pass(Gated::Wire {
            from: replica,
            wire,
            permit,
        })
    }
}

/// The gate task.
pub struct Gate {
    /// From the network.
    pub net_rx: mpsc::Receiver<NetEvent>,
    /// To the core.
    pub out: mpsc::Sender<Gated>,
    /// The checks.
    pub context: Arc<GateContext>,
    /// The ban rule.
    pub strikes: Strikes<PeerId>,
    /// To ban peers.
    pub net: NetHandle,
    /// Counters.
    pub shared: Arc<Shared>,
}

impl Gate {
    /// Run until the network or the core goes away.
    pub async fn run(mut self) {
        loop {
            let Some(first) = self.net_rx.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < GATE_BATCH_MAX {
                match self.net_rx.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            let verdicts = if batch.iter().any(|e| matches!(e, NetEvent::Message { .. })) {
                let context = self.context.clone();
                let checked = tokio::task::spawn_blocking(move || {
                    batch
                        .into_iter()
                        .map(|e| context.check(e))
                        .collect::<Vec<_>>()
                })
                .await;
                match checked {
                    Ok(verdicts) => verdicts,
                    Err(e) => {
                        // A panic in a check is a bug; the core stops when its input closes.
                        tracing::error!("network gate: check failed to run: {e}");
                        return;
                    }
                }
            } else {
                batch
                    .into_iter()
                    .map(|e| Verdict::Pass(Gated::Net(e)))
                    .collect()
            };
            for verdict in verdicts {
                match verdict {
                    Verdict::Pass(gated) => {
                        if self.out.send(gated).await.is_err() {
                            return; // the core stopped
                        }
                    }
                    Verdict::Dropped { peer, why } => {
                        Counters::inc(&self.shared.counters.messages_dropped);
                        debug!(%peer, "message dropped: {why}");
                    }
                    Verdict::BadSignature {
                        peer,
                        replica,
                        reason,
                    } => self.bad_signature(peer, replica, &reason).await,
                }
            }
        }
    }

    async fn bad_signature(&mut self, peer: PeerId, replica: ReplicaId, reason: &str) {
        let counters = &self.shared.counters;
        Counters::inc(&counters.messages_dropped);
        Counters::inc(&counters.bad_signatures);
        debug!(%peer, replica = replica.0, "invalid signature: {reason}");
        if let Some(duration) = self.strikes.strike(peer, crate::clock::now_ms()) {
            Counters::inc(&counters.peers_banned);
            warn!(
                %peer,
                replica = replica.0,
                secs = duration.as_secs(),
                "validator banned: it keeps sending invalid signatures (last: {reason})"
            );
            self.net.ban(peer, duration).await;
        }
    }
}

/// The first ban's length from the config.
pub fn ban_duration(secs: u64) -> Duration {
    Duration::from_secs(secs.max(1))
}
