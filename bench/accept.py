"""The accept section: connections per second of org.voidoci.accept (a fresh void per TCP
connection, the connection as the program's stdin/stdout) against a fork-per-connection server
doing the same work, `socat TCP-LISTEN:PORT,fork EXEC:/bin/cat`, in the same run: sequential
clients, and 8 concurrent ones. Each connection sends one line, half-closes and reads the echo
to EOF. The same program (/bin/cat, the host's) serves both."""

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

from hostsetup import REPO
from procs import sh, tail
from stats import stats

CLIENT_LINE = b"one line through a void\n"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def one(port):
    """One connection, start to EOF; its time in ms, or None when it failed."""
    t0 = time.perf_counter()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(CLIENT_LINE)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            c = s.recv(4096)
            if not c:
                break
            got += c
        s.close()
    except OSError:
        return None
    return (time.perf_counter() - t0) * 1000 if got == CLIENT_LINE else None


def wait_listening(port, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def clients(port, total, parallel):
    """`total` connections by `parallel` clients: connections per second, per-connection ms, failures."""
    times, fails, lock = [], [0], threading.Lock()
    per = [total // parallel + (1 if i < total % parallel else 0) for i in range(parallel)]

    def worker(n):
        for _ in range(n):
            ms = one(port)
            with lock:
                if ms is None:
                    fails[0] += 1
                else:
                    times.append(ms)
    t0 = time.perf_counter()
    th = [threading.Thread(target=worker, args=(n,)) for n in per]
    for t in th:
        t.start()
    for t in th:
        t.join()
    wall = time.perf_counter() - t0
    return {"connections": total, "clients": parallel, "per_second": round(len(times) / wall, 1) if wall else None,
            "connection_ms": stats(times), "failures": fails[0]}


def measure(w):
    """Runs both servers in turn, each through the same client loads."""
    p = w.p
    socat = shutil.which("socat")
    if not socat:
        w.failures.append("accept: socat is not installed (scripts/install-deps.sh installs it)")
        return {"skipped": "no socat"}
    loads = [(p["accept_conns"], 1), (p["accept_conns"], 8)]
    res = {}
    port = free_port()
    srv = subprocess.Popen([socat, f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr,backlog=128", "EXEC:/bin/cat"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        if not wait_listening(port):
            w.failures.append("accept: socat did not listen")
            return {"skipped": "socat did not listen"}
        one(port)  # warm-up
        res["socat"] = {f"{par}": clients(port, n, par) for n, par in loads}
    finally:
        os.killpg(srv.pid, signal.SIGKILL)
        srv.wait()
    bundle = w.bundle("voidoci", "accept")
    port = free_port()
    cfg_path = os.path.join(bundle, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["process"]["args"] = ["/bin/cat"]
    cfg["annotations"] = {"org.voidoci.listen": f"tcp:127.0.0.1:{port}", "org.voidoci.accept": "stdio",
                          "org.voidoci.accept-max": "64"}
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    r = sh(["bash", os.path.join(REPO, "scripts", "make-rootfs.sh"), os.path.join(bundle, "rootfs"), "--host", "cat"], timeout=120)
    if r.returncode != 0:
        w.failures.append(f"accept: make-rootfs.sh: {r.stderr.strip()[-300:]}")
        return {"skipped": "no image"}
    vid = w.rn.new_id("accept")
    errf = os.path.join(w.tmp, "err", "accept-voidoci.txt")
    os.makedirs(os.path.dirname(errf), exist_ok=True)
    with open(errf, "w") as err:
        srv = subprocess.Popen(w.rn.run_argv("voidoci", bundle, vid), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=err, start_new_session=True)
    try:
        if not wait_listening(port):
            w.failures.append(f"accept: voidoci did not listen: {tail(errf)}")
            return {"skipped": "voidoci did not listen"}
        one(port)
        res["voidoci"] = {f"{par}": clients(port, n, par) for n, par in loads}
    finally:
        srv.send_signal(signal.SIGTERM)
        try:
            srv.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(srv.pid, signal.SIGKILL)
            srv.wait()
    for k in ("voidoci", "socat"):
        for par, v in res[k].items():
            if v["failures"]:
                w.failures.append(f"accept: {k} with {par} client(s): {v['failures']} failed connections")
    ratio = {par: round(res["voidoci"][par]["per_second"] / res["socat"][par]["per_second"], 3)
             for par in res["voidoci"] if res["voidoci"][par]["per_second"] and res["socat"][par]["per_second"]}
    return {"program": "/bin/cat", "line_bytes": len(CLIENT_LINE), "results": res,
            "ratio_to_socat": ratio,
            "method": "each connection: connect, send one line, half-close, read the echo to EOF; "
                      "voidoci: org.voidoci.accept=stdio under `voidoci run`; socat: TCP-LISTEN,fork EXEC:/bin/cat"}
