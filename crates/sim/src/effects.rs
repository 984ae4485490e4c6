//! Driving one node's machine: an event in, its effects carried out on the simulated network
//! and storage, every effect checked.

use crate::check::VoteKind;
use crate::error::Violation;
use crate::sim::{prefix, Event, InjectedFault, Sim};
use rand::Rng;
use settlenet_consensus::{Payload, SignedMessage, WalEntry};
use settlenet_crypto::verify_certificate_with;
use settlenet_machine::wire::{Request, Response, Wire};
use settlenet_machine::{wal, Answer, BlockCommit, Effect, Event as MachineEvent};
use settlenet_types::{
    decode, encode, CommitCertificate, Hash, Height, SignedTransaction, StoredBlock,
};

impl Sim {
    /// One event into node `i`'s machine (if it is up), then its effects.
    pub(crate) fn handle(&mut self, i: usize, event: MachineEvent) -> Result<(), Violation> {
        let now = self.now;
        let Some(machine) = self.nodes[i].machine.as_mut() else {
            return Ok(());
        };
        self.steps += 1;
        let mut out = Vec::new();
        machine.handle(now, event, &mut out);
        self.after(i, out)
    }

    /// Clients' transactions to node `i`'s API (their signatures are checked first, as the
    /// API handler does; a forged one would be refused there).
    pub(crate) fn submit(
        &mut self,
        i: usize,
        txs: Vec<SignedTransaction>,
    ) -> Result<(), Violation> {
        use settlenet_machine::TxVerifier;
        let txs: Vec<SignedTransaction> = txs
            .into_iter()
            .filter(|t| self.tx_verifier.verify(std::slice::from_ref(t)).is_ok())
            .collect();
        let now = self.now;
        let Some(machine) = self.nodes[i].machine.as_mut() else {
            return Ok(());
        };
        self.steps += 1;
        let mut out = Vec::new();
        let _ = machine.submit(now, txs, &mut out);
        self.after(i, out)
    }

    /// After node `i` handled something: its view, its counters, its effects, its wake-up.
    fn after(&mut self, i: usize, out: Vec<Effect>) -> Result<(), Violation> {
        let Some(machine) = self.nodes[i].machine.as_mut() else {
            return Ok(());
        };
        let view = machine.view();
        let counters = machine.take_counters();
        if self.honest(i) {
            self.proposals_refused += counters.proposals_refused;
        }
        if self.is_observer(i) {
            self.observer_refused += counters.messages_dropped;
        }
        if self.checker.view(i, view)? {
            self.view_changes += 1;
            self.mark(i, 1, view.0, 0);
            self.note(|| format!("r{i} enters view {view}"));
        }
        for effect in out {
            self.effect(i, effect)?;
        }
        if crate::sim::store_mode(i) {
            let store: std::sync::Arc<dyn settlenet_ledger::AccountStore> =
                self.nodes[i].storage.accounts.clone();
            if let Some(m) = self.nodes[i].machine.as_mut() {
                m.persisted(&store, crate::sim::SIM_ACCOUNT_CACHE);
            }
        }
        if let Some(m) = self.nodes[i].machine.as_ref() {
            let totals = m.ledger().totals();
            if totals != self.genesis_totals {
                return Err(Violation::MoneyNotConserved {
                    replica: i,
                    height: m.ledger().height(),
                    detail: format!("totals {totals:?}, genesis {:?}", self.genesis_totals),
                });
            }
        }
        self.reschedule_wake(i);
        Ok(())
    }

