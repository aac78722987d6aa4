"""Serve correlates what it ingests, and the live incidents equal replay's.

A recorded incident (a shared case) is posted to `quench serve` webhook by
webhook; once the correlator has acknowledged every archive entry, the
incidents API is compared with `quench replay` of `quench archive export`:
same ids, fingerprints, alert counts, entities and root-cause entities.
The clocks agree because serve correlates each entry at its received_at and
export carries that received_at to replay. closed_at is not compared:
replay closes resolved incidents at the end of its input, serve only when
resolve_quiet has really passed on the wall clock.

Also: each incident is persisted in Redis (quench:incident:<id>: header
and one field per alert), a single
incident by id, 404 JSON for an unknown id, bearer auth on the API."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

TOKEN = "api-secret-for-tests"

h.deadline(120)
h.need("redis-server")
data, case = h.shared_case("000")

d = h.tmpdir()
rules = h.dataset_rules(d, data)
with open(os.path.join(d, "api-token"), "w") as f:
    f.write(TOKEN + "\n")

redis = h.Redis(d, appendonly=False).start()
quench = h.Quench(d, redis_url=redis.url(), config=f"""
rules_dir: {rules}
auth:
  api_bearer_token_file: {os.path.join(d, 'api-token')}
""").start()
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def api(path, auth=True):
    s, hd, body = quench.request("GET", path, headers=AUTH if auth else None)
    return s, hd, body


def caught_up():
    """Every archive entry delivered to the group and acknowledged."""
    entries = redis.archive()
    if not entries:
        return False
    try:
        groups = redis.cmd("XINFO", "GROUPS", "quench:archive")
    except RuntimeError:
        return False
    for g in groups:
        info = {g[i].decode() if isinstance(g[i], bytes) else g[i]: g[i + 1]
                for i in range(0, len(g), 2)}
        if info["name"] == b"correlator":
            return (info["pending"] == 0 and
                    info["last-delivered-id"].decode() == entries[-1][0])
    return False


records = [json.loads(line) for line in open(case)]
posted = set()
for rec in records:
    body = json.dumps(rec["payload"]).encode()
    s, _, resp = quench.post(body)
    h.check(s == 200, f"POST: {s} {resp!r}")
    for a in rec["payload"]["alerts"]:
        posted.add(a["fingerprint"])

h.wait_for(caught_up, 30, "the correlator to acknowledge every archive entry")

# Auth: the API needs the bearer token.
s, hd, body = api("/api/v1/incidents", auth=False)
h.check(s == 401, f"API without token: {s} {body!r}")
s, hd, body = api("/api/v1/incidents")
h.check(s == 200 and hd.get("content-type", "").startswith("application/json"),
        f"GET /api/v1/incidents: {s} {hd} {body[:200]!r}")
live = json.loads(body)["incidents"]
h.check(len(live) >= 1, f"no incidents after {len(records)} webhooks")
live_fps = set(fp for inc in live for fp in inc["fingerprints"])
h.check(live_fps == posted,
        f"API fingerprints differ from the posted ones: {len(live_fps)} vs {len(posted)}")

# Export, replay, compare.
rc, out, err = quench.export()
h.check(rc == 0, f"export: {rc} {err.decode()}")
export = os.path.join(d, "export.jsonl")
with open(export, "wb") as f:
    f.write(out)
p = subprocess.run([h.quench_bin(), "replay", "--rules", rules, "--input", export,
                    "--format", "json"], capture_output=True, timeout=60)
h.check(p.returncode == 0, f"replay: {p.returncode} {p.stderr.decode()}")
rep = json.loads(p.stdout)["incidents"]


def essence(inc):
    return {
        "fingerprints": inc["fingerprints"],
        "alert_count": inc["alert_count"],
        "entities": inc["entities"],
        "root_causes": [rc["entity"] for rc in inc["root_causes"]],
        "opened_at": inc["opened_at"],
    }


want = {inc["id"]: essence(inc) for inc in rep}
got = {inc["id"]: essence(inc) for inc in live}
h.check([i["id"] for i in live] == [i["id"] for i in rep],
        f"incident ids/order differ: live {[i['id'] for i in live]} "
        f"replay {[i['id'] for i in rep]}")
for iid in want:
    for k in want[iid]:
        h.check(got[iid][k] == want[iid][k],
                f"{iid} {k}: live {json.dumps(got[iid][k])[:300]} "
                f"replay {json.dumps(want[iid][k])[:300]}")

# One by id: the same object as in the list.
first = live[0]
s, _, body = api(f"/api/v1/incidents/{first['id']}")
h.check(s == 200 and json.loads(body) == first,
        f"GET one: {s} {body[:200]!r}")
s, hd, body = api("/api/v1/incidents/inc-0000000000000000")
h.check(s == 404 and json.loads(body) == {
    "error": "not_found", "detail": "no incident inc-0000000000000000"},
    f"unknown id: {s} {body!r}")

# Persisted: every live incident has its hash, indexed: the header in
# state, one a:<fingerprint> field per alert, positions 0..n-1.
index = {x.decode() for x in redis.cmd("SMEMBERS", "quench:incidents")}
for inc in live:
    h.check(inc["id"] in index, f"{inc['id']} not in quench:incidents")
    flat = redis.cmd("HGETALL", f"quench:incident:{inc['id']}") or []
    fields = {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}
    h.check("state" in fields, f"quench:incident:{inc['id']} has no state")
    st = json.loads(fields["state"])
    alerts = {k: json.loads(v) for k, v in fields.items() if k.startswith("a:")}
    h.check(st["id"] == inc["id"] and st["state"] == "open" and
            "alerts" not in st and st["nalerts"] == inc["alert_count"] and
            len(alerts) == inc["alert_count"] and
            sorted(a["seq"] for a in alerts.values()) ==
            list(range(inc["alert_count"])) and
            all(k == "a:" + a["fingerprint"] for k, a in alerts.items()),
            f"stored state of {inc['id']}: {str(st)[:200]} "
            f"with {len(alerts)} alert field(s)")

h.check(quench.stop() == 0, "quench did not exit 0 on SIGTERM")
print(f"ok: {len(live)} live incident(s) equal replay's; "
      f"{len(posted)} fingerprints, persisted and served")
