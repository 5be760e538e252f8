"""Report activity events from a Python application to vitals.

One module, standard library only, Python 3.9 or newer::

    import vitals

    vitals.log_activity("user_registered", "New user registered",
                        user_email=user.email)

``log_activity`` checks the event, gives it an idempotency key and the time
it happened, puts it in a bounded in-memory queue and returns: it never
touches the network, so it takes microseconds whether vitals is up, down,
slow or hung, from a thread, from an ``async def`` handler or from a forked
worker. One background thread sends the queue in batches
(``POST /api/v1/events``) and retries a failed batch with backoff under the
same idempotency keys, so a batch that vitals stored but could not
acknowledge is stored once. It honours ``Retry-After``; it gives up, with one
log line, on the answers a retry cannot fix (400, 401, 403, 404, 413, 415).
When the queue is full the oldest event is dropped and counted, and a
warning says how many. At exit the queue is flushed for at most
``exit_timeout`` seconds.

The module-level functions use one client configured from the environment
(``VITALS_URL``, ``VITALS_INGEST_TOKEN``); ``configure()`` replaces it, and
``Client`` makes others.

``ASGIMiddleware`` and ``WSGIMiddleware`` time every request by its route
template (``/tracks/{id}``, never the raw path) into a per-route histogram
that a background thread posts to ``POST /api/v1/timings`` every
``VITALS_TIMINGS_INTERVAL`` seconds (30): the application's own latency on
the dashboard's API latency card. Recording a request is a lock and a few
dictionary updates; nothing waits on vitals.
"""

import atexit
import http.client
import json
import logging
import os
import random
import re
import threading
import time
import urllib.parse
import weakref
from collections import deque
from email.utils import parsedate_to_datetime

__all__ = ["Client", "configure", "log_activity", "flush", "close", "stats", "default_client",
           "Timings", "ASGIMiddleware", "WSGIMiddleware", "default_timings", "latency_bin"]

log = logging.getLogger("vitals")

# The server's rules (docs/events.md); checked at once so that a bad event
# fails in the caller's log line rather than later, in a batch.
_TYPE = re.compile(r"[a-z][a-z0-9_.]{0,49}")
_EMAIL = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+")
_MAX_MESSAGE = 2000
_MAX_EMAIL = 255
_MAX_DETAILS = 16 << 10
_MAX_KEY = 64
# The server takes at most 500 events and 1 MiB per request.
_MAX_BATCH = 500
_MAX_BATCH_BYTES = (1 << 20) - (1 << 10)
_MAX_ANSWER = 4 << 20

# Answers a retry cannot fix (DESIGN.md, "The application side"): the event
# or the configuration is wrong. Everything else is retried.
GIVE_UP = frozenset((400, 401, 403, 404, 413, 415))


# A queued event is a tuple (seq, queued_at, body, type) of atoms only,
# which the garbage collector stops tracking: a full queue of 10,000 costs
# no collection pauses in the application's threads.
_SEQ, _QUEUED, _BODY, _TYPE_OF = 0, 1, 2, 3


