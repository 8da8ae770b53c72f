"""Graceful shutdown on SIGTERM / SIGINT."""

import os
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import HeraldServer, HttpConnection, SSEClient, publish, request  # noqa: E402


class Shutdown(unittest.TestCase):

    def setUp(self):
        self.server = HeraldServer(["--heartbeat-interval", "60s"])
        self.server.start()
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.server.cleanup()

    def sse(self, topics, **kw):
        c = SSEClient(self.server.port, topics, **kw)
        self.clients.append(c)
        return c

    def _stop_with(self, sig):
        t = "shutdown-topic"
        s = self.sse([t])
        eid = publish(self.server.port, t, "before")
        self.assertEqual(s.next_event().int_id, eid)
        start = time.monotonic()
        self.server.signal(sig)
        took = s.read_to_eof(timeout=5)
        code = self.server.wait_exit(max(0.1, 5 - (time.monotonic() - start)))
        self.assertIsNotNone(code, "process still running 5s after %s" % sig.name)
        self.assertEqual(code, 0, "exit code after %s; log:\n%s" % (sig.name, self.server.log()[-2000:]))
        self.assertLess(took, 5)
        return s

    def test_sigterm_ends_stream_and_exits_0(self):
        self._stop_with(signal.SIGTERM)

    def test_sigint_ends_stream_and_exits_0(self):
        self._stop_with(signal.SIGINT)

    def test_sigterm_sends_chunked_terminator(self):
        s = self._stop_with(signal.SIGTERM)
        self.assertTrue(s.terminator_seen,
                        "stream ended without the chunked terminator 0\\r\\n\\r\\n (last bytes %r)"
                        % bytes(s.bs.wire[-40:]))
        self.assertFalse(s.bs.reset, "stream was reset instead of closed cleanly")

    def test_sigterm_with_many_streams_and_idle_connection(self):
        streams = [self.sse(["sd-%d" % (i % 3)]) for i in range(10)]
        s10 = self.sse(["sd-0"], http10=True)
        idle = HttpConnection(self.server.port)
        self.clients.append(idle)
        self.assertEqual(idle.request("GET", "/healthz").status, 200)
        start = time.monotonic()
        self.server.signal(signal.SIGTERM)
        for s in streams + [s10]:
            s.read_to_eof(timeout=max(0.1, 5 - (time.monotonic() - start)))
        self.assertTrue(idle.wait_closed(max(0.1, 5 - (time.monotonic() - start))),
                        "idle keep-alive connection left open")
        code = self.server.wait_exit(max(0.1, 5 - (time.monotonic() - start)))
        self.assertEqual(code, 0)

    def test_stops_accepting_after_exit(self):
        self.server.signal(signal.SIGTERM)
        self.assertEqual(self.server.wait_exit(5), 0)
        with self.assertRaises(OSError):
            s = socket.create_connection(("127.0.0.1", self.server.port), timeout=1)
            s.close()



class DrainDelay(unittest.TestCase):
    """--drain-delay: after SIGTERM, /readyz says 503 while everything else is still served."""

    def setUp(self):
        self.server = HeraldServer(["--drain-delay", "1500ms", "--heartbeat-interval", "60s"])
        self.server.start()

    def tearDown(self):
        self.server.cleanup()

    def test_readyz_fails_first_then_the_server_stops(self):
        port = self.server.port
        s = SSEClient(port, ["drain-topic"])
        try:
            self.assertEqual(request(port, "GET", "/readyz").status, 200)
            start = time.monotonic()
            self.server.signal(signal.SIGTERM)
            deadline = start + 1.0
            while request(port, "GET", "/readyz").status != 503:
                self.assertLess(time.monotonic(), deadline, "/readyz never answered 503 after SIGTERM")
                time.sleep(0.02)
            # Still serving during the delay: health, publishing and delivery to open streams.
            self.assertEqual(request(port, "GET", "/healthz").status, 200)
            eid = publish(port, "drain-topic", "during the drain delay")
            self.assertEqual(s.next_event().int_id, eid)
            s.read_to_eof(timeout=6)
            took = time.monotonic() - start
            self.assertGreaterEqual(took, 1.3, "stream ended before the drain delay was over")
            code = self.server.wait_exit(5)
            self.assertEqual(code, 0, self.server.log()[-2000:])
        finally:
            s.close()

    def test_second_signal_cuts_the_delay_short(self):
        self.server.signal(signal.SIGTERM)
        time.sleep(0.2)
        start = time.monotonic()
        self.server.signal(signal.SIGTERM)
        code = self.server.wait_exit(3)
        self.assertEqual(code, 0, self.server.log()[-2000:])
        self.assertLess(time.monotonic() - start, 1.2)

if __name__ == "__main__":
    unittest.main()
