"""TQueue's dashboard in a real headless Chromium (Debian's chromium and chromium-driver,
driven by selenium): run by `.ci/browser`, which installs them. SERVER_BIN names the tqueue
binary; SCREENSHOT, if set, is where to save a picture of the page.

What it checks, on a server with tokens and one without:
- the page loads with no error in the browser's console;
- it asks for a token only when the server has tokens, keeps it in sessionStorage, and
  never in the URL or a cookie;
- it shows a queue the test put tasks to, with its counts;
- a put made elsewhere shows on the page within a second (the time is printed);
- on the queue's page, a dead task is listed, and Requeue makes it ready again;
- pause and resume from the page.
"""

import json
import os
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BIN = os.environ["SERVER_BIN"]
ADMIN = "dashboard-admin-secret-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A tqueue process with a fresh store; `tokens`: an admin token, or none."""

    def __init__(self, tokens):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="tqueue-browser-")
        env = {**os.environ, "APPSERVER_PORT": str(self.port), "RUST_LOG": "warn", "TQUEUE_MAX_ATTEMPTS": "1"}
        if tokens:
            env["APPSERVER_AUTH_TOKENS"] = f"ops:{ADMIN}:produce+consume+admin"
        self.token = ADMIN if tokens else None
        self.process = subprocess.Popen([BIN], cwd=self.dir, env=env)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def stop(self):
        self.process.terminate()
        self.process.wait()


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,800", f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


class DashboardTest(unittest.TestCase):
    def setUp(self):
        self.driver = browser()
        self.wait = WebDriverWait(self.driver, 10, poll_frequency=0.02)

    def tearDown(self):
        self.driver.quit()

    def console_errors(self):
        return [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def texts(self, selector):
        """The text of each element `selector` finds, read at once (the page redraws
        tables as updates come)."""
        return self.driver.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map((e) => e.textContent)", selector)

    def loaded_elsewhere(self, url):
        """What the page loaded (documents, scripts, fetches, its event stream) from
        anywhere but `url`: it must work offline."""
        names = self.driver.execute_script(
            "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
            ".map((e) => e.name)")
        self.assertTrue(names, "the page's loads are listed")
        return [name for name in names if not name.startswith(url + "/")]

    def cell(self, queue, column):
        """The text of `column` (0: name) in the overview's row of `queue`, or None."""
        cells = self.texts(f'#queues tr[data-queue="{queue}"] td')
        return cells[column] if cells else None

    def test_with_tokens(self):
        server = Server(tokens=True)
        try:
            for n in range(3):
                server.call("POST", "/v2/queues/emails/tasks", {"task": {"to": f"user{n}@example.com"}})
            self.driver.get(server.url + "/")
            # It asks for a token: the admin's, typed in.
            field = self.wait.until(lambda d: d.find_element(By.ID, "token") if d.find_element(By.ID, "token").is_displayed() else None)
            field.send_keys(ADMIN)
            self.driver.find_element(By.CSS_SELECTOR, "#token-form button").click()
            self.wait.until(lambda d: self.cell("emails", 1) == "3")
            self.assertEqual(self.driver.execute_script("return sessionStorage.getItem('tqueue-token')"), ADMIN)
            self.assertEqual(self.driver.get_cookies(), [])
            self.assertNotIn(ADMIN, self.driver.current_url)

            # A put made elsewhere: on the page within a second.
            put_at = time.monotonic()
            server.call("POST", "/v2/queues/emails/tasks", {"task": {"to": "late@example.com"}})
            self.wait.until(lambda d: self.cell("emails", 1) == "4")
            took = time.monotonic() - put_at
            print(f"the dashboard showed a put after {took * 1000:.0f} ms")
            self.assertLess(took, 1.0)
            # A new queue appears too.
            server.call("POST", "/v2/queues/reports/tasks", {"task": "weekly"})
            self.wait.until(lambda d: self.cell("reports", 1) == "1")

            # A dead task: its only lease (max_attempts 1) runs out.
            server.call("POST", "/v2/queues/emails/lease?lease=0.1")
            time.sleep(0.3)
            self.wait.until(lambda d: self.cell("emails", 4) == "1")
            if os.environ.get("SCREENSHOT"):
                self.driver.save_screenshot(os.environ["SCREENSHOT"])
            self.driver.find_element(By.LINK_TEXT, "emails").click()
            self.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#dead tr[data-id]"))
            # Its attempts and last error.
            self.assertEqual(self.texts("#dead tr[data-id] td")[1:3], ["1", "the lease ran out"])
            self.assertIn("max_attempts", self.driver.find_element(By.ID, "settings").text)
            self.driver.find_element(By.CSS_SELECTOR, "#dead tr[data-id] button.requeue").click()
            self.wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#dead tr[data-id]"))
            stats = server.call("GET", "/v2/queues/emails")
            self.assertEqual((stats["dead"], stats["ready"]), (0, 4), stats)
            # The live counts on the queue's page: ready 4, dead 0.
            self.wait.until(lambda d: self.texts("#queue-stats td")[1:5] == ["4", "0", "0", "0"])

            # Pause and resume from the page.
            self.driver.find_element(By.ID, "pause").click()
            self.wait.until(lambda d: server.call("GET", "/v2/queues/emails")["paused"])
            self.wait.until(lambda d: self.texts("#queue-stats td")[:1] == ["paused"])
            self.driver.find_element(By.ID, "resume").click()
            self.wait.until(lambda d: not server.call("GET", "/v2/queues/emails")["paused"])
            self.assertEqual(self.console_errors(), [])
            self.assertEqual(self.loaded_elsewhere(server.url), [])
        finally:
            server.stop()

    def test_without_tokens_no_token_is_asked(self):
        server = Server(tokens=False)
        try:
            server.call("POST", "/v2/queues/jobs/tasks", {"task": 1})
            self.driver.get(server.url + "/")
            self.wait.until(lambda d: self.cell("jobs", 1) == "1")
            self.assertFalse(self.driver.find_element(By.ID, "token-form").is_displayed())
            self.assertEqual(self.console_errors(), [])
            self.assertEqual(self.loaded_elsewhere(server.url), [])
        finally:
            server.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
