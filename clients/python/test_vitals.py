"""The Python client against the real vitals binary: up, down, hung
(SIGSTOP), slow, refusing, rate limiting; from threads, from async def
handlers, after fork and at exit. Run by clients/python/python_test.go
(`go test ./clients/python/`), or alone:

    VITALS_BINARY=/path/to/vitals python3 -m unittest -v test_vitals
"""

import asyncio
import http.server
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import unittest

import vitals
from vitals_harness import INGEST, Vitals, count_by_message, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
SIX = [
    ("user_registered", "New user registered", "anna@example.com", {"plan": "free"}),
    ("user_approved", "User approved", "anna@example.com", {"approved_by": "admin@example.com"}),
    ("user_rejected", "User rejected", "spam@example.com", {"reason": "duplicate account"}),
    ("stream_started", "Эфир начался", None, {"mount": "/live", "bitrate_kbps": 128}),
    ("stream_stopped", "Stream stopped", None, {"duration_seconds": 5400}),
    ("track_added", "Track added to the playlist", "dj@example.com", {"track_id": 42, "title": "Ночь"}),
]


def fast_client(url, token=INGEST, **kw):
    opts = dict(flush_interval=0.05, request_timeout=1.0, min_backoff=0.05, max_backoff=0.5)
    opts.update(kw)
    return vitals.Client(url, token, **opts)


class Base(unittest.TestCase):
    def vitals(self, **kw):
        v = Vitals(**kw)
        self.addCleanup(v.close)
        return v

    def assertExactlyOnce(self, server, messages):
        evs = server.wait_for(len(messages))
        counts = count_by_message(evs)
        missing = [m for m in messages if counts.get(m, 0) == 0]
        twice = {m: n for m, n in counts.items() if n > 1}
        self.assertEqual(missing, [], "events lost")
        self.assertEqual(twice, {}, "events stored more than once")
        self.assertEqual(len(evs), len(messages))


class TestUp(Base):
    def test_six_events_arrive_with_their_fields(self):
        v = self.vitals().start()
        c = fast_client(v.url)
        for t, m, e, d in SIX:
            self.assertTrue(c.log_activity(t, m, user_email=e, details=d))
        self.assertTrue(c.flush(30))
        evs = {e["type"]: e for e in v.wait_for(6)}
        self.assertEqual(sorted(evs), sorted(t for t, _, _, _ in SIX))
        for t, m, e, d in SIX:
            self.assertEqual(evs[t]["message"], m)
            self.assertEqual(evs[t]["user_email"], e)
            self.assertEqual(evs[t]["details"], d)
        s = c.stats()
        self.assertEqual((s["logged"], s["sent"], s["pending"]), (6, 6, 0))

    def test_invalid_events_return_false_and_raise_nothing(self):
        c = vitals.Client("http://127.0.0.1:9", INGEST)
        with self.assertLogs("vitals", "WARNING") as logs:
            self.assertFalse(c.log_activity("Bad Type", "x"))
            self.assertFalse(c.log_activity("ok", ""))
            self.assertFalse(c.log_activity("ok", "x", user_email="not an address"))
            self.assertFalse(c.log_activity("ok", "x", details=[1, 2]))
            self.assertFalse(c.log_activity("ok", "x", details={"big": "a" * (17 << 10)}))
        self.assertEqual(len(logs.records), 5)
        self.assertEqual(c.stats()["logged"], 0)

    def test_unconfigured_warns_once_and_sends_nothing(self):
        c = vitals.Client("", "")
        with self.assertLogs("vitals", "WARNING") as logs:
            self.assertFalse(c.log_activity("ok", "x"))
            self.assertFalse(c.log_activity("ok", "y"))
        self.assertEqual(len(logs.records), 1)

    def test_threads(self):
        v = self.vitals().start()
        c = fast_client(v.url)
        msgs = ["thread %d event %d" % (t, i) for t in range(8) for i in range(250)]

        def work(t):
            for i in range(250):
                c.log_activity("thread.event", "thread %d event %d" % (t, i))

        ts = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertTrue(c.flush(60))
        self.assertExactlyOnce(v, msgs)


