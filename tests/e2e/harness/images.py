"""Test images built without `docker build`: layers are written with tarfile + gzip,
hashed with hashlib, and pushed with the Registry HTTP API v2 as Docker schema 2
manifests.

* busybox layer: /bin/busybox (Debian's busybox-static) with every applet as a symlink
  in /bin, /etc/passwd and /etc/group (root, nobody), /tmp, /root and empty mount points.
* small image (`m87test/small:1`, `:2`): busybox layer + a tiny layer holding
  /etc/m87test-version; its Cmd prints "m87test-small v<N> started", then
  "m87test-small v<N> alive <seconds>" every 10 s, and exits 0 promptly on SIGTERM.
* layers image (`m87test/layers:<tag>`): busybox layer + N layers of incompressible
  pseudo-random data (one file each), see build_layers_image().

Note: Debian's busybox 1.35 `wget -T N` segfaults; use `timeout N wget ...` instead.

Tars and gzip streams are deterministic (fixed mtimes, owners and gzip header), so the
same input always gives the same digests and re-pushes are no-ops.
"""

import gzip
import hashlib
import io
import json
import os
import platform
import random
import subprocess
import tarfile

from .registry import MEDIA_CONFIG, MEDIA_LAYER, MEDIA_MANIFEST_V2

BUSYBOX = os.environ.get("M87_TEST_BUSYBOX", "/usr/bin/busybox")
MTIME = 1704067200  # 2024-01-01T00:00:00Z
CREATED = "2024-01-01T00:00:00Z"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

SMALL_REPO = "m87test/small"
LAYERS_REPO = "m87test/layers"

_GO_ARCH = {
    "x86_64": ("amd64", None), "amd64": ("amd64", None),
    "aarch64": ("arm64", "v8"), "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
    "i386": ("386", None), "i686": ("386", None),
    "ppc64le": ("ppc64le", None), "s390x": ("s390x", None), "riscv64": ("riscv64", None),
}


def go_arch():
    """(architecture, variant or None) of this machine in OCI/Go terms."""
    return _GO_ARCH.get(platform.machine(), (platform.machine(), None))


class Layer:
    """A gzipped layer tar stored in a file: digest (compressed), diff_id
    (uncompressed), size (compressed bytes)."""

    def __init__(self, path, digest, diff_id, size, comment=""):
        self.path, self.digest, self.diff_id, self.size = path, digest, diff_id, size
        self.comment = comment

    def descriptor(self):
        return {"mediaType": MEDIA_LAYER, "size": self.size, "digest": self.digest}


class ImageInfo:
    """What was pushed: ref ("127.0.0.1:PORT/name:tag"), repo, tag, manifest digest,
    config digest, layers ([Layer]) and the config dict."""

    def __init__(self, registry, repo, tag, manifest_digest, config_digest, layers, config):
        self.registry, self.repo, self.tag = registry, repo, tag
        self.manifest_digest, self.config_digest = manifest_digest, config_digest
        self.layers, self.config = layers, config

    @property
    def ref(self):
        return "%s/%s:%s" % (self.registry, self.repo, self.tag)

    @property
    def ref_by_digest(self):
        return "%s/%s@%s" % (self.registry, self.repo, self.manifest_digest)

    @property
    def layer_count(self):
        return len(self.layers)

    @property
    def compressed_size(self):
        return sum(layer.size for layer in self.layers)

    def __repr__(self):
        return "ImageInfo(%s, %d layers, %s)" % (self.ref, len(self.layers),
                                                 self.manifest_digest)


class _HashingWriter:
    """File-like sink that hashes and counts what passes through to `inner`."""

    def __init__(self, inner):
        self.inner, self.sha, self.size = inner, hashlib.sha256(), 0

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        return self.inner.write(data)

    def tell(self):
        return self.size

    def flush(self):
        self.inner.flush()


class _RandomReader:
    """read(n) of `size` deterministic pseudo-random bytes seeded by `seed`."""

    def __init__(self, size, seed):
        self.left = size
        self.rng = random.Random(seed)

    def read(self, n=-1):
        if n is None or n < 0 or n > self.left:
            n = self.left
        self.left -= n
        return self.rng.randbytes(n)


