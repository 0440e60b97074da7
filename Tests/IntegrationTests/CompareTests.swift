import Foundation
import Testing

/// `voidoci compare` (docs/compare.md): bundles/hello under runc, crun and voidoci, observed by
/// the probe; the facts that must hold of the void's column, the causes, and the flags.
@Suite(.serialized, HostClean()) struct CompareTests {
    struct Report: Decodable {
        struct Runtime: Decodable { var name: String; var error: String?; var exit: Int? }
        struct Row: Decodable { var key: String; var values: [String]; var cause: String? }
        var runtimes: [Runtime]
        var rows: [Row]
        var moreThanGranted: [String]
        var leakyGrants: [String]
        func value(_ key: String, _ runtime: Int) -> String? { rows.first { $0.key == key }?.values[runtime] }
        func cause(_ key: String) -> String? { rows.first { $0.key == key }?.cause }
    }

    static func compare(_ bundle: String, _ extra: [String] = []) -> (Result, Report?) {
        let r = Shell.run([Env.bin, "compare", "--format", "json"] + extra + [bundle], timeout: 120)
        return (r, try? JSONDecoder().decode(Report.self, from: Data(r.stdout.utf8)))
    }

    @Test func helloUnderRuncCrunAndVoidoci() throws {
        let (r, parsed) = Self.compare("\(Env.repo)/bundles/hello")
        let rep = try #require(parsed, "\(r)")
        #expect(r.status == 0, "\(r)")
        #expect(rep.runtimes.map { $0.name.split(separator: "/").last.map(String.init) ?? "" } == ["runc", "crun", "voidoci"])
        for rt in rep.runtimes { #expect(rt.error == nil && rt.exit == 0, "\(rt)") }
        let v = 2
        // The void: no sensitive path, only lo, no device, a handful of files (the program and
        // its libraries: what explain lists), every namespace new.
        for row in rep.rows where row.key.hasPrefix("sensitive.") {
            #expect(!row.values[v].hasPrefix("readable"), "\(row)")
        }
        #expect(rep.value("network.interfaces", v) == "lo")
        #expect(rep.value("devices.count", v) == "0")
        let files = Int(rep.value("files.count", v) ?? "") ?? -1
        let runcFiles = Int(rep.value("files.count", 0) ?? "") ?? -1
        #expect(files > 0 && files < runcFiles, "void \(files), runc \(runcFiles)")
        for k in ["user", "mnt", "pid", "net", "ipc", "uts"] { #expect(rep.value("namespaces.\(k)", v) == "new", "\(k)") }
        #expect(rep.value("namespaces.user", 0) == "host's")
        // Each difference names its cause.
        #expect(rep.cause("files.count")?.hasPrefix("void default: empty tmpfs root") == true)
        #expect(rep.cause("devices.count") == "void default: no /dev nodes")
        #expect(rep.cause("namespaces.user")?.hasPrefix("void default: every namespace new") == true)
        #expect(rep.moreThanGranted.isEmpty && rep.leakyGrants.isEmpty)
        // The text fits 100 columns.
        let t = Shell.run([Env.bin, "compare", "\(Env.repo)/bundles/hello"], timeout: 120)
        #expect(t.status == 0 && t.stdout.split(separator: "\n").allSatisfy { $0.count <= 100 }, "\(t)")
    }

    /// A grant that binds a sensitive file is flagged (exit status 3), naming the grant.
    @Test func aLeakyGrantIsFlagged() throws {
        let dir = "/tmp/voidoci-test-\(getpid())-leaky"
        defer { _ = Shell.run(["rm", "-rf", dir]) }
        _ = Shell.run(["mkdir", "-p", "\(dir)/rootfs/etc", "\(dir)/rootfs/bin"])
        _ = Shell.run(["cp", "/bin/busybox", "\(dir)/rootfs/bin/sh"])
        FileManager.default.createFile(atPath: "\(dir)/rootfs/etc/shadow", contents: Data("root:x:1::::::\n".utf8))
        let config = """
            {"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["/bin/sh","-c","true"],"cwd":"/",
             "env":["PATH=/bin"]},"root":{"path":"rootfs"},"annotations":{"org.voidoci.expose":"/etc/shadow"},
             "linux":{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"ipc"},{"type":"uts"},{"type":"network"}]}}
            """
        FileManager.default.createFile(atPath: "\(dir)/config.json", contents: Data(config.utf8))
        let (r, parsed) = Self.compare(dir, ["--runtimes", "crun,voidoci"])
        let rep = try #require(parsed, "\(r)")
        #expect(r.status == 3, "\(r)")
        #expect(rep.leakyGrants.contains { $0.contains("/etc/shadow") && $0.contains("org.voidoci.expose") }, "\(rep.leakyGrants)")
        #expect(rep.moreThanGranted.isEmpty)
    }

    /// A runtime that is not on PATH is said so; the others still run.
    @Test func aMissingRuntimeIsNamed() throws {
        let (r, parsed) = Self.compare("\(Env.repo)/bundles/hello", ["--runtimes", "no-such-runtime,voidoci"])
        let rep = try #require(parsed, "\(r)")
        #expect(r.status == 0 && rep.runtimes.first?.error == "no-such-runtime is not on PATH", "\(r)")
        #expect(rep.runtimes.last?.exit == 0)
    }

    /// `--image`: a podman image (the podman tests' busybox one), under the three runtimes.
    @Test func aPodmanImage() throws {
        let p = try Podman.open(.root)
        defer { p.close() }
        let img = try p.image(.busybox)
        let c = Shell.run([Env.bin, "compare", "--format", "json", "--image", img, "--", "/bin/sh", "-c", "true"], timeout: 120)
        let rep = try #require(try? JSONDecoder().decode(Report.self, from: Data(c.stdout.utf8)), "\(c)")
        #expect(c.status == 0, "\(c)")
        for rt in rep.runtimes { #expect(rt.error == nil && rt.exit == 0, "\(rt)") }
        #expect(rep.value("network.interfaces", 2) == "lo" && rep.value("devices.count", 2) == "0")
        for row in rep.rows where row.key.hasPrefix("sensitive.") { #expect(!row.values[2].hasPrefix("readable"), "\(row)") }
        let left = Shell.run(["/usr/bin/podman", "ps", "-a", "--format", "{{.Names}}"])
        #expect(!left.stdout.contains("voidoci-compare-"), "\(left)")
    }
}