    fn effect(&mut self, i: usize, effect: Effect) -> Result<(), Violation> {
        if self.is_observer(i) {
            // An observer follows: it asks (status, blocks), executes and stores, nothing else.
            let validator_only = match &effect {
                Effect::Send { .. } => Some("sent a message"),
                Effect::PersistWal(_) => Some("logged a consensus message"),
                Effect::StableCheckpoint { .. } => Some("reported a stable checkpoint"),
                Effect::Evidence(_) => Some("reported evidence"),
                _ => None,
            };
            if let Some(what) = validator_only {
                return Err(Violation::ObserverActed {
                    effect: what.into(),
                });
            }
        }
        match effect {
            Effect::Send { to, wire } => {
                if let Wire::Consensus(m) = &wire {
                    self.check_vote(i, m)?;
                    self.mark(i, 2, m.payload.view().0, m.payload.height().0);
                    self.note(|| {
                        format!(
                            "r{i} sends {:?} view {} height {}",
                            m.payload.kind(),
                            m.payload.view(),
                            m.payload.height()
                        )
                    });
                }
                // Validators only: the observer gets no consensus message and no gossip.
                let targets: Vec<usize> = match to {
                    Some(r) => vec![usize::from(r.0)],
                    None => (0..self.scenario.n).filter(|j| *j != i).collect(),
                };
                for j in targets {
                    if let Some(w) = self.rewrite(i, j, &wire) {
                        self.send(i, j, w);
                    }
                }
            }
            Effect::Request { to, request } => self.request(i, usize::from(to.0), request)?,
            Effect::PersistWal(entry) => {
                // The log must round-trip through the canonical codec.
                let bytes = encode("wal", entry.as_ref())
                    .map_err(|e| Violation::Harness(format!("encoding a WAL entry: {e}")))?;
                let back: WalEntry = decode("wal", &bytes)
                    .map_err(|e| Violation::Harness(format!("decoding a WAL entry: {e}")))?;
                if back != *entry {
                    return Err(Violation::Harness("a WAL entry does not round-trip".into()));
                }
                self.nodes[i].storage.wal.push(*entry);
            }
            Effect::CommitBlock(commit) => self.commit(i, *commit)?,
            Effect::StableCheckpoint { height, state_root } => {
                self.mark(i, 5, height.0, prefix(&state_root));
                self.note(|| format!("r{i} stable checkpoint {height} root {state_root}"));
                if self.honest(i) {
                    self.checker.state_root(i, height, state_root)?;
                }
                // The node's truncation rule, on the simulated log.
                let storage = &mut self.nodes[i].storage;
                let drop = wal::obsolete_at_checkpoint(storage.wal.iter(), height);
                let mut k = 0;
                storage.wal.retain(|_| {
                    let keep = drop.binary_search(&k).is_err();
                    k += 1;
                    keep
                });
            }
            Effect::Evidence(record) => {
                let accused = usize::from(record.validator.0);
                if !self.is_byzantine(accused) && self.honest(i) {
                    return Err(Violation::FalseEvidence {
                        replica: i,
                        accused,
                    });
                }
            }
            Effect::Spawn(job) => {
                // Run now; the result comes back a little later, as from a worker thread.
                let result = job.run(&self.tx_verifier);
                let delay = self.rng.gen_range(0..=3);
                let incarnation = self.nodes[i].incarnation;
                self.schedule(
                    delay,
                    Event::Job {
                        to: i,
                        incarnation,
                        result,
                    },
                );
            }
            Effect::SafetyViolation(v) => {
                // With at most f faulty replicas two certified blocks at one height cannot
                // exist: an honest node reporting one is a safety failure of the protocol.
                return Err(Violation::TwoBlocksFinal {
                    height: v.height,
                    first: v.ours,
                    second: v.theirs.block_hash,
                });
            }
            Effect::StoreReadFailed(failure) => {
                return Err(Violation::Harness(format!(
                    "replica {i}: its ledger failed a read of its store: {failure}"
                )));
            }
            Effect::InstallSnapshot(_)
            | Effect::FetchSnapshot(_)
            | Effect::CaptureSnapshot { .. }
            | Effect::PrepareSnapshot(_) => {
                return Err(Violation::Harness(format!(
                    "replica {i} uses snapshots, which the simulator configures off"
                )));
            }
        }
        Ok(())
    }

    /// A request to node `to`, answered from its machine and storage if both links are up.
    fn request(&mut self, i: usize, to: usize, request: Request) -> Result<(), Violation> {
        if let Request::Blocks { from, .. } = &request {
            // The validators' block requests (the observer's are its normal way to follow).
            if !self.is_observer(i) {
                self.syncs += 1;
            }
            let have = self.nodes[i].height();
            self.mark(i, 6, have, from.0);
            self.note(|| format!("r{i} asks r{to} for blocks from {from}"));
        }
        let reachable = self.link_up(i, to) && self.link_up(to, i);
        let now = self.now;
        let answer = match self.nodes[to].machine.as_mut() {
            Some(m)
                if reachable
                    && !self
                        .scenario
                        .byzantine
                        .is_some_and(|(b, k)| b == to && k == crate::Byzantine::Silent) =>
            {
                m.answer(now, request.clone())
            }
            _ => Answer::Ready(Response::Error("unreachable".into())),
        };
        let result = match answer {
            Answer::Ready(Response::Error(e)) => Err(e),
            Answer::Ready(r) => Ok(r),
            Answer::Blocks {
                from,
                upto,
                max,
                max_bytes,
            } => {
                let blocks = &self.nodes[to].storage.blocks;
                let first = from.0.saturating_sub(1) as usize;
                let last = (upto.0 as usize).min(blocks.len());
                let mut bytes = 0usize;
                let mut taken: Vec<StoredBlock> = Vec::new();
                for b in blocks
                    .get(first..last.max(first))
                    .unwrap_or(&[])
                    .iter()
                    .take(max as usize)
                {
                    let size =
                        settlenet_types::encoded_len("stored block", b).unwrap_or(usize::MAX);
                    if !Answer::take_block(taken.len(), bytes, size, max_bytes) {
                        break;
                    }
                    bytes = bytes.saturating_add(size);
                    taken.push(b.clone());
                }
                let mut blocks = taken;
                if self
                    .scenario
                    .byzantine
                    .is_some_and(|(b, k)| b == to && k == crate::Byzantine::ForgedSyncBlock)
                {
                    self.forge_sync_answer(to, i, &mut blocks)?;
                }
                Ok(Response::Blocks(blocks))
            }
            Answer::SnapshotChunk(_) => {
                return Err(Violation::Harness(format!(
                    "replica {to} serves snapshots, which the simulator configures off"
                )));
            }
        };
        let delay = self.rng.gen_range(2..=2 * self.scenario.max_delay_ms);
        let incarnation = self.nodes[i].incarnation;
        self.schedule(
            delay,
            Event::Answer {
                to: i,
                incarnation,
                from: to,
                request,
                result,
            },
        );
        Ok(())
    }

