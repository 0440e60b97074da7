import Foundation
import Testing

// MARK: - Helpers shared by LifecycleTests, BadInputTests and CLITests

/// Observations of the real system: /proc, the state directory, the mount table. Nothing here
/// is faked; every helper reads what the kernel or the file system says.
enum LifeProbe {
    static func uid() -> String { String(UUID().uuidString.prefix(8)).lowercased() }

    static func read(_ path: String) -> String? { Host.read(path) }

    static func exists(_ path: String) -> Bool { Host.exists(path) }

    static func entries(_ dir: String) -> [String] { Host.entries(dir) }

    /// The state letter of /proc/PID/stat (R, S, Z...), nil once the pid is gone.
    static func procState(_ pid: Int32) -> String? { Host.procState(pid) }

    static func alive(_ pid: Int32) -> Bool { Host.alive(pid) }

    static func statusField(_ pid: Int32, _ name: String) -> String? { Host.statusField(pid, name) }

    static func waitUntil(_ seconds: Double, _ cond: () -> Bool) -> Bool { Host.waitUntil(seconds, cond) }

    /// The process is dead: its pid has disappeared, or it is a zombie waiting for whoever
    /// inherited it (here pid 1, which reaps on its own schedule) — it runs and holds nothing.
    static func gone(_ pid: Int32, within seconds: Double = 5) -> Bool {
        waitUntil(seconds) { let s = procState(pid); return s == nil || s == "Z" || s == "X" }
    }

    /// Live processes (not this test process) whose command line contains `needle`.
    static func processes(mentioning needle: String) -> [Int32] {
        let me = getpid()
        return entries("/proc").compactMap { Int32($0) }.filter { p in
            guard p != me, alive(p), let raw = read("/proc/\(p)/cmdline") else { return false }
            return raw.replacingOccurrences(of: "\0", with: " ").contains(needle)
        }
    }

    /// This process and its ancestors up to init: where an orphan may be reparented.
    static func ancestorsOfSelf() -> Set<Int32> {
        var out: Set<Int32> = [1]
        var p = getpid()
        while p > 1, out.insert(p).inserted {
            guard let pp = statusField(p, "PPid").flatMap({ Int32($0) }) else { break }
            p = pp
        }
        return out
    }

    static func jsonObject(_ text: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }

    static func int(_ v: Any?) -> Int? { (v as? NSNumber)?.intValue }

    /// `voidoci state ID` parsed; nil if it failed or is not a JSON object.
    static func state(_ b: TestBundle, _ id: String) -> [String: Any]? {
        let r = b.voidociReaped(["state", id])
        guard r.status == 0 else { return nil }
        return jsonObject(r.stdout)
    }

    /// The pid `state` reports, if any.
    static func pid(_ b: TestBundle, _ id: String) -> Int32? {
        guard let n = int(state(b, id)?["pid"]) else { return nil }
        return Int32(n)
    }

    static func status(_ b: TestBundle, _ id: String) -> String? { state(b, id)?["status"] as? String }

    static func waitStatus(_ b: TestBundle, _ id: String, _ want: String, within seconds: Double = 5) -> Bool {
        waitUntil(seconds) { status(b, id) == want }
    }

    /// A directory in the bundle that the void (any mapped id) and the test user can write.
    static func scratch(_ b: TestBundle) -> String {
        let d = "\(b.dir)/scratch"
        mkdir(d, 0o777)
        chmod(d, 0o1777)
        return d
    }

