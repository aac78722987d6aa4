#!/usr/bin/env python3
"""Generate every simulator dataset and score rank.c on each through
tests/bench/rank_bench (no engine needed), or through quench replay and
rca_eval.py with --quench.

  run.py --bench build-rank/rank_bench --rules rules/correlation.yaml [--cases 60]

With --history WINDOW_H,MIN,WEIGHT each dataset is also ranked in sequence
with a shared history (rank_bench sequence) and both are printed, plus
top-1 on the cases labelled "repeat" (--repeat: the previous case's fault
again). --background K adds K chronic alerters (simulate.py).
"""
import argparse, os, subprocess, sys, tempfile
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import json, score

def repeat_top1(d, out):
    """(hits, n) of exact top-1 on the cases labelled repeat."""
    labels = json.load(open(os.path.join(d, "labels.json")))
    hits = n = 0
    for line in open(out):
        f = line.split()
        if not f or line.startswith(" ") or not labels[f[0]].get("repeat"): continue
        n += 1; hits += f[1:2] == [labels[f[0]]["entity"]]
    return hits, n

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--rules", required=True)
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--topologies", default="online-boutique,sock-shop,train-ticket,social-network,powerlaw-1k")
    ap.add_argument("--noise", default="low,medium,high")
    ap.add_argument("--work", help="keep generated datasets here and reuse them (same --cases/--rules/--seed)")
    ap.add_argument("--background", type=int, default=0)
    ap.add_argument("--repeat", type=float, default=0)
    ap.add_argument("--churn", type=float, default=0, help="rollout probability per case (simulate.py)")
    ap.add_argument("--seed", type=int, default=7, help="simulate.py's seed (7: the reported tables)")
    ap.add_argument("--history", help="WINDOW_H,MIN,WEIGHT: also rank in sequence with a shared history")
    a = ap.parse_args()
    if a.history:
        print("| topology | noise | exact AC@1 per case / sequence | exact AC@3 | service AC@1 | service AC@3 | repeats top-1 |")
        print("|---|---|---|---|---|---|---|")
    else:
        print("| topology | noise | exact AC@1 | exact AC@3 | service AC@1 | service AC@3 | Avg@5 | top-1 confidence (mean) |")
        print("|---|---|---|---|---|---|---|---|")
    for topo in a.topologies.split(","):
        for noise in a.noise.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                tag = "" if not (a.background or a.repeat or a.churn) else \
                    "-b%d-r%g" % (a.background, a.repeat) + ("-c%g" % a.churn if a.churn else "")
                tag += "" if a.seed == 7 else "-s%d" % a.seed
                d = os.path.join(a.work, "%s-%s-%d%s" % (topo, noise, a.cases, tag)) if a.work else tmp
                txt = os.path.join(d, "in.txt"); out = os.path.join(d, "out.txt")
                if not os.path.exists(txt):
                    os.makedirs(d, exist_ok=True)
                    subprocess.run([sys.executable, os.path.join(HERE, "simulate.py"), d, "--topology", topo,
                                    "--noise", noise, "--cases", str(a.cases), "--seed", str(a.seed),
                                    "--background", str(a.background), "--repeat", str(a.repeat),
                                    "--churn", str(a.churn)], check=True)
                    with open(txt + ".tmp", "w") as f:
                        # the timeline line is ignored by `rank_bench cases`
                        subprocess.run([sys.executable, os.path.join(HERE, "rank_input.py"), d, "--rules", a.rules,
                                        "--timeline", "3600"], stdout=f, check=True)
                    os.rename(txt + ".tmp", txt)
                with open(out, "w") as f:
                    subprocess.run([a.bench, "cases", txt], stdout=f, check=True)
                r = score.score(d, out)
                if a.history:
                    seq = os.path.join(d, "seq.txt")
                    with open(seq, "w") as f:
                        subprocess.run([a.bench, "sequence", txt] + a.history.split(","), stdout=f, check=True)
                    q = score.score(d, seq)
                    h0, n0 = repeat_top1(d, out); h1, n1 = repeat_top1(d, seq)
                    print("| %s | %s | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f | %d/%d / %d/%d |" % (
                        topo, noise, r["exact"][0], q["exact"][0], r["exact"][1], q["exact"][1],
                        r["service"][0], q["service"][0], r["service"][1], q["service"][1], h0, n0, h1, n1), flush=True)
                    continue
                print("| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |" % (
                    topo, noise, r["exact"][0], r["exact"][1], r["service"][0], r["service"][1],
                    r["exact"][2], r["mean_confidence"]), flush=True)

if __name__ == "__main__":
    main()
