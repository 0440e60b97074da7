import Foundation
import Testing

/// `org.voidoci.listen` (docs/void.md, Sockets): sockets bound outside the void, in the caller's
/// network namespace, passed in as fds 3.. with LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES, as
/// systemd's socket activation does. The server is samples/activated-echo.c, a static program
/// that takes its sockets the way sd_listen_fds(3) does; the void's network holds only `lo`.
@Suite(.serialized, HostClean()) struct ListenTests {
    /// samples/activated-echo.c, built static once per test process, alone in a rootfs.
    static let rootfs: String = {
        let dir = "/tmp/voidoci-test-\(getpid())-rootfs-echo"
        mkdir(dir, 0o755)
        let r = Shell.run(["/usr/bin/gcc", "-static", "-O2", "-o", "\(dir)/activated-echo", "\(Env.repo)/samples/activated-echo.c"])
        precondition(r.status == 0, "building samples/activated-echo.c: \(r)")
        Env.registerCleanup(dir)
        return dir
    }()

    /// A port nothing listens on now (the kernel's pick for port 0).
    static func freePort(udp: Bool = false) -> Int {
        let r = Shell.run(["/usr/bin/python3", "-c", """
            import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if \(udp ? "True" : "False") else socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])
            """])
        return Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// Sends `line` to a tcp/udp/unix address from the host and returns the reply.
    static func ask(_ kind: String, _ address: String, _ line: String) -> Result {
        Shell.run(["/usr/bin/python3", "-c", """
            import socket, sys
            kind, addr, line = sys.argv[1], sys.argv[2], sys.argv[3].encode()
            if kind == "unix":
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(10); s.connect(addr)
            else:
                host, port = addr.rsplit(":", 1)
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
                s.settimeout(10); s.connect((host, int(port)))
            s.send(line)
            print(s.recv(1024).decode(), end="")
            """, kind, address, line], timeout: 30)
    }

    static func bundle(_ listen: String, as who: As, serve: Int = 3, extra: ((inout [String: Any]) -> Void)? = nil) -> TestBundle {
        let b = TestBundle(rootfs: rootfs, args: ["/activated-echo", String(serve)], as: who)
        b.edit { c in
            c["annotations"] = ["org.voidoci.listen": listen]
            extra?(&c)
        }
        return b
    }

    /// A directory the bundle's user may bind a unix socket in.
    static func socketDir(_ b: TestBundle) -> String {
        let d = "\(b.dir)/sock"
        mkdir(d, 0o755)
        if b.who == .user, let u = Env.testUID, let g = Env.testGID { chown(d, u, g) }
        return d
    }

    @Test(arguments: As.allCases)
    func aServerInAnEmptyNetworkAnswersOnTheHost(who: As) throws {
        try Env.requireUser(who)
        let (tcp, udp) = (Self.freePort(), Self.freePort(udp: true))
        let probe = Self.bundle("", as: who)
        let sock = "\(Self.socketDir(probe))/echo.sock"
        let b = Self.bundle("tcp:127.0.0.1:\(tcp);web=unix:\(sock);udp:127.0.0.1:\(udp)", as: who)
        defer { b.close(); probe.close() }
        let id = "l\(UUID().uuidString.prefix(6))"
        let c = b.voidoci(["create", "--bundle", b.dir, id])
        try #require(c.status == 0, "\(c)")
        #expect(Host.exists(sock), "the unix socket is bound at create")
        let s = b.voidoci(["start", id])
        try #require(s.status == 0, "\(s)")
        let t = Self.ask("tcp", "127.0.0.1:\(tcp)", "over tcp\n")
        #expect(t.stdout == "tcp-127.0.0.1-\(tcp) fds=3 pid=1: over tcp\n", "\(t)")
        let u = Self.ask("unix", sock, "over unix\n")
        #expect(u.stdout == "web fds=3 pid=1: over unix\n", "\(u)")
        let d = Self.ask("udp", "127.0.0.1:\(udp)", "over udp")
        #expect(d.stdout == "udp-127.0.0.1-\(udp) fds=3 pid=1: over udp", "\(d)")
        // Three messages served: the program exits 0.
        #expect(Host.waitUntil(10) { b.voidoci(["state", id]).stdout.contains("\"stopped\"") }, "the server did not finish")
        let st = b.voidoci(["state", id])
        #expect(st.stdout.contains("\"stopped\""), "\(st)")
        let del = b.voidoci(["delete", id])
        #expect(del.status == 0, "\(del)")
        #expect(!Host.exists(sock), "delete removes the unix socket that create bound")
    }

    /// The preserved fds come first (named `unknown`), the listen sockets after; LISTEN_FDS
    /// counts both, and LISTEN_* of the config's env are replaced.
    @Test func preservedFDsComeFirst() throws {
        let port = Self.freePort()
        let b = Self.bundle("tcp:127.0.0.1:\(port)", as: .root, serve: 1) { c in
            var p = c["process"] as! [String: Any]
            p["env"] = ["PATH=/bin", "LISTEN_FDS=7", "LISTEN_PID=99"]
            c["process"] = p
        }
        defer { b.close() }
        let id = "l\(UUID().uuidString.prefix(6))"
        let r = Shell.run(["/bin/bash", "-c", "exec 3</dev/null; exec \"$@\"", "bash", Env.bin, "--root", b.stateRoot,
                           "create", "--preserve-fds", "1", "--bundle", b.dir, id], env: ["PATH": "/usr/bin:/bin"])
        try #require(r.status == 0, "\(r)")
        defer { b.voidoci(["delete", "--force", id]) }
        #expect(b.voidoci(["start", id]).status == 0)
        let t = Self.ask("tcp", "127.0.0.1:\(port)", "hello\n")
        // activated-echo polls fds 3..4; fd 3 (/dev/null) is never a socket it can accept on,
        // and its name for fd 4 is the second of LISTEN_FDNAMES.
        #expect(t.stdout == "tcp-127.0.0.1-\(port) fds=2 pid=1: hello\n", "\(t)")
    }

    /// A port in use, or a path that cannot be bound, fails create with the entry named, and
    /// leaves nothing: no state, no socket file, the port free again.
    @Test(arguments: As.allCases)
    func aSocketThatCannotBeBoundFailsCreate(who: As) throws {
        try Env.requireUser(who)
        let port = Self.freePort()
        let holder = Shell.spawnHolder(port: port)
        defer { holder.stop() }
        let probe = Self.bundle("", as: who)
        let sock = "\(Self.socketDir(probe))/first.sock"
        let b = Self.bundle("unix:\(sock);tcp:127.0.0.1:\(port)", as: who)
        defer { b.close(); probe.close() }
        let r = b.voidoci(["create", "--bundle", b.dir, "l\(UUID().uuidString.prefix(6))"])
        #expect(r.status != 0, "\(r)")
        #expect(r.stderr.contains("org.voidoci.listen: tcp:127.0.0.1:\(port): bind: address already in use"), "\(r)")
        #expect(!Host.exists(sock), "the unix socket bound before the failure is removed")
        #expect(Host.entries(b.stateRoot).isEmpty, "\(Host.entries(b.stateRoot))")
        let missing = Self.bundle("unix:/nonexistent-dir/x.sock", as: who)
        defer { missing.close() }
        let m = missing.voidoci(["create", "--bundle", missing.dir, "l\(UUID().uuidString.prefix(6))"])
        #expect(m.status != 0 && m.stderr.contains("org.voidoci.listen: unix:/nonexistent-dir/x.sock: bind: no such file or directory"), "\(m)")
        #expect(Host.entries(missing.stateRoot).isEmpty)
    }

    /// The void holds stdio and its sockets, nothing else of voidoci's, and sees the variables
    /// sd_listen_fds(3) reads.
    @Test(arguments: As.allCases)
    func theVoidHoldsOnlyItsSockets(who: As) throws {
        try Env.requireUser(who)
        let (a, b2) = (Self.freePort(), Self.freePort(udp: true))
        let b = VoidCheck.busybox("ls /proc/$$/fd; env | grep ^LISTEN_ | sort", as: who)
        defer { b.close() }
        b.grantProc()
        b.annotate(["org.voidoci.listen": "tcp:127.0.0.1:\(a);dns=udp:127.0.0.1:\(b2)"])
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        #expect(VoidCheck.lines(r.stdout) == ["0", "1", "2", "3", "4", "LISTEN_FDNAMES=tcp-127.0.0.1-\(a):dns",
                                              "LISTEN_FDS=2", "LISTEN_PID=1"], "\(r)")
    }

    /// Attack: voidoci removes only the socket file it bound. A file put at that path after
    /// create (the socket removed by someone else) is not the recorded inode, and stays.
    @Test func deleteLeavesAFileThatIsNotItsSocket() throws {
        let probe = Self.bundle("", as: .root)
        defer { probe.close() }
        let sock = "\(Self.socketDir(probe))/s.sock"
        let b = Self.bundle("unix:\(sock)", as: .root)
        defer { b.close() }
        let id = "l\(UUID().uuidString.prefix(6))"
        try #require(b.voidoci(["create", "--bundle", b.dir, id]).status == 0)
        unlink(sock)
        FileManager.default.createFile(atPath: sock, contents: Data("someone else's\n".utf8))
        #expect(b.voidoci(["delete", "--force", id]).status == 0)
        #expect(Host.read(sock) == "someone else's\n", "delete removed a file it did not make")
    }

    /// Through podman and conmon, rootful and rootless: `--network none` leaves the void only
    /// `lo`, and the server still answers on the host.
    @Test(arguments: As.allCases)
    func podmanRunWithNetworkNoneServesOnTheHost(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.echo)
        let port = Self.freePort()
        let name = p.name("listen")
        let r = p.call(["run", "-d", "--name", name, "--network", "none",
                        "--annotation", "org.voidoci.listen=tcp:127.0.0.1:\(port)", img, "/activated-echo", "1"])
        try #require(r.status == 0, "podman run -d: \(r)")
        let t = Self.ask("tcp", "127.0.0.1:\(port)", "through podman\n")
        #expect(t.stdout == "tcp-127.0.0.1-\(port) fds=1 pid=1: through podman\n", "\(t)")
        #expect(Podman.waitUntil(10) { p.inspect(name, "{{.State.Status}} {{.State.ExitCode}}") == "exited 0" },
                "\(p.inspect(name, "{{.State.Status}} {{.State.ExitCode}}"))")
    }

    /// Bad entries are errors at create that quote the entry, before anything is made.
    @Test func badEntriesAreRefused() throws {
        let cases: [(String, String)] = [
            ("tcp:127.0.0.1:0", "port 0 is not in 1-65535"),
            ("tcp:127.0.0.1:65536", "port 65536 is not in 1-65535"),
            ("tcp:127.0.0.1:http", "port http is not in 1-65535"),
            ("tcp:localhost:80", "localhost is not an IPv4 address"),
            ("tcp:[::1:80", "is not an IPv4 address"),
            ("tcp:[zz::1]:80", "zz::1 is not an IPv6 address"),
            ("sctp:127.0.0.1:80", "unknown transport sctp"),
            ("127.0.0.1:80", "unknown transport 127.0.0.1"),
            ("unix:relative.sock", "must be absolute"),
            ("unix:/a/../b.sock", "contains \"..\""),
            ("unix:/" + String(repeating: "x", count: 120), "longer than the 107 bytes"),
            ("x=tcp:127.0.0.1:80;y=tcp:127.0.0.1:80", "the same socket as"),
            ("tcp:127.0.0.1:80;tcp:127.0.0.1:80", "the same socket as"),
            ("bad:name=tcp:127.0.0.1:80", "unknown transport bad"),
            ("tcp", "expected tcp:, udp: or unix:"),
        ]
        for (entry, why) in cases {
            let b = Self.bundle(entry, as: .root)
            defer { b.close() }
            let r = b.voidoci(["create", "--bundle", b.dir, "l\(UUID().uuidString.prefix(6))"])
            #expect(r.status != 0 && r.stderr.contains("org.voidoci.listen") && r.stderr.contains(why), "\(entry): \(r)")
            #expect(Host.entries(b.stateRoot).isEmpty, "\(entry): \(Host.entries(b.stateRoot))")
        }
    }
}

extension Shell {
    /// A host process holding 127.0.0.1:PORT (listening), until stop().
    struct Holder {
        let pid: pid_t
        func stop() {
            kill(pid, SIGKILL)
            var st: Int32 = 0
            waitpid(pid, &st, 0)
        }
    }

    static func spawnHolder(port: Int) -> Holder {
        let pid = Shell.start(["/usr/bin/python3", "-c", """
            import socket, time
            s = socket.socket(); s.bind(("127.0.0.1", \(port))); s.listen(); print("ready", flush=True); time.sleep(600)
            """], env: ["PATH": "/usr/bin:/bin"], output: "/dev/null") ?? -1
        // Until the port is taken.
        _ = Host.waitUntil(10) { Shell.run(["/usr/bin/python3", "-c", "import socket; s=socket.socket(); s.connect(('127.0.0.1', \(port)))"]).status == 0 }
        return Holder(pid: pid)
    }
}
