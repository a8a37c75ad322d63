"""Bundles end to end: upload checked against its digest, idempotent, stored in the database in
chunks of 256 KiB (bundle_chunks, deduplicated by digest); download by the admin and by a device
whose deployment references it, resumed with Range across chunks; files an older server kept in
DATA/bundles/ moved into the database at start."""

import hashlib
import os
import sqlite3

from harness.postgres import shared
from server_util import Server, server  # noqa: F401 (fixture)

GZ = {"Content-Type": "application/gzip"}
CHUNK = 256 * 1024


def query(server, sql):
    """Rows of sql (no parameters) on the server's database: its m87.db, or its PostgreSQL
    database under M87_TEST_DB=postgres."""
    if server.db_args:
        out = shared().psql(sql, database=server.db_args[1].rsplit("/", 1)[1])
        return [tuple(int(v) for v in line.split("|")) for line in out.splitlines() if line]
    db = sqlite3.connect(os.path.join(server.data, "m87.db"))
    try:
        rows = db.execute(sql).fetchall()
        db.commit()
        return rows
    finally:
        db.close()


def chunks(server, d):
    """The (seq, length) of each stored chunk of digest d, read from the server's database."""
    return query(server, "SELECT seq, LENGTH(data) FROM bundle_chunks WHERE digest = '%s'"
                 " ORDER BY seq" % d)


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload(server, data, name=None):
    return server.admin_req("PUT", f"/v1/bundles/{name or digest(data)}", raw=data, headers=GZ)


def test_upload_checks_the_digest_and_is_idempotent(server):
    data = os.urandom(300 * 1024)
    d = digest(data)
    r = upload(server, data)
    assert r.status == 201 and r.json == {"digest": d, "size": len(data)}
    # two chunks in the database, nothing on disk
    assert chunks(server, d) == [(0, CHUNK), (1, len(data) - CHUNK)]
    assert server.admin_req("GET", f"/v1/bundles/{d}").body == data
    r = upload(server, data)
    assert r.status == 200 and r.json == {"digest": d, "size": len(data)}
    # the second upload of a digest stores nothing more
    assert chunks(server, d) == [(0, CHUNK), (1, len(data) - CHUNK)]

    other = "sha256:" + "1" * 64
    r = upload(server, data, name=other)
    assert r.status == 400 and r.json["error"]["code"] == "bad_request"
    assert r.json["error"]["message"] == "digest mismatch: the body is " + d
    assert server.admin_req("GET", f"/v1/bundles/{other}").status == 404
    assert chunks(server, other) == []
    # no temporary file is left behind
    assert os.listdir(os.path.join(server.data, "bundles")) == []

    for bad in ["sha256:abc", "md5:" + "0" * 32, "sha256:" + "A" * 64]:
        r = upload(server, data, name=bad)
        assert r.status == 400, bad
        assert os.listdir(os.path.join(server.data, "bundles")) == []
    r = server.admin_req("PUT", f"/v1/bundles/{d}", raw=data,
                         headers={"Content-Type": "text/plain"})
    assert r.status == 415
    empty = upload(server, b"")
    assert empty.status == 201 and empty.json["size"] == 0
    r = server.admin_req("GET", f"/v1/bundles/{digest(b'')}")
    assert r.status == 200 and r.body == b""


def test_oversized_bundle_refused_before_the_body(server):
    r = server.headers_only("PUT", "/v1/bundles/sha256:" + "2" * 64,
                            {"Content-Type": "application/gzip",
                             "Content-Length": str(256 * 1024 * 1024 + 1)},
                            token=server.admin)
    assert r.status == 413 and r.json["error"]["code"] == "too_large"


def test_download_with_range_resumes(server):
    data = os.urandom(1024 * 1024 + 17)
    d = digest(data)
    assert upload(server, data).status == 201
    token = server.add_device("gw")
    dep = server.new_deployment("gw", active=True)
    spec = {"jobs": [{"id": "app", "bundle": d, "steps": [{"name": "up", "run": "true"}]}]}
    server.put_jobs("gw", dep["id"], spec)
    # the target carries the reference the agent downloads
    target = server.sync(token, {"applied": None, "wait": 0}).json["target"]
    assert target["spec"]["jobs"][0]["bundle"] == d

    r = server.request("GET", f"/v1/bundles/{d}", token=token)
    assert r.status == 200 and r.body == data
    assert r.header("Accept-Ranges") == "bytes" and r.header("ETag") == f'"{d}"'
    assert r.header("Content-Type") == "application/gzip"

    # a cut download resumes where it stopped
    got = data[:300000]
    r = server.request("GET", f"/v1/bundles/{d}", token=token,
                       headers={"Range": f"bytes={len(got)}-"})
    assert r.status == 206
    assert r.header("Content-Range") == f"bytes {len(got)}-{len(data) - 1}/{len(data)}"
    assert got + r.body == data

    r = server.request("GET", f"/v1/bundles/{d}", token=server.admin,
                       headers={"Range": "bytes=10-19"})
    assert r.status == 206 and r.body == data[10:20]
    r = server.request("GET", f"/v1/bundles/{d}", token=server.admin,
                       headers={"Range": "bytes=-5"})
    assert r.status == 206 and r.body == data[-5:]
    r = server.request("GET", f"/v1/bundles/{d}", token=server.admin,
                       headers={"Range": f"bytes={len(data)}-"})
    assert r.status == 416 and r.header("Content-Range") == f"bytes */{len(data)}"
    assert r.json["error"]["code"] == "range_not_satisfiable"
    # a malformed or multi-range header is ignored: the whole body
    for bad in ["bytes=a-", "items=0-1", "bytes=0-1,5-6", "bytes=9-3"]:
        r = server.request("GET", f"/v1/bundles/{d}", token=server.admin,
                           headers={"Range": bad})
        assert r.status == 200 and r.body == data, bad

    r = server.request("HEAD", f"/v1/bundles/{d}", token=token)
    assert r.status == 200 and r.body == b""
    assert r.header("Content-Length") == str(len(data))


