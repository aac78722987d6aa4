#!/usr/bin/env python3
"""Per case, what ../shared/tools/rca_eval.py only totals: each case replayed
alone (`quench replay`, one process per case, no history), scored on the
incident with the most alerts, one line per case:

  NNN KIND TRUTH FAULT_TYPE ex<rank> sv<rank> top-3 (name confidence)

(rank 1 = first; "-" = not among the ranked causes), then the same totals
as rca_eval.py. --misses prints only the cases whose service is not first.

--strip pod,node,caller replays the cases with those labels removed from
every alert, as a system that alerts per service only would send them:
node faults are left out and a pod fault counts as its service's.

  rca_cases.py DATASET --quench build/quench [--rules rules] [--misses] [--strip L,...]
"""
import argparse, json, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rca_common import Score, largest, pods_to_service, rules_dir


def run(dataset, quench, rules=None, strip=(), misses=False, timeout=60, out=sys.stdout):
    """Replay and score every case of DATASET; print a line per case to OUT
    (None: quiet). The Score."""
    labels = json.load(open(os.path.join(dataset, "labels.json")))
    cids = sorted(labels)
    score = Score(pods_to_service(dataset, cids))
    if strip:
        # a stripped node cannot be named; a stripped pod is its service
        cids = [c for c in cids if not (labels[c]["kind"] == "node" and "node" in strip)]
        for c in cids:
            if labels[c]["kind"] == "pod" and "pod" in strip:
                labels[c] = dict(labels[c], entity=labels[c]["service"], kind="service")
    with tempfile.TemporaryDirectory() as tmp:
        rdir = rules_dir(tmp, rules, dataset)
        for cid in cids:
            case = os.path.join(dataset, "cases", cid + ".jsonl")
            if strip:
                case = os.path.join(tmp, cid + ".jsonl")
                with open(case, "w") as f:
                    for line in open(os.path.join(dataset, "cases", cid + ".jsonl")):
                        rec = json.loads(line)
                        for al in rec["payload"]["alerts"]:
                            for l in strip:
                                al["labels"].pop(l, None)
                        f.write(json.dumps(rec) + "\n")
            p = subprocess.run([quench, "replay", "--rules", rdir, "--input", case,
                                "--format", "json"], capture_output=True, timeout=timeout)
            if p.returncode != 0:
                sys.exit("%s: replay failed (exit %d): %s" % (cid, p.returncode,
                                                             p.stderr.decode(errors="replace")))
            incs = json.loads(p.stdout).get("incidents", [])
            causes = largest(incs).get("root_causes", []) if incs else []
            ex, sv = score.add([c["entity"]["name"] for c in causes], labels[cid])
            if out is None or (misses and sv == 1):
                continue
            lab = labels[cid]
            print("%s %-7s %-26s %-32s ex%-2s sv%-2s %s" % (
                cid, lab["kind"], lab["entity"], lab["fault_type"][:32], ex or "-", sv or "-",
                " ".join("%s %.2f" % (c["entity"]["name"], c["confidence"]) for c in causes[:3])),
                file=out)
    return score


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--quench", required=True)
    ap.add_argument("--rules", help="directory with correlation.yaml etc.; services.yaml is the dataset's")
    ap.add_argument("--misses", action="store_true")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--strip", default="", help="labels to remove from every alert")
    a = ap.parse_args()
    score = run(a.dataset, a.quench, a.rules, [l for l in a.strip.split(",") if l],
                a.misses, a.timeout)
    print(f"cases {score.n}")
    score.report()


if __name__ == "__main__":
    main()
