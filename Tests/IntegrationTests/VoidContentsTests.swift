import Foundation
import Testing

// MARK: - Helpers shared by VoidContentsTests, ProcessAttributeTests and TerminalTests

extension TestBundle {
    /// `process.KEY = value` (nil removes the key).
    func setProcess(_ key: String, _ value: Any?) {
        edit { c in
            var p = c["process"] as? [String: Any] ?? [:]
            p[key] = value
            c["process"] = p
        }
    }

    /// `process.user.KEY = value`.
    func setUser(_ key: String, _ value: Any?) {
        edit { c in
            var p = c["process"] as? [String: Any] ?? [:]
            var u = p["user"] as? [String: Any] ?? [:]
            u[key] = value
            p["user"] = u
            c["process"] = p
        }
    }

    /// `linux.KEY = value`.
    func setLinux(_ key: String, _ value: Any?) {
        edit { c in
            var l = c["linux"] as? [String: Any] ?? [:]
            l[key] = value
            c["linux"] = l
        }
    }

    /// `root.KEY = value`.
    func setRoot(_ key: String, _ value: Any?) {
        edit { c in
            var r = c["root"] as? [String: Any] ?? [:]
            r[key] = value
            c["root"] = r
        }
    }

    /// Merges into `annotations`; an annotation given twice keeps comma-joined values.
    func annotate(_ a: [String: String]) {
        edit { c in
            var ann = c["annotations"] as? [String: String] ?? [:]
            for (k, v) in a { ann[k] = ann[k].map { "\($0),\(v)" } ?? v }
            c["annotations"] = ann
        }
    }

    func addMount(_ m: [String: Any]) {
        edit { c in
            var ms = c["mounts"] as? [[String: Any]] ?? []
            ms.append(m)
            c["mounts"] = ms
        }
    }

    /// A fresh procfs at /proc: the grant and the config entry it honours.
    func grantProc() {
        annotate(["org.voidoci.mounts": "proc"])
        addMount(["destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]])
    }

    /// A directory under the bundle dir owned by the host user this bundle runs voidoci as, so
    /// voidoci can write pid files and the like there.
    func callerDir(_ name: String) -> String {
        let d = "\(dir)/\(name)"
        mkdir(d, 0o755)
        if who == .user, let uid = Env.testUID, let gid = Env.testGID { chown(d, uid, gid) }
        return d
    }

    /// argv that runs `voidoci --root STATE ARGS...` as this bundle's user (what `voidoci()` runs).
    func voidociArgv(_ args: [String]) -> [String] {
        var argv = [Env.bin, "--root", stateRoot] + args
        if who == .user {
            argv = ["/usr/bin/setpriv", "--reuid=\(Env.testUser)", "--regid=\(Env.testUser)", "--init-groups", "--"] + argv
        }
        return argv
    }

    /// Runs `voidoci ARGS` (as this bundle's user) from a bash that runs SETUP first (e.g.
    /// `exec 7<file`): a caller handing extra fds to voidoci. Through `Shell.runReaped`, so only
    /// stdio and what SETUP opens reach voidoci, and it returns when voidoci exits even if a
    /// created init lives on. The id is not remembered for close(): delete it yourself.
    func voidociWithFds(_ args: [String], setup: String, env: [String: String] = [:]) -> Result {
        let script = "\(setup)\nexec \"$@\""
        var e = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        for (k, v) in env { e[k] = v }
        return Shell.runReaped(["/bin/bash", "-c", script, "bash"] + voidociArgv(args), env: e)
    }

    /// `create --pid-file` then `start`; returns the init's host pid. close() deletes the void.
    func createAndStart(_ id: String, createArgs: [String] = []) throws -> Int32 {
        let pidFile = "\(callerDir("pid"))/\(id).pid"
        let c = voidociReaped(["create", "--bundle", dir, "--pid-file", pidFile] + createArgs + [id])
        try #require(c.status == 0, "create: \(c)")
        let s = voidoci(["start", id])
        try #require(s.status == 0, "start: \(s)")
        let text = (try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? ""
        return try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), "pid file: \(text)")
    }

    static func newID(_ prefix: String = "t") -> String { "\(prefix)\(UUID().uuidString.prefix(8).lowercased())" }

    /// Names in the state dir (what a failed create must not leave).
    func stateEntries() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: stateRoot)) ?? []
    }
}

