//! View change (§4.4, with the liveness rules of §4.5.2): the view timer's expiry, VIEW-CHANGE,
//! joining a higher view with f+1 support, the new primary's NEW-VIEW and its O set, a
//! backup's check of O, installing the new view, and the null blocks that fill O's gaps.

use super::slot::{Slot, Verdict};
use super::{DropReason, Output, Replica, TimerKind, WalEntry};
use crate::error::ConsensusError;
use crate::message::{
    primary_of, NewViewBody, Payload, PrePrepareBody, PreparedCertificate, PreparedDigest,
    Reproposal, SignedMessage, SignedViewChange, ViewChangeBody, ViewChangeProof, NEW_VIEW_TAG,
    VIEW_CHANGE_TAG,
};
use settlenet_types::block::{BlockHeader, BLOCK_VERSION};
use settlenet_types::{Block, Hash, Height, ReplicaId, View};
use std::collections::{BTreeMap, VecDeque};

/// The null block consensus puts at a height no prepared certificate covers in a NEW-VIEW
/// (§4.4): no transactions, timestamp 0, the new primary as proposer, no state root.
pub fn null_block(chain_id: &str, height: Height, proposer: ReplicaId) -> Block {
    Block {
        header: BlockHeader {
            version: BLOCK_VERSION,
            chain_id: chain_id.to_string(),
            height,
            timestamp_ms: 0,
            proposer,
            tx_count: 0,
            tx_root: empty_tx_root(),
            state_height: Height(0),
            state_root: Hash::ZERO,
        },
        txs: Vec::new(),
    }
}

/// Whether `block` is a null block (see [`null_block`]; any proposer).
pub fn is_null(block: &Block) -> bool {
    block.txs.is_empty() && is_null_header(&block.header)
}

/// Whether `h` is the header of a null block (a block summary has no body to look at).
pub fn is_null_header(h: &BlockHeader) -> bool {
    h.version == BLOCK_VERSION
        && h.tx_count == 0
        && h.timestamp_ms == 0
        && h.state_height == Height(0)
        && h.state_root == Hash::ZERO
        && h.tx_root == empty_tx_root()
}

fn empty_tx_root() -> Hash {
    // The Merkle root of no leaves cannot fail to compute (nothing to encode).
    Block::compute_tx_root(&[]).unwrap_or(Hash::ZERO)
}

/// A prepared certificate as O's computation sees it: full or by header.
trait Prepared {
    fn height(&self) -> Height;
    fn view(&self) -> View;
}

impl Prepared for PreparedCertificate {
    fn height(&self) -> Height {
        PreparedCertificate::height(self)
    }
    fn view(&self) -> View {
        self.view
    }
}

impl Prepared for PreparedDigest {
    fn height(&self) -> Height {
        PreparedDigest::height(self)
    }
    fn view(&self) -> View {
        self.view
    }
}

impl Replica {
    /// §4.4: "if the timer of backup i expires in view v, the backup starts a view change to
    /// move the system to view v+1". While waiting for a NEW-VIEW the timer runs too; on
    /// expiry we move on to the next view with a doubled timeout.
    pub(super) fn on_timeout(&mut self, kind: TimerKind, out: &mut Vec<Output>) {
        match kind {
            TimerKind::View => {
                if !self.timer_running {
                    self.stats.timeouts_ignored += 1;
                    return;
                }
                self.timer_running = false;
                if self.active || self.awaiting_new_view {
                    let next = self.view.next();
                    return self.start_view_change(next, out);
                }
                // Fewer than a quorum are in our view yet: our VIEW-CHANGE may have been lost
                // (there is no other retransmission), so send it again and keep waiting.
                if let Some(vc) = self.view_changes.get(&self.me).cloned() {
                    out.push(Output::Broadcast(SignedMessage {
                        from: self.me,
                        payload: Payload::ViewChange(vc.body),
                        signature: vc.signature,
                    }));
                }
                self.set_timer(out);
            }
        }
    }

