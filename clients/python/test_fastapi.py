"""The "Done when" of issue 15: a real FastAPI app (Debian's python3-fastapi
and python3-uvicorn) using the client at the six points, while vitals is up,
down, slow and hung (SIGSTOP). With vitals hung, 1,000 app requests
complete while it is still stopped; after it recovers every event is
stored exactly once."""

import http.client
import json
import os
import subprocess
import sys
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from test_vitals import Base, SlowProxy
from vitals_harness import INGEST, count_by_message, free_port

HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import fastapi  # noqa: F401
    import uvicorn  # noqa: F401
    MISSING = None
except ImportError as e:
    MISSING = str(e)


def need_fastapi(test):
    if MISSING and os.environ.get("CI") != "true":
        return unittest.skip("FastAPI or uvicorn missing (%s): apt-get install python3-fastapi python3-uvicorn" % MISSING)(test)
    return test


class App:
    """The example app under uvicorn, one worker, as a process."""

    def __init__(self, vitals_url, module="fastapi_app", env=None):
        self.port = free_port()
        env = dict(os.environ, VITALS_URL=vitals_url, VITALS_INGEST_TOKEN=INGEST,
                   PYTHONPATH=os.pathsep.join([HERE, os.path.join(HERE, "examples")]), **(env or {}))
        self.proc = subprocess.Popen([sys.executable, "-m", "uvicorn", module + ":app", "--port", str(self.port),
                                      "--log-level", "warning", "--no-access-log"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(600):
            try:
                self.request("GET", "/health")
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("uvicorn exited: " + self.proc.stderr.read())
                time.sleep(0.05)
        raise RuntimeError("the app did not start")

    def request(self, method, path, body=None, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            data = None if body is None else json.dumps(body)
            c.request(method, path, body=data, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            if r.status != 200:
                raise AssertionError("%s %s: %d" % (method, path, r.status))
            return r.status
        finally:
            if conn is None:
                c.close()

    def register_many(self, prefix, n, workers=10):
        """n registrations from workers keep-alive connections; returns the
        emails, once every request has been answered."""
        emails = ["%s%d@example.com" % (prefix, i) for i in range(n)]

        def work(chunk):
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                for e in chunk:
                    self.request("POST", "/auth/register", {"email": e}, conn=c)
            finally:
                c.close()

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, [emails[i::workers] for i in range(workers)]))
        return emails

    def stop(self):
        """SIGTERM, as a platform stops it: the client's atexit flush runs."""
        self.proc.terminate()
        try:
            return self.proc.wait(60)
        finally:
            self.proc.stderr.close()


@need_fastapi
class TestFastAPI(Base):
    def test_up_down_slow_hung(self):
        v = self.vitals().start()
        proxy = SlowProxy(v.port, delay=0)
        self.addCleanup(proxy.close)
        app = App(proxy.url)
        self.addCleanup(lambda: app.proc.poll() is None and app.stop())

        # Up: the six points.
        app.request("POST", "/auth/register", {"email": "anna@example.com"})
        app.request("POST", "/users/anna@example.com/approve")
        app.request("POST", "/users/spam@example.com/reject")
        app.request("POST", "/admin/stream/start")
        app.request("POST", "/admin/stream/stop")
        app.request("POST", "/playlist/tracks", {"id": 42, "title": "Night", "added_by": "dj@example.com"})
        evs = v.wait_for(6)
        self.assertEqual(sorted(e["type"] for e in evs), sorted(
            ["user_registered", "user_approved", "user_rejected", "stream_started", "stream_stopped", "track_added"]))

        # Down: vitals killed, the app serves; vitals back on its port.
        v.kill()
        down = app.register_many("down", 100)
        v.start()

        # Slow: every answer of vitals held 0.5 s.
        proxy.delay = 0.5
        slow = app.register_many("slow", 100)
        proxy.delay = 0

        # Hung: SIGSTOP. 1,000 requests complete while it is still stopped.
        v.stop()
        hung = app.register_many("hung", 1000)
        self.assertIsNone(app.proc.poll())
        v.cont()

        emails = down + slow + hung
        end = time.monotonic() + 120
        while time.monotonic() < end:
            stored = [e for e in v.events(type="user_registered") if e["user_email"] != "anna@example.com"]
            if len(stored) >= len(emails):
                break
            time.sleep(0.2)
        counts = {}
        for e in stored:
            counts[e["user_email"]] = counts.get(e["user_email"], 0) + 1
        self.assertEqual([e for e in emails if e not in counts], [], "events lost")
        self.assertEqual({e: n for e, n in counts.items() if n > 1}, {}, "events stored twice")
        self.assertEqual(len(stored), len(emails))
        self.assertEqual(app.stop(), 0)
        self.assertEqual(count_by_message(v.events(type="user_approved")), {"User approved": 1})


if __name__ == "__main__":
    unittest.main()


@need_fastapi
class TestFastAPITimings(Base):
    def test_routes_on_the_card_and_a_slow_one_is_slow(self):
        v = self.vitals(env={"VITALS_SAMPLE_INTERVAL": "1s"}).start()
        app = App(v.url, module="slow_app", env={"VITALS_TIMINGS_INTERVAL": "0.3", "SLOW_APP_DELAY": "0.25"})
        self.addCleanup(lambda: app.proc.poll() is None and app.stop())
        for i in range(40):
            app.request("POST", "/playlist/tracks", {"id": i, "title": "Night", "added_by": "dj@example.com"})
            app.request("POST", "/users/u%d@example.com/approve" % i)
        for i in range(4):
            app.request("GET", "/reports/r%d" % i)
        end = time.monotonic() + 30
        snap = None
        while time.monotonic() < end:
            snap = v.snapshot()
            if snap["app"]["status"] == "ok" and (snap["app"]["requests"] or 0) >= 84:
                break
            time.sleep(0.2)
        self.assertEqual(snap["app"]["status"], "ok", snap["app"])
        # 84, and the start's GET /health polls.
        self.assertGreaterEqual(snap["app"]["requests"], 84, snap["app"])
        names = [r["name"] for r in snap["app_routes"]]
        # Route templates, never raw paths; the slow one first, and slow.
        self.assertEqual(names[0], "GET /reports/{name}", names)
        self.assertIn("POST /users/{email}/approve", names)
        self.assertIn("POST /playlist/tracks", names)
        self.assertGreater(snap["app_routes"][0]["p95_ms"], 200)
        fast = [r for r in snap["app_routes"] if r["name"] == "POST /playlist/tracks"][0]
        self.assertLess(fast["p95_ms"], 200)
