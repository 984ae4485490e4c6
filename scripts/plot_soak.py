#!/usr/bin/env python3
"""Draw the samples of `settlenet bench soak` (a CSV) as a PNG: each node's resident memory,
commit latency (p50, p99) and data directory size over time.

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
    fig, axes = plt.subplots(4, 1, figsize=(9, 11), sharex=True)
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
    committed = int(rows[-1]["committed"])
    fig.suptitle(f"settlenet bench soak: {committed:,} transfers committed")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=100)


if __name__ == "__main__":
    main()