    /// `bash -c SCRIPT` as the bundle's user, with $V (the binary), $S (state root), $B (bundle)
    /// and the given variables. Background `create`s must redirect to files, not pipes: the init
    /// inherits create's stdio and would hold a pipe open.
    static func sh(_ b: TestBundle, _ script: String, _ vars: [String: String] = [:], timeout: Double = 30) -> Result {
        var env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "V": Env.bin, "S": b.stateRoot, "B": b.dir]
        for (k, v) in vars { env[k] = v }
        var argv = ["/bin/bash", "-c", script]
        if b.who == .user {
            argv = ["/usr/bin/setpriv", "--reuid=\(Env.testUser)", "--regid=\(Env.testUser)", "--init-groups", "--"] + argv
        }
        return Shell.runReaped(argv, env: env, timeout: timeout)
    }

    /// voidoci with an exact environment and no `--root` (default state dir tests).
    static func raw(_ who: As, _ args: [String], env: [String: String]) -> Result {
        var argv = [Env.bin] + args
        if who == .user {
            argv = ["/usr/bin/setpriv", "--reuid=\(Env.testUser)", "--regid=\(Env.testUser)", "--init-groups", "--"] + argv
        }
        return Shell.runReaped(argv, env: env)
    }

    static func setArgs(_ b: TestBundle, _ args: [String]) {
        b.edit { c in
            var p = c["process"] as? [String: Any] ?? [:]
            p["args"] = args
            c["process"] = p
        }
    }

    /// A copy of a rootfs inside the bundle (`cp -a`), made root.path; returns its path.
    static func copyRootfs(_ b: TestBundle, from src: String = Env.hostRootfs) -> String {
        let dst = "\(b.dir)/rootfs"
        let r = Shell.run(["cp", "-a", src, dst])
        precondition(r.status == 0, "cp -a \(src) \(dst): \(r)")
        b.edit { $0["root"] = ["path": dst] }
        return dst
    }

    /// The host id void root maps to by default for `who`.
    static func hostRootID(_ who: As) -> UInt32 { who == .root ? 65534 : (Env.testUID ?? 0) }
}

// MARK: - Lifecycle

@Suite(.serialized, .hostClean) struct LifecycleTests {
    static let sleeper = ["/bin/busybox", "sleep", "1000"]
    static let annotations = ["com.example.key": "value", "org.opencontainers.image.stopSignal": "15"]

    func sleeperBundle(_ who: As) -> TestBundle {
        TestBundle(rootfs: Env.busyboxRootfs, args: Self.sleeper, as: who) { $0["annotations"] = Self.annotations }
    }

    /// After a lifecycle: host mount table as before, the void's init gone, no state entry.
    func expectNoTrace(_ b: TestBundle, mountsBefore: [String], pids: [Int32], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(hostMounts() == mountsBefore, "host mount table changed", sourceLocation: sourceLocation)
        for p in pids { #expect(LifeProbe.gone(p), "the void's process \(p) survives", sourceLocation: sourceLocation) }
        #expect(LifeProbe.entries(b.stateRoot).isEmpty, "state dir not empty: \(LifeProbe.entries(b.stateRoot))", sourceLocation: sourceLocation)
        #expect(LifeProbe.processes(mentioning: b.dir).isEmpty, "processes still mention \(b.dir)", sourceLocation: sourceLocation)
    }

    @Test(arguments: As.allCases)
    func createStartKillDelete(who: As) throws {
        try Env.requireUser(who)
        let before = hostMounts()
        let b = sleeperBundle(who)
        defer { b.close() }
        let pidFile = "\(LifeProbe.scratch(b))/init.pid"
        let id = "life-\(LifeProbe.uid())"

        let c = b.voidociReaped(["create", "--bundle", b.dir, "--pid-file", pidFile, id])
        try #require(c.status == 0, "\(c)")
        // The pid file exists when create returns: decimal, no newline.
        let text = try #require(LifeProbe.read(pidFile), "no pid file when create returned")
        #expect(text.range(of: "^[0-9]+$", options: .regularExpression) != nil, "pid file content \(text.debugDescription)")
        let pid = try #require(Int32(text))
        #expect(pid > 1)
        #expect(LifeProbe.alive(pid), "init \(pid) not alive after create")
        // A pid of the caller's namespace, whose process is pid 1 of its own.
        #expect(LifeProbe.statusField(pid, "NSpid")?.split(whereSeparator: { $0 == "\t" || $0 == " " }).last == "1",
                "NSpid: \(LifeProbe.statusField(pid, "NSpid") ?? "-")")

        let s1 = try #require(LifeProbe.state(b, id))
        #expect(s1["status"] as? String == "created", "\(s1)")
        #expect(LifeProbe.int(s1["pid"]) == Int(pid), "state pid \(s1["pid"] ?? "-") vs pid file \(pid)")

        let st = b.voidociReaped(["start", id])
        #expect(st.status == 0, "\(st)")
        let s2 = try #require(LifeProbe.state(b, id))
        #expect(s2["status"] as? String == "running", "\(s2)")
        #expect(LifeProbe.int(s2["pid"]) == Int(pid))

        let k = b.voidociReaped(["kill", id, "KILL"])
        #expect(k.status == 0, "\(k)")
        #expect(LifeProbe.waitStatus(b, id, "stopped"), "not stopped after KILL: \(b.voidociReaped(["state", id]))")

        let d = b.voidociReaped(["delete", id])
        #expect(d.status == 0, "\(d)")
        let gone = b.voidociReaped(["state", id])
        #expect(gone.status == 1, "\(gone)")
        #expect(gone.stderr.contains("does not exist"), "\(gone)")
        #expect(!LifeProbe.exists("\(b.stateRoot)/\(id)"))
        expectNoTrace(b, mountsBefore: before, pids: [pid])
    }

