"""quench serve with no config and no QUENCH_REDIS_URL starts its own
redis-server (unix socket, AOF) in a private temp dir, stores webhooks in
it, and on SIGTERM exits 0, stopping that Redis and removing the dir. Also
the CLI contract: version, --help, usage errors exit 2 with one line."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.deadline(60)
h.need("redis-server")
q = h.quench_bin()


def run(*args):
    return subprocess.run([q, *args], capture_output=True, timeout=10)


p = run("--version")
h.check(p.returncode == 0 and re.match(rb"quench \d+\.\d+\.\d+\n$", p.stdout), f"--version: {p}")
h.check(run("version").stdout == p.stdout, "version != --version")
p = run("--help")
h.check(p.returncode == 0 and b"archive export" in p.stdout, "--help")
for args in (["bogus"], ["serve", "--nope"], ["archive"], ["archive", "import"],
             ["serve", "--config"], ["approvals"]):
    p = run(*args)
    h.check(p.returncode == 2, f"{args}: exit {p.returncode}, want 2")
    h.check(p.stderr.count(b"\n") == 1 and p.stderr.startswith(b"quench: "),
            f"{args}: stderr not one line: {p.stderr!r}")
p = run("serve", "--config", "/nonexistent/quench.yaml")
h.check(p.returncode == 1 and p.stderr.count(b"\n") == 1, f"missing config: {p}")

d = h.tmpdir()
quench = h.Quench(d, env={"TMPDIR": d}).start()
log = quench.log_text()
m = re.search(r"at unix://(\S+?/redis\.sock), data in (\S+?);", log)
h.check(m, f"no private Redis line in the log:\n{log}")
sock, data_dir = m.group(1), m.group(2)
h.check(os.path.isdir(data_dir) and data_dir.startswith(d), f"data dir {data_dir}")
h.wait_for(lambda: quench.request("GET", "/readyz")[0] == 200, 10, "readyz")
h.check(quench.request("GET", "/healthz")[0] == 200, "healthz")

body = open(os.path.join(h.fixtures_dir(), "02-firing-CheckoutLatencyHigh.json"), "rb").read()
h.check(quench.post(body)[0] == 200, "POST to quench with a private Redis")
cfg = subprocess.run(["redis-cli", "-s", sock, "CONFIG", "GET", "append*"],
                     capture_output=True, timeout=10).stdout.split()
h.check(cfg[cfg.index(b"appendonly") + 1] == b"yes", f"appendonly: {cfg}")
h.check(cfg[cfg.index(b"appendfsync") + 1] == b"always", f"appendfsync: {cfg}")
rc, out, err = quench.export(redis_url=f"unix://{sock}")
h.check(rc == 0 and json.loads(out)["payload"]["version"] == "4", f"export: {rc} {err!r}")

metrics = quench.request("GET", "/metrics")[2].decode()
for name in ("quench_build_info", "quench_redis_connected 1", "quench_webhooks_total",
             "quench_alerts_received_total", "quench_archive_write_seconds_bucket"):
    h.check(name in metrics, f"/metrics lacks {name}")

h.check(quench.stop() == 0, "quench did not exit 0 on SIGTERM")
h.check(not os.path.exists(data_dir), "private Redis dir left behind")
ps = subprocess.run(["pgrep", "-f", sock], capture_output=True)
h.check(ps.returncode != 0, "private redis-server still running")
print("ok: private Redis started, used, stopped and removed; CLI contract holds")
