#!/usr/bin/env python3
"""Fault-injection simulator: writes datasets in the rca_eval layout
(labels.json, services.yaml, cases/NNN.jsonl of Alertmanager v4 webhooks
with Alertmanager's fingerprints) so rca_eval.py and score.py measure any
ranker on them.

  simulate.py OUT_DIR --topology train-ticket --noise medium --cases 60 --seed 1

Model (deliberately simple, stated so results can be judged):
 - every service-like entity has 1-3 pods (data stores 1), pods spread over
   max(3, services/6) nodes;
 - a fault hits a service (all pods), a pod, or a node (1/3 each);
 - the faulty entity raises 1-3 resource alerts at onset +- jitter, unless
   the case is symptom-only (probability `missing`): then only symptoms;
   data stores have no exporter in 50% of cases (always symptom-only);
 - a node fault also raises resource alerts on half the pods it hosts;
 - symptoms travel to callers, hop by hop (probability 0.85 per hop, 30-90 s
   per hop): latency/error alerts on the service and a storm of trace
   latency alerts on caller pods;
 - noise: unrelated alerts (resource, latency, logs) on random entities at
   random times in the window, clock jitter on every startsAt;
 - --background K: K chronic alerters (pods, and a node from K >= 3), each
   with 1-2 fixed resource alertnames, that fire at the onset of each fault
   with probability 0.8 (what the shared cases 026-044 show: the same pods
   alert at every incident's onset). Drawn from their own random stream, so
   the faults are the same with and without them;
 - --repeat P: with probability P a case repeats the previous case's fault
   (same entity, same alertnames), labelled "repeat": a genuinely recurring
   cause, which history must not bury;
 - --churn P: before a case, with probability P, a rollout gives every pod
   a new name (suffix "-rN"), as Deployments do; background pods included,
   so history keyed by pod name forgets at every rollout. Its own stream.
 - --client-traces: trace alerts are the callers' client spans (span
   metrics without server-side spans: the callee uninstrumented, or a
   database): labelled with the caller's service, pod and node, the callee
   in `peer_service`. Changes no random draw.
 - --fired-at: startsAt is when the alert fires, as Prometheus stamps it:
   the alerts named after kube-prometheus-stack rules fire their rule's
   `for` after the onset (KubePodCrashLooping 15m, NodeDiskIOSaturation
   30m, NodeNetworkReceiveErrs 1h; FOR below). Off: startsAt is the onset.
   Changes no random draw, so the cases are the same otherwise.
Cases are written in order; rank_input.py --timeline lays them one after
another in time for sequential (history) runs.
"""
import argparse, json, os, random, sys, datetime
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import topologies

NOISE = {  # unrelated alerts, jitter s, symptom-only probability, trace storm size
    "low": (3, 5, 0.1, 3),
    "medium": (12, 20, 0.3, 8),
    "high": (40, 60, 0.5, 20),
}
RESOURCE = ["ContainerCpuUsageHigh", "ContainerMemoryWorkingSetHigh", "ContainerThreadsHigh",
            "ContainerFsWritesHigh", "ContainerNetworkReceiveErrorsHigh", "KubePodCrashLooping",
            "ContainerOOMKilled", "ContainerCpuThrottlingHigh"]
NODE_RES = ["NodeCpuUsageHigh", "NodeMemoryPressure", "NodeDiskIOSaturation", "NodeFilesystemAlmostFull",
            "NodeNetworkReceiveErrs"]
STORE_RES = ["DatabaseConnectionsSaturated", "DatabaseSlowQueries", "CacheMemoryHigh", "QueueDepthHigh"]
# kube-prometheus-stack's `for` of the names above that are its rules'
FOR = {"KubePodCrashLooping": 900, "NodeDiskIOSaturation": 1800, "NodeNetworkReceiveErrs": 3600}
SYMPTOM = ["HttpLatencyP99High", "GrpcErrorRateHigh", "Http5xxRateHigh", "RequestTimeoutsHigh"]

def fingerprint(labels):
    # prometheus/common model.LabelsToSignature: FNV-1a 64 over sorted names
    h = 0xcbf29ce484222325
    for k in sorted(labels):
        if labels[k] == "": continue
        for b in k.encode() + b"\xff" + labels[k].encode() + b"\xff":
            h ^= b; h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h

def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

