"""GET /metrics (Prometheus text format 0.0.4), GET /stats, /healthz, /readyz,
--metrics-topics, --version and --log-format json.

Counters are checked as deltas around known actions.  Values that the shards
update asynchronously (deliveries, gauges, connection counts) are polled with a
deadline rather than read once after a fixed sleep."""

import json
import math
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import (BufferedSocket, HeraldServer, HeraldTestCase, HttpConnection,  # noqa: E402
                            SSEClient, build_request, connect, publish, publish_json, raw_exchange,
                            request, run_server_process)

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
POLL_TIMEOUT = 5.0

GAUGES = ["herald_uptime_seconds", "herald_connections_open", "herald_streams_open",
          "herald_subscriptions_active", "herald_topics"]
COUNTERS = ["herald_connections_accepted_total", "herald_streams_opened_total",
            "herald_events_published_total", "herald_events_delivered_total",
            "herald_bytes_sent_total", "herald_replays_total", "herald_events_replayed_total",
            "herald_history_truncated_total", "herald_slow_consumer_disconnects_total",
            "herald_write_timeouts_total", "herald_stream_input_disconnects_total",
            "herald_tls_handshake_failures_total", "herald_topics_limit_refusals_total",
            "herald_requests_rejected_total"]
HISTOGRAM = "herald_publish_to_enqueue_seconds"
REJECT_REASONS = ["bad_request", "not_found", "method_not_allowed", "timeout", "body_too_large",
                  "unsupported_media_type", "headers_too_large", "unavailable", "http_version",
                  "too_many_requests", "unauthorized", "forbidden"]

# metric name -> /stats key, for the unlabelled series both expose
STATS_KEYS = {
    "herald_connections_open": "connections",
    "herald_connections_accepted_total": "connections_accepted",
    "herald_streams_open": "streams",
    "herald_subscriptions_active": "subscriptions",
    "herald_topics": "topics",
    "herald_events_published_total": "events_published",
    "herald_events_delivered_total": "events_delivered",
    "herald_bytes_sent_total": "bytes_sent",
    "herald_replays_total": "replays",
    "herald_events_replayed_total": "events_replayed",
    "herald_history_truncated_total": "history_truncated",
    "herald_slow_consumer_disconnects_total": "slow_consumer_disconnects",
    "herald_write_timeouts_total": "write_timeouts",
    "herald_stream_input_disconnects_total": "stream_input_disconnects",
    "herald_tls_handshake_failures_total": "tls_handshake_failures",
    "herald_topics_limit_refusals_total": "topics_limit_refusals",
}


