//! Settlement receipts, checked offline: a bank's auditor holds the genesis and the receipt file
//! (`GET /v1/settlement/batches/{id}/receipt`, `settlenet receipt get`) and needs no node.
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

use crate::api::settlement::{RECEIPT_KIND, RECEIPT_VERSION};
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use settlenet_ledger::{
    batch_account_id, window_account_id, AccountDetail, AccountKind, AccountProof, BatchState,
    WindowState,
};
use settlenet_types::ids::format_signed_minor;
use settlenet_types::{
    AccountId, BatchId, BlockHeader, CommitCertificate, Currency, Genesis, Hash, Height,
};

/// A committed block that certifies a state root: its header and commit certificate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// The block's height.
    pub height: Height,
    /// The block's header hash.
    pub hash: Hash,
    /// The header (carries `state_height` and `state_root`).
    pub header: BlockHeader,
    /// 2f+1 validator signatures over the header hash.
    pub certificate: CommitCertificate,
}

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
        bail!(
            "the certified header carries state root {} at height {}, the file claims {} at {}",
            h.state_root,
            h.state_height,
            state_root,
            state_height
        );
    }
    Ok(())
}

/// Check that `block` is a block of `genesis`'s chain committed by a quorum of its validators:
/// its header hashes to the hash the commit certificate signs.
pub fn verify_committed(genesis: &Genesis, block: &Anchor) -> Result<()> {
    let h = &block.header;
    if h.chain_id != genesis.chain_id {
        bail!(
            "block {} is of chain {:?}, the genesis is of {:?}",
            h.height,
            h.chain_id,
            genesis.chain_id
        );
    }
    let hash = h.hash()?;
    if hash != block.hash || h.height != block.height {
        bail!(
            "the block header hashes to {hash} at height {}, the file says {} at height {}",
            h.height,
            block.hash,
            block.height
        );
    }
    settlenet_crypto::verify_certificate(genesis, h.height, &hash, &block.certificate)
        .with_context(|| {
            format!(
                "the commit certificate of block {} does not verify against the genesis",
                h.height
            )
        })?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberProof {
    member: String,
    proof: AccountProof,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptFile {
    version: u16,
    kind: String,
    chain_id: String,
    batch: BatchId,
    currency: Currency,
    window: u64,
    state_height: Height,
    state_root: Hash,
    window_proof: AccountProof,
    batch_proof: AccountProof,
    settlement_proofs: Vec<MemberProof>,
    settled_block: Anchor,
    anchor: Anchor,
}

/// Verify a settlement receipt file against the genesis alone. On success, returns what it
/// proves (batch, window, each member's settlement and settlement-account balance, the anchor).
pub fn verify_receipt(genesis: &Genesis, bytes: &[u8]) -> Result<Value> {
    let f: ReceiptFile =
        serde_json::from_slice(bytes).context("not a well-formed settlement receipt")?;
    if f.version != RECEIPT_VERSION || f.kind != RECEIPT_KIND {
        bail!(
            "receipt kind {:?} version {} is not supported ({RECEIPT_KIND} version {RECEIPT_VERSION} is)",
            f.kind,
            f.version
        );
    }
    if f.chain_id != genesis.chain_id {
        bail!(
            "the receipt is for chain {:?}, the genesis is for {:?}",
            f.chain_id,
            genesis.chain_id
        );
    }
    let exp = genesis
        .exponent(f.currency)
        .ok_or_else(|| anyhow!("currency {} is not held by this network", f.currency))?;
    verify_anchor(genesis, &f.anchor, f.state_height, &f.state_root)?;

    // The window record.
    let window = f
        .window_proof
        .verify(&f.state_root)
        .map_err(|e| anyhow!("the window record's Merkle proof does not verify: {e}"))?;
    if window.id != window_account_id(f.currency, f.window) {
        bail!(
            "the window proof is for account {}, not window {} of {}",
            window.id,
            f.window,
            f.currency
        );
    }
    let AccountDetail::Window(w) = &window.detail else {
        bail!("the proven window account holds no window record");
    };
    if w.state != WindowState::Settled || w.batch != Some(f.batch) {
        bail!(
            "the proven window {} is {:?} with batch {:?}, not settled by batch {}",
            f.window,
            w.state,
            w.batch,
            f.batch
        );
    }
    // The block that settled it: committed, at the height the window record names.
    verify_committed(genesis, &f.settled_block).context("the settling block")?;
    if Some(f.settled_block.header.height) != w.settled_height {
        bail!(
            "the settling block given is at height {}, the window record says it settled at {:?}",
            f.settled_block.header.height,
            w.settled_height
        );
    }
    let net_sum: i128 = w.report.iter().map(|r| r.net).sum();
    let settled_sum: i128 = w.report.iter().map(|r| r.settled).sum();
    if net_sum != 0 || settled_sum != 0 {
        bail!("the proven report does not sum to zero (net {net_sum}, settled {settled_sum})");
    }

    // The batch record.
    let batch = f
        .batch_proof
        .verify(&f.state_root)
        .map_err(|e| anyhow!("the batch record's Merkle proof does not verify: {e}"))?;
    if batch.id != batch_account_id(&f.batch) {
        bail!(
            "the batch proof is for account {}, not batch {}",
            batch.id,
            f.batch
        );
    }
    let AccountDetail::Batch(b) = &batch.detail else {
        bail!("the proven batch account holds no batch record");
    };
    if b.state != BatchState::Settled || b.window != f.window || batch.currency != f.currency {
        bail!(
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
        bail!(
            "the receipt proves {} settlement accounts, the genesis has {} members",
            f.settlement_proofs.len(),
            genesis.members.len()
        );
    }
    let mut members = Vec::new();
    for (m, p) in genesis.members.iter().zip(&f.settlement_proofs) {
        if p.member != m.name {
            bail!(
                "settlement proof {:?} is out of order (expected {:?})",
                p.member,
                m.name
            );
        }
        let a = p.proof.verify(&f.state_root).map_err(|e| {
            anyhow!(
                "{}'s settlement account Merkle proof does not verify: {e}",
                m.name
            )
        })?;
        let want: AccountId = AccountId::derived("settlement", &m.name, f.currency);
        if a.id != want || a.kind != AccountKind::Settlement || a.member != m.id {
            bail!(
                "the proof given for {}'s settlement account is for account {} ({:?})",
                m.name,
                a.id,
                a.kind
            );
        }
        let line = w.report.iter().find(|r| r.member == m.id);
        members.push(json!({
            "member": m.name,
            "net": format_signed_minor(line.map_or(0, |r| r.net), exp),
            "settled": format_signed_minor(line.map_or(0, |r| r.settled), exp),
            "carried": format_signed_minor(line.map_or(0, |r| r.carried), exp),
            "settlement_balance": format_signed_minor(a.balance(), exp),
        }));
    }
    Ok(json!({
        "valid": true,
        "batch": f.batch,
        "currency": f.currency,
        "window": f.window,
        "settled_height": w.settled_height,
        "settled_block_signatures": f.settled_block.certificate.signatures.len(),
        "unwound": b.unwound.len(),
        "members": members,
        "state_height": f.state_height,
        "state_root": f.state_root,
        "anchor_height": f.anchor.height,
        "signatures": f.anchor.certificate.signatures.len(),
    }))
}
