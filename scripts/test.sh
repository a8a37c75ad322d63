#!/bin/sh
# The one test command: install what is needed, build, and run every test, and the whole suite
# again under AddressSanitizer and UndefinedBehaviorSanitizer. Run as root on Debian 12.
#
# The runs go side by side, each with its own dockerd and registry (the end-to-end tests
# mostly wait on containers, so they share the machine's cores well): the suite, the suite
# under the sanitizers, and the agent under valgrind through some of its end-to-end tests
# (make valgrind); each writes its log under build-logs/, whose tail is printed at the end.
# The fuzz harnesses replay their corpora and every crash input found so far first.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc)
make -j"$jobs" tests
make -j"$jobs" asan-tests
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
[ $rc = 0 ] && [ $arc = 0 ] && [ $vrc = 0 ]
