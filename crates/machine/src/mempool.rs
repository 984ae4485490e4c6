//! Pending transactions: verified, not yet committed. Bounded in count and in encoded bytes;
//! FIFO for proposals, which are cut by count and by bytes.

use settlenet_types::{SignedTransaction, TxId};
use std::collections::{HashMap, VecDeque};

/// A pending transaction and where it stands.
struct Entry {
    tx: SignedTransaction,
    /// Taken into an in-flight proposal of ours.
    proposed: bool,
    /// When it arrived (ms, node clock): proposals are cut when the oldest has waited long enough.
    arrived_ms: u64,
    /// Its encoded size.
    bytes: usize,
}

/// Verified, uncommitted transactions.
pub struct Mempool {
    entries: HashMap<TxId, Entry>,
    /// Arrival order of ids not yet proposed (may hold stale ids: skipped lazily, and
    /// compacted when they outnumber the live entries, so it stays within twice the pool).
    queue: VecDeque<TxId>,
    max_txs: usize,
    max_bytes: usize,
    /// Sum of the entries' encoded sizes.
    bytes: usize,
}

/// Why a transaction was not added.
#[derive(Debug, PartialEq, Eq)]
pub enum AddError {
    /// Already pending.
    Duplicate,
    /// At capacity (count or bytes).
    Full,
}

/// Queue entries beyond which stale ids are compacted away (with the live count doubled).
const QUEUE_SLACK: usize = 1024;

impl Mempool {
    /// An empty pool holding at most `max_txs` transactions of `max_bytes` encoded in all.
    pub fn new(max_txs: usize, max_bytes: usize) -> Mempool {
        Mempool {
            entries: HashMap::new(),
            queue: VecDeque::new(),
            max_txs,
            max_bytes,
            bytes: 0,
        }
    }