class Client:
    """A queue of events and the thread that sends it. Safe for concurrent
    use; after ``os.fork`` the child starts with an empty queue and a thread
    of its own (the parent still sends what it had queued)."""

    def __init__(self, url=None, token=None, *, max_queue=10000, batch_size=100,
                 flush_interval=0.5, request_timeout=5.0, min_backoff=0.2,
                 max_backoff=30.0, exit_timeout=5.0):
        self._endpoint = _Endpoint(url, token, "/api/v1/events")
        self.enabled = self._endpoint.enabled
        self.max_queue = max(1, int(max_queue))
        self.batch_size = max(1, min(int(batch_size), _MAX_BATCH))
        self.flush_interval = float(flush_interval)
        self.request_timeout = float(request_timeout)
        self.min_backoff = float(min_backoff)
        self.max_backoff = max(float(max_backoff), self.min_backoff)
        self.exit_timeout = float(exit_timeout)
        self._reset()
        _clients.add(self)

    def _reset(self):
        # Everything a fork must not inherit: the lock may have been held by
        # a thread that does not exist in the child, and the queued events
        # are the parent's to send.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue = deque()
        self._inflight = []
        self._next_seq = 0
        self._flushing = 0
        self._closing = False
        self._thread = None
        self._waiting = False
        self._pid = os.getpid()
        self._stats = {"logged": 0, "sent": 0, "retries": 0, "dropped_full": 0,
                       "dropped_refused": 0, "dropped_unsent": 0}
        self._reported_full = 0
        self._warned_disabled = False

    # -- the application's side: never waits -------------------------------

    def log_activity(self, type, message, user_email=None, details=None,
                     idempotency_key=None, occurred_at=None):
        """Queue one event and return at once: True when queued, False when
        it is invalid, vitals is not configured or the client is closed (a
        warning says which). Never raises for those, never waits."""
        try:
            body = self._encode(type, message, user_email, details, idempotency_key, occurred_at)
        except ValueError as e:
            log.warning("vitals: event %r not sent: %s", type, e)
            return False
        if not self.enabled:
            if not self._warned_disabled:
                self._warned_disabled = True
                log.warning("vitals: VITALS_URL or VITALS_INGEST_TOKEN is not set; events are not sent")
            return False
        with self._lock:
            if self._closing:
                return False
            if self._thread is None:
                self._start_locked()
            if len(self._queue) + len(self._inflight) >= self.max_queue:
                self._stats["dropped_full"] += 1
                if not self._queue:
                    # The bound is all in flight: the newest is the one to go.
                    return False
                self._queue.popleft()
            self._queue.append((self._next_seq, time.monotonic(), body, type))
            self._next_seq += 1
            self._stats["logged"] += 1
            n = len(self._queue)
            # Wake the sender only when it waits and has something new to
            # decide: the first event starts the flush interval, a full
            # batch goes at once.
            if self._waiting and (n == 1 or n >= self.batch_size):
                self._cond.notify()
        return True

    def _encode(self, type, message, user_email, details, key, occurred_at):
        if not isinstance(type, str) or not _TYPE.fullmatch(type):
            raise ValueError("type must be lower-case letters, digits, '_' and '.', starting with a letter, at most 50 characters")
        if not isinstance(message, str) or not message:
            raise ValueError("message is required")
        if len(message) > _MAX_MESSAGE:
            raise ValueError("message is longer than %d characters" % _MAX_MESSAGE)
        if "\x00" in message:
            raise ValueError("message must not contain NUL characters")
        event = {"type": type, "message": message}
        if user_email:
            if len(user_email) > _MAX_EMAIL or not _EMAIL.fullmatch(user_email):
                raise ValueError("user_email is not an email address (like name@example.com)")
            event["user_email"] = user_email
        if details is not None:
            if not isinstance(details, dict):
                raise ValueError("details must be a dict")
            event["details"] = details
        if key is None:
            key = os.urandom(16).hex()
        elif not isinstance(key, str) or not key or len(key) > _MAX_KEY:
            raise ValueError("idempotency_key must be 1 to %d characters" % _MAX_KEY)
        event["idempotency_key"] = key
        # The time it happened, so a late delivery keeps the real time.
        event["occurred_at"] = _rfc3339(occurred_at if occurred_at is not None else time.time())
        # Encoded now, once, so the caller may change details afterwards.
        try:
            body = json.dumps(event, default=str, ensure_ascii=False, allow_nan=False,
                              separators=(",", ":")).encode("utf-8")
        except (ValueError, TypeError) as e:
            raise ValueError("details cannot be encoded as JSON: %s" % e)
        # Only a big event can have details over the limit: measure them
        # alone then, not on every call.
        if details is not None and len(body) > _MAX_DETAILS:
            d = json.dumps(details, default=str, ensure_ascii=False, separators=(",", ":"))
            if len(d.encode("utf-8")) > _MAX_DETAILS:
                raise ValueError("details is larger than %d bytes" % _MAX_DETAILS)
        return body

    # -- flush, close, stats ---------------------------------------------------

    def flush(self, timeout=None):
        """Send what is queued without waiting to fill a batch; return True
        once every event queued before the call is delivered or dropped,
        False when ``timeout`` seconds pass first (the events stay queued).
        Do not call it from an ``async def`` handler: it waits."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            if os.getpid() != self._pid:
                self._after_fork()
            target = self._next_seq
            self._flushing += 1
            try:
                if self._thread is None and (self._queue or self._inflight) and not self._closing:
                    self._start_locked()
                self._cond.notify_all()
                while self._lowest_unresolved_locked() < target:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    if self._thread is None or not self._thread.is_alive():
                        return False
                    self._cond.wait(left)
                return True
            finally:
                self._flushing -= 1

    def close(self, timeout=None):
        """Stop taking events and flush for at most ``timeout`` seconds
        (``exit_timeout`` by default); what is left is dropped with one log
        line. Returns True when nothing was left."""
        timeout = self.exit_timeout if timeout is None else timeout
        delivered = self.flush(timeout)
        with self._lock:
            self._closing = True
            left = len(self._queue) + len(self._inflight)
            self._stats["dropped_unsent"] += left
            self._queue.clear()
            self._cond.notify_all()
        if left:
            log.warning("vitals: %d event(s) not delivered within %.1f s at exit; dropped", left, timeout)
        return delivered and not left

    def stats(self):
        """Counts since start: logged, sent, retries, dropped_full,
        dropped_refused, dropped_unsent, pending."""
        with self._lock:
            s = dict(self._stats)
            s["pending"] = len(self._queue) + len(self._inflight)
        return s

    # -- the sending thread ------------------------------------------------------

    def _start_locked(self):
        t = threading.Thread(target=self._run, name="vitals-sender", daemon=True)
        self._thread = t
        t.start()

    def _after_fork(self):
        self._reset()

    def _lowest_unresolved_locked(self):
        if self._inflight:
            return self._inflight[0][_SEQ]
        if self._queue:
            return self._queue[0][_SEQ]
        return self._next_seq

    def _run(self):
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._deliver(batch)
            with self._lock:
                self._inflight = []
                self._cond.notify_all()
            self._report_drops()

    def _next_batch(self):
        with self._lock:
            while True:
                n = len(self._queue)
                if n:
                    waited = time.monotonic() - self._queue[0][_QUEUED]
                    if n >= self.batch_size or self._flushing or self._closing or waited >= self.flush_interval:
                        return self._take_locked()
                    wait = self.flush_interval - waited
                elif self._closing:
                    return None
                else:
                    wait = None
                self._waiting = True
                self._cond.wait(wait)
                self._waiting = False

    def _take_locked(self):
        batch, size = [], 2
        while self._queue and len(batch) < self.batch_size:
            size += len(self._queue[0][_BODY]) + 1
            if batch and size > _MAX_BATCH_BYTES:
                break
            batch.append(self._queue.popleft())
        self._inflight = batch
        return batch

    def _report_drops(self):
        with self._lock:
            dropped = self._stats["dropped_full"]
            new = dropped - self._reported_full
            self._reported_full = dropped
        if new:
            log.warning("vitals: queue full (%d events): dropped the %d oldest (%d in all)", self.max_queue, new, dropped)

    def _set_inflight(self, batch):
        with self._lock:
            self._inflight = batch
            self._cond.notify_all()

    def _deliver(self, batch):
        attempt = 0
        while batch:
            status, answer, wait, err = self._post(batch)
            if status in (200, 201):
                if _acknowledges(answer, len(batch)):
                    with self._lock:
                        self._stats["sent"] += len(batch)
                    return
                err = "the answer is not an acknowledgement of %d event(s); is VITALS_URL vitals?" % len(batch)
            elif status == 413 and len(batch) > 1:
                half = len(batch) // 2
                self._deliver(batch[:half])
                self._set_inflight(batch[half:])
                batch = batch[half:]
                continue
            elif status == 400 and len(batch) > 1:
                named = _named(answer, len(batch))
                if named and len(named) < len(batch):
                    # A batch is stored all or none: give up on the events
                    # the server named and send the others again.
                    self._give_up([batch[i] for i in sorted(named)], status, answer)
                    batch = [it for i, it in enumerate(batch) if i not in named]
                    self._set_inflight(batch)
                    continue
            if status in GIVE_UP:
                self._give_up(batch, status, answer)
                return
            with self._lock:
                if self._closing:
                    return
                self._stats["retries"] += 1
            attempt += 1
            d = _backoff(self.min_backoff, self.max_backoff, attempt)
            if wait is not None and wait > d:
                d = min(wait, self.max_backoff)
            log.debug("vitals: sending %d event(s) failed (%s); retrying in %d ms", len(batch), err, d * 1000)
            self._report_drops()
            with self._lock:
                end = time.monotonic() + d
                while not self._closing:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if self._closing:
                    return

    def _give_up(self, items, status, answer):
        with self._lock:
            self._stats["dropped_refused"] += len(items)
        log.warning("vitals: refused %d event(s) (%s) with %d %s; not retried",
                    len(items), ", ".join(sorted({it[_TYPE_OF] for it in items})), status, _detail(answer))

    def _post(self, batch):
        """One request; returns (status or None, answer bytes, Retry-After
        seconds or None, error text)."""
        body = b"[" + b",".join(it[_BODY] for it in batch) + b"]"
        try:
            status, reason, answer, retry_after = self._endpoint.post(body, self.request_timeout)
            return status, answer, _retry_after(retry_after), "%d %s" % (status, reason)
        except (OSError, http.client.HTTPException) as e:
            # The server may have stored the batch; the retry carries the
            # same idempotency keys, so it is not stored twice.
            return None, b"", None, "%s: %s" % (e.__class__.__name__, e)


class _Endpoint:
    """One vitals route with its token: the events and the timings read
    the same settings and send the same headers."""

    def __init__(self, url, token, route):
        url = url if url is not None else os.environ.get("VITALS_URL", "")
        token = token if token is not None else os.environ.get("VITALS_INGEST_TOKEN", "")
        # A token list (as the server's VITALS_INGEST_TOKEN may be) sends the first.
        self._token = token.split(",")[0].strip()
        self.enabled = bool(url and self._token)
        if self.enabled:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("vitals: the URL must be http:// or https:// with a host, got %r" % url)
            self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
            self._path = parts.path.rstrip("/") + route

    def post(self, body, timeout):
        """POST a JSON body; returns (status, reason, answer bytes,
        Retry-After header or None). Raises OSError or HTTPException when
        no answer came."""
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=timeout)
        try:
            conn.request("POST", self._path, body=body, headers={
                "Authorization": "Bearer " + self._token,
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": "vitals-python-client",
            })
            resp = conn.getresponse()
            return resp.status, resp.reason, resp.read(_MAX_ANSWER), resp.getheader("Retry-After")
        finally:
            conn.close()


def _detail(answer):
    """The problem document's detail, or "" when the answer is not one."""
    try:
        detail = json.loads(answer).get("detail", "")
    except (ValueError, AttributeError):
        return ""
    return detail if isinstance(detail, str) else ""


