#!/usr/bin/env python3
"""The simulator's rows end to end: every dataset under WORK/simSEED (as
run.py --work or variant.py leave them) replayed case by case through
`quench replay`, correlation included, scored like rca_eval.py on the
incident with the most alerts. run.py scores the ranking alone (each case
one incident); the difference is what correlation costs or splits.

  replay_rows.py WORK/sim7 --quench build/quench [--rules rules]

prints one line per row and the mean exact AC@1 / AC@3 / service AC@1 /
AC@3 over the rows.
"""
import argparse, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import rca_cases  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rows", help="a directory of rca_eval-layout datasets")
    ap.add_argument("--quench", required=True)
    ap.add_argument("--rules", help="correlation.yaml etc.; each dataset brings services.yaml")
    a = ap.parse_args()
    tot = [0.0] * 4
    names = sorted(d for d in os.listdir(a.rows)
                   if os.path.exists(os.path.join(a.rows, d, "labels.json")))
    for d in names:
        s = rca_cases.run(os.path.join(a.rows, d), a.quench, a.rules, out=None)
        row = [s.exact[0] / s.n, s.exact[2] / s.n, s.svc[0] / s.n, s.svc[2] / s.n]
        tot = [t + r for t, r in zip(tot, row)]
        print("%-28s exact %.2f / %.2f service %.2f / %.2f" % (d, *row))
    print("mean over %d rows: exact AC@1 %.3f AC@3 %.3f service AC@1 %.3f AC@3 %.3f"
          % (len(names), *[t / len(names) for t in tot]))


if __name__ == "__main__":
    main()
