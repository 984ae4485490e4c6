//! `GET /v1/accounts...`, `GET /v1/positions` and `POST /v1/phone/alias`: accounts, an owner's
//! accounts, an account's history, interbank positions and phone aliases.

use super::{
    bad, body_json, currency_param, internal, not_found, parse_account_id, read_account,
    settlement, ApiError, ApiState,
};
use crate::core::ApiCommand;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use settlenet_api as wire;
use settlenet_ledger::{Account, AccountKind, TxRecord};
use settlenet_types::{AccountId, Currency, Genesis, Height, StoredBlock};
use std::collections::BTreeMap;
use tokio::sync::oneshot;

/// The API view of an account, with decimal amounts.
pub fn account_json(genesis: &Genesis, a: &Account) -> wire::AccountView {
    wire::AccountView::of(genesis, a)
}

pub(super) async fn account(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<wire::AccountView>, ApiError> {
    let id: AccountId = id
        .parse()
        .map_err(|e| bad("invalid_id", format!("account id: {e}")))?;
    let (bytes, archived) = read_or_archived(&s.store, &id)
        .map_err(internal)?
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no account {id}"),
            )
        })?;
    let a: Account = settlenet_types::decode("account", &bytes).map_err(internal)?;
    let mut v = account_json(&s.genesis, &a);
    v.height = Some(s.shared.status().height);
    v.archived = archived;
    Ok(Json(v))
}

/// An account from the state, else from the archive of closed entries (`true`).
fn read_or_archived(
    store: &settlenet_storage::Store,
    id: &AccountId,
) -> Result<Option<(Vec<u8>, bool)>, settlenet_storage::StorageError> {
    if let Some(bytes) = store.account(id)? {
        return Ok(Some((bytes, false)));
    }
    Ok(store.archived_account(id)?.map(|bytes| (bytes, true)))
}

/// `GET /v1/charges/{id}`: a charge request, read from the store at the committed height.
pub(super) async fn charge(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<wire::ChargeView>, ApiError> {
    let id: settlenet_types::ChargeId = id
        .parse()
        .map_err(|e| bad("invalid_id", format!("charge id: {e}")))?;
    let not_found = || {
        ApiError(
            StatusCode::NOT_FOUND,
            "charge_not_found",
            format!("no charge request {id}"),
        )
    };
    let entry = settlenet_ledger::charge_account_id(&id);
    // The status first: the entry read after it is at least as new.
    let st = s.shared.status();
    let bytes = s
        .store
        .account(&entry)
        .map_err(internal)?
        .ok_or_else(not_found)?;
    let a: Account = settlenet_types::decode("account", &bytes).map_err(internal)?;
    wire::ChargeView::of(&s.genesis, &a, st.height, st.last_block_time_ms)
        .map(Json)
        .ok_or_else(not_found)
}

/// Largest number of accounts `GET /v1/accounts?owner=` returns.
pub const OWNED_ACCOUNTS_MAX: usize = 100;

#[derive(serde::Deserialize)]
pub(super) struct OwnerQuery {
    owner: Option<String>,
    currency: Option<String>,
}

/// `GET /v1/accounts?owner=KEY[&currency=C]`: the wallets and merchant accounts whose owner key
/// is KEY (64 hex characters), so that a user holding only their key finds their wallet.
pub(super) async fn accounts_by_owner(
    State(s): State<ApiState>,
    Query(q): Query<OwnerQuery>,
) -> Result<Json<wire::OwnedAccounts>, ApiError> {
    let Some(owner) = q.owner.as_deref() else {
        return Err(bad(
            "missing_owner",
            "owner: required (the owner's public key, 64 hex characters)",
        ));
    };
    let owner: settlenet_types::PublicKey = owner
        .parse()
        .map_err(|e| bad("invalid_owner", format!("owner: {e}")))?;
    let currency = q
        .currency
        .as_deref()
        .map(|c| {
            c.parse::<Currency>()
                .map_err(|e| bad("invalid_currency", format!("currency: {e}")))
        })
        .transpose()?;
    let (reply, rx) = oneshot::channel();
    s.core
        .send(ApiCommand::AccountsByOwner {
            owner,
            limit: OWNED_ACCOUNTS_MAX,
            reply,
        })
        .await
        .map_err(|_| internal("node is shutting down"))?;
    let ids = rx.await.map_err(|_| internal("node is shutting down"))?;
    let mut accounts = Vec::new();
    for id in ids {
        if let Some(a) = read_account(&s, &id)? {
            if currency.is_none_or(|c| c == a.currency) {
                accounts.push(account_json(&s.genesis, &a));
            }
        }
    }
    Ok(Json(wire::OwnedAccounts {
        owner,
        accounts,
        height: s.shared.status().height,
    }))
}

/// The alias of a phone number under this node's consortium key, and the wallet registered
/// under it (if any). The number is never logged nor repeated in the answer, errors included.
pub(super) async fn phone_alias(
    State(s): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<wire::Alias>, ApiError> {
    let Some(key) = s.phone.clone() else {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "phone_key_not_configured",
            "this node has no consortium phone key ([phone] in its config.toml)".into(),
        ));
    };
    let value = body_json(body)?;
    // serde's messages can quote the offending value (the number): give our own.
    let req: wire::AliasRequest = serde_json::from_value(value).map_err(|_| {
        bad(
            "malformed_request",
            "the body must be {\"phone\": string, \"currency\"?: string} and nothing else",
        )
    })?;
    let (currency, _) = currency_param(&s, req.currency.as_deref())?;
    let alias = key.alias(&req.phone).map_err(|e| {
        bad(
            "invalid_phone",
            format!(
                "phone: {e}; accepted: +<country><number> (spaces and - allowed), 00<country>..., \
                 bare MSISDN digits, or a national number with a leading 0"
            ),
        )
    })?;
    let (reply, rx) = oneshot::channel();
    s.core
        .send(ApiCommand::WalletByAlias {
            alias,
            currency,
            reply,
        })
        .await
        .map_err(|_| internal("node is shutting down"))?;
    let wallet = rx.await.map_err(|_| internal("node is shutting down"))?;
    Ok(Json(wire::Alias {
        alias,
        key_version: key.version,
        currency,
        wallet,
    }))
}

