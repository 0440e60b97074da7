import OCIBundle

/// Plan → [Op]: the flat list of operations that make a void, in the order they happen, with
/// every decision taken: which side clones a bind source (voidoci before the clone, or the init
/// in its own mount namespace), the exact mount attribute bits, the ids the set-up runs as, which
/// namespaces the clone makes and which are joined. The child stage (child.c) is an interpreter
/// of the `.child` operations: `Spawner` hands it exactly this list (`ChildProgram`), in order,
/// and it decides nothing. `Spawner` takes its own decisions (clone flags, who clones a source,
/// set-up ids) from the same functions. `voidoci explain --lowered` prints the list; unit
/// tests assert it. A pure function of the plan and the caller: no file is opened, nothing is
/// created.
public enum Lowering {
    /// Who executes an operation.
    public enum Actor: String, Sendable { case runtime, child }

    public struct Op: Equatable, Sendable {
        public var actor: Actor
        public var kind: Kind
        public init(_ actor: Actor, _ kind: Kind) {
            self.actor = actor
            self.kind = kind
        }
    }

    public enum Kind: Equatable, Sendable {
        // voidoci, before and around the clone
        case bindSocket(index: Int, entry: String)
        case openFile(index: Int, entry: String)
        /// org.voidoci.accept: the supervisor is forked (the container's process); it waits for
        /// `start`, then for each connection (at most `max` at once) executes what follows.
        case superviseAccept(mode: String, max: Int)
        case openImage(path: String)
        case makeImageMountPoints
        case cloneImageRoot
        case makeRootTmpfs(uid: UInt32, gid: UInt32)
        case cloneBindSource(mount: Int, source: String, inImage: Bool, recursive: Bool, attrs: BindAttrs)
        case makeDeviceNode(mount: Int, destination: String, node: String)
        case readCopyUp(mount: Int, source: String, entries: Int, bytes: UInt64)
        case writeSysctl(key: String, value: String, namespace: String)
        case makeFilesystem(mount: Int, type: String, namespace: String)
        case attachFilesystem(mount: Int, destination: String)
        case joinNamespace(type: String, path: String)
        case dropSupplementaryGroups
        case clone(newNamespaces: [String], intoCgroup: Bool)
        case writeIDMaps(setgroupsDeny: Bool, uid: [LinuxIDMapping], gid: [LinuxIDMapping])
        case writeOOMScoreAdj(Int)
        case release
        // exec: the running void's namespaces, entered through its init's pidfd
        case joinVoid(userFirst: Bool)
        // the init, in its namespaces
        case closeInheritedFDs
        case joinCgroups(files: Int)
        case unshareCgroupNamespace
        case waitForRelease
        case openImageInChild(path: String)
        case openHostNull
        case setHostname(String)
        case setDomainname(String)
        case loopbackUp
        case makeMountsPrivate
        case rootFromImage(clonedByRuntime: Bool)
        case rootTmpfs(madeByRuntime: Bool, uid: UInt32, gid: UInt32)
        case attachRoot
        case openJoinedRoot
        case setSetupIDs(uid: UInt32, gid: UInt32)
        case bind(mount: Int, destination: String, source: String, inImage: Bool, clonedByRuntime: Bool, recursive: Bool, attrs: BindAttrs)
        case symlink(mount: Int, destination: String, target: String)
        case mountFilesystem(mount: Int, destination: String, type: String, options: [String], attrs: MountAttrs, copyUp: Int)
        case mask(mount: Int, destination: String)
        case readonly(mount: Int, destination: String)
        case mkdir(mount: Int, destination: String)
        /// exec: the operation, only when nothing is at its destination in the void yet.
        indirect case ifAbsent(Kind)
        case makeCwd(String)
        case pauseForHooks
        case pivotRoot
        case detachOldRoot
        case remountRootReadonly
        case chdir(String)
        case takeConsole
        case keepPreservedFDs(Int)
        /// The listen sockets to fds first..., and LISTEN_PID to the program's pid.
        case placeListenFDs(first: Int, names: [String])
        /// org.voidoci.open: the files voidoci opened to fds first..., in order.
        case placeOpenedFiles(first: Int, count: Int)
        /// org.voidoci.accept=stdio: the connection as fds 0 and 1.
        case takeConnection
        /// A per-connection void's init dies with its supervisor (PR_SET_PDEATHSIG, after the
        /// ids are set, which would clear it, and before a late seccomp filter).
        case dieWithParent
        /// org.voidoci.connect: the filter whose notifications the supervisor answers, loaded
        /// with a listener that voidoci takes through the init's pidfd.
        case loadConnectFilter(destinations: [String], sends: Bool)
        /// voidoci forks the connect supervisor with that listener; it lives as long as the init.
        case superviseConnect
        case setRlimit(name: String, soft: UInt64, hard: UInt64)
        case setUmask(UInt32)
        case loadSeccomp(rules: Int)
        case dropBoundingCapabilities(keep: UInt64)
        case setGroups([UInt32])
        case setIDs(uid: UInt32, gid: UInt32)
        case setCapabilities(CapabilitySets)
        case setNoNewPrivileges
        case resetSignals
        case reportReady
        case waitForCommit
        case waitForStart
        case exec(path: String, args: [String])
    }

