import Foundation
import Testing

/// cgroups on this host (v1 controllers plus a v2 hierarchy): a leaf per void with its limits,
/// created before the void's cgroup namespace, frozen by pause, removed by delete.
@Suite(.serialized, .hostClean) struct CgroupTests {
    static let layout: [String: String] = {
        var m: [String: String] = [:]
        let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard let dash = f.firstIndex(of: "-"), dash + 3 < f.count else { continue }
            if f[dash + 1] == "cgroup2" { m["unified"] = String(f[4]) }
            if f[dash + 1] == "cgroup" {
                for o in f[dash + 3].split(separator: ",") { m[String(o)] = String(f[4]) }
            }
        }
        return m
    }()

    func read(_ p: String) -> String? { (try? String(contentsOfFile: p, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) }

    func start(_ b: TestBundle, _ extra: [String] = []) throws -> (String, Int32) {
        let id = "cg\(UUID().uuidString.prefix(6))".lowercased()
        let c = b.voidociReaped(extra + ["create", "--bundle", b.dir, "--pid-file", "\(b.dir)/pid", id])
        try #require(c.status == 0, "\(c)")
        try #require(b.voidociReaped(extra + ["start", id]).status == 0)
        return (id, Int32(read("\(b.dir)/pid") ?? "") ?? 0)
    }

    /// A bundle running `args` with `linux.cgroupsPath` /`path` and these limits.
    func bundle(_ args: [String], cgroupsPath path: String, resources: [String: Any],
                edit: @escaping (inout [String: Any]) -> Void = { _ in }) -> TestBundle {
        TestBundle(args: args) { c in
            var l = c["linux"] as! [String: Any]
            l["cgroupsPath"] = "/" + path
            l["resources"] = resources
            c["linux"] = l
            edit(&c)
        }
    }

    @Test func limitsAreAppliedAndTheLeafIsRemoved() throws {
        try #require(Self.layout["memory"] != nil, "needs the v1 memory controller (hybrid host)")
        let leaf = "voidoci-test-\(getpid())/c\(UUID().uuidString.prefix(4))"
        // hugetlb when the host has the controller and 2 MB pages (as runc writes it).
        let hugetlb = Self.layout["hugetlb"].map { "\($0)/hugetlb.2MB.limit_in_bytes" }.flatMap { (file: String) -> String? in
            FileManager.default.fileExists(atPath: file) ? file : nil
        }
        var resources: [String: Any] = ["memory": ["limit": 67_108_864], "pids": ["limit": 42], "cpu": ["shares": 512, "quota": 50000, "period": 100000]]
        if hugetlb != nil { resources["hugepageLimits"] = [["pageSize": "2MB", "limit": 4_194_304]] }
        let b = bundle(["/bin/sleep", "60"], cgroupsPath: leaf, resources: resources)
        defer {
            b.close()
            for (_, m) in Self.layout { rmdir("\(m)/voidoci-test-\(getpid())") }
        }
        let (id, pid) = try start(b)
        let mem = Self.layout["memory"]!, pids = Self.layout["pids"]!, cpu = Self.layout["cpu"]!
        #expect(read("\(mem)/\(leaf)/memory.limit_in_bytes") == "67108864")
        #expect(read("\(pids)/\(leaf)/pids.max") == "42")
        #expect(read("\(cpu)/\(leaf)/cpu.shares") == "512")
        #expect(read("\(cpu)/\(leaf)/cpu.cfs_quota_us") == "50000")
        if hugetlb != nil {
            #expect(read("\(Self.layout["hugetlb"]!)/\(leaf)/hugetlb.2MB.limit_in_bytes") == "4194304")
        }
        #expect(read("\(mem)/\(leaf)/cgroup.procs")?.split(separator: "\n").contains("\(pid)") == true)
        // The cgroup namespace was made after the move: inside, the void is its own root.
        let inside = read("/proc/\(pid)/cgroup") ?? ""
        #expect(inside.contains("memory:/\(leaf)"), "\(inside)")
        // update changes a limit in place.
        let res = "\(b.dir)/res.json"
        FileManager.default.createFile(atPath: res, contents: Data(#"{"memory":{"limit":33554432},"pids":{"limit":7}}"#.utf8))
        let u = b.voidociReaped(["update", "--resources", res, id])
        #expect(u.status == 0, "\(u)")
        #expect(read("\(mem)/\(leaf)/memory.limit_in_bytes") == "33554432")
        #expect(read("\(pids)/\(leaf)/pids.max") == "7")
        // ps lists the init (and an exec'd process, which joins the same cgroup).
        #expect(b.voidociReaped(["exec", "-d", "--pid-file", "\(b.dir)/ep", id, "/bin/sleep", "30"]).status == 0)
        let epid = read("\(b.dir)/ep") ?? "?"
        let ps = b.voidociReaped(["ps", "--format", "json", id])
        #expect(ps.stdout.contains("\(pid)") && ps.stdout.contains(epid), "\(ps)")
        #expect(b.voidociReaped(["delete", "--force", id]).status == 0)
        #expect(access("\(mem)/\(leaf)", F_OK) != 0, "the leaf must be removed at delete")
    }

    /// With a second CPU, a helper thread claims the id and makes the cgroup while voidoci plans;
    /// pinned to one CPU, voidoci does both itself. The void must be the same, and the voidoci
    /// that clones it must not stay in its cgroups (`run` waits there for the whole void's life).
    @Test(arguments: [false, true])
    func sameCgroupsOnOneCPUOrTwo(pinned: Bool) throws {
        try #require(Self.layout["memory"] != nil && Self.layout["unified"] != nil, "needs v1 memory and a v2 hierarchy")
        let cpus = (try? String(contentsOfFile: "/sys/fs/cgroup/cpuset/cpuset.cpus", encoding: .utf8)) ?? "?"
        let b = TestBundle(args: ["/bin/sleep", "60"])
        defer { b.close() }
        let id = "cg\(UUID().uuidString.prefix(6))".lowercased()
        let pin = pinned ? ["/usr/bin/taskset", "-c", "0"] : []
        let run = Process()
        run.executableURL = URL(fileURLWithPath: pin.first ?? Env.bin)
        run.arguments = Array(pin.dropFirst()) + (pinned ? [Env.bin] : []) + ["--root", b.stateRoot, "run", "--bundle", b.dir, id]
        run.standardOutput = FileHandle.nullDevice
        run.standardError = FileHandle.nullDevice
        try run.run()
        defer { b.voidociReaped(["delete", "--force", id]); run.waitUntilExit() }
        var pid: Int32 = 0
        try #require(Host.waitUntil(10) {
            let st = b.voidociReaped(["state", id]).stdout
            pid = Int32(st.split(separator: "\n").first { $0.contains("\"pid\"") }?.filter(\.isNumber) ?? "") ?? 0
            return pid > 0 && st.contains("running")
        }, "the void runs (cpus \(cpus))")
        let mem = "\(Self.layout["memory"]!)/voidoci/\(id)", v2 = "\(Self.layout["unified"]!)/voidoci/\(id)"
        for leaf in [mem, v2] {
            let procs = (read("\(leaf)/cgroup.procs") ?? "").split(separator: "\n")
            #expect(procs.contains("\(pid)"), "the init in \(leaf): \(procs)")
            #expect(!procs.contains("\(run.processIdentifier)"), "voidoci run left in \(leaf): \(procs)")
        }
        // In every hierarchy, v1 and v2, the init is in the void's leaf.
        let lines = VoidCheck.lines(read("/proc/\(pid)/cgroup") ?? "")
        #expect(lines.count > 2 && lines.allSatisfy { $0.hasSuffix(":/voidoci/\(id)") }, "\(lines)")
        #expect(b.voidociReaped(["kill", id, "KILL"]).status == 0)
        run.waitUntilExit()
        #expect(access(mem, F_OK) != 0 && access(v2, F_OK) != 0, "run removes the leaves")
    }

    /// create makes the cgroup while it plans; a create that then fails (its program is not in
    /// the image, a terminal without a console socket, a field that does not decode) must leave
    /// a cgroup that was already there, with another void in it, exactly as it was.
    @Test func aFailedCreateLeavesASharedCgroupAlone() throws {
        try #require(Self.layout["pids"] != nil, "needs the v1 pids controller")
        let shared = "voidoci-test-\(getpid())/shared\(UUID().uuidString.prefix(4))"
        let a = bundle(["/bin/sleep", "60"], cgroupsPath: shared, resources: ["pids": ["limit": 42]])
        defer {
            a.close()
            for (_, m) in Self.layout { rmdir("\(m)/voidoci-test-\(getpid())") }
        }
        let (_, pid) = try start(a)
        let pids = "\(Self.layout["pids"]!)/\(shared)"
        #expect(read("\(pids)/pids.max") == "42")
        let breakages: [(String, (inout [String: Any]) -> Void)] = [
            ("program missing", { c in var p = c["process"] as! [String: Any]; p["args"] = ["/no/such/program"]; c["process"] = p }),
            ("terminal without console socket", { c in var p = c["process"] as! [String: Any]; p["terminal"] = true; c["process"] = p }),
            ("undecodable field", { c in var p = c["process"] as! [String: Any]; p["user"] = ["uid": "0", "gid": 0]; c["process"] = p }),
        ]
        for (what, breakIt) in breakages {
            let b = bundle(["/bin/true"], cgroupsPath: shared, resources: ["pids": ["limit": 7]], edit: breakIt)
            defer { b.close() }
            let r = b.voidociReaped(["create", "--bundle", b.dir, TestBundle.newID()])
            #expect(r.status != 0, "\(what): \(r)")
            #expect(Host.alive(pid), "\(what): the other void's init was killed")
            #expect(read("\(pids)/pids.max") == "42", "\(what): limits written into the shared cgroup")
            #expect((read("\(pids)/cgroup.procs") ?? "").split(separator: "\n").contains("\(pid)"), "\(what): shared cgroup gone")
            #expect(b.stateEntries().isEmpty, "\(what): state left: \(b.stateEntries())")
        }
    }

    @Test func pauseAndResume() throws {
        let b = TestBundle(args: ["/bin/sleep", "60"])
        defer { b.close() }
        let (id, pid) = try start(b)
        #expect(b.voidociReaped(["pause", id]).status == 0)
        #expect(b.voidociReaped(["state", id]).stdout.contains("\"paused\""))
        let frozen = read("/proc/\(pid)/status")?.split(separator: "\n").first { $0.hasPrefix("State:") } ?? ""
        #expect(frozen.contains("D") || frozen.contains("S"), "\(frozen)")
        #expect(b.voidociReaped(["pause", id]).status != 0, "pausing a paused void is an error")
        #expect(b.voidociReaped(["resume", id]).status == 0)
        #expect(b.voidociReaped(["state", id]).stdout.contains("\"running\""))
        #expect(b.voidociReaped(["resume", id]).status != 0, "resuming a running void is an error")
    }

    @Test func cgroupManagerDisabledAndSystemd() throws {
        let b = TestBundle(args: ["/bin/sleep", "60"])
        defer { b.close() }
        let (id, pid) = try start(b, ["--cgroup-manager", "disabled"])
        // No leaf: the init stays in the caller's cgroups.
        #expect(read("/proc/\(pid)/cgroup")?.contains("voidoci/\(id)") == false)
        let p = b.voidociReaped(["pause", id])
        #expect(p.status != 0 && p.stderr.contains("no cgroup"), "\(p)")
        let s = b.voidociReaped(["--systemd-cgroup", "create", "--bundle", b.dir, "sd\(id)"])
        #expect(s.status != 0 && s.stderr.contains("systemd"), "\(s)")
        #expect(!FileManager.default.fileExists(atPath: "\(b.stateRoot)/sd\(id)"))
    }

    @Test func unprivilegedWithoutDelegation() throws {
        try #require(Env.hasTestUser)
        let b = TestBundle(args: ["/bin/sh", "-c", "echo ok"], as: .user)
        defer { b.close() }
        // No cgroup can be made: the void runs without one...
        let r = b.run()
        #expect(r.status == 0 && r.stdout == "ok\n", "\(r)")
        // ...unless it asks for limits, which must not be silently lost.
        b.edit { c in
            var l = c["linux"] as! [String: Any]
            l["resources"] = ["pids": ["limit": 10]]
            c["linux"] = l
        }
        let lim = b.run()
        #expect(lim.status != 0 && lim.stderr.contains("linux.resources"), "\(lim)")
    }

    /// Attack (issue 10): `linux.cgroupsPath` "/." (or ".", "//.") resolved to the root of every
    /// hierarchy: `ps` then listed every host process and `delete --force` SIGKILLed them all.
    /// "voidoci" (the parent every void shares), or a leaf another void is in, was taken over,
    /// its limits rewritten and left behind. A void's cgroup must be a leaf its create made.
    /// (Should a create here ever succeed, the test removes it by hand: never delete --force.)
    @Test func cgroupsPathCannotNameTheRootOrACgroupItDidNotMake() throws {
        try #require(Self.layout["pids"] != nil, "needs the v1 pids controller")
        let pidsRoot = Self.layout["pids"]!
        // Another void, so that "voidoci" is a parent with a leaf in it.
        let other = TestBundle(args: ["/bin/sleep", "60"])
        defer { other.close() }
        let (otherID, otherPID) = try start(other)
        let parentMax = read("\(pidsRoot)/voidoci/pids.max")
        // An empty cgroup that someone else made.
        let foreign = "voidoci-test-\(getpid())/foreign\(UUID().uuidString.prefix(4))"
        for (_, m) in Self.layout { _ = Shell.run(["mkdir", "-p", "\(m)/\(foreign)"]) }
        defer {
            for (_, m) in Self.layout { rmdir("\(m)/\(foreign)"); rmdir("\(m)/voidoci-test-\(getpid())") }
        }
        let canary = Process()
        canary.executableURL = URL(fileURLWithPath: "/bin/sleep")
        canary.arguments = ["60"]
        try canary.run()
        defer { kill(canary.processIdentifier, SIGKILL); canary.waitUntilExit() }

        for path in ["/.", ".", "//.", "/./", "voidoci", "/voidoci", "/voidoci/\(otherID)", foreign, "/a\nb"] {
            let b = bundle(["/bin/true"], cgroupsPath: "", resources: ["pids": ["limit": 5]]) { c in
                var l = c["linux"] as! [String: Any]
                l["cgroupsPath"] = path
                c["linux"] = l
            }
            defer { _ = Shell.run(["rm", "-rf", b.dir]) }
            let id = TestBundle.newID("root")
            let env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
            let r = Shell.runReaped([Env.bin, "--root", b.stateRoot, "create", "--bundle", b.dir, "--pid-file", "\(b.dir)/pid", id], env: env)
            if r.status == 0 {
                // Remove what the old behaviour made without killing through the cgroup.
                if let p = Int32(read("\(b.dir)/pid") ?? "") { kill(p, SIGKILL) }
                _ = Shell.run(["rm", "-rf", "\(b.stateRoot)/\(id)"])
            }
            #expect(r.status == 1 && r.stderr.contains("linux.cgroupsPath"), "cgroupsPath \(path): \(r)")
            #expect(b.stateEntries().isEmpty, "cgroupsPath \(path): state left: \(b.stateEntries())")
            #expect(canary.isRunning && Host.alive(otherPID), "cgroupsPath \(path): a process that is not the void's was killed")
            #expect(read("\(pidsRoot)/pids.max") == nil, "the root cgroup has no limits to write")
            #expect(read("\(pidsRoot)/voidoci/pids.max") == parentMax, "cgroupsPath \(path): the shared parent's limit was rewritten")
            #expect(read("\(pidsRoot)/voidoci/\(otherID)/pids.max") == "max", "cgroupsPath \(path): another void's limit was rewritten")
            #expect(read("\(pidsRoot)/\(foreign)/pids.max") == "max", "cgroupsPath \(path): a foreign cgroup's limit was rewritten")
        }
        #expect(access("\(pidsRoot)/\(foreign)", F_OK) == 0, "a cgroup voidoci did not make was removed")
    }

    /// Attack (issue 10): with a tiny memory limit, voidoci's own thread sat in the void's
    /// memory cgroup while it cloned, and the kernel OOM-killed voidoci, leaving a dozen cgroup
    /// directories and a state dir. Only the void may be charged, and killed: create succeeds
    /// (or fails cleanly, naming the cause); the void's program is the one the OOM killer ends.
    @Test func aTinyMemoryLimitKillsTheVoidNeverVoidoci() throws {
        try #require(Self.layout["memory"] != nil, "needs the v1 memory controller")
        let mem = Self.layout["memory"]!
        let leaf = "voidoci-test-\(getpid())/oom\(UUID().uuidString.prefix(4))"
        let b = bundle(["/bin/sh", "-c", "echo started; x=$(cat /bin/sh /bin/sh /bin/sh); echo survived"],
                       cgroupsPath: leaf, resources: ["memory": ["limit": 65_536]])
        defer {
            b.close()
            for (_, m) in Self.layout { rmdir("\(m)/voidoci-test-\(getpid())") }
        }
        for round in 0..<3 {
            let id = TestBundle.newID("oom")
            let c = b.voidociReaped(["create", "--bundle", b.dir, id])
            #expect(c.status == 0 || (c.status == 1 && c.stderr.contains("out of memory")), "round \(round): voidoci itself must not be killed: \(c)")
            if c.status == 0 {
                #expect(b.voidociReaped(["start", id]).status == 0)
                #expect(Host.waitUntil(10) { b.voidociReaped(["state", id]).stdout.contains("\"stopped\"") }, "round \(round): the void ends")
                let oom = read("\(mem)/\(leaf)/memory.oom_control") ?? ""
                #expect(oom.contains("oom_kill ") && !oom.contains("oom_kill 0"), "round \(round): the OOM killer acted in the void's cgroup: \(oom)")
                #expect(b.voidociReaped(["delete", id]).status == 0)
            }
            #expect(b.stateEntries().isEmpty, "round \(round): state left: \(b.stateEntries())")
            #expect(access("\(mem)/\(leaf)", F_OK) != 0, "round \(round): the leaf is removed")
        }
        // run reports the kill in its exit status, as a shell does (128 + SIGKILL).
        let r = b.voidociReaped(["run", "--bundle", b.dir, TestBundle.newID("oomrun")])
        #expect((r.status == 137 || (r.status == 1 && r.stderr.contains("out of memory"))) && !r.stdout.contains("survived"), "\(r)")
        #expect(b.stateEntries().isEmpty && access("\(mem)/\(leaf)", F_OK) != 0)
    }
}
