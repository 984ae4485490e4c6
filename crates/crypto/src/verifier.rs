//! The seam through which consensus checks signatures: [`SignatureVerifier`], and the real
//! implementation [`StrictVerifier`] (the rules of [`crate::verify`]), which decodes a known key set (the validators)
//! once instead of on every signature.

use crate::error::CryptoError;
use crate::keys::{verify_with, verifying_key};
use ed25519_consensus::VerificationKey;
use settlenet_types::{PublicKey, Signature};
use std::collections::BTreeMap;

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
}
