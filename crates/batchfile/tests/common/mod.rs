//! A genesis whose members carry the BICs and clearing ids of the sample files.
#![allow(dead_code)]

use settlenet_ledger::test_util::{GenesisBuilder, MemberSpec};
use settlenet_types::{Currency, Genesis, MemberId};
use std::path::PathBuf;

pub const BANK_A: MemberId = MemberId(0);
pub const BANK_B: MemberId = MemberId(1);
pub const LAKE_CITY: MemberId = MemberId(2);
pub const EQUITY_RW: MemberId = MemberId(3);
pub const ITAU: MemberId = MemberId(4);
pub const US_BANK: MemberId = MemberId(5);

pub fn genesis() -> Genesis {
    let currency = |code: &str| -> Currency { code.parse().expect("currency") };
    GenesisBuilder::new("batchfile-test")
        .currency(currency("USD"), 2)
        .currency(currency("EUR"), 2)
        .currency(currency("RWF"), 0)
        .currency(currency("JPY"), 0)
        // Fedwire sample: agents by ABA routing number only.
        .member(
            MemberSpec::bank("bank-a")
                .bic("BANKGB2L")
                .clearing_id("011104238"),
        )
        .member(
            MemberSpec::bank("bank-b")
                .bic("BANKUS33XXX")
                .clearing_id("021040078"),
        )
        // Mojaloop sample: 8-character BIC in the file, 11 here, and the reverse.
        .member(MemberSpec::bank("lake-city").bic("LAKCUS33XXX"))
        .member(MemberSpec::bank("equity-rw").bic("EQBLRWRW"))
        // prowide (bad CtrlSum) sample.
        .member(MemberSpec::bank("itau").bic("ITUSUSP1XXX"))
        .member(MemberSpec::bank("us-bank").bic("USTBUS31"))
        .build()
}

pub fn sample(name: &str) -> PathBuf {
    // Copies of /shared/data/iso20022 (see SOURCES.md there for origins and licences).
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/iso20022")
        .join(name)
}
