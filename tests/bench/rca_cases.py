#!/usr/bin/env python3
"""Per case, what ../shared/tools/rca_eval.py only totals: each case replayed
alone (`quench replay`, one process per case, no history), scored on the
incident with the most alerts, one line per case:

  NNN KIND TRUTH FAULT_TYPE ex<rank> sv<rank> top-3 (name confidence)

(rank 1 = first; "-" = not among the ranked causes), then the same totals
as rca_eval.py. --misses prints only the cases whose service is not first.

  rca_cases.py DATASET --quench build/quench [--rules rules] [--misses]
"""
import argparse, json, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rca_common import Score, largest, pods_to_service, rules_dir


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--quench", required=True)
    ap.add_argument("--rules", help="directory with correlation.yaml etc.; services.yaml is the dataset's")
    ap.add_argument("--misses", action="store_true")
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    labels = json.load(open(os.path.join(a.dataset, "labels.json")))
    cids = sorted(labels)
    score = Score(pods_to_service(a.dataset, cids))
    with tempfile.TemporaryDirectory() as tmp:
        rules = rules_dir(tmp, a.rules, a.dataset)
        for cid in cids:
            p = subprocess.run([a.quench, "replay", "--rules", rules, "--input",
                                os.path.join(a.dataset, "cases", cid + ".jsonl"),
                                "--format", "json"], capture_output=True, timeout=a.timeout)
            if p.returncode != 0:
                sys.exit("%s: replay failed (exit %d): %s" % (cid, p.returncode,
                                                             p.stderr.decode(errors="replace")))
            incs = json.loads(p.stdout).get("incidents", [])
            causes = largest(incs).get("root_causes", []) if incs else []
            ex, sv = score.add([c["entity"]["name"] for c in causes], labels[cid])
            if a.misses and sv == 1:
                continue
            lab = labels[cid]
            print("%s %-7s %-26s %-32s ex%-2s sv%-2s %s" % (
                cid, lab["kind"], lab["entity"], lab["fault_type"][:32], ex or "-", sv or "-",
                " ".join("%s %.2f" % (c["entity"]["name"], c["confidence"]) for c in causes[:3])))
    print(f"cases {score.n}")
    score.report()


if __name__ == "__main__":
    main()
