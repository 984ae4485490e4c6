//! Request-to-pay messages for members whose back offices speak ISO 20022: a charge request as
//! `pain.013` (`CdtrPmtActvtnReq`, creditor payment activation request, version
//! pain.013.001.07) and its approval or refusal as `pain.014` (`CdtrPmtActvtnReqStsRpt`,
//! pain.014.001.07).
//!
//! The mapping (one request, one payment information block, one transaction):
//!
//! | SettleNet | pain.013 | pain.014 |
//! |---|---|---|
//! | charge id (hex) | `GrpHdr/MsgId`, `PmtInf/PmtInfId` | `OrgnlGrpInfAndSts/OrgnlMsgId`, `OrgnlPmtInfAndSts/OrgnlPmtInfId` |
//! | reference | `CdtTrfTx/PmtId/EndToEndId` | `TxInfAndSts/OrgnlEndToEndId` |
//! | amount, currency | `CdtTrfTx/Amt/InstdAmt` with `Ccy` | `OrgnlTxRef/Amt/InstdAmt` |
//! | expiry | `PmtInf/XpryDt/DtTm` | |
//! | merchant account, acquirer | `Cdtr/Nm`, `CdtrAcct/Id/Othr/Id`, `CdtrAgt/FinInstnId` | |
//! | payer wallet (if named), its issuer | `Dbtr`, `DbtrAcct/Id/Othr/Id`, `DbtrAgt/FinInstnId` | |
//! | status | | `TxSts`: `PDNG` pending, `ACCP` approved, `ACSC` completed, `RJCT` with `StsRsnInf/Rsn/Cd` |
//!
//! Refusal reasons (ISO external status reason codes): declined by the payer `CUST` (requested
//! by the customer), cancelled by the merchant and hold voided `DS02` (order cancelled),
//! expired `AEXR` (request-to-pay already expired).

use crate::civil_time::iso_date_time;
use crate::xml_out::{max_chars, XmlOut};
use settlenet_types::ids::format_minor;
use settlenet_types::Currency;

/// The namespace of the request this module writes.
pub const PAIN013_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.013.001.07";
/// The namespace of the status report this module writes.
pub const PAIN014_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.014.001.07";
/// The message name a pain.014 cites as the original.
pub const PAIN013_NAME: &str = "pain.013.001.07";

/// A financial institution as the messages name it (`FinInstnId`): BIC, else clearing member
/// id, else its name as `Othr/Id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// The member's name.
    pub name: String,
    /// Its BIC, if any.
    pub bic: Option<String>,
    /// Its national clearing member id, if any.
    pub clearing_id: Option<String>,
}

/// A charge request, as the messages carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequestDoc {
    /// The charge id (32 hex characters).
    pub id: String,
    /// The merchant's reference (`Max35Text`).
    pub reference: String,
    /// The amount in minor units.
    pub amount_minor: u128,
    /// The currency and its exponent.
    pub currency: Currency,
    /// Decimal places of `currency`.
    pub exponent: u8,
    /// When the message is written (ms since the Unix epoch).
    pub created_ms: u64,
    /// The request's expiry (consensus time, ms).
    pub expires_at_ms: u64,
    /// The merchant account id (hex).
    pub creditor_account: String,
    /// The merchant's acquirer.
    pub creditor_agent: Agent,
    /// The payer wallet (hex), if the request names one (or once approved).
    pub debtor_account: Option<String>,
    /// The payer wallet's issuer, when known.
    pub debtor_agent: Option<Agent>,
}

/// The status a pain.014 reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeReportStatus {
    /// `PDNG`: waiting for the payer.
    Pending,
    /// `ACCP`: the payer approved (a hold is placed).
    Accepted,
    /// `ACSC`: the merchant captured: the payment is complete.
    Completed,
    /// `RJCT` with an ISO external status reason code and text.
    Rejected {
        /// The four-character reason code.
        code: &'static str,
        /// Free text (`AddtlInf`, at most 105 characters).
        text: String,
    },
}

impl ChargeReportStatus {
    /// The four-letter `TxSts` code.
    pub fn code(&self) -> &'static str {
        match self {
            ChargeReportStatus::Pending => "PDNG",
            ChargeReportStatus::Accepted => "ACCP",
            ChargeReportStatus::Completed => "ACSC",
            ChargeReportStatus::Rejected { .. } => "RJCT",
        }
    }
}

fn agent(x: &mut XmlOut, element: &'static str, a: &Agent) {
    x.open(element, &[]).open("FinInstnId", &[]);
    if let Some(bic) = &a.bic {
        x.leaf("BICFI", bic);
    } else if let Some(id) = &a.clearing_id {
        x.open("ClrSysMmbId", &[])
            .leaf("MmbId", &max_chars(id, 35))
            .close();
    }
    x.leaf("Nm", &max_chars(&a.name, 140));
    x.close().close();
}

