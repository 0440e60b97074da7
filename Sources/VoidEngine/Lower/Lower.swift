import OCIBundle

extension Lowering {
    /// The operations of a new void, in order (see `Lowering`).
    public static func lower(_ plan: VoidPlan, _ ctx: Context) -> [Op] {
        // org.voidoci.accept: voidoci binds the socket and forks the supervisor, which does the
        // rest for each connection (Supervisor.swift): a void with the connection and no socket.
        if let accept = plan.accept {
            var c = ctx
            c.connection = accept.mode
            c.dieWithParent = true
            c.waitCommit = false
            c.waitStart = false
            c.hooksPause = false
            c.console = false
            return plan.listen.enumerated().map { Op(.runtime, .bindSocket(index: $0.offset, entry: $0.element.entry)) }
                + [Op(.runtime, .superviseAccept(mode: accept.mode.rawValue, max: accept.max))] + lower(plan.perConnection, c)
        }
        // The cgroup namespace is made by the init once it has moved into its cgroups.
        let cgroupLater = ctx.cgroupFiles > 0 && plan.newNamespaceFlags.contains("cgroup")
        return runtimeOps(plan, ctx, cgroupLater: cgroupLater) + initOps(plan, ctx, cgroupLater: cgroupLater)
            + processOps(plan.process, ctx, listen: plan.listen, open: plan.open.count, connect: plan.connect)
    }

    /// mqueue of a joined ipc namespace, sysfs of a joined network one: only their owner can
    /// mount them, so voidoci does (privileged), after joining them.
    static func joinedFilesystem(_ m: PlannedMount, _ plan: VoidPlan, privileged: Bool) -> Bool {
        guard privileged, m.kind == .fs, let ns = Spawner.namespaceOf(m.fstype ?? "") else { return false }
        return plan.namespaces.contains { $0.type == ns && $0.path != nil }
    }

    /// The order namespaces are joined in: every other one, then mount, then user, while the
    /// caller's privileges still apply.
    static func joinRank(_ type: String) -> Int { type == "user" ? 2 : type == "mount" ? 1 : 0 }

    /// voidoci's half, in the caller's namespaces and with its credentials, up to the release.
    static func runtimeOps(_ plan: VoidPlan, _ ctx: Context, cgroupLater: Bool) -> [Op] {
        var ops: [Op] = []
        func runtime(_ k: Kind) { ops.append(Op(.runtime, k)) }
        // In the caller's network namespace, before any is joined (docs/void.md, Sockets).
        for (i, l) in plan.listen.enumerated() { runtime(.bindSocket(index: i, entry: l.entry)) }
        for (i, f) in plan.open.enumerated() { runtime(.openFile(index: i, entry: f.entry)) }
        runtime(.openImage(path: plan.imagePath))
        for (i, m) in plan.mounts.enumerated() {
            switch m.kind {
            case .bind where ctx.privileged:
                runtime(.cloneBindSource(mount: i, source: m.source, inImage: m.sourceInImage, recursive: m.recursive,
                                         attrs: bindAttrs(m)))
            case .node:
                // In a tmpfs of voidoci's own, never attached; each node cloned from it.
                runtime(.makeDeviceNode(mount: i, destination: m.destination, node: m.node?.text ?? ""))
            case .fs:
                if let c = m.copyUp, let src = c.source, !c.entries.isEmpty {
                    runtime(.readCopyUp(mount: i, source: src, entries: c.entries.count, bytes: c.bytes))
                }
            default: break
            }
        }
        if plan.root != .tmpfs && ctx.privileged {
            runtime(.makeImageMountPoints)
            runtime(.cloneImageRoot)
        }
        if plan.root == .tmpfs && ctx.privileged, let h = hostSetupIDs(plan) {
            runtime(.makeRootTmpfs(uid: h.uid, gid: h.gid))
        }
        // Joined: every other namespace, then the sysctls and filesystems of those (voidoci's
        // /proc/sys shows them now), then mount, then user, while the caller's privileges apply.
        var theirsDone = false
        func theirs() {
            guard !theirsDone else { return }
            theirsDone = true
            for s in plan.sysctls where s.joinedPath != nil {
                runtime(.writeSysctl(key: s.key, value: Spawner.sysctlValue(s, plan, host: true) ?? s.value, namespace: s.namespace))
            }
            for (i, m) in plan.mounts.enumerated() where joinedFilesystem(m, plan, privileged: ctx.privileged) {
                runtime(.makeFilesystem(mount: i, type: m.fstype ?? "", namespace: Spawner.namespaceOf(m.fstype ?? "") ?? ""))
            }
        }
        for ns in plan.namespaces.filter({ $0.path != nil }).sorted(by: { joinRank($0.type) < joinRank($1.type) }) {
            if joinRank(ns.type) > 0 { theirs() }
            runtime(.joinNamespace(type: ns.type, path: ns.path ?? ""))
        }
        theirs()
        if ctx.realRoot { runtime(.dropSupplementaryGroups) }
        runtime(.clone(newNamespaces: plan.newNamespaceFlags.filter { !(cgroupLater && $0 == "cgroup") }, intoCgroup: ctx.cloneIntoCgroup))
        if plan.namespaces.first(where: { $0.type == "user" })?.path == nil {
            runtime(.writeIDMaps(setgroupsDeny: !plan.setgroupsAllowed, uid: plan.uidMap, gid: plan.gidMap))
        }
        if let adj = plan.oomScoreAdj { runtime(.writeOOMScoreAdj(adj)) }
        runtime(.release)
        return ops
    }

