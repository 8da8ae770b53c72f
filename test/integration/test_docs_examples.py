"""README.md's examples keep working.

* Every `curl` command in README's ```sh blocks is run with bash against a test
  Herald (localhost:8080 rewritten to it); it must exit 0 and print the answer
  the README documents ({"id": N} or {"ids": [...]}).
* `curl -N` (streaming) commands are started in the background next to an
  SSEClient on the same topics; the README command that publishes to that topic
  is run, and both must show the stream the README prints.
* The JSON configuration example parses and `herald --config` accepts it.
* The configuration table and `herald --help` list the same flags, with the same
  environment variables, JSON keys and defaults.
* ## HTTPS: its openssl command makes a certificate Herald serves, and its
  curl -N stream shows the event its curl publish sends.

Failures name the README line."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herald_fixture import (HERALD_BIN, HeraldServer, HeraldTestCase, SSEClient,  # noqa: E402
                            request, run_server_process)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(REPO, "README.md")
COMMAND_TIMEOUT = 10.0


# --------------------------------------------------------------------------
# README parsing
# --------------------------------------------------------------------------

class Block:
    def __init__(self, lang, line, lines):
        self.lang = lang          # info string after ``` ("" if none)
        self.line = line          # README line number of the first content line
        self.lines = lines        # [(line number, text)]

    @property
    def text(self):
        return "".join(t + "\n" for _, t in self.lines)


class Command:
    def __init__(self, line, text):
        self.line = line          # README line where the command starts
        self.text = text          # continuation lines joined
        self.documented = None    # JSON text of a following "# -> ..." comment

    def where(self):
        return "README.md:%d: %s" % (self.line, self.text)

    @property
    def streaming(self):
        return bool(re.search(r"(^|\s)(-N|--no-buffer)(\s|$)", self.text))

    def urls(self):
        return re.findall(r"(?:https?://)?localhost:8080[^\s'\"]*", self.text)


def section_of(line_number, path=None):
    """The ## heading a README line falls under."""
    with open(path or README, encoding="utf-8") as f:
        lines = f.read().split("\n")
    section = None
    for text in lines[:line_number]:
        if text.startswith("## "):
            section = text[3:].strip()
    return section


