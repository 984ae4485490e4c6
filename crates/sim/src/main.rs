//! `settlenet-sim`: run many simulator seeds in parallel; on a failure, print the one-line
//! command that replays it and exit non-zero.

use clap::Parser;
use settlenet_sim::{replay_command, run_seed_with, Options, Outcome, Summary};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Deterministic cluster simulator: PBFT replicas and their ledgers, and an observer that
/// follows them by block sync, under network faults, crashes and Byzantine peers, one seed per
/// run.
#[derive(Parser, Debug)]
#[command(name = "settlenet-sim", version)]
struct Args {
    /// Seeds to run per cluster size.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    seed_start: u64,
    /// Cluster size: 4, 7 or both.
    #[arg(long, default_value = "both", value_parser = ["4", "7", "both"])]
    n: String,
    /// Worker threads (default: the machine's cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Print each seed's trace (meant for replaying one seed; runs on one thread).
    #[arg(long)]
    verbose: bool,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 5)]
    progress_secs: u64,
}

/// Run one seed; a panic (e.g. a ledger assertion) becomes a failure like any other.
fn run_one(n: usize, seed: u64, verbose: bool) -> Result<Outcome, String> {
    let options = Options {
        trace: verbose,
        ..Options::default()
    };
    match std::panic::catch_unwind(|| run_seed_with(n, seed, options)) {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(e)) => {
            for line in &e.trace {
                println!("{line}");
            }
            Err(format!("FAILED {e}"))
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_default();
            Err(format!(
                "FAILED seed {seed} n={n}: panicked: {what}\n  replay: {}",
                replay_command(n, seed)
            ))
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let sizes: Vec<usize> = match args.n.as_str() {
        "4" => vec![4],
        "7" => vec![7],
        _ => vec![4, 7],
    };
    let tasks: Vec<(usize, u64)> = sizes
        .iter()
        .flat_map(|&n| (0..args.seeds).map(move |k| (n, args.seed_start.saturating_add(k))))
        .collect();
    let jobs = if args.verbose {
        1
    } else {
        args.jobs
            .or_else(|| std::thread::available_parallelism().ok().map(|p| p.get()))
            .unwrap_or(1)
            .max(1)
    };
    println!(
        "settlenet-sim: {} seeds from {} for n = {:?} on {jobs} threads",
        args.seeds, args.seed_start, sizes
    );
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let totals: Mutex<Vec<(usize, Summary)>> =
        Mutex::new(sizes.iter().map(|&n| (n, Summary::default())).collect());
    let failure: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(n, seed)) = tasks.get(k) else {
                        break;
                    };
                    match run_one(n, seed, args.verbose) {
                        Ok(outcome) => {
                            if args.verbose {
                                for line in &outcome.trace {
                                    println!("{line}");
                                }
                                println!(
                                    "seed {seed} n={n}: ok, trace hash {:016x}, {} steps, \
                                     height {}, observer at {}, {} view changes, {} crashes",
                                    outcome.trace_hash,
                                    outcome.steps,
                                    outcome.max_height,
                                    outcome.observer_height,
                                    outcome.view_changes,
                                    outcome.crashes
                                );
                            }
                            if let Ok(mut t) = totals.lock() {
                                if let Some((_, t)) = t.iter_mut().find(|(m, _)| *m == n) {
                                    t.add(&outcome);
                                }
                            }
                        }
                        Err(message) => {
                            stop.store(true, Ordering::Relaxed);
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(message);
                            }
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let period = Duration::from_secs(args.progress_secs.max(1));
        let mut last = Instant::now();
        while done.load(Ordering::Relaxed) < tasks.len() && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            if last.elapsed() >= period {
                last = Instant::now();
                eprintln!(
                    "[{:>7.1} s] {}/{} seeds",
                    started.elapsed().as_secs_f64(),
                    done.load(Ordering::Relaxed),
                    tasks.len()
                );
            }
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    if let Ok(totals) = totals.lock() {
        for (n, t) in totals.iter() {
            println!("n={n}: {t}");
        }
    }
    println!(
        "{} seeds in {elapsed:.1} s ({:.0} seeds/s)",
        done.load(Ordering::Relaxed),
        done.load(Ordering::Relaxed) as f64 / elapsed.max(1e-9)
    );
    match failure.lock().ok().and_then(|mut f| f.take()) {
        Some(message) => {
            println!("{message}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}