// ---- account history ----

/// Default and largest page size of `GET /v1/accounts/{id}/history`.
pub const HISTORY_LIMIT_DEFAULT: usize = 20;
/// Largest page size of `GET /v1/accounts/{id}/history`.
pub const HISTORY_LIMIT_MAX: usize = 100;

#[derive(serde::Deserialize)]
pub(super) struct HistoryQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// The opaque cursor: the position (height, index) of the last entry of a page, as hex.
fn encode_cursor(height: Height, index: u32) -> String {
    let mut b = [0u8; 12];
    b[..8].copy_from_slice(&height.0.to_be_bytes());
    b[8..].copy_from_slice(&index.to_be_bytes());
    hex::encode(b)
}

fn decode_cursor(text: &str) -> Result<(Height, u32), ApiError> {
    let invalid = || {
        bad(
            "invalid_cursor",
            "cursor: not a cursor from an earlier page (pass next_cursor unchanged)",
        )
    };
    let b = hex::decode(text).map_err(|_| invalid())?;
    let b: [u8; 12] = b.try_into().map_err(|_| invalid())?;
    let mut h = [0u8; 8];
    h.copy_from_slice(&b[..8]);
    let mut i = [0u8; 4];
    i.copy_from_slice(&b[8..]);
    Ok((Height(u64::from_be_bytes(h)), u32::from_be_bytes(i)))
}

