import CVoid
import Glibc
import SystemPackage
import OCIBundle

/// What the caller of `Spawner.spawn` decides beyond the plan.
public struct SpawnOptions {
    public var attachPath: String       // where the child attaches the void root before pivot (the state dir)
    public var execFifoFD: Int32 = -1   // the init waits on it for `start`; -1 execs right away
    public var consoleFD: Int32 = -1    // pty slave
    public var preserveFDs: Int = 0
    public var initPID: Int32 = 0       // exec: the void's init
    public var cgroup: VoidCgroup?      // the init (or exec'd process) is born in it
    /// The files the clone joins `cgroup` through, when the caller opened them ahead
    /// (Runtime.planAndClaim); else spawn opens them.
    var cgroupMove: Spawner.CgroupMove?
    public var caller: Caller
    /// Create-time hooks: when set, the init pauses after its mounts, before the pivot, and this
    /// runs with its pid and pidfd; a throw abandons the init (Hooks.swift).
    public var onPause: ((pid_t, Int32) throws -> Void)?
    /// Called right after the clone, before the init is released: where create records the
    /// init's pid (an init cloned but not yet recorded exits by itself if voidoci dies, since
    /// it waits for the release on a socket whose other end dies with voidoci).
    var onClone: ((pid_t) -> Void)?
    /// The init waits, after its set-up, for `Spawner.commit` (create and run: once the state
    /// is saved); EOF instead (voidoci died) makes it exit.
    var waitCommit = false
    /// Appends lines to the create's intent (`Intent`): what it made that delete must remove.
    var record: ((String) throws -> Void)?
    /// A per-connection void (Supervisor): its connection, and how the program gets it.
    var connectionFD: Int32 = -1
    var connection: VoidGrants.AcceptMode?
    var parentPidFD: Int32 = -1        // the supervisor's own pidfd: the void checks it is alive
    /// Return once the init is released, without waiting for its set-up: the supervisor reads
    /// the reports (READY, then EOF at execve) in its poll loop, while it starts the next void.
    var returnAtRelease = false

    public init(attachPath: String, caller: Caller) {
        self.attachPath = attachPath
        self.caller = caller
    }
}

/// A void whose init finished its set-up.
public struct Spawned {
    public var pid: pid_t
    public var pidfd: Int32
    /// Still open: EOF on it means execve happened; a report means execve failed.
    public var syncFD: Int32
    /// org.voidoci.connect: the listener of the init's connect filter (the supervisor's to
    /// answer), or -1.
    public var listener: Int32 = -1
    /// With it, the cookie of the void's network namespace.
    public var netnsCookie: UInt64 = 0
}

/// Executes a plan: opens host-side sources, joins namespaces, clones the init with every new
/// namespace at once, writes its id maps, and waits for its set-up report.
public enum Spawner {
    public static func spawn(_ plan: VoidPlan, _ opt: SpawnOptions) throws -> Spawned {
        try checkPreserveFDs(opt.preserveFDs)
        // Whatever the caller leaked to us (non-CLOEXEC fds) must not reach the void: only
        // stdio and the preserved fds survive execve.
        _ = void_close_range_cloexec(UInt32(3 + opt.preserveFDs))
        // Everything handed in is numbered above the fds it is placed at: 3+N.. (the preserved
        // ones below), the listen sockets, a connection as fd, the opened files.
        let fdConnection = opt.connection == .fd && opt.connectionFD >= 0
        let top = Int32(3 + opt.preserveFDs + plan.listen.count + (fdConnection ? 1 : 0) + plan.open.count)
        var listen = try ListenSockets.open(plan.listen, above: top, record: opt.record)
        var files = HandedFDs()
        // The void has its copies: voidoci's go; what they made on the host goes too if it failed.
        var failed = true
        defer { listen.close(unlink: failed); files.close(unlink: failed) }
        if fdConnection {
            // Placed like a listen socket, at 3+N, as systemd's Accept=yes passes it.
            let high = fcntl(opt.connectionFD, F_DUPFD_CLOEXEC, top)
            if high < 0 { throw VoidError.sys("fcntl(F_DUPFD_CLOEXEC) of the connection") }
            listen.fds.append(high)
        }
        files = try OpenedFiles.open(plan.open, above: top)
        let spawned = try spawn(plan, opt, listen: listen, files: files)
        failed = false
        return spawned
    }

