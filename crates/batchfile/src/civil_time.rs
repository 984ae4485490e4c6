//! Epoch milliseconds to ISO 8601 text, without a date-time dependency.
//!
//! `civil_from_days` is Howard Hinnant's algorithm ("chrono-Compatible Low-Level Date
//! Algorithms"): exact for every day of the proleptic Gregorian calendar that an `i64` of days
//! can name. All times are UTC.

/// (year, month 1-12, day 1-31) of a day counted from 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD` of an epoch-milliseconds time (UTC).
pub fn iso_date(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDThh:mm:ss.sssZ` of an epoch-milliseconds time (UTC).
pub fn iso_date_time(ms: u64) -> String {
    let secs_of_day = (ms % 86_400_000) / 1000;
    let millis = ms % 1000;
    format!(
        "{}T{:02}:{:02}:{:02}.{millis:03}Z",
        iso_date(ms),
        secs_of_day / 3600,
        (secs_of_day / 60) % 60,
        secs_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        let cases: &[(u64, &str)] = &[
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
            (1_741_611_600_000, "2025-03-10T13:00:00.000Z"),
            (4_102_444_800_000, "2100-01-01T00:00:00.000Z"),
        ];
        for (ms, want) in cases {
            assert_eq!(iso_date_time(*ms), *want, "{ms}");
        }
    }

    #[test]
    fn days_are_consecutive() {
        // Every day for 1970..2400 follows the previous one.
        let mut prev = civil_from_days(0);
        for d in 1..(430 * 366) {
            let cur = civil_from_days(d);
            let next_in_month = cur.0 == prev.0 && cur.1 == prev.1 && cur.2 == prev.2 + 1;
            let next_month = cur.0 == prev.0 && cur.1 == prev.1 + 1 && cur.2 == 1;
            let next_year = cur.0 == prev.0 + 1 && cur.1 == 1 && cur.2 == 1 && prev.1 == 12;
            assert!(
                next_in_month || next_month || next_year,
                "{prev:?} -> {cur:?}"
            );
            prev = cur;
        }
    }
}