    /// The init's set-up, born in its namespaces, up to the pivot onto the void's root.
    static func initOps(_ plan: VoidPlan, _ ctx: Context, cgroupLater: Bool) -> [Op] {
        var ops: [Op] = []
        func child(_ k: Kind) { ops.append(Op(.child, k)) }
        child(.closeInheritedFDs)
        if ctx.cgroupFiles > 0 { child(.joinCgroups(files: ctx.cgroupFiles)) }
        if cgroupLater { child(.unshareCgroupNamespace) }
        child(.waitForRelease)
        // Host-side paths are opened before the ids change, with the caller's credentials.
        let childClones = plan.mounts.contains { $0.kind == .bind && $0.sourceInImage } && !ctx.privileged
        if childClones || (plan.root != .tmpfs && !ctx.privileged) { child(.openImageInChild(path: plan.imagePath)) }
        // The source for masking a file.
        if plan.mounts.contains(where: { $0.kind == .mask }) { child(.openHostNull) }
        if let h = plan.hostname { child(.setHostname(h)) }
        if let d = plan.domainname { child(.setDomainname(d)) }
        if plan.namespaces.contains(where: { $0.type == "network" && $0.path == nil }) { child(.loopbackUp) }
        child(.makeMountsPrivate)
        let setup = setupIDs(plan)
        if plan.root != .tmpfs {
            child(.rootFromImage(clonedByRuntime: ctx.privileged))
        } else {
            child(.rootTmpfs(madeByRuntime: ctx.privileged && hostSetupIDs(plan) != nil, uid: setup.uid, gid: setup.gid))
        }
        child(.attachRoot)
        child(.setSetupIDs(uid: setup.uid, gid: setup.gid))
        for (s, value) in Spawner.initSysctls(plan) {
            child(.writeSysctl(key: s.key, value: value, namespace: s.namespace))
        }
        for (i, m) in plan.mounts.enumerated() { child(mountOp(i, m, plan, ctx)) }
        let hasCwd = !relativeDest(plan.process.cwd).isEmpty
        if hasCwd { child(.makeCwd(plan.process.cwd)) }
        if ctx.hooksPause { child(.pauseForHooks) }
        child(.pivotRoot)
        child(.detachOldRoot)
        if plan.rootReadonly { child(.remountRootReadonly) }
        if hasCwd { child(.chdir(plan.process.cwd)) }
        return ops
    }

    /// What the init does for one planned mount.
    static func mountOp(_ i: Int, _ m: PlannedMount, _ plan: VoidPlan, _ ctx: Context) -> Kind {
        switch m.kind {
        case .node:
            return .bind(mount: i, destination: m.destination, source: "node", inImage: false,
                         clonedByRuntime: true, recursive: false, attrs: bindAttrs(m))
        case .bind:
            return .bind(mount: i, destination: m.destination, source: m.source, inImage: m.sourceInImage,
                         clonedByRuntime: ctx.privileged, recursive: m.recursive, attrs: bindAttrs(m))
        case .symlink: return .symlink(mount: i, destination: m.destination, target: m.source)
        case .fs where joinedFilesystem(m, plan, privileged: ctx.privileged): return .attachFilesystem(mount: i, destination: m.destination)
        case .fs:
            return .mountFilesystem(mount: i, destination: m.destination, type: m.fstype ?? "tmpfs",
                                    options: m.fsOptions.map(\.text), attrs: attrs(m.flags, forBind: false),
                                    copyUp: m.copyUp?.entries.count ?? 0)
        case .mask: return .mask(mount: i, destination: m.destination)
        case .readonly: return .readonly(mount: i, destination: m.destination)
        case .dir: return .mkdir(mount: i, destination: m.destination)
        }
    }

