"""Event-stream response: status, headers, framing, retry preamble."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import HeraldTestCase, publish  # noqa: E402


class StreamHeaders(HeraldTestCase):
    SERVER_ARGS = ["--retry", "1500ms"]

    def check_common_headers(self, c):
        self.assertEqual(c.status, 200, c.response)
        ctype = c.header("Content-Type")
        self.assertIsNotNone(ctype, "missing Content-Type")
        parts = [p.strip() for p in ctype.split(";")]
        self.assertEqual(parts[0].lower(), "text/event-stream")
        for p in parts[1:]:
            k, _, v = p.partition("=")
            if k.strip().lower() == "charset":
                self.assertEqual(v.strip().strip('"').lower(), "utf-8", ctype)
        self.assertIn("no-cache", (c.header("Cache-Control") or "").lower())
        self.assertEqual((c.header("X-Accel-Buffering") or "").lower(), "no")
        self.assertIsNone(c.header("Content-Length"), "stream must not have Content-Length")

    def test_http11_headers_and_chunked(self):
        c = self.sse(self.topic())
        self.check_common_headers(c)
        self.assertIn("chunked", (c.header("Transfer-Encoding") or "").lower())
        self.assertTrue(c.chunked)

    def test_http10_not_chunked(self):
        t = self.topic()
        c = self.sse(t, http10=True)
        self.check_common_headers(c)
        self.assertIsNone(c.header("Transfer-Encoding"), "HTTP/1.0 response must not be chunked")
        self.assertFalse(c.chunked)
        # the raw bytes after the head are SSE directly
        head_end = bytes(c.bs.wire).find(b"\r\n\r\n") + 4
        self.assertTrue(bytes(c.bs.wire)[head_end:].startswith(b"retry: "),
                        bytes(c.bs.wire)[head_end:head_end + 40])
        eid = publish(self.port, t, "over http/1.0")
        ev = c.next_event()
        self.assertEqual((ev.int_id, ev.data), (eid, "over http/1.0"))
        self.assertIn(("id: %d\ndata: over http/1.0\n\n" % eid).encode(), bytes(c.bs.wire))

    def test_retry_preamble_before_any_event(self):
        c = self.sse(self.topic())
        body = bytes(c.body)
        first_line = body.split(b"\n", 1)[0]
        self.assertEqual(first_line, b"retry: 1500", "stream must start with the retry line, got %r" % body[:60])
        self.assertTrue(body.startswith(b"retry: 1500\n: connected\n\n"), body[:60])
        self.assertEqual(c.parser.retry_values, ["1500"])
        self.assertEqual(list(c.events), [], "no event expected before publishing")

    def test_stream_cors_default(self):
        c = self.sse(self.topic(), headers=[("Origin", "https://somewhere.example")])
        self.assertEqual(c.header("Access-Control-Allow-Origin"), "*")

    def test_stream_chunk_framing_is_valid_after_events(self):
        t = self.topic()
        c = self.sse(t)
        ids = [publish(self.port, t, "e%d" % i) for i in range(5)]
        evs = c.read_n(5)
        self.assertEqual([e.int_id for e in evs], ids)
        self.assertEqual(c.parser.errors, [])


class DefaultRetry(HeraldTestCase):

    def test_default_retry_is_3000ms(self):
        c = self.sse(self.topic())
        self.assertTrue(bytes(c.body).startswith(b"retry: 3000\n"), bytes(c.body)[:40])


if __name__ == "__main__":
    unittest.main()
