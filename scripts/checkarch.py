#!/usr/bin/env python3
"""Check the layering of src/ (docs/design.md): every include and every call goes down an arrow.

    scripts/checkarch.py BUILD_DIR

Four checks, each error naming the file:
  - includes: a file of module M includes only headers of M or of a module M may use; a private
    header (src/M/*.h) only from src/M/ itself;
  - calls: a global symbol an object of M needs (nm -u) is defined by M or by a module M may use;
  - circles: the files of one module do not call each other in a circle (a strongly connected
    component of the file call graph), so that each module splits into layers of files;
  - database backends: sqlite3 is named and called only in src/server/db-sqlite*.c, libpq only in
    src/server/db-pg*.c, and server/db.h is included only by the store and the db layer;
    the programs m87 and m87-agent link neither library (readelf's NEEDED).
Exit status 1 on any error. Reads the objects the build made under BUILD_DIR/src/.
"""
import os
import re
import subprocess
import sys

# who may use whom: the arrows of docs/design.md
MAY_USE = {
    "common": set(),
    "spec": {"common"},
    "engine": {"common"},
    "compose": {"common", "spec", "engine"},
    "runner": {"common", "spec", "engine", "compose"},
    "agent": {"common", "spec", "engine", "compose", "runner"},
    "server": {"common", "spec"},
    "cli": {"common", "spec"},
}

# the module each public header of include/m87/ belongs to (by its name's first word)
HEADER_PREFIX = {
    "engine": "engine",
    "compose": "compose",
    "runner": "runner",
    "spec": "spec",
}

# circles of files accepted, each with its reason: {module: [(files, reason)]}. A circle not
# listed fails; one listed that changed fails too, so that a new file cannot join it unseen.
# None is accepted today: every module's files form layers.
ACCEPTED_CIRCLES = {}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

# The server's database backends (docs/design.md, Database backends): each library's API is
# spoken in its backend's file alone, and only the store and the db layer see the database.
BACKENDS = {
    "src/server/db-sqlite": (re.compile(r"\bsqlite3"), re.compile(r"^sqlite3_")),
    "src/server/db-pg": (re.compile(r"\b(PQ[a-z]\w*|PG(conn|result)|libpq-fe\.h)"),
                         re.compile(r"^(PQ|lo_)")),
}
DB_HEADERS = {
    "server/db.h": re.compile(r"^src/server/(db[-.]|store[-.]|schema-)"),
    "server/db-backend.h": re.compile(r"^src/server/db[-.]"),
}


def header_module(path):
    """The module of a header named as included ("m87/x.h", "agent/daemon.h"), or None."""
    parts = path.split("/")
    if len(parts) != 2:
        return None
    folder, name = parts
    if folder == "m87":
        word = re.split(r"[-.]", name)[0]
        return HEADER_PREFIX.get(word, "common")
    if folder in MAY_USE:
        return folder
    return None


def source_files(root):
    """(module, path) of every .c and .h under src/ and include/m87/."""
    for mod in MAY_USE:
        d = os.path.join(root, "src", mod)
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if name.endswith((".c", ".h")):
                yield mod, os.path.join("src", mod, name)
    inc = os.path.join(root, "include", "m87")
    for name in sorted(os.listdir(inc)):
        if name.endswith(".h"):
            yield header_module("m87/" + name), os.path.join("include", "m87", name)


def check_includes(root):
    errors = []
    for mod, rel in source_files(root):
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            text = f.read()
        for m in INCLUDE_RE.finditer(text):
            inc = m.group(1)
            line = text.count("\n", 0, m.start()) + 1
            if "/" not in inc:
                errors.append("%s:%d: include \"%s\": name headers by their path "
                              "(\"%s/%s\" or \"m87/...\")" % (rel, line, inc, mod, inc))
                continue
            owner = header_module(inc)
            if owner is None:
                errors.append("%s:%d: include \"%s\": not a header of a module" % (rel, line, inc))
                continue
            private = not inc.startswith("m87/")
            if private and owner != mod:
                errors.append("%s:%d: include \"%s\": a private header of %s (only src/%s/ may)"
                              % (rel, line, inc, owner, owner))
            elif owner != mod and owner not in MAY_USE[mod]:
                errors.append("%s:%d: include \"%s\": %s may not use %s (it may use: %s)"
                              % (rel, line, inc, mod, owner, ", ".join(sorted(MAY_USE[mod])) or
                                 "nothing of ours"))
    return errors


def nm(path, *flags):
    out = subprocess.run(["nm", *flags, path], check=True, capture_output=True, text=True).stdout
    return out.splitlines()


