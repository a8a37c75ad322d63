"""Start a test environment by hand and keep it running until Ctrl-C / SIGTERM:

    cd tests/e2e && sudo python3 -m harness

It prints `export M87_TEST_...=...` lines (also written to $M87_TEST_TMPDIR/env.sh);
source them in another shell to point C test binaries or pytest (which then reuses the
environment instead of starting its own) at it.
"""

import os
import shlex
import signal
import sys

from .env import TestEnv


def main():
    env = TestEnv()
    env.start()
    try:
        lines = ["export %s=%s" % (k, shlex.quote(v)) for k, v in sorted(env.as_environ().items())]
        text = "\n".join(lines) + "\n"
        path = os.path.join(env.tmpdir, "env.sh")
        with open(path, "w") as f:
            f.write(text)
        sys.stdout.write(text)
        sys.stdout.write("# written to %s; Ctrl-C to stop and clean up\n" % path)
        sys.stdout.flush()
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        problems = env.stop()
        for p in problems:
            sys.stderr.write("cleanup: %s\n" % p)


if __name__ == "__main__":
    main()
