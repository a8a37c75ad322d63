#!/usr/bin/env python3
"""Which statements of the store (src/server/store*.c) PostgreSQL takes as they are: a study
tool for the move of the store onto db.h (issue 18), not a test.

    M87_BUILD=build tests/db/check_store_sql.py [FILES...]

Starts the harness's PostgreSQL, applies schema-pg.c's migrations through db_conformance (they
land in the schema m87_conf), then PREPAREs every SQL string of the files (after the C
preprocessor, so that macros and adjacent literals are joined; ?N written $N) against it and prints each one PostgreSQL refuses, with
its reason. Statements put together at run time (a '%' format) are listed apart. Exit status 0:
it reports, it does not judge.

    --translated    first apply the mechanical translations the study found (TRANSLATIONS), to
                    see what is left after them
"""
import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness.postgres import Postgres  # noqa: E402

BUILD = os.environ.get("M87_BUILD", os.path.join(ROOT, "build"))
LITERALS = re.compile(r'"((?:[^"\\\n]|\\.)*)"(?:\s*"((?:[^"\\\n]|\\.)*)")*', re.S)
STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
SQL_START = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|REPLACE)\b")


NAME = re.compile(r"(\w+)\s*(?:\[\s*\])?\s*=\s*$")


# SQLite-only constructs of the store and their common-dialect form (docs/design.md,
# "PostgreSQL backend")
TRANSLATIONS = [
    (re.compile(r"INSERT OR IGNORE INTO (.*)$", re.S), r"INSERT INTO \1 ON CONFLICT DO NOTHING"),
    (re.compile(r"\bIS NOT (\?\d+)"), r"IS DISTINCT FROM \1"),
    (re.compile(r"\bIFNULL\("), "COALESCE("),
    (re.compile(r"LENGTH\(CAST\((\w+) AS BLOB\)\)"), r"octet_length(\1)"),
]


def preprocessed(path):
    cflags = subprocess.run(["pkg-config", "--cflags", "sqlite3", "libpq"], capture_output=True,
                            text=True).stdout.split()
    return subprocess.run(["cc", "-E", "-P", "-std=c11", "-D_GNU_SOURCE", "-I" + ROOT + "/include",
                           "-I" + ROOT + "/src"] + cflags + [path], capture_output=True,
                          text=True, check=True).stdout


def statements(path):
    """(name of the constant or the text before the string, sql) of each SQL string"""
    text = preprocessed(path)
    for m in LITERALS.finditer(text):
        sql = "".join(s.encode().decode("unicode_escape") for s in STRING.findall(m.group(0)))
        if SQL_START.match(sql):
            before = text[max(0, m.start() - 80):m.start()]
            name = NAME.search(before)
            yield name.group(1) if name else " ".join(before.split()[-3:]), sql


def main():
    args = sys.argv[1:]
    translated = "--translated" in args
    args = [a for a in args if a != "--translated"]
    files = args or sorted(glob.glob(os.path.join(ROOT, "src", "server", "store*.c")))
    with Postgres() as pg:
        r = subprocess.run([os.path.join(BUILD, "tests", "db", "db_conformance"), pg.url()],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            sys.exit("db_conformance failed:\n" + r.stdout + r.stderr)
        total = refused = 0
        for path in files:
            for line, sql in statements(path):
                where = "%s %s" % (os.path.relpath(path, ROOT), line)
                if "%" in re.sub(r"'[^']*'", "", sql):
                    print("RUNTIME  %s  %s" % (where, " ".join(sql.split())[:120]))
                    continue
                total += 1
                if translated:
                    for pattern, repl in TRANSLATIONS:
                        sql = pattern.sub(repl, sql)
                pgsql = re.sub(r"\?(\d+)", r"$\1", sql)
                p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", pg.url(), "-c",
                                    "SET search_path TO m87_conf; PREPARE s AS " + pgsql],
                                   capture_output=True, text=True, timeout=60)
                if p.returncode != 0:
                    refused += 1
                    reason = p.stderr.strip().splitlines()[0] if p.stderr.strip() else "?"
                    print("REFUSED  %s  %s\n         %s" % (where, reason,
                                                          " ".join(sql.split())[:200]))
        print("%d statements, %d refused by PostgreSQL" % (total, refused))


if __name__ == "__main__":
    main()
