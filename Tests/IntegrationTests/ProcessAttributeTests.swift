import Foundation
import Testing

/// Fields of `process` (and `linux.seccomp`) as the program sees them.
@Suite(.serialized, .hostClean) struct ProcessAttributeTests {
    /// `/proc/self/status` fields of a busybox `grep` started by the void's sh (proc granted).
    func statusFields(_ who: As, _ names: [String], edit: (TestBundle) -> Void = { _ in }) throws -> ([String: String], Result) {
        let b = VoidCheck.busybox("grep -E '^(\(names.joined(separator: "|"))):' /proc/self/status", as: who)
        defer { b.close() }
        b.grantProc()
        edit(b)
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        var out: [String: String] = [:]
        for l in VoidCheck.lines(r.stdout) {
            let kv = l.split(separator: ":", maxSplits: 1)
            if kv.count == 2 { out[String(kv[0])] = kv[1].trimmingCharacters(in: .whitespaces) }
        }
        return (out, r)
    }

    // MARK: exit status

    @Test(arguments: As.allCases)
    func runExitsWithTheProgramsStatus(who: As) throws {
        try Env.requireUser(who)
        let b = TestBundle(args: ["/bin/sh", "-c", "exit 7"], as: who)
        defer { b.close() }
        let r = b.run()
        #expect(r.status == 7, "\(r)")
        #expect(b.stateEntries().isEmpty, "run leaves nothing behind: \(b.stateEntries())")
    }

    @Test(arguments: As.allCases)
    func runReportsDeathBySignalAs128PlusN(who: As) throws {
        try Env.requireUser(who)
        // The program is pid 1 of its pid namespace: a SIGKILL it sends itself is ignored by the
        // kernel, so the signal comes from the host, as `podman kill` would send it.
        let b = TestBundle(args: ["sleep", "30"], as: who)
        defer { b.close() }
        let pidFile = "\(b.callerDir("pid"))/run.pid"
        let id = "sig\(UUID().uuidString.prefix(6))"
        let script = """
            "$@" & run=$!
            for i in $(seq 1000); do [ -s "$PF" ] && break; sleep 0.01; done
            kill -KILL "$(cat "$PF")"
            wait $run; echo "status=$?"
            """
        let r = Shell.run(["/bin/bash", "-c", script, "bash"] + b.voidociArgv(["run", "--bundle", b.dir, "--pid-file", pidFile, id]),
                          env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PF": pidFile], timeout: 20)
        #expect(r.stdout == "status=137\n", "\(r)")
        #expect(b.stateEntries().isEmpty, "\(b.stateEntries())")
    }

    // MARK: args and env

    @Test(arguments: As.allCases)
    func argsAndEnvReachTheProcess(who: As) throws {
        try Env.requireUser(who)
        let b = VoidCheck.busybox("for a in \"$@\"; do echo \"[$a]\"; done; env | sort", as: who,
                                  extraArgs: ["sh", "a b", "  c  ", ""])
        defer { b.close() }
        b.setProcess("env", ["PATH=/bin", "FOO=bar", "WITH_SPACE=x y"])
        let r = b.voidoci(["run", "--bundle", b.dir, "envtest"], extraEnv: ["LEAKME": "host-only"])
        #expect(r.status == 0, "\(r)")
        let l = VoidCheck.lines(r.stdout)
        #expect(Array(l.prefix(3)) == ["[a b]", "[  c  ]", "[]"], "\(r)")
        #expect(l.contains("FOO=bar") && l.contains("WITH_SPACE=x y") && l.contains("PATH=/bin"), "\(r)")
        #expect(!r.stdout.contains("LEAKME"), "the caller's environment must not leak in: \(r)")
    }

    // MARK: user

    @Test(arguments: As.allCases)
    func processUserIsTheMappedID(who: As) throws {
        try Env.requireUser(who)
        let b = TestBundle(args: ["/usr/bin/id"], as: who)
        defer { b.close() }
        b.setProcess("user", ["uid": 1000, "gid": 1000])
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.hasPrefix("uid=1000 gid=1000"), "\(r)")
    }

