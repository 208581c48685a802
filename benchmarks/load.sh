#!/usr/bin/env bash
# The server load bench: builds in release, then measures appserver (Threaded and Forked,
# access log off and on, 1 and 2 workers), raw hyper (a derived struct, a `json!` value),
# axum and actix-web (1 and 2 threads) serving GET /person/get/123/, one at a time on
# 127.0.0.1, the server pinned to CPU 0 and wrk (-t1 -c64) to CPU 1, alternating over
# ROUNDS rounds of SECONDS seconds. See BENCHMARKS.md.
#
# Run with: benchmarks/load.sh [ROUNDS=5] [SECONDS=10]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk
fi
cargo build --release -p examples --example hello
cargo build --release -p benchmarks --bins
exec python3 benchmarks/load.py "${1:-5}" "${2:-10}"
