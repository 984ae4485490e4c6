//! Transactions: what clients sign and submit.

use crate::codec::{encode, Domain};
use crate::error::TypesError;
use crate::ids::{
    AccountId, Amount, BatchId, ChargeId, Currency, Hash, HoldId, MemberId, PublicKey, Signature,
    TxId, TxNonce,
};
use crate::settlement::{SettlementInstruction, SettlementPolicy};
use serde::{Deserialize, Serialize};

/// The transaction format version this code writes and accepts: 2 added
/// [`Transaction::valid_until_ms`], 3 [`Transaction::nonce`] (ids derived from the signer),
/// 4 bound the validity into the id ([`TxId::derive`]).
pub const TX_VERSION: u16 = 4;

/// The furthest ahead a transaction's `valid_until_ms` may be: one hour past the consensus time
/// of the block that executes it (at admission, past the node's clock). A transaction is thus
/// live for at most an hour, and the ledger remembers its id only while it is live (bounded
/// idempotency): the set of remembered ids is at most one hour of transactions, whatever the
/// length of history.
pub const TX_VALIDITY_MAX_MS: u64 = 60 * 60 * 1000;

/// Longest chain id accepted anywhere.
pub const CHAIN_ID_MAX_LEN: usize = 64;

/// Largest signed transaction, encoded, that a node admits (384 KiB): the largest legitimate
/// one, a `stage_batch` chunk of `SETTLEMENT_CHUNK_MAX` instructions with the longest ids,
/// fits (about 346 KiB, pinned by a test); every block holds at least one.
pub const TX_MAX_BYTES: usize = 384 * 1024;

/// A transaction body: what the signer signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// Format version ([`TX_VERSION`]).
    pub version: u16,
    /// The chain this transaction is meant for: a transaction signed for one network is refused
    /// by every other.
    pub chain_id: String,
    /// `TxId::derive(signer, nonce, valid_until_ms)`: a retry with the same id and body
    /// returns the first result. A transaction whose id is not derived so has no signing message (it cannot be
    /// signed or verified, [`Transaction::check_id`]).
    pub id: TxId,
    /// Client-chosen; with `signer` it gives `id`.
    pub nonce: TxNonce,
    /// The key that signs; the ledger checks it is allowed to perform `op`.
    pub signer: PublicKey,
    /// What to do.
    pub op: Operation,
    /// Consensus time (ms since the Unix epoch) after which the transaction can no longer
    /// take effect: a block stamped later refuses it (`expired`), and a node refuses it at
    /// admission once its clock has passed it. A client that retries under a new id after this
    /// time knows the first can never execute. At most [`TX_VALIDITY_MAX_MS`] ahead of the
    /// executing block's time (`validity_too_long` otherwise). Part of the id: a retry signed
    /// again with another validity is another transaction.
    pub valid_until_ms: u64,
}

