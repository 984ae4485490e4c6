//! Commit certificate verification against the genesis validator set.

use crate::error::CryptoError;
use crate::keys::verify_batch;
use crate::verifier::SignatureVerifier;
use settlenet_types::{CommitCertificate, Genesis, Hash, Height, PublicKey, Signature};
use std::collections::BTreeSet;

/// Check that `cert` proves `block_hash` final at `height` on the network of `genesis`: a quorum
/// of distinct genesis validators signed COMMIT for it in one view. The signatures are checked
/// in one batch.
pub fn verify_certificate(
    genesis: &Genesis,
    height: Height,
    block_hash: &Hash,
    cert: &CommitCertificate,
) -> Result<(), CryptoError> {
    let (message, signers) = certificate_signers(genesis, height, block_hash, cert)?;
    let items: Vec<_> = signers
        .into_iter()
        .map(|(key, signature)| (key, message.clone(), signature))
        .collect();
    verify_batch(&items).map_err(|e| bad(height, format!("a signature does not verify: {e}")))
}

/// [`verify_certificate`] with the same structural checks, but every signature checked one by
/// one by `verifier` (the same verdicts as the batch: both follow the rules of
/// [`crate::verify`]). For callers that have already verified these
/// signatures individually, e.g. through a memoising verifier.
pub fn verify_certificate_with(
    genesis: &Genesis,
    height: Height,
    block_hash: &Hash,
    cert: &CommitCertificate,
    verifier: &dyn SignatureVerifier,
) -> Result<(), CryptoError> {
    let (message, signers) = certificate_signers(genesis, height, block_hash, cert)?;
    for (key, signature) in &signers {
        verifier
            .verify(key, &message, signature)
            .map_err(|e| bad(height, format!("a signature does not verify: {e}")))?;
    }
    Ok(())
}

fn bad(height: Height, reason: String) -> CryptoError {
    CryptoError::BadCertificate {
        height: height.0,
        reason,
    }
}

/// The COMMIT message a certificate's signatures cover, and each signer's (key, signature).
type Signers = (Vec<u8>, Vec<(PublicKey, Signature)>);

/// The structural checks of a certificate; returns the signed message and (key, signature) of
/// each signer.
fn certificate_signers(
    genesis: &Genesis,
    height: Height,
    block_hash: &Hash,
    cert: &CommitCertificate,
) -> Result<Signers, CryptoError> {
    if cert.height != height {
        return Err(bad(
            height,
            format!("certificate is for height {}", cert.height),
        ));
    }
    if &cert.block_hash != block_hash {
        return Err(bad(
            height,
            format!(
                "certificate is for block {}, not {block_hash}",
                cert.block_hash
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    let message = cert.vote_body(&genesis.chain_id).signing_message()?;
    let mut signers = Vec::with_capacity(cert.signatures.len());
    for s in &cert.signatures {
        let Some(v) = genesis.validators.get(s.replica.0 as usize) else {
            return Err(bad(
                height,
                format!("signer {} is not a validator", s.replica),
            ));
        };
        if !seen.insert(s.replica) {
            return Err(bad(height, format!("validator {} signed twice", s.replica)));
        }
        signers.push((v.public_key, s.signature));
    }
    if seen.len() < genesis.quorum() {
        return Err(bad(
            height,
            format!(
                "{} signatures, a quorum is {}",
                seen.len(),
                genesis.quorum()
            ),
        ));
    }
    Ok((message, signers))
}
