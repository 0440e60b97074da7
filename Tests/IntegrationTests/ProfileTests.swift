import Foundation
import Testing

/// `voidoci profile` (docs/profile.md): real programs from an image built from Debian packages
/// are traced, their grants emitted and verified by voidoci, then rerun through podman with only
/// those grants. For each: the rerun succeeds, the grants expose under 5% of the image's files,
/// and the seccomp profile blocks a call the program never made.
@Suite(.serialized, HostClean()) struct ProfileTests {
    struct Program: CustomStringConvertible, Sendable {
        var name: String
        var args: [String]
        var expect: String
        /// Whether the program fails in a void with no grant (the profile is what makes it run).
        var failsBare: Bool
        var description: String { name }
    }

    static let programs: [Program] = [
        Program(name: "python json and ssl", args: ["/usr/bin/python3", "-c", "import json, ssl; print(json.dumps({'tls': ssl.OPENSSL_VERSION.split()[0]}))"],
                expect: #"{"tls": "OpenSSL"}"#, failsBare: true),
        Program(name: "perl with a module", args: ["/usr/bin/perl", "-MList::Util=sum", "-e", "print sum(1..10), qq(\\n)"], expect: "55", failsBare: true),
        Program(name: "a shell pipeline", args: ["/bin/sh", "-c", "echo hello world | tr a-z A-Z | wc -c"], expect: "12", failsBare: true),
        Program(name: "openssl hashing a file", args: ["/usr/bin/openssl", "dgst", "-sha256", "/etc/passwd"], expect: "SHA2-256(/etc/passwd)= ", failsBare: true),
        Program(name: "a static binary", args: ["/bin/busybox", "echo", "static"], expect: "static", failsBare: false),
        Program(name: "reading /proc/self", args: ["/usr/bin/head", "-n1", "/proc/self/status"], expect: "Name:\thead", failsBare: false),
    ]

    struct JSONProfile: Decodable {
        struct Grants: Decodable { var expose: [String]; var mounts: [String]; var tmpfs: [String]; var devices: [String]; var syscalls: [String] }
        var verified: Bool
        var difference: String?
        var grants: Grants
        struct Suggested: Decodable { var connect: [String]; var listen: [String] }
        var imageFiles: Int
        var exposedFiles: Int
        var evidence: [String: [String]]
        var notGranted: [String]
        var suggested: Suggested
    }

    static func voidoci(_ args: [String], timeout: Double = 180) -> Result {
        Shell.run([Env.bin] + args, env: ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], timeout: timeout)
    }

    /// The annotation output's lines as argv: `--annotation 'K=V'` → ["--annotation", "K=V"].
    static func argv(_ text: String) -> [String] {
        text.split(separator: "\n").flatMap { line -> [String] in
            guard let sp = line.firstIndex(of: " ") else { return [String(line)] }
            var v = String(line[line.index(after: sp)...])
            if v.hasPrefix("'") && v.hasSuffix("'") && v.count >= 2 { v = String(v.dropFirst().dropLast()).replacingOccurrences(of: "'\\''", with: "'") }
            return [String(line[..<sp]), v]
        }
    }

    /// A static program with no libc: unshare(0) by a raw syscall, then prints the result.
    /// Its only other calls (execve, write, exit_group) are in every profile (the runtime's).
    /// Built into the Debian image (a void's program is found in the image), before it is
    /// imported: the image path.
    static let checker: String = {
        let dir = "/tmp/voidoci-test-\(getpid())-checker"
        mkdir(dir, 0o755)
        let src = """
            static long sys(long n, long a, long b, long c) {
                long r;
                __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
                return r;
            }
            __attribute__((force_align_arg_pointer)) void _start(void) {
                long r = sys(272, 0, 0, 0);   /* unshare(0) */
                char msg[32] = "unshare: ";
                int i = 9;
                if (r < 0) { msg[i++] = '-'; r = -r; }
                char d[20]; int n = 0;
                do { d[n++] = (char)('0' + r % 10); r /= 10; } while (r && n < 19);
                while (n) msg[i++] = d[--n];
                msg[i++] = '\\n';
                sys(1, 1, (long)msg, i);
                sys(231, 0, 0, 0);
                for (;;) {}
            }
            """
        FileManager.default.createFile(atPath: "\(dir)/checker.c", contents: Data(src.utf8))
        let r = Shell.run(["gcc", "-static", "-nostdlib", "-O2", "-fno-stack-protector", "-o", "\(dir)/checker", "\(dir)/checker.c"])
        precondition(r.status == 0, "building the checker: \(r)")
        Env.registerCleanup(dir)
        let inImage = "/usr/local/bin/unshare-check"
        _ = Shell.run(["install", "-D", "-m", "0755", "\(dir)/checker", Env.debianRootfs + inImage])
        return inImage
    }()

    @Test(arguments: programs) func profileVerifyAndRerunThroughPodman(_ prog: Program) throws {
        let p = try Podman.open(.root)
        defer { p.close() }
        let checker = Self.checker
        let img = try p.image(.debian)
        let dir = "/tmp/voidoci-test-\(getpid())-profile-\(UUID().uuidString.prefix(6))"
        mkdir(dir, 0o755)
        defer { _ = Shell.run(["rm", "-rf", dir]) }

        // The JSON profile: verified, with evidence, exposing under 5% of the image.
        let j = Self.voidoci(["profile", "--timeout", "60", "--format", "json", "--image", img, "--"] + prog.args)
        #expect(j.status == 0, "\(j)")
        let profile = try #require(try? JSONDecoder().decode(JSONProfile.self, from: Data(j.stdout.utf8)), "\(j)")
        #expect(profile.verified && profile.difference == nil)
        #expect(profile.imageFiles > 3000 && profile.exposedFiles * 20 < profile.imageFiles,
                "exposed \(profile.exposedFiles) of \(profile.imageFiles)")
        for e in profile.grants.expose { #expect(!(profile.evidence[e] ?? []).isEmpty, "no evidence for \(e)") }
        #expect(j.stderr.contains("profile: verified"), "\(j.stderr)")

        // The annotations, with the seccomp profile written beside them.
        let seccomp = "\(dir)/seccomp.json"
        let a = Self.voidoci(["profile", "--timeout", "60", "--image", img, "--seccomp-profile", seccomp, "--"] + prog.args)
        #expect(a.status == 0, "\(a)")
        let grants = Self.argv(a.stdout)
        #expect(grants.contains("--security-opt") && grants.contains("seccomp=\(seccomp)"), "\(grants)")

        // Through podman with only those grants: it works.
        let run = p.call(["run", "--rm", "--name", p.name("rerun"), "--network", "none"] + grants + [img] + prog.args, timeout: 120)
        #expect(run.status == 0 && run.stdout.contains(prog.expect), "\(grants)\n\(run)")
        if prog.failsBare {
            let bare = p.call(["run", "--rm", "--name", p.name("bare"), "--network", "none", img] + prog.args, timeout: 120)
            #expect(bare.status != 0 || !bare.stdout.contains(prog.expect), "works without the grants: \(bare)")
        }

        // The seccomp profile blocks a call the program never made (unshare): ENOSYS with it,
        // allowed without it (podman's own profile).
        #expect(!profile.grants.syscalls.contains("unshare"))
        let blocked = p.call(["run", "--rm", "--name", p.name("blocked"), "--network", "none", "--security-opt", "seccomp=\(seccomp)",
                              img, checker], timeout: 120)
        #expect(blocked.stdout.contains("unshare: -38"), "\(blocked)")
        let allowed = p.call(["run", "--rm", "--name", p.name("allowed"), "--network", "none", img, checker], timeout: 120)
        #expect(allowed.stdout.contains("unshare: 0"), "\(allowed)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        #expect(!left.contains { $0.hasPrefix("voidoci-profile-") || $0.hasPrefix("voidoci-compare-") }, "\(left)")
    }

    // MARK: bundles

    /// A bundle on the Debian image, its process `args`, as `who`.
    static func bundle(_ args: [String], as who: As = .root) -> TestBundle {
        TestBundle(rootfs: Env.debianRootfs, args: args, as: who)
    }

    /// `voidoci profile ARGS` as the bundle's user.
    static func profile(_ b: TestBundle, _ args: [String]) -> Result {
        b.voidoci(["profile", "--timeout", "60"] + args, timeout: 180)
    }

    /// Two runs of one bundle joined with --merge, as a config fragment, and applied to the
    /// bundle: then both commands run in a plain void with only the grants, rootful and rootless.
    @Test(arguments: As.allCases) func mergeConfigAndApply(_ who: As) throws {
        try Env.requireUser(who)
        let b = Self.bundle(["/usr/bin/cat", "/etc/passwd"], as: who)
        defer { b.close() }
        // The bundle is its user's (profile writes the first profile and --apply the config there).
        if who == .user, let uid = Env.testUID, let gid = Env.testGID {
            chown(b.dir, uid, gid)
            chown("\(b.dir)/config.json", uid, gid)
        }
        let first = "\(b.dir)/first.json"
        let a = Self.profile(b, ["--format", "json", "--output", first, b.dir])
        #expect(a.status == 0 && FileManager.default.fileExists(atPath: first), "\(a)")
        let second = ["--", "/usr/bin/head", "-n1", "/usr/lib/ssl/openssl.cnf"]
        let m = Self.profile(b, ["--format", "json", "--merge", first, b.dir] + second)
        let merged = try #require(try? JSONDecoder().decode(JSONProfile.self, from: Data(m.stdout.utf8)), "\(m)")
        #expect(merged.grants.expose.contains("/etc/passwd") && merged.grants.expose.contains { $0.hasSuffix("openssl.cnf") },
                "\(merged.grants.expose)")
        let c = Self.profile(b, ["--format", "config", "--merge", first, b.dir] + second)
        let fragment = try #require(try? JSONSerialization.jsonObject(with: Data(c.stdout.utf8)) as? [String: Any], "\(c)")
        let ann = fragment["annotations"] as? [String: String] ?? [:]
        #expect(ann["org.voidoci.expose"]?.contains("/etc/passwd") == true, "\(fragment)")
        let seccomp = (fragment["linux"] as? [String: Any])?["seccomp"] as? [String: Any]
        #expect(seccomp?["defaultAction"] as? String == "SCMP_ACT_ERRNO", "\(fragment)")

        let ap = Self.profile(b, ["--apply", "--merge", first, b.dir] + second)
        #expect(ap.status == 0, "\(ap)")
        let cat = b.run()
        #expect(cat.status == 0 && cat.stdout.contains("root:x:0:0"), "\(cat)")
        // The applied config, read back (not the test's own copy), with the second command.
        var applied = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(b.dir)/config.json"))) as? [String: Any])
        #expect((applied["annotations"] as? [String: String])?["org.voidoci.expose"]?.contains("/etc/passwd") == true, "\(applied)")
        var process = applied["process"] as? [String: Any] ?? [:]
        process["args"] = Array(second.dropFirst())
        applied["process"] = process
        try JSONSerialization.data(withJSONObject: applied).write(to: URL(fileURLWithPath: "\(b.dir)/config.json"))
        let head = b.run()
        #expect(head.status == 0 && !head.stdout.isEmpty, "\(head)")
    }

    /// hello lists / and /usr: a void shows only what is granted, so no grant can make it print
    /// the same. Not verified (exit status 4, the first difference and why), nothing written;
    /// with --unverified it is written.
    @Test func aListingOfTheImageIsNotVerified() throws {
        let r = Self.voidoci(["profile", "--timeout", "60", "\(Env.repo)/bundles/hello"])
        #expect(r.status == 4 && r.stdout.isEmpty, "\(r)")
        #expect(r.stderr.contains("NOT VERIFIED") && r.stderr.contains("stdout: line 2") && r.stderr.contains("the program lists /"), "\(r.stderr)")
        let u = Self.voidoci(["profile", "--timeout", "60", "--unverified", "\(Env.repo)/bundles/hello"])
        #expect(u.status == 0 && u.stdout.contains("--annotation"), "\(u)")
    }

    /// Bad input is named, and leaves nothing: not a profile to merge, no bundle, a program that
    /// outlives --timeout (killed).
    @Test func badInputIsNamedAndLeavesNothing() throws {
        let b = Self.bundle(["/bin/sleep", "30"])
        defer { b.close() }
        FileManager.default.createFile(atPath: "\(b.dir)/not-a-profile.json", contents: Data(#"{"grants": 3}"#.utf8))
        let m = Self.profile(b, ["--merge", "\(b.dir)/not-a-profile.json", b.dir, "--", "/bin/true"])
        #expect(m.status != 0 && m.stderr.contains("not-a-profile.json"), "\(m)")
        let nb = Self.voidoci(["profile", "/nonexistent-bundle"])
        #expect(nb.status != 0 && nb.stderr.contains("/nonexistent-bundle"), "\(nb)")
        let f = Self.voidoci(["profile", "--format", "yaml", b.dir])
        #expect(f.status != 0 && f.stderr.contains("--format"), "\(f)")
        let t = Self.voidoci(["profile", "--timeout", "1", b.dir])
        #expect(t.status != 0 && t.stderr.contains("did not finish in 1 s"), "\(t)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        #expect(!left.contains { $0.hasPrefix("voidoci-profile-") }, "\(left)")
        #expect(Shell.run(["pgrep", "-f", "^/bin/sleep 30$"]).status != 0, "the program outlived its profile")
    }

    /// A profile killed outright (SIGKILL: no handler runs) mid-trace leaves its void recorded
    /// in the caller's state directory, where `voidoci list` shows it; the next profile deletes
    /// it (processes, mounts, cgroups) and removes the dead one's scratch directory.
    @Test func aProfileKilledOutrightIsCleanedUpByTheNext() throws {
        let b = Self.bundle(["/bin/sleep", "30"])
        defer { b.close() }
        let log = "\(b.dir)/killed.log"
        let pid = try Shell.spawn([Env.bin, "--root", b.stateRoot, "profile", "--timeout", "60", b.dir],
                                  env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], stdout: log)
        var left: [String] = []
        _ = Podman.waitUntil(20) {
            left = ((try? FileManager.default.contentsOfDirectory(atPath: b.stateRoot)) ?? []).filter { $0.hasPrefix("profile-\(pid)-") }
            return !left.isEmpty && Shell.run(["pgrep", "-f", "^/bin/sleep 30$"]).status == 0
        }
        kill(pid, SIGKILL)
        var st: Int32 = 0
        waitpid(pid, &st, 0)
        #expect(left.count == 1, "no void of the killed profile in its state directory: \(left)")
        let listed = b.voidoci(["list", "-q"])
        #expect(left.allSatisfy { listed.stdout.contains($0) }, "\(listed)")
        let scratch = { ((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.hasPrefix("voidoci-profile-\(pid)-") } }
        #expect(!scratch().isEmpty, "the killed profile's scratch directory")

        let next = Self.profile(b, [b.dir, "--", "/bin/true"])
        #expect(next.status == 0, "\(next)")
        let after = ((try? FileManager.default.contentsOfDirectory(atPath: b.stateRoot)) ?? []).filter { $0.hasPrefix("profile-") }
        #expect(after.isEmpty, "\(after)")
        #expect(scratch().isEmpty, "\(scratch())")
        #expect(Podman.waitUntil(5) { Shell.run(["pgrep", "-f", "^/bin/sleep 30$"]).status != 0 }, "the killed profile's program still runs")
    }

    /// The traced program is not trusted: paths with a newline and a tab (real files, granted
    /// by their exact names), a name that is not UTF-8 (reported, not granted), a path longer
    /// than PATH_MAX, fifty processes and eight threads at once, connects to a host unix socket
    /// and to loopback (suggested, never granted), /dev/stdout (not a device of the void). The
    /// trace keeps them apart, and the profile still verifies.
    @Test func aHostileProgramIsTracedFaithfully() throws {
        let etc = Env.debianRootfs + "/etc"
        for name in ["a\nb", "c\td"] { FileManager.default.createFile(atPath: "\(etc)/\(name)", contents: Data("x\n".utf8)) }
        _ = Shell.run(["sh", "-c", "printf x > \"\(etc)/$(printf 'bad\\377')\""])
        let script = """
            import os, socket, threading
            for p in [b'/etc/a\\nb', b'/etc/c\\td', b'/etc/bad\\xff', b'/' + b'x' * 5000]:
                try: open(p).read()
                except OSError: pass
            for fam, addr in [(socket.AF_UNIX, '/run/podman/podman.sock'), (socket.AF_INET, ('127.0.0.1', 9)), (socket.AF_INET, ('192.0.2.1', 80))]:
                s = socket.socket(fam, socket.SOCK_STREAM)
                s.settimeout(0.5)
                try: s.connect(addr)
                except OSError: pass
                s.close()
            try: open('/dev/stdout', 'w').close()
            except OSError: pass
            pids = []
            for i in range(50):
                pid = os.fork()
                if pid == 0:
                    os.stat('/etc/passwd'); os._exit(0)
                pids.append(pid)
            for pid in pids: os.waitpid(pid, 0)
            ts = [threading.Thread(target=lambda: open('/etc/group').read()) for _ in range(8)]
            for t in ts: t.start()
            for t in ts: t.join()
            print('done', len(pids))
            """
        let b = Self.bundle(["/usr/bin/python3", "-c", script])
        defer { b.close() }
        let r = Self.profile(b, ["--format", "json", b.dir])
        let prof = try #require(try? JSONDecoder().decode(JSONProfile.self, from: Data(r.stdout.utf8)), "\(r)")
        #expect(r.status == 0 && prof.verified, "\(r.stderr)")
        let expose = prof.grants.expose
        #expect(expose.contains("/etc/passwd") && expose.contains("/etc/group"), "\(expose)")
        #expect(expose.contains("/etc/a\nb") && expose.contains("/etc/c\td"), "\(expose)")
        #expect(!expose.contains { $0.hasPrefix("/etc/bad") || $0.hasPrefix("/xxxx") || $0.hasPrefix("/run") || $0.hasPrefix("/dev") }, "\(expose)")
        #expect(prof.notGranted.contains { $0.hasPrefix("/etc/bad") && $0.contains("not UTF-8") }, "\(prof.notGranted)")
        #expect(prof.grants.devices.isEmpty, "\(prof.grants.devices)")
        #expect(prof.suggested.connect.contains("unix:/run/podman/podman.sock") && prof.suggested.connect.contains("tcp:127.0.0.1:9"),
                "\(prof.suggested)")
        #expect(r.stderr.contains("connected to unix:/run/podman/podman.sock: not granted"), "\(r.stderr)")
        let ann = Self.profile(b, [b.dir])
        #expect(ann.status == 0 && !ann.stdout.contains("org.voidoci.connect"), "\(ann)")
        // --grant-sockets grants the TCP destination that is not loopback, and only that.
        let sockets = Self.profile(b, ["--grant-sockets", "--unverified", b.dir])
        #expect(sockets.status == 0 && sockets.stdout.contains("--annotation org.voidoci.connect=tcp:192.0.2.1:80\n"), "\(sockets)")
        #expect(!sockets.stdout.contains("podman.sock") && !sockets.stdout.contains("127.0.0.1"), "\(sockets)")
    }
}
