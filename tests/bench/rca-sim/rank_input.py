#!/usr/bin/env python3
"""Turn a dataset in the rca_eval layout (labels.json, services.yaml,
cases/NNN.jsonl) into the text input of tests/bench/rank_bench, resolving
entities as rules/correlation.yaml's defaults do (a peer_labels value,
else pod, else service, else node; service -> pod and pod -> node links
from the labels) and classing
alerts with its alert_kinds. Lets rank.c be measured without the engine.

  rank_input.py DATASET --rules rules/correlation.yaml > cases.txt

--timeline GAP_S adds a line "T OPEN_MS CLOSE_MS" per case: the cases laid
one after another with GAP_S between them (timeline.py, the clock
rca_sequential.py replays on), for `rank_bench sequence`. `rank_bench
cases` ignores it.
"""
import argparse, datetime, json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alert_kinds, timeline

CLS = {"neutral": 0, "cause": 1, "symptom": 2}
SEV = {"info": 0, "none": 0, "critical": 2, "error": 2, "page": 2}

def services(path):
    out, cur = {}, None
    for line in open(path):
        if line.startswith("  ") and not line.startswith("    ") and line.strip().endswith(":"):
            cur = line.strip()[:-1]
            out[cur] = {"deps": [], "kind": "service"}
        elif line.startswith("    ") and cur and ":" in line:
            k, v = line.strip().split(":", 1)
            v = v.strip()
            if k in ("calls", "uses"):
                out[cur]["deps"] += [x.strip() for x in v.strip("[]").split(",") if x.strip()]
            elif k == "kind":
                out[cur]["kind"] = v
    return out

def ms(s):
    return int(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)

def convert(dataset, kinds, cid, out, span=None):
    svcs = services(os.path.join(dataset, "services.yaml"))
    ents, idx, links = [], {}, set()
    def ent(kind, name):
        key = ("service" if kind in ("service", "database", "cache", "queue", "external") else kind, name)
        if key not in idx:
            idx[key] = len(ents)
            ents.append((kind, name))
        return idx[key]
    for s, d in svcs.items():
        ent(d["kind"], s)
    for s, d in svcs.items():
        for x in d["deps"]:
            links.add((ent(svcs[s]["kind"], s), ent(svcs.get(x, {"kind": "service"})["kind"], x)))
    seen = {}
    for line in open(os.path.join(dataset, "cases", cid + ".jsonl")):
        for a in json.loads(line)["payload"]["alerts"]:
            seen[a["fingerprint"]] = a
    alerts = []
    for fp in sorted(seen):
        a = seen[fp]; lab = a["labels"]
        pod, svc, node = lab.get("pod"), lab.get("service"), lab.get("node")
        peer = next((lab[k] for k in PEER if lab.get(k)), None)
        if peer and peer != svc:
            # peer_labels: measured by a caller, about the peer (rules.c's
            # rules_peer; its placeholders and DNS names left out: the
            # simulator writes plain names)
            pod, svc, node = None, peer, None
        p = ent("pod", pod) if pod else None
        s = ent(svcs.get(svc, {"kind": "service"})["kind"], svc) if svc else None
        n = ent("node", node) if node else None
        if p is not None and s is not None: links.add((s, p))
        if p is not None and n is not None: links.add((p, n))
        e = p if p is not None else s if s is not None else n
        if e is None: continue
        cls, w = alert_kinds.classify(kinds, lab)
        alerts.append((fp, e, ms(a["startsAt"]), 1 if a["status"] == "firing" else 0,
                       CLS.get(cls, 0), w, SEV.get(lab.get("severity", ""), 1), lab.get("alertname", "alert")))
    out.write(f"case {cid}\n")
    if span is not None: out.write("T %d %d\n" % span)
    for k, n in ents: out.write(f"E {k} {n}\n")
    for a, b in sorted(links): out.write(f"L {a} {b}\n")
    for a in alerts: out.write("A %s %d %d %d %d %g %d %s\n" % a)
    out.write("end\n")

PEER = ["peer_service", "destination_service_name"]


def peer_labels(path):
    """peer_labels of a correlation.yaml (a one-line list), else the default."""
    for line in open(path):
        if line.startswith("peer_labels:"):
            v = line.split(":", 1)[1].split("#")[0].strip()
            return [x.strip() for x in v.strip("[]").split(",") if x.strip()]
    return PEER


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--rules", required=True, help="correlation.yaml with alert_kinds")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--timeline", help="seconds between consecutive cases, or 'recorded' for the cases' own times")
    a = ap.parse_args()
    kinds = alert_kinds.load(a.rules)
    global PEER
    PEER = peer_labels(a.rules)
    labels = json.load(open(os.path.join(a.dataset, "labels.json")))
    cids = sorted(labels)[: a.limit or None]
    spans = timeline.offsets(a.dataset, cids, None if a.timeline == "recorded" else int(float(a.timeline) * 1000)) if a.timeline is not None else {}
    for cid in cids:
        sp = spans.get(cid)
        convert(a.dataset, kinds, cid, sys.stdout, sp[1:] if sp else None)

if __name__ == "__main__":
    main()
