"""A private Docker registry (Debian's docker-registry, distribution 2.8) and a small
client for the Registry HTTP API v2 (blob uploads, manifests, catalog).

`Registry` writes a config to TMP/registry.yml (filesystem storage under TMP/registry,
delete enabled, listening on 127.0.0.1:<free port>), starts `docker-registry serve` and
waits for GET /v2/ to answer 200. dockerd treats 127.0.0.0/8 registries as insecure by
default, so plain HTTP works without any daemon option.
"""

import hashlib
import http.client
import json
import os
import urllib.parse

from . import procs

REGISTRY_BIN = os.environ.get("M87_TEST_REGISTRY_BIN", "/usr/bin/docker-registry")

MEDIA_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

CONFIG_TEMPLATE = """\
version: 0.1
log:
  level: {log_level}
  accesslog:
    disabled: true
  fields:
    service: m87e2e-registry
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {addr}
  secret: m87e2e-not-a-secret
  headers:
    X-Content-Type-Options: [nosniff]
"""


class RegistryError(RuntimeError):
    def __init__(self, message, status=None, body=None):
        super().__init__(message)
        self.status = status
        self.body = body


class RegistryClient:
    """Registry HTTP API v2 over plain HTTP (http.client)."""

    def __init__(self, addr, timeout=60):
        self.addr = addr  # "127.0.0.1:PORT"
        host, port = addr.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.timeout = timeout

    def _request(self, method, path, body=None, headers=None, timeout=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.headers, data
        finally:
            conn.close()

    def ping(self):
        status, _, _ = self._request("GET", "/v2/", timeout=5)
        return status

    def catalog(self):
        """All repository names (follows the Link header of paginated answers)."""
        repos, path = [], "/v2/_catalog?n=100"
        while path:
            status, headers, data = self._request("GET", path)
            if status != 200:
                raise RegistryError("catalog -> %d: %r" % (status, data[:300]), status, data)
            repos += json.loads(data).get("repositories") or []
            link = headers.get("Link") or ""
            path = link[link.find("<") + 1:link.find(">")] if "<" in link else None
            if path and "://" in path:
                path = urllib.parse.urlsplit(path)._replace(scheme="", netloc="").geturl()
        return repos

    def tags(self, name):
        status, _, data = self._request("GET", "/v2/%s/tags/list" % name)
        if status == 404:
            return []
        if status != 200:
            raise RegistryError("tags %s -> %d: %r" % (name, status, data[:300]), status, data)
        return json.loads(data).get("tags") or []

    def has_blob(self, name, digest):
        status, _, _ = self._request("HEAD", "/v2/%s/blobs/%s" % (name, digest))
        return status == 200

    def get_blob(self, name, digest):
        status, _, data = self._request("GET", "/v2/%s/blobs/%s" % (name, digest))
        if status != 200:
            raise RegistryError("get blob %s@%s -> %d" % (name, digest, status), status, data)
        return data

    def upload_blob(self, name, digest, source, size=None):
        """Push one blob (bytes or a file path) with POST + monolithic PUT ?digest=.
        Skips the upload when the registry already has it. Returns True if uploaded."""
        if self.has_blob(name, digest):
            return False
        status, headers, data = self._request("POST", "/v2/%s/blobs/uploads/" % name,
                                              headers={"Content-Length": "0"})
        if status != 202:
            raise RegistryError("start upload %s -> %d: %r" % (name, status, data[:300]),
                                status, data)
        loc = urllib.parse.urlsplit(headers["Location"])
        query = urllib.parse.parse_qsl(loc.query, keep_blank_values=True)
        query.append(("digest", digest))
        target = loc.path + "?" + urllib.parse.urlencode(query)
        hdrs = {"Content-Type": "application/octet-stream"}
        if isinstance(source, (bytes, bytearray)):
            hdrs["Content-Length"] = str(len(source))
            status, _, data = self._request("PUT", target, body=bytes(source), headers=hdrs,
                                            timeout=max(self.timeout, 300))
        else:
            hdrs["Content-Length"] = str(size if size is not None else os.path.getsize(source))
            with open(source, "rb") as f:
                status, _, data = self._request("PUT", target, body=f, headers=hdrs,
                                                timeout=max(self.timeout, 300))
        if status != 201:
            raise RegistryError("finish upload %s %s -> %d: %r"
                                % (name, digest, status, data[:300]), status, data)
        return True

    def put_manifest(self, name, reference, manifest_bytes, media_type=MEDIA_MANIFEST_V2):
        """PUT a manifest; returns its digest (sha256 of the exact bytes)."""
        status, headers, data = self._request(
            "PUT", "/v2/%s/manifests/%s" % (name, reference), body=manifest_bytes,
            headers={"Content-Type": media_type, "Content-Length": str(len(manifest_bytes))})
        if status != 201:
            raise RegistryError("put manifest %s:%s -> %d: %r"
                                % (name, reference, status, data[:500]), status, data)
        digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
        got = headers.get("Docker-Content-Digest")
        if got and got != digest:
            raise RegistryError("registry digest %s != computed %s" % (got, digest))
        return digest

    def get_manifest(self, name, reference, accept=(MEDIA_MANIFEST_V2, MEDIA_OCI_MANIFEST,
                                                    MEDIA_MANIFEST_LIST, MEDIA_OCI_INDEX)):
        """Returns (parsed manifest, digest, media type)."""
        status, headers, data = self._request(
            "GET", "/v2/%s/manifests/%s" % (name, reference),
            headers={"Accept": ", ".join(accept)})
        if status != 200:
            raise RegistryError("get manifest %s:%s -> %d: %r"
                                % (name, reference, status, data[:300]), status, data)
        digest = headers.get("Docker-Content-Digest") or \
            "sha256:" + hashlib.sha256(data).hexdigest()
        return json.loads(data), digest, headers.get("Content-Type")

    def delete_manifest(self, name, digest):
        status, _, data = self._request("DELETE", "/v2/%s/manifests/%s" % (name, digest))
        if status not in (202, 404):
            raise RegistryError("delete manifest %s@%s -> %d: %r"
                                % (name, digest, status, data[:300]), status, data)
        return status == 202


class Registry(procs.Daemon):
    """One `docker-registry serve` process rooted at `root` (TMP, the caller's: kept)."""

    def __init__(self, root, port=None, log_level="warn"):
        super().__init__(root)
        self.root = root
        self.storage = os.path.join(root, "registry")
        self.config_path = os.path.join(root, "registry.yml")
        self.log_path = os.path.join(root, "registry.log")
        self.log_level = log_level
        self.port = port
        self.client = None

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def _write_config(self):
        os.makedirs(self.storage, exist_ok=True)
        with open(self.config_path, "w") as f:
            f.write(CONFIG_TEMPLATE.format(log_level=self.log_level, storage=self.storage,
                                           addr=self.addr))

    def start(self, timeout=30, attempts=3):
        fixed_port = self.port is not None
        last_error = None
        for _ in range(attempts):
            if not fixed_port:
                self.port = procs.free_port()
            self._write_config()
            self.client = RegistryClient(self.addr)
            self.proc = procs.spawn([REGISTRY_BIN, "serve", self.config_path], self.log_path)
            try:
                self._wait_ready(timeout)
                return self
            except RuntimeError as exc:
                last_error = exc
                self.stop()
                if fixed_port:
                    break
        raise last_error

    def _wait_ready(self, timeout):
        procs.wait_ready(self.proc, self._ready, timeout, self.log_path,
                         ("docker-registry", "answer GET /v2/"))

    def _ready(self):
        status = self.client.ping()
        return True if status == 200 else "status %d" % status

    def kill(self):
        """Stop abruptly (SIGKILL), e.g. to simulate a registry that went away."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
