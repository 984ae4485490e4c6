//! When to ban a validator that sends invalid signatures: a pure rule (no clock, no I/O), fed
//! by the network gate.
//!
//! An honest validator never sends a message whose signature (or a signature it carries) does
//! not verify: it signs with its own key and checks what it forwards. A few could come from a
//! bug or a corrupted link, so one bad signature is only counted; `threshold` of them within
//! [`STRIKE_WINDOW_MS`] get the peer banned for `base` (doubling with each further ban of the
//! same peer, up to [`BAN_MAX`]). A banned validator is one of the f faults consensus
//! tolerates; its ban runs out on its own, so an operator who fixed the cause needs no action.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

/// Strikes count within this many milliseconds of the first one.
pub const STRIKE_WINDOW_MS: u64 = 60_000;
/// Longest ban.
pub const BAN_MAX: Duration = Duration::from_secs(3600);
/// Further bans double the first up to [`BAN_MAX`]; after this many the count stops growing.
const BANS_COUNTED_MAX: u32 = 16;

/// Strikes of one peer.
#[derive(Debug, Default, Clone, Copy)]
struct Record {
    /// When the current window began (ms).
    window_start: u64,
    /// Strikes in it.
    strikes: u32,
    /// Bans so far (at most [`BANS_COUNTED_MAX`]).
    bans: u32,
    /// When the last ban ends (ms): strikes before then are not counted (messages the peer
    /// sent before its ban may still be arriving).
    banned_until: u64,
}

/// Strike counts per peer. The map only holds peers the caller passes (the gate passes
/// validators only), so it is bounded by the validator set.
#[derive(Debug)]
pub struct Strikes<P> {
    threshold: u32,
    base: Duration,
    records: HashMap<P, Record>,
}

impl<P: Eq + Hash + Copy> Strikes<P> {
    /// Ban after `threshold` strikes within the window (0: never), first for `base`.
    pub fn new(threshold: u32, base: Duration) -> Strikes<P> {
        Strikes {
            threshold,
            base,
            records: HashMap::new(),
        }
    }

    /// Count one strike against `peer` at `now_ms`; `Some(duration)` when it earns a ban.
    pub fn strike(&mut self, peer: P, now_ms: u64) -> Option<Duration> {
        if self.threshold == 0 {
            return None;
        }
        let r = self.records.entry(peer).or_default();
        if now_ms < r.banned_until {
            return None;
        }
        if r.strikes == 0 || now_ms.saturating_sub(r.window_start) > STRIKE_WINDOW_MS {
            r.window_start = now_ms;
            r.strikes = 0;
        }
        r.strikes += 1;
        if r.strikes < self.threshold {
            return None;
        }
        r.strikes = 0;
        let factor = 1u32 << r.bans.min(BANS_COUNTED_MAX);
        r.bans = (r.bans + 1).min(BANS_COUNTED_MAX);
        let ban = self.base.saturating_mul(factor).min(BAN_MAX);
        r.banned_until = now_ms.saturating_add(ban.as_millis() as u64);
        Some(ban)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_needs_threshold_strikes_within_the_window_and_doubles_each_time() {
        let mut s = Strikes::new(3, Duration::from_secs(60));
        assert_eq!(s.strike(1u8, 0), None);
        assert_eq!(s.strike(1, 10), None);
        // Another peer's strikes are its own.
        assert_eq!(s.strike(2, 20), None);
        assert_eq!(s.strike(1, 30), Some(Duration::from_secs(60)));
        // While the ban lasts, late messages earn no second ban.
        assert!((0..10).all(|i| s.strike(1, 40 + i).is_none()));
        // Strikes spread wider than the window never ban.
        for i in 0..10 {
            assert_eq!(s.strike(2, 100 + i * (STRIKE_WINDOW_MS + 1)), None, "{i}");
        }
        // The next ban of peer 1 lasts twice as long, then four times, ... up to an hour.
        let mut now = 1_000_000;
        let mut bans = Vec::new();
        for _ in 0..10 {
            for _ in 0..3 {
                now += 1;
                if let Some(d) = s.strike(1, now) {
                    bans.push(d.as_secs());
                    now += d.as_millis() as u64; // strikes resume after the ban
                }
            }
        }
        assert_eq!(
            bans,
            vec![120, 240, 480, 960, 1920, 3600, 3600, 3600, 3600, 3600]
        );
    }

    #[test]
    fn threshold_zero_never_bans() {
        let mut s = Strikes::new(0, Duration::from_secs(1));
        assert!((0..1000).all(|i| s.strike(0u8, i).is_none()));
    }
}