class _Lazy:
    """A value made on first use, once, whatever the threads: the module's
    default client and timings."""

    def __init__(self, make):
        self._make = make
        self._lock = threading.Lock()
        self.value = None

    def get(self):
        v = self.value
        if v is None:
            with self._lock:
                if self.value is None:
                    self.value = self._make()
                v = self.value
        return v

    def replace(self, v):
        with self._lock:
            old, self.value = self.value, v
        return old


def _rfc3339(t):
    if not isinstance(t, (int, float)):
        # A datetime: an aware one keeps its instant, a naive one is taken as UTC.
        if t.tzinfo is None:
            import datetime
            t = t.replace(tzinfo=datetime.timezone.utc)
        t = t.timestamp()
    s = time.gmtime(t)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (s.tm_year, s.tm_mon, s.tm_mday, s.tm_hour, s.tm_min, s.tm_sec, int(t * 1000) % 1000)


def _acknowledges(answer, n):
    # vitals answers {"events": [...]} with each stored event; counting
    # their created_at fields tells its acknowledgement from any other
    # 2xx page without parsing the whole answer while holding the GIL.
    if answer.startswith(b'{"events":[') and answer.count(b'"created_at":') == n:
        return True
    # A details value may itself hold "created_at": parse to be sure.
    try:
        doc = json.loads(answer)
    except ValueError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("events"), list) and len(doc["events"]) == n


