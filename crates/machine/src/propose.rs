//! Proposing (as primary) and checking proposals (as backup).
//!
//! A primary cuts a block when `block_max_txs` are waiting or the oldest has waited
//! `block_delay_ms`, up to `max_in_flight` heights at once; an idle primary proposes one empty
//! block when its latest executed state is not yet certified by a committed header.
//!
//! A backup checks a proposal before PREPARE: chain and version, that its proposer is the
//! primary of the view, consensus time ([`settlenet_consensus::check_proposal_time`]), that its
//! lagged `state_root` equals ours at `state_height` (waiting, bounded, until we executed it),
//! that no transaction fails what admission refuses whatever the state
//! (`Ledger::check_static`), and, in a [`Job`], every transaction signature our mempool has not
//! already verified.

use crate::job::Job;
use crate::machine::{Effect, NodeMachine, DEFERRED_MAX};
use settlenet_consensus::{check_proposal_time, next_proposal_time, Input, Output, TimeBounds};
use settlenet_types::{Block, BlockHeader, Height, SignedTransaction, View};
use tracing::{debug, warn};

impl NodeMachine {
    /// When the next block is due, if we are primary with room in the window and there is
    /// something to propose.
    pub(crate) fn proposal_due_ms(&mut self) -> Option<u64> {
        let height = self.replica.as_ref()?.next_proposal_height()?;
        let delay = self.genesis.consensus.block_delay_ms;
        match self.mempool.oldest_unproposed_ms() {
            Some(oldest) => {
                let max = self.genesis.consensus.block_max_txs as usize;
                if self.mempool.unproposed_upper_bound() >= max {
                    Some(self.now)
                } else {
                    Some(oldest.saturating_add(delay))
                }
            }
            None if self.empty_block_wanted(height) => {
                Some(self.last_proposed_ms.saturating_add(delay))
            }
            // Idle, but a hold or charge request expires later: wake then to sweep it.
            None if height == self.ledger.height().next() => self
                .ledger
                .next_expiry_ms()
                .map(|t| t.max(self.last_proposed_ms.saturating_add(delay))),
            None => None,
        }
    }

    /// Cut every block that is due.
    pub(crate) fn maybe_propose(&mut self, out: &mut Vec<Effect>) {
        let max = self.genesis.consensus.block_max_txs as usize;
        let delay = self.genesis.consensus.block_delay_ms;
        loop {
            let Some(height) = self.replica.as_ref().and_then(|r| r.next_proposal_height()) else {
                return;
            };
            let now = self.now;
            let Some(oldest) = self.mempool.oldest_unproposed_ms() else {
                return self.maybe_propose_empty(height, out);
            };
            if self.mempool.unproposed_upper_bound() < max && now.saturating_sub(oldest) < delay {
                return;
            }
            let stamp = self.proposal_stamp(height);
            let txs = self
                .mempool
                .take_for_proposal(max, self.block_tx_bytes_max(), stamp);
            if txs.is_empty() {
                return;
            }
            let Some(block) = self.make_block(height, stamp, txs) else {
                return;
            };
            debug!(%height, txs = block.txs.len(), "proposing");
            self.step(Input::Propose(block), out);
        }
    }

    /// The bytes a block's transactions may take: the genesis `block_max_bytes` less the
    /// largest header and the transaction vector's length.
    fn block_tx_bytes_max(&self) -> usize {
        let budget = self
            .genesis
            .consensus
            .block_max_bytes
            .saturating_sub(settlenet_consensus::HEADER_MAX_BYTES + 8);
        usize::try_from(budget).unwrap_or(usize::MAX)
    }

