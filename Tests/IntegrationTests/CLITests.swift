import Foundation
import Testing
import VoidEngine

/// The command line as podman and conmon drive it: global options before the verb, error
/// reporting, probes, the default state directory, `explain`.
@Suite(.serialized, .hostClean) struct CLITests {
    func sleeper(_ who: As) -> TestBundle {
        TestBundle(rootfs: Env.busyboxRootfs, args: ["/bin/busybox", "sleep", "1000"], as: who)
    }

    @Test(arguments: As.allCases)
    func globalOptionsBeforeTheVerb(who: As) throws {
        try Env.requireUser(who)
        let before = hostMounts()
        let b = sleeper(who)
        defer { b.close() }
        let log = "\(LifeProbe.scratch(b))/log"
        let forms: [[String]] = [
            ["--log-format=json", "--log", log],
            ["--log-format", "json", "--log", log],
            ["--debug"],
            // --systemd-cgroup alone is refused at create (no systemd here: CgroupTests);
            // with --cgroup-manager disabled there is no cgroup to manage at all.
            ["--systemd-cgroup", "--cgroup-manager", "disabled"],
            ["--cgroup-manager", "disabled"],
            ["--rootless", "true"],
            ["--log-level", "debug"],
            ["--log-format=json", "--log", log, "--debug", "--systemd-cgroup", "--cgroup-manager", "disabled", "--rootless", "true", "--log-level", "debug"],
        ]
        for f in forms {
            let id = "g-\(LifeProbe.uid())"
            let c = b.voidociReaped(f + ["create", "--bundle", b.dir, id])
            #expect(c.status == 0, "\(f): \(c)")
            #expect(LifeProbe.status(b, id) == "created", "\(f)")
            let d = b.voidociReaped(f + ["delete", "--force", id])
            #expect(d.status == 0, "\(f): \(d)")
        }
        #expect(LifeProbe.entries(b.stateRoot).isEmpty)

        // --root DIR (and --root=DIR) decide where the state goes.
        for eqForm in [false, true] {
            let alt = "\(LifeProbe.scratch(b))/alt-\(eqForm)"
            mkdir(alt, 0o700)
            if who == .user, let u = Env.testUID, let g = Env.testGID { chown(alt, u, g) }
            let id = "root-\(LifeProbe.uid())"
            let rootArgs = eqForm ? ["--root=\(alt)"] : ["--root", alt]
            let env = ["PATH": "/usr/bin:/bin"]
            let c = LifeProbe.raw(who, rootArgs + ["create", "--bundle", b.dir, id], env: env)
            #expect(c.status == 0, "\(rootArgs): \(c)")
            #expect(LifeProbe.exists("\(alt)/\(id)"), "\(rootArgs): no state at \(alt)/\(id)")
            #expect(!LifeProbe.exists("\(b.stateRoot)/\(id)"))
            let s = LifeProbe.raw(who, rootArgs + ["state", id], env: env)
            #expect(LifeProbe.jsonObject(s.stdout)?["status"] as? String == "created", "\(s)")
            #expect(LifeProbe.raw(who, rootArgs + ["delete", "--force", id], env: env).status == 0)
            #expect(LifeProbe.entries(alt).isEmpty)
        }
        #expect(LifeProbe.waitUntil(2) { LifeProbe.processes(mentioning: b.dir).isEmpty })
        #expect(hostMounts() == before)
    }

