#!/usr/bin/env python3
"""`quench replay` as a user runs it: the built binary on a shared case.

Checks the report contract (keys, order, sorting), byte-identical output of
two runs, text/html/--out/--baseline, invalid records reported as FILE:LINE
with exit 1, usage errors with exit 2, and rules-dir defaults. Needs only
python3 and QUENCH_BIN (no Redis, no network: replay must not need them)."""
import json, os, shutil, subprocess, sys, tempfile

BIN = os.environ.get("QUENCH_BIN", "build/quench")
SRC = os.environ.get("QUENCH_SOURCE_DIR", ".")
SHARED = os.environ.get("QUENCH_SHARED_DIR", "/work/shared")
DATA = os.path.join(SHARED, "data/rca/ob-cloudbed-1")
CASE = os.path.join(DATA, "cases/000.jsonl")

failures = []

def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)

def replay(*args):
    return subprocess.run([BIN, "replay", *args], capture_output=True, text=True, timeout=60)

def main():
    if not os.path.exists(CASE):
        print("shared dataset missing:", CASE, file=sys.stderr)
        return 77
    tmp = tempfile.mkdtemp()
    try:
        rules = os.path.join(tmp, "rules")
        os.mkdir(rules)
        shutil.copy(os.path.join(DATA, "services.yaml"), rules)
        shutil.copy(os.path.join(SRC, "rules/correlation.yaml"), rules)

        a = replay("--rules", rules, "--input", CASE, "--format", "json")
        check(a.returncode == 0, f"replay exit {a.returncode}: {a.stderr.strip()}")
        if a.returncode != 0:
            return 1
        b = replay("--rules", rules, "--input", CASE)
        check(a.stdout == b.stdout, "two runs differ")
        rep = json.loads(a.stdout)
        check(list(rep) == ["quench_version", "input", "incidents"], f"top keys {list(rep)}")
        check(rep["input"] == {"records": 58, "alerts": 676}, f"input {rep['input']}")
        keys = ["id", "opened_at", "closed_at", "alert_count", "fingerprints", "entities",
                "root_causes", "proposals"]
        total = set()
        for inc in rep["incidents"]:
            check(list(inc) == keys, f"incident keys {list(inc)}")
            check(inc["id"].startswith("inc-") and len(inc["id"]) == 20, f"id {inc['id']}")
            check(inc["fingerprints"] == sorted(inc["fingerprints"]), "fingerprints unsorted")
            check(inc["alert_count"] == len(inc["fingerprints"]), "alert_count")
            for e in inc["entities"]:
                check(e["kind"] in ("service", "pod", "node", "database", "cache", "queue",
                                    "external"), f"kind {e['kind']}")
            total |= set(inc["fingerprints"])
        check(len(total) == 230, f"distinct alerts {len(total)}")
        opened = [(i["opened_at"], i["id"]) for i in rep["incidents"]]
        check(opened == sorted(opened), "incidents unsorted")
        big = max(rep["incidents"], key=lambda i: i["alert_count"])
        check(big["alert_count"] >= 0.95 * 230, f"largest incident {big['alert_count']}/230")
        # Every alert of the case resolves: all incidents close at the end.
        check(all(i["closed_at"] for i in rep["incidents"]), "an incident left open")

        out = os.path.join(tmp, "r.json")
        c = replay("--rules", rules, "--input", CASE, "--out", out)
        check(c.returncode == 0 and c.stdout == "", "--out wrote to stdout")
        check(open(out).read() == a.stdout, "--out differs from stdout")

        t = replay("--rules", rules, "--input", CASE, "--format", "text")
        check(t.returncode == 0 and big["id"] in t.stdout and "alerts on" in t.stdout,
              "text format")
        h = replay("--rules", rules, "--input", CASE, "--format", "html")
        check(h.returncode == 0 and h.stdout.startswith("<!DOCTYPE html>") and "<svg" in h.stdout,
              "html format")

        # Baseline: identical -> no change; a doctored baseline -> changes.
        d = replay("--rules", rules, "--input", CASE, "--baseline", out)
        check(d.returncode == 0 and "0 changes" in d.stderr, f"baseline same: {d.stderr}")
        doc = json.loads(a.stdout)
        doc["incidents"][0]["alert_count"] += 1
        doc["incidents"].append({"id": "inc-0000000000000000", "alert_count": 1,
                                 "root_causes": [], "proposals": []})
        json.dump(doc, open(out, "w"))
        d = replay("--rules", rules, "--input", CASE, "--baseline", out)
        check(d.returncode == 0 and "alert_count" in d.stderr and "- inc-0000000000000000" in d.stderr,
              f"baseline diff: {d.stderr}")

        # Invalid records: every problem, with its line, exit 1, no report.
        bad = os.path.join(tmp, "bad.jsonl")
        lines = open(CASE).read().splitlines()
        lines[2] = "{not json"
        lines[4] = json.dumps({"payload": json.loads(lines[4])["payload"]})
        open(bad, "w").write("\n".join(lines) + "\n")
        e = replay("--rules", rules, "--input", bad)
        check(e.returncode == 1, f"invalid input exit {e.returncode}")
        check(e.stdout == "", "report written despite invalid input")
        errs = e.stderr.strip().splitlines()
        check(len(errs) == 2 and errs[0].startswith(bad + ":3: ") and
              errs[1].startswith(bad + ":5: "), f"error lines {errs}")

        # Usage errors: exit 2, one line each.
        for args in ([], ["--input"], ["--input", CASE, "--format", "pdf"], ["--bogus"],
                     ["--bogus=1"]):
            u = replay(*args)
            check(u.returncode == 2, f"usage {args}: exit {u.returncode}")
            check(len(u.stderr.strip().splitlines()) == 1, f"usage {args}: {u.stderr!r}")
        h = replay("--help")
        check(h.returncode == 0 and "usage: quench replay" in h.stdout, "replay --help")

        # --opt=value, as the other commands take it.
        eqf = replay(f"--rules={rules}", f"--input={CASE}", "--format=json")
        check(eqf.returncode == 0 and eqf.stdout == a.stdout, f"--opt=value: {eqf.stderr}")

        # The production config, on a machine without its secrets: replay
        # reads none (it talks to nothing), so it runs.
        prod = replay("--config", os.path.join(SRC, "deploy/quench.yaml"), "--rules", rules,
                      "--input", CASE)
        check(prod.returncode == 0 and prod.stdout == a.stdout,
              f"--config deploy/quench.yaml: {prod.returncode} {prod.stderr.strip()}")
        m = replay("--input", os.path.join(tmp, "missing.jsonl"), "--rules", rules)
        check(m.returncode == 1 and "missing.jsonl" in m.stderr, "missing input")

        # Empty rules dir: empty graph, default rules; still one big incident
        # per scope thanks to the group keys and same-service joins.
        empty = os.path.join(tmp, "empty")
        os.mkdir(empty)
        f = replay("--rules", empty, "--input", CASE)
        check(f.returncode == 0 and json.loads(f.stdout)["incidents"], "empty rules dir")
        # A broken rules file is an error with file:line:col.
        open(os.path.join(empty, "correlation.yaml"), "w").write("window: soon\n")
        g = replay("--rules", empty, "--input", CASE)
        check(g.returncode == 1 and "correlation.yaml:1:9:" in g.stderr, f"rules error {g.stderr}")
    finally:
        shutil.rmtree(tmp)
    return 1 if failures else 0

if __name__ == "__main__":
    sys.exit(main())
