#!/bin/sh
# Make DIR look like a build directory whose m87-agent runs under valgrind, so that the
# end-to-end tests (M87_BUILD=DIR) exercise the agent under memcheck unchanged. A valgrind
# finding makes the agent exit with status 99, which fails the test that ran it; the report
# is kept in DIR/valgrind/.
#   scripts/valgrind-build.sh BUILD DIR
set -eu
build=$(cd "$1" && pwd)
mkdir -p "$2/bin" "$2/valgrind"
dir=$(cd "$2" && pwd)
ln -sfn "$build/tests" "$dir/tests"
for b in m87 m87-server; do ln -sf "$build/bin/$b" "$dir/bin/$b"; done
cp "$build/bin/m87-agent" "$dir/m87-agent.real"
# by its path: the daemon's tests run the agent with a PATH of a few tools only
vg=$(command -v valgrind)
cat >"$dir/bin/m87-agent" <<WRAP
#!/bin/sh
exec $vg --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \\
    --show-leak-kinds=definite --track-fds=no --log-file="$dir/valgrind/%p.log" \\
    "$dir/m87-agent.real" "\$@"
WRAP
chmod 0755 "$dir/bin/m87-agent"