/// The transactions that changed an account, newest first, paged.
pub(super) async fn history(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<wire::History>, ApiError> {
    let id = parse_account_id(&id)?;
    let limit = match q.limit.as_deref() {
        None => HISTORY_LIMIT_DEFAULT,
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=HISTORY_LIMIT_MAX).contains(&n) => n,
            _ => {
                return Err(bad(
                    "invalid_limit",
                    format!("limit {t:?}: must be an integer from 1 to {HISTORY_LIMIT_MAX}"),
                ))
            }
        },
    };
    let before = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let Some(account) = read_account(&s, &id)? else {
        return Err(not_found(format!("no account {id}")));
    };
    let exp = s.genesis.exponent(account.currency).unwrap_or(0);
    // One more than asked tells whether there is a next page.
    let mut entries = s
        .store
        .account_history(&id, before, limit + 1)
        .map_err(internal)?;
    let more = entries.len() > limit;
    entries.truncate(limit);
    let mut blocks: BTreeMap<Height, StoredBlock> = BTreeMap::new();
    let mut items = Vec::with_capacity(entries.len());
    for e in &entries {
        let b = match blocks.entry(e.height) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => v.insert(
                s.store
                    .block(e.height)
                    .map_err(internal)?
                    .ok_or_else(|| internal(format!("history names missing block {}", e.height)))?,
            ),
        };
        let tx = b
            .block
            .txs
            .get(e.index as usize)
            .ok_or_else(|| internal(format!("history names a missing tx at {}", e.height)))?;
        let result = s
            .store
            .record(&e.tx)
            .map_err(internal)?
            .and_then(|bytes| settlenet_types::decode::<TxRecord>("tx record", &bytes).ok())
            .map(|r| r.result.as_str())
            .unwrap_or("unknown");
        items.push(wire::HistoryEntry {
            tx: e.tx,
            height: e.height,
            index: e.index,
            timestamp: b.block.header.timestamp_ms,
            op: tx.tx.op.name().to_string(),
            signer: tx.tx.signer,
            operation: tx.tx.op.clone(),
            result: result.to_string(),
            amount: op_amount(&tx.tx.op)
                .map(|amount| settlenet_types::ids::format_minor(u128::from(amount), exp)),
        });
    }
    let next = if more {
        entries.last().map(|e| encode_cursor(e.height, e.index))
    } else {
        None
    };
    Ok(Json(wire::History {
        account: id,
        entries: items,
        next_cursor: next,
        height: s.shared.status().height,
    }))
}

/// The amount an operation names, in minor units (none for registrations, voids, the
/// settlement operations that carry no single amount and observer registrations).
fn op_amount(op: &settlenet_types::Operation) -> Option<u64> {
    use settlenet_types::Operation as O;
    match op {
        O::Issue { amount, .. }
        | O::Transfer { amount, .. }
        | O::Redeem { amount, .. }
        | O::Pay { amount, .. }
        | O::Authorize { amount, .. }
        | O::Capture { amount, .. }
        | O::Refund { amount, .. }
        | O::FundSettlement { amount, .. }
        | O::WithdrawSettlement { amount, .. }
        | O::CreateCharge { amount, .. }
        | O::ApproveCharge { amount, .. } => Some(amount.0),
        O::CreateWallet { .. }
        | O::RegisterWallet { .. }
        | O::RegisterMerchant { .. }
        | O::Void { .. }
        | O::CloseWindow { .. }
        | O::StageBatch { .. }
        | O::SettleBatch { .. }
        | O::AbortBatch { .. }
        | O::SetNetDebitCap { .. }
        | O::RegisterObserver { .. }
        | O::RemoveObserver { .. }
        | O::DeclineCharge { .. }
        | O::CancelCharge { .. } => None,
    }
}

// ---- positions ----

#[derive(serde::Deserialize)]
pub(super) struct PositionsQuery {
    window: Option<String>,
}

