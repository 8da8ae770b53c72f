"""Publishing in every body format and receiving the events on streams."""

import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import (HeraldTestCase, Publisher, publish, publish_form,  # noqa: E402
                            publish_json, publish_raw)


class PublishFormats(HeraldTestCase):

    def _single_id(self, resp):
        self.assertEqual(resp.status, 200, resp)
        self.assertTrue((resp.header("Content-Type") or "").startswith("application/json"), resp)
        doc = resp.json()
        self.assertEqual(list(doc.keys()), ["id"], "answer must be {\"id\":N}: %r" % resp.body)
        self.assertIsInstance(doc["id"], int)
        return doc["id"]

    def test_json_string_data(self):
        t = self.topic()
        c = self.sse(t)
        eid = self._single_id(publish_json(self.port, {"topic": t, "data": "hello world"}))
        ev = c.next_event()
        self.assertEqual(ev.int_id, eid)
        self.assertIsNone(ev.event, "no event type was given, so no event: line expected")
        self.assertEqual(ev.data_lines, ["hello world"])

    def test_json_non_string_data_is_compact_json(self):
        t = self.topic()
        c = self.sse(t)
        values = [
            {"a": 1, "b": [1, 2, "x y"], "c": None, "d": {"e": True, "f": False}},
            [1, "two", 3.5, {"k": "v"}],
            42,
            True,
        ]
        ids = []
        for v in values:
            ids.append(self._single_id(publish_json(self.port, {"topic": t, "data": v})))
        for v, eid in zip(values, ids):
            ev = c.next_event()
            self.assertEqual(ev.int_id, eid)
            self.assertEqual(len(ev.data_lines), 1, "compact JSON is one data line: %r" % ev.data_lines)
            self.assertEqual(json.loads(ev.data), v)
            self.assertEqual(ev.data, json.dumps(v, separators=(",", ":")),
                             "non-string data must be sent as compact JSON")

    def test_json_object_data_keeps_key_order(self):
        # the contract: non-string data is sent as json.dumps(v, separators=(",", ":")),
        # which keeps the publisher's key order
        t = self.topic()
        c = self.sse(t)
        v = {"zeta": 1, "alpha": {"y": 2, "b": 3}, "mid": [{"k2": 0, "k1": 1}]}
        eid = self._single_id(publish_json(self.port, {"topic": t, "data": v}))
        ev = c.next_event()
        self.assertEqual(ev.int_id, eid)
        self.assertEqual(ev.data, json.dumps(v, separators=(",", ":")),
                         "object keys must keep the published order")

    def test_json_array_publishes_several(self):
        t = self.topic()
        c = self.sse(t)
        body = [{"topic": t, "data": "one"},
                {"topic": t, "data": "two", "event": "second"},
                {"topic": t, "data": {"n": 3}}]
        r = publish_json(self.port, body)
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(list(doc.keys()), ["ids"], "array body must answer {\"ids\":[...]}: %r" % r.body)
        ids = doc["ids"]
        self.assertEqual(len(ids), 3)
        self.assertTrue(all(isinstance(i, int) for i in ids))
        self.assertEqual(ids, sorted(set(ids)), "ids must be strictly increasing")
        evs = c.read_n(3)
        self.assertEqual([e.int_id for e in evs], ids)
        self.assertEqual([e.data for e in evs], ["one", "two", '{"n":3}'])
        self.assertEqual([e.event for e in evs], [None, "second", None])

    def test_json_topic_list_one_id_delivered_once(self):
        a, b = self.topic("a"), self.topic("b")
        both = self.sse([a, b])
        only_a = self.sse([a])
        only_b = self.sse([b])
        eid = self._single_id(publish_json(self.port, {"topic": [a, b], "data": "fan-out"}))
        for c in (both, only_a, only_b):
            ev = c.next_event()
            self.assertEqual((ev.int_id, ev.data), (eid, "fan-out"))
        # no duplicate: the next thing on the two-topic stream is a later event
        sentinel = publish(self.port, a, "sentinel")
        ev = both.next_event()
        self.assertEqual((ev.int_id, ev.data), (sentinel, "sentinel"),
                         "event published to two topics was delivered twice to a subscriber of both")

    def test_form_urlencoded_repeated_topic(self):
        a, b = self.topic("a"), self.topic("b")
        both = self.sse([a, b])
        only_b = self.sse([b])
        r = publish_form(self.port, [("topic", a), ("topic", b), ("data", "x y&z=1 é"), ("event", "formev")])
        eid = self._single_id(r)
        ev = both.next_event()
        self.assertEqual((ev.int_id, ev.event, ev.data), (eid, "formev", "x y&z=1 é"))
        ev = only_b.next_event()
        self.assertEqual((ev.int_id, ev.event, ev.data), (eid, "formev", "x y&z=1 é"))
        sentinel = publish(self.port, b, "after")
        self.assertEqual(both.next_event().int_id, sentinel, "form event delivered twice")

    def test_form_urlencoded_plus_is_space(self):
        t = self.topic()
        c = self.sse(t)
        r = self.request("POST", "/publish", [("Content-Type", "application/x-www-form-urlencoded")],
                         "topic=%s&data=a+b%%2Bc" % t)
        eid = self._single_id(r)
        ev = c.next_event()
        self.assertEqual((ev.int_id, ev.data), (eid, "a b+c"))

    def test_raw_body_with_query_topic_and_event(self):
        t = self.topic()
        c = self.sse(t)
        eid = self._single_id(publish_raw(self.port, t, "raw body data", event="rawev"))
        ev = c.next_event()
        self.assertEqual((ev.int_id, ev.event, ev.data), (eid, "rawev", "raw body data"))

    def test_raw_body_without_content_type(self):
        t = self.topic()
        c = self.sse(t)
        eid = self._single_id(publish_raw(self.port, t, "no content type", content_type=None))
        ev = c.next_event()
        self.assertEqual((ev.int_id, ev.data), (eid, "no content type"))

    def test_raw_body_with_json_like_content_type_other(self):
        # text/plain body that looks like JSON is still taken verbatim
        t = self.topic()
        c = self.sse(t)
        eid = self._single_id(publish_raw(self.port, t, '{"not":"parsed"}', content_type="text/plain"))
        ev = c.next_event()
        self.assertEqual((ev.int_id, ev.data), (eid, '{"not":"parsed"}'))

    def test_json_with_charset_parameter(self):
        t = self.topic()
        c = self.sse(t)
        r = self.request("POST", "/publish", [("Content-Type", "application/json; charset=utf-8")],
                         json.dumps({"topic": t, "data": "cs"}))
        eid = self._single_id(r)
        self.assertEqual(c.next_event().int_id, eid)


