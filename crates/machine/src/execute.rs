//! Executing committed blocks, block sync from peers, and answering peers' requests.
//!
//! A node that is behind (restarted, partitioned) learns it from consensus messages above its
//! window (`Output::Behind`) or from peers' heights (status polls every
//! [`POLL_INTERVAL_MS`](crate::POLL_INTERVAL_MS)); it asks one connected peer at a time for up to
//! [`SYNC_MAX_BLOCKS`] blocks, verifies each certificate against the genesis, executes them
//! in order and tells the replica. Far behind, it fetches a snapshot first (`snapshot.rs`).

use crate::machine::{Answer, BlockCommit, Effect, NodeMachine, SafetyViolation, STALL_MS};
use crate::wire::{unsupported_request, Request, Response, SYNC_MAX_BLOCKS, SYNC_MAX_BYTES};
use settlenet_consensus::{Input, Output};
use settlenet_types::{Block, CommitCertificate, Hash, Height, ReplicaId, StoredBlock};
use tracing::{debug, error, info, warn};

impl NodeMachine {
    /// Execute a committed block (from consensus, or verified from a peer) and emit its write.
    /// Returns the height and state root it executed, or `None` if it skipped the block.
    pub(crate) fn execute(
        &mut self,
        block: Block,
        certificate: CommitCertificate,
        synced: bool,
        out: &mut Vec<Effect>,
    ) -> Option<(Height, Hash)> {
        let height = block.header.height;
        if height <= self.ledger.height() {
            // Already installed by state transfer; consensus agrees by construction.
            if let Some((hash, _)) = self.recent.get(&height) {
                if *hash != certificate.block_hash {
                    error!(
                        %height,
                        ours = %hash,
                        theirs = %certificate.block_hash,
                        "SAFETY: two different blocks certified at one height; stopping"
                    );
                    self.halted = true;
                    out.push(Effect::SafetyViolation(Box::new(SafetyViolation {
                        height,
                        ours: *hash,
                        theirs: certificate,
                    })));
                }
            }
            return None;
        }
        if height != self.ledger.height().next() {
            warn!(%height, ours = %self.ledger.height(), "gap before committed block; syncing");
            self.sync_target = self.sync_target.max(height);
            self.start_sync(out);
            return None;
        }
        let hash = certificate.block_hash;
        if !settlenet_consensus::is_null(&block) {
            self.certified_root = block.header.state_root;
        }
        let outcome = self
            .ledger
            .apply_block(height, block.header.timestamp_ms, &block.txs);
        if let Some(failure) = self.ledger.store_read_failure() {
            error!(%height, "the store failed a read while executing block {height}: {failure}");
            self.halted = true;
            out.push(Effect::StoreReadFailed(format!(
                "executing block {height}: {failure}"
            )));
            return None;
        }
        let n_txs = block.txs.len() as u64;
        let timestamp = block.header.timestamp_ms;
        let stored = StoredBlock {
            block,
            certificate,
            hash,
            prev_hash: self.last_hash,
            state_root: outcome.state_root,
        };
        self.last_hash = hash;
        // Null blocks (view-change gap fillers) carry no time: consensus time stays put.
        self.last_block_time_ms = self.last_block_time_ms.max(timestamp);
        self.last_progress_ms = self.now;
        self.remember(height, hash, outcome.state_root);
        self.mempool
            .remove_committed(stored.block.txs.iter().map(|t| &t.tx.id));
        // Transactions that expired before this block's time can never execute: drop them
        // (at most once a second of consensus time; each pass walks the pool).
        if self.last_block_time_ms >= self.mempool_swept_ms.saturating_add(1000) {
            self.mempool_swept_ms = self.last_block_time_ms;
            let dropped = self.mempool.drop_expired(self.last_block_time_ms);
            if dropped > 0 {
                debug!(dropped, "expired transactions dropped from the mempool");
            }
        }
        self.counters.blocks_committed += 1;
        self.counters.txs_committed += n_txs;
        if synced {
            self.counters.blocks_synced += 1;
        }
        self.work_signal = true;
        debug!(%height, %hash, txs = n_txs, root = %outcome.state_root, "committed");
        let root = outcome.state_root;
        let capture = self.snapshots.config.snapshot_interval_blocks > 0
            && height
                .0
                .is_multiple_of(self.snapshots.config.snapshot_interval_blocks);
        let captured_block = capture.then(|| stored.clone());
        let prune_below = self.snapshots.prune_after(height);
        out.push(Effect::CommitBlock(Box::new(BlockCommit {
            stored,
            changed_accounts: outcome.changed_accounts,
            new_records: outcome.new_records,
            pruned_records: outcome.pruned_records,
            history_nodes: outcome.history_nodes,
            history: outcome.history,
            outcomes: outcome.outcomes,
            synced,
            prune_below,
            expired: outcome.expired,
            archived: outcome.archived,
        })));
        // After the block's write: the store checkpoint must hold exactly this height.
        if let Some(block) = captured_block {
            self.snapshot_capture(&block, out);
        }
        Some((height, root))
    }

