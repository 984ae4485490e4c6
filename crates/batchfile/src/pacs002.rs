//! pacs.002 payment status reports (`FIToFIPmtStsRpt`, version pacs.002.001.10), the answer a
//! bank's system reads after submitting a batch: accepted (`ACSP`), settled (`ACSC`) or rejected
//! (`RJCT`, with an ISO reason code and text) per transaction.

use crate::civil_time::iso_date_time;
use crate::model::{ParsedBatch, ParsedInstruction, ReasonCode};
use crate::xml_out::{max_chars, XmlOut};
use std::collections::BTreeSet;

/// The namespace of the report this module writes.
pub const PACS002_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10";
/// `AddtlInf` is `Max105Text`; longer explanations are split over this many of them at most.
const ADDTL_INF_MAX: usize = 3;

/// A transaction's status (`ExternalPaymentTransactionStatus1Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TxStatus {
    /// `ACSP`: accepted, settlement in process (validated, in an open window).
    Acsp,
    /// `ACSC`: accepted, settlement completed (the window settled).
    Acsc,
    /// `RJCT`: rejected.
    Rjct,
}

impl TxStatus {
    /// The four-letter ISO code.
    pub fn code(self) -> &'static str {
        match self {
            TxStatus::Acsp => "ACSP",
            TxStatus::Acsc => "ACSC",
            TxStatus::Rjct => "RJCT",
        }
    }
}

/// Why a status was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReason {
    /// The ISO external status reason code.
    pub code: ReasonCode,
    /// Free text (split into `Max105Text` pieces when written).
    pub additional_info: Option<String>,
}

/// The status of one original transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxStatusEntry {
    /// `OrgnlInstrId`.
    pub original_instr_id: Option<String>,
    /// `OrgnlEndToEndId`.
    pub original_end_to_end_id: Option<String>,
    /// `OrgnlTxId`.
    pub original_tx_id: Option<String>,
    /// `TxSts`.
    pub status: TxStatus,
    /// `StsRsnInf`, for rejections (and optionally for others).
    pub reason: Option<StatusReason>,
}

impl TxStatusEntry {
    /// The status of a parsed instruction, echoing its original ids. For CSV/JSON instructions
    /// (no ISO ids) the batch id is echoed as `OrgnlInstrId`.
    pub fn for_instruction(
        instruction: &ParsedInstruction,
        status: TxStatus,
        reason: Option<StatusReason>,
    ) -> TxStatusEntry {
        let iso = instruction.instr_id.is_some()
            || instruction.tx_id.is_some()
            || instruction.end_to_end_id.is_some();
        TxStatusEntry {
            original_instr_id: if iso {
                instruction.instr_id.clone()
            } else {
                Some(instruction.id.clone())
            },
            original_end_to_end_id: instruction.end_to_end_id.clone(),
            original_tx_id: instruction.tx_id.clone(),
            status,
            reason,
        }
    }
}

/// A status report for one original message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// `GrpHdr/MsgId` of this report (at most 35 characters are written).
    pub message_id: String,
    /// `GrpHdr/CreDtTm`, epoch milliseconds (UTC).
    pub created_ms: u64,
    /// `OrgnlMsgId`: the batch's `GrpHdr/MsgId` (or file name for CSV/JSON).
    pub original_message_id: String,
    /// `OrgnlMsgNmId`: `pacs.008.001.08`, or e.g. `settlenet.csv` for other formats.
    pub original_message_name: String,
    /// Reasons that concern the whole message (e.g. a wrong `CtrlSum`).
    pub group_reasons: Vec<StatusReason>,
    /// One entry per original transaction.
    pub transactions: Vec<TxStatusEntry>,
}

