"""The Python client against a running server: TQUEUE_URL names it."""

import os
import queue
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tqueue import TQueue, TQueueError  # noqa: E402

URL = os.environ["TQUEUE_URL"]


def _whole_request(sock):
    """One HTTP request read from sock: its head, and its body by Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


class ClientTest(unittest.TestCase):
    def test_the_queue_interface_round_trip(self):
        q = TQueue(URL, "py-roundtrip")
        self.assertTrue(q.empty())
        ids = [q.put({"n": n, "text": "héllo"}) for n in range(3)]
        self.assertEqual(ids, sorted(ids, key=int))
        self.assertEqual(q.qsize(), 3)
        got = [q.get(timeout=1) for _ in range(3)]
        self.assertEqual(got, [{"n": n, "text": "héllo"} for n in range(3)])
        self.assertTrue(q.empty())
        for _ in range(3):
            q.task_done()
        with self.assertRaises(ValueError):
            q.task_done()
        stats = q.stats()
        self.assertEqual((stats["done"], stats["leased"]), (3, 0))
        with self.assertRaises(queue.Empty):
            q.get_nowait()
        started = time.monotonic()
        with self.assertRaises(queue.Empty):
            q.get(timeout=0.5)
        self.assertGreaterEqual(time.monotonic() - started, 0.45)

    def test_batches_put_many_and_finish_many(self):
        q = TQueue(URL, "py-batch")
        ids = q.put_many([{"n": n} for n in range(50)])
        self.assertEqual(len(ids), 50)
        self.assertEqual(ids, sorted(ids, key=int))
        leases = q.lease(50)
        self.assertEqual([lease.task for lease in leases], [{"n": n} for n in range(50)])
        self.assertEqual(q.done_many(leases), [])
        self.assertEqual(q.done_many(leases[:2]), [lease.token for lease in leases[:2]], "done already")
        stats = q.stats()
        self.assertEqual((stats["done"], stats["ready"], stats["leased"]), (50, 0, 0))

    def test_priorities_higher_first(self):
        q = TQueue(URL, "py-priority")
        q.put("low")
        q.put("high", priority=5)
        q.put_many(["middle", "middle too"], priority=1)
        self.assertEqual([q.get(timeout=1) for _ in range(4)], ["high", "middle", "middle too", "low"])
        for _ in range(4):
            q.task_done()

    def test_a_put_that_got_no_answer_is_sent_again_and_made_once(self):
        # A proxy that passes the first request on to the server but drops the connection
        # before the answer comes back, then passes everything.
        target = urllib.parse.urlsplit(URL)
        listener = socket.create_server(("127.0.0.1", 0))
        dropped = []

        def serve():
            while True:
                try:
                    client, _ = listener.accept()
                except OSError:
                    return
                with client, socket.create_connection((target.hostname, target.port)) as server:
                    request = _whole_request(client)
                    server.sendall(request)
                    # urllib asks for Connection: close: the answer ends with the stream.
                    answer = b"".join(iter(lambda: server.recv(65536), b""))
                    if not dropped:
                        dropped.append(request)
                        continue
                    client.sendall(answer)

        threading.Thread(target=serve, daemon=True).start()
        try:
            q = TQueue(f"http://127.0.0.1:{listener.getsockname()[1]}", "py-retry")
            task_id = q.put("once")
        finally:
            listener.close()
        self.assertEqual(len(dropped), 1, "the first answer was dropped")
        self.assertIn(b"Idempotency-Key: ", dropped[0])
        direct = TQueue(URL, "py-retry")
        self.assertEqual(direct.qsize(), 1, "put once")
        self.assertEqual(direct.lease()[0].id, task_id)

    def test_a_blocked_get_wakes_on_put(self):
        q = TQueue(URL, "py-wake")
        got = []
        waiter = threading.Thread(target=lambda: got.append((q.get(timeout=10), time.monotonic())))
        waiter.start()
        time.sleep(0.3)
        put_at = time.monotonic()
        TQueue(URL, "py-wake").put("wake up")
        waiter.join()
        self.assertEqual(got[0][0], "wake up")
        self.assertLess(got[0][1] - put_at, 0.5)
        q.task_done()

    def test_leases_extend_release_and_stale_done(self):
        q = TQueue(URL, "py-leases")
        q.put("a")
        [lease] = q.lease(1, lease=0.3)
        self.assertEqual((lease.task, lease.attempt), ("a", 1))
        until = q.extend(lease, 0.3)
        self.assertGreater(until, time.time())
        time.sleep(0.5)
        [again] = q.lease(1, wait=1)
        self.assertEqual(again.attempt, 2)
        with self.assertRaises(TQueueError) as stale:
            q.done(lease)
        self.assertEqual(stale.exception.status, 409)
        q.release(again, delay=0)
        [third] = q.lease(1)
        self.assertEqual(third.attempt, 3)
        # Released with no delay given: the queue's backoff (1 s doubled twice, less up to
        # half), then ready again.
        q.release(third)
        self.assertEqual(q.lease(1), [])
        [fourth] = q.lease(1, wait=5)
        self.assertEqual(fourth.attempt, 4)
        q.done(fourth)

    def test_a_release_error_is_listed_with_the_dead_task(self):
        q = TQueue(URL, "py-errors")
        q.put("b")
        for attempt in range(1, 6):  # max_attempts is 5
            [lease] = q.lease(1)
            q.release(lease, delay=0, error=f"failure {attempt}: ü & ?")
        dead = q._call("GET", "/dead")["tasks"]
        self.assertEqual([(task["data"], task["error"]) for task in dead], [("b", "failure 5: ü & ?")])

    def test_the_worker_script_runs_a_command_per_task(self):
        q = TQueue(URL, "py-worker")
        q.put({"greeting": "hi"})
        here = os.path.dirname(os.path.abspath(__file__))
        out = subprocess.run(
            [sys.executable, os.path.join(here, "worker.py"), URL, "py-worker", "--once", "--", "cat"],
            capture_output=True, timeout=30, check=True,
        ).stdout.decode()
        self.assertIn('{"greeting": "hi"}', out)
        self.assertRegex(out, r"done \d+\.1\n$")
        # A failing command: the task is released with its exit status and last error line.
        q.put("fail")
        run = subprocess.run(
            [sys.executable, os.path.join(here, "worker.py"), URL, "py-worker", "--once", "--",
             "sh", "-c", "echo first >&2; echo 'no such mailbox' >&2; exit 3"],
            capture_output=True, timeout=30, check=True,
        )
        self.assertRegex(run.stdout.decode(), r"released \d+\.1: exit 3: no such mailbox\n$")
        self.assertEqual(run.stderr.decode(), "first\nno such mailbox\n", "the command's errors are shown")
        self.assertEqual(q.stats()["done"], 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
