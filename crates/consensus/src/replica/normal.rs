//! The normal case up to the PREPARE (§4.2): the primary assigns a height to a block and
//! multicasts PRE-PREPARE; a backup hands the block to its node for validation and PREPAREs
//! it on a valid verdict; PREPAREs and COMMITs are collected per (height, view), and
//! `commit.rs` moves the slot forward.

use super::slot::{Slot, Verdict, Vote};
use super::{DropReason, Output, Replica, WalEntry};
use crate::message::{MessageKind, Payload, SignedMessage};
use settlenet_types::block::VoteKind;
use settlenet_types::{Block, Hash, Height, ReplicaId, View};

impl Replica {
    /// §4.2: a backup accepts a pre-prepare if it is in view v, signed by the primary, within
    /// the watermarks, and it has not accepted another one for (v, n) with a different digest.
    /// Acceptance here means "hand the block to the node for validation"; the PREPARE follows
    /// a valid verdict.
    /// Whether `message` is a PRE-PREPARE whose block is larger than the genesis allows: it
    /// would make a VIEW-CHANGE carrying it too large to send (the bound `Replica::new`
    /// checks), so it is never prepared, nor buffered.
    pub(super) fn oversized(&self, message: &SignedMessage) -> bool {
        match &message.payload {
            Payload::PrePrepare { block, .. } => !matches!(
                settlenet_types::encoded_len("block", block),
                Ok(len) if len as u64 <= self.block_max_bytes
            ),
            _ => false,
        }
    }

    pub(super) fn on_pre_prepare(
        &mut self,
        from: ReplicaId,
        height: Height,
        message: SignedMessage,
        out: &mut Vec<Output>,
    ) {
        if from != self.primary() {
            return self.drop(DropReason::NotFromPrimary);
        }
        if self.oversized(&message) {
            return self.drop(DropReason::Oversized);
        }
        let block_hash = match message.payload.block_hash() {
            Ok(h) => h,
            Err(_) => return self.drop(DropReason::Malformed),
        };
        let view = self.view;
        let slot = self.slots.entry((height, view)).or_insert_with(Slot::new);
        if let Some(first) = &slot.pre_prepare {
            let reason = if slot.block_hash == Some(block_hash) {
                DropReason::Duplicate
            } else {
                if slot.reported.insert((from, MessageKind::PrePrepare)) {
                    out.push(Output::Evidence {
                        replica: from,
                        first: first.clone(),
                        second: message,
                    });
                    self.stats.evidence += 1;
                }
                DropReason::Conflicting
            };
            return self.drop(reason);
        }
        // §4.4: heights covered by the NEW-VIEW are decided by it (re-proposed in O, or below
        // its range and committed somewhere); a fresh PRE-PREPARE for them is refused.
        if height <= self.new_view_top {
            if slot.prepares.is_empty() && slot.commits.is_empty() {
                self.slots.remove(&(height, view));
            }
            return self.drop(DropReason::DecidedByNewView);
        }
        let Payload::PrePrepare { block, .. } = &message.payload else {
            unreachable!("on_pre_prepare is called for PRE-PREPARE payloads only");
        };
        out.push(Output::VerifyProposal {
            view,
            block: block.clone(),
        });
        slot.pre_prepare = Some(message);
        slot.block_hash = Some(block_hash);
        slot.verdict = Verdict::Pending;
        self.ensure_timer(out);
    }

    /// §4.2: PREPARE and COMMIT messages are accepted if signed, in view, within the watermarks;
    /// they are kept even before the pre-prepare arrives (the network reorders). One vote per
    /// sender and kind; a different second one is equivocation.
    pub(super) fn on_vote(
        &mut self,
        kind: VoteKind,
        from: ReplicaId,
        height: Height,
        message: SignedMessage,
        out: &mut Vec<Output>,
    ) {
        // §4.2: the primary's PRE-PREPARE stands for its PREPARE; backups do not count a
        // PREPARE from it.
        if kind == VoteKind::Prepare && from == self.primary() {
            return self.drop(DropReason::PrepareFromPrimary);
        }
        let block_hash = match &message.payload {
            Payload::Prepare(b) | Payload::Commit(b) => b.block_hash,
            _ => unreachable!("on_vote is called for votes only"),
        };
        let view = self.view;
        let slot = self.slots.entry((height, view)).or_insert_with(Slot::new);
        let (votes, message_kind) = match kind {
            VoteKind::Prepare => (&mut slot.prepares, MessageKind::Prepare),
            VoteKind::Commit => (&mut slot.commits, MessageKind::Commit),
        };
        if let Some(first) = votes.get(&from) {
            let reason = if first.block_hash == block_hash {
                DropReason::Duplicate
            } else {
                if slot.reported.insert((from, message_kind)) {
                    out.push(Output::Evidence {
                        replica: from,
                        first: first.message.clone(),
                        second: message,
                    });
                    self.stats.evidence += 1;
                }
                DropReason::Conflicting
            };
            return self.drop(reason);
        }
        votes.insert(
            from,
            Vote {
                block_hash,
                message,
            },
        );
        self.advance(height, out);
    }

