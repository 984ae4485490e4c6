//! Crash recovery and catching up: [`Replica::restore`] replays the write-ahead log, so a restarted
//! replica keeps its view, its votes and its prepared certificates; state transfer
//! ([`Input::SyncedTo`](crate::Input::SyncedTo)) moves the replica past heights it missed;
//! [`Output::Behind`] tells the node when the network is ahead.

use super::slot::{Slot, Verdict, Vote};
use super::{Output, Replica, ReplicaConfig, WalEntry};
use crate::error::ConsensusError;
use crate::message::{primary_of, Payload, PreparedCertificate, SignedMessage, SignedViewChange};
use settlenet_types::{Height, ReplicaId, View};

impl Replica {
    /// Rebuild a replica after a crash: start after `last_committed` (what the node's storage
    /// holds) and replay the write-ahead log, oldest first. The result is in the latest view the
    /// log shows (active if its NEW-VIEW was installed, else waiting for it), holds the votes
    /// already cast in that view (so it never casts a different one), our prepared certificates
    /// (for the next VIEW-CHANGE) and the last stable checkpoint. No outputs: the node should send
    /// [`Input::WorkPending`](crate::Input::WorkPending) if it has work, which starts the timer.
    pub fn restore(
        config: ReplicaConfig,
        last_committed: Height,
        wal: Vec<WalEntry>,
    ) -> Result<Replica, ConsensusError> {
        let mut r = Replica::new(config, last_committed, View(0))?;
        let mut sink = Vec::new();
        for entry in wal {
            r.replay(entry, &mut sink);
            sink.clear();
        }
        // A restarted replica must not believe a timer is running.
        r.timer_running = false;
        r.check_invariants();
        Ok(r)
    }

    /// Replay one WAL entry into the state (no messages are sent).
    fn replay(&mut self, entry: WalEntry, sink: &mut Vec<Output>) {
        match entry {
            WalEntry::StableCheckpoint(proof) => self.adopt_stable(proof, sink),
            WalEntry::ViewChange(message) => {
                let Payload::ViewChange(body) = &message.payload else {
                    return;
                };
                if body.view <= self.view {
                    return;
                }
                for cert in &body.prepared {
                    self.restore_prepared(cert.clone());
                }
                self.view = body.view;
                self.active = false;
                self.slots.clear();
                self.new_view_top = Height(0);
                self.view_changes.insert(
                    self.me,
                    SignedViewChange {
                        from: self.me,
                        body: body.clone(),
                        signature: message.signature,
                    },
                );
            }
            WalEntry::NewView(message) => {
                let Payload::NewView(body) = &message.payload else {
                    return;
                };
                if body.view < self.view
                    || (body.view == self.view && self.active && self.view != View(0))
                {
                    return;
                }
                let body = body.clone();
                self.enter_new_view(&body, message);
            }
            WalEntry::PrePrepare(message) => {
                self.restore_slot(&message, None, None);
            }
            WalEntry::Prepare {
                pre_prepare,
                prepare,
            } => {
                self.restore_slot(&pre_prepare, Some(prepare), None);
            }
            WalEntry::Commit { commit, prepared } => {
                let pre_prepare = SignedMessage {
                    from: primary_of(prepared.view, self.validators.len()),
                    payload: Payload::PrePrepare {
                        view: prepared.view,
                        block: prepared.block.clone(),
                    },
                    signature: prepared.pre_prepare_signature,
                };
                self.restore_prepared(prepared);
                self.restore_slot(&pre_prepare, None, Some(commit));
            }
        }
    }

    fn restore_prepared(&mut self, cert: PreparedCertificate) {
        let height = cert.height();
        if height <= self.stable.height {
            return;
        }
        let keep = self
            .prepared
            .get(&height)
            .is_none_or(|c| c.view <= cert.view);
        if keep {
            self.prepared.insert(height, cert);
        }
        while self.prepared.len() as u64 > self.log_window {
            self.prepared.pop_first();
        }
    }

    /// Put our own recorded vote back into the slot of the current view (older views' votes
    /// cannot conflict with anything we will send).
    fn restore_slot(
        &mut self,
        pre_prepare: &SignedMessage,
        prepare: Option<SignedMessage>,
        commit: Option<SignedMessage>,
    ) {
        let view = pre_prepare.payload.view();
        let height = pre_prepare.payload.height();
        if view > self.view {
            // Only view 0 is entered without a NEW-VIEW; anything else in a higher view means
            // its NEW-VIEW entry is missing: trust our own vote and enter the view.
            self.view = view;
            self.active = true;
            self.slots.clear();
        }
        if view != self.view || !self.active || height <= self.low() || height > self.window_top() {
            return;
        }
        if height <= self.last_committed && !self.slots.contains_key(&(height, view)) {
            return;
        }
        let Ok(block_hash) = pre_prepare.payload.block_hash() else {
            return;
        };
        let me = self.me;
        let slot = self.slots.entry((height, view)).or_insert_with(Slot::new);
        if slot.pre_prepare.is_none() {
            slot.pre_prepare = Some(pre_prepare.clone());
            slot.block_hash = Some(block_hash);
        }
        slot.verdict = Verdict::Valid;
        if let Some(m) = prepare {
            slot.prepares.insert(
                me,
                Vote {
                    block_hash,
                    message: m,
                },
            );
        }
        if let Some(m) = commit {
            slot.commits.insert(
                me,
                Vote {
                    block_hash,
                    message: m,
                },
            );
            slot.prepared = true;
        }
        if pre_prepare.from == me {
            self.next_proposal = self.next_proposal.max(height.next());
        }
    }

    /// The replica installed blocks up to `height` by state transfer: everything at or below it
    /// is settled.
    pub(super) fn on_synced(&mut self, height: Height, out: &mut Vec<Output>) {
        // Heights near u64::MAX cannot come from a real chain (same bound as `new`); refusing
        // them keeps `next_proposal > last_committed` without overflow.
        if height <= self.last_committed || height.0 > u64::MAX / 4 {
            self.stats.syncs_ignored += 1;
            return;
        }
        self.last_committed = height;
        self.base = self.base.max(height);
        self.gc();
        self.next_proposal = self.next_proposal.max(height.next());
        // The next height may already be committed-local.
        self.emit_committed(out);
    }

    /// Remember that `from` validly signed a message at `height` above our window; report
    /// [`Output::Behind`] once f+1 validators are at or above some height we have not reported:
    /// one of them is honest, so a Byzantine validator alone cannot send the node chasing
    /// heights that do not exist (and then silence later, genuine reports by the rate limit).
    pub(super) fn note_ahead(&mut self, from: ReplicaId, height: Height, out: &mut Vec<Output>) {
        let claim = self.ahead.entry(from).or_insert(height);
        *claim = (*claim).max(height);
        let f = self.f();
        let mut claims: Vec<Height> = self.ahead.values().copied().collect();
        claims.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(&supported) = claims.get(f) {
            if supported > self.last_behind && supported > self.window_top() {
                self.report_behind(supported, out);
            }
        }
    }

    pub(super) fn report_behind(&mut self, height: Height, out: &mut Vec<Output>) {
        if height > self.last_behind && height > self.last_committed {
            self.last_behind = height;
            self.stats.behind += 1;
            out.push(Output::Behind { height });
        }
    }
}