class TestFaults(Base):
    def test_down_then_up(self):
        port = free_port()
        c = fast_client("http://127.0.0.1:%d" % port)
        msgs = ["while down %d" % i for i in range(50)]
        for m in msgs:
            self.assertTrue(c.log_activity("down.event", m))
        self.assertFalse(c.flush(0.5), "nothing can be delivered while vitals is down")
        self.assertGreater(c.stats()["retries"], 0)
        v = self.vitals(port=port).start()
        self.assertTrue(c.flush(60))
        self.assertExactlyOnce(v, msgs)

    def test_hung_then_recovered_exactly_once(self):
        v = self.vitals().start()
        c = fast_client(v.url, batch_size=50)
        v.stop()
        msgs = ["while hung %d" % i for i in range(1000)]
        for m in msgs:
            self.assertTrue(c.log_activity("hung.event", m))
        self.assertFalse(c.flush(2.5), "nothing can be acknowledged while vitals is stopped")
        self.assertGreater(c.stats()["retries"], 0, "the hung requests timed out and were retried")
        v.cont()
        self.assertTrue(c.flush(90))
        # Requests sent while stopped are read once vitals runs again; their
        # retries carry the same keys, so each event is stored once.
        self.assertExactlyOnce(v, msgs)

    def test_slow_server(self):
        v = self.vitals().start()
        proxy = SlowProxy(v.port, delay=0.3)
        self.addCleanup(proxy.close)
        c = fast_client(proxy.url, request_timeout=5.0, batch_size=20)
        msgs = ["slow %d" % i for i in range(100)]
        for m in msgs:
            self.assertTrue(c.log_activity("slow.event", m))
        self.assertTrue(c.flush(60))
        self.assertExactlyOnce(v, msgs)

    def test_queue_bound_drops_the_oldest_with_a_counted_warning(self):
        port = free_port()
        c = fast_client("http://127.0.0.1:%d" % port, max_queue=10, batch_size=5)
        with self.assertLogs("vitals", "WARNING") as logs:
            for i in range(25):
                c.log_activity("bound.event", "bounded %d" % i)
            self.assertEqual(c.stats()["dropped_full"], 15)
            # The sender reports the drops after its next failed attempt.
            end = time.monotonic() + 30
            while not any("dropped" in r.getMessage() for r in logs.records) and time.monotonic() < end:
                time.sleep(0.05)
        warning = [r.getMessage() for r in logs.records if "dropped" in r.getMessage()]
        self.assertTrue(warning, "no warning about the dropped events")
        self.assertIn("(15 in all)", warning[-1])
        v = self.vitals(port=port).start()
        self.assertTrue(c.flush(60))
        evs = v.wait_for(10)
        got = sorted(e["message"] for e in evs)
        # The oldest go, except a batch the sender had already taken: it
        # is in flight, not in the queue, and still counts to the bound.
        # Which batch that is depends on when the sender woke (it may have
        # taken the first event alone, then the next five after a retry):
        # any run of at most a batch, with the newest filling the bound.
        def kept(start, size):
            run = set(range(start, start + size))
            return sorted("bounded %d" % i for i in run | set(range(25 - (10 - size), 25)))
        allowed = [k for k in [kept(0, 0)] + [kept(a, n) for n in range(1, 6) for a in range(25)] if len(k) == 10]
        self.assertIn(got, allowed)

    def test_wrong_token_gives_up_with_one_log_line(self):
        v = self.vitals().start()
        c = vitals.Client(v.url, "not-a-token-of-this-server-0123456789", flush_interval=0.05,
                          min_backoff=0.05, max_backoff=0.5)
        with self.assertLogs("vitals", "WARNING") as logs:
            for i in range(3):
                c.log_activity("refused.event", "refused %d" % i)
            self.assertTrue(c.flush(30), "a 401 is final: flush must not wait for retries")
        s = c.stats()
        self.assertEqual((s["retries"], s["dropped_refused"], s["pending"]), (0, 3, 0))
        lines = [r.getMessage() for r in logs.records]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("401", lines[0])
        self.assertEqual(v.events(), [])

    def test_one_bad_event_in_a_batch_does_not_lose_the_others(self):
        v = self.vitals().start()
        c = fast_client(v.url, flush_interval=10)
        # The client checks a simple email shape; vitals' own check is
        # stricter, so this one reaches the server and is refused there.
        for i in range(5):
            c.log_activity("batch.event", "good %d" % i)
        c.log_activity("batch.event", "bad", user_email="a..b@example.com")
        with self.assertLogs("vitals", "WARNING") as logs:
            self.assertTrue(c.flush(30))
        self.assertExactlyOnce(v, ["good %d" % i for i in range(5)])
        self.assertEqual(c.stats()["dropped_refused"], 1)
        self.assertEqual(len(logs.records), 1)

    def test_retry_after_is_honoured(self):
        # vitals' 429 cannot be had on demand without racing its rate
        # limiter; this server answers 429 with Retry-After: 1 once, then
        # acknowledges, and notes when each request came.
        seen = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seen.append((time.monotonic(), [e["idempotency_key"] for e in body]))
                if len(seen) == 1:
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                out = json.dumps({"events": body}).encode()
                self.send_response(201)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        c = fast_client("http://127.0.0.1:%d" % srv.server_port, max_backoff=5)
        c.log_activity("limited.event", "limited")
        self.assertTrue(c.flush(30))
        self.assertEqual(len(seen), 2)
        self.assertGreaterEqual(seen[1][0] - seen[0][0], 0.95, "retried before Retry-After")
        self.assertEqual(seen[0][1], seen[1][1], "the retry must carry the same idempotency key")