    @Test(arguments: As.allCases)
    func unmappedAdditionalGidsFailCreate(who: As) throws {
        try Env.requireUser(who)
        let b = TestBundle(args: ["/usr/bin/id"], as: who)
        defer { b.close() }
        b.setProcess("user", ["uid": 0, "gid": 0, "additionalGids": [4242]])
        let r = b.voidoci(["create", "--bundle", b.dir, "gids\(UUID().uuidString.prefix(6))"])
        #expect(r.status != 0, "\(r)")
        #expect(r.stderr.contains("process.user.additionalGids"), "\(r)")
        #expect(b.stateEntries().isEmpty, "\(b.stateEntries())")
    }

    // MARK: rlimits

    @Test(arguments: As.allCases)
    func rlimitsApply(who: As) throws {
        try Env.requireUser(who)
        let b = VoidCheck.busybox("ulimit -Sn; ulimit -Hn", as: who)
        defer { b.close() }
        b.setProcess("rlimits", [["type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048]])
        let r = b.run()
        #expect(r.status == 0 && r.stdout == "1024\n2048\n", "\(r)")
    }

    // MARK: capabilities

    @Test(arguments: As.allCases)
    func capabilitiesAreTheConfiguredSets(who: As) throws {
        try Env.requireUser(who)
        let (f, r) = try statusFields(who, ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) { b in
            b.setProcess("capabilities", ["bounding": ["CAP_NET_BIND_SERVICE"], "effective": ["CAP_NET_BIND_SERVICE"],
                                          "permitted": ["CAP_NET_BIND_SERVICE"]])
        }
        #expect(f["CapEff"] == "0000000000000400", "\(r)")
        #expect(f["CapPrm"] == "0000000000000400", "\(r)")
        #expect(f["CapBnd"] == "0000000000000400", "\(r)")
        #expect(f["CapAmb"] == "0000000000000000", "\(r)")
    }

    @Test(arguments: As.allCases)
    func absentCapabilitiesMeanNone(who: As) throws {
        try Env.requireUser(who)
        // runc: no `capabilities` object is an empty one, bounding set included.
        let (f, r) = try statusFields(who, ["CapPrm", "CapEff", "CapBnd"])
        #expect(f["CapEff"] == "0000000000000000", "\(r)")
        #expect(f["CapPrm"] == "0000000000000000", "\(r)")
        #expect(f["CapBnd"] == "0000000000000000", "\(r)")
    }

    @Test(arguments: As.allCases)
    func boundingSetAloneLimitsRoot(who: As) throws {
        try Env.requireUser(who)
        // Root execs a file: its permitted set becomes the bounding set (CAP_CHOWN|CAP_KILL).
        let (f, r) = try statusFields(who, ["CapBnd", "CapEff"]) { b in
            b.setProcess("capabilities", ["bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": [String](), "permitted": [String]()])
        }
        #expect(f["CapBnd"] == "0000000000000021", "\(r)")
        #expect(f["CapEff"] == "0000000000000021", "\(r)")
    }

    // MARK: noNewPrivileges

    @Test(arguments: As.allCases)
    func noNewPrivileges(who: As) throws {
        try Env.requireUser(who)
        let (on, r) = try statusFields(who, ["NoNewPrivs"]) { $0.setProcess("noNewPrivileges", true) }
        #expect(on["NoNewPrivs"] == "1", "\(r)")
        let (off, r2) = try statusFields(who, ["NoNewPrivs"])
        #expect(off["NoNewPrivs"] == "0", "\(r2)")
    }

    // MARK: seccomp

    @Test(arguments: As.allCases)
    func seccompErrnoRule(who: As) throws {
        try Env.requireUser(who)
        let script = "mkdir /tmp/x && echo made"
        func profile(deny: Bool) -> [String: Any] {
            var p: [String: Any] = ["defaultAction": "SCMP_ACT_ALLOW"]
            p["syscalls"] = deny ? [["names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1]] : [[String: Any]]()
            return p
        }
        let denied = VoidCheck.busybox(script, as: who)
        defer { denied.close() }
        denied.setProcess("cwd", "/tmp")
        denied.setLinux("seccomp", profile(deny: true))
        let r = denied.run()
        #expect(r.status != 0 && !r.stdout.contains("made"), "\(r)")
        #expect(r.stderr.contains("Operation not permitted"), "\(r)")

        let allowed = VoidCheck.busybox(script, as: who)
        defer { allowed.close() }
        allowed.setProcess("cwd", "/tmp")
        allowed.setLinux("seccomp", profile(deny: false))
        let r2 = allowed.run()
        #expect(r2.status == 0 && r2.stdout == "made\n", "\(r2)")

        // With noNewPrivileges the filter goes in after the ids change: same result.
        let nnp = VoidCheck.busybox(script, as: who)
        defer { nnp.close() }
        nnp.setProcess("cwd", "/tmp")
        nnp.setProcess("noNewPrivileges", true)
        nnp.setLinux("seccomp", profile(deny: true))
        let r3 = nnp.run()
        #expect(r3.status != 0 && r3.stderr.contains("Operation not permitted"), "\(r3)")
    }

    @Test(arguments: As.allCases)
    func podmanDefaultSeccompProfile(who: As) throws {
        try Env.requireUser(who)
        let path = "/work/shared/reference/podman-samples/podman-rootful-config.json"
        let data = try #require(FileManager.default.contents(atPath: path))
        let podman = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let seccomp = try #require((podman["linux"] as? [String: Any])?["seccomp"] as? [String: Any])
        // The profile answers sethostname with EPERM; the void's root owns its uts namespace, so
        // with CAP_SYS_ADMIN and no filter the call succeeds.
        let script = "echo ok; hostname renamed && hostname"
        let caps = ["bounding": ["CAP_SYS_ADMIN"], "effective": ["CAP_SYS_ADMIN"], "permitted": ["CAP_SYS_ADMIN"]]

        let filtered = VoidCheck.busybox(script, as: who)
        defer { filtered.close() }
        filtered.setProcess("capabilities", caps)
        filtered.setLinux("seccomp", seccomp)
        let r = filtered.run()
        #expect(r.stdout == "ok\n", "\(r)")
        #expect(r.stderr.contains("Operation not permitted"), "\(r)")

        let open = VoidCheck.busybox(script, as: who)
        defer { open.close() }
        open.setProcess("capabilities", caps)
        let r2 = open.run()
        #expect(r2.status == 0 && r2.stdout == "ok\nrenamed\n", "\(r2)")
    }

    // MARK: fds

    @Test(arguments: As.allCases)
    func onlyStdioReachesTheProcess(who: As) throws {
        try Env.requireUser(who)
        // Not the script's last command: ash would exec it in place of pid 1, and list ls's own fds.
        let b = VoidCheck.busybox("ls /proc/$$/fd; echo end", as: who)
        defer { b.close() }
        b.grantProc()
        // fd 7 and 9 open (not close-on-exec) in voidoci's caller.
        let r = Shell.run(["/bin/bash", "-c", "exec 7</dev/null 9>/dev/null; exec \"$@\"", "bash"]
                              + b.voidociArgv(["run", "--bundle", b.dir, "fds\(UUID().uuidString.prefix(6))"]),
                          env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
        #expect(r.status == 0, "\(r)")
        #expect(VoidCheck.lines(r.stdout) == ["0", "1", "2", "end"], "\(r)")
    }

    @Test(arguments: As.allCases)
    func createdInitHoldsNoCallerFds(who: As) throws {
        try Env.requireUser(who)
        // Between create and start the init waits; it must not keep the fds create's caller
        // passed beyond stdio (a pipe's reader would never see EOF: Foundation's Process, a
        // shell's `$(voidoci create ...)`), only what it needs itself.
        let b = TestBundle(args: ["sleep", "30"], as: who)
        defer { b.close() }
        let marker = "\(b.dir)/marker-\(UUID().uuidString.prefix(6))"
        _ = FileManager.default.createFile(atPath: marker, contents: Data("m\n".utf8))
        chmod(marker, 0o644)
        let id = TestBundle.newID("hold")
        defer { b.voidoci(["delete", "--force", id]) }
        let pidFile = "\(b.callerDir("pid"))/\(id).pid"
        let c = b.voidociWithFds(["create", "--bundle", b.dir, "--pid-file", pidFile, id],
                                  setup: "exec 7<\"$M\" 40<\"$M\"", env: ["M": marker])
        try #require(c.status == 0, "\(c)")
        let pid = try #require(Int32(VoidCheck.readHost(pidFile)), "pid file")
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        try #require(!fds.isEmpty, "cannot list /proc/\(pid)/fd")
        let held = fds.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) == marker }
        #expect(held.isEmpty, "the waiting init holds the caller's fds \(held.sorted())")
    }

    @Test(arguments: As.allCases)
    func preserveFdsPassesFd3(who: As) throws {
        try Env.requireUser(who)
        let b = VoidCheck.busybox("ls /proc/$$/fd; cat <&3", as: who)
        defer { b.close() }
        b.grantProc()
        let file = "\(b.dir)/fd3.txt"
        _ = FileManager.default.createFile(atPath: file, contents: Data("through fd 3\n".utf8))
        chmod(file, 0o644)
        let r = Shell.run(["/bin/bash", "-c", "exec 3<\"$F\" 4</dev/null; exec \"$@\"", "bash"]
                              + b.voidociArgv(["run", "--preserve-fds", "1", "--bundle", b.dir, "pfd\(UUID().uuidString.prefix(6))"]),
                          env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "F": file])
        #expect(r.status == 0, "\(r)")
        #expect(VoidCheck.lines(r.stdout) == ["0", "1", "2", "3", "through fd 3"], "fd 4 is not preserved: \(r)")
    }

    /// Attack (issue 10): `--preserve-fds N` beyond the fds the caller has open handed voidoci's
    /// own descriptors (image root, bundle, cgroup directories, state lock) to the void, and a
    /// huge N hung voidoci or killed it with SIGILL. Only the caller's fds may pass: anything
    /// more is an error naming the flag, before anything is made.
    @Test(arguments: As.allCases)
    func preserveFdsPassesOnlyTheCallersFds(who: As) throws {
        try Env.requireUser(who)
        let b = VoidCheck.busybox("ls -l /proc/$$/fd/", as: who)
        defer { b.close() }
        b.grantProc()
        let cases: [(n: String, env: [String: String])] = [
            ("8", [:]), ("1000000000", [:]), ("2147483645", [:]), ("9223372036854775807", [:]),
            ("0", ["LISTEN_FDS": "5"]), ("1", ["LISTEN_FDS": "9223372036854775807"]),
        ]
        for c in cases {
            let id = "pfd\(UUID().uuidString.prefix(6))"
            var env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
            for (k, v) in c.env { env[k] = v }
            let r = Shell.run(["/bin/bash", "-c", "exec 3</dev/null; exec \"$@\"", "bash"]
                                  + b.voidociArgv(["run", "--preserve-fds", c.n, "--bundle", b.dir, id]),
                              env: env, timeout: 30)
            #expect(r.status == 1 && r.stdout.isEmpty, "--preserve-fds \(c.n) \(c.env): an error, and the void never runs: \(r)")
            #expect(r.stderr.contains("--preserve-fds \(c.n)") && r.stderr.contains("is not open"), "\(r)")
            #expect(Host.entries(b.stateRoot).isEmpty, "state left by \(c): \(Host.entries(b.stateRoot))")
        }
        // A value that is not a count is refused, not trapped on.
        let r = Shell.run(["/bin/bash", "-c", "exec \"$@\"", "bash"]
                              + b.voidociArgv(["run", "--bundle", b.dir, "pfd\(UUID().uuidString.prefix(6))"]),
                          env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LISTEN_FDS": "-3"], timeout: 30)
        #expect(r.status == 1 && r.stderr.contains("LISTEN_FDS=-3"), "\(r)")
    }

    // MARK: oomScoreAdj, umask

    @Test(arguments: As.allCases)
    func oomScoreAdj(who: As) throws {
        try Env.requireUser(who)
        let b = VoidCheck.busybox("cat /proc/self/oom_score_adj", as: who)
        defer { b.close() }
        b.grantProc()
        b.setProcess("oomScoreAdj", 500)
        let r = b.run()
        #expect(r.status == 0 && r.stdout == "500\n", "\(r)")
    }

    @Test(arguments: As.allCases)
    func umaskApplies(who: As) throws {
        try Env.requireUser(who)
        let b = VoidCheck.busybox("umask; cd /tmp && touch f && ls -l f", as: who)
        defer { b.close() }
        b.setUser("umask", 63)
        b.setProcess("cwd", "/tmp")
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        let l = VoidCheck.lines(r.stdout)
        #expect(l.first == "0077", "\(r)")
        #expect(l.last?.hasPrefix("-rw-------") == true, "\(r)")
    }
}
