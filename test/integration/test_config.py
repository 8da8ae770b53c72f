"""Settings: --help, invalid values, config file / env / flag precedence."""

import json
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import (CONTRACT_FLAGS, HOST, HeraldServer, SSEClient, free_port,  # noqa: E402
                            publish, request, run_server_process)


def setting_pattern(flag):
    """Regex matching a setting's name as flag, JSON key or env var."""
    words = flag.lstrip("-").split("-")
    return re.compile(r"[-_ ]?".join(words), re.I)


class Help(unittest.TestCase):

    def test_help_lists_every_flag(self):
        p = run_server_process(["--help"])
        self.assertEqual(p.returncode, 0, p)
        text = (p.stdout + p.stderr).decode("utf-8", "replace")
        missing = [f for f in CONTRACT_FLAGS if not re.search(re.escape(f) + r"(?![-\w])", text)]
        self.assertEqual(missing, [], "--help does not list: %s\n%s" % (missing, text))

    def test_help_shows_defaults(self):
        text = (lambda p: (p.stdout + p.stderr).decode("utf-8", "replace"))(run_server_process(["--help"]))
        for default in ("0.0.0.0", "8080", "10000", "info"):
            self.assertIn(default, text, "default %s not shown in --help" % default)


class InvalidValues(unittest.TestCase):

    def run_invalid(self, args, setting, env=None):
        full = ["--host", HOST, "--port", str(free_port())] + args if "--port" not in args else args
        p = run_server_process(full, env=env)
        err = (p.stderr + p.stdout).decode("utf-8", "replace")
        self.assertIsNotNone(p.returncode, "server kept running with invalid setting %s %r" % (setting, args))
        self.assertEqual(p.returncode, 2, "exit status for %r (stderr %r)" % (args, err))
        self.assertRegex(err, setting_pattern(setting), "message must name the setting %s: %r" % (setting, err))

    def test_invalid_flag_values(self):
        cases = [
            (["--port", "abc"], "port"),
            (["--host", HOST, "--port", "70000"], "port"),
            (["--history-size", "0"], "history-size"),
            (["--history-size", "-3"], "history-size"),
            (["--heartbeat-interval", "soon"], "heartbeat-interval"),
            (["--retry", "5parsecs"], "retry"),
            (["--max-body-bytes", "12q"], "max-body-bytes"),
            (["--log-level", "loud"], "log-level"),
            (["--threads", "x"], "threads"),
        ]
        for args, setting in cases:
            with self.subTest(args=args):
                self.run_invalid(args, setting)

    def test_invalid_env_value(self):
        self.run_invalid([], "history-size", env={"HERALD_HISTORY_SIZE": "lots"})

    def test_invalid_value_in_config_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"history_size": "abc"}, f)
        try:
            self.run_invalid(["--config", f.name], "history-size")
        finally:
            os.unlink(f.name)

    def test_unparsable_config_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write("{not json")
        try:
            p = run_server_process(["--host", HOST, "--port", str(free_port()), "--config", f.name])
            self.assertIsNotNone(p.returncode, "server started with an unparsable config file")
            self.assertNotEqual(p.returncode, 0)
        finally:
            os.unlink(f.name)

    def test_missing_config_file(self):
        p = run_server_process(["--host", HOST, "--port", str(free_port()), "--config", "/nonexistent/h.json"])
        self.assertIsNotNone(p.returncode, "server started with a missing config file")
        self.assertNotEqual(p.returncode, 0)

    def test_unknown_flag(self):
        p = run_server_process(["--host", HOST, "--port", str(free_port()), "--no-such-flag", "1"])
        self.assertIsNotNone(p.returncode, "server started with an unknown flag")
        self.assertNotEqual(p.returncode, 0)


