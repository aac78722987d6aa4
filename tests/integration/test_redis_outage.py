"""Redis goes away while Alertmanager keeps sending: quench answers 503 (so
Alertmanager retries), and once Redis is back every alert Alertmanager sent
is in the archive - nothing lost - and no body is stored twice (dedup)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.deadline(180)
h.need("redis-server", h.AM_BIN, "amtool")
d = h.tmpdir()
redis = h.Redis(d, appendonly=True).start()
quench = h.Quench(d, redis_url=redis.url()).start()
am = h.Alertmanager(d, quench.url()).start()


def archived(labels_list):
    got = [labels for labels, _ in redis.archived_alerts()]
    return all(w in got for w in labels_list)


before = [{"alertname": "Before", "service": f"svc-{i}"} for i in range(3)]
for a in before:
    am.amtool_add(a["alertname"], {k: v for k, v in a.items() if k != "alertname"})
h.wait_for(lambda: archived(before), 60, "alerts sent before the outage", interval=0.2)
h.check(quench.request("GET", "/readyz")[0] == 200, "not ready with Redis up")

# Outage. The AOF (everysec; redis-server fsyncs on SIGTERM) keeps what was
# acknowledged.
redis.stop()
h.wait_for(lambda: quench.request("GET", "/readyz")[0] == 503, 10, "readyz to go 503")
status, headers, body = quench.post(
    open(os.path.join(h.fixtures_dir(), "02-firing-CheckoutLatencyHigh.json"), "rb").read())
h.check(status == 503, f"direct POST during the outage: {status}")
h.check("retry-after" in headers, "503 without Retry-After")
h.check("error" in json.loads(body), f"503 body: {body!r}")

during = [{"alertname": "During", "service": f"svc-{i}"} for i in range(4)]
for a in during:
    am.amtool_add(a["alertname"], {k: v for k, v in a.items() if k != "alertname"})
# Alertmanager tries, gets 503, and keeps retrying.
h.wait_for(lambda: quench.metric("quench_webhooks_total", {"code": "503"}) >= 3, 30,
           "Alertmanager's webhooks to be refused with 503")
time.sleep(2)

redis.start()
h.wait_for(lambda: quench.request("GET", "/readyz")[0] == 200, 15, "readyz back to 200")
h.wait_for(lambda: archived(before + during), 90,
           "every alert sent during the outage in the archive", interval=0.3)

entries = redis.archive()
bodies = [f["body"] for _, f in entries]
h.check(len(bodies) == len(set(bodies)),
        f"{len(bodies) - len(set(bodies))} body(ies) stored twice")
for want in before + during:
    h.check(any(labels == want for labels, _ in redis.archived_alerts()), f"lost: {want}")
h.check(quench.alive(), "quench died")
h.check(quench.stop() == 0, "quench did not exit 0 on SIGTERM")
print(f"ok: {len(before) + len(during)} alerts, {len(entries)} archive entries, "
      f"no duplicates, 503s during the outage")
