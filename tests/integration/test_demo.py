#!/usr/bin/env python3
"""The README's main command, `sh deploy/demo`, exactly as a user runs it
(it builds build/ if needed and starts quench with no configuration, so
quench runs a private redis-server): it must exit 0, report every sample
webhook stored, and show the two incidents the samples make, the
redis-cart problem ranked first in the larger one."""
import os, re, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness


def main():
    src = harness.source_dir()
    harness.need("redis-server", "curl", "cmake")
    nsamples = len([f for f in os.listdir(os.path.join(src, "tests", "data", "samples"))
                    if f.endswith(".json")])
    env = dict(os.environ)
    env.pop("QUENCH_REDIS_URL", None)
    p = subprocess.run(["sh", os.path.join(src, "deploy", "demo")], cwd="/", env=env,
                       capture_output=True, text=True, timeout=600)
    out = p.stdout
    harness.check(p.returncode == 0, "demo exited %d: %s\n%s" % (p.returncode, out, p.stderr))
    harness.check("quench stored %d webhook(s) durably" % nsamples in out, out)
    harness.check(out.count('"received_at"') == nsamples, "export lines: " + out)
    incidents = re.findall(r"^  (inc-[0-9a-f]+)  (\d+) alerts", out, re.M)
    harness.check(len(incidents) == 2, "incidents: %s\n%s" % (incidents, out))
    first = out.split(incidents[0][0], 1)[1]
    harness.check(re.search(r"^    1\. cache redis-cart ", first, re.M) is not None,
                  "redis-cart is not the top cause:\n" + out)
    harness.check("processed" not in p.stderr, p.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
