"""The alert_kinds list of rules/correlation.yaml, read without a YAML
library (the rules file is simple and we only need this list), with the
same semantics as src/rules.c: anchored POSIX ERE, "(?i)" = ignore case,
first match wins, no match = neutral weight 1.0."""
import re

def strip_comment(t):
    """T without a trailing "# ..." comment (a '#' outside double quotes)."""
    quoted = False
    for i, ch in enumerate(t):
        if ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted and (i == 0 or t[i - 1] in " \t"):
            return t[:i].rstrip()
    return t

def load(path):
    kinds, cur, in_kinds = [], None, False
    for line in open(path):
        s = line.rstrip("\n")
        if not s.strip() or s.lstrip().startswith("#"):
            continue
        if not s.startswith(" "):
            in_kinds = s.startswith("alert_kinds:")
            continue
        if not in_kinds:
            continue
        t = strip_comment(s.strip())
        if t.startswith("- match:"):
            body = t[len("- match:"):].strip().strip("{}")
            label, pat = body.split(":", 1)
            pat = pat.strip().strip('"')
            cur = {"label": label.strip(), "pattern": pat, "kind": "neutral", "weight": 1.0}
            kinds.append(cur)
        elif t.startswith("kind:") and cur is not None:
            cur["kind"] = t.split(":", 1)[1].strip()
        elif t.startswith("weight:") and cur is not None:
            cur["weight"] = float(t.split(":", 1)[1])
    for k in kinds:
        p = k["pattern"]
        flags = 0
        if p.startswith("(?i)"):
            flags, p = re.IGNORECASE, p[4:]
        k["re"] = re.compile("^(" + p + ")$", flags)
    return kinds

def classify(kinds, labels):
    for k in kinds:
        if k["re"].match(labels.get(k["label"], "")):
            return k["kind"], k["weight"]
    return "neutral", 1.0
