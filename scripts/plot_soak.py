#!/usr/bin/env python3
"""Draw the samples of `settlenet bench soak` (a CSV) as a PNG: each node's resident memory,
commit latency (p50, p99) and data directory size over time, and (when the CSV has them)
validator 0's memory by part.

    python3 scripts/plot_soak.py soak.csv docs/soak.png

Needs matplotlib (`pip install matplotlib`); only for documentation, not for running SettleNet.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: plot_soak.py SAMPLES.csv OUT.png")
    with open(sys.argv[1], newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{sys.argv[1]}: no samples")
    minutes = [float(r["elapsed_s"]) / 60 for r in rows]
    nodes = sorted(int(k.rsplit("_", 1)[1]) for k in rows[0] if k.startswith("rss_mb_"))
    parts = "heap_resident_mb_0" in rows[0]
    fig, axes = plt.subplots(5 if parts else 4, 1, figsize=(9, 14 if parts else 11), sharex=True)
    for i in nodes:
        axes[0].plot(minutes, [float(r[f"rss_mb_{i}"]) for r in rows], label=f"validator {i}")
        axes[3].plot(minutes, [float(r[f"disk_mb_{i}"]) / 1024 for r in rows], label=f"validator {i}")
    axes[0].set_ylabel("RSS (MB)")
    axes[0].set_ylim(bottom=0)
    axes[0].legend(loc="lower right", fontsize="small")
    axes[1].plot(minutes, [float(r["p50_ms"]) for r in rows], label="p50")
    axes[1].plot(minutes, [float(r["p99_ms"]) for r in rows], label="p99")
    axes[1].set_ylabel("commit latency (ms)")
    axes[1].set_ylim(bottom=0)
    axes[1].legend(loc="upper right", fontsize="small")
    axes[2].plot(minutes, [float(r["rate_per_s"]) for r in rows])
    axes[2].set_ylabel("committed / s")
    axes[2].set_ylim(bottom=0)
    axes[3].set_ylabel("data dir (GB)")
    axes[3].set_xlabel("minutes")
    axes[3].legend(loc="upper left", fontsize="small")
    if parts:
        # Validator 0's RSS by part, as its GET /v1/status accounts for it.
        series = [
            ("Rust heap (jemalloc resident)", "heap_resident_mb_0"),
            ("RocksDB memtables", "memtables_mb_0"),
            ("RocksDB block cache", "cache_mb_0"),
            ("checkpoint stores", "checkpoint_mb_0"),
        ]
        stacks = [[float(r[k]) for r in rows] for _, k in series]
        rest = [
            float(r["rss_mb_0"]) - sum(float(r[k]) for _, k in series) for r in rows
        ]
        axes[4].stackplot(
            minutes, *stacks, rest, labels=[n for n, _ in series] + ["not accounted for"]
        )
        axes[4].set_ylabel("validator 0 RSS by part (MB)")
        axes[4].legend(loc="lower center", ncol=3, fontsize="small", framealpha=0.9)
        axes[4].set_xlabel("minutes")
    committed = int(rows[-1]["committed"])
    fig.suptitle(f"settlenet bench soak: {committed:,} transfers committed")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=100)


if __name__ == "__main__":
    main()
