//! The seam through which consensus checks signatures: [`SignatureVerifier`], the real
//! implementation [`StrictVerifier`] (the rules of [`crate::verify`]), which decodes a known key
//! set (the validators) once instead of on every signature, and [`MemoVerifier`], which
//! remembers the signatures that verified.

use crate::error::CryptoError;
use crate::keys::{verify_with, verifying_key};
use ed25519_consensus::VerificationKey;
use settlenet_types::{PublicKey, Signature};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// Checks one signature. Every implementation must answer exactly as [`crate::verify`] does
/// (ZIP 215 rules: small-order keys and non-canonical `s` are refused): a verifier may
/// only make the answer cheaper (decoded keys, memoised results), never different.
pub trait SignatureVerifier: Send + Sync + std::fmt::Debug {
    /// Verify `signature` by `key` over exactly `message`.
    fn verify(
        &self,
        key: &PublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError>;
}

/// ed25519 verification with the rules of [`crate::verify`] with the keys of a known set decoded once:
/// decompressing a public key costs about a quarter of a verification, and a replica checks
/// only its validators' keys. Keys outside the set (or that fail to decode) are decoded on each
/// call, so the answers are those of [`crate::verify`] for every key.
#[derive(Clone, Debug, Default)]
pub struct StrictVerifier {
    /// The decoded keys of the set (valid, non-weak ones only); bounded by the set given.
    keys: BTreeMap<PublicKey, VerificationKey>,
}

impl StrictVerifier {
    /// A verifier that decodes every key on use.
    pub fn new() -> StrictVerifier {
        StrictVerifier::default()
    }

    /// A verifier with `keys` decoded up front (e.g. the validator set).
    pub fn with_keys<'a>(keys: impl IntoIterator<Item = &'a PublicKey>) -> StrictVerifier {
        let keys = keys
            .into_iter()
            .filter_map(|k| verifying_key(k).ok().map(|vk| (*k, vk)))
            .collect();
        StrictVerifier { keys }
    }
}

impl SignatureVerifier for StrictVerifier {
    fn verify(
        &self,
        key: &PublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        match self.keys.get(key) {
            Some(vk) => verify_with(vk, message, signature),
            None => crate::verify(key, message, signature),
        }
    }
}

/// Triples a [`MemoVerifier`] remembers at most; when full, it starts over (answers stay
/// exact, only the saving shrinks). About 10 MB at the limit.
pub const MEMO_ENTRIES_MAX: usize = 1 << 16;

/// (signer key, blake3 of the signed bytes, signature) of a signature that verified.
type MemoEntry = ([u8; 32], [u8; 32], [u8; 64]);

/// Strict verification with a memo of successes, shared by whoever checks the same messages:
/// a node's network gate verifies a peer's message off the consensus loop, and the replica's
/// own check of it is then a memo hit; the replicas of a simulated run share one too. Only
/// valid signatures are remembered: a failure is verified again each time (the error text is
/// then the real one). A hit relies on blake3's collision resistance for the message digest.
#[derive(Debug)]
pub struct MemoVerifier {
    /// The real verifier.
    inner: StrictVerifier,
    /// Triples that verified; at most [`MEMO_ENTRIES_MAX`].
    valid: Mutex<BTreeSet<MemoEntry>>,
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
        let entry: MemoEntry = (key.0, *blake3::hash(message).as_bytes(), signature.0);
        // A poisoned lock (a panic elsewhere) only loses the memo.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;

    #[test]
    fn strict_verifier_answers_as_verify_does() {
        let a = Keypair::from_seed([1; 32]);
        let b = Keypair::from_seed([2; 32]);
        let mut weak = [0u8; 32];
        weak[0] = 1;
        let weak = PublicKey(weak);
        let known = [a.public(), weak];
        let verifiers = [StrictVerifier::new(), StrictVerifier::with_keys(&known)];
        let s = a.sign(b"m");
        let mut malleated = s;
        // The top bit set: a non-canonical scalar, which verification refuses.
        malleated.0[63] |= 0x80;
        let cases = [
            (a.public(), &b"m"[..], s),
            (a.public(), &b"n"[..], s),
            (b.public(), &b"m"[..], s),
            (a.public(), &b"m"[..], malleated),
            (weak, &b"m"[..], Signature([0; 64])),
        ];
        for v in &verifiers {
            for (key, message, sig) in &cases {
                assert_eq!(
                    v.verify(key, message, sig).is_ok(),
                    crate::verify(key, message, sig).is_ok(),
                    "{key} {message:?}"
                );
            }
            assert!(v.verify(&a.public(), b"m", &s).is_ok());
            assert!(v.verify(&a.public(), b"n", &s).is_err());
        }
    }

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
                    crate::verify(key, message, sig).is_ok(),
                    "round {round}: {key} {message:?}"
                );
            }
        }
        assert_eq!(memo.len(), 1, "only the valid triple is remembered");
    }
}
