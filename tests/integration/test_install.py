#!/usr/bin/env python3
"""`cmake --install` into a fresh prefix gives a quench that finds its own
rules: <prefix>/bin/quench, run from a directory with no rules/ in it,
uses <prefix>/share/quench/rules (config_data_dir), so `quench check` and
`quench replay` work without --rules or a config. A regression: the
install step failed on the folders that do not exist yet (playbooks/,
lua/), and the default rules_dir only ever meant ./rules."""
import os, shutil, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness


def main():
    q = harness.quench_bin()
    build = os.path.dirname(os.path.abspath(q))
    harness.need("cmake")
    with tempfile.TemporaryDirectory() as prefix:
        p = subprocess.run(["cmake", "--install", build, "--prefix", prefix],
                           capture_output=True, text=True, timeout=120)
        harness.check(p.returncode == 0, "cmake --install: %s%s" % (p.stdout, p.stderr))
        exe = os.path.join(prefix, "bin", "quench")
        rules = os.path.join(prefix, "share", "quench", "rules")
        harness.check(os.access(exe, os.X_OK), "no installed binary")
        for f in ("services.yaml", "correlation.yaml"):
            harness.check(os.path.exists(os.path.join(rules, f)), "%s not installed" % f)
        harness.check(os.path.exists(os.path.join(prefix, "share", "quench", "schemas",
                                                  "replay-report.schema.json")),
                      "schemas not installed")
        with tempfile.TemporaryDirectory() as elsewhere:
            p = subprocess.run([exe, "check"], cwd=elsewhere, capture_output=True,
                               text=True, timeout=60)
            harness.check(p.returncode == 0 and p.stdout.startswith("quench check: ok")
                          and "share/quench/rules" in p.stdout
                          and " 0 entities" not in p.stdout,
                          "installed quench check from %s: rc %d %s%s"
                          % (elsewhere, p.returncode, p.stdout, p.stderr))
            # replay without --rules uses the install's rules too
            samples = os.path.join(harness.source_dir(), "tests", "data", "samples")
            jsonl = os.path.join(elsewhere, "in.jsonl")
            with open(jsonl, "w") as f:
                for i, name in enumerate(sorted(os.listdir(samples))):
                    f.write('{"received_at":"2024-05-01T14:%02d:00Z","payload":%s}\n'
                            % (10 + i, open(os.path.join(samples, name)).read().strip()))
            p = subprocess.run([exe, "replay", "--input", jsonl], cwd=elsewhere,
                               capture_output=True, text=True, timeout=60)
            harness.check(p.returncode == 0 and '"redis-cart"' in p.stdout,
                          "installed replay: rc %d %s" % (p.returncode, p.stderr))
            os.unlink(jsonl)
            # a rules/ under the working directory (a checkout) wins
            os.mkdir(os.path.join(elsewhere, "rules"))
            open(os.path.join(elsewhere, "rules", "correlation.yaml"), "w").write("window: soon\n")
            p = subprocess.run([exe, "check"], cwd=elsewhere, capture_output=True,
                               text=True, timeout=60)
            harness.check(p.returncode == 1 and "rules/correlation.yaml:1:" in p.stderr,
                          "./rules was not used: rc %d %s" % (p.returncode, p.stderr))
    return 0


if __name__ == "__main__":
    sys.exit(main())
