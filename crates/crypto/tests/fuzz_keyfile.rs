//! Fuzz targets: key files as read from disk (`KeyFile::read`: size cap, JSON, kind, algorithm,
//! secret/public agreement), and signature verification on keys and signatures that arrive
//! from outside (a transaction's signer and signature are whatever a client sent).
//!
//! For every input: no panic, no absurd allocation, a typed error or a key; a key read back
//! from a file is the key the file names.
//!
//! Seeds: `fuzz/corpus/crypto_keyfile/` (a key file of each kind, as `KeyFile::write` writes
//! them) and `fuzz/corpus/crypto_signature/` (valid key, message and signature triples).

use settlenet_crypto::{verify, verify_batch, KeyFile, KeyKind, Keypair};
use settlenet_fuzz::Target;
use settlenet_types::{PublicKey, Signature};

fn key_files() -> Vec<(String, Vec<u8>)> {
    [
        KeyKind::Validator,
        KeyKind::Network,
        KeyKind::Staff,
        KeyKind::User,
    ]
    .iter()
    .enumerate()
    .map(|(i, kind)| {
        let key = Keypair::from_seed([i as u8 + 1; 32]);
        let mut json = serde_json::to_vec_pretty(&KeyFile::new(*kind, &key)).expect("json");
        json.push(b'\n');
        (format!("{kind:?}.key").to_lowercase(), json)
    })
    .collect()
}

#[test]
fn fuzz_key_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("fuzz.key");
    Target::new("crypto_keyfile")
        .samples(key_files())
        .tokens(&[
            "\"kind\"",
            "\"validator\"",
            "\"network\"",
            "\"staff\"",
            "\"user\"",
            "\"algorithm\"",
            "\"ed25519\"",
            "\"public_key\"",
            "\"secret_key\"",
        ])
        .run(|bytes| {
            std::fs::write(&path, bytes).expect("write the input");
            if let Ok((file, key)) = KeyFile::read(&path, None) {
                settlenet_fuzz::accepted();
                assert_eq!(
                    key.public(),
                    file.public_key,
                    "a key file read names its key"
                );
                // And the kind check is only a check.
                assert!(KeyFile::read(&path, Some(file.kind)).is_ok());
            }
        });
}

/// Bytes as (public key, signature, message): the first 32 bytes, the next 64, the rest.
fn split(bytes: &[u8]) -> Option<(PublicKey, Signature, &[u8])> {
    let key: [u8; 32] = bytes.get(..32)?.try_into().ok()?;
    let signature: [u8; 64] = bytes.get(32..96)?.try_into().ok()?;
    Some((PublicKey(key), Signature(signature), &bytes[96..]))
}

#[test]
fn fuzz_signature() {
    let samples = (0..4u8)
        .map(|i| {
            let key = Keypair::from_seed([i + 9; 32]);
            let message = format!("settlenet fuzz message {i}").into_bytes();
            let signature = key.sign(&message);
            let mut bytes = key.public().0.to_vec();
            bytes.extend_from_slice(&signature.0);
            bytes.extend_from_slice(&message);
            (format!("triple-{i}.bin"), bytes)
        })
        .collect();
    Target::new("crypto_signature")
        .samples(samples)
        .run(|bytes| {
            let Some((key, signature, message)) = split(bytes) else {
                return;
            };
            let alone = verify(&key, message, &signature);
            let batch = verify_batch(&[(key, message.to_vec(), signature)]);
            // A signature strict verification accepts, batch verification accepts too.
            if alone.is_ok() {
                settlenet_fuzz::accepted();
                assert!(batch.is_ok(), "strict accepts, batch refuses: {batch:?}");
            }
        });
}
