#!/bin/sh
# The one test command: install what is needed, build, and run every test, then the whole
# suite again under AddressSanitizer and UndefinedBehaviorSanitizer. Run as root on Debian 12.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc)
make -j"$jobs" tests
make check
make -j"$jobs" asan
