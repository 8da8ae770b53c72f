"""deploy/nginx.conf in front of a real Herald, checked with a real nginx.

The server block of deploy/nginx.conf is used as is, except that the upstream
points at the test Herald and it listens on a free loopback port.  Needs
Debian's nginx-light (/usr/sbin/nginx; scripts/install-deps.sh installs it):
without it the test fails rather than skips."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import (HeraldServer, HttpConnection, SSEClient, free_port,  # noqa: E402
                            publish_json, publish_raw, request)

NGINX = os.environ.get("NGINX_BIN", "/usr/sbin/nginx")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY_CONF = os.path.join(REPO, "deploy", "nginx.conf")
RETRY_MS = 2500
UNBUFFERED = 1.0       # an event must cross the proxy within this many seconds


def proxied_config(deploy_text, herald_port, nginx_port, tmp):
    """The main nginx.conf: deploy/nginx.conf inside an http block, with every
    path nginx writes to under tmp."""
    text, n = re.subn(r"server\s+herald:8080\s*;", "server 127.0.0.1:%d;" % herald_port, deploy_text)
    if n != 1:
        raise AssertionError("%s: expected exactly one `server herald:8080;` line, found %d" % (DEPLOY_CONF, n))
    text, n = re.subn(r"listen\s+80\s*;", "listen 127.0.0.1:%d;" % nginx_port, text)
    if n != 1:
        raise AssertionError("%s: expected exactly one `listen 80;` line, found %d" % (DEPLOY_CONF, n))
    temp_paths = "\n".join("    %s_temp_path %s;" % (kind, os.path.join(tmp, kind))
                           for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return """daemon off;
master_process off;
worker_processes 1;
pid %(tmp)s/nginx.pid;
error_log stderr info;
events {
    worker_connections 256;
}
http {
    access_log off;
%(temp_paths)s
%(deploy)s
}
""" % {"tmp": tmp, "temp_paths": temp_paths, "deploy": text}


class Nginx:
    def __init__(self, herald_port):
        self.herald_port = herald_port
        self.tmp = tempfile.mkdtemp(prefix="herald-nginx-")
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.tmp, "stderr.log")

    def start(self, attempts=3):
        if not (os.path.isfile(NGINX) and os.access(NGINX, os.X_OK)):
            raise AssertionError("nginx not found at %s: this test needs a real nginx; install Debian's "
                                 "nginx-light (bash scripts/install-deps.sh does) or set NGINX_BIN" % NGINX)
        with open(DEPLOY_CONF) as f:
            deploy = f.read()
        for _ in range(attempts):
            self.port = free_port()
            conf = os.path.join(self.tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(proxied_config(deploy, self.herald_port, self.port, self.tmp))
            log = open(self.log_path, "wb")
            self.proc = subprocess.Popen([NGINX, "-p", self.tmp, "-c", conf, "-e", "stderr"],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            log.close()
            if self._wait_ready(10):
                return self
            text = self.log()
            self.stop()
            if "in use" not in text:
                break
        raise AssertionError("nginx did not start with deploy/nginx.conf; config:\n%s\nnginx stderr:\n%s"
                             % (open(os.path.join(self.tmp, "nginx.conf")).read(), self.log()[-3000:]))

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


class NginxProxy(unittest.TestCase):

    def setUp(self):
        self.herald = HeraldServer(["--heartbeat-interval", "300ms", "--retry", "%dms" % RETRY_MS])
        self.nginx = None
        self.clients = []
        self.herald.start()
        self.nginx = Nginx(self.herald.port)
        try:
            self.nginx.start()
        except BaseException:
            self.herald.cleanup()
            self.nginx.cleanup()
            raise
        self.port = self.nginx.port
        self.n = 0

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.nginx.cleanup()
        self.herald.cleanup()

    def topic(self):
        self.n += 1
        return "proxy-%s-%d" % (self._testMethodName[5:], self.n)

    def sse(self, topics, **kw):
        c = SSEClient(self.port, [topics] if isinstance(topics, str) else topics, **kw)
        self.clients.append(c)
        self.assertEqual(c.status, 200, "subscribe through nginx: %r\nnginx log:\n%s"
                         % (c.response, self.nginx.log()[-2000:]))
        return c

    def publish(self, topic, data, conn=None):
        r = publish_json(self.port, {"topic": topic, "data": data}, conn=conn)
        self.assertEqual(r.status, 200, "publish through nginx: %r" % r)
        doc = r.json()
        self.assertIsInstance(doc.get("id"), int, r)
        return doc["id"]

    def test_stream_headers_pass(self):
        c = self.sse(self.topic())
        ctype = c.header("Content-Type") or ""
        self.assertTrue(ctype.startswith("text/event-stream"), "Content-Type through nginx: %r" % ctype)
        self.assertEqual(c.header("Cache-Control"), "no-cache", c.response)
        self.assertIsNone(c.header("Content-Length"), c.response)

    def test_retry_line_arrives_before_any_event(self):
        t = self.topic()
        start = time.monotonic()
        c = self.sse(t)      # returns once the preamble's blank line has crossed the proxy
        self.assertLess(time.monotonic() - start, UNBUFFERED, "stream preamble held back by the proxy")
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
            self.assertLess(took, UNBUFFERED, "event %d took %.2fs to cross nginx: buffered?" % (i, took))

    def test_heartbeat_passes(self):
        c = self.sse(self.topic())
        deadline = time.monotonic() + 2.0
        beats = []
        while not beats and time.monotonic() < deadline:
            c.next_comment(max(0.01, deadline - time.monotonic()))
            beats = [x for x in c.all_comments if x.text == "heartbeat"]
        self.assertTrue(beats, "no heartbeat comment through nginx within 2s at a 300ms interval; comments %r"
                        % c.all_comments)

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

    def test_publish_through_proxy(self):
        t = self.topic()
        c = self.sse(t)
        r = publish_json(self.port, {"topic": t, "event": "price", "data": {"sku": 42}})
        self.assertEqual(r.status, 200, r)
        self.assertTrue((r.header("Content-Type") or "").startswith("application/json"), r)
        one = r.json()["id"]
        r = publish_json(self.port, [{"topic": t, "data": "a"}, {"topic": t, "data": "b"}])
        self.assertEqual(r.status, 200, r)
        many = r.json()["ids"]
        self.assertEqual(many, [many[0], many[0] + 1])
        r = publish_raw(self.port, t, "plain body")
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
        self.fail("Herald still has the stream 5s after the client left nginx")


if __name__ == "__main__":
    unittest.main()