def test_device_reads_only_referenced_bundles(server):
    a, b = os.urandom(1000), os.urandom(1000)
    upload(server, a)
    upload(server, b)
    token = server.add_device("gw")
    dep = server.new_deployment("gw")
    spec = {"jobs": [{"id": "app", "bundle": digest(a), "steps": [{"name": "up", "run": "x"}]}]}
    server.put_jobs("gw", dep["id"], spec)
    assert server.request("GET", f"/v1/bundles/{digest(a)}", token=token).status == 200
    assert server.request("GET", f"/v1/bundles/{digest(b)}", token=token).status == 403
    # a reference in an older revision still counts
    server.admin_req("DELETE", f"/v1/devices/gw/deployments/{dep['id']}/jobs/app")
    assert server.request("GET", f"/v1/bundles/{digest(a)}", token=token).status == 200
    # referenced but never uploaded: the device learns it is missing
    missing = "sha256:" + "3" * 64
    spec["jobs"][0]["bundle"] = missing
    server.put_jobs("gw", dep["id"], spec)
    r = server.request("GET", f"/v1/bundles/{missing}", token=token)
    assert r.status == 404 and r.json["error"]["code"] == "not_found"


def test_big_bundle_byte_exact_and_ranges_across_chunks(server):
    data = os.urandom(5 * CHUNK + 12345)
    d = digest(data)
    assert upload(server, data).status == 201
    assert [n for _, n in chunks(server, d)] == [CHUNK] * 5 + [12345]
    r = server.admin_req("GET", f"/v1/bundles/{d}")
    assert r.status == 200 and r.header("Content-Length") == str(len(data))
    assert hashlib.sha256(r.body).hexdigest() == d[7:] and r.body == data
    # ranges that start, end and span chunk boundaries
    for first, last in [(CHUNK - 10, CHUNK + 9), (CHUNK - 1, CHUNK), (100, 4 * CHUNK + 7),
                        (CHUNK, 2 * CHUNK - 1), (5 * CHUNK, len(data) - 1), (0, 0)]:
        r = server.request("GET", f"/v1/bundles/{d}", token=server.admin,
                           headers={"Range": f"bytes={first}-{last}"})
        assert r.status == 206, (first, last)
        assert r.header("Content-Range") == f"bytes {first}-{last}/{len(data)}"
        assert r.body == data[first:last + 1], (first, last)
    r = server.request("HEAD", f"/v1/bundles/{d}", token=server.admin)
    assert r.status == 200 and r.body == b"" and r.header("Content-Length") == str(len(data))


def test_bundle_files_of_an_older_server_move_into_the_database(tmp_path):
    """An older server kept the bytes in DATA/bundles/sha256-HEX.tar.gz and only the bundles row
    in the database: a server started on that directory moves each file in and removes it."""
    s = Server(tmp_path)
    s.init()
    s.start()
    data = os.urandom(3 * CHUNK + 5)
    d = digest(data)
    try:
        assert upload(s, data).status == 201
    finally:
        s.stop()
    # make the directory look like an older server's: bytes in a file, no chunks
    bundles = os.path.join(s.data, "bundles")
    path = os.path.join(bundles, "sha256-%s.tar.gz" % d[7:])
    with open(path, "wb") as f:
        f.write(data)
    orphan = os.path.join(bundles, "sha256-%s.tar.gz" % ("4" * 64))
    with open(orphan, "wb") as f:
        f.write(b"no row names me")
    with open(os.path.join(bundles, ".upload-abc123"), "wb") as f:
        f.write(b"half an upload")
    query(s, "DELETE FROM bundle_chunks")
    assert chunks(s, d) == []

    s.start()
    try:
        assert [n for _, n in chunks(s, d)] == [CHUNK] * 3 + [5]
        assert sorted(os.listdir(bundles)) == [os.path.basename(orphan)]
        r = s.admin_req("GET", f"/v1/bundles/{d}")
        assert r.status == 200 and r.body == data
        assert "has no row in the database" in s.read_log()
    finally:
        s.stop()
    # once: a second start finds nothing to move and changes nothing
    s.start()
    try:
        assert [n for _, n in chunks(s, d)] == [CHUNK] * 3 + [5]
        assert s.admin_req("GET", f"/v1/bundles/{d}").body == data
        # a row whose file was lost before the move: the next upload brings the bytes
        query(s, "DELETE FROM bundle_chunks")
        r = upload(s, data)
        assert r.status == 201 and r.json == {"digest": d, "size": len(data)}
        assert [n for _, n in chunks(s, d)] == [CHUNK] * 3 + [5]
        assert s.admin_req("GET", f"/v1/bundles/{d}").body == data
    finally:
        s.stop()
