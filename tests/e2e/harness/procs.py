"""Process, mount and file helpers shared by the harness modules.

Everything here is Linux-specific and stdlib-only: process tables come from /proc,
mounts from /proc/self/mounts, unmounting goes through umount2(2) via ctypes (with
`umount -l` as a fallback).
"""

import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

_PR_SET_PDEATHSIG = 1
_MNT_DETACH = 2

_libc = None


def _get_libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def pdeathsig_preexec(sig=signal.SIGTERM):
    """Return a preexec_fn that asks the kernel to send `sig` to the child when the
    thread that spawned it dies (a safety net for a SIGKILLed test runner)."""
    libc = _get_libc()

    def _preexec():
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return _preexec


def free_port(host="127.0.0.1"):
    """A TCP port that was free a moment ago on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, interval=0.05, what="condition"):
    """Call predicate() until it returns a true value (returned) or timeout (TimeoutError)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last_exc = exc
        if time.monotonic() >= deadline:
            msg = "timed out after %.1fs waiting for %s" % (timeout, what)
            if last_exc is not None:
                msg += " (last error: %r)" % (last_exc,)
            raise TimeoutError(msg)
        time.sleep(interval)


def log_tail(path, lines=40):
    """The last `lines` lines of a log file, or a note that it is missing."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return "(no log at %s: %s)" % (path, exc)
    return "\n".join(data.splitlines()[-lines:])


# ---------------------------------------------------------------- processes


def _proc_stat(pid):
    """(state, ppid, starttime) of a pid, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[19])


def _proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def process_table():
    """{pid: (ppid, starttime, cmdline)} of all live (non-zombie) processes."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        st = _proc_stat(pid)
        if st is None or st[0] in ("Z", "X"):
            continue
        table[pid] = (st[1], st[2], _proc_cmdline(pid))
    return table


def pid_alive(pid, starttime=None):
    """True if `pid` exists, is not a zombie and (if given) has the same start time."""
    st = _proc_stat(pid)
    if st is None or st[0] in ("Z", "X"):
        return False
    return starttime is None or st[2] == starttime


def descendants(roots, table=None):
    """Set of pids below `roots` (roots excluded) in the process tree."""
    table = process_table() if table is None else table
    children = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def processes_referencing(needles, table=None):
    """Pids whose command line mentions any of `needles` (a string or a list of
    strings; this process excluded)."""
    if isinstance(needles, str):
        needles = [needles]
    table = process_table() if table is None else table
    me = os.getpid()
    return {pid for pid, (_, _, cmd) in table.items()
            if pid != me and any(n in cmd for n in needles)}


def snapshot(pids, table=None):
    """{pid: starttime} for the live pids among `pids` (guards against pid reuse)."""
    table = process_table() if table is None else table
    return {pid: table[pid][1] for pid in pids if pid in table}


def kill_snapshot(snap, sig=signal.SIGKILL):
    """Send `sig` to every still-live process of a snapshot; returns those signalled."""
    hit = []
    for pid, start in snap.items():
        if pid_alive(pid, start):
            try:
                os.kill(pid, sig)
                hit.append(pid)
            except ProcessLookupError:
                pass
    return hit


def alive_in_snapshot(snap):
    return [pid for pid, start in snap.items() if pid_alive(pid, start)]


def kill_remaining(tree, related, what, rounds=3):
    """What a daemon left after its stop: up to `rounds` times, add related() (a snapshot) to
    `tree` ({pid: starttime}, updated in place), SIGKILL whatever of it still lives and wait up
    to 5 s for that to exit ("`what` to exit" in the problem), until nothing is left to kill.
    Returns the problems."""
    problems = []
    for _ in range(rounds):
        tree.update(related())
        if not kill_snapshot(tree):
            break
        try:
            wait_for(lambda: not alive_in_snapshot(tree), 5, what=what + " to exit")
        except TimeoutError as exc:
            problems.append(str(exc))
    return problems


def stop_popen(proc, term_timeout, sig=signal.SIGTERM):
    """Stop a subprocess.Popen: `sig`, wait up to term_timeout, then SIGKILL; reaps it."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(term_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
    return proc.returncode