class TestProcesses(Base):
    def run_script(self, body, env, timeout=120):
        script = textwrap.dedent(body)
        e = dict(os.environ, PYTHONPATH=HERE, **env)
        return subprocess.run([sys.executable, "-c", script], env=e, capture_output=True, text=True, timeout=timeout)

    def test_exit_flushes(self):
        v = self.vitals().start()
        r = self.run_script("""
            import vitals
            for i in range(20):
                vitals.log_activity("exit.event", "at exit %d" % i)
            # no flush: atexit sends them
        """, {"VITALS_URL": v.url, "VITALS_INGEST_TOKEN": INGEST})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertExactlyOnce(v, ["at exit %d" % i for i in range(20)])

    def test_exit_with_vitals_hung_is_bounded_and_says_so(self):
        v = self.vitals().start()
        v.stop()
        r = self.run_script("""
            import logging, vitals
            logging.basicConfig()
            vitals.configure(exit_timeout=1.0, request_timeout=0.5)
            for i in range(20):
                vitals.log_activity("exit.event", "hung at exit %d" % i)
        """, {"VITALS_URL": v.url, "VITALS_INGEST_TOKEN": INGEST}, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("20 event(s) not delivered within 1.0 s at exit", r.stderr)

    def test_after_fork(self):
        v = self.vitals().start()
        c = fast_client(v.url, flush_interval=5)
        c.log_activity("fork.event", "parent before fork")
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                # The child starts empty (the parent sends its own queue)
                # and has a sender of its own.
                if c.stats()["pending"] == 0 and c.log_activity("fork.event", "child") and c.flush(30):
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        self.assertTrue(c.flush(30))
        self.assertExactlyOnce(v, ["parent before fork", "child"])

    def test_async_handlers_never_wait_on_a_hung_vitals(self):
        v = self.vitals().start()
        c = fast_client(v.url)
        v.stop()

        async def handler(i):
            c.log_activity("async.event", "async %d" % i)
            await asyncio.sleep(0)
            return i

        async def main():
            return await asyncio.gather(*(handler(i) for i in range(1000)))

        # Every handler completes while vitals is still stopped.
        self.assertEqual(len(asyncio.run(main())), 1000)
        self.assertEqual(c.stats()["sent"], 0)
        v.cont()
        self.assertTrue(c.flush(90))
        self.assertExactlyOnce(v, ["async %d" % i for i in range(1000)])


class SlowProxy:
    """Forwards to vitals, holding each chunk of its answers for delay
    seconds: a slow vitals."""

    def __init__(self, port, delay):
        self.port, self.delay = port, delay
        self.ln = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d" % self.ln.getsockname()[1]
        self.closed = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closed:
            try:
                a, _ = self.ln.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(("127.0.0.1", self.port))
            except OSError:
                # vitals is down: so is the proxy, to the client.
                a.close()
                continue
            threading.Thread(target=self.pipe, args=(a, b, False), daemon=True).start()
            threading.Thread(target=self.pipe, args=(b, a, True), daemon=True).start()

    def pipe(self, src, dst, answers):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if answers and self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            src.close()

    def close(self):
        self.closed = True
        self.ln.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    unittest.main()


class TestTimings(Base):
    def test_wsgi_middleware_posts_route_templates(self):
        v = self.vitals(env={"VITALS_SAMPLE_INTERVAL": "1s"}).start()
        t = vitals.Timings(v.url, INGEST, interval=3600)  # sent by hand below

        def app(environ, start_response):
            environ["vitals.route"] = "/tracks/{id}"
            start_response("500 Internal Server Error" if environ["PATH_INFO"].endswith("9") else "200 OK", [])
            return [b"ok"]

        mw = vitals.WSGIMiddleware(app, timings=t)
        for i in range(10):
            body = b"".join(mw({"REQUEST_METHOD": "GET", "PATH_INFO": "/tracks/%d" % i}, lambda s, h, e=None: None))
            self.assertEqual(body, b"ok")
        self.assertEqual(t.send(), 204)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            snap = v.snapshot()
            if snap["app"]["status"] == "ok":
                break
            time.sleep(0.2)
        self.assertEqual(snap["app"]["requests"], 10)
        self.assertEqual(snap["app"]["error_percent"], 10)
        self.assertEqual([r["name"] for r in snap["app_routes"]], ["GET /tracks/{id}"])

    def test_failed_post_is_merged_into_the_next(self):
        port = free_port()
        t = vitals.Timings("http://127.0.0.1:%d" % port, INGEST, interval=3600, request_timeout=1)
        t.record("GET", "/a", 0.001, 200)
        self.assertIsNone(t.send())  # nothing listens yet
        t.record("GET", "/a", 0.002, 200)
        v = self.vitals(port=port, env={"VITALS_SAMPLE_INTERVAL": "1s"}).start()
        self.assertEqual(t.send(), 204)
        end = time.monotonic() + 10
        while time.monotonic() < end and v.snapshot()["app"]["status"] != "ok":
            time.sleep(0.2)
        self.assertEqual(v.snapshot()["app"]["requests"], 2)

    def test_refused_token_stops_with_one_line(self):
        v = self.vitals().start()
        t = vitals.Timings(v.url, "not-a-token", interval=3600)
        t.record("GET", "/a", 0.001, 200)
        with self.assertLogs("vitals", "WARNING") as logs:
            self.assertEqual(t.send(), 401)
        self.assertEqual(len(logs.records), 1)
        t.record("GET", "/a", 0.001, 200)  # ignored from now on
        self.assertEqual(t._routes, {})