    /// The process half: the same for a void's init and for a process exec'd into it.
    static func processOps(_ p: PlannedProcess, _ ctx: Context, listen: [ListenSocket] = [], open: Int = 0,
                           connect: [ConnectDestination] = []) -> [Op] {
        var ops: [Op] = []
        func child(_ k: Kind) { ops.append(Op(.child, k)) }
        if ctx.console { child(.takeConsole) }
        if ctx.preserveFDs > 0 { child(.keepPreservedFDs(ctx.preserveFDs)) }
        // After the preserved fds, as systemd numbers them: LISTEN_FDS counts both.
        if !listen.isEmpty { child(.placeListenFDs(first: 3 + ctx.preserveFDs, names: listen.map(\.name))) }
        switch ctx.connection {
        case .stdio: child(.takeConnection)
        case .fd: child(.placeListenFDs(first: 3 + ctx.preserveFDs, names: ["connection"]))   // systemd's Accept=yes
        case nil: break
        }
        if open > 0 { child(.placeOpenedFiles(first: 3 + ctx.preserveFDs + listen.count + (ctx.connection == .fd ? 1 : 0), count: open)) }
        for r in p.rlimits { child(.setRlimit(name: r.name, soft: r.soft, hard: r.hard)) }
        if let u = p.umask { child(.setUmask(u)) }
        let rules = p.seccomp?.syscalls?.count ?? 0
        // Without no_new_privs the kernel wants CAP_SYS_ADMIN to load a filter: before the
        // capabilities are reduced (runc's order); with it, as late as possible.
        if p.seccomp != nil && !p.noNewPrivileges { child(.loadSeccomp(rules: rules)) }
        // The same rule for the connect filter: with the capabilities, or after no_new_privs.
        let connectFilter = Kind.loadConnectFilter(destinations: connect.map(\.entry), sends: ConnectFilter.interceptsSends(connect))
        if !connect.isEmpty && !p.noNewPrivileges { child(connectFilter) }
        let caps = p.capabilities
        child(.dropBoundingCapabilities(keep: caps.bounding))
        if p.setGroups { child(.setGroups(p.additionalGids)) }
        child(.setIDs(uid: p.uid, gid: p.gid))
        child(.setCapabilities(caps))
        if p.noNewPrivileges { child(.setNoNewPrivileges) }
        if !connect.isEmpty && p.noNewPrivileges { child(connectFilter) }
        // After the last change of ids (which clears it), before a late seccomp filter (which
        // may deny prctl).
        if ctx.dieWithParent { child(.dieWithParent) }
        child(.resetSignals)
        child(.reportReady)
        if !connect.isEmpty { ops.append(Op(.runtime, .superviseConnect)) }
        if ctx.waitCommit { child(.waitForCommit) }
        if ctx.waitStart { child(.waitForStart) }
        if p.seccomp != nil && p.noNewPrivileges { child(.loadSeccomp(rules: rules)) }
        child(.exec(path: p.execPath, args: p.args))
        return ops
    }

    /// A process exec'd into a running void: what it lacks of its program is cloned on this
    /// side and added only where the void has nothing yet; then the same process half as an
    /// init's. The namespaces are the void's, entered through its init's pidfd: a privileged
    /// voidoci clones first and joins the user namespace last, an unprivileged one enters the
    /// user namespace first (where it is root) and clones from a private mount namespace.
    public static func lowerExec(_ plan: ExecPlan, _ ctx: Context) -> [Op] {
        var ops: [Op] = []
        func runtime(_ k: Kind) { ops.append(Op(.runtime, k)) }
        func child(_ k: Kind) { ops.append(Op(.child, k)) }
        runtime(.openImage(path: plan.imagePath))
        if !ctx.privileged { runtime(.joinVoid(userFirst: true)) }
        for (i, m) in plan.mounts.enumerated() where m.kind == .bind {
            runtime(.cloneBindSource(mount: i, source: m.source, inImage: true, recursive: false, attrs: bindAttrs(m)))
        }
        if ctx.privileged { runtime(.joinVoid(userFirst: false)) }
        runtime(.clone(newNamespaces: [], intoCgroup: false))
        child(.closeInheritedFDs)
        if ctx.cgroupFiles > 0 { child(.joinCgroups(files: ctx.cgroupFiles)) }
        let setup = setupIDs(uidMap: plan.uidMap, gidMap: plan.gidMap, plan.process)
        child(.setSetupIDs(uid: setup.uid, gid: setup.gid))
        child(.openJoinedRoot)
        for (i, m) in plan.mounts.enumerated() {
            if m.kind == .bind {
                child(.ifAbsent(.bind(mount: i, destination: m.destination, source: m.source, inImage: true,
                                      clonedByRuntime: true, recursive: false, attrs: bindAttrs(m))))
            } else if m.kind == .symlink {
                child(.ifAbsent(.symlink(mount: i, destination: m.destination, target: m.source)))
            }
        }
        // As at create, a missing cwd is made (in the void's tmpfs, never through a link).
        let hasCwd = !relativeDest(plan.process.cwd).isEmpty
        if hasCwd {
            child(.makeCwd(plan.process.cwd))
            child(.chdir(plan.process.cwd))
        }
        return ops + processOps(plan.process, ctx)
    }
}
