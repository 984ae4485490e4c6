//! What a batch file becomes on the ledger, computed without I/O: its derived ids, its chunks
//! and its digest. Running the same file again gives the same plan, which is what makes a
//! re-run resume instead of repeating.

use anyhow::{bail, Result};
use settlenet_batchfile::ParsedBatch;
use settlenet_crypto::Keypair;
use settlenet_types::ids::format_minor;
use settlenet_types::{
    batch_digest, AccountId, BatchId, Currency, Genesis, Hash, MemberId, Operation, PublicKey,
    SettlementInstruction, SettlementPolicy, TxId, TxNonce, BATCH_CHUNKS_MAX, SETTLEMENT_CHUNK_MAX,
};
use std::collections::BTreeMap;

/// A member's name, or `member N` for an id the genesis does not hold.
pub fn name_of(genesis: &Genesis, m: MemberId) -> String {
    genesis
        .members
        .get(usize::from(m.0))
        .map(|x| x.name.clone())
        .unwrap_or_else(|| format!("member {}", m.0))
}

/// Per member: (pays, receives), minor units.
pub fn member_totals(b: &ParsedBatch) -> BTreeMap<MemberId, (u128, u128)> {
    let mut m: BTreeMap<MemberId, (u128, u128)> = BTreeMap::new();
    for (id, x) in &b.totals.per_debtor {
        m.entry(*id).or_default().0 = *x;
    }
    for (id, x) in &b.totals.per_creditor {
        m.entry(*id).or_default().1 = *x;
    }
    m
}

/// `receives - pays` as a signed decimal.
pub fn signed_money(pays: u128, receives: u128, exp: u8) -> String {
    if receives >= pays {
        format_minor(receives - pays, exp)
    } else {
        format!("-{}", format_minor(pays - receives, exp))
    }
}

