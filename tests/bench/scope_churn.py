#!/usr/bin/env python3
"""Scope churn: what alerts lacking a namespace cost after many namespaces
came and went. Reported, not asserted.

  tests/bench/scope_churn.py --quench build/quench [--closed 3000] [--open 400]
                             [--alerts 20000]

Correlation keeps every scope it has seen (incidents carry its id), and a
cluster that makes a namespace per pull request sees thousands; a big one
has many namespaces alerting at once. Three archives go through `quench
replay` (built-in rules, scope [cluster, namespace]), each ending in
ALERTS webhooks of two alerts lacking the namespace: a trace alert on one
of 50 services and an alert on node-0 (a node, cluster-wide):
  fresh:  one namespace whose alert resolved (closed an hour later), one
          open incident in a namespace "live" on a pod on node-0;
  closed: the same after CLOSED namespaces came and went;
  open:   OPEN namespaces with an open incident each, on a pod of one of
          the 50 services, all pods on node-0.
It prints the times (best of 3) and the ratios to fresh: near 1 when an
alert lacking the namespace costs its neighbourhood's look-ups, growing
with CLOSED or OPEN when it looks in every scope."""
import argparse, datetime, json, os, subprocess, tempfile, time


def fingerprint(labels):
    # prometheus/common model.LabelsToSignature: FNV-1a 64 over sorted names
    h = 0xcbf29ce484222325
    for k in sorted(labels):
        for b in k.encode() + b"\xff" + labels[k].encode() + b"\xff":
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def archive(path, closed, open_, alerts):
    t0 = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
    ms = lambda n: datetime.timedelta(milliseconds=n)

    def alert(labels, start, end=None):
        return {"status": "resolved" if end else "firing", "labels": labels,
                "annotations": {}, "startsAt": iso(start),
                "endsAt": iso(end) if end else "0001-01-01T00:00:00Z",
                "generatorURL": "", "fingerprint": fingerprint(labels)}

    with open(path, "w") as f:
        def hook(when, al):
            f.write(json.dumps({"received_at": iso(when), "payload": {
                "version": "4", "groupKey": "{}:{}", "status": al[0]["status"],
                "receiver": "quench", "groupLabels": {}, "commonLabels": {},
                "commonAnnotations": {}, "externalURL": "http://am",
                "truncatedAlerts": 0, "alerts": al}}) + "\n")
        for k in range(closed):
            lab = {"alertname": "X", "service": f"svc-{k % 50}", "namespace": f"ns-{k}"}
            w = t0 + ms(k)
            hook(w, [alert(lab, w)])
            hook(w + ms(1000), [alert(lab, w, w + ms(1000))])
        t1 = t0 + datetime.timedelta(hours=1)
        for k in range(open_):
            ns = "live" if open_ == 1 else f"open-{k}"
            w = t1 + ms(k)
            hook(w, [alert({"alertname": "Y", "service": f"svc-{k % 50}", "namespace": ns,
                            "pod": f"svc-{k % 50}-{ns}", "node": "node-0"}, w)])
        t1 += ms(open_)
        for i in range(alerts):
            w = t1 + ms(10 * (i + 1))
            hook(w, [alert({"alertname": "TraceLatencyHigh", "service": f"svc-{i % 50}",
                            "pod": f"svc-{i % 50}-{i % 7}", "caller": str(i)}, w),
                     alert({"alertname": "NodeCpuHigh", "node": "node-0", "cpu": str(i)}, w)])


def best_of(n, argv):
    best = None
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        t = time.perf_counter() - t
        best = t if best is None else min(best, t)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quench", required=True)
    ap.add_argument("--closed", type=int, default=3000)
    ap.add_argument("--open", type=int, default=400)
    ap.add_argument("--alerts", type=int, default=20000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        res = {}
        for name, closed, open_ in (("fresh", 1, 1), ("closed", a.closed, 1),
                                    ("open", 1, a.open)):
            p = os.path.join(d, name + ".jsonl")
            archive(p, closed, open_, a.alerts)
            res[name] = best_of(3, [a.quench, "replay", "--input", p, "--format", "json",
                                    "--out", os.devnull])
        print("fresh %.2f s; %d closed namespaces %.2f s (ratio %.2f); %d open %.2f s (ratio %.2f)"
              % (res["fresh"], a.closed, res["closed"], res["closed"] / res["fresh"],
                 a.open, res["open"], res["open"] / res["fresh"]))


if __name__ == "__main__":
    main()
