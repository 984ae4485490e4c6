//! The Byzantine replica: it runs the honest machine, and the simulator rewrites, withholds or
//! adds to what it sends (consensus messages, or its answers to block requests).

use crate::error::Violation;
use crate::scenario::Byzantine;
use crate::sim::Sim;
use crate::workload::CHAIN;
use rand::Rng;
use settlenet_consensus::{
    CheckpointProof, Payload, SignedMessage, ViewChangeBody, VIEW_CHANGE_TAG,
};
use settlenet_crypto::Keypair;
use settlenet_machine::wire::Wire;
use settlenet_types::{
    BatchId, Block, CommitSignature, Currency, Operation, ReplicaId, SignedTransaction,
    StoredBlock, Transaction, TxNonce, View, TX_VALIDITY_MAX_MS,
};

/// Old messages the replaying Byzantine replica remembers.
const HISTORY_MAX: usize = 64;
/// How far in the future a [`Byzantine::FutureTimestamp`] primary stamps its blocks (far over
/// the node's clock-skew bound).
const FUTURE_MS: u64 = 60_000;

/// A settlement chunk signed, validly, by a key the consortium gave no role (what a
/// [`Byzantine::JunkTransactions`] primary adds to its blocks).
fn junk_transaction() -> Option<SignedTransaction> {
    let outsider = Keypair::from_seed([0xEE; 32]);
    let tx = Transaction::new(
        CHAIN,
        outsider.public(),
        TxNonce([0xEE; 16]),
        Operation::StageBatch {
            batch: BatchId([0xEE; 16]),
            currency: Currency(*b"USD"),
            window: 0,
            chunk: 0,
            instructions: Vec::new(),
        },
        TX_VALIDITY_MAX_MS,
    );
    let signature = outsider.sign(&tx.signing_message().ok()?);
    Some(SignedTransaction { tx, signature })
}

impl Sim {
    /// What replica `i` really sends to `to` for `wire` (`None`: nothing).
    pub(crate) fn rewrite(&mut self, i: usize, to: usize, wire: &Wire) -> Option<Wire> {
        let Some((b, kind)) = self.scenario.byzantine else {
            return Some(wire.clone());
        };
        if b != i {
            return Some(wire.clone());
        }
        if kind == Byzantine::Silent {
            return None;
        }
        let Wire::Consensus(m) = wire else {
            return Some(wire.clone());
        };
        if self.history.len() < HISTORY_MAX {
            self.history.push(m.clone());
        }
        let rewritten = match kind {
            Byzantine::Silent => None,
            Byzantine::Replay | Byzantine::SpamViews | Byzantine::ForgedSyncBlock => {
                Some(m.clone())
            }
            Byzantine::Equivocate if to.is_multiple_of(2) => Some(m.clone()),
            Byzantine::Equivocate
            | Byzantine::WrongDigest
            | Byzantine::WrongProposer
            | Byzantine::FutureTimestamp
            | Byzantine::JunkTransactions => match &self.last_rewrite {
                Some((original, rewritten)) if original == m => rewritten.clone(),
                _ => {
                    let rewritten = self.resign(i, kind, m);
                    self.last_rewrite = Some((m.clone(), rewritten.clone()));
                    rewritten
                }
            },
        };
        rewritten.map(Wire::Consensus)
    }

    /// The Byzantine replica's lie, validly signed; other messages unchanged:
    /// - `Equivocate`, `WrongDigest`: a PRE-PREPARE of another block (its timestamp one
    ///   millisecond later, still within every bound), a vote for another digest;
    /// - `WrongProposer`: its PRE-PREPAREs name another replica as the proposer;
    /// - `FutureTimestamp`: its PRE-PREPAREs are stamped [`FUTURE_MS`] ahead.
    fn resign(&self, i: usize, kind: Byzantine, m: &SignedMessage) -> Option<SignedMessage> {
        let key = &self.keys[i];
        match (&m.payload, kind) {
            (Payload::PrePrepare { view, block }, _) => {
                let mut block = block.clone();
                match kind {
                    Byzantine::WrongProposer => {
                        let n = self.scenario.n as u16;
                        block.header.proposer = ReplicaId((block.header.proposer.0 + 1) % n);
                    }
                    Byzantine::FutureTimestamp => block.header.timestamp_ms += FUTURE_MS,
                    Byzantine::JunkTransactions => {
                        block.txs.push(junk_transaction()?);
                        block.header.tx_count = u32::try_from(block.txs.len()).ok()?;
                        block.header.tx_root = Block::compute_tx_root(&block.txs).ok()?;
                    }
                    _ => block.header.timestamp_ms += 1,
                }
                SignedMessage::pre_prepare(CHAIN, *view, block, m.from, key).ok()
            }
            (
                Payload::Prepare(body) | Payload::Commit(body),
                Byzantine::Equivocate | Byzantine::WrongDigest,
            ) => {
                let mut body = body.clone();
                body.block_hash.0[0] ^= 0xff;
                SignedMessage::vote(body, m.from, key).ok()
            }
            _ => Some(m.clone()),
        }
    }

