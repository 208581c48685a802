#!/usr/bin/env bash
# Server CPU per request with metrics off and on (and request ids on), side by side:
# examples/hello.rs (Threaded, 1 worker, access log off) under wrk (1 thread, 8
# connections), ROUNDS rounds of SECONDS each, rotating the order; the server's user +
# system CPU from /proc divided by the requests wrk made. Prints each round and the medians.
#
# Run with: benchmarks/metrics-cost.sh [ROUNDS=5] [SECONDS=6]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
seconds=${2:-6}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build -q --release -p examples --example hello
tick=$(getconf CLK_TCK)

# µs of server CPU per request for one round: `round NAME ENV...`.
round() {
  local name=$1 port=$((19600 + RANDOM % 300))
  shift
  env APPSERVER_PORT=$port APPSERVER_WORKERS=1 RUST_LOG=warn "$@" target/release/examples/hello >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf "localhost:$port/person/get/1/" >/dev/null && break; sleep 0.05; done
  local before after requests
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  requests=$(wrk -t1 -c8 -d"${seconds}s" "http://127.0.0.1:$port/person/get/123/" | awk '/requests in/ {print $1}')
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  python3 -c "print(f'{($after - $before) / $tick / $requests * 1e6:.3f}')"
}

declare -A results
names=("off" "metrics" "request_id")
for r in $(seq "$rounds"); do
  for i in 0 1 2; do
    name=${names[$(((i + r) % 3))]}
    case $name in
      off) value=$(round off) ;;
      metrics) value=$(round metrics APPSERVER_METRICS_PATH=/metrics) ;;
      request_id) value=$(round request_id APPSERVER_REQUEST_ID=true) ;;
    esac
    results[$name]="${results[$name]:-} $value"
    echo "round $r: $name $value µs/request"
  done
done
for name in "${names[@]}"; do
  python3 -c "import statistics; v=[float(x) for x in '${results[$name]}'.split()]; print(f'$name: median {statistics.median(v):.3f} µs of server CPU per request ({len(v)} rounds)')"
done
