#!/usr/bin/env bash
# User-space instructions per request, counted by callgrind: repeatable to the instruction
# on a shared machine, where times are not. Serves GET /person/get/123/ over one keep-alive
# connection with appserver (Threaded, 1 worker) and with raw hyper, N1 then N2 requests,
# and divides the difference (which cancels startup and shutdown).
#
# Run with: benchmarks/instructions.sh [N1=2000] [N2=7000]
set -euo pipefail
cd "$(dirname "$0")/.."
n1=${1:-2000}
n2=${2:-7000}

command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
cargo build -q --release -p examples --example hello
cargo build -q --release -p benchmarks --bin bench-hyper

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Instructions of one run serving $2 requests: `count BIN N [ARG] [LOG]` (ARG: bench-hyper's
# `struct`, which answers a derived-Serialize struct instead of a `json!` value; LOG: the
# filter, `warn` for no access log, `info` for the default).
count() {
  local bin=$1 n=$2 arg=${3:-} log=${4:-warn} port=$((18600 + RANDOM % 1000))
  APPSERVER_PORT=$port APPSERVER_WORKERS=1 RUST_LOG=$log \
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" "$port" $arg >/dev/null 2>&1 &
  local pid=$!
  python3 - "$port" "$n" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
for _ in range(200):
    try:
        s = socket.create_connection(("127.0.0.1", port))
        break
    except OSError:
        time.sleep(0.1)
request, buf = b"GET /person/get/123/ HTTP/1.1\r\nHost: x\r\n\r\n", b""
for _ in range(n):
    s.sendall(request)
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode().lower()
            length = int(head.split("content-length:")[1].split("\r\n")[0])
            if len(buf) >= end + 4 + length:
                assert buf[end + 4:end + 4 + length] == b'{"object_type":"person","object_id":123}', buf
                buf = buf[end + 4 + length:]
                break
        buf += s.recv(65536)
PY
  kill -TERM "$pid"
  wait "$pid" || true
  awk '/^totals:/ {print $2}' "$out/cg"
}

# SETTING: an APPSERVER_ variable for hello (`-`: none): metrics, request ids.
for peer in "target/release/bench-hyper struct" "target/release/bench-hyper json" \
  "target/release/examples/hello - warn" "target/release/examples/hello - info" \
  "target/release/examples/hello - warn APPSERVER_METRICS_PATH=/metrics" \
  "target/release/examples/hello - info APPSERVER_METRICS_PATH=/metrics" \
  "target/release/examples/hello - warn APPSERVER_REQUEST_ID=true"; do
  read -r bin arg log setting <<<"$peer"
  [ "$arg" = - ] && arg=
  a=$(env ${setting:-} bash -c "$(declare -f count); out=$out; count '$bin' '$n1' '$arg' '$log'")
  b=$(env ${setting:-} bash -c "$(declare -f count); out=$out; count '$bin' '$n2' '$arg' '$log'")
  echo "$(basename "$bin")${arg:+ ($arg)}${log:+ (RUST_LOG=$log)}${setting:+ ($setting)}: $(( (b - a) / (n2 - n1) )) instructions per request"
done