    /// A [`Byzantine::ForgedSyncBlock`] validator `b`'s answer to node `to`'s block request:
    /// the first block (the one `to` asked for) forged, the others as stored. The lies, in
    /// turn:
    /// 0. the real block, its certificate one signature short of a quorum;
    /// 1. another block at that height (stamped a millisecond later), its certificate naming
    ///    the new hash over the real block's signatures (which do not verify for it);
    /// 2. that other block "certified" by `b`'s own valid COMMIT signature, repeated to a
    ///    quorum.
    ///
    /// Had a node installed one, the harness would find a final block with a bad certificate
    /// or two blocks final at one height.
    pub(crate) fn forge_sync_answer(
        &mut self,
        b: usize,
        to: usize,
        blocks: &mut [StoredBlock],
    ) -> Result<(), Violation> {
        let Some(first) = blocks.first_mut() else {
            return Ok(());
        };
        let quorum = self.genesis.quorum();
        let lie = self.forged_blocks % 3;
        self.forged_blocks += 1;
        if lie == 0 {
            first
                .certificate
                .signatures
                .truncate(quorum.saturating_sub(1));
        } else {
            first.block.header.timestamp_ms += 1;
            let hash = first
                .block
                .header
                .hash()
                .map_err(|e| Violation::Harness(format!("hashing a forged block: {e}")))?;
            first.hash = hash;
            first.certificate.block_hash = hash;
            if lie == 2 {
                let message = first
                    .certificate
                    .vote_body(CHAIN)
                    .signing_message()
                    .map_err(|e| Violation::Harness(format!("encoding a forged vote: {e}")))?;
                let own = CommitSignature {
                    replica: ReplicaId(b as u16),
                    signature: self.keys[b].sign(&message),
                };
                first.certificate.signatures = vec![own; quorum];
            }
        }
        let height = first.block.header.height;
        self.mark(b, 9, to as u64, height.0);
        self.note(|| format!("r{b} serves r{to} a forged block {height} (lie {lie})"));
        Ok(())
    }

    /// What the Byzantine replica sends of its own accord, every tick.
    pub(crate) fn byzantine_extras(&mut self) -> Result<(), Violation> {
        let Some((b, kind)) = self.scenario.byzantine else {
            return Ok(());
        };
        let Some(view) = self.nodes[b].machine.as_ref().map(|m| m.view()) else {
            return Ok(());
        };
        match kind {
            Byzantine::Replay if !self.history.is_empty() => {
                for _ in 0..3 {
                    let k = self.rng.gen_range(0..self.history.len());
                    let to = self.rng.gen_range(0..self.scenario.n);
                    let m = self.history[k].clone();
                    self.send(b, to, Wire::Consensus(m));
                }
            }
            Byzantine::SpamViews if self.ticks.is_multiple_of(4) => {
                let view = View(view.0 + self.rng.gen_range(2..1_000_000));
                let body = ViewChangeBody {
                    tag: VIEW_CHANGE_TAG,
                    chain_id: CHAIN.into(),
                    view,
                    checkpoint: CheckpointProof::genesis(),
                    prepared: vec![],
                };
                let m = SignedMessage::view_change(body, ReplicaId(b as u16), &self.keys[b])
                    .map_err(|e| Violation::Harness(format!("signing a VIEW-CHANGE: {e}")))?;
                for j in 0..self.scenario.n {
                    self.send(b, j, Wire::Consensus(m.clone()));
                }
            }
            _ => {}
        }
        Ok(())
    }
}
