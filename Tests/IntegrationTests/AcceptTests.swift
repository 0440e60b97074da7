import Foundation
import Testing

/// `org.voidoci.accept` (docs/void.md, Sockets): a supervisor outside the void holds the listening
/// socket and starts a fresh void from the same plan for each connection.
@Suite(.serialized, HostClean()) struct AcceptTests {
    /// A busybox bundle serving `script` per connection over tcp on a free port.
    static func bundle(_ script: String, mode: String = "stdio", max: Int? = nil, as who: As) -> (TestBundle, Int) {
        let port = ListenTests.freePort()
        let b = VoidCheck.busybox(script, as: who)
        var ann = ["org.voidoci.listen": "tcp:127.0.0.1:\(port)", "org.voidoci.accept": mode]
        if let max { ann["org.voidoci.accept-max"] = String(max) }
        b.annotate(ann)
        return (b, port)
    }

    /// Sends `line`, half-closes, and reads until EOF (at most `wait` seconds).
    static func talk(_ port: Int, _ line: String, wait: Double = 10) -> Result {
        Shell.run(["/usr/bin/python3", "-c", """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=float(sys.argv[3]))
            s.sendall(sys.argv[2].encode()); s.shutdown(socket.SHUT_WR)
            out = b""
            try:
                while True:
                    c = s.recv(4096)
                    if not c: break
                    out += c
            except socket.timeout:
                print("TIMEOUT", file=sys.stderr); sys.exit(3)
            print(out.decode(), end="")
            """, String(port), line, String(wait)], timeout: wait + 20)
    }

    /// Connects, waits for the void's "up", runs `argv` (a voidoci command) and returns what the
    /// connection then reads until EOF.
    static func duringConnection(_ port: Int, _ argv: [String]) -> Result {
        Shell.run(["/usr/bin/python3", "-c", """
            import socket, subprocess, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
            assert s.recv(100) == b"up\\n"
            k = subprocess.run(sys.argv[2:], capture_output=True)
            assert k.returncode == 0, k
            out = b""
            while True:
                c = s.recv(100)
                if not c: break
                out += c
            print(out.decode(), end="")
            """, String(port)] + argv, timeout: 30)
    }

    func createAndStart(_ b: TestBundle, _ id: String) throws {
        let c = b.voidoci(["create", "--bundle", b.dir, id])
        try #require(c.status == 0, "\(c)")
        let s = b.voidoci(["start", id])
        try #require(s.status == 0, "\(s)")
    }

    /// Each connection gets its own void: pid 1, a fresh tmpfs, the connection as stdin/stdout.
    /// What one connection's void writes, the next one does not see.
    @Test(arguments: As.allCases)
    func aFreshVoidPerConnection(who: As) throws {
        try Env.requireUser(who)
        let (b, port) = Self.bundle("echo pid $$; ls /tmp; touch /tmp/left-by-$RANDOM; cat", as: who)
        defer { b.close() }
        b.annotate(["org.voidoci.mounts": "tmpfs"])
        b.addMount(["destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]])
        let id = "a\(UUID().uuidString.prefix(6))"
        try createAndStart(b, id)
        defer { b.voidoci(["delete", "--force", id]) }
        for n in 1...3 {
            let r = Self.talk(port, "line \(n)\n")
            #expect(r.stdout == "pid 1\nline \(n)\n", "connection \(n): \(r)")
        }
        let st = b.voidoci(["state", id])
        #expect(st.stdout.contains("\"running\""), "the supervisor lives on: \(st)")
    }

    /// accept=fd: the connection is fd 3 with LISTEN_FDS=1 and LISTEN_FDNAMES=connection.
    @Test func theConnectionAsFD3() throws {
        let port = ListenTests.freePort()
        let b = TestBundle(rootfs: ListenTests.rootfs, args: ["/activated-echo", "1"])
        defer { b.close() }
        b.edit { $0["annotations"] = ["org.voidoci.listen": "tcp:127.0.0.1:\(port)", "org.voidoci.accept": "fd"] }
        let id = "a\(UUID().uuidString.prefix(6))"
        try createAndStart(b, id)
        defer { b.voidoci(["delete", "--force", id]) }
        for n in 1...2 {
            let r = Self.talk(port, "fd \(n)\n")
            #expect(r.stdout == "connection fds=1 pid=1: fd \(n)\n", "\(r)")
        }
    }

    /// accept-max=1: a second client waits in the backlog until the first one's void is gone.
    @Test func acceptMaxHoldsTheRestInTheBacklog() throws {
        let (b, port) = Self.bundle("cat", max: 1, as: .root)
        defer { b.close() }
        let id = "a\(UUID().uuidString.prefix(6))"
        try createAndStart(b, id)
        defer { b.voidoci(["delete", "--force", id]) }
        let r = Shell.run(["/usr/bin/python3", "-c", """
            import socket, sys, time
            port = int(sys.argv[1])
            first = socket.create_connection(("127.0.0.1", port))
            first.sendall(b"first\\n")
            assert first.recv(100) == b"first\\n"          # its void runs
            second = socket.create_connection(("127.0.0.1", port), timeout=1)
            second.sendall(b"second\\n"); second.shutdown(socket.SHUT_WR)
            try:
                second.recv(100); print("second served while the first was open"); sys.exit(1)
            except socket.timeout:
                pass
            first.close()
            second.settimeout(10)
            print(second.recv(100).decode(), end="")
            """, String(port)], timeout: 30)
        #expect(r.status == 0 && r.stdout == "second\n", "\(r)")
    }

    /// kill passes the signal on to every live void; a terminating one also ends the supervisor,
    /// which dies of it once its voids are gone. delete then leaves nothing (HostClean).
    @Test(arguments: As.allCases)
    func killReachesEveryLiveVoid(who: As) throws {
        try Env.requireUser(who)
        let (b, port) = Self.bundle("trap 'echo got TERM; exit 7' TERM; echo up; while :; do sleep 0.1; done", as: who)
        defer { b.close() }
        let id = "a\(UUID().uuidString.prefix(6))"
        try createAndStart(b, id)
        defer { b.voidoci(["delete", "--force", id]) }
        let client = Self.duringConnection(port, b.voidociArgv(["kill", id, "TERM"]))
        #expect(client.stdout == "got TERM\n", "\(client)")
        #expect(Host.waitUntil(10) { b.voidoci(["state", id]).stdout.contains("\"stopped\"") }, "\(b.voidoci(["state", id]))")
        #expect(b.voidoci(["delete", id]).status == 0)
        #expect(Host.entries(b.stateRoot).isEmpty)
    }

    /// delete --force in mid-connection: the supervisor is killed, its voids die with it, and
    /// nothing is left (processes, cgroups, mounts: HostClean; state: below).
    @Test(arguments: As.allCases)
    func deleteForceInMidConnectionLeavesNothing(who: As) throws {
        try Env.requireUser(who)
        let (b, port) = Self.bundle("echo up; exec sleep 1000", as: who)
        defer { b.close() }
        let id = "a\(UUID().uuidString.prefix(6))"
        try createAndStart(b, id)
        let r = Self.duringConnection(port, b.voidociArgv(["delete", "--force", id]))
        #expect(r.status == 0 && r.stdout == "", "EOF at once: the void is gone: \(r)")
        #expect(Host.waitUntil(5) { Host.processes(mentioning: ["sleep 1000"]).isEmpty }, "\(Host.processes(mentioning: ["sleep 1000"]))")
        #expect(Host.entries(b.stateRoot).isEmpty)
    }

    /// The config's limits hold all of the container's voids together: the supervisor is
    /// forked into the container's cgroups, and each connection's void is cloned into them.
    @Test func theVoidsShareTheContainersCgroups() throws {
        let (b, port) = Self.bundle("echo up; exec sleep 1000", as: .root)
        defer { b.close() }
        let id = "a\(UUID().uuidString.prefix(6))"
        try createAndStart(b, id)
        defer { b.voidoci(["delete", "--force", id]) }
        let st = b.voidoci(["state", id]).stdout
        let sup = try #require(st.split(separator: "\"pid\": ").last.flatMap { Int32($0.prefix { $0.isNumber }) })
        let r = Shell.run(["/usr/bin/python3", "-c", """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
            assert s.recv(100) == b"up\\n"
            kids = open(f"/proc/{sys.argv[2]}/task/{sys.argv[2]}/children").read().split()
            assert len(kids) == 1, kids
            print(open(f"/proc/{sys.argv[2]}/cgroup").read() == open(f"/proc/{kids[0]}/cgroup").read())
            print(f"/voidoci/{sys.argv[3]}" in open(f"/proc/{kids[0]}/cgroup").read())
            """, String(port), String(sup), id], timeout: 30)
        #expect(r.stdout == "True\nTrue\n", "\(r)")
    }

    /// exec would join the supervisor's namespaces, which are the caller's: refused.
    @Test func execIsRefused() throws {
        let (b, _) = Self.bundle("cat", as: .root)
        defer { b.close() }
        let id = "a\(UUID().uuidString.prefix(6))"
        try createAndStart(b, id)
        defer { b.voidoci(["delete", "--force", id]) }
        let r = b.voidoci(["exec", id, "/bin/true"])
        #expect(r.status != 0 && r.stderr.contains("org.voidoci.accept=stdio"), "\(r)")
    }

    /// Each refused at create, naming the annotation, leaving nothing.
    @Test func badCombinationsAreRefused() throws {
        let cases: [([String: String], String)] = [
            (["org.voidoci.accept": "stdio"], "needs exactly one stream socket"),
            (["org.voidoci.accept": "fd", "org.voidoci.listen": "udp:127.0.0.1:9"], "needs exactly one stream socket"),
            (["org.voidoci.accept": "fd", "org.voidoci.listen": "tcp:127.0.0.1:9;tcp:127.0.0.1:10"], "needs exactly one stream socket"),
            (["org.voidoci.accept": "inetd", "org.voidoci.listen": "tcp:127.0.0.1:9"], "expected stdio or fd"),
            (["org.voidoci.accept-max": "4", "org.voidoci.listen": "tcp:127.0.0.1:9"], "needs org.voidoci.accept"),
            (["org.voidoci.accept": "fd", "org.voidoci.accept-max": "0", "org.voidoci.listen": "tcp:127.0.0.1:9"], "1-65536"),
            (["org.voidoci.accept": "fd", "org.voidoci.accept-max": "many", "org.voidoci.listen": "tcp:127.0.0.1:9"], "1-65536"),
        ]
        for (ann, why) in cases {
            let b = VoidCheck.busybox("cat", as: .root)
            defer { b.close() }
            b.edit { $0["annotations"] = ann }
            let r = b.voidoci(["create", "--bundle", b.dir, "a\(UUID().uuidString.prefix(6))"])
            #expect(r.status != 0 && r.stderr.contains("org.voidoci.accept") && r.stderr.contains(why), "\(ann): \(r)")
            #expect(Host.entries(b.stateRoot).isEmpty)
        }
        // A joined namespace would be joined by the supervisor itself; hooks have no one void.
        let joined = Self.bundle("cat", as: .root).0
        defer { joined.close() }
        joined.edit { c in
            var linux = c["linux"] as? [String: Any] ?? [:]
            linux["namespaces"] = [["type": "pid"], ["type": "mount"], ["type": "network", "path": "/proc/1/ns/net"]]
            c["linux"] = linux
        }
        let j = joined.voidoci(["create", "--bundle", joined.dir, "a\(UUID().uuidString.prefix(6))"])
        #expect(j.status != 0 && j.stderr.contains("linux.namespaces[2].path: a joined network namespace is not supported with org.voidoci.accept"), "\(j)")
        #expect(Host.entries(joined.stateRoot).isEmpty)
        let hooked = Self.bundle("cat", as: .root).0
        defer { hooked.close() }
        hooked.edit { $0["hooks"] = ["poststart": [["path": "/bin/true"]]] }
        let h = hooked.voidoci(["create", "--bundle", hooked.dir, "a\(UUID().uuidString.prefix(6))"])
        #expect(h.status != 0 && h.stderr.contains("hooks are not supported with org.voidoci.accept"), "\(h)")
        #expect(Host.entries(hooked.stateRoot).isEmpty)
        let (b, port) = Self.bundle("cat", as: .root)
        defer { b.close() }
        let r = Shell.run(["/bin/bash", "-c", "exec 3</dev/null; exec \"$@\"", "bash", Env.bin, "--root", b.stateRoot,
                           "create", "--preserve-fds", "1", "--bundle", b.dir, "a\(UUID().uuidString.prefix(6))"], env: ["PATH": "/usr/bin:/bin"])
        #expect(r.status != 0 && r.stderr.contains("--preserve-fds 1: not with org.voidoci.accept"), "\(r)")
        #expect(Host.entries(b.stateRoot).isEmpty)
        // The port is free again.
        #expect(Shell.run(["/usr/bin/python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1', \(port)))"]).status == 0)
    }

    /// Through podman and conmon, rootful and rootless, with `--network none`.
    @Test(arguments: As.allCases)
    func podmanServesEachConnectionInAFreshVoid(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let port = ListenTests.freePort()
        let name = p.name("accept")
        let r = p.call(["run", "-d", "--name", name, "--network", "none",
                        "--annotation", "org.voidoci.listen=tcp:127.0.0.1:\(port)", "--annotation", "org.voidoci.accept=stdio",
                        "--annotation", "org.voidoci.expose=/bin", img, "/bin/sh", "-c", "echo pid $$; cat"])
        try #require(r.status == 0, "podman run -d: \(r)")
        for n in 1...2 {
            let t = Self.talk(port, "via podman \(n)\n")
            #expect(t.stdout == "pid 1\nvia podman \(n)\n", "\(t)")
        }
        let stop = p("stop", "-t", "5", name, timeout: 30)
        #expect(stop.status == 0, "\(stop)")
        #expect(p.inspect(name, "{{.State.Status}} {{.State.ExitCode}}") == "exited 143", "\(p.inspect(name, "{{.State.Status}} {{.State.ExitCode}}"))")
    }
}