def spawn(argv, log_path, pdeathsig=signal.SIGKILL, **popen_kw):
    """Start a daemon of the harness: argv in a session of its own, stdin empty, stdout and
    stderr appended to log_path, `pdeathsig` sent to it should the test runner die. Extra
    keywords go to subprocess.Popen (env, user, cwd...)."""
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                preexec_fn=pdeathsig_preexec(pdeathsig), **popen_kw)
    finally:
        log.close()


def wait_ready(proc, ready, timeout, log_path, what, error=RuntimeError):
    """Wait for a daemon spawn() started: ready() returns True once it serves, or else a note of
    what it saw (an OSError counts as one). Raises `error` with the log's tail when the process
    exits first, or after timeout seconds with the last note; `what` names the daemon and what
    it should do, e.g. ("dockerd", "answer /_ping")."""
    name, should = what
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise error("%s exited with status %s; log tail:\n%s"
                        % (name, proc.returncode, log_tail(log_path)))
        try:
            last = ready()
            if last is True:
                return
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.05)
    raise error("%s did not %s within %ds (last: %s); log tail:\n%s"
                % (name, should, timeout, last, log_tail(log_path)))


class Daemon:
    """The part the harness's daemons (haproxy, PostgreSQL, the registry) share: a directory,
    `dir`, either given (kept) or made by make_dir() under dir_parent (removed by close()), the
    process (`proc`, when the harness runs it itself: start_process(), stop()), and use as a
    context manager (start() ... close()). A subclass has start() and, unless its process is a
    spawn()ed one, stop()."""

    dir_prefix = "m87daemon-"
    dir_parent = None  # tempfile's default
    stop_timeout = 10  # seconds between SIGTERM and SIGKILL

    def __init__(self, dir=None):
        self.dir = dir
        self._own_dir = False
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def make_dir(self):
        """A new temporary directory of this daemon's own (close() removes it)."""
        self.dir = tempfile.mkdtemp(prefix=self.dir_prefix, dir=self.dir_parent)
        self._own_dir = True
        return self.dir

    def start_process(self, argv, log_path, timeout, what, error=RuntimeError):
        """spawn() argv and wait_ready() with self._ready; stopped again if it does not come up."""
        self.proc = spawn(argv, log_path)
        try:
            wait_ready(self.proc, self._ready, timeout, log_path, what, error)
        except BaseException:
            self.stop()
            raise

    def _ready(self):
        raise NotImplementedError

    def stop(self, timeout=None):
        """SIGTERM, then SIGKILL after stop_timeout (or timeout) seconds. Safe to call again."""
        stop_popen(self.proc, self.stop_timeout if timeout is None else timeout)

    def close(self):
        self.stop()
        if self._own_dir and self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            self._own_dir = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- mounts


def _unescape_mount_field(s):
    # /proc/self/mounts escapes space, tab, newline and backslash as \ooo.
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 4 <= len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def mounts_under(path):
    """Mount points at or below `path`, deepest (and latest) first."""
    path = os.path.realpath(path).rstrip("/")
    found = []
    try:
        with open("/proc/self/mounts", "r", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split(" ")
        if len(fields) < 2:
            continue
        mnt = _unescape_mount_field(fields[1])
        if mnt == path or mnt.startswith(path + "/"):
            found.append(mnt)
    # Later mounts may stack on earlier ones: reverse order, then deepest first.
    found.reverse()
    found.sort(key=lambda m: m.count("/"), reverse=True)
    return found


def unmount_all_under(path, rounds=5):
    """Lazily unmount everything at or below `path`; returns what is still mounted."""
    libc = _get_libc()
    for _ in range(rounds):
        mounts = mounts_under(path)
        if not mounts:
            return []
        for mnt in mounts:
            if libc.umount2(mnt.encode(), _MNT_DETACH) != 0:
                subprocess.run(["umount", "-l", mnt], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=False)
    return mounts_under(path)