def read_objects(root, build):
    """{module: {file: (defined set, undefined set)}} from the objects of src/ (mains included)."""
    objs = {}
    for mod in MAY_USE:
        d = os.path.join(build, "src", mod)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith(".o"):
                continue
            src = os.path.join("src", mod, name[:-2] + ".c")
            if not os.path.exists(os.path.join(root, src)):
                continue  # an object of a file that moved away
            path = os.path.join(d, name)
            defined = {ln.split()[-1] for ln in nm(path, "-g", "--defined-only")}
            undefined = {ln.split()[-1] for ln in nm(path, "-u")}
            objs.setdefault(mod, {})[src] = (defined, undefined)
    return objs


def check_calls(objs):
    errors = []
    owner = {}
    for mod, files in objs.items():
        for src, (defined, _) in files.items():
            for sym in defined:
                owner.setdefault(sym, (mod, src))
    for mod, files in objs.items():
        for src, (_, undefined) in sorted(files.items()):
            for sym in sorted(undefined):
                if sym not in owner:
                    continue  # libc or a library
                omod, osrc = owner[sym]
                if omod != mod and omod not in MAY_USE[mod]:
                    errors.append("%s: calls %s (%s, module %s): %s may not use %s"
                                  % (src, sym, osrc, omod, mod, omod))
    return errors, owner


def circles(nodes, edges):
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    out.append(comp)
    return out


def check_circles(objs, owner):
    errors = []
    for mod, files in sorted(objs.items()):
        edges = {}
        for src, (_, undefined) in files.items():
            for sym in undefined:
                o = owner.get(sym)
                if o and o[0] == mod and o[1] != src:
                    edges.setdefault(src, set()).add(o[1])
        for comp in circles(set(files), edges):
            names = {os.path.basename(p) for p in comp}
            if any(names == set(ok) for ok, _ in ACCEPTED_CIRCLES.get(mod, [])):
                continue
            calls = []
            for a in sorted(comp):
                for b in sorted(edges.get(a, ())):
                    if b in comp:
                        calls.append("%s -> %s" % (os.path.basename(a), os.path.basename(b)))
            errors.append("src/%s: %d files call each other in a circle: %s\n    %s"
                          % (mod, len(comp), " ".join(sorted(names)), "\n    ".join(calls)))
    return errors


def check_backends(root, objs):
    """A backend's library named (source) or called (object) only in its own file; db.h only in
    the store and the db layer."""
    errors = []
    for mod, rel in source_files(root):
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            text = f.read()
        for own, (word, _) in BACKENDS.items():
            m = word.search(text)
            if not rel.startswith(own) and m:
                line = text.count("\n", 0, m.start()) + 1
                errors.append("%s:%d: '%s': a database library is spoken only in %s*.c (db.h)"
                              % (rel, line, m.group(0), own))
        for m in INCLUDE_RE.finditer(text):
            who = DB_HEADERS.get(m.group(1))
            if who and not who.match(rel):
                line = text.count("\n", 0, m.start()) + 1
                errors.append("%s:%d: include \"%s\": only the store and the db layer see the "
                              "database" % (rel, line, m.group(1)))
    for mod, files in objs.items():
        for src, (_, undefined) in sorted(files.items()):
            for own, (_, sym_re) in BACKENDS.items():
                calls = sorted(s for s in undefined if sym_re.match(s))
                if not src.startswith(own) and calls:
                    errors.append("%s: calls %s: a database library is called only from %s*.c"
                                  % (src, ", ".join(calls[:3]), own))
    return errors


# the programs that must not carry a database library (docs/design.md, Database backends)
NO_DB_PROGRAMS = ("m87", "m87-agent")
DB_LIBRARIES = re.compile(r"\[(lib(pq|sqlite3)\.so[^\]]*)\]")


def check_programs(build):
    errors = []
    for prog in NO_DB_PROGRAMS:
        path = os.path.join(build, "bin", prog)
        if not os.path.exists(path):
            continue
        out = subprocess.run(["readelf", "-d", path], check=True, capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            m = DB_LIBRARIES.search(line) if "(NEEDED)" in line else None
            if m:
                errors.append("%s: links %s: a database library belongs to m87-server only"
                              % (path, m.group(1)))
    return errors


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: checkarch.py BUILD_DIR")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    errors = check_includes(root)
    objs = read_objects(root, sys.argv[1])
    call_errors, owner = check_calls(objs)
    errors += call_errors
    errors += check_circles(objs, owner)
    errors += check_backends(root, objs)
    errors += check_programs(sys.argv[1])
    for e in errors:
        print("checkarch: " + e)
    if errors:
        print("checkarch: %d errors against the layers of docs/design.md" % len(errors))
        return 1
    print("checkarch: %d modules, includes, calls and circles as docs/design.md says"
          % len(objs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