    /// A peer reported its height. Claims are unsigned: one is checked by asking its maker
    /// for the blocks ([`Self::start_sync`] asks the highest claimer first), and a claim its
    /// maker does not back with certified blocks is dropped ([`Self::on_blocks`]), so a
    /// validator claiming any height costs one request per status poll, not an endless sync.
    pub(crate) fn on_peer_height(
        &mut self,
        from: ReplicaId,
        height: Height,
        out: &mut Vec<Effect>,
    ) {
        if usize::from(from.0) >= self.genesis.validators.len() {
            return;
        }
        self.peer_heights.insert(from, height);
        if height > self.sync_target {
            self.sync_target = height;
        }
        let behind = self.sync_target.0.saturating_sub(self.ledger.height().0);
        // A snapshot replaces block sync only when f+1 validators claim to be that far ahead
        // (one of them is honest): one Byzantine validator claiming a huge height costs a
        // block request (which drops its claim), not a snapshot fetch from every peer.
        let vouched = self
            .vouched_height()
            .0
            .saturating_sub(self.ledger.height().0);
        if self.snapshots.wanted(vouched, self.now) {
            self.start_snapshot_sync(out);
            return;
        }
        // An observer follows at once: no consensus round of its own will bring the blocks.
        let stalled = self.now.saturating_sub(self.last_progress_ms) > STALL_MS;
        if behind > 0
            && (self.is_observer() || stalled || behind > 2 * self.genesis.consensus.max_in_flight)
        {
            self.start_sync(out);
        }
    }

    /// The highest height that at least f+1 validators claim to have reached (so at least one
    /// honest validator has); zero with fewer claims.
    pub(crate) fn vouched_height(&self) -> Height {
        let mut claims: Vec<Height> = self.peer_heights.values().copied().collect();
        claims.sort_unstable_by(|a, b| b.cmp(a));
        claims.get(self.genesis.f()).copied().unwrap_or(Height(0))
    }

    /// Ask the next connected peer (round robin) for blocks after ours.
    pub(crate) fn start_sync(&mut self, out: &mut Vec<Effect>) {
        if self.sync_in_flight || self.connected.is_empty() || self.snapshots.fetching() {
            return;
        }
        // Not the peers that said they hold none of the blocks we need (unless all did).
        let mut candidates: Vec<ReplicaId> = self
            .connected
            .iter()
            .copied()
            .filter(|r| !self.blocks_from.contains_key(r))
            .collect();
        if candidates.is_empty() {
            candidates = self.connected.iter().copied().collect();
        }
        // The peer that claims the most above us first (its claim is checked by its answer),
        // else round robin.
        let ours = self.ledger.height();
        let claimer = candidates
            .iter()
            .filter_map(|r| self.peer_heights.get(r).map(|h| (*h, *r)))
            .filter(|(h, _)| *h > ours)
            .max();
        let to = match claimer {
            Some((_, r)) => r,
            None => candidates[self.sync_peer_rr % candidates.len()],
        };
        self.sync_peer_rr = self.sync_peer_rr.wrapping_add(1);
        self.sync_in_flight = true;
        out.push(Effect::Request {
            to,
            request: Request::Blocks {
                from: self.ledger.height().next(),
                max: SYNC_MAX_BLOCKS,
            },
        });
    }

    /// Blocks a peer sent: install what verifies, and keep going while it gives us blocks.
    pub(crate) fn on_blocks(
        &mut self,
        from: ReplicaId,
        blocks: Vec<StoredBlock>,
        out: &mut Vec<Effect>,
    ) {
        if blocks.len() > SYNC_MAX_BLOCKS as usize {
            self.counters.messages_dropped += 1;
            warn!(peer = %from, count = blocks.len(), "state transfer: too many blocks in one answer");
            return;
        }
        let got = blocks.len();
        let installed = self.install_synced(blocks, out);
        if installed == 0 {
            self.drop_unbacked_claim(from);
        }
        if installed > 0 {
            self.blocks_from.clear();
            info!(installed, height = %self.ledger.height(), peer = %from, "state transfer: installed blocks");
        }
        if installed > 0
            && (got as u32 == SYNC_MAX_BLOCKS || self.ledger.height() < self.sync_target)
        {
            self.start_sync(out);
        }
    }

    /// `from` answered a block request with `BlocksFrom{base}`: it holds no block below `base`
    /// (it started from a snapshot). Its claim cannot be checked by blocks, so it is dropped
    /// and another peer is asked; a snapshot is fetched once f+1 peers (at least one honest)
    /// or every connected peer answered so since we last installed blocks.
    pub(crate) fn on_blocks_from(&mut self, from: ReplicaId, base: Height, out: &mut Vec<Effect>) {
        self.drop_unbacked_claim(from);
        if base <= self.ledger.height().next() {
            // It holds the blocks we asked for: a wrong answer, like an empty one.
            warn!(peer = %from, %base, "state transfer: peer answered BlocksFrom {base} for blocks it holds");
            self.start_sync(out);
            return;
        }
        self.blocks_from.insert(from, base);
        let everyone = self
            .connected
            .iter()
            .all(|r| self.blocks_from.contains_key(r));
        if self.blocks_from.len() > self.genesis.f() || everyone {
            warn!(
                peer = %from,
                %base,
                peers = self.blocks_from.len(),
                "state transfer: peers hold blocks from {base} on only; fetching a snapshot"
            );
            self.start_snapshot_sync(out);
        } else {
            info!(peer = %from, %base, "state transfer: peer holds blocks from {base} on only; asking another");
            self.start_sync(out);
        }
    }

