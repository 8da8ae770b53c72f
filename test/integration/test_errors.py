"""Bad input: right status, one-line JSON error body, server keeps working."""

import json
import os
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import (BufferedSocket, HeraldTestCase, HeraldTimeout, connect,  # noqa: E402
                            raw_exchange, read_response)


class BadRequests(HeraldTestCase):

    def check(self, resp, status, what):
        self.assert_json_error(resp, status, what)
        self.assert_server_healthy(what)

    def post_json(self, body):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        return self.request("POST", "/publish", [("Content-Type", "application/json")], body)

    # -- request line / headers ----------------------------------------------------
    def test_malformed_request_line(self):
        cases = [b"GARBAGE\r\n\r\n",
                 b"GET /healthz NOTHTTP/1.1\r\nHost: x\r\n\r\n",
                 b"GET\r\nHost: x\r\n\r\n",
                 b"\x01\x02\x03 / HTTP/1.1\r\nHost: x\r\n\r\n"]
        for raw in cases:
            with self.subTest(raw=raw):
                self.check(raw_exchange(self.port, raw), 400, "request line %r" % raw)

    def test_malformed_header(self):
        cases = [b"GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
                 b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
                 b"GET /healthz HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n"]
        for raw in cases:
            with self.subTest(raw=raw):
                self.check(raw_exchange(self.port, raw), 400, "header %r" % raw)

    def test_unknown_path_404(self):
        for target in ("/nope", "/publish/extra", "/eventsX?topic=a"):
            with self.subTest(target=target):
                self.check(self.request("GET", target), 404, "GET %s" % target)

    def test_wrong_method_405_with_allow(self):
        cases = [("GET", "/publish", "POST"), ("DELETE", "/publish", "POST"), ("PUT", "/publish", "POST"),
                 ("POST", "/events?topic=a", "GET"), ("DELETE", "/healthz", "GET")]
        for method, target, must_allow in cases:
            with self.subTest(method=method, target=target):
                r = self.request(method, target, body=b"" if method in ("POST", "PUT") else None)
                self.assert_json_error(r, 405, "%s %s" % (method, target))
                allow = r.header("Allow")
                self.assertIsNotNone(allow, "405 without Allow header: %r" % r)
                methods = [m.strip().upper() for m in allow.split(",")]
                self.assertIn(must_allow, methods, allow)
                self.assertNotIn(method, methods, allow)
        self.assert_server_healthy("405s")

    # -- publish validation --------------------------------------------------------
    def test_missing_topic(self):
        cases = [("json no topic", lambda: self.post_json({"data": "x"})),
                 ("json empty topic", lambda: self.post_json({"topic": "", "data": "x"})),
                 ("json empty topic list", lambda: self.post_json({"topic": [], "data": "x"})),
                 ("form no topic", lambda: self.request(
                     "POST", "/publish", [("Content-Type", "application/x-www-form-urlencoded")], "data=x")),
                 ("array item without topic", lambda: self.post_json(
                     [{"topic": "ok-topic", "data": "x"}, {"data": "y"}]))]
        for name, fn in cases:
            with self.subTest(case=name):
                self.check(fn(), 400, name)

    def test_invalid_topic(self):
        bad = ["has space", "ctl\x01char", "tab\there", "nl\nx", "del\x7f", "x" * 257]
        for topic in bad:
            with self.subTest(topic=topic[:20], how="json"):
                self.check(self.post_json({"topic": topic, "data": "x"}), 400, "json topic %r" % topic[:20])
            with self.subTest(topic=topic[:20], how="form"):
                r = self.request("POST", "/publish", [("Content-Type", "application/x-www-form-urlencoded")],
                                 urllib.parse.urlencode([("topic", topic), ("data", "x")]))
                self.check(r, 400, "form topic %r" % topic[:20])
            with self.subTest(topic=topic[:20], how="query"):
                r = self.request("POST", "/publish?" + urllib.parse.urlencode({"topic": topic}),
                                 [("Content-Type", "text/plain")], "x")
                self.check(r, 400, "query topic %r" % topic[:20])
            with self.subTest(topic=topic[:20], how="events"):
                r = self.request("GET", "/events?" + urllib.parse.urlencode({"topic": topic}))
                self.check(r, 400, "subscribe topic %r" % topic[:20])

    def test_topic_256_bytes_is_valid(self):
        t = (self.topic() + "-" + "z" * 256)[:256]
        c = self.sse(t)
        self.assertEqual(c.status, 200, c.response)
        r = self.post_json({"topic": t, "data": "long topic"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(c.next_event().int_id, r.json()["id"])

    def test_topic_257_bytes_multibyte(self):
        t = "\u00e9" * 128 + "a"    # 257 bytes in UTF-8, 129 characters
        self.check(self.post_json({"topic": t, "data": "x"}), 400, "257-byte UTF-8 topic")

    def test_events_without_topic(self):
        self.check(self.request("GET", "/events"), 400, "GET /events without topic")

    def test_invalid_json(self):
        cases = [b'{"topic":', b'{"topic":"a","data":"x"} trailing', b"not json", b"",
                 b'{"topic":"a","data":"x",}', b"42", b'"just a string"', b'[1,2]',
                 b'{"topic":"a","data":"\xff\xfe"}', b'{"topic":7,"data":"x"}', b'{"topic":"a","data":"x","event":5}']
        for body in cases:
            with self.subTest(body=body):
                self.check(self.post_json(body), 400, "json body %r" % body)

    def test_missing_data(self):
        with self.subTest(how="json"):
            self.check(self.post_json({"topic": "t-missing-data"}), 400, "json without data")
        with self.subTest(how="form"):
            r = self.request("POST", "/publish", [("Content-Type", "application/x-www-form-urlencoded")],
                             "topic=t-missing-data")
            self.check(r, 400, "form without data")
        with self.subTest(how="json array item"):
            self.check(self.post_json([{"topic": "t-missing-data", "data": "x"}, {"topic": "t-missing-data"}]),
                       400, "json array item without data")

    def test_event_type_with_cr_lf_nul(self):
        for ev in ("a\nb", "a\rb", "a\r\nb", "a\x00b"):
            with self.subTest(event=ev, how="json"):
                self.check(self.post_json({"topic": "t-ev", "data": "x", "event": ev}), 400, "event %r" % ev)
            with self.subTest(event=ev, how="form"):
                r = self.request("POST", "/publish", [("Content-Type", "application/x-www-form-urlencoded")],
                                 urllib.parse.urlencode([("topic", "t-ev"), ("data", "x"), ("event", ev)]))
                self.check(r, 400, "form event %r" % ev)
            with self.subTest(event=ev, how="query"):
                r = self.request("POST", "/publish?" + urllib.parse.urlencode({"topic": "t-ev", "event": ev}),
                                 [("Content-Type", "text/plain")], "x")
                self.check(r, 400, "query event %r" % ev)

    def test_unsupported_content_type_415(self):
        for ctype in ("text/plain", "application/xml", "application/octet-stream"):
            with self.subTest(ctype=ctype):
                r = self.request("POST", "/publish", [("Content-Type", ctype)], "some data")
                self.check(r, 415, "content type %s without ?topic=" % ctype)

    def test_no_content_type_no_topic_is_rejected(self):
        r = self.request("POST", "/publish", body="x")
        self.assertIn(r.status, (400, 415), r)
        self.assert_json_error(r, r.status)
        self.assert_server_healthy("no content type")

    # -- framing / smuggling ----------------------------------------------------------
    def test_smuggling_cl_and_te_rejected(self):
        smuggled = b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
        chunk_body = b"0\r\n\r\n" + smuggled
        raw = (b"POST /publish?topic=smuggle HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
               b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(chunk_body)) + chunk_body
        bs = BufferedSocket(connect(self.port))
        self.track(bs)
        bs.sendall(raw)
        r = read_response(bs, time.monotonic() + 5)
        self.assert_json_error(r, 400, "Content-Length + Transfer-Encoding")
        # nothing else may be answered on this connection (the smuggled request)
        extra = b""
        try:
            extra = bs.read_to_eof(time.monotonic() + 1.0)
        except HeraldTimeout:
            extra = bytes(bs.buf)
        self.assertEqual(extra, b"", "server answered bytes after rejecting a smuggling attempt: %r" % extra)
        self.assert_server_healthy("smuggling")

    def test_smuggling_te_cl_order_rejected(self):
        raw = (b"POST /publish?topic=smuggle HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               b"Content-Type: text/plain\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        self.check(raw_exchange(self.port, raw), 400, "TE before CL")

    def test_conflicting_content_lengths_rejected(self):
        raw = (b"POST /publish?topic=cl HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde")
        self.check(raw_exchange(self.port, raw), 400, "two different Content-Length")

    def test_bad_content_length_rejected(self):
        for cl in (b"abc", b"-1", b"1 2", b"+5"):
            with self.subTest(cl=cl):
                raw = (b"POST /publish?topic=cl HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                       b"Content-Length: " + cl + b"\r\n\r\nabcde")
                self.check(raw_exchange(self.port, raw), 400, "Content-Length %r" % cl)

    def test_bad_chunk_size_rejected(self):
        raw = (b"POST /publish?topic=ch HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
               b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
        self.check(raw_exchange(self.port, raw), 400, "chunk size zz")

    def test_error_responses_allow_next_request_or_close(self):
        # after a 404 on a keep-alive connection the next request still works
        c = self.conn()
        r1 = c.request("GET", "/nope")
        self.assert_json_error(r1, 404)
        if (r1.header("Connection") or "").lower() != "close":
            r2 = c.request("GET", "/healthz")
            self.assertEqual(r2.status, 200, r2)


if __name__ == "__main__":
    unittest.main()
