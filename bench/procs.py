"""Processes of the suite: the fixed environment every command gets, running a command to
completion, spawning and waiting through pidfds, and the reaping a child subreaper must do."""

import ctypes
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ENV = {"PATH": PATH, "LC_ALL": "C", "HOME": "/root"}


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def sh(argv, timeout=120, check=False, cwd=None):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=ENV,
                       timeout=timeout, cwd=cwd)
    if check and r.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return r


def version(argv):
    """The first line a tool prints about its version, or None."""
    try:
        r = sh(argv, timeout=20)
        return (r.stdout or r.stderr).strip().splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def tail(path, n=400):
    try:
        with open(path, errors="replace") as f:
            return " ".join(f.read()[-n:].split())
    except OSError:
        return ""


def become_subreaper():
    """Container processes whose runtime exited (create's init, conmon) re-parent to the suite:
    it reaps them the way an engine does and finds any that outlive their container."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def proc_stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    return fields[0], int(fields[1])  # state, ppid


def children_alive():
    me, out = os.getpid(), []
    for p in os.listdir("/proc"):
        if p.isdigit():
            st = proc_stat(int(p))
            if st and st[1] == me and st[0] not in "ZX":
                out.append(int(p))
    return out


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    p.wait()


def reap():
    """Reaps orphans that re-parented here (exited container inits, conmon). Only called when
    no process of ours is running."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


class Spawner:
    """posix_spawn + pidfd: low overhead, exact exit times, a timeout per process, and no
    stealing of other children's exit statuses (never waitpid(-1) while something runs)."""

    def __init__(self, errdir):
        self.errdir = errdir
        self.seq = 0

    def spawn(self, argv, err=None, out=os.devnull):
        self.seq += 1
        err = err or os.path.join(self.errdir, f"spawn-{self.seq}.err")
        fa = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
              (os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
              (os.POSIX_SPAWN_OPEN, 2, err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)]
        exe = argv[0] if argv[0].startswith("/") else shutil.which(argv[0], path=PATH) or argv[0]
        pid = os.posix_spawn(exe, argv, ENV, file_actions=fa)
        return pid, err

    @staticmethod
    def wait(pid, timeout):
        """Exit status (128+N for a signal), or None after killing it on timeout."""
        fd = os.pidfd_open(pid)
        try:
            p = select.poll()
            p.register(fd, select.POLLIN)
            if not p.poll(timeout * 1000):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None
        finally:
            os.close(fd)
        _, st = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(st)
        return 128 - code if code < 0 else code

    def run(self, argv, timeout=60, err=None):
        """(status, seconds, stderr path)."""
        t0 = time.perf_counter()
        pid, err = self.spawn(argv, err=err)
        status = self.wait(pid, timeout)
        return status, time.perf_counter() - t0, err
