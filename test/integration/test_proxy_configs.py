"""The Caddy and HAProxy configurations in docs/deployment.md, run with the real proxies.

The ```caddy and ```haproxy blocks of docs/deployment.md are used as they are
except for their addresses (rewrites in caddyfile() and haproxy_cfg()):
  * every `herald:8080` becomes the test Herald's 127.0.0.1:PORT;
  * Caddy: `example.com {` becomes `http://127.0.0.1:PORT {`, and a global
    options block `{ admin off }` goes before it;
  * HAProxy: `bind :80` becomes `bind 127.0.0.1:PORT`; a second file adds a
    global section with a stats socket in the temp dir, to see the health check.
Each proxy runs in the foreground with HOME/XDG dirs or sockets in a temp dir
and must pass proxy_fixture.ProxiedStreamChecks (also run against nginx).
Needs Debian's caddy and haproxy (scripts/install-deps.sh --test installs
them): without them the test fails rather than skips."""

import os
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import HeraldTimeout, publish_raw, request  # noqa: E402
from proxy_fixture import AUTH, REPO, ProxiedStreamChecks, ProxyProcess, fenced_block, substitute  # noqa: E402

DOC = os.path.join(REPO, "docs", "deployment.md")
UPSTREAM = r"\bherald:8080\b"


def caddyfile(herald_port, caddy_port):
    where = "docs/deployment.md (```caddy block)"
    text = fenced_block(DOC, "caddy")
    text = substitute(text, UPSTREAM, "127.0.0.1:%d" % herald_port, where, count=None)
    # Test-only: `bind` keeps Caddy on loopback (it listens on every interface otherwise).
    text = substitute(text, r"(?m)^example\.com \{", "http://127.0.0.1:%d {\n    bind 127.0.0.1" % caddy_port, where)
    return "{\n\tadmin off\n}\n\n" + text


def haproxy_cfg(herald_port, haproxy_port):
    where = "docs/deployment.md (```haproxy block)"
    text = fenced_block(DOC, "haproxy")
    text = substitute(text, UPSTREAM, "127.0.0.1:%d" % herald_port, where, count=None)
    return substitute(text, r"(?m)\bbind :80$", "bind 127.0.0.1:%d" % haproxy_port, where)


class Caddy(ProxyProcess):
    name = "caddy"
    binary_env = "CADDY_BIN"
    binary = os.environ.get(binary_env, "/usr/bin/caddy")
    install_hint = "Debian's caddy"

    def files(self, port):
        return {"Caddyfile": caddyfile(self.herald_port, port)}

    def command(self):
        return [self.binary, "run", "--config", self.path("Caddyfile"), "--adapter", "caddyfile"]

    def environment(self):
        # Caddy keeps its storage and autosaved config under these.
        return {"HOME": self.tmp, "XDG_DATA_HOME": self.path("data"), "XDG_CONFIG_HOME": self.path("config")}


class HAProxy(ProxyProcess):
    name = "haproxy"
    binary_env = "HAPROXY_BIN"
    binary = os.environ.get(binary_env, "/usr/sbin/haproxy")
    install_hint = "Debian's haproxy"

    def files(self, port):
        return {"global.cfg": "global\n    stats socket %s mode 600\n" % self.path("stats.sock"),
                "haproxy.cfg": haproxy_cfg(self.herald_port, port)}

    def command(self):
        # -db: foreground, no daemon
        return [self.binary, "-db", "-f", self.path("global.cfg"), "-f", self.path("haproxy.cfg")]

    def server_stats(self, backend="herald", server="herald1"):
        """The `show stat` row of one server, as a dict."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(self.path("stats.sock"))
            s.sendall(b"show stat\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        lines = data.decode("utf-8", "replace").splitlines()
        names = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(names, line.split(",")))
            if row.get("pxname") == backend and row.get("svname") == server:
                return row
        raise AssertionError("no %s/%s in haproxy's stats:\n%s" % (backend, server, data.decode()))

    def wait_server(self, predicate, timeout):
        """Poll server_stats() until predicate(row); return the last row."""
        deadline = time.monotonic() + timeout
        row = self.server_stats()
        while not predicate(row) and time.monotonic() < deadline:
            time.sleep(0.1)
            row = self.server_stats()
        return row


def summary(row):
    return {k: row.get(k) for k in ("status", "check_status", "check_code", "check_desc", "last_chk")}


class CaddyConfig(ProxiedStreamChecks, unittest.TestCase):
    PROXY = Caddy


class HAProxyConfig(ProxiedStreamChecks, unittest.TestCase):
    PROXY = HAProxy

    CHECK_WAIT = 10.0     # the doc keeps HAProxy's default check interval, 2s

    def test_health_check_reports_up(self):
        row = self.proxy.wait_server(lambda r: r.get("check_status") == "L7OK", self.CHECK_WAIT)
        self.assertEqual((row.get("status"), row.get("check_status"), row.get("check_code")), ("UP", "L7OK", "200"),
                         "haproxy's check of Herald: %r\nhaproxy log:\n%s" % (summary(row), self.proxy.log()[-2000:]))

    def test_draining_herald_leaves_pool_while_streams_continue(self):
        """SIGTERM with --drain-delay: /readyz answers 503, HAProxy marks the server DOWN
        and sends new requests nowhere, the open stream keeps going until Herald ends it."""
        herald, proxy = self.start_pair(["--drain-delay", "30s"])
        row = proxy.wait_server(lambda r: r.get("check_status") == "L7OK", self.CHECK_WAIT)
        self.assertEqual(row.get("status"), "UP", summary(row))
        t = self.topic()
        c = self.sse(t, port=proxy.port)
        herald.signal(signal.SIGTERM)
        # fall 3 at inter 2s: about 6s
        row = proxy.wait_server(lambda r: r.get("status") == "DOWN", 15)
        self.assertEqual((row.get("status"), row.get("check_status"), row.get("check_code")), ("DOWN", "L7STS", "503"),
                         "haproxy's check of a draining Herald: %r" % summary(row))
        self.assertEqual(request(proxy.port, "GET", "/healthz").status, 503, "a new request with the server DOWN")
        r = publish_raw(herald.port, t, "while draining", headers=AUTH)
        self.assertEqual(r.status, 200, r)
        eid = r.json()["id"]
        self.assertEqual(c.next_event(2).int_id, eid)
        herald.signal(signal.SIGTERM)    # a second signal cuts the drain delay short
        deadline = time.monotonic() + 5
        try:
            while not (c.terminator_seen or c.eof):
                c._pump(deadline)
        except HeraldTimeout:
            self.fail("the stream through haproxy did not end within 5s of Herald stopping")


if __name__ == "__main__":
    unittest.main()