    @Test(arguments: As.allCases)
    func stateJSON(who: As) throws {
        try Env.requireUser(who)
        let b = sleeperBundle(who)
        defer { b.close() }
        let id = "json-\(LifeProbe.uid())"
        defer { b.voidociReaped(["delete", "--force", id]) }
        // A relative --bundle: the state must still hold the absolute path.
        let t = LifeProbe.scratch(b)
        let c = LifeProbe.sh(b, #"cd "$(dirname "$B")" && "$V" --root "$S" create --bundle "./$(basename "$B")" "$ID" >"$T/o" 2>"$T/e"; echo $?"#,
                             ["ID": id, "T": t])
        try #require(c.stdout == "0\n", "\(c)\ncreate stderr: \(LifeProbe.read("\(t)/e") ?? "")")

        let r = b.voidociReaped(["state", id])
        try #require(r.status == 0, "\(r)")
        let s = try #require(LifeProbe.jsonObject(r.stdout), "state is not a JSON object: \(r.stdout)")
        #expect(s["ociVersion"] as? String == "1.0.2", "\(s)")
        #expect(s["id"] as? String == id)
        #expect(s["status"] as? String == "created")
        let pid = LifeProbe.int(s["pid"]) ?? 0
        #expect(pid > 1, "\(s)")
        #expect(s["bundle"] as? String == b.dir, "bundle \(s["bundle"] ?? "-") vs \(b.dir)")
        #expect((s["annotations"] as? [String: String]) == Self.annotations, "\(s["annotations"] ?? "-")")
        #expect(!r.stdout.contains("creating"))
    }

