#!/usr/bin/env bash
# Lease time with 100,000 ready tasks of mixed priorities, on the embedded store and on
# PostgreSQL (when Debian's postgresql package is there). See BENCHMARKS.md.
#
# Run with: benchmarks/priorities.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p tqueue
exec python3 benchmarks/priorities.py
