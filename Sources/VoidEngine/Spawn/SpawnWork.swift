import CVoid
import Glibc
import OCIBundle

/// What `Spawner.spawn` prepares on voidoci's side before the clone, step by step: the child's
/// mount operations with the trees voidoci cloned or made for them, the root's sources, the
/// namespaces joined (with the sysctls and filesystems that belong to them). Holds the C
/// strings (arena) and the fds to close once the child has its copies (`finish`).
final class SpawnWork {
    let plan: VoidPlan
    let opt: SpawnOptions
    let arena = CArena()
    private(set) var fds: [Int32] = []
    var ops: [void_op] = []
    private(set) var copyFDs: [Int32] = []

    init(_ plan: VoidPlan, _ opt: SpawnOptions) {
        self.plan = plan
        self.opt = opt
    }

    func finish() {
        for fd in fds { close(fd) }
        fds = []
        arena.free()
    }

    func openImage() throws -> Int32 {
        let fd = open(plan.imagePath, Int32(VOID_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw VoidError.sys("open root.path", plan.imagePath) }
        fds.append(fd)
        return fd
    }

    /// One operation per planned mount. Host-side sources: as a privileged caller, each bind is
    /// cloned here, in the caller's mount namespace and with its credentials, and the detached
    /// tree handed to the child; device nodes are made here; tmpcopyup content is read here.
    func mountOps(imageFD: Int32) throws {
        var nodes: Spawner.NodeMaker?
        defer { nodes?.close() }
        ops = [void_op](repeating: void_op(), count: plan.mounts.count)
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
                op.attr_set = Spawner.bits(b.all)
                op.attr_top = Spawner.bits(b.top)
            } else {
                op.attr_set = Spawner.attrBits(m.flags, forBind: m.kind == .node)
            }
            switch m.kind {
            case .node:
                // Made here, in a tmpfs of voidoci's own that is never attached, and bound in.
                op.kind = Int32(VOID_OP_BIND.rawValue)
                let maker = try nodes ?? Spawner.NodeMaker()
                nodes = maker
                try maker.make(m, index: i, attrs: op.attr_set)
            case .bind:
                op.kind = Int32(VOID_OP_BIND.rawValue)
                if opt.caller.privileged {
                    op.tree_fd = try Spawner.hostTree(m, imageFD: imageFD, attrs: op.attr_set, top: op.attr_top)
                    if op.tree_fd >= 0 { fds.append(op.tree_fd) }
                }
            case .symlink: op.kind = Int32(VOID_OP_SYMLINK.rawValue)
            case .dir: op.kind = Int32(VOID_OP_DIR.rawValue)
            case .mask: op.kind = Int32(VOID_OP_MASK.rawValue)
            case .readonly: op.kind = Int32(VOID_OP_READONLY.rawValue)
            case .fs: try fsOp(&op, m, imageFD: imageFD)
            }
            ops[i] = op
        }
        for (i, tree) in try nodes?.cloneAll() ?? [] {
            ops[i].tree_fd = tree
            fds.append(tree)
        }
        nodes?.close()   // each node's own clone keeps it: the tmpfs itself is never handed on
    }

    private func fsOp(_ op: inout void_op, _ m: PlannedMount, imageFD: Int32) throws {
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
            let (fd, entries) = try Spawner.readCopyUp(c, m, imageFD: imageFD, arena: arena)
            fds.append(fd)
            copyFDs.append(fd)
            op.copy_fd = fd
            op.copy = arena.copy(entries)
            op.n_copy = Int32(entries.count)
        }
    }

    /// The image root cloned (granted), or the void's tmpfs root made with the void's host ids
    /// (privileged); -1 for what the child makes itself.
    func rootSources(imageFD: Int32) throws -> (imageTree: Int32, rootTmpfs: Int32) {
        var imageTree: Int32 = -1
        if plan.root != .tmpfs && opt.caller.privileged {
            try Spawner.createMountPoints(plan, imageFD: imageFD)
            imageTree = void_open_tree(imageFD, "", VOID_OPEN_TREE_CLONE | UInt32(O_CLOEXEC) | VOID_AT_EMPTY_PATH | VOID_AT_RECURSIVE)
            if imageTree < 0 { throw VoidError.sys("clone the image root", plan.imagePath) }
            fds.append(imageTree)
            try sys("make the image root private", plan.imagePath) {
                void_mount_setattr(imageTree, "", VOID_AT_EMPTY_PATH | VOID_AT_RECURSIVE, 0, 0, VOID_MS_PRIVATE)
            }
        }
        var rootTmpfs: Int32 = -1
        if plan.root == .tmpfs && opt.caller.privileged, let h = Lowering.hostSetupIDs(plan) {
            rootTmpfs = void_make_tmpfs(h.uid, h.gid)
            if rootTmpfs < 0 { throw VoidError.sys("creating the void's tmpfs root") }
            fds.append(rootTmpfs)
        }
        return (imageTree, rootTmpfs)
    }

    /// Namespaces given by path are joined by this process before the clone, so the init is
    /// born inside them: every other namespace first, then the sysctls and filesystems of those
    /// (voidoci's /proc/sys shows them now), then mount, then user, while the caller's
    /// privileges still apply.
    func joinNamespaces() throws {
        var joins: [(fd: Int32, type: String)] = []
        for ns in plan.namespaces {
            if let path = ns.path {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                if fd < 0 { throw VoidError("\(ns.origin).path: \(path): \(errnoText(errno))", errno: errno) }
                fds.append(fd)
                joins.append((fd, ns.type))
            }
        }
        // The kernel refuses these to a process with another thread (the set-up's helper may
        // still be leaving).
        if joins.contains(where: { $0.type == "user" || $0.type == "mount" }) { _ = void_wait_single_threaded() }
        let procFD = plan.sysctls.contains { $0.joinedPath != nil } ? open("/proc", Int32(VOID_O_PATH) | O_DIRECTORY | O_CLOEXEC) : -1
        if procFD >= 0 { fds.append(procFD) }
        var theirsDone = false
        for j in joins.sorted(by: { Lowering.joinRank($0.type) < Lowering.joinRank($1.type) }) {
            if Lowering.joinRank(j.type) > 0 && !theirsDone {
                try Spawner.writeJoinedSysctls(plan, proc: procFD)
                try joinedFilesystems()
                theirsDone = true
            }
            if void_setns(j.fd, Int32(truncatingIfNeeded: Spawner.cloneFlag(j.type))) < 0 {
                throw VoidError("joining the \(j.type) namespace: \(errnoText(errno))", errno: errno)
            }
        }
        if !theirsDone {
            try Spawner.writeJoinedSysctls(plan, proc: procFD)
            try joinedFilesystems()
        }
    }

    /// The filesystems that belong to a joined namespace (mqueue of a joined ipc namespace,
    /// sysfs of a joined network one), which the void's own user namespace could not mount
    /// there: made here (privileged), detached, and attached by the init.
    func joinedFilesystems() throws {
        for (i, m) in plan.mounts.enumerated() where Lowering.joinedFilesystem(m, plan, privileged: opt.caller.privileged) {
            guard let type = m.fstype, let ns = Spawner.namespaceOf(type) else { continue }
            let opts = m.fsOptions.filter { $0.key != "source" }
            let fd = void_make_fs(type, arena.stringArray(opts.map(\.key), terminate: false),
                                  arena.optionalStringArray(opts.map(\.value)), Int32(opts.count), ops[i].attr_set)
            if fd < 0 {
                throw VoidError("mount \(m.destination) (\(m.origin.text)): \(type) of the joined \(ns) namespace: \(errnoText(errno))", errno: errno, stage: .spawn)
            }
            fds.append(fd)
            ops[i].tree_fd = fd
        }
    }

    /// The init's instructions for child.c, but for its process half (`Spawner.fillProcess`)
    /// and its cgroup files.
    func childInstructions(_ lowered: [Lowering.Op], syncFD: Int32, imageTree: Int32, rootTmpfs: Int32) -> void_child {
        let (setupUID, setupGID) = Lowering.setupIDs(plan)
        var child = void_child()
        let program = ChildProgram.instructions(lowered)
        child.program = arena.copy(program)
        child.n_program = Int32(program.count)
        child.sync_fd = syncFD
        child.exec_fifo_fd = opt.execFifoFD
        child.setup_uid = setupUID
        child.setup_gid = setupGID
        child.image_path = arena.string(plan.imagePath)
        child.image_tree_fd = imageTree
        child.root_tmpfs_fd = rootTmpfs
        child.ops = UnsafeMutablePointer(mutating: arena.copy(ops))
        child.n_ops = Int32(ops.count)
        // In the order of the lowering's child writeSysctl operations (ChildProgram counts them).
        let own = Spawner.initSysctls(plan)
        child.sysctl_paths = UnsafePointer(arena.stringArray(own.map(\.sysctl.procPath), terminate: false))
        child.sysctl_values = UnsafePointer(arena.stringArray(own.map(\.value), terminate: false))
        child.n_sysctls = Int32(own.count)
        child.hostname = plan.hostname.map { arena.string($0) }
        child.domainname = plan.domainname.map { arena.string($0) }
        return child
    }
}
