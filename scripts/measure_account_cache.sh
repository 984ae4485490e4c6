#!/usr/bin/env bash
# Usage: scripts/measure_account_cache.sh CACHE WALLETS TXS  -- a 4-validator testnet with [storage] account_cache = CACHE,
# bench with WALLETS wallets and TXS transfers, then every node's memory (needs jq and curl).
set -euo pipefail
CACHE=$1; WALLETS=$2; TXS=$3
BIN=${SETTLENET_BIN:-./target/release/settlenet}
D=/tmp/measure-$CACHE
rm -rf $D
$BIN testnet init --dir $D >/dev/null
for h in $D/*/config.toml; do
  sed -i "s/^account_cache = .*/account_cache = $CACHE/" $h
done
$BIN testnet start --dir $D > $D/start.log 2>&1 &
SP=$!
sleep 8
$BIN bench --testnet $D --wallets $WALLETS --txs $TXS --json > $D/bench.json 2> $D/bench.err || { tail -5 $D/bench.err; }
sleep 3
for p in $(jq -r '.[].api' $D/nodes.json 2>/dev/null || true); do curl -s $p/v1/status | jq -c '{h:.height, m:.memory|{rss_mb:(.rss_bytes/1048576|floor), heap_mb:(.heap_allocated_bytes/1048576|floor), accts:.ledger_accounts, inmem:.ledger_accounts_in_memory, reads:.ledger_account_store_reads}}'; done
kill -INT $SP; wait $SP || true
