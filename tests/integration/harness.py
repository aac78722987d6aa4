"""harness.py - shared helpers for quench's integration tests (stdlib only).

Starts real processes (redis-server, prometheus-alertmanager, quench) on
loopback in a private temp dir, always stops them (atexit, and on SIGTERM
from ctest's timeout), bounds every wait, and exits 77 (ctest "skipped")
only when a binary is missing.
"""
import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
_procs = []
_tmpdirs = []


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def fail(why):
    print(f"FAIL: {why}")
    sys.exit(1)


def check(cond, why):
    if not cond:
        fail(why)


def need(*binaries):
    for b in binaries:
        if not (os.path.isabs(b) and os.access(b, os.X_OK)) and shutil.which(b) is None:
            skip(f"{b} not installed")


def quench_bin():
    b = os.environ.get("QUENCH_BIN")
    if not b:
        src = os.environ.get("QUENCH_SOURCE_DIR", os.getcwd())
        b = os.path.join(src, "build", "quench")
    if not os.access(b, os.X_OK):
        skip(f"quench binary not found at {b} (set QUENCH_BIN)")
    return b


def source_dir():
    return os.environ.get("QUENCH_SOURCE_DIR", os.getcwd())


def fixtures_dir():
    """Alertmanager bodies captured from Alertmanager 0.25."""
    d = os.path.join(source_dir(), "tests", "data", "alertmanager")
    if os.path.isdir(d) and os.listdir(d):
        return d
    shared = os.environ.get("QUENCH_SHARED_DIR", os.path.join(source_dir(), "..", "shared"))
    return os.path.join(shared, "fixtures", "alertmanager")


def _cleanup():
    for p in reversed(_procs):
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(timeout=5)
            except Exception:
                p.kill()
                p.wait()
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def deadline(seconds):
    """Fail the whole test if it runs longer than SECONDS."""
    def on_alarm(*_):
        fail(f"test took longer than {seconds} s")
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)


def tmpdir():
    d = tempfile.mkdtemp(prefix="quench-it-")
    _tmpdirs.append(d)
    return d


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what, interval=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    fail(f"timed out after {timeout} s waiting for {what}")


def spawn(argv, log_path, env=None):
    log = open(log_path, "ab")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    _procs.append(p)
    return p


def stop(p, hard=False):
    if p.poll() is None:
        p.kill() if hard else p.terminate()
        p.wait(timeout=10)


# ---- Redis ---------------------------------------------------------------

class Resp:
    """A minimal blocking RESP2 client: bodies come back as exact bytes."""

    def __init__(self, port, host="127.0.0.1", timeout=5):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError(f"bad RESP type {t!r}")

    def cmd(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._reply()


class Redis:
    def __init__(self, d, appendonly=True, port=None):
        need("redis-server")
        self.dir = d
        self.port = port or free_port()
        self.appendonly = appendonly
        self.proc = None

    def start(self):
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "",
                "--appendonly", "yes" if self.appendonly else "no",
                "--appendfsync", "everysec", "--daemonize", "no"]
        self.proc = spawn(argv, os.path.join(self.dir, "redis.log"))

        def up():
            try:
                c = Resp(self.port)
                ok = c.cmd("PING") == "PONG"
                c.close()
                return ok
            except (OSError, RuntimeError):
                return False
        wait_for(up, 10, "redis-server to answer PING")
        return self

    def stop(self):
        if self.proc:
            stop(self.proc)
            self.proc = None

    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def cmd(self, *args):
        c = Resp(self.port)
        try:
            return c.cmd(*args)
        finally:
            c.close()

    def archive(self):
        """[(id, {field: bytes})] of quench:archive, oldest first."""
        out = []
        for eid, fields in self.cmd("XRANGE", "quench:archive", "-", "+") or []:
            out.append((eid.decode(), {fields[i].decode(): fields[i + 1]
                                       for i in range(0, len(fields), 2)}))
        return out

    def archived_alerts(self):
        """Every alert in every archived body, as (labels dict, body)."""
        res = []
        for _, f in self.archive():
            body = json.loads(f["body"])
            for a in body.get("alerts", []):
                res.append((a["labels"], body))
        return res


# ---- quench --------------------------------------------------------------

