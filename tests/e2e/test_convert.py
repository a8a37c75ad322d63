"""End-to-end tests of `m87-agent convert`: a compose project made into a run spec and a bundle.

The real binary runs on real files. The proof that everything needed travelled: the job's files
and bundle, unpacked by Python into another directory of the same name, give the same
`m87-agent compose config` as the original project. No dockerd is needed.
"""

import hashlib
import io
import json
import os
import pathlib
import subprocess
import tarfile

import yaml

from compose_util import BUILD

AGENT = str(BUILD / "bin" / "m87-agent")

COMPOSE = """\
services:
  web:
    image: busybox:${TAG:-latest}
    env_file: [app.env]
    configs:
      - source: settings
        target: /etc/app/settings.ini
    secrets: [token]
    volumes:
      - ./static:/srv/static:ro
      - ./logo.png:/srv/logo.png
      - ./conf/site.conf:/etc/site.conf
      - /var/run/docker.sock:/var/run/docker.sock
      - ../shared:/shared
      - ./created-on-device:/state
  worker:
    image: busybox
    env_file: app.env
    command: ["sh", "-c", "echo $$GREETING"]
configs:
  settings:
    file: ./conf/settings.ini
secrets:
  token:
    file: token.txt
"""

# PNG header bytes: binary, with NUL and CR LF
LOGO = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256))


def write(root, rel, data, mode=0o644):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    path.chmod(mode)
    return path


def make_project(root):
    """The project 'shop' under root: every kind of local reference."""
    proj = root / "shop"
    write(proj, "compose.yaml", COMPOSE)
    write(proj, ".env", "TAG=1.36\n")
    write(proj, "app.env", "GREETING=hello from m87\nLEVEL=3\n")
    write(proj, "conf/settings.ini", "[main]\nmode = edge\n")
    write(proj, "conf/site.conf", "server { listen 80; }\n")
    write(proj, "token.txt", "s3cret\n")
    write(proj, "logo.png", LOGO)
    write(proj, "static/index.html", "<h1>shop</h1>\n")
    write(proj, "static/js/app.js", "console.log('hi')\n")
    write(proj, "static/bin/run.sh", "#!/bin/sh\necho run\n", 0o755)
    write(proj, "static/img/dot.gif", b"GIF89a\x01\x00\x01\x00\x00\xff\x00,")
    write(proj, "unused.txt", "not referenced\n")
    return proj