def _tarinfo(name, kind=tarfile.REGTYPE, mode=0o644, size=0, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.size, ti.linkname = kind, mode, size, linkname
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = MTIME, 0, 0, "root", "root"
    return ti


class LayerWriter:
    """Writes one layer: add_dir/add_file/add_symlink/add_stream, then close() -> Layer."""

    def __init__(self, blob_dir, compresslevel=6, comment=""):
        os.makedirs(blob_dir, exist_ok=True)
        self.blob_dir = blob_dir
        self.comment = comment
        self._tmp = os.path.join(blob_dir, "tmp-%d-%s" % (os.getpid(), os.urandom(4).hex()))
        self._raw = open(self._tmp, "wb")
        self._gz_out = _HashingWriter(self._raw)
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._gz_out,
                                 compresslevel=compresslevel, mtime=0)
        self._tar_out = _HashingWriter(self._gz)
        self._tar = tarfile.open(fileobj=self._tar_out, mode="w", format=tarfile.PAX_FORMAT)

    def add_dir(self, name, mode=0o755):
        self._tar.addfile(_tarinfo(name, tarfile.DIRTYPE, mode))

    def add_file(self, name, data, mode=0o644):
        if isinstance(data, str):
            data = data.encode()
        self._tar.addfile(_tarinfo(name, mode=mode, size=len(data)), io.BytesIO(data))

    def add_stream(self, name, fileobj, size, mode=0o644):
        self._tar.addfile(_tarinfo(name, mode=mode, size=size), fileobj)

    def add_symlink(self, name, target):
        self._tar.addfile(_tarinfo(name, tarfile.SYMTYPE, 0o777, linkname=target))

    def close(self):
        self._tar.close()
        self._gz.close()
        self._raw.close()
        digest = "sha256:" + self._gz_out.sha.hexdigest()
        path = os.path.join(self.blob_dir, digest.replace(":", "-"))
        os.replace(self._tmp, path)
        return Layer(path, digest, "sha256:" + self._tar_out.sha.hexdigest(),
                     self._gz_out.size, self.comment)


def busybox_applets():
    out = subprocess.run([BUSYBOX, "--list"], stdout=subprocess.PIPE, check=True, text=True)
    return sorted({a.strip() for a in out.stdout.split() if a.strip() and "/" not in a})


def build_busybox_layer(blob_dir):
    """Base layer: static busybox, applet symlinks, passwd/group, standard dirs."""
    w = LayerWriter(blob_dir, comment="busybox-static base")
    for d in ("bin", "dev", "etc", "proc", "root", "sys", "usr", "usr/bin", "usr/sbin",
              "sbin", "var", "var/run", "home"):
        w.add_dir(d, 0o700 if d == "root" else 0o755)
    w.add_dir("tmp", 0o1777)
    w.add_dir("var/tmp", 0o1777)
    with open(BUSYBOX, "rb") as f:
        data = f.read()
    w.add_file("bin/busybox", data, 0o755)
    for applet in busybox_applets():
        if applet != "busybox":
            w.add_symlink("bin/" + applet, "busybox")
    w.add_symlink("usr/bin/env", "/bin/busybox")
    w.add_file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                             "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    w.add_file("etc/group", "root:x:0:\nnobody:x:65534:\nnogroup:x:65534:\n")
    w.add_file("etc/hostname", "m87test\n")
    return w.close()


def build_version_layer(blob_dir, version):
    w = LayerWriter(blob_dir, comment="m87test version %s" % version)
    w.add_dir("etc")
    w.add_file("etc/m87test-version", "%s\n" % version)
    return w.close()


def build_random_layer(blob_dir, index, nbytes, seed):
    """One file /m87test/layer-<index>.bin of `nbytes` incompressible bytes. Stored
    with gzip level 0 so the blob is about nbytes big and building stays fast."""
    w = LayerWriter(blob_dir, compresslevel=0, comment="random %d bytes #%d" % (nbytes, index))
    w.add_dir("m87test")
    w.add_stream("m87test/layer-%d.bin" % index, _RandomReader(nbytes, "%s:%d" % (seed, index)),
                 nbytes)
    return w.close()


