//! A 100,000-row CSV streams through; amount parsing is exact (property tests).

mod common;

use common::*;
use proptest::prelude::*;
use settlenet_batchfile::{parse_amount, parse_file, ParseOptions, ReasonCode};
use settlenet_types::ids::format_minor;
use settlenet_types::{Amount, Currency};
use std::io::Write;

#[test]
fn csv_with_100k_rows_from_disk() {
    let n: u64 = 100_000;
    let mut file = tempfile::Builder::new()
        .suffix(".csv")
        .tempfile()
        .expect("temp file");
    let members = [
        "bank-a",
        "bank-b",
        "lake-city",
        "equity-rw",
        "itau",
        "us-bank",
    ];
    let mut expected_sum: u128 = 0;
    {
        let mut w = std::io::BufWriter::new(file.as_file_mut());
        writeln!(w, "id,debtor,creditor,amount,currency,reference").expect("write");
        for i in 0..n {
            let minor = 1 + (i * 7919) % 1_000_000;
            expected_sum += u128::from(minor);
            let d = members[(i % 6) as usize];
            let c = members[((i + 1 + i / 6 % 5) % 6) as usize];
            writeln!(
                w,
                "row-{i},{d},{c},{},USD,ref {i}",
                format_minor(u128::from(minor), 2)
            )
            .expect("write");
        }
        w.flush().expect("flush");
    }
    let started = std::time::Instant::now();
    let batch = parse_file(file.path(), &genesis(), &ParseOptions::default()).expect("readable");
    let took = started.elapsed();
    assert!(
        batch.is_ok(),
        "{:?}",
        batch.errors.first().map(|p| p.to_string())
    );
    assert_eq!(batch.totals.count, n);
    assert_eq!(batch.instructions.len() as u64, n);
    assert_eq!(batch.totals.sum_minor, expected_sum);
    let per_debtor: u128 = batch.totals.per_debtor.values().sum();
    let per_creditor: u128 = batch.totals.per_creditor.values().sum();
    assert_eq!(per_debtor, expected_sum);
    assert_eq!(per_creditor, expected_sum);
    assert_eq!(batch.instructions[99_999].id, "row-99999");
    eprintln!("parsed {n} CSV rows in {took:?}");
}

fn usd() -> Currency {
    "USD".parse().expect("USD")
}

proptest! {
    /// Formatting minor units and parsing them back gives the same value, for every exponent.
    #[test]
    fn amounts_round_trip_exactly(v in 1u64.., exponent in 0u8..=8) {
        let text = format_minor(u128::from(v), exponent);
        prop_assert_eq!(parse_amount(&text, usd(), exponent), Ok(Amount(v)));
        // Trailing zeros are exact; they never change the value.
        let padded = if exponent == 0 { format!("{text}.000") } else { format!("{text}00") };
        prop_assert_eq!(parse_amount(&padded, usd(), exponent), Ok(Amount(v)));
        // Agrees with the types crate wherever both accept.
        prop_assert_eq!(Amount::parse_decimal(&text, exponent), Ok(Amount(v)));
    }

    /// A non-zero digit beyond the exponent is refused, never rounded.
    #[test]
    fn extra_precision_is_refused(int in 0u64..1_000_000, frac in 1u32..10, exponent in 0u8..=4) {
        let text = format!("{int}.{}{frac}", "0".repeat(usize::from(exponent)));
        let err = parse_amount(&text, usd(), exponent).expect_err("must not round");
        prop_assert_eq!(err.reason, ReasonCode::InvalidAmount);
        prop_assert!(err.message.contains("decimals"), "{}", err.message);
    }

    /// Arbitrary text never panics; what is accepted is exactly its decimal value.
    #[test]
    fn arbitrary_text_is_exact_or_refused(text in "[+-]?[0-9]{0,22}(\\.[0-9]{0,10})?", exponent in 0u8..=6) {
        if let Ok(Amount(v)) = parse_amount(&text, usd(), exponent) {
            let t = text.trim_start_matches('+');
            let (i, f) = t.split_once('.').unwrap_or((t, ""));
            let f = f.trim_end_matches('0');
            prop_assert!(f.len() <= usize::from(exponent));
            let digits = format!("{i}{f:0<width$}", width = usize::from(exponent));
            let want: u128 = digits.parse().expect("digits");
            prop_assert_eq!(u128::from(v), want);
            prop_assert!(v > 0);
        }
    }
}
