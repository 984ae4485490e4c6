#!/usr/bin/env bash
# Prerequisites for building SettleNet on Debian/Ubuntu: a C/C++ compiler (RocksDB is C++) and
# libclang (librocksdb-sys runs bindgen). Installs what is missing when it can (root, or sudo);
# otherwise prints the exact command to run. Idempotent and quiet when everything is there.
set -euo pipefail

missing=()
if ! command -v cc >/dev/null 2>&1 || ! command -v c++ >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
  missing+=(build-essential)
fi
have_libclang() {
  local f
  # libclang itself, not libclang-cpp (which Debian installs with llvm and bindgen cannot use).
  for f in /usr/lib/llvm-*/lib/libclang.so* /usr/lib/llvm-*/lib/libclang-[0-9]*.so* \
           /usr/lib/x86_64-linux-gnu/libclang.so* /usr/lib/x86_64-linux-gnu/libclang-[0-9]*.so* \
           /usr/lib/aarch64-linux-gnu/libclang.so* /usr/lib/aarch64-linux-gnu/libclang-[0-9]*.so*; do
    [ -e "$f" ] && return 0
  done
  return 1
}
have_libclang || missing+=(libclang-dev)
# As root, the bank test puts each validator in a network namespace and partitions them
# (tests/common/netns.rs): it needs `ip`, and `iptables` to drop packets silently (without it,
# blackhole routes cut instead). (Not root: it runs without partitions.)
if [ "$(id -u)" = 0 ]; then
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
fi

if [ ${#missing[@]} -gt 0 ]; then
  cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing[*]} (needed to build RocksDB and to run the tests)" >&2
    DEBIAN_FRONTEND=noninteractive bash -c "$cmd" >&2
  elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing[*]} with sudo (needed to build RocksDB)" >&2
    sudo DEBIAN_FRONTEND=noninteractive bash -c "$cmd" >&2
  else
    echo "setup: missing ${missing[*]}. On Debian/Ubuntu run, as root:" >&2
    echo "  $cmd" >&2
    exit 1
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: no Rust toolchain (cargo) found. Install Rust 1.88 or newer, e.g.:" >&2
  echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y && . \"\$HOME/.cargo/env\"" >&2
  exit 1
fi
