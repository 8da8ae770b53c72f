"""Hostile clients: request smuggling, header injection, oversized and truncated
requests, half-open connection floods, slowloris bodies, connection churn,
pipelining floods, subscribers that reset mid-write, HTTPS subscribers that
resume megabytes of history without reading, subscribers whose write is stuck
(--write-timeout) and stream clients that send endless bytes.

Every attack runs while a Witness is active: a subscriber connected before the
attack plus a publisher thread that keeps publishing to the witness topic
through the attack.  After the attack each test proves that
  * the server is up and answers correctly (health, readiness, a fresh
    publish/subscribe round trip);
  * the witness received every event that got a 200 and an id, exactly once,
    in order, without stalling, and nothing else;
  * every accepted event is in history (replay with Last-Event-ID);
  * where the attack opened connections, herald_connections_open falls back.

A failure here is a server bug: the assertions state the correct behaviour.

HERALD_HOSTILE_MAX_DELAY (seconds, default 2.5) bounds how long a well-behaved
client may wait (raise it for sanitizer builds); HERALD_HOSTILE_DEBUG=1 prints
the witness figures of each test.
"""

import json
import os
import re
import select
import socket
import struct
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import (BufferedSocket, ChunkedDecoder, HeraldTestCase, HeraldTimeout, HttpConnection,  # noqa: E402
                            SSEClient, build_request, connect, parse_head, publish, publish_json,
                            read_response, request)

# A well-behaved client must be served within this much, whatever else happens.
MAX_DELIVERY_DELAY = float(os.environ.get("HERALD_HOSTILE_MAX_DELAY", "2.5"))
WITNESS_INTERVAL = 0.01          # seconds between the witness publisher's events

SERVER_ARGS = ["--max-connections", "5000", "--header-timeout", "2s", "--body-timeout", "1s",
               "--history-size", "5000", "--heartbeat-interval", "30s"]
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 1.0


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def metrics(port):
    """Unlabelled and labelled series of /metrics as {name: float}."""
    r = request(port, "GET", "/metrics", timeout=5)
    if r.status != 200:
        raise AssertionError("GET /metrics answered %r" % r)
    out = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        out[name] = float(value)
    return out


def open_connections(port):
    """herald_connections_open, not counting the /metrics request itself."""
    return int(metrics(port)["herald_connections_open"]) - 1