class DataEncoding(HeraldTestCase):

    def _roundtrip(self, data, expected_lines, via="json"):
        t = self.topic()
        c = self.sse(t)
        if via == "json":
            eid = publish(self.port, t, data)
        elif via == "raw":
            eid = publish_raw(self.port, t, data).json()["id"]
        else:
            eid = publish_form(self.port, [("topic", t), ("data", data)]).json()["id"]
        ev = c.next_event()
        self.assertEqual(ev.int_id, eid)
        self.assertEqual(ev.data_lines, expected_lines, "data %r via %s" % (data, via))
        self.assertNotIn(b"\r", bytes(c.body), "CR must never appear in the stream")

    def test_multiline_lf(self):
        self._roundtrip("line1\nline2\nline3", ["line1", "line2", "line3"])

    def test_multiline_crlf(self):
        self._roundtrip("line1\r\nline2\r\nline3", ["line1", "line2", "line3"])

    def test_multiline_cr(self):
        self._roundtrip("line1\rline2\rline3", ["line1", "line2", "line3"])

    def test_multiline_mixed_and_empty_lines(self):
        self._roundtrip("a\r\nb\rc\nd\n\ne", ["a", "b", "c", "d", "", "e"])

    def test_multiline_raw_body(self):
        for via in ("raw", "form"):
            with self.subTest(via=via):
                self._roundtrip("r1\r\nr2\nr3\rr4", ["r1", "r2", "r3", "r4"], via=via)

    def test_event_type_line(self):
        t = self.topic()
        c = self.sse(t)
        eid = publish(self.port, t, "typed", event="user.update")
        ev = c.next_event()
        self.assertEqual((ev.int_id, ev.event, ev.data), (eid, "user.update", "typed"))
        # field order per contract: id, event, data
        self.assertEqual([f[0] for f in ev.fields], ["id", "event", "data"])

    def test_event_framing_bytes(self):
        t = self.topic()
        c = self.sse(t)
        eid = publish(self.port, t, "x\ny", event="kind")
        c.next_event()
        expected = ("id: %d\nevent: kind\ndata: x\ndata: y\n\n" % eid).encode()
        self.assertIn(expected, bytes(c.body))

    def test_utf8_roundtrip_json_escaped(self):
        s = "h\u00e9llo \u2013 \u4e16\u754c \U0001F389 \u00fc"
        t = self.topic()
        c = self.sse(t)
        # ensure_ascii=True: the server must decode \\uXXXX incl. surrogate pairs
        eid = publish(self.port, t, s)
        ev = c.next_event()
        self.assertEqual((ev.int_id, ev.data), (eid, s))
        self.assertIn(s.encode("utf-8"), bytes(c.body), "stream must carry raw UTF-8")
        self.assertEqual(c.parser.errors, [])

    def test_utf8_roundtrip_json_raw_utf8(self):
        s = "Gr\u00fc\u00dfe \u043f\u0440\u0438\u0432\u0435\u0442 \U0001F600"
        t = self.topic()
        c = self.sse(t)
        r = publish_json(self.port, {"topic": t, "data": s}, ensure_ascii=False)
        self.assertEqual(r.status, 200, r)
        ev = c.next_event()
        self.assertEqual((ev.int_id, ev.data), (r.json()["id"], s))

    def test_utf8_roundtrip_raw_and_form(self):
        s = "caf\u00e9 \u65e5\u672c \U0001F680"
        self._roundtrip(s, [s], via="raw")
        self._roundtrip(s, [s], via="form")

    def test_utf8_topic_name(self):
        t = self.topic() + "-caf\u00e9"
        c = self.sse(t)
        eid = publish(self.port, t, "unicode topic")
        self.assertEqual(c.next_event().int_id, eid)


