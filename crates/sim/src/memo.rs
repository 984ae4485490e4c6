//! Memoising verifiers, shared by the replicas of one run: [`MemoVerifier`] (consensus
//! signatures; it lives in `settlenet-crypto`, the node uses it too) and [`TxMemo`].
//!
//! In a simulated cluster every message is verified by each of its n-1 receivers, each
//! VIEW-CHANGE's prepared certificates again by every replica (and again inside the NEW-VIEW
//! that carries it), retransmissions and duplicates again: most verifications repeat one
//! already done. [`MemoVerifier`] remembers the (key, message digest, signature) triples that
//! verified and answers them without the curve arithmetic; anything else goes to the real
//! strict verifier, so a replica sees exactly the answers it would get alone.

use std::collections::BTreeSet;
use std::sync::Mutex;

pub use settlenet_crypto::{MemoVerifier, MEMO_ENTRIES_MAX};

/// Transaction signatures of one run, verified once: every node checks each gossiped or
/// proposed transaction, and the workload resends the same signed transactions. Keyed by the
/// transaction's leaf hash, which covers the body and the signature; only successes are kept.
#[derive(Debug, Default)]
pub struct TxMemo {
    valid: Mutex<BTreeSet<[u8; 32]>>,
}

impl settlenet_machine::TxVerifier for TxMemo {
    fn verify(&self, txs: &[settlenet_types::SignedTransaction]) -> Result<(), String> {
        let mut unknown = Vec::new();
        let mut keys = Vec::new();
        {
            let valid = self
                .valid
                .lock()
                .map_err(|_| "memo lock poisoned".to_string())?;
            for t in txs {
                let key = t.leaf_hash().map_err(|e| e.to_string())?.0;
                if !valid.contains(&key) {
                    unknown.push(t.clone());
                    keys.push(key);
                }
            }
        }
        if unknown.is_empty() {
            return Ok(());
        }
        settlenet_crypto::verify_transactions(&unknown).map_err(|e| e.to_string())?;
        if let Ok(mut v) = self.valid.lock() {
            if v.len() + keys.len() > MEMO_ENTRIES_MAX {
                v.clear();
            }
            v.extend(keys);
        }
        Ok(())
    }
}
