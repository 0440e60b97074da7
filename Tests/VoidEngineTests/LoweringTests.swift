import CVoid
import Foundation
import OCIBundle
import Testing
@testable import VoidEngine

/// Plan → [Op] for each translation rule of docs/void.md: who executes each step (voidoci or the
/// init), in which order, with which ids and mount attributes. No root, no kernel: milliseconds.
@Suite struct LoweringTests {
    let fx = PlannerFixture()

    func ops(_ plan: VoidPlan, caller: Caller = PlannerFixture.root, edit: (inout Lowering.Context) -> Void = { _ in }) -> [Lowering.Op] {
        var ctx = Lowering.Context(caller: caller)
        edit(&ctx)
        return Lowering.lower(plan, ctx)
    }
    func names(_ ops: [Lowering.Op]) -> [String] { ops.map(\.kind.fields.name) }
    func index(_ ops: [Lowering.Op], _ name: String) -> Int? { names(ops).firstIndex(of: name) }

    @Test func rootfulVoidRootTmpfsIsMadeByVoidociOwnedByTheMappedID() throws {
        defer { fx.remove() }
        let o = ops(try fx.plan())
        #expect(o.contains(Lowering.Op(.runtime, .makeRootTmpfs(uid: 65534, gid: 65534))), "\(Lowering.text(o))")
        #expect(o.contains(Lowering.Op(.child, .rootTmpfs(madeByRuntime: true, uid: 0, gid: 0))))
        #expect(o.contains(Lowering.Op(.runtime, .dropSupplementaryGroups)))
        // Every bind source is cloned by voidoci before the clone, and attached by the init.
        let binds = o.filter { if case .bind = $0.kind { return true } else { return false } }
        #expect(!binds.isEmpty && binds.allSatisfy { if case .bind(_, _, _, _, true, _, _) = $0.kind { return true } else { return false } })
        #expect(o.filter { $0.kind.fields.name == "clone-bind-source" }.count == binds.count)
    }