def linger_rst(sock):
    """Make close() send a RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def close_rst(sock):
    try:
        linger_rst(sock)
    except OSError:
        pass
    sock.close()


def smuggled(topic):
    """A complete publish request; if a server ever executes it, topic gets an event."""
    return (b"POST /publish?topic=%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 8\r\nConnection: close\r\n\r\nsmuggled" % topic.encode())


def chunked(data, size=None):
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(data) if size is None else size, data)


def read_all_responses(bs, timeout=4.0):
    """Read responses until the server closes (the caller half-closed its side).
    Returns (responses, leftover bytes, timed_out)."""
    responses = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            responses.append(read_response(bs, deadline))
        except EOFError:
            return responses, bytes(bs.buf), False
        except HeraldTimeout:
            return responses, bytes(bs.buf), True


def exchange_all(port, data, timeout=4.0):
    """Send data, half-close, and read every response until the server closes."""
    bs = BufferedSocket(connect(port, timeout))
    try:
        try:
            bs.sendall(data)
            bs.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return read_all_responses(bs, timeout)
    finally:
        bs.close()


def _response_complete(buf):
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return False
    _, status, _, headers = parse_head(bytes(buf[:i + 4]))
    length = {k.lower(): v for k, v in headers}.get("content-length")
    return length is None or len(buf) >= i + 4 + int(length)


def blast(port, data, timeout=10.0, chunk=65536):
    """Send a (large) request while reading: stop sending as soon as the server
    answered or closed.  Returns (Response or None, bytes sent, eof, raw bytes)."""
    sock = connect(port, timeout)
    sock.setblocking(False)
    got = bytearray()
    sent = 0
    eof = False
    can_write = True
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            answered = _response_complete(got)
            if answered or eof:
                break
            want_write = can_write and sent < len(data) and b"\r\n\r\n" not in got
            r, w, _ = select.select([sock], [sock] if want_write else [], [],
                                    max(0.0, deadline - time.monotonic()))
            if r:
                try:
                    d = sock.recv(65536)
                    if not d:
                        eof = True
                    got += d
                except BlockingIOError:
                    pass
                except (ConnectionResetError, ConnectionAbortedError):
                    eof = True
            if w:
                try:
                    sent += sock.send(data[sent:sent + chunk])
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    can_write = False
    finally:
        sock.close()
    resp = None
    if b"\r\n\r\n" in got:
        bs = BufferedSocket(None)
        bs.buf += got
        bs.eof = True
        try:
            resp = read_response(bs, time.monotonic() + 1)
        except (EOFError, HeraldTimeout):
            pass
    return resp, sent, eof, bytes(got)


def flood(port, head, filler, cap, timeout=10.0, sndbuf=None):
    """Send head, then filler over and over, flat out, while reading: stop as soon as the
    server answered or closed, or cap bytes went out after the head.  Returns (Response or
    None, bytes sent after the head, eof).  A small sndbuf keeps the bytes sent close to the
    bytes the server read."""
    block = filler * max(1, 65536 // len(filler))
    sock = connect(port, timeout)
    if sndbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    got = bytearray()
    sent = 0
    eof = False
    try:
        sock.sendall(head)
        sock.setblocking(False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and sent < cap and not eof and not _response_complete(got):
            r, w, _ = select.select([sock], [sock], [], max(0.0, deadline - time.monotonic()))
            if r:
                try:
                    d = sock.recv(65536)
                    eof = not d
                    got += d
                except BlockingIOError:
                    pass
                except (ConnectionResetError, ConnectionAbortedError):
                    eof = True
            if w and not eof and not _response_complete(got):
                try:
                    sent += sock.send(block)
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    eof = True
        # The answer may still be on its way when the server closed or the cap was reached.
        end = time.monotonic() + 1
        while not eof and not _response_complete(got) and time.monotonic() < end:
            if select.select([sock], [], [], 0.1)[0]:
                try:
                    d = sock.recv(65536)
                except BlockingIOError:
                    continue
                except (ConnectionResetError, ConnectionAbortedError):
                    break
                eof = not d
                got += d
    finally:
        sock.close()
    resp = None
    if _response_complete(got):
        bs = BufferedSocket(None)
        bs.buf += got
        bs.eof = True
        resp = read_response(bs, time.monotonic() + 1)
    return resp, sent, eof


def rss(pid):
    """Resident memory of a process, in bytes (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


SSE_LINE = re.compile(rb"^(?:id: [0-9]+|event: [^\r\n]*|data: [^\r\n]*|retry: [0-9]+|:[^\r\n]*|)$")


def history(port, topics, after, timeout=5.0):
    """Events of topics with id > after, from history (notifyReplay marks the end)."""
    q = [("topic", t) for t in topics] + [("notifyReplay", "1")]
    target = "/events?" + urllib.parse.urlencode(q, quote_via=urllib.parse.quote)
    with SSEClient(port, topics, last_event_id=after, target=target, timeout=timeout) as c:
        if c.status != 200:
            raise AssertionError("history subscription answered %r" % c.response)
        evs = c.read_until(lambda e: e.event == "herald-replay-complete", timeout)
    done = json.loads(evs[-1].data)
    replay = [e for e in evs[:-1] if e.event != "herald-history-truncated"]
    if done.get("replayed") != len(replay):
        raise AssertionError("herald-replay-complete says %r but %d events came"
                             % (done, len(replay)))
    return replay


class Witness:
    """A subscriber connected before the attack, a publisher thread that keeps
    publishing to its topic during the attack, and a reader thread that keeps
    reading the stream.  verify() proves nothing was lost, duplicated,
    reordered or stalled."""

    def __init__(self, port, topic, interval=WITNESS_INTERVAL, max_events=5000):
        self.port = port
        self.topic = topic
        self.interval = interval
        self.max_events = max_events
        self.sub = SSEClient(port, [topic], timeout=5)
        if self.sub.status != 200:
            raise AssertionError("witness subscription answered %r" % self.sub.response)
        self.conn = HttpConnection(port)
        self.accepted = []      # (id, data, accepted at, round trip)
        self.failures = []      # (time, what)
        self.received = []      # Events
        self.stream_error = None
        self._stop_pub = threading.Event()
        self._stop_read = threading.Event()
        self.base_id = self._publish("w-base")
        if self.base_id is None:
            raise AssertionError("witness could not publish: %r" % self.failures)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._reader.start()
        self._writer.start()
        self.verified = False

    def _publish(self, data):
        t0 = time.monotonic()
        try:
            if self.conn is None or self.conn.bs.eof:
                if self.conn is not None:
                    self.conn.close()
                self.conn = HttpConnection(self.port)
            body = json.dumps({"topic": self.topic, "data": data}).encode()
            r = self.conn.request("POST", "/publish", [("Content-Type", "application/json")], body)
        except Exception as e:          # noqa: BLE001 - any failure of a good client counts
            self.failures.append((t0, "publish %s: %r" % (data, e)))
            if self.conn is not None:
                self.conn.close()
                self.conn = None
            return None
        t1 = time.monotonic()
        if r.status != 200:
            self.failures.append((t0, "publish %s answered %r" % (data, r)))
            return None
        eid = r.json()["id"]
        self.accepted.append((eid, data, t1, t1 - t0))
        return eid

    def _write(self):
        i = 0
        while not self._stop_pub.is_set() and i < self.max_events:
            self._publish("w-%d" % i)
            i += 1
            self._stop_pub.wait(self.interval)

    def _read(self):
        while not self._stop_read.is_set():
            try:
                ev = self.sub.next_event(0.1)
            except HeraldTimeout:
                continue
            except Exception as e:      # noqa: BLE001
                self.stream_error = repr(e)
                return
            self.received.append(ev)

    def stop(self):
        self._stop_pub.set()
        self._writer.join(15)
        last = self.accepted[-1][0]
        wait_until(lambda: self.stream_error is not None
                   or (self.received and self.received[-1].int_id is not None
                       and self.received[-1].int_id >= last), 5, 0.02)
        self._stop_read.set()
        self._reader.join(5)

    def verify(self, tc, what, after_events=10):
        """Let the publisher go on for after_events more events, stop the threads
        and assert the witness was served correctly."""
        target = len(self.accepted) + after_events
        wait_until(lambda: len(self.accepted) >= target or self.failures, 5, 0.01)
        self.stop()
        self.verified = True
        tc.assertIsNone(self.stream_error, "%s: the witness stream broke: %s" % (what, self.stream_error))
        tc.assertFalse(self.failures, "%s: the witness publisher was not served: %s"
                       % (what, self.failures[:5]))
        tc.assertGreaterEqual(len(self.accepted), after_events,
                              "%s: the witness publisher barely ran (%d events)" % (what, len(self.accepted)))
        want = [(eid, data) for eid, data, _, _ in self.accepted]
        got = [(e.int_id, e.data) for e in self.received]
        if got != want:
            got_ids = [g[0] for g in got]
            missing = [w for w in want if w not in got]
            extra = [g for g in got if g not in want]
            dups = sorted({i for i in got_ids if got_ids.count(i) > 1})
            disorder = [(a, b) for a, b in zip(got_ids, got_ids[1:]) if b is not None and a is not None
                        and b <= a]
            tc.fail("%s: the witness did not receive exactly the accepted events in order: "
                    "%d accepted, %d received; missing %r; unexpected %r; duplicated ids %r; "
                    "out of order %r" % (what, len(want), len(got), missing[:5], extra[:5], dups[:5],
                                         disorder[:5]))
        for e in self.received:
            tc.assertEqual([k for k, _ in e.fields], ["id", "data"],
                           "%s: witness event has unexpected fields: %r" % (what, e.fields))
        delays = [(e.t - acc[2], acc[0]) for e, acc in zip(self.received, self.accepted)]
        worst = max(delays)
        if os.environ.get("HERALD_HOSTILE_DEBUG"):
            sys.stderr.write("[%s: %d witness events, worst delivery %.3fs, slowest publish %.3fs] "
                             % (what, len(delays), worst[0], max(a[3] for a in self.accepted)))
        tc.assertLess(worst[0], MAX_DELIVERY_DELAY,
                      "%s: the witness stalled: event %d arrived %.2fs after it was accepted"
                      % (what, worst[1], worst[0]))
        slowest = max(self.accepted, key=lambda a: a[3])
        tc.assertLess(slowest[3], MAX_DELIVERY_DELAY,
                      "%s: a witness publish took %.2fs" % (what, slowest[3]))
        replay = history(self.port, [self.topic], self.base_id)
        tc.assertEqual([(e.int_id, e.data) for e in replay], want[1:],
                       "%s: replay with Last-Event-ID %d does not hold exactly the accepted events"
                       % (what, self.base_id))

    def close(self):
        self._stop_pub.set()
        self._stop_read.set()
        self._writer.join(5)
        self._reader.join(5)
        self.sub.close()
        if self.conn is not None:
            self.conn.close()


class HostileCase(HeraldTestCase):
    SERVER_ARGS = SERVER_ARGS

    def start_witness(self):
        w = Witness(self.port, self.topic("witness"))
        self.track(w)
        return w

    def baseline_connections(self):
        """Open connections now (the minimum of a few samples: a connection the
        previous step closed may still be on its way out)."""
        return min(open_connections(self.port) for _ in range(3))

    def assert_connections_back(self, baseline, timeout, what):
        value = [None]

        def back():
            value[0] = open_connections(self.port)
            return value[0] <= baseline
        start = time.monotonic()
        ok = wait_until(back, timeout, 0.1)
        self.assertTrue(ok, "%s: herald_connections_open stayed at %s for %.1fs (baseline %d): "
                            "connections leaked" % (what, value[0], time.monotonic() - start, baseline))

    def assert_up(self, witness, what):
        """Everything a test proves after its attack."""
        self.assertTrue(self.server.alive(), "%s: herald died (exit %r); log tail:\n%s"
                        % (what, self.server.proc.poll(), self.server.log()[-2000:]))
        witness.verify(self, what)
        self.assert_server_healthy(what)
        r = request(self.port, "GET", "/readyz", timeout=3)
        self.assertEqual(r.status, 200, "%s: /readyz answered %r" % (what, r))
        self.assertIn("herald_connections_open", metrics(self.port))

    def assert_no_events(self, topics, after, what):
        """No event was ever published to topics (/stats, then history)."""
        stats = request(self.port, "GET", "/stats").json()
        bad = [t for t in stats["topic_list"] if t["name"] in set(topics) and (t["published"] or t["retained"])]
        self.assertEqual(bad, [], "%s: /stats shows events on %r" % (what, bad))
        for i in range(0, len(topics), 60):
            group = topics[i:i + 60]
            evs = history(self.port, group, after)
            self.assertEqual(evs, [], "%s: events appeared: %r" % (what, [(e.id, e.data) for e in evs]))

    def marker(self):
        """An id issued now: later events have greater ids."""
        return publish(self.port, self.topic("marker"), "marker")


# --------------------------------------------------------------------------
# Request smuggling
# --------------------------------------------------------------------------

class Smuggling(HostileCase):
    """Ambiguous framing is refused (400) or read as exactly one request, and a
    request hidden in a body is never executed."""

    def vectors(self, a):
        """[(name, build, allowed, expected data if 200)]; build(X) returns the bytes
        sent before the smuggled request X (a complete publish to its own topic).
        allowed: "400" (must be refused) or "one" (400, or one request and one 200).
        expected "X" means the smuggled request's bytes are the body.  Every vector
        is built so that a correct parser never executes X."""
        P = (b"POST /publish?topic=%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n" % a.encode())
        P10 = (b"POST /publish?topic=%s HTTP/1.0\r\nHost: x\r\nContent-Type: text/plain\r\n"
               b"Connection: keep-alive\r\n" % a.encode())
        v = []

        def add(name, head_and_body, allowed, expect=None):
            v.append((name, head_and_body, allowed, expect))

        # CL + TE together, both orders; the CL covers the smuggled request, TE ends before it.
        add("cl_then_te", lambda x: P + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            % (5 + len(x)), "400")
        add("te_then_cl", lambda x: P + b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n0\r\n\r\n"
            % (5 + len(x)), "400")
        add("te_then_cl_short", lambda x: P + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
            + chunked(x), "400")
        # Obfuscated Transfer-Encoding next to a Content-Length.
        for i, te in enumerate([b"xchunked", b" chunked", b"chunked, identity", b"identity, chunked",
                                b"\tchunked", b"chunked ", b"CHUNKED", b"chunked;q=1", b"x-chunked"]):
            add("cl_with_te_%d(%r)" % (i, te),
                lambda x, te=te: P + b"Content-Length: %d\r\nTransfer-Encoding: %s\r\n\r\n0\r\n\r\n"
                % (5 + len(x), te), "400")
        add("te_space_before_colon_with_cl",
            lambda x: P + b"Content-Length: %d\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" % (5 + len(x)),
            "400")
        # Obfuscated Transfer-Encoding alone: if the server ignored it the body would be
        # empty and the smuggled request, sent as the body, would run next.
        for i, te in enumerate([b"xchunked", b"chunked, identity", b"chunkedx", b"chunked\x0b",
                                b"identity", b"gzip"]):
            add("te_alone_%d(%r)" % (i, te), lambda x, te=te: P + b"Transfer-Encoding: %s\r\n\r\n" % te, "one")
        add("te_twice", lambda x: P + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", "one")
        # Content-Length forms.
        add("cl_duplicate_different", lambda x: P + b"Content-Length: %d\r\nContent-Length: 0\r\n\r\n" % len(x),
            "400")
        add("cl_duplicate_different_rev", lambda x: P + b"Content-Length: 0\r\nContent-Length: %d\r\n\r\n" % len(x),
            "400")
        add("cl_list_different", lambda x: P + b"Content-Length: %d, 0\r\n\r\n" % len(x), "400")
        add("cl_duplicate_same", lambda x: P + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
            % (len(x), len(x)), "one", expect="X")
        add("cl_plus", lambda x: P + b"Content-Length: +%d\r\n\r\n" % len(x), "400")
        add("cl_minus", lambda x: P + b"Content-Length: -%d\r\n\r\n" % len(x), "400")
        add("cl_hex", lambda x: P + b"Content-Length: 0x%x\r\n\r\n" % len(x), "400")
        add("cl_trailing_garbage", lambda x: P + b"Content-Length: %dabc\r\n\r\n" % len(x), "400")
        add("cl_inner_space", lambda x: P + b"Content-Length: 0 %d\r\n\r\n" % len(x), "400")
        add("cl_overflow", lambda x: P + b"Content-Length: 18446744073709551616%d\r\n\r\n" % len(x), "400")
        add("cl_ows", lambda x: P + b"Content-Length: \t %d \t\r\n\r\n" % len(x), "one", expect="X")
        add("cl_leading_zeros", lambda x: P + b"Content-Length: 000%d\r\n\r\n" % len(x), "one", expect="X")
        # Transfer-Encoding on HTTP/1.0: faulty framing; process at most this message, then close.
        add("te_http10_keepalive", lambda x: P10 + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"a"), "one",
            expect=b"a")
        add("te_http10_with_cl", lambda x: P10 + b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n"
            % (len(chunked(b"a")) + len(x)) + chunked(b"a"), "400")
        # Chunk sizes that overflow 64 bits (a wrapping parser would read 5 bytes).
        add("chunk_size_overflow", lambda x: P + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n"
            b"0\r\n\r\n", "400")
        add("chunk_size_wraps", lambda x: P + b"Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n"
            b"0\r\n\r\n", "400")
        # Chunk lines ended by a bare LF.
        add("chunk_ext_bare_lf", lambda x: P + b"Transfer-Encoding: chunked\r\n\r\n5;ext\nhello\r\n0\r\n\r\n", "one")
        add("chunk_ext_value_bare_lf", lambda x: P + b"Transfer-Encoding: chunked\r\n\r\n5;a=\"b\nc\"\r\nhello\r\n"
            b"0\r\n\r\n", "one")
        add("chunk_size_bare_lf", lambda x: P + b"Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", "one")
        add("chunk_data_bare_lf", lambda x: P + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", "one")
        add("last_chunk_bare_lf", lambda x: P + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\n\n", "one")
        # Bare LF (and bare CR) as line endings in the head.
        add("bare_lf_everywhere", lambda x: (b"POST /publish?topic=%s HTTP/1.1\nHost: x\nContent-Type: text/plain\n"
                                             b"Content-Length: %d\n\n" % (a.encode(), len(x))), "one",
            expect="X")
        add("bare_lf_after_request_line", lambda x: (b"POST /publish?topic=%s HTTP/1.1\nContent-Length: %d\r\n"
                                                     b"Host: x\r\nContent-Type: text/plain\r\n\r\n"
                                                     % (a.encode(), len(x))), "one", expect="X")
        add("bare_lf_between_headers", lambda x: P + b"X-A: 1\nContent-Length: %d\r\n\r\n" % len(x), "one",
            expect="X")
        add("bare_lf_ends_head", lambda x: P + b"Content-Length: %d\r\n\n" % len(x), "one", expect="X")
        add("bare_cr_between_headers", lambda x: P + b"X-A: 1\rContent-Length: %d\r\n\r\n" % len(x), "one",
            expect="X")
        # obs-fold continuation lines: a folded line is not a header of its own.
        add("obs_fold_hides_cl", lambda x: P + b"X-Pad: y\r\n Content-Length: %d\r\n\r\n" % len(x), "one",
            expect="X")
        add("obs_fold_tab_hides_cl", lambda x: P + b"X-Pad: y\r\n\tContent-Length: %d\r\n\r\n" % len(x), "one",
            expect="X")
        add("obs_fold_hides_te", lambda x: P + b"X-Pad: y\r\n Transfer-Encoding: chunked\r\n\r\n" + chunked(x),
            "400")
        add("obs_fold_te_value_with_cl", lambda x: P + b"Content-Length: %d\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"
            b"0\r\n\r\n" % (5 + len(x)), "400")
        add("obs_fold_cl_value", lambda x: P + b"Content-Length:\r\n %d\r\n\r\n" % len(x), "one", expect="X")
        add("obs_fold_first_line", lambda x: (b"POST /publish?topic=%s HTTP/1.1\r\n Content-Length: %d\r\nHost: x\r\n"
                                              b"Content-Type: text/plain\r\n\r\n" % (a.encode(), len(x))), "one",
            expect="X")
        return v

    def test_smuggling_vectors(self):
        w = self.start_witness()
        mark = self.marker()
        results = []
        hidden = []
        for idx in range(len(self.vectors("count"))):
            a = self.topic("front")
            x = self.topic("smuggled")
            hidden.append(x)
            sx = smuggled(x)
            name, build, allowed, expect = self.vectors(a)[idx]
            data = build(sx) + sx
            responses, leftover, timed_out = exchange_all(self.port, data)
            results.append((name, allowed, expect, a, x, data, responses, leftover, timed_out))

        problems = []
        for name, allowed, expect, a, x, data, responses, leftover, timed_out in results:
            statuses = [r.status for r in responses]
            desc = "%s: sent %r; got statuses %r%s%s" % (
                name, data, statuses, " (then no close: timed out)" if timed_out else "",
                (", leftover %r" % leftover[:80]) if leftover else "")
            if len(responses) != 1:
                problems.append("expected exactly one response. " + desc)
                continue
            r = responses[0]
            if allowed == "400" and r.status != 400:
                problems.append("expected 400. " + desc)
                continue
            if r.status == 400:
                try:
                    self.assert_json_error(r, 400, name)
                except AssertionError as e:
                    problems.append("bad error body: %s. %s" % (e, desc))
                continue
            if r.status != 200:
                problems.append("expected 400 or 200. " + desc)
                continue
            # Answered as one request: exactly one event on the front topic, with the body
            # a correct parser sees.
            evs = history(self.port, [a], mark)
            if len(evs) != 1 or evs[0].int_id != r.json()["id"]:
                problems.append("one 200 but events %r on the front topic. %s" % (evs, desc))
            elif expect is not None:
                want = smuggled(x) if expect == "X" else expect
                if evs[0].data.encode() != want.replace(b"\r\n", b"\n"):
                    problems.append("body read as %r, expected %r. %s" % (evs[0].data, want, desc))
        stats = request(self.port, "GET", "/stats").json()
        by_topic = {x: name for name, _, _, _, x, *_ in results}
        for t in stats["topic_list"]:
            if t["name"] in by_topic and t["published"]:
                problems.append("%s: the smuggled request was executed (topic %s has %d event(s))"
                                % (by_topic[t["name"]], t["name"], t["published"]))
        try:
            self.assert_no_events(hidden, mark, "smuggled requests")
        except AssertionError as e:
            if not any("smuggled request was executed" in p for p in problems):
                problems.append(str(e)[:600])
        self.assertFalse(problems, "request smuggling:\n  " + "\n  ".join(problems))
        self.assert_up(w, "request smuggling")

    def test_smuggled_publish_after_error_is_not_run(self):
        """Whatever follows a refused request on its connection is never executed."""
        w = self.start_witness()
        mark = self.marker()
        hidden = []
        for bad in [b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                    b"GET /\x01 HTTP/1.1\r\n\r\n",
                    b"GET /healthz HTTP/1.1\r\nBad Header: x\r\n\r\n",
                    b"POST /publish?topic=a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcde",
                    b"POST /publish?topic=a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                    b"GET /healthz HTTP/3.0\r\n\r\n"]:
            x = self.topic("after-error")
            hidden.append(x)
            responses, leftover, timed_out = exchange_all(self.port, bad + smuggled(x))
            self.assertEqual(len(responses), 1, "sent %r: expected one refusal, got %r" % (bad, responses))
            self.assertIn(responses[0].status, (400, 505), responses[0])
        self.assert_no_events(hidden, mark, "requests after an error")
        self.assert_up(w, "requests after an error")


# --------------------------------------------------------------------------
# Header injection
# --------------------------------------------------------------------------

BAD_TYPES = ["a\rb", "a\nb", "a\r\nb", "a\x00b", "\r", "\n", "x\r\nid: 1\r\n", "\n\nevent: x",
             "x\ndata: injected", "x\r\rretry: 1", "msg\r\n\r\nid: 99\r\nevent: herald-history-truncated"]
INJECTING_DATA = ["a\r\nid: 1\r\n", "\n\nevent: x\ndata: y", "x\rretry: 1", "id: 5", "\r\n\r\n",
                  "line1\nline2\r\nline3\rline4", ":comment\n: c", "data: d\n\nid: 9\nevent: herald-x\n",
                  "a\x00b", "", "\n", "\r", "a\r\r\nb", "\r\nevent: herald-replay-complete\r\ndata: {}\r\n\r\n"]
BAD_TOPICS = ["a\rb", "a\nb", "a\r\nid: 1", "a\x00b", "a b", "a\tb", "a\x7fb", "a\x1bb", "", "x" * 257,
              "t\r\n\r\nevent: x"]
BAD_TOPIC_BYTES = [b"\xff", b"a\xc0\xafb", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80"]


def normalize_lines(data):
    return data.replace("\r\n", "\n").replace("\r", "\n")


class HeaderInjection(HostileCase):

    def publish_variants(self, topic, data=None, event=None):
        """(how, request thunk) publishing one event three ways."""
        def via_json():
            obj = {"topic": topic, "data": "d" if data is None else data}
            if event is not None:
                obj["event"] = event
            return publish_json(self.port, obj)

        def via_form():
            fields = [("topic", topic), ("data", "d" if data is None else data)]
            if event is not None:
                fields.append(("event", event))
            body = urllib.parse.urlencode(fields, quote_via=urllib.parse.quote).encode()
            return request(self.port, "POST", "/publish",
                           [("Content-Type", "application/x-www-form-urlencoded")], body)

        def via_url():
            q = [("topic", topic)] + ([("event", event)] if event is not None else [])
            target = "/publish?" + urllib.parse.urlencode(q, quote_via=urllib.parse.quote)
            body = ("d" if data is None else data).encode("utf-8")
            return request(self.port, "POST", target, [("Content-Type", "text/plain")], body)
        return [("json", via_json), ("form", via_form), ("url", via_url)]

    def test_event_types_with_line_breaks_refused(self):
        w = self.start_witness()
        t = self.topic("types")
        victim = self.sse(t)
        for bad in BAD_TYPES:
            for how, send in self.publish_variants(t, event=bad):
                with self.subTest(type=bad, via=how):
                    self.assert_json_error(send(), 400, "event type %r via %s" % (bad, how))
        # Nothing reached the stream: the next event is the sentinel.
        eid = publish(self.port, t, "sentinel")
        ev = victim.next_event()
        self.assertEqual((ev.int_id, ev.data, ev.event), (eid, "sentinel", None),
                         "a refused publish reached the stream")
        self.assertFalse(b"\r" in victim.body, "CR on the wire: %r" % bytes(victim.body))
        self.assert_up(w, "event type injection")

    def test_data_cannot_add_fields(self):
        w = self.start_witness()
        t = self.topic("data")
        victim = self.sse(t)
        sent = []
        for d in INJECTING_DATA:
            for how, send in self.publish_variants(t, data=d):
                for event in (None, "legit"):
                    if event is not None and how != "json":
                        continue
                    r = (send() if event is None else
                         publish_json(self.port, {"topic": t, "data": d, "event": event}))
                    self.assertEqual(r.status, 200, "data %r via %s: %r" % (d, how, r))
                    sent.append((r.json()["id"], event, d, how))
        evs = victim.read_n(len(sent), timeout=10)
        for ev, (eid, event, d, how) in zip(evs, sent):
            self.assertEqual((ev.int_id, ev.event, ev.data), (eid, event, normalize_lines(d)),
                             "data %r via %s came out as %r (fields %r)" % (d, how, ev, ev.fields))
            self.assertEqual({k for k, _ in ev.fields} - {"id", "event", "data"}, set(),
                             "data %r via %s added fields %r" % (d, how, ev.fields))
            self.assertEqual([k for k, _ in ev.fields].count("id"), 1, ev.fields)
        self.assertEqual(victim.expect_no_event(0.2), [], "more events than publishes")
        wire = bytes(victim.body)
        self.assertNotIn(b"\r", wire, "a CR reached the stream (a line break for browsers)")
        ids = {str(s[0]).encode() for s in sent}
        for line in wire.split(b"\n")[:-1]:
            self.assertRegex(line, SSE_LINE, "line on the wire is not an SSE field: %r" % line)
            if line.startswith(b"id: "):
                self.assertIn(line[4:], ids, "id line not issued by the server: %r" % line)
            if line.startswith(b"event: "):
                self.assertEqual(line, b"event: legit", "event line not from the publisher's type: %r" % line)
            if line.startswith(b"retry: "):
                self.assertEqual(line, b"retry: 3000")
        self.assert_up(w, "data injection")

    def test_topics_with_control_characters_refused(self):
        w = self.start_witness()
        before = request(self.port, "GET", "/stats").json()["topics"]
        for bad in BAD_TOPICS:
            for how, send in self.publish_variants(bad):
                with self.subTest(topic=bad, via=how):
                    self.assert_json_error(send(), 400, "topic %r via %s" % (bad, how))
            with self.subTest(topic=bad, via="json array"):
                self.assert_json_error(publish_json(self.port, {"topic": ["ok-" + self.topic(), bad], "data": "d"}),
                                       400, "topic list with %r" % bad)
            with self.subTest(topic=bad, via="events"):
                target = "/events?" + urllib.parse.urlencode([("topic", bad)], quote_via=urllib.parse.quote)
                self.assert_json_error(request(self.port, "GET", target), 400, "subscribe to %r" % bad)
        for raw in BAD_TOPIC_BYTES:
            enc = urllib.parse.quote_from_bytes(raw)
            for target, method, hdrs, body in [
                    ("/publish?topic=" + enc, "POST", [("Content-Type", "text/plain")], b"d"),
                    ("/publish", "POST", [("Content-Type", "application/x-www-form-urlencoded")],
                     b"data=d&topic=" + enc.encode()),
                    ("/events?topic=" + enc, "GET", [], None)]:
                with self.subTest(topic=raw, target=target):
                    self.assert_json_error(request(self.port, method, target, hdrs, body), 400,
                                           "topic %r via %s" % (raw, target))
            # raw (not percent-encoded) bytes in the request target
            resp = raw_request(self.port, b"GET /events?topic=" + raw + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(resp.status, 400, "raw topic bytes %r: %r" % (raw, resp))
        after = request(self.port, "GET", "/stats").json()["topics"]
        self.assertEqual(after, before, "refused topics were created")
        self.assert_up(w, "topic injection")

    def test_percent_encoded_crlf_cannot_inject_response_headers(self):
        w = self.start_witness()
        ok = self.topic("ok")
        inj = "%0d%0aSet-Cookie:%20injected=1%0d%0aX-Injected:%201"
        cases = [("GET", "/healthz" + inj, None),
                 ("GET", "/nope" + inj, None),
                 ("GET", "/healthz?x=" + inj, None),
                 ("GET", "/events?topic=" + ok + inj, None),
                 ("GET", "/events?topic=" + ok + "&lastEventId=1" + inj, None),
                 ("POST", "/publish?topic=" + ok + "&event=x" + inj, b"d"),
                 ("POST", "/publish?topic=" + ok + inj, b"d"),
                 ("OPTIONS", "/events" + inj, None),
                 ("PUT", "/publish?" + inj, None),
                 ("GET", "/events?topic=" + ok + "%0d%0a%0d%0a<script>", None),
                 # U+560A U+560D: their low bytes are LF and CR
                 ("GET", "/events?topic=%E5%98%8A%E5%98%8DSet-Cookie:injected", None),
                 ("GET", "/%E5%98%8A%E5%98%8DSet-Cookie:%20injected=1", None)]
        allowed_headers = {"content-type", "content-length", "connection", "access-control-allow-origin",
                           "access-control-allow-methods", "access-control-allow-headers",
                           "access-control-max-age", "allow", "cache-control", "x-accel-buffering",
                           "transfer-encoding", "vary"}
        for method, target, body in cases:
            with self.subTest(method=method, target=target):
                hdrs = [("Content-Type", "text/plain")] if body is not None else []
                bs = BufferedSocket(connect(self.port))
                try:
                    bs.sendall(build_request(method, target, hdrs + [("Connection", "close")], body))
                    head = bs.read_until(b"\r\n\r\n", time.monotonic() + 5)
                finally:
                    bs.close()
                lines = head[:-4].split(b"\r\n")
                self.assertRegex(lines[0], rb"^HTTP/1\.1 [1-5][0-9][0-9] [A-Za-z ]+$", head)
                for line in lines[1:]:
                    self.assertRegex(line, rb"^[A-Za-z-]+: [\x20-\x7e]*$", "bad header line in %r" % head)
                    name = line.split(b":", 1)[0].decode().lower()
                    self.assertIn(name, allowed_headers, "unexpected response header %r in %r" % (line, head))
                self.assertNotIn(b"injected", head.lower(), head)
                self.assertNotIn(b"\n\n", head)
        self.assert_up(w, "response header injection")

    def test_last_event_id_header_cannot_break_the_notice(self):
        w = self.start_witness()
        t = self.topic("lei")
        for value in [b'"}\\', b"\xe2\x80\xa8\xe2\x80\xa9\xc2\x85", b"\xff\xfe", b'1"},"x":{"',
                      b"id: 5", b"data: x", b"9" * 40]:
            with self.subTest(value=value):
                bs = BufferedSocket(connect(self.port))
                self.track(bs)
                bs.sendall(b"GET /events?topic=%s HTTP/1.1\r\nHost: x\r\nLast-Event-ID: %s\r\n\r\n"
                           % (t.encode(), value))
                deadline = time.monotonic() + 5
                head = bs.read_until(b"\r\n\r\n", deadline)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                decoder = ChunkedDecoder()
                stream = bytearray(decoder.feed(bytes(bs.buf)))
                bs.buf.clear()
                while stream.count(b"\n\n") < 2:
                    self.assertTrue(bs.fill(deadline), "stream ended: %r" % bytes(stream))
                    stream += decoder.feed(bytes(bs.buf))
                    bs.buf.clear()
                lines = bytes(stream).split(b"\n")
                self.assertEqual(lines[:3], [b"retry: 3000", b": connected", b""], stream)
                self.assertEqual(lines[3], b"event: herald-history-truncated", stream)
                self.assertTrue(lines[4].startswith(b"data: "), stream)
                doc = json.loads(lines[4][6:].decode("utf-8"))
                self.assertEqual(doc["topics"], [t])
                if value.isascii():
                    self.assertEqual(doc["last_event_id"], value.decode())
                self.assertEqual(lines[5:], [b"", b""], "the notice is not one data line: %r" % bytes(stream))
                bs.close()
        self.assert_up(w, "Last-Event-ID injection")


def raw_request(port, data, timeout=5.0):
    """Send raw bytes, half-close, and return the first response (None if none)."""
    responses, _, _ = exchange_all(port, data, timeout)
    return responses[0] if responses else None


# --------------------------------------------------------------------------
# Oversized and truncated requests
# --------------------------------------------------------------------------

MB = 1024 * 1024


class Oversized(HostileCase):

    def test_oversized_request_parts(self):
        w = self.start_witness()
        base = self.baseline_connections()
        t = self.topic("big")
        mark = self.marker()
        many_topics = "&".join("topic=t%d" % i for i in range(1000))
        cases = [
            ("1 MB request line", b"GET /" + b"a" * MB + b" HTTP/1.1\r\nHost: x\r\n\r\n", (431,)),
            ("1 MB query", b"GET /events?topic=" + b"a" * MB + b" HTTP/1.1\r\nHost: x\r\n\r\n", (431,)),
            ("10,000 tiny headers", b"GET /healthz HTTP/1.1\r\n" + b"a: b\r\n" * 10000 + b"\r\n", (431,)),
            ("1 MB header value", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * MB + b"\r\n\r\n", (431,)),
            ("1 MB header name", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"n" * MB + b": v\r\n\r\n", (431,)),
            ("1 MB Last-Event-ID", b"GET /events?topic=" + t.encode() + b" HTTP/1.1\r\nHost: x\r\nLast-Event-ID: "
             + b"7" * MB + b"\r\n\r\n", (431,)),
            ("1,000 topics on /events", b"GET /events?" + many_topics.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n",
             (400,)),
            ("50,000 topics on /events", b"GET /events?" + "&".join("topic=t%d" % i for i in range(50000)).encode()
             + b" HTTP/1.1\r\nHost: x\r\n\r\n", (431,)),
            ("100 MB announced body", b"POST /publish?topic=" + t.encode() + b" HTTP/1.1\r\nHost: x\r\n"
             b"Content-Type: text/plain\r\nContent-Length: 104857600\r\n\r\n" + b"b" * (3 * MB), (413,)),
            ("3 MB chunked body", b"POST /publish?topic=" + t.encode() + b" HTTP/1.1\r\nHost: x\r\n"
             b"Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
             + b"10000\r\n" + b"c" * 65536 + b"\r\n" + (b"10000\r\n" + b"c" * 65536 + b"\r\n") * 47 + b"0\r\n\r\n",
             (413,)),
            ("one 16 MB chunk", b"POST /publish?topic=" + t.encode() + b" HTTP/1.1\r\nHost: x\r\n"
             b"Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n1000000\r\n" + b"d" * (2 * MB), (413,)),
            ("2 MB JSON array", b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: %d\r\n\r\n" % (2 * MB) + b"[" + b'{"topic":"x","data":"y"},' * (2 * MB // 26),
             (413,)),
        ]
        for name, data, statuses in cases:
            with self.subTest(attack=name):
                start = time.monotonic()
                resp, sent, eof, raw = blast(self.port, data, timeout=10)
                took = time.monotonic() - start
                self.assertIsNotNone(resp, "%s: no response (sent %d of %d bytes, eof=%s, got %r)"
                                     % (name, sent, len(data), eof, raw[:200]))
                self.assert_json_error(resp, resp.status, name)
                self.assertIn(resp.status, statuses, "%s: %r" % (name, resp))
                self.assertLess(took, 5, "%s: took %.1fs to answer" % (name, took))
        self.assert_no_events([t], mark, "oversized publishes")
        self.assert_connections_back(base, 5, "oversized requests")
        self.assert_up(w, "oversized requests")

    def test_huge_json_batches_publish_nothing(self):
        w = self.start_witness()
        t = self.topic("batch")
        mark = self.marker()
        one = json.dumps({"topic": t, "data": "y"})
        count = (MB - 10) // (len(one) + 1)                              # just under 1 MiB
        body = ("[" + ",".join([one] * count) + "]").encode()
        r = request(self.port, "POST", "/publish", [("Content-Type", "application/json")], body, timeout=10)
        self.assert_json_error(r, 413, "%d events in one request" % count)
        # the limit is all or nothing: 101 events with the last one bad publish nothing either
        r = publish_json(self.port, [{"topic": t, "data": str(i)} for i in range(99)] + [{"topic": t}])
        self.assert_json_error(r, 400, "batch whose last event lacks data")
        self.assert_no_events([t], mark, "refused batches")
        # a full batch at the limit goes through, ids consecutive and in order
        sub = self.sse(t)
        r = publish_json(self.port, [{"topic": t, "data": "b%d" % i} for i in range(100)])
        self.assertEqual(r.status, 200, r)
        ids = r.json()["ids"]
        self.assertEqual(ids, list(range(ids[0], ids[0] + 100)))
        got = sub.read_n(100, timeout=5)
        self.assertEqual([(e.int_id, e.data) for e in got], [(i, "b%d" % n) for n, i in enumerate(ids)])
        self.assert_up(w, "huge JSON batches")

    def test_deeply_nested_json(self):
        w = self.start_witness()
        t = self.topic("deep")
        n = 100000
        deep_array = "[" * n + "]" * n
        deep_object = '{"a":' * (n // 2) + "1" + "}" * (n // 2)
        # (name, body, allowed statuses, the event's data if accepted: compact JSON)
        cases = [("100k unclosed [", b"[" * n, (400,), None),
                 ("100k nested arrays as the body", deep_array.encode(), (400,), None),
                 ("100k unclosed { in data", ('{"topic":"%s","data":' % t + '{"a":' * n).encode(), (400,), None),
                 ("100k nested arrays as data", ('{"topic":"%s","data":%s}' % (t, deep_array)).encode(),
                  (200, 400, 413), deep_array),
                 ("50k nested objects as data", ('{"topic":"%s","data":%s}' % (t, deep_object)).encode(),
                  (200, 400, 413), deep_object),
                 ("nested arrays as data in a batch", ('[{"topic":"%s","data":%s}]' % (t, deep_array)).encode(),
                  (200, 400, 413), deep_array)]
        sub = self.sse(t)
        for name, body, statuses, data in cases:
            if not self.server.alive():
                break       # the failure of the case that killed it says it all
            with self.subTest(attack=name):
                try:
                    r = request(self.port, "POST", "/publish", [("Content-Type", "application/json")], body,
                                timeout=10)
                except (EOFError, OSError, HeraldTimeout) as e:
                    self.server.wait_exit(1)
                    self.fail("%s (POST /publish, Content-Type: application/json, %d-byte body %r...): no answer "
                              "(%r); herald alive: %s, exit %r"
                              % (name, len(body), body[:60], e, self.server.alive(), self.server.proc.poll()))
                self.assertIn(r.status, statuses, "%s: %r" % (name, r))
                if r.status == 200:
                    ev = sub.next_event(5)
                    # (compared as text: Python's json module cannot nest this deep)
                    self.assertEqual(ev.data, data, "%s: delivered data differs" % name)
                else:
                    self.assert_json_error(r, r.status, name)
        if self.server.alive():         # else a subtest has said how it died
            self.assert_up(w, "deeply nested JSON")

    def test_truncated_requests_then_close(self):
        w = self.start_witness()
        base = self.baseline_connections()
        t = self.topic("trunc")
        mark = self.marker()
        tt = t.encode()
        partials = [
            b"GET /heal",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Part",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
            b"POST /publish?topic=" + tt + b" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 100\r\n\r\nabc",
            b"POST /publish?topic=" + tt + b" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n10\r\nabc",
            b"POST /publish?topic=" + tt + b" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n1",
            b"POST /publish?topic=" + tt + b" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
            b"GET /events?topic=" + tt + b" HTTP/1.1\r\nHost: x\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHo",
        ]
        socks = []
        start = time.monotonic()
        for round_ in range(20):
            for i, p in enumerate(partials):
                s = connect(self.port)
                s.sendall(p)
                socks.append((s, (round_ + i) % 2 == 0))
        time.sleep(0.05)
        for s, rst in socks:
            if rst:
                close_rst(s)
            else:
                s.close()
        self.assert_connections_back(base, 5, "truncated requests closed by the client")
        took = time.monotonic() - start
        self.assertLess(took, HEADER_TIMEOUT + 1.5,
                        "closed connections were only noticed by the timeouts (%.1fs)" % took)
        # The same partial requests, left open: the server ends each within its timeout.
        held = []
        for p in partials:
            bs = BufferedSocket(connect(self.port))
            self.track(bs)
            bs.sendall(p)
            held.append((p, bs))
        deadline = time.monotonic() + HEADER_TIMEOUT + 3
        for p, bs in held:
            try:
                while not bs.eof:
                    bs.fill(deadline)
            except HeraldTimeout:
                self.fail("partial request %r still open after %.1fs" % (p, HEADER_TIMEOUT + 3))
            got = bytes(bs.buf)
            if p.endswith(b"Ho"):
                self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got)
                got = got[got.index(b"}\n") + 2:]
            if got:
                self.assertTrue(got.startswith(b"HTTP/1.1 408 "), "partial request %r answered %r" % (p, got))
        self.assert_no_events([t], mark, "truncated publishes")
        self.assert_connections_back(base, 5, "truncated requests")
        self.assert_up(w, "truncated requests")

    def test_invalid_utf8_everywhere(self):
        w = self.start_witness()
        t = self.topic("utf8")
        tt = t.encode()
        sub = self.sse(t)
        bad = b"\xff\xfe\xc0\xaf\xed\xa0\x80"

        def post(target, ctype, body):
            return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                    % (target, ctype, len(body)) + body)
        json_t, form_t = b"application/json", b"application/x-www-form-urlencoded"
        refused = [
            ("path", b"GET /" + bad + b" HTTP/1.1\r\nHost: x\r\n\r\n", (400, 404)),
            ("raw topic", b"GET /events?topic=" + bad + b" HTTP/1.1\r\nHost: x\r\n\r\n", (400,)),
            ("encoded topic", b"GET /events?topic=%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n", (400,)),
            ("publish topic", post(b"/publish?topic=a%c0%af", b"text/plain", b"d"), (400,)),
            ("header name", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-" + bad + b": v\r\n\r\n", (400,)),
            ("method", b"G\xffT /healthz HTTP/1.1\r\nHost: x\r\n\r\n", (400,)),
            ("version", b"GET /healthz HTTP/1.\xff\r\nHost: x\r\n\r\n", (400, 505)),
            ("JSON data", post(b"/publish", json_t, b'{"topic":"' + tt + b'","data":"' + bad + b'"}'), (400,)),
            ("JSON topic", post(b"/publish", json_t, b'{"topic":"' + bad + b'","data":"d"}'), (400,)),
            ("JSON key", post(b"/publish", json_t, b'{"topic":"' + tt + b'","data":"d","' + bad + b'":1}'), (400,)),
            ("JSON escaped lone surrogate topic", post(b"/publish", json_t, b'{"topic":"\\udc80","data":"d"}'),
             (400,)),
            ("form topic", post(b"/publish", form_t, b"topic=%ff%fe&data=abc"), (400,)),
            ("content type", post(b"/publish", b"text/" + bad, b"d"), (400, 415)),
        ]
        for name, data, statuses in refused:
            with self.subTest(where=name):
                r = raw_request(self.port, data)
                self.assertIsNotNone(r, "%s: no answer to %r" % (name, data))
                self.assertIn(r.status, statuses, "%s: %r" % (name, r))
                self.assert_json_error(r, r.status, name)
                r.body.decode("utf-8")      # error bodies are valid UTF-8 whatever came in
        # header values may carry obs-text; a request with one is still served correctly
        r = raw_request(self.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Junk: " + bad + b"\r\n\r\n")
        self.assertIn(r.status, (200, 400), r)
        # Data and event types are refused too: a browser would decode them to something else.
        for name, data in [
                ("raw body", post(b"/publish?topic=" + tt, b"text/plain", bad)),
                ("form data", post(b"/publish", form_t, b"topic=" + tt + b"&data=%ff%fe%c0%af")),
                ("event type", post(b"/publish?topic=" + tt + b"&event=%ff%fe", b"text/plain", b"d"))]:
            with self.subTest(where=name):
                r = raw_request(self.port, data)
                self.assert_json_error(r, 400, name)
                self.assertIn("not UTF-8", r.json()["error"], name)
        eid = publish(self.port, t, "valid after invalid")
        self.assertEqual(sub.next_event().int_id, eid, "nothing invalid reached the stream before it")
        for line in bytes(sub.body).split(b"\n")[:-1]:
            self.assertRegex(line, SSE_LINE, line)
        # Last-Event-ID of invalid UTF-8: the notice is valid UTF-8 JSON
        c = self.sse(t, headers=[("Last-Event-ID", bad.decode("latin-1"))])
        ev = c.next_event()
        self.assertEqual(ev.event, "herald-history-truncated")
        self.assertEqual(c.parser.errors, [], "the notice is not valid UTF-8")
        self.assertEqual(json.loads(ev.data)["topics"], [t])
        self.assert_up(w, "invalid UTF-8")


# --------------------------------------------------------------------------
# Connection floods
# --------------------------------------------------------------------------

class ChunkFramingFlood(HostileCase):
    """Chunk framing carries no body byte, yet every byte of it is read: a chunk-size line
    that never ends is refused once it passes --max-header-bytes (16 KiB here), long before
    the body limit."""

    def test_endless_chunk_size_lines_are_refused_at_once(self):
        w = self.start_witness()
        base = self.baseline_connections()
        t = self.topic("framing")
        mark = self.marker()
        head = (b"POST /publish?topic=" + t.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        pid = self.server.proc.pid
        for name, first, filler in [("endless chunk extension", b"1;ext=", b"x"),
                                    ("endless leading zeros in a chunk size", b"", b"0")]:
            with self.subTest(attack=name):
                before = rss(pid)
                resp, sent, eof = flood(self.port, head + first, filler, cap=32 * MB, sndbuf=128 * 1024)
                growth = rss(pid) - before
                if os.environ.get("HERALD_HOSTILE_DEBUG"):
                    sys.stderr.write("[%s: %s after %d bytes sent, RSS %+d] " % (name, resp and resp.status, sent, growth))
                self.assertIsNotNone(resp, "%s: no answer after %d bytes (eof=%s)" % (name, sent, eof))
                self.assertIn(resp.status, (400, 413), "%s: %r" % (name, resp))
                self.assert_json_error(resp, resp.status, name)
                # The answer comes after 16 KiB; the rest is what the sockets held meanwhile and
                # what the server drains (1 MiB at most) so that its answer is not reset away.
                self.assertLessEqual(sent, 4 * MB, "%s: the server read %d bytes before answering" % (name, sent))
                self.assertLessEqual(growth, 4 * MB, "%s: RSS grew by %d bytes" % (name, growth))
        self.assert_no_events([t], mark, "chunk framing floods")
        self.assert_connections_back(base, 5, "chunk framing floods")
        self.assert_up(w, "chunk framing floods")


class FastEndlessBody(HostileCase):
    """A valid chunked body sent flat out in 1-byte chunks: every read completes at once, so
    a timer that only cancels a pending read never ends it. The limits are far above what one
    body timeout lets through, so only the deadline can answer (408)."""
    BODY_TIMEOUT = 0.5
    MAX_BODY = 256 * MB
    SERVER_ARGS = SERVER_ARGS + ["--body-timeout", "500ms", "--max-body-bytes", str(256 * MB)]

    def test_fast_endless_body_gets_408_at_the_body_timeout(self):
        w = self.start_witness()
        base = self.baseline_connections()
        t = self.topic("fast")
        mark = self.marker()
        head = (b"POST /publish?topic=" + t.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        pid = self.server.proc.pid
        before = rss(pid)
        start = time.monotonic()
        resp, sent, eof = flood(self.port, head, b"1\r\nx\r\n", cap=self.MAX_BODY)
        took = time.monotonic() - start
        growth = rss(pid) - before
        if os.environ.get("HERALD_HOSTILE_DEBUG"):
            sys.stderr.write("[fast body: %s after %.2fs, %d bytes sent, RSS %+d] " % (resp and resp.status, took, sent, growth))
        self.assertIsNotNone(resp, "no answer after %.1fs and %d bytes (eof=%s)" % (took, sent, eof))
        self.assertEqual(resp.status, 408, "a body sent flat out for longer than --body-timeout: %r" % resp)
        self.assert_json_error(resp, 408, "fast endless body")
        self.assertLess(took, self.BODY_TIMEOUT + 1.5, "the 408 came %.1fs after the head" % took)
        # The server keeps one body byte of every six it reads.
        self.assertLessEqual(growth, sent // 2 + 4 * MB, "RSS grew by %d bytes for %d sent" % (growth, sent))
        self.assert_no_events([t], mark, "fast endless body")
        self.assert_connections_back(base, 5, "fast endless body")
        self.assert_up(w, "fast endless body")


class HalfOpenFlood(HostileCase):
    N = 3000

    def test_thousands_of_half_open_connections(self):
        w = self.start_witness()
        base = self.baseline_connections()
        socks = []
        try:
            opened_at = time.monotonic()
            for i in range(self.N):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.settimeout(5)
                s.connect(("127.0.0.1", self.port))
                if i % 2:
                    s.send(b"GET /heal"[:1 + i % 9])
            opened = time.monotonic() - opened_at
            # While they are held: the server counts them, and serves everyone else.
            peak = [0]

            def counted():
                peak[0] = max(peak[0], open_connections(self.port))
                return peak[0] >= base + self.N
            self.assertTrue(wait_until(counted, 2, 0.1) or time.monotonic() - opened_at > HEADER_TIMEOUT,
                            "the server saw only %d of %d half-open connections" % (peak[0] - base, self.N))
            for _ in range(10):
                t0 = time.monotonic()
                r = request(self.port, "GET", "/healthz", timeout=3)
                self.assertEqual(r.status, 200, "new client during the flood: %r" % r)
                self.assertLess(time.monotonic() - t0, 1.0, "new client waited during the flood")
            self.assert_server_healthy("during the half-open flood")
            if time.monotonic() - opened_at < HEADER_TIMEOUT - 0.2:
                self.assertGreaterEqual(open_connections(self.port), base + self.N - 5,
                                        "half-open connections dropped before the header timeout")
            # After the header timeout the server closes every one of them.
            self.assert_connections_back(base, HEADER_TIMEOUT + opened + 4, "half-open connections")
            poller = select.poll()
            by_fd = {}
            for s in socks:
                poller.register(s.fileno(), select.POLLIN)
                by_fd[s.fileno()] = s
            pending = set(by_fd)
            statuses = {}
            deadline = time.monotonic() + 3
            while pending and time.monotonic() < deadline:
                for fd, _ in poller.poll(200):
                    if fd not in pending:
                        continue
                    s = by_fd[fd]
                    try:
                        got = s.recv(4096)
                    except (ConnectionResetError, OSError):
                        got = b""
                    # everything a server sends here is one small 408
                    while got and not got.endswith(b"}\n"):
                        more = s.recv(4096)
                        if not more:
                            break
                        got += more
                    status = got[9:12].decode() if got else "closed"
                    statuses[status] = statuses.get(status, 0) + 1
                    pending.discard(fd)
                    poller.unregister(fd)
            self.assertFalse(pending, "%d half-open connections never closed by the server" % len(pending))
            self.assertEqual(set(statuses) - {"408", "closed"}, set(), "answers: %r" % statuses)
        finally:
            for s in socks:
                s.close()
        self.assert_connections_back(base, 3, "half-open connections")
        self.assert_up(w, "half-open flood")


class Slowloris(HostileCase):

    def test_slowloris_body(self):
        w = self.start_witness()
        base = self.baseline_connections()
        t = self.topic("slow")
        mark = self.marker()
        tt = t.encode()
        heads = [b"POST /publish?topic=" + tt + b" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                 b"Content-Length: 1000\r\n\r\n",
                 b"POST /publish?topic=" + tt + b" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n3e8\r\n",
                 b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n",
                 b"POST /publish?topic=" + tt + b" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                 b"Expect: 100-continue\r\nContent-Length: 1000\r\n\r\n"]
        conns = []
        for i in range(24):
            bs = BufferedSocket(connect(self.port))
            self.track(bs)
            bs.sendall(heads[i % len(heads)])
            conns.append({"bs": bs, "start": time.monotonic(), "end": None, "sent": 0, "head": heads[i % len(heads)]})
        body_byte = b"x"
        while time.monotonic() - conns[0]["start"] < BODY_TIMEOUT + 3 and any(c["end"] is None for c in conns):
            for c in conns:
                if c["end"] is not None:
                    continue
                bs = c["bs"]
                try:
                    bs.sock.send(body_byte if c["sent"] else b'{')
                    c["sent"] += 1
                except OSError:
                    c["end"] = time.monotonic()
                    continue
                r, _, _ = select.select([bs.sock], [], [], 0)
                if r:
                    try:
                        bs.fill(time.monotonic() + 0.1)
                    except HeraldTimeout:
                        pass
                    if bs.eof or b"HTTP/1.1 408" in bs.buf:
                        c["end"] = time.monotonic()
            time.sleep(0.2)
        for i, c in enumerate(conns):
            self.assertIsNotNone(c["end"], "slowloris body still open after %.1fs (--body-timeout %.0fs): sent %r "
                                 "then %d body bytes, one per 200 ms; received %r"
                                 % (time.monotonic() - c["start"], BODY_TIMEOUT, c["head"], c["sent"],
                                    bytes(c["bs"].buf)))
            took = c["end"] - c["start"]
            self.assertLess(took, BODY_TIMEOUT + 1.5, "a trickled body kept its connection %.1fs" % took)
            got = bytes(c["bs"].buf).replace(b"HTTP/1.1 100 Continue\r\n\r\n", b"")
            if got:
                self.assertTrue(got.startswith(b"HTTP/1.1 408 "), "trickled body answered %r" % got[:200])
        self.assert_no_events([t], mark, "trickled publishes")
        for c in conns:
            c["bs"].close()
        self.assert_connections_back(base, 3, "slowloris")
        self.assert_up(w, "slowloris body")


class Churn(HostileCase):

    def test_connection_churn(self):
        w = self.start_witness()
        base = self.baseline_connections()
        accepted_before = metrics(self.port)["herald_connections_accepted_total"]
        sub_topic = self.topic("churn")
        streams = []
        n = 2000
        start = time.monotonic()
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect(("127.0.0.1", self.port))
                kind = i % 6
                if kind == 1:
                    close_rst(s)
                    continue
                if kind == 2:
                    s.send(b"GET /healthz HTTP/1.1\r\nHo")
                    close_rst(s)
                    continue
                if kind == 3:
                    s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")   # close without reading
                elif kind == 4:
                    s.send(b"GET /events?topic=" + sub_topic.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                    if i % 12 == 4:
                        close_rst(s)
                        continue
                elif kind == 5 and i % 60 == 5:
                    # now and then a client that does wait for its answer
                    bs = BufferedSocket(s)
                    bs.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    r = read_response(bs, time.monotonic() + 3)
                    self.assertEqual(r.status, 200, "a client during the churn: %r" % r)
                    if i % 120 == 5:
                        streams.append(self.sse(sub_topic))
            finally:
                s.close()
        took = time.monotonic() - start
        # every cycle reached the server
        self.assertTrue(wait_until(lambda: metrics(self.port)["herald_connections_accepted_total"]
                                   >= accepted_before + n, 3),
                        "the server accepted fewer than the %d churned connections" % n)
        self.assert_connections_back(base + len(streams), 5, "connection churn (%.1fs)" % took)
        # streams opened during the churn work
        eid = publish(self.port, sub_topic, "after churn")
        for s in streams:
            ev = s.next_event()
            self.assertEqual((ev.int_id, ev.data), (eid, "after churn"))
            s.close()
        self.assert_connections_back(base, 3, "connection churn")
        self.assertNotIn("accept failed", self.server.log())
        self.assert_up(w, "connection churn")


class PipeliningFlood(HostileCase):

    def flood(self, n, t, bad_at=None):
        reqs = []
        kinds = []
        for i in range(n):
            if i == bad_at:
                reqs.append(b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n")
                kinds.append("bad")
                continue
            k = i % 5
            if k in (0, 3):
                reqs.append(b"POST /publish?topic=%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                            b"Content-Length: %d\r\n\r\np-%d" % (t.encode(), len("p-%d" % i), i))
                kinds.append("publish")
            elif k == 1:
                reqs.append(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                kinds.append("healthz")
            elif k == 2:
                reqs.append(b"HEAD /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
                kinds.append("head")
            else:
                reqs.append(b"OPTIONS /events HTTP/1.1\r\nHost: x\r\n\r\n")
                kinds.append("options")
        reqs[-1] = reqs[-1].replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n", 1)
        return b"".join(reqs), kinds

    def send_and_read(self, data, kinds):
        bs = BufferedSocket(connect(self.port, 10))
        self.track(bs)
        send_error = []

        def sender():
            try:
                bs.sock.sendall(data)       # one send of every request
            except OSError as e:
                send_error.append(e)
        th = threading.Thread(target=sender, daemon=True)
        th.start()
        responses = []
        deadline = time.monotonic() + 20
        for k in kinds:
            try:
                responses.append(read_response(bs, deadline, method="HEAD" if k == "head" else "GET"))
            except EOFError:
                break
        th.join(10)
        return bs, responses

    def check(self, i, kind, r, t):
        if kind == "publish":
            self.assertEqual(r.status, 200, "response %d (publish): %r" % (i, r))
            return r.json()["id"]
        if kind == "healthz":
            self.assertEqual((r.status, r.body), (200, b'{"status":"ok"}\n'), "response %d (healthz): %r" % (i, r))
        elif kind == "head":
            self.assertEqual((r.status, r.body), (200, b""), "response %d (HEAD /readyz): %r" % (i, r))
        elif kind == "options":
            self.assertEqual((r.status, r.header("Allow")), (204, "GET, OPTIONS"), "response %d (OPTIONS): %r"
                             % (i, r))
        elif kind == "bad":
            self.assert_json_error(r, 400, "response %d (malformed)" % i)
        return None

    def test_pipelining_flood(self):
        w = self.start_witness()
        t = self.topic("pipe")
        sub = self.sse(t, timeout=10)
        data, kinds = self.flood(1000, t)
        bs, responses = self.send_and_read(data, kinds)
        self.assertEqual(len(responses), len(kinds), "only %d of %d pipelined requests answered"
                         % (len(responses), len(kinds)))
        ids = []
        for i, (kind, r) in enumerate(zip(kinds, responses)):
            eid = self.check(i, kind, r, t)
            if eid is not None:
                ids.append((eid, i))
        self.assertEqual([e for e, _ in ids], sorted(e for e, _ in ids), "publish answers out of order")
        self.assertTrue(wait_until(lambda: bs.eof or bs.fill(time.monotonic() + 2) == 0, 3),
                        "connection not closed after the last (Connection: close) request")
        self.assertEqual(bytes(bs.buf), b"", "bytes after the last response")
        evs = sub.read_n(len(ids), timeout=10)
        self.assertEqual([(e.int_id, e.data) for e in evs], [(eid, "p-%d" % i) for eid, i in ids])
        self.assert_up(w, "pipelining flood")

    def test_pipelined_requests_after_a_bad_one_are_not_run(self):
        w = self.start_witness()
        t = self.topic("pipebad")
        mark = self.marker()
        data, kinds = self.flood(1000, t, bad_at=500)
        bs, responses = self.send_and_read(data, kinds)
        self.assertEqual(len(responses), 501, "expected answers up to and including the malformed request, "
                                              "got %d" % len(responses))
        for i, (kind, r) in enumerate(zip(kinds, responses)):
            self.check(i, kind, r, t)
        self.assertEqual(responses[-1].header("Connection"), "close")
        published = [i for i, k in enumerate(kinds[:500]) if k == "publish"]
        evs = history(self.port, [t], mark)
        self.assertEqual([e.data for e in evs], ["p-%d" % i for i in published],
                         "requests after the malformed one were executed")
        self.assert_up(w, "pipelined requests after a bad one")


class AbruptSubscribers(HostileCase):
    SERVER_ARGS = SERVER_ARGS + ["--max-pending-bytes", "262144"]

    def test_reset_mid_backlog(self):
        w = self.start_witness()
        base = self.baseline_connections()
        streams_base = metrics(self.port)["herald_streams_open"]
        t = self.topic("backlog")
        mark = self.marker()
        ids = []
        payload = "b" * 4000
        for batch in range(4):
            r = publish_json(self.port, [{"topic": t, "data": "%d:%d:%s" % (batch, i, payload)} for i in range(100)])
            self.assertEqual(r.status, 200, r)
            ids += r.json()["ids"]
        target = b"GET /events?topic=%s HTTP/1.1\r\nHost: x\r\nLast-Event-ID: %d\r\n\r\n" % (t.encode(), mark)
        # Replays of 1.6 MB cut by a reset after a few KB, one at a time and many at once.
        for round_ in range(3):
            socks = []
            for i in range(10 if round_ else 1):
                s = connect(self.port, rcvbuf=4096)
                s.sendall(target)
                socks.append(s)
            for s in socks:
                got = 0
                deadline = time.monotonic() + 5
                while got < 8192 and time.monotonic() < deadline:
                    d = s.recv(4096)
                    if not d:
                        break
                    got += len(d)
                self.assertGreater(got, 0)
            for s in socks:
                close_rst(s)
        # A live subscriber that stops reading, then resets while big events are being written.
        live = []
        for i in range(5):
            s = connect(self.port, rcvbuf=4096)
            s.sendall(b"GET /events?topic=%s HTTP/1.1\r\nHost: x\r\n\r\n" % t.encode())
            live.append(s)
        time.sleep(0.1)
        more = []
        for i in range(20):
            more.append(publish(self.port, t, "live-%d-%s" % (i, payload)))
            if i == 10:
                for s in live:
                    close_rst(s)
        ids += more
        self.assertTrue(wait_until(lambda: metrics(self.port)["herald_streams_open"] <= streams_base, 5),
                        "streams of reset subscribers were not closed: %r"
                        % metrics(self.port)["herald_streams_open"])
        self.assert_connections_back(base, 5, "reset subscribers")
        # The full backlog is intact for the next subscriber.
        evs = history(self.port, [t], mark, timeout=10)
        self.assertEqual([e.int_id for e in evs], ids)
        self.assertTrue(evs[0].data.startswith("0:0:") and evs[-1].data.startswith("live-19-"))
        self.assert_up(w, "subscribers reset mid-write")



# --------------------------------------------------------------------------
# Streams that cost memory or time: non-reading TLS resumers, stuck writes,
# clients that talk on their stream
# --------------------------------------------------------------------------

def rss_bytes(pid):
    """VmRSS of a process, in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)


def bytes_sent(port):
    return int(metrics(port)["herald_bytes_sent_total"])


def settled(read, timeout, interval=0.2):
    """Polls read() until two readings in a row are equal (or the timeout); returns the last."""
    last = read()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(interval)
        now = read()
        if now == last:
            return now
        last = now
    return last


class TlsResumers(HostileCase):
    """HTTPS clients resuming megabytes of history without reading: each holds a
    record-sized copy of its write, not a copy of its whole replay, and gives even
    that back once it has caught up."""

    CLIENTS = 10
    EVENTS = 3000          # of 1 KB: 3 MB of history

    @classmethod
    def setUpClass(cls):
        from test_tls import TlsHeraldServer, certs, tls_args
        certs()
        cls.make = staticmethod(lambda: TlsHeraldServer(SERVER_ARGS + tls_args()))
        cls.server = cls.make()
        cls.server.start()

    def setUp(self):
        from test_tls import client_context
        self._closers = []
        if not self.server.alive():
            type(self).server = self.make()
            type(self).server.start()
        self.ctx = client_context()

    def test_non_reading_tls_resumers_hold_little_and_release_it(self):
        w = self.start_witness()
        base = self.baseline_connections()
        t = self.topic("resume")
        mark = self.marker()
        ids = []
        pub = self.track(HttpConnection(self.port))
        for start in range(0, self.EVENTS, 100):
            r = publish_json(self.port, [{"topic": t, "data": "%05d|%s" % (i, "r" * 1000)}
                                         for i in range(start, start + 100)], conn=pub)
            self.assertEqual(r.status, 200, r)
            ids += r.json()["ids"]
        replay_bytes = self.EVENTS * 1024
        pid = self.server.proc.pid
        rss_start = settled(lambda: rss_bytes(pid), 2)
        sent_start = bytes_sent(self.port)
        clients = [self.track(SSEClient(self.server.tls_port, [t], last_event_id=mark, rcvbuf=4096,
                                        wait_ready=False, tls=self.ctx, timeout=10))
                   for _ in range(self.CLIENTS)]
        for c in clients:
            self.assertEqual(c.status, 200, c.response)
        # Nobody reads: the server writes until the sockets are full, then waits.
        sent = settled(lambda: bytes_sent(self.port), 3, 0.3) - sent_start
        rss_stalled = rss_bytes(pid)
        growth = rss_stalled - rss_start
        if os.environ.get("HERALD_HOSTILE_DEBUG"):
            sys.stderr.write("[tls resumers: start %d KB, stalled +%d KB, %d KB sent, %d KB of replays] "
                             % (rss_start >> 10, growth >> 10, sent >> 10, self.CLIENTS * replay_bytes >> 10))
        # What the kernel took is gone from the server; what is left should cost a piece
        # of a write per stream, not a copy of each whole replay.
        bound = sent // 2 + self.CLIENTS * 256 * 1024
        self.assertLess(growth, bound,
                        "%d TLS streams stalled in a %d KB replay grew the server by %d KB, having sent %d KB "
                        "(bound: half of that plus 256 KB a stream; a copy of each whole replay is %d KB)"
                        % (self.CLIENTS, replay_bytes >> 10, growth >> 10, sent >> 10,
                           self.CLIENTS * replay_bytes >> 10))
        # They catch up, every one with every event in order, and go idle.
        for i, c in enumerate(clients):
            evs = c.read_until_id(ids[-1], timeout=20)
            if i == 0:
                self.assertEqual([e.int_id for e in evs], ids, "a resumer got the replay wrong")
                self.assertTrue(all(e.data.startswith("%05d|" % k) for k, e in enumerate(evs)))
            else:
                self.assertEqual((len(evs), evs[-1].int_id), (len(ids), ids[-1]))
        time.sleep(0.3)
        rss_idle = settled(lambda: rss_bytes(pid), 2)
        if os.environ.get("HERALD_HOSTILE_DEBUG"):
            sys.stderr.write("[idle: +%d KB over the start] " % ((rss_idle - rss_start) >> 10))
        self.assertLess(rss_idle - rss_start, self.CLIENTS * replay_bytes // 8,
                        "%d idle TLS streams that caught up on a %d KB replay still hold %d KB more than "
                        "before they came" % (self.CLIENTS, replay_bytes >> 10, (rss_idle - rss_start) >> 10))
        for c in clients:
            c.close()
        pub.close()
        self.assert_connections_back(base, 5, "TLS resumers")
        self.assert_up(w, "non-reading TLS resumers")

    def test_tls_stream_client_sending_endless_bytes_is_closed(self):
        w = self.start_witness()
        before = metrics(self.port).get("herald_stream_input_disconnects_total", 0)
        sent, closed = flood_stream(self, self.server.tls_port, tls=self.ctx)
        self.assertTrue(closed, "a TLS stream whose client sent %d MB in 5 s is still open" % (sent // MB))
        self.assertLess(sent, 64 * MB, "the TLS stream took %d MB of junk before closing" % (sent // MB))
        self.assertTrue(wait_until(lambda: metrics(self.port)["herald_stream_input_disconnects_total"]
                                   >= before + 1, 3), "the closed TLS stream was not counted")
        self.assert_up(w, "TLS stream client sending endless bytes")


class StuckWrites(HostileCase):
    """--write-timeout: a subscriber that stops reading with nothing more to come is cut
    once its write has made no progress for that long."""

    WRITE_TIMEOUT = 1.0
    # A budget that the burst below fits in, so the stream is not cut as a slow consumer first.
    SERVER_ARGS = SERVER_ARGS + ["--write-timeout", "1s", "--max-pending-bytes", "16m"]

    def test_stuck_subscriber_cut_by_write_timeout(self):
        w = self.start_witness()
        base = self.baseline_connections()
        before = metrics(self.port)["herald_write_timeouts_total"]
        t = self.topic("stuck")
        s = connect(self.port, rcvbuf=4096)
        self.track(s)
        s.sendall(b"GET /events?topic=%s HTTP/1.1\r\nHost: x\r\n\r\n" % t.encode())
        time.sleep(0.1)
        # A few large events, then silence: 8 MB, more than the sockets between us hold.
        for _ in range(10):
            r = publish_json(self.port, [{"topic": t, "data": "s" * 200000} for _ in range(4)])
            self.assertEqual(r.status, 200, r)
        stalled_at = time.monotonic()
        # The witness's stream keeps its write moving, so it is never cut.
        self.assertTrue(wait_until(lambda: metrics(self.port)["herald_write_timeouts_total"] > before,
                                   self.WRITE_TIMEOUT + 4),
                        "a stream whose write was stuck for %.1fs (--write-timeout %.0fs) was not closed"
                        % (time.monotonic() - stalled_at, self.WRITE_TIMEOUT))
        self.assertEqual(metrics(self.port)["herald_write_timeouts_total"], before + 1,
                         "more streams than the stuck one timed out")
        self.assertEqual(request(self.port, "GET", "/stats").json()["write_timeouts"], before + 1)
        s.close()
        self.assert_connections_back(base, 3, "stuck subscriber")
        self.assertIn("made no progress", self.server.log())
        self.assert_up(w, "stuck subscriber")


class TalkativeStreamClients(HostileCase):
    """A stream's client has nothing to say after its request: one that keeps sending
    is closed after a few KB instead of costing a core."""

    SERVER_ARGS = SERVER_ARGS + ["--log-level", "debug"]

    def test_stream_client_sending_endless_bytes_is_closed(self):
        w = self.start_witness()
        base = self.baseline_connections()
        before = metrics(self.port).get("herald_stream_input_disconnects_total", 0)
        sent, closed = flood_stream(self, self.port)
        self.assertTrue(closed, "a stream whose client sent %d MB in 5 s is still open" % (sent // MB))
        self.assertLess(sent, 64 * MB, "the stream took %d MB of junk before closing" % (sent // MB))
        self.assertTrue(wait_until(lambda: metrics(self.port)["herald_stream_input_disconnects_total"]
                                   >= before + 1, 3), "the closed stream was not counted")
        self.assertIn("sent more than 4096 bytes after its request", self.server.log())
        # A client that sends a little (a stray pipelined request) keeps its stream.
        t = self.topic("polite")
        c = self.sse(t)
        c.bs.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.1)
        eid = publish(self.port, t, "still here")
        self.assertEqual(c.next_event().int_id, eid)
        c.close()
        self.assert_connections_back(base, 3, "talkative stream clients")
        self.assert_up(w, "stream client sending endless bytes")


def flood_stream(tc, port, tls=None):
    """Opens a stream and sends it endless bytes for up to 5 s; returns (bytes sent, closed)."""
    import ssl
    t = tc.topic("talk")
    s = connect(port, tls=tls)
    tc.track(s)
    s.sendall(b"GET /events?topic=%s HTTP/1.1\r\nHost: x\r\n\r\n" % t.encode())
    s.settimeout(0.05)
    junk = b"x" * 16384
    sent = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sent < 256 * MB:
        try:
            sent += s.send(junk)
        except socket.timeout:
            pass
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return sent, True
    return sent, False


# --------------------------------------------------------------------------
# Topic floods
# --------------------------------------------------------------------------

def topic_count(port):
    return request(port, "GET", "/stats", timeout=5).json()["topics"]


def flood_body(prefix, start, events, per_event):
    """A JSON batch of `events` events, each naming `per_event` topics never used before."""
    batch = [{"topic": ["%s-%d" % (prefix, start + e * per_event + k) for k in range(per_event)], "data": "f"}
             for e in range(events)]
    return json.dumps(batch).encode()


class TopicFlood(HostileCase):
    """Publishes that each name thousands of new topics: refused beyond
    --max-topics-per-event (413) and --max-topics (503, nothing of it published),
    memory bounded by the topic limit, and other publishers never stalled."""

    MAX_TOPICS = 5000
    PER_EVENT = 64
    SERVER_ARGS = SERVER_ARGS + ["--max-topics", str(MAX_TOPICS), "--max-topics-per-event", str(PER_EVENT)]
    # Bound on what the topics may cost: 2 KiB per topic the limit admits (a topic with one
    # event costs about 0.5 KiB), against 100+ KiB per request without the limit.
    BYTES_PER_TOPIC = 2048

    def post(self, body):
        return request(self.port, "POST", "/publish", [("Content-Type", "application/json")], body, timeout=10)

    def test_topic_flood(self):
        w = self.start_witness()
        pid = self.server.proc.pid
        prefix = self.topic("flood")
        rss_start = rss_bytes(pid)
        topics_start = topic_count(self.port)

        # One event naming too many topics: 413 before the broker is touched.
        big = json.dumps({"topic": ["%s-big-%d" % (prefix, i) for i in range(5000)], "data": "x"}).encode()
        r = self.post(big)
        self.assert_json_error(r, 413, "an event on 5000 topics")
        self.assertIn("max-topics-per-event", r.json()["error"])
        self.assertEqual(topic_count(self.port), topics_start, "the refused event created topics")

        # Many publishes of 10 events x 64 new topics each, for two seconds, from two threads.
        statuses = {}
        sent = [0]
        lock = threading.Lock()
        stop = time.monotonic() + 2.0

        def flooder(k):
            conn = HttpConnection(self.port)
            i = 0
            try:
                while time.monotonic() < stop:
                    body = flood_body("%s-%d" % (prefix, k), i * 640, 10, self.PER_EVENT)
                    i += 1
                    r = conn.request("POST", "/publish", [("Content-Type", "application/json")], body)
                    with lock:
                        statuses[r.status] = statuses.get(r.status, 0) + 1
                        sent[0] += len(body)
                    if r.status == 503:
                        self.assertIn("max-topics", r.json()["error"])
            finally:
                conn.close()
        threads = [threading.Thread(target=flooder, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(set(statuses) - {200, 503}, set(), "flood answers: %r" % statuses)
        self.assertGreater(statuses.get(503, 0), 0, "no publish was refused for --max-topics: %r" % statuses)
        topics_full = topic_count(self.port)
        self.assertLessEqual(topics_full, self.MAX_TOPICS, "more topics than --max-topics")
        self.assertGreater(topics_full, self.MAX_TOPICS - 640, "the limit refused publishes that fit")

        # Filled to the limit exactly, a publish creating one topic more is refused whole;
        # existing topics stay open.
        room = self.MAX_TOPICS - topics_full
        filler = [{"topic": ["%s-fill-%d" % (prefix, i) for i in range(j, min(j + self.PER_EVENT, room))], "data": "f"}
                  for j in range(0, room, self.PER_EVENT)]
        if filler:
            r = self.post(json.dumps(filler).encode())
            self.assertEqual(r.status, 200, "publishing into the last %d places: %r" % (room, r))
        topics_full = topic_count(self.port)
        self.assertEqual(topics_full, self.MAX_TOPICS)
        r = self.post(json.dumps([{"topic": "%s-0-0" % prefix, "data": "ok"},
                                  {"topic": prefix + "-one-more", "data": "no"}]).encode())
        self.assert_json_error(r, 503, "a publish beyond --max-topics")
        self.assertEqual(topic_count(self.port), topics_full, "a refused publish created topics")
        r = self.post(json.dumps({"topic": "%s-0-0" % prefix, "data": "ok"}).encode())
        self.assertEqual(r.status, 200, "publishing to an existing topic when full: %r" % r)
        # A subscription that would create a topic is refused too (the last quarter is the publishers').
        r = request(self.port, "GET", "/events?topic=" + prefix + "-sub", [("Origin", "https://app.example")], timeout=5)
        self.assert_json_error(r, 503, "a subscription to a new topic when full")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*", "the refusal is readable cross-origin")
        m = metrics(self.port)
        self.assertGreaterEqual(m.get("herald_topics_limit_refusals_total", 0), statuses[503] + 2)

        growth = rss_bytes(pid) - rss_start
        bound = self.MAX_TOPICS * self.BYTES_PER_TOPIC
        if os.environ.get("HERALD_HOSTILE_DEBUG"):
            sys.stderr.write("[topic flood: %r, %d bytes sent, %d topics, RSS +%d bytes (bound %d)] "
                             % (statuses, sent[0], topics_full, growth, bound))
        self.assertLessEqual(growth, bound, "RSS grew by %d bytes for %d topics (%d bytes sent)"
                             % (growth, topics_full, sent[0]))
        # assert_up, but with the table full a fresh topic would be refused: the witness's
        # own topic is the round trip.
        self.assertTrue(self.server.alive(), "herald died during the topic flood")
        w.verify(self, "topic flood")
        for path in ("/healthz", "/readyz"):
            self.assertEqual(request(self.port, "GET", path, timeout=3).status, 200, path)


class TopicFloodReclaimed(HostileCase):
    """Topics whose events expired and that nobody follows are reclaimed: the topic
    count and the memory come back down after a flood."""

    SERVER_ARGS = SERVER_ARGS + ["--history-max-age", "1s", "--max-topics", "40000"]

    def test_flooded_topics_are_reclaimed(self):
        pid = self.server.proc.pid
        prefix = self.topic("reclaim")
        self.assert_server_healthy("before the flood")
        time.sleep(1.2)  # what the warm-up published expires
        rss_start = rss_bytes(pid)
        topics_start = topic_count(self.port)
        conn = self.conn()
        first_id = None
        for i in range(12):    # 12 x 50 events x 64 topics: 38,400 topics
            body = flood_body(prefix, i * 3200, 50, 64)
            r = conn.request("POST", "/publish", [("Content-Type", "application/json")], body)
            self.assertEqual(r.status, 200, "flood publish %d: %r" % (i, r))
            first_id = first_id or r.json()["ids"][0]
        peak_topics = topic_count(self.port)
        self.assertGreaterEqual(peak_topics, 38400)
        rss_peak = rss_bytes(pid)
        self.assertGreater(rss_peak - rss_start, 4 << 20, "the flood should have cost memory")
        count = [peak_topics]

        def reclaimed():
            count[0] = topic_count(self.port)
            return count[0] <= topics_start
        self.assertTrue(wait_until(reclaimed, 5, 0.2),
                        "%d topics still held 5 s after their events expired (%d before the flood)"
                        % (count[0], topics_start))
        rss = [rss_peak]

        def memory_back():
            rss[0] = rss_bytes(pid)
            return rss[0] - rss_start <= (rss_peak - rss_start) // 4
        back = wait_until(memory_back, 3, 0.2)
        if os.environ.get("HERALD_HOSTILE_DEBUG"):
            sys.stderr.write("[reclaim: RSS start %d, peak %d, after %d] " % (rss_start, rss_peak, rss[0]))
        self.assertTrue(back, "RSS stayed at %d bytes after the topics went (start %d, peak %d)"
                        % (rss[0], rss_start, rss_peak))
        # A client that resumes a reclaimed topic from before its event is told what it missed.
        with SSEClient(self.port, [prefix + "-0"], last_event_id=str(first_id - 1)) as c:
            self.assertEqual(c.status, 200)
            ev = c.next_event(3)
            self.assertEqual(ev.event, "herald-history-truncated")
        self.assert_server_healthy("after the reclaim")


if __name__ == "__main__":
    unittest.main()
