#!/usr/bin/env bash
# The queue benchmark: TQueue beside beanstalkd (-f 0: fsync on every write) and Redis
# (appendfsync always), the cycle put + lease + done with 1, 16 and 64 clients, each
# server on CPU 0 and the load generator on CPU 1, SECONDS seconds per row; then TQueue on
# PostgreSQL: one node with 1, 16 and 64 clients, two nodes with 64. See BENCHMARKS.md.
#
# Run with: benchmarks/queue.sh [SECONDS=5]
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v beanstalkd >/dev/null || missing+=(beanstalkd)
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if ((${#missing[@]})); then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}"
  # The packages start their own services; the benchmark starts its own instances.
  service redis-server stop >/dev/null 2>&1 || true
  service beanstalkd stop >/dev/null 2>&1 || true
fi
cargo build --release -p tqueue
cargo build --release -p benchmarks --bin queue-load
exec python3 benchmarks/queue.py "${1:-5}"
