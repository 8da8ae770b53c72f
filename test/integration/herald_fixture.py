"""Shared helpers for the Herald integration tests.

Standard library only.  Every socket operation is bounded by a deadline so a
failing test fails fast instead of hanging.

Main pieces:
  * free_port()                       -- a free 127.0.0.1 TCP port
  * HeraldServer                      -- start/stop the binary, capture stderr
  * HeraldTestCase                    -- unittest base class, one server per class
  * request(), HttpConnection         -- raw-socket HTTP/1.x client
                                         (tls=SSLContext: the same over TLS)
  * SSEClient                         -- raw-socket SSE client with incremental
                                         de-chunking and SSE parsing
  * publish(), publish_json(), ...    -- publish helpers
"""

import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
from collections import deque

HOST = "127.0.0.1"
HERALD_BIN = os.environ.get("HERALD_BIN", "/work/main/build/herald")
DEFAULT_TIMEOUT = 5.0        # generic per-operation timeout (seconds)
EVENT_TIMEOUT = 3.0          # default wait for one SSE event
STARTUP_TIMEOUT = 10.0       # wait for /healthz after start
STOP_TIMEOUT = 5.0           # wait after SIGTERM before SIGKILL

# Every flag the wire contract lists.
CONTRACT_FLAGS = [
    "--config", "--host", "--port", "--threads", "--history-size",
    "--history-max-age", "--heartbeat-interval", "--retry", "--max-connections",
    "--max-header-bytes", "--max-body-bytes", "--max-pending-bytes",
    "--max-topics-per-subscription", "--header-timeout", "--body-timeout",
    "--idle-timeout", "--cors-origins", "--log-level",
]


class HeraldTimeout(AssertionError):
    """Raised when an expected byte/response/event does not arrive in time.

    It is an AssertionError so unittest reports it as a FAIL, not an ERROR."""


# --------------------------------------------------------------------------
# Ports and processes
# --------------------------------------------------------------------------

def free_port():
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def require_binary(binary=None):
    """Fail (or skip, with HERALD_SKIP_MISSING) unless `binary` (default HERALD_BIN) runs."""
    binary = binary or HERALD_BIN
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        msg = "server binary not found or not executable: %s (set HERALD_BIN)" % binary
        raise unittest.SkipTest(msg) if os.environ.get("HERALD_SKIP_MISSING") else RuntimeError(msg)


