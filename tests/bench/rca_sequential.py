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
    pods_to_service = {}
    for cid in cids:
        for line in open(os.path.join(a.dataset, "cases", cid + ".jsonl")):
            for al in json.loads(line)["payload"]["alerts"]:
                l = al["labels"]
                if "pod" in l and "service" in l: pods_to_service[l["pod"]] = l["service"]
    with tempfile.TemporaryDirectory() as tmp:
        rules = os.path.join(tmp, "rules"); os.mkdir(rules)
        if a.rules:
            for f in os.listdir(a.rules):
                if f.endswith(".yaml") and f != "services.yaml":
                    open(os.path.join(rules, f), "w").write(open(os.path.join(a.rules, f)).read())
        open(os.path.join(rules, "services.yaml"), "w").write(
            open(os.path.join(a.dataset, "services.yaml")).read())
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
    hits_exact = [0] * 5; hits_svc = [0] * 5; n = 0; missing = 0
    for k, cid in enumerate(cids):
        lo = spans[cid][1]
        hi = spans[cids[k + 1]][1] if k + 1 < len(cids) else float("inf")
        mine = [i for t, i in incs if lo - 600_000 <= t < hi]
        n += 1
        if not mine:
            missing += 1; continue
        inc = max(mine, key=lambda i: i.get("alert_count", len(i.get("fingerprints", []))))
        ranking = [rc["entity"]["name"] for rc in inc.get("root_causes", [])]
        truth = labels[cid]["entity"]; tsvc = labels[cid]["service"] or truth
        svc_rank = []
        for r in ranking:
            s = pods_to_service.get(r, r)
            if s not in svc_rank: svc_rank.append(s)
        for j in range(5):
            hits_exact[j] += truth in ranking[: j + 1]
            hits_svc[j] += tsvc in svc_rank[: j + 1]
        if a.verbose:
            print(cid, truth, "OK" if ranking[:1] == [truth] else
                  "rank=%s" % (ranking.index(truth) + 1 if truth in ranking else "-"), ranking[:3],
                  [e for rc in inc.get("root_causes", [])[:1] for e in rc.get("evidence", [])
                   if "background" in e][:1])
    ac = lambda h, j: h[j - 1] / n
    avg5 = lambda h: sum(h) / (5 * n)
    print(f"cases {n} incidents {len(incs)} cases without an incident {missing}")
    print(f"exact   AC@1 {ac(hits_exact,1):.2f} AC@3 {ac(hits_exact,3):.2f} Avg@5 {avg5(hits_exact):.2f}")
    print(f"service AC@1 {ac(hits_svc,1):.2f} AC@3 {ac(hits_svc,3):.2f} Avg@5 {avg5(hits_svc):.2f}")

if __name__ == "__main__":
    main()
