import Foundation
import Testing

/// `linux.devices` and `org.voidoci.dev=minimal`. As root, voidoci makes each node with mknod in
/// a tmpfs of its own that is never attached anywhere (type, numbers, fileMode, uid and gid as
/// runc makes them) and binds it in; an unprivileged voidoci cannot mknod and binds the host's
/// node, as runc rootless does.
@Suite(.serialized) struct DeviceTests {
    /// `stat` of each path as `MODE TYPE MAJOR:MINOR UID:GID` (busybox: numbers in hex).
    static func statScript(_ paths: [String]) -> String {
        "for p in \(paths.joined(separator: " ")); do stat -c '%a %F %t:%T %u:%g' $p; done"
    }

    @Test func rootMakesEachNodeWithItsModeAndOwner() throws {
        try #require(Env.isRoot)
        #expect(!FileManager.default.fileExists(atPath: "/dev/voidoci-test-null"), "the host has no such node")
        let before = hostMounts()
        let script = Self.statScript(["/dev/net/tun", "/dev/voidoci-test-null", "/dev/fifo", "/dev/owned"])
            + "; echo x > /dev/voidoci-test-null && echo null-ok; echo /proc/self/fd/*"
        let b = VoidCheck.busybox(script, as: .root)
        defer { b.close() }
        b.grantProc()
        b.setUser("additionalGids", nil)
        b.setLinux("uidMappings", [["containerID": 0, "hostID": 65534, "size": 1], ["containerID": 1000, "hostID": 200000, "size": 10]])
        b.setLinux("gidMappings", [["containerID": 0, "hostID": 65534, "size": 1], ["containerID": 1000, "hostID": 200000, "size": 10]])
        b.setLinux("namespaces", [["type": "pid"], ["type": "mount"], ["type": "ipc"], ["type": "uts"], ["type": "network"], ["type": "user"]])
        b.setLinux("devices", [
            ["path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 0o640, "uid": 0, "gid": 0],
            // Not on the host; no fileMode, uid, gid: runc's 0666, root.
            ["path": "/dev/voidoci-test-null", "type": "c", "major": 1, "minor": 3],
            ["path": "/dev/fifo", "type": "p", "fileMode": 0o600],
            // runc keeps only the permission bits of fileMode (Go's os.Chmod): 0604.
            ["path": "/dev/owned", "type": "u", "major": 1, "minor": 5, "fileMode": 0o2604, "uid": 1003, "gid": 1005],
        ] as [[String: Any]])
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        #expect(VoidCheck.lines(r.stdout) == [
            "640 character special file a:c8 0:0",
            "666 character special file 1:3 0:0",
            "600 fifo 0:0 0:0",
            "604 character special file 1:5 1003:1005",
            "null-ok",
            // stdio and the glob's own directory fd: no fd of voidoci's node tmpfs.
            "/proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2 /proc/self/fd/3",
        ], "\(r)")
        #expect(hostMounts() == before, "the node tmpfs never appears in the host's mount table")
        #expect(!FileManager.default.fileExists(atPath: "/dev/voidoci-test-null"))
    }

    @Test func rootDevMinimalIsMadeWithMknodOwnedByTheVoidsRoot() throws {
        try #require(Env.isRoot)
        let b = VoidCheck.busybox(Self.statScript(["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]), as: .root)
        defer { b.close() }
        b.annotate(["org.voidoci.dev": "minimal"])
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        #expect(VoidCheck.lines(r.stdout) == [
            "666 character special file 1:3 0:0", "666 character special file 1:5 0:0", "666 character special file 1:7 0:0",
            "666 character special file 1:8 0:0", "666 character special file 1:9 0:0", "666 character special file 5:0 0:0",
        ], "runc's default devices: 0666, owned by the void's root: \(r)")
    }

    @Test func unmappedOwnerIsAnErrorNamingIt() throws {
        try #require(Env.isRoot)
        let before = hostMounts()
        for (key, value) in [("uid", 1234), ("gid", 4321)] {
            let b = VoidCheck.busybox("true", as: .root)
            defer { b.close() }
            b.setLinux("devices", [["path": "/dev/x", "type": "c", "major": 1, "minor": 3, key: value]] as [[String: Any]])
            let r = b.run()
            #expect(r.status != 0, "\(r)")
            #expect(r.stderr.contains("linux.devices[0].\(key)") && r.stderr.contains("\(value)"), "\(r)")
            #expect(b.stateEntries().isEmpty, "\(b.stateEntries())")
        }
        #expect(hostMounts() == before)
    }

    /// Unprivileged, the host's node is bound (its own mode; it must exist with those numbers).
    @Test func rootlessBindsTheHostNode() throws {
        try #require(Env.hasTestUser)
        let b = VoidCheck.busybox(Self.statScript(["/dev/net/tun"]), as: .user)
        defer { b.close() }
        b.setLinux("devices", [["path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 0o640]] as [[String: Any]])
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        var st = stat()
        try #require(stat("/dev/net/tun", &st) == 0)
        #expect(r.stdout.hasPrefix(String(st.st_mode & 0o7777, radix: 8) + " character special file a:c8"), "the host node's own mode: \(r)")

        let missing = VoidCheck.busybox("true", as: .user)
        defer { missing.close() }
        missing.setLinux("devices", [["path": "/dev/voidoci-test-null", "type": "c", "major": 1, "minor": 3]] as [[String: Any]])
        let r2 = missing.run()
        #expect(r2.status != 0 && r2.stderr.contains("linux.devices[0]"), "\(r2)")
        #expect(missing.stateEntries().isEmpty)
    }
}