class HeraldServer:
    """One herald process.

    args:     extra command line flags (list of str)
    env:      extra environment variables (dict) merged into os.environ
    host_port: if False, --host/--port are not passed (the caller supplies
               them some other way, e.g. a config file); `port` must then be
               given so the fixture knows where to poll.
    """

    def __init__(self, args=(), env=None, port=None, host_port=True, binary=None):
        self.args = list(args)
        self.env = dict(env or {})
        self.port = port
        self.host_port = host_port
        self.binary = binary or HERALD_BIN
        self.proc = None
        self.returncode = None
        self._stderr_file = None
        self.stderr_path = None
        self.cmdline = None

    # -- lifecycle -----------------------------------------------------
    def start(self, wait=True, attempts=3):
        require_binary(self.binary)
        last_error = None
        for _ in range(attempts):
            if self.host_port or self.port is None:
                if self.host_port:
                    self.port = free_port()
            self._spawn()
            if not wait:
                return self
            try:
                self.wait_ready(STARTUP_TIMEOUT)
                return self
            except RuntimeError as e:
                last_error = e
                log = self.log()
                self.stop()
                # retry only on a port race
                if "in use" not in log.lower() or not self.host_port:
                    raise
        raise last_error

    def _spawn(self):
        fd, self.stderr_path = tempfile.mkstemp(prefix="herald-stderr-", suffix=".log")
        os.close(fd)
        self._stderr_file = open(self.stderr_path, "wb")
        cmd = [self.binary]
        if self.host_port:
            cmd += ["--host", HOST, "--port", str(self.port)]
        cmd += self.args
        self.cmdline = cmd
        env = dict(os.environ)
        # never let the test runner's environment leak settings into the server
        for k in list(env):
            if k.startswith("HERALD_") and k != "HERALD_BIN":
                del env[k]
        env.update(self.env)
        self.returncode = None
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._stderr_file,
                                     stderr=self._stderr_file, env=env)

    def wait_ready(self, timeout=STARTUP_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("herald exited with %s during startup; cmd=%r\nstderr:\n%s"
                                   % (self.proc.returncode, self.cmdline, self.log()[-3000:]))
            try:
                r = request(self.port, "GET", "/healthz", timeout=1.0)
                if r.status == 200:
                    return
                last = "status %d" % r.status
            except (OSError, AssertionError, ValueError) as e:
                last = repr(e)
            time.sleep(0.05)
        raise RuntimeError("herald did not answer GET /healthz within %.0fs (last: %s); cmd=%r\nstderr:\n%s"
                           % (timeout, last, self.cmdline, self.log()[-3000:]))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """Wait for exit; return the exit code or None if still running."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait, SIGKILL. Returns the exit code."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.returncode = self.proc.returncode
        if self._stderr_file:
            self._stderr_file.close()
            self._stderr_file = None
        return self.returncode

    def cleanup(self):
        self.stop()
        if self.stderr_path and os.path.exists(self.stderr_path):
            try:
                os.unlink(self.stderr_path)
            except OSError:
                pass

    # -- logs ------------------------------------------------------------
    def log(self):
        if not self.stderr_path:
            return ""
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, predicate, timeout=3.0):
        """Poll the log until predicate(text) is true; return the text (or the
        last text seen if it never became true)."""
        deadline = time.monotonic() + timeout
        text = self.log()
        while not predicate(text) and time.monotonic() < deadline:
            time.sleep(0.05)
            text = self.log()
        return text


# --------------------------------------------------------------------------
# Raw socket buffering
# --------------------------------------------------------------------------

def connect(port, timeout=DEFAULT_TIMEOUT, rcvbuf=None, tls=None):
    """A connected TCP socket; with tls (an ssl.SSLContext), a TLS socket whose
    handshake is done (server name HOST, so the context checks the server's
    certificate against it)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    try:
        s.connect((HOST, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            s = tls.wrap_socket(s, server_hostname=HOST)
    except BaseException:
        s.close()
        raise
    return s


class BufferedSocket:
    """A socket plus a receive buffer.  All reads take an absolute deadline
    (time.monotonic()).  EOF and connection reset are recorded, not raised."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False
        self.reset = False
        self.wire = bytearray()     # every byte ever received

    def fill(self, deadline, bufsize=65536):
        """Receive once. Returns number of bytes read (0 on EOF).
        Raises HeraldTimeout if nothing arrives before the deadline."""
        if self.eof:
            return 0
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise HeraldTimeout("timed out waiting for data")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(bufsize)
        except socket.timeout:
            raise HeraldTimeout("timed out waiting for data")
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            self.eof = True
            self.reset = True
            return 0
        if not data:
            self.eof = True
            return 0
        self.buf += data
        self.wire += data
        return len(data)

    def read_until(self, delim, deadline, limit=1 << 20):
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                out = bytes(self.buf[:i + len(delim)])
                del self.buf[:i + len(delim)]
                return out
            if len(self.buf) > limit:
                raise AssertionError("no %r within %d bytes" % (delim, limit))
            if self.eof or self.fill(deadline) == 0:
                raise EOFError("connection closed before %r (buffered %r)" % (delim, bytes(self.buf[:200])))

    def read_exact(self, n, deadline):
        while len(self.buf) < n:
            if self.eof or self.fill(deadline) == 0:
                raise EOFError("connection closed after %d of %d bytes" % (len(self.buf), n))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_to_eof(self, deadline):
        while not self.eof:
            self.fill(deadline)
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def sendall(self, data):
        self.sock.settimeout(DEFAULT_TIMEOUT)
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.header_list = headers            # [(name, value)] as received
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        """First value of a header (case-insensitive name)."""
        name = name.lower()
        for k, v in self.header_list:
            if k.lower() == name:
                return v
        return default

    def headers_all(self, name):
        name = name.lower()
        return [v for k, v in self.header_list if k.lower() == name]

    def has_header(self, name):
        return self.header(name) is not None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %s %d %r headers=%r body=%r>" % (
            self.version, self.status, self.reason, self.header_list, self.body[:300])


def parse_head(raw_head):
    """Parse a response head (bytes ending in CRLFCRLF)."""
    text = raw_head.decode("latin-1")
    lines = text.split("\r\n")
    status_line = lines[0]
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise AssertionError("malformed status line: %r" % status_line)
    version = parts[0]
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        if ":" not in line:
            raise AssertionError("malformed response header line: %r" % line)
        k, v = line.split(":", 1)
        headers.append((k.strip(), v.strip()))
    return version, status, reason, headers


def read_chunked_body(bs, deadline):
    body = bytearray()
    while True:
        line = bs.read_until(b"\r\n", deadline)
        size_s = line[:-2].split(b";", 1)[0].strip()
        size = int(size_s, 16)
        if size == 0:
            # trailers until empty line
            while True:
                t = bs.read_until(b"\r\n", deadline)
                if t == b"\r\n":
                    return bytes(body)
        body += bs.read_exact(size, deadline)
        crlf = bs.read_exact(2, deadline)
        if crlf != b"\r\n":
            raise AssertionError("bad chunk terminator %r" % crlf)


def read_response(bs, deadline, method="GET"):
    """Read one full response from a BufferedSocket."""
    # skip interim 1xx responses
    while True:
        raw_head = bs.read_until(b"\r\n\r\n", deadline)
        version, status, reason, headers = parse_head(raw_head)
        if 100 <= status < 200 and status != 101:
            continue
        break
    lower = {k.lower(): v for k, v in headers}
    te = lower.get("transfer-encoding", "")
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif "chunked" in te.lower():
        body = read_chunked_body(bs, deadline)
    elif "content-length" in lower:
        body = bs.read_exact(int(lower["content-length"]), deadline)
    else:
        body = bs.read_to_eof(deadline)
    return Response(version, status, reason, headers, body, raw_head)


def build_request(method, target, headers=None, body=None, version="HTTP/1.1",
                  host=True, content_length=True):
    """Build request bytes.  headers: list of (k, v) or dict."""
    if headers is None:
        headers = []
    elif isinstance(headers, dict):
        headers = list(headers.items())
    else:
        headers = list(headers)
    names = {k.lower() for k, _ in headers}
    if isinstance(body, str):
        body = body.encode("utf-8")
    lines = ["%s %s %s" % (method, target, version)]
    if host and "host" not in names:
        lines.append("Host: %s" % HOST)
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if body is not None and content_length and "content-length" not in names \
            and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    return head + (body or b"")


class HttpConnection:
    """A keep-alive HTTP/1.1 connection over a raw socket."""

    def __init__(self, port, timeout=DEFAULT_TIMEOUT, tls=None):
        self.port = port
        self.timeout = timeout
        self.bs = BufferedSocket(connect(port, timeout, tls=tls))

    def send(self, data):
        self.bs.sendall(data)

    def read_response(self, timeout=None, method="GET"):
        return read_response(self.bs, time.monotonic() + (timeout or self.timeout), method)

    def request(self, method, target, headers=None, body=None, version="HTTP/1.1", timeout=None):
        self.send(build_request(method, target, headers, body, version))
        return self.read_response(timeout, method)

    def wait_closed(self, timeout):
        """True if the peer closes (EOF/reset) within timeout; leftover bytes
        are kept in self.bs.buf."""
        deadline = time.monotonic() + timeout
        try:
            while not self.bs.eof:
                self.bs.fill(deadline)
        except HeraldTimeout:
            return False
        return True

    def close(self):
        self.bs.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def request(port, method, target, headers=None, body=None, version="HTTP/1.1",
            timeout=DEFAULT_TIMEOUT, close=True, tls=None):
    """One request on a fresh connection (over TLS with tls=SSLContext);
    returns a Response."""
    hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if close and version == "HTTP/1.1" and "connection" not in {k.lower() for k, _ in hdrs}:
        hdrs.append(("Connection", "close"))
    bs = BufferedSocket(connect(port, timeout, tls=tls))
    try:
        bs.sendall(build_request(method, target, hdrs, body, version))
        return read_response(bs, time.monotonic() + timeout, method)
    finally:
        bs.close()


def raw_exchange(port, data, timeout=DEFAULT_TIMEOUT, method="GET"):
    """Send raw bytes on a fresh connection and read one response."""
    bs = BufferedSocket(connect(port, timeout))
    try:
        try:
            bs.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass   # server may answer and close before reading everything
        return read_response(bs, time.monotonic() + timeout, method)
    finally:
        bs.close()


# --------------------------------------------------------------------------
# Publishing
# --------------------------------------------------------------------------

def publish_json(port, obj, conn=None, headers=None, ensure_ascii=True):
    """POST obj as JSON; returns the Response."""
    body = json.dumps(obj, ensure_ascii=ensure_ascii).encode("utf-8")
    hdrs = [("Content-Type", "application/json")] + list(headers or [])
    if conn is not None:
        return conn.request("POST", "/publish", hdrs, body)
    return request(port, "POST", "/publish", hdrs, body)


def _id_from(resp):
    if resp.status != 200:
        raise AssertionError("publish failed: %r" % resp)
    doc = resp.json()
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), int):
        raise AssertionError("publish answer is not {\"id\":N}: %r" % resp.body)
    return doc["id"]


def publish(port, topic, data, event=None, conn=None):
    """Publish one event with a JSON body; returns its id (int)."""
    obj = {"topic": topic, "data": data}
    if event is not None:
        obj["event"] = event
    return _id_from(publish_json(port, obj, conn=conn))


def publish_many(port, topic, datas, conn=None):
    """Publish each item of datas as its own event; returns the ids."""
    own = conn is None
    if own:
        conn = HttpConnection(port)
    try:
        return [publish(port, topic, d, conn=conn) for d in datas]
    finally:
        if own:
            conn.close()


def publish_form(port, fields, conn=None):
    """fields: list of (k, v).  Returns the Response."""
    body = urllib.parse.urlencode(fields).encode("ascii")
    hdrs = [("Content-Type", "application/x-www-form-urlencoded")]
    if conn is not None:
        return conn.request("POST", "/publish", hdrs, body)
    return request(port, "POST", "/publish", hdrs, body)


def publish_raw(port, topic, body, event=None, content_type="text/plain", conn=None, headers=None):
    """Publish with the body as data and ?topic= in the URL; returns the Response."""
    q = [("topic", topic)]
    if event is not None:
        q.append(("event", event))
    target = "/publish?" + urllib.parse.urlencode(q, quote_via=urllib.parse.quote)
    hdrs = ([("Content-Type", content_type)] if content_type else []) + list(headers or [])
    if isinstance(body, str):
        body = body.encode("utf-8")
    if conn is not None:
        return conn.request("POST", target, hdrs, body)
    return request(port, "POST", target, hdrs, body)


class Publisher:
    """Keep-alive publisher (reconnects if the server closed the connection)."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def _conn(self):
        if self.conn is None or self.conn.bs.eof:
            if self.conn:
                self.conn.close()
            self.conn = HttpConnection(self.port)
        return self.conn

    def publish(self, topic, data, event=None):
        try:
            return publish(self.port, topic, data, event, conn=self._conn())
        except (OSError, EOFError):
            # stale keep-alive connection: retry once on a fresh one
            self.close()
            return publish(self.port, topic, data, event, conn=self._conn())

    def publish_raw(self, topic, body, event=None):
        return _id_from(publish_raw(self.port, topic, body, event, conn=self._conn()))

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


# --------------------------------------------------------------------------
# SSE
# --------------------------------------------------------------------------

class ChunkedDecoder:
    """Incremental Transfer-Encoding: chunked decoder."""

    def __init__(self):
        self.buf = bytearray()
        self.state = "size"
        self.remaining = 0
        self.done = False

    def feed(self, data):
        self.buf += data
        out = bytearray()
        while True:
            if self.state == "size":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    if len(self.buf) > 1024:
                        raise AssertionError("bad chunk size line: %r" % bytes(self.buf[:80]))
                    break
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise AssertionError("bad chunk size line: %r" % line)
                if size == 0:
                    self.state = "trailer"
                else:
                    self.remaining = size
                    self.state = "data"
            elif self.state == "data":
                if not self.buf:
                    break
                n = min(self.remaining, len(self.buf))
                out += self.buf[:n]
                del self.buf[:n]
                self.remaining -= n
                if self.remaining == 0:
                    self.state = "crlf"
            elif self.state == "crlf":
                if len(self.buf) < 2:
                    break
                if self.buf[:2] != b"\r\n":
                    raise AssertionError("chunk not followed by CRLF: %r" % bytes(self.buf[:20]))
                del self.buf[:2]
                self.state = "size"
            elif self.state == "trailer":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                if line == b"":
                    self.state = "done"
                    self.done = True
            else:  # done
                if self.buf:
                    raise AssertionError("bytes after chunked terminator: %r" % bytes(self.buf[:80]))
                break
        return bytes(out)


class Event:
    __slots__ = ("id", "event", "data_lines", "retry", "fields", "t")

    def __init__(self):
        self.id = None
        self.event = None
        self.data_lines = []
        self.retry = None
        self.fields = []
        self.t = time.monotonic()

    @property
    def data(self):
        return "\n".join(self.data_lines)

    @property
    def int_id(self):
        return int(self.id) if self.id is not None else None

    def json(self):
        return json.loads(self.data)

    def __repr__(self):
        return "<Event id=%r event=%r data=%r>" % (self.id, self.event, self.data[:120])


class Comment:
    __slots__ = ("text", "t")

    def __init__(self, text):
        self.text = text
        self.t = time.monotonic()

    def __repr__(self):
        return "<Comment %r>" % self.text


class SSEParser:
    """Parses the event stream.  The contract says lines end with LF, so this
    parser splits on LF only: a CR that leaks into a line stays visible in the
    field value (and makes tests fail loudly) instead of being swallowed."""

    def __init__(self):
        self.buf = bytearray()
        self.items = []          # ordered Events and Comments (whole history)
        self.retry_values = []
        self.blank_lines = 0
        self.errors = []
        self._cur = None

    def feed(self, data):
        """Returns the list of new items (Event/Comment)."""
        self.buf += data
        new = []
        start = 0
        buf = self.buf
        while True:
            i = buf.find(b"\n", start)
            if i < 0:
                break
            raw = bytes(buf[start:i])
            start = i + 1
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                self.errors.append("invalid UTF-8 line %r: %s" % (raw[:80], e))
                line = raw.decode("utf-8", "replace")
            self._line(line, new)
        if start:
            del buf[:start]
        return new

    def _line(self, line, new):
        if line == "":
            self.blank_lines += 1
            if self._cur is not None:
                if self._cur.id is not None or self._cur.event is not None or self._cur.data_lines:
                    self.items.append(self._cur)
                    new.append(self._cur)
                self._cur = None
            return
        if line.startswith(":"):
            text = line[1:]
            if text.startswith(" "):
                text = text[1:]
            c = Comment(text)
            self.items.append(c)
            new.append(c)
            return
        if ":" in line:
            name, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            name, value = line, ""
        if self._cur is None:
            self._cur = Event()
        ev = self._cur
        ev.fields.append((name, value))
        if name == "id":
            ev.id = value
        elif name == "event":
            ev.event = value
        elif name == "data":
            ev.data_lines.append(value)
        elif name == "retry":
            ev.retry = value
            self.retry_values.append(value)
        else:
            self.errors.append("unknown field %r" % line)


class SSEClient:
    """An SSE subscriber over a raw socket.

    SSEClient(port, ["a", "b"], last_event_id="123")        header Last-Event-ID
    SSEClient(port, ["a"], last_event_id_query="123")        ?lastEventId=
    SSEClient(port, ["a"], http10=True)                      HTTP/1.0 request
    SSEClient(port, ["a"], tls=ssl_context)                  over TLS

    The constructor connects, sends the request and reads the response head.
    If the status is 200 and wait_ready is true it also waits for the first
    blank line of the stream (the `retry: N\\n: connected\\n\\n` preamble), so
    that the subscription is known to be live before the test publishes.
    """

    def __init__(self, port, topics=(), last_event_id=None, last_event_id_query=None,
                 http10=False, headers=None, rcvbuf=None, timeout=DEFAULT_TIMEOUT,
                 wait_ready=True, target=None, read_head=True, tls=None):
        self.port = port
        self.topics = list(topics)
        q = [("topic", t) for t in self.topics]
        if last_event_id_query is not None:
            q.append(("lastEventId", str(last_event_id_query)))
        self.target = target or "/events?" + urllib.parse.urlencode(q, quote_via=urllib.parse.quote)
        hdrs = [("Accept", "text/event-stream")]
        if last_event_id is not None:
            hdrs.append(("Last-Event-ID", str(last_event_id)))
        hdrs += list(headers or [])
        self.bs = BufferedSocket(connect(port, timeout, rcvbuf=rcvbuf, tls=tls))
        self.request_bytes = build_request("GET", self.target, hdrs, None,
                                           "HTTP/1.0" if http10 else "HTTP/1.1")
        self.bs.sendall(self.request_bytes)
        self.timeout = timeout
        self.status = None
        self.response = None
        self.chunked = False
        self.decoder = None
        self.body = bytearray()        # de-chunked stream bytes
        self.parser = SSEParser()
        self.events = deque()
        self.comments = deque()
        self.all_events = []
        self.all_comments = []
        if read_head:
            self.read_head()
            if wait_ready and self.status == 200:
                self.wait_ready()

    # -- head ------------------------------------------------------------
    def read_head(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        raw_head = self.bs.read_until(b"\r\n\r\n", deadline)
        version, status, reason, headers = parse_head(raw_head)
        self.status = status
        self.response = Response(version, status, reason, headers, b"", raw_head)
        te = (self.response.header("Transfer-Encoding") or "").lower()
        self.chunked = "chunked" in te
        if status != 200:
            # read the (error) body so callers can inspect it
            try:
                if self.chunked:
                    self.response.body = read_chunked_body(self.bs, deadline)
                elif self.response.has_header("Content-Length"):
                    self.response.body = self.bs.read_exact(int(self.response.header("Content-Length")), deadline)
            except (EOFError, HeraldTimeout):
                pass
            return self.response
        if self.chunked:
            self.decoder = ChunkedDecoder()
        leftover = bytes(self.bs.buf)
        self.bs.buf.clear()
        if leftover:
            self._consume(leftover)
        return self.response

    def header(self, name, default=None):
        return self.response.header(name, default)

    # -- stream ------------------------------------------------------------
    @property
    def eof(self):
        return self.bs.eof

    @property
    def terminator_seen(self):
        return bool(self.decoder and self.decoder.done)

    def _consume(self, data):
        if self.decoder is not None:
            data = self.decoder.feed(data)
        if data:
            self.body += data
            for item in self.parser.feed(data):
                if isinstance(item, Event):
                    self.events.append(item)
                    self.all_events.append(item)
                else:
                    self.comments.append(item)
                    self.all_comments.append(item)

    def _pump(self, deadline):
        """Read once from the socket and parse.  Returns False on EOF."""
        if self.bs.eof:
            return False
        n = self.bs.fill(deadline)
        if n:
            data = bytes(self.bs.buf)
            self.bs.buf.clear()
            self._consume(data)
            return True
        return False

    def wait_ready(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while self.parser.blank_lines == 0:
            if not self._pump(deadline):
                raise AssertionError("stream closed before the preamble; got %r" % bytes(self.body[:200]))

    def next_event(self, timeout=EVENT_TIMEOUT):
        """Return the next Event; raises HeraldTimeout (a test failure) on
        timeout and EOFError if the stream ends first."""
        deadline = time.monotonic() + timeout
        while not self.events:
            try:
                if not self._pump(deadline):
                    raise EOFError("stream ended while waiting for an event (received so far: %r)"
                                   % self.all_events[-5:])
            except HeraldTimeout:
                raise HeraldTimeout("no SSE event within %.1fs on %s (last events: %r)"
                                    % (timeout, self.target, self.all_events[-5:]))
        return self.events.popleft()

    def next_comment(self, timeout=EVENT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not self.comments:
            try:
                if not self._pump(deadline):
                    raise EOFError("stream ended while waiting for a comment")
            except HeraldTimeout:
                raise HeraldTimeout("no SSE comment within %.1fs (comments so far: %r)"
                                    % (timeout, self.all_comments[-5:]))
        return self.comments.popleft()

    def read_until(self, predicate, timeout=EVENT_TIMEOUT):
        """Read events until predicate(event) is true; return all of them
        (including the matching one).  The timeout is for the whole call."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HeraldTimeout("predicate not met within %.1fs; got %d events, last %r"
                                    % (timeout, len(got), got[-5:]))
            try:
                ev = self.next_event(remaining)
            except HeraldTimeout:
                raise HeraldTimeout("predicate not met within %.1fs; got %d events, last %r"
                                    % (timeout, len(got), got[-5:]))
            got.append(ev)
            if predicate(ev):
                return got

    def read_until_id(self, last_id, timeout=EVENT_TIMEOUT):
        """Read events until one with id >= last_id arrives."""
        return self.read_until(lambda e: e.id is not None and int(e.id) >= int(last_id), timeout)

    def read_n(self, n, timeout=EVENT_TIMEOUT):
        deadline = time.monotonic() + timeout
        return [self.next_event(max(0.001, deadline - time.monotonic())) for _ in range(n)]

    def expect_no_event(self, duration):
        """Read for `duration` seconds; return the events that arrived (a test
        asserts it is empty)."""
        deadline = time.monotonic() + duration
        got = list(self.events)
        self.events.clear()
        while True:
            try:
                if not self._pump(deadline):
                    break
            except HeraldTimeout:
                break
            got.extend(self.events)
            self.events.clear()
        return got

    def read_to_eof(self, timeout=DEFAULT_TIMEOUT):
        """Read until the server closes; returns elapsed seconds.  Raises
        HeraldTimeout if the stream is still open at the deadline."""
        start = time.monotonic()
        deadline = start + timeout
        while not self.bs.eof:
            try:
                self._pump(deadline)
            except HeraldTimeout:
                raise HeraldTimeout("stream still open after %.1fs" % timeout)
        return time.monotonic() - start

    def close(self):
        self.bs.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# --------------------------------------------------------------------------
# unittest base
# --------------------------------------------------------------------------

_topic_counter = [0]
_topic_lock = threading.Lock()


def unique_topic(prefix="t"):
    with _topic_lock:
        _topic_counter[0] += 1
        n = _topic_counter[0]
    return "%s-%d-%d-%d" % (prefix, os.getpid(), int(time.time() * 1000) % 100000000, n)


class HeraldTestCase(unittest.TestCase):
    """Base class: one herald process per test class.

    Subclasses set SERVER_ARGS (list of flags) and SERVER_ENV (dict).  If the
    server dies during a test, that test fails (tearDown) and the next test
    gets a fresh server.
    """

    SERVER_ARGS = []
    SERVER_ENV = None
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = HeraldServer(cls.SERVER_ARGS, env=cls.SERVER_ENV)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.cleanup()

    def setUp(self):
        self._closers = []
        if not self.server.alive():
            # a previous test crashed it; start a fresh one
            type(self).server = HeraldServer(self.SERVER_ARGS, env=self.SERVER_ENV)
            type(self).server.start()

    def tearDown(self):
        for c in reversed(self._closers):
            try:
                c.close()
            except Exception:
                pass
        if self.server is not None and not self.server.alive():
            code = self.server.proc.returncode
            self.fail("herald process died during the test (exit %r); stderr tail:\n%s"
                      % (code, self.server.log()[-2000:]))

    # -- helpers -----------------------------------------------------------
    @property
    def port(self):
        return self.server.port

    def topic(self, prefix=None):
        return unique_topic(prefix or self._testMethodName[5:25])

    def track(self, closeable):
        self._closers.append(closeable)
        return closeable

    def sse(self, topics, **kw):
        if isinstance(topics, str):
            topics = [topics]
        return self.track(SSEClient(self.port, topics, **kw))

    def conn(self):
        return self.track(HttpConnection(self.port))

    def publisher(self):
        return self.track(Publisher(self.port))

    def publish(self, topic, data, event=None):
        return publish(self.port, topic, data, event)

    def request(self, *a, **kw):
        return request(self.port, *a, **kw)

    def assert_json_error(self, resp, status, msg=None):
        """Status matches and the body is a one-line JSON {"error": "..."}."""
        ctx = (msg + ": ") if msg else ""
        self.assertEqual(resp.status, status, "%sexpected %d, got %r" % (ctx, status, resp))
        ctype = (resp.header("Content-Type") or "").lower()
        self.assertTrue(ctype.startswith("application/json"),
                        "%serror Content-Type should be application/json, got %r" % (ctx, ctype))
        text = resp.body.decode("utf-8", "replace")
        stripped = text.rstrip("\r\n")
        self.assertNotIn("\n", stripped, "%serror body is not one line: %r" % (ctx, text))
        try:
            doc = json.loads(stripped)
        except ValueError:
            self.fail("%serror body is not JSON: %r" % (ctx, text))
        self.assertIsInstance(doc, dict, "%serror body not an object: %r" % (ctx, text))
        self.assertIn("error", doc, "%serror body lacks \"error\": %r" % (ctx, text))
        self.assertIsInstance(doc["error"], str, ctx)
        self.assertTrue(doc["error"], "%sempty error message" % ctx)

    def assert_server_healthy(self, msg=""):
        """A normal publish + subscribe round trip still works."""
        r = request(self.port, "GET", "/healthz", timeout=3)
        self.assertEqual(r.status, 200, "healthz after %s: %r" % (msg, r))
        t = unique_topic("health")
        with SSEClient(self.port, [t], timeout=3) as c:
            self.assertEqual(c.status, 200, "subscribe after %s: %r" % (msg, c.response))
            eid = publish(self.port, t, "still-alive")
            ev = c.next_event(3)
            self.assertEqual((ev.int_id, ev.data), (eid, "still-alive"), "round trip after %s" % msg)


def run_server_process(args, env=None, timeout=5.0):
    """Run the binary to completion (for --help / invalid config tests).
    Returns subprocess.CompletedProcess; a process still running after the
    timeout is killed and reported as a failure by the caller (returncode None)."""
    require_binary()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_") or k == "HERALD_BIN"}
    full_env.update(env or {})
    p = subprocess.Popen([HERALD_BIN] + list(args), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
    try:
        out, err = p.communicate(timeout=timeout)
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=5)
        return subprocess.CompletedProcess(p.args, None, out, err)