class Quench:
    def __init__(self, d, redis_url=None, config=None, env=None):
        self.dir = d
        self.log = os.path.join(d, "quench.log")
        self.env = dict(os.environ)
        self.env["QUENCH_LISTEN"] = "127.0.0.1:0"
        self.env.pop("QUENCH_REDIS_URL", None)
        if redis_url:
            self.env["QUENCH_REDIS_URL"] = redis_url
        self.env.update(env or {})
        self.config = None
        if config is not None:
            self.config = os.path.join(d, "quench.yaml")
            with open(self.config, "w") as f:
                f.write(config)
        self.port = None
        self.proc = None

    def start(self):
        argv = [quench_bin(), "serve"]
        if self.config:
            argv += ["--config", self.config]
        open(self.log, "w").close()
        self.proc = spawn(argv, self.log, env=self.env)

        def listening():
            if self.proc.poll() is not None:
                fail(f"quench exited ({self.proc.returncode}):\n{self.log_text()}")
            for line in self.log_text().splitlines():
                try:
                    msg = json.loads(line).get("msg", "")
                except ValueError:
                    continue
                if " listening on " in msg:
                    return int(msg.split(" listening on ")[1].split()[0].rsplit(":", 1)[1])
            return None
        self.port = wait_for(listening, 10, "quench to listen")

        # Listening comes before the Redis handshake: a webhook sent in
        # between gets a (correct) 503. Tests start from a connected quench;
        # under the sanitizers the gap is long enough to matter.
        def ready():
            if self.proc.poll() is not None:
                fail(f"quench exited ({self.proc.returncode}):\n{self.log_text()}")
            try:
                return self.request("GET", "/readyz", timeout=2)[0] == 200
            except OSError:
                return False
        wait_for(ready, 15, "quench to be ready (/readyz 200)")
        return self

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=15)
            self.proc = None
            return rc
        return None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def url(self, path="/webhook/alertmanager"):
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, method, path, body=None, headers=None, timeout=10):
        """(status, headers dict lowercased, body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def post(self, body, headers=None, **kw):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return self.request("POST", "/webhook/alertmanager", body, h, **kw)

    def raw(self, data, timeout=5):
        """Send raw bytes; return the status code of the first response (or
        None if the connection closed without one) and the raw response."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            got = b""
            try:
                while b"\r\n\r\n" not in got:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                # read the body if a Content-Length says how much
                head, _, rest = got.partition(b"\r\n\r\n")
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        n = int(v.strip())
                        while len(rest) < n:
                            chunk = s.recv(65536)
                            if not chunk:
                                break
                            rest += chunk
                        got = head + b"\r\n\r\n" + rest
            except socket.timeout:
                pass
        if not got.startswith(b"HTTP/1."):
            return None, got
        return int(got.split(b" ", 2)[1]), got

    def metric(self, name, labels=None):
        """Sum of the samples of NAME whose labels include LABELS."""
        _, _, body = self.request("GET", "/metrics")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            series, value = line.rsplit(" ", 1)
            if series != name and not series.startswith(name + "{"):
                continue
            if labels and not all(f'{k}="{v}"' in series for k, v in labels.items()):
                continue
            total += float(value)
        return total

    def export(self, *args, redis_url=None):
        env = dict(self.env)
        if redis_url:
            env["QUENCH_REDIS_URL"] = redis_url
        argv = [quench_bin(), "archive", "export"]
        if self.config:
            argv += ["--config", self.config]
        p = subprocess.run(argv + list(args), env=env, capture_output=True, timeout=30)
        return p.returncode, p.stdout, p.stderr


# ---- Alertmanager ----------------------------------------------------------

AM_BIN = "/usr/bin/prometheus-alertmanager"


class Alertmanager:
    def __init__(self, d, webhook_url, group_by=("alertname",), http_config=""):
        need(AM_BIN, "amtool")
        self.dir = d
        self.port = free_port()
        self.config = os.path.join(d, "alertmanager.yml")
        with open(self.config, "w") as f:
            f.write(f"""route:
  receiver: quench
  group_by: [{", ".join(group_by)}]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: quench
  webhook_configs:
  - url: {webhook_url}
    send_resolved: true
{http_config}""")
        self.proc = None

    def start(self):
        argv = [AM_BIN, f"--config.file={self.config}",
                f"--storage.path={os.path.join(self.dir, 'am-data')}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=", "--log.level=warn"]
        self.proc = spawn(argv, os.path.join(self.dir, "alertmanager.log"))

        def ready():
            if self.proc.poll() is not None:
                fail("alertmanager exited:\n" +
                     open(os.path.join(self.dir, "alertmanager.log")).read())
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/-/ready")
                ok = c.getresponse().status == 200
                c.close()
                return ok
            except OSError:
                return False
        wait_for(ready, 20, "alertmanager to be ready")
        return self

    def stop(self):
        if self.proc:
            stop(self.proc)
            self.proc = None

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def amtool_add(self, alertname, labels, annotations=None):
        argv = ["amtool", f"--alertmanager.url={self.url()}", "alert", "add", alertname]
        argv += [f"{k}={v}" for k, v in labels.items()]
        for k, v in (annotations or {}).items():
            argv.append(f"--annotation={k}={v}")
        p = subprocess.run(argv, capture_output=True, timeout=30)
        check(p.returncode == 0, f"amtool alert add failed: {p.stderr.decode()}")


def shared_case(case_id="000", dataset="ob-cloudbed-1"):
    """(dataset dir, case JSONL) of a shared labelled case; skips the test
    when the shared data is not next to the checkout."""
    shared = os.environ.get("QUENCH_SHARED_DIR",
                            os.path.join(source_dir(), "..", "shared"))
    data = os.path.join(shared, "data", "rca", dataset)
    case = os.path.join(data, "cases", case_id + ".jsonl")
    if not os.path.exists(case):
        skip(f"shared case missing: {case}")
    return data, case


def dataset_rules(d, data):
    """A rules directory in D: the dataset's services.yaml with the
    project's correlation.yaml, as rca_eval.py builds it."""
    import shutil
    rules = os.path.join(d, "rules")
    os.mkdir(rules)
    shutil.copy(os.path.join(data, "services.yaml"), rules)
    shutil.copy(os.path.join(source_dir(), "rules", "correlation.yaml"), rules)
    return rules
