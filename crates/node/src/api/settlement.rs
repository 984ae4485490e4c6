//! `GET /v1/settlement/...`: settlement windows, batches, liquidity and receipts, as clearing
//! staff and auditors read them (the contract is in `docs/api.md`).
//!
//! Window and batch records are ledger accounts (so the state root commits to them); they are
//! read from the store like any account. What only the ledger's derived state knows (the open
//! window, the staging batch, unsettled positions) and proofs come from the core task.

use super::{
    anchor_json, anchor_of, bad, currency_param, internal, not_found, prove_anchored, read_account,
    ApiError, ApiState,
};
use crate::core::{ApiCommand, SettlementSummary};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use settlenet_api as wire;
use settlenet_ledger::{
    batch_account_id, window_account_id, Account, AccountDetail, BatchState, MemberSettlement,
    Obligation, Shortfall, WindowDetail, WindowState,
};
use settlenet_types::ids::format_signed_minor;
use settlenet_types::{AccountId, BatchId, Currency, Genesis, MemberId};
use tokio::sync::oneshot;

pub use wire::{RECEIPT_KIND, RECEIPT_VERSION, WINDOWS_LIMIT_DEFAULT, WINDOWS_LIMIT_MAX};

fn signed(v: u128) -> i128 {
    i128::try_from(v).unwrap_or(i128::MAX)
}

fn member_name(genesis: &Genesis, m: MemberId) -> String {
    genesis
        .members
        .get(usize::from(m.0))
        .map_or_else(|| format!("member-{}", m.0), |x| x.name.clone())
}

async fn summary(s: &ApiState, currency: Currency) -> Result<SettlementSummary, ApiError> {
    let (reply, rx) = oneshot::channel();
    s.core
        .send(ApiCommand::SettlementSummary { currency, reply })
        .await
        .map_err(|_| internal("node is shutting down"))?;
    rx.await.map_err(|_| internal("node is shutting down"))
}

/// The window obligations in `currency` go to now.
pub(super) async fn open_window(s: &ApiState, currency: Currency) -> Result<u64, ApiError> {
    Ok(summary(s, currency).await?.open_window)
}

fn state_name(state: WindowState) -> wire::WindowState {
    match state {
        WindowState::Open => wire::WindowState::Open,
        WindowState::Closed => wire::WindowState::Closed,
        WindowState::Settling => wire::WindowState::Settling,
        WindowState::Settled => wire::WindowState::Settled,
    }
}

fn obligation_json(g: &Genesis, exp: u8, o: &Obligation) -> wire::ObligationView {
    wire::ObligationView {
        debtor: member_name(g, o.debtor),
        creditor: member_name(g, o.creditor),
        amount: format_signed_minor(signed(o.amount), exp),
        amount_minor: o.amount.to_string(),
    }
}

/// The API view of a shortfall.
pub fn shortfall_json(g: &Genesis, exp: u8, x: &Shortfall) -> wire::ShortfallView {
    wire::ShortfallView {
        member: member_name(g, x.member),
        debit: format_signed_minor(signed(x.debit), exp),
        balance: format_signed_minor(signed(x.balance), exp),
        cap: x.cap.map(|c| format_signed_minor(i128::from(c.0), exp)),
        shortfall: format_signed_minor(signed(x.shortfall), exp),
        shortfall_minor: x.shortfall.to_string(),
    }
}

/// Every member's line: the settled report if final, else computed from the obligations
/// (nothing settled or carried yet). Every genesis member appears.
fn report_lines(g: &Genesis, w: &WindowDetail) -> (Vec<MemberSettlement>, bool) {
    let final_report = w.state == WindowState::Settled;
    let mut lines: Vec<MemberSettlement> = g
        .members
        .iter()
        .map(|m| MemberSettlement {
            member: m.id,
            sent: 0,
            received: 0,
            net: 0,
            settled: 0,
            carried: 0,
        })
        .collect();
    if final_report {
        for r in &w.report {
            if let Some(l) = lines.get_mut(usize::from(r.member.0)) {
                *l = *r;
            }
        }
    } else {
        for o in &w.obligations {
            if let Some(l) = lines.get_mut(usize::from(o.debtor.0)) {
                l.sent = l.sent.saturating_add(o.amount);
            }
            if let Some(l) = lines.get_mut(usize::from(o.creditor.0)) {
                l.received = l.received.saturating_add(o.amount);
            }
        }
        for l in &mut lines {
            l.net = signed(l.received).saturating_sub(signed(l.sent));
        }
    }
    (lines, final_report)
}

