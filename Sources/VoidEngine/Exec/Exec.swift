import CVoid
import Glibc
import OCIBundle

extension Runtime {
    public struct ExecOptions {
        public var processFile: String?      // --process: a runtime-spec process JSON (podman/conmon)
        public var args: [String] = []       // runc-style: the command after the id
        public var cwd: String?
        public var env: [String] = []
        public var user: String?             // UID[:GID]
        public var caps: [String] = []
        public var noNewPrivileges = false
        public var tty = false
        public var detach = false
        public var pidFile: String?
        public var consoleSocket: String?
        public var preserveFDs = 0
        public init() {}
    }

    public struct ExecResult {
        public var status: Int32
        public var added: [PlannedMount]     // what the void lacked and was bound in
        public var notes: [String]
    }

    /// Runs a process in a running void, as `runc exec` does. Its program is resolved in the
    /// image like at create; whatever of its closure the void lacks is bound in first.
    public func exec(id: String, _ o: ExecOptions) throws -> ExecResult {
        var c: LockedContainer? = try store.open(id, exclusive: false)
        let s = try c!.load()
        let live = LiveStatus.of(s, fifoPath: c!.fifoPath)
        guard let pidfd = live.pidfd else { throw VoidError("container \(id) is not running: cannot exec") }
        defer { close(pidfd) }
        let spec = try snapshot(c!)
        // Its process is the supervisor, in the caller's namespaces: joining them would run the
        // command outside any void (Supervisor.swift).
        if let mode = spec.annotations?["org.voidoci.accept"] {
            throw VoidError("container \(id) has org.voidoci.accept=\(printable(mode)): a void per connection, and no one void to exec into")
        }
        let process = try execProcess(o, base: spec.process)
        let plan = try Planner(spec: spec, bundle: s.bundle, caller: caller).planExec(process, imagePath: s.rootfs, initPID: s.pid)
        if plan.process.terminal && o.consoleSocket == nil {
            throw VoidError("process.terminal is true but no --console-socket was given")
        }
        var console: Console?
        if plan.process.terminal, let path = o.consoleSocket { console = try Console.open(socketPath: path) }
        defer { console?.close() }
        // The pid file is written after voidoci has joined the void's mount namespace: open
        // its directory now, on the host.
        var pidDir: (fd: Int32, dir: String, name: String)?
        if let pf = o.pidFile {
            let (dir, name) = splitPath(absolute(pf))
            let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd < 0 { throw VoidError.sys("--pid-file: open", dir) }
            pidDir = (fd, dir, name)
        }
        defer { pidDir.map { _ = close($0.fd) } }

        var opt = SpawnOptions(attachPath: "/", caller: caller)
        opt.consoleFD = console?.slave ?? -1
        opt.preserveFDs = o.preserveFDs
        opt.initPID = s.pid
        opt.cgroup = s.cgroup
        let spawned = try Spawner.spawnExec(plan, initPidfd: pidfd, opt)
        c = nil  // the lock: other commands may go on while the process runs
        _ = c
        do {
            if let p = pidDir { try writeFileAtomically(dirFD: p.fd, dir: p.dir, name: p.name, "\(spawned.pid)") }
            try console?.sendMaster()
            if let r = try Spawner.readReport(spawned.syncFD) { throw Spawner.describeExec(r, plan: plan) }
        } catch {
            Spawner.abandon(spawned)
            throw error
        }
        close(spawned.syncFD)
        let added = plan.mounts
        if o.detach {
            close(spawned.pidfd)
            return ExecResult(status: 0, added: added, notes: plan.notes)
        }
        var status: Int32 = 0
        while waitpid(spawned.pid, &status, 0) < 0 && errno == EINTR {}
        close(spawned.pidfd)
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ExecResult(status: code, added: added, notes: plan.notes)
    }

    /// The config as it was at create: later edits of the bundle have no effect (runtime spec).
    func snapshot(_ c: LockedContainer) throws -> Spec {
        let path = "\(c.dir)/config.json"
        let text = try readSmallFile(path)
        do { return try SpecLoader.decode(Array(text.utf8)) } catch { throw VoidError("\(path): \(error)") }
    }

    func execProcess(_ o: ExecOptions, base: Process?) throws -> Process {
        if let f = o.processFile {
            do { return try SpecLoader.loadProcess(path: f) } catch let e as SpecError { throw VoidError("--process: \(e.description)") }
        }
        guard !o.args.isEmpty else { throw VoidError("exec: no command given (a command after the id, or --process FILE)") }
        guard var p = base else { throw VoidError("exec: the void's config has no process to start from") }
        p.args = o.args
        p.env = (p.env ?? []) + o.env
        if let cwd = o.cwd { p.cwd = cwd }
        if let u = o.user {
            let parts = u.split(separator: ":", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let uid = UInt32(parts[0]), let gid = parts.count == 2 ? UInt32(parts[1]) : 0 else {
                throw VoidError("--user \(u): expected UID[:GID] (numbers)")
            }
            p.user = User(uid: uid, gid: gid)
        }
        if !o.caps.isEmpty {
            var caps = p.capabilities ?? LinuxCapabilities()
            for cap in o.caps {
                let name = cap.uppercased().hasPrefix("CAP_") ? cap.uppercased() : "CAP_\(cap.uppercased())"
                caps.bounding = (caps.bounding ?? []) + [name]
                caps.effective = (caps.effective ?? []) + [name]
                caps.permitted = (caps.permitted ?? []) + [name]
            }
            p.capabilities = caps
        }
        p.terminal = o.tty
        if o.noNewPrivileges { p.noNewPrivileges = true }
        return p
    }
}
