"""/metrics and /readyz of a running `quench serve` with its correlator.

/metrics carries the correlator's status (entries, acks, parse failures,
dead letters, incidents by state, caught_up, lag) and the HTTP server's
stats, and passes Prometheus's own `promtool check metrics`. /readyz is 200
with the correlator's state in the body while Redis is up, and 503
{"error":"unavailable",...} once Redis is gone. An entry that is not a
webhook (written by something else) counts as a parse failure; one
delivered past the limit (as after repeated crashes on it) lands in
quench:deadletter and is counted."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.deadline(120)
h.need("redis-server", "promtool")

d = h.tmpdir()
redis = h.Redis(d, appendonly=False).start()

# Before quench starts: a poison entry already delivered 5 times to the
# consumer quench will be (consumer.name in the config), as if quench had
# died on it five times.
body = open(os.path.join(h.fixtures_dir(), "02-firing-CheckoutLatencyHigh.json"),
            "rb").read()
redis.cmd("XGROUP", "CREATE", "quench:archive", "correlator", "0", "MKSTREAM")
poison = redis.cmd("XADD", "quench:archive", "*", "received_at", "1700000000000",
                   "body", body)
if isinstance(poison, bytes):
    poison = poison.decode()
redis.cmd("XREADGROUP", "GROUP", "correlator", "metrics-test", "COUNT", "1",
          "STREAMS", "quench:archive", ">")
for _ in range(4):
    redis.cmd("XREADGROUP", "GROUP", "correlator", "metrics-test", "COUNT", "1",
              "STREAMS", "quench:archive", "0")
redis.cmd("XADD", "quench:archive", "*", "received_at", "1700000000001",
          "body", "{not a webhook")

quench = h.Quench(d, redis_url=redis.url(),
                  config="consumer: {name: metrics-test}\n").start()


def scrape():
    s, hd, b = quench.request("GET", "/metrics")
    h.check(s == 200, f"/metrics answered {s}")
    return b.decode()


def value(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def services_entities():
    """Entities of the shipped rules, as `quench check` counts them."""
    p = subprocess.run([h.quench_bin(), "check"], capture_output=True, text=True,
                       timeout=30, cwd=h.source_dir())
    h.check(p.returncode == 0, p.stderr)
    return int(p.stdout.split(" entities")[0].rsplit(" ", 1)[1])


def settled():
    """Caught up, all three entries (poison, bad, the webhook) acked, and a
    lag reading taken since."""
    t = scrape()
    return (value(t, "quench_correlator_caught_up") == 1 and
            value(t, "quench_correlator_acked_total") == 3 and
            value(t, "quench_correlator_lag_entries") == 0 and t)


s, _, b = quench.post(body)
h.check(s == 200, f"webhook answered {s}: {b!r}")
text = h.wait_for(settled, 20, "the correlator to catch up and ack every entry")

for name, want in [("quench_correlator_entries_total", 3),
                   ("quench_correlator_parse_failures_total", 1),
                   ("quench_correlator_dead_letters_total", 1),
                   ("quench_correlator_connected", 1),
                   ("quench_http_suspended_requests", 0),
                   # the shipped services.yaml plus the one service the
                   # webhook named that it does not list ("checkout")
                   ("quench_topology_entities", services_entities() + 1),
                   ("quench_http_bad_headers_total", 0)]:
    got = value(text, name)
    h.check(got == want, f"{name} = {got}, want {want}\n{text}")
h.check('quench_incidents{state="open"} 1' in text, f"one open incident:\n{text}")
for name in ["quench_http_deferred_timeouts_total", "quench_http_clients_gone_total"]:
    h.check(value(text, name) is not None, f"{name} missing")

dl = redis.cmd("XRANGE", "quench:deadletter", "-", "+")
h.check(len(dl) == 1, f"one dead letter, got {dl!r}")
fields = dl[0][1]
fields = {fields[i].decode() if isinstance(fields[i], bytes) else fields[i]:
          fields[i + 1] for i in range(0, len(fields), 2)}
got_id = fields["id"].decode() if isinstance(fields["id"], bytes) else fields["id"]
h.check(got_id == poison, f"dead letter id {got_id}, want {poison}")
h.check("reason" in fields and fields["body"] == body, f"dead letter fields {fields!r}")

p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                   capture_output=True, timeout=30)
h.check(p.returncode == 0,
        f"promtool check metrics: {p.stdout.decode()}{p.stderr.decode()}\n{text}")

s, hd, b = quench.request("GET", "/readyz")
h.check(s == 200, f"/readyz {s} {b!r}")
r = json.loads(b)
h.check(r == {"status": "ready",
              "correlator": {"connected": True, "caught_up": True, "lag": 0}},
        f"/readyz body {r!r}")

redis.stop()


def down():
    s, _, b = quench.request("GET", "/readyz")
    return s == 503 and json.loads(b)


r = h.wait_for(down, 15, "/readyz to go 503 without Redis")
h.check(r == {"error": "unavailable", "detail": "Redis is not connected"},
        f"/readyz body without Redis {r!r}")
h.check(quench.stop() == 0, "quench exit code")
print("ok")
