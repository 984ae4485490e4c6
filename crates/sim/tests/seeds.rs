//! Thousands of seeds across n = 4 and n = 7 (`SIM_SEEDS=N` sets the seeds per size; more with
//! `cargo run --release -p settlenet-sim -- --seeds N`). A failing seed fails the test with
//! its replay command.

use settlenet_sim::{run_seed, Outcome};

/// Seeds per size: the release default, a few in debug builds; `SIM_SEEDS` overrides.
///
/// The defaults keep the suite within about 3 minutes on this project's 2-core machine: a seed
/// costs about 77 ms of CPU with n = 4 and 320 ms with n = 7 (signature verification of
/// VIEW-CHANGEs and their prepared certificates dominates), so 1,500 + 300 seeds are about
/// 210 CPU-seconds.
fn seeds(release: u64) -> u64 {
    std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 8 } else { release })
}

#[derive(Default, Debug)]
struct Summary {
    runs: u64,
    view_changes: u64,
    crashes: u64,
    heights: u64,
    txs_ok: u64,
    txs_failed: u64,
    txs_duplicate: u64,
}

impl Summary {
    fn add(&mut self, o: &Outcome) {
        self.runs += 1;
        self.view_changes += o.view_changes;
        self.crashes += o.crashes;
        self.heights += o.max_height;
        self.txs_ok += o.txs_ok;
        self.txs_failed += o.txs_failed;
        self.txs_duplicate += o.txs_duplicate;
    }
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
    let a = a.join().expect("a seed failed (see above)");
    let total = Summary {
        runs: a.runs + b.runs,
        view_changes: a.view_changes + b.view_changes,
        crashes: a.crashes + b.crashes,
        heights: a.heights + b.heights,
        txs_ok: a.txs_ok + b.txs_ok,
        txs_failed: a.txs_failed + b.txs_failed,
        txs_duplicate: a.txs_duplicate + b.txs_duplicate,
    };
    println!("n={n}: {total:?}");
    assert_eq!(total.runs, count);
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
    run_parallel(4, 0, seeds(1_500));
}

#[test]
fn seeds_with_seven_replicas() {
    run_parallel(7, 1_000_000, seeds(300));
}
