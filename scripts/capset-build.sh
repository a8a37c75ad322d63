#!/bin/sh
# Make DIR look like a build directory whose m87-agent runs as the m87-agent.service unit
# limits it: the unit's CapabilityBoundingSet= (read from packaging/debian/m87-agent.service)
# and NoNewPrivileges, through setpriv, so that the end-to-end tests (M87_BUILD=DIR) show that
# the agent does its work with them. The rest of the unit's sandbox needs systemd as PID 1.
#   scripts/capset-build.sh BUILD DIR
set -eu
if [ $# -ne 2 ]; then
    echo "usage: scripts/capset-build.sh BUILD DIR" >&2
    exit 2
fi
unit=$(dirname "$0")/../packaging/debian/m87-agent.service
build=$(cd "$1" && pwd)
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
[ -n "$caps" ] || { echo "capset-build: no CapabilityBoundingSet= in $unit" >&2; exit 1; }
# CAP_CHOWN CAP_KILL -> -all,+chown,+kill
set=-all
for c in $caps; do
    set="$set,+$(echo "${c#CAP_}" | tr '[:upper:]' '[:lower:]')"
done
mkdir -p "$2/bin"
dir=$(cd "$2" && pwd)
ln -sfn "$build/tests" "$dir/tests"
for b in m87 m87-server; do ln -sf "$build/bin/$b" "$dir/bin/$b"; done
cp "$build/bin/m87-agent" "$dir/m87-agent.real"
cat >"$dir/bin/m87-agent" <<WRAP
#!/bin/sh
exec /usr/bin/setpriv --no-new-privs --bounding-set $set --inh-caps -all \\
    "$dir/m87-agent.real" "\$@"
WRAP
chmod 0755 "$dir/bin/m87-agent"
