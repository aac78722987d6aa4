#!/usr/bin/env python3
"""Score root-cause ranking on labelled cases replayed as ONE archive, in
case order, so the engine's history of closed incidents carries from case
to case (what serve sees over a day), unlike rca_eval.py, which replays
each case in a fresh process.

  rca_sequential.py DATASET --quench build/quench [--rules rules] [--gap 3600]

The cases are laid one after another (tests/bench/rca-sim/timeline.py):
case i+1 starts --gap seconds after everything of case i (its last
webhook, endsAt, and resolve_quiet) is over, so incidents never merge
across cases. Every received_at, startsAt and endsAt of a case is shifted
by the case's offset. `quench replay` runs once on the result; each case
is scored on the incident with the most alerts among those that opened
during the case (from its first webhook until the next case starts),
exactly as rca_eval.py scores (exact entity and service level, AC@1,
AC@3, Avg@5; a pod counts as its service).

--keep FILE keeps the archive. Exit 0 unless the replay fails.
"""
import argparse, json, os, subprocess, sys, tempfile
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "rca-sim"))
import timeline
from rca_common import Score, largest, pods_to_service, rules_dir

def shifted(rec, off):
    rec = json.loads(json.dumps(rec))
    rec["received_at"] = timeline.iso(timeline.ms(rec["received_at"]) + off)
    for a in rec["payload"]["alerts"]:
        a["startsAt"] = timeline.iso(timeline.ms(a["startsAt"]) + off)
        if a.get("endsAt") and a["endsAt"] != timeline.NO_END:
            a["endsAt"] = timeline.iso(timeline.ms(a["endsAt"]) + off)
    return rec

def build_archive(dataset, cids, gap_ms, out):
    spans = timeline.offsets(dataset, cids, gap_ms)
    for cid in cids:
        off = spans[cid][0]
        for line in open(os.path.join(dataset, "cases", cid + ".jsonl")):
            out.write(json.dumps(shifted(json.loads(line), off), sort_keys=True) + "\n")
    return spans

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--quench", required=True)
    ap.add_argument("--rules", help="directory with correlation.yaml etc.; services.yaml is the dataset's")
    ap.add_argument("--gap", type=float, default=3600, help="seconds between cases")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--keep", help="write the archive here")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    labels = json.load(open(os.path.join(a.dataset, "labels.json")))
    cids = sorted(labels)[: a.limit or None]
    score = Score(pods_to_service(a.dataset, cids))
    with tempfile.TemporaryDirectory() as tmp:
        rules = rules_dir(tmp, a.rules, a.dataset)
        archive = a.keep or os.path.join(tmp, "archive.jsonl")
        with open(archive, "w") as f:
            spans = build_archive(a.dataset, cids, int(a.gap * 1000), f)
        p = subprocess.run([a.quench, "replay", "--rules", rules, "--input", archive, "--format", "json"],
                           capture_output=True, timeout=a.timeout)
        if p.returncode != 0:
            sys.stderr.write(p.stderr.decode(errors="replace"))
            sys.exit("replay failed (exit %d)" % p.returncode)
        rep = json.loads(p.stdout)
    incs = [(timeline.ms(i["opened_at"]), i) for i in rep.get("incidents", [])]
    missing = 0
    for k, cid in enumerate(cids):
        lo = spans[cid][1]
        hi = spans[cids[k + 1]][1] if k + 1 < len(cids) else float("inf")
        mine = [i for t, i in incs if lo - 600_000 <= t < hi]
        if not mine:
            score.n += 1; missing += 1; continue
        inc = largest(mine)
        ranking = [rc["entity"]["name"] for rc in inc.get("root_causes", [])]
        rank, _ = score.add(ranking, labels[cid])
        if a.verbose:
            print(cid, labels[cid]["entity"], "OK" if rank == 1 else "rank=%s" % (rank or "-"),
                  ranking[:3], [e for rc in inc.get("root_causes", [])[:1]
                                for e in rc.get("evidence", []) if "background" in e][:1])
    print(f"cases {score.n} incidents {len(incs)} cases without an incident {missing}")
    score.report()

if __name__ == "__main__":
    main()