/// The operations the ledger executes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Open a wallet at `issuer` for a user's key. Signed by a staff key of `issuer` with the
    /// `issuer` role.
    CreateWallet {
        /// The new wallet's id (client-chosen, must be unused).
        account: AccountId,
        /// The member that issues the wallet.
        issuer: MemberId,
        /// The wallet owner's key: it signs transfers out of the wallet.
        owner: PublicKey,
        /// The wallet's currency.
        currency: Currency,
    },
    /// Issue e-money into a wallet against the issuer's float. Signed by a staff key of the
    /// wallet's issuer with the `issuer` role.
    Issue {
        /// The wallet credited.
        wallet: AccountId,
        /// How much, in minor units.
        amount: Amount,
    },
    /// Move money from one wallet to another. Signed by the owner of `from`.
    Transfer {
        /// The wallet debited.
        from: AccountId,
        /// The wallet credited.
        to: AccountId,
        /// How much, in minor units.
        amount: Amount,
    },
    // ---- Wallets by phone, merchants and holds. New variants go at the end: the variant index is part of signed bytes. ----
    /// Open a phone-number wallet at `issuer`. Signed by a staff key of `issuer` with the
    /// `issuer` role. One wallet per `(alias, currency)`.
    RegisterWallet {
        /// The new wallet's id (client-chosen, must be unused).
        account: AccountId,
        /// The member that issues the wallet.
        issuer: MemberId,
        /// `HMAC-SHA256(consortium key, E.164 number)` (see [`crate::phone`]); never the number.
        alias: Hash,
        /// Which consortium key computed `alias`.
        alias_key_version: u16,
        /// The wallet owner's key: it signs payments out of the wallet.
        owner: PublicKey,
        /// The wallet's currency.
        currency: Currency,
        /// KYC tier: selects the per-transaction and daily limits.
        tier: u8,
    },
    /// Take e-money out of a wallet back into the issuer's float (cash-out). Signed by a staff
    /// key of the wallet's issuer with the `issuer` role.
    Redeem {
        /// The wallet debited.
        wallet: AccountId,
        /// How much, in minor units.
        amount: Amount,
    },
    /// Pay a wallet or a merchant, addressed by account or by phone alias. Signed by the owner
    /// of `from`. Across members, the same step records the interbank obligation.
    Pay {
        /// The wallet debited.
        from: AccountId,
        /// Who is credited.
        to: Payee,
        /// How much the payee receives, in minor units.
        amount: Amount,
        /// An optional fee, paid by the payer to its issuer on top of `amount`.
        fee: Option<Amount>,
    },
    /// Open a merchant account at an acquiring member. Signed by a staff key of `acquirer` with
    /// the `acquirer` role.
    RegisterMerchant {
        /// The new account's id (client-chosen, must be unused).
        account: AccountId,
        /// The acquiring member.
        acquirer: MemberId,
        /// The merchant's key: it may capture, void and refund.
        owner: PublicKey,
        /// The account's currency.
        currency: Currency,
    },
    /// Put a hold (pending debit) on a wallet in favour of a merchant, expiring by consensus
    /// time. Signed by the owner of `from`.
    Authorize {
        /// The new hold's id (client-chosen, must be unused).
        hold: HoldId,
        /// The wallet debited.
        from: AccountId,
        /// The merchant credited on capture.
        merchant: AccountId,
        /// How much is held, in minor units.
        amount: Amount,
        /// The hold expires at the first block whose timestamp is at or after the authorizing
        /// block's timestamp plus this.
        timeout_ms: u64,
    },
    /// Post all or part of a hold to the merchant and release the rest. Signed by the
    /// merchant's key or by an acquirer-role staff key of its acquirer.
    Capture {
        /// The hold.
        hold: HoldId,
        /// How much to post, at most the held amount.
        amount: Amount,
    },
    /// Release a hold. Signed like `Capture`.
    Void {
        /// The hold.
        hold: HoldId,
    },
    /// Return captured money to the payer. Signed like `Capture`. Refunds of one capture never
    /// exceed what it captured.
    Refund {
        /// The id of the `Capture` transaction refunded.
        capture: TxId,
        /// How much, in minor units.
        amount: Amount,
    },
    // ---- Clearing and settlement (appended; the variant index is signed). ----
    /// Close the currency's open settlement window and open the next (`window + 1`). Signed by a
    /// staff key with the `clearing` role. Naming the window makes a retry under a new id
    /// harmless: it no longer names the open window.
    CloseWindow {
        /// The currency.
        currency: Currency,
        /// The window to close: must be the currency's open window.
        window: u64,
    },
    /// Stage one chunk of a settlement batch's instructions (a large file is sent in chunks
    /// `0..n`, each at most once, each at most `SETTLEMENT_CHUNK_MAX` instructions). Nothing
    /// moves until `SettleBatch`. Signed by a `clearing` staff key.
    StageBatch {
        /// The batch (client-chosen id).
        batch: BatchId,
        /// The batch's currency.
        currency: Currency,
        /// The closed window the batch settles.
        window: u64,
        /// The chunk number, below `BATCH_CHUNKS_MAX`.
        chunk: u32,
        /// The chunk's instructions, 1 to `SETTLEMENT_CHUNK_MAX`.
        instructions: Vec<SettlementInstruction>,
    },
    /// Settle a closed window, with the batch's staged instructions, atomically. Signed by a
    /// `clearing` staff key. `chunks`, `instructions` and `digest` must match what was staged
    /// (`settlement::batch_digest`), so exactly the submitted file settles.
    SettleBatch {
        /// The batch (client-chosen id; may have no staged chunk).
        batch: BatchId,
        /// The batch's currency.
        currency: Currency,
        /// The closed window settled.
        window: u64,
        /// Number of chunks staged (`0..chunks`).
        chunks: u32,
        /// Number of instructions staged in all.
        instructions: u64,
        /// `settlement::batch_digest` of the staged instructions.
        digest: Hash,
        /// What to do with a member that cannot cover its net debit.
        policy: SettlementPolicy,
    },
    /// Discard a staging batch's chunks; its window returns to `Closed`. Signed by a `clearing`
    /// staff key. Only before it settled (nothing has moved yet).
    AbortBatch {
        /// The batch.
        batch: BatchId,
    },
    /// Credit a member's settlement account (e.g. on confirmation of a central-bank transfer),
    /// against the member's reserve account. Signed by a `clearing` staff key.
    FundSettlement {
        /// The member funded.
        member: MemberId,
        /// The currency.
        currency: Currency,
        /// How much, in minor units.
        amount: Amount,
    },
    /// Debit a member's settlement account (funds returned to it at the central bank), crediting
    /// its reserve account. Signed by a `clearing` staff key.
    WithdrawSettlement {
        /// The member.
        member: MemberId,
        /// The currency.
        currency: Currency,
        /// How much, in minor units; at most the settlement account's balance.
        amount: Amount,
    },
    /// Set (or with `None` remove) a member's net debit cap in a currency: its unsettled net
    /// debit never exceeds it. Signed by a `clearing` staff key.
    SetNetDebitCap {
        /// The member.
        member: MemberId,
        /// The currency.
        currency: Currency,
        /// The cap in minor units; `None`: unlimited.
        cap: Option<Amount>,
    },
    // ---- Observer nodes (appended; the variant index is signed). ----
    /// Register a non-validator observer node (an integrator's node that syncs blocks and
    /// serves reads): validators admit its libp2p peer id. Signed by a staff key (any role) of
    /// `member`, its sponsor. Refused if the peer id is a validator's, already registered and
    /// active, or beyond the ledger's observer limits. Re-registering a removed observer
    /// reactivates it (under the new sponsor).
    RegisterObserver {
        /// The sponsoring member.
        member: MemberId,
        /// The node's libp2p peer id, as libp2p prints it (base58btc, 40 to 64 characters:
        /// [`crate::observer::check_peer_id`]).
        peer_id: String,
        /// A label for people, 1 to 64 printable ASCII characters
        /// ([`crate::observer::check_observer_name`]).
        name: String,
    },
    /// Remove an active observer: validators stop admitting its peer id. Signed by a staff
    /// key (any role) of `member`, which must be the observer's sponsor.
    RemoveObserver {
        /// The sponsoring member.
        member: MemberId,
        /// The observer's libp2p peer id.
        peer_id: String,
    },
    // ---- Charge requests (appended; the variant index is signed). ----
    /// A merchant asks a payer to pay `amount`: a charge request, pending until the payer
    /// approves it (`ApproveCharge`, which places a hold), declines it, the merchant cancels it,
    /// or consensus time reaches its expiry. Signed by the merchant's key or an acquirer-role
    /// staff key of its acquirer.
    CreateCharge {
        /// The request's id (client-chosen, must be unused).
        charge: ChargeId,
        /// The merchant account paid on capture.
        merchant: AccountId,
        /// The amount asked, in minor units of the merchant's currency.
        amount: Amount,
        /// The merchant's reference (order or invoice number): ISO 20022 `Max35Text`, 1 to 35
        /// characters, no control character. Exported as the pain.013 `EndToEndId`.
        reference: String,
        /// The one wallet allowed to approve or decline (by account, or by phone alias in the
        /// merchant's currency, resolved when the request executes); `None`: any wallet in the
        /// merchant's currency may approve (a QR code on a counter).
        payer: Option<ChargePayer>,
        /// The request expires at the first block whose timestamp is at or after the creating
        /// block's timestamp plus this (1 ms to `CHARGE_TIMEOUT_MS_MAX`).
        timeout_ms: u64,
        /// The timeout of the hold an approval places (1 ms to `HOLD_TIMEOUT_MS_MAX`): how long
        /// the merchant has to capture.
        hold_timeout_ms: u64,
    },
    /// The payer approves a pending charge request: a hold of exactly the requested amount on
    /// `from` in favour of the merchant (as `Authorize`). Signed by the owner of `from`.
    ApproveCharge {
        /// The request.
        charge: ChargeId,
        /// The hold's id (client-chosen, must be unused); the merchant captures it.
        hold: HoldId,
        /// The payer's wallet.
        from: AccountId,
        /// The amount the payer saw and approves: must equal the request's.
        amount: Amount,
    },
    /// The payer named by a pending charge request declines it. Signed by the owner of `from`,
    /// which must be the request's payer (a request open to any payer cannot be declined: it
    /// is left to expire or be cancelled).
    DeclineCharge {
        /// The request.
        charge: ChargeId,
        /// The payer's wallet.
        from: AccountId,
    },
    /// The merchant withdraws a pending charge request. Signed like `CreateCharge`.
    CancelCharge {
        /// The request.
        charge: ChargeId,
    },
}