def service_cmd(label):
    """A shell loop that prints '<label> started', then '<label> alive N' every 10 s,
    and exits 0 at once on SIGTERM (sh as PID 1 ignores TERM unless trapped)."""
    script = ("trap 'echo \"%(l)s stopping\"; exit 0' TERM INT; "
              "echo \"%(l)s started\"; i=0; "
              "while :; do sleep 1 & wait $!; i=$((i+1)); "
              "[ $((i %% 10)) -eq 0 ] && echo \"%(l)s alive $i\"; done") % {"l": label}
    return ["sh", "-c", script]


def make_config(layers, cmd, env=(), labels=None, entrypoint=None, workdir="/"):
    arch, variant = go_arch()
    config = {
        "architecture": arch,
        "os": "linux",
        "created": CREATED,
        "config": {
            "Env": [DEFAULT_PATH] + list(env),
            "Cmd": list(cmd) if cmd is not None else None,
            "Entrypoint": list(entrypoint) if entrypoint is not None else None,
            "WorkingDir": workdir,
            "Labels": dict(labels or {}),
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": CREATED, "created_by": "m87 e2e harness: %s" % layer.comment}
                    for layer in layers],
    }
    if variant:
        config["variant"] = variant
    return config


def push_image(client, repo, tag, layers, config):
    """Upload layers and config, then PUT the schema 2 manifest. Returns ImageInfo."""
    for layer in layers:
        client.upload_blob(repo, layer.digest, layer.path, layer.size)
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    client.upload_blob(repo, config_digest, config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST_V2,
        "config": {"mediaType": MEDIA_CONFIG, "size": len(config_bytes),
                   "digest": config_digest},
        "layers": [layer.descriptor() for layer in layers],
    }
    manifest_bytes = json.dumps(manifest, indent=3).encode()
    digest = client.put_manifest(repo, tag, manifest_bytes)
    return ImageInfo(client.addr, repo, tag, digest, config_digest, list(layers), config)


class ImageBuilder:
    """Builds and pushes the test images into one registry; caches the base layer."""

    def __init__(self, client, blob_dir):
        self.client = client
        self.blob_dir = blob_dir
        self._base = None

    @property
    def base_layer(self):
        if self._base is None:
            self._base = build_busybox_layer(self.blob_dir)
        return self._base

    def build_small_image(self, version=1, repo=SMALL_REPO, tag=None):
        """m87test/small:<version>: busybox + /etc/m87test-version; prints a line."""
        layers = [self.base_layer, build_version_layer(self.blob_dir, version)]
        label = "m87test-small v%s" % version
        config = make_config(layers, service_cmd(label),
                             env=["M87TEST_VERSION=%s" % version],
                             labels={"org.m87.test.image": "small",
                                     "org.m87.test.version": str(version)})
        return push_image(self.client, repo, tag or str(version), layers, config)

    def build_layers_image(self, n_layers, layer_bytes, tag=None, seed=None, repo=LAYERS_REPO):
        """m87test/layers:<tag>: busybox base + n_layers random layers of layer_bytes.
        The manifest has n_layers + 1 layers. Same (tag, seed) -> same digests; pass a
        fresh seed (e.g. os.urandom(8).hex()) for blobs no daemon has seen."""
        if n_layers < 0 or layer_bytes < 0:
            raise ValueError("n_layers and layer_bytes must be >= 0")
        tag = tag or "%dx%d" % (n_layers, layer_bytes)
        seed = tag if seed is None else seed
        layers = [self.base_layer]
        layers += [build_random_layer(self.blob_dir, i, layer_bytes, seed)
                   for i in range(n_layers)]
        config = make_config(layers, service_cmd("m87test-layers %s" % tag),
                             labels={"org.m87.test.image": "layers",
                                     "org.m87.test.layers": str(n_layers + 1)})
        return push_image(self.client, repo, tag, layers, config)
