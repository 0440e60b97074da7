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
}

/// Executes a plan: opens host-side sources, joins namespaces, clones the init with every new
/// namespace at once, writes its id maps, and waits for its set-up report.
public enum Spawner {
    public static func spawn(_ plan: VoidPlan, _ opt: SpawnOptions) throws -> Spawned {
        let arena = CArena()
        defer { arena.free() }
        var fdsToClose: [Int32] = []
        defer { for fd in fdsToClose { close(fd) } }

        try checkPreserveFDs(opt.preserveFDs)
        // Whatever the caller leaked to us (non-CLOEXEC fds) must not reach the void: only
        // stdio and the preserved fds survive execve.
        _ = void_close_range_cloexec(UInt32(3 + opt.preserveFDs))
        let seccomp = try plan.process.seccomp.map { try SeccompCompiler.compile($0) }
        let cgroupMove = try opt.cgroupMove ?? CgroupMove(opt.cgroup, cloneIntoV2: true)
        defer { cgroupMove?.close() }

        // Host-side sources: as a privileged caller, clone each bind here, in the caller's mount
        // namespace and with its credentials, and hand the detached tree to the child.
        let imageFD = open(plan.imagePath, Int32(VOID_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        if imageFD < 0 { throw VoidError.sys("open root.path", plan.imagePath) }
        fdsToClose.append(imageFD)
        var ops = [void_op](repeating: void_op(), count: plan.mounts.count)
        var nodes: NodeMaker?
        defer { nodes?.close() }
        var copyFDs: [Int32] = []
        for (i, m) in plan.mounts.enumerated() {
            var op = void_op()
            op.dest = arena.string(relativeDest(m.destination))
            op.source = arena.string(m.source)
            op.tree_fd = -1
            op.copy_fd = -1
            op.in_image = m.sourceInImage ? 1 : 0
            op.no_symlinks = m.sourceNoSymlinks ? 1 : 0
            op.is_dir = m.isDir ? 1 : 0
            op.recursive = m.recursive ? 1 : 0
            if m.kind == .bind {
                let b = Lowering.bindAttrs(m)
                op.attr_set = bits(b.all)
                op.attr_top = bits(b.top)
            } else {
                op.attr_set = attrBits(m.flags, forBind: m.kind == .node)
            }
            switch m.kind {
            case .node:
                // Made here, in a tmpfs of voidoci's own that is never attached, and bound in.
                op.kind = Int32(VOID_OP_BIND.rawValue)
                let maker = try nodes ?? NodeMaker()
                nodes = maker
                try maker.make(m, index: i, attrs: op.attr_set)
            case .bind:
                op.kind = Int32(VOID_OP_BIND.rawValue)
                if opt.caller.privileged {
                    op.tree_fd = try hostTree(m, imageFD: imageFD, attrs: op.attr_set, top: op.attr_top)
                    if op.tree_fd >= 0 { fdsToClose.append(op.tree_fd) }
                }
            case .symlink: op.kind = Int32(VOID_OP_SYMLINK.rawValue)
            case .dir: op.kind = Int32(VOID_OP_DIR.rawValue)
            case .mask: op.kind = Int32(VOID_OP_MASK.rawValue)
            case .readonly: op.kind = Int32(VOID_OP_READONLY.rawValue)
            case .fs:
                op.kind = Int32(VOID_OP_FS.rawValue)
                op.fstype = arena.string(m.fstype ?? "tmpfs")
                var opts = m.fsOptions
                if m.fstype == "proc" || m.fstype == "sysfs" || m.fstype == "mqueue" || m.fstype == "cgroup2" {
                    opts.removeAll { $0.key == "source" }
                }
                op.fs_keys = UnsafePointer(arena.stringArray(opts.map(\.key), terminate: false))
                op.fs_values = UnsafePointer(arena.optionalStringArray(opts.map(\.value)))
                op.fs_nopts = Int32(opts.count)
                if let c = m.copyUp, !c.entries.isEmpty {
                    let (fd, entries) = try readCopyUp(c, m, imageFD: imageFD, arena: arena)
                    fdsToClose.append(fd)
                    copyFDs.append(fd)
                    op.copy_fd = fd
                    op.copy = arena.copy(entries)
                    op.n_copy = Int32(entries.count)
                }
            }
            ops[i] = op
        }
        for (i, tree) in try nodes?.cloneAll() ?? [] {
            ops[i].tree_fd = tree
            fdsToClose.append(tree)
        }
        nodes?.close()   // each node's own clone keeps it: the tmpfs itself is never handed on
        var imageTree: Int32 = -1
        if plan.root != .tmpfs && opt.caller.privileged {
            try createMountPoints(plan, imageFD: imageFD)
            imageTree = void_open_tree(imageFD, "", VOID_OPEN_TREE_CLONE | UInt32(O_CLOEXEC) | VOID_AT_EMPTY_PATH | VOID_AT_RECURSIVE)
            if imageTree < 0 { throw VoidError.sys("clone the image root", plan.imagePath) }
            fdsToClose.append(imageTree)
            try sys("make the image root private", plan.imagePath) {
                void_mount_setattr(imageTree, "", VOID_AT_EMPTY_PATH | VOID_AT_RECURSIVE, 0, 0, VOID_MS_PRIVATE)
            }
        }

        var rootTmpfs: Int32 = -1
        if plan.root == .tmpfs && opt.caller.privileged, let (u, g) = hostSetupIDs(plan) {
            rootTmpfs = void_make_tmpfs(u, g)
            if rootTmpfs < 0 { throw VoidError.sys("creating the void's tmpfs root") }
            fdsToClose.append(rootTmpfs)
        }

        // Namespaces given by path are joined by this process before the clone, so the init is
        // born inside them; non-user ones first, while the caller's privileges still apply.
        var flags: UInt64 = 0
        var joins: [(fd: Int32, type: String)] = []
        for ns in plan.namespaces {
            if let path = ns.path {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                if fd < 0 { throw VoidError("\(ns.origin).path: \(path): \(errnoText(errno))", errno: errno) }
                fdsToClose.append(fd)
                joins.append((fd, ns.type))
            } else {
                flags |= cloneFlag(ns.type)
            }
        }
        // The kernel refuses these to a process with another thread (the set-up's helper may
        // still be leaving).
        if joins.contains(where: { $0.type == "user" || $0.type == "mount" }) { _ = void_wait_single_threaded() }
        // Every other namespace first, then the sysctls of those joined (voidoci's /proc/sys now
        // shows them), then mount, then user: while the caller's privileges still apply.
        let procFD = plan.sysctls.contains { $0.joinedPath != nil } ? open("/proc", Int32(VOID_O_PATH) | O_DIRECTORY | O_CLOEXEC) : -1
        if procFD >= 0 { fdsToClose.append(procFD) }
        func rank(_ t: String) -> Int { t == "user" ? 2 : t == "mount" ? 1 : 0 }
        var sysctlsWritten = false
        // Also while only those are joined: the filesystems that belong to them (mqueue of a
        // joined ipc namespace, sysfs of a joined network one), which the void's own user
        // namespace could not mount there; made here, detached, and attached by the init.
        func joinedFilesystems() throws {
            guard opt.caller.privileged else { return }
            for (i, m) in plan.mounts.enumerated() where m.kind == .fs {
                guard let type = m.fstype, let ns = Self.namespaceOf(type),
                      plan.namespaces.contains(where: { $0.type == ns && $0.path != nil }) else { continue }
                let opts = m.fsOptions.filter { $0.key != "source" }
                let fd = void_make_fs(type, arena.stringArray(opts.map(\.key), terminate: false),
                                      arena.optionalStringArray(opts.map(\.value)), Int32(opts.count), ops[i].attr_set)
                if fd < 0 {
                    throw VoidError("mount \(m.destination) (\(m.origin.text)): \(type) of the joined \(ns) namespace: \(errnoText(errno))", errno: errno, stage: .spawn)
                }
                fdsToClose.append(fd)
                ops[i].tree_fd = fd
            }
        }
        for j in joins.sorted(by: { rank($0.type) < rank($1.type) }) {
            if rank(j.type) > 0 && !sysctlsWritten {
                try writeJoinedSysctls(plan, proc: procFD)
                try joinedFilesystems()
                sysctlsWritten = true
            }
            if void_setns(j.fd, Int32(truncatingIfNeeded: cloneFlag(j.type))) < 0 {
                throw VoidError("joining the \(j.type) namespace: \(errnoText(errno))", errno: errno)
            }
        }
        if !sysctlsWritten {
            try writeJoinedSysctls(plan, proc: procFD)
            try joinedFilesystems()
        }
        // Supplementary groups cannot be dropped from inside once setgroups is denied, and
        // host groups must not follow the void in (CVE-2014-8989's lesson).
        if opt.caller.isRealRoot { _ = setgroups(0, nil) }

        var pair: [Int32] = [-1, -1]
        try sys("socketpair") { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) }
        let (parentFD, childFD) = (pair[0], pair[1])

        let (setupUID, setupGID) = Lowering.setupIDs(plan)
        var child = void_child()
        child.sync_fd = childFD
        child.parent_fd = parentFD
        child.exec_fifo_fd = opt.execFifoFD
        child.setup_uid = setupUID
        child.setup_gid = setupGID
        child.image_path = arena.string(plan.imagePath)
        child.attach_path = arena.string(opt.attachPath)
        child.rootfs_mode = plan.root == .tmpfs ? 0 : 1
        child.root_readonly = plan.rootReadonly ? 1 : 0
        child.image_tree_fd = imageTree
        child.root_tmpfs_fd = rootTmpfs
        child.need_image_fd = (ops.contains { $0.tree_fd < 0 && $0.in_image != 0 && $0.kind == Int32(VOID_OP_BIND.rawValue) }
            || (plan.root != .tmpfs && imageTree < 0)) ? 1 : 0
        child.ops = UnsafeMutablePointer(mutating: arena.copy(ops))
        child.n_ops = Int32(ops.count)
        let own = initSysctls(plan)
        child.sysctl_paths = UnsafePointer(arena.stringArray(own.map(\.sysctl.procPath), terminate: false))
        child.sysctl_values = UnsafePointer(arena.stringArray(own.map(\.value), terminate: false))
        child.n_sysctls = Int32(own.count)
        child.hostname = plan.hostname.map { arena.string($0) }
        child.domainname = plan.domainname.map { arena.string($0) }
        child.loopback_up = plan.namespaces.contains { $0.type == "network" && $0.path == nil } ? 1 : 0
        child.hook_pause = opt.onPause == nil ? 0 : 1
        child.wait_commit = opt.waitCommit ? 1 : 0
        let cgroupJoins = cgroupMove?.into ?? []
        child.cgroup_fds = arena.copy(cgroupJoins)
        child.n_cgroup_fds = Int32(cgroupJoins.count)
        if !cgroupJoins.isEmpty && flags & VOID_CLONE_NEWCGROUP != 0 {
            // The child is in voidoci's v1 cgroups until it has moved itself: its cgroup
            // namespace is made after that, rooted at the void's cgroups.
            flags &= ~VOID_CLONE_NEWCGROUP
            child.unshare_cgroupns = 1
        }
        fillProcess(&child, plan.process, seccomp: seccomp, opt: opt,
                    keep: [childFD, opt.execFifoFD, opt.consoleFD, imageTree, rootTmpfs] + ops.map(\.tree_fd) + copyFDs + cgroupJoins, arena: arena)

        var pidfd: Int32 = -1
        // The child attaches the void root at its cwd: set it here, where the state dir can be
        // searched, and come back afterwards.
        let savedCwd = open(".", Int32(VOID_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        if chdir(opt.attachPath) < 0 { let e = errno; close(savedCwd); throw VoidError.sys("chdir", opt.attachPath, errno: e) }
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
        let spawned = Spawned(pid: pid, pidfd: pidfd, syncFD: parentFD)
        do {
            try writeIDMaps(plan, pid: pid)
            if let adj = plan.oomScoreAdj {
                do { try writeProc("/proc/\(pid)/oom_score_adj", "\(adj)") } catch {
                    throw VoidError("process.oomScoreAdj: \(adj): \(error)")
                }
            }
            var go: UInt8 = 1
            try sys("releasing the void's init") { write(parentFD, &go, 1) }
            while let report = try readReport(parentFD) {
                if report.step == Int32(VOID_STEP_READY.rawValue) { return spawned }
                if report.step == Int32(VOID_STEP_HOOKS_PAUSE.rawValue), let hooks = opt.onPause {
                    try hooks(pid, pidfd)
                    try sys("resuming the void's init after its hooks") { write(parentFD, &go, 1) }
                    continue
                }
                throw describe(report, plan: plan)
            }
            throw VoidError("the void's init exited during set-up: \(waitStatusText(pid))" + outOfMemory(opt.cgroup))
        } catch {
            abandon(spawned)
            throw error
        }
    }

    /// The files through which a new void's init (or an exec'd process) moves itself into the
    /// void's cgroups, first thing after the clone: in each v1 hierarchy it writes 0 to `tasks`
    /// (this thread only), and the v2 leaf is handed to clone3 (CLONE_INTO_CGROUP). voidoci never
    /// enters the void's cgroups itself: while inside, its own memory would be charged to the
    /// void, and a tight memory limit would have the kernel OOM-kill voidoci mid-create.
    ///
    /// Why not cgroup.procs: moving a whole process takes the kernel's cgroup_threadgroup_rwsem
    /// for writing, and its first writer waits for an RCU grace period, about 7 ms on the bench
    /// machine, more than half of a void's start. Moving only the current thread, and cloning
    /// into a cgroup, do not take that lock.
    ///
    /// exec has joined the void's cgroup namespace before it clones, where CLONE_INTO_CGROUP
    /// cannot name a leaf outside it, so its process writes the v2 cgroup.procs instead
    /// (`cloneIntoV2` false). Every file is opened up front, in voidoci's own namespaces: the
    /// kernel checks a write against the opener's credentials and cgroup namespace.
    /// Owns its fds: closed by `close()` (idempotent) or when the last reference goes.
    final class CgroupMove {
        private(set) var into: [Int32] = []
        private(set) var cgroupFD: Int32 = -1   // the v2 leaf for CLONE_INTO_CGROUP, or -1

        init?(_ cg: VoidCgroup?, cloneIntoV2: Bool) throws {
            guard let cg else { return nil }
            do {
                for d in cg.paths {
                    let v2 = d == cg.unified
                    if v2 && cloneIntoV2 {
                        cgroupFD = Glibc.open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                        if cgroupFD < 0 { throw VoidError.sys("joining cgroup", d) }
                    } else {
                        into.append(try Self.openFile(d, v2 ? "cgroup.procs" : "tasks"))
                    }
                }
            } catch {
                close()
                throw error
            }
        }

        static func openFile(_ dir: String, _ file: String) throws -> Int32 {
            let fd = Glibc.open("\(dir)/\(file)", O_WRONLY | O_CLOEXEC)
            if fd < 0 { throw VoidError.sys("joining cgroup", dir) }
            return fd
        }

        func close() {
            for fd in into { Glibc.close(fd) }
            if cgroupFD >= 0 { Glibc.close(cgroupFD) }
            into = []
            cgroupFD = -1
        }

        deinit { close() }
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

    /// The process half of the child's instructions, the same for a void's init and for exec.
    static func fillProcess(_ child: inout void_child, _ p: PlannedProcess, seccomp: SeccompProgram?, opt: SpawnOptions,
                            keep: [Int32], arena: CArena) {
        child.cwd = arena.string(relativeDest(p.cwd))
        child.exec_path = arena.string(p.execPath)
        child.argv = UnsafePointer(arena.stringArray(p.args, terminate: true))
        child.envp = UnsafePointer(arena.stringArray(p.env, terminate: true))
        child.uid = p.uid
        child.gid = p.gid
        child.set_groups = p.setGroups ? 1 : 0
        child.groups = arena.copy(p.additionalGids)
        child.n_groups = Int32(p.additionalGids.count)
        child.umask = p.umask.map { Int32($0) } ?? -1
        child.rlimits = arena.copy(p.rlimits.map { void_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) })
        child.n_rlimits = Int32(p.rlimits.count)
        child.has_caps = 1
        child.cap_bounding = p.capabilities.bounding
        child.cap_effective = p.capabilities.effective
        child.cap_permitted = p.capabilities.permitted
        child.cap_inheritable = p.capabilities.inheritable
        child.cap_ambient = p.capabilities.ambient
        child.no_new_privs = p.noNewPrivileges ? 1 : 0
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

    /// The host ids the void's set-up ids map to (nil when a joined user namespace decides).
    static func hostSetupIDs(_ plan: VoidPlan) -> (UInt32, UInt32)? {
        Lowering.hostSetupIDs(plan).map { ($0.uid, $0.gid) }
    }

    /// Kill and reap an init whose set-up failed, so no process is left behind.
    public static func abandon(_ s: Spawned) {
        _ = void_pidfd_send_signal(s.pidfd, SIGKILL)
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
            if errno == EPERM { return -1 }  // not allowed here: the child clones it in its own namespace
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

/// "/usr/bin/sh" → "usr/bin/sh"; "." and empty components removed (validation refused "..").
func relativeDest(_ abs: String) -> String {
    FilePath(abs).lexicallyNormalized().removingRoot().string
}

func waitStatusText(_ pid: pid_t) -> String {
    var status: Int32 = 0
    var r: pid_t
    repeat { r = waitpid(pid, &status, 0) } while r < 0 && errno == EINTR
    if r < 0 { return "unknown status" }
    if status & 0x7f == 0 { return "exit status \((status >> 8) & 0xff)" }
    return "killed by signal \(status & 0x7f)"
}

extension String {
    func trimmingCharacters() -> String {
        var s = self[...]
        while let l = s.last, l == "\n" || l == " " { s = s.dropLast() }
        return String(s).replacingOccurrences(of: "\n", with: "; ")
    }

    func replacingOccurrences(of a: String, with b: String) -> String {
        split(separator: a, omittingEmptySubsequences: false).joined(separator: b)
    }
}

/// C strings and arrays that must stay valid until the clone; freed together afterwards (the
/// child has its own copy of the memory).
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    func string(_ s: String) -> UnsafePointer<CChar> {
        let p = strdup(s)!
        blocks.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }

    func stringArray(_ list: [String], terminate: Bool) -> UnsafeMutablePointer<UnsafePointer<CChar>?>? {
        let arr = pointerArray(list.count + 1)
        for (i, s) in list.enumerated() { arr[i] = string(s) }
        arr[list.count] = nil
        blocks.append(UnsafeMutableRawPointer(arr))
        return arr
    }

    func optionalStringArray(_ list: [String?]) -> UnsafeMutablePointer<UnsafePointer<CChar>?>? {
        let arr = pointerArray(list.count + 1)
        for (i, s) in list.enumerated() { arr[i] = s.map { string($0) } }
        arr[list.count] = nil
        blocks.append(UnsafeMutableRawPointer(arr))
        return arr
    }

    /// A malloc'd copy of an array, valid until `free`.
    func copy<T>(_ a: [T]) -> UnsafePointer<T>? {
        guard !a.isEmpty else { return nil }
        let raw = malloc(MemoryLayout<T>.stride * a.count)!
        let p = raw.bindMemory(to: T.self, capacity: a.count)
        p.initialize(from: a, count: a.count)
        blocks.append(raw)
        return UnsafePointer(p)
    }

    private func pointerArray(_ n: Int) -> UnsafeMutablePointer<UnsafePointer<CChar>?> {
        let raw = malloc(MemoryLayout<UnsafePointer<CChar>?>.stride * n)!
        return raw.bindMemory(to: UnsafePointer<CChar>?.self, capacity: n)
    }

    func free() { for b in blocks { Glibc.free(b) } ; blocks = [] }
}