    @Test(arguments: As.allCases)
    func wrongTransitionsFail(who: As) throws {
        try Env.requireUser(who)
        let before = hostMounts()
        let b = sleeperBundle(who)
        defer { b.close() }

        // Running: start again fails; delete without --force fails and leaves it running.
        let id = "run-\(LifeProbe.uid())"
        try #require(b.voidociReaped(["create", "--bundle", b.dir, id]).status == 0)
        try #require(b.voidociReaped(["start", id]).status == 0)
        let pid = try #require(LifeProbe.pid(b, id))
        let again = b.voidociReaped(["start", id])
        #expect(again.status != 0, "start on a running void: \(again)")
        #expect(!again.stderr.isEmpty)
        let del = b.voidociReaped(["delete", id])
        #expect(del.status != 0, "delete (no force) of a running void: \(del)")
        #expect(LifeProbe.status(b, id) == "running")
        #expect(LifeProbe.alive(pid))
        // delete --force kills it and removes the state.
        let force = b.voidociReaped(["delete", "--force", id])
        #expect(force.status == 0, "\(force)")
        #expect(LifeProbe.gone(pid), "init \(pid) survives delete --force")
        #expect(b.voidociReaped(["state", id]).stderr.contains("does not exist"))
        #expect(!LifeProbe.exists("\(b.stateRoot)/\(id)"))

        // Created: delete (no force) ends the waiting init and removes the void, as runc and
        // crun do; the program never runs.
        let id3 = "created-\(LifeProbe.uid())"
        try #require(b.voidociReaped(["create", "--bundle", b.dir, id3]).status == 0)
        let pid3 = try #require(LifeProbe.pid(b, id3))
        let dc = b.voidociReaped(["delete", id3])
        #expect(dc.status == 0, "delete (no force) of a created void: \(dc)")
        #expect(LifeProbe.gone(pid3), "init \(pid3) survives delete of a created void")
        #expect(!LifeProbe.exists("\(b.stateRoot)/\(id3)"))

        // Stopped (killed while created): start and kill fail, delete works.
        let id2 = "stop-\(LifeProbe.uid())"
        try #require(b.voidociReaped(["create", "--bundle", b.dir, id2]).status == 0)
        let pid2 = try #require(LifeProbe.pid(b, id2))
        #expect(b.voidociReaped(["kill", id2, "KILL"]).status == 0)
        #expect(LifeProbe.waitStatus(b, id2, "stopped"))
        let st = b.voidociReaped(["start", id2])
        #expect(st.status != 0, "start on a stopped void: \(st)")
        let k = b.voidociReaped(["kill", id2, "TERM"])
        #expect(k.status != 0, "kill on a stopped void: \(k)")
        #expect(b.voidociReaped(["delete", id2]).status == 0)

        // delete --force of an id that never existed: exit 0 (podman's cleanup).
        let unknown = b.voidociReaped(["delete", "--force", "never-\(LifeProbe.uid())"])
        #expect(unknown.status == 0, "\(unknown)")
        expectNoTrace(b, mountsBefore: before, pids: [pid, pid2])
    }

    /// A program that traps TERM, says when the trap is set, and records that it ran.
    func trapBundle(_ who: As) -> (TestBundle, String) {
        let b = TestBundle(rootfs: Env.busyboxRootfs,
                           args: ["/bin/sh", "-c", #"trap "echo got >/out/got; exit 3" TERM; echo ready >/out/ready; while :; do busybox sleep 0.05; done"#],
                           as: who)
        let out = LifeProbe.scratch(b)
        b.edit { $0["mounts"] = [["destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"]]] }
        return (b, out)
    }

