import Foundation
import Testing

/// `org.voidoci.open` (docs/void.md, Files passed in): host files opened by voidoci as the
/// caller, outside the void, handed in as fds after the preserved ones and the listen sockets.
@Suite(.serialized, HostClean()) struct OpenFilesTests {
    /// A directory the bundle's user may create files in, with `in.txt` readable by it.
    static func files(_ b: TestBundle) -> String {
        let d = "\(b.dir)/files"
        mkdir(d, 0o755)
        FileManager.default.createFile(atPath: "\(d)/in.txt", contents: Data("from the host\n".utf8))
        FileManager.default.createFile(atPath: "\(d)/log.txt", contents: Data("first\n".utf8))
        if b.who == .user, let u = Env.testUID, let g = Env.testGID {
            for p in [d, "\(d)/in.txt", "\(d)/log.txt"] { chown(p, u, g) }
        }
        return d
    }

    @Test(arguments: As.allCases)
    func filesAreReadAndWrittenThroughTheirFDs(who: As) throws {
        try Env.requireUser(who)
        let b = VoidCheck.busybox("cat <&3 >&4; echo appended >&5; echo both >&6; ls /", as: who)
        defer { b.close() }
        let d = Self.files(b)
        b.annotate(["org.voidoci.open": "r:\(d)/in.txt;w:\(d)/out.txt;a:\(d)/log.txt;rw:\(d)/new.txt"])
        let r = b.run()
        #expect(r.status == 0 && VoidCheck.lines(r.stdout) == ["bin"], "the void holds no path to any of them: \(r)")
        #expect(Host.read("\(d)/out.txt") == "from the host\n")
        #expect(Host.read("\(d)/log.txt") == "first\nappended\n")
        #expect(Host.read("\(d)/new.txt") == "both\n")
        // Made as the caller: a rootless voidoci's files are the test user's.
        var st = stat()
        #expect(stat("\(d)/out.txt", &st) == 0 && st.st_uid == (who == .user ? Env.testUID ?? 0 : 0))
    }

    /// After the preserved fds (3) and the listen sockets (4): the first file is fd 5.
    @Test func numberedAfterPreservedFDsAndSockets() throws {
        let b = VoidCheck.busybox("cat <&5", as: .root)
        defer { b.close() }
        let d = Self.files(b)
        b.annotate(["org.voidoci.open": "r:\(d)/in.txt", "org.voidoci.listen": "tcp:127.0.0.1:\(ListenTests.freePort())"])
        let r = Shell.run(["/bin/bash", "-c", "exec 3</dev/null; exec \"$@\"", "bash"]
                              + b.voidociArgv(["run", "--preserve-fds", "1", "--bundle", b.dir, "o\(UUID().uuidString.prefix(6))"]),
                          env: ["PATH": "/usr/bin:/bin"])
        #expect(r.status == 0 && r.stdout == "from the host\n", "\(r)")
    }

    /// A file the caller may not open is an error naming the entry; a file this create made
    /// for an earlier entry is removed again; nothing is left.
    @Test(arguments: As.allCases)
    func aFileThatCannotBeOpenedFailsCreate(who: As) throws {
        try Env.requireUser(who)
        let b = VoidCheck.busybox("true", as: who)
        defer { b.close() }
        let d = Self.files(b)
        let secret = "\(b.dir)/secret"
        FileManager.default.createFile(atPath: secret, contents: Data("root only\n".utf8))
        chmod(secret, 0o600)
        let denied = who == .user ? "r:\(secret)" : "r:\(d)/missing.txt"
        b.annotate(["org.voidoci.open": "w:\(d)/made.txt;\(denied)"])
        let r = b.voidoci(["create", "--bundle", b.dir, "o\(UUID().uuidString.prefix(6))"])
        let why = who == .user ? "open: permission denied" : "open: no such file or directory"
        #expect(r.status != 0 && r.stderr.contains("org.voidoci.open: \(denied): \(why)"), "\(r)")
        #expect(!Host.exists("\(d)/made.txt"), "the file this create made is removed")
        #expect(Host.entries(b.stateRoot).isEmpty)
    }

    @Test func badEntriesAreRefused() throws {
        let cases: [(String, String)] = [
            ("x:/tmp/a", "expected MODE:PATH"), ("/tmp/a", "expected MODE:PATH"), ("r:tmp/a", "must be absolute"),
            ("w:/tmp/../etc/passwd", "contains \"..\""), ("r:/tmp/a;w:/tmp/a", "listed twice"), ("r:/tmp/a\u{1}", "control character"),
            // Attack: a directory's fd would let the program walk out of the void (openat "..").
            ("r:/etc", "r:/etc: a directory: only files are passed in"), ("rw:/tmp", "rw:/tmp: open: is a directory"),
        ]
        for (entry, why) in cases {
            let b = VoidCheck.busybox("true", as: .root)
            defer { b.close() }
            b.edit { $0["annotations"] = ["org.voidoci.open": entry] }
            let r = b.voidoci(["create", "--bundle", b.dir, "o\(UUID().uuidString.prefix(6))"])
            #expect(r.status != 0 && r.stderr.contains("org.voidoci.open") && r.stderr.contains(why), "\(entry): \(r)")
            #expect(Host.entries(b.stateRoot).isEmpty)
        }
        let b = VoidCheck.busybox("true", as: .root)
        defer { b.close() }
        b.edit { $0["annotations"] = ["org.voidoci.open": "r:/etc/hostname", "org.voidoci.accept": "stdio",
                                      "org.voidoci.listen": "tcp:127.0.0.1:9"] }
        let r = b.voidoci(["create", "--bundle", b.dir, "o\(UUID().uuidString.prefix(6))"])
        #expect(r.status != 0 && r.stderr.contains("org.voidoci.open: not with org.voidoci.accept"), "\(r)")
    }

    /// bundles/cp: the arguments parsed in a void with nothing, the copy in a void with two fds.
    @Test func theCpSample() throws {
        let dir = try SampleAppsTests.bundle("cp")
        let work = "/tmp/voidoci-test-\(getpid())-cp"
        mkdir(work, 0o755)
        defer { _ = Shell.run(["rm", "-rf", work]) }
        var bytes = [UInt8](repeating: 0, count: 300_000)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 7 &+ i >> 9) }
        FileManager.default.createFile(atPath: "\(work)/a file", contents: Data(bytes))
        mkdir("\(work)/dir", 0o755)
        func cp(_ args: String...) -> Result {
            Shell.run(["\(dir)/cp.sh"] + args, env: ["PATH": "/usr/local/bin:/usr/bin:/bin", "VOIDOCI": Env.bin])
        }
        let r = cp("-v", "\(work)/a file", "\(work)/dir/")
        #expect(r.status == 0 && r.stdout == "'\(work)/a file' -> '\(work)/dir/a file'\n", "\(r)")
        #expect(FileManager.default.contents(atPath: "\(work)/dir/a file") == Data(bytes))
        FileManager.default.createFile(atPath: "\(work)/keep", contents: Data("kept\n".utf8))
        let n = cp("-n", "\(work)/a file", "\(work)/keep")
        #expect(n.status == 0 && Host.read("\(work)/keep") == "kept\n", "\(n)")
        let bad = cp("-x", "\(work)/a file", "\(work)/b")
        #expect(bad.status == 2 && bad.stderr.contains("cp: unknown option: -x") && !Host.exists("\(work)/b"), "\(bad)")
        let same = cp("\(work)/keep", "\(work)/keep")
        #expect(same.status == 1 && same.stderr.contains("are the same file") && Host.read("\(work)/keep") == "kept\n", "\(same)")
        let one = cp("\(work)/a file")
        #expect(one.status == 2 && one.stderr.contains("missing operand"), "\(one)")
        // The parser's void holds nothing but the parser.
        let e = Shell.run([Env.bin, "explain", "--format", "json", dir])
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as? [String: Any], "\(e)")
        #expect((plan["mounts"] as? [[String: Any]])?.map { $0["destination"] as? String } == ["/cp-args"], "\(e.stdout)")
    }
}