    /// mount_setattr/fsmount attribute bits, by name; `atime` is the atime mode a fresh
    /// filesystem gets (binds keep their source's, as the kernel wants MOUNT_ATTR__ATIME
    /// cleared to change it).
    public struct MountAttrs: Equatable, Sendable, CustomStringConvertible {
        public var readOnly = false, noSuid = false, noDev = false, noExec = false, noSymfollow = false
        public var atime: String?   // noatime, strictatime, nodiratime, relatime
        public var description: String {
            var names: [String] = []
            if readOnly { names.append("ro") }
            if noSuid { names.append("nosuid") }
            if noDev { names.append("nodev") }
            if noExec { names.append("noexec") }
            if noSymfollow { names.append("nosymfollow") }
            if let atime { names.append(atime) }
            return names.isEmpty ? "-" : names.joined(separator: ",")
        }
    }

    /// The bits for a mount's flags. A bind keeps its source's atime behaviour; a fresh
    /// filesystem gets the requested mode (relatime is the kernel's default, so it sets no bit).
    public static func attrs(_ flags: [String], forBind: Bool) -> MountAttrs {
        var a = MountAttrs()
        for f in flags {
            switch f {
            case "ro": a.readOnly = true
            case "nosuid": a.noSuid = true
            case "nodev": a.noDev = true
            case "noexec": a.noExec = true
            case "nosymfollow": a.noSymfollow = true
            // (One `where` would guard only the last pattern of a case list.)
            case "noatime", "strictatime", "nodiratime", "relatime": if !forBind { a.atime = f }
            default: break
            }
        }
        return a
    }

    /// A bind's attributes: `all` on every mount of its tree, `top` on its top mount only.
    public struct BindAttrs: Equatable, Sendable, CustomStringConvertible {
        public var all: MountAttrs
        public var top = MountAttrs()
        public var description: String { top == MountAttrs() ? all.description : "\(all.description) top:\(top.description)" }
    }

    /// runc's meaning for a config rbind: a plain flag (`ro`) is its top mount's, a recursive one
    /// (`rro`) every mount's. voidoci's own binds (the program, exposed paths, devices) are
    /// read-only all the way down.
    public static func bindAttrs(_ m: PlannedMount) -> BindAttrs {
        func isRecursive(_ f: String) -> Bool { f.hasPrefix("r") && Planner.attrFlags.contains(String(f.dropFirst())) }
        let recursive = m.flags.filter(isRecursive).map { String($0.dropFirst()) }
        let plain = m.flags.filter { !isRecursive($0) }
        if case .config = m.origin, m.recursive {
            return BindAttrs(all: attrs(recursive, forBind: true), top: attrs(plain, forBind: true))
        }
        return BindAttrs(all: attrs(plain + recursive, forBind: true))
    }

    /// The ids the init does its set-up as: 0 inside when 0 is mapped, else the process's ids.
    public static func setupIDs(_ plan: VoidPlan) -> (uid: UInt32, gid: UInt32) {
        setupIDs(uidMap: plan.uidMap, gidMap: plan.gidMap, plan.process)
    }

    static func setupIDs(uidMap: [LinuxIDMapping], gidMap: [LinuxIDMapping], _ p: PlannedProcess) -> (uid: UInt32, gid: UInt32) {
        (uidMap.contains { $0.containerID == 0 } ? 0 : p.uid, gidMap.contains { $0.containerID == 0 } ? 0 : p.gid)
    }

    /// The host ids the set-up ids map to (nil when a joined user namespace decides).
    public static func hostSetupIDs(_ plan: VoidPlan) -> (uid: UInt32, gid: UInt32)? {
        func host(_ maps: [LinuxIDMapping], _ id: UInt32) -> UInt32? {
            maps.first { id >= $0.containerID && UInt64(id) < UInt64($0.containerID) + UInt64($0.size) }
                .map { $0.hostID &+ (id - $0.containerID) }
        }
        let s = setupIDs(plan)
        guard let u = host(plan.uidMap, s.uid), let g = host(plan.gidMap, s.gid) else { return nil }
        return (u, g)
    }

    /// What the run adds to the plan: who calls, and how the lifecycle drives the init.
    public struct Context: Sendable {
        public var privileged: Bool
        public var realRoot: Bool
        public var cgroupFiles: Int = 0      // v1 tasks / v2 cgroup.procs files the init writes
        public var cloneIntoCgroup = false   // a v2 leaf handed to clone3
        public var hooksPause = false        // createRuntime/createContainer hooks
        public var waitCommit = true         // create and run
        public var waitStart = true          // create (exec fifo); run: false unless startContainer hooks
        public var console = false
        public var preserveFDs = 0
        public var connection: VoidGrants.AcceptMode?   // a per-connection void's connection
        public var dieWithParent = false                // a per-connection void (its supervisor's child)
        public init(privileged: Bool, realRoot: Bool) {
            self.privileged = privileged
            self.realRoot = realRoot
        }
        public init(caller: Caller) { self.init(privileged: caller.privileged, realRoot: caller.isRealRoot) }

        /// What `create` of this plan would do on this host, for `explain --lowered`: the
        /// cgroup files of the host's hierarchies (unless disabled), the hooks that pause the
        /// init, a console when the process has a terminal, the wait for `start`.
        public static func create(_ plan: VoidPlan, caller: Caller, cgroups: Bool) -> Context {
            var c = Context(caller: caller)
            if cgroups {
                let layout = CgroupLayout.host
                c.cgroupFiles = layout.v1.count
                c.cloneIntoCgroup = layout.v2 != nil
            }
            c.hooksPause = plan.hooks.contains { [.prestart, .createRuntime, .createContainer].contains($0.stage) }
            c.console = plan.process.terminal
            return c
        }
    }
}