    static func spawn(_ plan: VoidPlan, _ opt: SpawnOptions, listen: HandedFDs, files: HandedFDs) throws -> Spawned {
        let seccomp = try plan.process.seccomp.map { try SeccompCompiler.compile($0) }
        let connectFilter = plan.connect.isEmpty ? nil : try ConnectFilter.compile(plan.connect)
        let cgroupMove = try opt.cgroupMove ?? CgroupMove(opt.cgroup, cloneIntoV2: true)
        defer { cgroupMove?.close() }

        let cgroupJoins = cgroupMove?.into ?? []
        let lowered = Lowering.lower(plan, lowerContext(opt, cgroupFiles: cgroupJoins.count, intoCgroup: (cgroupMove?.cgroupFD ?? -1) >= 0))

        let work = SpawnWork(plan, opt)
        defer { work.finish() }
        let imageFD = try work.openImage()
        try work.mountOps(imageFD: imageFD)
        let (imageTree, rootTmpfs) = try work.rootSources(imageFD: imageFD)
        try work.joinNamespaces()
        // Supplementary groups cannot be dropped from inside once setgroups is denied, and
        // host groups must not follow the void in (CVE-2014-8989's lesson).
        if opt.caller.isRealRoot { _ = setgroups(0, nil) }

        var pair: [Int32] = [-1, -1]
        try sys("socketpair") { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) }
        let (parentFD, childFD) = (pair[0], pair[1])
        var child = work.childInstructions(lowered, syncFD: childFD, imageTree: imageTree, rootTmpfs: rootTmpfs)
        child.cgroup_fds = work.arena.copy(cgroupJoins)
        child.n_cgroup_fds = Int32(cgroupJoins.count)
        // The namespaces the lowering has the clone make (a cgroup namespace the init makes
        // itself, once it has moved into the void's v1 cgroups, is not among them).
        var flags: UInt64 = 0
        for case .clone(let new, _) in lowered.map(\.kind) { for ns in new { flags |= cloneFlag(ns) } }
        fillProcess(&child, plan.process, seccomp: seccomp, opt: opt,
                    keep: [childFD, opt.execFifoFD, opt.consoleFD, imageTree, rootTmpfs] + work.ops.map(\.tree_fd) + work.copyFDs + cgroupJoins
                        + listen.fds + files.fds + [opt.connection == .stdio ? opt.connectionFD : -1, opt.parentPidFD],
                    arena: work.arena, listen: (plan.listen.map(\.name) + (opt.connection == .fd ? ["connection"] : []), listen.fds))
        child.connection_fd = opt.connection == .stdio ? opt.connectionFD : -1
        child.parent_pidfd = opt.parentPidFD
        if let f = connectFilter {
            child.connect_filter = UnsafeRawPointer(work.arena.copy(f.filter))
            child.connect_len = UInt16(f.instructionCount)
        }
        child.open_fds = work.arena.copy(files.fds)
        child.n_open_fds = Int32(files.fds.count)
        // Where they go is the lowering's.
        for op in lowered where op.actor == .child {
            if case .placeListenFDs(let first, _) = op.kind { child.listen_first = Int32(truncatingIfNeeded: first) }
            if case .placeOpenedFiles(let first, _) = op.kind { child.open_first = Int32(truncatingIfNeeded: first) }
        }

