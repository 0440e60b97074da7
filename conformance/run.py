#!/usr/bin/env python3
"""voidoci conformance harness: every bundle in bundles/ and conformance/cases/ under voidoci,
runc and crun, side by side.

    python3 conformance/run.py [--grant-all] [--out FILE] [--only NAME[,NAME..]] [--voidoci PATH] [-v]

--grant-all: every runtime gets the same config (the one runc gets) and voidoci every grant
computed from it; deviations then come from deviations-grant-all.json (by-design only).

Exit status: 0 when every case is `same` or a listed `deviation`; 1 on any `differs`, a
leftover container, a leftover temp dir or a change of the host mount table; 2 on a usage or
set-up error. See conformance/README.md.
"""

import argparse
import collections
import concurrent.futures
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

CONF = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(CONF)
CASES = os.path.join(CONF, "cases")
BUNDLES = os.path.join(REPO, "bundles")
DEVIATIONS = os.path.join(CONF, "deviations.json")
DEVIATIONS_GRANT_ALL = os.path.join(CONF, "deviations-grant-all.json")
MODES = ("default", "grant-all")
MAKE_ROOTFS = os.path.join(REPO, "scripts", "make-rootfs.sh")

RUNTIMES = ["runc", "crun", "voidoci"]  # table column order; runc is the reference
REFERENCES = ["runc", "crun"]
RUN_TIMEOUT = 15.0
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
ISOLATED_ENV = "VOIDOCI_CONFORMANCE_ISOLATED"
NS_TYPES = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"]


def log(msg):
    print(f"conformance: {msg}", file=sys.stderr, flush=True)


# --- the host mount table --------------------------------------------------------------------

def mount_table():
    """Mount point, fs type and source of every mount (as scripts/test.sh compares them)."""
    rows = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            dash = fields.index("-")
            rows.append(f"{fields[4]} {fields[dash + 1]} {fields[dash + 2]}")
    return collections.Counter(rows)


def mounts_under(path):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = unescape(line.split()[4])
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


# --- cases -----------------------------------------------------------------------------------

class Case:
    def __init__(self, name, src, origin):
        self.name = name          # table name: bundles/NAME or NAME
        self.src = src            # directory holding config.json, rootfs.args, fixtures
        self.origin = origin      # "bundle" (repo example) or "case"
        meta = {}
        if os.path.exists(os.path.join(src, "case.json")):
            with open(os.path.join(src, "case.json")) as f:
                meta = json.load(f)
        self.about = meta.get("about", "")
        self.mode = meta.get("mode", "run")
        self.setup = meta.get("setup", {})
        self.timeout = float(meta.get("timeout", RUN_TIMEOUT))
        # The harness modes the case runs in: "default" (voidoci gets the config as written)
        # and "grant-all" (every runtime gets the same config, voidoci every grant).
        self.modes = meta.get("modes", list(MODES))
        self.steps = meta.get("steps")   # lifecycle: the runtime commands and facts, in order
        with open(os.path.join(src, "rootfs.args")) as f:
            self.rootfs_args = f.read().split()
        with open(os.path.join(src, "config.json")) as f:
            self.raw_config = f.read()
        try:
            self.config = json.loads(self.raw_config)
        except ValueError:
            self.config = None    # a deliberately malformed config: copied verbatim


def load_cases(only, mode=None):
    """Every case (of one harness mode, when given), filtered by --only."""
    cases = []
    for d in sorted(os.listdir(BUNDLES)):
        src = os.path.join(BUNDLES, d)
        if os.path.isfile(os.path.join(src, "config.json")) and os.path.isfile(os.path.join(src, "rootfs.args")):
            # A server that runs until stopped (org.voidoci.accept: bundles/echo) is no case
            # here: SampleAppsTests runs it.
            with open(os.path.join(src, "config.json")) as f:
                if "org.voidoci.accept" in (json.load(f).get("annotations") or {}):
                    continue
            cases.append(Case(f"bundles/{d}", src, "bundle"))
    for d in sorted(os.listdir(CASES)):
        src = os.path.join(CASES, d)
        if os.path.isfile(os.path.join(src, "config.json")):
            cases.append(Case(d, src, "case"))
    if mode:
        cases = [c for c in cases if mode in c.modes]
    if only:
        cases = [c for c in cases if c.name in only or c.name.split("/")[-1] in only]
    return cases


