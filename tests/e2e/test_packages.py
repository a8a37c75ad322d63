"""The Debian packages on this machine: build the amd64 m87, m87-agent and m87-server packages
(scripts/build-deb.sh, what `make deb` runs), check them with lintian and the units with
systemd-analyze verify, install them with dpkg -i, check the files, modes, units, user and
state directories, upgrade them to a rebuilt version with the state kept, remove and purge them.

The test changes the system (dpkg's database, /usr/bin, /etc/m87, /var/lib/m87, a system user):
it runs as root, holds /run/lock/m87-test-packages.lock so that two runs never overlap, refuses
to start (skips) when an m87 package or its paths are already on the machine, and purges what it
installed, removes the user it made, even when it fails. The packages are built into
build-deb/pkgtest/ of the source tree (kept between runs, so a second run only relinks).
"""

import fcntl
import grp
import gzip
import os
import pathlib
import pwd
import re
import shutil
import stat
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
OUT = REPO / "build-deb" / "pkgtest"
PACKAGES = ["m87", "m87-agent", "m87-server"]
LOCK = "/run/lock/m87-test-packages.lock"
# what the packages put on the machine: none of it may be there before the test
PATHS = ["/usr/bin/m87", "/usr/bin/m87-agent", "/usr/bin/m87-server", "/etc/m87",
         "/var/lib/m87", "/var/lib/m87-server", "/etc/default/m87-server",
         "/lib/systemd/system/m87-agent.service", "/lib/systemd/system/m87-server.service"]

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="installs packages: needs root"),
    pytest.mark.skipif(shutil.which("dpkg-buildpackage") is None or shutil.which("lintian") is None
                       or shutil.which("help2man") is None,
                       reason="debhelper, lintian or help2man missing (scripts/install-deps.sh)"),
    # the packages are built from the sources with Debian's flags, whatever M87_BUILD holds:
    # the plain e2e run covers them, the sanitizer run (make asan) would only repeat it
    pytest.mark.skipif(os.path.basename(os.environ.get("M87_BUILD", "build")) == "build-asan",
                       reason="covered by the plain end-to-end run"),
]


def version():
    text = (REPO / "include" / "m87" / "version.h").read_text()
    return re.search(r'#define M87_VERSION "([^"]+)"', text).group(1)


def run(argv, check=True, **kw):
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d\n%s" % (" ".join(map(str, argv)), p.returncode,
                                                  p.stdout[-4000:]))
    return p


def dpkg(*args, check=True):
    """dpkg ARGS, waiting while another process (apt-get of a neighbour) holds dpkg's lock."""
    for _ in range(120):
        p = run(["dpkg", *args], check=False)
        if "dpkg frontend lock" not in p.stdout and "lock-frontend" not in p.stdout:
            break
        time.sleep(5)
    if check and p.returncode != 0:
        raise AssertionError("dpkg %s: exit %d\n%s" % (" ".join(args), p.returncode, p.stdout))
    return p


def build(ver):
    """The three amd64 .deb files of version VER, built by scripts/build-deb.sh."""
    env = dict(os.environ, M87_DEB_OUT=str(OUT), M87_DEB_VERSION=ver)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(k, None)
    run([str(REPO / "scripts" / "build-deb.sh"), "amd64"], cwd=REPO, env=env)
    debs = {p: OUT / ("%s_%s_amd64.deb" % (p, ver)) for p in PACKAGES}
    for d in debs.values():
        assert d.is_file(), d
    return debs


