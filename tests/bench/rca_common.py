"""What rca_sequential.py and rca_cases.py share with ../shared/tools/rca_eval.py's
scoring: the rules directory a replay runs with, pod -> service from the
cases' own labels, and AC@k / Avg@5 on the exact entity and at service
level (a pod counts as its service)."""
import json, os


def pods_to_service(dataset, cids):
    out = {}
    for cid in cids:
        for line in open(os.path.join(dataset, "cases", cid + ".jsonl")):
            for al in json.loads(line)["payload"]["alerts"]:
                l = al["labels"]
                if "pod" in l and "service" in l:
                    out[l["pod"]] = l["service"]
    return out


def rules_dir(tmp, rules, dataset):
    """TMP/rules: the *.yaml of RULES but services.yaml, which is DATASET's."""
    d = os.path.join(tmp, "rules")
    os.mkdir(d)
    if rules:
        for f in os.listdir(rules):
            if f.endswith(".yaml") and f != "services.yaml":
                open(os.path.join(d, f), "w").write(open(os.path.join(rules, f)).read())
    open(os.path.join(d, "services.yaml"), "w").write(
        open(os.path.join(dataset, "services.yaml")).read())
    return d


def largest(incidents):
    return max(incidents, key=lambda i: i.get("alert_count", len(i.get("fingerprints", []))))


class Score:
    """Hits at k = 1..5, exact and by service."""

    def __init__(self, p2s):
        self.p2s, self.n = p2s, 0
        self.exact, self.svc = [0] * 5, [0] * 5

    def add(self, ranking, label):
        """Count one case; returns (exact rank, service rank), 0 = absent."""
        truth = label["entity"]
        tsvc = label["service"] or truth
        svc_rank = []
        for r in ranking:
            s = self.p2s.get(r, r)
            if s not in svc_rank:
                svc_rank.append(s)
        self.n += 1
        for j in range(5):
            self.exact[j] += truth in ranking[: j + 1]
            self.svc[j] += tsvc in svc_rank[: j + 1]
        return (ranking.index(truth) + 1 if truth in ranking else 0,
                svc_rank.index(tsvc) + 1 if tsvc in svc_rank else 0)

    def report(self):
        ac = lambda h, j: h[j - 1] / self.n
        avg5 = lambda h: sum(h) / (5 * self.n)
        print(f"exact   AC@1 {ac(self.exact,1):.2f} AC@3 {ac(self.exact,3):.2f} Avg@5 {avg5(self.exact):.2f}")
        print(f"service AC@1 {ac(self.svc,1):.2f} AC@3 {ac(self.svc,3):.2f} Avg@5 {avg5(self.svc):.2f}")