    /// `from` answered a block request with nothing we could install: a height it claimed
    /// above ours is not believed any more, and the sync target falls back to what the
    /// remaining claims (and consensus, which re-reports a gap from signed messages) say.
    fn drop_unbacked_claim(&mut self, from: ReplicaId) {
        let ours = self.ledger.height();
        if self.peer_heights.get(&from).is_some_and(|h| *h > ours) {
            self.peer_heights.remove(&from);
            self.sync_target = self
                .peer_heights
                .values()
                .copied()
                .max()
                .unwrap_or(ours)
                .max(ours);
        }
    }

    /// Verify and install blocks fetched from a peer. Each must be the next height, commit to
    /// its transactions, and carry a valid certificate from a quorum of genesis validators.
    /// Returns how many were installed; stops at the first bad one.
    fn install_synced(&mut self, blocks: Vec<StoredBlock>, out: &mut Vec<Effect>) -> usize {
        let mut installed = 0;
        for sb in blocks {
            let expected = self.ledger.height().next();
            let h = sb.block.header.height;
            if h < expected {
                continue;
            }
            if h != expected {
                warn!(%h, %expected, "state transfer: peer sent a non-consecutive block");
                break;
            }
            if let Err(e) = self.verify_synced(&sb) {
                warn!(%h, "state transfer: refusing block from peer: {e}");
                self.counters.messages_dropped += 1;
                break;
            }
            let StoredBlock {
                block, certificate, ..
            } = sb;
            if let Some((height, state_root)) = self.execute(block, certificate, true, out) {
                self.step(Input::Executed { height, state_root }, out);
            }
            installed += 1;
        }
        if installed > 0 {
            self.step(Input::SyncedTo(self.ledger.height()), out);
            let mut more: Vec<Output> = Vec::new();
            self.recheck_deferred(&mut more, out);
            self.run_outputs(more, out);
        }
        installed
    }

    /// Carry out replica outputs produced outside a step (e.g. verdicts of deferred proposals).
    pub(crate) fn run_outputs(&mut self, outputs: Vec<Output>, out: &mut Vec<Effect>) {
        if outputs.is_empty() {
            return;
        }
        let view = self.view();
        let mut queue: std::collections::VecDeque<Output> = outputs.into();
        while let Some(o) = queue.pop_front() {
            let mut more = Vec::new();
            self.on_output(o, &mut more, out);
            queue.extend(more);
        }
        if self.view() != view {
            // A view change inside: the same handling as a step's.
            self.on_view_changed(out);
        }
    }

    fn verify_synced(&self, sb: &StoredBlock) -> Result<(), String> {
        let h = &sb.block.header;
        if h.chain_id != self.genesis.chain_id {
            return Err(format!("chain id {:?}", h.chain_id));
        }
        sb.block.check_body().map_err(|e| e.to_string())?;
        let hash = h.hash().map_err(|e| e.to_string())?;
        settlenet_crypto::verify_certificate(&self.genesis, h.height, &hash, &sb.certificate)
            .map_err(|e| e.to_string())?;
        if !settlenet_consensus::is_null(&sb.block) && h.state_height <= self.ledger.height() {
            if let Some(ours) = self.root_at(h.state_height) {
                if ours != h.state_root {
                    return Err(format!(
                        "certified state root at {} differs from ours: DIVERGENCE",
                        h.state_height
                    ));
                }
            }
        }
        Ok(())
    }

    /// A peer's request: status, blocks (read by the driver from storage), snapshots.
    pub(crate) fn serve(&mut self, request: Request) -> Answer {
        match request {
            Request::Status => Answer::Ready(Response::Status {
                height: self.ledger.height(),
            }),
            Request::Blocks { from, .. } if from < self.snapshots.first_block() => {
                Answer::Ready(Response::BlocksFrom {
                    base: self.snapshots.first_block(),
                })
            }
            Request::Blocks { from, max } => Answer::Blocks {
                from,
                upto: self.ledger.height(),
                max: max.clamp(1, SYNC_MAX_BLOCKS),
                max_bytes: SYNC_MAX_BYTES,
            },
            r @ (Request::SnapshotManifest | Request::SnapshotChunk { .. }) => {
                self.serve_snapshot(r)
            }
            // The driver checks the signatures, then calls `submit`.
            Request::Submit(_) => Answer::Ready(unsupported_request(
                "a submission is answered by the node's driver, not the machine",
            )),
        }
    }

    /// The answer to a request that did not decode.
    pub fn undecodable_request(reason: &str) -> Response {
        unsupported_request(reason)
    }
}