    /// Encoded bytes pending.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Length of the arrival queue (live and stale ids; for tests and metrics).
    pub fn queue_len(&self) -> usize {
        self.queue.len()
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

    /// Add a verified transaction whose encoded size is `bytes`.
    pub fn add(
        &mut self,
        tx: SignedTransaction,
        bytes: usize,
        now_ms: u64,
    ) -> Result<(), AddError> {
        if self.entries.contains_key(&tx.tx.id) {
            return Err(AddError::Duplicate);
        }
        if self.entries.len() >= self.max_txs || self.bytes.saturating_add(bytes) > self.max_bytes {
            return Err(AddError::Full);
        }
        let id = tx.tx.id;
        self.entries.insert(
            id,
            Entry {
                tx,
                proposed: false,
                arrived_ms: now_ms,
                bytes,
            },
        );
        self.bytes += bytes;
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

    /// Take up to `max` unproposed transactions of at most `max_bytes` encoded in all, in
    /// arrival order, marking them proposed. A transaction that alone exceeds `max_bytes`
    /// (none passes admission), or whose `valid_until_ms` is before `stamp_ms` (the time the
    /// block will carry: it would only be refused as `expired`), is dropped from the pool
    /// rather than proposed.
    pub fn take_for_proposal(
        &mut self,
        max: usize,
        max_bytes: usize,
        stamp_ms: u64,
    ) -> Vec<SignedTransaction> {
        let mut out = Vec::with_capacity(max.min(self.queue.len()));
        let mut bytes = 0usize;
        while out.len() < max {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            let Some(e) = self.entries.get_mut(&id) else {
                continue;
            };
            if e.proposed {
                continue;
            }
            if e.bytes > max_bytes || e.tx.tx.valid_until_ms < stamp_ms {
                self.bytes -= e.bytes;
                self.entries.remove(&id);
                continue;
            }
            if bytes + e.bytes > max_bytes {
                self.queue.push_front(id);
                break;
            }
            bytes += e.bytes;
            e.proposed = true;
            out.push(e.tx.clone());
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

    /// Drop every transaction whose `valid_until_ms` is before `now_ms` (consensus time): no
    /// block stamped later may execute it. O(pool); the machine calls it at most once a
    /// second of consensus time. Returns how many went.
    pub fn drop_expired(&mut self, now_ms: u64) -> usize {
        let before = self.entries.len();
        let mut freed = 0usize;
        self.entries.retain(|_, e| {
            let keep = e.tx.tx.valid_until_ms >= now_ms;
            if !keep {
                freed += e.bytes;
            }
            keep
        });
        self.bytes -= freed;
        before - self.entries.len()
    }

    /// Remove committed transactions. On a backup nothing else pops the arrival queue, so
    /// its stale ids are compacted here once they outnumber the live entries.
    pub fn remove_committed<'a>(&mut self, ids: impl IntoIterator<Item = &'a TxId>) {
        for id in ids {
            if let Some(e) = self.entries.remove(id) {
                self.bytes -= e.bytes;
            }
        }
        if self.queue.len() > 2 * self.entries.len() + QUEUE_SLACK {
            let entries = &self.entries;
            self.queue
                .retain(|id| entries.get(id).is_some_and(|e| !e.proposed));
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
                nonce: settlenet_types::TxNonce([n; 16]),
                signer: PublicKey([0; 32]),
                op: Operation::Issue {
                    wallet: AccountId([0; 16]),
                    amount: Amount(1),
                },
                valid_until_ms: u64::MAX,
            },
            signature: Signature([0; 64]),
        }
    }

    #[test]
    fn bounded_fifo_without_duplicates() {
        let mut m = Mempool::new(3, usize::MAX);
        assert_eq!(m.add(tx(1), 1, 10), Ok(()));
        assert_eq!(m.add(tx(1), 1, 11), Err(AddError::Duplicate));
        assert_eq!(m.add(tx(2), 1, 12), Ok(()));
        assert_eq!(m.add(tx(3), 1, 13), Ok(()));
        assert_eq!(m.add(tx(4), 1, 14), Err(AddError::Full));
        assert_eq!(m.oldest_unproposed_ms(), Some(10));
        let taken = m.take_for_proposal(2, usize::MAX, 0);
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[0].tx.id, TxId([1; 16]));
        assert_eq!(m.oldest_unproposed_ms(), Some(13));
        m.remove_committed(&[TxId([1; 16]), TxId([2; 16])]);
        assert_eq!(m.len(), 1);
        assert_eq!(m.take_for_proposal(10, usize::MAX, 0).len(), 1);
        assert_eq!(m.oldest_unproposed_ms(), None);
    }

    #[test]
    fn proposed_transactions_are_requeued_first_after_a_view_change() {
        let mut m = Mempool::new(10, usize::MAX);
        for n in 0..4u8 {
            m.add(tx(n), 1, 10 + u64::from(n)).expect("add");
        }
        let taken = m.take_for_proposal(2, usize::MAX, 0);
        assert_eq!(taken, vec![tx(0), tx(1)]);
        assert_eq!(m.oldest_unproposed(10), vec![tx(2), tx(3)]);
        m.requeue_proposed();
        assert_eq!(m.oldest_unproposed(10), vec![tx(0), tx(1), tx(2), tx(3)]);
        assert_eq!(m.oldest_unproposed(1), vec![tx(0)]);
        assert_eq!(m.oldest_unproposed_ms(), Some(10));
        assert_eq!(m.take_for_proposal(10, usize::MAX, 0).len(), 4);
        // Nothing proposed twice without a requeue.
        assert!(m.take_for_proposal(10, usize::MAX, 0).is_empty());
    }

    #[test]
    fn bounded_in_bytes_and_blocks_cut_by_bytes() {
        let mut m = Mempool::new(100, 1_300);
        for n in 0..4u8 {
            m.add(tx(n), 300, u64::from(n)).expect("add");
        }
        assert_eq!(m.bytes(), 1_200);
        assert_eq!(
            m.add(tx(9), 101, 9),
            Err(AddError::Full),
            "over the byte bound"
        );
        assert_eq!(m.add(tx(9), 100, 9), Ok(()));
        // A proposal of at most 700 bytes takes two; the third waits at the head.
        assert_eq!(m.take_for_proposal(10, 700, 0), vec![tx(0), tx(1)]);
        assert_eq!(m.oldest_unproposed(1), vec![tx(2)]);
        assert_eq!(m.take_for_proposal(10, 700, 0), vec![tx(2), tx(3), tx(9)]);
        m.remove_committed(&[TxId([0; 16]), TxId([1; 16])]);
        assert_eq!(m.bytes(), 700);
    }

    /// Issue 11, hole 6: on a backup nothing takes proposals, so the arrival queue was never
    /// trimmed and grew with every transaction ever admitted.
    #[test]
    fn the_arrival_queue_stays_bounded_on_a_backup() {
        let mut m = Mempool::new(1_000_000, usize::MAX);
        let mut most = 0;
        for round in 0u32..200 {
            let ids: Vec<TxId> = (0u32..100)
                .map(|i| {
                    let mut id = [0u8; 16];
                    id[..4].copy_from_slice(&round.to_be_bytes());
                    id[4..8].copy_from_slice(&i.to_be_bytes());
                    TxId(id)
                })
                .collect();
            for id in &ids {
                let mut t = tx(0);
                t.tx.id = *id;
                m.add(t, 10, 0).expect("add");
            }
            // Committed from another primary's blocks.
            m.remove_committed(&ids);
            most = most.max(m.queue_len());
        }
        assert_eq!(m.len(), 0);
        assert_eq!(m.bytes(), 0);
        assert!(most <= 2 * 100 + QUEUE_SLACK + 100, "queue grew to {most}");
    }

    #[test]
    fn expired_transactions_are_dropped_not_proposed() {
        let mut m = Mempool::new(10, usize::MAX);
        let mut short = tx(1);
        short.tx.valid_until_ms = 1_000;
        let mut later = tx(2);
        later.tx.valid_until_ms = 5_000;
        for t in [short, later.clone(), tx(3)] {
            assert_eq!(m.add(t, 10, 0), Ok(()));
        }
        // A block stamped 1,001 would refuse the first: it is dropped, not proposed.
        assert_eq!(
            m.take_for_proposal(10, usize::MAX, 1_001),
            vec![later, tx(3)]
        );
        assert_eq!((m.len(), m.bytes()), (2, 20));
        m.requeue_proposed();
        // Consensus time passes the second one's validity: it goes too.
        assert_eq!(m.drop_expired(5_001), 1);
        assert_eq!((m.len(), m.bytes()), (1, 10));
        assert_eq!(m.take_for_proposal(10, usize::MAX, 5_001), vec![tx(3)]);
    }
}
