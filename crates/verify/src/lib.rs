//! Offline checks of what a node hands out: a settlement receipt
//! (`GET /v1/settlement/batches/{id}/receipt`, `settlenet receipt get`), an account proof
//! (`GET /v1/accounts/{id}/proof`, `settlenet account prove`) and a transaction proof
//! (`GET /v1/transactions/{id}/proof`, `settlenet tx prove`). A bank's auditor holds the
//! genesis and the file and needs no node.
//!
//! # Overview
//!
//! [`verify_receipt`], [`verify_proof`] and [`verify_tx_proof`] parse a file, check every link back to the genesis
//! and return what it proves ([`ReceiptVerified`], [`ProofVerified`]) or a [`VerifyError`]
//! naming the link that fails.
//!
//! # Design
//!
//! Pure: this crate depends on `types`, `crypto`, `ledger` and the serde types of `api`, with
//! no RocksDB, libp2p or tokio, so that a verifier can be built without the node. The file
//! formats are the `settlenet-api` types the node serves (`Receipt`, `ProofFile`, `Anchor`).
//!
//! # Invariants
//!
//! What a valid receipt proves, trusting only the genesis:
//! 1. the anchor block header hashes to the hash its commit certificate signs, and the
//!    certificate carries a quorum (2f+1) of distinct genesis validators' signatures over it;
//! 2. that header certifies `state_root` at `state_height`;
//! 3. the block that settled the batch is committed (its own certificate), at the height the
//!    window record names;
//! 4. under that root: the window record (state `settled`, settled by this batch, with each
//!    member's gross sent and received, net position and settled amount, summing to zero), the
//!    batch record (state `settled`, for that window), and every member's settlement account.
//!
//! A valid account proof proves 1 and 2 for its anchor, and that the account (whose summary
//! the file shows field for field) is in the state under that root. A valid transaction proof
//! proves 1 and 2, and that the ledger's history under that root holds the transaction's
//! record (block, position, result, as the file says): the record of a block at or below the
//! proving state, whether or not it is still in the live idempotency set.

mod proof;
mod tx_proof;

pub use proof::{verify_proof, ProofVerified};
pub use tx_proof::{is_tx_proof, verify_tx_proof, TxProofVerified};

use serde::{Deserialize, Serialize};
pub use settlenet_api::Anchor;
use settlenet_api::{Receipt as ReceiptFile, RECEIPT_KIND, RECEIPT_VERSION};

/// Why a file does not verify: the first link that fails, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VerifyError(pub String);

/// A verification result.
pub type Result<T, E = VerifyError> = std::result::Result<T, E>;

/// Return a [`VerifyError`] with a message.
macro_rules! fail {
    ($($t:tt)*) => {
        return Err(VerifyError(format!($($t)*)))
    };
}
pub(crate) use fail;

/// A [`VerifyError`] with a message.
macro_rules! err {
    ($($t:tt)*) => {
        VerifyError(format!($($t)*))
    };
}
pub(crate) use err;
use settlenet_ledger::{
    batch_account_id, window_account_id, AccountDetail, AccountKind, BatchState, WindowState,
};
use settlenet_types::ids::format_signed_minor;
use settlenet_types::{AccountId, BatchId, Currency, Genesis, Hash, Height};

/// Check that `anchor` is a block of `genesis`'s chain committed by a quorum of its validators
/// and that it certifies `state_root` at `state_height`. Errors say which link fails.
pub fn verify_anchor(
    genesis: &Genesis,
    anchor: &Anchor,
    state_height: Height,
    state_root: &Hash,
) -> Result<()> {
    verify_committed(genesis, anchor)?;
    let h = &anchor.header;
    if h.state_root != *state_root || h.state_height != state_height {
        fail!(
            "the certified header carries state root {} at height {}, the file claims {} at {}",
            h.state_root,
            h.state_height,
            state_root,
            state_height
        );
    }
    Ok(())
}

/// Check that a proof file of chain `chain_id` is of `genesis`'s chain and that its `anchor`
/// certifies `state_root` at `state_height` ([`verify_anchor`]).
pub(crate) fn verify_file_anchor(
    genesis: &Genesis,
    chain_id: &str,
    anchor: &Anchor,
    state_height: Height,
    state_root: &Hash,
) -> Result<()> {
    if chain_id != genesis.chain_id || anchor.header.chain_id != genesis.chain_id {
        fail!(
            "the proof is for chain {:?} (header: {:?}), the genesis is for {:?}",
            chain_id,
            anchor.header.chain_id,
            genesis.chain_id
        );
    }
    verify_anchor(genesis, anchor, state_height, state_root)
}