enum VoidCheck {
    /// The host id that void root (or the process's own id) maps to by default.
    static func hostID(_ who: As) -> UInt32 { who == .root ? 65534 : Env.testUID! }
    static func hostGID(_ who: As) -> UInt32 { who == .root ? 65534 : Env.testGID! }

    /// A bundle on the busybox image running `sh -c SCRIPT`, with the image's /bin exposed so
    /// every applet can be exec'd (a bare void holds only /bin/sh and /bin/busybox).
    static func busybox(_ script: String, as who: As, extraArgs: [String] = []) -> TestBundle {
        let b = TestBundle(rootfs: Env.busyboxRootfs, args: ["/bin/sh", "-c", script] + extraArgs, as: who)
        b.annotate(["org.voidoci.expose": "/bin"])
        return b
    }

    /// A host temp dir (outside any bundle) owned by `uid:gid`, removed at exit.
    static func hostDir(owner uid: UInt32, _ gid: UInt32) -> String {
        let d = "/tmp/voidoci-test-\(getpid())-host-\(UUID().uuidString.prefix(8))"
        mkdir(d, 0o755)
        chown(d, uid, gid)
        Env.registerCleanup(d)
        return d
    }

    static func readHost(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? "<unreadable \(path)>"
    }

    static func lines(_ s: String) -> [String] {
        s.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
    }
}

// MARK: - What is inside a void

@Suite(.serialized, .hostClean) struct VoidContentsTests {
    // MARK: only what was granted

