#!/usr/bin/env bash
# HTTP/2 attacks on the release build of the hello example (Threaded, 2 workers, http2 on,
# the other settings at their defaults), with its RSS and a probe's p99 measured by
# benchmarks/src/bin/h2-attack.rs:
# - parked: 3,500 connections from 4 addresses, each with as many streams as the server
#   allows (up to 128), every one a POST whose body never comes.
# For slow readers, against TQueue with 10,000 queues (see BENCHMARKS.md):
#   PROBE=/probe/qsize/ target/release/h2-attack zero-window ADDR PID 15 15 "/v2/queues?limit=1000"
#
# Run with: benchmarks/h2-attack.sh [SECONDS=15]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p examples --example hello
cargo build --release -p benchmarks --bin h2-attack
PORT=18080
APPSERVER_HTTP2=true APPSERVER_WORKERS=2 APPSERVER_PORT=$PORT RUST_LOG=warn target/release/examples/hello &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
sleep 1
target/release/h2-attack parked 127.0.0.1:$PORT $SERVER 3500 "${1:-15}"