    fn make_block(
        &mut self,
        height: Height,
        timestamp_ms: u64,
        txs: Vec<SignedTransaction>,
    ) -> Option<Block> {
        let tx_root = match Block::compute_tx_root(&txs) {
            Ok(r) => r,
            Err(e) => {
                warn!(%height, "cannot compute a proposal's tx root: {e}");
                return None;
            }
        };
        let header = BlockHeader {
            version: settlenet_types::block::BLOCK_VERSION,
            chain_id: self.genesis.chain_id.clone(),
            height,
            timestamp_ms,
            proposer: self.me?,
            tx_count: txs.len() as u32,
            tx_root,
            state_height: self.ledger.height(),
            state_root: self.ledger.state_root(),
        };
        Some(Block { header, txs })
    }

    /// The consensus time stamp for our proposal at `height`, recorded as our latest: after
    /// everything we know below this height (committed, in flight, re-proposed by a NEW-VIEW
    /// with a faster clock's stamp), so backups find it strictly increasing.
    fn proposal_stamp(&mut self, height: Height) -> u64 {
        let below = self
            .replica
            .as_ref()
            .and_then(|r| r.accepted_times_around(height).0);
        let previous = below
            .unwrap_or(0)
            .max(self.last_block_time_ms)
            .max(self.last_proposed_ms);
        let timestamp_ms = next_proposal_time(self.now, previous);
        self.last_proposed_ms = timestamp_ms;
        timestamp_ms
    }

    /// Whether an idle primary should propose an empty block: nothing pending, nothing in
    /// flight, and either the executed root is not yet in a committed header, or a hold or
    /// charge request has reached its deadline (so that an idle network still expires them at
    /// their time, and a point of sale following a request sees its expiry).
    fn empty_block_wanted(&self, height: Height) -> bool {
        let sweep_due = self.ledger.next_expiry_ms().is_some_and(|t| t <= self.now);
        (self.ledger.state_root() != self.certified_root || sweep_due)
            && self.mempool.is_empty()
            && height == self.ledger.height().next()
    }

    /// Propose one empty block when [`Self::empty_block_wanted`], at most one per block delay.
    /// It terminates: an empty block changes no account unless holds or charge requests expire
    /// in it (each sweep removes what it expires, at most 1,024 of each a block), so once the
    /// due ones are swept and it commits, the certified root equals the executed one.
    fn maybe_propose_empty(&mut self, height: Height, out: &mut Vec<Effect>) {
        if !self.empty_block_wanted(height)
            || self.now.saturating_sub(self.last_proposed_ms)
                < self.genesis.consensus.block_delay_ms
        {
            return;
        }
        let stamp = self.proposal_stamp(height);
        let Some(block) = self.make_block(height, stamp, Vec::new()) else {
            return;
        };
        debug!(%height, "proposing an empty block to certify the latest state");
        self.step(Input::Propose(block), out);
    }

    /// Check a proposal before preparing it. `received_ms` is our clock when its PRE-PREPARE
    /// arrived.
    pub(crate) fn verify_proposal(
        &mut self,
        view: View,
        block: Block,
        received_ms: u64,
        more: &mut Vec<Output>,
        out: &mut Vec<Effect>,
    ) {
        let h = &block.header;
        let hash = match h.hash() {
            Ok(x) => x,
            Err(e) => {
                warn!("unhashable proposal: {e}");
                return;
            }
        };
        if !self.ready_to_verify(&block) {
            if self.deferred.len() < DEFERRED_MAX {
                self.deferred.push((view, block, received_ms));
            } else {
                self.counters.messages_dropped += 1;
                warn!(height = %h.height, "too many proposals waiting for execution; dropping one");
            }
            return;
        }
        let height = h.height;
        // Signatures of transactions we already verified (identical copies in our mempool) are
        // not checked again.
        let unverified: Vec<SignedTransaction> = block
            .txs
            .iter()
            .filter(|t| self.mempool.get(&t.tx.id) != Some(*t))
            .cloned()
            .collect();
        // What admission refuses whatever the state (wrong chain or version, a malformed
        // operation, a key without the staff role the operation needs) has no place in a
        // block: an honest primary never proposes it, so the proposal is refused.
        let checked = self.check_header(h, received_ms).and_then(|()| {
            match unverified
                .iter()
                .find_map(|t| self.ledger.check_static(&t.tx).err().map(|c| (t.tx.id, c)))
            {
                Some((id, code)) => Err(format!(
                    "it holds transaction {id}, which admission refuses ({code})"
                )),
                None => Ok(()),
            }
        });
        if let Err(reason) = checked {
            self.counters.proposals_refused += 1;
            warn!(%height, %hash, "refusing proposal: {reason}");
            self.step_inner(
                Input::ProposalVerdict {
                    view,
                    height,
                    block_hash: hash,
                    valid: false,
                },
                more,
            );
            return;
        }
        if unverified.is_empty() {
            self.step_inner(
                Input::ProposalVerdict {
                    view,
                    height,
                    block_hash: hash,
                    valid: true,
                },
                more,
            );
            return;
        }
        self.checking.insert((height, hash));
        self.spawn(
            Job::VerifyProposal {
                view,
                height,
                hash,
                txs: unverified,
            },
            out,
        );
    }