# --------------------------------------------------------------------------
# Exposition format parser (text format 0.0.4)
# --------------------------------------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE_RE = re.compile(r"^(%s)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+(-?\d+))?$" % _NAME)
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\\n]|\\[\\"n])*)"\s*(,|$)')
_META_RE = re.compile(r"^#[ \t]+(HELP|TYPE)[ \t]+(%s)(?:[ \t]+(.*))?$" % _NAME)
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def _unescape_label(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def _parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    return float(s)


class Family:
    def __init__(self, name):
        self.name = name
        self.help = None
        self.type = None
        self.samples = []        # (sample name, {labels}, value)


class Exposition:
    """A parsed /metrics body.  Raises AssertionError on any format violation."""

    def __init__(self, text):
        self.text = text
        self.families = {}
        self.order = []
        if text and not text.endswith("\n"):
            raise AssertionError("exposition does not end with a line feed")
        current = None
        closed = set()
        for lineno, line in enumerate(text.split("\n")[:-1], 1):
            where = "line %d %r" % (lineno, line)
            if line.strip() == "":
                continue
            if line.startswith("#"):
                m = _META_RE.match(line)
                if not m:
                    continue      # an ordinary comment
                kind, name, rest = m.group(1), m.group(2), m.group(3) or ""
                fam = self._family(name, where, closed, current)
                current = fam
                if kind == "HELP":
                    if fam.help is not None:
                        raise AssertionError("second HELP for %s at %s" % (name, where))
                    if fam.samples:
                        raise AssertionError("HELP after samples of %s at %s" % (name, where))
                    fam.help = rest
                else:
                    if fam.type is not None:
                        raise AssertionError("second TYPE for %s at %s" % (name, where))
                    if fam.samples:
                        raise AssertionError("TYPE after samples of %s at %s" % (name, where))
                    if rest not in _TYPES:
                        raise AssertionError("unknown type %r at %s" % (rest, where))
                    fam.type = rest
                continue
            m = _SAMPLE_RE.match(line)
            if not m:
                raise AssertionError("malformed sample at %s" % where)
            sname, label_text, value_text = m.group(1), m.group(2), m.group(3)
            labels = {}
            if label_text:
                pos = 0
                while pos < len(label_text):
                    lm = _LABEL_RE.match(label_text, pos)
                    if not lm or lm.end() == pos:
                        raise AssertionError("malformed labels at %s" % where)
                    if lm.group(1) in labels:
                        raise AssertionError("repeated label %s at %s" % (lm.group(1), where))
                    labels[lm.group(1)] = _unescape_label(lm.group(2))
                    pos = lm.end()
            try:
                value = _parse_value(value_text)
            except ValueError:
                raise AssertionError("bad sample value at %s" % where)
            fam = self._family_of_sample(sname, where)
            if current is not fam:
                raise AssertionError("samples of %s are not grouped with its HELP/TYPE lines (%s)"
                                     % (fam.name, where))
            if fam.type is None:
                raise AssertionError("sample before TYPE of %s at %s" % (fam.name, where))
            key = (sname, tuple(sorted(labels.items())))
            if any((s[0], tuple(sorted(s[1].items()))) == key for s in fam.samples):
                raise AssertionError("duplicate series at %s" % where)
            fam.samples.append((sname, labels, value))

    def _family(self, name, where, closed, current):
        fam = self.families.get(name)
        if fam is None:
            if current is not None:
                closed.add(current.name)
            fam = self.families[name] = Family(name)
            self.order.append(name)
        elif name in closed or (current is not None and current is not fam):
            raise AssertionError("family %s split in two places (%s)" % (name, where))
        return fam

    def _family_of_sample(self, sname, where):
        if sname in self.families and self.families[sname].type not in ("histogram", "summary"):
            return self.families[sname]
        for suffix in ("_bucket", "_sum", "_count"):
            if sname.endswith(suffix):
                base = self.families.get(sname[:-len(suffix)])
                if base is not None and base.type in ("histogram", "summary"):
                    return base
        raise AssertionError("sample %s has no HELP/TYPE family (%s)" % (sname, where))

    # -- access ------------------------------------------------------------
    def series(self, name):
        """[(labels, value)] of every sample called `name`."""
        out = []
        for fam in self.families.values():
            out += [(labels, v) for s, labels, v in fam.samples if s == name]
        return out

    def value(self, name, **labels):
        for got_labels, v in self.series(name):
            if got_labels == labels:
                return v
        raise AssertionError("no series %s%r in /metrics:\n%s" % (name, labels, self.text))

    def int(self, name, **labels):
        v = self.value(name, **labels)
        if v != int(v):
            raise AssertionError("%s%r is not an integer: %r" % (name, labels, v))
        return int(v)

    def rejected(self):
        return {labels["reason"]: int(v) for labels, v in self.series("herald_requests_rejected_total")}

    def histogram(self, name):
        """(buckets [(le, count)], sum, count) of an unlabelled histogram."""
        buckets = []
        for labels, v in self.series(name + "_bucket"):
            if set(labels) != {"le"}:
                raise AssertionError("unexpected labels on %s_bucket: %r" % (name, labels))
            buckets.append((_parse_value(labels["le"]), v))
        return buckets, self.value(name + "_sum"), self.value(name + "_count")


def scrape(port, conn=None):
    r = conn.request("GET", "/metrics") if conn else request(port, "GET", "/metrics")
    if r.status != 200:
        raise AssertionError("GET /metrics: %r" % r)
    ctype = r.header("Content-Type")
    if ctype != METRICS_CONTENT_TYPE:
        raise AssertionError("GET /metrics Content-Type %r, expected %r" % (ctype, METRICS_CONTENT_TYPE))
    return Exposition(r.body.decode("utf-8"))


def get_stats(port, conn=None):
    r = conn.request("GET", "/stats") if conn else request(port, "GET", "/stats")
    if r.status != 200:
        raise AssertionError("GET /stats: %r" % r)
    if not (r.header("Content-Type") or "").startswith("application/json"):
        raise AssertionError("GET /stats Content-Type %r" % r.header("Content-Type"))
    return r.json()


class MetricsMixin:
    """Helpers for a test case with self.port."""

    def scrape(self, conn=None):
        return scrape(self.port, conn)

    def stats(self, conn=None):
        return get_stats(self.port, conn)

    def wait_metrics(self, predicate, what, timeout=POLL_TIMEOUT, conn=None):
        """Scrape until predicate(exposition) is true; return that exposition."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.scrape(conn)
            if predicate(m):
                return m
            if time.monotonic() >= deadline:
                self.fail("within %.1fs: %s\n/metrics:\n%s" % (timeout, what, m.text))
            time.sleep(0.02)

    def wait_values(self, expected, what="", timeout=POLL_TIMEOUT, conn=None):
        """Wait until every metric name in `expected` has that value."""
        def ok(m):
            return all(m.int(k) == v for k, v in expected.items())
        try:
            return self.wait_metrics(ok, "%s expected %r" % (what, expected), timeout, conn)
        except AssertionError:
            m = self.scrape(conn)
            got = {k: m.int(k) for k in expected}
            self.fail("%s: within %.1fs expected %r, got %r" % (what, timeout, expected, got))

    def assert_histogram(self, m, name=HISTOGRAM):
        buckets, total, count = m.histogram(name)
        self.assertGreaterEqual(len(buckets), 2, "histogram %s has too few buckets" % name)
        les = [le for le, _ in buckets]
        self.assertEqual(les[-1], math.inf, "last bucket of %s is not le=\"+Inf\"" % name)
        self.assertEqual(les, sorted(les), "bucket bounds of %s not increasing: %r" % (name, les))
        self.assertEqual(len(set(les)), len(les), "repeated bucket bound in %s" % name)
        counts = [c for _, c in buckets]
        for a, b in zip(counts, counts[1:]):
            self.assertLessEqual(a, b, "buckets of %s not cumulative: %r" % (name, buckets))
        self.assertEqual(counts[-1], count, "%s +Inf bucket != _count" % name)
        self.assertGreaterEqual(total, 0)
        if count == 0:
            self.assertEqual(total, 0)
        return buckets, total, count


# --------------------------------------------------------------------------
# Counters and gauges
# --------------------------------------------------------------------------

class Metrics(MetricsMixin, HeraldTestCase):
    HISTORY = 4
    SERVER_ARGS = ["--threads", "2", "--history-size", str(HISTORY), "--max-body-bytes", "1k",
                   "--header-timeout", "1s", "--heartbeat-interval", "60s"]

    def quiesce(self):
        """Wait until the streams of earlier tests are gone."""
        self.wait_values({"herald_streams_open": 0, "herald_subscriptions_active": 0},
                         "streams of earlier tests closed")

    def test_exposition_format(self):
        r = self.request("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), METRICS_CONTENT_TYPE)
        m = Exposition(r.body.decode("utf-8"))
        for name, typ in [(g, "gauge") for g in GAUGES] + [(c, "counter") for c in COUNTERS] \
                + [(HISTOGRAM, "histogram")]:
            self.assertIn(name, m.families, "family %s missing:\n%s" % (name, m.text))
            fam = m.families[name]
            self.assertTrue(fam.help, "no (or empty) HELP line for %s" % name)
            self.assertEqual(fam.type, typ, "TYPE of %s" % name)
            self.assertTrue(fam.samples, "family %s has no samples" % name)
        for name in GAUGES + COUNTERS:
            if name == "herald_requests_rejected_total":
                continue
            self.assertEqual([labels for labels, _ in m.series(name)], [{}], "%s should be one unlabelled series" % name)
            if name != "herald_uptime_seconds":
                m.int(name)
        for fam in m.families.values():
            self.assertTrue(fam.help is not None and fam.type is not None,
                            "family %s lacks HELP or TYPE" % fam.name)
            self.assertTrue(fam.name.startswith("herald_"), fam.name)
            if fam.type == "counter":
                self.assertTrue(fam.name.endswith("_total"), "counter %s not named *_total" % fam.name)
            for _, _, v in fam.samples:
                self.assertFalse(math.isnan(v) or v < 0, "negative or NaN sample in %s" % fam.name)
        self.assertEqual(sorted(m.rejected()), sorted(REJECT_REASONS),
                         "herald_requests_rejected_total reasons")
        self.assert_histogram(m)
        self.assertFalse([n for n in m.families if n.startswith("herald_topic_")],
                         "per-topic families without --metrics-topics")
        self.assertNotIn("herald_topic_", m.text)
        self.assertGreater(m.value("herald_uptime_seconds"), 0)
        later = self.scrape()
        self.assertGreaterEqual(later.value("herald_uptime_seconds"), m.value("herald_uptime_seconds"))

    def test_head_and_options(self):
        r = self.request("HEAD", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")
        r = self.request("POST", "/metrics", body=b"x")
        self.assert_json_error(r, 405)
        r = self.request("OPTIONS", "/stats")
        self.assertEqual(r.status, 204)

    def test_publish_fanout_counters(self):
        self.quiesce()
        t, other, empty = self.topic("fan"), self.topic("fan-other"), self.topic("fan-empty")
        S, N = 3, 5
        subs = [self.sse(t) for _ in range(S)]
        bystander = self.sse(other)
        before = self.wait_values({"herald_streams_open": S + 1, "herald_subscriptions_active": S + 1},
                                  "streams of this test open")
        wire_before = sum(len(c.bs.wire) for c in subs)
        pub = self.publisher()
        ids = [pub.publish(t, "fan-%d" % i) for i in range(N)]
        pub.publish(empty, "nobody listens")
        pub.publish(empty, "nobody listens either")
        for c in subs:
            self.assertEqual([e.int_id for e in c.read_n(N)], ids)
        published0 = before.int("herald_events_published_total")
        delivered0 = before.int("herald_events_delivered_total")
        m = self.wait_values({"herald_events_published_total": published0 + N + 2,
                              "herald_events_delivered_total": delivered0 + N * S},
                             "after %d events to %d subscribers and 2 to none" % (N, S))
        self.assertEqual(bystander.expect_no_event(0.1), [])
        self.assertEqual(m.int("herald_events_delivered_total"), delivered0 + N * S, "delivered overshoots")
        received = sum(len(c.bs.wire) for c in subs) - wire_before
        self.assertGreaterEqual(m.int("herald_bytes_sent_total") - before.int("herald_bytes_sent_total"),
                                received, "bytes_sent grew less than the bytes the subscribers received")
        # every event followed by a subscriber is timed once per shard that queued it (2 threads)
        _, _, count0 = self.assert_histogram(before)
        _, total, count = self.assert_histogram(m)
        self.assertGreaterEqual(count - count0, N, "publish_to_enqueue_seconds_count")
        self.assertLessEqual(count - count0, 2 * N, "publish_to_enqueue_seconds_count")
        self.assertLess(total, count * 10, "implausible publish_to_enqueue_seconds_sum")

    def test_multi_topic_event_delivered_once(self):
        self.quiesce()
        a, b = self.topic("multi-a"), self.topic("multi-b")
        both = self.sse([a, b])
        only_a = self.sse(a)
        before = self.wait_values({"herald_streams_open": 2, "herald_subscriptions_active": 3}, "streams open")
        r = publish_json(self.port, {"topic": [a, b], "data": "to both"})
        self.assertEqual(r.status, 200, r)
        eid = r.json()["id"]
        self.assertEqual(both.next_event().int_id, eid)
        self.assertEqual(only_a.next_event().int_id, eid)
        self.assertEqual(both.expect_no_event(0.2), [], "event on two topics delivered twice")
        self.wait_values({"herald_events_published_total": before.int("herald_events_published_total") + 1,
                          "herald_events_delivered_total": before.int("herald_events_delivered_total") + 2},
                         "one event on two topics, one stream on both and one on one")

    def test_stream_and_subscription_gauges(self):
        self.quiesce()
        before = self.scrape()
        t1, t2, t3 = self.topic("g1"), self.topic("g2"), self.topic("g3")
        a = self.sse([t1, t2])
        b = self.sse(t1)
        c = self.sse(t3, http10=True)
        opened0 = before.int("herald_streams_opened_total")
        topics0 = before.int("herald_topics")
        m = self.wait_values({"herald_streams_open": 3, "herald_subscriptions_active": 4,
                              "herald_streams_opened_total": opened0 + 3, "herald_topics": topics0 + 3},
                             "three streams on four subscriptions to three new topics")
        self.assertEqual(m.int("herald_replays_total"), before.int("herald_replays_total"),
                         "streams without Last-Event-ID counted as replays")
        a.close()
        self.wait_values({"herald_streams_open": 2, "herald_subscriptions_active": 2}, "after closing one stream")
        b.close()
        c.close()
        # topics with neither subscribers nor history are forgotten
        self.wait_values({"herald_streams_open": 0, "herald_subscriptions_active": 0,
                          "herald_streams_opened_total": opened0 + 3, "herald_topics": topics0},
                         "after closing every stream")

    def test_connections_open_follows_clients(self):
        self.quiesce()
        scraper = self.conn()       # one keep-alive connection for every scrape of this test
        base = self.wait_values({"herald_connections_open": 1}, "connections of earlier tests closed",
                                conn=scraper)
        K = 4
        conns = [self.conn() for _ in range(K)]
        for c in conns:
            self.assertEqual(c.request("GET", "/healthz").status, 200)
        stream = self.sse(self.topic("conn"))
        m = self.scrape(scraper)
        self.assertEqual(m.int("herald_connections_open"), K + 2,
                         "%d keep-alive connections + 1 stream + the scraper" % K)
        self.assertEqual(m.int("herald_connections_accepted_total") - base.int("herald_connections_accepted_total"),
                         K + 1, "connections accepted since the baseline scrape")
        conns[0].close()
        conns[1].close()
        self.wait_values({"herald_connections_open": K}, "after closing two keep-alive connections", conn=scraper)
        stream.close()
        for c in conns[2:]:
            c.close()
        self.wait_values({"herald_connections_open": 1, "herald_streams_open": 0}, "after closing every client",
                         conn=scraper)

    def test_replay_counters(self):
        self.quiesce()
        t = self.topic("replay")
        ids = [publish(self.port, t, "r%d" % i) for i in range(3)]   # within --history-size 4
        before = self.scrape()
        c1 = self.sse(t, last_event_id=ids[0])
        c2 = self.sse(t, last_event_id_query=ids[1])
        c3 = self.sse(t, last_event_id=ids[2])          # up to date: a replay of nothing
        c4 = self.sse(t)                                # not a replay
        self.assertEqual([e.int_id for e in c1.read_n(2)], ids[1:])
        self.assertEqual([e.int_id for e in c2.read_n(1)], ids[2:])
        for c in (c1, c2, c3, c4):
            self.assertEqual(c.expect_no_event(0.1), [])
        b = before.int
        self.wait_values({"herald_replays_total": b("herald_replays_total") + 3,
                          "herald_events_replayed_total": b("herald_events_replayed_total") + 3,
                          "herald_events_delivered_total": b("herald_events_delivered_total") + 3,
                          "herald_history_truncated_total": b("herald_history_truncated_total"),
                          "herald_streams_opened_total": b("herald_streams_opened_total") + 4},
                         "three resumed streams replaying 2 + 1 + 0 events, one fresh stream")

    def test_history_truncated_counter(self):
        self.quiesce()
        t = self.topic("trunc")
        pub = self.publisher()
        ids = [pub.publish(t, "x%d" % i) for i in range(self.HISTORY + 3)]
        before = self.scrape()
        b = before.int
        # history keeps the last 4: resuming from ids[0] misses ids[1..2]
        c = self.sse(t, last_event_id=ids[0])
        evs = c.read_n(1 + self.HISTORY)
        self.assertEqual(evs[0].event, "herald-history-truncated", evs)
        self.assertEqual([e.int_id for e in evs[1:]], ids[-self.HISTORY:])
        self.wait_values({"herald_history_truncated_total": b("herald_history_truncated_total") + 1,
                          "herald_replays_total": b("herald_replays_total") + 1,
                          "herald_events_replayed_total": b("herald_events_replayed_total") + self.HISTORY,
                          "herald_events_delivered_total": b("herald_events_delivered_total") + self.HISTORY},
                         "one truncated resume replaying %d events" % self.HISTORY)
        # an id from before this server started, and a Last-Event-ID that is not a number
        mid = self.scrape().int
        replayed = []
        for last in ("1", "not-a-number"):
            s = self.sse(t, last_event_id=last)
            first = s.next_event()
            self.assertEqual(first.event, "herald-history-truncated", "Last-Event-ID %r" % last)
            replayed.append(len(s.expect_no_event(0.2)))
        self.wait_values({"herald_history_truncated_total": mid("herald_history_truncated_total") + 2,
                          "herald_replays_total": mid("herald_replays_total") + 2,
                          "herald_events_replayed_total": mid("herald_events_replayed_total") + sum(replayed)},
                         "two more truncated resumes (replayed %r events)" % replayed)

    def test_rejected_requests_by_reason(self):
        before = self.scrape().rejected()
        p = self.port
        cases = [
            ("bad_request", lambda: request(p, "GET", "/events"), 400),
            ("bad_request", lambda: request(p, "GET", "/events?topic=a&lastEventId=x"), 400),
            ("not_found", lambda: request(p, "GET", "/no-such-path"), 404),
            ("method_not_allowed", lambda: request(p, "DELETE", "/publish"), 405),
            ("method_not_allowed", lambda: request(p, "GET", "/publish"), 405),
            ("body_too_large", lambda: request(p, "POST", "/publish?topic=a", body=b"x" * 2048), 413),
            ("unsupported_media_type",
             lambda: request(p, "POST", "/publish", [("Content-Type", "text/plain")], b"x"), 415),
            ("headers_too_large", lambda: raw_exchange(
                p, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"), 431),
            ("http_version", lambda: raw_exchange(p, b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n"), 505),
            ("timeout", lambda: raw_exchange(p, b"GET /healthz HTTP/1.1\r\nHo"), 408),
        ]
        expected = dict(before)
        for reason, send, status in cases:
            r = send()
            self.assertEqual(r.status, status, "request for %s: %r" % (reason, r))
            expected[reason] += 1
        # successful requests are not rejections
        self.assertEqual(self.request("GET", "/healthz").status, 200)
        self.assertEqual(self.request("OPTIONS", "/publish").status, 204)
        deadline = time.monotonic() + POLL_TIMEOUT
        while True:
            got = self.scrape().rejected()
            if got == expected or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.assertEqual(got, expected, "herald_requests_rejected_total by reason (before: %r)" % before)

    def test_stats_agrees_with_metrics(self):
        self.quiesce()
        ta, tb = self.topic("stats-a"), self.topic("stats-b")
        subs_a = [self.sse(ta), self.sse(ta)]
        sub_b = self.sse([tb])
        pub = self.publisher()
        ids_a = [pub.publish(ta, "a%d" % i) for i in range(3)]
        ids_b = [pub.publish(tb, "b0")]
        for c in subs_a:
            self.assertEqual([e.int_id for e in c.read_n(3)], ids_a)
        self.assertEqual(sub_b.next_event().int_id, ids_b[0])
        # wait until the shards have counted every delivery
        self.wait_metrics(lambda m: m.int("herald_streams_open") == 3, "three streams open")
        conn = self.conn()      # one keep-alive connection: both answers see the same connections

        def agree(m, st):
            return all(st[k] == m.int(name) for name, k in STATS_KEYS.items() if k != "bytes_sent") \
                and st["requests_rejected"] == m.rejected()
        # closing connections of earlier requests may move a gauge between the two answers: retry
        deadline = time.monotonic() + POLL_TIMEOUT
        while True:
            m = self.scrape(conn)
            st = self.stats(conn)
            if agree(m, st) or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        for metric, key in STATS_KEYS.items():
            self.assertIsInstance(st[key], int, "/stats %s is not an integer" % key)
            if key == "bytes_sent":
                self.assertGreater(st[key], m.int(metric), "/stats bytes_sent must include the /metrics answer")
            else:
                self.assertEqual(st[key], m.int(metric), "/stats %s vs %s" % (key, metric))
        self.assertGreaterEqual(st["uptime_seconds"], m.value("herald_uptime_seconds"))
        self.assertEqual(st["requests_rejected"], m.rejected())
        self.assertEqual(st["last_event_id"], ids_b[-1])
        self.assertEqual(st["streams"], 3)
        self.assertEqual(st["subscriptions"], 3)
        self.assertIs(st["topic_list_truncated"], False)
        by_name = {e["name"]: e for e in st["topic_list"]}
        self.assertEqual(len(by_name), len(st["topic_list"]), "topic listed twice")
        self.assertEqual(by_name.get(ta), {"name": ta, "subscribers": 2, "published": 3,
                                           "last_id": ids_a[-1], "retained": 3})
        self.assertEqual(by_name.get(tb), {"name": tb, "subscribers": 1, "published": 1,
                                           "last_id": ids_b[-1], "retained": 1})
        self.assertEqual(len(st["topic_list"]), st["topics"])
        for e in st["topic_list"]:
            self.assertEqual(set(e), {"name", "subscribers", "published", "last_id", "retained"}, e)
            self.assertLessEqual(e["retained"], min(e["published"], self.HISTORY), e)
        keys = [(e["subscribers"], e["last_id"]) for e in st["topic_list"]]
        self.assertEqual(keys, sorted(keys, reverse=True), "topic_list not busiest first")
        expected_keys = {"uptime_seconds", "connections", "connections_accepted", "streams",
                         "subscriptions", "topics", "events_published", "events_delivered",
                         "last_event_id", "bytes_sent", "replays", "events_replayed",
                         "history_truncated", "slow_consumer_disconnects", "write_timeouts",
                         "stream_input_disconnects", "tls_handshake_failures", "requests_rejected",
                         "topic_list", "topic_list_truncated"}
        self.assertEqual(expected_keys - set(st), set(), "/stats lacks keys")

    def test_stats_last_event_id_tracks_publish(self):
        t = self.topic("lastid")
        eid = publish(self.port, t, "x")
        self.assertEqual(self.stats()["last_event_id"], eid)
        r = publish_json(self.port, [{"topic": t, "data": "1"}, {"topic": t, "data": "2"}])
        ids = r.json()["ids"]
        st = self.stats()
        self.assertEqual(st["last_event_id"], ids[-1])
        entry = [e for e in st["topic_list"] if e["name"] == t]
        self.assertEqual(entry, [{"name": t, "subscribers": 0, "published": 3, "last_id": ids[-1],
                                  "retained": 3}])


class StatsTopicList(MetricsMixin, HeraldTestCase):
    """topic_list lists the busiest 100 topics."""

    def test_topic_list_truncated_after_100(self):
        first = self.topic("many")
        names = ["%s-%03d" % (first, i) for i in range(105)]
        r = publish_json(self.port, [{"topic": n, "data": "x"} for n in names[:100]])
        self.assertEqual(r.status, 200, r)
        st = self.stats()
        self.assertEqual(st["topics"], 100)
        self.assertEqual(len(st["topic_list"]), 100)
        self.assertIs(st["topic_list_truncated"], False)
        r = publish_json(self.port, [{"topic": n, "data": "x"} for n in names[100:]])
        ids = r.json()["ids"]
        sub = self.sse(names[0])       # the oldest topic, but the only one with a subscriber
        self.wait_metrics(lambda m: m.int("herald_subscriptions_active") == 1, "subscription open")
        st = self.stats()
        self.assertEqual(st["topics"], 105)
        self.assertEqual(len(st["topic_list"]), 100)
        self.assertIs(st["topic_list_truncated"], True)
        listed = [e["name"] for e in st["topic_list"]]
        # subscribers first, then the most recently published
        self.assertEqual(listed, [names[0]] + names[:5:-1], "busiest 100 topics in order")
        self.assertEqual(st["topic_list"][0]["subscribers"], 1)
        self.assertEqual(st["topic_list"][1]["last_id"], ids[-1])
        sub.close()


class SlowConsumerCounter(MetricsMixin, HeraldTestCase):
    SERVER_ARGS = ["--max-pending-bytes", "65536", "--heartbeat-interval", "60s"]

    def test_slow_consumer_disconnect_counted(self):
        t = self.topic("slow")
        before = self.scrape().int("herald_slow_consumer_disconnects_total")
        slow = self.track(BufferedSocket(connect(self.port, rcvbuf=4096)))
        slow.sendall(build_request("GET", "/events?topic=" + t, [("Accept", "text/event-stream")]))
        head = slow.read_until(b"\r\n\r\n", time.monotonic() + 5)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        pub = self.publisher()
        payload = "z" * 16384
        deadline = time.monotonic() + 20
        sent = 0
        while True:
            for _ in range(32):
                pub.publish(t, payload)
            sent += 32
            m = self.scrape()
            if m.int("herald_slow_consumer_disconnects_total") > before:
                break
            if time.monotonic() > deadline or sent >= 4096:
                self.fail("no slow-consumer disconnect counted after %d events of 16 KiB to a "
                          "subscriber that never reads" % sent)
        self.assertEqual(m.int("herald_slow_consumer_disconnects_total"), before + 1)
        self.wait_metrics(lambda m: m.int("herald_streams_open") == 0, "slow stream removed")
        self.assertEqual(self.stats()["slow_consumer_disconnects"], before + 1)


class UnavailableCounter(MetricsMixin, HeraldTestCase):
    SERVER_ARGS = ["--max-connections", "2"]

    def test_connection_limit_rejection_counted(self):
        before = self.scrape().rejected()
        refused = 0
        # take both slots; an earlier request's connection may still hold one for a moment
        held = []
        deadline = time.monotonic() + POLL_TIMEOUT
        while len(held) < 2:
            c = self.conn()
            r = c.request("GET", "/healthz")
            if r.status == 200:
                held.append(c)
                continue
            self.assertEqual(r.status, 503, r)
            refused += 1
            c.close()
            self.assertLess(time.monotonic(), deadline, "could not open 2 connections with --max-connections 2")
            time.sleep(0.02)
        r = self.request("GET", "/healthz")
        self.assertEqual(r.status, 503, r)
        self.assert_json_error(r, 503)
        refused += 1
        held[0].close()
        # the slot frees asynchronously; a scrape that is itself refused is retried
        deadline = time.monotonic() + POLL_TIMEOUT
        while True:
            r = self.request("GET", "/metrics")
            if r.status == 200:
                break
            self.assertEqual(r.status, 503, r)
            refused += 1
            self.assertLess(time.monotonic(), deadline, "no connection slot freed: %r" % r)
            time.sleep(0.05)
        got = Exposition(r.body.decode("utf-8")).rejected()
        before["unavailable"] += refused
        self.assertEqual(got, before, "rejections by reason after %d connections refused with 503" % refused)


# --------------------------------------------------------------------------
# --metrics-topics
# --------------------------------------------------------------------------

class MetricsTopics(MetricsMixin, HeraldTestCase):
    ALPHA, BETA, ODD = "mt-alpha", "mt-beta", 'mt-q"b\\s'     # ODD needs label escaping
    SERVER_ARGS = ["--metrics-topics", ",".join([ALPHA, BETA, ODD]), "--heartbeat-interval", "60s"]

    def per_topic(self, m, family):
        return {labels["topic"]: int(v) for labels, v in m.series(family)}

    def test_series_for_listed_topics_only(self):
        m = self.scrape()
        for fam, typ in (("herald_topic_subscribers", "gauge"),
                         ("herald_topic_events_published_total", "counter")):
            self.assertIn(fam, m.families)
            self.assertTrue(m.families[fam].help, "HELP of %s" % fam)
            self.assertEqual(m.families[fam].type, typ)
            for labels, _ in m.series(fam):
                self.assertEqual(set(labels), {"topic"})
        self.assertEqual(set(self.per_topic(m, "herald_topic_subscribers")), {self.ALPHA, self.BETA, self.ODD})
        self.assertIn('topic="mt-q\\"b\\\\s"', m.text, "label value not escaped")

        pub_before = self.per_topic(m, "herald_topic_events_published_total")
        gamma = self.topic("mt-gamma")
        s1 = self.sse([self.ALPHA, self.BETA])
        s2 = self.sse(self.ALPHA)
        s3 = self.sse(gamma)
        s4 = self.sse(self.ODD)
        pub = self.publisher()
        for i in range(3):
            pub.publish(self.ALPHA, "a%d" % i)
        pub.publish(self.BETA, "b")
        pub.publish(gamma, "g")
        pub.publish(self.ODD, "o")
        r = publish_json(self.port, {"topic": [self.ALPHA, self.BETA], "data": "both"})
        self.assertEqual(r.status, 200, r)
        want_pub = {self.ALPHA: pub_before[self.ALPHA] + 4, self.BETA: pub_before[self.BETA] + 2,
                    self.ODD: pub_before[self.ODD] + 1}
        want_subs = {self.ALPHA: 2, self.BETA: 1, self.ODD: 1}
        m = self.wait_metrics(
            lambda m: self.per_topic(m, "herald_topic_subscribers") == want_subs
            and self.per_topic(m, "herald_topic_events_published_total") == want_pub,
            "per-topic series: subscribers %r, published %r" % (want_subs, want_pub))
        self.assertNotIn(gamma, m.text, "a topic not in --metrics-topics got a series")
        for c in (s1, s2, s3, s4):
            c.close()
        self.wait_metrics(lambda m: set(self.per_topic(m, "herald_topic_subscribers").values()) == {0},
                          "per-topic subscribers back to 0")


# --------------------------------------------------------------------------
# Health and readiness
# --------------------------------------------------------------------------

class StatsStreamShared(HeraldTestCase):
    """/stats/stream computes the figures once per tick for every stream, whatever
    thread serves it: streams on both threads get the very same frames."""
    SERVER_ARGS = ["--threads", "2"]

    def test_stats_frames_are_computed_once_for_all_threads(self):
        # Four streams, dealt round-robin over the two threads; nothing else asks for /stats.
        feeds = [self.sse([], target="/stats/stream") for _ in range(4)]
        for f in feeds:
            self.assertEqual(f.status, 200)
        ticks = 3
        frames = []
        for f in feeds:
            evs = [e for e in f.read_n(1 + ticks, timeout=ticks + 3) if e.event == "stats"]
            frames.append([json.loads(e.data)["uptime_seconds"] for e in evs[1:]])  # after the opening one
        distinct = {u for per_stream in frames for u in per_stream}
        # One computation per tick (one more if the threads' ticks straddle the refresh),
        # where each thread computing its own would give twice as many.
        self.assertLessEqual(len(distinct), ticks + 1,
                             "%d different stats frames over %d ticks on 4 streams: %r" % (len(distinct), ticks, frames))


class Health(HeraldTestCase):

    def test_healthz_and_readyz(self):
        for path, body in (("/healthz", {"status": "ok"}), ("/readyz", {"status": "ready"})):
            r = self.request("GET", path)
            self.assertEqual(r.status, 200, "%s: %r" % (path, r))
            self.assertTrue((r.header("Content-Type") or "").startswith("application/json"), r)
            self.assertEqual(r.json(), body)
            self.assertEqual(self.request("HEAD", path).status, 200)


class Draining(unittest.TestCase):
    """After SIGTERM /readyz says "draining" (503) -- but Herald also closes every
    keep-alive connection at once when it stops, so a request on an already open
    connection can only see 503 in the instant between the signal and the
    shards' shutdown.  This checks what is deterministic: an open connection
    gets "ready" (before the stop), "draining" or EOF, never anything else and
    never "ready" after "draining"; then it is closed and the process exits 0."""

    def test_readyz_after_sigterm(self):
        server = HeraldServer(["--heartbeat-interval", "60s"])
        server.start()
        clients = []
        try:
            stream = SSEClient(server.port, ["drain"], rcvbuf=4096)
            clients.append(stream)
            conn = HttpConnection(server.port)
            clients.append(conn)
            self.assertEqual(conn.request("GET", "/readyz").json(), {"status": "ready"})
            server.signal(signal.SIGTERM)
            seen = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    r = conn.request("GET", "/readyz", timeout=max(0.1, deadline - time.monotonic()))
                except (EOFError, OSError):
                    seen.append("closed")
                    break
                if r.status == 200:
                    self.assertEqual(r.json(), {"status": "ready"})
                    self.assertNotIn(503, seen, "ready again after draining")
                    seen.append(200)
                else:
                    self.assertEqual(r.status, 503, r)
                    self.assertEqual(r.json(), {"status": "draining"})
                    seen.append(503)
            self.assertEqual(seen[-1], "closed", "keep-alive connection not closed after SIGTERM: %r" % seen)
            stream.read_to_eof(5)
            self.assertEqual(server.wait_exit(5), 0)
        finally:
            for c in clients:
                c.close()
            server.cleanup()


# --------------------------------------------------------------------------
# --version and --log-format json
# --------------------------------------------------------------------------

class Version(unittest.TestCase):

    def test_version(self):
        p = run_server_process(["--version"])
        self.assertEqual(p.returncode, 0, p)
        out = p.stdout.decode("utf-8")
        self.assertTrue(out.endswith("\n") and out.count("\n") == 1, "not one line: %r" % out)
        self.assertTrue(out.startswith("herald 0.1.0 (commit "), out)
        self.assertEqual(p.stderr, b"")


class JsonLogs(unittest.TestCase):

    def check_json_lines(self, text):
        lines = text.split("\n")
        self.assertEqual(lines[-1], "", "log does not end with a line feed: %r" % text[-200:])
        records = []
        for line in lines[:-1]:
            try:
                rec = json.loads(line)
            except ValueError:
                self.fail("stderr line is not JSON: %r" % line)
            self.assertIsInstance(rec, dict, line)
            for key in ("time", "level", "msg"):
                self.assertIn(key, rec, line)
                self.assertIsInstance(rec[key], str, line)
            self.assertIn(rec["level"], {"trace", "debug", "info", "warning", "warn", "error", "critical"}, line)
            self.assertRegex(rec["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line)
            records.append(rec)
        return records

    def test_every_line_is_json(self):
        server = HeraldServer(["--log-format", "json", "--log-level", "debug"])
        server.start()
        try:
            # things that log: a malformed request (debug), a connection-limit warning is not
            # needed; then the shutdown lines
            r = raw_exchange(server.port, b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n")
            self.assertEqual(r.status, 400)
            r = raw_exchange(server.port, b'GET /"quoted"\\path HTTP/1.1\r\nHost: x\r\n\r\n')
            self.assertIn(r.status, (400, 404))
            self.assertEqual(server.stop(), 0)
            text = server.log()
        finally:
            server.cleanup()
        records = self.check_json_lines(text)
        self.assertGreaterEqual(len(records), 3, text)
        self.assertIn("listening on", records[0]["msg"], "startup line")
        self.assertIn('"log_format":"json"', records[0]["msg"], "startup line lists the settings")

    def test_json_from_environment(self):
        server = HeraldServer([], env={"HERALD_LOG_FORMAT": "json"})
        server.start()
        try:
            self.assertEqual(server.stop(), 0)
            text = server.log()
        finally:
            server.cleanup()
        records = self.check_json_lines(text)
        self.assertTrue(records and "listening on" in records[0]["msg"], text)

    def test_settings_error_is_json_when_json_was_asked_for(self):
        for args, env in ((["--log-format", "json", "--port", "abc"], None),
                          (["--port", "abc"], {"HERALD_LOG_FORMAT": "json"}),
                          (["--log-format=json", "--tls-cert", "c.pem"], None)):
            with self.subTest(args=args, env=env):
                p = run_server_process(args, env=env)
                self.assertEqual(p.returncode, 2, p)
                records = self.check_json_lines(p.stderr.decode("utf-8", "replace"))
                self.assertEqual(len(records), 1, records)
                self.assertEqual(records[0]["level"], "critical")
                self.assertIn("invalid", records[0]["msg"])

    def test_invalid_log_format_rejected(self):
        p = run_server_process(["--log-format", "xml", "--port", "0"])
        self.assertEqual(p.returncode, 2, p)
        self.assertIn("log", p.stderr.decode("utf-8", "replace").lower())


if __name__ == "__main__":
    unittest.main()