/// The API view of a window record.
pub fn window_json(g: &Genesis, currency: Currency, exp: u8, w: &WindowDetail) -> wire::Window {
    let (lines, final_report) = report_lines(g, w);
    let money = |v: i128| format_signed_minor(v, exp);
    let report = lines
        .iter()
        .map(|l| wire::ReportLine {
            member: member_name(g, l.member),
            sent: money(signed(l.sent)),
            received: money(signed(l.received)),
            net: money(l.net),
            settled: money(l.settled),
            carried: money(l.carried),
            sent_minor: l.sent.to_string(),
            received_minor: l.received.to_string(),
            net_minor: l.net.to_string(),
            settled_minor: l.settled.to_string(),
            carried_minor: l.carried.to_string(),
        })
        .collect();
    wire::Window {
        window: w.window,
        currency,
        exponent: exp,
        state: state_name(w.state),
        account: window_account_id(currency, w.window),
        opened_height: w.opened_height,
        closed_height: w.closed_height,
        settled_height: w.settled_height,
        batch: w.batch,
        instructions: w.instructions,
        obligations: w
            .obligations
            .iter()
            .map(|o| obligation_json(g, exp, o))
            .collect(),
        carried: w
            .carried
            .iter()
            .map(|o| obligation_json(g, exp, o))
            .collect(),
        carried_to: w.carried_to,
        unwound: w
            .unwound
            .iter()
            .map(|x| shortfall_json(g, exp, x))
            .collect(),
        report,
        report_final: final_report,
        height: None,
    }
}

