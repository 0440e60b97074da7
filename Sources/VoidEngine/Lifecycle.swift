import CVoid
import Glibc
import OCIBundle

/// The OCI operations. Each takes the state store and an id, works under the id's lock, and
/// throws a VoidError whose text is what the user (or podman) reads.
public struct Runtime {
    public var store: StateStore
    public var caller: Caller
    /// --cgroup-manager (cgroupfs, systemd, disabled) and --systemd-cgroup.
    public var cgroupManager: String?
    public var systemdCgroup = false
    public static let ociVersion = "1.2.1"

    public init(store: StateStore, caller: Caller = .current()) {
        self.store = store
        self.caller = caller
    }

    public struct CreateOptions {
        public var bundle: String
        public var pidFile: String?
        public var consoleSocket: String?
        public var preserveFDs: Int = 0
        public init(bundle: String) { self.bundle = bundle }
    }

    /// Loads and plans a bundle without touching the state directory (bad input leaves nothing).
    public func plan(bundle: String) throws -> (Spec, VoidPlan, String) {
        let (spec, dir) = try load(bundle: bundle)
        let plan = try Planner(spec: spec, bundle: dir, caller: caller).plan()
        return (spec, plan, dir)
    }

    /// The plan of a created void: its config as create read it (the snapshot in its state
    /// directory) and its bundle, for `explain ID`.
    public func plan(id: String) throws -> VoidPlan {
        let c = try store.open(id, exclusive: false)
        let s = try c.load()
        return try Planner(spec: try snapshot(c), bundle: s.bundle, caller: caller).plan()
    }

    /// The bundle's config, decoded and validated, and the bundle's canonical path.
    /// `parsed`: see `SpecLoader.load(bundle:parsed:)`.
    func load(bundle: String, parsed: (String?) -> Void = { _ in }) throws -> (Spec, String) {
        let dir = try canonicalDirectory(bundle, field: "bundle")
        do { return (try SpecLoader.load(bundle: dir, parsed: parsed), dir) } catch let e as SpecError { throw VoidError(e.description) }
    }

    /// What create and run hold besides the plan: the id claimed (its state dir, locked), the
    /// void's cgroup, and the files the init's clone joins that cgroup through.
    final class Claim: @unchecked Sendable {
        let id: String
        let runtime: Runtime
        var locked: LockedContainer?
        /// Appended to before anything is made (`Intent`): what `delete --force` cleans up
        /// after a create that died.
        var intent: Intent?
        var cgroup: VoidCgroup?
        var move: Spawner.CgroupMove?
        var error: Error?
        /// Cgroup directories made by this create (parents first): the only ones its errors
        /// remove. (The leaf is always new: `VoidCgroup.makeDirectories`.)
        private var created: [String] = []
        private var unavailable: VoidError?
        // Each written by this thread before its gate opens, read by the helper after.
        private var path: String??, spec: Spec?
        private var pathOffered = false, specOffered = false   // this thread's own bookkeeping
        private let pathGate = Gate(), specGate = Gate()

        init(id: String, runtime: Runtime) {
            self.id = id
            self.runtime = runtime
        }

        var usesCgroups: Bool { runtime.cgroupManager != "disabled" }

        /// The state dir, made and locked, and its intent opened: from here on the id is this
        /// voidoci's. It comes before the cgroup, so that a create that loses a race for the id
        /// never touches the winner's cgroup.
        func claimID() {
            do {
                let l = try runtime.store.create(id)
                locked = l
                intent = try l.openIntent()
            } catch { self.error = error }
        }

        /// The cgroup's directories (`linux.cgroupsPath`), and the files the clone joins them
        /// through; unless the id could not be claimed. The leaves are recorded before they are
        /// made, and recorded as made once they all are.
        func makeDirectories(_ cgroupsPath: String?) {
            guard error == nil, let intent else { return }
            do {
                (cgroup, unavailable) = try runtime.makeCgroupDirectories(id: id, cgroupsPath: cgroupsPath, created: &created) { leaves in
                    var lines = ""
                    for l in leaves { lines += "cgroup \(l)\n" }
                    try intent.record(lines)
                }
                if cgroup != nil { try intent.record("cgroups-made\n") }
                move = try Spawner.CgroupMove(cgroup, cloneIntoV2: true)
            } catch {
                self.error = error
            }
        }

