//! Consensus time: the rule a replica applies to the timestamp of a fresh proposal.
//!
//! The primary stamps each block with its clock; the ledger's time-dependent rules run on that
//! stamp, never on a replica's wall clock. A backup accepts a fresh PRE-PREPARE only if its
//! stamp is
//! - **strictly after** every non-null block this replica knows below it (the committed chain,
//!   and the pre-prepares of the current view it accepted at lower heights, which matters when
//!   several heights are in flight), and **strictly before** any it accepted above it (the
//!   network may reorder two pre-prepares), so time strictly increases along the chain;
//! - **not in the future** by more than `max_skew_ms` of the replica's clock;
//! - **not in the past** by more than `max_skew_ms`: a primary cannot stamp fresh blocks with
//!   an old time (for example to run the ledger's timeouts on a stale clock).
//!
//! The replica's clock is read by the node when the PRE-PREPARE arrives; this module only
//! compares numbers (no clock here).
//!
//! Exempt, because they never reach this check: blocks re-proposed by a NEW-VIEW (they keep the
//! header a quorum prepared in an earlier view, so they may be older than the skew) and null
//! blocks (timestamp 0: they carry no time, and consensus time stays where it was).

use thiserror::Error;

/// What a proposal's timestamp is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeBounds {
    /// The replica's clock (ms since the Unix epoch) when the proposal arrived.
    pub now_ms: u64,
    /// The largest tolerated difference between a fresh proposal's stamp and `now_ms`, either way.
    pub max_skew_ms: u64,
    /// The latest consensus time this replica knows below the proposal's height: the last
    /// committed block's stamp (the genesis time at height 0), or a higher one accepted at a
    /// height in between. Null blocks are skipped (they carry no time).
    pub previous_ms: u64,
    /// The earliest stamp of a non-null block this replica accepted above the proposal's height
    /// in the current view, if any.
    pub next_ms: Option<u64>,
}

/// Why a proposal's timestamp was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum TimeError {
    /// Further in the future than the tolerated skew.
    #[error(
        "timestamp {timestamp_ms} is {ahead_ms} ms in this replica's future (max skew \
         {max_skew_ms} ms)"
    )]
    InFuture {
        /// The proposal's stamp.
        timestamp_ms: u64,
        /// How far ahead of the replica's clock it is.
        ahead_ms: u64,
        /// The replica's clock.
        now_ms: u64,
        /// The tolerated skew.
        max_skew_ms: u64,
    },
    /// Further in the past than the tolerated skew.
    #[error(
        "timestamp {timestamp_ms} is {behind_ms} ms in this replica's past (max skew \
         {max_skew_ms} ms)"
    )]
    TooOld {
        /// The proposal's stamp.
        timestamp_ms: u64,
        /// How far behind the replica's clock it is.
        behind_ms: u64,
        /// The replica's clock.
        now_ms: u64,
        /// The tolerated skew.
        max_skew_ms: u64,
    },
    /// Not after the consensus time of the chain below it.
    #[error("timestamp {timestamp_ms} is not after the previous block's {previous_ms}")]
    NotAfterPrevious {
        /// The proposal's stamp.
        timestamp_ms: u64,
        /// The latest consensus time below it.
        previous_ms: u64,
    },
    /// Not before a block already accepted above it.
    #[error("timestamp {timestamp_ms} is not before the next accepted block's {next_ms}")]
    NotBeforeNext {
        /// The proposal's stamp.
        timestamp_ms: u64,
        /// The earliest stamp accepted above it.
        next_ms: u64,
    },
}

/// Check the timestamp of a fresh (normal-case) proposal against `bounds` (see the module
/// documentation). Order of the checks: chain order first (a violation there is a protocol
/// fault whatever the clocks say), then the clock bounds.
pub fn check_proposal_time(timestamp_ms: u64, bounds: &TimeBounds) -> Result<(), TimeError> {
    if timestamp_ms <= bounds.previous_ms {
        return Err(TimeError::NotAfterPrevious {
            timestamp_ms,
            previous_ms: bounds.previous_ms,
        });
    }
    if let Some(next_ms) = bounds.next_ms {
        if timestamp_ms >= next_ms {
            return Err(TimeError::NotBeforeNext {
                timestamp_ms,
                next_ms,
            });
        }
    }
    if timestamp_ms > bounds.now_ms.saturating_add(bounds.max_skew_ms) {
        return Err(TimeError::InFuture {
            timestamp_ms,
            ahead_ms: timestamp_ms - bounds.now_ms,
            now_ms: bounds.now_ms,
            max_skew_ms: bounds.max_skew_ms,
        });
    }
    if timestamp_ms < bounds.now_ms.saturating_sub(bounds.max_skew_ms) {
        return Err(TimeError::TooOld {
            timestamp_ms,
            behind_ms: bounds.now_ms - timestamp_ms,
            now_ms: bounds.now_ms,
            max_skew_ms: bounds.max_skew_ms,
        });
    }
    Ok(())
}