/// The payer a charge request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargePayer {
    /// A wallet by account id.
    Account(AccountId),
    /// The wallet registered under this phone alias in the merchant's currency.
    Alias(Hash),
}

/// Who a payment credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payee {
    /// An account (wallet or merchant) by id.
    Account(AccountId),
    /// The wallet registered under this phone alias in the payer's currency.
    Alias(Hash),
}

impl Operation {
    /// Short name for logs and human output.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::CreateWallet { .. } => "create_wallet",
            Operation::Issue { .. } => "issue",
            Operation::Transfer { .. } => "transfer",
            Operation::RegisterWallet { .. } => "register_wallet",
            Operation::Redeem { .. } => "redeem",
            Operation::Pay { .. } => "pay",
            Operation::RegisterMerchant { .. } => "register_merchant",
            Operation::Authorize { .. } => "authorize",
            Operation::Capture { .. } => "capture",
            Operation::Void { .. } => "void",
            Operation::Refund { .. } => "refund",
            Operation::CloseWindow { .. } => "close_window",
            Operation::StageBatch { .. } => "stage_batch",
            Operation::SettleBatch { .. } => "settle_batch",
            Operation::AbortBatch { .. } => "abort_batch",
            Operation::FundSettlement { .. } => "fund_settlement",
            Operation::WithdrawSettlement { .. } => "withdraw_settlement",
            Operation::SetNetDebitCap { .. } => "set_net_debit_cap",
            Operation::RegisterObserver { .. } => "register_observer",
            Operation::RemoveObserver { .. } => "remove_observer",
            Operation::CreateCharge { .. } => "create_charge",
            Operation::ApproveCharge { .. } => "approve_charge",
            Operation::DeclineCharge { .. } => "decline_charge",
            Operation::CancelCharge { .. } => "cancel_charge",
        }
    }
}

