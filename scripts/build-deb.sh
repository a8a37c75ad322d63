#!/bin/sh
# Build the Debian packages m87, m87-agent and m87-server for amd64, arm64 and armhf into
# build-deb/ (`make deb`). Run on Debian 12 amd64 with scripts/install-deps.sh and
# scripts/install-cross.sh done.
#   scripts/build-deb.sh [ARCH...]      default: amd64 arm64 armhf
#   M87_DEB_VERSION=0.1.0+1 scripts/build-deb.sh amd64   another version (the package test's
#                                       upgrade); default: M87_VERSION of include/m87/version.h
#   M87_DEB_OUT=DIR                      where the .deb files go (default: build-deb)
# Each architecture is built by dpkg-buildpackage -a ARCH -B from a copy of packaging/debian
# in build-deb/stage-ARCH/m87/, whose debian/rules runs this tree's Makefile (`make ARCH=arm64`
# for the cross builds) into the stage's obj/, kept for the next build. The man pages are made
# once with help2man from the native build (build/bin).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

version=${M87_DEB_VERSION:-$(sed -n 's/^#define M87_VERSION "\(.*\)"$/\1/p' include/m87/version.h)}
case $version in
[0-9]*) ;;
*)
    echo "build-deb: no version: include/m87/version.h has no M87_VERSION, M87_DEB_VERSION unset" >&2
    exit 1
    ;;
esac
out=${M87_DEB_OUT:-build-deb}
case $out in /*) ;; *) out=$top/$out ;; esac
arches=${*:-amd64 arm64 armhf}
for a in $arches; do
    case $a in
    amd64 | arm64 | armhf) ;;
    *)
        echo "build-deb: architecture '$a': only amd64, arm64 and armhf are built" >&2
        exit 2
        ;;
    esac
done
for t in dpkg-buildpackage dh help2man; do
    command -v "$t" >/dev/null || {
        echo "build-deb: $t is missing: run scripts/install-deps.sh as root" >&2
        exit 1
    }
done
for a in $arches; do
    [ "$a" = amd64 ] || dpkg --print-foreign-architectures | grep -qx "$a" || {
        echo "build-deb: $a is not a dpkg architecture here: run scripts/install-cross.sh as root" >&2
        exit 1
    }
done
[ "$(dpkg --print-architecture)" = amd64 ] || {
    echo "build-deb: builds on amd64 only (this is $(dpkg --print-architecture))" >&2
    exit 1
}

# the man pages from the native programs (the same text on every architecture)
make --no-print-directory build/bin/m87 build/bin/m87-agent build/bin/m87-server
mkdir -p "$out"
./scripts/make-man.sh build/bin "$out/man"

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
date=$(date -R)
for a in $arches; do
    stage=$out/stage-$a
    src=$stage/m87
    # a fresh debian/ and man/ each time; obj/ stays, so that a rebuild only relinks
    rm -rf "$src/debian" "$src/man" "$stage"/*.deb "$stage"/*.buildinfo "$stage"/*.changes
    mkdir -p "$src"
    cp -r packaging/debian "$src/debian"
    cp -r "$out/man" "$src/man"
    cat >"$src/debian/changelog" <<CHANGELOG
m87 ($version) unstable; urgency=medium

  * Built from the m87 sources at commit $commit.

 -- m87 maintainers <maintainers@users.noreply.b-seed-ca96ab2d.example>  $date
CHANGELOG
    echo "build-deb: $a: m87 $version"
    # not the make variables of a `make deb` (ARCH=..., its jobserver) into the package's make
    (cd "$src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL M87_SRC="$top" \
        dpkg-buildpackage -a "$a" -B -d -us -uc -J"$(nproc)" \
        >"$stage/build.log" 2>&1) || {
        tail -n 40 "$stage/build.log" >&2
        echo "build-deb: $a failed; the whole log: $stage/build.log" >&2
        exit 1
    }
    for p in m87 m87-agent m87-server; do
        mv "$stage/${p}_${version}_$a.deb" "$out/"
        echo "  $out/${p}_${version}_$a.deb"
    done
done
