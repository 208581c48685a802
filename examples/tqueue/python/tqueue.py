"""A TQueue client with the interface of Python's queue.Queue, standard library only.

    from tqueue import TQueue
    q = TQueue("http://127.0.0.1:8080", "emails", token="...")
    q.put({"to": "ann@example.com"})
    task = q.get(timeout=30)      # leased: finish it with task_done()
    send(task)
    q.task_done()

Every put carries an Idempotency-Key: a put that got no answer (a timeout, a dropped
connection) is sent again with the same key, and the server answers the first put's id
instead of putting the task twice.

A task handed out by get() is leased: if task_done() does not come before the lease runs
out (the queue's lease, 60 s unless the server says otherwise), the task is handed out
again. lease() and done() give the leases themselves, to finish them in any order, extend
them (heartbeat) or release them.
"""

import json
import queue
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

__all__ = ["TQueue", "Lease", "Empty", "Full", "TQueueError"]

Empty = queue.Empty
Full = queue.Full

# The longest long-poll one request asks for; longer waits are several requests.
_POLL = 20.0

# How often a put that got no answer is sent again (with its key), and the pause before.
_PUT_TRIES = 4
_PUT_PAUSE = 0.5


class TQueueError(Exception):
    """The server answered with an error: .status and .message."""

    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class Lease:
    """A leased task: .task (the data), .id, .token, .attempt, .until (Unix seconds)."""

    def __init__(self, queue_name, raw):
        self.queue = queue_name
        self.id = raw["id"]
        self.token = raw["lease"]
        self.attempt = raw["attempt"]
        self.until = raw["lease_until"] / 1000.0
        self.task = raw["task"]

    def __repr__(self):
        return f"Lease({self.queue!r}, token={self.token!r}, task={self.task!r})"


def _task(item, delay, priority):
    """A task as the v2 API takes it."""
    task = {"task": item}
    if delay:
        task["delay"] = delay
    if priority:
        task["priority"] = priority
    return task


class TQueue:
    """One queue of a TQueue server."""

    def __init__(self, url, name, token=None, timeout=60.0):
        self.url = url.rstrip("/")
        self.name = name
        self.token = token
        self.timeout = timeout
        self._leases = []

    # queue.Queue's interface

    def put(self, item, block=True, timeout=None, delay=0, priority=0):
        """Adds item (any JSON value); answers its id once it is on disk. Higher priorities
        are handed out first. A full queue: waits (block) up to timeout seconds, else
        raises Full."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return self._put("/tasks", _task(item, delay, priority))["id"]
            except TQueueError as error:
                if error.status != 429 or not block:
                    raise Full(error.message) if error.status == 429 else error
                pause = getattr(error, "retry_after", 1.0)
                if deadline is not None and time.monotonic() + pause > deadline:
                    raise Full(error.message)
                time.sleep(pause)

    def put_nowait(self, item):
        return self.put(item, block=False)

    def put_many(self, items, delay=0, priority=0):
        """Adds items (1 to 1000 JSON values) in one commit: all or none; their ids, in
        order. A full queue raises Full (nothing was added)."""
        tasks = [_task(item, delay, priority) for item in items]
        try:
            return self._put("/tasks/batch", {"tasks": tasks})["ids"]
        except TQueueError as error:
            raise Full(error.message) if error.status == 429 else error

    def get(self, block=True, timeout=None, lease=None):
        """Leases the next task and returns it; task_done() finishes it. Waits (block) up
        to timeout seconds (None: until there is one), else raises Empty."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 0.0
            if block:
                left = _POLL if deadline is None else max(0.0, deadline - time.monotonic())
                wait = min(_POLL, left)
            leases = self.lease(1, lease=lease, wait=wait)
            if leases:
                self._leases.append(leases[0])
                return leases[0].task
            if not block or (deadline is not None and time.monotonic() >= deadline):
                raise Empty()

    def get_nowait(self):
        return self.get(block=False)

    def task_done(self):
        """Finishes the oldest task this client got with get() and has not finished."""
        if not self._leases:
            raise ValueError("task_done() called more times than get()")
        self.done(self._leases.pop(0))

    def qsize(self):
        """Tasks waiting to be handed out."""
        return self.stats()["ready"]

    def empty(self):
        return self.qsize() == 0

    # Leases

    def lease(self, max_tasks=1, lease=None, wait=0.0):
        """Leases up to max_tasks tasks, waiting up to wait seconds for one; a list of Lease."""
        query = {"max": max_tasks, "wait": wait}
        if lease is not None:
            query["lease"] = lease
        answer = self._call("POST", "/lease?" + urllib.parse.urlencode(query), timeout=self.timeout + wait)
        return [Lease(self.name, raw) for raw in answer["tasks"]]

    def done(self, lease):
        """Finishes a Lease; TQueueError 409 if it ran out and the task was leased again."""
        self._call("POST", f"/leases/{lease.token}/done")

    def done_many(self, leases):
        """Finishes many Leases in one request; the tokens of those whose lease had run out
        (their tasks will be handed out again)."""
        answer = self._call("POST", "/leases/done", {"leases": [lease.token for lease in leases]})
        return answer["stale"]

    def release(self, lease, delay=None, error=None):
        """Gives a Lease back: the task is ready again after delay seconds, or after the
        queue's backoff (doubled at each attempt) when delay is None. error (up to 1000
        characters) is kept as the task's last error, listed with it if it is dead."""
        query = {key: value for key, value in [("delay", delay), ("error", error)] if value is not None}
        path = f"/leases/{lease.token}/release"
        self._call("POST", path + ("?" + urllib.parse.urlencode(query) if query else ""))

    def extend(self, lease, seconds=None):
        """Extends a Lease (a heartbeat); answers when it now runs out (Unix seconds)."""
        query = "" if seconds is None else f"?lease={seconds}"
        lease.until = self._call("POST", f"/leases/{lease.token}/extend{query}")["lease_until"] / 1000.0
        return lease.until

    def stats(self):
        """The queue's counts: ready, leased, delayed, dead, put, done, expired."""
        return self._call("GET", "")

    def _put(self, path, body):
        """POSTs a put with a new Idempotency-Key; sends it again, with the same key, while
        it gets no answer (up to _PUT_TRIES times)."""
        key = uuid.uuid4().hex
        for attempt in range(_PUT_TRIES):
            try:
                return self._call("POST", path, body, headers={"Idempotency-Key": key})
            except (urllib.error.URLError, ConnectionError, socket.timeout) as no_answer:
                if isinstance(no_answer, urllib.error.HTTPError) or attempt == _PUT_TRIES - 1:
                    raise
                time.sleep(_PUT_PAUSE)

    def _call(self, method, path, body=None, timeout=None, headers=None):
        url = f"{self.url}/v2/queues/{urllib.parse.quote(self.name)}{path}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as http_error:
            try:
                message = json.load(http_error)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = http_error.reason
            error = TQueueError(http_error.code, message)
            retry_after = http_error.headers.get("Retry-After")
            if retry_after:
                error.retry_after = float(retry_after)
            raise error from None