    /// The header rules: chain, version, proposer, consensus time, lagged state root.
    pub(crate) fn check_header(&self, h: &BlockHeader, received_ms: u64) -> Result<(), String> {
        if h.chain_id != self.genesis.chain_id {
            return Err(format!("chain id {:?}", h.chain_id));
        }
        if h.version != settlenet_types::block::BLOCK_VERSION {
            return Err(format!("block version {}", h.version));
        }
        let Some(replica) = self.replica.as_ref() else {
            return Err("an observer checks no proposal".into());
        };
        if h.proposer != replica.primary() {
            return Err(format!("proposer {} is not the primary", h.proposer));
        }
        // Consensus time: strictly after what we committed and accepted below this height,
        // before what we accepted above it, and within the skew of our clock when the
        // PRE-PREPARE arrived. Re-proposals and null blocks never come here (a NEW-VIEW
        // carries them), so they are exempt.
        let (below, above) = replica.accepted_times_around(h.height);
        let bounds = TimeBounds {
            now_ms: received_ms,
            max_skew_ms: self.max_clock_skew_ms,
            previous_ms: below.map_or(self.last_block_time_ms, |b| b.max(self.last_block_time_ms)),
            next_ms: above,
        };
        check_proposal_time(h.timestamp_ms, &bounds).map_err(|e| e.to_string())?;
        let Some(ours) = self.root_at(h.state_height) else {
            return Err(format!(
                "no state root remembered for height {} (the last {} heights are kept)",
                h.state_height,
                crate::ROOTS_KEPT
            ));
        };
        if ours != h.state_root {
            return Err(format!(
                "state root {} at height {} differs from ours {ours}",
                h.state_root, h.state_height
            ));
        }
        Ok(())
    }

    /// A proposal is checked once we have executed its lagged state height (to compare roots)
    /// and hold the block below it (committed, or accepted in this view: its time bounds this
    /// one's, see `check_header`).
    fn ready_to_verify(&self, block: &Block) -> bool {
        let h = &block.header;
        let below = Height(h.height.0.saturating_sub(1));
        h.state_height <= self.ledger.height()
            && (below <= self.ledger.height()
                || self.replica.as_ref().is_some_and(|r| r.has_accepted(below)))
    }

    /// Check the deferred proposals that became ready.
    pub(crate) fn recheck_deferred(&mut self, more: &mut Vec<Output>, out: &mut Vec<Effect>) {
        // Proposals of views we left will not be voted on.
        let view = self.view();
        self.deferred.retain(|(v, _, _)| *v >= view);
        if self.deferred.is_empty() {
            return;
        }
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|(_, b, _)| self.ready_to_verify(b));
        self.deferred = waiting;
        for (view, block, received_ms) in ready {
            self.verify_proposal(view, block, received_ms, more, out);
        }
    }
}