def _named(answer, n):
    """The positions the server's problem names, or None when it names none
    or one outside the batch."""
    try:
        errors = json.loads(answer).get("errors") or []
    except (ValueError, AttributeError):
        return None
    named = set()
    for e in errors:
        i = e.get("index") if isinstance(e, dict) else None
        if not isinstance(i, int) or not 0 <= i < n:
            return None
        named.add(i)
    return named or None


def _retry_after(h):
    if not h:
        return None
    h = h.strip()
    if h.isdigit():
        return float(h)
    try:
        return max(0.0, parsedate_to_datetime(h).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def _backoff(lo, hi, attempt):
    # Doubling from lo, capped at hi, drawn from the upper half so that
    # clients that failed together do not retry together.
    d = min(lo * (2 ** (attempt - 1)), hi)
    return d / 2 + random.uniform(0, d / 2)


# -- every client, for fork and exit -------------------------------------------

_clients = weakref.WeakSet()


def _after_fork_in_child():
    for c in list(_clients):
        c._after_fork()
    for t in list(_timings):
        t._reset()
    # A parent thread may have held a default's lock at the fork.
    for lazy in (_default, _default_timings):
        lazy._lock = threading.Lock()


def _at_exit():
    for c in list(_clients):
        if c.enabled and (c._queue or c._inflight):
            c.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)

