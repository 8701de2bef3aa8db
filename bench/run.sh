#!/usr/bin/env bash
# The benchmark, one command: bash bench/run.sh [--soak] [--json FILE] [other bench.py flags]
#
# Builds the release gateway and the bare actix-web baseline (examples/hello.rs, same
# dependency versions), installs wrk if missing, then bench/bench.py starts everything on
# 127.0.0.1, measures and prints one table. About 10 minutes (figure (8), the campaign on three
# replicas, takes about 3 of them; it needs PostgreSQL, see docs/testing.md "Benchmark"); --soak adds 10
# minutes. GATEWAY_WORKERS and GATEWAY_BATCH_CONCURRENCY are passed through to both servers.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== building release binaries" >&2
# One invocation: two would each resolve the dependencies' features for their own targets
# (the example adds the dev-dependencies'), so the second would recompile every dependency.
cargo build --release --locked --bin invitation-gateway --example hello

if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk (Debian package)" >&2
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
  fi
  command -v wrk >/dev/null 2>&1 || { echo "wrk is required: apt-get install wrk" >&2; exit 1; }
fi
for tool in python3 openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required" >&2; exit 1; }
done

# 256 connections plus the servers' own descriptors.
ulimit -n 4096 2>/dev/null || true
exec python3 bench/bench.py --campaigns "$@"
