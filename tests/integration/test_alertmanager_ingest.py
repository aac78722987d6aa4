"""A real Alertmanager 0.25 delivers to quench: every alert added with amtool
ends up in quench:archive, inside a v4 body, with exactly the labels given."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.deadline(120)
h.need("redis-server", h.AM_BIN, "amtool")
d = h.tmpdir()
redis = h.Redis(d).start()
quench = h.Quench(d, redis_url=redis.url()).start()
am = h.Alertmanager(d, quench.url()).start()

alerts = [
    ("CheckoutLatencyHigh", {"service": "checkout", "namespace": "shop", "severity": "warning"}),
    ("PodMemoryHigh", {"service": "cart", "pod": "cart-0", "namespace": "shop", "severity": "critical"}),
    ("PodMemoryHigh", {"service": "cart", "pod": "cart-1", "namespace": "shop", "severity": "critical"}),
    ("DiskFull", {"node": "node-3", "severity": "critical"}),
    ("ErrorRateHigh", {"service": "payment", "namespace": "shop", "severity": "page"}),
]
for name, labels in alerts:
    am.amtool_add(name, labels, {"summary": f"{name} test"})

want = [dict(labels, alertname=name) for name, labels in alerts]


def all_archived():
    got = [labels for labels, _ in redis.archived_alerts()]
    return all(w in got for w in want)


h.wait_for(all_archived, 60, "every amtool alert in quench:archive", interval=0.2)
for labels, body in redis.archived_alerts():
    h.check(body["version"] == "4", f"not a v4 body: {body}")
    h.check(body["receiver"] == "quench", f"receiver: {body['receiver']}")
    h.check(labels in want, f"unexpected labels archived: {labels}")

# Every webhook Alertmanager sent was answered 200, none with an error.
h.check(quench.metric("quench_webhooks_total", {"code": "200"}) >= 1, "no 200 counted")
bad = sum(quench.metric("quench_webhooks_total", {"code": c}) for c in ("400", "422", "503"))
h.check(bad == 0, f"{bad} webhooks answered with an error")
h.check(quench.metric("quench_alerts_received_total") >= len(alerts), "alerts not counted")
h.check(quench.stop() == 0, "quench did not exit 0 on SIGTERM")
print(f"ok: {len(want)} alerts archived with identical labels")
