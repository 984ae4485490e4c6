//! Accounts: one account, the accounts of an owner key, history, positions, proofs and phone
//! aliases.

use serde::{Deserialize, Serialize};
use settlenet_ledger::{Account, AccountDetail, AccountProof, ArchivedRecordProof};
use settlenet_types::ids::format_signed_minor;
use settlenet_types::{
    AccountId, BlockHeader, CommitCertificate, Currency, Genesis, Hash, Height, Operation,
    PublicKey, TxId,
};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `GET /v1/accounts/{id}` (and each account of other answers): an account with decimal
/// amounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    /// The account id.
    #[schema(value_type = String)]
    pub id: AccountId,
    /// `wallet`, `merchant`, `position`, `hold`, `settlement`, ...
    pub kind: String,
    /// The member that holds it.
    pub member: String,
    /// Its currency.
    #[schema(value_type = String)]
    pub currency: Currency,
    /// The owner key (wallets and merchants; `null` otherwise).
    #[schema(value_type = Option<String>)]
    pub owner: Option<PublicKey>,
    /// Posted credits minus posted debits, as a decimal.
    pub balance: String,
    /// What can be spent: the balance less pending debits, as a decimal.
    pub available: String,
    /// The balance in minor units.
    pub balance_minor: String,
    /// Pending debits (holds), minor units.
    pub debits_pending: String,
    /// Posted debits, minor units.
    pub debits_posted: String,
    /// Pending credits, minor units.
    pub credits_pending: String,
    /// Posted credits, minor units.
    pub credits_posted: String,
    /// The height that created it.
    #[schema(value_type = u64)]
    pub created_height: Height,
    /// The kind-specific state, as the ledger keeps it.
    #[schema(value_type = Object)]
    pub detail: AccountDetail,
    /// The committed height read at (only `GET /v1/accounts/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    pub height: Option<Height>,
    /// A closed hold or charge entry the ledger archived: its final value, read from the
    /// node's archive (no longer in the state, so no proof). Omitted when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
}

impl AccountView {
    /// The view of `a` with decimal amounts in its currency's exponent (from `genesis`) and
    /// its member's name; `height` is left out.
    pub fn of(genesis: &Genesis, a: &Account) -> AccountView {
        let exp = genesis.exponent(a.currency).unwrap_or(0);
        let member = genesis
            .members
            .get(usize::from(a.member.0))
            .map(|m| m.name.clone())
            .unwrap_or_default();
        AccountView {
            id: a.id,
            kind: format!("{:?}", a.kind).to_lowercase(),
            member,
            currency: a.currency,
            owner: a.owner,
            balance: format_signed_minor(a.balance(), exp),
            available: format_signed_minor(a.available(), exp),
            balance_minor: a.balance().to_string(),
            debits_pending: a.debits_pending.to_string(),
            debits_posted: a.debits_posted.to_string(),
            credits_pending: a.credits_pending.to_string(),
            credits_posted: a.credits_posted.to_string(),
            created_height: a.created_height,
            detail: a.detail.clone(),
            height: None,
            archived: false,
        }
    }
}

/// `GET /v1/accounts?owner=KEY[&currency=C]`: the wallets and merchant accounts of a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OwnedAccounts {
    /// The owner key asked for.
    #[schema(value_type = String)]
    pub owner: PublicKey,
    /// Its accounts, in id order.
    pub accounts: Vec<AccountView>,
    /// The committed height read at.
    #[schema(value_type = u64)]
    pub height: Height,
}

/// `GET /v1/accounts/{id}/history?limit=N&cursor=C`: the transactions that changed an
/// account, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct History {
    /// The account.
    #[schema(value_type = String)]
    pub account: AccountId,
    /// One page of entries.
    pub entries: Vec<HistoryEntry>,
    /// Pass as `cursor` for the next page (`null`: this is the last).
    pub next_cursor: Option<String>,
    /// The committed height read at.
    #[schema(value_type = u64)]
    pub height: Height,
}

/// One transaction in an account's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    /// The transaction id.
    #[schema(value_type = String)]
    pub tx: TxId,
    /// The block that executed it.
    #[schema(value_type = u64)]
    pub height: Height,
    /// Its index there.
    pub index: u32,
    /// The block's consensus timestamp, ms.
    pub timestamp: u64,
    /// The operation's name (`transfer`, `pay`, ...).
    pub op: String,
    /// The signer.
    #[schema(value_type = String)]
    pub signer: PublicKey,
    /// The operation.
    #[schema(value_type = Object)]
    pub operation: Operation,
    /// The ledger's result code.
    pub result: String,
    /// The amount it names, as a decimal (absent for operations without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
}

