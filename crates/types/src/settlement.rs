//! Settlement batches: the interbank instructions a clearing operator submits with a batch, the
//! policy for a member that cannot cover its debit, and the digest that pins a batch's content.

use crate::codec::{encode, Domain};
use crate::error::TypesError;
use crate::ids::{AccountId, Amount, BatchId, Currency, Hash, MemberId};
use serde::{Deserialize, Serialize};

/// Most instructions in one `StageBatch` chunk. 2,000 instructions encode to about 150 KB, far
/// below the 32 MiB message limit, so a block of chunks stays reasonable.
pub const SETTLEMENT_CHUNK_MAX: usize = 2_000;

/// Most chunks in one batch (numbered `0..chunks`): 64 x 2,000 = 128,000 instructions, enough
/// for a 100,000-instruction file.
pub const BATCH_CHUNKS_MAX: u32 = 64;

/// Longest instruction id: ISO 20022 `Max35Text` (e.g. a pacs.008 `EndToEndId` or `TxId`).
pub const INSTRUCTION_ID_MAX_CHARS: usize = 35;

/// Whether `text` is an ISO 20022 `Max35Text` as SettleNet accepts it: 1 to 35 characters,
/// none a control character (instruction ids, charge references).
pub fn is_max35_text(text: &str) -> bool {
    let n = text.chars().count();
    (1..=INSTRUCTION_ID_MAX_CHARS).contains(&n) && !text.chars().any(char::is_control)
}

/// One interbank instruction carried by a settlement batch: `debtor` owes `creditor` `amount`
/// (e.g. one `CdtTrfTxInf` of a pacs.008 or pacs.009 file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementInstruction {
    /// The sender's reference: ISO 20022 `Max35Text`, 1 to 35 characters, no control characters.
    pub id: String,
    /// The member that pays.
    pub debtor: MemberId,
    /// The member that receives.
    pub creditor: MemberId,
    /// How much, in minor units of the batch's currency.
    pub amount: Amount,
    /// A wallet at `creditor` credited when the batch settles (the creditor's float is debited:
    /// e-money issued against the funds received); `None`: the creditor keeps the funds.
    // `default` only: a field skipped when `None` would break the binary (bincode) decoding,
    // which has no field names; JSON shows `"beneficiary": null`.
    #[serde(default)]
    pub beneficiary: Option<AccountId>,
}

impl SettlementInstruction {
    /// Whether `id` is a valid ISO 20022 `Max35Text`: 1 to 35 characters, none a control
    /// character.
    pub fn id_is_valid(&self) -> bool {
        is_max35_text(&self.id)
    }
}

/// What a settlement does with a member that cannot cover its net debit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
pub enum SettlementPolicy {
    /// The whole batch is rejected (`settlement_shortfall`), naming each short member and its
    /// shortfall; nothing moves.
    Reject,
    /// The short members' obligations are removed (repeatedly, until every remaining debtor
    /// covers), the rest settles, and the removed obligations are carried to the currency's
    /// open window.
    Unwind,
}

impl std::fmt::Display for SettlementPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SettlementPolicy::Reject => "reject",
            SettlementPolicy::Unwind => "unwind",
        })
    }
}

impl std::str::FromStr for SettlementPolicy {
    type Err = TypesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "reject" => Ok(SettlementPolicy::Reject),
            "unwind" => Ok(SettlementPolicy::Unwind),
            other => Err(TypesError::Parse {
                field: "settlement policy",
                reason: format!("{other:?} is neither \"reject\" nor \"unwind\""),
            }),
        }
    }
}

/// The digest `SettleBatch` must name: `SettlementBatch`-domain blake3 over
/// `encode((batch, currency, window))` followed by `encode(instruction)` of every instruction
/// in order (chunk 0 first, each chunk in its order). Each encoding is self-delimiting, so the
/// concatenation is unambiguous: the digest pins exactly which instructions settle.
pub fn batch_digest<'a>(
    batch: &BatchId,
    currency: Currency,
    window: u64,
    instructions: impl IntoIterator<Item = &'a SettlementInstruction>,
) -> Result<Hash, TypesError> {
    let mut h = blake3::Hasher::new();
    h.update(Domain::SettlementBatch.tag());
    h.update(&[0]);
    h.update(&encode("batch header", &(batch, currency, window))?);
    for i in instructions {
        h.update(&encode("settlement instruction", i)?);
    }
    Ok(Hash(*h.finalize().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instr(id: &str, amount: u64) -> SettlementInstruction {
        SettlementInstruction {
            id: id.into(),
            debtor: MemberId(0),
            creditor: MemberId(1),
            amount: Amount(amount),
            beneficiary: None,
        }
    }

    #[test]
    fn instruction_ids_are_max35text() {
        assert!(instr("E2E-1", 1).id_is_valid());
        assert!(instr(&"x".repeat(35), 1).id_is_valid());
        assert!(instr(&"é".repeat(35), 1).id_is_valid());
        assert!(!instr(&"x".repeat(36), 1).id_is_valid());
        assert!(!instr("", 1).id_is_valid());
        assert!(!instr("a\nb", 1).id_is_valid());
    }

    #[test]
    fn the_digest_pins_content_order_and_header() {
        let b = BatchId([1; 16]);
        let usd: Currency = "USD".parse().expect("usd");
        let a = [instr("a", 1), instr("b", 2)];
        let d = |b: &BatchId, w: u64, xs: &[SettlementInstruction]| {
            batch_digest(b, usd, w, xs).expect("digest")
        };
        let base = d(&b, 3, &a);
        assert_eq!(base, d(&b, 3, &a));
        assert_ne!(base, d(&b, 3, &[a[1].clone(), a[0].clone()]));
        assert_ne!(base, d(&b, 3, &a[..1]));
        assert_ne!(base, d(&b, 4, &a));
        assert_ne!(base, d(&BatchId([2; 16]), 3, &a));
        assert_ne!(base, d(&b, 3, &[instr("a", 1), instr("b", 3)]));
    }

    #[test]
    fn instructions_round_trip_through_the_canonical_encoding() {
        // With and without a beneficiary: a field skipped when serialized would leave the
        // binary decoder one field short (nodes could not decode a gossiped `stage_batch`).
        let mut with = instr("w", 5);
        with.beneficiary = Some(AccountId([7; 16]));
        for i in [instr("n", 1), with] {
            let bytes = encode("instruction", &i).expect("encode");
            let back: SettlementInstruction =
                crate::codec::decode("instruction", &bytes).expect("decode");
            assert_eq!(back, i);
        }
    }

    #[test]
    fn policies_parse() {
        assert_eq!(
            "unwind".parse::<SettlementPolicy>().ok(),
            Some(SettlementPolicy::Unwind)
        );
        assert!("maybe".parse::<SettlementPolicy>().is_err());
    }
}
