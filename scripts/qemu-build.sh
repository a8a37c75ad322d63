#!/bin/sh
# Make DIR look like a build directory whose programs are the ARM ones of BUILD run under
# qemu-user, so that the end-to-end tests (M87_BUILD=DIR) drive the cross-built agent
# unchanged: each of DIR/bin/ execs `qemu-QEMU_ARCH-static BUILD/bin/PROGRAM`, and the pid the
# tests signal is qemu's, which passes signals on to the program. qemu is named explicitly, so
# no binfmt_misc entry is needed (none is registered on the test machine, and registering one
# would change the whole host); the ARM loader and libraries are the :ARCH multiarch packages
# under / (scripts/install-cross.sh). The programs' children (sh, docker-credential-*) are the
# host's own and run natively.
#   scripts/qemu-build.sh QEMU_ARCH BUILD DIR        e.g. aarch64 build-arm64 build-arm64/qemu
set -eu
qemu=$(command -v "qemu-$1-static") || { echo "qemu-build: qemu-$1-static not found (scripts/install-cross.sh)" >&2; exit 1; }
build=$(cd "$2" && pwd)
mkdir -p "$3/bin"
dir=$(cd "$3" && pwd)
ln -sfn "$build/tests" "$dir/tests"
for b in m87 m87-agent m87-server; do
    [ -x "$build/bin/$b" ] || { echo "qemu-build: $build/bin/$b not built" >&2; exit 1; }
    cat >"$dir/bin/$b" <<WRAP
#!/bin/sh
exec $qemu "$build/bin/$b" "\$@"
WRAP
    chmod 0755 "$dir/bin/$b"
done
