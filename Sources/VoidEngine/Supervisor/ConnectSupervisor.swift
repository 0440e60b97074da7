import CVoid
import Glibc
import OCIBundle

/// The supervisor of `org.voidoci.connect` (docs/void.md, Sockets): a process outside the void,
/// in the caller's namespaces, that answers the void's connect filter (ConnectBroker). It is not
/// the container's process: the init is, with its own pid, exec and exit status. It lives as
/// long as the init: create forks it once the init is set up, records it in the intent (delete
/// kills it, as it kills the init), and it exits when the init has exited or its listener has no
/// program left. If voidoci dies before the state is saved, its end of the hand-over socket
/// closes and the supervisor exits.
///
/// Processes `exec`'d into the container do not carry the filter: their connects stay in the
/// void's own network (only `lo`).
enum ConnectSupervisor {
    /// Forks the supervisor for `v`, the init (which holds the listener); returns its pid and the socket
    /// `commit` writes to once the state is saved.
    static func start(_ v: Spawned, _ plan: VoidPlan, record: ((String) throws -> Void)?) throws -> (pid: pid_t, commitFD: Int32) {
        guard v.listener >= 0 else { throw VoidError("voidoci bug: a connect supervisor without a listener") }
        let voidNetns = v.netnsCookie
        guard voidNetns != 0 else { throw VoidError("org.voidoci.connect: the void's network namespace cookie (SO_NETNS_COOKIE) is unknown") }
        // Voidoci as root: the supervisor becomes the void's host ids (the process's uid and gid
        // through the maps), so what it does for the program is checked against them.
        func host(_ maps: [LinuxIDMapping], _ id: UInt32) -> UInt32? {
            for m in maps where id >= m.containerID && UInt64(id) < UInt64(m.containerID) + UInt64(m.size) {
                return m.hostID &+ (id - m.containerID)
            }
            return nil
        }
        var ids: (UInt32, UInt32)?
        if geteuid() == 0, let u = host(plan.uidMap, plan.process.uid), let g = host(plan.gidMap, plan.process.gid) { ids = (u, g) }
        var pair: [Int32] = [-1, -1]
        try sys("socketpair") { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) }
        _ = void_wait_single_threaded()
        var pidfd: Int32 = -1
        let pid = void_fork(-1, &pidfd)
        if pid == 0 {
            // The container's stdin and stdout are not the supervisor's to hold; stderr is
            // where it says what it refused (podman logs).
            let null = open("/dev/null", O_RDWR | O_CLOEXEC)
            if null >= 0 { _ = dup2(null, 0); _ = dup2(null, 1) }
            let keep = [v.listener, pair[1], v.pidfd].sorted()
            void_close_except(keep, Int32(keep.count))
            run(listener: v.listener, initPidFD: v.pidfd, commitFD: pair[1], plan.connect, voidNetns: voidNetns, ids: ids)
        }
        let e = errno
        close(pair[1])
        if pid < 0 {
            close(pair[0])
            throw VoidError("forking the supervisor of org.voidoci.connect: \(errnoText(e))", errno: e)
        }
        close(pidfd)
        do {
            guard let start = procStat(pid)?.1 else { throw VoidError("org.voidoci.connect: the supervisor's start time (/proc/\(pid)/stat): \(errnoText(errno))") }
            try record?("supervisor \(pid) \(start)\n")
        } catch {
            kill(pid, SIGKILL)
            close(pair[0])
            throw error
        }
        return (pid, pair[0])
    }

    /// The state is saved: the supervisor starts answering.
    static func commit(_ fd: Int32) throws {
        var b: UInt8 = 1
        try sys("handing the connect supervisor over") { write(fd, &b, 1) }
        close(fd)
    }

    /// Kills and reaps the supervisor (create failed, or run's init has exited).
    static func abandon(_ c: (pid: pid_t, commitFD: Int32)) {
        kill(c.pid, SIGKILL)
        if c.commitFD >= 0 { close(c.commitFD) }
        var st: Int32 = 0
        while waitpid(c.pid, &st, 0) < 0 && errno == EINTR {}
    }

    private static func run(listener: Int32, initPidFD: Int32, commitFD: Int32, _ destinations: [ConnectDestination],
                            voidNetns: UInt64, ids: (UInt32, UInt32)?) -> Never {
        signal(SIGPIPE, SIG_IGN)
        var b: UInt8 = 0
        if read(commitFD, &b, 1) != 1 { _exit(1) }   // voidoci died before saving the state
        close(commitFD)
        if let (u, g) = ids, void_become(u, g) < 0 {
            var line = "voidoci: org.voidoci.connect: the supervisor could not become \(u):\(g): \(errnoText(errno))\n"
            line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
            _exit(1)
        }
        let broker = ConnectBroker(destinations, voidNetns: voidNetns) { what in
            var line = "voidoci: \(what)\n"
            line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
        }
        while true {
            var fds = [pollfd(fd: initPidFD, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            fds += broker.pollFDs
            if poll(&fds, nfds_t(fds.count), broker.hasPending ? 1000 : -1) < 0 {
                if errno == EINTR { continue }
                _exit(1)
            }
            if fds[0].revents != 0 { _exit(0) }   // the init has exited
            broker.progress(fds[2...])
            if fds[1].revents & Int16(POLLIN) != 0 {
                if !broker.serve(listener) { _exit(0) }
            } else if fds[1].revents != 0 {
                _exit(0)   // POLLHUP: no program uses the filter any more
            }
        }
    }
}
