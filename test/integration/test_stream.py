"""Event-stream response: status, headers, framing, retry preamble."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import re  # noqa: E402
import time  # noqa: E402

from herald_fixture import HeraldTestCase, Publisher, publish  # noqa: E402


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


class WriteBatching(HeraldTestCase):
    """--write-batch-window: a lone event goes out at once; a burst right after it waits for
    the window and then goes out in one write (one HTTP chunk)."""
    SERVER_ARGS = ["--write-batch-window", "400ms", "--threads", "1"]

    def test_lone_event_at_once_then_burst_batched(self):
        t = self.topic()
        c = self.sse(t)
        pub = Publisher(self.port)
        try:
            start = time.monotonic()
            first = pub.publish(t, "lone")
            self.assertEqual(c.next_event().int_id, first)
            self.assertLess(time.monotonic() - start, 0.3, "a lone event must not wait for the window")
            burst_start = time.monotonic()
            ids = [pub.publish(t, "burst %d" % i) for i in range(5)]
            got = [c.next_event(timeout=3).int_id for _ in ids]
            waited = time.monotonic() - burst_start
        finally:
            pub.close()
        self.assertEqual(got, ids)
        self.assertGreater(waited, 0.15, "the burst should have waited for the batch window")
        self.assertLess(waited, 2.0)
        # All five came in one write: the raw wire holds a single chunk header for them.
        wire = bytes(c.bs.wire)
        burst_bytes = wire[wire.index(b"data: lone"):]
        chunk_headers = re.findall(rb"\r\n[0-9a-f]+\r\n", burst_bytes)
        self.assertEqual(len(chunk_headers), 1, "expected the burst in one chunk, wire: %r" % burst_bytes)


if __name__ == "__main__":
    unittest.main()