        var spawned = try cloneInit(&child, flags: flags, plan: plan, opt: opt, cgroupMove: cgroupMove, childFD: childFD, parentFD: parentFD)
        do {
            try release(&spawned, plan: plan, opt: opt)
            return spawned
        } catch {
            abandon(spawned)
            throw error
        }
    }

    /// clone3 with every new namespace at once, into the void's v2 cgroup, from the attach path
    /// (the child attaches the void root at its cwd: set here, where the state dir can be
    /// searched, and restored afterwards).
    static func cloneInit(_ child: inout void_child, flags: UInt64, plan: VoidPlan, opt: SpawnOptions, cgroupMove: CgroupMove?,
                          childFD: Int32, parentFD: Int32) throws -> Spawned {
        var pidfd: Int32 = -1
        let savedCwd = open(".", Int32(VOID_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        if chdir(opt.attachPath) < 0 {
            let e = errno
            close(savedCwd); close(childFD); close(parentFD)
            throw VoidError.sys("chdir", opt.attachPath, errno: e)
        }
        let pid = void_spawn(&child, flags, cgroupMove?.cgroupFD ?? -1, &pidfd)
        let cloneErrno = errno
        if pid > 0 { opt.onClone?(pid) }
        if savedCwd >= 0 { _ = fchdir(savedCwd); close(savedCwd) } else { _ = chdir("/") }
        errno = cloneErrno
        close(childFD)
        cgroupMove?.close()   // the child has its own copies
        if pid < 0 {
            let e = errno
            close(parentFD)
            let into = opt.cgroup?.unified.map { " into cgroup \($0)" } ?? ""
            throw VoidError("clone3 with new namespaces \(plan.newNamespaceFlags.joined(separator: ","))\(into): \(errnoText(e))"
                + (e == EPERM || e == ENOSPC ? " (are unprivileged user namespaces allowed? see /proc/sys/user/max_user_namespaces)" : ""), errno: e)
        }
        return Spawned(pid: pid, pidfd: pidfd, syncFD: parentFD)
    }

    /// Writes the init's id maps and oom_score_adj, releases it, runs the create-time hooks when
    /// it pauses for them, and returns at its READY (a report of anything else is thrown).
    static func release(_ s: inout Spawned, plan: VoidPlan, opt: SpawnOptions) throws {
        try writeIDMaps(plan, pid: s.pid)
        if let adj = plan.oomScoreAdj {
            do { try writeProc("/proc/\(s.pid)/oom_score_adj", "\(adj)") } catch {
                throw VoidError("process.oomScoreAdj: \(adj): \(error)")
            }
        }
        var go: UInt8 = 1
        try sys("releasing the void's init") { write(s.syncFD, &go, 1) }
        if opt.returnAtRelease { return }
        while let report = try readReport(s.syncFD) {
            if report.step == Int32(VOID_STEP_READY.rawValue) { return }
            if report.step == Int32(VOID_STEP_LISTENER.rawValue) && s.listener < 0 {
                // Taken while the init waits; it then closes its own.
                let fd = void_pidfd_getfd(s.pidfd, report.index)
                if fd < 0 { throw VoidError("org.voidoci.connect: taking the connect filter's listener from the void's init (pidfd_getfd): \(errnoText(errno))", errno: errno) }
                s.listener = fd
                s.netnsCookie = UInt64(UInt32(bitPattern: report.err)) | UInt64(UInt32(bitPattern: report.detail)) << 32
                try sys("resuming the void's init after its connect filter") { write(s.syncFD, &go, 1) }
                continue
            }
            if report.step == Int32(VOID_STEP_HOOKS_PAUSE.rawValue), let hooks = opt.onPause {
                try hooks(s.pid, s.pidfd)
                try sys("resuming the void's init after its hooks") { write(s.syncFD, &go, 1) }
                continue
            }
            throw describe(report, plan: plan)
        }
        throw VoidError("the void's init exited during set-up: \(waitStatusText(s.pid))" + outOfMemory(opt.cgroup))
    }

    /// The CLI checked the count against the fds the caller really passed (`preserved`); this
    /// keeps the conversions below from trapping whatever a library caller passes.
    static func checkPreserveFDs(_ n: Int) throws {
        guard n >= 0 && n <= 1 << 24 else { throw VoidError("--preserve-fds \(n): out of range") }
    }

    /// Tells an init that waits for it (`SpawnOptions.waitCommit`) that it is recorded.
    public static func commit(_ s: Spawned) throws {
        var b: UInt8 = 1
        try sys("handing the void over to its state") { write(s.syncFD, &b, 1) }
    }

    /// Why an init died during set-up, when the kernel's OOM killer did it (a memory limit too
    /// small for even the set-up): "" otherwise.
    static func outOfMemory(_ cg: VoidCgroup?) -> String {
        guard let n = cg?.oomKills(), n > 0 else { return "" }
        return ": out of memory: the kernel's OOM killer ended it in the void's cgroup (linux.resources.memory.limit is too small)"
    }

    /// What this spawn adds to the plan, for the lowering.
    static func lowerContext(_ opt: SpawnOptions, cgroupFiles: Int, intoCgroup: Bool) -> Lowering.Context {
        var c = Lowering.Context(caller: opt.caller)
        c.cgroupFiles = cgroupFiles
        c.cloneIntoCgroup = intoCgroup
        c.hooksPause = opt.onPause != nil
        c.waitCommit = opt.waitCommit
        c.waitStart = opt.execFifoFD >= 0
        c.console = opt.consoleFD >= 0
        c.preserveFDs = opt.preserveFDs
        c.connection = opt.connection
        c.dieWithParent = opt.connection != nil
        return c
    }

    /// The process half of the child's instructions, the same for a void's init and for exec.
    static func fillProcess(_ child: inout void_child, _ p: PlannedProcess, seccomp: SeccompProgram?, opt: SpawnOptions,
                            keep: [Int32], arena: CArena, listen: (names: [String], fds: [Int32]) = ([], [])) {
        child.cwd = arena.string(relativeDest(p.cwd))
        child.exec_path = arena.string(p.execPath)
        child.argv = UnsafePointer(arena.stringArray(p.args, terminate: true))
        var env = p.env
        child.listen_pid_env = -1
        child.connection_fd = -1
        if !listen.fds.isEmpty {
            // systemd's socket activation (sd_listen_fds(3)): the preserved fds first, unnamed.
            env = env.filter { !$0.hasPrefix("LISTEN_FDS=") && !$0.hasPrefix("LISTEN_PID=") && !$0.hasPrefix("LISTEN_FDNAMES=") }
            var names = ""
            for n in Array(repeating: "unknown", count: opt.preserveFDs) + listen.names {
                names += (names.isEmpty ? "" : ":") + n
            }
            env.append("LISTEN_FDS=\(opt.preserveFDs + listen.fds.count)")
            env.append("LISTEN_FDNAMES=" + names)
            child.listen_pid_env = Int32(env.count)
            env.append("LISTEN_PID=0000000000")   // the child writes the pid over it
            child.listen_fds = arena.copy(listen.fds)
            child.n_listen_fds = Int32(listen.fds.count)
        }
        child.envp = UnsafePointer(arena.stringArray(env, terminate: true))
        child.uid = p.uid
        child.gid = p.gid
        child.groups = arena.copy(p.additionalGids)
        child.n_groups = Int32(p.additionalGids.count)
        child.umask = p.umask.map { Int32(bitPattern: $0) } ?? 0
        child.rlimits = arena.copy(p.rlimits.map { void_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) })
        child.n_rlimits = Int32(p.rlimits.count)
        child.cap_bounding = p.capabilities.bounding
        child.cap_effective = p.capabilities.effective
        child.cap_permitted = p.capabilities.permitted
        child.cap_inheritable = p.capabilities.inheritable
        child.cap_ambient = p.capabilities.ambient
        child.console_fd = opt.consoleFD
        child.preserve_fds = Int32(opt.preserveFDs)
        if let s = seccomp {
            child.seccomp_filter = UnsafeRawPointer(arena.copy(s.filter))
            child.seccomp_len = UInt16(s.instructionCount)
            child.seccomp_flags = s.flags
        }
        // What the child keeps; everything else it closes before anything else.
        var k = keep
        if opt.preserveFDs > 0 { k += (3..<(3 + Int32(opt.preserveFDs))).map { $0 } }
        let sorted = Array(Set(k.filter { $0 >= 0 })).sorted()
        child.keep_fds = arena.copy(sorted)
        child.n_keep_fds = Int32(sorted.count)
    }

    /// Kill and reap an init whose set-up failed, so no process is left behind.
    public static func abandon(_ s: Spawned) {
        _ = void_pidfd_send_signal(s.pidfd, SIGKILL)
        if s.listener >= 0 { close(s.listener) }
        var status: Int32 = 0
        while waitpid(s.pid, &status, 0) < 0 && errno == EINTR {}
        close(s.pidfd)
        close(s.syncFD)
    }

    /// Reads one report; nil on EOF.
    public static func readReport(_ fd: Int32) throws -> void_report? {
        var r = void_report()
        while true {
            let n = withUnsafeMutableBytes(of: &r) { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw VoidError.sys("reading the void's set-up report") }
            return n == 0 ? nil : r
        }
    }

    static func writeIDMaps(_ plan: VoidPlan, pid: pid_t) throws {
        guard plan.namespaces.first(where: { $0.type == "user" })?.path == nil else { return }
        // A plain loop: joined() is generic stdlib code whose first use costs a scan of every
        // protocol conformance in the binary, on the path the child waits on.
        func lines(_ m: [LinuxIDMapping]) -> String {
            var text = ""
            for e in m { text += "\(e.containerID) \(e.hostID) \(e.size)\n" }
            return text
        }
        if !plan.setgroupsAllowed {
            try writeProc("/proc/\(pid)/setgroups", "deny")
        }
        do { try writeProc("/proc/\(pid)/uid_map", lines(plan.uidMap)) } catch {
            throw VoidError("writing the void's uid_map (\(lines(plan.uidMap).trimmingCharacters())): \(error)")
        }
        do { try writeProc("/proc/\(pid)/gid_map", lines(plan.gidMap)) } catch {
            throw VoidError("writing the void's gid_map (\(lines(plan.gidMap).trimmingCharacters())): \(error)")
        }
    }

    static func writeProc(_ path: String, _ s: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw VoidError.sys("open", path) }
        defer { close(fd) }
        var s = s
        let (n, count) = s.withUTF8 { (write(fd, $0.baseAddress, $0.count), $0.count) }
        if n != count { throw VoidError.sys("write", path) }
    }

    static func hostTree(_ m: PlannedMount, imageFD: Int32, attrs: UInt64, top: UInt64 = 0) throws -> Int32 {
        let src = m.sourceInImage
            ? void_openat2(imageFD, m.source, VOID_O_PATH | UInt64(O_CLOEXEC), 0, VOID_RESOLVE_IN_ROOT | VOID_RESOLVE_NO_MAGICLINKS)
            : void_openat2(AT_FDCWD, m.source, VOID_O_PATH | UInt64(O_CLOEXEC), 0,
                           m.sourceNoSymlinks ? VOID_RESOLVE_NO_SYMLINKS : VOID_RESOLVE_NO_MAGICLINKS)
        if src < 0 {
            let what = m.sourceInImage ? "\(m.source) in the image" : m.source
            throw VoidError("mount \(m.destination) (\(m.origin.text)): open \(what): \(errnoText(errno))", errno: errno)
        }
        defer { close(src) }
        let rec = m.recursive ? VOID_AT_RECURSIVE : 0
        let tree = void_open_tree(src, "", VOID_OPEN_TREE_CLONE | UInt32(O_CLOEXEC) | VOID_AT_EMPTY_PATH | rec)
        if tree < 0 {
            throw VoidError("mount \(m.destination) (\(m.origin.text)): clone \(m.source): \(errnoText(errno))", errno: errno)
        }
        if void_mount_setattr(tree, "", VOID_AT_EMPTY_PATH | rec, attrs, 0, VOID_MS_PRIVATE) < 0
            || (top != 0 && void_mount_setattr(tree, "", VOID_AT_EMPTY_PATH, top, 0, 0) < 0) {
            let e = errno
            close(tree)
            throw VoidError("mount \(m.destination) (\(m.origin.text)): set flags \(m.flags.joined(separator: ",")): \(errnoText(e))", errno: e)
        }
        return tree
    }

    /// The namespace a kernel filesystem shows: mounted by the owner of that namespace only.
    static func namespaceOf(_ fstype: String) -> String? {
        switch fstype {
        case "mqueue": return "ipc"
        case "sysfs": return "network"
        default: return nil
        }
    }

    static func cloneFlag(_ type: String) -> UInt64 {
        switch type {
        case "user": return VOID_CLONE_NEWUSER
        case "mount": return VOID_CLONE_NEWNS
        case "pid": return VOID_CLONE_NEWPID
        case "network": return VOID_CLONE_NEWNET
        case "ipc": return VOID_CLONE_NEWIPC
        case "uts": return VOID_CLONE_NEWUTS
        case "cgroup": return VOID_CLONE_NEWCGROUP
        case "time": return VOID_CLONE_NEWTIME
        default: return 0
        }
    }

    /// The bits of `Lowering.attrs`, the one place that decides them.
    static func attrBits(_ flags: [String], forBind: Bool) -> UInt64 {
        bits(Lowering.attrs(flags, forBind: forBind))
    }

    static func bits(_ a: Lowering.MountAttrs) -> UInt64 {
        var bits: UInt64 = 0
        if a.readOnly { bits |= VOID_MOUNT_ATTR_RDONLY }
        if a.noSuid { bits |= VOID_MOUNT_ATTR_NOSUID }
        if a.noDev { bits |= VOID_MOUNT_ATTR_NODEV }
        if a.noExec { bits |= VOID_MOUNT_ATTR_NOEXEC }
        if a.noSymfollow { bits |= VOID_MOUNT_ATTR_NOSYMFOLLOW }
        switch a.atime {
        case "noatime": bits |= VOID_MOUNT_ATTR_NOATIME
        case "strictatime": bits |= VOID_MOUNT_ATTR_STRICTATIME
        case "nodiratime": bits |= VOID_MOUNT_ATTR_NODIRATIME
        default: break   // relatime is the kernel's default for a fresh filesystem: no bit
        }
        return bits
    }
}