impl Transaction {
    /// A transaction of the current version, its id derived from `signer` and `nonce`.
    pub fn new(
        chain_id: impl Into<String>,
        signer: PublicKey,
        nonce: TxNonce,
        op: Operation,
        valid_until_ms: u64,
    ) -> Transaction {
        Transaction {
            version: TX_VERSION,
            chain_id: chain_id.into(),
            id: TxId::derive(&signer, &nonce, valid_until_ms),
            nonce,
            signer,
            op,
            valid_until_ms,
        }
    }

    /// Whether `id` is `TxId::derive(signer, nonce, valid_until_ms)`.
    pub fn check_id(&self) -> Result<(), TypesError> {
        let expected = TxId::derive(&self.signer, &self.nonce, self.valid_until_ms);
        if self.id == expected {
            Ok(())
        } else {
            Err(TypesError::IdNotDerived {
                id: self.id,
                signer: self.signer,
                nonce: self.nonce,
                expected,
            })
        }
    }

    /// Canonical encoding of the body.
    pub fn encode(&self) -> Result<Vec<u8>, TypesError> {
        encode("transaction", self)
    }

    /// The body's hash: signatures cover it.
    pub fn body_hash(&self) -> Result<Hash, TypesError> {
        Ok(Domain::TransactionBody.hash(&self.encode()?))
    }