    /// A block node `i` executed: checked (order, certificate, one block per height, equal
    /// roots), counted and stored.
    fn commit(&mut self, i: usize, mut c: BlockCommit) -> Result<(), Violation> {
        if self.fault == Some(InjectedFault::ShortCertificate { node: i }) {
            let short = self.genesis.quorum().saturating_sub(1);
            c.stored.certificate.signatures.truncate(short);
        }
        let block = &c.stored.block;
        let height = block.header.height;
        let hash = c.stored.hash;
        if height.0 != self.nodes[i].height() + 1 {
            return Err(Violation::BadCommit {
                replica: i,
                height,
                reason: format!("executed after height {}", self.nodes[i].height()),
            });
        }
        let header_hash = block.header.hash().map_err(|e| Violation::BadCommit {
            replica: i,
            height,
            reason: format!("unhashable header: {e}"),
        })?;
        if header_hash != hash {
            return Err(Violation::BadCommit {
                replica: i,
                height,
                reason: "stored hash differs from the header's".into(),
            });
        }
        self.verify_certificate(i, height, hash, &c.stored.certificate)?;
        if !settlenet_consensus::is_null(block)
            && block.header.timestamp_ms > self.now + crate::sim::MAX_CLOCK_SKEW_MS
        {
            return Err(Violation::BadCommit {
                replica: i,
                height,
                reason: format!(
                    "consensus time {} is ahead of the clock ({}) by more than the skew bound",
                    block.header.timestamp_ms, self.now
                ),
            });
        }
        let honest = self.honest(i);
        let new = honest && self.checker.final_block(height, hash)?;
        if settlenet_consensus::is_null(block) {
            self.null_blocks += 1;
        }
        if new {
            self.expired += c.expired.len() as u64;
            for o in &c.outcomes {
                if o.duplicate {
                    self.txs_duplicate += 1;
                } else if o.result.is_ok() {
                    self.txs_ok += 1;
                } else {
                    self.txs_failed += 1;
                }
            }
        }
        let mut root = c.stored.state_root;
        if self.fault == Some(InjectedFault::WrongStateRoot { replica: i }) {
            root.0[0] ^= 0xff;
        }
        self.mark(i, 3, height.0, prefix(&root));
        self.note(|| {
            let results: Vec<String> = c
                .outcomes
                .iter()
                .map(|o| format!("{}{}", o.result, if o.duplicate { "(dup)" } else { "" }))
                .collect();
            format!(
                "r{i} executes {height} {hash} root {root}{} [{}]",
                if c.synced { " (synced)" } else { "" },
                results.join(" ")
            )
        });
        if honest {
            self.checker.state_root(i, height, root)?;
        }
        let storage = &mut self.nodes[i].storage;
        {
            let mut changed = storage
                .accounts
                .changed
                .lock()
                .map_err(|_| Violation::Harness("a poisoned storage lock".into()))?;
            for account in c.changed_accounts {
                changed.insert(account.id, Some(account));
            }
            for account in &c.archived {
                changed.insert(account.id, None);
            }
        }
        for id in &c.pruned_records {
            storage.records.remove(id);
        }
        storage.records.extend(c.new_records);
        storage.history = c.history;
        storage.blocks.push(c.stored);
        Ok(())
    }

    fn verify_certificate(
        &mut self,
        i: usize,
        height: Height,
        hash: Hash,
        certificate: &CommitCertificate,
    ) -> Result<(), Violation> {
        let bytes = encode("certificate", certificate)
            .map_err(|e| Violation::Harness(format!("encoding a certificate: {e}")))?;
        let key = (height, hash, bytes);
        if self.verified.contains(&key) {
            return Ok(());
        }
        // Each signature strictly (at least as strict as the node's batch check), through the
        // memo.
        verify_certificate_with(
            &self.genesis,
            height,
            &hash,
            certificate,
            self.verifier.as_ref(),
        )
        .map_err(|e| Violation::BadCommit {
            replica: i,
            height,
            reason: format!("certificate: {e}"),
        })?;
        self.verified.insert(key);
        Ok(())
    }

    fn check_vote(&mut self, i: usize, m: &SignedMessage) -> Result<(), Violation> {
        if !self.honest(i) {
            return Ok(());
        }
        let (kind, hash) = match &m.payload {
            Payload::PrePrepare { block, .. } => (
                VoteKind::PrePrepare,
                block.header.hash().map_err(|e| {
                    Violation::Harness(format!("hashing block {}: {e}", block.header.height))
                })?,
            ),
            Payload::Prepare(b) => (VoteKind::Prepare, b.block_hash),
            Payload::Commit(b) => (VoteKind::Commit, b.block_hash),
            _ => return Ok(()),
        };
        self.checker
            .vote(i, kind, m.payload.view(), m.payload.height(), hash)
    }
}
