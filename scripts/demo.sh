#!/usr/bin/env bash
# The main job on its embedded default: a local 4-validator network plays a payment scenario and
# prints what happened. Extra arguments go to `settlenet demo` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --locked -p settlenet-cli --bin settlenet
BIN="${CARGO_TARGET_DIR:-target}/release/settlenet"
exec "$BIN" demo "$@"
