"""quench archive export writes the replay JSONL: one record per stored
webhook, in order, each payload the posted body byte for byte (minus the
trailing newline), received_at in RFC 3339, and --since/--until select by
received time (since inclusive, until exclusive)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.deadline(90)
h.need("redis-server")
d = h.tmpdir()
redis = h.Redis(d, appendonly=False).start()
quench = h.Quench(d, redis_url=redis.url()).start()

fdir = h.fixtures_dir()
names = sorted(f for f in os.listdir(fdir) if f.endswith(".json"))
h.check(len(names) >= 3, f"need >= 3 fixtures in {fdir}")
bodies = [open(os.path.join(fdir, n), "rb").read() for n in names]
for b in bodies:
    s, _, resp = quench.post(b)
    h.check(s == 200, f"POST fixture: {s} {resp!r}")
    time.sleep(0.05)   # distinct received_at, so the window test is exact
# A retry of the first is acknowledged but not stored again.
h.check(quench.post(bodies[0])[0] == 200, "duplicate not acknowledged")

rc, out, err = quench.export()
h.check(rc == 0, f"export exit {rc}: {err.decode()}")
lines = out.split(b"\n")
h.check(lines[-1] == b"", "export does not end with a newline")
lines = lines[:-1]
h.check(len(lines) == len(bodies), f"{len(lines)} records, want {len(bodies)}")
prefix = b'{"received_at":"'
received = []
for line, body in zip(lines, bodies):
    rec = json.loads(line)
    h.check(set(rec) == {"received_at", "payload"}, f"record keys: {set(rec)}")
    h.check(rec["received_at"].endswith("Z") and "T" in rec["received_at"],
            f"received_at not RFC 3339 UTC: {rec['received_at']}")
    # Byte-for-byte: the payload is spliced in, not re-serialised.
    h.check(line.startswith(prefix), f"record starts {line[:30]!r}")
    payload = line[len(prefix) + len(rec["received_at"]) + len(b'","payload":'):-1]
    h.check(payload == body.rstrip(b"\n"),
            f"payload differs from the posted body:\n{payload[:200]!r}\n{body[:200]!r}")
    received.append(rec["received_at"])
h.check(received == sorted(received), "records not in receive order")

# --since/--until: exactly the middle record.
rc, out, err = quench.export("--since", received[1], "--until", received[2])
h.check(rc == 0, f"export window exit {rc}: {err.decode()}")
got = out.splitlines()
h.check(len(got) == 1 and json.loads(got[0])["received_at"] == received[1],
        f"window selected {len(got)} records: {out[:300]!r}")
rc, out, _ = quench.export("--since", "1h")
h.check(rc == 0 and len(out.splitlines()) == len(bodies), "--since 1h")
rc, out, _ = quench.export("--until", "2000-01-01T00:00:00Z")
h.check(rc == 0 and out == b"", "--until in the past")

# Usage and connection errors: exit 2 and 1, one line on stderr.
rc, _, err = quench.export("--since", "yesterday-ish")
h.check(rc == 2 and err.count(b"\n") == 1, f"bad --since: exit {rc}, {err!r}")
rc, _, err = quench.export(redis_url="redis://127.0.0.1:1/0")
h.check(rc == 1 and err.count(b"\n") == 1, f"unreachable Redis: exit {rc}, {err!r}")
h.check(quench.stop() == 0, "quench did not exit 0 on SIGTERM")
print(f"ok: {len(bodies)} records exported byte for byte")
