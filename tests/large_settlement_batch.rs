//! A 100,000-instruction CSV settlement batch through `batch submit` against four real
//! validator processes (with `-- --nocapture` it prints time and peak memory; see
//! docs/benchmarks.md).

mod common;

use common::{cli_json, cli_ok as ok, s, start_net};
use std::time::Instant;

/// 100,000 instructions through `batch submit` on a running testnet (part of the suite: about
/// 3 s), timed; the peak memory of the CLI and of each validator is printed (VmHWM) with
/// `--nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_instructions() {
    let n: usize = std::env::var("SETTLENET_BENCH_INSTRUCTIONS")
        .ok()
        .and_then(|x| x.parse().ok())
        .unwrap_or(100_000);
    let net = start_net().await;
    let dir = net.dir.path().join("net");
    let d = s(&dir);
    let g = dir.join("genesis.json");
    let file = net.dir.path().join("big.csv");
    let members = ["operator-a", "bank-a", "bank-b", "clearing-house"];
    let mut csv = String::from("id,debtor,creditor,amount,currency,reference\n");
    for i in 0..n {
        let a = members[i % 4];
        let b = members[(i / 4 + i + 1) % 4];
        let b = if a == b { members[(i + 1) % 4] } else { b };
        csv.push_str(&format!(
            "big-{i:07},{a},{b},{}.{:02},USD,bench\n",
            1 + i % 97,
            i % 100
        ));
    }
    std::fs::write(&file, csv).expect("write");
    let size = std::fs::metadata(&file).expect("size").len();
    let t = Instant::now();
    let v = cli_json(&[
        "batch",
        "check",
        s(&file),
        "--genesis",
        s(&g),
        "--totals-only",
    ]);
    let check_s = t.elapsed().as_secs_f64();
    assert_eq!(v["count"], n as u64);
    ok(&["--testnet", d, "window", "close"]);
    let t = Instant::now();
    let v = cli_json(&["--testnet", d, "batch", "submit", s(&file)]);
    let submit_s = t.elapsed().as_secs_f64();
    assert_eq!(v["status"], "settled", "{}", v["settlement"]);
    assert_eq!(v["instructions"], n as u64);
    let rep = cli_json(&["--testnet", d, "settlement", "report", "--window", "0"]);
    assert_eq!(rep["totals"]["net_minor"], "0");
    let nodes: Vec<u64> = (0..net.local.len())
        .map(|i| {
            let pid = net.local.pid(i).expect("running");
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("VmHWM:"))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|x| x.parse().ok())
                })
                .unwrap_or(0)
        })
        .collect();
    println!(
        "BENCH settlement: {n} instructions ({size} bytes CSV), {} chunks; batch check {check_s:.2} s; \
         batch submit (stage + settle, committed) {submit_s:.2} s ({:.0} instructions/s); \
         CLI peak RSS {} MiB; validator peak RSS (MiB): {:?}",
        v["chunks"],
        n as f64 / submit_s,
        v["cli_peak_rss_kib"].as_u64().unwrap_or(0) / 1024,
        nodes.iter().map(|k| k / 1024).collect::<Vec<_>>()
    );
}
