import Foundation
import Testing

/// What a void lacks, said where a user looks (issue 11): `--debug` / `--log-level debug` log
/// every decision of create and run to --log in runc's format; `explain` and a failing `run`
/// name what programs often need and the grant that gives it.
@Suite(.serialized, .hostClean) struct DecisionLogTests {
    @Test(arguments: As.allCases, [["--debug", "--log-format=json"], ["--log-level", "debug"]])
    func debugLogsEveryDecisionOfCreate(who: As, flags: [String]) throws {
        try Env.requireUser(who)
        let b = TestBundle(rootfs: Env.busyboxRootfs, args: ["/bin/busybox", "sleep", "1000"], as: who) { c in
            c["mounts"] = [["destination": "/proc", "type": "proc", "source": "proc"],
                           ["destination": "/scratch", "type": "tmpfs", "source": "tmpfs"]]
            c["annotations"] = ["org.voidoci.mounts": "proc"]
        }
        defer { b.close() }
        let log = "\(LifeProbe.scratch(b))/debug.log", pidFile = "\(LifeProbe.scratch(b))/pid"
        let id = "dbg-\(LifeProbe.uid())"
        let c = b.voidociReaped(flags + ["--log", log, "create", "--bundle", b.dir, "--pid-file", pidFile, id])
        try #require(c.status == 0, "\(c)")
        defer { _ = b.voidociReaped(["delete", "--force", id]) }
        let text = try String(contentsOfFile: log, encoding: .utf8)
        let json = flags.contains("--log-format=json")
        var messages: [String] = []
        for line in text.split(separator: "\n") {
            if json {
                let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
                #expect(o["level"] as? String == "debug" && o["time"] is String, "\(line)")
                messages.append(o["msg"] as? String ?? "")
            } else {
                #expect(line.hasPrefix("time=\"") && line.contains(" level=debug msg=\""), "\(line)")
                messages.append(String(line))
            }
        }
        func logged(_ s: String) -> Bool { messages.contains { $0.contains(s) } }
        #expect(logged("\(id): root: empty tmpfs (void default)"), "\(text)")
        #expect(logged("namespace user new (void default)"), "\(text)")
        #expect(logged("mount bind /bin/busybox"), "\(text)")
        #expect(logged("mount proc /proc"), "\(text)")
        #expect(logged("dropped mounts[1]: tmpfs at /scratch: kernel filesystem not granted"), "\(text)")
        #expect(logged("not in this void: /dev/null"), "\(text)")
        let pid = try String(contentsOfFile: pidFile, encoding: .utf8)
        #expect(logged("\(id): created: init pid \(pid)"), "\(text)")
    }

    @Test func noDebugLinesByDefault() throws {
        let b = TestBundle(rootfs: Env.busyboxRootfs, args: ["/bin/busybox", "true"])
        defer { b.close() }
        let log = "\(LifeProbe.scratch(b))/log"
        let r = b.voidoci(["--log", log, "run", "--bundle", b.dir, TestBundle.newID("nodbg")])
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r)")
        #expect(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").isEmpty)
        let bad = b.voidoci(["--log-level", "chatty", "state", "x"])
        #expect(bad.status != 0 && bad.stderr.contains("--log-level: chatty"), "\(bad)")
    }

    /// Python without its standard library: the failure names it and the grant; with the grant
    /// it runs, and nothing is named any more.
    @Test(arguments: As.allCases)
    func aFailingProgramIsToldWhatTheVoidLacks(who: As) throws {
        try Env.requireUser(who)
        try prerequisite(FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "python3 is not installed (scripts/install-deps.sh installs it)")
        let stdlib = try #require(try FileManager.default.contentsOfDirectory(atPath: "/usr/lib")
            .filter { $0.range(of: #"^python3\.[0-9]+$"#, options: .regularExpression) != nil }.sorted().last)
        let b = TestBundle(args: ["python3", "-c", "print('py-ran')"], as: who)
        defer { b.close() }
        let rootfs = "\(b.dir)/rootfs"
        try #require(Shell.run(["bash", Env.repo + "/scripts/make-rootfs.sh", rootfs, "--host", "/usr/bin/python3"]).status == 0)
        try #require(Shell.run(["cp", "-a", "/usr/lib/\(stdlib)", "\(rootfs)/usr/lib/"]).status == 0)
        b.edit { $0["root"] = ["path": rootfs] }
        if who == .user { _ = Shell.run(["chown", "-R", "\(Env.testUser):", b.dir]) }
        let grant = "/usr/lib/\(stdlib) (org.voidoci.expose=/usr/lib/\(stdlib))"

        let log = "\(b.dir)/log"
        let r = b.voidoci(["--log", log, "run", "--bundle", b.dir, TestBundle.newID("py")])
        #expect(r.status == 1 && r.stderr.contains("exited with status 1; not in this void, if it needs them: \(grant)"), "\(r)")
        #expect(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("level=warning"), "the hint goes to --log too")
        let quiet = b.voidoci(["run", "--bundle", b.dir, TestBundle.newID("py")], extraEnv: ["VOIDOCI_NO_HINTS": "1"])
        #expect(quiet.status == 1 && !quiet.stderr.contains("not in this void"), "\(quiet)")
        let explain = b.voidoci(["explain", b.dir])
        #expect(explain.stdout.contains("/usr/lib/\(stdlib)  \(stdlib)'s standard library: org.voidoci.expose=/usr/lib/\(stdlib)"), "\(explain)")
        let j = b.voidoci(["explain", "--format", "json", b.dir])
        let o = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
        let unbound = (o["unbound"] as? [[String: String]]) ?? []
        #expect(unbound.contains { $0["path"] == "/usr/lib/\(stdlib)" && $0["grant"] == "org.voidoci.expose=/usr/lib/\(stdlib)" }, "\(j)")

        b.edit { $0["annotations"] = ["org.voidoci.expose": "/usr/lib/\(stdlib)"] }
        let ok = b.run()
        #expect(ok.status == 0 && ok.stdout == "py-ran\n" && !ok.stderr.contains("not in this void"), "\(ok)")
        #expect(!b.voidoci(["explain", b.dir]).stdout.contains("\(stdlib)'s standard library"))
        // A program that succeeds is never lectured, whatever the void lacks.
        #expect(ok.stderr.isEmpty, "\(ok)")
    }
}
