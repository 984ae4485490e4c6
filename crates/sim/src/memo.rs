//! A memoising signature verifier, shared by the replicas of one run.
//!
//! In a simulated cluster every message is verified by each of its n-1 receivers, each
//! VIEW-CHANGE's prepared certificates again by every replica (and again inside the NEW-VIEW
//! that carries it), retransmissions and duplicates again: most verifications repeat one
//! already done. [`MemoVerifier`] remembers the (key, message digest, signature) triples that
//! verified and answers them without the curve arithmetic; anything else goes to the real
//! strict verifier, so a replica sees exactly the answers it would get alone.

use settlenet_crypto::{CryptoError, SignatureVerifier, StrictVerifier};
use settlenet_types::{PublicKey, Signature};
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Triples remembered at most; when full, the memo starts over (answers stay exact, only the
/// saving shrinks). A run verifies a few thousand distinct signatures.
pub const MEMO_ENTRIES_MAX: usize = 1 << 16;

/// (signer key, blake3 of the signed bytes, signature) of a signature that verified strictly.
type Entry = ([u8; 32], [u8; 32], [u8; 64]);

/// Strict verification with a memo of successes. Only valid signatures are remembered: a
/// failure is verified again each time (failures are rare, and the error text is then the
/// real one). A hit relies on blake3's collision resistance for the message digest.
#[derive(Debug)]
pub struct MemoVerifier {
    /// The real verifier (validator keys decoded once).
    inner: StrictVerifier,
    /// Triples that verified; at most [`MEMO_ENTRIES_MAX`].
    valid: Mutex<BTreeSet<Entry>>,
}

impl MemoVerifier {
    /// A memo in front of `inner`.
    pub fn new(inner: StrictVerifier) -> MemoVerifier {
        MemoVerifier {
            inner,
            valid: Mutex::new(BTreeSet::new()),
        }
    }

    /// Distinct valid signatures remembered.
    pub fn len(&self) -> usize {
        self.valid.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SignatureVerifier for MemoVerifier {
    fn verify(
        &self,
        key: &PublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        let entry: Entry = (key.0, *blake3::hash(message).as_bytes(), signature.0);
        // A poisoned lock (a panic elsewhere in the run) only loses the memo.
        if self.valid.lock().is_ok_and(|v| v.contains(&entry)) {
            return Ok(());
        }
        self.inner.verify(key, message, signature)?;
        if let Ok(mut v) = self.valid.lock() {
            if v.len() >= MEMO_ENTRIES_MAX {
                v.clear();
            }
            v.insert(entry);
        }
        Ok(())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use settlenet_crypto::{verify, Keypair};

    #[test]
    fn memo_answers_as_strict_verification_does() {
        let a = Keypair::from_seed([1; 32]);
        let b = Keypair::from_seed([2; 32]);
        let memo = MemoVerifier::new(StrictVerifier::with_keys(&[a.public()]));
        let s = a.sign(b"m");
        let cases = [
            (a.public(), &b"m"[..], s),
            (a.public(), &b"n"[..], s),
            (b.public(), &b"m"[..], s),
            (a.public(), &b"m"[..], b.sign(b"m")),
        ];
        // Twice: the second round answers valid triples from the memo.
        for round in 0..2 {
            for (key, message, sig) in &cases {
                assert_eq!(
                    memo.verify(key, message, sig).is_ok(),
                    verify(key, message, sig).is_ok(),
                    "round {round}: {key} {message:?}"
                );
            }
        }
        assert_eq!(memo.len(), 1, "only the valid triple is remembered");
    }
}
