"""A TQueue worker: takes tasks from a queue one by one, runs a command with each task's
JSON on its standard input, and finishes the task when the command succeeds (a failure
releases it, to be tried again after the queue's backoff, with its exit status and the last
line of its standard error as the task's last error).

    python3 worker.py http://127.0.0.1:8080 emails -- ./send-email
    TQUEUE_TOKEN=... python3 worker.py https://tqueue.example.com emails -- ./send-email
"""

import json
import os
import subprocess
import sys

from tqueue import TQueue


def main(argv):
    if len(argv) < 3 or "--" not in argv:
        sys.exit(__doc__)
    split = argv.index("--")
    url, name = argv[1], argv[2]
    command = argv[split + 1:]
    once = "--once" in argv[:split]
    q = TQueue(url, name, token=os.environ.get("TQUEUE_TOKEN"))
    while True:
        lease = None
        while lease is None:
            leases = q.lease(1, wait=20)
            lease = leases[0] if leases else None
        result = subprocess.run(command, input=json.dumps(lease.task).encode(), stderr=subprocess.PIPE)
        sys.stderr.buffer.write(result.stderr)
        sys.stderr.flush()
        if result.returncode == 0:
            q.done(lease)
            print(f"done {lease.token}", flush=True)
        else:
            last = result.stderr.decode(errors="replace").strip().splitlines()[-1:]
            error = f"exit {result.returncode}" + "".join(f": {line}" for line in last)
            q.release(lease, error=error[:1000])
            print(f"released {lease.token}: {error}", flush=True)
        if once:
            return


if __name__ == "__main__":
    main(sys.argv)
