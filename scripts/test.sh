#!/usr/bin/env bash
# The test suite: formatting, lints, and every test (unit, property, simulator, end-to-end with
# real processes on loopback). CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# No incremental compilation caches for this one-shot build: they add gigabytes to target/ (a
# CI machine's disk has been seen nearly full) and a clean clone gains nothing from them.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# One build profile for everything (release): RocksDB's C++ is compiled once, and the
# end-to-end tests run the nodes at the speed they are meant to run at.
cargo fmt --all -- --check
cargo clippy --release --locked --workspace --all-targets -- -D warnings
cargo test --release --locked --workspace
