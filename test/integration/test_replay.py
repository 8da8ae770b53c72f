"""Replay with Last-Event-ID / lastEventId and the history-truncated notice."""

import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import HeraldTestCase, Publisher, publish  # noqa: E402


class Replay(HeraldTestCase):

    def assert_strict(self, ids):
        self.assertTrue(all(x < y for x, y in zip(ids, ids[1:])), "ids not strictly increasing: %r" % ids)

    def _replay_then_live(self, header):
        t = self.topic()
        pub = self.publisher()
        ids = [pub.publish(t, "ev%d" % i) for i in range(10)]
        if header:
            c = self.sse(t, last_event_id=ids[4])
        else:
            c = self.sse(t, last_event_id_query=ids[4])
        ids += [pub.publish(t, "ev%d" % i) for i in range(10, 15)]
        evs = c.read_until_id(ids[-1])
        self.assertEqual([e.int_id for e in evs], ids[5:15])
        self.assertEqual([e.data for e in evs], ["ev%d" % i for i in range(5, 15)])
        self.assertEqual(c.expect_no_event(0.2), [], "unexpected extra events")
        self.assertFalse(any(e.event == "herald-history-truncated" for e in evs))

    def test_replay_by_header(self):
        self._replay_then_live(header=True)

    def test_replay_by_query(self):
        self._replay_then_live(header=False)

    def test_header_wins_over_query(self):
        t = self.topic()
        ids = [publish(self.port, t, "h%d" % i) for i in range(10)]
        c = self.sse(t, last_event_id=ids[6], last_event_id_query=ids[2])
        evs = c.read_until_id(ids[-1])
        self.assertEqual([e.int_id for e in evs], ids[7:10],
                         "Last-Event-ID header must win over the lastEventId query parameter")

    def test_replay_from_latest_id_replays_nothing(self):
        t = self.topic()
        ids = [publish(self.port, t, "x%d" % i) for i in range(3)]
        c = self.sse(t, last_event_id=ids[-1])
        self.assertEqual(c.expect_no_event(0.3), [])
        eid = publish(self.port, t, "live")
        ev = c.next_event()
        self.assertEqual((ev.int_id, ev.data), (eid, "live"))

    def test_replay_preserves_event_type_and_multiline(self):
        t = self.topic()
        before = publish(self.port, t, "first")
        eid = publish(self.port, t, "l1\r\nl2", event="kind")
        c = self.sse(t, last_event_id=before)
        ev = c.next_event()
        self.assertEqual((ev.int_id, ev.event, ev.data_lines), (eid, "kind", ["l1", "l2"]))

    def test_replay_multi_topic_in_id_order(self):
        a, b, other = self.topic("a"), self.topic("b"), self.topic("o")
        pub = self.publisher()
        ids = []
        for i in range(12):
            ids.append((pub.publish([a, b, other][i % 3], "m%d" % i), i % 3))
        start = ids[2][0]
        c = self.sse([a, b], last_event_id=start)
        expected = [eid for eid, k in ids[3:] if k != 2]
        evs = c.read_until_id(expected[-1])
        self.assertEqual([e.int_id for e in evs], expected)

    def test_replay_of_event_on_two_topics_once(self):
        a, b = self.topic("a"), self.topic("b")
        first = publish(self.port, a, "first")
        r = self.request("POST", "/publish", [("Content-Type", "application/json")],
                         json.dumps({"topic": [a, b], "data": "both"}))
        both_id = r.json()["id"]
        last = publish(self.port, b, "last")
        c = self.sse([a, b], last_event_id=first)
        evs = c.read_until_id(last)
        self.assertEqual([e.int_id for e in evs], [both_id, last], "event on two topics replayed twice?")

    def _seam_iteration(self, n, use_query):
        t = self.topic("seam%d" % n)
        pub = self.publisher()
        ids = [pub.publish(t, "p%d" % i) for i in range(10)]
        live_ids = []
        stop = threading.Event()
        errors = []

        def hammer():
            p = Publisher(self.port)
            try:
                i = 0
                while not stop.is_set() and i < 300:
                    live_ids.append(p.publish(t, "c%d" % i))
                    i += 1
            except Exception as e:
                errors.append(e)
            finally:
                p.close()

        th = threading.Thread(target=hammer)
        th.start()
        try:
            # let the publisher get going so the subscription lands mid-stream
            time.sleep(0.002 * (n % 4))
            if use_query:
                c = self.sse(t, last_event_id_query=ids[4])
            else:
                c = self.sse(t, last_event_id=ids[4])
            c.next_event()   # stream is delivering
            time.sleep(0.01)
        finally:
            stop.set()
            th.join(10)
        self.assertEqual(errors, [])
        sentinel = pub.publish(t, "sentinel")
        expected = ids[5:] + live_ids + [sentinel]
        evs = c.read_until_id(sentinel, timeout=5)
        received = [e.int_id for e in c.all_events]
        dups = sorted({i for i in received if received.count(i) > 1})
        missing = sorted(set(expected) - set(received))
        self.assertEqual(dups, [], "duplicate ids at the replay/live seam")
        self.assertEqual(missing, [], "ids missing at the replay/live seam (gap)")
        self.assertEqual(received, expected)
        self.assertTrue(evs)
        c.close()

    def test_replay_live_seam_with_concurrent_publisher(self):
        for n in range(8):
            with self.subTest(iteration=n):
                self._seam_iteration(n, use_query=(n % 2 == 1))