/// A window's record; the open window before its first obligation has no entry yet and is
/// shown empty and open (as the ledger does).
fn read_window(
    s: &ApiState,
    currency: Currency,
    window: u64,
    open_window: u64,
) -> Result<Option<WindowDetail>, ApiError> {
    let id = window_account_id(currency, window);
    match read_account(s, &id)? {
        None if window == open_window => Ok(Some(WindowDetail::opened(
            window,
            settlenet_types::Height(0),
        ))),
        None => Ok(None),
        Some(Account {
            detail: AccountDetail::Window(w),
            ..
        }) => Ok(Some(w)),
        Some(_) => Err(internal(format!("account {id} is not a window record"))),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct WindowsQuery {
    currency: Option<String>,
    start: Option<String>,
    limit: Option<String>,
}

fn parse_u64(name: &str, text: &str) -> Result<u64, ApiError> {
    text.parse::<u64>().map_err(|_| {
        bad(
            "invalid_parameter",
            format!("{name} {text:?}: must be a non-negative integer"),
        )
    })
}

/// `GET /v1/settlement/windows?currency=C&start=N&limit=L`.
pub(super) async fn windows(
    State(s): State<ApiState>,
    Query(q): Query<WindowsQuery>,
) -> Result<Json<wire::Windows>, ApiError> {
    let (currency, exp) = currency_param(&s, q.currency.as_deref())?;
    let limit = match q.limit.as_deref() {
        None => WINDOWS_LIMIT_DEFAULT,
        Some(t) => {
            let l = parse_u64("limit", t)?;
            if l == 0 || l > WINDOWS_LIMIT_MAX {
                return Err(bad(
                    "invalid_limit",
                    format!("limit {l}: must be 1 to {WINDOWS_LIMIT_MAX}"),
                ));
            }
            l
        }
    };
    let sum = summary(&s, currency).await?;
    let start = match q.start.as_deref() {
        Some(t) => parse_u64("start", t)?,
        None => sum.open_window.saturating_sub(limit - 1),
    };
    let mut list = Vec::new();
    let end = start
        .saturating_add(limit)
        .min(sum.open_window.saturating_add(1));
    for w in start..end {
        if let Some(detail) = read_window(&s, currency, w, sum.open_window)? {
            list.push(window_json(&s.genesis, currency, exp, &detail));
        }
    }
    Ok(Json(wire::Windows {
        currency,
        exponent: exp,
        open_window: sum.open_window,
        staging_batch: sum.staging_batch,
        windows: list,
        height: s.shared.status().height,
    }))
}

/// `GET /v1/settlement/windows/{currency}/{window}`.
pub(super) async fn window(
    State(s): State<ApiState>,
    Path((currency, window)): Path<(String, String)>,
) -> Result<Json<wire::Window>, ApiError> {
    let (currency, exp) = currency_param(&s, Some(&currency))?;
    let window = parse_u64("window", &window)?;
    let open = summary(&s, currency).await?.open_window;
    let Some(detail) = read_window(&s, currency, window, open)? else {
        return Err(not_found(format!(
            "no settlement window {window} in {currency}"
        )));
    };
    let mut v = window_json(&s.genesis, currency, exp, &detail);
    v.height = Some(s.shared.status().height);
    Ok(Json(v))
}

fn parse_batch_id(text: &str) -> Result<BatchId, ApiError> {
    text.parse()
        .map_err(|e| bad("invalid_id", format!("batch id: {e}")))
}

/// The API view of a batch record.
fn batch_json(g: &Genesis, a: &Account) -> Result<wire::Batch, ApiError> {
    let AccountDetail::Batch(b) = &a.detail else {
        return Err(internal(format!("account {} is not a batch record", a.id)));
    };
    Ok(wire::Batch {
        batch: b.batch,
        currency: a.currency,
        window: b.window,
        state: match b.state {
            BatchState::Staging => wire::BatchState::Staging,
            BatchState::Settled => wire::BatchState::Settled,
            BatchState::Aborted => wire::BatchState::Aborted,
        },
        chunks: b.chunks.clone(),
        instructions: b.instructions,
        policy: b.policy.map(|p| p.to_string()),
        finished_height: b.finished_height,
        unwound: b.unwound.iter().map(|m| member_name(g, *m)).collect(),
        submitted_by: member_name(g, a.member),
        created_height: a.created_height,
        account: a.id,
        height: None,
    })
}

/// `GET /v1/settlement/batches/{id}`.
pub(super) async fn batch(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<wire::Batch>, ApiError> {
    let id = parse_batch_id(&id)?;
    let Some(a) = read_account(&s, &batch_account_id(&id))? else {
        return Err(not_found(format!("no settlement batch {id}")));
    };
    let mut v = batch_json(&s.genesis, &a)?;
    v.height = Some(s.shared.status().height);
    Ok(Json(v))
}

/// `GET /v1/settlement/batches/{id}/receipt`: the batch's window record, the batch record and
/// every member's settlement account, with Merkle proofs against one state root, the committed
/// block (header and commit certificate) that certifies that root, and the committed block that
/// settled the batch.
pub(super) async fn receipt(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<wire::Receipt>, ApiError> {
    let id = parse_batch_id(&id)?;
    let Some(a) = read_account(&s, &batch_account_id(&id))? else {
        return Err(not_found(format!("no settlement batch {id}")));
    };
    let AccountDetail::Batch(b) = &a.detail else {
        return Err(internal(format!("account {} is not a batch record", a.id)));
    };
    if b.state != BatchState::Settled {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "batch_not_settled",
            format!(
                "batch {id} is {}: a receipt exists only for a settled batch",
                if b.state == BatchState::Staging {
                    "still staging"
                } else {
                    "aborted"
                }
            ),
        ));
    }
    let currency = a.currency;
    // The block that settled it, with its commit certificate.
    let settled_at = b
        .finished_height
        .ok_or_else(|| internal(format!("settled batch {id} has no settlement height")))?;
    let Some(settled_block) = s.store.block_summary(settled_at).map_err(internal)? else {
        return Err(not_found(format!(
            "this node holds no block {settled_at} (it was installed from a snapshot above it); \
             ask another validator for the receipt of batch {id}"
        )));
    };
    let mut accounts: Vec<AccountId> =
        vec![window_account_id(currency, b.window), batch_account_id(&id)];
    for m in &s.genesis.members {
        accounts.push(AccountId::derived("settlement", &m.name, currency));
    }
    let Some(p) = prove_anchored(&s, accounts).await? else {
        return Err(internal(format!("window record of batch {id} is missing")));
    };
    let mut proofs = p.proofs.into_iter();
    let mut take = |what: &str| {
        proofs
            .next()
            .flatten()
            .ok_or_else(|| internal(format!("no {what} to prove")))
    };
    let window_proof = take("window record")?;
    let batch_proof = take("batch record")?;
    let mut settlement = Vec::new();
    for m in &s.genesis.members {
        settlement.push(wire::MemberProof {
            member: m.name.clone(),
            proof: take("settlement account")?,
        });
    }
    Ok(Json(wire::Receipt {
        version: RECEIPT_VERSION,
        kind: RECEIPT_KIND.to_string(),
        chain_id: s.genesis.chain_id.clone(),
        batch: id,
        currency,
        window: b.window,
        state_height: p.anchor.block.header.state_height,
        state_root: p.root,
        window_proof,
        batch_proof,
        settlement_proofs: settlement,
        settled_block: anchor_of(
            &settled_block.header,
            settled_block.hash,
            &settled_block.certificate,
        ),
        anchor: anchor_json(&p.anchor),
    }))
}

#[derive(serde::Deserialize)]
pub(super) struct CurrencyQuery {
    currency: Option<String>,
}

/// `GET /v1/settlement/liquidity?currency=C`: each member's settlement balance, net debit cap
/// and unsettled net position.
pub(super) async fn liquidity(
    State(s): State<ApiState>,
    Query(q): Query<CurrencyQuery>,
) -> Result<Json<wire::Liquidity>, ApiError> {
    let (currency, exp) = currency_param(&s, q.currency.as_deref())?;
    let sum = summary(&s, currency).await?;
    let mut members = Vec::new();
    for (m, cap, unsettled) in &sum.members {
        let name = member_name(&s.genesis, *m);
        let id = AccountId::derived("settlement", &name, currency);
        let balance = read_account(&s, &id)?.map_or(0, |a| a.balance());
        members.push(wire::MemberLiquidity {
            member: name,
            settlement_account: id,
            balance: format_signed_minor(balance, exp),
            balance_minor: balance.to_string(),
            net_debit_cap: cap.map(|c| format_signed_minor(i128::from(c.0), exp)),
            unsettled_net: format_signed_minor(*unsettled, exp),
            unsettled_net_minor: unsettled.to_string(),
        });
    }
    Ok(Json(wire::Liquidity {
        currency,
        exponent: exp,
        open_window: sum.open_window,
        members,
        height: s.shared.status().height,
    }))
}