/// Check that `block` is a block of `genesis`'s chain committed by a quorum of its validators:
/// its header hashes to the hash the commit certificate signs.
pub fn verify_committed(genesis: &Genesis, block: &Anchor) -> Result<()> {
    let h = &block.header;
    if h.chain_id != genesis.chain_id {
        fail!(
            "block {} is of chain {:?}, the genesis is of {:?}",
            h.height,
            h.chain_id,
            genesis.chain_id
        );
    }
    let hash = h
        .hash()
        .map_err(|e| err!("block {}: the header does not encode: {e}", h.height))?;
    if hash != block.hash || h.height != block.height {
        fail!(
            "the block header hashes to {hash} at height {}, the file says {} at height {}",
            h.height,
            block.hash,
            block.height
        );
    }
    settlenet_crypto::verify_certificate(genesis, h.height, &hash, &block.certificate).map_err(
        |e| {
            err!(
                "the commit certificate of block {} does not verify against the genesis: {e}",
                h.height
            )
        },
    )?;
    Ok(())
}

/// What a valid receipt proves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptVerified {
    /// Always true (an invalid receipt is an error).
    pub valid: bool,
    /// The batch.
    pub batch: BatchId,
    /// Its currency.
    pub currency: Currency,
    /// The window it settled.
    pub window: u64,
    /// The height that settled it.
    pub settled_height: Option<Height>,
    /// Validator signatures on the settling block.
    pub settled_block_signatures: usize,
    /// How many members the batch unwound.
    pub unwound: usize,
    /// Each member's settlement and settlement-account balance.
    pub members: Vec<MemberSettled>,
    /// The height of the proven state.
    pub state_height: Height,
    /// Its root.
    pub state_root: Hash,
    /// The height of the block certifying it.
    pub anchor_height: Height,
    /// Validator signatures on that block.
    pub signatures: usize,
}

/// A member's line of a verified receipt, as decimals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSettled {
    /// The member.
    pub member: String,
    /// Its net position in the window.
    pub net: String,
    /// What moved between settlement accounts.
    pub settled: String,
    /// What an unwind carried to the next window.
    pub carried: String,
    /// Its settlement account's balance in the proven state.
    pub settlement_balance: String,
}

