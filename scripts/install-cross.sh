#!/bin/sh
# Install what `make ARCH=arm64` and `make ARCH=armhf` need on Debian 12 (amd64): the arm64 and
# armhf architectures for dpkg, Debian's cross compilers, qemu-user-static (the unit tests run
# under it) and the :arm64 and :armhf builds of the libraries the build links. A no-op when all
# are there. Run as root.
set -eu

ARCHES="arm64 armhf"
TOOLS="gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf qemu-user-static pkg-config"
LIBS="libc6-dev libcurl4-openssl-dev libyajl-dev libyaml-dev libarchive-dev libmicrohttpd-dev
libsqlite3-dev libssl-dev libcmocka-dev libcurl3-gnutls nettle-dev libgnutls28-dev"

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing_arch=""
for a in $ARCHES; do
    dpkg --print-foreign-architectures | grep -qx "$a" || missing_arch="$missing_arch $a"
done
missing=""
for p in $TOOLS; do
    installed "$p" || missing="$missing $p"
done
for a in $ARCHES; do
    for p in $LIBS; do
        installed "$p:$a" || missing="$missing $p:$a"
    done
done

if [ -z "$missing_arch" ] && [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-cross: missing architectures:${missing_arch:- none}; packages:${missing:- none};" \
        "run this script as root" >&2
    exit 1
fi

for a in $missing_arch; do
    echo "install-cross: adding architecture $a"
    dpkg --add-architecture "$a"
done
echo "install-cross: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