    /// Primary side of §4.2: assign the next sequence number to a block and multicast the
    /// PRE-PREPARE (written ahead). The primary's own proposal needs no verdict.
    pub(super) fn on_propose(&mut self, block: Block, out: &mut Vec<Output>) {
        let Some(height) = self.next_proposal_height() else {
            self.stats.proposals_refused += 1;
            return;
        };
        if block.header.height != height
            || block.header.chain_id != self.chain_id
            || block.check_body().is_err()
        {
            self.stats.proposals_refused += 1;
            return;
        }
        let message = match SignedMessage::pre_prepare(
            &self.chain_id,
            self.view,
            block,
            self.me,
            &self.key,
        ) {
            Ok(m) => m,
            Err(_) => {
                self.stats.internal_errors += 1;
                return;
            }
        };
        let block_hash = match message.payload.block_hash() {
            Ok(h) => h,
            Err(_) => {
                self.stats.internal_errors += 1;
                return;
            }
        };
        let slot = self
            .slots
            .entry((height, self.view))
            .or_insert_with(Slot::new);
        // Peers' messages from the primary are dropped (FromSelf), so nobody else filled it;
        // `next_proposal` is above every height we pre-prepared in this view (restored too).
        assert!(
            slot.pre_prepare.is_none(),
            "invariant: a height is proposed once per view"
        );
        slot.pre_prepare = Some(message.clone());
        slot.block_hash = Some(block_hash);
        slot.verdict = Verdict::Valid;
        self.next_proposal = height.next();
        out.push(Output::Persist(WalEntry::PrePrepare(message.clone())));
        out.push(Output::Broadcast(message));
        self.ensure_timer(out);
        // Prepares may already be here (n = 1, or reordering).
        self.advance(height, out);
    }

    /// Backup side of §4.2: once the node has validated the block, accept the pre-prepare and
    /// multicast PREPARE (written ahead). An invalid block is never voted for.
    pub(super) fn on_verdict(
        &mut self,
        view: View,
        height: Height,
        block_hash: Hash,
        valid: bool,
        out: &mut Vec<Output>,
    ) {
        let usable = self
            .slots
            .get(&(height, view))
            .is_some_and(|s| s.block_hash == Some(block_hash) && s.verdict == Verdict::Pending);
        if !usable || !self.active {
            self.stats.verdicts_ignored += 1;
            return;
        }
        if !valid {
            if let Some(slot) = self.slots.get_mut(&(height, view)) {
                slot.verdict = Verdict::Invalid;
            }
            self.stats.proposals_rejected += 1;
            return;
        }
        self.accept_and_prepare(height, out);
    }

    /// Mark the slot's pre-prepare valid and send our PREPARE for it (a backup only).
    pub(super) fn accept_and_prepare(&mut self, height: Height, out: &mut Vec<Output>) {
        let view = self.view;
        let is_primary = self.is_primary();
        let Some((block_hash, pre_prepare)) = self.slots.get_mut(&(height, view)).and_then(|s| {
            s.verdict = Verdict::Valid;
            Some((s.block_hash?, s.pre_prepare.clone()?))
        }) else {
            return;
        };
        if !is_primary
            && !self
                .slots
                .get(&(height, view))
                .is_some_and(|s| s.prepares.contains_key(&self.me))
        {
            let Some(message) = self.sign_vote(VoteKind::Prepare, height, block_hash) else {
                return;
            };
            if let Some(slot) = self.slots.get_mut(&(height, view)) {
                slot.prepares.insert(
                    self.me,
                    Vote {
                        block_hash,
                        message: message.clone(),
                    },
                );
            }
            out.push(Output::Persist(WalEntry::Prepare {
                pre_prepare,
                prepare: message.clone(),
            }));
            out.push(Output::Broadcast(message));
        }
        self.advance(height, out);
    }
}