    /// What idempotency compares: the body without `valid_until_ms` (version, chain, id,
    /// signer, operation). A retry signed again with a later validity is the same transaction
    /// and gets the first one's result; the same id with another operation is refused
    /// (`exists_with_different_body`).
    pub fn intent_hash(&self) -> Result<Hash, TypesError> {
        let intent = (
            &self.version,
            &self.chain_id,
            &self.id,
            &self.signer,
            &self.op,
        );
        Ok(Domain::TransactionIntent.hash(&encode("transaction intent", &intent)?))
    }

    /// The exact bytes the signer signs: `Domain::Transaction` over the body hash. Refused for
    /// a transaction whose id is not derived from its signer ([`Transaction::check_id`]), so
    /// every signature check also checks the id.
    pub fn signing_message(&self) -> Result<Vec<u8>, TypesError> {
        self.check_id()?;
        Ok(Domain::Transaction.message(&self.body_hash()?.0))
    }
}

/// A transaction with its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTransaction {
    /// The body.
    pub tx: Transaction,
    /// `signer`'s signature over [`Transaction::signing_message`].
    pub signature: Signature,
}

impl SignedTransaction {
    /// The leaf hash of this transaction in its block's transaction tree (covers the signature).
    pub fn leaf_hash(&self) -> Result<Hash, TypesError> {
        Ok(Domain::TxLeaf.hash(&encode("signed transaction", self)?))
    }

    /// Decode from the canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<Self, TypesError> {
        crate::codec::decode("signed transaction", bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, Amount, BatchId, ChargeId, HoldId};

    /// The largest legitimate transaction fits [`TX_MAX_BYTES`] (so a clearing clerk's largest
    /// settlement chunk is never refused for its size), with the longest chain id and ids
    /// of 35 four-byte characters.
    #[test]
    fn the_largest_settlement_chunk_fits_the_transaction_limit() {
        let instruction = crate::settlement::SettlementInstruction {
            id: "\u{10FFFF}".repeat(crate::settlement::INSTRUCTION_ID_MAX_CHARS),
            debtor: MemberId(u16::MAX),
            creditor: MemberId(u16::MAX - 1),
            amount: Amount(u64::MAX),
            beneficiary: Some(AccountId([9; 16])),
        };
        let tx = SignedTransaction {
            tx: Transaction::new(
                "c".repeat(CHAIN_ID_MAX_LEN),
                PublicKey([4; 32]),
                TxNonce([3; 16]),
                Operation::StageBatch {
                    batch: BatchId([1; 16]),
                    currency: crate::ids::Currency(*b"USD"),
                    window: u64::MAX,
                    chunk: u32::MAX,
                    instructions: vec![instruction; crate::settlement::SETTLEMENT_CHUNK_MAX],
                },
                u64::MAX,
            ),
            signature: Signature([5; 64]),
        };
        let len = crate::codec::encoded_len("tx", &tx).expect("len");
        assert_eq!(len, encode("tx", &tx).expect("encode").len());
        assert!(len <= TX_MAX_BYTES, "{len} bytes");
        assert!(
            len > TX_MAX_BYTES * 3 / 4,
            "the limit is not far above it: {len} bytes"
        );
    }

    fn sample() -> SignedTransaction {
        SignedTransaction {
            tx: Transaction::new(
                "c",
                PublicKey([4; 32]),
                TxNonce([3; 16]),
                Operation::Transfer {
                    from: AccountId([1; 16]),
                    to: AccountId([2; 16]),
                    amount: Amount(1250),
                },
                1_800_000_000_000,
            ),
            signature: Signature([5; 64]),
        }
    }

