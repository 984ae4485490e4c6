//! Signature verification cost on this machine: one by one (`verify`) and in batches
//! (`verify_batch`, the path blocks and API batches take), in µs per signature.
//!
//! `cargo run --release -p settlenet-crypto --example verify_bench [-- SIGNATURES]`

use settlenet_crypto::{verify, verify_batch, Keypair};
use settlenet_types::{PublicKey, Signature};
use std::time::Instant;

fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    // Many signers, as in a block of payments from different wallets.
    let keys: Vec<Keypair> = (0..256u32)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            Keypair::from_seed(seed)
        })
        .collect();
    let items: Vec<(PublicKey, Vec<u8>, Signature)> = (0..total)
        .map(|i| {
            let k = &keys[i % keys.len()];
            let m = format!("settlenet payment {i}").into_bytes();
            let s = k.sign(&m);
            (k.public(), m, s)
        })
        .collect();
    let t = Instant::now();
    for (k, m, s) in &items {
        verify(k, m, s).expect("valid");
    }
    let single = t.elapsed().as_secs_f64() * 1e6 / total as f64;
    println!("verify, one by one: {single:.1} µs per signature ({total} signatures)");
    // For comparison: ed25519-dalek's strict single check (the rule before ZIP 215).
    let decoded: Vec<_> = items
        .iter()
        .map(|(k, m, s)| {
            (
                ed25519_dalek::VerifyingKey::from_bytes(&k.0).expect("key"),
                m,
                ed25519_dalek::Signature::from_bytes(&s.0),
            )
        })
        .collect();
    let t = Instant::now();
    for (k, m, s) in &decoded {
        k.verify_strict(m, s).expect("valid");
    }
    let strict = t.elapsed().as_secs_f64() * 1e6 / total as f64;
    println!("ed25519-dalek verify_strict, keys decoded: {strict:.1} µs per signature");
    for batch in [16usize, 128, 1024] {
        let t = Instant::now();
        for chunk in items.chunks(batch) {
            verify_batch(chunk).expect("valid");
        }
        let per = t.elapsed().as_secs_f64() * 1e6 / total as f64;
        println!("verify_batch of {batch}: {per:.1} µs per signature");
    }
}