class Precedence(unittest.TestCase):
    """file < env < flag, observed through the retry line and history size."""

    def setUp(self):
        self.servers = []
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"history_size": 3, "retry": "1111ms"}, f)
        self.config = f.name

    def tearDown(self):
        for s in self.servers:
            s.cleanup()
        os.unlink(self.config)

    def start(self, args, env=None):
        s = HeraldServer(args, env=env)
        self.servers.append(s)
        s.start()
        return s

    def observed(self, server):
        """(retry ms, effective history size)"""
        port = server.port
        with SSEClient(port, ["cfg-probe"]) as c:
            m = re.match(rb"retry: (\d+)\n", bytes(c.body))
            self.assertTrue(m, bytes(c.body)[:40])
            retry = int(m.group(1))
        t = "cfg-hist"
        ids = [publish(port, t, str(i)) for i in range(12)]
        with SSEClient(port, [t], last_event_id=ids[0]) as c:
            first = c.next_event()
            self.assertEqual(first.event, "herald-history-truncated", first)
            # the last published event closes the replay
            evs = c.read_until_id(ids[-1])
        return retry, len(evs)

    def test_config_file_applied(self):
        s = self.start(["--config", self.config])
        self.assertEqual(self.observed(s), (1111, 3))

    def test_env_overrides_file(self):
        s = self.start(["--config", self.config], env={"HERALD_HISTORY_SIZE": "5", "HERALD_RETRY": "2222ms"})
        self.assertEqual(self.observed(s), (2222, 5))

    def test_flag_overrides_env(self):
        s = self.start(["--config", self.config, "--history-size", "7", "--retry", "3333ms"],
                       env={"HERALD_HISTORY_SIZE": "5", "HERALD_RETRY": "2222ms"})
        self.assertEqual(self.observed(s), (3333, 7))

    def test_env_config_path(self):
        s = self.start([], env={"HERALD_CONFIG": self.config})
        self.assertEqual(self.observed(s), (1111, 3))

    def test_port_and_host_from_config_file(self):
        port = free_port()
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"host": HOST, "port": port}, f)
        try:
            s = HeraldServer(["--config", f.name], port=port, host_port=False)
            self.servers.append(s)
            s.start()
            self.assertEqual(request(port, "GET", "/healthz").status, 200)
            self.assertIn("listening on %s:%d" % (HOST, port), s.log())
        finally:
            os.unlink(f.name)

    def test_port_from_env(self):
        port = free_port()
        s = HeraldServer([], env={"HERALD_HOST": HOST, "HERALD_PORT": str(port)}, port=port, host_port=False)
        self.servers.append(s)
        s.start()
        self.assertEqual(request(port, "GET", "/healthz").status, 200)


class Formats(unittest.TestCase):

    def setUp(self):
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.cleanup()

    def retry_of(self, value):
        s = HeraldServer(["--retry", value])
        self.servers.append(s)
        s.start()
        with SSEClient(s.port, ["fmt"]) as c:
            m = re.match(rb"retry: (\d+)\n", bytes(c.body))
            self.assertTrue(m, bytes(c.body)[:40])
            return int(m.group(1))

    def test_duration_formats(self):
        for value, ms in (("250ms", 250), ("2", 2000), ("4s", 4000), ("2m", 120000), ("1h", 3600000)):
            with self.subTest(value=value):
                self.assertEqual(self.retry_of(value), ms)

    def test_size_suffix(self):
        s = HeraldServer(["--max-body-bytes", "2k"])
        self.servers.append(s)
        s.start()
        ok = request(s.port, "POST", "/publish?topic=sz", [("Content-Type", "text/plain")], b"a" * 2048)
        self.assertEqual(ok.status, 200, ok)
        big = request(s.port, "POST", "/publish?topic=sz", [("Content-Type", "text/plain")], b"a" * 2049)
        self.assertEqual(big.status, 413, big)

    def test_startup_log_line(self):
        s = HeraldServer([])
        self.servers.append(s)
        s.start()
        log = s.wait_log(lambda t: "listening on" in t, 2)
        self.assertIn("listening on %s:%d" % (HOST, s.port), log)

    def test_threads_flag(self):
        s = HeraldServer(["--threads", "1"])
        self.servers.append(s)
        s.start()
        with SSEClient(s.port, ["thr"]) as c:
            eid = publish(s.port, "thr", "one thread")
            self.assertEqual(c.next_event().int_id, eid)


if __name__ == "__main__":
    unittest.main()
