#!/usr/bin/env python3
"""Separation: two fault cases replayed at the same time must stay apart.
Reported, not asserted.

  tests/bench/correlate_separation.py --quench build/quench [--rules rules] [--pairs 20]

Case B is shifted in time onto case A and interleaved by received_at, then
  scope:    B's alerts get namespace=b, A's namespace=a (same services);
  disjoint: B's services, pods and nodes are renamed "b-..." and the graph
            holds both systems, with no scope label at all.
Fingerprints are recomputed as Alertmanager does. For each pair the
confusion is the share of alerts that sit in an incident whose majority
comes from the other case (0 = perfectly separated)."""
import argparse, datetime, json, os, shutil, subprocess, sys, tempfile

def fp(labels):
    h = 14695981039346656037
    for k in sorted(labels):
        if labels[k] == "":
            continue
        for b in k.encode() + b"\xff" + labels[k].encode() + b"\xff":
            h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h

def parse(t):
    return datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))

def fmt(d):
    return d.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

def shift(t, delta):
    return t if t.startswith("0001-") else fmt(parse(t) + delta)

def load(path):
    return [json.loads(l) for l in open(path) if l.strip()]

def relabel(recs, delta, fn, gk=lambda g: g):
    out = []
    for r in recs:
        p = r["payload"]
        for a in p["alerts"]:
            a["labels"] = fn(a["labels"])
            a["fingerprint"] = fp(a["labels"])
            a["startsAt"] = shift(a["startsAt"], delta)
            a["endsAt"] = shift(a["endsAt"], delta)
        for k in ("groupLabels", "commonLabels"):
            p[k] = fn(p[k])
        p["groupKey"] = gk(p["groupKey"])
        out.append({"received_at": shift(r["received_at"], delta), "payload": p})
    return out

def run(quench, rules, recs, origin):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for r in sorted(recs, key=lambda r: parse(r["received_at"])):
            f.write(json.dumps(r) + "\n")
        path = f.name
    p = subprocess.run([quench, "replay", "--rules", rules, "--input", path], capture_output=True, text=True)
    os.unlink(path)
    if p.returncode != 0:
        raise SystemExit(p.stderr)
    wrong = total = 0
    incs = json.loads(p.stdout)["incidents"]
    for inc in incs:
        src = [origin[x] for x in inc["fingerprints"]]
        major = max(set(src), key=src.count)
        wrong += sum(1 for s in src if s != major)
        total += len(src)
    return wrong / total if total else 0.0, len(incs)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quench", default=os.environ.get("QUENCH_BIN", "build/quench"))
    ap.add_argument("--rules", default="rules")
    ap.add_argument("--dataset", default=os.path.join(
        os.environ.get("QUENCH_SHARED_DIR", "/work/shared"), "data/rca/ob-cloudbed-1"))
    ap.add_argument("--pairs", type=int, default=20)
    a = ap.parse_args()
    cases = sorted(json.load(open(os.path.join(a.dataset, "labels.json"))))
    svc_yaml = open(os.path.join(a.dataset, "services.yaml")).read()
    tmp = tempfile.mkdtemp()
    try:
        r1 = os.path.join(tmp, "scope"); os.mkdir(r1)
        shutil.copy(os.path.join(a.rules, "correlation.yaml"), r1)
        open(os.path.join(r1, "services.yaml"), "w").write(svc_yaml)
        r2 = os.path.join(tmp, "disjoint"); os.mkdir(r2)
        shutil.copy(os.path.join(a.rules, "correlation.yaml"), r2)
        lines = svc_yaml.splitlines()
        b = []
        start = lines.index("services:") + 1
        for l in lines[start:]:
            if l.startswith("  ") and not l.startswith("    "):
                b.append("  b-" + l.strip())
            elif "calls:" in l or "uses:" in l:
                key, rest = l.split(":", 1)
                names = [n.strip() for n in rest.strip()[1:-1].split(",")]
                b.append(key + ": [" + ", ".join("b-" + n for n in names) + "]")
            else:
                b.append(l)
        open(os.path.join(r2, "services.yaml"), "w").write("\n".join(lines + b) + "\n")
        res = {"scope": [], "disjoint": []}
        for i in range(min(a.pairs, len(cases) // 2)):
            ca, cb = cases[2 * i], cases[2 * i + 1]
            A = load(os.path.join(a.dataset, "cases", ca + ".jsonl"))
            B = load(os.path.join(a.dataset, "cases", cb + ".jsonl"))
            delta = parse(A[0]["received_at"]) - parse(B[0]["received_at"])
            for mode in ("scope", "disjoint"):
                if mode == "scope":
                    fa = lambda l: {**l, "namespace": "a"} if l else l
                    fb = lambda l: {**l, "namespace": "b"} if l else l
                else:
                    fa = lambda l: l
                    fb = lambda l: {k: ("b-" + v if k in ("service", "pod", "node", "caller") else v)
                                    for k, v in l.items()}
                ra = relabel(json.loads(json.dumps(A)), datetime.timedelta(0), fa)
                gkb = (lambda g: g) if mode == "scope" else (lambda g: g.replace('service="', 'service="b-'))
                rb = relabel(json.loads(json.dumps(B)), delta, fb, gkb)
                origin = {}
                for recs, tag in ((ra, "A"), (rb, "B")):
                    for r in recs:
                        for al in r["payload"]["alerts"]:
                            origin[al["fingerprint"]] = tag
                conf, n = run(a.quench, r1 if mode == "scope" else r2, ra + rb, origin)
                res[mode].append(conf)
                print(f"{ca}+{cb} {mode:8s} incidents {n:2d} confusion {conf*100:5.2f}%")
        for mode, v in res.items():
            print(f"{mode}: {len(v)} pairs, mean confusion {sum(v)/len(v)*100:.2f}%, "
                  f"max {max(v)*100:.2f}%, perfectly separated {sum(1 for x in v if x == 0)}/{len(v)}")
    finally:
        shutil.rmtree(tmp)

if __name__ == "__main__":
    main()
