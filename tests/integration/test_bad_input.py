"""Every class of bad input gets its status code and a JSON error
{"error", "detail"}, and quench keeps serving: a good webhook is still 200.
Rows: 405, 415, 413 (Content-Length and chunked), 401 (none, wrong bearer,
wrong basic), 400 invalid JSON and 422 not-v4 (every file of
tests/data/webhook-bad, named by its expected status; 422 details name the
JSON path), and the header-smuggling rows of PROTOCOLS.md section 6."""
import base64
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.deadline(120)
h.need("redis-server")
d = h.tmpdir()
redis = h.Redis(d, appendonly=False).start()
token = "t0ken-for-tests"
with open(os.path.join(d, "token"), "w") as f:
    f.write(token + "\n")
quench = h.Quench(d, config=f"""listen: 127.0.0.1:0
redis: {{url: "{redis.url()}"}}
auth:
  webhook_bearer_token_file: {os.path.join(d, "token")}
""").start()

AUTH = {"Authorization": f"Bearer {token}"}
good = open(os.path.join(h.fixtures_dir(), "02-firing-CheckoutLatencyHigh.json"), "rb").read()
failures = []


def expect(name, got_status, want_status, body=None, json_error=True):
    if got_status != want_status:
        failures.append(f"{name}: status {got_status}, want {want_status}")
        return None
    if json_error:
        try:
            j = json.loads(body)
            if not isinstance(j.get("error"), str) or not isinstance(j.get("detail"), str):
                failures.append(f"{name}: JSON error lacks error/detail: {body!r}")
            return j
        except (ValueError, TypeError):
            failures.append(f"{name}: body is not JSON: {body!r}")
    return None


# Method, content type, auth.
s, _, b = quench.request("GET", "/webhook/alertmanager", headers=AUTH)
expect("GET webhook", s, 405, b)
s, _, b = quench.post(good, headers=dict(AUTH, **{"Content-Type": "text/plain"}))
expect("text/plain", s, 415, b)
s, _, b = quench.post(good)
expect("no credentials", s, 401, b)
s, _, b = quench.post(good, headers={"Authorization": "Bearer wrong"})
expect("wrong bearer", s, 401, b)
s, _, b = quench.post(good, headers={"Authorization": "Basic " + base64.b64encode(b"u:p").decode()})
expect("wrong basic", s, 401, b)
s, _, b = quench.post(good, headers={"Authorization": f"Bearer {token}x"})
expect("token with a suffix", s, 401, b)

# Body caps: by Content-Length before any body byte, and while counting chunks.
head = (b"POST /webhook/alertmanager HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\n"
        b"Content-Type: application/json\r\n")
s, raw = quench.raw(head + b"Content-Length: 5242880\r\n\r\n")
expect("Content-Length over 4 MiB", s, 413, raw.partition(b"\r\n\r\n")[2])
chunk = b"x" * 65536
chunked = head + b"Transfer-Encoding: chunked\r\n\r\n" + \
    (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 70 + b"0\r\n\r\n"
s, raw = quench.raw(chunked, timeout=10)
expect("chunked over 4 MiB", s, 413, raw.partition(b"\r\n\r\n")[2])

# Bad bodies: the file name says the expected status.
bad_dir = os.path.join(h.source_dir(), "tests", "data", "webhook-bad")
files = sorted(os.listdir(bad_dir)) if os.path.isdir(bad_dir) else []
inline = [("400-inline-not-json", b"{not json"), ("422-inline-version-3", b'{"version":"3"}')]
for name, body in inline + [(f, open(os.path.join(bad_dir, f), "rb").read()) for f in files]:
    want = int(name[:3])
    s, _, b = quench.post(body, headers=AUTH)
    j = expect(name, s, want, b)
    if j and want == 422 and not j["detail"].startswith("$"):
        failures.append(f"{name}: 422 detail does not name the JSON path: {j['detail']!r}")
h.check(len(files) >= 10 or not os.path.isdir(bad_dir), "too few bad-input files")
s, _, b = quench.post(b'{"version":"3"}', headers=AUTH)
j = json.loads(b)
h.check("$.version" in j["detail"], f"version-3 detail: {j['detail']!r}")

# Header smuggling (PROTOCOLS.md section 6): 400, never a second request.
body = good
rows = {
    "CL + TE": b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(body),
    "two CL": b"Content-Length: %d\r\nContent-Length: %d\r\n" % (len(body), len(body)),
    "TE gzip, chunked": b"Transfer-Encoding: gzip, chunked\r\n",
    "bare CR in a value": b"X-A: a\rTransfer-Encoding: chunked\r\nContent-Length: %d\r\n" % len(body),
    "space before colon": b"Content-Length : %d\r\n" % len(body),
    "CL with sign": b"Content-Length: +%d\r\n" % len(body),
}
for name, extra in rows.items():
    s, raw = quench.raw(head + extra + b"\r\n" + body)
    if s != 400:
        failures.append(f"smuggling row {name!r}: status {s}, want 400")
    elif b"\r\nHTTP/1." in raw.partition(b"\r\n\r\n")[2]:
        failures.append(f"smuggling row {name!r}: a second response followed")

# Nothing bad was stored, and quench still serves.
h.check(quench.alive(), "quench died")
s, _, b = quench.post(good, headers=AUTH)
expect("good webhook afterwards", s, 200, b, json_error=False)
h.check(json.loads(b) == {"status": "ok"}, f"200 body: {b!r}")
h.check(len(redis.archive()) == 1, f"archive holds {len(redis.archive())} entries, want 1")
if failures:
    h.fail("\n  " + "\n  ".join(failures))
h.check(quench.stop() == 0, "quench did not exit 0 on SIGTERM")
print(f"ok: {len(files) + len(inline) + len(rows) + 9} bad requests answered correctly")