def build(graph, rnd):
    pods, node_of, pods_of = [], {}, {}
    nnodes = max(3, len(graph) // 6)
    for s, d in graph.items():
        k = 1 if d["kind"] != "service" else rnd.choice([1, 2, 2, 3])
        pods_of[s] = []
        for i in range(k):
            p = f"{s}-{i}"
            pods.append(p); pods_of[s].append(p)
            node_of[p] = f"node-{rnd.randrange(nnodes)}"
    callers = {s: [] for s in graph}
    for s, d in graph.items():
        for x in d["deps"]: callers[x].append(s)
    return pods, node_of, pods_of, callers, nnodes

def chronic(env, rnd, k):
    """K (labels, [alertname]) chronic alerters."""
    pods, node_of, pods_of, callers, nnodes = env
    svc_of = {p: s for s, ps in pods_of.items() for p in ps}
    out = []
    for i, p in enumerate(rnd.sample(pods, min(k, len(pods)))):
        if i == 2:
            n = node_of[p]
            out.append(({"node": n, "instance": n}, rnd.sample(NODE_RES[:3], rnd.randint(1, 2))))
        else:
            out.append(({"pod": p, "service": svc_of[p], "node": node_of[p], "namespace": "default"},
                        rnd.sample(RESOURCE[:5], rnd.randint(1, 2))))
    return out

def case(graph, env, rnd, noise, force=None, background=(), brnd=None):
    pods, node_of, pods_of, callers, nnodes = env
    nnoise, jitter, missing, storm = NOISE[noise]
    svc_of = {p: s for s, ps in pods_of.items() for p in ps}
    t0 = 1647734400 + rnd.randrange(0, 10 ** 6)
    alerts = []
    def add(labels, t, summary=""):
        t += rnd.uniform(-jitter, jitter)
        labels = dict(labels, severity=labels.get("severity", "warning"))
        alerts.append({"labels": labels, "annotations": {"summary": summary}, "startsAt": iso(t),
                       "t": t})
    def pod_labels(p):
        return {"pod": p, "service": svc_of[p], "node": node_of[p], "namespace": "default"}
    kind = rnd.choice(["service", "pod", "node"])
    services = list(graph)
    if force is not None:
        kind = force["kind"]
    if kind == "node":
        node = f"node-{rnd.randrange(nnodes)}"
        if force is not None: node = force["entity"]
        hosted = [p for p in pods if node_of[p] == node]
        truth = {"entity": node, "kind": "node", "service": None}
        names = rnd.sample(NODE_RES, rnd.randint(1, 3))
        if force is not None: names = force["_names"]
        truth["_names"] = names
        for n in names:
            add({"alertname": n, "node": node, "instance": node}, t0)
        for p in hosted:
            if rnd.random() < 0.5:
                add(dict(pod_labels(p), alertname=rnd.choice(RESOURCE[:4])), t0 + rnd.uniform(0, 60))
        hit = sorted({svc_of[p] for p in hosted})
    else:
        s = rnd.choice(services)
        if force is not None: s = force["service"]
        is_store = graph[s]["kind"] != "service"
        silent = rnd.random() < missing or (is_store and rnd.random() < 0.5)
        if kind == "pod" and len(pods_of[s]) > 1:
            p = rnd.choice(pods_of[s])
            if force is not None: p = force["entity"]
            truth = {"entity": p, "kind": "pod", "service": s}
            targets = [p]
        else:
            truth = {"entity": s, "kind": "service", "service": s}
            targets = pods_of[s]
        if not silent:
            names = rnd.sample(STORE_RES if is_store else RESOURCE, rnd.randint(1, 3))
            # a repeat is the same failure again: same alertnames
            if force is not None and force.get("_names"): names = force["_names"]
            truth["_names"] = names
            for p in targets:
                for n in names:
                    if rnd.random() < 0.85:
                        add(dict(pod_labels(p), alertname=n), t0)
        hit = [s]
    # propagation to callers, hop by hop
    seen = set(hit); frontier = [(h, t0, 0) for h in hit]
    while frontier:
        s, t, hop = frontier.pop(0)
        if hop > 0 or kind != "node":
            if hop > 0 or rnd.random() < 0.7:
                add({"alertname": rnd.choice(SYMPTOM), "service": s, "namespace": "default"}, t + rnd.uniform(20, 60))
        for c in callers[s]:
            if c in seen or rnd.random() > 0.85: continue
            seen.add(c)
            tc = t + rnd.uniform(30, 90)
            for _ in range(rnd.randint(1, storm)):
                cp = rnd.choice(pods_of[c]); callee = rnd.choice(pods_of[s])
                add({"alertname": "TraceLatencyHigh", "service": s, "pod": callee, "caller": cp,
                     "node": node_of[callee], "operation": f"{s}/op{rnd.randrange(5)}"}, tc)
            frontier.append((c, tc, hop + 1))
    # chronic background at the onset, from its own stream
    for labels, names in background:
        if brnd.random() < 0.8:
            for n in names:
                t = t0 + brnd.uniform(-30, 30) + brnd.uniform(-jitter, jitter)
                alerts.append({"labels": dict(labels, alertname=n, severity="warning"),
                               "annotations": {"summary": ""}, "startsAt": iso(t), "t": t})
    # noise
    for _ in range(nnoise):
        r = rnd.random(); t = t0 + rnd.uniform(-120, 600)
        if r < 0.5:
            p = rnd.choice(pods); add(dict(pod_labels(p), alertname=rnd.choice(RESOURCE[:5])), t)
        elif r < 0.7:
            add({"alertname": rnd.choice(NODE_RES[:2]), "node": f"node-{rnd.randrange(nnodes)}"}, t)
        elif r < 0.9:
            add({"alertname": rnd.choice(SYMPTOM), "service": rnd.choice(services)}, t)
        else:
            p = rnd.choice(pods); add(dict(pod_labels(p), alertname="LogPatternBurst"), t)
    return truth, alerts

def webhooks(alerts):
    # Alertmanager: group_by [alertname, service], one notification per group
    # 30 s after its first alert, then resolved two minutes after the window
    groups = {}
    for a in alerts:
        a["fingerprint"] = fingerprint(a["labels"])
        groups.setdefault((a["labels"]["alertname"], a["labels"].get("service", "")), []).append(a)
    recs = []
    end = max(a["t"] for a in alerts) + 120
    for (name, svc), al in sorted(groups.items()):
        uniq = list({a["fingerprint"]: a for a in al}.values())
        for status, when in (("firing", min(a["t"] for a in uniq) + 30), ("resolved", end)):
            payload = {"version": "4", "groupKey": f'{{}}:{{alertname="{name}", service="{svc}"}}',
                       "status": status, "receiver": "quench", "groupLabels": {"alertname": name, "service": svc},
                       "commonLabels": {"alertname": name}, "commonAnnotations": {}, "externalURL": "http://am",
                       "truncatedAlerts": 0, "alerts": [
                           {"status": status, "labels": a["labels"], "annotations": a["annotations"],
                            "startsAt": a["startsAt"], "endsAt": iso(end) if status == "resolved" else "0001-01-01T00:00:00Z",
                            "generatorURL": "", "fingerprint": a["fingerprint"]} for a in uniq]}
            recs.append((when, {"received_at": iso(when), "payload": payload}))
    recs.sort(key=lambda r: r[0])
    return [r for _, r in recs]

def write_services(graph, path):
    with open(path, "w") as f:
        f.write("# generated by tests/bench/rca-sim/simulate.py\nservices:\n")
        for s in sorted(graph):
            d = graph[s]
            f.write(f"  {s}:\n")
            if d["kind"] != "service": f.write(f"    kind: {d['kind']}\n")
            if d["deps"]: f.write(f"    calls: [{', '.join(sorted(set(d['deps'])))}]\n")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--topology", default="online-boutique", choices=sorted(topologies.TOPOLOGIES) + ["powerlaw-10k"])
    ap.add_argument("--noise", default="medium", choices=sorted(NOISE))
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--background", type=int, default=0, help="chronic alerters")
    ap.add_argument("--repeat", type=float, default=0, help="probability a case repeats the previous fault")
    ap.add_argument("--churn", type=float, default=0, help="probability of a rollout renaming every pod before a case")
    ap.add_argument("--fired-at", action="store_true", help="startsAt when the alert fires: onset + its rule's for")
    ap.add_argument("--client-traces", action="store_true",
                    help="trace alerts as client spans: on the caller's pod, the callee in peer_service")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    graph = topologies.power_law(10000, 2) if a.topology == "powerlaw-10k" else topologies.TOPOLOGIES[a.topology]()
    env = build(graph, rnd)
    os.makedirs(os.path.join(a.out, "cases"), exist_ok=True)
    write_services(graph, os.path.join(a.out, "services.yaml"))
    labels = {}
    # background and repeats draw from their own stream: the main stream,
    # and so every fault, is the same with and without them
    brnd = random.Random(a.seed * 7919 + 1)
    background = chronic(env, brnd, a.background)
    prev = None
    crnd = random.Random(a.seed * 104729 + 3)
    rollout = 0
    for i in range(a.cases):
        force = prev if prev is not None and a.repeat > 0 and brnd.random() < a.repeat else None
        truth, alerts = case(graph, env, rnd, a.noise, force, background, brnd)
        if force is not None: truth = dict(truth, repeat=True)
        prev = truth
        truth = {k: v for k, v in truth.items() if not k.startswith("_")}
        if a.client_traces:
            pods_of, node_of = env[2], env[1]
            svc_of = {p: s for s, ps in pods_of.items() for p in ps}
            for al in alerts:
                l = al["labels"]
                if l["alertname"] == "TraceLatencyHigh":
                    l["peer_service"] = l["service"]
                    l["service"], l["pod"], l["node"] = svc_of[l["caller"]], l["caller"], node_of[l["caller"]]
        if a.churn > 0 and crnd.random() < a.churn:
            rollout += 1
        if rollout:
            rename = lambda p: "%s-r%d" % (p, rollout)
            for al in alerts:
                for k in ("pod", "caller"):
                    if k in al["labels"]: al["labels"][k] = rename(al["labels"][k])
            if truth["kind"] == "pod": truth["entity"] = rename(truth["entity"])
        if a.fired_at:
            for al in alerts:
                d = FOR.get(al["labels"]["alertname"], 0)
                if d:
                    al["t"] += d
                    al["startsAt"] = iso(al["t"])
        recs = webhooks(alerts)
        cid = "%03d" % i
        with open(os.path.join(a.out, "cases", cid + ".jsonl"), "w") as f:
            for r in recs: f.write(json.dumps(r, sort_keys=True) + "\n")
        labels[cid] = dict(truth, fault_type="simulated " + truth["kind"] + " fault",
                           alerts=len(alerts), webhooks=len(recs))
    json.dump(labels, open(os.path.join(a.out, "labels.json"), "w"), indent=1, sort_keys=True)

if __name__ == "__main__":
    main()
