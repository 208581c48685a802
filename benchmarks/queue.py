"""The measuring half of queue.sh (which installs and builds first): see BENCHMARKS.md.

TQueue, beanstalkd (binlog fsynced on every write) and Redis (appendfsync always), each
in turn on CPU 0 with a fresh data directory, driven by queue-load on CPU 1: the cycle
put + lease + done with 1, 16 and 64 clients. Also the disk's own rate of 100-byte
append + fdatasync, in the same run.
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from load import cpu_seconds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
CLIENTS = [1, 16, 64]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, what):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


def fsync_rate(directory, seconds=2.0):
    """Appends of 100 bytes, each followed by fdatasync: per second, and the p50 in µs."""
    path = os.path.join(directory, "fsync-probe")
    took = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            began = time.perf_counter()
            os.write(fd, b"x" * 100)
            os.fdatasync(fd)
            took.append(time.perf_counter() - began)
    finally:
        os.close(fd)
        os.unlink(path)
    return len(took) / seconds, statistics.median(took) * 1e6


def command(peer, port, data):
    if peer == "tqueue":
        env = {"APPSERVER_PORT": str(port), "APPSERVER_WORKERS": "1", "RUST_LOG": "warn", "TQUEUE_DATA_DIR": data}
        return [os.path.join(RELEASE, "tqueue")], env
    if peer == "beanstalkd -f 0":
        return ["beanstalkd", "-l", "127.0.0.1", "-p", str(port), "-b", data, "-f", "0"], {}
    if peer == "redis always":
        return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", data, "--appendonly", "yes",
                "--appendfsync", "always", "--save", "", "--daemonize", "no"], {}
    raise ValueError(peer)


def measure(peer, clients, seconds, scratch, load=None):
    """`load`: the generator's mode (the peer's first word unless given)."""
    data = tempfile.mkdtemp(dir=scratch)
    port = free_port()
    argv, env = command(peer, port, data)
    server = subprocess.Popen(["taskset", "-c", "0", *argv], env={**os.environ, **env}, cwd=data,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, peer)
        before = cpu_seconds(server.pid)
        out = subprocess.run(["taskset", "-c", "1", os.path.join(RELEASE, "queue-load"),
                              load or peer.split()[0], str(port), str(clients), str(seconds)],
                             check=True, capture_output=True, text=True).stdout
        spent = cpu_seconds(server.pid) - before
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(data, ignore_errors=True)
    result = json.loads(out)
    result["cpu_us"] = spent * 1e6 / max(result["tasks"], 1)
    return result


SCRIPT = os.path.join(ROOT, "examples", "tqueue", "scripts", "throwaway-postgres.sh")


def measure_postgres(nodes, clients, seconds, scratch, load="tqueue"):
    """TQueue nodes (Threaded, 1 worker each) on one throwaway PostgreSQL, all on CPU 0;
    the clients spread over the nodes. The CPU is the nodes' and PostgreSQL's together."""
    out = subprocess.run(["taskset", "-c", "0", SCRIPT, "start"], check=True, capture_output=True, text=True).stdout
    values = dict(line.split("=", 1) for line in out.split())
    servers = []
    try:
        with open(os.path.join(values["PGDATA"], "data", "postmaster.pid")) as f:
            postmaster = int(f.readline())
        ports = []
        for _ in range(nodes):
            port = free_port()
            env = {"APPSERVER_PORT": str(port), "APPSERVER_WORKERS": "1", "RUST_LOG": "warn",
                   "TQUEUE_STORE": "postgres", "TQUEUE_DATABASE_URL": values["DATABASE_URL"],
                   "TQUEUE_POOL_SIZE": str(max(clients // nodes, 4))}
            servers.append(subprocess.Popen(["taskset", "-c", "0", os.path.join(RELEASE, "tqueue")],
                                            env={**os.environ, **env}, cwd=scratch,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            ports.append(port)
        for port in ports:
            wait_for_port(port, "tqueue")
        pids = [postmaster] + [s.pid for s in servers]
        before = sum(cpu_seconds(pid) for pid in pids)
        out = subprocess.run(["taskset", "-c", "1", os.path.join(RELEASE, "queue-load"), load,
                              ",".join(map(str, ports)), str(clients), str(seconds)],
                             check=True, capture_output=True, text=True).stdout
        spent = sum(cpu_seconds(pid) for pid in pids) - before
    finally:
        for server in servers:
            server.terminate()
            server.wait()
        subprocess.run([SCRIPT, "stop", values["PGDATA"]], check=False)
    result = json.loads(out)
    result["cpu_us"] = spent * 1e6 / max(result["tasks"], 1)
    return result


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5
    scratch = tempfile.mkdtemp(prefix="queue-bench-", dir=os.path.join(ROOT, "target"))
    try:
        rate, p50 = fsync_rate(scratch)
        print(f"disk: {rate:,.0f} appends+fdatasync per second, p50 {p50:.0f} µs ({scratch})\n")
        print("| server | clients | cycles/s | server CPU per cycle | p50 | p99 |")
        print("|---|---:|---:|---:|---:|---:|")
        for clients in CLIENTS:
            for peer in ["tqueue", "beanstalkd -f 0", "redis always"]:
                r = measure(peer, clients, seconds, scratch)
                print(f"| {peer} | {clients} | {r['per_second']:,.0f} | {r['cpu_us']:.1f} µs | "
                      f"{r['p50_us']:,} µs | {r['p99_us']:,} µs |", flush=True)
        if os.path.exists("/usr/lib/postgresql"):
            for nodes, clients in [(1, 1), (1, 16), (1, 64), (2, 64)]:
                r = measure_postgres(nodes, clients, seconds, scratch)
                print(f"| tqueue postgres, {nodes} node{'s' if nodes > 1 else ''} | {clients} | "
                      f"{r['per_second']:,.0f} | {r['cpu_us']:.1f} µs | {r['p50_us']:,} µs | {r['p99_us']:,} µs |",
                      flush=True)
        # Batches of 100: a batch put, a lease of up to 100, a batch done; tasks per second,
        # CPU per task, and the times of a whole cycle of 100.
        print("\n| server, batches of 100 | clients | tasks/s | server CPU per task | cycle p50 | cycle p99 |")
        print("|---|---:|---:|---:|---:|---:|")
        for clients in [1, 16]:
            r = measure("tqueue", clients, seconds, scratch, load="tqueue-batch")
            print(f"| tqueue | {clients} | {r['per_second']:,.0f} | {r['cpu_us']:.1f} µs | "
                  f"{r['p50_us']:,} µs | {r['p99_us']:,} µs |", flush=True)
        if os.path.exists("/usr/lib/postgresql"):
            for clients in [1, 16]:
                r = measure_postgres(1, clients, seconds, scratch, load="tqueue-batch")
                print(f"| tqueue postgres, 1 node | {clients} | {r['per_second']:,.0f} | {r['cpu_us']:.1f} µs | "
                      f"{r['p50_us']:,} µs | {r['p99_us']:,} µs |", flush=True)
        rate, p50 = fsync_rate(scratch)
        print(f"\ndisk again: {rate:,.0f} appends+fdatasync per second, p50 {p50:.0f} µs")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