class HistoryTruncated(HeraldTestCase):
    SERVER_ARGS = ["--history-size", "5"]

    def _check_notice(self, ev, topics, last_id):
        self.assertEqual(ev.event, "herald-history-truncated", "first event must be the truncated notice: %r" % ev)
        self.assertIsNone(ev.id, "the truncated notice carries no id line")
        doc = json.loads(ev.data)
        self.assertEqual(doc, {"topics": topics, "last_event_id": str(last_id)})

    def test_truncated_notice_then_retained(self):
        t = self.topic()
        pub = self.publisher()
        ids = [pub.publish(t, "e%d" % i) for i in range(20)]
        c = self.sse(t, last_event_id=ids[0])
        self._check_notice(c.next_event(), [t], ids[0])
        evs = c.read_n(5)
        self.assertEqual([e.int_id for e in evs], ids[15:])
        self.assertEqual([e.data for e in evs], ["e%d" % i for i in range(15, 20)])
        self.assertEqual(c.expect_no_event(0.2), [])
        # on the wire: exactly an event line and one compact JSON data line, no id
        notice = c.all_events[0]
        self.assertEqual([f[0] for f in notice.fields], ["event", "data"])
        self.assertEqual(notice.data, json.dumps(json.loads(notice.data), separators=(",", ":"),
                                                 ensure_ascii=False), "notice data should be compact JSON")

    def test_truncated_notice_with_query(self):
        t = self.topic()
        ids = [publish(self.port, t, "q%d" % i) for i in range(8)]
        c = self.sse(t, last_event_id_query=ids[1])
        self._check_notice(c.next_event(), [t], ids[1])
        self.assertEqual([e.int_id for e in c.read_n(5)], ids[3:])

    def test_no_notice_when_history_reaches_back(self):
        t = self.topic()
        ids = [publish(self.port, t, "n%d" % i) for i in range(20)]
        c = self.sse(t, last_event_id=ids[16])
        evs = c.read_n(3)
        self.assertEqual([e.int_id for e in evs], ids[17:])
        self.assertEqual(c.expect_no_event(0.2), [])

    def test_notice_names_only_truncated_topic(self):
        a, b = self.topic("a"), self.topic("b")
        pub = self.publisher()
        ids_a = [pub.publish(a, "a%d" % i) for i in range(10)]
        ids_b = [pub.publish(b, "b%d" % i) for i in range(2)]
        c = self.sse([a, b], last_event_id=ids_a[0])
        self._check_notice(c.next_event(), [a], ids_a[0])
        evs = c.read_n(7)
        self.assertEqual([e.int_id for e in evs], ids_a[5:] + ids_b)

    def test_id_older_than_server_start_gets_notice(self):
        t = self.topic()
        c = self.sse(t, last_event_id=1)
        ev = c.next_event()
        self._check_notice(ev, [t], 1)
        eid = publish(self.port, t, "live after notice")
        self.assertEqual(c.next_event().int_id, eid)


class HistoryMaxAge(HeraldTestCase):
    SERVER_ARGS = ["--history-max-age", "500ms"]

    def test_old_events_dropped_from_history(self):
        t = self.topic()
        ids = [publish(self.port, t, "old%d" % i) for i in range(3)]
        time.sleep(1.2)
        fresh = publish(self.port, t, "fresh")
        c = self.sse(t, last_event_id=ids[0])
        ev = c.next_event()
        self.assertEqual(ev.event, "herald-history-truncated", "expired events must cause the notice: %r" % ev)
        self.assertEqual([e.int_id for e in c.read_n(1)], [fresh])
        self.assertEqual(c.expect_no_event(0.2), [])


if __name__ == "__main__":
    unittest.main()
