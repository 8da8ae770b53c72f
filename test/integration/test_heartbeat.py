"""Heartbeat comments on idle streams."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import HeraldTestCase, publish  # noqa: E402


class Heartbeat(HeraldTestCase):
    SERVER_ARGS = ["--heartbeat-interval", "300ms"]

    def _heartbeats(self, c):
        return [x for x in c.all_comments if x.text == "heartbeat"]

    def test_idle_stream_gets_heartbeats(self):
        c = self.sse(self.topic())
        start = time.monotonic()
        deadline = start + 2.0
        while len(self._heartbeats(c)) < 2 and time.monotonic() < deadline:
            c.next_comment(max(0.01, deadline - time.monotonic()))
        hb = self._heartbeats(c)
        self.assertGreaterEqual(len(hb), 2, "expected >=2 heartbeats in 2s with a 300ms interval, got %r"
                                % c.all_comments)
        self.assertLess(hb[0].t - start, 1.2, "first heartbeat came too late")
        self.assertIn(b": heartbeat\n\n", bytes(c.body))
        self.assertEqual(c.all_events, [], "heartbeats must not be events")

    def test_heartbeat_on_http10_stream(self):
        c = self.sse(self.topic(), http10=True)
        deadline = time.monotonic() + 1.5
        while not self._heartbeats(c) and time.monotonic() < deadline:
            c.next_comment(max(0.01, deadline - time.monotonic()))
        self.assertTrue(self._heartbeats(c))
        self.assertIn(b": heartbeat\n\n", bytes(c.bs.wire))

    def test_stream_usable_after_heartbeats(self):
        t = self.topic()
        c = self.sse(t)
        c.next_comment(1.5)  # ": connected" may be the first comment
        deadline = time.monotonic() + 1.5
        while not self._heartbeats(c) and time.monotonic() < deadline:
            c.next_comment(max(0.01, deadline - time.monotonic()))
        self.assertTrue(self._heartbeats(c))
        eid = publish(self.port, t, "after heartbeat")
        ev = c.next_event()
        self.assertEqual((ev.int_id, ev.data), (eid, "after heartbeat"))

    def test_heartbeat_resumes_after_events_stop(self):
        t = self.topic()
        c = self.sse(t)
        for i in range(3):
            publish(self.port, t, str(i))
            time.sleep(0.1)
        c.read_n(3)
        n_before = len(self._heartbeats(c))
        deadline = time.monotonic() + 1.5
        while len(self._heartbeats(c)) == n_before and time.monotonic() < deadline:
            c.next_comment(max(0.01, deadline - time.monotonic()))
        self.assertGreater(len(self._heartbeats(c)), n_before)


class NoEarlyHeartbeat(HeraldTestCase):

    def test_default_interval_no_heartbeat_within_one_second(self):
        c = self.sse(self.topic())
        c.expect_no_event(1.0)
        self.assertEqual([x for x in c.all_comments if x.text == "heartbeat"], [],
                         "default heartbeat interval is 15s")


if __name__ == "__main__":
    unittest.main()
