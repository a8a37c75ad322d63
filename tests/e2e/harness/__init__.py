"""End-to-end test harness for m87: a private dockerd, a private registry and test
images pushed to it, all under one temporary directory (see env.TestEnv).

Modules: env (TestEnv), dockerd (Dockerd, DockerClient), registry (Registry,
RegistryClient), images (layer/image building and pushing), procs (process and mount
helpers). `python3 -m harness` (from tests/e2e) starts an environment for manual use.
"""

from .dockerd import DockerClient, DockerError, Dockerd, UnixHTTPConnection, split_ref
from .env import DEFAULT_LAYERS, TestEnv
from .images import ImageInfo
from .registry import Registry, RegistryClient, RegistryError

__all__ = [
    "DEFAULT_LAYERS", "DockerClient", "DockerError", "Dockerd", "ImageInfo", "Registry",
    "RegistryClient", "RegistryError", "TestEnv", "UnixHTTPConnection", "split_ref",
]