        /// The config's limits and device rules on the cgroup.
        func finish(_ spec: Spec) {
            guard error == nil, locked != nil else { return }
            do {
                cgroup = try runtime.applyCgroupLimits(cgroup, unavailable: unavailable, spec: spec, created: created)
                if cgroup == nil { move?.close(); move = nil }
            } catch {
                self.error = error
            }
        }

        /// Records the cloned init (`SpawnOptions.onClone`); its start time, for the state.
        func recordInit(_ pid: pid_t) -> UInt64 {
            let start = procStat(pid)?.1 ?? 0
            try? intent?.record("init \(pid) \(start)\n")
            return start
        }

        // The hand-over to the helper thread: first `linux.cgroupsPath`, as soon as the config
        // has parsed; then the decoded config. `giveUp` releases what was not handed over.
        func offerPath(_ p: String?) {
            path = .some(p)
            pathOffered = true
            pathGate.open()
        }

        func offerSpec(_ s: Spec) {
            spec = s
            specOffered = true
            specGate.open()
        }

        func giveUp() {
            if !pathOffered { pathOffered = true; pathGate.open() }
            if !specOffered { specOffered = true; specGate.open() }
        }

        /// nil: given up; .some(nil): no cgroupsPath in the config.
        func awaitPath() -> String?? { pathGate.wait(); return path }
        func awaitSpec() -> Spec? { specGate.wait(); return spec }

        /// Leaves nothing behind: the directories this create made removed, the state dir
        /// removed. For errors before the init runs its program (the init, if cloned, is
        /// already killed and reaped), so there is nothing of this void's to kill.
        func undo() {
            move?.close()
            move = nil
            removeCgroupDirectories(created)
            created = []
            cgroup = nil
            intent = nil
            locked?.remove()
        }
    }

    /// create's and run's set-up before the clone, in two halves that are independent: this
    /// thread loads the bundle and plans (the ELF closure); a second one claims the id and
    /// makes the cgroup (a dozen mkdirs and writes in cgroupfs). The second claims the id and
    /// reads the host's cgroup mounts while this one reads the config; it makes the directories
    /// as soon as the config has parsed (they need only `linux.cgroupsPath`), and writes the
    /// limits once it is decoded.
    ///
    /// The plan is `plan(bundle:)`'s: nothing `explain` lists as dropped is refused here.
    /// Errors are those a serial run gives, in the same order: the bundle's and the plan's, then
    /// `check`'s, then the id's (already exists) and the cgroup's. On any of them, nothing is
    /// left behind.
    func planAndClaim(id: String, bundle: String, check: (VoidPlan) throws -> Void = { _ in }) throws
        -> (spec: Spec, plan: VoidPlan, bundle: String, claim: Claim) {
        try StateStore.checkID(id)
        let claim = Claim(id: id, runtime: self)
        let helper = Background.start {
            claim.claimID()
            if claim.usesCgroups { _ = CgroupLayout.host }
            guard let path = claim.awaitPath() else { return }
            claim.makeDirectories(path)
            if let spec = claim.awaitSpec() { claim.finish(spec) }
        }
        func fail(_ error: Error) -> Error {
            claim.giveUp()
            helper?.join()
            claim.undo()
            return error
        }
        if helper == nil { claim.claimID() }
        let spec: Spec, dir: String, plan: VoidPlan
        do { (spec, dir) = try load(bundle: bundle, parsed: { if helper != nil { claim.offerPath($0) } }) } catch {
            throw fail(error)
        }
        if helper == nil {
            claim.makeDirectories(spec.linux?.cgroupsPath)
            claim.finish(spec)
        } else {
            claim.offerSpec(spec)
        }
        do {
            plan = try Planner(spec: spec, bundle: dir, caller: caller).plan()
            try check(plan)
        } catch {
            throw fail(error)
        }
        helper?.join()
        if let error = claim.error {
            // A cgroup error (the id was claimed) or "already exists" (it was not). After a
            // cgroup error the poststop hooks run, as when create and run made the cgroup
            // themselves.
            let cgroupError = claim.locked != nil
            let e = fail(error)
            if cgroupError { runPoststopHooks(plan.hooks, HookState(spec: spec, id: id, bundle: dir)) }
            throw e
        }
        return (spec, plan, dir, claim)
    }

    // MARK: create