def container_config(config):
    """runc and crun need /proc and /dev in the rootfs: add a proc and a tmpfs /dev mount when
    the bundle lists none (voidoci always gets the bundle's config unchanged)."""
    config = json.loads(json.dumps(config))
    mounts = config.setdefault("mounts", [])
    dests = {os.path.normpath(m.get("destination", "")) for m in mounts}
    if "/proc" not in dests:
        mounts.insert(0, {"destination": "/proc", "type": "proc", "source": "proc",
                          "options": ["nosuid", "noexec", "nodev"]})
    if "/dev" not in dests:
        mounts.insert(1, {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                          "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]})
    return config


def is_bind(m):
    return m.get("type") == "bind" or any(o in ("bind", "rbind") for o in m.get("options") or [])


def grant_all_config(config):
    """--grant-all: the config runc gets (container_config) plus every grant it needs in a void,
    computed from it: the image root (ro or rw as root.readonly says), every kernel filesystem
    type in config.mounts, /dev minimal. Every runtime gets this same config (runc and crun
    ignore org.voidoci.* annotations), so the bundles differ in nothing."""
    config = container_config(config)
    types = []
    for m in config.get("mounts", []):
        if is_bind(m) or not m.get("type"):
            continue
        t = m["type"]
        # As voidoci names them: a tmpfs at /dev/shm is the shm grant, cgroup2 the cgroup one.
        if t == "tmpfs" and os.path.normpath(m.get("destination", "")) == "/dev/shm":
            t = "shm"
        elif t == "cgroup2":
            t = "cgroup"
        if t not in types:
            types.append(t)
    ann = config.setdefault("annotations", {})
    ann["org.voidoci.rootfs"] = "ro" if config.get("root", {}).get("readonly") else "rw"
    if types:
        ann["org.voidoci.mounts"] = ",".join(types)
    else:
        ann.pop("org.voidoci.mounts", None)
    ann["org.voidoci.dev"] = "minimal"
    return config


# --- running ---------------------------------------------------------------------------------

class Outcome:
    """What one runtime did with one case."""

    def __init__(self, kind, status=None, stdout="", stderr=""):
        self.kind = kind          # exit | error | timeout | skipped
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = 0.0

    def key(self):
        if self.kind == "exit":
            return ("exit", self.status, self.stdout)
        return (self.kind,)

    def cell(self):
        if self.kind == "skipped":
            return f"skipped: {cell_text(self.stderr)}"
        if self.kind == "timeout":
            return "timeout"
        if self.kind == "error":
            first = next((l for l in self.stderr.splitlines() if l.strip()), "(no message)")
            return f"**error** (exit {self.status}): {cell_text(shorten(first, 140))}"
        text = f"exit {self.status}"
        if self.stdout:
            text += "<br>" + "<br>".join(md(l) for l in self.stdout.split("\n"))
        return text


def cell_text(s):
    return s.replace("|", "\\|")


def shorten(s, n):
    return s if len(s) <= n else s[: n - 1] + "…"


def md(s):
    return "`" + s.replace("`", "'").replace("|", "\\|") + "`" if s else "` `"


class Host:
    def __init__(self):
        self.ns = {}
        for t in NS_TYPES:
            try:
                self.ns[t] = os.readlink(f"/proc/self/ns/{t}")
            except OSError:
                pass

    def normalise(self, text, joinable=None):
        """Namespace links become TYPE:host (the harness's own), TYPE:joined (one the harness
        holds for cases to join) or TYPE:new: inode numbers differ on every run."""
        joinable = joinable or {}

        def ns(m):
            if self.ns.get(m.group(1)) == m.group(0):
                return f"{m.group(1)}:host"
            return f"{m.group(1)}:{'joined' if m.group(0) in joinable else 'new'}"
        text = re.sub(r"\b(cgroup|ipc|mnt|net|pid|time|user|uts):\[\d+\]", ns, text)
        # Container ids (conf-PID-SEQ-case, in cgroup paths and messages) differ on every run.
        text = re.sub(r"conf-\d+-\d+-[a-z0-9-]*", "ID", text)
        return "\n".join(l.rstrip() for l in text.rstrip("\n").split("\n")) if text.strip() else ""


JOIN_TYPES = {"net": "NETNS", "ipc": "IPCNS", "uts": "UTSNS"}  # @JOIN_NETNS@ ... in configs


def cgroup_hierarchies():
    """The mount point of every cgroup hierarchy (v1 and v2), each once."""
    seen = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            dash = fields.index("-")
            if fields[dash + 1] in ("cgroup", "cgroup2"):
                seen.setdefault(fields[dash + 3] + fields[3], unescape(fields[4]))
    return sorted(set(seen.values()))


class Runner:
    def __init__(self, tmp, voidoci, host, verbose, grant_all=False):
        self.tmp = tmp
        self.bins = {"voidoci": voidoci, "runc": shutil.which("runc", path=ENV["PATH"]) or "runc",
                     "crun": shutil.which("crun", path=ENV["PATH"]) or "crun"}
        self.host = host
        self.verbose = verbose
        self.images = {}
        self.ids = collections.defaultdict(list)
        self.seq = 0
        self.grant_all = grant_all
        self.helper = None        # a process holding net, ipc and uts namespaces for cases to join
        self.joinable = {}
        self.lock = threading.Lock()

    def state_root(self, rt):
        return os.path.join(self.tmp, "state", rt)

    def argv(self, rt, *args):
        return [self.bins[rt], "--root", self.state_root(rt), *args]

    def image(self, args):
        key = " ".join(args)
        with self.lock:
            if key in self.images:
                return self.images[key]
            d = os.path.join(self.tmp, "images", re.sub(r"[^A-Za-z0-9]+", "_", key).strip("_") or "image")
            r = subprocess.run(["bash", MAKE_ROOTFS, d, *args], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, env=ENV)
            if r.returncode != 0:
                raise SystemExit(f"conformance: make-rootfs.sh {key} failed:\n{r.stderr}")
            self.images[key] = d
        return self.images[key]

    def bundle(self, case, rt, cid):
        """A private copy of the case for one runtime: fixtures, config.json, rootfs."""
        d = os.path.join(self.tmp, "bundles", rt, case.name.replace("/", "_"))
        shutil.copytree(case.src, d, symlinks=True,
                        ignore=shutil.ignore_patterns("rootfs", "config.json", "rootfs.args", "case.json"))
        if case.config is None:
            text = case.raw_config
        else:
            if self.grant_all:
                config = grant_all_config(case.config)
            else:
                config = case.config if rt == "voidoci" else container_config(case.config)
            text = json.dumps(config, indent=2)
            for t, name in JOIN_TYPES.items():
                if f"@JOIN_{name}@" in text:
                    text = text.replace(f"@JOIN_{name}@", self.join_ns(t))
            # @ID@: the container id (a cgroupsPath of its own per runtime and run).
            text = text.replace("@ID@", cid)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(text)
        root = (case.config or {}).get("root", {}).get("path", "rootfs")
        if not os.path.isabs(root):
            rootfs = os.path.join(d, root)
            subprocess.run(["cp", "-a", self.image(case.rootfs_args), rootfs], check=True)
            if rt != "voidoci" or self.grant_all:
                # Mount points runc and crun need (in --grant-all, every runtime's copy alike); they could not create them in a user
                # namespace whose root does not own the image.
                for mp in ("proc", "dev"):
                    if not os.path.lexists(os.path.join(rootfs, mp)):
                        os.mkdir(os.path.join(rootfs, mp), 0o755)
        # case.json "setup": the same preparation of every runtime's copy.
        for rel in case.setup.get("mkdir", []):
            os.makedirs(os.path.join(d, rel), exist_ok=True)
        for src, rel in case.setup.get("copy", {}).items():
            shutil.copy2(os.path.join(case.src, src), os.path.join(d, rel))
        for rel, mode in case.setup.get("chmod", {}).items():
            os.chmod(os.path.join(d, rel), int(mode, 8))
        # "cgroups": cgroups that exist before the container (@ID@ is its id), made in every
        # hierarchy; run_case removes what is left of them after the delete.
        for rel in case.setup.get("cgroups", []):
            for h in cgroup_hierarchies():
                os.makedirs(os.path.join(h, rel.replace("@ID@", cid).lstrip("/")), exist_ok=True)
        return d

    def join_ns(self, t):
        """/proc/PID/ns/T (net, ipc or uts) of a helper started once by the harness: unshare
        --net --ipc --uts, hostname `joined`, then sleep."""
        with self.lock:
            if self.helper is None:
                self.helper = subprocess.Popen(["unshare", "--net", "--ipc", "--uts", "--", "sh", "-c",
                                                "hostname joined && exec sleep 600"], env=ENV,
                                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
                deadline = time.monotonic() + 5
                pending = set(JOIN_TYPES)
                while pending and time.monotonic() < deadline:
                    for k in list(pending):
                        link = os.readlink(f"/proc/{self.helper.pid}/ns/{k}")
                        if link != self.host.ns.get(k):
                            self.joinable[link] = True
                            pending.discard(k)
                    time.sleep(0.01)
                # The hostname is set before the sleep: wait for the exec.
                while time.monotonic() < deadline:
                    try:
                        with open(f"/proc/{self.helper.pid}/comm") as f:
                            if f.read().strip() == "sleep":
                                break
                    except OSError:
                        break
                    time.sleep(0.01)
            return f"/proc/{self.helper.pid}/ns/{t}"

    def stop_helper(self):
        if self.helper is not None:
            self.helper.kill()
            self.helper.wait()

    def discard(self, bundle):
        """Removes a bundle copy once its container is deleted, unless something is still
        mounted under it (never delete through a mount; cleanup reports it)."""
        if not mounts_under(bundle):
            shutil.rmtree(bundle, ignore_errors=True)

    def new_id(self, case, rt):
        with self.lock:
            self.seq += 1
            cid = f"conf-{os.getpid()}-{self.seq}-{re.sub(r'[^a-z0-9]+', '-', case.name.lower())}"[:60]
            self.ids[rt].append(cid)
        return cid

    def exec(self, argv, timeout, tag):
        """Runs argv in its own session, stdio to files (a container may keep them open after
        the runtime exits), killed with its group on timeout."""
        out, err = os.path.join(self.tmp, "out", tag + ".out"), os.path.join(self.tmp, "out", tag + ".err")
        with open(out, "wb") as o, open(err, "wb") as e:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=o, stderr=e, env=ENV,
                                 start_new_session=True)
            try:
                status = p.wait(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                status, timed_out = None, True
        if status is not None and status < 0:
            status = 128 - status
        with open(out, errors="replace") as o, open(err, errors="replace") as e:
            return status, timed_out, o.read(), e.read()

    def delete(self, rt, cid):
        self.exec(self.argv(rt, "delete", "--force", cid), 15, f"{rt}-{cid}-delete")

    def run_case(self, case, rt):
        cid = self.new_id(case, rt)
        bundle = self.bundle(case, rt, cid)
        try:
            if case.mode == "lifecycle" and case.steps:
                return self.steps(case, rt, bundle, cid)
            if case.mode == "lifecycle":
                return self.lifecycle(case, rt, bundle, cid)
            status, timed_out, out, err = self.exec(self.argv(rt, "run", "--bundle", bundle, cid),
                                                    case.timeout, f"{rt}-{cid}")
        finally:
            self.delete(rt, cid)
            self.discard(bundle)
            for rel in case.setup.get("cgroups", []):
                for h in cgroup_hierarchies():
                    try:
                        os.rmdir(os.path.join(h, rel.replace("@ID@", cid).lstrip("/")))
                    except OSError:
                        pass
        err = "\n".join(self.tidy(l, rt) for l in err.splitlines())
        if self.verbose and err:
            log(f"{case.name} [{rt}] stderr: {err.strip()}")
        if timed_out:
            return Outcome("timeout", None, self.host.normalise(out, self.joinable), err)
        out = self.host.normalise(out, self.joinable)
        # Every case prints before it ends: a failure with nothing printed is the runtime's.
        if status != 0 and not out:
            return Outcome("error", status, "", err)
        return Outcome("exit", status, out, err)

    def lifecycle(self, case, rt, bundle, cid):
        """create, state, start, state until stopped, delete, state: the facts the runtime
        spec's lifecycle and state define, as text."""
        facts = []
        status, timed_out, out, err = self.exec(self.argv(rt, "create", "--bundle", bundle, cid),
                                                case.timeout, f"{rt}-{cid}-create")
        if timed_out:
            return Outcome("timeout", None, "", err)
        if status != 0:
            return Outcome("error", status, "", err)

        def state():
            s, _, o, e = self.exec(self.argv(rt, "state", cid), 10, f"{rt}-{cid}-state")
            if s != 0:
                return None, e
            try:
                return json.loads(o), ""
            except ValueError:
                return None, f"state is not JSON: {o!r}"

        st, e = state()
        if st is None:
            return Outcome("error", 1, "", f"state after create failed: {e}")
        facts.append(f"after create: status={st.get('status')}")
        facts.append(f"id={'ok' if st.get('id') == cid else st.get('id')}"
                     f" bundle={'ok' if st.get('bundle') == os.path.realpath(bundle) else st.get('bundle')}"
                     f" pid={'ok' if isinstance(st.get('pid'), int) and st['pid'] > 0 else st.get('pid')}")
        facts.append("annotations=" + json.dumps(st.get("annotations"), sort_keys=True))
        s, _, _, e = self.exec(self.argv(rt, "start", cid), 10, f"{rt}-{cid}-start")
        facts.append("start: " + ("ok" if s == 0 else f"failed ({e.strip()})"))
        deadline = time.monotonic() + case.timeout
        while True:
            st, e = state()
            if st is None or st.get("status") == "stopped" or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        facts.append(f"then: status={st.get('status') if st else 'error'}")
        s, _, _, e = self.exec(self.argv(rt, "delete", cid), 10, f"{rt}-{cid}-delete-plain")
        facts.append("delete: " + ("ok" if s == 0 else f"failed ({e.strip()})"))
        st, _ = state()
        facts.append("state after delete: " + ("error" if st is None else f"status={st.get('status')}"))
        with open(os.path.join(self.tmp, "out", f"{rt}-{cid}-create.out"), errors="replace") as f:
            facts.append("process stdout: " + self.host.normalise(f.read(), self.joinable).replace("\n", " / "))
        return Outcome("exit", 0, "\n".join(facts), err)

    def steps(self, case, rt, bundle, cid):
        """case.json "steps": runtime commands and host-side observations, in order, each
        reported as a fact (ok / failed: runtimes word and number their errors differently).
          create | start | delete | delete --force | kill SIG   the runtime command
          state          status=..., and whether pid is a positive number (pid=ok) or not
          wait-stopped   state until stopped (case timeout); the status reached
          sleep SECONDS
          host-cgroup    /proc/PID/cgroup of the container's process, read on the host
          host-cgroup-file CONTROLLER FILE   that file of its cgroup, read on the host
          stdout         what the container's process printed so far
        A first `create` that fails is the outcome `error`, as in a run."""
        facts, pid = [], None
        out_file = os.path.join(self.tmp, "out", f"{rt}-{cid}-create.out")
        for i, step in enumerate(case.steps):
            words = step.split()
            verb = words[0]
            if verb in ("create", "start", "delete", "kill"):
                args = ["create", "--bundle", bundle, cid] if verb == "create" else [*words, cid]
                if verb == "kill":
                    args = ["kill", cid, *words[1:]]
                s, timed_out, _, e = self.exec(self.argv(rt, *args), case.timeout,
                                               f"{rt}-{cid}-{verb}" if verb == "create" else f"{rt}-{cid}-{i}")
                if verb == "create" and i == 0 and (timed_out or s != 0):
                    return Outcome("timeout" if timed_out else "error", s, "", e)
                facts.append(f"{step}: " + ("timeout" if timed_out else "ok" if s == 0 else "failed"))
            elif verb in ("state", "wait-stopped"):
                deadline = time.monotonic() + case.timeout
                while True:
                    s, _, o, e = self.exec(self.argv(rt, "state", cid), 10, f"{rt}-{cid}-{i}")
                    try:
                        st = json.loads(o) if s == 0 else None
                    except ValueError:
                        st = None
                    if verb == "state" or st is None or st.get("status") == "stopped" \
                            or time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
                if st is None:
                    facts.append(f"{step}: failed")
                    continue
                p = st.get("pid")
                if isinstance(p, int) and p > 0:
                    pid = p
                facts.append(f"{step}: status={st.get('status')}"
                             + (f" pid={'ok' if isinstance(p, int) and p > 0 else p}" if verb == "state" else ""))
            elif verb == "sleep":
                time.sleep(float(words[1]))
            elif verb == "host-cgroup":
                facts.append("host-cgroup: " + " ".join(self.host_cgroups(pid)))
            elif verb == "host-cgroup-file":
                facts.append(f"{words[1]}/{words[2]}: {self.host_cgroup_file(pid, words[1], words[2])}")
            elif verb == "stdout":
                with open(out_file, errors="replace") as f:
                    facts.append("stdout: " + self.host.normalise(f.read(), self.joinable).replace("\n", " / "))
            else:
                raise SystemExit(f"conformance: {case.name}: unknown step {step!r}")
        return Outcome("exit", 0, "\n".join(facts), "")

    def host_cgroups(self, pid):
        """/proc/PID/cgroup as the host sees it, CONTROLLERS:PATH, the harness's own cgroup in
        each hierarchy written OWN (runc places a relative cgroupsPath under its caller's)."""
        if pid is None:
            return ["(no pid)"]
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                lines = f.read().split()
        except OSError as e:
            return [f"({e.strerror})"]
        own = self.own_cgroups()
        out = []
        for line in lines:
            _, ctl, path = line.split(":", 2)
            mine = own.get(ctl, "/")
            if mine != "/" and (path == mine or path.startswith(mine + "/")):
                path = "OWN" + path[len(mine):]
            out.append(f"{ctl or 'v2'}:{self.host.normalise(path)}")
        return out

    @staticmethod
    def own_cgroups():
        with open("/proc/self/cgroup") as f:
            return {l.split(":", 2)[1]: l.split(":", 2)[2] for l in f.read().split()}

    def host_cgroup_file(self, pid, controller, name):
        if pid is None:
            return "(no pid)"
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                rows = [l.split(":", 2) for l in f.read().split()]
        except OSError as e:
            return f"({e.strerror})"
        for _, ctl, path in rows:
            if controller in ctl.split(","):
                hier = os.path.join("/sys/fs/cgroup", controller)
                break
        else:
            return f"(no {controller} hierarchy)"
        try:
            with open(os.path.join(hier, path.lstrip("/"), name)) as f:
                return f.read().strip()
        except OSError as e:
            return f"({e.strerror})"

    def probe(self, rt):
        """Can this runtime run a trivial container here? None, or the reason it cannot."""
        if not shutil.which(self.bins[rt], path=ENV["PATH"]) and not os.access(self.bins[rt], os.X_OK):
            return f"{self.bins[rt]} not found"
        case = Case.__new__(Case)
        case.name, case.src, case.origin, case.mode, case.timeout = f"probe-{rt}", None, "probe", "run", 20.0
        case.rootfs_args, case.setup, case.steps, case.modes = ["--busybox"], {}, None, list(MODES)
        case.config = {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "hostname": "probe",
                       "process": {"args": ["sh", "-c", "echo ok"], "cwd": "/", "env": ["PATH=/bin"],
                                   "user": {"uid": 0, "gid": 0}},
                       "mounts": [], "linux": {"namespaces": [{"type": t} for t in
                                                              ["pid", "ipc", "uts", "mount", "network"]]}}
        case.raw_config = json.dumps(case.config)
        probe_src = os.path.join(self.tmp, "probe-src", rt)
        os.makedirs(probe_src)
        case.src = probe_src
        r = self.run_case(case, rt)
        if r.kind == "exit" and r.status == 0 and r.stdout == "ok":
            return None
        said = " ".join((r.stderr or r.stdout).split())
        return shorten(f"{r.kind} (exit {r.status}): {said or 'no message'}", 200)

    def leftovers(self, rt):
        """Containers still known to the runtime: its `list` and its state directory (a private
        --root: everything in it is ours)."""
        left = set()
        root = self.state_root(rt)
        if os.path.isdir(root):
            left |= {e for e in os.listdir(root) if not e.startswith(".")}
        _, _, out, _ = self.exec(self.argv(rt, "list"), 15, f"{rt}-list")
        left |= {cid for cid in self.ids[rt] if re.search(rf"(^|\s){re.escape(cid)}(\s|$)", out, re.M)}
        return sorted(left)

    def cgroups_left(self):
        """cgroup directories named after one of our containers (runc and crun make one each)."""
        prefix, found = f"conf-{os.getpid()}-", []
        for top, dirs, _ in os.walk("/sys/fs/cgroup"):
            if top.count("/") > 6:
                dirs[:] = []
                continue
            found += [os.path.join(top, d) for d in dirs if prefix in d]
        return found

    def tidy(self, text, rt):
        """The per-run temp paths in messages become BUNDLE (they differ per runtime and run);
        runc's logfmt error line becomes its message."""
        text = re.sub(re.escape(os.path.join(self.tmp, "bundles", rt)) + r"/[^/\s\"']+", "BUNDLE", text)
        m = re.match(r'time="[^"]*" level=\w+ msg="((?:[^"\\]|\\.)*)"', text)
        return m.group(1).replace('\\"', '"') if m else text


# --- verdicts --------------------------------------------------------------------------------

def load_deviations(path):
    with open(path) as f:
        data = json.load(f)
    return {k: v for k, v in data.items() if not k.startswith("_")}


def matches_expectation(outcome, expect):
    """expect: {"error": true, "stderr_regex": "re"} | {"status": N, "stdout": "exact"}
    | {"status": N, "stdout_regex": "re"}; regexes match the whole stdout, anywhere in stderr."""
    if expect.get("error"):
        return outcome.kind == "error" and re.search(expect.get("stderr_regex", ""), outcome.stderr) is not None
    if outcome.kind != "exit":
        return False
    if "status" in expect and outcome.status != expect["status"]:
        return False
    if "stdout" in expect and outcome.stdout != expect["stdout"]:
        return False
    if "stdout_regex" in expect and not re.fullmatch(expect["stdout_regex"], outcome.stdout, re.S):
        return False
    return True


def verdict(case, results, deviations):
    refs = [rt for rt in REFERENCES if results[rt].kind != "skipped"]
    v = results["voidoci"]
    agree = [rt for rt in refs if results[rt].key() == v.key()]
    refs_disagree = len(refs) == 2 and results["runc"].key() != results["crun"].key()
    note = " (runc and crun disagree)" if refs_disagree else ""
    dev = deviations.get(case.name)
    if agree:
        if refs_disagree:
            return "same", f"as {agree[0]}{note}"
        if dev:
            return "same", "listed as a deviation but voidoci now behaves as runc: remove it from deviations.json"
        return "same", ""
    if dev:
        if matches_expectation(v, dev["expect"]):
            return "deviation", f"{dev['why']} ({dev['source']})"
        return "differs", (f"listed deviation, but voidoci no longer does what is listed "
                           f"({dev['voidoci']}){note}")
    return "differs", f"not a listed deviation{note}"


def table(cases, results, verdicts, skipped):
    head = ["case", "runc", "crun", "voidoci", "verdict", "reason"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cases:
        r = results[c.name]
        v, why = verdicts[c.name]
        cells = [f"`{c.name}`"] + [r[rt].cell() for rt in RUNTIMES] + [f"**{v}**" if v == "differs" else v, why]
        lines.append("| " + " | ".join(cells) + " |")
    counts = collections.Counter(v for v, _ in verdicts.values())
    lines.append("")
    lines.append(f"{len(cases)} cases: {counts['same']} same, {counts['deviation']} deviation, "
                 f"{counts['differs']} differs.")
    for rt, why in skipped.items():
        lines.append(f"{rt} skipped: {why}")
    return "\n".join(lines) + "\n"


# --- main ------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="also write the Markdown table to this file")
    ap.add_argument("--json", help="also write every outcome (kind, status, stdout, stderr) and verdict as JSON")
    ap.add_argument("--only", help="comma-separated case names (bundles/NAME or NAME)")
    ap.add_argument("--voidoci", default=os.environ.get("VOIDOCI_BIN") or "/usr/local/bin/voidoci",
                    help="the voidoci binary (default: $VOIDOCI_BIN, else /usr/local/bin/voidoci)")
    ap.add_argument("--jobs", type=int, default=4, help="cases run in parallel (default 4)")
    ap.add_argument("--list", action="store_true", help="list the cases and what each checks")
    ap.add_argument("--no-isolate", action="store_true",
                    help="run in the caller's mount namespace (see README: only on a quiet host)")
    ap.add_argument("--grant-all", action="store_true",
                    help="every runtime gets the same config (runc's), voidoci every grant it needs "
                         "(org.voidoci.rootfs/mounts/dev); deviations from deviations-grant-all.json")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every runtime's stderr and timing")
    a = ap.parse_args()

    only = set(a.only.split(",")) if a.only else None
    mode = "grant-all" if a.grant_all else "default"
    cases = load_cases(only, mode)
    if a.list:
        for c in cases:
            only_in = "" if set(c.modes) == set(MODES) else f" [{', '.join(c.modes)} only]"
            print(f"{c.name}: {c.about or '(example bundle)'}{only_in}")
        return 0
    if only and only - {c.name for c in cases} - {c.name.split("/")[-1] for c in cases}:
        log(f"--only names cases that do not exist in {mode} mode: "
            f"{', '.join(sorted(only - {c.name for c in cases} - {c.name.split('/')[-1] for c in cases}))}")
        return 2
    if not cases:
        log("no case matches --only")
        return 2
    if os.geteuid() != 0:
        log("must run as root (runc and crun run rootful containers)")
        return 2
    voidoci = shutil.which(a.voidoci) or a.voidoci
    if not os.access(voidoci, os.X_OK):
        log(f"voidoci binary {a.voidoci} not found (build it: bash scripts/build.sh)")
        return 2
    dev_file = DEVIATIONS_GRANT_ALL if a.grant_all else DEVIATIONS
    deviations = load_deviations(dev_file)
    unknown = sorted(set(deviations) - {c.name for c in load_cases(None, mode)})
    if unknown:
        log(f"{os.path.basename(dev_file)} names cases that do not exist in {mode} mode: {', '.join(unknown)}")
        return 2

    isolated = os.environ.get(ISOLATED_ENV) == "1"
    if not a.no_isolate and not isolated:
        return isolate(sys.argv[1:])
    if isolated:
        # Every mount shared (new peer groups of our own): a runtime that detached a shared
        # tree would propagate the unmount back here, where the check below sees it.
        subprocess.run(["mount", "--make-rshared", "/"], check=True)

    started = time.monotonic()
    mounts_before = mount_table()
    tmp = tempfile.mkdtemp(prefix="voidoci-conformance-")
    tmp_mounted = False
    # Traversable by ids other than root: runc's init in a user namespace opens the rootfs
    # as the mapped root (a host id such as 100000).
    os.chmod(tmp, 0o711)
    if isolated:
        # Bundles on a tmpfs of this namespace only: copies are fast, and the host never sees it.
        tmp_mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0711,size=2g", "voidoci-conformance",
                                      tmp], capture_output=True).returncode == 0
    runner = Runner(tmp, voidoci, Host(), a.verbose, a.grant_all)
    become_subreaper()
    failures, skipped = [], {}
    results = {c.name: {} for c in cases}
    try:
        compared = run_all(runner, cases, results, skipped, failures, a.jobs)
    finally:
        failures += cleanup(runner, tmp, tmp_mounted, mounts_before)

    if compared:
        verdicts = {c.name: verdict(c, results[c.name], deviations) for c in cases}
        text = table(cases, results, verdicts, skipped)
        print(text, end="")
        if a.out:
            with open(a.out, "w") as f:
                f.write(text)
        if a.json:
            with open(a.json, "w") as f:
                json.dump({c.name: {"verdict": verdicts[c.name][0], "reason": verdicts[c.name][1],
                                    **{rt: vars(results[c.name][rt]) for rt in RUNTIMES}} for c in cases},
                          f, indent=1)
        for c in cases:
            v, why = verdicts[c.name]
            if v == "differs":
                failures.append(f"{c.name}: voidoci differs from runc: {why}")
    log(f"done in {time.monotonic() - started:.1f}s")
    for f in failures:
        log("FAIL: " + f)
    return 1 if failures else 0


def run_all(runner, cases, results, skipped, failures, jobs):
    """Probes the runtimes, then runs every case under each. False when nothing can be compared."""
    for d in ("out", "state/runc", "state/crun", "state/voidoci"):
        os.makedirs(os.path.join(runner.tmp, d))
    runner.image(["--busybox"])
    for rt in RUNTIMES:
        why = runner.probe(rt)
        if why is None:
            continue
        if rt == "voidoci":
            failures.append(f"voidoci cannot run a trivial bundle: {why}")
            return False
        skipped[rt] = why
        log(f"SKIPPING {rt}: it cannot run a trivial container on this host: {why}")
    if all(rt in skipped for rt in REFERENCES):
        failures.append("neither runc nor crun can run here: nothing to compare with")
        return False
    log(f"{len(cases)} cases under {', '.join(rt for rt in RUNTIMES if rt not in skipped)} "
        f"(voidoci: {runner.bins['voidoci']}){', --grant-all' if runner.grant_all else ''}")

    def one(job):
        c, rt = job
        if rt in skipped:
            return c, rt, Outcome("skipped", stderr=skipped[rt])
        t0 = time.monotonic()
        r = runner.run_case(c, rt)
        r.seconds = time.monotonic() - t0
        if runner.verbose:
            log(f"{c.name} [{rt}]: {r.kind} {r.status} in {r.seconds:.2f}s")
        return c, rt, r

    # Images first, so parallel jobs never build the same one.
    for c in cases:
        runner.image(c.rootfs_args)
    work = [(c, rt) for c in cases for rt in RUNTIMES]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for c, rt, r in pool.map(one, work):
            results[c.name][rt] = r
    return True


def isolate(argv):
    """Re-executes the harness in a mount namespace of its own: the mount table it checks is
    then the one the runtimes it starts inherit, and nobody else's mounts (podman, other test
    suites on the same host) come and go in it while it runs. Nothing mounted there outlives it."""
    unshare = shutil.which("unshare", path=ENV["PATH"])
    if not unshare:
        log("unshare(1) not found: install util-linux, or pass --no-isolate")
        return 2
    env = dict(os.environ)
    env[ISOLATED_ENV] = "1"
    sys.stdout.flush()
    os.execve(unshare, [unshare, "--mount", "--propagation", "private", "--",
                        sys.executable, os.path.abspath(__file__), *argv], env)


def become_subreaper():
    """Orphans of the runtimes (a container process that outlived delete) re-parent to the
    harness, where cleanup finds them."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def children():
    me, out = os.getpid(), []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == me and fields[0] not in "ZX":
            out.append(int(pid))
    return out


def cleanup(runner, tmp, tmp_mounted, mounts_before):
    """delete --force every container, remove the temp dir; then prove it: no container left
    in any runtime's state, no process left behind, no cgroup, no mount under the temp dir,
    the host mount table as before."""
    failures = []
    runner.stop_helper()
    for rt in RUNTIMES:
        for cid in list(runner.ids[rt]):
            runner.delete(rt, cid)
        left = runner.leftovers(rt)
        if left:
            failures.append(f"{rt} still lists containers after delete --force: {', '.join(left)}")
    left = children()
    if left:
        failures.append(f"processes left behind (killed now): {', '.join(map(str, left))}")
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)  # a child of ours now (subreaper): reap it
            except (ProcessLookupError, ChildProcessError):
                pass
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:  # reap orphans that re-parented here
            pass
    except ChildProcessError:
        pass
    cg = runner.cgroups_left()
    if cg:
        failures.append(f"cgroups left behind: {', '.join(cg)}")
    stray = [m for m in mounts_under(tmp) if m != tmp]
    if stray:
        failures.append(f"mounts left under {tmp}: {', '.join(stray)}")
        for mp in sorted(stray, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
    if [m for m in mounts_under(tmp) if m != tmp]:
        failures.append(f"{tmp} kept: mounts remain under it")
    else:
        if tmp_mounted:
            subprocess.run(["umount", tmp], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        if os.path.exists(tmp):
            failures.append(f"temp dir {tmp} could not be removed")
    mounts_after = mount_table()
    gone, new = mounts_before - mounts_after, mounts_after - mounts_before
    # A mount whose mount point someone else deleted meanwhile (podman removing a stopped
    # container's directories) is detached by the kernel in every namespace, ours included:
    # not ours to answer for. A mount gone whose mount point still exists is.
    foreign = collections.Counter({m: n for m, n in gone.items() if not os.path.lexists(unescape(m.split(" ")[0]))})
    gone -= foreign
    for m in sorted(foreign.elements()):
        log(f"note: mount {m} went away with its mount point (deleted by another program)")
    if gone or new:
        failures.append("the host mount table changed:"
                        + "".join(f"\n  - {m}" for m in sorted(gone.elements()))
                        + "".join(f"\n  + {m}" for m in sorted(new.elements())))
    return failures


def unescape(path):
    """mountinfo octal escapes (\\040 for a space...) back to characters."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


if __name__ == "__main__":
    sys.exit(main())
