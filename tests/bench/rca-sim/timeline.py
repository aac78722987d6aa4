"""Lay the cases of a dataset one after another in time, so a single
replay (or rank_bench sequence) sees them as a sequence of incidents that
never merge: case i+1 starts GAP after everything of case i (last webhook,
endsAt, plus resolve_quiet) is over. Used by rank_input.py --timeline and
tests/bench/rca_sequential.py, so both see the same clock.

Times are ms since the epoch; offsets are added to every received_at,
startsAt and endsAt of a case."""
import datetime, json, os

NO_END = "0001-01-01T00:00:00Z"

def ms(s):
    return int(round(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000))

def iso(t):
    return datetime.datetime.fromtimestamp(t / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

def span(path):
    """(earliest time, latest time, first received_at, last received_at)."""
    lo = hi = r0 = r1 = None
    for line in open(path):
        rec = json.loads(line)
        r = ms(rec["received_at"])
        r0 = r if r0 is None else min(r0, r); r1 = r if r1 is None else max(r1, r)
        ts = [r]
        for a in rec["payload"]["alerts"]:
            ts.append(ms(a["startsAt"]))
            if a.get("endsAt") and a["endsAt"] != NO_END:
                ts.append(ms(a["endsAt"]))
        lo = min(ts) if lo is None else min(lo, min(ts))
        hi = max(ts) if hi is None else max(hi, max(ts))
    return lo, hi, r0, r1

def offsets(dataset, cids, gap_ms=3600_000, quiet_ms=300_000):
    """cid -> (offset, open, close): open/close are the shifted first
    received_at and last received_at + quiet_ms (when quench closes the
    incident if its alerts resolved in the last webhook). gap_ms None
    keeps the recorded times (offset 0; cases may then overlap)."""
    out, t = {}, None
    for cid in cids:
        lo, hi, r0, r1 = span(os.path.join(dataset, "cases", cid + ".jsonl"))
        off = 0 if t is None or gap_ms is None else t - lo
        out[cid] = (off, r0 + off, r1 + off + quiet_ms)
        t = max(hi, r1) + off + quiet_ms + (gap_ms or 0)
    return out