# -- the default client, from the environment -------------------------------

_default = _Lazy(lambda: Client())


def default_client():
    """The client the module-level functions use, made from the
    environment on first use."""
    return _default.get()


def configure(url=None, token=None, **options):
    """Replace the default client (see ``Client`` for the options); the
    previous one is flushed and closed."""
    c = Client(url, token, **options)
    old = _default.replace(c)
    if old is not None:
        old.close()
    return c


def log_activity(type, message, user_email=None, details=None, idempotency_key=None, occurred_at=None):
    """Queue one event on the default client; see ``Client.log_activity``."""
    return default_client().log_activity(type, message, user_email, details, idempotency_key, occurred_at)


def flush(timeout=None):
    """Flush the default client; see ``Client.flush``."""
    return default_client().flush(timeout)


def close(timeout=None):
    """Close the default client; see ``Client.close``."""
    return default_client().close(timeout)


def stats():
    """The default client's counts; see ``Client.stats``."""
    return default_client().stats()


# -- request timings ---------------------------------------------------------

# The histogram layout every client shares with the server (OpenAPI,
# POST /api/v1/timings): whole microseconds below 8 are their own bin;
# above, 8 bins per power of two.
LATENCY_BINS = 328
_MAX_ROUTES = 200  # kept per interval; the rest are counted as one route
_OTHER = "/{other}"
_UNMATCHED = "/{unmatched}"


def latency_bin(seconds):
    """The histogram bin of a request that took ``seconds``."""
    us = int(seconds * 1e6)
    if us < 8:
        return max(us, 0)
    e = us.bit_length() - 1
    if e > 40:
        return LATENCY_BINS - 1
    return (e - 2) * 8 + ((us >> (e - 3)) & 7)


_timings = weakref.WeakSet()


