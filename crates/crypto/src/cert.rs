//! Commit certificate verification against the genesis validator set.

use crate::error::CryptoError;
use crate::keys::verify_batch;
use settlenet_types::{CommitCertificate, Genesis, Hash, Height};
use std::collections::BTreeSet;

/// Check that `cert` proves `block_hash` final at `height` on the network of `genesis`: a quorum
/// of distinct genesis validators signed COMMIT for it in one view.
pub fn verify_certificate(
    genesis: &Genesis,
    height: Height,
    block_hash: &Hash,
    cert: &CommitCertificate,
) -> Result<(), CryptoError> {
    let bad = |reason: String| CryptoError::BadCertificate {
        height: height.0,
        reason,
    };
    if cert.height != height {
        return Err(bad(format!("certificate is for height {}", cert.height)));
    }
    if &cert.block_hash != block_hash {
        return Err(bad(format!(
            "certificate is for block {}, not {block_hash}",
            cert.block_hash
        )));
    }
    let mut seen = BTreeSet::new();
    let message = cert.vote_body(&genesis.chain_id).signing_message()?;
    let mut items = Vec::with_capacity(cert.signatures.len());
    for s in &cert.signatures {
        let Some(v) = genesis.validators.get(s.replica.0 as usize) else {
            return Err(bad(format!("signer {} is not a validator", s.replica)));
        };
        if !seen.insert(s.replica) {
            return Err(bad(format!("validator {} signed twice", s.replica)));
        }
        items.push((v.public_key, message.clone(), s.signature));
    }
    if seen.len() < genesis.quorum() {
        return Err(bad(format!(
            "{} signatures, a quorum is {}",
            seen.len(),
            genesis.quorum()
        )));
    }
    verify_batch(&items).map_err(|e| bad(format!("a signature does not verify: {e}")))
}
