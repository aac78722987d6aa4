#!/usr/bin/env python3
"""Fit rank.c's confidence, c1 = 1 / (1 + exp(-(A + B m))) with m the top
cause's score margin (s1 - s2) / s1, by maximum likelihood, and report how
well calibrated it is on cases it was not fitted on.

  calibrate.py --fit WORK [--shared DATASET OUT] --eval WORK [--a A --b B]

WORK is a run.py --work directory (each row holds labels.json and the
ranking in out.txt), DATASET an rca_eval dataset and OUT `rank_bench cases`
output for it. The shared cases count three times in the fit (70 real
cases against hundreds of simulated ones). Reports, for the given A, B
(the shipped CONF_A, CONF_B by default) and for the fitted ones, the top-1
precision per confidence bin and the expected calibration error (ECE: the
mean |hits - sum of confidences| over the bins, per case) on each set."""
import argparse, glob, json, math, os

from score import read_rankings


def rows_of(labels, out):
    """(margin, top-1 exact hit) per case of OUT."""
    labs = json.load(open(labels))
    res = {cid: (names, scores) for cid, names, scores, _ in read_rankings(out)}
    rows = []
    for cid, lab in sorted(labs.items()):
        ents, sc = res.get(cid, ([], []))
        if not ents:
            continue
        s1, s2 = sc[0], sc[1] if len(sc) > 1 else 0.0
        rows.append(((s1 - s2) / s1 if s1 > 0 else 0.0, int(ents[0] == lab["entity"])))
    return rows


def work_rows(work):
    rows = []
    for d in sorted(glob.glob(os.path.join(work, "*"))):
        if os.path.exists(os.path.join(d, "out.txt")):
            rows += rows_of(os.path.join(d, "labels.json"), os.path.join(d, "out.txt"))
    return rows


def conf(a, b, m):
    return 1.0 / (1.0 + math.exp(-(a + b * m)))


def nll(data, a, b):
    t = 0.0
    for m, y, w in data:
        p = min(max(conf(a, b, m), 1e-9), 1 - 1e-9)
        t -= w * (y * math.log(p) + (1 - y) * math.log(1 - p))
    return t


def fit(data):
    """Grid over A in [-4, 1], B in [0, 12] by 0.1, the same resolution as
    the constants in rank.c."""
    best = None
    for ai in range(-40, 11):
        for bi in range(0, 121):
            v = nll(data, ai / 10, bi / 10)
            if best is None or v < best[0]:
                best = (v, ai / 10, bi / 10)
    return best[1], best[2]


def report(name, rows, a, b):
    bins = {}
    for m, y in rows:
        p = conf(a, b, m)
        k = min(int(p * 5), 4)
        e = bins.setdefault(k, [0, 0, 0.0])
        e[0] += y
        e[1] += 1
        e[2] += p
    ece = sum(abs(h - s) for h, _, s in bins.values()) / max(len(rows), 1)
    cells = " ".join("%.1f-%.1f %d/%d (mean %.2f)" % (k / 5, (k + 1) / 5, h, n, s / n)
                     for k, (h, n, s) in sorted(bins.items()))
    print("  %-6s A=%5.1f B=%4.1f  ECE %.3f  %s" % (name, a, b, ece, cells))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fit", required=True, help="run.py --work directory to fit on")
    ap.add_argument("--shared", nargs=2, metavar=("DATASET", "OUT"))
    ap.add_argument("--eval", required=True, help="run.py --work directory held out")
    ap.add_argument("--a", type=float, default=-1.2)
    ap.add_argument("--b", type=float, default=5.2)
    a = ap.parse_args()
    fit_sim = work_rows(a.fit)
    shared = rows_of(os.path.join(a.shared[0], "labels.json"), a.shared[1]) if a.shared else []
    held = work_rows(a.eval)
    data = [(m, y, 3.0) for m, y in shared] + [(m, y, 1.0) for m, y in fit_sim]
    fa, fb = fit(data)
    print("fit on %d simulated + %d shared cases (x3): A=%.1f B=%.1f; held out: %d cases"
          % (len(fit_sim), len(shared), fa, fb, len(held)))
    for label, (ca, cb) in (("given", (a.a, a.b)), ("fitted", (fa, fb))):
        print(label)
        if shared:
            report("shared", shared, ca, cb)
        report("fit", fit_sim, ca, cb)
        report("held", held, ca, cb)


if __name__ == "__main__":
    main()
