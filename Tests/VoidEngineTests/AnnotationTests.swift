import Testing
@testable import VoidEngine

/// The annotation table of docs/void.md: every key, good and bad values, and the error names the key.
@Suite struct AnnotationTests {
    static func grants(_ annotations: [String: String]) throws -> VoidGrants { try VoidGrants(annotations: annotations) }

    static func expectBad(_ key: String, _ value: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let g = try grants([key: value])
            Issue.record("\(key)=\(value) accepted: \(g)", sourceLocation: sourceLocation)
        } catch {
            let text = String(describing: error)
            #expect(text.contains(key), "error \"\(text)\" does not name \(key)", sourceLocation: sourceLocation)
        }
    }

    @Test func defaults() throws {
        let g = try Self.grants([:])
        #expect(g == VoidGrants())
        #expect(g.rootfs == .none)
        #expect(g.expose.isEmpty)
        #expect(g.mounts.isEmpty)
        #expect(g.dev == .none)
        #expect(g.listen.isEmpty)
        #expect(g.rootID == nil)
    }

    @Test(arguments: [("none", VoidGrants.RootfsMode.none), ("ro", .ro), ("rw", .rw)])
    func rootfsGood(_ value: String, _ mode: VoidGrants.RootfsMode) throws {
        #expect(try Self.grants(["org.voidoci.rootfs": value]).rootfs == mode)
    }

    @Test(arguments: ["", "RO", "readonly", "yes", " ro", "ro,rw"])
    func rootfsBad(_ value: String) { Self.expectBad("org.voidoci.rootfs", value) }

    @Test func exposeGood() throws {
        #expect(try Self.grants(["org.voidoci.expose": "/etc/ssl/certs,/usr/share/zoneinfo"]).expose
            == ["/etc/ssl/certs", "/usr/share/zoneinfo"])
        #expect(try Self.grants(["org.voidoci.expose": "/etc/passwd"]).expose == ["/etc/passwd"])
        #expect(try Self.grants(["org.voidoci.expose": "/etc/ssl/certs;/usr/share/zoneinfo"]).expose
            == ["/etc/ssl/certs", "/usr/share/zoneinfo"])
        #expect(try Self.grants(["org.voidoci.mounts": "proc;tmpfs"]).mounts == ["proc", "tmpfs"])
        // Spaces around items and empty items are ignored.
        #expect(try Self.grants(["org.voidoci.expose": " /a , ,/b,, "]).expose == ["/a", "/b"])
        #expect(try Self.grants(["org.voidoci.expose": ""]).expose == [])
        #expect(try Self.grants(["org.voidoci.expose": " , "]).expose == [])
        // A path component that merely contains dots is fine.
        #expect(try Self.grants(["org.voidoci.expose": "/etc/..d/x,/a.../b"]).expose == ["/etc/..d/x", "/a.../b"])
    }

    @Test(arguments: ["etc/passwd", "/etc/passwd,relative", "/etc/../root", "/..", "./x", "~/x"])
    func exposeBad(_ value: String) { Self.expectBad("org.voidoci.expose", value) }

    @Test func mountsGood() throws {
        #expect(try Self.grants(["org.voidoci.mounts": "proc"]).mounts == ["proc"])
        #expect(try Self.grants(["org.voidoci.mounts": "proc, sysfs,,tmpfs , "]).mounts == ["proc", "sysfs", "tmpfs"])
        let all = "proc,sysfs,tmpfs,devpts,mqueue,shm,cgroup"
        #expect(try Self.grants(["org.voidoci.mounts": all]).mounts == Set(VoidGrants.kernelFilesystems))
        #expect(try Self.grants(["org.voidoci.mounts": "proc,proc"]).mounts == ["proc"])
        #expect(try Self.grants(["org.voidoci.mounts": ""]).mounts == [])
    }

    @Test(arguments: ["nfs", "PROC", "proc,bind", "overlay"])
    func mountsBad(_ value: String) { Self.expectBad("org.voidoci.mounts", value) }

    @Test func devGood() throws {
        #expect(try Self.grants(["org.voidoci.dev": "none"]).dev == .none)
        #expect(try Self.grants(["org.voidoci.dev": "minimal"]).dev == .minimal)
    }

    @Test(arguments: ["", "full", "Minimal", "all"])
    func devBad(_ value: String) { Self.expectBad("org.voidoci.dev", value) }

    @Test func listenGood() throws {
        let g = try Self.grants(["org.voidoci.listen": "tcp:127.0.0.1:8080; udp:0.0.0.0:53;web=tcp:[::1]:443;unix:/run/x.sock"])
        #expect(g.listen.map(\.entry) == ["tcp:127.0.0.1:8080", "udp:0.0.0.0:53", "tcp:[::1]:443", "unix:/run/x.sock"])
        #expect(g.listen.map(\.name) == ["tcp-127.0.0.1-8080", "udp-0.0.0.0-53", "web", "unix-/run/x.sock"])
        #expect(g.listen.map(\.address) == [.inet("127.0.0.1", port: 8080), .inet("0.0.0.0", port: 53), .inet6("::1", port: 443), .unix("/run/x.sock")])
        #expect(g.listen.map(\.transport) == [.tcp, .udp, .tcp, .unix])
        // The same address over tcp and udp is two sockets.
        #expect(try Self.grants(["org.voidoci.listen": "tcp:127.0.0.1:53;udp:127.0.0.1:53"]).listen.count == 2)
    }

    @Test func openGood() throws {
        let g = try Self.grants(["org.voidoci.open": "r:/a b;w:/c,a:/d;rw:/e"])
        #expect(g.open == [OpenFile(mode: .r, path: "/a b"), OpenFile(mode: .w, path: "/c"), OpenFile(mode: .a, path: "/d"), OpenFile(mode: .rw, path: "/e")])
        #expect(g.open.map(\.entry) == ["r:/a b", "w:/c", "a:/d", "rw:/e"])
    }

    @Test(arguments: ["x:/a", "/a", "r:a", "r:", "R:/a", "r:/a/../b", "r:/a;w:/a", "w:/a\u{7f}"])
    func openBad(_ value: String) { Self.expectBad("org.voidoci.open", value) }

    @Test func acceptGood() throws {
        let g = try Self.grants(["org.voidoci.listen": "unix:/run/a.sock", "org.voidoci.accept": "fd", "org.voidoci.accept-max": "3"])
        #expect(g.accept == .fd && g.acceptMax == 3)
        #expect(try Self.grants(["org.voidoci.listen": "tcp:127.0.0.1:7", "org.voidoci.accept": "stdio"]).acceptMax == nil)
    }

    @Test(arguments: [["org.voidoci.accept": "stdio"], ["org.voidoci.accept": "fd", "org.voidoci.listen": "udp:127.0.0.1:7"],
                      ["org.voidoci.accept": "fd", "org.voidoci.listen": "tcp:127.0.0.1:7;tcp:127.0.0.1:8"],
                      ["org.voidoci.accept": "Stdio", "org.voidoci.listen": "tcp:127.0.0.1:7"],
                      ["org.voidoci.accept-max": "2", "org.voidoci.listen": "tcp:127.0.0.1:7"],
                      ["org.voidoci.accept": "fd", "org.voidoci.accept-max": "65537", "org.voidoci.listen": "tcp:127.0.0.1:7"],
                      ["org.voidoci.accept": "fd", "org.voidoci.accept-max": "-1", "org.voidoci.listen": "tcp:127.0.0.1:7"]])
    func acceptBad(_ a: [String: String]) {
        #expect(throws: (any Error).self, "\(a)") { try Self.grants(a) }
        do { _ = try Self.grants(a) } catch { #expect("\(error)".contains("org.voidoci.accept"), "\(error)") }
    }

    @Test(arguments: ["bogus", "tcp", "tcp:127.0.0.1", "tcp:127.0.0.1:0", "tcp:127.0.0.1:65536", "tcp:127.0.0.1:-1",
                      "tcp:1.2.3:80", "tcp:::1:80", "tcp:[::1]80", "tcp:[nope]:80", "udp:localhost:53", "sctp:1.2.3.4:5",
                      "unix:x.sock", "unix:/a/../b", "unix:/a\nb", "unix:/" + String(repeating: "y", count: 107),
                      "tcp:127.0.0.1:80;tcp:127.0.0.1:80", "a=unix:/x;b=unix:/x", "=tcp:127.0.0.1:80", "a\u{1}b=tcp:127.0.0.1:80"])
    func listenBad(_ value: String) { Self.expectBad("org.voidoci.listen", value) }

    @Test func rootIDGood() throws {
        let both = try #require(try Self.grants(["org.voidoci.root-id": "1234:5678"]).rootID)
        #expect(both.uid == 1234 && both.gid == 5678)
        let one = try #require(try Self.grants(["org.voidoci.root-id": "100000"]).rootID)
        #expect(one.uid == 100000 && one.gid == 100000)
        let max = try #require(try Self.grants(["org.voidoci.root-id": "4294967295:1"]).rootID)
        #expect(max.uid == 4294967295 && max.gid == 1)
    }

    @Test(arguments: ["", "0", "0:5678", "1234:0", "abc", "1:2:3", "1234:", ":5678", "-1", " 1234", "4294967296", "12 34", "0x10"])
    func rootIDBad(_ value: String) { Self.expectBad("org.voidoci.root-id", value) }

    @Test(arguments: ["org.voidoci.rootfss", "org.voidoci.Rootfs", "org.voidoci.", "org.voidoci.expose.extra", "org.voidoci.unknown"])
    func unknownVoidociKey(_ key: String) { Self.expectBad(key, "x") }

    @Test func otherAnnotationsAreIgnored() throws {
        let g = try Self.grants([
            "io.podman.annotations.autoremove": "TRUE",
            "org.opencontainers.image.ref.name": "x",
            "org.voidocix.rootfs": "bogus",
            "org.voidoci": "bogus",
            "run.oci.keep_original_groups": "1",
        ])
        #expect(g == VoidGrants())
    }

    @Test func severalGrantsTogether() throws {
        let g = try Self.grants([
            "org.voidoci.rootfs": "ro", "org.voidoci.expose": "/etc/passwd", "org.voidoci.mounts": "proc",
            "org.voidoci.dev": "minimal", "org.voidoci.root-id": "7:8", "com.example": "y",
        ])
        #expect(g.rootfs == .ro)
        #expect(g.expose == ["/etc/passwd"])
        #expect(g.mounts == ["proc"])
        #expect(g.dev == .minimal)
        #expect(g.rootID?.uid == 7 && g.rootID?.gid == 8)
    }

    @Test func listParsing() {
        #expect(VoidGrants.list("a,b") == ["a", "b"])
        #expect(VoidGrants.list(" a , b ") == ["a", "b"])
        #expect(VoidGrants.list(",,a,,b,,") == ["a", "b"])
        #expect(VoidGrants.list("  ,  , ") == [])
        #expect(VoidGrants.list("") == [])
        // `;` too: the separator podman's --annotation passes unchanged.
        #expect(VoidGrants.list("a;b") == ["a", "b"])
        #expect(VoidGrants.list("a; b,c;;") == ["a", "b", "c"])
        #expect(VoidGrants.list("a b,c") == ["a b", "c"])
    }
}
