#!/bin/sh
# Install the Debian packages that building and testing m87 need. A no-op when all are there.
# Run as root on Debian 12.
set -eu

PACKAGES="
build-essential pkg-config git ca-certificates
libcurl4-openssl-dev libyajl-dev libyaml-dev libarchive-dev libmicrohttpd-dev
libsqlite3-dev sqlite3 libssl-dev libcurl3-gnutls nettle-dev libgnutls28-dev
libcmocka-dev python3 python3-pytest python3-pytest-xdist
docker.io docker-registry busybox-static docker-compose apache2-utils
chromium chromium-driver python3-selenium
iproute2 iptables procps time valgrind clang-format
clang libclang-rt-14-dev
postgresql-15 libpq-dev haproxy
debhelper help2man lintian
podman netavark aardvark-dns crun uidmap slirp4netns fuse-overlayfs catatonit
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages:$missing; run this script as root" >&2
    exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# docker.io would start its own dockerd through systemd where there is one; the tests start
# their own under a temporary directory and never touch the system one. The same holds for
# podman's podman.socket: tests/e2e/harness/podman.py starts a service of its own.
apt-get install -y -qq --no-install-recommends $missing
