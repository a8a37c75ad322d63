"""The environment of ./scripts/demo.sh: a dockerd, a registry and the demo image, kept running
until SIGTERM.

    cd tests/e2e && python3 -m harness.demo --dir DIR [--docker-host unix:///var/run/docker.sock]
                                            [--project NAME]

Without --docker-host it starts a private dockerd under DIR (its own network slot, as the test
harness does); with it, that dockerd is used as it is. A private docker-registry on 127.0.0.1
is always started, and the demo image (busybox-static, no internet needed) is pushed to it as
REGISTRY/m87demo/web:1. Once everything answers, DIR/env.sh is written (atomically) with
`export` lines: DOCKER_HOST, DEMO_IMAGE, DEMO_REGISTRY, DEMO_PRIVATE_DOCKERD (1 or 0); the
demo script waits for that file. On SIGTERM or SIGINT it removes the containers and networks
of the compose project NAME (a private dockerd is then stopped with everything in it), stops
the registry and exits.
"""

import argparse
import json
import os
import shlex
import signal
import sys
import urllib.parse

from .env import TestEnv
from .images import make_config, push_image

DEMO_REPO = "m87demo/web"
DEMO_TAG = "1"
PROJECT_LABEL = "com.docker.compose.project"

# The image's own command: the same small web server the demo's compose file runs.
WEB_CMD = ["sh", "-c", "trap 'exit 0' TERM INT; mkdir -p /tmp/www; "
           "echo \"${GREETING:-hello from m87}\" > /tmp/www/index.html; "
           "httpd -f -p 8080 -h /tmp/www & wait $!"]


def build_demo_image(env):
    """busybox-static as the only layer, pushed as REGISTRY/m87demo/web:1."""
    layers = [env.builder.base_layer]
    config = make_config(layers, WEB_CMD, env=["GREETING=hello from m87"],
                         labels={"org.m87.demo": "web"})
    return push_image(env.registry_client, DEMO_REPO, DEMO_TAG, layers, config)


def remove_project(env, project, image):
    """Force-remove the project's containers, networks and the demo image (on a dockerd we did
    not start)."""
    label = "%s=%s" % (PROJECT_LABEL, project)
    query = "filters=" + urllib.parse.quote(json.dumps({"label": [label]}))
    status, items = env.docker.request("GET", "/containers/json?all=1&" + query)
    for c in items if status == 200 and isinstance(items, list) else []:
        env.docker.request("DELETE", "/containers/%s?force=1&v=1" % c["Id"])
    status, nets = env.docker.request("GET", "/networks?" + query)
    for n in nets if status == 200 and isinstance(nets, list) else []:
        env.docker.request("DELETE", "/networks/%s" % n["Id"])
    if image:
        env.docker.request("DELETE", "/images/%s?force=1" % image)


def write_env_file(path, values):
    text = "".join("export %s=%s\n" % (k, shlex.quote(v)) for k, v in sorted(values.items()))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return text


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python3 -m harness.demo")
    p.add_argument("--dir", required=True, help="where everything lives")
    p.add_argument("--docker-host", help="use this dockerd (unix://PATH) instead of a private one")
    p.add_argument("--project", default="m87demo", help="compose project removed at the end")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    root = os.path.abspath(args.dir)
    os.makedirs(root, exist_ok=True)
    environ = {"M87_TEST_TMPDIR": root}
    if args.docker_host:
        environ["M87_TEST_DOCKER_HOST"] = args.docker_host
    env = TestEnv.from_environ(environ, build_images=False)
    env_path = os.path.join(root, "env.sh")
    if os.path.exists(env_path):
        os.unlink(env_path)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    image = None
    try:
        env.start()
        image = build_demo_image(env)
        text = write_env_file(env_path, {
            "DOCKER_HOST": env.docker_host,
            "DEMO_IMAGE": image.ref,
            "DEMO_REGISTRY": env.registry,
            "DEMO_PRIVATE_DOCKERD": "1" if env.dockerd is not None else "0",
        })
        sys.stdout.write(text)
        sys.stdout.flush()
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        if os.path.exists(env_path):
            os.unlink(env_path)
        if env.docker is not None and env.dockerd is None:
            try:
                remove_project(env, args.project, image.ref if image else None)
            except OSError as exc:
                sys.stderr.write("cleanup: removing project %s: %r\n" % (args.project, exc))
        for problem in env.stop():
            sys.stderr.write("cleanup: %s\n" % problem)


if __name__ == "__main__":
    main()