/// 16 bytes of blake3 over a label and length-prefixed parts.
pub fn derived16(label: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut h = blake3::Hasher::new();
    h.update(label);
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

/// The secret of a clerk's derived transaction ids: a key derived from the clerk's signing
/// key, so only that key's holder can compute them.
pub fn batch_id_secret(key: &Keypair) -> [u8; 32] {
    blake3::derive_key("settlenet/batch-tx-ids/v2", &key.secret_bytes())
}

/// A transaction nonce derived from the batch and the clerk's `secret` ([`batch_id_secret`]):
/// the same clerk, batch, step and number always give the same nonce, hence (with the clerk's
/// key) the same transaction id, so a retry is answered with the first result. Ids are bound
/// to their signer anyway ([`TxId::derive`]); the secret also keeps the next chunks' ids from
/// being predicted by anyone who sees one.
pub fn batch_nonce(secret: &[u8; 32], batch: &BatchId, step: &str, n: u32) -> TxNonce {
    let mut h = blake3::Hasher::new_keyed(secret);
    for p in [&batch.0[..], step.as_bytes(), &n.to_le_bytes()] {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    TxNonce(out)
}

/// The batch id of a file (by its digest) settling window `w`.
pub fn batch_id_of(chain: &str, currency: Currency, w: u64, digest: &[u8; 32]) -> BatchId {
    BatchId(derived16(
        b"settlenet/batch-id/v1\0",
        &[chain.as_bytes(), &currency.0, &w.to_le_bytes(), digest],
    ))
}

/// A valid batch file as the ledger will see it: its instructions (with the creditor wallets
/// resolved at submit), cut into chunks of [`SETTLEMENT_CHUNK_MAX`], and the digest the
/// settlement names. Building it does no I/O.
#[derive(Debug)]
pub struct Plan {
    /// The batch id (given, or derived from the file).
    pub batch: BatchId,
    /// The batch's currency.
    pub currency: Currency,
    /// The window it settles.
    pub window: u64,
    /// Every instruction of the file, in file order.
    pub instructions: Vec<SettlementInstruction>,
    /// [`batch_digest`] of the instructions: the settlement commits to exactly these.
    pub digest: Hash,
    /// The clerk's id secret ([`batch_id_secret`]).
    pub id_secret: [u8; 32],
    /// The clerk's public key: transaction ids are derived from it.
    pub clerk: PublicKey,
}

/// The settlement instructions of `parsed` (a file without problems), with one resolved
/// creditor wallet (or `None`) per instruction.
pub fn instructions_of(
    parsed: &ParsedBatch,
    wallets: Vec<Option<AccountId>>,
) -> Vec<SettlementInstruction> {
    assert_eq!(
        wallets.len(),
        parsed.instructions.len(),
        "one creditor wallet (or none) per instruction"
    );
    parsed
        .instructions
        .iter()
        .zip(wallets)
        .map(|(i, beneficiary)| SettlementInstruction {
            id: i.id.clone(),
            debtor: i.debtor,
            creditor: i.creditor,
            amount: i.amount,
            beneficiary,
        })
        .collect()
}

impl Plan {
    /// The plan of `instructions` for `batch` on `window`; an error if they need more than
    /// [`BATCH_CHUNKS_MAX`] chunks.
    pub fn new(
        batch: BatchId,
        currency: Currency,
        window: u64,
        instructions: Vec<SettlementInstruction>,
        clerk: &Keypair,
    ) -> Result<Plan> {
        let n_chunks = instructions.len().div_ceil(SETTLEMENT_CHUNK_MAX);
        if n_chunks > BATCH_CHUNKS_MAX as usize {
            bail!(
                "{} instructions need {n_chunks} chunks of {SETTLEMENT_CHUNK_MAX}; a batch holds at most {BATCH_CHUNKS_MAX} ({} instructions): split the file",
                instructions.len(),
                BATCH_CHUNKS_MAX as usize * SETTLEMENT_CHUNK_MAX
            );
        }
        let digest = batch_digest(&batch, currency, window, instructions.iter())?;
        Ok(Plan {
            batch,
            currency,
            window,
            instructions,
            digest,
            id_secret: batch_id_secret(clerk),
            clerk: clerk.public(),
        })
    }

    /// Number of chunks (at most [`BATCH_CHUNKS_MAX`]).
    pub fn chunk_count(&self) -> u32 {
        u32::try_from(self.instructions.len().div_ceil(SETTLEMENT_CHUNK_MAX)).unwrap_or(u32::MAX)
    }

    /// The instructions of chunk `k` (empty past the last).
    pub fn chunk(&self, k: u32) -> &[SettlementInstruction] {
        self.instructions
            .chunks(SETTLEMENT_CHUNK_MAX)
            .nth(k as usize)
            .unwrap_or_default()
    }

    /// The nonce of the transaction staging chunk `k`.
    pub fn stage_nonce(&self, k: u32) -> TxNonce {
        batch_nonce(&self.id_secret, &self.batch, "stage", k)
    }

    /// The operation staging chunk `k`.
    pub fn stage_op(&self, k: u32) -> Operation {
        Operation::StageBatch {
            batch: self.batch,
            currency: self.currency,
            window: self.window,
            chunk: k,
            instructions: self.chunk(k).to_vec(),
        }
    }

    /// The nonce of settlement attempt `attempt` under `policy`.
    pub fn settle_nonce(&self, policy: SettlementPolicy, attempt: u32) -> TxNonce {
        batch_nonce(
            &self.id_secret,
            &self.batch,
            &format!("settle-{policy}"),
            attempt,
        )
    }

    /// The transaction id of settlement attempt `attempt` under `policy`, signed valid until
    /// `valid_until_ms`.
    pub fn settle_id(&self, policy: SettlementPolicy, attempt: u32, valid_until_ms: u64) -> TxId {
        TxId::derive(
            &self.clerk,
            &self.settle_nonce(policy, attempt),
            valid_until_ms,
        )
    }

    /// The operation settling the window with every chunk.
    pub fn settle_op(&self, policy: SettlementPolicy) -> Operation {
        Operation::SettleBatch {
            batch: self.batch,
            currency: self.currency,
            window: self.window,
            chunks: self.chunk_count(),
            instructions: self.instructions.len() as u64,
            digest: self.digest,
            policy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use settlenet_types::Amount;

    fn instructions(n: usize) -> Vec<SettlementInstruction> {
        (0..n)
            .map(|i| SettlementInstruction {
                id: format!("i-{i}"),
                debtor: MemberId(0),
                creditor: MemberId(1),
                amount: Amount(100),
                beneficiary: None,
            })
            .collect()
    }

    fn plan(n: usize, window: u64) -> Result<Plan> {
        Plan::new(
            BatchId([7; 16]),
            Currency(*b"USD"),
            window,
            instructions(n),
            &Keypair::from_seed([3; 32]),
        )
    }

    #[test]
    fn chunks_cover_every_instruction_in_order() {
        let max = SETTLEMENT_CHUNK_MAX;
        // (instructions, chunks, size of the last chunk)
        let table = [
            (0, 0, 0),
            (1, 1, 1),
            (max, 1, max),
            (max + 1, 2, 1),
            (3 * max, 3, max),
        ];
        for (n, chunks, last) in table {
            let p = plan(n, 0).expect("within the bound");
            assert_eq!(p.chunk_count(), chunks, "{n} instructions");
            if chunks > 0 {
                assert_eq!(p.chunk(chunks - 1).len(), last, "{n} instructions");
            }
            assert!(p.chunk(chunks).is_empty(), "nothing past the last chunk");
            let joined: Vec<_> = (0..chunks).flat_map(|k| p.chunk(k).to_vec()).collect();
            assert_eq!(joined, p.instructions);
        }
    }

    #[test]
    fn too_many_chunks_is_refused() {
        let most = BATCH_CHUNKS_MAX as usize * SETTLEMENT_CHUNK_MAX;
        assert!(plan(most, 0).is_ok());
        assert!(plan(most + 1, 0).is_err());
    }

    #[test]
    fn ids_and_digest_are_deterministic() {
        let (a, b) = (plan(3, 4).expect("plan"), plan(3, 4).expect("plan"));
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.stage_nonce(0), b.stage_nonce(0));
        assert_ne!(a.stage_nonce(0), a.stage_nonce(1));
        let reject = SettlementPolicy::Reject;
        let until = 1_800_000_000_000;
        assert_eq!(a.settle_id(reject, 0, until), b.settle_id(reject, 0, until));
        assert_ne!(a.settle_id(reject, 0, until), a.settle_id(reject, 1, until));
        assert_ne!(
            a.settle_id(reject, 0, until),
            a.settle_id(SettlementPolicy::Unwind, 0, until)
        );
        assert_ne!(
            a.settle_id(reject, 0, until),
            a.settle_id(reject, 0, until + 1)
        );
        // Another window is another batch content: another digest.
        assert_ne!(plan(3, 5).expect("plan").digest, a.digest);
        // The batch id of a file depends on everything it is derived from.
        let d = [1u8; 32];
        let usd = Currency(*b"USD");
        assert_eq!(batch_id_of("c", usd, 1, &d), batch_id_of("c", usd, 1, &d));
        assert_ne!(batch_id_of("c", usd, 1, &d), batch_id_of("c", usd, 2, &d));
        assert_ne!(batch_id_of("c", usd, 1, &d), batch_id_of("d", usd, 1, &d));
    }

    /// Issue 11, hole 7: derived ids are stable for one clerk (a retry is idempotent) and
    /// cannot be computed without the clerk's key (nobody can claim them first).
    #[test]
    fn derived_transaction_ids_need_the_clerks_key() {
        let clerk = Keypair::from_seed([1; 32]);
        let other = Keypair::from_seed([2; 32]);
        let batch = BatchId([7; 16]);
        let a = batch_nonce(&batch_id_secret(&clerk), &batch, "stage", 1);
        assert_eq!(a, batch_nonce(&batch_id_secret(&clerk), &batch, "stage", 1));
        assert_ne!(a, batch_nonce(&batch_id_secret(&other), &batch, "stage", 1));
        assert_ne!(a, batch_nonce(&batch_id_secret(&clerk), &batch, "stage", 2));
        // The earlier, keyless derivation is not what is used any more.
        assert_ne!(
            a.0,
            derived16(
                b"settlenet/batch-tx/v1\0",
                &[&batch.0, b"stage", &1u32.to_le_bytes()]
            )
        );
    }
}
