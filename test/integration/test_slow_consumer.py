"""A subscriber that stops reading is disconnected; others are unaffected."""

import os
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import (BufferedSocket, HeraldTestCase, HeraldTimeout, Publisher,  # noqa: E402
                            build_request, connect, request)

EVENT_DATA_BYTES = 16 * 1024
TOTAL_BYTES = 20 * 1024 * 1024
N_EVENTS = TOTAL_BYTES // EVENT_DATA_BYTES     # 1280
MAX_LAG_EVENTS = 2                              # keep the good reader within ~32 KiB


class SlowConsumer(HeraldTestCase):
    SERVER_ARGS = ["--max-pending-bytes", "65536", "--heartbeat-interval", "60s"]

    def test_slow_consumer_disconnected_good_one_served(self):
        t = self.topic()
        # --- the slow subscriber: tiny receive buffer, never reads ------------
        slow = BufferedSocket(connect(self.port, rcvbuf=4096))
        self.track(slow)
        slow.sendall(build_request("GET", "/events?topic=" + t, [("Accept", "text/event-stream")]))
        # --- the good subscriber ---------------------------------------------
        good = self.sse(t, timeout=10)
        # make sure the slow one is subscribed too (its head arrives promptly)
        head = slow.read_until(b"\r\n\r\n", time.monotonic() + 5)
        self.assertTrue(head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200"), head)

        received = []
        reader_error = []
        progress = threading.Condition()

        def read_good():
            try:
                while len(received) < N_EVENTS:
                    ev = good.next_event(10)
                    with progress:
                        received.append(ev)
                        progress.notify_all()
            except Exception as e:
                reader_error.append(e)
                with progress:
                    progress.notify_all()

        reader = threading.Thread(target=read_good, daemon=True)
        reader.start()

        pub = Publisher(self.port)
        published = []
        started = time.monotonic()
        try:
            for i in range(N_EVENTS):
                # flow control for the well-behaved reader: never let it fall
                # more than MAX_LAG_EVENTS behind, so it never looks slow
                with progress:
                    ok = progress.wait_for(lambda: reader_error or len(received) >= i - MAX_LAG_EVENTS, 10)
                self.assertTrue(ok, "good subscriber stalled at %d/%d" % (len(received), i))
                if reader_error:
                    break
                data = ("%06d" % i) + ("x" * (EVENT_DATA_BYTES - 6))
                published.append(pub.publish_raw(t, data))
        finally:
            pub.close()
        reader.join(15)
        elapsed = time.monotonic() - started

        self.assertEqual(reader_error, [], "the well-behaved subscriber (never more than %d events = %d bytes "
                         "behind) was cut off after %d of %d published events (%.1fs); server log tail:\n%s"
                         % (MAX_LAG_EVENTS + 1, (MAX_LAG_EVENTS + 1) * (EVENT_DATA_BYTES + 30), len(received),
                            len(published), elapsed, self.server.log()[-1500:]))
        self.assertEqual(len(received), N_EVENTS)
        self.assertEqual([e.int_id for e in received], published)
        for i, e in enumerate(received):
            if len(e.data) != EVENT_DATA_BYTES or not e.data.startswith("%06d" % i):
                self.fail("event %d corrupted: len=%d start=%r" % (i, len(e.data), e.data[:10]))

        # --- the slow subscriber must have been cut off -------------------------
        deadline = time.monotonic() + 10
        try:
            while not slow.eof:
                slow.fill(deadline, 1 << 20)
                slow.buf.clear()   # drain; we only care about the total
        except HeraldTimeout:
            self.fail("slow consumer was not disconnected (read %d bytes, still open)" % len(slow.wire))
        self.assertLess(len(slow.wire), TOTAL_BYTES // 2,
                        "slow consumer received %d bytes: it was not cut off early" % len(slow.wire))

        # --- log and health -------------------------------------------------------
        log = self.server.wait_log(lambda s: re.search(r"slow|pending", s, re.I), 3)
        self.assertRegex(log, re.compile(r"slow|pending", re.I), "server log should mention the slow consumer")
        r = request(self.port, "GET", "/healthz")
        self.assertEqual(r.status, 200)
        self.assert_server_healthy("slow consumer")

    def test_slow_consumer_does_not_block_publishers(self):
        t = self.topic()
        slow = BufferedSocket(connect(self.port, rcvbuf=4096))
        self.track(slow)
        slow.sendall(build_request("GET", "/events?topic=" + t, [("Accept", "text/event-stream")]))
        slow.read_until(b"\r\n\r\n", time.monotonic() + 5)
        pub = self.publisher()
        data = "y" * 32768
        start = time.monotonic()
        for _ in range(200):   # ~6.4 MB towards a reader that never reads
            pub.publish_raw(t, data)
        self.assertLess(time.monotonic() - start, 15, "publishing stalled behind a slow consumer")
        deadline = time.monotonic() + 10
        try:
            while not slow.eof:
                slow.fill(deadline, 1 << 20)
                slow.buf.clear()
        except HeraldTimeout:
            self.fail("slow consumer was not disconnected")
        self.assert_server_healthy("slow consumer 2")

    def test_resumed_stream_gets_no_extra_budget_for_its_replay(self):
        """The replay is shared with history and is the write in progress: it takes nothing
        from the budget, and does not enlarge it either. A resumed stream that stops reading
        is cut once more than --max-pending-bytes of live events wait behind its replay."""
        t = self.topic()
        marker = request(self.port, "POST", "/publish?topic=" + t, [("Content-Type", "text/plain")], b"m").json()["id"]
        pub = self.publisher()
        big = "r" * (200 * 1024)
        for _ in range(40):       # 8 MB of history: more than the sockets between us hold
            pub.publish_raw(t, big)
        before = request(self.port, "GET", "/stats").json()["slow_consumer_disconnects"]
        slow = BufferedSocket(connect(self.port, rcvbuf=4096))
        self.track(slow)
        slow.sendall(build_request("GET", "/events?topic=" + t, [("Accept", "text/event-stream"),
                                                               ("Last-Event-ID", str(marker))]))
        head = slow.read_until(b"\r\n\r\n", time.monotonic() + 5)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        time.sleep(0.3)           # the replay fills the sockets and stalls
        live = "l" * 16384
        for _ in range(12):       # 192 KB live, three times the 64 KB budget
            pub.publish_raw(t, live)

        def cut():
            return request(self.port, "GET", "/stats").json()["slow_consumer_disconnects"] > before
        deadline = time.monotonic() + 5
        while not cut() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(cut(), "a resumed stream that stopped reading was not cut after 192 KB of live events "
                               "waited behind its replay (--max-pending-bytes 64 KB): its replay enlarged its budget")
        self.assertIn("slow consumer", self.server.log())
        self.assert_server_healthy("resumed slow consumer")


if __name__ == "__main__":
    unittest.main()