    @Test(arguments: As.allCases)
    func rootListsOnlyTheProgramClosure(who: As) throws {
        try Env.requireUser(who)
        let b = TestBundle(args: ["/bin/sh", "-c", "echo /* /.*"], as: who)
        defer { b.close() }
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        let names = Set(r.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        #expect(names == ["/bin", "/etc", "/lib", "/lib64", "/usr", "/.", "/.."], "\(r)")
    }

    @Test(arguments: As.allCases)
    func exposeGrantsExactlyThatFile(who: As) throws {
        try Env.requireUser(who)
        let script = """
            while IFS= read -r l; do printf '%s\\n' "$l"; done < /etc/passwd
            [ -e /etc/group ] && echo group-visible || echo group-invisible
            [ -e /usr/bin/ls ] && echo ls-visible || echo ls-invisible
            """
        // The image has all three; the program is sh.
        #expect(FileManager.default.fileExists(atPath: Env.hostRootfs + "/usr/bin/ls"))
        #expect(FileManager.default.fileExists(atPath: Env.hostRootfs + "/etc/group"))

        let without = TestBundle(args: ["/bin/sh", "-c", script], as: who)
        defer { without.close() }
        let r0 = without.run()
        #expect(r0.stdout == "group-invisible\nls-invisible\n", "\(r0)")
        #expect(r0.stderr.contains("/etc/passwd"), "reading an ungranted file must fail: \(r0)")

        let b = TestBundle(args: ["/bin/sh", "-c", script], as: who)
        defer { b.close() }
        b.annotate(["org.voidoci.expose": "/etc/passwd"])
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        let passwd = VoidCheck.readHost(Env.hostRootfs + "/etc/passwd")
        #expect(r.stdout == passwd + "group-invisible\nls-invisible\n", "\(r)")
    }

    @Test(arguments: As.allCases)
    func hostFilesAndProcAreUnreachable(who: As) throws {
        try Env.requireUser(who)
        let hostFile = "/tmp/voidoci-hostonly-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: hostFile, contents: Data("secret\n".utf8))
        chmod(hostFile, 0o644)
        defer { unlink(hostFile) }
        let script = """
            [ -e \(hostFile) ] && echo hostfile-visible || echo hostfile-invisible
            [ -e /proc ] && echo proc-visible || echo proc-invisible
            [ -e /sys ] && echo sys-visible || echo sys-invisible
            """
        for rootfs in ["none", "ro"] {
            let b = TestBundle(args: ["/bin/sh", "-c", script], as: who)
            defer { b.close() }
            b.annotate(["org.voidoci.rootfs": rootfs])
            let r = b.run()
            #expect(r.status == 0, "rootfs=\(rootfs): \(r)")
            #expect(r.stdout == "hostfile-invisible\nproc-invisible\nsys-invisible\n", "rootfs=\(rootfs): \(r)")
        }
    }

    @Test(arguments: As.allCases)
    func grantedProcIsTheVoidsOwn(who: As) throws {
        try Env.requireUser(who)
        let script = "echo pid=$$; tr '\\0' ' ' < /proc/1/cmdline; echo; [ -e /proc/self/status ] && echo status-ok; ls /proc | grep -cE '^[0-9]+$'"
        let b = VoidCheck.busybox(script, as: who)
        defer { b.close() }
        b.grantProc()
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        let l = VoidCheck.lines(r.stdout)
        try #require(l.count == 4, "\(r)")
        #expect(l[0] == "pid=1")
        #expect(l[1] == "/bin/sh -c \(script) ", "pid 1 of the void's proc is its program: \(r)")
        #expect(l[2] == "status-ok")
        // Only the void's few processes (sh, ls, grep), not the host's.
        #expect((Int(l[3]) ?? 99) <= 5, "processes visible: \(r)")
    }

    // MARK: ids and namespaces

    @Test(arguments: As.allCases)
    func idMapsAreExactlyOneID(who: As) throws {
        try Env.requireUser(who)
        let b = TestBundle(args: ["sleep", "30"], as: who)
        defer { b.close() }
        let id = TestBundle.newID()
        let pid = try b.createAndStart(id)
        func fields(_ f: String) -> [[String]] {
            VoidCheck.lines(VoidCheck.readHost("/proc/\(pid)/\(f)")).map { $0.split(separator: " ").map(String.init) }
        }
        #expect(fields("uid_map") == [["0", "\(VoidCheck.hostID(who))", "1"]], "uid_map: \(VoidCheck.readHost("/proc/\(pid)/uid_map"))")
        #expect(fields("gid_map") == [["0", "\(VoidCheck.hostGID(who))", "1"]], "gid_map: \(VoidCheck.readHost("/proc/\(pid)/gid_map"))")
        #expect(VoidCheck.readHost("/proc/\(pid)/setgroups") == "deny\n")
        // Seen from the host, the init runs as the mapped id, not as the caller (for root).
        let status = VoidCheck.readHost("/proc/\(pid)/status")
        let uidLine = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }.map(String.init) ?? ""
        #expect(uidLine.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().allSatisfy { $0 == "\(VoidCheck.hostID(who))" },
                "\(uidLine)")
    }

    @Test(arguments: As.allCases)
    func allEightNamespacesAreNew(who: As) throws {
        try Env.requireUser(who)
        let b = TestBundle(args: ["sleep", "30"], as: who)
        defer { b.close() }
        // Listing none of them changes nothing: a void always gets all eight.
        b.setLinux("namespaces", [[String: Any]]())
        let id = TestBundle.newID()
        let pid = try b.createAndStart(id)
        for ns in ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup", "time"] {
            let host = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/\(ns)")) ?? "host?"
            let void = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(ns)")) ?? "void?"
            #expect(void.hasPrefix("\(ns):["), "\(ns): \(void)")
            #expect(host != void, "\(ns) namespace is the host's: \(void)")
        }
    }

    /// A user namespace given by path is joined by voidoci itself before the clone, which needs
    /// a single-threaded process: this void's set-up runs without the helper thread.
    @Test func userNamespaceGivenByPathIsJoined() throws {
        try #require(geteuid() == 0)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        holder.arguments = ["--user", "--map-root-user", "sleep", "60"]
        try holder.run()
        defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
        let hpid = holder.processIdentifier
        let userNS = { (pid: Int32) in (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/user")) ?? "?\(pid)" }
        try #require(Host.waitUntil(5) { userNS(hpid) != userNS(getpid()) }, "the holder has its own user namespace")
        let b = TestBundle(args: ["sleep", "30"])
        defer { b.close() }
        b.setLinux("namespaces", [["type": "user", "path": "/proc/\(hpid)/ns/user"], ["type": "pid"], ["type": "mount"], ["type": "network"]])
        let id = TestBundle.newID()
        let pid = try b.createAndStart(id)
        #expect(userNS(pid) == userNS(hpid))
        let ns = { (pid: Int32) in (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt")) ?? "?\(pid)" }
        #expect(ns(pid) != ns(getpid()), "a new mount namespace, owned by the joined user namespace")
        #expect(b.voidoci(["delete", "--force", id]).status == 0)
    }

    @Test(arguments: As.allCases)
    func hostnameIsConfiguredOrVoid(who: As) throws {
        try Env.requireUser(who)
        let named = TestBundle(args: ["/bin/hostname"], as: who) { $0["hostname"] = "hello" }
        defer { named.close() }
        let r = named.run()
        #expect(r.status == 0 && r.stdout == "hello\n", "\(r)")

        let unnamed = TestBundle(args: ["/bin/hostname"], as: who)
        defer { unnamed.close() }
        let r2 = unnamed.run()
        #expect(r2.status == 0 && r2.stdout == "void\n", "\(r2)")
        var uts = utsname()
        uname(&uts)
        let hostName = withUnsafeBytes(of: uts.nodename) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        #expect(hostName != "void" && r2.stdout != hostName + "\n")
    }

    @Test(arguments: As.allCases)
    func loopbackIsUpAndAlone(who: As) throws {
        try Env.requireUser(who)
        let b = VoidCheck.busybox("ip link show lo; echo ---; ip -o link", as: who)
        defer { b.close() }
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        let parts = r.stdout.components(separatedBy: "---\n")
        try #require(parts.count == 2, "\(r)")
        #expect(parts[0].contains("<LOOPBACK,UP"), "lo must be up: \(r)")
        // Only lo: none of the host's interfaces.
        #expect(VoidCheck.lines(parts[1]).count == 1, "\(r)")
        let hostIfs = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? []
        for i in hostIfs where i != "lo" { #expect(!r.stdout.contains(" \(i):"), "host interface \(i) visible: \(r)") }
    }

    // MARK: root filesystem

    @Test(arguments: As.allCases)
    func rootfsReadOnlyGrantShowsTheImage(who: As) throws {
        try Env.requireUser(who)
        let name = "ro-\(UUID().uuidString.prefix(8))"
        let b = TestBundle(args: ["/bin/sh", "-c", "echo /*; : > /tmp/\(name) && echo wrote"], as: who)
        defer { b.close() }
        b.annotate(["org.voidoci.rootfs": "ro"])
        let r = b.run()
        let image = try FileManager.default.contentsOfDirectory(atPath: Env.hostRootfs).sorted().map { "/\($0)" }
        #expect(VoidCheck.lines(r.stdout).first == image.joined(separator: " "), "\(r)")
        #expect(!r.stdout.contains("wrote"), "\(r)")
        #expect(r.stderr.contains("Read-only file system"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: "\(Env.hostRootfs)/tmp/\(name)"))
    }

    @Test(arguments: As.allCases)
    func rootfsReadWriteGrantWritesTheImage(who: As) throws {
        try Env.requireUser(who)
        let name = "rw-\(UUID().uuidString.prefix(8))"
        let inImage = "\(Env.hostRootfs)/tmp/\(name)"
        defer { unlink(inImage) }
        let b = TestBundle(args: ["/bin/sh", "-c", "echo hi > /tmp/\(name) && echo wrote"], as: who)
        defer { b.close() }
        b.annotate(["org.voidoci.rootfs": "rw"])
        let r = b.run()
        #expect(r.status == 0 && r.stdout == "wrote\n", "\(r)")
        #expect(VoidCheck.readHost(inImage) == "hi\n")
        var st = stat()
        #expect(stat(inImage, &st) == 0 && st.st_uid == VoidCheck.hostID(who), "written as the mapped id")
    }

    @Test(arguments: As.allCases)
    func rootReadonlyMakesTheTmpfsReadOnly(who: As) throws {
        try Env.requireUser(who)
        let script = ": > /x && echo wrote"
        let rw = TestBundle(args: ["/bin/sh", "-c", script], as: who)
        defer { rw.close() }
        let r0 = rw.run()
        #expect(r0.status == 0 && r0.stdout == "wrote\n", "a void's tmpfs root is writable by default: \(r0)")

        let ro = TestBundle(args: ["/bin/sh", "-c", script], as: who)
        defer { ro.close() }
        ro.setRoot("readonly", true)
        let r = ro.run()
        #expect(r.status != 0 && !r.stdout.contains("wrote"), "\(r)")
        #expect(r.stderr.contains("Read-only file system"), "\(r)")
    }

    // MARK: config mounts

    @Test(arguments: As.allCases)
    func bindMountedDirectory(who: As) throws {
        try Env.requireUser(who)
        let host = VoidCheck.hostDir(owner: VoidCheck.hostID(who), VoidCheck.hostGID(who))
        _ = FileManager.default.createFile(atPath: "\(host)/in.txt", contents: Data("from host\n".utf8))
        chmod("\(host)/in.txt", 0o644)
        let script = "read l < /data/in.txt; echo \"$l\"; echo out > /data/out-$1 && echo wrote"

        let ro = TestBundle(args: ["/bin/sh", "-c", script, "sh", "ro"], as: who)
        defer { ro.close() }
        ro.addMount(["destination": "/data", "type": "bind", "source": host, "options": ["bind", "ro"]])
        let r = ro.run()
        #expect(r.stdout == "from host\n", "\(r)")
        #expect(r.stderr.contains("Read-only file system"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: "\(host)/out-ro"))

        let rw = TestBundle(args: ["/bin/sh", "-c", script, "sh", "rw"], as: who)
        defer { rw.close() }
        rw.addMount(["destination": "/data", "type": "bind", "source": host, "options": ["rbind", "rw"]])
        let r2 = rw.run()
        #expect(r2.status == 0 && r2.stdout == "from host\nwrote\n", "\(r2)")
        #expect(VoidCheck.readHost("\(host)/out-rw") == "out\n", "the write is visible on the host")
    }

    @Test(arguments: As.allCases)
    func bindMountedFile(who: As) throws {
        try Env.requireUser(who)
        let host = VoidCheck.hostDir(owner: 0, 0)
        _ = FileManager.default.createFile(atPath: "\(host)/greeting", contents: Data("hello file\n".utf8))
        chmod("\(host)/greeting", 0o644)
        _ = FileManager.default.createFile(atPath: "\(host)/sibling", contents: Data("x\n".utf8))
        let b = TestBundle(args: ["/bin/sh", "-c", "read l < /srv/greeting.txt; echo \"$l\"; echo /srv/*"], as: who)
        defer { b.close() }
        b.addMount(["destination": "/srv/greeting.txt", "type": "bind", "source": "\(host)/greeting", "options": ["bind", "ro"]])
        let r = b.run()
        #expect(r.status == 0 && r.stdout == "hello file\n/srv/greeting.txt\n", "only the file, not its directory: \(r)")
    }

    @Test(arguments: As.allCases)
    func rbindCarriesSubmounts(who: As) throws {
        try Env.requireUser(who)
        // The host's /dev has devpts mounted at /dev/pts: only a recursive bind brings it along.
        #expect(FileManager.default.fileExists(atPath: "/dev/pts/ptmx"))
        let script = "[ -e /hostdev/pts/ptmx ] && echo submount || echo no-submount"
        let rec = TestBundle(args: ["/bin/sh", "-c", script], as: who)
        defer { rec.close() }
        rec.addMount(["destination": "/hostdev", "type": "bind", "source": "/dev", "options": ["rbind", "nosuid", "noexec"]])
        let r = rec.run()
        #expect(r.status == 0 && r.stdout == "submount\n", "\(r)")

        // A plain bind of a tree with submounts is refused by the kernel in a user namespace
        // the caller does not own the mounts of: only root can show the difference.
        if who == .root {
            let flat = TestBundle(args: ["/bin/sh", "-c", script], as: who)
            defer { flat.close() }
            flat.addMount(["destination": "/hostdev", "type": "bind", "source": "/dev", "options": ["bind", "nosuid", "noexec"]])
            let r2 = flat.run()
            #expect(r2.status == 0 && r2.stdout == "no-submount\n", "\(r2)")
        }
    }

    // MARK: /dev

    @Test(arguments: As.allCases)
    func devMinimal(who: As) throws {
        try Env.requireUser(who)
        let with = VoidCheck.busybox("head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; ls /dev", as: who)
        defer { with.close() }
        with.annotate(["org.voidoci.dev": "minimal"])
        let r = with.run()
        #expect(r.status == 0, "\(r)")
        #expect(VoidCheck.lines(r.stdout) == ["4", "null-ok", "full", "null", "random", "tty", "urandom", "zero"], "\(r)")

        let without = VoidCheck.busybox("[ -e /dev ] && echo dev-exists || echo no-dev", as: who)
        defer { without.close() }
        let r2 = without.run()
        #expect(r2.status == 0 && r2.stdout == "no-dev\n", "\(r2)")
    }

    // MARK: cwd

    @Test(arguments: As.allCases)
    func cwdIsCreated(who: As) throws {
        try Env.requireUser(who)
        let b = TestBundle(args: ["/bin/sh", "-c", "pwd; echo x > here && echo wrote"], as: who)
        defer { b.close() }
        b.setProcess("cwd", "/work/here")
        let r = b.run()
        #expect(r.status == 0 && r.stdout == "/work/here\nwrote\n", "\(r)")
    }

    // MARK: the host's mount table

    @Test(arguments: As.allCases)
    func hostMountTableUnchanged(who: As) throws {
        try Env.requireUser(who)
        _ = (Env.hostRootfs, Env.busyboxRootfs)
        let host = VoidCheck.hostDir(owner: VoidCheck.hostID(who), VoidCheck.hostGID(who))
        let before = hostMounts()

        // A full lifecycle with every kind of mount: program binds, an expose, devices, proc, a bind.
        let b = TestBundle(args: ["sleep", "30"], as: who)
        defer { b.close() }
        b.grantProc()
        b.annotate(["org.voidoci.dev": "minimal", "org.voidoci.expose": "/etc/passwd"])
        b.addMount(["destination": "/data", "type": "bind", "source": host, "options": ["rbind"]])
        let id = TestBundle.newID("life")
        let pid = try b.createAndStart(id)
        #expect(kill(pid, 0) == 0)
        let st = b.voidoci(["state", id])
        #expect(st.status == 0 && st.stdout.contains("\"running\""), "\(st)")
        let k = b.voidoci(["kill", id, "KILL"])
        #expect(k.status == 0, "\(k)")
        let d = b.voidoci(["delete", "--force", id])
        #expect(d.status == 0, "\(d)")
        #expect(hostMounts() == before, "after a lifecycle")
        #expect(b.stateEntries().isEmpty, "\(b.stateEntries())")

        // A create that fails inside the init, after the program binds and proc were mounted:
        // the destination is under the program's own file (bound read-only, not a directory).
        let real = try #require(realpath(Env.hostRootfs + "/bin/sh", nil))
        let shFile = String(String(cString: real).dropFirst(Env.hostRootfs.count))
        free(real)
        let bad = TestBundle(args: ["/bin/sh", "-c", "true"], as: who)
        defer { bad.close() }
        bad.grantProc()
        bad.addMount(["destination": "\(shFile)/sub", "type": "bind", "source": host, "options": ["rbind"]])
        let c = bad.voidoci(["create", "--bundle", bad.dir, "bad\(UUID().uuidString.prefix(6))"])
        #expect(c.status != 0, "\(c)")
        #expect(c.stderr.contains("\(shFile)/sub"), "the error names the destination: \(c)")
        #expect(hostMounts() == before, "after a failed create")
        #expect(bad.stateEntries().isEmpty, "a failed create left \(bad.stateEntries())")
    }
}