    #[test]
    fn signed_transactions_round_trip_canonically_and_as_json() {
        let t = sample();
        let bytes = crate::encode("tx", &t).expect("encode");
        assert_eq!(SignedTransaction::decode(&bytes).expect("decode"), t);
        let json = serde_json::to_string(&t).expect("json");
        assert!(json.contains(r#""op":{"transfer":{"#), "{json}");
        let back: SignedTransaction = serde_json::from_str(&json).expect("json back");
        assert_eq!(back, t);
    }

    #[test]
    fn the_intent_is_the_body_without_its_validity() {
        let a = sample();
        let mut later = sample();
        later.tx.valid_until_ms += 60_000;
        assert_ne!(a.tx.body_hash().ok(), later.tx.body_hash().ok());
        assert_eq!(a.tx.intent_hash().ok(), later.tx.intent_hash().ok());
        let mut other = sample();
        other.tx.nonce = TxNonce([9; 16]);
        other.tx.id = TxId::derive(&other.tx.signer, &other.tx.nonce, other.tx.valid_until_ms);
        assert_ne!(a.tx.intent_hash().ok(), other.tx.intent_hash().ok());
        let mut other = sample();
        other.tx.signer = PublicKey([8; 32]);
        assert_ne!(a.tx.intent_hash().ok(), other.tx.intent_hash().ok());
    }

    /// `TxId::derive(PublicKey([4; 32]), TxNonce([3; 16]), 1_800_000_000_000)`, computed
    /// independently (Python's `blake3` over `b"settlenet/tx-id/v2\0" + key + nonce +
    /// validity as 8 bytes big-endian`, first 16 bytes).
    const PINNED_ID: &str = "6a579a030214e631d6502c6a03ff7c58";

    /// Ids are scoped by signer: the id is derived from the signing key and the nonce, and a
    /// body whose id is not (another key claiming someone's id, or an id picked by hand) has
    /// no signing message, so it can be neither signed nor verified.
    #[test]
    fn ids_are_bound_to_the_signer_nonce_and_validity() {
        let a = sample();
        let v = a.tx.valid_until_ms;
        assert_eq!(a.tx.id, TxId::derive(&a.tx.signer, &a.tx.nonce, v));
        assert!(a.tx.signing_message().is_ok());
        // Same nonce, another key: another id.
        assert_ne!(
            TxId::derive(&PublicKey([8; 32]), &a.tx.nonce, v),
            a.tx.id,
            "the id depends on the key"
        );
        assert_ne!(TxId::derive(&a.tx.signer, &TxNonce([4; 16]), v), a.tx.id);
        assert_ne!(
            TxId::derive(&a.tx.signer, &a.tx.nonce, v + 1),
            a.tx.id,
            "the id depends on the validity"
        );
        // Front-running: another signer's body carrying this id.
        let mut thief = sample();
        thief.tx.signer = PublicKey([8; 32]);
        let err = thief.tx.signing_message().expect_err("claimed id");
        assert!(
            matches!(err, TypesError::IdNotDerived { id, .. } if id == a.tx.id),
            "{err}"
        );
        assert!(
            err.to_string().contains("not derived from its signer"),
            "{err}"
        );
        // Or the same signer's id with another nonce.
        let mut other = sample();
        other.tx.nonce = TxNonce([4; 16]);
        assert!(other.tx.signing_message().is_err());
        // Or the same id re-signed with a later validity: that is another transaction, with
        // another id (so an id past its validity can never execute again).
        let mut later = sample();
        later.tx.valid_until_ms += 1;
        assert!(later.tx.signing_message().is_err());
        // The derivation is pinned (clients in other languages reproduce it).
        assert_eq!(
            TxId::derive(&PublicKey([4; 32]), &TxNonce([3; 16]), 1_800_000_000_000).to_string(),
            PINNED_ID
        );
    }

    #[test]
    fn body_hash_changes_with_any_field() {
        let a = sample();
        let mut b = sample();
        b.tx.op = Operation::Transfer {
            from: AccountId([1; 16]),
            to: AccountId([2; 16]),
            amount: Amount(1251),
        };
        assert_ne!(
            a.tx.body_hash().expect("hash"),
            b.tx.body_hash().expect("hash")
        );
    }

    #[test]
    fn existing_variant_indices_are_unchanged_and_new_ones_round_trip() {
        // The variant index is the first 4 bytes of an operation's canonical encoding.
        let index = |op: &Operation| {
            let bytes = crate::encode("op", op).expect("encode");
            u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
        };
        let a = AccountId([1; 16]);
        let usd: crate::Currency = "USD".parse().expect("usd");
        assert_eq!(index(&sample().tx.op), 2);
        let ops = [
            Operation::RegisterWallet {
                account: a,
                issuer: MemberId(1),
                alias: Hash([7; 32]),
                alias_key_version: 1,
                owner: PublicKey([4; 32]),
                currency: "USD".parse().expect("usd"),
                tier: 1,
            },
            Operation::Redeem {
                wallet: a,
                amount: Amount(5),
            },
            Operation::Pay {
                from: a,
                to: Payee::Alias(Hash([7; 32])),
                amount: Amount(5),
                fee: Some(Amount(1)),
            },
            Operation::RegisterMerchant {
                account: a,
                acquirer: MemberId(0),
                owner: PublicKey([4; 32]),
                currency: "USD".parse().expect("usd"),
            },
            Operation::Authorize {
                hold: HoldId([9; 16]),
                from: a,
                merchant: AccountId([2; 16]),
                amount: Amount(5),
                timeout_ms: 60_000,
            },
            Operation::Capture {
                hold: HoldId([9; 16]),
                amount: Amount(5),
            },
            Operation::Void {
                hold: HoldId([9; 16]),
            },
            Operation::Refund {
                capture: TxId([3; 16]),
                amount: Amount(5),
            },
            // Clearing and settlement.
            Operation::CloseWindow {
                currency: usd,
                window: 7,
            },
            Operation::StageBatch {
                batch: BatchId([8; 16]),
                currency: usd,
                window: 7,
                chunk: 1,
                instructions: vec![SettlementInstruction {
                    id: "E2E-1".into(),
                    debtor: MemberId(0),
                    creditor: MemberId(1),
                    amount: Amount(5),
                    beneficiary: Some(a),
                }],
            },
            Operation::SettleBatch {
                batch: BatchId([8; 16]),
                currency: usd,
                window: 7,
                chunks: 2,
                instructions: 3,
                digest: Hash([6; 32]),
                policy: SettlementPolicy::Unwind,
            },
            Operation::AbortBatch {
                batch: BatchId([8; 16]),
            },
            Operation::FundSettlement {
                member: MemberId(1),
                currency: usd,
                amount: Amount(5),
            },
            Operation::WithdrawSettlement {
                member: MemberId(1),
                currency: usd,
                amount: Amount(5),
            },
            Operation::SetNetDebitCap {
                member: MemberId(1),
                currency: usd,
                cap: Some(Amount(9)),
            },
            // Observer nodes.
            Operation::RegisterObserver {
                member: MemberId(1),
                peer_id: "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA".into(),
                name: "acme-indexer".into(),
            },
            Operation::RemoveObserver {
                member: MemberId(1),
                peer_id: "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA".into(),
            },
            // Charge requests.
            Operation::CreateCharge {
                charge: ChargeId([5; 16]),
                merchant: AccountId([2; 16]),
                amount: Amount(1_250),
                reference: "order-77".into(),
                payer: Some(ChargePayer::Alias(Hash([7; 32]))),
                timeout_ms: 300_000,
                hold_timeout_ms: 3_600_000,
            },
            Operation::ApproveCharge {
                charge: ChargeId([5; 16]),
                hold: HoldId([9; 16]),
                from: AccountId([1; 16]),
                amount: Amount(1_250),
            },
            Operation::DeclineCharge {
                charge: ChargeId([5; 16]),
                from: AccountId([1; 16]),
            },
            Operation::CancelCharge {
                charge: ChargeId([5; 16]),
            },
        ];
        for (i, op) in ops.iter().enumerate() {
            assert_eq!(index(op), 3 + i as u32, "{}", op.name());
            let bytes = crate::encode("op", op).expect("encode");
            let back: Operation = crate::decode("op", &bytes).expect("decode");
            assert_eq!(&back, op);
            let json = serde_json::to_string(op).expect("json");
            assert!(json.contains(op.name()), "{json}");
            let back: Operation = serde_json::from_str(&json).expect("json back");
            assert_eq!(&back, op);
        }
    }
}
