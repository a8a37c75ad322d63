#!/bin/sh
# The one test command: install what is needed, build, and run every test, and the whole suite
# again under AddressSanitizer and UndefinedBehaviorSanitizer. Run as root on Debian 12.
#
# The runs go side by side, each with its own dockerd and registry (the end-to-end tests
# mostly wait on containers, so they share the machine's cores well): the suite, the suite
# under the sanitizers, and the agent under valgrind through some of its end-to-end tests
# (make valgrind); each writes its log under build-logs/, whose tail is printed at the end.
# Beside them, the arm64 and armhf builds: their unit tests and the agent's compose and runner
# end-to-end tests under qemu-user against a dockerd of their own (make e2e-arm64, e2e-armhf).
# The fuzz harnesses replay their corpora and every crash input found so far first. And the
# server-facing end-to-end tests once more with every m87-server on PostgreSQL (make check-pg).
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/install-cross.sh
jobs=$(nproc)
make -j"$jobs" tests
make -j"$jobs" asan-tests
make -j"$jobs" ARCH=arm64
make -j"$jobs" ARCH=armhf
make checksrc
make checkarch
make -j"$jobs" fuzz-regress
mkdir -p build-logs
PYTEST_ARGS="${PYTEST_ARGS:---durations=10}"
export PYTEST_ARGS
make check >build-logs/check.log 2>&1 &
check=$!
make asan >build-logs/asan.log 2>&1 &
asan=$!
make valgrind >build-logs/valgrind.log 2>&1 &
vg=$!
{ make ARCH=arm64 unit && make e2e-arm64; } >build-logs/arm64.log 2>&1 &
arm64=$!
{ make ARCH=armhf unit && make e2e-armhf; } >build-logs/armhf.log 2>&1 &
armhf=$!
make check-pg >build-logs/check-pg.log 2>&1 &
pg=$!
rc=0
wait "$check" || rc=1
echo "==== make check ($([ $rc = 0 ] && echo passed || echo FAILED))"
tail -n 40 build-logs/check.log
arc=0
wait "$asan" || arc=1
echo "==== make asan ($([ $arc = 0 ] && echo passed || echo FAILED))"
tail -n 40 build-logs/asan.log
vrc=0
wait "$vg" || vrc=1
echo "==== make valgrind ($([ $vrc = 0 ] && echo passed || echo FAILED))"
tail -n 20 build-logs/valgrind.log
a64=0
wait "$arm64" || a64=1
echo "==== arm64 under qemu ($([ $a64 = 0 ] && echo passed || echo FAILED))"
tail -n 20 build-logs/arm64.log
a32=0
wait "$armhf" || a32=1
echo "==== armhf under qemu ($([ $a32 = 0 ] && echo passed || echo FAILED))"
tail -n 20 build-logs/armhf.log
pgrc=0
wait "$pg" || pgrc=1
echo "==== make check-pg ($([ $pgrc = 0 ] && echo passed || echo FAILED))"
tail -n 20 build-logs/check-pg.log
[ $rc = 0 ] && [ $arc = 0 ] && [ $vrc = 0 ] && [ $a64 = 0 ] && [ $a32 = 0 ] && [ $pgrc = 0 ]
