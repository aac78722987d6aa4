"""A killed quench resumes its incidents on restart, and loses nothing.

1. serve correlates the first part of a recorded incident;
2. more webhooks are posted and quench is SIGKILLed right after the last
   200, mid-correlation;
3. while it is down, two entries reach the archive: one delivered to this
   consumer and never acknowledged (a crash between read and XACK), one not
   delivered at all;
4. quench starts again on the same Redis: it restores the incidents, reads
   the pending entry again and the new one;
5. the rest of the incident is posted.
After 4 and after 5: the incident has the same id, its fingerprints grow
(new alerts of the same incident join it), no entry is left pending, and
the live incidents equal `quench replay` of the exported archive."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

CONSUMER = "it-restart"

h.deadline(150)
h.need("redis-server")
data, case = h.shared_case("000")

d = h.tmpdir()
rules = h.dataset_rules(d, data)
config = f"""
rules_dir: {rules}
consumer:
  name: {CONSUMER}
"""
redis = h.Redis(d, appendonly=True).start()
records = [json.loads(line) for line in open(case)]
h.check(len(records) >= 40, f"case too short: {len(records)} records")


def group_info():
    try:
        groups = redis.cmd("XINFO", "GROUPS", "quench:archive")
    except RuntimeError:
        return None
    for g in groups:
        info = {g[i].decode(): g[i + 1] for i in range(0, len(g), 2)}
        if info["name"] == b"correlator":
            return info
    return None


def caught_up():
    entries = redis.archive()
    info = group_info()
    return (info is not None and entries and info["pending"] == 0 and
            info["last-delivered-id"].decode() == entries[-1][0])


def incidents(q):
    s, _, body = q.request("GET", "/api/v1/incidents")
    h.check(s == 200, f"GET /api/v1/incidents: {s} {body[:200]!r}")
    return json.loads(body)["incidents"]


def post_all(q, recs):
    for rec in recs:
        s, _, resp = q.post(json.dumps(rec["payload"]).encode())
        h.check(s == 200, f"POST: {s} {resp!r}")


def compare_with_replay(q, tag):
    """Live incidents equal replay of the exported archive."""
    live = incidents(q)
    rc, out, err = q.export()
    h.check(rc == 0, f"{tag}: export {rc} {err.decode()}")
    export = os.path.join(d, f"export-{tag}.jsonl")
    with open(export, "wb") as f:
        f.write(out)
    p = subprocess.run([h.quench_bin(), "replay", "--rules", rules, "--input",
                        export, "--format", "json"], capture_output=True, timeout=60)
    h.check(p.returncode == 0, f"{tag}: replay {p.returncode} {p.stderr.decode()}")
    rep = json.loads(p.stdout)["incidents"]
    h.check([i["id"] for i in live] == [i["id"] for i in rep],
            f"{tag}: ids live {[i['id'] for i in live]} replay {[i['id'] for i in rep]}")
    for a, b in zip(live, rep):
        for k in ("fingerprints", "alert_count", "entities", "opened_at"):
            h.check(a[k] == b[k], f"{tag}: {a['id']} {k} differs:\n"
                    f"live   {json.dumps(a[k])[:300]}\nreplay {json.dumps(b[k])[:300]}")
        h.check([r["entity"] for r in a["root_causes"]] ==
                [r["entity"] for r in b["root_causes"]],
                f"{tag}: {a['id']} root causes differ")
    return live


def biggest(live):
    return max(live, key=lambda i: (i["alert_count"], i["id"]))


# 1. First part, correlated and settled.
q1 = h.Quench(d, redis_url=redis.url(), config=config).start()
post_all(q1, records[:12])
h.wait_for(caught_up, 30, "the first part to be correlated")
inc = biggest(incidents(q1))
iid, fps1 = inc["id"], set(inc["fingerprints"])

# 2. More, then SIGKILL with the correlator likely mid-batch.
post_all(q1, records[12:30])
h.stop(q1.proc, hard=True)
h.check(q1.proc.poll() is not None, "quench survived SIGKILL")

# 3. While down: one entry delivered to us and never acknowledged, one new.
now_ms = int(time.time() * 1000)
redis.cmd("XADD", "quench:archive", "*", "received_at", str(now_ms),
          "body", json.dumps(records[30]["payload"]))
redis.cmd("XREADGROUP", "GROUP", "correlator", CONSUMER, "COUNT", "1000",
          "STREAMS", "quench:archive", ">")
h.check(group_info()["pending"] >= 1, "no pending entry to re-read")
redis.cmd("XADD", "quench:archive", "*", "received_at", str(now_ms + 1),
          "body", json.dumps(records[31]["payload"]))

# 4. Restart on the same Redis.
q2 = h.Quench(d, redis_url=redis.url(), config=config).start()
h.wait_for(caught_up, 30, "the restarted quench to catch up")
h.check("restored" in q2.log_text(), "no restore logged:\n" + q2.log_text())
live = compare_with_replay(q2, "after-restart")
again = {i["id"]: i for i in live}
h.check(iid in again, f"incident {iid} lost across the restart: {list(again)}")
fps2 = set(again[iid]["fingerprints"])
h.check(fps1 < fps2, f"{iid} did not grow: {len(fps1)} -> {len(fps2)}")
fps_pending = {a["fingerprint"] for a in records[30]["payload"]["alerts"]}
h.check(fps_pending <= set(fp for i in live for fp in i["fingerprints"]),
        "the pending entry's alerts are missing")

# 5. The rest of the incident joins the same id.
post_all(q2, records[32:])
h.wait_for(caught_up, 30, "the rest to be correlated")
live = compare_with_replay(q2, "final")
final = {i["id"]: i for i in live}
h.check(iid in final and fps2 <= set(final[iid]["fingerprints"]),
        f"{iid} missing or shrunk at the end")
posted = {a["fingerprint"] for r in records for a in r["payload"]["alerts"]}
h.check(posted == set(fp for i in live for fp in i["fingerprints"]),
        "some posted alert is in no incident")
h.check(q2.stop() == 0, "quench did not exit 0 on SIGTERM")
print(f"ok: {iid} kept its id across SIGKILL + restart "
      f"({len(fps1)} -> {len(fps2)} -> {len(final[iid]['fingerprints'])} alerts)")
