import CVoid
import Glibc
import OCIBundle

extension Runtime {
    // MARK: pause, resume, update, ps

    public func pause(id: String, _ on: Bool) throws {
        let c = try store.open(id)
        let s = try c.load()
        let live = LiveStatus.of(s, fifoPath: c.fifoPath)
        live.pidfd.map { _ = close($0) }
        guard let cg = s.cgroup else { throw VoidError("container \(id) has no cgroup (created with --cgroup-manager disabled, or unprivileged): cannot \(on ? "pause" : "resume")") }
        guard live.status == (on ? .running : .paused) else {
            throw VoidError("container \(id) is \(live.status.rawValue), not \(on ? "running" : "paused")")
        }
        try cg.freeze(on)
    }

    public func update(id: String, resources: LinuxResources) throws {
        let c = try store.open(id)
        let s = try c.load()
        guard let cg = s.cgroup else { throw VoidError("container \(id) has no cgroup: cannot update its resources") }
        let spec = try snapshot(c)
        try cg.apply(resources, layout: .read(), devices: spec.linux?.devices ?? [], initial: false)
    }

    public func ps(id: String) throws -> [Int32] {
        let c = try store.open(id, exclusive: false)
        let s = try c.load()
        if let cg = s.cgroup { return cg.pids() }
        let live = LiveStatus.of(s, fifoPath: c.fifoPath)
        guard let fd = live.pidfd else { return [] }
        close(fd)
        return pidsInSamePidNamespace(as: s.pid)
    }

    // MARK: start

    public func start(id: String) throws {
        let c = try store.open(id)
        let s = try c.load()
        let live = LiveStatus.of(s, fifoPath: c.fifoPath)
        defer { live.pidfd.map { _ = close($0) } }
        guard live.status == .created else {
            throw VoidError("container \(id) is \(live.status.rawValue), not created: cannot start")
        }
        let hooks = try savedHooks(c)
        try runStartContainerHooks(hooks, s, pidfd: live.pidfd ?? -1)
        let fd = open(c.fifoPath, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            if errno == ENXIO { throw VoidError("container \(id) is stopped: its init is gone") }
            throw VoidError.sys("open", c.fifoPath)
        }
        defer { close(fd) }
        signal(SIGPIPE, SIG_IGN)
        var b: UInt8 = 0
        if write(fd, &b, 1) != 1 { throw VoidError.sys("start: write", c.fifoPath) }
        unlink(c.fifoPath)
        // `start` returns once the program runs: the init's fifo end is CLOEXEC, so when the
        // last reader is gone (execve, or death) a write fails with EPIPE.
        var delay: UInt32 = 50
        for _ in 0..<2000 {
            if write(fd, &b, 1) < 0 && errno == EPIPE { break }
            usleep(delay)
            delay = min(delay * 2, 5000)
        }
        c.unlock()  // a poststart hook may ask for the state
        runPoststartHooks(hooks, HookState(s), pid: s.pid)
    }

    // MARK: state

    public func state(id: String) throws -> String {
        let (s, status) = try inspect(id: id)
        return StateJSON.render(s, status: status.rawValue)
    }

    public func inspect(id: String) throws -> (ContainerState, LiveStatus.Status) {
        let c = try store.open(id, exclusive: false)
        let s = try c.load()
        let live = LiveStatus.of(s, fifoPath: c.fifoPath)
        live.pidfd.map { _ = close($0) }
        return (s, live.status)
    }

    // MARK: kill

    public func kill(id: String, signal sig: Int32, all: Bool) throws {
        let c = try store.open(id)
        let s = try c.load()
        let live = LiveStatus.of(s, fifoPath: c.fifoPath)
        guard let pidfd = live.pidfd else { throw VoidError("container \(id) is not running: cannot kill") }
        defer { close(pidfd) }
        if all {
            // The cgroup knows every process of the void (also ones in a joined pid namespace).
            let members = s.cgroup.map { $0.pids() } ?? []
            for p in (members.isEmpty ? pidsInSamePidNamespace(as: s.pid) : members) where p != s.pid {
                let fd = void_pidfd_open(p)
                if fd >= 0 { _ = void_pidfd_send_signal(fd, sig); close(fd) }
            }
        }
        if void_pidfd_send_signal(pidfd, sig) < 0 && errno != ESRCH {
            throw VoidError.sys("kill \(id)")
        }
    }
}
