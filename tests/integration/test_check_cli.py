#!/usr/bin/env python3
"""quench check: exit 0 and a one-line summary on the shipped rules; exit 1
with file:line:column for a broken rules file or config; exit 2 for a usage
error. Runs the built binary (QUENCH_BIN); needs nothing else."""
import os, re, subprocess, sys, tempfile

def run(q, *args):
    return subprocess.run([q, "check", *args], capture_output=True, text=True, timeout=30)

def main():
    q = os.environ.get("QUENCH_BIN", "build/quench")
    if not os.access(q, os.X_OK):
        print("skip: no quench binary"); return 77
    src = os.environ.get("QUENCH_SOURCE_DIR", ".")
    p = run(q, "--rules", os.path.join(src, "rules"))
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("quench check: ok"), p.stdout
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "correlation.yaml"), "w").write("window: 10m\ntopology_hops: two\n")
        p = run(q, "--rules", d)
        assert p.returncode == 1, (p.returncode, p.stderr)
        assert re.search(r"correlation\.yaml:2:\d+: ", p.stderr), p.stderr
        os.unlink(os.path.join(d, "correlation.yaml"))
        open(os.path.join(d, "services.yaml"), "w").write("services:\n  a:\n    calls: [missing]\n")
        p = run(q, "--rules", d)
        assert p.returncode == 1 and re.search(r"services\.yaml:3:\d+: ", p.stderr), p.stderr
        cfg = os.path.join(d, "quench.yaml")
        open(cfg, "w").write("listen: 127.0.0.1:9095\nno_such_key: 1\n")
        p = run(q, "--config", cfg, "--rules", os.path.join(src, "rules"))
        assert p.returncode == 1 and re.search(r"quench\.yaml:2:1: .*no_such_key", p.stderr), p.stderr
        p = run(q, "--rules", os.path.join(d, "nope"))
        assert p.returncode == 1 and "rules directory not found" in p.stderr, p.stderr
    p = run(q, "--bogus")
    assert p.returncode == 2, p.returncode
    return 0

if __name__ == "__main__":
    sys.exit(main())