def read_blocks(path=None):
    with open(path or README, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks = []
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(```+|~~~+)\s*([\w+-]*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3)
        start = i + 1
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            text = lines[i][len(indent):] if lines[i].startswith(indent) else lines[i]
            body.append((i + 1, text))
            i += 1
        blocks.append(Block(lang, start + 1, body))
        i += 1
    return blocks


def sh_commands(block):
    """Commands of a sh block: continuation lines joined, comments dropped;
    a "# -> answer" comment documents the command before it."""
    out = []
    pending = None
    for lineno, text in block.lines:
        stripped = text.strip()
        if pending is not None:
            pending.text += " " + stripped.rstrip("\\").strip()
            if not stripped.endswith("\\"):
                out.append(pending)
                pending = None
            continue
        if not stripped:
            continue
        if stripped.startswith("#"):
            m = re.match(r"#\s*->\s*(.*)$", stripped)
            if m and out:
                out[-1].documented = m.group(1)
            continue
        cmd = Command(lineno, stripped.rstrip("\\").strip())
        if stripped.endswith("\\"):
            pending = cmd
        else:
            out.append(cmd)
    if pending is not None:
        out.append(pending)
    return out


def all_commands():
    cmds = []
    for b in read_blocks():
        if b.lang in ("sh", "bash", "shell", "console"):
            cmds += sh_commands(b)
    return cmds


def curl_commands():
    """The plain-HTTP curl examples (## HTTPS and ## Who may publish have their own tests)."""
    return [c for c in all_commands()
            if re.match(r"^curl\s", c.text) and section_of(c.line) not in ("HTTPS", "Who may publish")]


def url_topics(url):
    query = urllib.parse.urlsplit(url if "://" in url else "http://" + url).query
    return [v for k, v in urllib.parse.parse_qsl(query) if k == "topic"]


# --------------------------------------------------------------------------
# Running commands
# --------------------------------------------------------------------------

def command_env():
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
           and not k.startswith("HERALD_")}
    env["no_proxy"] = env["NO_PROXY"] = "*"
    return env


def rewrite(cmd_text, port):
    text = cmd_text.replace("localhost:8080", "127.0.0.1:%d" % port)
    if "8080" in text or "localhost" in text:
        raise AssertionError("cannot point this command at the test server: %s" % cmd_text)
    return text


def create_input_files(cmd_text, directory):
    """Create every file the command reads with curl's @file syntax."""
    for name in re.findall(r"""(?:^|[\s'"=])@([A-Za-z0-9_.\-/]+)""", cmd_text):
        path = os.path.join(directory, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write("contents of %s\nsecond line\n" % name)


class DocsTestCase(HeraldTestCase):

    def setUp(self):
        super().setUp()
        if shutil.which("curl") is None:
            self.fail("curl is not installed: README's examples need it (bash scripts/install-deps.sh installs it)")
        self.tmp = tempfile.mkdtemp(prefix="herald-docs-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        super().tearDown()

    def run_command(self, cmd):
        text = rewrite(cmd.text, self.port)
        create_input_files(text, self.tmp)
        try:
            p = subprocess.run(["bash", "-c", text], cwd=self.tmp, env=command_env(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail("%s\n  did not finish within %.0fs" % (cmd.where(), COMMAND_TIMEOUT))
        out = p.stdout.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, "%s\n  exit status %d\n  stdout: %s\n  stderr: %s"
                         % (cmd.where(), p.returncode, out, p.stderr.decode("utf-8", "replace")[-500:]))
        return out

    def expected_answer(self, cmd):
        """("id", None) or ("ids", n or None) -- what the README says the command prints."""
        if cmd.documented:
            try:
                doc = json.loads(cmd.documented)
            except ValueError:
                self.fail("README.md: the answer documented after line %d is not JSON: %r"
                          % (cmd.line, cmd.documented))
            if "ids" in doc:
                return "ids", len(doc["ids"])
            return "id", None
        if re.search(r"""(-d|--data|--data-binary|--data-raw)\s+'\s*\[""", cmd.text):
            return "ids", None
        return "id", None

    def check_publish_answer(self, cmd, out):
        try:
            doc = json.loads(out)
        except ValueError:
            self.fail("%s\n  printed %r, not JSON" % (cmd.where(), out))
        kind, n = self.expected_answer(cmd)
        self.assertIsInstance(doc, dict, "%s\n  printed %r" % (cmd.where(), out))
        self.assertEqual(list(doc), [kind], "%s\n  printed %r; README says %s"
                         % (cmd.where(), out, cmd.documented or '{"%s": ...}' % kind))
        ids = doc[kind] if kind == "ids" else [doc["id"]]
        self.assertTrue(ids and all(isinstance(i, int) and i > 0 for i in ids), "%s\n  printed %r" % (cmd.where(), out))
        if n is not None:
            self.assertEqual(len(ids), n, "%s\n  printed %r; README says %s" % (cmd.where(), out, cmd.documented))
        self.assertEqual(ids, list(range(ids[0], ids[0] + len(ids))), "%s: ids not consecutive" % cmd.where())
        return ids


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------

class CurlExamples(DocsTestCase):

    def test_readme_has_examples(self):
        cmds = curl_commands()
        self.assertGreaterEqual(len([c for c in cmds if not c.streaming]), 5, "README's curl examples not found")
        self.assertTrue([c for c in cmds if c.streaming], "README's curl -N example not found")
        for c in cmds:
            self.assertTrue(c.urls(), "%s\n  has no localhost:8080 URL" % c.where())

    def test_publish_commands(self):
        for cmd in curl_commands():
            if cmd.streaming:
                continue
            with self.subTest(line=cmd.line):
                out = self.run_command(cmd)
                if not any("/publish" in u for u in cmd.urls()):
                    doc = json.loads(out)
                    self.assertNotIn("error", doc, cmd.where())
                    continue
                ids = self.check_publish_answer(cmd, out)
                # each event is now the newest of some topic's history
                st = request(self.port, "GET", "/stats").json()
                last_ids = {t["last_id"] for t in st["topic_list"]}
                for i in ids:
                    self.assertIn(i, last_ids, "%s\n  id %d is in no topic's history" % (cmd.where(), i))

    def test_streaming_commands(self):
        cmds = curl_commands()
        for idx, cmd in enumerate(cmds):
            if not cmd.streaming:
                continue
            with self.subTest(line=cmd.line):
                self._check_streaming(cmd, cmds[idx + 1:])

    def _check_streaming(self, cmd, later):
        urls = [u for u in cmd.urls() if "/events" in u]
        self.assertEqual(len(urls), 1, "%s\n  expected one /events URL" % cmd.where())
        topics = url_topics(urls[0])
        self.assertTrue(topics, "%s\n  subscribes to no topic" % cmd.where())
        publisher = next((c for c in later if not c.streaming
                          and any("/publish" in u and set(url_topics(u)) & set(topics) for u in c.urls())), None)
        self.assertIsNotNone(publisher, "%s\n  no later README command publishes to %r" % (cmd.where(), topics))
        expected = self._expected_stream_after(publisher)

        client = self.sse(topics)

        def subscribers():
            listed = request(self.port, "GET", "/stats").json()["topic_list"]
            return min(next((t["subscribers"] for t in listed if t["name"] == name), 0) for name in topics)
        out_path = os.path.join(self.tmp, "stream.out")
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(["bash", "-c", "exec " + rewrite(cmd.text, self.port)], cwd=self.tmp,
                                    env=command_env(), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + COMMAND_TIMEOUT
            while subscribers() < 2:      # the SSEClient and curl
                self.assertIsNone(proc.poll(), "%s\n  exited with %r" % (cmd.where(), proc.returncode))
                self.assertLess(time.monotonic(), deadline, "%s\n  never subscribed" % cmd.where())
                time.sleep(0.05)
            ids = self.check_publish_answer(publisher, self.run_command(publisher))
            ev = client.next_event()
            self.assertEqual(ev.int_id, ids[0], "SSEClient on %r after %s" % (topics, publisher.where()))
            got = b""
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                with open(out_path, "rb") as f:
                    got = f.read()
                if got.count(b"\n\n") >= expected.count("\n\n"):
                    break
                time.sleep(0.05)
            self.assertIsNone(proc.poll(), "%s\n  exited early" % cmd.where())
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        got_text = got.decode("utf-8", "replace")
        normalize = lambda s: re.sub(r"(?m)^id: \d+$", "id: N", s)  # noqa: E731
        self.assertEqual(normalize(got_text), normalize(expected),
                         "%s printed something else than README shows after %s"
                         % (cmd.where(), publisher.where()))
        self.assertIn("id: %d\n" % ids[0], got_text)
        self.assertEqual(bytes(client.body).decode("utf-8"), got_text, "SSEClient and curl -N saw different streams")

    def _expected_stream_after(self, publisher):
        """The first plain fenced block after the publishing command, which
        shows the stream (starting with retry:)."""
        for b in read_blocks():
            if b.line > publisher.line and b.lang == "" and b.lines and b.lines[0][1].startswith("retry:"):
                return b.text
        self.fail("README.md: no stream output block (starting with retry:) after line %d" % publisher.line)


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

def parse_duration_ms(v):
    m = re.match(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$", str(v).strip())
    if not m:
        return None
    return float(m.group(1)) * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, None: 1000}[m.group(2)]


def parse_size(v):
    m = re.match(r"^(\d+)([km])?$", str(v).strip().lower())
    if not m:
        return None
    return int(m.group(1)) * {"k": 1024, "m": 1024 * 1024, None: 1}[m.group(2)]


def same_setting(a, b):
    """Compare a setting as the README writes it with the value Herald shows."""
    def norm(v):
        if isinstance(v, list):
            return ",".join(str(x) for x in v)
        v = str(v)
        return "" if v in ("(none)", "none", "(empty)") else v
    a, b = norm(a), norm(b)
    if a == b:
        return True
    for parse in (parse_duration_ms, parse_size):
        pa, pb = parse(a), parse(b)
        if pa is not None and pa == pb and not (a.isdigit() and b.isdigit()):
            return True
    return False


def help_entries():
    """{flag: (env, key, default)} for settings; [flag] of the other flags."""
    p = run_server_process(["--help"])
    if p.returncode != 0:
        raise AssertionError("herald --help exited %r: %r" % (p.returncode, p))
    text = p.stdout.decode("utf-8")
    settings, other = {}, []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"^\s+(--[a-z0-9-]+)\s+\((HERALD_[A-Z0-9_]+),\s*\"([a-z0-9_]+)\"\)\s*$", line)
        if m:
            desc = lines[i + 1] if i + 1 < len(lines) else ""
            d = re.search(r"\[default: ?([^\]]*)\]\s*$", desc)
            settings[m.group(1)] = (m.group(2), m.group(3), d.group(1) if d else None)
            continue
        for flag in re.findall(r"^\s+(--[a-z0-9-]+)", line):
            other.append(flag)
    return settings, other, text


def readme_table():
    """{flag: (line, env, key, default)} from the Configuration table."""
    with open(README, encoding="utf-8") as f:
        lines = f.read().split("\n")
    rows = {}
    in_section = False
    for n, line in enumerate(lines, 1):
        if line.startswith("## "):
            in_section = line.strip() == "## Configuration"
            continue
        if not in_section or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not cells or not cells[0].startswith("`--"):
            continue
        code = [re.sub(r"^`|`$", "", c) for c in cells]
        rows[code[0]] = (n, code[1], code[2], code[3])
    return rows


class ConfigDocs(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.help_settings, cls.help_other, cls.help_text = help_entries()
        cls.table = readme_table()

    def test_table_found(self):
        self.assertGreaterEqual(len(self.table), 10, "README.md: configuration table not found")
        self.assertGreaterEqual(len(self.help_settings), 10, "herald --help: settings not found:\n" + self.help_text)

    def test_every_table_flag_is_in_help(self):
        missing = ["README.md:%d: %s" % (row[0], flag) for flag, row in self.table.items()
                   if flag not in self.help_settings]
        self.assertEqual(missing, [], "flags in README's configuration table but not in herald --help")

    def test_every_help_setting_is_in_table(self):
        missing = sorted(f for f in self.help_settings if f not in self.table)
        self.assertEqual(missing, [], "settings in herald --help missing from README.md's configuration table "
                                      "(section \"## Configuration\")")

    def test_other_help_flags_documented(self):
        with open(README, encoding="utf-8") as f:
            readme = f.read()
        missing = sorted(f for f in self.help_other if f not in self.table
                         and not re.search(re.escape(f) + r"(?![a-z0-9-])", readme))
        self.assertEqual(missing, [], "flags in herald --help mentioned nowhere in README.md")

    def test_table_matches_help(self):
        problems = []
        for flag, (line, env, key, default) in self.table.items():
            if flag not in self.help_settings:
                continue
            h_env, h_key, h_default = self.help_settings[flag]
            if env != h_env:
                problems.append("README.md:%d: %s environment %s, --help says %s" % (line, flag, env, h_env))
            if key != h_key:
                problems.append("README.md:%d: %s JSON key %s, --help says %s" % (line, flag, key, h_key))
            if h_default is not None and not same_setting(default, h_default):
                problems.append("README.md:%d: %s default %r, --help says %r" % (line, flag, default, h_default))
        self.assertEqual(problems, [])


class Links(unittest.TestCase):

    def test_relative_links_exist(self):
        with open(README, encoding="utf-8") as f:
            lines = f.read().split("\n")
        missing = []
        for n, line in enumerate(lines, 1):
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                    continue
                if not os.path.exists(os.path.join(REPO, target.split("#", 1)[0])):
                    missing.append("README.md:%d: %s" % (n, target))
        self.assertEqual(missing, [], "README links to files that do not exist")


class ConfigFileExample(unittest.TestCase):

    def example(self):
        blocks = [b for b in read_blocks() if b.lang == "json" and section_of(b.line) == "Configuration"]
        self.assertEqual(len(blocks), 1, "README.md: expected one ```json example in ## Configuration")
        block = blocks[0]
        try:
            doc = json.loads(block.text)
        except ValueError as e:
            self.fail("README.md:%d: the configuration example is not JSON: %s" % (block.line, e))
        self.assertIsInstance(doc, dict, "README.md:%d" % block.line)
        return block, doc

    def test_example_keys_are_settings(self):
        block, doc = self.example()
        keys = {row[2] for row in readme_table().values()}
        unknown = sorted(set(doc) - keys)
        self.assertEqual(unknown, [], "README.md:%d: configuration example uses keys not in the table" % block.line)

    def test_herald_accepts_example(self):
        block, doc = self.example()
        tmp = tempfile.mkdtemp(prefix="herald-docs-")
        path = os.path.join(tmp, "herald.json")
        with open(path, "w") as f:
            f.write(block.text)
        # the flags HeraldServer adds (--host 127.0.0.1 --port FREE) override the file's port;
        # the environment variable is the one README's command line sets
        server = HeraldServer(["--config", path], env={"HERALD_LOG_LEVEL": "debug"})
        try:
            try:
                server.start()
            except RuntimeError as e:
                self.fail("README.md:%d: herald --config rejects the example:\n%s" % (block.line, e))
            # Herald may answer /healthz a moment before its startup line is written.
            log = server.wait_log(lambda text: "\n" in text)
            m = re.search(r"settings (\{.*\})\s*$", log.split("\n")[0])
            self.assertIsNotNone(m, "startup line does not list the settings: %r" % log[:500])
            shown = json.loads(m.group(1))
            for key, value in doc.items():
                if key == "port":
                    self.assertEqual(shown["port"], str(server.port), "--port flag must win over the file")
                    continue
                self.assertTrue(same_setting(value, shown.get(key)),
                                "README.md:%d: %s is %r in the example but %r in effect"
                                % (block.line, key, value, shown.get(key)))
            self.assertEqual(shown.get("log_level"), "debug")
            origins = doc.get("cors_origins")
            if origins:
                r = request(server.port, "GET", "/healthz", headers=[("Origin", origins[0])])
                self.assertEqual(r.header("Access-Control-Allow-Origin"), origins[0], r)
        finally:
            server.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)

    def test_config_command_line(self):
        """README's `... herald --config herald.json --port 9000` line uses flags --help knows."""
        cmds = [c for c in all_commands() if "--config" in c.text]
        self.assertTrue(cmds, "README.md: no command line using --config")
        settings, other, _ = help_entries()
        for c in cmds:
            for flag in re.findall(r"(?<!\S)(--[a-z0-9-]+)", c.text):
                self.assertTrue(flag in settings or flag in other, "%s\n  %s is not in herald --help"
                                % (c.where(), flag))
            for env in re.findall(r"(?<!\S)(HERALD_[A-Z_]+)=", c.text):
                self.assertIn(env, {s[0] for s in settings.values()} | {"HERALD_CONFIG"}, c.where())
            m = re.search(r"(?<!\S)(\S*herald)\s", c.text)
            if m and "/" in m.group(1):
                with open(os.path.join(REPO, "scripts", "run.sh")) as f:
                    run_sh = f.read()
                self.assertIn(m.group(1), run_sh,
                              "%s\n  %s is not where scripts/run.sh builds herald" % (c.where(), m.group(1)))


class HttpsExample(unittest.TestCase):
    """## HTTPS: the openssl line, a server with those files, the curl stream and publish."""

    def test_https_example(self):
        blocks = [b for b in read_blocks() if b.lang == "sh" and section_of(b.line) == "HTTPS"]
        self.assertEqual(len(blocks), 1, "README.md: expected one ```sh example in ## HTTPS")
        cmds = sh_commands(blocks[0])
        make_cert = next((c for c in cmds if c.text.startswith("openssl ")), None)
        run = next((c for c in cmds if "scripts/run.sh" in c.text), None)
        stream = next((c for c in cmds if c.text.startswith("curl ") and c.streaming), None)
        publish = next((c for c in cmds if c.text.startswith("curl ") and not c.streaming), None)
        for what, c in (("openssl", make_cert), ("run.sh", run), ("curl -N", stream), ("curl publish", publish)):
            self.assertIsNotNone(c, "README.md:%d: ## HTTPS has no %s command" % (blocks[0].line, what))
        flags = dict(re.findall(r"(--[a-z-]+) (\S+)", run.text))
        self.assertIn("--tls-cert", flags, run.where())
        self.assertIn("--tls-key", flags, run.where())
        tmp = tempfile.mkdtemp(prefix="herald-docs-tls-")
        server = None
        proc = None
        try:
            p = subprocess.run(["bash", "-c", make_cert.text], cwd=tmp, env=command_env(), capture_output=True,
                               timeout=COMMAND_TIMEOUT)
            self.assertEqual(p.returncode, 0, "%s\n  %s" % (make_cert.where(), p.stderr.decode()[-500:]))
            from herald_fixture import free_port
            tls_port = free_port()
            server = HeraldServer(args=["--tls-cert", os.path.join(tmp, flags["--tls-cert"]),
                                        "--tls-key", os.path.join(tmp, flags["--tls-key"]),
                                        "--tls-port", str(tls_port)])
            server.start()

            def point(c):
                self.assertIn("https://localhost:8443/", c.text, c.where())
                return c.text.replace("localhost:8443", "localhost:%d" % tls_port)
            out_path = os.path.join(tmp, "stream.out")
            with open(out_path, "wb") as out:
                proc = subprocess.Popen(["bash", "-c", "exec " + point(stream)], cwd=tmp, env=command_env(),
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
            deadline = time.monotonic() + COMMAND_TIMEOUT
            while request(server.port, "GET", "/stats").json()["streams"] < 1:
                self.assertIsNone(proc.poll(), "%s\n  exited with %r" % (stream.where(), proc.returncode))
                self.assertLess(time.monotonic(), deadline, "%s\n  never subscribed" % stream.where())
                time.sleep(0.05)
            p = subprocess.run(["bash", "-c", point(publish)], cwd=tmp, env=command_env(), capture_output=True,
                               timeout=COMMAND_TIMEOUT)
            self.assertEqual(p.returncode, 0, "%s\n  %s" % (publish.where(), p.stderr.decode()[-500:]))
            event_id = json.loads(p.stdout)["id"]
            data = re.search(r"-d (\S+)", publish.text).group(1)
            expected = "id: %d\ndata: %s\n\n" % (event_id, data)
            got = ""
            deadline = time.monotonic() + 5
            while expected not in got and time.monotonic() < deadline:
                with open(out_path, "rb") as f:
                    got = f.read().decode("utf-8", "replace")
                time.sleep(0.05)
            self.assertIn(expected, got, "%s did not show the event %s published" % (stream.where(), publish.where()))
        finally:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=5)
            if server is not None:
                server.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


class PublishKeyExample(unittest.TestCase):
    """## Who may publish: the key the example exports lets its curl publish to a Herald that
    has it, and the same curl without the key is refused."""

    def test_publish_key_example(self):
        blocks = [b for b in read_blocks() if b.lang == "sh" and section_of(b.line) == "Who may publish"]
        self.assertEqual(len(blocks), 1, "README.md: expected one ```sh example in ## Who may publish")
        cmds = sh_commands(blocks[0])
        export = next((c for c in cmds if c.text.startswith("export HERALD_PUBLISH_KEY=")), None)
        curl = next((c for c in cmds if c.text.startswith("curl ")), None)
        self.assertIsNotNone(export, "README.md:%d: no export HERALD_PUBLISH_KEY=... line" % blocks[0].line)
        self.assertIsNotNone(curl, "README.md:%d: no curl publish" % blocks[0].line)
        env = command_env()
        p = subprocess.run(["bash", "-c", export.text.split("#")[0] + '; printf %s "$HERALD_PUBLISH_KEY"'],
                           env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        key = p.stdout
        self.assertGreaterEqual(len(key), 16, "%s\n  made the key %r (%s)" % (export.where(), key, p.stderr))
        server = HeraldServer(env={"HERALD_PUBLISH_KEY": key})
        try:
            server.start()
            text = rewrite(curl.text, server.port)
            p = subprocess.run(["bash", "-c", text], env=dict(env, HERALD_PUBLISH_KEY=key), capture_output=True,
                               text=True, timeout=COMMAND_TIMEOUT)
            self.assertEqual(p.returncode, 0, "%s\n  %s" % (curl.where(), p.stderr))
            self.assertIsInstance(json.loads(p.stdout).get("id"), int, "%s\n  printed %r" % (curl.where(), p.stdout))
            p = subprocess.run(["bash", "-c", text], env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
            self.assertIn("error", json.loads(p.stdout), "%s without the key printed %r" % (curl.where(), p.stdout))
        finally:
            server.cleanup()


class AuthorizationExamples(unittest.TestCase):
    """The README's token-minting snippet makes a token that Herald accepts."""

    def blocks(self, lang):
        return [b for b in read_blocks() if b.lang == lang and section_of(b.line) == "Authorization"]

    def test_claims_example_parses(self):
        blocks = self.blocks("json")
        self.assertEqual(len(blocks), 1, "README.md: expected one ```json claims example in ## Authorization")
        claims = json.loads(blocks[0].text)
        self.assertIn("publish", claims["herald"])

    def test_minted_token_publishes(self):
        blocks = self.blocks("python")
        self.assertEqual(len(blocks), 1, "README.md: expected one ```python example in ## Authorization")
        m = re.search(r'"(a secret[^"]*)"', blocks[0].text)
        self.assertIsNotNone(m, "README.md:%d: the example's secret" % blocks[0].line)
        out = subprocess.run([sys.executable, "-c", blocks[0].text], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0, "README.md:%d: %s" % (blocks[0].line, out.stderr))
        token = out.stdout.strip()
        server = HeraldServer(env={"HERALD_JWT_SECRET": m.group(1)})
        try:
            server.start()
            body = json.dumps({"topic": "docs", "data": "x"}).encode()
            r = request(server.port, "POST", "/publish", [("Content-Type", "application/json"),
                                                          ("Authorization", "Bearer " + token)], body)
            self.assertEqual(r.status, 200, "README.md:%d: the minted token was refused: %r" % (blocks[0].line, r))
            r = request(server.port, "POST", "/publish", [("Content-Type", "application/json")], body)
            self.assertEqual(r.status, 401)
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