def run(args, cwd, check=None):
    # a clean environment (nothing of the caller's interpolates), sanitizer options aside
    environ = {k: v for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")}
    environ.update(PATH=os.environ.get("PATH", "/usr/bin:/bin"), HOME=str(cwd))
    proc = subprocess.run([AGENT] + args, cwd=cwd, capture_output=True, text=True, timeout=60,
                          env=environ)
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def convert(proj, bundles, *extra, fmt="yaml"):
    bundles.mkdir(exist_ok=True)
    proc = run(["convert", "--bundle-dir", str(bundles), "--format", fmt] + list(extra), proj,
               check=0)
    doc = json.loads(proc.stdout) if fmt == "json" else yaml.safe_load(proc.stdout)
    assert list(doc) == ["jobs"] and len(doc["jobs"]) == 1
    return doc["jobs"][0], proc


def read_bundle(path):
    """{name: (type, mode, bytes)} of a tar.gz, checking the reproducible header fields."""
    entries = {}
    with tarfile.open(path, "r:gz") as tar:
        names = tar.getnames()
        assert names == sorted(names)
        for m in tar.getmembers():
            assert m.mtime == 0 and m.uid == 0 and m.gid == 0, m.name
            assert m.uname == "" and m.gname == "", m.name
            assert m.isfile() or m.isdir(), m.name
            data = tar.extractfile(m).read() if m.isfile() else None
            entries[m.name.rstrip("/")] = ("dir" if m.isdir() else "file", m.mode, data)
    return entries


def unpack(job, bundle_path, dest):
    """What the runner does: extract the bundle, then write the files over it."""
    dest.mkdir(parents=True)
    if bundle_path:
        for name, (kind, mode, data) in read_bundle(bundle_path).items():
            assert not name.startswith("/") and ".." not in name.split("/")
            if kind == "dir":
                (dest / name).mkdir(parents=True, exist_ok=True)
            else:
                write(dest, name, data, mode)
    for name, content in job["files"].items():
        write(dest, name, content)


def config(proj, files=()):
    args = ["compose"]
    for f in files:
        args += ["-f", f]
    return run(args + ["config"], proj, check=0).stdout


def compose_files(job):
    """The -f arguments of the job's commands, in order."""
    words = job["steps"][0]["run"].split()
    return [words[i + 1] for i, w in enumerate(words) if w == "-f"]


def test_convert_project_travels(tmp_path):
    proj = make_project(tmp_path / "src")
    job, proc = convert(proj, tmp_path / "bundles")

    assert job["id"] == "shop"
    assert job["type"] == "service" and job["enabled"] is True
    assert job["workdir"] == {"mode": "ephemeral"}
    # text inline (the compose file first), exactly as on disk
    assert list(job["files"]) == ["compose.yaml", ".env", "app.env", "conf/settings.ini",
                                  "conf/site.conf", "token.txt"]
    for name, content in job["files"].items():
        assert content == (proj / name).read_text(), name
    # the steps of the seed document; compose.yaml is found without -f
    steps = [(s["name"], s["run"], s["timeout"]) for s in job["steps"]]
    assert steps == [("pull", "docker compose pull", "15m"),
                     ("up", "docker compose up -d --remove-orphans", "10m")]
    assert job["steps"][0]["retry"] == {"attempts": 3, "backoff": "15s", "on_exit_codes": []}
    assert job["steps"][1]["undo"] == {"run": "docker compose down --remove-orphans",
                                       "timeout": "5m"}
    assert job["stop"]["steps"][0]["run"] == "docker compose down --remove-orphans"
    assert job["on_failure"] == {"undo": "executed_steps"}

    # the bundle: named by the sha256 of its bytes, holding the binary file and the directory
    digest = job["bundle"]
    assert digest.startswith("sha256:")
    hexdigest = digest[len("sha256:"):]
    bundle = tmp_path / "bundles" / ("sha256-%s.tar.gz" % hexdigest)
    assert hashlib.sha256(bundle.read_bytes()).hexdigest() == hexdigest
    assert os.listdir(tmp_path / "bundles") == [bundle.name]
    assert str(bundle) in proc.stderr and digest in proc.stderr
    entries = read_bundle(bundle)
    assert sorted(entries) == ["logo.png", "static", "static/bin", "static/bin/run.sh",
                               "static/img", "static/img/dot.gif", "static/index.html",
                               "static/js", "static/js/app.js"]
    assert entries["logo.png"] == ("file", 0o644, LOGO)
    assert entries["static/bin/run.sh"][1] == 0o755
    assert entries["static"][:2] == ("dir", 0o755)
    for name, (kind, _, data) in entries.items():
        if kind == "file":
            assert data == (proj / name).read_bytes(), name

    # unpacked elsewhere under the same name, the project is the same project
    dest = tmp_path / "device" / "shop"
    unpack(job, bundle, dest)
    assert not (dest / "unused.txt").exists()
    # (../shared names a place next to the workdir on the device: it stays relative)
    want = config(proj).replace(str(proj), "PROJECT").replace(str(proj.parent), "PARENT")
    got = config(dest).replace(str(dest), "PROJECT").replace(str(dest.parent), "PARENT")
    assert got == want
    assert "/var/run/docker.sock" in got and "GREETING: hello from m87" in got
    assert "source: PARENT/shared" in got


def test_convert_is_reproducible(tmp_path):
    proj = make_project(tmp_path / "src")
    job1, proc1 = convert(proj, tmp_path / "b1")
    # other times on every file: the same run spec and the same bundle bytes
    for path in proj.rglob("*"):
        os.utime(path, (1234567, 1234567))
    job2, proc2 = convert(proj, tmp_path / "b2")
    assert proc1.stdout == proc2.stdout
    name = "sha256-%s.tar.gz" % job1["bundle"][len("sha256:"):]
    assert (tmp_path / "b1" / name).read_bytes() == (tmp_path / "b2" / name).read_bytes()
    # JSON says the same
    job3, _ = convert(proj, tmp_path / "b3", fmt="json")
    assert job3 == job1
    # one changed byte in a bundled file: another bundle, another job
    write(proj, "static/index.html", "<h1>shop!</h1>\n")
    job4, _ = convert(proj, tmp_path / "b4")
    assert job4["bundle"] != job1["bundle"]


def test_convert_several_files_and_id(tmp_path):
    proj = tmp_path / "multi"
    write(proj, "base.yml", "services:\n  web:\n    image: busybox\n    env_file: web.env\n")
    write(proj, "prod.yml", "services:\n  web:\n    environment: {MODE: prod}\n")
    write(proj, "web.env", "A=1\n")
    job, proc = convert(proj, tmp_path / "bundles", "-f", "base.yml", "-f", "prod.yml",
                        "--id", "web-prod")
    assert job["id"] == "web-prod"
    assert "bundle" not in job
    assert os.listdir(tmp_path / "bundles") == []
    assert "bundle" not in proc.stderr
    assert list(job["files"]) == ["base.yml", "prod.yml", "web.env"]
    prefix = "docker compose -p multi -f base.yml -f prod.yml"
    assert [s["run"] for s in job["steps"]] == [prefix + " pull",
                                                prefix + " up -d --remove-orphans"]
    assert job["stop"]["steps"][0]["run"] == prefix + " down --remove-orphans"
    dest = tmp_path / "device" / "multi"
    unpack(job, None, dest)
    files = compose_files(job)
    assert files == ["base.yml", "prod.yml"]
    want = config(proj, files).replace(str(proj), "PROJECT")
    assert config(dest, files).replace(str(dest), "PROJECT") == want
    assert "MODE: prod" in want


def test_convert_project_directory(tmp_path):
    """A compose file below the project directory: the device must use the same directory."""
    proj = tmp_path / "site"
    write(proj, "deploy/compose.yml", "services:\n  web:\n    image: busybox\n"
                                      "    env_file: app.env\n    volumes: [./www:/www]\n")
    write(proj, "app.env", "A=1\n")
    write(proj, "www/index.html", "hi\n" * 30000)
    job, _ = convert(proj, tmp_path / "bundles", "-f", "deploy/compose.yml",
                     "--project-directory", ".")
    assert list(job["files"]) == ["deploy/compose.yml", "app.env"]
    assert job["steps"][0]["run"] == ("docker compose --project-directory . "
                                      "-f deploy/compose.yml pull")
    bundle = tmp_path / "bundles" / ("sha256-%s.tar.gz" % job["bundle"][len("sha256:"):])
    assert sorted(read_bundle(bundle)) == ["www", "www/index.html"]
    dest = tmp_path / "device" / "site"
    unpack(job, bundle, dest)
    args = ["--project-directory", ".", "-f", "deploy/compose.yml"]
    want = run(["compose"] + args + ["config"], proj, check=0).stdout
    got = run(["compose"] + args + ["config"], dest, check=0).stdout
    assert got.replace(str(dest), "PROJECT") == want.replace(str(proj), "PROJECT")
    assert "PROJECT/www" in got.replace(str(dest), "PROJECT")
    # a bundle directory that does not exist yet is created
    run(["convert", "-f", "deploy/compose.yml", "--project-directory", ".", "--bundle-dir",
         str(tmp_path / "new" / "dir")], proj, check=0)
    assert os.listdir(tmp_path / "new" / "dir") == [bundle.name]


def test_convert_refuses_outside_references(tmp_path):
    proj = tmp_path / "app"
    write(tmp_path, "outside.env", "X=1\n")
    write(proj, "ok.env", "OK=1\n")
    write(proj, "compose.yaml", "services:\n  web:\n    image: busybox\n"
                                "    env_file:\n      - ok.env\n      - ../outside.env\n")
    proc = run(["convert", "-f", "compose.yaml", "--bundle-dir", str(tmp_path)], proj, check=2)
    assert proc.stdout == ""
    assert proc.stderr == ("m87-agent: compose.yaml:6:9: services.web.env_file[1]: '%s' is "
                           "outside the project directory '%s': it would not exist on the "
                           "device\n" % (tmp_path / "outside.env", proj))
    write(proj, "compose.yaml", "services:\n  web:\n    image: busybox\n    secrets: [s]\n"
                                "secrets:\n  s:\n    file: /etc/hostname\n")
    # found by itself, the compose file is named by its absolute path, as the loader does
    proc = run(["convert", "--bundle-dir", str(tmp_path)], proj, check=2)
    assert proc.stderr == ("m87-agent: %s:7:11: secrets.s.file: '/etc/hostname' is "
                           "outside the project directory '%s': it would not exist on the "
                           "device\n" % (proj / "compose.yaml", proj))
    # a symlink among the travelling files
    write(proj, "data/real.txt", "x\n")
    os.symlink("/etc/hostname", proj / "data" / "host")
    write(proj, "compose.yaml", "services:\n  web:\n    image: busybox\n"
                                "    volumes: [./data:/data]\n")
    proc = run(["convert", "--bundle-dir", str(tmp_path)], proj, check=2)
    assert "'%s' is a symbolic link" % (proj / "data" / "host") in proc.stderr
    assert not list(tmp_path.glob("sha256-*")) and not list(tmp_path.glob(".bundle*"))


def test_convert_usage(tmp_path):
    proc = run(["convert", "--help"], tmp_path, check=0)
    assert proc.stdout.startswith("usage: m87-agent convert")
    assert "--bundle-dir" in proc.stdout
    assert "convert" in run(["--help"], tmp_path, check=0).stdout
    proc = run(["convert", "--nope"], tmp_path, check=2)
    assert "unknown option '--nope'" in proc.stderr
    proc = run(["convert", "--format", "xml"], tmp_path, check=2)
    assert "invalid value 'xml' for --format" in proc.stderr
    proc = run(["convert", "extra"], tmp_path, check=2)
    assert "unexpected argument 'extra'" in proc.stderr
    # no compose file here, and a bad one
    assert run(["convert"], tmp_path, check=2).stderr.startswith("m87-agent: ")
    write(tmp_path, "compose.yaml", "services:\n  web:\n    imag: busybox\n")
    proc = run(["convert", "-f", "compose.yaml"], tmp_path, check=2)
    assert proc.stderr == "m87-agent: compose.yaml:3:5: services.web: unknown field 'imag'\n"
    write(tmp_path, "compose.yaml", "services:\n  web:\n    image: busybox\n")
    proc = run(["convert", "--id", "no/slash"], tmp_path, check=2)
    assert "invalid job id 'no/slash'" in proc.stderr
