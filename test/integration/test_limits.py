"""Configured limits: header/body size, timeouts, connections, topics."""

import os
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import (BufferedSocket, HeraldTestCase, HeraldTimeout, HttpConnection,  # noqa: E402
                            SSEClient, build_request, connect, publish, raw_exchange, read_response,
                            request)


class SizeLimits(HeraldTestCase):
    SERVER_ARGS = ["--max-header-bytes", "4096", "--max-body-bytes", "1024"]

    def check(self, resp, status, what):
        self.assert_json_error(resp, status, what)
        self.assert_server_healthy(what)

    def test_header_block_too_big_431(self):
        raw = build_request("GET", "/healthz", [("X-Big", "a" * 6000)])
        self.check(raw_exchange(self.port, raw), 431, "6000-byte header")

    def test_many_headers_too_big_431(self):
        hdrs = [("X-H%03d" % i, "v" * 40) for i in range(150)]   # ~7.5 KB
        self.check(raw_exchange(self.port, build_request("GET", "/healthz", hdrs)), 431, "many headers")

    def test_header_block_under_limit_ok(self):
        r = request(self.port, "GET", "/healthz", [("X-Big", "a" * 3000)])
        self.assertEqual(r.status, 200, r)

    def test_body_too_big_content_length_413(self):
        raw = build_request("POST", "/publish?topic=big", [("Content-Type", "text/plain")], b"b" * 2048)
        self.check(raw_exchange(self.port, raw), 413, "2048-byte body")

    def test_body_too_big_announced_only_413(self):
        # huge Content-Length, body never sent: answer without waiting for it
        raw = build_request("POST", "/publish?topic=big", [("Content-Type", "text/plain"),
                                                           ("Content-Length", "100000000")])
        start = time.monotonic()
        r = raw_exchange(self.port, raw, timeout=5)
        self.assertLess(time.monotonic() - start, 3)
        self.check(r, 413, "announced 100 MB body")

    def test_body_too_big_chunked_413(self):
        chunks = b"".join(b"%x\r\n%s\r\n" % (200, b"c" * 200) for _ in range(8)) + b"0\r\n\r\n"
        raw = build_request("POST", "/publish?topic=big", [("Content-Type", "text/plain"),
                                                           ("Transfer-Encoding", "chunked")], chunks)
        self.check(raw_exchange(self.port, raw), 413, "1600-byte chunked body")

    def test_body_too_big_json_413(self):
        body = ('{"topic":"big","data":"%s"}' % ("j" * 2000)).encode()
        raw = build_request("POST", "/publish", [("Content-Type", "application/json")], body)
        self.check(raw_exchange(self.port, raw), 413, "2000-byte JSON body")

    def test_body_at_limit_ok(self):
        t = self.topic()
        c = self.sse(t)
        r = request(self.port, "POST", "/publish?topic=" + t, [("Content-Type", "text/plain")], b"k" * 1024)
        self.assertEqual(r.status, 200, "a body of exactly --max-body-bytes must be accepted: %r" % r)
        self.assertEqual(len(c.next_event().data), 1024)


