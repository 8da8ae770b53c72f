"""Who may publish: with nothing configured only the machine itself (not what a local proxy
relays), else the publish key, JWTs with publish grants, --publish-from networks, or everyone
with --allow-anonymous-publish. Subscribing is never affected."""

import json
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import (BufferedSocket, HeraldServer, HeraldTestCase, SSEClient, build_request,  # noqa: E402
                            read_response, request, run_server_process)

KEY = "test-publish-key-0123456789"
FORWARDED = [("X-Forwarded-For", "203.0.113.5")]


def non_loopback_ipv4():
    """An IPv4 address of this machine outside 127.0.0.0/8, or None."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            address = parts[parts.index("inet") + 1].split("/")[0]
            if not address.startswith("127."):
                return address
    return None


def publish_from(address, port, topic, data, headers=()):
    """POST from `address` (the connection's source and destination) to Herald on `port`."""
    s = socket.create_connection((address, port), timeout=5, source_address=(address, 0))
    bs = BufferedSocket(s)
    try:
        hdrs = [("Content-Type", "text/plain"), ("Connection", "close")] + list(headers)
        bs.sendall(build_request("POST", "/publish?topic=" + topic, hdrs, data))
        return read_response(bs, time.monotonic() + 5)
    finally:
        bs.close()


def publish(port, topic, data, headers=()):
    return request(port, "POST", "/publish?topic=" + topic, [("Content-Type", "text/plain")] + list(headers), data)


class Defaults(HeraldTestCase):
    """No key, no JWT, no networks: loopback only."""

    def test_loopback_may_publish(self):
        t = self.topic()
        with self.sse(t) as c:
            r = publish(self.port, t, "local")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(c.next_event().data, "local")

    def test_what_a_local_proxy_relays_is_refused(self):
        t = self.topic()
        published = request(self.port, "GET", "/stats").json()["events_published"]
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            r = publish(self.port, t, "relayed", [(header, "for=203.0.113.5" if header == "Forwarded" else "203.0.113.5")])
            self.assert_json_error(r, 403, header)
            message = r.json()["error"]
            for setting in ("publish-key", "publish-from", "allow-anonymous-publish"):
                self.assertIn(setting, message)
        self.assertEqual(request(self.port, "GET", "/stats").json()["events_published"], published)

    def test_subscribing_is_not_affected(self):
        t = self.topic()
        with SSEClient(self.port, [t], headers=FORWARDED) as c:
            self.assertEqual(c.status, 200)

    def test_another_address_is_refused(self):
        address = non_loopback_ipv4()
        if address is None:
            self.skipTest("this machine has no IPv4 address outside 127.0.0.0/8")
        server = HeraldServer(["--host", "0.0.0.0"])
        server.start()
        self.addCleanup(server.cleanup)
        t = self.topic()
        r = publish_from(address, server.port, t, "from " + address)
        self.assert_json_error(r, 403)
        r = publish_from("127.0.0.1", server.port, t, "from loopback")
        self.assertEqual(r.status, 200, r)


class PublishFrom(HeraldTestCase):
    SERVER_ARGS = ["--publish-from", "127.0.0.1/32"]

    def test_listed_network_may_publish_through_a_proxy(self):
        t = self.topic()
        with self.sse(t) as c:
            r = publish(self.port, t, "via proxy", FORWARDED)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(c.next_event().data, "via proxy")

    def test_unlisted_address_is_refused(self):
        address = non_loopback_ipv4()
        if address is None:
            self.skipTest("this machine has no IPv4 address outside 127.0.0.0/8")
        server = HeraldServer(["--host", "0.0.0.0", "--publish-from", "127.0.0.1"])
        server.start()
        self.addCleanup(server.cleanup)
        self.assert_json_error(publish_from(address, server.port, self.topic(), "x"), 403)
        listed = HeraldServer(["--host", "0.0.0.0", "--publish-from", address + "/32"])
        listed.start()
        self.addCleanup(listed.cleanup)
        r = publish_from(address, listed.port, self.topic(), "x")
        self.assertEqual(r.status, 200, r)


class AnonymousPublish(HeraldTestCase):
    SERVER_ARGS = ["--allow-anonymous-publish"]

    def test_anyone_may_publish(self):
        r = publish(self.port, self.topic(), "open", FORWARDED)
        self.assertEqual(r.status, 200, r)


class PublishKey(HeraldTestCase):
    SERVER_ENV = {"HERALD_PUBLISH_KEY": KEY}

    def test_the_key_publishes_from_anywhere(self):
        t = self.topic()
        with self.sse(t) as c:
            r = publish(self.port, t, "keyed", FORWARDED + [("Authorization", "Bearer " + KEY)])
            self.assertEqual(r.status, 200, r)
            self.assertEqual(c.next_event().data, "keyed")

    def test_without_the_key_even_loopback_is_refused(self):
        r = publish(self.port, self.topic(), "no key")
        self.assert_json_error(r, 401)
        self.assertIn("Bearer", r.header("WWW-Authenticate") or "")
        self.assertIn("publish key", r.json()["error"])

    def test_a_wrong_key_is_refused(self):
        for wrong in (KEY[:-1] + "X", KEY[:8], KEY + "0", ""):
            r = publish(self.port, self.topic(), "wrong", [("Authorization", "Bearer " + wrong)])
            self.assert_json_error(r, 401, repr(wrong))

    def test_the_key_is_never_logged(self):
        publish(self.port, self.topic(), "x", [("Authorization", "Bearer " + KEY)])
        publish(self.port, self.topic(), "x", [("Authorization", "Bearer wrong-" + KEY)])
        self.assertNotIn(KEY, self.server.log())
        self.assertIn('"publish_key":"(hidden)"', self.server.log())


class PublishKeyWithJwt(HeraldTestCase):
    SERVER_ENV = {"HERALD_PUBLISH_KEY": KEY, "HERALD_JWT_SECRET": "test-secret-of-at-least-thirty-two-bytes"}

    def test_the_key_publishes_beside_tokens(self):
        t = self.topic()
        r = publish(self.port, t, "keyed", [("Authorization", "Bearer " + KEY)])
        self.assertEqual(r.status, 200, r)
        r = publish(self.port, t, "no token")
        self.assert_json_error(r, 401)
        self.assertIn("needs a token", r.json()["error"])


class Settings(unittest.TestCase):
    def test_bad_settings_stop_startup_naming_them(self):
        for args, name in ((["--publish-key", "short"], "publish-key"),
                           (["--publish-from", "10.0.0.0/99"], "publish-from"),
                           (["--publish-from", "nowhere"], "publish-from"),
                           (["--allow-anonymous-publish=maybe"], "allow-anonymous-publish")):
            p = run_server_process(args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn(name, p.stderr.decode(), args)


if __name__ == "__main__":
    unittest.main()