/// `GET /v1/positions[?window=W]`: every member's net interbank position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Positions {
    /// The window asked for (`null`: each currency's open window).
    pub window: Option<u64>,
    /// The committed height of the one consistent read.
    #[schema(value_type = u64)]
    pub height: Height,
    /// One per member and currency.
    pub positions: Vec<Position>,
    /// Per currency code, the sum of the positions in minor units (always zero).
    pub totals_minor: BTreeMap<String, String>,
}

/// A member's position in a currency and window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Position {
    /// The member.
    pub member: String,
    /// The currency.
    #[schema(value_type = String)]
    pub currency: Currency,
    /// The settlement window.
    pub window: u64,
    /// The position account.
    #[schema(value_type = String)]
    pub account: AccountId,
    /// Net position as a signed decimal (positive: owed to the member).
    pub position: String,
    /// The same in minor units.
    pub position_minor: String,
    /// Posted debits, minor units.
    pub debits_posted: String,
    /// Posted credits, minor units.
    pub credits_posted: String,
}

/// Version of the account proof file: 2 since the state root combines three roots (the proof
/// carries the live records root and the history root).
pub const PROOF_VERSION: u32 = 2;

/// `GET /v1/accounts/{id}/proof` (the file `settlenet account prove` writes): an account with
/// a Merkle proof against a state root and the committed block that certifies that root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofFile {
    /// [`PROOF_VERSION`].
    pub version: u32,
    /// The chain.
    pub chain_id: String,
    /// The account proven.
    #[schema(value_type = String)]
    pub account_id: AccountId,
    /// Its summary (must match the proven account).
    pub account: AccountView,
    /// The height of the proven state.
    #[schema(value_type = u64)]
    pub state_height: Height,
    /// Its root.
    #[schema(value_type = String)]
    pub state_root: Hash,
    /// The Merkle proof of the account under `state_root`.
    #[schema(value_type = Object)]
    pub proof: AccountProof,
    /// The committed block certifying `state_root`.
    pub anchor: Anchor,
}

/// The `kind` of a transaction proof file.
pub const TX_PROOF_KIND: &str = "settlenet-tx-proof";
/// Version of the transaction proof file.
pub const TX_PROOF_VERSION: u32 = 1;

/// `GET /v1/transactions/{id}/proof` (the file `settlenet tx prove` writes): a transaction's
/// record (the block and position that executed it, and its result) with a proof that the
/// ledger's history holds it, against a state root, and the committed block that certifies
/// that root. The record need not be live: the history keeps every record ever written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TxProofFile {
    /// [`TX_PROOF_KIND`].
    pub kind: String,
    /// [`TX_PROOF_VERSION`].
    pub version: u32,
    /// The chain.
    pub chain_id: String,
    /// The transaction proven.
    #[schema(value_type = String)]
    pub tx_id: TxId,
    /// The block that executed it (must match the proven record).
    #[schema(value_type = u64)]
    pub height: Height,
    /// Its position in that block (must match the proven record).
    pub index: u32,
    /// Its result code, `ok` or the reason it was rejected (must match the proven record).
    pub result: String,
    /// The height of the proving state.
    #[schema(value_type = u64)]
    pub state_height: Height,
    /// Its root.
    #[schema(value_type = String)]
    pub state_root: Hash,
    /// The record's path to its block's records root, that block's leaf in the history
    /// accumulator, and the state's two other roots.
    #[schema(value_type = Object)]
    pub proof: ArchivedRecordProof,
    /// The committed block certifying `state_root`.
    pub anchor: Anchor,
}

/// A committed block that certifies a state root: its header and commit certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// The block's height.
    #[schema(value_type = u64)]
    pub height: Height,
    /// The block's header hash.
    #[schema(value_type = String)]
    pub hash: Hash,
    /// The header (carries `state_height` and `state_root`).
    #[schema(value_type = Object)]
    pub header: BlockHeader,
    /// 2f+1 validator signatures over the header hash.
    #[schema(value_type = Object)]
    pub certificate: CommitCertificate,
}

/// `POST /v1/phone/alias` body. Unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasRequest {
    /// The phone number (E.164, national with a trunk 0, or bare digits).
    pub phone: String,
    /// The currency (default: the genesis's first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// The alias of a phone number and the wallet registered under it. The number itself is
/// never repeated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Alias {
    /// `HMAC-SHA256(consortium key, E.164)`.
    #[schema(value_type = String)]
    pub alias: Hash,
    /// The version of the consortium key.
    pub key_version: u16,
    /// The currency.
    #[schema(value_type = String)]
    pub currency: Currency,
    /// The wallet registered under the alias in that currency, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub wallet: Option<AccountId>,
}
