#!/usr/bin/python3
"""Write the seed corpora of the fuzz harnesses into fixtures/fuzz/TARGET/ from the project's own
fixtures and a few crafted inputs (hostile bundles made with tarfile). Run from the top of the
tree; existing seeds of the same name are replaced, others are left alone."""
import glob
import gzip
import io
import os
import re
import tarfile

OUT = "fixtures/fuzz"


def put(target, name, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(OUT, target, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def copy(target, pattern, max_size=16384):
    for path in sorted(glob.glob(pattern)):
        data = read(path)
        if len(data) <= max_size:
            kind = path.split("/")[1]
            put(target, kind + "-" + os.path.basename(path), data)


def recorded_bodies(path):
    """The answer bodies of a recorded exchange file (fixtures/engine/*.txt)."""
    bodies, cur = [], None
    for line in read(path).decode().split("\n"):
        if line.startswith("<<< "):
            cur = []
        elif line == "===" and cur is not None:
            bodies.append("\n".join(cur) + "\n")
            cur = None
        elif cur is not None:
            cur.append(line)
    return bodies


def tar_bytes(entries, gz=True, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, extra in entries:
            info = tarfile.TarInfo(name)
            data = b""
            if kind == "file":
                data = extra or b""
                info.size = len(data)
                info.mode = 0o644
            elif kind == "exec":
                data = extra or b""
                info.size = len(data)
                info.mode = 0o755
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, extra
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, extra
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            elif kind == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            t.addfile(info, io.BytesIO(data) if data else None)
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if gz else raw


def bundles():
    cases = {
        "plain": [("app", "dir", None), ("app/run.sh", "exec", b"#!/bin/sh\necho hi\n"),
                  ("app/data.bin", "file", bytes(range(256)))],
        "dot-prefix": [("./a", "dir", None), ("./a/b.txt", "file", b"b\n")],
        "nested": [("a", "dir", None), ("a/b", "dir", None), ("a/b/c", "dir", None),
                   ("a/b/c/d", "file", b"d")],
        "empty-file": [("empty", "file", b"")],
        "dotdot": [("../escape", "file", b"x")],
        "dotdot-inner": [("a/../../escape", "file", b"x")],
        "absolute": [("/tmp/m87-fuzz-absolute", "file", b"x")],
        "symlink": [("link", "symlink", "/etc"), ("link/passwd", "file", b"x")],
        "hardlink": [("f", "file", b"x"), ("h", "hardlink", "f")],
        "fifo": [("p", "fifo", None)],
        "device": [("null", "chr", None)],
        "twice": [("f", "file", b"1"), ("f", "file", b"2")],
        "file-then-dir": [("f", "file", b"1"), ("f/g", "file", b"2")],
        "dir-then-file": [("d", "dir", None), ("d", "file", b"2")],
    }
    for name, entries in cases.items():
        put("bundle", name + ".tar.gz", tar_bytes(entries))
        put("bundle", name + ".tar", tar_bytes(entries, gz=False))
    long = [("d" * 120, "dir", None), ("d" * 120 + "/" + "f" * 150, "file", b"long")]
    put("bundle", "long-gnu.tar.gz", tar_bytes(long, fmt=tarfile.GNU_FORMAT))
    put("bundle", "long-pax.tar", tar_bytes(long, gz=False))
    odd = [(".", "dir", None), ("./", "dir", None), ("a//b", "file", b"x"), ("a/./c", "file", b"y")]
    put("bundle", "odd-names.tar", tar_bytes(odd, gz=False, fmt=tarfile.USTAR_FORMAT))
    put("bundle", "truncated.tar.gz", tar_bytes(cases["plain"])[:-20])
    put("bundle", "not-gzip", b"hello\n")
    put("bundle", "empty", b"")




def copies():
    """Streams of `m87 cp` (fuzz_cp appends the end mark itself; the seeds here are without)."""
    cases = {
        "tree": [("tree", "dir", None), ("tree/run.sh", "exec", b"#!/bin/sh\necho hi\n"),
                 ("tree/sub", "dir", None), ("tree/sub/data.bin", "file", bytes(range(256))),
                 ("tree/link", "symlink", "sub/data.bin"), ("tree/sub/up", "symlink", "../run.sh")],
        "file": [("notes.txt", "file", b"hello\n")],
        "implicit-dirs": [("t/a/b/c", "file", b"c")],
        "escape-link": [("t", "dir", None), ("t/evil", "symlink", "../../etc/passwd")],
        "absolute-link": [("t", "dir", None), ("t/evil", "symlink", "/etc")],
        "through-link": [("t", "dir", None), ("t/l", "symlink", "."), ("t/l/x", "file", b"x")],
        "top-link": [("l", "symlink", "x")],
        "dotdot": [("t", "dir", None), ("t/../../escape", "file", b"x")],
        "absolute": [("/tmp/m87-fuzz-cp-absolute", "file", b"x")],
        "two-tops": [("a", "file", b"a"), ("b", "file", b"b")],
        "hardlink": [("t", "dir", None), ("t/f", "file", b"x"), ("t/h", "hardlink", "t/f")],
        "fifo": [("t", "dir", None), ("t/p", "fifo", None)],
        "twice": [("t", "dir", None), ("t/f", "file", b"1"), ("t/f", "file", b"2")],
        "file-then-dir": [("t", "dir", None), ("t/f", "file", b"1"), ("t/f/g", "file", b"2")],
    }
    for name, entries in cases.items():
        put("cp", name + ".tar", tar_bytes(entries, gz=False))
    put("cp", "cut.tar", tar_bytes(cases["tree"], gz=False)[:700])
    put("cp", "empty", b"")


def http(method, path, token="@A", body=None, ctype="application/json", extra=""):
    """A request as fuzz_server sends it (@A, @D, @P, @B are its placeholders)."""
    head = "%s %s HTTP/1.1\r\nHost: fuzz\r\n" % (method, path)
    if token:
        head += "Authorization: Bearer %s\r\n" % token
    head += extra
    if body is None:
        return (head + "\r\n").encode()
    body = body.encode() if isinstance(body, str) else body
    return (head + "Content-Type: %s\r\nContent-Length: %d\r\n\r\n" % (ctype, len(body))
            ).encode() + body


def server_seeds():
    dev, dep = "/v1/devices/gw", "/v1/devices/gw/deployments/@P"
    job = ('{"jobs":[{"id":"app","type":"service","bundle":"@B","env":{"A":"1"},'
           '"workdir":{"mode":"persistent"},"steps":[{"name":"up","run":["true"],'
           '"timeout":"15s","retry":{"attempts":2,"backoff":"1s"},'
           '"undo":{"run":"true"}}],"stop":{"steps":[{"name":"down","run":"true"}]}}]}')
    report = ('{"seq":%d,"time":"2026-11-23T12:00:00Z","kind":"step","revision":null,'
              '"job":"app","phase":"steps","step":"up","attempt":1,"state":"succeeded",'
              '"exit_code":0,"duration_ms":5,"output":"ok"}')
    seeds = {
        "healthz": http("GET", "/healthz", token=None),
        "metrics": http("GET", "/metrics", token=None),
        "devices-add": http("POST", "/v1/devices", body='{"name":"gw-2"}'),
        "devices-list": http("GET", "/v1/devices"),
        "device-get": http("GET", dev),
        "device-patch": http("PATCH", dev, body='{"prefetch":"window"}'),
        "device-delete-other": http("DELETE", "/v1/devices/other"),
        "token-rotate": http("POST", dev + "/token", body="{}"),
        "windows-add": http("POST", dev + "/windows", body='{"rule":"sat,sun 00:00-06:00 '
                            'Europe/Berlin"}'),
        "windows-list": http("GET", dev + "/windows"),
        "windows-rm": http("DELETE", dev + "/windows/1"),
        "prefetch-add": http("POST", dev + "/prefetch", body='{"images":["busybox:1.36"]}'),
        "prefetch-get": http("GET", dev + "/prefetch"),
        "status": http("GET", dev + "/status"),
        "reports": http("GET", dev + "/reports?deployment=@P&job=app&after=0&limit=5"),
        "deployments-new": http("POST", dev + "/deployments?now=1",
                                body='{"active":true,"clone":{"id":"@P","revision":1}}'),
        "deployments-list": http("GET", dev + "/deployments"),
        "deployment-get": http("GET", dep + "?revision=1"),
        "deployment-activate": http("POST", dep + "/activate", body="{}"),
        "deployment-revisions": http("GET", dep + "/revisions"),
        "jobs-put": http("POST", dep + "/jobs", body=job),
        "jobs-delete": http("DELETE", dep + "/jobs/app?now=true"),
        "bundle-get-range": http("GET", "/v1/bundles/@B", extra="Range: bytes=5-\r\n"),
        "bundle-head-device": http("HEAD", "/v1/bundles/@B", token="@D"),
        "bundle-put": http("PUT", "/v1/bundles/sha256:" + "0" * 64, body=b"\x1f\x8bdata",
                           ctype="application/gzip"),
        "sync": http("POST", "/v1/agent/sync", token="@D", body=(
            '{"applied":null,"agent_version":"0.1.0","policy":1,"wait":0,"reports":[%s,%s]}'
            % (report % 1, report % 2))),
        "sync-offline": http("POST", "/v1/agent/sync", token="@D", body=(
            '{"applied":null,"wait":30,"offline":true,"reports":[%s]}' % (report % 3))),
        "sessions-new": http("POST", dev + "/sessions", body='{"argv":["docker","ps"]}'),
        "sessions-list": http("GET", dev + "/sessions"),
        "session-output": http("GET", dev + "/sessions/s-00000001/output?after=0&wait=0"),
        "session-cancel": http("POST", dev + "/sessions/s-00000001/cancel", body="{}"),
        "agent-session": http("POST", "/v1/agent/sessions/s-00000001", token="@D",
                              body='{"output":[{"stream":"stdout","data":"x"}],"exit_code":0}'),
        "pipelined": http("GET", "/healthz", token=None) + http("GET", "/v1/devices"),
        "chunked": (b"POST /v1/devices HTTP/1.1\r\nHost: fuzz\r\nAuthorization: Bearer @A\r\n"
                    b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
                    b"5\r\n{\"nam\r\n9\r\ne\":\"gw-3\"}\r\n0\r\n\r\n"),
        "no-token": http("GET", "/v1/devices", token=None),
        "bad-json": http("POST", "/v1/devices", body='{"name":'),
        "deep-json": http("POST", "/v1/devices", body="[" * 40 + "]" * 40),
        "labels-add": http("POST", "/v1/devices", body='{"name":"gw-l","labels":{"site":"berlin",'
                           '"example.com/hw":"pi4","empty":""}}'),
        "labels-patch": http("PATCH", dev, body='{"labels":{"site":"munich","hw":null}}'),
        "labels-select": http("GET", "/v1/devices?select=site%20in%20(berlin,munich),!hw,"
                              "a!%3Db,c%3D%3Dd,e%20notin%20(f)"),
    }
    for name, data in seeds.items():
        put("server", name, data)


def main():
    server_seeds()
    for pattern in ("fixtures/compose/good/*.yml", "fixtures/compose/bad/*.yml"):
        copy("compose", pattern)
    for pattern in ("fixtures/runspec/good/*.yml", "fixtures/runspec/good/*.json",
                    "fixtures/runspec/bad/*.yml", "fixtures/runspec/bad/*.json"):
        copy("runspec", pattern, 4096)
    for pattern in ("fixtures/yaml/good/*.yml", "fixtures/yaml/bad/*.yml"):
        copy("yaml", pattern)
    copy("yaml", "fixtures/compose/good/anchors.yml")
    copy("yaml", "fixtures/compose/good/merge.yml")
    copy("json", "fixtures/compose/good/*.config.json")
    copy("json", "fixtures/runspec/good/*.json")
    copy("json", "fixtures/runspec/good/*.canon")
    for name in ("containers-inspect", "images-inspect", "system-info", "networks-inspect",
                 "events-mixed", "volumes-list"):
        for i, body in enumerate(recorded_bodies("fixtures/engine/%s.txt" % name)):
            if body.strip():
                put("json", "%s-%d.json" % (name, i), body)
    put("json", "numbers.json", '[0,-1,1.5,1e300,-1e300,1e400,9223372036854775807,'
        '9223372036854775808,-9223372036854775809,1E-400]')
    put("json", "escapes.json", '{"a":"\\u0000\\ud83d\\ude00\\n","":null,"b":[true,false,{}]}')

    copy("dotenv", "fixtures/compose/good/*.env")
    copy("dotenv", "fixtures/compose/good/conf/*.env")
    copy("dotenv", "fixtures/convert/outside.env")
    put("dotenv", "forms.env", '# comment\nexport A=1\nB: two\nC=\'lit $X\'\nD="a\\nb ${A}"\n'
        'E=x #c\nF=a#b\nFOO\nG="multi\nline"\nH=${B:-d}\n')
    put("dotenv", "bom.env", b"\xef\xbb\xbfK=v\r\n")
    put("dotenv", "bad.env", 'A="unterminated\nB=1\n')

    interp = ["plain", "$FOO", "${FOO}", "${BAR:-def}", "${BAR-def}", "${FOO:+set}", "${FOO+set}",
              "${NOPE:?need it}", "${NOPE?}", "$$FOO", "${A:-${B:-${NOPE:-x}}}", "${", "${A",
              "$5", "$ ", "${}", "${A B}", "a$", "${FOO:-${NOPE:?bad}}", "$FOO$BAR${TAG}x"]
    for i, text in enumerate(interp):
        put("interp", "case-%02d" % i, text)
    selectors = ["", "site=berlin", "a==b,c!=d", "hw in (pi4,pi5)", "x notin (a)", "gpu,!retired",
                 " a = b , ! c ", "example.com/site=b", "site in (a,b", "a>1", "a=b=c", "hw-",
                 "k=", "in in (in)", "a,,b", "-a=b"]
    for i, text in enumerate(selectors):
        put("selector", "case-%02d" % i, text)
    lines = read("fixtures/compose/good/interpolation.yml").decode().splitlines()
    for i, line in enumerate(lines):
        if "$" in line:
            put("interp", "line-%02d" % i, line)

    for name in sorted(glob.glob("fixtures/engine/pull-*.txt")):
        for i, body in enumerate(recorded_bodies(name)):
            base = os.path.basename(name)[:-4]
            put("pull", "%s-%d-chunk7" % (base, i), b"\x06" + body.encode())
            put("pull", "%s-%d-whole" % (base, i), b"\xc0" + body.encode())
    for name in ("containers-logs-mux.bin", "exec-start-mux.bin"):
        data = read("fixtures/engine/" + name)[:4096]
        put("demux", name + "-chunks", b"\x0c" + data)
        put("demux", name + "-lines", b"\x0e" + data)
        put("demux", name + "-stop", b"\x82" + data)
    put("demux", "tty-lines", b"\x03line one\r\nline two\npartial")
    put("demux", "bad-header", b"\x00\x05\x00\x00\x00\x00\x00\x00\x01x")
    put("demux", "cut-frame", b"\x02\x01\x00\x00\x00\x00\x00\x00\x10abc")
    bundles()
    copies()


if __name__ == "__main__":
    main()
