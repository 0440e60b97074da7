import CVoid
import Glibc
import OCIBundle

extension Runtime {
    // MARK: delete

    public func delete(id: String, force: Bool) throws {
        if force { store.removeStaleTemporaries() }
        let c: LockedContainer
        do { c = try store.open(id, incomplete: force) } catch let e as VoidError where e.errno == ENOENT && force {
            return  // podman calls `delete --force` after every failed create
        }
        guard c.isComplete else { return removeIncomplete(c) }
        let s = try c.load()
        let live = LiveStatus.of(s, fifoPath: c.fifoPath)
        if let pidfd = live.pidfd {
            defer { close(pidfd) }
            // A created void's program has not run: it goes, as runc and crun delete a created
            // container (docs/translation.md: Lifecycle). A running or paused one needs --force.
            guard force || live.status == .created else {
                throw VoidError("container \(id) is \(live.status.rawValue): stop it first, or delete --force")
            }
            killAndWait(pidfd, pid: s.pid)
        }
        killSupervisors(c.readIntent())
        let poststop = poststopHooks(c)  // from the config snapshot, which goes with the state dir
        s.cgroup?.remove()
        c.remove()
        runPoststopHooks(poststop, HookState(s))
    }

    /// An id whose create died before saving its state: what its intent says it made (the
    /// init, cgroup leaves) is removed, then the state dir. Nothing else: a leaf recorded as
    /// about to be made but not as made may be someone else's (mkdir found it), so it is only
    /// removed if empty, and nothing is killed through it. No hooks run: the create never
    /// finished, and its failure path (which runs poststop) did not run either.
    func removeIncomplete(_ c: LockedContainer) {
        let r = c.readIntent()
        if let pid = r.initPID, let start = r.initStart {
            let fd = void_pidfd_open(pid)
            if fd >= 0 {
                if procStat(pid)?.1 == start { killAndWait(fd, pid: pid) }
                close(fd)
            }
        }
        killSupervisors(r)
        if r.cgroupsMade {
            VoidCgroup(paths: r.cgroups, freezer: nil, unified: nil).remove()
        } else {
            for dir in r.cgroups { rmdir(dir) }
        }
        c.remove()
    }

    /// org.voidoci.connect's supervisors: each exits once the init has, and is killed here in
    /// case it has not yet (the start time tells a recycled pid apart).
    func killSupervisors(_ r: Intent.Record) {
        for s in r.supervisors {
            let fd = void_pidfd_open(s.pid)
            if fd < 0 { continue }
            if procStat(s.pid)?.1 == s.start { killAndWait(fd, pid: s.pid) }
            close(fd)
        }
    }

    /// SIGKILL through a pidfd, and wait (up to 10 s) until the process has exited; reaped if
    /// it is our child.
    func killAndWait(_ pidfd: Int32, pid: pid_t) {
        _ = void_pidfd_send_signal(pidfd, SIGKILL)
        // Readable once the process has exited; its parent (conmon, or us) reaps it.
        var p = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        _ = poll(&p, 1, 10_000)
        var st: Int32 = 0
        _ = waitpid(pid, &st, WNOHANG)
    }
}
