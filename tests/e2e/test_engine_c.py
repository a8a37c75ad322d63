"""Run the C end-to-end tests of the Engine client (build/tests/e2e/engine_*) against the
session's real dockerd and registry. Each binary is a cmocka suite; its output is shown on
failure so the failing case is named."""
import os
import pathlib
import subprocess

import pytest

BUILD = pathlib.Path(os.environ.get("M87_BUILD", pathlib.Path(__file__).resolve().parents[2] / "build"))
SUITES = sorted(p.name for p in (BUILD / "tests" / "e2e").glob("engine_*") if p.is_file() and os.access(p, os.X_OK))


@pytest.mark.parametrize("suite", SUITES)
def test_engine_suite(env, suite):
    environ = dict(os.environ)
    environ.update(env.as_environ())
    environ["M87_FAULTPROXY"] = str(BUILD / "tests" / "tools" / "m87-faultproxy")
    proc = subprocess.run([str(BUILD / "tests" / "e2e" / suite)], env=environ,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    out = proc.stdout.decode(errors="replace")
    print(out)
    assert proc.returncode == 0, f"{suite} failed:\n{out[-6000:]}"
    assert "[  PASSED  ]" in out, out


def test_suites_were_built():
    # a build that produced no suites must not pass silently
    assert SUITES, f"no engine_* suites under {BUILD}/tests/e2e: run make tests first"