/// Verify a settlement receipt file against the genesis alone. On success, returns what it
/// proves (batch, window, each member's settlement and settlement-account balance, the anchor).
pub fn verify_receipt(genesis: &Genesis, bytes: &[u8]) -> Result<ReceiptVerified> {
    let f: ReceiptFile = serde_json::from_slice(bytes)
        .map_err(|e| err!("not a well-formed settlement receipt: {e}"))?;
    if f.version != RECEIPT_VERSION || f.kind != RECEIPT_KIND {
        fail!(
            "receipt kind {:?} version {} is not supported ({RECEIPT_KIND} version {RECEIPT_VERSION} is)",
            f.kind,
            f.version
        );
    }
    if f.chain_id != genesis.chain_id {
        fail!(
            "the receipt is for chain {:?}, the genesis is for {:?}",
            f.chain_id,
            genesis.chain_id
        );
    }
    let exp = genesis
        .exponent(f.currency)
        .ok_or_else(|| err!("currency {} is not held by this network", f.currency))?;
    verify_anchor(genesis, &f.anchor, f.state_height, &f.state_root)?;

    // The window record.
    let window = f
        .window_proof
        .verify(&f.state_root)
        .map_err(|e| err!("the window record's Merkle proof does not verify: {e}"))?;
    if window.id != window_account_id(f.currency, f.window) {
        fail!(
            "the window proof is for account {}, not window {} of {}",
            window.id,
            f.window,
            f.currency
        );
    }
    let AccountDetail::Window(w) = &window.detail else {
        fail!("the proven window account holds no window record");
    };
    if w.state != WindowState::Settled || w.batch != Some(f.batch) {
        fail!(
            "the proven window {} is {:?} with batch {:?}, not settled by batch {}",
            f.window,
            w.state,
            w.batch,
            f.batch
        );
    }
    // The block that settled it: committed, at the height the window record names.
    verify_committed(genesis, &f.settled_block).map_err(|e| err!("the settling block: {e}"))?;
    if Some(f.settled_block.header.height) != w.settled_height {
        fail!(
            "the settling block given is at height {}, the window record says it settled at {:?}",
            f.settled_block.header.height,
            w.settled_height
        );
    }
    let net_sum: i128 = w.report.iter().map(|r| r.net).sum();
    let settled_sum: i128 = w.report.iter().map(|r| r.settled).sum();
    if net_sum != 0 || settled_sum != 0 {
        fail!("the proven report does not sum to zero (net {net_sum}, settled {settled_sum})");
    }

    // The batch record.
    let batch = f
        .batch_proof
        .verify(&f.state_root)
        .map_err(|e| err!("the batch record's Merkle proof does not verify: {e}"))?;
    if batch.id != batch_account_id(&f.batch) {
        fail!(
            "the batch proof is for account {}, not batch {}",
            batch.id,
            f.batch
        );
    }
    let AccountDetail::Batch(b) = &batch.detail else {
        fail!("the proven batch account holds no batch record");
    };
    if b.state != BatchState::Settled || b.window != f.window || batch.currency != f.currency {
        fail!(
            "the proven batch is {:?} for window {} in {}, not settled for window {} in {}",
            b.state,
            b.window,
            batch.currency,
            f.window,
            f.currency
        );
    }

    // Every member's settlement account.
    if f.settlement_proofs.len() != genesis.members.len() {
        fail!(
            "the receipt proves {} settlement accounts, the genesis has {} members",
            f.settlement_proofs.len(),
            genesis.members.len()
        );
    }
    let mut members = Vec::new();
    for (m, p) in genesis.members.iter().zip(&f.settlement_proofs) {
        if p.member != m.name {
            fail!(
                "settlement proof {:?} is out of order (expected {:?})",
                p.member,
                m.name
            );
        }
        let a = p.proof.verify(&f.state_root).map_err(|e| {
            err!(
                "{}'s settlement account Merkle proof does not verify: {e}",
                m.name
            )
        })?;
        let want: AccountId = AccountId::derived("settlement", &m.name, f.currency);
        if a.id != want || a.kind != AccountKind::Settlement || a.member != m.id {
            fail!(
                "the proof given for {}'s settlement account is for account {} ({:?})",
                m.name,
                a.id,
                a.kind
            );
        }
        let line = w.report.iter().find(|r| r.member == m.id);
        members.push(MemberSettled {
            member: m.name.clone(),
            net: format_signed_minor(line.map_or(0, |r| r.net), exp),
            settled: format_signed_minor(line.map_or(0, |r| r.settled), exp),
            carried: format_signed_minor(line.map_or(0, |r| r.carried), exp),
            settlement_balance: format_signed_minor(a.balance(), exp),
        });
    }
    Ok(ReceiptVerified {
        valid: true,
        batch: f.batch,
        currency: f.currency,
        window: f.window,
        settled_height: w.settled_height,
        settled_block_signatures: f.settled_block.certificate.signatures.len(),
        unwound: b.unwound.len(),
        members,
        state_height: f.state_height,
        state_root: f.state_root,
        anchor_height: f.anchor.height,
        signatures: f.anchor.certificate.signatures.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use settlenet_types::genesis::GENESIS_VERSION;
    use settlenet_types::ConsensusParams;

    fn genesis() -> Genesis {
        Genesis {
            version: GENESIS_VERSION,
            chain_id: "verify-test".into(),
            genesis_time_ms: 0,
            currencies: vec![],
            members: vec![],
            validators: vec![],
            accounts: vec![],
            consensus: ConsensusParams::default(),
        }
    }

    #[test]
    fn files_that_are_not_receipts_or_proofs_are_refused_by_name() {
        let g = genesis();
        // (what, bytes, the start of the error)
        let table: [(&str, &[u8], &str); 4] = [
            (
                "receipt: not JSON",
                b"not json",
                "not a well-formed settlement receipt",
            ),
            (
                "receipt: empty object",
                b"{}",
                "not a well-formed settlement receipt",
            ),
            (
                "proof: not JSON",
                b"not json",
                "not a well-formed proof file",
            ),
            ("proof: empty object", b"{}", "not a well-formed proof file"),
        ];
        for (what, bytes, expected) in table {
            let err = if what.starts_with("receipt") {
                verify_receipt(&g, bytes).err()
            } else {
                verify_proof(&g, bytes).err()
            };
            let err = err.unwrap_or_else(|| panic!("{what}: accepted"));
            assert!(err.0.starts_with(expected), "{what}: {err}");
        }
    }
}