    /// §4.4: stop accepting normal-case messages of the old view and multicast
    /// VIEW-CHANGE(v', n, C, P, i), written ahead. The timer restarts with a doubled duration.
    fn start_view_change(&mut self, target: View, out: &mut Vec<Output>) {
        assert!(target > self.view, "invariant: views only increase");
        self.view = target;
        self.active = false;
        self.slots.clear();
        self.new_view_top = Height(0);
        self.last_new_view = None;
        self.new_view_resent.clear();
        self.backoff = self.backoff.saturating_add(1);
        self.stats.view_changes += 1;
        for queue in self.buffered.values_mut() {
            queue.retain(|m| m.payload.view() >= target);
        }
        self.buffered.retain(|_, q| !q.is_empty());
        let body = ViewChangeBody {
            tag: VIEW_CHANGE_TAG,
            chain_id: self.chain_id.clone(),
            view: target,
            checkpoint: self.stable.clone(),
            prepared: self
                .prepared
                .range(self.stable.height.next()..)
                .map(|(_, c)| c.clone())
                .collect(),
        };
        match SignedMessage::view_change(body.clone(), self.me, &self.key) {
            Ok(message) => {
                self.view_changes.insert(
                    self.me,
                    SignedViewChange {
                        from: self.me,
                        body,
                        signature: message.signature,
                    },
                );
                out.push(Output::Persist(WalEntry::ViewChange(message.clone())));
                out.push(Output::Broadcast(message));
            }
            Err(_) => self.stats.internal_errors += 1,
        }
        self.awaiting_new_view = false;
        self.set_timer(out);
        self.check_view_change_support(out);
        self.try_new_view(out);
    }

    /// §4.4: accept a VIEW-CHANGE for a view at least ours (only the latest per sender is
    /// kept); join a higher view once f+1 others are there (§4.5.2: "the smallest view in
    /// the set"), so one Byzantine replica cannot drag us through views; as the new primary,
    /// form the NEW-VIEW once a quorum is in.
    pub(super) fn on_view_change(
        &mut self,
        from: ReplicaId,
        message: SignedMessage,
        out: &mut Vec<Output>,
    ) {
        let Payload::ViewChange(body) = &message.payload else {
            return self.drop(DropReason::Malformed);
        };
        let view = body.view;
        if view < self.view {
            return self.drop(DropReason::WrongView);
        }
        if view == self.view && self.active {
            // The sender missed this view's NEW-VIEW: send it again, once per replica.
            if let Some(nv) = self.last_new_view.clone() {
                if self.new_view_resent.insert(from) {
                    out.push(Output::Send {
                        to: from,
                        message: nv,
                    });
                }
            }
            return self.drop(DropReason::Stale);
        }
        if let Some(kept) = self.view_changes.get(&from) {
            if kept.body.view > view {
                return self.drop(DropReason::WrongView);
            }
            if kept.body.view == view {
                if kept.signature == message.signature {
                    return self.drop(DropReason::Duplicate);
                }
                // ed25519 signatures are deterministic and an honest replica signs one
                // VIEW-CHANGE per view (`start_view_change` only moves to higher views, and a
                // restart resumes from the logged one), so a second, different, validly
                // signed VIEW-CHANGE for the same view is equivocation.
                let first = SignedMessage {
                    from,
                    payload: Payload::ViewChange(kept.body.clone()),
                    signature: kept.signature,
                };
                if let Err(e) =
                    message.verify_by(&self.chain_id, &self.validators, self.verifier.as_ref())
                {
                    return self.drop(DropReason::of(&e));
                }
                if self.view_change_reported.get(&from) != Some(&view) {
                    self.view_change_reported.insert(from, view);
                    out.push(Output::Evidence {
                        replica: from,
                        first,
                        second: message,
                    });
                    self.stats.evidence += 1;
                }
                return self.drop(DropReason::Conflicting);
            }
        }
        if body.prepared.len() as u64 > self.log_window {
            return self.drop(DropReason::InvalidProof);
        }
        if let Err(e) = message.verify_by(&self.chain_id, &self.validators, self.verifier.as_ref())
        {
            return self.drop(match e {
                ConsensusError::BadSignature { from: f, .. } if f != from => {
                    DropReason::InvalidProof
                }
                e => DropReason::of(&e),
            });
        }
        let body = body.clone();
        self.view_changes.insert(
            from,
            SignedViewChange {
                from,
                body,
                signature: message.signature,
            },
        );
        // §4.5.2: f+1 VIEW-CHANGEs from others for views above ours: join the smallest view
        // that f+1 of them reached (at least one of those is honest).
        let f = self.f();
        let mut higher: Vec<View> = self
            .view_changes
            .iter()
            .filter(|(r, vc)| **r != self.me && vc.body.view > self.view)
            .map(|(_, vc)| vc.body.view)
            .collect();
        higher.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(&target) = higher.get(f) {
            self.start_view_change(target, out);
        } else {
            self.check_view_change_support(out);
            self.try_new_view(out);
        }
    }