    @Test(arguments: As.allCases)
    func killSignalForms(who: As) throws {
        try Env.requireUser(who)
        let before = hostMounts()
        let (b, out) = trapBundle(who)
        defer { b.close() }
        var pids: [Int32] = []
        for form in ["15", "TERM", "SIGTERM", "term"] {
            unlink("\(out)/ready")
            unlink("\(out)/got")
            let id = "sig-\(LifeProbe.uid())"
            let c = b.voidociReaped(["create", "--bundle", b.dir, id])
            try #require(c.status == 0, "\(c)")
            pids += (LifeProbe.pid(b, id).map { [$0] } ?? [])
            #expect(b.voidociReaped(["start", id]).status == 0)
            try #require(LifeProbe.waitUntil(5) { LifeProbe.exists("\(out)/ready") }, "the program never set its trap")
            let k = b.voidociReaped(["kill", id, form])
            #expect(k.status == 0, "kill \(form): \(k)")
            #expect(LifeProbe.waitUntil(5) { LifeProbe.read("\(out)/got") == "got\n" }, "kill \(form): the TERM trap did not run")
            #expect(LifeProbe.waitStatus(b, id, "stopped"), "kill \(form): not stopped")
            #expect(b.voidociReaped(["delete", id]).status == 0)
        }

        // KILL, and pid 1 ignoring a TERM it does not handle.
        let plain = sleeperBundle(who)
        defer { plain.close() }
        let id = "plain-\(LifeProbe.uid())"
        try #require(plain.voidociReaped(["create", "--bundle", plain.dir, id]).status == 0)
        #expect(plain.voidociReaped(["start", id]).status == 0)
        pids += (LifeProbe.pid(plain, id).map { [$0] } ?? [])
        #expect(plain.voidociReaped(["kill", id, "TERM"]).status == 0)
        usleep(300_000)
        #expect(LifeProbe.status(plain, id) == "running", "pid 1 without a TERM handler must ignore TERM")
        #expect(plain.voidociReaped(["kill", id, "KILL"]).status == 0)
        #expect(LifeProbe.waitStatus(plain, id, "stopped"))
        #expect(plain.voidociReaped(["delete", id]).status == 0)

        // --all and -a are accepted and reach the init.
        for flag in ["--all", "-a"] {
            let id = "all-\(LifeProbe.uid())"
            try #require(plain.voidociReaped(["create", "--bundle", plain.dir, id]).status == 0)
            #expect(plain.voidociReaped(["start", id]).status == 0)
            pids += (LifeProbe.pid(plain, id).map { [$0] } ?? [])
            let k = plain.voidociReaped(["kill", flag, id, "KILL"])
            #expect(k.status == 0, "kill \(flag): \(k)")
            #expect(LifeProbe.waitStatus(plain, id, "stopped"), "kill \(flag) KILL: not stopped")
            #expect(plain.voidociReaped(["delete", id]).status == 0)
        }
        expectNoTrace(b, mountsBefore: before, pids: pids)
        #expect(LifeProbe.entries(plain.stateRoot).isEmpty)
        #expect(LifeProbe.processes(mentioning: plain.dir).isEmpty)
    }

    /// The caller's blocked signals and ignored dispositions (a thread pool's mask, a shell's
    /// `trap ''`) must not reach the program: pid 1 with TERM blocked cannot be stopped politely.
    @Test(arguments: As.allCases)
    func programStartsWithDefaultSignalState(who: As) throws {
        try Env.requireUser(who)
        let b = sleeperBundle(who)
        defer { b.close() }
        let id = "sigstate-\(LifeProbe.uid())"
        defer { b.voidociReaped(["delete", "--force", id]) }
        let wrap = ["/bin/bash", "-c", #"trap '' PIPE USR2; exec "$@""#, "bash"]
        let user = who == .user ? ["/usr/bin/setpriv", "--reuid=\(Env.testUser)", "--regid=\(Env.testUser)", "--init-groups", "--"] : []
        let env = ["PATH": "/usr/bin:/bin"]
        func bits(_ text: String, _ field: String) -> UInt64 {
            let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
            return UInt64(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces), radix: 16) ?? 0
        }
        func bit(_ sig: Int32) -> UInt64 { 1 << UInt64(sig - 1) }
        let blockedBits = bit(SIGTERM) | bit(SIGINT), ignoredBits = bit(SIGPIPE) | bit(SIGUSR2)
        // Control: the same caller state does reach an ordinary program.
        let control = Shell.runReaped(user + wrap + ["/bin/grep", "^Sig[BI]", "/proc/self/status"], env: env, blocked: [SIGTERM, SIGINT])
        try #require(bits(control.stdout, "SigBlk") & blockedBits == blockedBits, "control: \(control)")
        try #require(bits(control.stdout, "SigIgn") & ignoredBits == ignoredBits, "control: \(control)")

        let c = Shell.runReaped(user + wrap + [Env.bin, "--root", b.stateRoot, "create", "--bundle", b.dir, id], env: env, blocked: [SIGTERM, SIGINT])
        try #require(c.status == 0, "\(c)")
        #expect(b.voidociReaped(["start", id]).status == 0)
        let pid = try #require(LifeProbe.pid(b, id))
        let status = LifeProbe.read("/proc/\(pid)/status") ?? ""
        #expect(bits(status, "SigBlk") & blockedBits == 0, "TERM/INT blocked in the program: SigBlk \(String(bits(status, "SigBlk"), radix: 16))")
        #expect(bits(status, "SigIgn") & ignoredBits == 0, "PIPE/USR2 ignored in the program: SigIgn \(String(bits(status, "SigIgn"), radix: 16))")
    }

