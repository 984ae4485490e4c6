//! What `batch` prints and writes: a file's description or its problems, and the ISO 20022
//! pacs.002 status report of a batch's outcome.

use super::plan::{member_totals, name_of, signed_money};
use crate::support::now_ms;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use settlenet_api::Window;
use settlenet_batchfile::{
    write_pacs002, ParsedBatch, ParsedInstruction, ReasonCode, StatusReason, StatusReport,
    TxStatus, TxStatusEntry,
};
use settlenet_types::ids::format_minor;
use settlenet_types::{BatchId, Genesis, MemberId};
use std::collections::BTreeMap;
use std::path::Path;

/// Every problem of a refused file, one a line: where, which field, what.
pub fn problems_text(b: &ParsedBatch) -> String {
    let mut out = format!(
        "{} problem(s) in the file; nothing was submitted:",
        b.error_count()
    );
    for p in &b.errors {
        out.push_str(&format!(
            "\n  {}: field {}: {} [{}]",
            p.location, p.field, p.message, p.reason
        ));
    }
    if b.errors_omitted > 0 {
        out.push_str(&format!("\n  ... and {} more problem(s)", b.errors_omitted));
    }
    out
}

pub fn problems_json(b: &ParsedBatch) -> Value {
    json!(b
        .errors
        .iter()
        .map(|p| json!({
            "location": p.location.to_string(), "field": p.field, "message": p.message,
            "reason": p.reason.code(), "instruction": p.instruction_id,
        }))
        .collect::<Vec<_>>())
}

/// The check's description of a valid file (JSON and text).
pub fn describe(
    genesis: &Genesis,
    b: &ParsedBatch,
    file: &Path,
    totals_only: bool,
) -> (Value, String) {
    let exp = b.exponent;
    let money = |x: u128| format_minor(x, exp);
    let mut text = format!(
        "{}: {}{}{}, {} instruction(s) in {}, total {}",
        file.display(),
        b.format,
        b.message_name
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default(),
        b.message_id
            .as_deref()
            .map(|m| format!(" (message {m})"))
            .unwrap_or_default(),
        b.totals.count,
        b.currency,
        money(b.totals.sum_minor)
    );
    let mut list = Vec::new();
    if !totals_only {
        text.push_str(&format!(
            "\n  {:<35} {:<16} {:<16} {:>15}  creditor account",
            "id", "debtor", "creditor", "amount"
        ));
    }
    for i in &b.instructions {
        let beneficiary = if i.creditor_phone.is_some() {
            "phone wallet (resolved at submit)"
        } else {
            "-"
        };
        if !totals_only {
            text.push_str(&format!(
                "\n  {:<35} {:<16} {:<16} {:>15}  {beneficiary}",
                i.id,
                name_of(genesis, i.debtor),
                name_of(genesis, i.creditor),
                money(u128::from(i.amount.0)),
            ));
        }
        if list.len() < 10_000 {
            list.push(json!({
                "id": i.id, "debtor": name_of(genesis, i.debtor),
                "creditor": name_of(genesis, i.creditor), "amount": money(u128::from(i.amount.0)),
                "reference": i.reference,
                "creditor_account": if i.creditor_phone.is_some() { json!("phone wallet (resolved at submit)") } else { Value::Null },
            }));
        }
    }
    text.push_str(&format!(
        "\n  totals per member ({}):\n  {:<16} {:>15} {:>15} {:>15}",
        b.currency, "member", "pays", "receives", "net"
    ));
    let mut members = Vec::new();
    for (m, (pays, receives)) in member_totals(b) {
        text.push_str(&format!(
            "\n  {:<16} {:>15} {:>15} {:>15}",
            name_of(genesis, m),
            money(pays),
            money(receives),
            signed_money(pays, receives, exp)
        ));
        members.push(json!({"member": name_of(genesis, m), "pays": money(pays),
            "receives": money(receives), "net": signed_money(pays, receives, exp)}));
    }
    text.push_str(&format!(
        "\n  {:<16} {:>15} {:>15} {:>15}\nfile OK: nothing was submitted (offline check)",
        "total",
        money(b.totals.sum_minor),
        money(b.totals.sum_minor),
        money(0)
    ));
    let v = json!({
        "ok": true, "file": file, "format": b.format.to_string(), "message_name": b.message_name,
        "message_id": b.message_id, "currency": b.currency, "count": b.totals.count,
        "total": money(b.totals.sum_minor), "members": members, "instructions": list,
    });
    (v, text)
}

