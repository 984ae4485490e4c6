//! From prepared to final (§4.2): a prepared slot sends its COMMIT (written ahead with the
//! prepared certificate); a committed-local slot is emitted as [`Output::Committed`] with a
//! commit certificate, strictly in height order and once per height.

use super::slot::{Slot, Verdict, Vote};
use super::{Output, Replica, WalEntry};
use crate::message::{Payload, PreparedCertificate};
use settlenet_types::block::VoteKind;
use settlenet_types::{CommitCertificate, CommitSignature, Height, ReplicaId, Signature};

impl Replica {
    /// Move the slot at `height` forward: prepared -> COMMIT, committed-local -> emit in order.
    pub(super) fn advance(&mut self, height: Height, out: &mut Vec<Output>) {
        let primary = self.primary();
        let view = self.view;
        let quorum = self.quorum;
        let Some(slot) = self.slots.get(&(height, view)) else {
            return;
        };
        let Some(block_hash) = slot.block_hash else {
            return;
        };
        if slot.verdict != Verdict::Valid {
            return;
        }
        // §4.2: prepared(m, v, n, i) = the pre-prepare plus 2f (here quorum - 1) matching
        // PREPAREs from distinct backups (the primary's pre-prepare stands for its prepare).
        // Then multicast COMMIT (written ahead with the certificate); the primary commits too.
        if !slot.prepared {
            let prepares: Vec<(ReplicaId, Signature)> = slot
                .prepares
                .iter()
                .filter(|(r, v)| **r != primary && v.block_hash == block_hash)
                .map(|(r, v)| (*r, v.message.signature))
                .collect();
            if prepares.len() + 1 < quorum {
                return;
            }
            let Some(Payload::PrePrepare { block, .. }) =
                slot.pre_prepare.as_ref().map(|m| m.payload.clone())
            else {
                return;
            };
            let pre_prepare_signature = slot.pre_prepare.as_ref().map(|m| m.signature);
            let Some(pre_prepare_signature) = pre_prepare_signature else {
                return;
            };
            let certificate = PreparedCertificate {
                view,
                block,
                pre_prepare_signature,
                prepares,
            };
            let Some(message) = self.sign_vote(VoteKind::Commit, height, block_hash) else {
                return;
            };
            let Some(slot) = self.slots.get_mut(&(height, view)) else {
                return;
            };
            slot.commits.insert(
                self.me,
                Vote {
                    block_hash,
                    message: message.clone(),
                },
            );
            slot.prepared = true;
            if height > self.stable.height {
                self.prepared.insert(height, certificate.clone());
                while self.prepared.len() as u64 > self.log_window {
                    self.prepared.pop_first();
                }
            }
            out.push(Output::Persist(WalEntry::Commit {
                commit: message.clone(),
                prepared: certificate,
            }));
            out.push(Output::Broadcast(message));
        }
        // §4.2: committed-local(m, v, n, i) = prepared and a quorum (2f+1) of matching COMMITs
        // from distinct replicas, own included.
        let Some(slot) = self.slots.get_mut(&(height, view)) else {
            return;
        };
        if !slot.committed_local && Slot::matching(&slot.commits, &block_hash) >= quorum {
            slot.committed_local = true;
            self.emit_committed(out);
        }
    }

    /// §4.2: "execute" (here: emit as final) committed-local blocks strictly in height order,
    /// after every lower height. After a commit the timer backoff resets (Besu #611) and the
    /// timer restarts if work is still in flight.
    pub(super) fn emit_committed(&mut self, out: &mut Vec<Output>) {
        let mut emitted = false;
        loop {
            let key = (self.last_committed.next(), self.view);
            if !self.slots.get(&key).is_some_and(|s| s.committed_local) {
                break;
            }
            // Keep the slot while the view's NEW-VIEW covers the height, so that replicas
            // behind us can still collect our votes; otherwise it is done.
            let slot = if key.0 <= self.new_view_top {
                self.slots.get(&key).cloned()
            } else {
                self.slots.remove(&key)
            };
            let Some(slot) = slot else {
                break;
            };
            let (Some(block_hash), Some(pre_prepare)) = (slot.block_hash, slot.pre_prepare) else {
                panic!("invariant: a committed-local slot has its pre-prepare");
            };
            let Payload::PrePrepare { block, .. } = pre_prepare.payload else {
                panic!("invariant: a slot's pre-prepare is a PRE-PREPARE");
            };
            // Every matching COMMIT collected, sorted by replica (BTreeMap order), each once.
            let signatures: Vec<CommitSignature> = slot
                .commits
                .iter()
                .filter(|(_, v)| v.block_hash == block_hash)
                .map(|(r, v)| CommitSignature {
                    replica: *r,
                    signature: v.message.signature,
                })
                .collect();
            assert!(
                signatures.len() >= self.quorum,
                "invariant: quorum of commits"
            );
            let certificate = CommitCertificate {
                height: key.0,
                view: key.1,
                block_hash,
                signatures,
            };
            self.last_committed = key.0;
            self.next_proposal = self.next_proposal.max(key.0.next());
            self.stats.committed += 1;
            emitted = true;
            out.push(Output::Committed { block, certificate });
        }
        let top = self.window_top();
        self.ahead.retain(|_, h| *h > top);
        if emitted {
            // §4.4: progress; the next view change starts from the minimum timeout again.
            self.backoff = 0;
            self.work_pending = false;
            if self.in_flight() {
                self.set_timer(out);
            } else {
                self.cancel_timer(out);
            }
        }
    }
}
