//! camt.053 bank-to-customer statements (version camt.053.001.02): a member's account over a
//! period, opening balance + entries = closing balance.

use crate::civil_time::iso_date_time;
use crate::error::BatchFileError;
use crate::xml_out::{max_chars, XmlOut};
use settlenet_types::ids::format_minor;
use settlenet_types::Currency;

/// The namespace of the statement this module writes.
pub const CAMT053_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02";

/// The period a statement covers, epoch milliseconds (UTC), `from_ms` inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Start of the period.
    pub from_ms: u64,
    /// End of the period.
    pub to_ms: u64,
}

/// One booked movement on the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementEntry {
    /// The ledger's reference (transaction id); `NtryRef` and `AcctSvcrRef`.
    pub reference: String,
    /// Minor units moved.
    pub amount: u128,
    /// `true` for money in (`CRDT`), `false` for money out (`DBIT`).
    pub credit: bool,
    /// Consensus time of the block that booked it, epoch milliseconds.
    pub booking_time_ms: u64,
    /// Free text (`AddtlNtryInf`), e.g. "settlement window 42".
    pub description: Option<String>,
}

/// A statement of one account, in neutral terms (the CLI fills it from the ledger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `GrpHdr/MsgId` (at most 35 characters are written).
    pub message_id: String,
    /// `Stmt/Id`.
    pub statement_id: String,
    /// `CreDtTm`, epoch milliseconds.
    pub created_ms: u64,
    /// The account's label (`Acct/Id/Othr/Id`, at most 34 characters), e.g. a member's
    /// settlement account.
    pub account: String,
    /// The account owner's name (`Acct/Ownr/Nm`), e.g. the member name.
    pub owner: Option<String>,
    /// The account currency.
    pub currency: Currency,
    /// Its minor-unit exponent.
    pub exponent: u8,
    /// Balance at the start of the period, minor units (negative: the account owes).
    pub opening: i128,
    /// Booked entries in the period, in booking order.
    pub entries: Vec<StatementEntry>,
    /// The period covered.
    pub period: Period,
}

/// Count and sum of entries one way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryTotals {
    /// Number of entries.
    pub count: u64,
    /// Sum of their amounts, minor units.
    pub sum: u128,
}

impl Statement {
    fn invalid(reason: String) -> BatchFileError {
        BatchFileError::Invalid {
            what: "statement",
            reason,
        }
    }

    /// (credits, debits) totals.
    pub fn totals(&self) -> Result<(EntryTotals, EntryTotals), BatchFileError> {
        let mut cr = EntryTotals::default();
        let mut db = EntryTotals::default();
        for e in &self.entries {
            let t = if e.credit { &mut cr } else { &mut db };
            t.count += 1;
            t.sum = t
                .sum
                .checked_add(e.amount)
                .ok_or_else(|| Self::invalid("entry sum overflows 128 bits".into()))?;
        }
        Ok((cr, db))
    }

    /// Closing balance: opening + credits - debits, exactly.
    pub fn closing(&self) -> Result<i128, BatchFileError> {
        let (cr, db) = self.totals()?;
        let overflow = || Self::invalid("closing balance overflows 128 bits".into());
        let cr = i128::try_from(cr.sum).map_err(|_| overflow())?;
        let db = i128::try_from(db.sum).map_err(|_| overflow())?;
        self.opening
            .checked_add(cr)
            .and_then(|v| v.checked_sub(db))
            .ok_or_else(overflow)
    }
}

fn write_balance(x: &mut XmlOut, code: &str, value: i128, ccy: &str, exponent: u8, at_ms: u64) {
    x.open("Bal", &[]);
    x.open("Tp", &[])
        .open("CdOrPrtry", &[])
        .leaf("Cd", code)
        .close()
        .close();
    x.leaf_attrs(
        "Amt",
        &[("Ccy", ccy)],
        &format_minor(value.unsigned_abs(), exponent),
    );
    x.leaf("CdtDbtInd", if value < 0 { "DBIT" } else { "CRDT" });
    x.open("Dt", &[])
        .leaf("DtTm", &iso_date_time(at_ms))
        .close();
    x.close();
}