    @Test(arguments: As.allCases)
    func initIsReparented(who: As) throws {
        try Env.requireUser(who)
        let before = hostMounts()
        let b = sleeperBundle(who)
        defer { b.close() }
        let id = "orphan-\(LifeProbe.uid())"
        try #require(b.voidociReaped(["create", "--bundle", b.dir, id]).status == 0)
        let pid = try #require(LifeProbe.pid(b, id))
        #expect(LifeProbe.alive(pid), "the init died with create")
        let ppid = try #require(LifeProbe.statusField(pid, "PPid").flatMap { Int32($0) })
        // The create process is gone; the init belongs to the nearest subreaper above the test
        // (or init), never to a lingering voidoci.
        #expect(LifeProbe.ancestorsOfSelf().contains(ppid), "init \(pid) has parent \(ppid), not this test's subreaper or init")
        let parentCmd = LifeProbe.read("/proc/\(ppid)/cmdline")?.replacingOccurrences(of: "\0", with: " ") ?? ""
        #expect(!parentCmd.contains(Env.bin), "the init's parent is a voidoci process: \(parentCmd)")
        #expect(b.voidociReaped(["start", id]).status == 0)
        #expect(LifeProbe.alive(pid))
        #expect(b.voidociReaped(["delete", "--force", id]).status == 0)
        expectNoTrace(b, mountsBefore: before, pids: [pid])
    }

