import Foundation
import Testing

/// The void-process work's sample apps, as the bundles under bundles/ (scripts/make-bundles.sh
/// builds their rootfs), run as their READMEs say.
@Suite(.serialized, HostClean()) struct SampleAppsTests {
    static func bundle(_ name: String) throws -> String {
        let dir = "\(Env.repo)/bundles/\(name)"
        try prerequisite(Env.isRoot, "the sample bundles' READMEs run voidoci as root")
        try prerequisite(Host.exists("\(dir)/rootfs"), "bundles/\(name)/rootfs is built by scripts/make-bundles.sh")
        return dir
    }

    /// F(0)..F(30), one per line, from a void granted nothing: its only mount is the program.
    @Test func fib() throws {
        let dir = try Self.bundle("fib")
        let state = "/tmp/voidoci-test-\(getpid())-fib"
        defer { _ = Shell.run(["rm", "-rf", state]) }
        var want: [String] = []
        var (a, b) = (0, 1)
        for _ in 0...30 { want.append(String(a)); (a, b) = (b, a + b) }
        let r = Shell.run([Env.bin, "--root", state, "run", "--bundle", dir, "fib-\(UUID().uuidString.prefix(6))"])
        #expect(r.status == 0 && r.stdout.split(separator: "\n").map(String.init) == want, "\(r)")
        let e = Shell.run([Env.bin, "explain", "--format", "json", dir])
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as? [String: Any], "\(e)")
        let mounts = try #require(plan["mounts"] as? [[String: Any]])
        #expect(mounts.map { $0["destination"] as? String } == ["/fib"], "nothing granted but the program: \(mounts)")
    }

    /// The echo broker: a void per connection on 127.0.0.1:7007, each line echoed back.
    @Test func echo() throws {
        let dir = try Self.bundle("echo")
        let state = "/tmp/voidoci-test-\(getpid())-echo"
        let out = "\(state).out"
        defer { _ = Shell.run(["rm", "-rf", state, out]) }
        let id = "echo-\(UUID().uuidString.prefix(6))"
        let pid = try #require(Shell.start([Env.bin, "--root", state, "run", "--bundle", dir, id],
                                           env: ["PATH": "/usr/bin:/bin"], output: out))
        var stopped = false
        defer {
            if !stopped { kill(pid, SIGKILL); _ = Shell.waitExit(pid, until: Date() + 10) }
            _ = Shell.run([Env.bin, "--root", state, "delete", "--force", id])
        }
        let r = Shell.run(["/usr/bin/python3", "-c", """
            import socket, time
            for attempt in range(200):
                try:
                    socket.create_connection(("127.0.0.1", 7007), timeout=1).close(); break
                except OSError:
                    time.sleep(0.05)
            for n in range(3):
                s = socket.create_connection(("127.0.0.1", 7007), timeout=10)
                f = s.makefile("rwb")
                for line in (f"hello {n}\\n", f"again {n}\\n"):
                    f.write(line.encode()); f.flush()
                    print(f.readline().decode(), end="")
                s.close()
            """], timeout: 60)
        #expect(r.stdout == "hello 0\nagain 0\nhello 1\nagain 1\nhello 2\nagain 2\n", "\(r)")
        kill(pid, SIGTERM)
        let status = Shell.waitExit(pid, until: Date() + 20)
        stopped = status != nil
        #expect(status == 128 + SIGTERM, "run ends as its supervisor does, of the TERM passed to it: \(String(describing: status)); \(Host.read(out) ?? "")")
        #expect(Host.entries(state).isEmpty, "\(Host.entries(state))")
    }
}
