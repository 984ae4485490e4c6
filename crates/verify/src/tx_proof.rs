//! Transaction proofs: a transaction's record, its path to its block's records root, that
//! block's leaf in the ledger's history accumulator, and the committed block that certifies
//! the state root the history is part of.

use crate::{err, fail, verify_file_anchor, Result, VerifyError};
use serde::{Deserialize, Serialize};
use settlenet_api::{TxProofFile, TX_PROOF_KIND, TX_PROOF_VERSION};
use settlenet_types::{Genesis, Hash, Height, TxId};

/// What a valid transaction proof proves: the transaction's record and what certifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxProofVerified {
    /// Always true (an invalid proof is an error).
    pub valid: bool,
    /// The transaction.
    pub tx_id: TxId,
    /// The block that executed it.
    pub height: Height,
    /// Its position in that block.
    pub index: u32,
    /// Its result code (`ok`, or why the ledger rejected it).
    pub result: String,
    /// The height of the proving state.
    pub state_height: Height,
    /// Its root.
    pub state_root: Hash,
    /// The height of the block certifying it.
    pub anchor_height: Height,
    /// Validator signatures on that block.
    pub signatures: usize,
}

/// True if `bytes` is a JSON object with a `kind` field, so that one command can verify both
/// kinds of proof file: account proof files have none, so a file with a `kind` is checked as a
/// transaction proof (and one of another kind is refused for its kind, by name).
pub fn is_tx_proof(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Kind {
        kind: Option<serde_json::Value>,
    }
    serde_json::from_slice::<Kind>(bytes).is_ok_and(|k| k.kind.is_some())
}

/// Check a transaction proof file against the genesis alone: the anchor's commit certificate
/// (a quorum of genesis validators), its header hash, the certified state root, the record's
/// path through its block's records and the history accumulator to that root, and the file's
/// summary (id, height, index, result) against the proven record.
pub fn verify_tx_proof(genesis: &Genesis, bytes: &[u8]) -> Result<TxProofVerified> {
    let f: TxProofFile = serde_json::from_slice(bytes)
        .map_err(|e| err!("not a well-formed transaction proof file: {e}"))?;
    if f.kind != TX_PROOF_KIND || f.version != TX_PROOF_VERSION {
        fail!(
            "proof kind {:?} version {} is not supported ({TX_PROOF_KIND} version \
             {TX_PROOF_VERSION} is)",
            f.kind,
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
    let record = f
        .proof
        .verify(&f.state_root)
        .map_err(|e| err!("the history proof does not verify: {e}"))?;
    if f.proof.id != f.tx_id {
        fail!(
            "the proof is for transaction {}, the file names {}",
            f.proof.id,
            f.tx_id
        );
    }
    let proven = (record.height, record.index, record.result.as_str());
    if proven != (f.height, f.index, f.result.as_str()) {
        fail!(
            "the file says transaction {} is at height {} index {} with result {}, the proven \
             record says height {} index {} with result {}",
            f.tx_id,
            f.height,
            f.index,
            f.result,
            proven.0,
            proven.1,
            proven.2
        );
    }
    if record.height > f.state_height {
        fail!(
            "the record is at height {}, above the proving state's height {}",
            record.height,
            f.state_height
        );
    }
    Ok(TxProofVerified {
        valid: true,
        tx_id: f.tx_id,
        height: record.height,
        index: record.index,
        result: f.result,
        state_height: f.state_height,
        state_root: f.state_root,
        anchor_height: f.anchor.header.height,
        signatures: f.anchor.certificate.signatures.len(),
    })
}
