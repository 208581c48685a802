"""Lease time with 100,000 ready tasks of mixed priorities, on both stores: see
BENCHMARKS.md. Run with: benchmarks/priorities.sh

TQueue (release build, 1 worker) with a fresh store; 100,000 tasks put in batches of 1,000,
priorities drawn from 0..9 (or all 0, for comparison); then 2,000 single leases, one after
another on one connection, each timed from request to answer, and each lease checked to
be of the highest priority left.
"""

import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from queue import RELEASE, SCRIPT, free_port, wait_for_port  # benchmarks/queue.py

TASKS = 100_000
LEASES = 2_000


def start(store, scratch):
    port = free_port()
    env = {"APPSERVER_PORT": str(port), "APPSERVER_WORKERS": "1", "RUST_LOG": "warn",
           "TQUEUE_MAX_TASKS": str(2 * TASKS)}
    pg = None
    if store == "postgres":
        out = subprocess.run([SCRIPT, "start"], check=True, capture_output=True, text=True).stdout
        pg = dict(line.split("=", 1) for line in out.split())
        env.update({"TQUEUE_STORE": "postgres", "TQUEUE_DATABASE_URL": pg["DATABASE_URL"]})
    else:
        env["TQUEUE_DATA_DIR"] = tempfile.mkdtemp(dir=scratch)
    server = subprocess.Popen([os.path.join(RELEASE, "tqueue")], env={**os.environ, **env}, cwd=scratch,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, "tqueue")
    return server, port, pg


def call(connection, path, body=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    connection.request("POST", path, body=json.dumps(body) if body is not None else "", headers=headers)
    response = connection.getresponse()
    data = response.read()
    assert response.status in (200, 201), (response.status, data)
    return json.loads(data)


def measure(store, mixed, scratch):
    server, port, pg = start(store, scratch)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        rng = random.Random(7)
        left = {}
        for first in range(0, TASKS, 1000):
            tasks = []
            for n in range(first, first + 1000):
                priority = rng.randrange(10) if mixed else 0
                left[priority] = left.get(priority, 0) + 1
                tasks.append({"task": {"n": n, "p": priority}, "priority": priority})
            call(connection, "/v2/queues/bench/tasks/batch", {"tasks": tasks})
        took = []
        for _ in range(LEASES):
            began = time.perf_counter()
            leased = call(connection, "/v2/queues/bench/lease")
            took.append(time.perf_counter() - began)
            priority = leased["tasks"][0]["task"]["p"]
            assert priority == max(p for p, count in left.items() if count), (priority, left)
            left[priority] -= 1
        connection.close()
        took.sort()
        return statistics.median(took) * 1e6, took[int(len(took) * 0.99)] * 1e6
    finally:
        server.terminate()
        server.wait()
        if pg:
            subprocess.run([SCRIPT, "stop", pg["PGDATA"]], check=False)


def main():
    scratch = tempfile.mkdtemp(prefix="priorities-", dir=os.path.dirname(RELEASE))
    try:
        print(f"| store | {TASKS:,} ready tasks | lease p50 | lease p99 |")
        print("|---|---|---:|---:|")
        stores = ["embedded"] + (["postgres"] if os.path.exists("/usr/lib/postgresql") else [])
        for store in stores:
            for mixed in [True, False]:
                p50, p99 = measure(store, mixed, scratch)
                what = "priorities 0–9" if mixed else "all priority 0"
                print(f"| {store} | {what} | {p50:,.0f} µs | {p99:,.0f} µs |", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
