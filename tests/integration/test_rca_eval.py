#!/usr/bin/env python3
"""rca_eval.py on a few shared fault cases through the built quench: no
crash, and every incident's root_causes is well formed (entity{kind,name},
service, score, confidence in 0..1, evidence[], path[]). Accuracy is
printed, not asserted (docs/ranking.md reports it on all cases).
Exit 77 (skip) only when the binary or the shared data is missing."""
import json, os, subprocess, sys, tempfile

SKIP = 77
KINDS = {"service", "pod", "node", "database", "cache", "queue", "external"}

def main():
    qbin = os.environ.get("QUENCH_BIN", "build/quench")
    shared = os.environ.get("QUENCH_SHARED_DIR", "/work/shared")
    src = os.environ.get("QUENCH_SOURCE_DIR", ".")
    ds = os.path.join(shared, "data", "rca", "ob-cloudbed-1")
    tool = os.path.join(shared, "tools", "rca_eval.py")
    if not (os.access(qbin, os.X_OK) and os.path.isdir(ds) and os.path.exists(tool)):
        print("skip: quench binary or shared data missing"); return SKIP
    rules = os.path.join(src, "rules")
    case = os.path.join(ds, "cases", "000.jsonl")
    with tempfile.TemporaryDirectory() as d:
        for f in os.listdir(rules) if os.path.isdir(rules) else []:
            if f.endswith(".yaml") and f != "services.yaml":
                open(os.path.join(d, f), "w").write(open(os.path.join(rules, f)).read())
        open(os.path.join(d, "services.yaml"), "w").write(open(os.path.join(ds, "services.yaml")).read())
        p = subprocess.run([qbin, "replay", "--rules", d, "--input", case, "--format", "json"],
                           capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "replay failed: %s" % p.stderr
    rep = json.loads(p.stdout)
    incs = rep["incidents"]
    assert incs, "no incidents"
    ranked = 0
    for inc in incs:
        assert "root_causes" in inc, "incident without root_causes"
        prev = None
        for rc in inc["root_causes"]:
            assert rc["entity"]["kind"] in KINDS and rc["entity"]["name"], rc
            assert "service" in rc
            assert isinstance(rc["score"], (int, float)) and rc["score"] > 0
            assert 0.0 <= rc["confidence"] <= 1.0
            assert isinstance(rc["evidence"], list) and all(isinstance(e, str) for e in rc["evidence"])
            assert isinstance(rc["path"], list) and rc["path"] and rc["path"][0] == rc["entity"]["name"]
            if prev is not None:
                assert rc["score"] <= prev, "root_causes not sorted best first"
            prev = rc["score"]
            ranked += 1
    assert ranked > 0, "no incident carries a ranked cause"
    args = [sys.executable, tool, ds, "--quench", qbin, "--limit", "5"]
    if os.path.isdir(rules):
        args += ["--rules", rules]
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    print(p.stdout)
    assert p.returncode == 0, p.stderr
    assert "failures 0" in p.stdout, "rca_eval saw failed replays"
    return 0

if __name__ == "__main__":
    sys.exit(main())
