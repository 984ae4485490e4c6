//! Checkpoints and garbage collection (§4.3): every `checkpoint_interval` executed heights a
//! replica signs CHECKPOINT(height, state root); a quorum on one root makes it stable, the log
//! at or below it is discarded and the low watermark moves.

use super::{DropReason, Output, Replica, WalEntry};
use crate::message::{CheckpointBody, CheckpointProof, Payload, SignedMessage};
use settlenet_types::{Hash, Height, ReplicaId, Signature};
use std::collections::BTreeMap;

impl Replica {
    /// §4.3: "when a replica produces a checkpoint it multicasts CHECKPOINT(n, d, i)": here
    /// every `checkpoint_interval` heights, once the node executed the height.
    pub(super) fn on_executed(&mut self, height: Height, state_root: Hash, out: &mut Vec<Output>) {
        if height.0 == 0
            || !height.0.is_multiple_of(self.checkpoint_interval)
            || height <= self.stable.height
            || height > self.last_committed
            || self
                .checkpoints
                .get(&height)
                .is_some_and(|m| m.contains_key(&self.me))
        {
            return;
        }
        let message =
            match SignedMessage::checkpoint(&self.chain_id, height, state_root, self.me, &self.key)
            {
                Ok(m) => m,
                Err(_) => {
                    self.stats.internal_errors += 1;
                    return;
                }
            };
        self.record_checkpoint(self.me, height, state_root, message.signature);
        out.push(Output::Broadcast(message));
        self.try_stabilize(height, out);
    }

    /// §4.3: collect CHECKPOINTs from others; a quorum on one (height, root) is a proof.
    pub(super) fn on_checkpoint(
        &mut self,
        from: ReplicaId,
        message: SignedMessage,
        out: &mut Vec<Output>,
    ) {
        let Payload::Checkpoint(body) = &message.payload else {
            return self.drop(DropReason::Malformed);
        };
        let (height, state_root) = (body.height, body.state_root);
        if height <= self.stable.height {
            return self.drop(DropReason::Stale);
        }
        if !height.0.is_multiple_of(self.checkpoint_interval) {
            return self.drop(DropReason::Malformed);
        }
        if let Some((root, sig)) = self.checkpoints.get(&height).and_then(|m| m.get(&from)) {
            if *root == state_root {
                return self.drop(DropReason::Duplicate);
            }
            let (root, sig) = (*root, *sig);
            // Two roots signed for one height: evidence, once the second signature verifies
            // (the first was verified when it was kept).
            if let Err(e) =
                message.verify_by(&self.chain_id, &self.validators, self.verifier.as_ref())
            {
                return self.drop(DropReason::of(&e));
            }
            if self.checkpoint_reported.insert((height, from)) {
                let first = SignedMessage {
                    from,
                    payload: Payload::Checkpoint(CheckpointBody::new(&self.chain_id, height, root)),
                    signature: sig,
                };
                out.push(Output::Evidence {
                    replica: from,
                    first,
                    second: message,
                });
                self.stats.evidence += 1;
            }
            return self.drop(DropReason::Conflicting);
        }
        if let Err(e) = message.verify_by(&self.chain_id, &self.validators, self.verifier.as_ref())
        {
            return self.drop(DropReason::of(&e));
        }
        let top = Height(
            self.last_committed
                .max(self.low())
                .0
                .saturating_add(2 * self.log_window),
        );
        if height > top {
            self.note_ahead(from, height, out);
            return self.drop(DropReason::AboveWindow);
        }
        self.record_checkpoint(from, height, state_root, message.signature);
        self.try_stabilize(height, out);
    }

    fn record_checkpoint(&mut self, from: ReplicaId, height: Height, root: Hash, sig: Signature) {
        self.checkpoints
            .entry(height)
            .or_default()
            .insert(from, (root, sig));
        // Bounded: the oldest heights go first (a newer one stabilising covers them).
        while self.checkpoints.len() > self.checkpoint_heights_cap() {
            self.checkpoints.pop_first();
        }
        if let Some(oldest) = self.checkpoints.keys().next().copied() {
            self.checkpoint_reported.retain(|(h, _)| *h >= oldest);
        }
    }

    fn try_stabilize(&mut self, height: Height, out: &mut Vec<Output>) {
        let Some(votes) = self.checkpoints.get(&height) else {
            return;
        };
        let mut by_root: BTreeMap<Hash, Vec<(ReplicaId, Signature)>> = BTreeMap::new();
        for (r, (root, sig)) in votes {
            by_root.entry(*root).or_default().push((*r, *sig));
        }
        let Some((state_root, signatures)) = by_root
            .into_iter()
            .find(|(_, sigs)| sigs.len() >= self.quorum)
        else {
            return;
        };
        let proof = CheckpointProof {
            height,
            state_root,
            signatures,
        };
        self.adopt_stable(proof, out);
    }

    /// §4.3: a checkpoint with a proof is stable: discard the log at or below it and advance
    /// the low watermark. If we have not committed that far, the network is ahead of us.
    pub(super) fn adopt_stable(&mut self, proof: CheckpointProof, out: &mut Vec<Output>) {
        if proof.height <= self.stable.height {
            return;
        }
        let (height, state_root) = (proof.height, proof.state_root);
        out.push(Output::Persist(WalEntry::StableCheckpoint(proof.clone())));
        out.push(Output::StableCheckpoint {
            height,
            state_root,
            proof: proof.signatures.clone(),
        });
        self.stable = proof;
        self.stats.stable_checkpoints += 1;
        self.gc();
        self.next_proposal = self.next_proposal.max(self.low().next());
        if self.last_committed < height {
            self.report_behind(height, out);
        }
    }

    /// Drop everything at or below the low watermark (§4.3 garbage collection).
    pub(super) fn gc(&mut self) {
        let low = self.low();
        let stable = self.stable.height;
        self.slots.retain(|(h, _), _| *h > low);
        self.prepared.retain(|h, _| *h > stable);
        while self.prepared.len() as u64 > self.log_window {
            self.prepared.pop_first();
        }
        self.checkpoints.retain(|h, _| *h > stable);
        self.checkpoint_reported.retain(|(h, _)| *h > stable);
    }
}
