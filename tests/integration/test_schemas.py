#!/usr/bin/env python3
"""Every file format quench documents in schemas/ holds for what quench
and the repository actually produce: the replay report of the sample
alerts (and of a shared real case when ../shared is there) against
schemas/replay-report.schema.json, the shipped rules against
services/correlation schemas, deploy/quench.yaml against the config schema.
A mutated report must fail, so the validator is known to bite."""
import copy, json, os, subprocess, sys, tempfile

try:
    import jsonschema, yaml
except ImportError:
    # tests/run installs Debian's python3-jsonschema and python3-yaml, which
    # only Debian's own interpreter sees; a python3 earlier on PATH may not
    if sys.executable != "/usr/bin/python3" and os.access("/usr/bin/python3", os.X_OK):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness


def validator(name):
    schema = json.load(open(os.path.join(harness.source_dir(), "schemas", name)))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def errors(v, doc):
    return ["%s: %s" % ("/".join(map(str, e.absolute_path)), e.message)
            for e in v.iter_errors(doc)]


def replay(rules, jsonl):
    p = subprocess.run([harness.quench_bin(), "replay", "--rules", rules, "--input", jsonl,
                        "--format", "json"], capture_output=True, text=True, timeout=120)
    harness.check(p.returncode == 0, "replay failed: %s" % p.stderr)
    return json.loads(p.stdout)


def main():
    src = harness.source_dir()
    report_v = validator("replay-report.schema.json")
    with tempfile.TemporaryDirectory() as d:
        samples = os.path.join(src, "tests", "data", "samples")
        jsonl = os.path.join(d, "samples.jsonl")
        with open(jsonl, "w") as f:
            for i, name in enumerate(sorted(os.listdir(samples))):
                payload = json.load(open(os.path.join(samples, name)))
                f.write(json.dumps({"received_at": "2024-05-01T14:%02d:00Z" % (10 + i),
                                    "payload": payload}) + "\n")
        rep = replay(os.path.join(src, "rules"), jsonl)
        harness.check(rep["incidents"] and rep["incidents"][0]["root_causes"],
                      "the samples gave no ranked incident")
        errs = errors(report_v, rep)
        harness.check(not errs, "sample report: %s" % errs[:5])

        bad = copy.deepcopy(rep)
        del bad["incidents"][0]["root_causes"]
        bad["incidents"][0]["alert_count"] = "57"
        harness.check(len(errors(report_v, bad)) >= 2, "the schema let a broken report pass")

        shared = os.path.join(os.environ.get("QUENCH_SHARED_DIR", os.path.join(src, "..", "shared")),
                              "data", "rca", "ob-cloudbed-1")
        if os.path.isdir(shared):
            data, case = harness.shared_case("000")
            errs = errors(report_v, replay(harness.dataset_rules(d, data), case))
            harness.check(not errs, "case 000 report: %s" % errs[:5])

    for doc, schema in (("rules/services.yaml", "services.schema.json"),
                        ("rules/correlation.yaml", "correlation.schema.json"),
                        ("deploy/quench.yaml", "config.schema.json")):
        errs = errors(validator(schema), yaml.safe_load(open(os.path.join(src, doc))))
        harness.check(not errs, "%s against %s: %s" % (doc, schema, errs[:5]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