    @Test(arguments: As.allCases)
    func concurrentCreateOfOneID(who: As) throws {
        try Env.requireUser(who)
        let before = hostMounts()
        let b = sleeperBundle(who)
        defer { b.close() }
        let id = "twin-\(LifeProbe.uid())"
        defer { b.voidociReaped(["delete", "--force", id]) }
        let t = LifeProbe.scratch(b)
        let r = LifeProbe.sh(b, #"""
            for n in 1 2; do
              ( "$V" --root "$S" create --bundle "$B" "$ID" >"$T/o$n" 2>"$T/e$n"; echo $? >"$T/rc$n" ) &
            done
            wait
            """#, ["ID": id, "T": t])
        #expect(r.status == 0, "\(r)")
        let rcs = [1, 2].map { LifeProbe.read("\(t)/rc\($0)")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?" }
        let errs = [1, 2].map { LifeProbe.read("\(t)/e\($0)") ?? "" }
        #expect(rcs.filter { $0 == "0" }.count == 1, "exactly one create must succeed: rcs \(rcs), stderr \(errs)")
        if let loser = rcs.firstIndex(where: { $0 != "0" }) {
            #expect(errs[loser].contains("already exists"), "loser's stderr: \(errs[loser])")
        }
        let s = LifeProbe.state(b, id)
        #expect(s?["status"] as? String == "created", "\(String(describing: s))")
        // Exactly one init waits for start.
        let inits = LifeProbe.processes(mentioning: b.dir)
        #expect(inits.count == 1, "processes of this bundle: \(inits)")
        let pid = LifeProbe.int(s?["pid"]).map(Int32.init) ?? 0
        #expect(inits == [pid])
        #expect(b.voidociReaped(["delete", "--force", id]).status == 0)
        expectNoTrace(b, mountsBefore: before, pids: inits)
    }

    @Test(arguments: As.allCases)
    func stateDuringCreateWaitsAndSeesCreated(who: As) throws {
        try Env.requireUser(who)
        let before = hostMounts()
        let b = sleeperBundle(who)
        defer { b.close() }
        let id = "race-\(LifeProbe.uid())"
        defer { b.voidociReaped(["delete", "--force", id]) }
        let t = LifeProbe.scratch(b)
        // State calls start as soon as the id's directory appears, while create is still at work.
        let r = LifeProbe.sh(b, #"""
            "$V" --root "$S" create --bundle "$B" "$ID" >"$T/co" 2>"$T/ce" & cp=$!
            while [ ! -e "$S/$ID" ] && kill -0 $cp 2>/dev/null; do :; done
            for n in 1 2 3 4 5 6; do
              ( "$V" --root "$S" state "$ID" >"$T/s$n" 2>"$T/se$n"; echo $? >"$T/src$n" ) &
            done
            wait $cp; echo $? >"$T/crc"
            wait
            """#, ["ID": id, "T": t])
        #expect(r.status == 0, "\(r)")
        #expect(LifeProbe.read("\(t)/crc") == "0\n", "create: \(LifeProbe.read("\(t)/ce") ?? "")")
        for n in 1...6 {
            let out = LifeProbe.read("\(t)/s\(n)") ?? ""
            let rc = LifeProbe.read("\(t)/src\(n)") ?? "?"
            #expect(rc == "0\n", "state #\(n) failed during create: rc \(rc) \(LifeProbe.read("\(t)/se\(n)") ?? "")")
            #expect(!out.contains("creating"), "state #\(n) printed creating: \(out)")
            #expect(LifeProbe.jsonObject(out)?["status"] as? String == "created", "state #\(n): \(out)")
        }
        let pid = LifeProbe.pid(b, id) ?? 0
        #expect(b.voidociReaped(["delete", "--force", id]).status == 0)
        expectNoTrace(b, mountsBefore: before, pids: [pid])
    }

    @Test(arguments: As.allCases)
    func runReturnsTheExitStatus(who: As) throws {
        try Env.requireUser(who)
        let before = hostMounts()
        let b = TestBundle(rootfs: Env.busyboxRootfs, args: ["/bin/sh", "-c", "exit 7"], as: who)
        defer { b.close() }
        let r = b.run()
        #expect(r.status == 7, "\(r)")
        #expect(LifeProbe.entries(b.stateRoot).isEmpty, "run left state: \(LifeProbe.entries(b.stateRoot))")

        // Killed by a signal (from outside: pid 1 of the void ignores unhandled ones) → 128+N.
        LifeProbe.setArgs(b, Self.sleeper)
        let id = "runkill-\(LifeProbe.uid())"
        let t = LifeProbe.scratch(b)
        let k = LifeProbe.sh(b, #"""
            "$V" --root "$S" run --bundle "$B" "$ID" >"$T/ro" 2>"$T/re" & rp=$!
            for i in $(seq 500); do
              "$V" --root "$S" state "$ID" 2>/dev/null | grep -q '"running"' && break
              sleep 0.01
            done
            "$V" --root "$S" state "$ID" | grep -o '"pid": [0-9]*' >"$T/pid"
            "$V" --root "$S" kill "$ID" KILL
            wait $rp; echo "run=$?"
            """#, ["ID": id, "T": t])
        #expect(k.stdout.hasSuffix("run=137\n"), "\(k)\nrun stderr: \(LifeProbe.read("\(t)/re") ?? "")")
        let pid = Int32(LifeProbe.read("\(t)/pid")?.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        #expect(pid > 1, "never saw the run's void running")
        expectNoTrace(b, mountsBefore: before, pids: pid > 1 ? [pid] : [])
    }
}
