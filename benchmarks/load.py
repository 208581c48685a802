"""The measuring half of load.sh (which builds first): see BENCHMARKS.md."""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
PATH = "/person/get/123/"
EXPECTED = b'{"object_type":"person","object_id":123}'
TICK = os.sysconf("SC_CLK_TCK")
BASELINE = "hyper (raw, struct)"


def hello(server_type, workers, log):
    env = {"APPSERVER_SERVER_TYPE": server_type, "APPSERVER_WORKERS": str(workers), "RUST_LOG": log}
    return lambda port: ([os.path.join(RELEASE, "examples", "hello")], env)


def peer(name, *args):
    return lambda port: ([os.path.join(RELEASE, name), str(port), *args], {})


# name: port -> (command, environment). With 1 worker: appserver in both modes, access log
# off (`warn`) and on (`info`, the default), the raw hyper peers (a derived struct, a
# `json!` value), axum and actix-web; then with 2 workers (threads; processes for Forked),
# as on a 2-core machine by default.
SERVERS = {
    **{
        f"appserver {mode}, 1 worker, log {log}": hello(mode, 1, level)
        for mode in ["threaded", "forked"]
        for log, level in [("off", "warn"), ("on", "info")]
    },
    BASELINE: peer("bench-hyper", "struct"),
    "hyper (raw, json!)": peer("bench-hyper"),
    "axum, 1 thread": peer("bench-axum", "1"),
    "actix-web, 1 worker": peer("bench-actix", "1"),
    **{
        f"appserver {mode}, 2 workers, log {log}": hello(mode, 2, level)
        for mode in ["threaded", "forked"]
        for log, level in [("off", "warn"), ("on", "info")]
    },
    "axum, 2 threads": peer("bench-axum", "2"),
    "actix-web, 2 workers": peer("bench-actix", "2"),
}
# The two handler paths of appserver, on the same work (Threaded, 1 worker).
PATHS = {
    "inline handler": "/inline/person/123/",
    "blocking handler": "/blocking/person/123/",
}


