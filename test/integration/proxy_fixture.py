"""Shared pieces of the reverse-proxy tests (test_nginx_proxy.py, test_proxy_configs.py).

Standard library only.
  * fenced_block(path, lang)     -- the one ```lang block of a Markdown file
  * substitute(...)              -- an explicit rewrite of a configuration that fails,
                                    naming where the text came from, if it no longer matches
  * ProxyProcess                 -- a real proxy run in the foreground with every file it
                                    writes in a temp dir, on a free loopback port; start()
                                    returns once /healthz answers 200 through it
  * ProxiedStreamChecks          -- what matters for SSE through any proxy, as test methods:
                                    mix into unittest.TestCase and set PROXY
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import (HeraldServer, HttpConnection, SSEClient, free_port,  # noqa: E402
                            publish_json, publish_raw, request)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RETRY_MS = 2500
HEARTBEAT_MS = 300
UNBUFFERED = 1.0       # an event must cross the proxy within this many seconds
PUBLISH_KEY = "proxy-test-publish-key-0123456789"
AUTH = [("Authorization", "Bearer " + PUBLISH_KEY)]


# --------------------------------------------------------------------------
# Configuration text
# --------------------------------------------------------------------------

def fenced_block(path, lang):
    """The content of the single ```lang fenced block in the Markdown file at path."""
    rel = os.path.relpath(path, REPO)
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks = []
    i = 0
    while i < len(lines):
        m = re.match(r"^\s*(```+|~~~+)\s*([\w+-]*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        fence, info, start = m.group(1), m.group(2), i + 1
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            i += 1
        if info == lang:
            blocks.append("".join(t + "\n" for t in lines[start:i]))
        i += 1
    if len(blocks) != 1:
        raise AssertionError("%s: expected one ```%s fenced block, found %d" % (rel, lang, len(blocks)))
    return blocks[0]


def substitute(text, pattern, replacement, source, count=1):
    """text with every match of the regex pattern replaced; there must be exactly `count`
    matches (count=None: at least one), else the failure names source and the pattern."""
    new, n = re.subn(pattern, lambda m: replacement, text)
    if (n < 1) if count is None else (n != count):
        raise AssertionError("%s: expected %s match(es) of /%s/ to rewrite, found %d\n%s"
                             % (source, "one or more" if count is None else count, pattern, n, text))
    return new


# --------------------------------------------------------------------------
# A proxy process
# --------------------------------------------------------------------------

class ProxyProcess:
    """A reverse proxy in front of the Herald at herald_port.

    Subclasses set name, binary, binary_env, install_hint and implement files(port) (file name ->
    content, written into self.tmp) and command() (argv); environment() adds variables."""

    name = "proxy"
    binary = None
    binary_env = None     # the environment variable that overrides binary
    install_hint = ""

    def __init__(self, herald_port):
        self.herald_port = herald_port
        self.tmp = tempfile.mkdtemp(prefix="herald-%s-" % self.name)
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.tmp, "stderr.log")

    def path(self, name):
        return os.path.join(self.tmp, name)

    def files(self, port):
        raise NotImplementedError

    def command(self):
        raise NotImplementedError

    def environment(self):
        return {}

    def start(self, attempts=3):
        if not (self.binary and os.path.isfile(self.binary) and os.access(self.binary, os.X_OK)):
            raise AssertionError("%s not found at %s: this test needs a real %s; install %s "
                                 "(bash scripts/install-deps.sh --test does) or set %s"
                                 % (self.name, self.binary, self.name, self.install_hint, self.binary_env))
        for _ in range(attempts):
            self.port = free_port()
            written = self.files(self.port)
            for name, text in written.items():
                with open(self.path(name), "w") as f:
                    f.write(text)
            env = dict(os.environ)
            env.update(self.environment())
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(self.command(), cwd=self.tmp, env=env,
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            if self._wait_ready(10):
                return self
            text = self.log()
            self.stop()
            if "in use" not in text.lower():
                break
        raise AssertionError("%s did not start (no 200 from /healthz through it); files:\n%s\n%s output:\n%s"
                             % (self.name, "\n".join("--- %s\n%s" % kv for kv in written.items()),
                                self.name, self.log()[-3000:]))

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if request(self.port, "GET", "/healthz", timeout=1).status == 200:
                    return True
            except (OSError, AssertionError, EOFError, ValueError):
                pass
            time.sleep(0.05)
        return False

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------

class ProxiedStreamChecks:
    """Test methods for a unittest.TestCase subclass that sets PROXY (a ProxyProcess
    subclass): each test gets a Herald (heartbeat every 300 ms) and PROXY in front of it."""

    PROXY = None
    HERALD_ARGS = ["--heartbeat-interval", "%dms" % HEARTBEAT_MS, "--retry", "%dms" % RETRY_MS]

    def setUp(self):
        self.clients = []
        self.n = 0
        self.herald, self.proxy = self.start_pair()
        self.port = self.proxy.port

    def tearDown(self):
        for c in self.clients:
            c.close()

    def start_pair(self, extra_args=(), publish_key=True):
        """A Herald and a PROXY in front of it, both stopped when the test ends. Herald
        takes publishes with PUBLISH_KEY (what the proxy relays is not local), or, with
        publish_key=False, has no key (only its own machine may publish)."""
        herald = HeraldServer(self.HERALD_ARGS + list(extra_args),
                              env={"HERALD_PUBLISH_KEY": PUBLISH_KEY} if publish_key else None)
        herald.start()
        self.addCleanup(herald.cleanup)
        proxy = self.PROXY(herald.port)
        self.addCleanup(proxy.cleanup)     # runs before herald.cleanup
        proxy.start()
        return herald, proxy

    def topic(self):
        self.n += 1
        return "proxy-%s-%d" % (self._testMethodName[5:], self.n)

    def sse(self, topics, port=None, **kw):
        c = SSEClient(port or self.port, [topics] if isinstance(topics, str) else topics, **kw)
        self.clients.append(c)
        self.assertEqual(c.status, 200, "subscribe through %s: %r\n%s log:\n%s"
                         % (self.proxy.name, c.response, self.proxy.name, self.proxy.log()[-2000:]))
        return c

    def publish(self, topic, data, conn=None):
        r = publish_json(self.port, {"topic": topic, "data": data}, conn=conn, headers=AUTH)
        self.assertEqual(r.status, 200, "publish through %s: %r" % (self.proxy.name, r))
        doc = r.json()
        self.assertIsInstance(doc.get("id"), int, r)
        return doc["id"]

    def test_stream_headers_pass(self):
        c = self.sse(self.topic())
        ctype = c.header("Content-Type") or ""
        self.assertTrue(ctype.startswith("text/event-stream"), "Content-Type through %s: %r" % (self.proxy.name, ctype))
        self.assertEqual(c.header("Cache-Control"), "no-cache", c.response)
        self.assertIsNone(c.header("Content-Length"), c.response)

    def test_retry_line_arrives_before_any_event(self):
        t = self.topic()
        start = time.monotonic()
        c = self.sse(t)      # returns once the preamble's blank line has crossed the proxy
        self.assertLess(time.monotonic() - start, UNBUFFERED, "stream preamble held back by %s" % self.proxy.name)
        eid = self.publish(t, "first")
        ev = c.next_event(UNBUFFERED + 1)
        self.assertEqual(ev.int_id, eid)
        body = bytes(c.body)
        self.assertTrue(body.startswith(b"retry: %d\n" % RETRY_MS), "stream does not start with retry: %r" % body[:80])
        self.assertLess(body.index(b"retry:"), body.index(b"\nid:"), body[:200])

    def test_events_are_not_buffered(self):
        t = self.topic()
        c = self.sse(t)
        conn = HttpConnection(self.port)
        self.clients.append(conn)
        for i in range(3):
            eid = self.publish(t, "unbuffered %d" % i, conn=conn)
            published = time.monotonic()
            ev = c.next_event(5)
            took = time.monotonic() - published
            self.assertEqual((ev.int_id, ev.data), (eid, "unbuffered %d" % i))
            self.assertLess(took, UNBUFFERED, "event %d took %.2fs to cross %s: buffered?" % (i, took, self.proxy.name))

    def test_heartbeat_passes(self):
        c = self.sse(self.topic())
        deadline = time.monotonic() + 2.0
        beats = []
        while not beats and time.monotonic() < deadline:
            c.next_comment(max(0.01, deadline - time.monotonic()))
            beats = [x for x in c.all_comments if x.text == "heartbeat"]
        self.assertTrue(beats, "no heartbeat comment through %s within 2s at a %dms interval; comments %r"
                        % (self.proxy.name, HEARTBEAT_MS, c.all_comments))

    def test_idle_stream_stays_open(self):
        t = self.topic()
        c = self.sse(t)
        idle = 5 * HEARTBEAT_MS / 1000.0
        self.assertEqual(c.expect_no_event(idle), [])
        self.assertFalse(c.eof, "%s closed a stream idle for %.1fs" % (self.proxy.name, idle))
        beats = [x for x in c.all_comments if x.text == "heartbeat"]
        self.assertGreaterEqual(len(beats), 2, "heartbeats in %.1fs through %s: %r" % (idle, self.proxy.name, beats))
        eid = self.publish(t, "after idle")
        self.assertEqual(c.next_event(UNBUFFERED + 1).int_id, eid)

    def test_last_event_id_replay(self):
        t = self.topic()
        ids = [self.publish(t, "r%d" % i) for i in range(5)]
        c = self.sse(t, last_event_id=ids[1])
        evs = c.read_n(3)
        self.assertEqual([(e.int_id, e.data) for e in evs], [(i, "r%d" % n) for n, i in enumerate(ids) if n >= 2])
        q = self.sse(t, last_event_id_query=ids[3])
        self.assertEqual([e.int_id for e in q.read_n(1)], ids[4:])
        live = self.publish(t, "live")
        self.assertEqual(c.next_event(UNBUFFERED + 1).int_id, live)
        self.assertEqual(q.next_event(UNBUFFERED + 1).int_id, live)
        self.assertEqual(c.expect_no_event(0.2), [], "duplicates after replay")

    def test_relayed_publish_without_key_is_not_local(self):
        """With no key, only Herald's own machine may publish: the proxy marks what it
        relays (X-Forwarded-For or Forwarded), so its clients are not taken for local ones."""
        herald, proxy = self.start_pair(publish_key=False)
        r = publish_raw(proxy.port, self.topic(), "relayed")
        self.assertEqual(r.status, 403, "a publish relayed by %s with no key: %r" % (self.proxy.name, r))
        self.assertEqual(publish_raw(herald.port, self.topic(), "direct").status, 200)

    def test_publish_through_proxy(self):
        t = self.topic()
        c = self.sse(t)
        r = publish_json(self.port, {"topic": t, "event": "price", "data": {"sku": 42}}, headers=AUTH)
        self.assertEqual(r.status, 200, r)
        self.assertTrue((r.header("Content-Type") or "").startswith("application/json"), r)
        one = r.json()["id"]
        r = publish_json(self.port, [{"topic": t, "data": "a"}, {"topic": t, "data": "b"}], headers=AUTH)
        self.assertEqual(r.status, 200, r)
        many = r.json()["ids"]
        self.assertEqual(many, [many[0], many[0] + 1])
        r = publish_raw(self.port, t, "plain body", headers=AUTH)
        self.assertEqual(r.status, 200, r)
        raw = r.json()["id"]
        evs = c.read_n(4)
        self.assertEqual([(e.int_id, e.event, e.data) for e in evs],
                         [(one, "price", '{"sku":42}'), (many[0], None, "a"), (many[1], None, "b"),
                          (raw, None, "plain body")])

    def test_errors_pass_through(self):
        r = request(self.port, "GET", "/events")
        self.assertEqual(r.status, 400, r)
        self.assertIn("error", r.json())
        r = request(self.port, "GET", "/nope")
        self.assertEqual(r.status, 404, r)

    def test_client_disconnect_ends_upstream_stream(self):
        c = self.sse(self.topic())
        stats = request(self.herald.port, "GET", "/stats").json()
        self.assertEqual(stats["streams"], 1)
        c.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if request(self.herald.port, "GET", "/stats").json()["streams"] == 0:
                return
            time.sleep(0.05)
        self.fail("Herald still has the stream 5s after the client left %s" % self.proxy.name)