    public func create(id: String, _ o: CreateOptions) throws {
        let (spec, plan, bundle, claim) = try planAndClaim(id: id, bundle: o.bundle) { plan in
            if plan.process.terminal && o.consoleSocket == nil {
                throw VoidError("process.terminal is true but no --console-socket was given")
            }
        }
        let locked = claim.locked!
        let cgroup = claim.cgroup
        var spawned: Spawned?
        do {
            if mkfifo(locked.fifoPath, 0o600) < 0 { throw VoidError.sys("mkfifo", locked.fifoPath) }
            // O_RDWR: the init holds both ends, so its read blocks until `start` writes instead
            // of seeing EOF; and a fifo needs no path once the void has pivoted.
            let fifo = open(locked.fifoPath, O_RDWR | O_CLOEXEC)
            if fifo < 0 { throw VoidError.sys("open", locked.fifoPath) }
            defer { close(fifo) }
            var console: Console?
            if plan.process.terminal, let path = o.consoleSocket {
                console = try Console.open(socketPath: path)
            }
            defer { console?.close() }
            var opt = SpawnOptions(attachPath: locked.dir, caller: caller)
            opt.execFifoFD = fifo
            opt.cgroup = cgroup
            opt.cgroupMove = claim.move
            opt.consoleFD = console?.slave ?? -1
            opt.preserveFDs = o.preserveFDs
            opt.onPause = createTimeHooks(id: id, spec: spec, bundle: bundle, plan: plan)
            var start: UInt64 = 0
            opt.onClone = { start = claim.recordInit($0) }
            opt.waitCommit = true
            let s = try Spawner.spawn(plan, opt)
            spawned = s
            var record = stateRecord(id: id, pid: s.pid, start: start, bundle: bundle, spec: spec, plan: plan)
            record.cgroup = cgroup
            try saveSnapshot(locked, bundle: bundle)
            try locked.save(record)
            if let pf = o.pidFile { try writeFileAtomically(absolute(pf), "\(s.pid)") }
            try console?.sendMaster()
            try Spawner.commit(s)
            close(s.syncFD)
            close(s.pidfd)
        } catch {
            if let s = spawned { Spawner.abandon(s) }
            if let pf = o.pidFile { unlink(absolute(pf)) }
            claim.undo()
            runPoststopHooks(plan.hooks, HookState(spec: spec, id: id, bundle: bundle))
            throw error
        }
    }

    /// The void's cgroup directories, unless disabled. An unprivileged caller usually cannot
    /// create them (cgroupfs belongs to root, no systemd delegation here): then nil, and why,
    /// for `applyCgroupLimits` to decide.
    /// `recording` gets the leaves before they are made.
    func makeCgroupDirectories(id: String, cgroupsPath: String?, created: inout [String],
                               recording: ([String]) throws -> Void) throws -> (VoidCgroup?, VoidError?) {
        if cgroupManager == "disabled" { return (nil, nil) }
        if systemdCgroup || cgroupManager == "systemd" {
            let running = access("/run/systemd/system", F_OK) == 0
            throw VoidError("--systemd-cgroup: \(running ? "the systemd cgroup driver is not implemented" : "systemd is not running on this host (no /run/systemd/system)"); use --cgroup-manager cgroupfs")
        }
        let rel = try VoidCgroup.relativePath(cgroupsPath, id: id)
        try recording(VoidCgroup.leaves(rel, layout: .host))
        do {
            return (try VoidCgroup.makeDirectories(rel, layout: .host, created: &created), nil)
        } catch let e as VoidError where lacksDelegation(e) {
            return (nil, e)
        }
    }

    /// What an unprivileged caller gets from cgroupfs without delegation.
    private func lacksDelegation(_ e: VoidError) -> Bool {
        !caller.isRealRoot && [EACCES, EPERM, EROFS].contains(e.errno ?? 0)
    }

