"""Bundles end to end: upload checked against its digest, idempotent, stored under
DATA/bundles/; download by the admin and by a device whose deployment references it, resumed
with Range."""

import hashlib
import os

from server_util import server  # noqa: F401 (fixture)

GZ = {"Content-Type": "application/gzip"}


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload(server, data, name=None):
    return server.admin_req("PUT", f"/v1/bundles/{name or digest(data)}", raw=data, headers=GZ)


def test_upload_checks_the_digest_and_is_idempotent(server):
    data = os.urandom(300 * 1024)
    d = digest(data)
    r = upload(server, data)
    assert r.status == 201 and r.json == {"digest": d, "size": len(data)}
    path = os.path.join(server.data, "bundles", "sha256-%s.tar.gz" % d[7:])
    with open(path, "rb") as f:
        assert f.read() == data
    r = upload(server, data)
    assert r.status == 200 and r.json == {"digest": d, "size": len(data)}

    other = "sha256:" + "1" * 64
    r = upload(server, data, name=other)
    assert r.status == 400 and r.json["error"]["code"] == "bad_request"
    assert r.json["error"]["message"] == "digest mismatch: the body is " + d
    assert server.admin_req("GET", f"/v1/bundles/{other}").status == 404
    # no temporary file is left behind
    assert sorted(os.listdir(os.path.join(server.data, "bundles"))) == [os.path.basename(path)]

    for bad in ["sha256:abc", "md5:" + "0" * 32, "sha256:" + "A" * 64]:
        r = upload(server, data, name=bad)
        assert r.status == 400, bad
        assert sorted(os.listdir(os.path.join(server.data, "bundles"))) == [os.path.basename(path)]
    r = server.admin_req("PUT", f"/v1/bundles/{d}", raw=data,
                         headers={"Content-Type": "text/plain"})
    assert r.status == 415
    empty = upload(server, b"")
    assert empty.status == 201 and empty.json["size"] == 0


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
