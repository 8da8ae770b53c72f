"""HTTPS: the TLS listener beside (or instead of) plain HTTP.

A throwaway self-signed certificate (EC P-256, subjectAltName DNS:localhost,
IP:127.0.0.1) is made with the openssl CLI once per run; clients verify it as
their CA (ssl.create_default_context(cafile=...)), never without verification.
Servers get --tls-port 0 and the test reads the HTTPS port from the startup line.
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import (  # noqa: E402
    HOST, STARTUP_TIMEOUT, BufferedSocket, HeraldServer, HeraldTestCase, HttpConnection, SSEClient,
    connect, free_port, publish, publish_json, raw_exchange, read_response, request,
    run_server_process, unique_topic)

OPENSSL = shutil.which("openssl")
HEADER_TIMEOUT = 1.0   # the --header-timeout of the main server, seconds

_certs = {}


def certs():
    """Paths of cert.pem, key.pem (its key) and other_key.pem (an unrelated key),
    made once per process in a temporary directory."""
    if _certs:
        return _certs
    if OPENSSL is None:
        raise unittest.SkipTest("the openssl command is not installed (scripts/install-deps.sh --test)")
    d = tempfile.mkdtemp(prefix="herald-tls-")
    paths = {"dir": d, "cert": os.path.join(d, "cert.pem"), "key": os.path.join(d, "key.pem"),
             "other_key": os.path.join(d, "other_key.pem")}
    for cmd in (
            [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", paths["key"], "-out", paths["cert"]],
            [OPENSSL, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", paths["other_key"]]):
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError("%r failed: %s" % (cmd, p.stderr.decode(errors="replace")))
    _certs.update(paths)
    return _certs


def tearDownModule():
    if _certs:
        shutil.rmtree(_certs["dir"], ignore_errors=True)


def client_context(**kw):
    """A verifying client context that trusts only the test certificate."""
    ctx = ssl.create_default_context(cafile=certs()["cert"])
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def tls_args(tls_port=0):
    c = certs()
    return ["--tls-cert", c["cert"], "--tls-key", c["key"], "--tls-port", str(tls_port)]


LISTENING_RE = re.compile(r"herald listening on (\S+?) (?:\((https?)\) )?(?:and (\S+?) \((https)\) )?with ")


def listening(log):
    """{"http": port, "https": port} from the startup line (keys present as logged)."""
    m = LISTENING_RE.search(log)
    if not m:
        return None
    out = {}
    first, kind, second, _ = m.groups()
    out[kind or "http"] = int(first.rsplit(":", 1)[1])
    if second:
        out["https"] = int(second.rsplit(":", 1)[1])
    return out


class TlsHeraldServer(HeraldServer):
    """A herald with TLS on: ready once the startup line names the HTTPS port and
    GET /healthz answers over HTTPS (and over plain HTTP when that is on)."""

    def __init__(self, args=(), env=None, plain=True, **kw):
        super().__init__(args, env=env, **kw)
        self.plain = plain
        self.tls_port = None
        self.ports = None

    def wait_ready(self, timeout=STARTUP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while self.ports is None or "https" not in self.ports:
            if self.proc.poll() is not None:
                raise RuntimeError("herald exited with %s during startup; cmd=%r\nstderr:\n%s"
                                   % (self.proc.returncode, self.cmdline, self.log()[-3000:]))
            if time.monotonic() > deadline:
                raise RuntimeError("no startup line naming an https port; cmd=%r\nstderr:\n%s"
                                   % (self.cmdline, self.log()[-3000:]))
            self.ports = listening(self.log())
            time.sleep(0.02)
        self.tls_port = self.ports["https"]
        if self.plain:
            super().wait_ready(max(0.1, deadline - time.monotonic()))
        ctx = client_context()
        last = None
        while time.monotonic() < deadline:
            try:
                r = request(self.tls_port, "GET", "/healthz", timeout=1.0, tls=ctx)
                if r.status == 200:
                    return
                last = r
            except (OSError, AssertionError, ValueError) as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError("herald did not answer GET /healthz over HTTPS (last: %r)\nstderr:\n%s"
                           % (last, self.log()[-3000:]))


class TlsTestCase(HeraldTestCase):
    """One TLS-enabled server per class; self.tls_port, self.ctx (a verifying client context)."""

    EXTRA_ARGS = []
    PLAIN = True

    @classmethod
    def _make_server(cls):
        return TlsHeraldServer(tls_args() + cls.EXTRA_ARGS, env=cls.SERVER_ENV, plain=cls.PLAIN)

    @classmethod
    def setUpClass(cls):
        certs()
        cls.server = cls._make_server()
        cls.server.start()

    def setUp(self):
        self._closers = []
        if not self.server.alive():
            type(self).server = self._make_server()
            type(self).server.start()
        self.ctx = client_context()

    @property
    def tls_port(self):
        return self.server.tls_port

    @property
    def admin_port(self):
        return self.server.port if self.PLAIN else self.tls_port

    def admin_tls(self):
        return None if self.PLAIN else self.ctx

    def tls_sse(self, topics, **kw):
        if isinstance(topics, str):
            topics = [topics]
        return self.track(SSEClient(self.tls_port, topics, tls=kw.pop("tls", self.ctx), **kw))

    def tls_conn(self, ctx=None):
        return self.track(HttpConnection(self.tls_port, tls=ctx or self.ctx))

    def tls_publish(self, topic, data, event=None):
        with HttpConnection(self.tls_port, tls=self.ctx) as c:
            return publish(self.tls_port, topic, data, event, conn=c)

    def stats(self):
        r = request(self.admin_port, "GET", "/stats", tls=self.admin_tls())
        self.assertEqual(r.status, 200, r)
        return r.json()

    def failures(self):
        """herald_tls_handshake_failures_total, checked against /stats."""
        r = request(self.admin_port, "GET", "/metrics", tls=self.admin_tls())
        self.assertEqual(r.status, 200, r)
        m = re.search(r"^herald_tls_handshake_failures_total (\d+)$", r.text, re.M)
        self.assertIsNotNone(m, "no herald_tls_handshake_failures_total in /metrics:\n%s" % r.text)
        return int(m.group(1))

    def wait_failures(self, at_least, timeout=3.0):
        """Polls the counter until it reaches at_least; returns the last value."""
        deadline = time.monotonic() + timeout
        n = self.failures()
        while n < at_least and time.monotonic() < deadline:
            time.sleep(0.05)
            n = self.failures()
        return n


def filler(i, size=1000):
    """Deterministic ~1 KB payload for event i (its index first, so a mix-up shows)."""
    head = "%05d|" % i
    body = "".join(chr(0x21 + (i * 7 + k) % 90) for k in range(size - len(head)))
    return head + body


# --------------------------------------------------------------------------


class Https(TlsTestCase):
    """Both listeners; short header timeout and heartbeat so the timing tests stay quick."""

    EXTRA_ARGS = ["--header-timeout", "%gs" % HEADER_TIMEOUT, "--heartbeat-interval", "300ms",
                  "--history-size", "1000"]

    def test_startup_line_names_both_listeners(self):
        log = self.server.log()
        line = next((l for l in log.splitlines() if "listening on" in l), "")
        self.assertIn("herald listening on %s:%d (http) and %s:%d (https) with "
                      % (HOST, self.port, HOST, self.tls_port), line)
        self.assertNotEqual(self.port, self.tls_port)

    def test_publish_and_stream_over_https(self):
        t = self.topic()
        c = self.tls_sse(t)
        self.assertEqual(c.status, 200, c.response)
        self.assertTrue((c.header("Content-Type") or "").startswith("text/event-stream"), c.response)

        eid = self.tls_publish(t, "over https")
        ev = c.next_event()
        self.assertEqual((ev.int_id, ev.data), (eid, "over https"))

        # A plain-HTTP publish reaches the HTTPS stream, and the other way round.
        plain_stream = self.sse(t)
        eid2 = publish(self.port, t, "from plain", event="kind")
        ev = c.next_event()
        self.assertEqual((ev.int_id, ev.event, ev.data), (eid2, "kind", "from plain"))
        self.assertEqual(plain_stream.next_event().int_id, eid2)
        eid3 = self.tls_publish(t, "from tls 日本 🎉")
        self.assertEqual((plain_stream.next_event().int_id, c.next_event().data), (eid3, "from tls 日本 🎉"))
        self.assertEqual(c.expect_no_event(0.2), [])
        self.assertEqual(c.parser.errors, [])

    def test_replay_of_many_large_events_over_tls(self):
        # ~300 KB of history, written as one coalesced buffer: many TLS records and many
        # partial writes (a small receive buffer and a late reader keep the socket full).
        t = self.topic()
        marker = publish(self.port, t, "marker")
        ids = []
        with HttpConnection(self.tls_port, tls=self.ctx) as pub:
            for start in range(0, 300, 100):
                r = publish_json(self.tls_port, [{"topic": t, "data": filler(i)}
                                                 for i in range(start, start + 100)], conn=pub)
                self.assertEqual(r.status, 200, r)
                ids += r.json()["ids"]
        self.assertEqual(len(ids), 300)
        c = self.tls_sse(t, last_event_id=marker, rcvbuf=4096, wait_ready=False)
        self.assertEqual(c.status, 200, c.response)
        time.sleep(0.3)  # let the server fill the socket and stall on a partial write
        evs = c.read_n(300, timeout=15)
        self.assertEqual([e.int_id for e in evs], ids, "ids out of order, missing or repeated")
        for i, e in enumerate(evs):
            if e.data != filler(i):
                self.fail("event %d (id %s) corrupted: %r..." % (i, e.id, e.data[:60]))
        self.assertEqual(c.expect_no_event(0.3), [], "events after the replay (duplicates?)")
        self.assertEqual(c.parser.errors, [])

        # A live burst after the replay, on the same stream: complete and in order too.
        live = publish_json(self.port, [{"topic": t, "data": filler(1000 + i)} for i in range(100)])
        live_ids = live.json()["ids"]
        evs = c.read_n(100, timeout=10)
        self.assertEqual([e.int_id for e in evs], live_ids)
        self.assertEqual([e.data for e in evs], [filler(1000 + i) for i in range(100)])

    def test_live_burst_to_slow_tls_reader(self):
        t = self.topic()
        c = self.tls_sse(t, rcvbuf=4096)
        ids = []
        with HttpConnection(self.port) as pub:
            for start in range(0, 300, 100):
                r = publish_json(self.port, [{"topic": t, "data": filler(i)}
                                             for i in range(start, start + 100)], conn=pub)
                ids += r.json()["ids"]
        time.sleep(0.2)
        evs = c.read_n(300, timeout=15)
        self.assertEqual([e.int_id for e in evs], ids)
        self.assertEqual([e.data for e in evs], [filler(i) for i in range(300)])
        self.assertEqual(c.expect_no_event(0.2), [])

    def test_heartbeat_over_tls(self):
        c = self.tls_sse(self.topic())
        start = time.monotonic()
        deadline = start + 2.0
        beats = []
        while len(beats) < 2 and time.monotonic() < deadline:
            c.next_comment(max(0.01, deadline - time.monotonic()))
            beats = [x for x in c.all_comments if x.text == "heartbeat"]
        self.assertGreaterEqual(len(beats), 2, "expected 2 heartbeats in 2s with a 300ms interval: %r"
                                % c.all_comments)
        self.assertLess(beats[0].t - start, 1.2, "first heartbeat came too late")
        self.assertIn(b": heartbeat\n\n", bytes(c.body))
        # the stream still carries events after the heartbeats
        eid = publish(self.port, c.topics[0], "after heartbeats")
        self.assertEqual(c.next_event().int_id, eid)

    def test_protocol_version_and_alpn(self):
        ctx = client_context()
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with HttpConnection(self.tls_port, tls=ctx) as c:
            self.assertIn(c.bs.sock.version(), ("TLSv1.2", "TLSv1.3"))
            self.assertEqual(c.bs.sock.selected_alpn_protocol(), "http/1.1",
                             "ALPN must pick http/1.1 when offered beside h2")
            self.assertEqual(c.request("GET", "/healthz").status, 200)

        # TLS 1.2 exactly is accepted too.
        ctx12 = client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
        with HttpConnection(self.tls_port, tls=ctx12) as c:
            self.assertEqual(c.bs.sock.version(), "TLSv1.2")
            self.assertEqual(c.request("GET", "/healthz").status, 200)

        # A client that offers no ALPN, or only h2, still gets HTTP/1.1 without ALPN.
        for protos in (None, ["h2"]):
            ctx = client_context()
            if protos:
                ctx.set_alpn_protocols(protos)
            with HttpConnection(self.tls_port, tls=ctx) as c:
                self.assertIsNone(c.bs.sock.selected_alpn_protocol(), protos)
                r = c.request("GET", "/healthz")
                self.assertEqual((r.version, r.status), ("HTTP/1.1", 200), protos)

    def test_tls_1_1_client_refused_and_counted(self):
        before = self.failures()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx = ssl.create_default_context(cafile=certs()["cert"])
            try:
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1_1
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            except (ValueError, ssl.SSLError):
                ctx = None
        alert = None
        if ctx is not None:
            try:
                s = connect(self.tls_port, timeout=5, tls=ctx)
                s.close()
                self.fail("a TLS 1.1 client completed a handshake (%s)" % s.version())
            except ssl.SSLError as e:
                alert = e
        if alert is not None and "ALERT_PROTOCOL_VERSION" in str(alert):
            how = "python: %s" % alert
        else:
            # The local OpenSSL would not offer TLS 1.1 from Python; try the CLI.
            p = subprocess.run([OPENSSL, "s_client", "-connect", "%s:%d" % (HOST, self.tls_port),
                                "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", "-CAfile", certs()["cert"]],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
            out = (p.stdout + p.stderr).decode(errors="replace")
            if not re.search(r"alert protocol version|tlsv1 alert protocol", out, re.I):
                self.skipTest("this OpenSSL cannot send a TLS 1.1 ClientHello (python: %r; s_client: %s)"
                              % (alert, out.strip()[-300:]))
            self.assertNotEqual(p.returncode, 0, out)
            how = "s_client"
        # The refusal came from the server (its protocol_version alert), and it counted it.
        self.assertGreaterEqual(self.wait_failures(before + 1), before + 1,
                                "server did not count the refused TLS 1.1 handshake (%s)" % how)
        self.assertGreaterEqual(self.stats()["tls_handshake_failures"], before + 1)

    def test_plain_http_to_tls_port_gets_400(self):
        before = self.failures()
        r = raw_exchange(self.tls_port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assert_json_error(r, 400)
        self.assertEqual(r.json(), {"error": "this port speaks HTTPS: use https://"})
        self.assertEqual((r.header("Connection") or "").lower(), "close", r)
        self.assertEqual(r.version, "HTTP/1.1")
        # the server closes the connection after the answer
        bs = BufferedSocket(connect(self.tls_port))
        try:
            bs.sendall(b"POST /publish?topic=x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n\r\nx")
            r = read_response(bs, time.monotonic() + 3)
            self.assertEqual(r.status, 400, r)
            bs.read_to_eof(time.monotonic() + 3)
            self.assertTrue(bs.eof)
        finally:
            bs.close()
        self.assertGreaterEqual(self.wait_failures(before + 2), before + 2,
                                "plain HTTP on the TLS port is counted as a failed handshake")
        self.assert_server_healthy("plain HTTP on the TLS port")

    def test_silent_client_dropped_after_header_timeout(self):
        before = self.failures()
        silent = BufferedSocket(connect(self.tls_port))
        self.track(silent)
        opened = time.monotonic()
        # A well-behaved TLS client is served meanwhile, on a stream and on requests.
        t = self.topic()
        c = self.tls_sse(t)
        with self.tls_conn() as conn:
            for i in range(3):
                eid = publish(self.tls_port, t, "meanwhile %d" % i, conn=conn)
                self.assertEqual(c.next_event().int_id, eid)
                time.sleep(0.1)
        self.assertFalse(silent.eof, "silent client dropped before the header timeout")
        try:
            silent.read_to_eof(opened + HEADER_TIMEOUT + 3.0)
        except AssertionError:
            self.fail("a TCP client silent on the TLS port was not dropped %.1fs after the %.1fs header timeout"
                      % (3.0, HEADER_TIMEOUT))
        elapsed = time.monotonic() - opened
        self.assertGreaterEqual(elapsed, HEADER_TIMEOUT * 0.8, "dropped too early")
        self.assertEqual(bytes(silent.wire), b"", "nothing is sent to a client that never said hello")
        self.assertGreaterEqual(self.wait_failures(before + 1), before + 1,
                                "a client that never said hello counts as a timed-out handshake")
        # the stream outlives the header timeout
        eid = publish(self.port, t, "after the timeout")
        self.assertEqual(c.next_event().int_id, eid)

    def test_port_probe_is_not_a_failed_handshake(self):
        # A TCP health check: connect, close at once. Not a TLS failure; it must not add noise.
        before = self.failures()
        for _ in range(3):
            connect(self.tls_port).close()
        with self.tls_conn() as conn:  # served after the probes, so they were handled first
            self.assertEqual(conn.request("GET", "/healthz").status, 200)
        time.sleep(0.2)
        self.assertEqual(self.failures(), before, "connect-and-close probes counted as failed handshakes")

    def test_stalled_handshake_dropped_and_counted(self):
        before = self.failures()
        # The start of a ClientHello record, then nothing.
        stalled = BufferedSocket(connect(self.tls_port))
        self.track(stalled)
        opened = time.monotonic()
        stalled.sendall(b"\x16\x03\x01\x02\x00\x01")
        try:
            stalled.read_to_eof(opened + HEADER_TIMEOUT + 3.0)
        except AssertionError:
            self.fail("a stalled TLS handshake was not dropped after the header timeout")
        self.assertGreaterEqual(time.monotonic() - opened, HEADER_TIMEOUT * 0.8, "dropped too early")
        self.assertGreaterEqual(self.wait_failures(before + 1), before + 1,
                                "a timed-out handshake is counted")

    def test_keep_alive_two_requests_on_one_tls_connection(self):
        t = self.topic()
        c = self.tls_sse(t)
        conn = self.tls_conn()
        r1 = conn.request("GET", "/healthz")
        self.assertEqual(r1.status, 200, r1)
        self.assertNotEqual((r1.header("Connection") or "").lower(), "close", r1)
        r2 = publish_json(self.tls_port, {"topic": t, "data": "second request"}, conn=conn)
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual(c.next_event().int_id, r2.json()["id"])
        r3 = conn.request("GET", "/stats")
        self.assertEqual(r3.status, 200, r3)
        self.assertFalse(conn.bs.eof)

    def test_over_tls_routes_and_errors_are_the_same(self):
        r = request(self.tls_port, "GET", "/nope", tls=self.ctx)
        self.assert_json_error(r, 404)
        r = request(self.tls_port, "GET", "/metrics", tls=self.ctx)
        self.assertEqual(r.status, 200)
        self.assertIn("herald_tls_handshake_failures_total", r.text)


class HttpsShutdown(unittest.TestCase):
    """A TLS stream is ended cleanly when the server stops."""

    def test_sigterm_ends_tls_stream_with_terminator(self):
        server = TlsHeraldServer(tls_args())
        self.addCleanup(server.cleanup)
        server.start()
        t = unique_topic("shutdown")
        with SSEClient(server.tls_port, [t], tls=client_context()) as c:
            self.assertTrue(c.chunked, c.response)
            eid = publish(server.port, t, "before")
            self.assertEqual(c.next_event().int_id, eid)
            server.signal(signal.SIGTERM)
            c.read_to_eof(5)
            self.assertTrue(c.terminator_seen,
                            "chunked stream over TLS not terminated: %r" % bytes(c.body[-80:]))
        self.assertEqual(server.wait_exit(5), 0, server.log()[-2000:])


class HttpsCertificateReload(unittest.TestCase):
    """SIGHUP reads the certificate and key again: new connections get the new
    certificate, open streams carry on, and unusable files keep the old one."""

    def make_cert(self, directory, name):
        cert, key = os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=30)
        return cert, key

    def served_cert(self, port):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection((HOST, port), timeout=5) as raw:
            with ctx.wrap_socket(raw) as s:
                return s.getpeercert(binary_form=True)

    def pem_der(self, path):
        with open(path) as f:
            return ssl.PEM_cert_to_DER_cert(f.read())

    def test_sighup_reloads_certificate(self):
        # The shared test certificate first: the fixture's readiness check trusts it.
        first_cert, first_key = certs()["cert"], certs()["key"]
        d = tempfile.mkdtemp(prefix="herald-tls-reload-")
        self.addCleanup(shutil.rmtree, d, True)
        live_cert, live_key = os.path.join(d, "live.pem"), os.path.join(d, "live.key")
        shutil.copy(first_cert, live_cert)
        shutil.copy(first_key, live_key)
        server = TlsHeraldServer(["--tls-cert", live_cert, "--tls-key", live_key, "--tls-port", "0"])
        self.addCleanup(server.cleanup)
        server.start()
        port = server.tls_port
        self.assertEqual(self.served_cert(port), self.pem_der(first_cert))

        old_ctx = ssl.create_default_context(cafile=first_cert)
        topic = unique_topic("reload")
        stream = SSEClient(port, [topic], tls=old_ctx)
        self.addCleanup(stream.close)

        second_cert, second_key = self.make_cert(d, "second")
        shutil.copy(second_cert, live_cert)
        shutil.copy(second_key, live_key)
        server.proc.send_signal(signal.SIGHUP)
        server.wait_log(lambda t: "reloaded" in t, 3)
        self.assertEqual(self.served_cert(port), self.pem_der(second_cert), "new connections get the new certificate")
        new_ctx = ssl.create_default_context(cafile=second_cert)
        with HttpConnection(port, tls=new_ctx) as conn:
            eid = publish(port, topic, "after reload", conn=conn)
        self.assertEqual(stream.next_event().int_id, eid, "a stream opened before the reload carries on")

        # Unusable files: an error in the log, the current certificate stays.
        with open(live_key, "w") as f:
            f.write("not a key\n")
        server.proc.send_signal(signal.SIGHUP)
        server.wait_log(lambda t: "kept the current certificate" in t, 3)
        self.assertIn("invalid tls-key", server.log())
        self.assertEqual(self.served_cert(port), self.pem_der(second_cert))
        self.assertTrue(server.alive())
        eid = publish(server.port, topic, "still serving")
        self.assertEqual(stream.next_event().int_id, eid)

    def test_sighup_without_tls_is_harmless(self):
        server = HeraldServer()
        self.addCleanup(server.cleanup)
        server.start()
        server.proc.send_signal(signal.SIGHUP)
        server.wait_log(lambda t: "nothing to reload" in t, 3)
        self.assertEqual(request(server.port, "GET", "/healthz").status, 200)


class HttpsSlowConsumer(TlsTestCase):
    """The pending-bytes budget holds over TLS (where a write is one staged buffer)."""

    EXTRA_ARGS = ["--max-pending-bytes", "65536", "--heartbeat-interval", "60s"]

    def test_slow_tls_reader_disconnected_good_one_served(self):
        t = self.topic()
        slow = self.tls_sse(t, rcvbuf=4096)
        good = self.tls_sse(t, timeout=10)
        before = self.stats()["slow_consumer_disconnects"]
        pub = self.track(HttpConnection(self.port))
        ids = []
        deadline = time.monotonic() + 20
        disconnected = False
        # up to 20 MB; the good reader keeps up (one event behind at most)
        for i in range(1280):
            ids.append(publish(self.port, t, filler(i, 16384), conn=pub))
            ev = good.next_event(5)
            self.assertEqual((ev.int_id, ev.data), (ids[-1], filler(i, 16384)))
            if i % 16 == 15 and self.stats()["slow_consumer_disconnects"] > before:
                disconnected = True
                break
            if time.monotonic() > deadline:
                break
        self.assertTrue(disconnected, "a TLS stream that never reads was not disconnected after %d KB"
                        % (len(ids) * 16))
        slow.read_to_eof(5)
        got = [e.int_id for e in slow.all_events]
        self.assertEqual(got, ids[:len(got)], "what the slow reader got is a prefix, in order")
        self.assertFalse(good.eof)
        eid = publish(self.port, t, "after")
        self.assertEqual(good.next_event().int_id, eid)


class HttpsPerClientLimit(TlsTestCase):
    EXTRA_ARGS = ["--max-connections-per-client", "2"]

    def test_over_limit_tls_connection_gets_429_after_handshake(self):
        a = self.tls_sse(self.topic())
        b = self.tls_sse(self.topic())
        self.assertEqual((a.status, b.status), (200, 200))
        # The handshake completes; the answer is HTTP inside TLS.
        with HttpConnection(self.tls_port, tls=self.ctx) as third:
            self.assertIn(third.bs.sock.version(), ("TLSv1.2", "TLSv1.3"))
            try:
                third.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            except OSError:
                pass  # the answer may already be there and the write side closed
            r = third.read_response(timeout=3)
            self.assert_json_error(r, 429)
            self.assertEqual(r.json(), {"error": "too many connections from your address"})
            self.assertEqual((r.header("Connection") or "").lower(), "close")
            self.assertTrue(third.wait_closed(3), "over-limit TLS connection left open")
        # Plain connections share the same per-client count.
        r = request(self.port, "GET", "/healthz")
        self.assert_json_error(r, 429)
        # A freed slot is usable again over TLS.
        a.close()
        deadline = time.monotonic() + 3
        while True:
            r = request(self.tls_port, "GET", "/healthz", tls=self.ctx)
            if r.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(r.status, 200, r)


class HttpsRefusalsBounded(TlsTestCase):
    """Refusals over TLS wait for a handshake; silent connections over the limit must not pile
    up behind it. At most 64 wait per thread, the rest are closed at once, unanswered."""
    EXTRA_ARGS = ["--max-connections-per-client", "2", "--header-timeout", "5s", "--threads", "1"]

    def test_silent_connections_over_the_limit_are_closed_beyond_the_cap(self):
        t = self.topic()
        holder = self.tls_sse(t)
        publisher = self.track(HttpConnection(self.port))  # the second slot, kept alive
        self.assertEqual(publisher.request("GET", "/healthz").status, 200)
        silent = [self.track(BufferedSocket(connect(self.tls_port))) for _ in range(150)]
        time.sleep(1.0)  # well before the 5 s header timeout
        closed = 0
        for s in silent:
            try:
                s.read_to_eof(time.monotonic() + 0.05)
                closed += 1
            except AssertionError:
                pass
        self.assertGreaterEqual(closed, 150 - 64, "refused TLS connections beyond the cap were kept waiting")
        self.assertLess(closed, 150, "refusals under the cap wait for a handshake to answer 429")
        eid = publish(self.port, t, "still served", conn=publisher)
        self.assertEqual(holder.next_event().int_id, eid)


class HttpsOnly(TlsTestCase):
    PLAIN = False
    EXTRA_ARGS = ["--plain-http", "false"]

    def test_plain_port_closed_and_log_names_only_https(self):
        line = next((l for l in self.server.log().splitlines() if "listening on" in l), "")
        self.assertIn("herald listening on %s:%d (https) with " % (HOST, self.tls_port), line)
        self.assertNotIn("(http)", line)
        self.assertNotIn("%s:%d" % (HOST, self.server.port), line)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((HOST, self.server.port), timeout=2).close()
        # HTTPS does everything: publish, stream, stats.
        t = self.topic()
        c = self.tls_sse(t)
        eid = self.tls_publish(t, "https only")
        self.assertEqual(c.next_event().int_id, eid)
        self.assertIn("tls_handshake_failures", self.stats())


class HttpsFromEnvironmentAndConfigFile(unittest.TestCase):
    """The settings by environment variable and by JSON config key."""

    def _check(self, server):
        self.addCleanup(server.cleanup)
        server.start()
        ctx = client_context()
        r = request(server.tls_port, "GET", "/healthz", tls=ctx)
        self.assertEqual(r.status, 200, r)
        return server

    def test_environment(self):
        c = certs()
        tls_port = free_port()
        s = self._check(TlsHeraldServer([], env={"HERALD_TLS_CERT": c["cert"], "HERALD_TLS_KEY": c["key"],
                                                 "HERALD_TLS_PORT": str(tls_port)}))
        self.assertEqual(s.tls_port, tls_port)
        self.assertEqual(request(s.port, "GET", "/healthz").status, 200)

    def test_environment_https_only(self):
        c = certs()
        s = self._check(TlsHeraldServer([], plain=False, env={
            "HERALD_TLS_CERT": c["cert"], "HERALD_TLS_KEY": c["key"], "HERALD_TLS_PORT": "0",
            "HERALD_PLAIN_HTTP": "false"}))
        self.assertNotIn("http", s.ports)

    def test_config_file(self):
        c = certs()
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"tls_cert": c["cert"], "tls_key": c["key"], "tls_port": 0, "plain_http": True}, f)
        self.addCleanup(os.unlink, f.name)
        s = self._check(TlsHeraldServer(["--config", f.name]))
        self.assertIn("http", s.ports)


class BusyPorts(unittest.TestCase):
    """A listener that cannot bind its port names that address and port, and herald exits."""

    def occupy(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind((HOST, 0))
        s.listen(1)
        return s.getsockname()[1]

    def start_failing(self, plain, tls):
        p = run_server_process(["--host", HOST, "--port", str(plain)] + tls_args(tls), timeout=10)
        self.assertIsNotNone(p.returncode, "herald kept running although a port it needs is taken")
        self.assertNotEqual(p.returncode, 0, "herald exited 0 although a port it needs is taken")
        return p.stderr.decode(errors="replace")

    def test_busy_tls_port_is_named(self):
        busy, plain = self.occupy(), free_port()
        err = self.start_failing(plain, busy)
        self.assertIn("cannot listen on %s:%d (https)" % (HOST, busy), err)
        self.assertNotIn(":%d" % plain, err, "the error names the plain port, which was free")

    def test_busy_plain_port_is_named(self):
        busy, tls = self.occupy(), free_port()
        err = self.start_failing(busy, tls)
        self.assertIn("cannot listen on %s:%d (http)" % (HOST, busy), err)


class TlsSettings(unittest.TestCase):
    """--help and the startup errors: exit status 2, a message naming the setting."""

    @classmethod
    def setUpClass(cls):
        cls.c = certs()

    def run_invalid(self, args, *expected):
        p = run_server_process(["--host", HOST, "--port", str(free_port())] + args)
        err = p.stderr.decode(errors="replace")
        self.assertIsNotNone(p.returncode, "server kept running with %r" % args)
        self.assertEqual(p.returncode, 2, "exit status for %r; stderr: %s" % (args, err))
        for e in expected:
            if isinstance(e, re.Pattern):
                self.assertRegex(err, e, args)
            else:
                self.assertIn(e, err, args)
        return err

    def test_help_lists_tls_settings(self):
        p = run_server_process(["--help"])
        self.assertEqual(p.returncode, 0)
        out = p.stdout.decode()
        for flag, env, key in (("--tls-cert", "HERALD_TLS_CERT", "tls_cert"),
                               ("--tls-key", "HERALD_TLS_KEY", "tls_key"),
                               ("--tls-port", "HERALD_TLS_PORT", "tls_port"),
                               ("--plain-http", "HERALD_PLAIN_HTTP", "plain_http")):
            m = re.search(r"^\s*%s \(%s, \"%s\"\)\n(.*)$" % (re.escape(flag), env, key), out, re.M)
            self.assertIsNotNone(m, "%s (%s, %s) not in --help:\n%s" % (flag, env, key, out))
        self.assertRegex(out, r"--tls-port .*\n.*\[default: 8443\]")
        self.assertRegex(out, r"--plain-http .*\n.*\[default: true\]")

    def test_cert_without_key(self):
        self.run_invalid(["--tls-cert", self.c["cert"]], "invalid tls-cert: needs tls-key too")

    def test_key_without_cert(self):
        self.run_invalid(["--tls-key", self.c["key"]], "invalid tls-key: needs tls-cert too")

    def test_cert_without_key_from_environment(self):
        p = run_server_process(["--host", HOST, "--port", str(free_port())],
                               env={"HERALD_TLS_CERT": self.c["cert"]})
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"invalid tls-cert: needs tls-key too", p.stderr)

    def test_unreadable_cert(self):
        missing = os.path.join(self.c["dir"], "missing.pem")
        self.run_invalid(["--tls-cert", missing, "--tls-key", self.c["key"], "--tls-port", "0"],
                         "invalid tls-cert '%s': " % missing)
        # a file that is no certificate (the key)
        self.run_invalid(["--tls-cert", self.c["key"], "--tls-key", self.c["key"], "--tls-port", "0"],
                         "invalid tls-cert '%s': " % self.c["key"])

    def test_unreadable_key(self):
        missing = os.path.join(self.c["dir"], "missing-key.pem")
        self.run_invalid(["--tls-cert", self.c["cert"], "--tls-key", missing, "--tls-port", "0"],
                         "invalid tls-key '%s': " % missing)

    def test_key_not_matching_cert(self):
        self.run_invalid(["--tls-cert", self.c["cert"], "--tls-key", self.c["other_key"], "--tls-port", "0"],
                         "invalid tls-key '%s': does not match the certificate in tls-cert"
                         % self.c["other_key"])

    def test_plain_http_false_without_tls(self):
        self.run_invalid(["--plain-http", "false"], "invalid plain-http")

    def test_plain_http_not_a_boolean(self):
        self.run_invalid(["--plain-http", "maybe"] + tls_args(), "plain-http")

    def test_tls_port_equal_to_port(self):
        port = free_port()
        p = run_server_process(["--host", HOST, "--port", str(port)] + tls_args(port))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"invalid tls-port", p.stderr)

    def test_tls_port_out_of_range(self):
        self.run_invalid(tls_args(70000), "tls-port")


if __name__ == "__main__":
    unittest.main()