    @Test func rootlessVoidDoesEverythingInTheInit() throws {
        defer { fx.remove() }
        let o = ops(try fx.plan(caller: PlannerFixture.user), caller: PlannerFixture.user)
        #expect(!o.contains { $0.actor == .runtime && ["make-root-tmpfs", "clone-bind-source", "drop-supplementary-groups"].contains($0.kind.fields.name) },
                "\(Lowering.text(o))")
        #expect(o.contains(Lowering.Op(.child, .rootTmpfs(madeByRuntime: false, uid: 0, gid: 0))))
        #expect(o.contains(Lowering.Op(.child, .openImageInChild(path: fx.tree.path))))
        #expect(o.contains(Lowering.Op(.runtime, .writeIDMaps(setgroupsDeny: true, uid: [LinuxIDMapping(containerID: 0, hostID: 1000, size: 1)],
                                                                 gid: [LinuxIDMapping(containerID: 0, hostID: 1000, size: 1)]))))
    }

    /// The order every void shares: ids before set-up, set-up ids before mounts, mounts before
    /// the pivot, the old root detached, then the process; exec last.
    @Test func theOrderOfAVoid() throws {
        defer { fx.remove() }
        let o = ops(try fx.plan())
        let order = ["clone", "write-id-maps", "release", "wait-for-release", "make-mounts-private", "root-tmpfs", "attach-root",
                     "set-setup-ids", "bind", "pivot-root", "detach-old-root", "set-ids", "report-ready", "wait-for-commit",
                     "wait-for-start", "exec"]
        let at = order.map { index(o, $0) }
        #expect(at.allSatisfy { $0 != nil }, "\(Lowering.text(o))")
        let positions = at.compactMap { $0 }
        #expect(positions == positions.sorted(), "\(Lowering.text(o))")
        #expect(o.last?.kind.fields.name == "exec")
    }

    /// org.voidoci.listen: voidoci binds each socket first, in the caller's network namespace
    /// (before any namespace is joined); the init places them after the preserved fds.
    @Test func listenSocketsAreBoundFirstAndPlacedAfterThePreservedFDs() throws {
        defer { fx.remove() }
        let rest = #", "linux": {"namespaces": [{"type": "network", "path": "/proc/1/ns/net"}]}, "annotations": {"org.voidoci.listen": "tcp:127.0.0.1:8080;u=unix:/run/u.sock"}"#
        let o = ops(try fx.plan(rest: rest)) { $0.preserveFDs = 2 }
        #expect(Array(o.prefix(2)) == [Lowering.Op(.runtime, .bindSocket(index: 0, entry: "tcp:127.0.0.1:8080")),
                                       Lowering.Op(.runtime, .bindSocket(index: 1, entry: "unix:/run/u.sock"))], "\(Lowering.text(o))")
        let place = try #require(index(o, "place-listen-fds"))
        #expect(o[place] == Lowering.Op(.child, .placeListenFDs(first: 5, names: ["tcp-127.0.0.1-8080", "u"])))
        #expect(try #require(index(o, "keep-preserved-fds")) < place && place < (index(o, "report-ready") ?? 0))
        #expect(index(o, "join-namespace") ?? 0 > 1)
        // org.voidoci.open: voidoci opens the files after binding the sockets; the init places
        // them after the sockets.
        let withFiles = ops(try fx.plan(rest: #", "annotations": {"org.voidoci.listen": "tcp:127.0.0.1:8080", "org.voidoci.open": "r:/etc/a;w:/tmp/b"}"#)) { $0.preserveFDs = 1 }
        #expect(Array(names(withFiles).prefix(3)) == ["bind-socket", "open-file", "open-file"], "\(Lowering.text(withFiles))")
        let files = try #require(index(withFiles, "place-opened-files"))
        let sockets = try #require(index(withFiles, "place-listen-fds"))
        #expect(withFiles[files] == Lowering.Op(.child, .placeOpenedFiles(first: 5, count: 2)) && sockets < files)
        // Without the grant, neither.
        let none = ops(try fx.plan())
        #expect(index(none, "bind-socket") == nil && index(none, "place-listen-fds") == nil)
    }

    /// A connection's void (Supervisor): the connection as stdio, or placed as fd 3 named
    /// `connection`; and the parent-death signal set after the ids (which would clear it).
    @Test func aConnectionsVoidTakesItsConnectionAndDiesWithItsSupervisor() throws {
        defer { fx.remove() }
        let plan = try fx.plan()
        let stdio = ops(plan) { $0.connection = .stdio; $0.dieWithParent = true }
        let take = try #require(index(stdio, "take-connection"))
        let die = try #require(index(stdio, "die-with-parent"))
        #expect(try #require(index(stdio, "set-capabilities")) < die && die < (index(stdio, "report-ready") ?? 0) && take < die, "\(Lowering.text(stdio))")
        let fd = ops(plan) { $0.connection = .fd; $0.dieWithParent = true }
        #expect(fd.contains(Lowering.Op(.child, .placeListenFDs(first: 3, names: ["connection"]))) && index(fd, "take-connection") == nil)
        #expect(index(ops(plan), "die-with-parent") == nil)
        // The plan of an accept bundle lowers to the socket, the supervisor, and the void each
        // connection gets: with its connection, without the socket, without waiting for start.
        let rest = #", "annotations": {"org.voidoci.listen": "tcp:127.0.0.1:7007", "org.voidoci.accept": "stdio"}"#
        let acc = ops(try fx.plan(rest: rest))
        #expect(Array(names(acc).prefix(2)) == ["bind-socket", "supervise-accept"], "\(Lowering.text(acc))")
        #expect(acc[1] == Lowering.Op(.runtime, .superviseAccept(mode: "stdio", max: 64)))
        #expect(index(acc, "take-connection") != nil && index(acc, "die-with-parent") != nil)
        #expect(index(acc, "place-listen-fds") == nil && index(acc, "wait-for-start") == nil && index(acc, "wait-for-commit") == nil)
    }

    @Test func joinedNamespacesAreJoinedByVoidociAndNotCloned() throws {
        defer { fx.remove() }
        let rest = #", "linux": {"namespaces": [{"type": "network", "path": "/proc/1/ns/net"}, {"type": "uts", "path": "/proc/1/ns/uts"}]}"#
        let o = ops(try fx.plan(rest: rest))
        #expect(o.contains(Lowering.Op(.runtime, .joinNamespace(type: "network", path: "/proc/1/ns/net"))))
        guard let clone = o.first(where: { $0.kind.fields.name == "clone" }), case .clone(let new, _) = clone.kind else {
            Issue.record("no clone: \(Lowering.text(o))"); return
        }
        #expect(!new.contains("network") && !new.contains("uts") && new.contains("user"))
        // A joined network keeps its interfaces as they are; a joined uts its names.
        #expect(index(o, "loopback-up") == nil && index(o, "set-hostname") == nil, "\(Lowering.text(o))")
    }

    @Test func voidCgroupNamespaceIsMadeAfterTheInitMovedItself() throws {
        defer { fx.remove() }
        let o = ops(try fx.plan()) { $0.cgroupFiles = 3; $0.cloneIntoCgroup = true }
        guard let clone = o.first(where: { $0.kind.fields.name == "clone" }), case .clone(let new, true) = clone.kind else {
            Issue.record("no clone into the cgroup: \(Lowering.text(o))"); return
        }
        #expect(!new.contains("cgroup"))
        #expect((index(o, "join-cgroups") ?? 99) < (index(o, "unshare-cgroup-namespace") ?? -1))
        // Without cgroups the clone makes it.
        let none = ops(try fx.plan())
        if case .clone(let n2, false)? = none.first(where: { $0.kind.fields.name == "clone" })?.kind { #expect(n2.contains("cgroup")) }
        else { Issue.record("\(Lowering.text(none))") }
    }

    /// mqueue of a joined ipc namespace is made by voidoci after joining it (the void's user
    /// namespace cannot mount it there) and attached by the init.
    @Test func filesystemsOfAJoinedNamespaceAreMadeByVoidoci() throws {
        defer { fx.remove() }
        let rest = #", "annotations": {"org.voidoci.mounts": "mqueue"}, "mounts": [{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"}], "linux": {"namespaces": [{"type": "ipc", "path": "/proc/1/ns/ipc"}, {"type": "mount"}]}"#
        let o = ops(try fx.plan(rest: rest))
        let make = try #require(o.firstIndex { $0.kind.fields.name == "make-filesystem" }, "\(Lowering.text(o))")
        let join = try #require(o.firstIndex(of: Lowering.Op(.runtime, .joinNamespace(type: "ipc", path: "/proc/1/ns/ipc"))))
        #expect(join < make && o[make].actor == .runtime)
        #expect(o.contains { $0.actor == .child && $0.kind.fields.name == "attach-filesystem" })
        #expect(!o.contains { $0.kind.fields.name == "mount" }, "\(Lowering.text(o))")
        // Unprivileged: nothing to make it with; the init mounts it (and the kernel decides).
        let u = ops(try fx.plan(rest: rest, caller: PlannerFixture.user), caller: PlannerFixture.user)
        #expect(!u.contains { $0.kind.fields.name == "make-filesystem" } && u.contains { $0.kind.fields.name == "mount" })
    }

    @Test func mountAttributesAreExact() {
        let fresh = Lowering.attrs(["ro", "nosuid", "nodev", "noexec", "relatime"], forBind: false)
        #expect(fresh.description == "ro,nosuid,nodev,noexec,relatime")
        // A bind keeps its source's atime behaviour (mount_setattr would need MOUNT_ATTR__ATIME).
        let bind = Lowering.attrs(["ro", "noatime", "nosymfollow"], forBind: true)
        #expect(bind.description == "ro,nosymfollow")
        #expect(Lowering.attrs(["rw", "suid"], forBind: true).description == "-")
    }

    /// runc's meaning: a plain flag on a config rbind is its top mount's, an r-flag every mount's;
    /// voidoci's own binds are read-only all the way down.
    @Test func rbindFlagsAsRuncMeansThem() {
        let rbind = PlannedMount(kind: .bind, destination: "/mnt", source: "/sys/fs/cgroup", isDir: true, recursive: true,
                                 flags: ["ro", "rnosuid"], origin: .config(3))
        let a = Lowering.bindAttrs(rbind)
        #expect(a.all.description == "nosuid" && a.top.description == "ro", "\(a)")
        var own = rbind
        own.origin = .annotation("org.voidoci.expose")
        #expect(Lowering.bindAttrs(own).all.description == "ro,nosuid" && Lowering.bindAttrs(own).top == Lowering.MountAttrs())
        var single = rbind
        single.recursive = false
        #expect(Lowering.bindAttrs(single).all.description == "ro,nosuid")
    }

    @Test func grantedKernelFilesystemsAndReadonlyRoot() throws {
        defer { fx.remove() }
        let rest = #", "annotations": {"org.voidoci.mounts": "proc;tmpfs"}, "mounts": [{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}, {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777", "size=1m", "strictatime"]}]"#
        var plan = try fx.plan(rest: rest)
        plan.rootReadonly = true
        let o = ops(plan)
        #expect(o.contains { if case .mountFilesystem(_, "/proc", "proc", _, let a, _) = $0.kind { return a.description == "nosuid,nodev,noexec" } else { return false } },
                "\(Lowering.text(o))")
        #expect(o.contains { if case .mountFilesystem(_, "/tmp", "tmpfs", let opts, let a, _) = $0.kind { return opts == ["mode=1777", "size=1m"] && a.atime == "strictatime" } else { return false } },
                "\(Lowering.text(o))")
        #expect((index(o, "detach-old-root") ?? 99) < (index(o, "remount-root-readonly") ?? -1))
    }

    @Test func imageRootGrantedIsClonedByVoidoci() throws {
        defer { fx.remove() }
        let o = ops(try fx.plan(rest: #", "annotations": {"org.voidoci.rootfs": "ro"}"#))
        #expect(o.contains(Lowering.Op(.runtime, .makeImageMountPoints)) && o.contains(Lowering.Op(.runtime, .cloneImageRoot)))
        #expect(o.contains(Lowering.Op(.child, .rootFromImage(clonedByRuntime: true))))
        #expect(index(o, "make-root-tmpfs") == nil)
    }

    /// runc's order: a filter loads before the capabilities drop unless no_new_privs is set, in
    /// which case it loads last, just before execve.
    @Test(arguments: [false, true])
    func seccompLoadsWhereTheKernelAllowsIt(noNewPrivileges: Bool) throws {
        defer { fx.remove() }
        let process = #"{"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "noNewPrivileges": \#(noNewPrivileges)}"#
        let rest = #", "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}}"#
        let o = ops(try fx.plan(process: process, rest: rest))
        let load = try #require(index(o, "load-seccomp"), "\(Lowering.text(o))")
        if noNewPrivileges {
            #expect(load == o.count - 2 && index(o, "set-no-new-privileges") != nil)
        } else {
            #expect(load < (index(o, "drop-bounding-capabilities") ?? -1))
        }
    }

    @Test func textAndJSONListTheSameOperations() throws {
        defer { fx.remove() }
        let o = ops(try fx.plan())
        let lines = Lowering.text(o).split(separator: "\n")
        #expect(lines.count == o.count)
        let parsed = try JSONSerialization.jsonObject(with: Data(Lowering.json(o).utf8)) as? [[String: Any]]
        #expect(parsed?.count == o.count)
        #expect(parsed?.map { $0["op"] as? String ?? "" } == names(o))
    }

    /// child.c executes exactly the lowering's child operations: one instruction each, in
    /// order, from closing what it inherited to execve; a mount instruction names its mount.
    @Test(arguments: [true, false])
    func theChildsProgramIsTheLoweredList(rootful: Bool) throws {
        defer { fx.remove() }
        let caller = rootful ? PlannerFixture.root : PlannerFixture.user
        let rest = #", "annotations": {"org.voidoci.mounts": "proc;tmpfs"}, "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}, {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}], "linux": {"sysctl": {"kernel.shmmax": "4096", "net.ipv4.ip_forward": "1"}, "maskedPaths": ["/proc/kcore"]}"#
        let process = #"{"args": ["sh"], "cwd": "/work", "user": {"uid": 0, "gid": 0}, "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 64, "hard": 64}, {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]}"#
        let o = ops(try fx.plan(process: process, rest: rest, caller: caller), caller: caller) { $0.hooksPause = true; $0.cgroupFiles = 2 }
        let child = o.filter { $0.actor == .child }
        let program = ChildProgram.instructions(o)
        #expect(program.count == child.count, "\(Lowering.text(o))")
        #expect(program.first?.op == Int32(VOID_DO_CLOSE_FDS.rawValue) && program.last?.op == Int32(VOID_DO_EXEC.rawValue))
        let mounts = program.filter { $0.op == Int32(VOID_DO_MOUNT.rawValue) }.map(\.arg)
        #expect(mounts == child.compactMap { $0.kind.mountIndex.map(Int32.init) })
        #expect(program.filter { $0.op == Int32(VOID_DO_SYSCTL.rawValue) }.map(\.arg) == [0, 1])
        #expect(program.filter { $0.op == Int32(VOID_DO_RLIMIT.rawValue) }.map(\.arg) == [0, 1])
        for (i, ins) in program.enumerated() {
            #expect(ins.op > 0 && ins.op <= Int32(VOID_DO_EXEC.rawValue), "instruction \(i): \(child[i].kind.fields.name)")
        }
    }

    /// exec: a privileged voidoci clones what the process lacks before it joins the void's user
    /// namespace, an unprivileged one after; in the void, each is added only where nothing is.
    @Test(arguments: [true, false])
    func execAddsOnlyWhatTheVoidLacks(rootful: Bool) throws {
        defer { fx.remove() }
        let caller = rootful ? PlannerFixture.root : PlannerFixture.user
        let plan = try fx.plan(caller: caller)
        let exec = ExecPlan(process: plan.process, mounts: plan.mounts.filter { $0.kind == .bind || $0.kind == .symlink },
                            imagePath: plan.imagePath, uidMap: plan.uidMap, gidMap: plan.gidMap, notes: [])
        let o = Lowering.lowerExec(exec, Lowering.Context(caller: caller))
        let join = try #require(index(o, "join-void"), "\(Lowering.text(o))")
        let clone = try #require(index(o, "clone-bind-source"))
        #expect(rootful ? join > clone : join < clone)
        #expect(o.contains(Lowering.Op(.runtime, .joinVoid(userFirst: !rootful))))
        let added = o.filter { $0.actor == .child && $0.kind.mountIndex != nil }
        #expect(added.count == exec.mounts.count && added.allSatisfy { $0.kind.fields.name.hasSuffix("-if-absent") })
        #expect(!names(o).contains("wait-for-release") && !names(o).contains("pivot-root"))
        #expect(names(o).last == "exec")
        #expect(ChildProgram.instructions(o).count == o.filter { $0.actor == .child }.count)
    }
}