/// Write a camt.053.001.02 `Document`. Refuses a statement whose closing balance overflows.
/// The written closing balance (`CLBD`) is always opening + credits - debits.
pub fn write_camt053(statement: &Statement) -> Result<String, BatchFileError> {
    let s = statement;
    let closing = s.closing()?;
    let (cr, db) = s.totals()?;
    // Invariant: what is written adds up (checked again on the totals just computed).
    let net = i128::try_from(cr.sum)
        .ok()
        .zip(i128::try_from(db.sum).ok())
        .and_then(|(c, d)| s.opening.checked_add(c)?.checked_sub(d));
    assert_eq!(net, Some(closing), "opening + entries must equal closing");
    let ccy = s.currency.as_str();
    let mut x = XmlOut::new();
    x.open("Document", &[("xmlns", CAMT053_NAMESPACE)]);
    x.open("BkToCstmrStmt", &[]);
    x.open("GrpHdr", &[])
        .leaf("MsgId", &max_chars(&s.message_id, 35))
        .leaf("CreDtTm", &iso_date_time(s.created_ms))
        .close();
    x.open("Stmt", &[]);
    x.leaf("Id", &max_chars(&s.statement_id, 35));
    x.leaf("CreDtTm", &iso_date_time(s.created_ms));
    x.open("FrToDt", &[])
        .leaf("FrDtTm", &iso_date_time(s.period.from_ms))
        .leaf("ToDtTm", &iso_date_time(s.period.to_ms))
        .close();
    x.open("Acct", &[]);
    x.open("Id", &[])
        .open("Othr", &[])
        .leaf("Id", &max_chars(&s.account, 34))
        .close()
        .close();
    x.leaf("Ccy", ccy);
    if let Some(owner) = &s.owner {
        x.open("Ownr", &[])
            .leaf("Nm", &max_chars(owner, 140))
            .close();
    }
    x.close();
    write_balance(&mut x, "OPBD", s.opening, ccy, s.exponent, s.period.from_ms);
    write_balance(&mut x, "CLBD", closing, ccy, s.exponent, s.period.to_ms);
    x.open("TxsSummry", &[]);
    x.open("TtlNtries", &[])
        .leaf("NbOfNtries", &(cr.count + db.count).to_string())
        .leaf(
            "TtlNetNtryAmt",
            &format_minor(closing.abs_diff(s.opening), s.exponent),
        )
        .leaf(
            "CdtDbtInd",
            if closing < s.opening { "DBIT" } else { "CRDT" },
        )
        .close();
    x.open("TtlCdtNtries", &[])
        .leaf("NbOfNtries", &cr.count.to_string())
        .leaf("Sum", &format_minor(cr.sum, s.exponent))
        .close();
    x.open("TtlDbtNtries", &[])
        .leaf("NbOfNtries", &db.count.to_string())
        .leaf("Sum", &format_minor(db.sum, s.exponent))
        .close();
    x.close();
    for e in &s.entries {
        x.open("Ntry", &[]);
        x.leaf("NtryRef", &max_chars(&e.reference, 35));
        x.leaf_attrs("Amt", &[("Ccy", ccy)], &format_minor(e.amount, s.exponent));
        x.leaf("CdtDbtInd", if e.credit { "CRDT" } else { "DBIT" });
        x.leaf("Sts", "BOOK");
        x.open("BookgDt", &[])
            .leaf("DtTm", &iso_date_time(e.booking_time_ms))
            .close();
        x.open("ValDt", &[])
            .leaf("DtTm", &iso_date_time(e.booking_time_ms))
            .close();
        x.leaf("AcctSvcrRef", &max_chars(&e.reference, 35));
        x.open("BkTxCd", &[])
            .open("Prtry", &[])
            .leaf("Cd", "SETTLENET")
            .close()
            .close();
        if let Some(d) = &e.description {
            x.leaf("AddtlNtryInf", &max_chars(d, 500));
        }
        x.close();
    }
    Ok(x.finish())
}
