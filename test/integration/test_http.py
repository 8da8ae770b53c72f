"""HTTP/1.x behaviour: keep-alive, pipelining, chunked bodies, HTTP/1.0, CORS."""

import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import (BufferedSocket, HeraldTestCase, HeraldTimeout, build_request,  # noqa: E402
                            connect, publish, read_response, request)


class Basics(HeraldTestCase):

    def test_healthz(self):
        r = self.request("GET", "/healthz")
        self.assertEqual(r.status, 200)
        self.assertTrue((r.header("Content-Type") or "").startswith("application/json"), r)
        self.assertEqual(json.loads(r.body), {"status": "ok"})

    def test_index_page(self):
        r = self.request("GET", "/")
        self.assertEqual(r.status, 200)
        self.assertTrue((r.header("Content-Type") or "").lower().startswith("text/html"), r)
        self.assertIn(b"<", r.body)

    def test_publish_response(self):
        r = self.request("POST", "/publish", [("Content-Type", "application/json")],
                         json.dumps({"topic": self.topic(), "data": "x"}))
        self.assertEqual(r.status, 200, r)
        self.assertTrue((r.header("Content-Type") or "").startswith("application/json"), r)
        self.assertIsInstance(r.json()["id"], int)


class KeepAliveAndPipelining(HeraldTestCase):
    SERVER_ARGS = ["--idle-timeout", "1s"]

    def test_keep_alive_two_requests(self):
        c = self.conn()
        r1 = c.request("GET", "/healthz")
        r2 = c.request("GET", "/healthz")
        self.assertEqual((r1.status, r2.status), (200, 200))
        t = self.topic()
        s = self.sse(t)
        r3 = c.request("POST", "/publish", [("Content-Type", "application/json")],
                       json.dumps({"topic": t, "data": "ka"}))
        self.assertEqual(r3.status, 200, r3)
        self.assertEqual(s.next_event().int_id, r3.json()["id"])

    def test_pipelined_publishes(self):
        t = self.topic()
        s = self.sse(t)
        c = self.conn()
        reqs = b"".join(build_request("POST", "/publish", [("Content-Type", "application/json")],
                                      json.dumps({"topic": t, "data": "pipe%d" % i}).encode())
                        for i in range(2))
        reqs += build_request("GET", "/healthz")
        c.send(reqs)  # all three in one send
        r1 = c.read_response()
        r2 = c.read_response()
        r3 = c.read_response()
        self.assertEqual((r1.status, r2.status, r3.status), (200, 200, 200), (r1, r2, r3))
        id1, id2 = r1.json()["id"], r2.json()["id"]
        self.assertLess(id1, id2, "pipelined responses out of order")
        self.assertEqual(json.loads(r3.body), {"status": "ok"})
        evs = s.read_n(2)
        self.assertEqual([(e.int_id, e.data) for e in evs], [(id1, "pipe0"), (id2, "pipe1")])

    def test_pipelined_split_across_sends(self):
        c = self.conn()
        data = build_request("GET", "/healthz") * 2
        c.send(data[:len(data) // 2 + 3])
        time.sleep(0.05)
        c.send(data[len(data) // 2 + 3:])
        self.assertEqual(c.read_response().status, 200)
        self.assertEqual(c.read_response().status, 200)

    def test_chunked_request_body(self):
        t = self.topic()
        s = self.sse(t)
        body = json.dumps({"topic": t, "data": "chunked body \u00e9"}).encode()
        parts = [body[:5], body[5:17], body[17:]]
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
        c = self.conn()
        c.send(build_request("POST", "/publish", [("Content-Type", "application/json"),
                                                  ("Transfer-Encoding", "chunked")], chunked))
        r = c.read_response()
        self.assertEqual(r.status, 200, r)
        ev = s.next_event()
        self.assertEqual((ev.int_id, ev.data), (r.json()["id"], "chunked body \u00e9"))
        # the connection is still usable afterwards
        self.assertEqual(c.request("GET", "/healthz").status, 200)

    def test_chunked_raw_body_with_extension_and_trailer(self):
        t = self.topic()
        s = self.sse(t)
        chunked = b"4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nX-Trailer: v\r\n\r\n"
        c = self.conn()
        c.send(build_request("POST", "/publish?topic=" + t, [("Content-Type", "text/plain"),
                                                             ("Transfer-Encoding", "chunked")], chunked))
        r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(s.next_event().data, "abcdefg")
        self.assertEqual(c.request("GET", "/healthz").status, 200)

    def test_http10_request_gets_response_and_close(self):
        bs = self.track(BufferedSocket(connect(self.port)))
        bs.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        r = read_response(bs, time.monotonic() + 5)
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body), {"status": "ok"})
        try:
            bs.read_to_eof(time.monotonic() + 2)
        except HeraldTimeout:
            self.fail("HTTP/1.0 connection not closed after the response")

    def test_http10_publish(self):
        t = self.topic()
        s = self.sse(t)
        r = request(self.port, "POST", "/publish", [("Content-Type", "application/json")],
                    json.dumps({"topic": t, "data": "from 1.0"}), version="HTTP/1.0")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(s.next_event().data, "from 1.0")

    def test_connection_close_honoured(self):
        bs = self.track(BufferedSocket(connect(self.port)))
        bs.sendall(build_request("GET", "/healthz", [("Connection", "close")]))
        r = read_response(bs, time.monotonic() + 5)
        self.assertEqual(r.status, 200)
        try:
            bs.read_to_eof(time.monotonic() + 2)
        except HeraldTimeout:
            self.fail("connection not closed after Connection: close")

    def test_idle_keepalive_connection_closed(self):
        c = self.conn()
        self.assertEqual(c.request("GET", "/healthz").status, 200)
        start = time.monotonic()
        self.assertTrue(c.wait_closed(4), "idle keep-alive connection not closed with --idle-timeout 1s")
        self.assertGreater(time.monotonic() - start, 0.5, "closed well before the idle timeout")

    def test_stream_not_closed_by_idle_timeout(self):
        t = self.topic()
        s = self.sse(t)
        time.sleep(1.8)
        eid = publish(self.port, t, "after idle")
        ev = s.next_event()
        self.assertEqual(ev.int_id, eid, "an open stream must not be closed by --idle-timeout")


class CorsDefault(HeraldTestCase):

    def test_preflight_publish(self):
        r = self.request("OPTIONS", "/publish", [("Origin", "https://x.example"),
                                                 ("Access-Control-Request-Method", "POST"),
                                                 ("Access-Control-Request-Headers", "content-type")])
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        methods = [m.strip().upper() for m in (r.header("Access-Control-Allow-Methods") or "").split(",")]
        self.assertIn("POST", methods, r)
        self.assertIsNotNone(r.header("Access-Control-Allow-Headers"), r)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")

    def test_preflight_events(self):
        r = self.request("OPTIONS", "/events", [("Origin", "https://x.example"),
                                                ("Access-Control-Request-Method", "GET")])
        self.assertEqual(r.status, 204, r)
        methods = [m.strip().upper() for m in (r.header("Access-Control-Allow-Methods") or "").split(",")]
        self.assertIn("GET", methods, r)
        self.assertIsNotNone(r.header("Access-Control-Allow-Headers"), r)

    def test_acao_star_by_default(self):
        t = self.topic()
        for hdrs in ([], [("Origin", "https://anything.example")]):
            with self.subTest(origin=bool(hdrs)):
                r = self.request("POST", "/publish", [("Content-Type", "application/json")] + hdrs,
                                 json.dumps({"topic": t, "data": "c"}))
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("Access-Control-Allow-Origin"), "*", r)
                r = self.request("GET", "/healthz", hdrs)
                self.assertEqual(r.header("Access-Control-Allow-Origin"), "*", r)
        s = self.sse(t, headers=[("Origin", "https://anything.example")])
        self.assertEqual(s.header("Access-Control-Allow-Origin"), "*")

    def test_acao_on_error_response(self):
        r = self.request("POST", "/publish", [("Content-Type", "application/json"),
                                              ("Origin", "https://x.example")], "{bad")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*", r)


class CorsRestricted(HeraldTestCase):
    SERVER_ARGS = ["--cors-origins", "https://a.example,https://b.example"]

    def _publish(self, origin=None):
        hdrs = [("Content-Type", "application/json")]
        if origin:
            hdrs.append(("Origin", origin))
        return self.request("POST", "/publish", hdrs, json.dumps({"topic": self.topic(), "data": "o"}))

    def test_allowed_origin_echoed(self):
        for origin in ("https://a.example", "https://b.example"):
            with self.subTest(origin=origin):
                r = self._publish(origin)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("Access-Control-Allow-Origin"), origin, r)
                vary = ",".join(r.headers_all("Vary")).lower()
                self.assertIn("origin", vary, "Vary: Origin missing: %r" % r)

    def test_other_origin_gets_no_acao(self):
        r = self._publish("https://evil.example")
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("Access-Control-Allow-Origin"), r)

    def test_no_origin_gets_no_star(self):
        r = self._publish(None)
        self.assertNotEqual(r.header("Access-Control-Allow-Origin"), "*", r)

    def test_preflight_allowed_and_denied(self):
        ok = self.request("OPTIONS", "/publish", [("Origin", "https://b.example"),
                                                  ("Access-Control-Request-Method", "POST")])
        self.assertEqual(ok.status, 204, ok)
        self.assertEqual(ok.header("Access-Control-Allow-Origin"), "https://b.example", ok)
        no = self.request("OPTIONS", "/publish", [("Origin", "https://evil.example"),
                                                  ("Access-Control-Request-Method", "POST")])
        self.assertIsNone(no.header("Access-Control-Allow-Origin"), no)

    def test_stream_origin_echoed(self):
        s = self.sse(self.topic(), headers=[("Origin", "https://a.example")])
        self.assertEqual(s.header("Access-Control-Allow-Origin"), "https://a.example")
        s2 = self.sse(self.topic(), headers=[("Origin", "https://evil.example")])
        self.assertIsNone(s2.header("Access-Control-Allow-Origin"))


if __name__ == "__main__":
    unittest.main()
