#!/usr/bin/env python3
"""Compression of the 70 labelled cases: how many of a case's alerts land
in its largest incident, and how many incidents it makes (goal: >= 95% in
one incident). Reported, not asserted.

  tests/bench/correlate_compression.py --quench build/quench [--rules rules]
      [--dataset /work/shared/data/rca/ob-cloudbed-1]

--rules gives correlation.yaml (default: the repo's rules/); services.yaml is
always the dataset's. Prints one line per case and a summary."""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quench", default=os.environ.get("QUENCH_BIN", "build/quench"))
    ap.add_argument("--rules", default="rules")
    ap.add_argument("--dataset", default=os.path.join(
        os.environ.get("QUENCH_SHARED_DIR", "/work/shared"), "data/rca/ob-cloudbed-1"))
    a = ap.parse_args()
    labels = json.load(open(os.path.join(a.dataset, "labels.json")))
    shares, counts, rows = [], [], []
    with tempfile.TemporaryDirectory() as rules:
        shutil.copy(os.path.join(a.rules, "correlation.yaml"), rules)
        shutil.copy(os.path.join(a.dataset, "services.yaml"), rules)
        for cid in sorted(labels):
            case = os.path.join(a.dataset, "cases", cid + ".jsonl")
            p = subprocess.run([a.quench, "replay", "--rules", rules, "--input", case,
                                "--format", "json"], capture_output=True, text=True)
            if p.returncode != 0:
                print(f"{cid}: replay failed: {p.stderr.strip()}", file=sys.stderr)
                return 1
            rep = json.loads(p.stdout)
            total = len({fp for i in rep["incidents"] for fp in i["fingerprints"]})
            big = max((i["alert_count"] for i in rep["incidents"]), default=0)
            share = big / total if total else 1.0
            shares.append(share); counts.append(len(rep["incidents"]))
            rows.append((cid, total, len(rep["incidents"]), share, labels[cid]["fault_type"]))
    for cid, total, n, share, ft in rows:
        print(f"{cid}  alerts {total:4d}  incidents {n:2d}  largest {share*100:6.2f}%  {ft}")
    ok = sum(1 for s in shares if s >= 0.95)
    print(f"\ncases {len(shares)}: largest-incident share mean {statistics.mean(shares)*100:.2f}%, "
          f"median {statistics.median(shares)*100:.2f}%, min {min(shares)*100:.2f}%; "
          f">= 95% in {ok}/{len(shares)} cases; incidents per case mean "
          f"{statistics.mean(counts):.2f}, max {max(counts)}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