    /// The hot verbs are parsed by hand (Sources/voidoci/FastPath.swift); VOIDOCI_ARGUMENT_PARSER=1
    /// sends the same arguments through swift-argument-parser. Every form a client uses, and
    /// every malformed one, must come out the same both ways: exit status, output and state.
    @Test func argumentFastPathMatchesArgumentParser() throws {
        let before = hostMounts()
        let b = sleeper(.root)
        defer { b.close() }
        let exits = TestBundle(rootfs: Env.busyboxRootfs, args: ["/bin/busybox", "sh", "-c", "exit 3"], as: .root)
        defer { exits.close() }
        let scratch = LifeProbe.scratch(b)
        let full = ["VOIDOCI_ARGUMENT_PARSER": "1"]

        // Runs `make(id)` both ways, each with its own id; returns the two results with the
        // id replaced by ID so they can be compared.
        func both(_ make: (String) -> [String]) -> (Result, Result, String, String) {
            let ids = ["fp-\(LifeProbe.uid())", "ap-\(LifeProbe.uid())"]
            let fast = b.voidociReaped(make(ids[0]))
            let slow = b.voidociReaped(make(ids[1]), extraEnv: full)
            func norm(_ r: Result, _ id: String) -> Result {
                Result(status: r.status, stdout: r.stdout.replacingOccurrences(of: id, with: "ID"),
                       stderr: r.stderr.replacingOccurrences(of: id, with: "ID"))
            }
            return (norm(fast, ids[0]), norm(slow, ids[1]), ids[0], ids[1])
        }
        func same(_ a: Result, _ b: Result, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(a.status == b.status, "\(what): fast \(a) / full \(b)", sourceLocation: sourceLocation)
            #expect(a.stdout == b.stdout, "\(what): fast \(a) / full \(b)", sourceLocation: sourceLocation)
            #expect(a.stderr == b.stderr, "\(what): fast \(a) / full \(b)", sourceLocation: sourceLocation)
        }
        // create in every spelling, then state, start, kill and delete in theirs.
        let creates: [(String) -> [String]] = [
            { ["create", "--bundle", b.dir, $0] },
            { ["create", "-b", b.dir, $0] },
            { ["create", "--bundle=\(b.dir)", "--pid-file", "\(scratch)/\($0).pid", $0] },
            { ["create", "--no-pivot", "--no-new-keyring", "--preserve-fds", "0", $0, "--bundle", b.dir] },
            { ["create", "--pid-file=\(scratch)/\($0).pid", "--preserve-fds=0", "-b", b.dir, $0] },
        ]
        let stops: [(String) -> [String]] = [
            { ["kill", $0] }, { ["kill", $0, "KILL"] }, { ["kill", "--all", $0, "9"] }, { ["kill", "-a", $0, "SIGKILL"] },
            { ["kill", $0, "--all", "TERM"] },
        ]
        let deletes: [(String) -> [String]] = [{ ["delete", "--force", $0] }, { ["delete", "-f", $0] }, { ["delete", $0, "--force"] }]
        for (i, c) in creates.enumerated() {
            let (cf, cs, idf, ids) = both(c)
            same(cf, cs, "create form \(i)")
            #expect(cf.status == 0, "create form \(i): \(cf)")
            if c("X").contains(where: { $0.contains(".pid") }) {
                #expect(LifeProbe.exists("\(scratch)/\(idf).pid") && LifeProbe.exists("\(scratch)/\(ids).pid"), "create form \(i): pid files")
            }
            for id in [idf, ids] {
                #expect(LifeProbe.status(b, id) == "created", "create form \(i): \(id)")
            }
            let sf = b.voidociReaped(["state", idf]), ss = b.voidociReaped(["state", ids], extraEnv: full)
            #expect(sf.status == 0 && ss.status == 0, "state: \(sf) / \(ss)")
            #expect(LifeProbe.jsonObject(sf.stdout)?["status"] as? String == "created")
            #expect(LifeProbe.jsonObject(ss.stdout)?["status"] as? String == "created")
            #expect(LifeProbe.jsonObject(sf.stdout)?["id"] as? String == idf)
            #expect(b.voidociReaped(["start", idf]).status == 0)
            #expect(b.voidociReaped(["start", ids], extraEnv: full).status == 0)
            for id in [idf, ids] { #expect(LifeProbe.waitStatus(b, id, "running"), "start: \(id)") }
            let stop = stops[i % stops.count]
            let kf = b.voidociReaped(stop(idf)), ks = b.voidociReaped(stop(ids), extraEnv: full)
            same(kf, ks, "kill form \(i)")
            let del = deletes[i % deletes.count]
            let df = b.voidociReaped(del(idf)), ds = b.voidociReaped(del(ids), extraEnv: full)
            same(df, ds, "delete form \(i)")
            #expect(df.status == 0, "delete form \(i): \(df)")
            for id in [idf, ids] { #expect(!LifeProbe.exists("\(b.stateRoot)/\(id)"), "delete form \(i): \(id) left state") }
        }

        // run: the program's status comes back both ways.
        for form in [["run", "--bundle", exits.dir], ["run", "-b", exits.dir, "--preserve-fds", "0", "--no-pivot", "-d"]] {
            let idf = "fr-\(LifeProbe.uid())", ids = "ar-\(LifeProbe.uid())"
            let rf = b.voidociReaped(form + [idf]), rs = b.voidociReaped(form + [ids], extraEnv: full)
            #expect(rf.status == 3 && rs.status == 3, "\(form): \(rf) / \(rs)")
        }

        // Malformed or unusual input: the fast path declines, ArgumentParser answers once.
        let odd: [[String]] = [
            ["state"], ["state", "a", "b"], ["start"], ["delete"], ["kill"], ["kill", "a", "TERM", "extra"],
            ["delete", "--bogus", "x"], ["create", "--bundle"], ["create", "--preserve-fds", "x", "--bundle", b.dir, "x"],
            ["create", "--bundle", "--pid-file", "x"], ["state", "--help"], ["start", "-h"], ["kill", "--all=1", "x"],
            ["run", "--console-socket", "/x", "x"], ["state", "--", "x"], ["delete", "-fa", "x"],
            ["state", "does-not-exist"], ["kill", "does-not-exist", "NOPE"], ["delete", "does-not-exist"],
            ["create", "--bundle", "/does/not/exist", "x"],
        ]
        for args in odd {
            let rf = b.voidociReaped(args), rs = b.voidociReaped(args, extraEnv: full)
            same(rf, rs, "\(args)")
            if !args.contains(where: { $0 == "--help" || $0 == "-h" }) { #expect(rf.status != 0, "\(args): \(rf)") }
        }
        #expect(LifeProbe.entries(b.stateRoot).isEmpty)
        #expect(LifeProbe.waitUntil(2) { LifeProbe.processes(mentioning: b.dir).isEmpty })
        #expect(hostMounts() == before)
    }

    /// `--help`, `help create` and `run --help` list every grant with its values (issue 11).
    @Test func helpListsTheGrants() throws {
        for argv in [["--help"], ["help", "create"], ["run", "--help"]] {
            let r = Shell.run([Env.bin] + argv)
            #expect(r.status == 0, "\(argv): \(r)")
            for row in VoidGrants.table {
                #expect(r.stdout.contains(row.key) && (row.value.isEmpty || r.stdout.contains(row.value)), "\(argv) does not list \(row.key)=\(row.value): \(r.stdout)")
            }
            #expect(r.stdout.contains("';'"), "\(argv): the ';' separator is explained")
        }
    }

    /// `list -q` and `list --format json`, as runc has them (issue 11).
    @Test func listQuietAndJSON() throws {
        let b = TestBundle(args: ["/bin/sleep", "60"])
        defer { b.close() }
        #expect(b.voidociReaped(["list", "--format", "json"]).stdout == "null\n", "no voids: null, as runc prints")
        let id = TestBundle.newID("ls")
        try #require(b.voidociReaped(["create", "--bundle", b.dir, id]).status == 0)
        let q = b.voidociReaped(["list", "-q"])
        #expect(q.status == 0 && q.stdout == "\(id)\n", "\(q)")
        let j = b.voidociReaped(["list", "--format", "json"])
        let items = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [[String: Any]], "\(j)")
        #expect(items.count == 1 && items.first?["id"] as? String == id && items.first?["status"] as? String == "created", "\(j)")
        #expect((items.first?["pid"] as? Int ?? 0) > 0 && items.first?["bundle"] as? String == b.dir, "\(j)")
        let bad = b.voidociReaped(["list", "--format", "yaml"])
        #expect(bad.status != 0 && bad.stderr.contains("--format"), "\(bad)")
    }

    /// Without root and without XDG_RUNTIME_DIR the default state directory is /run/voidoci,
    /// which an ordinary user cannot make: the error says what to set (issue 11).
    @Test func unprivilegedWithoutXDGRuntimeDirSaysWhatToSet() throws {
        try #require(Env.hasTestUser)
        let b = TestBundle(args: ["/bin/true"], as: .user)
        defer { b.close() }
        let r = Shell.runReaped(["/usr/bin/setpriv", "--reuid=\(Env.testUser)", "--regid=\(Env.testUser)", "--init-groups", "--",
                                 Env.bin, "create", "--bundle", b.dir, TestBundle.newID("xdg")], env: ["PATH": "/usr/bin:/bin"])
        #expect(r.status == 1 && r.stderr.contains("set XDG_RUNTIME_DIR") && r.stderr.contains("--root"), "\(r)")
    }

    @Test func unknownGlobalOptionIsNamed() throws {
        let b = sleeper(.root)
        defer { b.close() }
        let r = b.voidociReaped(["--frobnicate", "create", "--bundle", b.dir, "u-\(LifeProbe.uid())"])
        #expect(r.status != 0, "\(r)")
        #expect(r.stderr.contains("--frobnicate"), "\(r)")
        #expect(LifeProbe.entries(b.stateRoot).isEmpty)
        let v = b.voidociReaped(["--frobnicate=1", "state", "x"])
        #expect(v.status != 0 && v.stderr.contains("--frobnicate"), "\(v)")
    }

    @Test(arguments: As.allCases, [true, false])
    func jsonLogOnFailure(who: As, eqForm: Bool) throws {
        try Env.requireUser(who)
        let b = TestBundle(rootfs: Env.busyboxRootfs, args: ["/bin/nope"], as: who)
        defer { b.close() }
        let log = "\(LifeProbe.scratch(b))/log.json"
        let fmt = eqForm ? ["--log-format=json"] : ["--log-format", "json"]
        let r = b.voidociReaped(fmt + ["--log", log, "create", "--bundle", b.dir, "j-\(LifeProbe.uid())"])
        #expect(r.status != 0, "\(r)")
        #expect(!r.stderr.isEmpty, "stderr must hold the plain message (conmon reads it)")
        let text = try #require(LifeProbe.read(log), "no --log file")
        // The whole file is one JSON object: podman unmarshals the whole file.
        let obj = try #require(LifeProbe.jsonObject(text), "log file is not exactly one JSON object: \(text.debugDescription)")
        #expect(obj["level"] as? String == "error", "\(obj)")
        let msg = try #require(obj["msg"] as? String)
        #expect(!msg.isEmpty)
        #expect((obj["time"] as? String)?.isEmpty == false, "\(obj)")
        #expect(msg.lowercased().contains("no such file or directory"), "\(msg)")
        #expect(r.stderr.contains(msg), "stderr \(r.stderr.debugDescription) lacks the message \(msg.debugDescription)")
        #expect(!r.stderr.contains("{\"level\""), "stderr must be plain text: \(r.stderr)")
        #expect(LifeProbe.entries(b.stateRoot).isEmpty)
    }

    @Test func versionFeaturesCheckpoint() throws {
        let v = Shell.run([Env.bin, "--version"], env: [:])
        #expect(v.status == 0, "\(v)")
        #expect(v.stdout.split(separator: "\n").first?.hasPrefix("voidoci version") == true, "\(v)")

        let f = Shell.run([Env.bin, "features"], env: [:])
        #expect(f.status == 0, "\(f)")
        let j = try #require(LifeProbe.jsonObject(f.stdout), "features is not a JSON object: \(f.stdout)")
        #expect((j["ociVersionMin"] as? String)?.isEmpty == false, "\(j)")
        #expect((j["ociVersionMax"] as? String)?.isEmpty == false, "\(j)")

        // podman probes checkpoint support with `checkpoint --help`: exit 0 would claim it.
        let c = Shell.run([Env.bin, "checkpoint", "--help"], env: [:])
        #expect(c.status != 0, "checkpoint --help must fail until checkpoint exists: \(c)")
    }

    @Test(arguments: As.allCases)
    func defaultStateDirFromXDG(who: As) throws {
        try Env.requireUser(who)
        let b = sleeper(who)
        defer { b.close() }
        let xdg = "/tmp/voidoci-test-\(getpid())-xdg-\(LifeProbe.uid())"
        mkdir(xdg, 0o700)
        if who == .user, let u = Env.testUID, let g = Env.testGID { chown(xdg, u, g) }
        defer { Shell.run(["rm", "-rf", xdg]) }
        let id = "xdg-\(LifeProbe.uid())"
        // kill, delete and state get only XDG_RUNTIME_DIR from podman: nothing else here.
        let env = ["XDG_RUNTIME_DIR": xdg]
        let c = LifeProbe.raw(who, ["create", "--bundle", b.dir, id], env: env)
        defer { LifeProbe.raw(who, ["delete", "--force", id], env: env) }
        #expect(c.status == 0, "\(c)")
        #expect(LifeProbe.exists("\(xdg)/voidoci/\(id)"), "no state at \(xdg)/voidoci/\(id): \(LifeProbe.entries(xdg))")
        let s = LifeProbe.raw(who, ["state", id], env: env)
        #expect(LifeProbe.jsonObject(s.stdout)?["status"] as? String == "created", "\(s)")
        #expect(LifeProbe.raw(who, ["kill", id, "KILL"], env: env).status == 0)
        #expect(LifeProbe.waitUntil(5) { LifeProbe.jsonObject(LifeProbe.raw(who, ["state", id], env: env).stdout)?["status"] as? String == "stopped" })
        #expect(LifeProbe.raw(who, ["delete", id], env: env).status == 0)
        #expect(!LifeProbe.exists("\(xdg)/voidoci/\(id)"))
    }

    @Test func defaultStateDirIsRunWhenXDGIsEmpty() throws {
        let b = sleeper(.root)
        defer { b.close() }
        let hadRun = LifeProbe.exists("/run/voidoci")
        let id = "runvoid-\(LifeProbe.uid())"
        // As rootful podman calls it: XDG_RUNTIME_DIR empty, no HOME, no PATH.
        let env = ["XDG_RUNTIME_DIR": ""]
        let c = LifeProbe.raw(.root, ["create", "--bundle", b.dir, id], env: env)
        defer {
            LifeProbe.raw(.root, ["delete", "--force", id], env: env)
            if !hadRun { rmdir("/run/voidoci") }
        }
        #expect(c.status == 0, "\(c)")
        #expect(LifeProbe.exists("/run/voidoci/\(id)"), "no state at /run/voidoci/\(id)")
        let s = LifeProbe.raw(.root, ["state", id], env: env)
        #expect(LifeProbe.jsonObject(s.stdout)?["status"] as? String == "created", "\(s)")
        #expect(LifeProbe.raw(.root, ["delete", "--force", id], env: env).status == 0)
        #expect(!LifeProbe.exists("/run/voidoci/\(id)"))
    }

    /// A bundle with a proc mount that is not granted, for explain.
    func explainBundle(_ who: As) -> TestBundle {
        TestBundle(rootfs: Env.busyboxRootfs, args: ["/bin/busybox", "true"], as: who) {
            $0["mounts"] = [["destination": "/proc", "type": "proc", "source": "proc"]]
        }
    }

    static let namespaces = ["user", "mount", "pid", "network", "ipc", "uts", "cgroup", "time"]

    @Test(arguments: As.allCases)
    func explainText(who: As) throws {
        try Env.requireUser(who)
        let before = hostMounts()
        let b = explainBundle(who)
        defer { b.close() }
        let r = b.voidociReaped(["explain", b.dir])
        try #require(r.status == 0, "\(r)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        for ns in Self.namespaces {
            let hit = lines.contains { l in
                let w = l.split(separator: " ")
                return w.count >= 2 && w[0] == ns && w[1] == "new"
            }
            #expect(hit, "namespace \(ns) not listed as new:\n\(r.stdout)")
        }
        let host = LifeProbe.hostRootID(who)
        #expect(lines.contains { $0.contains("uid 0 → host \(host)") }, "uid map 0 → \(host) missing:\n\(r.stdout)")
        #expect(lines.contains { $0.contains("bind") && $0.contains("/bin/busybox") }, "the program's bind missing:\n\(r.stdout)")
        #expect(lines.contains { $0.contains("mounts[0]") && $0.contains("proc") }, "the dropped proc mount missing:\n\(r.stdout)")
        // Explain creates nothing.
        #expect(LifeProbe.entries(b.stateRoot).isEmpty)
        #expect(LifeProbe.processes(mentioning: b.dir).isEmpty)
        #expect(hostMounts() == before)
    }

    /// `explain ID` of a created void: its config as create read it, later edits of the bundle
    /// ignored (issue 11). An unknown name is an error that names it.
    @Test(arguments: As.allCases)
    func explainOfACreatedID(who: As) throws {
        try Env.requireUser(who)
        let b = explainBundle(who)
        defer { b.close() }
        let id = TestBundle.newID("ex")
        try #require(b.voidociReaped(["create", "--bundle", b.dir, id]).status == 0)
        b.edit { $0["hostname"] = "edited-after-create" }
        let r = b.voidociReaped(["explain", id])
        #expect(r.status == 0 && r.stdout.contains("mounts[0]") && r.stdout.contains("/bin/busybox"), "\(r)")
        #expect(!r.stdout.contains("edited-after-create"), "explain ID reads the config create read: \(r.stdout)")
        let j = b.voidociReaped(["explain", "--format", "json", id])
        #expect((try? JSONSerialization.jsonObject(with: Data(j.stdout.utf8))) != nil, "\(j)")
        let none = b.voidociReaped(["explain", "no-such-void"])
        #expect(none.status == 1 && none.stderr.contains("no-such-void"), "\(none)")
    }

    @Test(arguments: As.allCases)
    func explainJSON(who: As) throws {
        try Env.requireUser(who)
        let before = hostMounts()
        let b = explainBundle(who)
        defer { b.close() }
        let r = b.voidociReaped(["explain", "--format", "json", b.dir])
        try #require(r.status == 0, "\(r)")
        let j = try #require(LifeProbe.jsonObject(r.stdout), "not a JSON object: \(r.stdout)")
        for k in ["namespaces", "mounts", "uidMappings", "dropped"] { #expect(j[k] != nil, "key \(k) missing") }
        let ns = (j["namespaces"] as? [[String: Any]]) ?? []
        for n in Self.namespaces {
            #expect(ns.contains { $0["type"] as? String == n && $0["mode"] as? String == "new" }, "\(n) not new: \(ns)")
        }
        let maps = (j["uidMappings"] as? [[String: Any]]) ?? []
        #expect(maps.count == 1 && LifeProbe.int(maps.first?["containerID"]) == 0
                && LifeProbe.int(maps.first?["hostID"]) == Int(LifeProbe.hostRootID(who)) && LifeProbe.int(maps.first?["size"]) == 1,
                "\(maps)")
        let mounts = (j["mounts"] as? [[String: Any]]) ?? []
        #expect(mounts.contains { $0["destination"] as? String == "/bin/busybox" }, "\(mounts)")
        #expect(!mounts.contains { $0["destination"] as? String == "/proc" }, "ungranted proc is mounted: \(mounts)")
        let dropped = (j["dropped"] as? [[String: Any]]) ?? []
        let proc = dropped.first { ($0["path"] as? String) == "mounts[0]" }
        #expect(proc != nil, "proc mount not listed as dropped: \(dropped)")
        #expect((proc?["reason"] as? String)?.isEmpty == false, "no reason: \(String(describing: proc))")
        #expect(LifeProbe.entries(b.stateRoot).isEmpty)
        #expect(hostMounts() == before)
    }
}
