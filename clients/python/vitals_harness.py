"""Test harness: a real vitals process the tests own (start, SIGSTOP,
SIGCONT, kill, start again on the same port and data), and a reader of what
it stored. VITALS_BINARY names the binary; the Go test
(clients/python/python_test.go) builds it and sets it."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

INGEST = "python-test-ingest-token-0123456789"
READ = "python-test-read-token-0123456789"

_SERVING = re.compile(r"serving http://localhost:(\d+)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Vitals:
    def __init__(self, port=None, env=None):
        self.binary = os.environ.get("VITALS_BINARY", "")
        if not self.binary:
            raise RuntimeError("VITALS_BINARY is not set (the Go test sets it)")
        self.dir = tempfile.mkdtemp(prefix="vitals-py-")
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.env = dict(env or {})
        self.proc = None
        self.log = []

    def start(self):
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": self.dir,
            "PORT": str(self.port),
            "VITALS_DATA_DIR": self.dir,
            "VITALS_ADMIN_PASSWORD": "python-test-admin-password",
            "VITALS_INGEST_TOKEN": INGEST,
            "VITALS_READ_TOKEN": READ,
            "VITALS_EVENTS_KEEP": "100000",
            "VITALS_INGEST_RATE": "0",
        }
        env.update(self.env)
        self.proc = subprocess.Popen([self.binary, "serve"], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def read(out):
            for line in out:
                self.log.append(line)
                if _SERVING.search(line):
                    ready.set()

        threading.Thread(target=read, args=(self.proc.stdout,), daemon=True).start()
        if not ready.wait(60):
            raise RuntimeError("vitals did not start:\n" + "".join(self.log))
        for _ in range(600):
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("vitals /health did not pass:\n" + "".join(self.log))

    def stop(self):
        """SIGSTOP: the socket still accepts connections, nothing answers."""
        self.proc.send_signal(signal.SIGSTOP)

    def cont(self):
        self.proc.send_signal(signal.SIGCONT)

    def kill(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            self.proc = None

    def close(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def events(self, **filters):
        out, cursor = [], None
        while True:
            q = dict(filters, limit="200")
            if cursor:
                q["cursor"] = cursor
            req = urllib.request.Request(self.url + "/api/v1/events?" + urllib.parse.urlencode(q),
                                         headers={"Authorization": "Bearer " + READ})
            with urllib.request.urlopen(req, timeout=10) as r:
                doc = json.load(r)
            out.extend(doc["events"])
            cursor = doc.get("next_cursor")
            if not cursor:
                return out

    def snapshot(self):
        req = urllib.request.Request(self.url + "/api/v1/system/metrics",
                                     headers={"Authorization": "Bearer " + READ})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def wait_for(self, n, timeout=60):
        """Wait until at least n events are stored; return them."""
        end = time.monotonic() + timeout
        while True:
            evs = self.events()
            if len(evs) >= n or time.monotonic() > end:
                return evs
            time.sleep(0.1)


def count_by_message(events):
    n = {}
    for e in events:
        n[e["message"]] = n.get(e["message"], 0) + 1
    return n
