//! Admission: transactions from the API and from peers' gossip into the mempool.
//!
//! A transaction enters the pool only after its signature verified (the API handler checks
//! it; gossip is checked by a [`Job`]), its id is new (or a retry of the same body), and the
//! ledger's order-independent precheck passed. Accepted API submissions are gossiped to every
//! validator in batches, at most [`GOSSIP_DELAY_MS`](crate::GOSSIP_DELAY_MS) after arrival.

use crate::job::Job;
use crate::machine::{Effect, NodeMachine, GOSSIP_DELAY_MS};
use crate::mempool::AddError;
use crate::wire::{Wire, GOSSIP_MAX_BYTES, GOSSIP_MAX_TXS};
use settlenet_ledger::TxRecord;
use settlenet_types::{SignedTransaction, TX_MAX_BYTES};
use tracing::warn;

/// What a submission came to (also the answer a validator gives an observer that forwarded
/// it, so new variants go at the end).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SubmitOutcome {
    /// In the mempool, waiting for a block.
    Pending,
    /// Already pending (a retry): nothing new was added.
    AlreadyPending,
    /// Already executed: its record stands (a retry of a committed transaction).
    AlreadyCommitted(TxRecord),
    /// Refused before entering the mempool.
    Refused {
        /// Machine-readable code.
        code: String,
        /// Human explanation.
        message: String,
    },
    /// The mempool is full: try again later.
    Busy,
    /// This node cannot take it now (an observer with no validator reachable): try again
    /// later or elsewhere. Nothing was admitted.
    Unavailable {
        /// Why.
        message: String,
    },
}

impl NodeMachine {
    /// Admit a signature-verified transaction to the mempool.
    pub(crate) fn admit(&mut self, tx: SignedTransaction, from_api: bool) -> SubmitOutcome {
        if let Some(record) = self.ledger.record(&tx.tx.id) {
            return match tx.tx.intent_hash() {
                Ok(h) if h == record.body_hash => SubmitOutcome::AlreadyCommitted(record.clone()),
                _ => SubmitOutcome::Refused {
                    code: "exists_with_different_body".into(),
                    message: format!(
                        "transaction id {} was already used at height {} for a different body; \
                         choose a new id",
                        tx.tx.id, record.height
                    ),
                },
            };
        }
        if let Some(pending) = self.mempool.get(&tx.tx.id) {
            // The same intent signed again (a later validity) is a retry of the pending one.
            let same = match (pending.tx.intent_hash(), tx.tx.intent_hash()) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            if !same {
                return SubmitOutcome::Refused {
                    code: "exists_with_different_body".into(),
                    message: format!(
                        "transaction id {} is pending with a different body; choose a new id",
                        tx.tx.id
                    ),
                };
            }
        }
        let bytes = match settlenet_types::encoded_len("transaction", &tx) {
            Ok(n) if n <= TX_MAX_BYTES => n,
            Ok(n) => {
                return SubmitOutcome::Refused {
                    code: "too_large".into(),
                    message: format!(
                        "transaction {} is {n} bytes encoded; at most {TX_MAX_BYTES} are accepted",
                        tx.tx.id
                    ),
                }
            }
            Err(e) => {
                return SubmitOutcome::Refused {
                    code: "too_large".into(),
                    message: format!("transaction {} cannot be encoded: {e}", tx.tx.id),
                }
            }
        };
        if let Err(code) = self
            .ledger
            .precheck(&tx)
            .and_then(|()| settlenet_ledger::Ledger::check_validity(&tx.tx, self.now))
        {
            return SubmitOutcome::Refused {
                code: code.as_str().to_string(),
                message: code.describe().to_string(),
            };
        }
        let gossip = from_api.then(|| tx.clone());
        match self.mempool.add(tx, bytes, self.now) {
            Ok(()) => {
                self.work_signal = true;
                if let Some(tx) = gossip {
                    self.counters.txs_submitted += 1;
                    self.gossip_buf.push(tx);
                    if self.gossip_due_ms.is_none() {
                        self.gossip_due_ms = Some(self.now + GOSSIP_DELAY_MS);
                    }
                }
                SubmitOutcome::Pending
            }
            Err(AddError::Duplicate) => SubmitOutcome::AlreadyPending,
            Err(AddError::Full) => SubmitOutcome::Busy,
        }
    }

    /// Transactions a peer gossiped: skip what we hold, verify the rest in a job.
    pub(crate) fn on_gossip(&mut self, txs: Vec<SignedTransaction>, out: &mut Vec<Effect>) {
        if txs.len() > GOSSIP_MAX_TXS {
            self.counters.messages_dropped += 1;
            warn!(
                "gossip batch of {} transactions is over the limit",
                txs.len()
            );
            return;
        }
        let fresh: Vec<_> = txs
            .into_iter()
            .filter(|t| !self.mempool.contains(&t.tx.id) && self.ledger.record(&t.tx.id).is_none())
            .collect();
        if fresh.is_empty() {
            return;
        }
        self.spawn(Job::VerifyGossip { txs: fresh }, out);
    }

    /// Send the transactions accepted from our API to every validator, in messages of at
    /// most [`GOSSIP_MAX_TXS`] transactions and [`GOSSIP_MAX_BYTES`] bytes.
    pub(crate) fn flush_gossip(&mut self, out: &mut Vec<Effect>) {
        self.gossip_due_ms = None;
        let batch = std::mem::take(&mut self.gossip_buf);
        let mut chunk = Vec::new();
        let mut bytes = 0usize;
        for tx in batch {
            // Admitted transactions encode (their size was measured on admission).
            let size = settlenet_types::encoded_len("transaction", &tx).unwrap_or(TX_MAX_BYTES);
            if !chunk.is_empty()
                && (chunk.len() == GOSSIP_MAX_TXS || bytes + size > GOSSIP_MAX_BYTES)
            {
                out.push(Effect::Send {
                    to: None,
                    wire: Wire::Txs(std::mem::take(&mut chunk)),
                });
                bytes = 0;
            }
            bytes += size;
            chunk.push(tx);
        }
        if !chunk.is_empty() {
            out.push(Effect::Send {
                to: None,
                wire: Wire::Txs(chunk),
            });
        }
    }
}