class Timeouts(HeraldTestCase):
    SERVER_ARGS = ["--header-timeout", "1s", "--body-timeout", "1s"]

    def _expect_408_or_close(self, bs, start, max_wait):
        deadline = start + max_wait
        try:
            while True:
                if b"\r\n\r\n" in bs.buf:
                    r = read_response(bs, deadline)
                    self.assert_json_error(r, 408, "header timeout")
                    return time.monotonic() - start
                if bs.eof:
                    return time.monotonic() - start
                bs.fill(deadline)
        except HeraldTimeout:
            self.fail("connection neither answered 408 nor closed within %.1fs" % max_wait)

    def test_slow_header_block(self):
        bs = self.track(BufferedSocket(connect(self.port)))
        start = time.monotonic()
        bs.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        took = self._expect_408_or_close(bs, start, 4)
        self.assertGreater(took, 0.5, "closed before the header timeout")
        self.assert_server_healthy("slow headers")

    def test_trickled_header_block_slowloris(self):
        # one byte every 200 ms: the timeout covers the whole header block
        bs = self.track(BufferedSocket(connect(self.port)))
        start = time.monotonic()
        payload = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        closed = False
        for byte in payload:
            if time.monotonic() - start > 4:
                break
            try:
                bs.sock.send(bytes([byte]))
            except OSError:
                closed = True
                break
            try:
                bs.fill(time.monotonic() + 0.2)
            except HeraldTimeout:
                pass
            if bs.eof or b"\r\n\r\n" in bs.buf:
                closed = True
                break
        took = time.monotonic() - start
        self.assertTrue(closed, "trickled header block kept the connection open for %.1fs" % took)
        self.assertLess(took, 3.5, "header timeout must bound the whole header block")
        if b"\r\n\r\n" in bs.buf:
            r = read_response(bs, time.monotonic() + 2)
            self.assert_json_error(r, 408, "trickled headers")
        self.assert_server_healthy("slowloris")

    def test_slow_body(self):
        bs = self.track(BufferedSocket(connect(self.port)))
        bs.sendall(b"POST /publish?topic=slowbody HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                   b"Content-Length: 100\r\n\r\nonly a part")
        start = time.monotonic()
        deadline = start + 4
        try:
            while not bs.eof and b"\r\n\r\n" not in bs.buf:
                bs.fill(deadline)
        except HeraldTimeout:
            self.fail("incomplete body kept the connection open past --body-timeout")
        if b"\r\n\r\n" in bs.buf:
            r = read_response(bs, time.monotonic() + 2)
            self.assertIn(r.status, (400, 408), r)
            self.assert_json_error(r, r.status)
        self.assert_server_healthy("slow body")

    def test_stream_not_cut_by_header_timeout(self):
        t = self.topic()
        c = self.sse(t)
        time.sleep(1.6)
        eid = publish(self.port, t, "still here")
        self.assertEqual(c.next_event().int_id, eid)


class MaxConnections(HeraldTestCase):
    SERVER_ARGS = ["--max-connections", "5"]

    def test_extra_connection_gets_503(self):
        held = []
        try:
            for i in range(5):
                c = HttpConnection(self.port)
                held.append(c)
                r = c.request("GET", "/healthz")
                self.assertEqual(r.status, 200, "connection %d of 5 must be served: %r" % (i + 1, r))
            extra = BufferedSocket(connect(self.port))
            held.append(extra)
            try:
                extra.sendall(build_request("GET", "/healthz", [("Connection", "close")]))
            except OSError:
                pass
            r = read_response(extra, time.monotonic() + 5)
            self.assert_json_error(r, 503, "6th connection")
        finally:
            for c in held:
                c.close()
        # capacity comes back once connections close
        deadline = time.monotonic() + 3
        while True:
            r = request(self.port, "GET", "/healthz")
            if r.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(r.status, 200, "server did not free connection slots: %r" % r)
        self.assert_server_healthy("max connections")

    def test_streams_count_as_connections(self):
        streams = []
        try:
            for i in range(5):
                streams.append(SSEClient(self.port, [self.topic("s%d" % i)]))
            r = request(self.port, "GET", "/healthz")
            self.assert_json_error(r, 503, "6th connection while 5 streams are open")
        finally:
            for s in streams:
                s.close()
        deadline = time.monotonic() + 3
        while True:
            r = request(self.port, "GET", "/healthz")
            if r.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assert_server_healthy("max connections with streams")


class MaxTopics(HeraldTestCase):
    SERVER_ARGS = ["--max-topics-per-subscription", "3"]

    def test_too_many_topics_400(self):
        q = urllib.parse.urlencode([("topic", "mt%d" % i) for i in range(4)])
        r = request(self.port, "GET", "/events?" + q)
        self.assert_json_error(r, 400, "4 topics with limit 3")
        self.assert_server_healthy("too many topics")

    def test_topics_at_limit_ok(self):
        topics = [self.topic("m%d" % i) for i in range(3)]
        c = self.sse(topics)
        self.assertEqual(c.status, 200, c.response)


class MaxConnectionsPerClient(HeraldTestCase):
    SERVER_ARGS = ["--max-connections-per-client", "3"]

    def connect_from(self, source):
        import socket as socket_module
        sock = socket_module.socket()
        sock.settimeout(5)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", self.port))
        return BufferedSocket(sock)

    def exchange(self, bs):
        bs.sendall(build_request("GET", "/healthz", [("Connection", "keep-alive")]))
        return read_response(bs, time.monotonic() + 5)

    def test_one_address_is_limited_others_are_not(self):
        held = []
        try:
            for i in range(3):
                held.append(self.connect_from("127.0.0.1"))
                self.assertEqual(self.exchange(held[-1]).status, 200, "connection %d of 3" % (i + 1))
            extra = self.connect_from("127.0.0.1")
            held.append(extra)
            self.assert_json_error(self.exchange(extra), 429, "4th connection from one address")
            other = self.connect_from("127.0.0.2")
            held.append(other)
            self.assertEqual(self.exchange(other).status, 200, "another address must still be served")
        finally:
            for c in held:
                c.close()
        deadline = time.monotonic() + 3
        while request(self.port, "GET", "/healthz").status != 200:
            self.assertLess(time.monotonic(), deadline, "slots of the closed connections never came back")
            time.sleep(0.05)
        self.assert_server_healthy("per-client limit")


class PublishLimits(HeraldTestCase):
    SERVER_ARGS = ["--max-events-per-publish", "3", "--max-data-bytes", "100"]

    def post_json(self, obj):
        import json
        return request(self.port, "POST", "/publish", [("Content-Type", "application/json")],
                       json.dumps(obj).encode())

    def test_too_many_events_in_one_request_413(self):
        t = self.topic("many")
        self.assert_json_error(self.post_json([{"topic": t, "data": str(i)} for i in range(4)]), 413, "4 events")
        r = self.post_json([{"topic": t, "data": str(i)} for i in range(3)])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json()["ids"]), 3)
        self.assert_server_healthy("events per publish")

    def test_event_data_too_large_413(self):
        t = self.topic("big")
        self.assert_json_error(self.post_json({"topic": t, "data": "x" * 101}), 413, "101-byte data (JSON)")
        r = request(self.port, "POST", "/publish?topic=" + t, [("Content-Type", "text/plain")], b"y" * 101)
        self.assert_json_error(r, 413, "101-byte data (raw body)")
        err = self.post_json([{"topic": t, "data": "ok"}, {"topic": t, "data": "z" * 101}])
        self.assert_json_error(err, 413, "second event too large")
        self.assertIn("event 1", err.json()["error"])
        self.assertEqual(self.post_json({"topic": t, "data": "x" * 100}).status, 200)
        self.assert_server_healthy("data size")


if __name__ == "__main__":
    unittest.main()
