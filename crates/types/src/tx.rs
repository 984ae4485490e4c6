//! Transactions: what clients sign and submit.

use crate::codec::{encode, Domain};
use crate::error::TypesError;
use crate::ids::{AccountId, Amount, Currency, Hash, MemberId, PublicKey, Signature, TxId};
use serde::{Deserialize, Serialize};

/// The transaction format version this code writes and accepts.
pub const TX_VERSION: u16 = 1;

/// Longest chain id accepted anywhere.
pub const CHAIN_ID_MAX_LEN: usize = 64;

/// A transaction body: what the signer signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// Format version ([`TX_VERSION`]).
    pub version: u16,
    /// The chain this transaction is meant for: a transaction signed for one network is refused
    /// by every other.
    pub chain_id: String,
    /// Client-chosen id; a retry with the same id and body returns the first result.
    pub id: TxId,
    /// The key that signs; the ledger checks it is allowed to perform `op`.
    pub signer: PublicKey,
    /// What to do.
    pub op: Operation,
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
}

impl Operation {
    /// Short name for logs and human output.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::CreateWallet { .. } => "create_wallet",
            Operation::Issue { .. } => "issue",
            Operation::Transfer { .. } => "transfer",
        }
    }
}

impl Transaction {
    /// Canonical encoding of the body.
    pub fn encode(&self) -> Result<Vec<u8>, TypesError> {
        encode("transaction", self)
    }

    /// The body's identity hash: idempotency compares it, signatures cover it.
    pub fn body_hash(&self) -> Result<Hash, TypesError> {
        Ok(Domain::TransactionBody.hash(&self.encode()?))
    }

    /// The exact bytes the signer signs: `Domain::Transaction` over the body hash.
    pub fn signing_message(&self) -> Result<Vec<u8>, TypesError> {
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
    use crate::ids::{AccountId, Amount};

    fn sample() -> SignedTransaction {
        SignedTransaction {
            tx: Transaction {
                version: TX_VERSION,
                chain_id: "c".into(),
                id: TxId([3; 16]),
                signer: PublicKey([4; 32]),
                op: Operation::Transfer {
                    from: AccountId([1; 16]),
                    to: AccountId([2; 16]),
                    amount: Amount(1250),
                },
            },
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
}