/// The stamp a primary gives its next proposal: its clock, or just after the latest consensus
/// time it knows below the height if its clock is not ahead of that (so the chain stays
/// strictly increasing even after a NEW-VIEW re-proposed blocks stamped by a faster clock).
pub fn next_proposal_time(now_ms: u64, previous_ms: u64) -> u64 {
    now_ms.max(previous_ms.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000_000;
    const SKEW: u64 = 2_000;

    fn bounds(previous_ms: u64, next_ms: Option<u64>) -> TimeBounds {
        TimeBounds {
            now_ms: NOW,
            max_skew_ms: SKEW,
            previous_ms,
            next_ms,
        }
    }

    #[test]
    fn table() {
        use TimeError::*;
        let cases: Vec<(&str, u64, TimeBounds, Result<(), TimeError>)> = vec![
            ("now, after previous", NOW, bounds(NOW - 10, None), Ok(())),
            ("exactly skew ahead", NOW + SKEW, bounds(0, None), Ok(())),
            ("exactly skew behind", NOW - SKEW, bounds(0, None), Ok(())),
            (
                "one ms beyond the future bound",
                NOW + SKEW + 1,
                bounds(0, None),
                Err(InFuture {
                    timestamp_ms: NOW + SKEW + 1,
                    ahead_ms: SKEW + 1,
                    now_ms: NOW,
                    max_skew_ms: SKEW,
                }),
            ),
            (
                "one ms beyond the past bound",
                NOW - SKEW - 1,
                bounds(0, None),
                Err(TooOld {
                    timestamp_ms: NOW - SKEW - 1,
                    behind_ms: SKEW + 1,
                    now_ms: NOW,
                    max_skew_ms: SKEW,
                }),
            ),
            (
                "equal to previous",
                NOW,
                bounds(NOW, None),
                Err(NotAfterPrevious {
                    timestamp_ms: NOW,
                    previous_ms: NOW,
                }),
            ),
            (
                "before previous (previous stamped by a fast clock)",
                NOW,
                bounds(NOW + 500, None),
                Err(NotAfterPrevious {
                    timestamp_ms: NOW,
                    previous_ms: NOW + 500,
                }),
            ),
            ("before next", NOW, bounds(NOW - 1, Some(NOW + 1)), Ok(())),
            (
                "equal to next",
                NOW,
                bounds(NOW - 1, Some(NOW)),
                Err(NotBeforeNext {
                    timestamp_ms: NOW,
                    next_ms: NOW,
                }),
            ),
            (
                "chain order is reported before the clock bound",
                NOW - SKEW - 10,
                bounds(NOW, None),
                Err(NotAfterPrevious {
                    timestamp_ms: NOW - SKEW - 10,
                    previous_ms: NOW,
                }),
            ),
            (
                "a null stamp (0) on a fresh proposal",
                0,
                bounds(0, None),
                Err(NotAfterPrevious {
                    timestamp_ms: 0,
                    previous_ms: 0,
                }),
            ),
            (
                "clock near zero does not underflow",
                5,
                TimeBounds {
                    now_ms: 3,
                    max_skew_ms: SKEW,
                    previous_ms: 0,
                    next_ms: None,
                },
                Ok(()),
            ),
            (
                "clock near the top does not overflow",
                u64::MAX,
                TimeBounds {
                    now_ms: u64::MAX - 1,
                    max_skew_ms: SKEW,
                    previous_ms: 0,
                    next_ms: None,
                },
                Ok(()),
            ),
        ];
        for (what, ts, b, expected) in cases {
            assert_eq!(check_proposal_time(ts, &b), expected, "{what}");
        }
    }

    #[test]
    fn errors_say_how_far_off() {
        let e = check_proposal_time(NOW + 5_000, &bounds(0, None)).expect_err("refused");
        assert!(
            e.to_string().contains("5000 ms in this replica's future"),
            "{e}"
        );
        let e = check_proposal_time(NOW - 7_000, &bounds(0, None)).expect_err("refused");
        assert!(
            e.to_string().contains("7000 ms in this replica's past"),
            "{e}"
        );
    }

    #[test]
    fn a_primary_stamp_passes_its_own_rule() {
        // Whatever the previous stamp, a primary whose clock agrees with the backup's produces
        // a stamp the backup accepts, provided the previous stamp is within the skew.
        for previous in [0, NOW - SKEW, NOW - 1, NOW, NOW + 1, NOW + SKEW - 1] {
            let ts = next_proposal_time(NOW, previous);
            assert!(ts > previous);
            assert_eq!(
                check_proposal_time(ts, &bounds(previous, None)),
                Ok(()),
                "{previous}"
            );
        }
    }
}
