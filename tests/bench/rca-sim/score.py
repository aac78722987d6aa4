#!/usr/bin/env python3
"""Score rank_bench output against a dataset's labels.json exactly as
rca_eval.py does (exact entity and service level, AC@1, AC@3, Avg@5), plus
per fault kind and a confidence calibration table.

  score.py DATASET RANKINGS.txt [--verbose]
"""
import argparse, collections, json, os

def pod_services(dataset):
    m = {}
    for f in sorted(os.listdir(os.path.join(dataset, "cases"))):
        for line in open(os.path.join(dataset, "cases", f)):
            for al in json.loads(line)["payload"]["alerts"]:
                l = al["labels"]
                if "pod" in l and "service" in l: m[l["pod"]] = l["service"]
    return m

def read_rankings(path):
    """(case, names, scores, confidences) per case line of `rank_bench cases`
    output; indented RANK_BENCH_EXPLAIN lines are skipped."""
    for line in open(path):
        parts = line.split()
        if not parts or line[0].isspace():
            continue
        rest = parts[1:]
        yield parts[0], rest[0::3], [float(x) for x in rest[1::3]], [float(x) for x in rest[2::3]]


def score(dataset, rankings, verbose=False):
    labels = json.load(open(os.path.join(dataset, "labels.json")))
    p2s = pod_services(dataset)
    ex = [0] * 5; sv = [0] * 5; n = 0
    kinds = collections.defaultdict(lambda: [0, 0, 0])
    conf = []
    for cid, names, _, confs in read_rankings(rankings):
        lab = labels[cid]; truth = lab["entity"]; tsvc = lab["service"] or truth
        srank = []
        for r in names:
            s = p2s.get(r, r)
            if s not in srank: srank.append(s)
        n += 1
        for k in range(5):
            ex[k] += truth in names[:k + 1]
            sv[k] += tsvc in srank[:k + 1]
        kk = kinds[lab["kind"]]
        kk[0] += bool(names[:1] == [truth]); kk[1] += bool(srank[:1] == [tsvc]); kk[2] += 1
        if confs: conf.append((confs[0], names[0] == truth))
        if verbose:
            print(cid, lab["kind"], truth, "OK" if names[:1] == [truth] else
                  "rank=%s" % (names.index(truth) + 1 if truth in names else "-"), names[:4])
    res = {"cases": n,
           "exact": (ex[0] / n, ex[2] / n, sum(ex) / 5 / n),
           "service": (sv[0] / n, sv[2] / n, sum(sv) / 5 / n),
           "per_kind": {k: "exact %d/%d service %d/%d" % (v[0], v[2], v[1], v[2]) for k, v in sorted(kinds.items())}}
    bins = collections.defaultdict(lambda: [0, 0])
    for c, ok in conf:
        b = min(int(c * 5), 4); bins[b][0] += ok; bins[b][1] += 1
    res["calibration"] = {"%.1f-%.1f" % (b / 5, (b + 1) / 5): "%d/%d" % tuple(v) for b, v in sorted(bins.items())}
    res["mean_confidence"] = sum(c for c, _ in conf) / len(conf) if conf else 0
    return res

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset"); ap.add_argument("rankings"); ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    r = score(a.dataset, a.rankings, a.verbose)
    print("cases %d" % r["cases"])
    print("exact   AC@1 %.2f AC@3 %.2f Avg@5 %.2f" % r["exact"])
    print("service AC@1 %.2f AC@3 %.2f Avg@5 %.2f" % r["service"])
    for k, v in r["per_kind"].items(): print("  %-8s %s" % (k, v))
    print("confidence of top cause vs exact hit:", r["calibration"], "mean %.2f" % r["mean_confidence"])
