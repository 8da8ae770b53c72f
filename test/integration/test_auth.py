"""Authorization with JSON Web Tokens: who may publish, who may read private topics and events."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import HERALD_BIN, HeraldServer, HeraldTestCase, SSEClient, request  # noqa: E402

SECRET = "test-secret-of-at-least-thirty-two-bytes"


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signing_input(alg, claims):
    return b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." + b64url(json.dumps(claims).encode())


def hs256(claims, secret=SECRET):
    head = signing_input("HS256", claims)
    return head + "." + b64url(hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest())


def grants(publish=(), subscribe=(), **extra):
    claims = {"herald": {"publish": list(publish), "subscribe": list(subscribe)}}
    claims.update(extra)
    return claims


class Auth(HeraldTestCase):
    SERVER_ARGS = ["--jwt-secret", SECRET, "--private-topics", "orders/*,secret"]

    def post(self, topic, data, token=None, cookie=None, private=None):
        headers = [("Content-Type", "application/json")]
        if token:
            headers.append(("Authorization", "Bearer " + token))
        if cookie:
            headers.append(("Cookie", "theme=dark; herald_token=" + cookie))
        body = {"topic": topic, "data": data}
        if private is not None:
            body["private"] = private
        return request(self.port, "POST", "/publish", headers, json.dumps(body).encode())

    def publisher_token(self):
        return hs256(grants(publish=["*"]))

    def test_publish_needs_a_token(self):
        r = self.post("news", "x")
        self.assert_json_error(r, 401, "publish without a token")
        self.assertIn("Bearer", r.header("WWW-Authenticate") or "")

    def test_invalid_tokens_are_401_and_never_echoed(self):
        bad = [hs256(grants(publish=["*"]), secret="another-secret-of-thirty-two-bytes!!"),
               "garbage", hs256(grants(publish=["*"], exp=int(time.time()) - 3600))]
        for token in bad:
            r = self.post("news", "x", token=token)
            self.assert_json_error(r, 401, "bad token %r" % token[:20])
            self.assertIn("invalid_token", r.header("WWW-Authenticate") or "")
            self.assertNotIn(token, r.body.decode(errors="replace"))
        self.assertIn("expired", r.json()["error"])

    def test_publish_only_to_granted_topics(self):
        token = hs256(grants(publish=["orders/*"]))
        self.assertEqual(self.post("orders/7", "x", token=token).status, 200)
        r = self.post("news", "x", token=token)
        self.assert_json_error(r, 403, "topic outside the token's grants")
        self.assertIn("news", r.json()["error"])

    def test_token_from_cookie(self):
        self.assertEqual(self.post("news", "x", cookie=self.publisher_token()).status, 200)

    def test_public_topics_stay_open(self):
        s = self.sse("news")
        self.assertEqual(s.status, 200)
        eid = self.post("news", "hello", token=self.publisher_token()).json()["id"]
        self.assertEqual(s.next_event().int_id, eid)

    def test_private_topic_needs_a_token_with_the_topic(self):
        r = request(self.port, "GET", "/events?topic=orders/42")
        self.assert_json_error(r, 401, "private topic without a token")
        wrong = hs256(grants(subscribe=["orders/1"]))
        r = request(self.port, "GET", "/events?topic=orders/42", [("Authorization", "Bearer " + wrong)])
        self.assert_json_error(r, 403, "private topic with the wrong grant")
        # EventSource cannot set headers: the token may come in the query string.
        good = hs256(grants(subscribe=["orders/*"]))
        s = SSEClient(self.port, target="/events?topic=orders/42&access_token=" + urllib.parse.quote(good))
        self.track(s)
        self.assertEqual(s.status, 200)
        eid = self.post("orders/42", "shipped", token=self.publisher_token()).json()["id"]
        self.assertEqual(s.next_event().int_id, eid)

    def test_private_events_reach_only_authorized_subscribers(self):
        anonymous = self.sse("news")
        reader = SSEClient(self.port, ["news"], headers=[("Authorization", "Bearer " + hs256(grants(subscribe=["news"])))])
        self.track(reader)
        pub = self.publisher_token()
        hidden = self.post("news", "for readers", token=pub, private=True).json()["id"]
        public = self.post("news", "for all", token=pub).json()["id"]
        self.assertEqual([reader.next_event().int_id, reader.next_event().int_id], [hidden, public])
        self.assertEqual(anonymous.next_event().int_id, public, "an anonymous subscriber got a private event")
        # Replay honours it too.
        again = SSEClient(self.port, ["news"], last_event_id=str(hidden - 1))
        self.track(again)
        self.assertEqual(again.next_event().int_id, public)

    def test_stats_never_name_private_topics(self):
        # Private topics with a subscriber and events, so they would rank first; a public one beside.
        reader = SSEClient(self.port, ["orders/stats-9", "secret"],
                           headers=[("Authorization", "Bearer " + hs256(grants(subscribe=["orders/*", "secret"])))])
        self.track(reader)
        self.assertEqual(reader.status, 200)
        pub = self.publisher_token()
        for topic in ("orders/stats-9", "secret", "stats-public"):
            self.assertEqual(self.post(topic, "x", token=pub).status, 200)
        st = request(self.port, "GET", "/stats").json()
        names = [t["name"] for t in st["topic_list"]]
        self.assertIn("stats-public", names, "the public topic is listed")
        self.assertNotIn("orders/stats-9", names, "GET /stats names a private topic")
        self.assertNotIn("secret", names, "GET /stats names a private topic")
        self.assertGreaterEqual(st["topics"], len(names) + 2, "the total still counts private topics")
        # The dashboard's feed, anonymous like /stats: its first frame and the next one.
        feed = self.track(SSEClient(self.port, target="/stats/stream"))
        self.assertEqual(feed.status, 200)
        frames = feed.read_until(lambda e: e.event == "stats", 5)
        frames += feed.read_until(lambda e: e.event == "stats", 5)
        for e in frames:
            if e.event != "stats":
                continue
            listed = [t["name"] for t in json.loads(e.data)["topic_list"]]
            self.assertIn("stats-public", listed)
            self.assertNotIn("orders/stats-9", listed, "/stats/stream names a private topic")
            self.assertNotIn("secret", listed, "/stats/stream names a private topic")
            self.assertNotIn("orders/stats-9", e.data)


class TokenExpiry(HeraldTestCase):
    """A stream that reads by a token's grant ends when the token runs out, after a warning,
    and a reconnect with a fresh token and Last-Event-ID misses nothing."""

    SERVER_ARGS = ["--jwt-secret", SECRET, "--private-topics", "orders/*", "--jwt-leeway", "0s"]
    TICK_SLACK = 1.5   # the shard's timer ticks at least once a second

    def post(self, topic, data):
        r = request(self.port, "POST", "/publish", [("Content-Type", "application/json"),
                                                    ("Authorization", "Bearer " + hs256(grants(publish=["*"])))],
                    json.dumps({"topic": topic, "data": data}).encode())
        self.assertEqual(r.status, 200, r)
        return r.json()["id"]

    def test_stream_warned_then_ended_at_exp_and_resumed_without_loss(self):
        t = "orders/" + self.topic()
        public = self.topic("news")
        exp = int(time.time()) + 4
        cookie = [("Cookie", "herald_token=" + hs256(grants(subscribe=["orders/*"], exp=exp)))]
        c = self.track(SSEClient(self.port, [t], headers=cookie))
        self.assertEqual(c.status, 200, c.response)
        # The same token on a public topic grants nothing: that stream is not tied to it.
        other = self.track(SSEClient(self.port, [public], headers=cookie))
        first = self.post(t, "one")
        got = c.read_until(lambda e: e.event == "herald-token-expiring", 5)
        warned_at = time.time()
        self.assertLess(warned_at, exp, "the warning came after the token expired")
        warning = got[-1]
        self.assertIsNone(warning.id, "the warning must not move the client's last event id")
        self.assertEqual(json.loads(warning.data), {"exp": exp})
        self.assertEqual([e.int_id for e in got[:-1]], [first])
        second = self.post(t, "two")
        self.assertEqual(c.next_event().int_id, second)

        c.read_to_eof(exp - time.time() + self.TICK_SLACK + 2)
        ended_at = time.time()
        self.assertGreaterEqual(ended_at, exp - 0.05, "the stream ended before its token expired")
        self.assertLess(ended_at, exp + self.TICK_SLACK, "the stream outlived its token by %.1fs" % (ended_at - exp))
        self.assertTrue(c.terminator_seen, "the stream did not end cleanly (chunked terminator)")
        missed = [self.post(t, "three"), self.post(t, "four")]

        # The public stream of the same token carries on.
        news = self.post(public, "still open")
        self.assertEqual(other.next_event().int_id, news)

        # The page renewed its cookie; the browser reconnects with Last-Event-ID.
        fresh = [("Cookie", "herald_token=" + hs256(grants(subscribe=["orders/*"], exp=int(time.time()) + 600)))]
        again = self.track(SSEClient(self.port, [t], last_event_id=second, headers=fresh))
        self.assertEqual([(e.int_id, e.data) for e in again.read_n(2)], list(zip(missed, ["three", "four"])))
        self.assertEqual(again.expect_no_event(0.3), [], "more than what was missed")
        # An expired token cannot reopen it.
        r = request(self.port, "GET", "/events?topic=" + t, cookie)
        self.assert_json_error(r, 401, "stream with an expired token")



class AuthWithPublicKey(unittest.TestCase):
    """RS256: Herald holds only the public key; the back end signs with the private one."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.key = os.path.join(self.dir.name, "key.pem")
        self.pub = os.path.join(self.dir.name, "pub.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", self.key],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", self.key, "-pubout", "-out", self.pub], check=True, capture_output=True)
        self.server = HeraldServer(["--jwt-public-key", self.pub])
        self.server.start()

    def tearDown(self):
        self.server.cleanup()
        self.dir.cleanup()

    def rs256(self, claims):
        head = signing_input("RS256", claims)
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=head.encode(), check=True,
                             capture_output=True).stdout
        return head + "." + b64url(sig)

    def test_rs256_token_publishes_and_hs256_with_the_public_key_does_not(self):
        body = json.dumps({"topic": "news", "data": "x"}).encode()
        headers = [("Content-Type", "application/json")]
        ok = request(self.server.port, "POST", "/publish",
                     headers + [("Authorization", "Bearer " + self.rs256(grants(publish=["news"])))], body)
        self.assertEqual(ok.status, 200, ok)
        with open(self.pub) as f:
            confused = hs256(grants(publish=["*"]), secret=f.read())
        r = request(self.server.port, "POST", "/publish", headers + [("Authorization", "Bearer " + confused)], body)
        self.assertEqual(r.status, 401, r)


class AuthSettings(unittest.TestCase):
    def run_herald(self, *args):
        return subprocess.run([HERALD_BIN, "--port", "0", *args], capture_output=True, text=True, timeout=10)

    def test_unusable_keys_stop_startup_naming_the_setting(self):
        for args, name in [(["--jwt-public-key", "/nonexistent.pem"], "jwt-public-key"),
                           (["--jwt-secret", "short"], "jwt-secret"),
                           (["--private-topics", "a"], "private-topics"),
                           (["--jwt-secret", SECRET, "--jwt-public-key", "/x"], "jwt-secret")]:
            r = self.run_herald(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(name, r.stderr)
            self.assertNotIn(SECRET, r.stderr)


if __name__ == "__main__":
    unittest.main()
