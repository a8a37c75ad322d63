#!/bin/sh
# Write the man pages of the three programs from their --help and --version with help2man:
# m87(1), m87-server(8), m87-agent(8), each with a COMMANDS section holding every command's
# own --help. The pages are build outputs (never committed).
#   scripts/make-man.sh BINDIR OUTDIR
# BINDIR holds m87, m87-agent and m87-server built for this machine (the text is the same on
# every architecture, so the cross packages take the pages made from the native build).
set -eu

if [ $# -ne 2 ]; then
    echo "usage: scripts/make-man.sh BINDIR OUTDIR" >&2
    exit 2
fi
bin=$1
out=$2
command -v help2man >/dev/null || {
    echo "make-man: help2man is missing (apt-get install help2man, or scripts/install-deps.sh)" >&2
    exit 1
}
for p in m87 m87-agent m87-server; do
    [ -x "$bin/$p" ] || { echo "make-man: '$bin/$p' is not an executable" >&2; exit 1; }
done
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# roff_text: stdin as literal lines in a no-fill block (backslashes, leading dots and quotes
# escaped so that roff prints them as they are)
roff_text() {
    echo ".nf"
    sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
    echo ".fi"
}

# commands PROGRAM: the commands its --help lists ("devices", "DEVICE deploy"), one a line
commands() {
    "$bin/$1" --help >"$tmp/help"
    sed -n 's/^  \(DEVICE \)\{0,1\}\([a-z][a-z-]*\).*/\1\2/p' "$tmp/help"
}

# include PROGRAM: a [COMMANDS] section with PROGRAM CMD --help for each of its commands
include() {
    prog=$1
    commands "$prog" >"$tmp/$prog.commands"
    [ -s "$tmp/$prog.commands" ] || { echo "make-man: $prog --help lists no command" >&2; exit 1; }
    {
        echo "[COMMANDS]"
        while read -r c; do
            printf '.SS "%s"\n' "$c"
            # shellcheck disable=SC2086 # "DEVICE deploy" is two words
            "$bin/$prog" $c --help >"$tmp/cmd" || {
                echo "make-man: '$prog $c --help' failed" >&2
                exit 1
            }
            roff_text <"$tmp/cmd"
        done <"$tmp/$prog.commands"
        echo "[SEE ALSO]"
        echo "m87(1), m87-agent(8), m87-server(8)"
    } >"$tmp/$prog.h2m"
}

for p in m87 m87-agent m87-server; do
    include "$p"
done

gen() {
    prog=$1
    section=$2
    name=$3
    help2man --no-info --no-discard-stderr --section="$section" --name="$name" \
        --source="m87" --manual="m87 manual" --include="$tmp/$prog.h2m" \
        --output="$out/$prog.$section" "$bin/$prog"
}
gen m87 1 "ship Docker Compose stacks to edge devices: the command line"
gen m87-agent 8 "the m87 device agent: applies deployments through the Docker Engine API"
gen m87-server 8 "the m87 control plane: devices, deployments, bundles and reports"
