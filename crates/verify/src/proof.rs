//! Account proofs: an account, its Merkle path to a state root, and the committed block that
//! certifies that root.

use crate::{err, fail, verify_file_anchor, Result, VerifyError};
use serde::{Deserialize, Serialize};
use settlenet_api::{AccountView, ProofFile, PROOF_VERSION};
use settlenet_types::{Genesis, Hash, Height};

/// What a valid account proof proves: the account and what certifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofVerified {
    /// Always true (an invalid proof is an error).
    pub valid: bool,
    /// The proven account.
    pub account: AccountView,
    /// The height of the proven state.
    pub state_height: Height,
    /// Its root.
    pub state_root: Hash,
    /// The height of the block certifying it.
    pub anchor_height: Height,
    /// Validator signatures on that block.
    pub signatures: usize,
}

/// The `account` of a proof file exactly as written.
#[derive(Deserialize)]
struct Summary {
    account: serde_json::Value,
}

/// Check a proof file against the genesis alone: the anchor's commit certificate (a quorum of
/// genesis validators), its header hash, the certified state root, the Merkle path from the
/// account to that root, and the file's account summary field for field.
pub fn verify_proof(genesis: &Genesis, bytes: &[u8]) -> Result<ProofVerified> {
    let malformed = |e: serde_json::Error| err!("not a well-formed proof file: {e}");
    let f: ProofFile = serde_json::from_slice(bytes).map_err(malformed)?;
    if f.version != PROOF_VERSION {
        fail!(
            "proof file version {} is not supported ({PROOF_VERSION} is)",
            f.version
        );
    }
    verify_file_anchor(
        genesis,
        &f.chain_id,
        &f.anchor,
        f.state_height,
        &f.state_root,
    )?;
    let account = f
        .proof
        .verify(&f.state_root)
        .map_err(|e| err!("the Merkle proof does not verify: {e}"))?;
    if account.id != f.account_id {
        fail!(
            "the proof is for account {}, the file names {}",
            account.id,
            f.account_id
        );
    }
    let shown = AccountView::of(genesis, &account);
    // The summary as written, field for field (an extra field is a mismatch too).
    let written = serde_json::from_slice::<Summary>(bytes)
        .map_err(malformed)?
        .account;
    let expected = serde_json::to_value(&shown).map_err(|e| VerifyError(e.to_string()))?;
    if expected != written {
        fail!("the account summary in the file does not match the proven account");
    }
    Ok(ProofVerified {
        valid: true,
        account: shown,
        state_height: f.state_height,
        state_root: f.state_root,
        anchor_height: f.anchor.header.height,
        signatures: f.anchor.certificate.signatures.len(),
    })
}
