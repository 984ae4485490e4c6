//! Key pairs, signing and verification.

use crate::error::CryptoError;
use ed25519_consensus::{VerificationKey, VerificationKeyBytes};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use settlenet_types::{PublicKey, Signature, SignedTransaction};

/// An ed25519 key pair.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "Keypair(public: {})", self.public())
    }
}

impl Keypair {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Keypair {
        Keypair {
            signing: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// A key from a 32-byte secret seed (deterministic; for tests and the simulator).
    pub fn from_seed(seed: [u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The 32-byte secret seed (for writing key files only).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Sign exact bytes (callers pass domain-separated messages from `settlenet-types`).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }
}

/// Keys found valid and not weak, remembered (at most [`CHECKED_KEYS_MAX`], then forgotten all
/// at once) so that a signer seen again costs one point decompression, not two: the weak-key
/// check decompresses with `ed25519-dalek`, and `ed25519-consensus` decompresses again to
/// verify. A pure cache of a deterministic answer: it never changes a verdict.
static CHECKED_KEYS: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<[u8; 32]>>> =
    std::sync::OnceLock::new();

/// Most keys [`CHECKED_KEYS`] holds (32 bytes each, about 2 MiB with the set's overhead).
pub const CHECKED_KEYS_MAX: usize = 65_536;

/// Refuse an invalid or small-order (weak) key: a small-order key verifies a forged signature
/// under the cofactored equation, so it is refused everywhere, before any signature is looked
/// at (the same answer in a batch and alone).
fn check_key(key: &PublicKey) -> Result<(), CryptoError> {
    let cache = CHECKED_KEYS.get_or_init(Default::default);
    if cache
        .lock()
        .map(|set| set.contains(&key.0))
        .unwrap_or(false)
    {
        return Ok(());
    }
    let vk = VerifyingKey::from_bytes(&key.0).map_err(|e| CryptoError::BadPublicKey {
        key: key.to_string(),
        reason: e.to_string(),
    })?;
    if vk.is_weak() {
        return Err(CryptoError::BadPublicKey {
            key: key.to_string(),
            reason: "small-order (weak) key".into(),
        });
    }
    if let Ok(mut set) = cache.lock() {
        if set.len() >= CHECKED_KEYS_MAX {
            set.clear();
        }
        set.insert(key.0);
    }
    Ok(())
}

/// Decode a public key, refusing invalid and small-order (weak) ones ([`check_key`]).
pub(crate) fn verifying_key(key: &PublicKey) -> Result<VerificationKey, CryptoError> {
    check_key(key)?;
    VerificationKey::try_from(key.0).map_err(|e| CryptoError::BadPublicKey {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// Verify one signature (the rules of [ZIP 215]: a canonical `s`, the cofactored equation
/// `[8][s]B = [8]R + [8][k]A`; plus a non-weak key). These are the rules of every check in
/// SettleNet, alone or in a batch, so every validator reaches the same verdict on every
/// signature whatever the batch around it. (Strict, cofactorless verification cannot be
/// batched with the same verdict: a batch accepts, with probability 1/8 per random
/// coefficient, a signature whose `R` carries a small-order component that the strict check
/// refuses; see `mixed_order_r_gets_one_verdict_in_every_batch`.)
///
/// [ZIP 215]: https://zips.z.cash/zip-0215
pub fn verify(key: &PublicKey, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
    verify_with(&verifying_key(key)?, message, signature)
}

/// [`verify`] with the key already decoded (by [`verifying_key`]).
pub(crate) fn verify_with(
    vk: &VerificationKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), CryptoError> {
    let sig = ed25519_consensus::Signature::from(signature.0);
    vk.verify(&sig, message)
        .map_err(|e| CryptoError::BadSignature(e.to_string()))
}

/// Verify many signatures at once, with the same verdict as [`verify`] on each. `Ok` means all
/// are valid; on failure the caller learns only that one is bad (use [`verify`] to find which).
pub fn verify_batch(items: &[(PublicKey, Vec<u8>, Signature)]) -> Result<(), CryptoError> {
    if items.is_empty() {
        return Ok(());
    }
    let mut batch = ed25519_consensus::batch::Verifier::new();
    for (k, message, signature) in items {
        // The weak-key rule is per key, so checking it here gives the batch the same answer
        // as `verify`.
        check_key(k)?;
        batch.queue((
            VerificationKeyBytes::from(k.0),
            ed25519_consensus::Signature::from(signature.0),
            message.as_slice(),
        ));
    }
    batch
        .verify(rand::rngs::OsRng)
        .map_err(|e| CryptoError::BadSignature(e.to_string()))
}

/// Verify every transaction's signature, in one batch. On failure, names the first bad one by
/// index and id.
pub fn verify_transactions(txs: &[SignedTransaction]) -> Result<(), CryptoError> {
    let mut items = Vec::with_capacity(txs.len());
    for t in txs {
        items.push((t.tx.signer, t.tx.signing_message()?, t.signature));
    }
    if verify_batch(&items).is_ok() {
        return Ok(());
    }
    for (i, (key, msg, sig)) in items.iter().enumerate() {
        if let Err(e) = verify(key, msg, sig) {
            return Err(CryptoError::BadSignature(format!(
                "transaction {} (index {i}): {e}",
                txs[i].tx.id
            )));
        }
    }
    // Unreachable under ZIP 215 (a batch agrees with its items), unless the batch's random
    // coefficients hit a 2^-128 event: refusing is the safe answer.
    Err(CryptoError::BadSignature(
        "batch verification failed though each signature verifies alone".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use settlenet_types::{Amount, Operation, Transaction, TxNonce};

    fn tx(key: &Keypair, n: u8) -> SignedTransaction {
        let tx = Transaction::new(
            "test",
            key.public(),
            TxNonce([n; 16]),
            Operation::Issue {
                wallet: settlenet_types::AccountId([1; 16]),
                amount: Amount(u64::from(n)),
            },
            u64::MAX,
        );
        let signature = key.sign(&tx.signing_message().expect("msg"));
        SignedTransaction { tx, signature }
    }

    #[test]
    fn sign_and_verify() {
        let k = Keypair::from_seed([7; 32]);
        let s = k.sign(b"hello");
        assert!(verify(&k.public(), b"hello", &s).is_ok());
        assert!(verify(&k.public(), b"hellO", &s).is_err());
    }

    #[test]
    fn batch_names_the_forged_transaction() {
        let k = Keypair::from_seed([1; 32]);
        let mut txs: Vec<_> = (0..10).map(|i| tx(&k, i)).collect();
        assert!(verify_transactions(&txs).is_ok());
        txs[6].tx.op = Operation::Issue {
            wallet: settlenet_types::AccountId([1; 16]),
            amount: Amount(1_000_000),
        };
        let err = verify_transactions(&txs).expect_err("forged");
        assert!(err.to_string().contains("index 6"), "{err}");
    }

    /// A signature by `key` over `message` whose `R` is `[r]B + T` for a small-order `T`
    /// (mixed order when `T` is not the identity): `s = r + k a` is what an honest signer
    /// would send for `[r]B`, so the cofactorless (strict) equation is off by exactly `T`.
    fn mixed_order_signature(key: &Keypair, message: &[u8], t: usize, seed: u8) -> Signature {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
        use curve25519_dalek::Scalar;
        use sha2::{Digest, Sha512};
        let r = Scalar::from_bytes_mod_order_wide(&[seed.wrapping_add(1); 64]);
        let big_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[t]).compress();
        let public = key.public();
        let mut h = Sha512::new();
        h.update(big_r.as_bytes());
        h.update(public.0);
        h.update(message);
        let k = Scalar::from_hash(h);
        let s = r + k * key.signing.to_scalar();
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(big_r.as_bytes());
        bytes[32..].copy_from_slice(s.as_bytes());
        Signature(bytes)
    }

    #[test]
    fn mixed_order_r_gets_one_verdict_in_every_batch() {
        let key = Keypair::from_seed([9; 32]);
        let other = Keypair::from_seed([10; 32]);
        let message = b"settlenet mixed-order R".to_vec();
        let valid: Vec<(PublicKey, Vec<u8>, Signature)> = (0..140u32)
            .map(|i| {
                let m = i.to_be_bytes().to_vec();
                (other.public(), m.clone(), other.sign(&m))
            })
            .collect();
        let forged_elsewhere = (other.public(), b"x".to_vec(), other.sign(b"y"));
        for t in 1..8 {
            let sig = mixed_order_signature(&key, &message, t, t as u8);
            // A real mixed-order case: strict (cofactorless) verification refuses it.
            let dalek = ed25519_dalek::VerifyingKey::from_bytes(&key.public().0).expect("key");
            assert!(dalek
                .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&sig.0))
                .is_err());
            let alone = verify(&key.public(), &message, &sig).is_ok();
            let item = (key.public(), message.clone(), sig);
            // Every make-up: alone, first, last, in the middle of small and large batches,
            // twice, next to a bad signature; each many times (fresh random coefficients).
            for size in [0usize, 1, 2, 7, 64, 139] {
                for at in [0, size / 2, size] {
                    let mut batch = valid[..size].to_vec();
                    batch.insert(at, item.clone());
                    for _ in 0..16 {
                        assert_eq!(
                            verify_batch(&batch).is_ok(),
                            alone,
                            "T{t} size {size} at {at}"
                        );
                    }
                    let mut twice = batch.clone();
                    twice.push(item.clone());
                    assert_eq!(verify_batch(&twice).is_ok(), alone);
                    let mut with_bad = batch.clone();
                    with_bad.push(forged_elsewhere.clone());
                    assert!(verify_batch(&with_bad).is_err());
                }
            }
            // The rules' verdict on a mixed-order R: valid (ZIP 215), on every node.
            assert!(alone, "T{t}");
        }
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity point is small-order.
        let mut id = [0u8; 32];
        id[0] = 1;
        assert!(verify(&PublicKey(id), b"x", &Signature([0; 64])).is_err());
    }
}
