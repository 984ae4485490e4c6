//! Pending transactions: verified, not yet committed. Bounded; FIFO for proposals.

use settlenet_types::{SignedTransaction, TxId};
use std::collections::{HashMap, VecDeque};

/// A pending transaction and where it stands.
struct Entry {
    tx: SignedTransaction,
    /// Taken into an in-flight proposal of ours.
    proposed: bool,
    /// When it arrived (ms, node clock): proposals are cut when the oldest has waited long enough.
    arrived_ms: u64,
}

/// Verified, uncommitted transactions.
pub struct Mempool {
    entries: HashMap<TxId, Entry>,
    /// Arrival order of ids not yet proposed (may hold stale ids; skipped lazily).
    queue: VecDeque<TxId>,
    max_txs: usize,
}

/// Why a transaction was not added.
#[derive(Debug, PartialEq, Eq)]
pub enum AddError {
    /// Already pending.
    Duplicate,
    /// At capacity.
    Full,
}

impl Mempool {
    /// An empty pool holding at most `max_txs`.
    pub fn new(max_txs: usize) -> Mempool {
        Mempool {
            entries: HashMap::new(),
            queue: VecDeque::new(),
            max_txs,
        }
    }

    /// Number pending.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if none pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Is this id pending?
    pub fn contains(&self, id: &TxId) -> bool {
        self.entries.contains_key(id)
    }

    /// The pending transaction with this id.
    pub fn get(&self, id: &TxId) -> Option<&SignedTransaction> {
        self.entries.get(id).map(|e| &e.tx)
    }

    /// Add a verified transaction.
    pub fn add(&mut self, tx: SignedTransaction, now_ms: u64) -> Result<(), AddError> {
        if self.entries.contains_key(&tx.tx.id) {
            return Err(AddError::Duplicate);
        }
        if self.entries.len() >= self.max_txs {
            return Err(AddError::Full);
        }
        let id = tx.tx.id;
        self.entries.insert(
            id,
            Entry {
                tx,
                proposed: false,
                arrived_ms: now_ms,
            },
        );
        self.queue.push_back(id);
        Ok(())
    }

    /// Drop stale ids from the queue head; return the arrival time of the oldest unproposed one.
    pub fn oldest_unproposed_ms(&mut self) -> Option<u64> {
        while let Some(id) = self.queue.front() {
            match self.entries.get(id) {
                Some(e) if !e.proposed => return Some(e.arrived_ms),
                _ => {
                    self.queue.pop_front();
                }
            }
        }
        None
    }

    /// Count of unproposed transactions (upper bound: the queue may hold stale ids).
    pub fn unproposed_upper_bound(&self) -> usize {
        self.queue.len()
    }

    /// Take up to `max` unproposed transactions, in arrival order, marking them proposed.
    pub fn take_for_proposal(&mut self, max: usize) -> Vec<SignedTransaction> {
        let mut out = Vec::with_capacity(max.min(self.queue.len()));
        while out.len() < max {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            if let Some(e) = self.entries.get_mut(&id) {
                if !e.proposed {
                    e.proposed = true;
                    out.push(e.tx.clone());
                }
            }
        }
        out
    }

    /// Make every transaction taken into a proposal of ours proposable again, ahead of the
    /// others, oldest first: after a view change our uncommitted proposals of the old view are
    /// gone (or re-proposed by the NEW-VIEW, in which case a second inclusion executes as a
    /// duplicate and changes nothing).
    pub fn requeue_proposed(&mut self) {
        let mut back: Vec<(u64, TxId)> = self
            .entries
            .iter_mut()
            .filter(|(_, e)| e.proposed)
            .map(|(id, e)| {
                e.proposed = false;
                (e.arrived_ms, *id)
            })
            .collect();
        back.sort_unstable();
        for (_, id) in back.into_iter().rev() {
            self.queue.push_front(id);
        }
    }

    /// Up to `max` unproposed transactions, oldest first (not marked).
    pub fn oldest_unproposed(&self, max: usize) -> Vec<SignedTransaction> {
        self.queue
            .iter()
            .filter_map(|id| self.entries.get(id))
            .filter(|e| !e.proposed)
            .take(max)
            .map(|e| e.tx.clone())
            .collect()
    }

    /// Remove committed transactions.
    pub fn remove_committed<'a>(&mut self, ids: impl IntoIterator<Item = &'a TxId>) {
        for id in ids {
            self.entries.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use settlenet_types::{AccountId, Amount, Operation, PublicKey, Signature, Transaction};

    fn tx(n: u8) -> SignedTransaction {
        SignedTransaction {
            tx: Transaction {
                version: 1,
                chain_id: "t".into(),
                id: TxId([n; 16]),
                signer: PublicKey([0; 32]),
                op: Operation::Issue {
                    wallet: AccountId([0; 16]),
                    amount: Amount(1),
                },
            },
            signature: Signature([0; 64]),
        }
    }

    #[test]
    fn bounded_fifo_without_duplicates() {
        let mut m = Mempool::new(3);
        assert_eq!(m.add(tx(1), 10), Ok(()));
        assert_eq!(m.add(tx(1), 11), Err(AddError::Duplicate));
        assert_eq!(m.add(tx(2), 12), Ok(()));
        assert_eq!(m.add(tx(3), 13), Ok(()));
        assert_eq!(m.add(tx(4), 14), Err(AddError::Full));
        assert_eq!(m.oldest_unproposed_ms(), Some(10));
        let taken = m.take_for_proposal(2);
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[0].tx.id, TxId([1; 16]));
        assert_eq!(m.oldest_unproposed_ms(), Some(13));
        m.remove_committed(&[TxId([1; 16]), TxId([2; 16])]);
        assert_eq!(m.len(), 1);
        assert_eq!(m.take_for_proposal(10).len(), 1);
        assert_eq!(m.oldest_unproposed_ms(), None);
    }

    #[test]
    fn proposed_transactions_are_requeued_first_after_a_view_change() {
        let mut m = Mempool::new(10);
        for n in 0..4u8 {
            m.add(tx(n), 10 + u64::from(n)).expect("add");
        }
        let taken = m.take_for_proposal(2);
        assert_eq!(taken, vec![tx(0), tx(1)]);
        assert_eq!(m.oldest_unproposed(10), vec![tx(2), tx(3)]);
        m.requeue_proposed();
        assert_eq!(m.oldest_unproposed(10), vec![tx(0), tx(1), tx(2), tx(3)]);
        assert_eq!(m.oldest_unproposed(1), vec![tx(0)]);
        assert_eq!(m.oldest_unproposed_ms(), Some(10));
        assert_eq!(m.take_for_proposal(10).len(), 4);
        // Nothing proposed twice without a requeue.
        assert!(m.take_for_proposal(10).is_empty());
    }
}
