import CVoid
import Glibc
import OCIBundle

extension Spawner {
    /// Runs a process inside a running void: clones what it lacks (the program's closure) on
    /// the host side, joins the void's namespaces through the init's pidfd, clones the process
    /// there, and waits for its set-up report. Returns once it is ready to execve (EOF next).
    public static func spawnExec(_ plan: ExecPlan, initPidfd: Int32, _ opt: SpawnOptions) throws -> Spawned {
        let arena = CArena()
        defer { arena.free() }
        var fdsToClose: [Int32] = []
        defer { for fd in fdsToClose { close(fd) } }
        try checkPreserveFDs(opt.preserveFDs)
        _ = void_close_range_cloexec(UInt32(3 + opt.preserveFDs))
        let seccomp = try plan.process.seccomp.map { try SeccompCompiler.compile($0) }
        let cgroupMove = try CgroupMove(opt.cgroup, cloneIntoV2: false)
        let joins = cgroupMove?.into ?? []
        let lowered = Lowering.lowerExec(plan, lowerContext(opt, cgroupFiles: joins.count, intoCgroup: false))

        let userFirst = lowered.contains(Lowering.Op(.runtime, .joinVoid(userFirst: true)))
        let ops = try joinVoid(initPidfd: initPidfd, initPID: opt.initPID, userFirst: userFirst) {
            try execTrees(plan, arena: arena, fds: &fdsToClose)
        }

        var pair: [Int32] = [-1, -1]
        try sys("socketpair") { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) }
        let (parentFD, childFD) = (pair[0], pair[1])
        var child = void_child()
        let program = ChildProgram.instructions(lowered)
        child.program = arena.copy(program)
        child.n_program = Int32(program.count)
        child.sync_fd = childFD
        child.exec_fifo_fd = -1
        for case .setSetupIDs(let uid, let gid) in lowered.map(\.kind) {
            child.setup_uid = uid
            child.setup_gid = gid
        }
        child.ops = UnsafeMutablePointer(mutating: arena.copy(ops))
        child.n_ops = Int32(ops.count)
        child.cgroup_fds = arena.copy(joins)
        child.n_cgroup_fds = Int32(joins.count)
        fillProcess(&child, plan.process, seccomp: seccomp, opt: opt,
                    keep: [childFD, opt.consoleFD] + ops.map(\.tree_fd) + joins, arena: arena)
        var pidfd: Int32 = -1
        let pid = void_spawn(&child, 0, -1, &pidfd)
        cgroupMove?.close()
        close(childFD)
        if pid < 0 {
            let e = errno
            close(parentFD)
            throw VoidError.sys("clone3 into the void", errno: e)
        }
        let spawned = Spawned(pid: pid, pidfd: pidfd, syncFD: parentFD)
        do {
            if let report = try readReport(parentFD) {
                if report.step == Int32(VOID_STEP_READY.rawValue) { return spawned }
                throw describeExec(report, plan: plan)
            }
            throw VoidError("the exec'd process exited during set-up: \(waitStatusText(pid))" + outOfMemory(opt.cgroup))
        } catch {
            abandon(spawned)
            throw error
        }
    }

    /// What the void lacks for the process, cloned from the image on this side (each tree's fd
    /// also goes into `fds`, to close after the clone).
    static func execTrees(_ plan: ExecPlan, arena: CArena, fds: inout [Int32]) throws -> [void_op] {
        let imageFD = open(plan.imagePath, Int32(VOID_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        if imageFD < 0 { throw VoidError.sys("open the void's image", plan.imagePath) }
        defer { close(imageFD) }
        var ops: [void_op] = []
        for m in plan.mounts {
            var op = void_op()
            op.dest = arena.string(relativeDest(m.destination))
            op.source = arena.string(m.source)
            op.tree_fd = -1
            op.in_image = 1
            op.attr_set = attrBits(m.flags, forBind: true)
            if m.kind == .bind {
                op.kind = Int32(VOID_OP_BIND.rawValue)
                op.tree_fd = try hostTree(m, imageFD: imageFD, attrs: op.attr_set)
                if op.tree_fd < 0 { throw VoidError("exec: cannot clone \(m.source) from the image: operation not permitted") }
                fds.append(op.tree_fd)
            } else {
                op.kind = Int32(VOID_OP_SYMLINK.rawValue)
            }
            ops.append(op)
        }
        return ops
    }

    /// Joins the void's namespaces through the init's pidfd, cloning what `trees` clones where it
    /// can. Privileged: clone in our own mount namespace, with our credentials, then join (user
    /// last, while our privileges still open the other namespaces, which may be owned by ours,
    /// like podman's network namespace). Unprivileged: enter the void's user namespace first,
    /// where we are root, and clone from a private copy of our mount namespace.
    static func joinVoid(initPidfd: Int32, initPID: Int32, userFirst: Bool, trees: () throws -> [void_op]) throws -> [void_op] {
        let others: Int32 = Int32(truncatingIfNeeded: VOID_CLONE_NEWNS | VOID_CLONE_NEWPID | VOID_CLONE_NEWNET | VOID_CLONE_NEWIPC
            | VOID_CLONE_NEWUTS | VOID_CLONE_NEWCGROUP | VOID_CLONE_NEWTIME)
        let user = Int32(truncatingIfNeeded: VOID_CLONE_NEWUSER)
        let sameUserNS = nsLink("self", "user") == nsLink("\(initPID)", "user")
        let ops: [void_op]
        if !userFirst {
            ops = try trees()
            if void_setns(initPidfd, others) < 0 { throw VoidError.sys("joining the void's namespaces") }
            if !sameUserNS && void_setns(initPidfd, user) < 0 { throw VoidError.sys("joining the void's user namespace") }
        } else {
            if !sameUserNS && void_setns(initPidfd, user) < 0 { throw VoidError.sys("joining the void's user namespace") }
            if void_unshare(Int32(truncatingIfNeeded: VOID_CLONE_NEWNS)) < 0 { throw VoidError.sys("unshare a mount namespace to clone sources in") }
            ops = try trees()
            if void_setns(initPidfd, others) < 0 { throw VoidError.sys("joining the void's namespaces") }
        }
        return ops
    }

    static func describeExec(_ r: void_report, plan: ExecPlan) -> VoidError {
        let shim = VoidPlan(imagePath: plan.imagePath, namespaces: [], uidMap: plan.uidMap, gidMap: plan.gidMap,
                            setgroupsAllowed: false, idNote: "", hostname: nil, domainname: nil, root: .tmpfs,
                            rootReadonly: false, mounts: plan.mounts, process: plan.process, dropped: [])
        var e = describe(r, plan: shim)
        if r.step == Int32(VOID_STEP_DEST.rawValue) && r.err == EROFS {
            e.description += " (the void's root is read-only: what exec needs must be granted at create)"
        }
        return e
    }
}

func nsLink(_ pid: String, _ ns: String) -> String? {
    var buf = [CChar](repeating: 0, count: 128)
    let n = readlink("/proc/\(pid)/ns/\(ns)", &buf, buf.count - 1)
    return n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
}