class Timings:
    """Per-route request histograms, posted every ``interval`` seconds by a
    background thread, also when no request was served (so that vitals can
    tell an idle application from a silent one). A post that fails is
    merged into the next; one that vitals refuses for good (401, 403, 404,
    ...) stops the posting with one log line. Safe from threads and after
    ``os.fork`` (the child starts empty, with a thread of its own)."""

    def __init__(self, url=None, token=None, *, interval=None, request_timeout=5.0):
        if interval is None:
            interval = float(os.environ.get("VITALS_TIMINGS_INTERVAL", "30") or 30)
        self.interval = max(0.05, float(interval))
        self.request_timeout = float(request_timeout)
        self._endpoint = _Endpoint(url, token, "/api/v1/timings")
        self.enabled = self._endpoint.enabled
        self._reset()
        _timings.add(self)

    def _reset(self):
        self._lock = threading.Lock()
        self._routes = {}
        self._thread = None
        self._stopped = False
        self._pid = os.getpid()
        self.posts = 0

    def record(self, method, route, seconds, status):
        """Count one request of ``route`` (its template) that took
        ``seconds`` and was answered with ``status``."""
        if not self.enabled or self._stopped:
            return
        b = latency_bin(seconds)
        key = (method, route)
        with self._lock:
            r = self._routes.get(key)
            if r is None:
                if len(self._routes) >= _MAX_ROUTES:
                    key = (method, _OTHER)
                    r = self._routes.get(key)
                if r is None:
                    r = self._routes[key] = [0, 0, {}]
            r[0] += 1
            if status >= 500:
                r[1] += 1
            r[2][b] = r[2].get(b, 0) + 1
            if self._thread is None or self._pid != os.getpid():
                self._start_locked()

    def _start_locked(self):
        self._pid = os.getpid()
        t = threading.Thread(target=self._run, name="vitals-timings", daemon=True)
        self._thread = t
        t.start()

    def _take(self):
        with self._lock:
            routes, self._routes = self._routes, {}
        return routes

    def _merge_back(self, routes):
        with self._lock:
            for key, (n, errs, bins) in routes.items():
                r = self._routes.get(key)
                if r is None:
                    if len(self._routes) >= _MAX_ROUTES:
                        continue  # a post that keeps failing must not grow without bound
                    r = self._routes[key] = [0, 0, {}]
                r[0] += n
                r[1] += errs
                for b, c in bins.items():
                    r[2][b] = r[2].get(b, 0) + c

    def _run(self):
        while not self._stopped:
            time.sleep(self.interval)
            self.send()

    def send(self):
        """Post what was recorded since the last post; returns the status,
        or None when the request failed."""
        routes = self._take()
        body = json.dumps({"routes": [
            {"method": m, "route": r, "count": n, "errors": errs, "bins": sorted([b, c] for b, c in bins.items())}
            for (m, r), (n, errs, bins) in routes.items()]}, separators=(",", ":")).encode()
        try:
            status, _, answer, _ = self._endpoint.post(body, self.request_timeout)
        except (OSError, http.client.HTTPException):
            self._merge_back(routes)
            return None
        if status in GIVE_UP:
            self._stopped = True
            log.warning("vitals: request timings refused with %d %s; no more are sent", status, _detail(answer))
        elif status >= 300:
            self._merge_back(routes)
        else:
            self.posts += 1
        return status


_default_timings = _Lazy(lambda: Timings())


def default_timings():
    """The Timings the middleware uses unless given one, made from the
    environment on first use."""
    return _default_timings.get()


class ASGIMiddleware:
    """Times every HTTP request of an ASGI app by its route template. With
    FastAPI or Starlette: ``app.add_middleware(vitals.ASGIMiddleware)``;
    the router names the route (``scope["route"].path``), and a request no
    route matched counts as ``/{unmatched}``."""

    def __init__(self, app, timings=None):
        self.app = app
        self.timings = timings

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        status = [500]

        async def send_status(message):
            if message.get("type") == "http.response.start":
                status[0] = message.get("status", 500)
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or _UNMATCHED
            (self.timings or default_timings()).record(scope.get("method", "GET"), route, time.perf_counter() - start, status[0])


class WSGIMiddleware:
    """Times every request of a WSGI app, to the end of its body.
    ``route(environ)`` names the route template; by default the app names it
    in ``environ["vitals.route"]``, else the request counts as
    ``/{unmatched}`` (a raw path would make one route per URL)."""

    def __init__(self, app, timings=None, route=None):
        self.app = app
        self.timings = timings
        self.route = route

    def __call__(self, environ, start_response):
        start = time.perf_counter()
        status = [500]

        def start_status(s, headers, exc_info=None):
            try:
                status[0] = int(s.split(" ", 1)[0])
            except ValueError:
                pass
            return start_response(s, headers, exc_info) if exc_info else start_response(s, headers)

        body = self.app(environ, start_status)
        try:
            for chunk in body:
                yield chunk
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            route = (self.route(environ) if self.route else environ.get("vitals.route")) or _UNMATCHED
            (self.timings or default_timings()).record(environ.get("REQUEST_METHOD", "GET"), route, time.perf_counter() - start, status[0])
