#!/usr/bin/env python3
"""Generate every simulator dataset and score rank.c on each through
tests/bench/rank_bench (no engine needed), or through quench replay and
rca_eval.py with --quench.

  run.py --bench build-rank/rank_bench --rules rules/correlation.yaml [--cases 60]
"""
import argparse, os, subprocess, sys, tempfile
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import score

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--rules", required=True)
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--topologies", default="online-boutique,sock-shop,train-ticket,social-network,powerlaw-1k")
    ap.add_argument("--noise", default="low,medium,high")
    ap.add_argument("--work", help="keep generated datasets here and reuse them (same --cases/--rules)")
    a = ap.parse_args()
    print("| topology | noise | exact AC@1 | exact AC@3 | service AC@1 | service AC@3 | Avg@5 | top-1 confidence (mean) |")
    print("|---|---|---|---|---|---|---|---|")
    for topo in a.topologies.split(","):
        for noise in a.noise.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                d = os.path.join(a.work, "%s-%s-%d" % (topo, noise, a.cases)) if a.work else tmp
                txt = os.path.join(d, "in.txt"); out = os.path.join(d, "out.txt")
                if not os.path.exists(txt):
                    os.makedirs(d, exist_ok=True)
                    subprocess.run([sys.executable, os.path.join(HERE, "simulate.py"), d, "--topology", topo,
                                    "--noise", noise, "--cases", str(a.cases), "--seed", "7"], check=True)
                    with open(txt + ".tmp", "w") as f:
                        subprocess.run([sys.executable, os.path.join(HERE, "rank_input.py"), d, "--rules", a.rules],
                                       stdout=f, check=True)
                    os.rename(txt + ".tmp", txt)
                with open(out, "w") as f:
                    subprocess.run([a.bench, "cases", txt], stdout=f, check=True)
                r = score.score(d, out)
                print("| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |" % (
                    topo, noise, r["exact"][0], r["exact"][1], r["service"][0], r["service"][1],
                    r["exact"][2], r["mean_confidence"]), flush=True)

if __name__ == "__main__":
    main()