    /// §4.4: the O set of a NEW-VIEW for V: min-s is the latest stable checkpoint in V,
    /// max-s the highest prepared height; every height between gets the block prepared in
    /// the highest view, or a null block. Deviation: the range is cut to at most L heights
    /// below max-s; heights further down were committed by an honest replica (an honest
    /// replica prepares only within L of its own committed low watermark), so they are left
    /// to state transfer. Works on full certificates (the new primary, which re-proposes
    /// their blocks) and on digests (a backup, which checks O by header). Returns (start, for
    /// each height start+1 ..= max-s, the certificate chosen or `None` for a null block).
    fn plan_o<'a, C: Prepared>(
        &self,
        vcs: impl Iterator<Item = (Height, &'a [C])> + Clone,
    ) -> (Height, Vec<(Height, Option<&'a C>)>) {
        let min_s = vcs
            .clone()
            .map(|(checkpoint, _)| checkpoint)
            .max()
            .unwrap_or(Height(0));
        let mut best: BTreeMap<Height, &C> = BTreeMap::new();
        for (_, certs) in vcs {
            for cert in certs {
                if cert.height() <= min_s {
                    continue;
                }
                let entry = best.entry(cert.height()).or_insert(cert);
                if cert.view() > entry.view() {
                    *entry = cert;
                }
            }
        }
        let max_s = best.keys().next_back().copied().unwrap_or(min_s);
        let start = Height(min_s.0.max(max_s.0.saturating_sub(self.log_window)));
        let plan = (start.0 + 1..=max_s.0)
            .map(|h| (Height(h), best.get(&Height(h)).copied()))
            .collect();
        (start, plan)
    }

    /// The new primary's O: the blocks of [`Self::plan_o`] from its full VIEW-CHANGEs.
    fn compute_o(&self, view: View, vcs: &[SignedViewChange]) -> Vec<Block> {
        let proposer = primary_of(view, self.validators.len());
        let (_, plan) = self.plan_o(
            vcs.iter()
                .map(|v| (v.body.checkpoint.height, v.body.prepared.as_slice())),
        );
        plan.into_iter()
            .map(|(h, cert)| match cert {
                Some(cert) => cert.block.clone(),
                None => null_block(&self.chain_id, h, proposer),
            })
            .collect()
    }

    /// Whether a NEW-VIEW's O is exactly what its V implies: each re-proposed block has the
    /// header of the certificate [`Self::plan_o`] chose (its body was checked against that
    /// header's `tx_root` with the signatures), and each gap is the null block.
    fn o_matches(&self, body: &NewViewBody) -> bool {
        let proposer = primary_of(body.view, self.validators.len());
        let (_, plan) = self.plan_o(
            body.view_changes
                .iter()
                .map(|v| (v.body.checkpoint.height, v.body.prepared.as_slice())),
        );
        plan.len() == body.pre_prepares.len()
            && plan
                .iter()
                .zip(&body.pre_prepares)
                .all(|((h, cert), re)| match cert {
                    Some(cert) => re.block.header == cert.header,
                    None => re.block == null_block(&self.chain_id, *h, proposer),
                })
    }

    /// §4.4: the new primary, holding a quorum of VIEW-CHANGEs for its view, multicasts
    /// NEW-VIEW(v', V, O) (written ahead) and enters the view.
    fn try_new_view(&mut self, out: &mut Vec<Output>) {
        if self.active || !self.is_primary() {
            return;
        }
        let vcs: Vec<SignedViewChange> = self
            .view_changes
            .values()
            .filter(|vc| vc.body.view == self.view)
            .take(self.quorum)
            .cloned()
            .collect();
        if vcs.len() < self.quorum {
            return;
        }
        let blocks = self.compute_o(self.view, &vcs);
        let mut pre_prepares = Vec::with_capacity(blocks.len());
        for block in blocks {
            let signature = block
                .header
                .hash()
                .map_err(ConsensusError::from)
                .and_then(|hash| {
                    PrePrepareBody::new(&self.chain_id, self.view, block.header.height, hash)
                        .signing_message()
                })
                .map(|m| self.key.sign(&m));
            match signature {
                Ok(signature) => pre_prepares.push(Reproposal { block, signature }),
                Err(_) => {
                    self.stats.internal_errors += 1;
                    return;
                }
            }
        }
        let body = NewViewBody {
            tag: NEW_VIEW_TAG,
            chain_id: self.chain_id.clone(),
            view: self.view,
            view_changes: vcs.iter().map(SignedViewChange::proof).collect(),
            pre_prepares,
        };
        let message = match SignedMessage::new_view(body, self.me, &self.key) {
            Ok(m) => m,
            Err(_) => {
                self.stats.internal_errors += 1;
                return;
            }
        };
        out.push(Output::Broadcast(message.clone()));
        self.install_new_view(message, out);
    }

    /// §4.4: a backup accepts a NEW-VIEW for a view at least its own if it is signed by that
    /// view's primary, V holds a quorum of valid VIEW-CHANGEs for it, and O is exactly what V
    /// implies. A valid NEW-VIEW for a higher view is joined directly: its quorum includes
    /// f+1 honest replicas.
    pub(super) fn on_new_view(
        &mut self,
        from: ReplicaId,
        message: SignedMessage,
        out: &mut Vec<Output>,
    ) {
        let Payload::NewView(body) = &message.payload else {
            return self.drop(DropReason::Malformed);
        };
        let view = body.view;
        if view < self.view {
            return self.drop(DropReason::WrongView);
        }
        if view == self.view && self.active {
            return self.drop(DropReason::Duplicate);
        }
        if from != primary_of(view, self.validators.len()) {
            return self.drop(DropReason::NotFromPrimary);
        }
        if body.view_changes.len() > self.validators.len()
            || body
                .view_changes
                .iter()
                .any(|v| v.body.prepared.len() as u64 > self.log_window)
        {
            return self.drop(DropReason::InvalidProof);
        }
        // VIEW-CHANGEs we already hold (verified when they arrived) are not checked again:
        // a NEW-VIEW carries a quorum of them, each with up to L prepared certificates.
        let known = |vc: &ViewChangeProof| {
            self.view_changes
                .get(&vc.from)
                .is_some_and(|k| k.signature == vc.signature && k.body.digest() == vc.body)
        };
        if let Err(e) = message.verify_new_view_by(
            &self.chain_id,
            &self.validators,
            known,
            self.verifier.as_ref(),
        ) {
            return self.drop(match e {
                ConsensusError::BadSignature { from: f, .. } if f != from => {
                    DropReason::InvalidProof
                }
                e => DropReason::of(&e),
            });
        }
        if !self.o_matches(body) {
            return self.drop(DropReason::InvalidProof);
        }
        if view > self.view {
            self.view = view;
            self.stats.view_changes += 1;
        }
        self.install_new_view(message, out);
    }

    /// Enter the NEW-VIEW's view: re-propose O (no verdict needed: a quorum prepared those
    /// blocks, and null blocks are built by consensus), PREPARE each as a backup, and replay
    /// buffered messages of the view.
    fn install_new_view(&mut self, message: SignedMessage, out: &mut Vec<Output>) {
        let Payload::NewView(body) = &message.payload else {
            return;
        };
        let body = body.clone();
        out.push(Output::Persist(WalEntry::NewView(message.clone())));
        let heights = self.enter_new_view(&body, message);
        let (start, top) = heights;
        if self.last_committed < start {
            self.report_behind(start, out);
        }
        for h in start.0 + 1..=top.0 {
            if self.slots.contains_key(&(Height(h), self.view)) {
                self.accept_and_prepare(Height(h), out);
            }
        }
        if self.in_flight() || self.work_pending {
            self.set_timer(out);
        } else {
            self.cancel_timer(out);
        }
        // Messages that overtook the NEW-VIEW.
        let mut replay = Vec::new();
        let view = self.view;
        for queue in self.buffered.values_mut() {
            let (now, later): (VecDeque<_>, VecDeque<_>) =
                queue.drain(..).partition(|m| m.payload.view() == view);
            replay.extend(now);
            *queue = later
                .into_iter()
                .filter(|m| m.payload.view() > view)
                .collect();
        }
        self.buffered.retain(|_, q| !q.is_empty());
        for m in replay {
            self.on_message(m.from, m, out);
        }
        self.emit_committed(out);
    }

    /// The state part of installing a NEW-VIEW (shared with WAL replay): returns the O range.
    pub(super) fn enter_new_view(
        &mut self,
        body: &NewViewBody,
        message: SignedMessage,
    ) -> (Height, Height) {
        let view = body.view;
        self.view = view;
        self.active = true;
        self.awaiting_new_view = false;
        self.slots.clear();
        self.stats.new_views += 1;
        self.view_changes.retain(|_, vc| vc.body.view > view);
        self.new_view_resent.clear();
        self.last_new_view = Some(message);
        // The best checkpoint proven in V is as good as our own (§4.4: min-s).
        if let Some(best) = body
            .view_changes
            .iter()
            .map(|v| &v.body.checkpoint)
            .max_by_key(|c| c.height)
        {
            if best.height > self.stable.height {
                self.stable = best.clone();
                self.gc();
            }
        }
        let (start, top) = match (body.pre_prepares.first(), body.pre_prepares.last()) {
            (Some(first), Some(last)) => (
                Height(first.block.header.height.0.saturating_sub(1)),
                last.block.header.height,
            ),
            _ => (self.stable.height, self.stable.height),
        };
        self.new_view_top = top;
        let primary = self.primary();
        let low = self.low();
        for re in &body.pre_prepares {
            let height = re.block.header.height;
            if height <= low {
                continue;
            }
            let Ok(block_hash) = re.block.header.hash() else {
                continue;
            };
            let mut slot = Slot::new();
            slot.pre_prepare = Some(SignedMessage {
                from: primary,
                payload: Payload::PrePrepare {
                    view,
                    block: re.block.clone(),
                },
                signature: re.signature,
            });
            slot.block_hash = Some(block_hash);
            slot.verdict = Verdict::Valid;
            self.slots.insert((height, view), slot);
        }
        // The new primary proposes above O (PBFT: from max-s + 1), whatever it proposed in an
        // earlier view: heights above O were prepared by no quorum member, so they are free in
        // this view. Keeping an older, higher `next_proposal` here would leave those heights
        // unproposed by every primary that had proposed them before: a livelock (found by the
        // simulator, `settlenet-sim --n 4 --seed-start 967`). Our own PRE-PREPAREs of this view
        // are replayed after this NEW-VIEW (the log is replayed oldest first) and raise it again.
        self.next_proposal = top.next().max(self.last_committed.next());
        (start, top)
    }

    /// §4.5.2: a replica waiting for a NEW-VIEW starts its NEW-VIEW timer only once a quorum
    /// of VIEW-CHANGEs for its view is in, so a replica that moved ahead alone waits for the
    /// others instead of running away from them (with a capped backoff they would never
    /// meet). Until then its timer only retransmits its VIEW-CHANGE.
    fn check_view_change_support(&mut self, out: &mut Vec<Output>) {
        if !self.active && !self.awaiting_new_view && self.view_change_support() >= self.quorum {
            self.awaiting_new_view = true;
            self.set_timer(out);
        }
    }

    /// How many replicas (us included) sent a VIEW-CHANGE for our view or a later one. (A
    /// later view counts: with one kept VIEW-CHANGE per sender, a replica that has moved past
    /// our view has passed through it or joined beyond it.)
    fn view_change_support(&self) -> usize {
        self.view_changes
            .values()
            .filter(|vc| vc.body.view >= self.view)
            .count()
    }
}