/// What happened to a batch, for the status report.
pub enum Outcome {
    /// Staged, not settled: every instruction ACSP.
    Staged,
    /// Settled; instructions of unwound members were carried, not settled.
    Settled {
        unwound: BTreeMap<MemberId, String>,
        carried_to: Option<u64>,
    },
    /// The settlement was refused (shortfall): nothing moved.
    Refused {
        short: BTreeMap<MemberId, String>,
        reason: String,
    },
    /// Aborted: nothing moved and nothing will.
    Aborted,
}

pub fn status_report(
    genesis: &Genesis,
    b: &ParsedBatch,
    file: &Path,
    batch: &BatchId,
    outcome: &Outcome,
) -> StatusReport {
    let file_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut report = StatusReport::for_batch(
        b,
        &file_name,
        &format!("S-{batch}"),
        now_ms(),
        TxStatus::Acsp,
    );
    let entry = |i: &ParsedInstruction| -> (TxStatus, Option<StatusReason>) {
        let reason = |code, text: String| {
            Some(StatusReason {
                code,
                additional_info: Some(text),
            })
        };
        match outcome {
            Outcome::Staged => (TxStatus::Acsp, None),
            Outcome::Settled {
                unwound,
                carried_to,
            } => match unwound
                .get(&i.debtor)
                .map(|s| (i.debtor, s))
                .or_else(|| unwound.get(&i.creditor).map(|s| (i.creditor, s)))
            {
                None => (TxStatus::Acsc, None),
                Some((m, shortfall)) => (
                    TxStatus::Rjct,
                    reason(
                        ReasonCode::InsufficientFunds,
                        format!(
                            "{} could not cover its net debit (short {shortfall}) and was unwound; carried to window {}",
                            name_of(genesis, m),
                            carried_to.map(|w| w.to_string()).unwrap_or("-".into())
                        ),
                    ),
                ),
            },
            Outcome::Refused { short, reason: why } => {
                if let Some(s) = short.get(&i.debtor) {
                    (
                        TxStatus::Rjct,
                        reason(
                            ReasonCode::InsufficientFunds,
                            format!(
                                "debtor {} cannot cover its net debit: short {s}; batch refused",
                                name_of(genesis, i.debtor)
                            ),
                        ),
                    )
                } else {
                    (
                        TxStatus::Rjct,
                        reason(
                            ReasonCode::InsufficientFunds,
                            format!("batch refused, nothing settled: {why}"),
                        ),
                    )
                }
            }
            Outcome::Aborted => (
                TxStatus::Rjct,
                reason(
                    ReasonCode::Narrative,
                    "the batch was aborted; nothing settled".into(),
                ),
            ),
        }
    };
    report.transactions = b
        .instructions
        .iter()
        .map(|i| {
            let (status, reason) = entry(i);
            TxStatusEntry::for_instruction(i, status, reason)
        })
        .collect();
    report
}

pub fn write_report(
    path: &Path,
    genesis: &Genesis,
    b: &ParsedBatch,
    file: &Path,
    batch: &BatchId,
    outcome: &Outcome,
) -> Result<String> {
    let report = status_report(genesis, b, file, batch, outcome);
    std::fs::write(path, write_pacs002(&report))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(report.group_status().to_string())
}

/// The unwound members of a window, with their shortfalls.
pub fn unwound_of(genesis: &Genesis, w: &Window) -> BTreeMap<MemberId, String> {
    w.unwound
        .iter()
        .filter_map(|u| {
            let m = genesis.member_by_name(&u.member)?;
            Some((m.id, u.shortfall.clone()))
        })
        .collect()
}
