//! The seed suite: 5,000 seeds with n = 4 and 2,000 with n = 7 by default (`SIM_SEEDS=N` sets
//! the seeds per size; many more with `cargo run --release -p settlenet-sim -- --seeds N`). A
//! failing seed fails the test with its replay command.

use settlenet_sim::{run_seed, Summary};

/// Seeds per size: the release default, a few in debug builds; `SIM_SEEDS` overrides.
///
/// The defaults are sized to this project's 2-core machine: a seed costs about 27 ms of CPU
/// with n = 4 and 47 ms with n = 7 (the replicas of a run share a memo of verified signatures,
/// and ledgers share their state trees' untouched chunks; see docs/benchmarks.md), so 5,000 +
/// 2,000 seeds are about 220 CPU-seconds. Measured with `cargo test --release -p
/// settlenet-sim --test seeds`: 219 s wall at load average 4.6 to 5.8 (other builds on the same
/// 2 cores), 214 s user + 3.5 s system CPU; 159 s wall in a later run at load average 1.7 to
/// 4.1 (with both cores free, about 110 s; not measured). Since then a seed runs the node's
/// machine and an observer follows every run: about 45 ms of CPU with n = 4 and 75 ms with
/// n = 7, 395 s user CPU for the whole crate's tests (docs/benchmarks.md, 2026-12-06).
fn seeds(release: u64) -> u64 {
    std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 8 } else { release })
}

fn run_range(n: usize, seeds: std::ops::Range<u64>) -> Summary {
    let mut s = Summary::default();
    for seed in seeds {
        match run_seed(n, seed) {
            Ok(outcome) => s.add(&outcome),
            Err(e) => panic!("{e}"),
        }
    }
    s
}

/// Run `count` seeds from `start` on two threads.
fn run_parallel(n: usize, start: u64, count: u64) {
    let half = count / 2;
    let a = std::thread::spawn(move || run_range(n, start..start + half));
    let b = run_range(n, start + half..start + count);
    let mut total = a.join().expect("a seed failed (see above)");
    total.merge(&b);
    println!("n={n}: {total}");
    assert_eq!(total.seeds, count);
    // The runs did what they are for: view changes, crashes, and transactions of every kind.
    if count >= 100 {
        assert!(total.view_changes > 0 && total.crashes > 0, "{total:?}");
        assert!(
            total.txs_ok > 0 && total.txs_failed > 0 && total.txs_duplicate > 0,
            "{total:?}"
        );
    }
}

#[test]
fn seeds_with_four_replicas() {
    run_parallel(4, 0, seeds(5_000));
}

#[test]
fn seeds_with_seven_replicas() {
    run_parallel(7, 1_000_000, seeds(2_000));
}