impl StatusReport {
    /// `GrpSts`: `RJCT` if every transaction (or the group) is rejected, `PART` if some are,
    /// `ACSC` if all settled, otherwise `ACSP`.
    pub fn group_status(&self) -> &'static str {
        let rejected = self
            .transactions
            .iter()
            .filter(|t| t.status == TxStatus::Rjct)
            .count();
        if self.transactions.is_empty() {
            if self.group_reasons.is_empty() {
                "ACSP"
            } else {
                "RJCT"
            }
        } else if rejected == self.transactions.len() {
            "RJCT"
        } else if rejected > 0 {
            "PART"
        } else if self.transactions.iter().all(|t| t.status == TxStatus::Acsc) {
            "ACSC"
        } else {
            "ACSP"
        }
    }

    /// The report for a parsed batch: every instruction `accepted` (ACSP or ACSC) when the file
    /// is valid; otherwise the file changes nothing, so every instruction is `RJCT`, with the
    /// first problem of an instruction as its reason (`NARR` "file rejected" for an instruction
    /// that was itself fine) and problems of no instruction as group reasons.
    pub fn for_batch(
        batch: &ParsedBatch,
        file_name: &str,
        message_id: &str,
        created_ms: u64,
        accepted: TxStatus,
    ) -> StatusReport {
        let mut report = StatusReport {
            message_id: message_id.to_string(),
            created_ms,
            original_message_id: batch
                .message_id
                .clone()
                .unwrap_or_else(|| file_name.to_string()),
            original_message_name: batch
                .message_name
                .clone()
                .unwrap_or_else(|| format!("settlenet.{}", batch.format).to_lowercase()),
            group_reasons: Vec::new(),
            transactions: Vec::new(),
        };
        if batch.is_ok() {
            report.transactions = batch
                .instructions
                .iter()
                .map(|i| TxStatusEntry::for_instruction(i, accepted, None))
                .collect();
            return report;
        }
        let mut seen = BTreeSet::new();
        for p in &batch.errors {
            match &p.instruction_id {
                Some(id) => {
                    if seen.insert(id.clone()) {
                        report.transactions.push(TxStatusEntry {
                            original_instr_id: Some(id.clone()),
                            original_end_to_end_id: None,
                            original_tx_id: None,
                            status: TxStatus::Rjct,
                            reason: Some(StatusReason {
                                code: p.reason,
                                additional_info: Some(p.to_string()),
                            }),
                        });
                    }
                }
                None => report.group_reasons.push(StatusReason {
                    code: p.reason,
                    additional_info: Some(p.to_string()),
                }),
            }
        }
        let text = format!(
            "the file was rejected as a whole ({} problems); nothing was settled",
            batch.error_count()
        );
        for i in &batch.instructions {
            report.transactions.push(TxStatusEntry::for_instruction(
                i,
                TxStatus::Rjct,
                Some(StatusReason {
                    code: ReasonCode::Narrative,
                    additional_info: Some(text.clone()),
                }),
            ));
        }
        report
    }
}

fn write_reason(x: &mut XmlOut, r: &StatusReason) {
    x.open("StsRsnInf", &[]);
    x.open("Rsn", &[]).leaf("Cd", r.code.code()).close();
    if let Some(info) = &r.additional_info {
        let chars: Vec<char> = info.chars().collect();
        for chunk in chars.chunks(105).take(ADDTL_INF_MAX) {
            let s: String = chunk.iter().collect();
            x.leaf("AddtlInf", &s);
        }
    }
    x.close();
}

/// Write a pacs.002.001.10 `Document`.
pub fn write_pacs002(report: &StatusReport) -> String {
    let mut x = XmlOut::new();
    x.open("Document", &[("xmlns", PACS002_NAMESPACE)]);
    x.open("FIToFIPmtStsRpt", &[]);
    x.open("GrpHdr", &[])
        .leaf("MsgId", &max_chars(&report.message_id, 35))
        .leaf("CreDtTm", &iso_date_time(report.created_ms))
        .close();
    x.open("OrgnlGrpInfAndSts", &[])
        .leaf("OrgnlMsgId", &max_chars(&report.original_message_id, 35))
        .leaf(
            "OrgnlMsgNmId",
            &max_chars(&report.original_message_name, 35),
        )
        .leaf("GrpSts", report.group_status());
    for r in &report.group_reasons {
        write_reason(&mut x, r);
    }
    x.close();
    for t in &report.transactions {
        x.open("TxInfAndSts", &[]);
        if let Some(v) = &t.original_instr_id {
            x.leaf("OrgnlInstrId", &max_chars(v, 35));
        }
        if let Some(v) = &t.original_end_to_end_id {
            x.leaf("OrgnlEndToEndId", &max_chars(v, 35));
        }
        if let Some(v) = &t.original_tx_id {
            x.leaf("OrgnlTxId", &max_chars(v, 35));
        }
        x.leaf("TxSts", t.status.code());
        if let Some(r) = &t.reason {
            write_reason(&mut x, r);
        }
        x.close();
    }
    x.finish()
}
