#!/usr/bin/env python3
"""Build rank.c with compile-time weights and score it on the shared cases
and on both simulator seeds in one line, the yardstick every ranking change
in docs/ranking.md was measured with:

  variant.py NAME [-DCOVER=0 -DLOGC=0.5 ...] [--work DIR] [--shared DATASET]

prints

  NAME shared ex AC@1/AC@3 sv AC@1/AC@3 | 7 exact AC@1/AC@3/service AC@1 | 3 ...

(the simulator figures are means over the 15 default rows, 60 cases each).
A change is worth keeping when the shared cases and both seeds hold or
gain: the shared cases alone are 70 cases (one case = 0.014) and easy to
fit. DIR (default /tmp/quench-variants) keeps the generated datasets, the
build and the rankings, so a second variant takes seconds; run one
variant at a time per DIR (run.py ranks into the datasets' folders).
"""
import argparse, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)
import score  # noqa: E402

KINDS = os.path.join(HERE, "alert_kinds.yaml")


def sh(argv, out=None):
    with open(out, "w") if out else open(os.devnull, "w") as f:
        subprocess.run(argv, stdout=f, check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--work", default="/tmp/quench-variants")
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "data", "rca",
                                                     "ob-cloudbed-1"))
    a, rest = ap.parse_known_args()
    a.flags = " ".join(rest)          # -DNAME=value: compile-time weights
    os.makedirs(a.work, exist_ok=True)
    build = os.path.join(a.work, "b-" + a.name)
    sh(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
        "-DCMAKE_C_FLAGS=" + a.flags])
    sh(["sh", os.path.join(ROOT, "tests", "bench", "rank_bench.sh"), build])
    bench = os.path.join(build, "rank_bench")
    line = a.name
    shared_in = os.path.join(a.work, "shared.txt")
    if not os.path.exists(shared_in):
        sh([sys.executable, os.path.join(HERE, "rank_input.py"), a.shared, "--rules",
            os.path.join(ROOT, "rules", "correlation.yaml")], shared_in + ".tmp")
        os.rename(shared_in + ".tmp", shared_in)
    out = os.path.join(a.work, a.name + "-shared.out")
    sh([bench, "cases", shared_in], out)
    r = score.score(a.shared, out)
    line += " shared ex %.2f/%.2f sv %.2f/%.2f" % (r["exact"][0], r["exact"][1],
                                                   r["service"][0], r["service"][1])
    for seed in (7, 3):
        work = os.path.join(a.work, "sim%d" % seed)
        table = os.path.join(a.work, "%s-sim%d.txt" % (a.name, seed))
        sh([sys.executable, os.path.join(HERE, "run.py"), "--bench", bench, "--rules", KINDS,
            "--cases", "60", "--seed", str(seed), "--work", work], table)
        # means of the unrounded per-row scores (the table rounds to 0.01)
        rows = [score.score(os.path.join(work, d), os.path.join(work, d, "out.txt"))
                for d in sorted(os.listdir(work))]
        m = [sum(r[k][j] for r in rows) / len(rows)
             for k, j in (("exact", 0), ("exact", 1), ("service", 0))]
        line += " | %d %.3f/%.3f/%.3f" % (seed, m[0], m[1], m[2])
    print(line)


if __name__ == "__main__":
    main()