/// Every member's net interbank position in a settlement window, per currency, and their sum
/// (zero in every currency).
pub(super) async fn positions(
    State(s): State<ApiState>,
    Query(q): Query<PositionsQuery>,
) -> Result<Json<wire::Positions>, ApiError> {
    let window = match q.window.as_deref() {
        None => None,
        Some(t) => Some(t.parse::<u64>().map_err(|_| {
            bad(
                "invalid_window",
                format!("window {t:?}: must be a non-negative integer"),
            )
        })?),
    };
    let mut ids = Vec::new();
    for c in &s.genesis.currencies {
        // Default: each currency's open window.
        let w = match window {
            Some(w) => w,
            None => settlement::open_window(&s, c.code).await?,
        };
        for m in &s.genesis.members {
            ids.push((
                m.name.clone(),
                c,
                w,
                settlenet_ledger::position_id(&m.name, c.code, w),
            ));
        }
    }
    let keys: Vec<AccountId> = ids.iter().map(|(_, _, _, id)| *id).collect();
    // One consistent read of every position (a block commit cannot fall between two of them).
    let (height, raw) = s.store.accounts_consistent(&keys).map_err(internal)?;
    let mut rows = Vec::new();
    let mut totals: BTreeMap<String, i128> = BTreeMap::new();
    for ((member, c, w, id), bytes) in ids.iter().zip(raw) {
        let account = bytes
            .map(|b| settlenet_types::decode::<Account>("account", &b).map_err(internal))
            .transpose()?;
        let (balance, debits, credits) = match &account {
            Some(a) if a.kind == AccountKind::Position => {
                (a.balance(), a.debits_posted, a.credits_posted)
            }
            Some(_) => return Err(internal(format!("account {id} is not a position"))),
            None => (0, 0, 0),
        };
        let t = totals.entry(c.code.to_string()).or_insert(0);
        *t = t.saturating_add(balance);
        rows.push(wire::Position {
            member: member.clone(),
            currency: c.code,
            window: *w,
            account: *id,
            position: settlenet_types::ids::format_signed_minor(balance, c.exponent),
            position_minor: balance.to_string(),
            debits_posted: debits.to_string(),
            credits_posted: credits.to_string(),
        });
    }
    let totals: BTreeMap<String, String> = totals
        .into_iter()
        .map(|(c, t)| (c, t.to_string()))
        .collect();
    Ok(Json(wire::Positions {
        window,
        height,
        positions: rows,
        totals_minor: totals,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use settlenet_storage::{BlockWrite, Store};
    use settlenet_types::block::{CommitCertificate, CommitSignature, BLOCK_VERSION};
    use settlenet_types::{Block, BlockHeader, Hash, ReplicaId, Signature, View};

    /// An account the ledger archived is read from the archive, marked so; a live one from
    /// the state; an unknown one not at all.
    #[test]
    fn reads_fall_back_to_the_archive_of_closed_entries() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path(), Hash([9; 32])).expect("open");
        let (live, closed) = (AccountId([1; 16]), AccountId([2; 16]));
        store
            .init_genesis(&[(live, vec![1]), (closed, vec![2])], Hash([0; 32]))
            .expect("genesis");
        let header = BlockHeader {
            version: BLOCK_VERSION,
            chain_id: "t".into(),
            height: Height(1),
            timestamp_ms: 1_000,
            proposer: ReplicaId(0),
            tx_count: 0,
            tx_root: Block::compute_tx_root(&[]).expect("root"),
            state_height: Height(0),
            state_root: Hash([0; 32]),
        };
        let hash = header.hash().expect("hash");
        let block = StoredBlock {
            block: Block {
                header,
                txs: Vec::new(),
            },
            certificate: CommitCertificate {
                height: Height(1),
                view: View(0),
                block_hash: hash,
                signatures: vec![CommitSignature {
                    replica: ReplicaId(0),
                    signature: Signature([3; 64]),
                }],
            },
            hash,
            prev_hash: store.last_block_hash().expect("prev"),
            state_root: Hash([1; 32]),
        };
        store
            .commit_block(BlockWrite {
                block: &block,
                accounts: &[],
                records: &[],
                history: &[],
                expired: &[],
                archived: &[(closed, vec![2, 2])],
                recorded_here: &[],
                pruned: &[],
                history_nodes: &[],
                ledger_history: b"h",
            })
            .expect("commit");
        assert_eq!(
            read_or_archived(&store, &live).expect("read"),
            Some((vec![1], false))
        );
        assert_eq!(
            read_or_archived(&store, &closed).expect("read"),
            Some((vec![2, 2], true))
        );
        assert_eq!(
            read_or_archived(&store, &AccountId([3; 16])).expect("read"),
            None
        );
    }
}
