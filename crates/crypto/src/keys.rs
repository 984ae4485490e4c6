//! Key pairs, signing and verification.

use crate::error::CryptoError;
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

/// Decode a public key, refusing invalid and small-order (weak) ones.
pub(crate) fn verifying_key(key: &PublicKey) -> Result<VerifyingKey, CryptoError> {
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
    Ok(vk)
}

/// Verify one signature strictly.
pub fn verify(key: &PublicKey, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
    verify_strict_with(&verifying_key(key)?, message, signature)
}

/// [`verify`] with the key already decoded (by [`verifying_key`]).
pub(crate) fn verify_strict_with(
    vk: &VerifyingKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), CryptoError> {
    let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
    vk.verify_strict(message, &sig)
        .map_err(|e| CryptoError::BadSignature(e.to_string()))
}

/// Verify many signatures at once. `Ok` means all are valid; on failure the caller learns only
/// that one is bad (use [`verify`] to find which).
pub fn verify_batch(items: &[(PublicKey, Vec<u8>, Signature)]) -> Result<(), CryptoError> {
    if items.is_empty() {
        return Ok(());
    }
    let mut keys = Vec::with_capacity(items.len());
    for (k, _, _) in items {
        keys.push(verifying_key(k)?);
    }
    let messages: Vec<&[u8]> = items.iter().map(|(_, m, _)| m.as_slice()).collect();
    let sigs: Vec<ed25519_dalek::Signature> = items
        .iter()
        .map(|(_, _, s)| ed25519_dalek::Signature::from_bytes(&s.0))
        .collect();
    ed25519_dalek::verify_batch(&messages, &sigs, &keys)
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
    // Batch verification is stricter than single for some malleable inputs; treat as invalid.
    Err(CryptoError::BadSignature(
        "batch verification failed though each signature verifies alone".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use settlenet_types::{Amount, Operation, Transaction, TxId, TX_VERSION};

    fn tx(key: &Keypair, n: u8) -> SignedTransaction {
        let tx = Transaction {
            version: TX_VERSION,
            chain_id: "test".into(),
            id: TxId([n; 16]),
            signer: key.public(),
            op: Operation::Issue {
                wallet: settlenet_types::AccountId([1; 16]),
                amount: Amount(u64::from(n)),
            },
        };
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

    #[test]
    fn weak_keys_are_refused() {
        // The identity point is small-order.
        let mut id = [0u8; 32];
        id[0] = 1;
        assert!(verify(&PublicKey(id), b"x", &Signature([0; 64])).is_err());
    }
}
