#!/usr/bin/env python3
"""deploy/install-deps, the first step of both README commands, run against
fake dpkg-query, apt-get, id and sudo on PATH, so nothing is installed:
as root with packages missing it runs `apt-get update` then a
non-interactive `apt-get install` of exactly the missing packages (a
regression: as root it once ran "-E apt-get", which failed on every fresh
machine); as a user it goes through sudo; with everything installed it
does nothing; when apt-get fails it exits 1 and names the packages."""
import os, stat, subprocess, sys, tempfile

FAKES = {
    # dpkg-query -W -f=... PKG: "installed" only for packages in $FAKE_HAVE
    "dpkg-query": """#!/bin/sh
for a; do pkg=$a; done
case " $FAKE_HAVE " in *" $pkg "*) printf 'install ok installed';; *) exit 1;; esac
""",
    "apt-get": """#!/bin/sh
echo "DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-unset} $*" >>"$FAKE_LOG"
exit ${FAKE_APT_RC:-0}
""",
    "id": """#!/bin/sh
echo "$FAKE_UID"
""",
    "sudo": """#!/bin/sh
echo "sudo $1" >>"$FAKE_LOG"
exec "$@"
""",
}


def run(script, fake, log, uid, have="", apt_rc=0):
    env = dict(os.environ, PATH=fake + ":/usr/bin:/bin", FAKE_LOG=log,
               FAKE_UID=str(uid), FAKE_HAVE=have, FAKE_APT_RC=str(apt_rc))
    env.pop("DEBIAN_FRONTEND", None)
    if os.path.exists(log):
        os.unlink(log)
    p = subprocess.run(["sh", script], env=env, capture_output=True, text=True,
                       timeout=30)
    lines = open(log).read().splitlines() if os.path.exists(log) else []
    return p, lines


def packages(script):
    text = open(script).read()
    body = text.split('PKGS="', 1)[1].split('"', 1)[0]
    return body.split()


def main():
    src = os.environ.get("QUENCH_SOURCE_DIR", ".")
    script = os.path.join(src, "deploy", "install-deps")
    pkgs = packages(script)
    assert "redis-server" in pkgs and "libev-dev" in pkgs, pkgs
    with tempfile.TemporaryDirectory() as d:
        fake = os.path.join(d, "bin")
        os.mkdir(fake)
        for name, body in FAKES.items():
            path = os.path.join(fake, name)
            open(path, "w").write(body)
            os.chmod(path, stat.S_IRWXU)
        log = os.path.join(d, "log")

        # root, two packages missing
        have = " ".join(x for x in pkgs if x not in ("libev-dev", "redis-server"))
        p, lines = run(script, fake, log, 0, have)
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
        assert len(lines) == 2, lines
        assert lines[0].endswith(" update -q"), lines
        assert lines[1].startswith("DEBIAN_FRONTEND=noninteractive install -y"), lines
        assert lines[1].split()[-2:] == ["libev-dev", "redis-server"], lines

        # a user: through sudo, still non-interactive
        p, lines = run(script, fake, log, 1000, have)
        assert p.returncode == 0, p.stderr
        assert lines == ["sudo apt-get", lines[1], "sudo env", lines[3]], lines
        assert lines[3].startswith("DEBIAN_FRONTEND=noninteractive install"), lines

        # everything installed: apt-get is never run
        p, lines = run(script, fake, log, 0, " ".join(pkgs))
        assert p.returncode == 0 and lines == [], (p.stderr, lines)

        # apt-get fails: exit 1, the missing packages named
        p, lines = run(script, fake, log, 0, have, apt_rc=100)
        assert p.returncode == 1, p.returncode
        assert "apt-get failed installing: libev-dev redis-server" in p.stderr, p.stderr
    return 0


if __name__ == "__main__":
    sys.exit(main())
