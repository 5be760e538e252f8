"""Benchmark (not a test): log_activity's cost and the FastAPI app's request
latency with vitals up, down and hung, side by side. VITALS_BINARY names
the binary; `go test ./clients/python/ -run '^$' -bench FastAPIApp
-benchtime 1x` builds it and runs this. The last line is the figures as
JSON."""

import http.client
import json
import time

import vitals
from test_fastapi import App
from vitals_harness import INGEST, Vitals, free_port


def percentiles(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2], xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def log_activity_us(url, n=10000):
    c = vitals.Client(url, INGEST)
    out = []
    for i in range(n):
        t = time.perf_counter_ns()
        c.log_activity("bench.event", "bench", user_email="anna@example.com", details={"i": i})
        out.append((time.perf_counter_ns() - t) / 1000)
    c.close(0.1)
    return percentiles(out)


def app_ms(app, prefix, n=1000):
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=60)
    out = []
    for i in range(n):
        t = time.perf_counter_ns()
        app.request("POST", "/auth/register", {"email": "%s%d@example.com" % (prefix, i)}, conn=conn)
        out.append((time.perf_counter_ns() - t) / 1e6)
    conn.close()
    return percentiles(out)


def main():
    v = Vitals().start()
    figures = {}
    try:
        figures["log_activity_up_p50_us"], figures["log_activity_up_p99_us"] = log_activity_us(v.url)
        figures["log_activity_down_p50_us"], figures["log_activity_down_p99_us"] = log_activity_us(
            "http://127.0.0.1:%d" % free_port())
        app = App(v.url)
        try:
            app_ms(app, "warm", 200)
            figures["app_up_p50_ms"], figures["app_up_p99_ms"] = app_ms(app, "up")
            v.stop()
            figures["log_activity_hung_p50_us"], figures["log_activity_hung_p99_us"] = log_activity_us(v.url)
            figures["app_hung_p50_ms"], figures["app_hung_p99_ms"] = app_ms(app, "hung")
            v.cont()
        finally:
            app.stop()
    finally:
        v.close()
    print("%-14s %12s %12s %12s %12s" % ("vitals", "log p50 µs", "log p99 µs", "app p50 ms", "app p99 ms"))
    for state in ("up", "down", "hung"):
        f = lambda k: figures.get(k)
        cells = [f("log_activity_%s_p50_us" % state), f("log_activity_%s_p99_us" % state),
                 f("app_%s_p50_ms" % state), f("app_%s_p99_ms" % state)]
        print("%-14s " % state + " ".join("%12s" % ("-" if x is None else "%.2f" % x) for x in cells))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
