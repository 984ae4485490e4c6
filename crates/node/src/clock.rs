//! The node's clock: where the node reads wall time for consensus (the machine's `now`, block
//! timestamps, evidence times). Elsewhere only monotonic timers are read: the API's wait for a
//! certified proof, the network task's redial backoff, and the CLI's own timing.
//!
//! **Test hook.** The environment variable [`CLOCK_OFFSET_ENV`]
//! (`SETTLENET_TEST_CLOCK_OFFSET_MS`, a signed number of milliseconds) shifts this node's
//! clock. It exists only so that the end-to-end tests can run a validator whose clock is wrong
//! (`tests/faults.rs`); an operator never sets it. A value that does not parse is ignored (the
//! node logs it at start: see [`offset_ms`]).

use std::sync::OnceLock;

/// The environment variable that shifts the node's clock (tests only).
pub const CLOCK_OFFSET_ENV: &str = "SETTLENET_TEST_CLOCK_OFFSET_MS";

static OFFSET_MS: OnceLock<i64> = OnceLock::new();

/// The configured clock offset in ms (0 unless [`CLOCK_OFFSET_ENV`] is set to an integer).
pub fn offset_ms() -> i64 {
    *OFFSET_MS.get_or_init(|| {
        std::env::var(CLOCK_OFFSET_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0)
    })
}

/// Milliseconds since the Unix epoch (shifted by [`offset_ms`]).
pub fn now_ms() -> u64 {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    wall.saturating_add_signed(offset_ms())
}