    /// The config's limits and device rules on the void's cgroup. Without a cgroup (an
    /// unprivileged caller, or one whose limits cannot be written: the directories it made,
    /// `created`, are then removed), the void runs without one, unless the config asks for
    /// limits, which would otherwise be silently lost.
    func applyCgroupLimits(_ cg: VoidCgroup?, unavailable: VoidError?, spec: Spec, created: [String]) throws -> VoidCgroup? {
        var why = unavailable
        if let cg {
            do {
                try cg.apply(spec.linux?.resources, layout: .host, devices: spec.linux?.devices ?? [], initial: true)
                return cg
            } catch let e as VoidError where lacksDelegation(e) {
                removeCgroupDirectories(created)
                why = e
            }
        }
        if let e = why, let r = spec.linux?.resources, r.memory != nil || r.cpu != nil || r.pids != nil || r.unified != nil
            || !(r.hugepageLimits ?? []).isEmpty {
            throw VoidError("linux.resources: limits need a cgroup, which this unprivileged caller cannot create: \(e)")
        }
        return nil
    }

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

    /// config.json as create read it, for exec.
    func saveSnapshot(_ c: LockedContainer, bundle: String) throws {
        try writeFileAtomically("\(c.dir)/config.json", try readSmallFile("\(bundle)/config.json"), mode: 0o600)
    }

    func stateRecord(id: String, pid: Int32, start: UInt64, bundle: String, spec: Spec, plan: VoidPlan) -> ContainerState {
        let owner = hostUserName(caller.euid) ?? "\(caller.euid)"
        return ContainerState(ociVersion: spec.ociVersion, id: id, pid: pid, pidStartTime: start, bundle: bundle,
                              rootfs: plan.imagePath, created: rfc3339Now(), owner: owner, annotations: spec.annotations)
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
            guard force else {
                throw VoidError("container \(id) is \(live.status.rawValue): stop it first, or delete --force")
            }
            killAndWait(pidfd, pid: s.pid)
        }
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
        if r.cgroupsMade {
            VoidCgroup(paths: r.cgroups, freezer: nil, unified: nil).remove()
        } else {
            for dir in r.cgroups { rmdir(dir) }
        }
        c.remove()
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

    func absolute(_ p: String) -> String { absolutePath(p) }
}

/// A path taken from the current directory now (relative --root, --pid-file), so a later
/// chdir (the clone) cannot change what it names.
func absolutePath(_ p: String) -> String {
    if p.hasPrefix("/") { return p }
    var buf = [CChar](repeating: 0, count: Int(PATH_MAX))
    guard getcwd(&buf, buf.count) != nil else { return p }
    return String(cString: buf) + "/" + p
}

/// Processes whose pid namespace is that of `pid` (for `kill --all`).
func pidsInSamePidNamespace(as pid: Int32) -> [Int32] {
    guard let target = nsLink("\(pid)", "pid") else { return [] }
    return directoryEntries("/proc").compactMap { name in
        guard let p = Int32(name), nsLink(name, "pid") == target else { return nil }
        return p
    }
}

/// The state JSON of the runtime spec, plus runc's `rootfs`, `created` and `owner`. Small and
/// key-ordered like runc's, so a pipe reader gets it in one read.
public enum StateJSON {
    public static func render(_ s: ContainerState, status: String) -> String {
        var fields: [(String, String)] = [
            ("ociVersion", quote(s.ociVersion)), ("id", quote(s.id)), ("status", quote(status)),
        ]
        if status != "stopped" { fields.append(("pid", "\(s.pid)")) } else { fields.append(("pid", "0")) }
        fields += [("bundle", quote(s.bundle)), ("rootfs", quote(s.rootfs)), ("created", quote(s.created)),
                   ("owner", quote(s.owner))]
        // Plain loops rather than joined(): see JSON.render(into:).
        var ann = "{"
        for (i, (k, v)) in (s.annotations ?? [:]).sorted(by: { $0.key < $1.key }).enumerated() {
            ann += (i > 0 ? ", " : "") + "\(quote(k)): \(quote(v))"
        }
        fields.append(("annotations", ann + "}"))
        var out = "{\n"
        for (i, (k, v)) in fields.enumerated() { out += (i > 0 ? ",\n" : "") + "  \(quote(k)): \(v)" }
        return out + "\n}\n"
    }

    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

/// The host's name for `uid`, from /etc/passwd. Not getpwuid: voidoci is a static executable,
/// where glibc's NSS would dlopen modules of the exact glibc it was linked with.
func hostUserName(_ uid: uid_t) -> String? {
    guard let text = try? readSmallFile("/etc/passwd") else { return nil }
    for line in text.split(separator: "\n") {
        let f = line.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
        if f.count >= 3, UInt32(f[2]) == uid, !f[0].isEmpty { return String(f[0]) }
    }
    return nil
}