fn account(x: &mut XmlOut, element: &'static str, id: &str) {
    x.open(element, &[])
        .open("Id", &[])
        .open("Othr", &[])
        .leaf("Id", &max_chars(id, 34))
        .close()
        .close()
        .close();
}

/// `pain.013.001.07`: the charge request.
pub fn write_pain013(r: &ChargeRequestDoc) -> String {
    let amount = format_minor(r.amount_minor, r.exponent);
    let mut x = XmlOut::new();
    x.open("Document", &[("xmlns", PAIN013_NAMESPACE)]);
    x.open("CdtrPmtActvtnReq", &[]);
    x.open("GrpHdr", &[])
        .leaf("MsgId", &max_chars(&r.id, 35))
        .leaf("CreDtTm", &iso_date_time(r.created_ms))
        .leaf("NbOfTxs", "1")
        .leaf("CtrlSum", &amount)
        .open("InitgPty", &[])
        .leaf("Nm", &max_chars(&r.creditor_agent.name, 140))
        .close()
        .close();
    x.open("PmtInf", &[])
        .leaf("PmtInfId", &max_chars(&r.id, 35))
        .leaf("PmtMtd", "TRF")
        .open("ReqdExctnDt", &[])
        .leaf("DtTm", &iso_date_time(r.created_ms))
        .close()
        .open("XpryDt", &[])
        .leaf("DtTm", &iso_date_time(r.expires_at_ms))
        .close();
    x.open("Dbtr", &[]);
    match &r.debtor_account {
        Some(_) => x.leaf("Nm", "Named wallet holder"),
        None => x.leaf("Nm", "Any wallet holder"),
    };
    x.close();
    if let Some(d) = &r.debtor_account {
        account(&mut x, "DbtrAcct", d);
    }
    if let Some(a) = &r.debtor_agent {
        agent(&mut x, "DbtrAgt", a);
    }
    x.open("CdtTrfTx", &[])
        .open("PmtId", &[])
        .leaf("EndToEndId", &max_chars(&r.reference, 35))
        .close()
        .open("Amt", &[])
        .leaf_attrs("InstdAmt", &[("Ccy", &r.currency.to_string())], &amount)
        .close()
        .leaf("ChrgBr", "SLEV");
    agent(&mut x, "CdtrAgt", &r.creditor_agent);
    x.open("Cdtr", &[])
        .leaf(
            "Nm",
            &format!("Merchant {}", max_chars(&r.creditor_account, 32)),
        )
        .close();
    account(&mut x, "CdtrAcct", &r.creditor_account);
    x.open("RmtInf", &[])
        .leaf("Ustrd", &max_chars(&r.reference, 140))
        .close();
    x.finish()
}

/// `pain.014.001.07`: the status of the request, as of `status_ms`.
pub fn write_pain014(r: &ChargeRequestDoc, status: &ChargeReportStatus, status_ms: u64) -> String {
    let amount = format_minor(r.amount_minor, r.exponent);
    let mut x = XmlOut::new();
    x.open("Document", &[("xmlns", PAIN014_NAMESPACE)]);
    x.open("CdtrPmtActvtnReqStsRpt", &[]);
    x.open("GrpHdr", &[])
        .leaf(
            "MsgId",
            &max_chars(&format!("{}-{}", status.code(), r.id), 35),
        )
        .leaf("CreDtTm", &iso_date_time(status_ms))
        .open("InitgPty", &[])
        .leaf("Nm", "SettleNet")
        .close()
        .close();
    x.open("OrgnlGrpInfAndSts", &[])
        .leaf("OrgnlMsgId", &max_chars(&r.id, 35))
        .leaf("OrgnlMsgNmId", PAIN013_NAME)
        .leaf("OrgnlCreDtTm", &iso_date_time(r.created_ms))
        .close();
    x.open("OrgnlPmtInfAndSts", &[])
        .leaf("OrgnlPmtInfId", &max_chars(&r.id, 35));
    x.open("TxInfAndSts", &[])
        .leaf("OrgnlEndToEndId", &max_chars(&r.reference, 35))
        .leaf("TxSts", status.code());
    if let ChargeReportStatus::Rejected { code, text } = status {
        x.open("StsRsnInf", &[])
            .open("Rsn", &[])
            .leaf("Cd", code)
            .close()
            .leaf("AddtlInf", &max_chars(text, 105))
            .close();
    }
    x.open("OrgnlTxRef", &[])
        .open("Amt", &[])
        .leaf_attrs("InstdAmt", &[("Ccy", &r.currency.to_string())], &amount)
        .close()
        .open("XpryDt", &[])
        .leaf("DtTm", &iso_date_time(r.expires_at_ms))
        .close();
    account(&mut x, "CdtrAcct", &r.creditor_account);
    x.close();
    x.finish()
}