class MultiTopicStream(HeraldTestCase):

    def test_multi_topic_in_id_order(self):
        a, b, c_, other = (self.topic(x) for x in "abcd")
        s = self.sse([a, b, c_])
        pub = self.publisher()
        expected = []
        for i in range(30):
            t = [a, b, c_, other][i % 4]
            eid = pub.publish(t, "m%d" % i)
            if t != other:
                expected.append((eid, "m%d" % i))
        evs = s.read_until_id(expected[-1][0])
        got = [(e.int_id, e.data) for e in evs]
        self.assertEqual(got, expected)
        ids = [e.int_id for e in evs]
        self.assertTrue(all(x < y for x, y in zip(ids, ids[1:])), ids)
        self.assertEqual(s.expect_no_event(0.2), [], "events of an unsubscribed topic leaked")

    def test_multi_topic_concurrent_publishers_in_id_order(self):
        topics = [self.topic("c%d" % i) for i in range(4)]
        s = self.sse(topics)
        published = []
        lock = threading.Lock()
        errors = []

        def worker(t):
            p = Publisher(self.port)
            try:
                for i in range(40):
                    eid = p.publish(t, "%s/%d" % (t, i))
                    with lock:
                        published.append(eid)
            except Exception as e:  # reported below
                errors.append(e)
            finally:
                p.close()

        threads = [threading.Thread(target=worker, args=(t,)) for t in topics]
        for th in threads:
            th.start()
        for th in threads:
            th.join(20)
        self.assertEqual(errors, [])
        self.assertEqual(len(published), 160)
        evs = s.read_until_id(max(published), timeout=10)
        ids = [e.int_id for e in evs]
        self.assertTrue(all(x < y for x, y in zip(ids, ids[1:])),
                        "ids on a multi-topic stream are not strictly increasing: %r" % ids)
        self.assertEqual(ids, sorted(published))

    def test_ids_strictly_increase_across_topics(self):
        ids = [publish(self.port, self.topic("x%d" % (i % 3)), str(i)) for i in range(10)]
        self.assertTrue(all(x < y for x, y in zip(ids, ids[1:])), ids)
        self.assertGreater(ids[0], 1, "ids should start near the server start time in microseconds")


if __name__ == "__main__":
    unittest.main()