def installed_version(pkg):
    p = run(["dpkg-query", "-W", "-f=${Status} ${Version}", pkg], check=False)
    if p.returncode != 0 or not p.stdout.startswith("install ok installed"):
        return None
    return p.stdout.split()[-1]


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def daemons():
    """PIDs of processes running the installed m87-agent or m87-server."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            exe = os.readlink("/proc/%s/exe" % pid)
        except OSError:
            continue
        if exe in ("/usr/bin/m87-agent", "/usr/bin/m87-server"):
            found.append(int(pid))
    return found


@pytest.fixture(scope="module")
def machine():
    """The lock, the check that nothing of m87 is installed, and the clean-up afterwards."""
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        there = [p for p in PACKAGES if installed_version(p)]
        there += [p for p in PATHS if os.path.lexists(p)]
        if there:
            pytest.skip("already on this machine, the test would replace it: " + ", ".join(there))
        user_before = _exists(pwd.getpwnam, "m87-server")
        group_before = _exists(grp.getgrnam, "m87-server")
        try:
            yield
        finally:
            dpkg("--purge", *PACKAGES, check=False)
            if not user_before and _exists(pwd.getpwnam, "m87-server"):
                run(["userdel", "m87-server"], check=False)
            if not group_before and _exists(grp.getgrnam, "m87-server"):
                run(["groupdel", "m87-server"], check=False)
            for p in ("/var/lib/m87", "/var/lib/m87-server"):
                shutil.rmtree(p, ignore_errors=True)


def _exists(lookup, name):
    try:
        lookup(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="module")
def debs(machine):
    """Version V (include/m87/version.h) and V+pkgtest1, the upgrade."""
    v = version()
    return {"old": (v, build(v)), "new": (v + "+pkgtest1", build(v + "+pkgtest1"))}


def test_lintian_reports_no_error(debs):
    files = [str(d) for _, b in debs.values() for d in b.values()]
    p = run(["lintian", "--fail-on", "error", *files], check=False)
    assert p.returncode == 0, p.stdout
    assert not [line for line in p.stdout.splitlines() if line.startswith("E:")], p.stdout


def test_package_contents(debs):
    _, b = debs["old"]
    listing = {p: run(["dpkg-deb", "-c", str(d)]).stdout for p, d in b.items()}
    assert re.search(r"^-rwxr-xr-x root/root .* \./usr/bin/m87$", listing["m87"], re.M)
    assert "./usr/share/man/man1/m87.1.gz" in listing["m87"]
    assert re.search(r"^-rw------- root/root .* \./etc/m87/agent\.conf$", listing["m87-agent"],
                     re.M), listing["m87-agent"]
    assert "./usr/share/man/man8/m87-agent.8.gz" in listing["m87-agent"]
    assert "./lib/systemd/system/m87-agent.service" in listing["m87-agent"]
    assert "./usr/share/man/man8/m87-server.8.gz" in listing["m87-server"]
    assert "./lib/systemd/system/m87-server.service" in listing["m87-server"]
    assert "./etc/default/m87-server" in listing["m87-server"]
    # the agent links libcurl's GnuTLS flavour (one TLS stack, docs/design.md), the CLI OpenSSL's
    depends = run(["dpkg-deb", "-f", str(b["m87-agent"]), "Depends"]).stdout
    for lib in ("libc6", "libcurl3-gnutls (>= 7.85.0)", "libgnutls30", "libnettle8", "libyajl2",
                "libyaml-0-2", "libarchive13"):
        assert lib in depends, depends
    assert "libcurl4" not in depends, depends
    depends = run(["dpkg-deb", "-f", str(b["m87"]), "Depends"]).stdout
    for lib in ("libc6", "libcurl4 (>= 7.85.0)", "libssl3", "libarchive13"):
        assert lib in depends, depends
    depends = run(["dpkg-deb", "-f", str(b["m87-server"]), "Depends"]).stdout
    for lib in ("libmicrohttpd12", "libsqlite3-0", "adduser"):
        assert lib in depends, depends


def test_install_upgrade_remove_purge(debs):
    old_v, old = debs["old"]
    new_v, new = debs["new"]

    # install: each package on its own, as a user would
    for p in PACKAGES:
        dpkg("-i", str(old[p]))
        assert installed_version(p) == old_v
    assert daemons() == [], "installing started a daemon"

    for prog in PACKAGES:
        out = run(["/usr/bin/" + prog, "--version"]).stdout
        assert out.strip() == "%s %s" % (prog, version()), out
    for page, section in (("m87", 1), ("m87-agent", 8), ("m87-server", 8)):
        with gzip.open("/usr/share/man/man%d/%s.%d.gz" % (section, page, section), "rt") as f:
            text = f.read()
        assert re.search(r'^\.TH "?%s"? "?%d"?' % (re.escape(page.upper()), section), text,
                         re.M | re.I), text[:300]
        assert ".SH COMMANDS" in text

    conf = "/etc/m87/agent.conf"
    assert mode(conf) == 0o600 and os.stat(conf).st_uid == 0
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "m87-agent"]).stdout
    assert conf in conffiles
    assert "/etc/default/m87-server" in run(["dpkg-query", "-W", "-f=${Conffiles}",
                                             "m87-server"]).stdout

    # the units: what they are, and systemd's own check of them (with the man pages installed)
    agent_unit = pathlib.Path("/lib/systemd/system/m87-agent.service").read_text()
    for line in ("ExecStart=/usr/bin/m87-agent run --config /etc/m87/agent.conf",
                 "Restart=always", "StateDirectory=m87", "ProtectSystem=strict",
                 "ReadWritePaths=/var/lib/m87", "NoNewPrivileges=yes",
                 "ProtectHome=read-only", "CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE"):
        assert line in agent_unit, line
    assert re.search(r"^After=.*docker\.service.*podman\.socket", agent_unit, re.M)
    assert re.search(r"^Wants=.*docker\.service.*podman\.socket", agent_unit, re.M)
    server_unit = pathlib.Path("/lib/systemd/system/m87-server.service").read_text()
    for line in ("User=m87-server", "StateDirectory=m87-server",
                 "ExecStart=/usr/bin/m87-server serve --data /var/lib/m87-server",
                 "EnvironmentFile=/etc/default/m87-server"):
        assert line in server_unit, line
    p = run(["systemd-analyze", "verify", "/lib/systemd/system/m87-agent.service",
             "/lib/systemd/system/m87-server.service"], check=False)
    assert p.returncode == 0, p.stdout

    # the state directories and the server's user
    assert stat.S_ISDIR(os.lstat("/var/lib/m87").st_mode) and mode("/var/lib/m87") == 0o700
    user = pwd.getpwnam("m87-server")
    assert user.pw_uid < 1000 and user.pw_shell == "/usr/sbin/nologin", user
    st = os.stat("/var/lib/m87-server")
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (user.pw_uid, 0o700)

    # the admin's first steps: the server's data made as its user (docs/install.md); the
    # agent's state and an edited config
    p = run(["runuser", "-u", "m87-server", "--", "m87-server", "init", "--data",
             "/var/lib/m87-server"])
    assert re.fullmatch(r"\S+\n", p.stdout), p.stdout
    assert os.stat("/var/lib/m87-server/m87.db").st_uid == user.pw_uid
    pathlib.Path("/var/lib/m87/kept").write_text("state\n")
    with open(conf, "a") as f:
        f.write("server = https://m87.example.com:8087\n")

    # upgrade: the state, the database and the edited config stay, the config keeps its mode
    for p in PACKAGES:
        dpkg("-i", str(new[p]))
        assert installed_version(p) == new_v
    assert daemons() == [], "upgrading started a daemon"
    assert pathlib.Path("/var/lib/m87/kept").read_text() == "state\n"
    assert os.path.isfile("/var/lib/m87-server/m87.db")
    assert "server = https://m87.example.com:8087" in pathlib.Path(conf).read_text()
    assert mode(conf) == 0o600
    assert not os.path.exists(conf + ".dpkg-new") and not os.path.exists(conf + ".dpkg-dist")

    # remove keeps the state and the config; purge takes them
    dpkg("-r", *PACKAGES)
    for p in PACKAGES:
        assert installed_version(p) is None
        assert not os.path.exists("/usr/bin/" + p)
    assert pathlib.Path("/var/lib/m87/kept").is_file()
    assert os.path.isfile("/var/lib/m87-server/m87.db")
    assert os.path.isfile(conf)
    token = pathlib.Path("/etc/m87/token")  # the admin's, as docs/install.md has it written
    token.write_text("m87d_example\n")
    token.chmod(0o600)
    dpkg("--purge", *PACKAGES)
    for path in ("/var/lib/m87", "/var/lib/m87-server", "/etc/m87", "/etc/default/m87-server"):
        assert not os.path.lexists(path), path
    for p in PACKAGES:
        assert run(["dpkg-query", "-W", p], check=False).returncode != 0, p
