//! A genesis whose members carry the BICs and clearing ids of the sample files.
#![allow(dead_code)]

use settlenet_types::{ConsensusParams, CurrencyInfo, Genesis, Member, MemberId, MemberKind};
use std::path::PathBuf;

fn member(id: u16, name: &str, bic: Option<&str>, clearing: Option<&str>) -> Member {
    Member {
        id: MemberId(id),
        name: name.to_string(),
        kind: MemberKind::Bank,
        bic: bic.map(str::to_string),
        clearing_id: clearing.map(str::to_string),
        staff: vec![],
        net_debit_caps: vec![],
    }
}

pub const BANK_A: MemberId = MemberId(0);
pub const BANK_B: MemberId = MemberId(1);
pub const LAKE_CITY: MemberId = MemberId(2);
pub const EQUITY_RW: MemberId = MemberId(3);
pub const ITAU: MemberId = MemberId(4);
pub const US_BANK: MemberId = MemberId(5);

pub fn genesis() -> Genesis {
    Genesis {
        version: settlenet_types::genesis::GENESIS_VERSION,
        chain_id: "batchfile-test".into(),
        genesis_time_ms: 0,
        currencies: ["USD:2", "EUR:2", "RWF:0", "JPY:0"]
            .iter()
            .map(|s| {
                let (c, e) = s.split_once(':').expect("code:exp");
                CurrencyInfo {
                    code: c.parse().expect("currency"),
                    exponent: e.parse().expect("exponent"),
                }
            })
            .collect(),
        members: vec![
            // Fedwire sample: agents by ABA routing number only.
            member(0, "bank-a", Some("BANKGB2L"), Some("011104238")),
            member(1, "bank-b", Some("BANKUS33XXX"), Some("021040078")),
            // Mojaloop sample: 8-character BIC in the file, 11 here, and the reverse.
            member(2, "lake-city", Some("LAKCUS33XXX"), None),
            member(3, "equity-rw", Some("EQBLRWRW"), None),
            // prowide (bad CtrlSum) sample.
            member(4, "itau", Some("ITUSUSP1XXX"), None),
            member(5, "us-bank", Some("USTBUS31"), None),
        ],
        validators: vec![],
        accounts: vec![],
        consensus: ConsensusParams::default(),
    }
}

pub fn sample(name: &str) -> PathBuf {
    // Copies of /shared/data/iso20022 (see SOURCES.md there for origins and licences).
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/iso20022")
        .join(name)
}