def cpu_seconds(pid):
    """User + system CPU of `pid` and its descendants."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except FileNotFoundError:
            continue
        todo.extend(children(current))
    return total / TICK


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return found


def start(command, env, port, path):
    full_env = dict(os.environ, APPSERVER_PORT=str(port), **env)
    # The log goes to a file, as in production (a file, or a pipe to a journal), not to
    # /dev/null, which would make writing it look free.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(["taskset", "-c", "0", *command], env=full_env, stdout=log, stderr=log)
    deadline = time.time() + 20
    while True:
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1).read()
        except OSError:
            body = None
        if process.poll() is not None or (body is None and time.time() > deadline):
            # Exited (say, the port was taken) or never answered: nothing else may be measured.
            process.kill()
            raise SystemExit(f"{command[0]} did not start on port {port}")
        if body is not None:
            return process, body
        time.sleep(0.05)


def wrk(port, path, seconds):
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", "-c64", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}{path}"],
        check=True, capture_output=True, text=True,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"errors under load:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    percentile = lambda p: to_us(re.search(rf"^\s+{p}%\s+(\S+)", out, re.M).group(1))
    return requests, float(re.search(r"Requests/sec:\s+(\S+)", out).group(1)), percentile(50), percentile(99)


def to_us(text):
    number, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(number) * {"us": 1, "ms": 1000, "s": 1_000_000}[unit]


def measure(command, env, port, path, seconds):
    process, body = start(command, env, port, path)
    try:
        if path == PATH and body != EXPECTED:
            raise SystemExit(f"{command[0]} answered {body!r}, not {EXPECTED!r}")
        wrk(port, path, 2)  # warm-up
        before = cpu_seconds(process.pid)
        requests, rps, p50, p99 = wrk(port, path, seconds)
        cpu = cpu_seconds(process.pid) - before
        return {"rps": rps, "p50": p50, "p99": p99, "cpu_us": cpu * 1e6 / requests}
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def main():
    rounds, seconds = int(sys.argv[1]), int(sys.argv[2])
    results = {name: [] for name in [*SERVERS, *PATHS]}
    names = list(SERVERS)
    port = 18400
    for round_ in range(rounds):
        order = names[round_ % len(names):] + names[: round_ % len(names)]
        for name in order:
            port += 1
            command, env = SERVERS[name](port)
            results[name].append(measure(command, env, port, PATH, seconds))
            print(f"round {round_ + 1}/{rounds} {name}: {results[name][-1]}", file=sys.stderr)
        for name, path in PATHS.items():
            port += 1
            command = [os.path.join(RELEASE, "bench-appserver-paths")]
            env = {"APPSERVER_SERVER_TYPE": "threaded", "APPSERVER_WORKERS": "1", "RUST_LOG": "warn"}
            results[name].append(measure(command, env, port, path, seconds))
            print(f"round {round_ + 1}/{rounds} {name}: {results[name][-1]}", file=sys.stderr)
    median = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in results.items()}
    # The median of each round's ratio: the servers of one round ran back to back, so that
    # pairs them against the machine's drift.
    paired = lambda a, b, key="cpu_us": statistics.median(x[key] / y[key] for x, y in zip(results[a], results[b]))
    axum = lambda name: "axum, 2 threads" if "2 workers" in name or "2 threads" in name else "axum, 1 thread"
    print(f"Medians of {rounds} rounds of {seconds} s; CPU ratios to {BASELINE}, p99 ratios to axum with as many threads.\n")
    print("| server | requests/s | p50 (µs) | p99 (µs) | server CPU per request (µs) | CPU ratio | CPU ratio, paired | p99 / axum |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in SERVERS:
        m = median[name]
        print(
            f"| {name} | {m['rps']:,.0f} | {m['p50']:.0f} | {m['p99']:.0f} | {m['cpu_us']:.2f} "
            f"| {m['cpu_us'] / median[BASELINE]['cpu_us']:.3f} | {paired(name, BASELINE):.3f} "
            f"| {m['p99'] / median[axum(name)]['p99']:.2f} |"
        )
    print("\n| appserver | access log on / off, CPU per request (paired) |")
    print("|---|---:|")
    for name in SERVERS:
        if name.endswith("log on"):
            print(f"| {name[:-len(', log on')]} | {paired(name, name[:-2] + 'off'):.3f} |")
    print("\n| appserver handler path (Threaded, 1 worker) | requests/s | p50 (µs) | p99 (µs) | server CPU per request (µs) |")
    print("|---|---:|---:|---:|---:|")
    for name in PATHS:
        m = median[name]
        print(f"| {name} | {m['rps']:,.0f} | {m['p50']:.0f} | {m['p99']:.0f} | {m['cpu_us']:.2f} |")
    print("\nAll rounds (server CPU per request in µs / p99 in µs):")
    for name, runs in results.items():
        print(f"- {name}: " + ", ".join(f"{r['cpu_us']:.2f} / {r['p99']:.0f}" for r in runs))
    write_chart(median)


def write_chart(median):
    """benchmarks/load.svg: server CPU per request, a bar per server."""
    rows = list(SERVERS)
    width, bar, gap, left = 800, 26, 10, 320
    top = max(median[n]["cpu_us"] for n in rows)
    height = 40 + len(rows) * (bar + gap)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="13">',
        f'<text x="10" y="20" font-weight="bold">Server CPU per request (µs, lower is better)</text>',
    ]
    for i, name in enumerate(rows):
        y = 35 + i * (bar + gap)
        w = (width - left - 80) * median[name]["cpu_us"] / top
        color = "#c0392b" if name.startswith("appserver") else "#7f8c8d"
        parts.append(f'<text x="10" y="{y + 18}">{name}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" fill="{color}"/>')
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 18}">{median[name]["cpu_us"]:.2f}</text>')
    parts.append("</svg>")
    with open(os.path.join(ROOT, "benchmarks", "load.svg"), "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
