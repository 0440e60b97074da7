import Foundation
import Testing

/// `linux.sysctl`: validated as runc validates it (only sysctls of a namespace the void has of
/// its own), written into the void's namespaces (by its init, through a proc mount that is never
/// attached, so no /proc grant is needed), or, for a namespace joined by path, by voidoci in that
/// namespace before the clone.
@Suite(.serialized) struct SysctlTests {
    static let values: [String: String] = [
        "net.ipv4.ip_default_ttl": "42", "kernel.shmmni": "1000", "kernel.domainname": "example.org",
        "fs.mqueue.msg_max": "20", "net.ipv4.ping_group_range": "0 0",
    ]
    static let files = ["net/ipv4/ip_default_ttl", "kernel/shmmni", "kernel/domainname", "fs/mqueue/msg_max", "net/ipv4/ping_group_range"]

    @Test(arguments: As.allCases)
    func namespacedSysctlsAreWrittenInTheVoid(who: As) throws {
        try #require(who == .root || Env.hasTestUser)
        let host = Self.files.map { VoidCheck.readHost("/proc/sys/\($0)") }
        let b = VoidCheck.busybox(Self.files.map { "cat /proc/sys/\($0)" }.joined(separator: "; "), as: who)
        defer { b.close() }
        b.grantProc()
        b.setLinux("sysctl", Self.values)
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        #expect(VoidCheck.lines(r.stdout) == ["42", "1000", "example.org", "20", "0\t0"], "\(r)")
        #expect(Self.files.map { VoidCheck.readHost("/proc/sys/\($0)") } == host, "the host's values are unchanged")
    }

    /// No /proc is granted: the init writes through a proc mount of its own that it never attaches.
    @Test(arguments: As.allCases)
    func noProcGrantIsNeeded(who: As) throws {
        try #require(who == .root || Env.hasTestUser)
        let b = VoidCheck.busybox("[ -e /proc ] && echo proc || echo no-proc; hostname", as: who)
        defer { b.close() }
        b.setLinux("sysctl", ["net.ipv4.ip_default_ttl": "42", "kernel.domainname": "example.org"])
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        #expect(VoidCheck.lines(r.stdout) == ["no-proc", "void"], "\(r)")
    }

    @Test(arguments: As.allCases)
    func sysctlsOutsideTheVoidsNamespacesAreRefusedNamingThem(who: As) throws {
        try #require(who == .root || Env.hasTestUser)
        let before = hostMounts()
        let cases: [(String, String)] = [
            ("kernel.panic", "linux.sysctl[\"kernel.panic\"]"),
            ("vm.swappiness", "linux.sysctl[\"vm.swappiness\"]"),
            ("kernel.hostname", "linux.sysctl[\"kernel.hostname\"]"),
            ("net/ipv4/ip_forward", "linux.sysctl[\"net/ipv4/ip_forward\"]"),
            ("net.ipv4..ip_forward", "linux.sysctl[\"net.ipv4..ip_forward\"]"),
            ("net.ipv4.ip_forward\n", "linux.sysctl[\"net.ipv4.ip_forward\\n\"]"),
            ("net.", "linux.sysctl[\"net.\"]"),
        ]
        for (key, named) in cases {
            let b = VoidCheck.busybox("true", as: who)
            defer { b.close() }
            b.setLinux("sysctl", [key: "1"])
            let r = b.run()
            #expect(r.status != 0, "\(key.debugDescription): \(r)")
            #expect(r.stderr.contains(named), "\(key.debugDescription) named: \(r)")
            #expect(b.stateEntries().isEmpty, "\(b.stateEntries())")
        }
        #expect(hostMounts() == before)
    }

    /// ping_group_range names groups: only those the void maps exist in it (podman passes "0 0"
    /// also to a `--user 1000` void, whose one group is 1000).
    @Test(arguments: As.allCases)
    func pingGroupRangeIsTheVoidsGroups(who: As) throws {
        try #require(who == .root || Env.hasTestUser)
        // "0 0": nothing of it is the void's, the new namespace keeps its "1 0" (no group), which
        // the void, mapping neither group, sees as the overflow gid.
        for (value, seen) in [("0 0", "65534\t65534"), ("0 2147483647", "1000\t1000")] {
            let b = VoidCheck.busybox("cat /proc/sys/net/ipv4/ping_group_range", as: who)
            defer { b.close() }
            b.grantProc()
            b.setUser("uid", 1000)
            b.setUser("gid", 1000)
            b.setLinux("sysctl", ["net.ipv4.ping_group_range": value])
            let r = b.run()
            #expect(r.status == 0 && r.stdout == seen + "\n", "\(value): \(r)")
        }
    }

    @Test(arguments: As.allCases)
    func aFailedWriteIsAnErrorNamingTheSysctl(who: As) throws {
        try #require(who == .root || Env.hasTestUser)
        let before = hostMounts()
        for (key, value) in [("net.ipv4.ip_default_ttl", "zero"), ("net.ipv4.no_such_sysctl", "1")] {
            let b = VoidCheck.busybox("echo ran", as: who)
            defer { b.close() }
            b.setLinux("sysctl", [key: value])
            let r = b.run()
            #expect(r.status != 0 && !r.stdout.contains("ran"), "\(r)")
            #expect(r.stderr.contains("linux.sysctl[\"\(key)\"]"), "\(r)")
            #expect(b.stateEntries().isEmpty, "\(b.stateEntries())")
        }
        #expect(hostMounts() == before)
    }

    /// podman's default network: the void joins a namespace the init's user namespace does not
    /// own (podman passes net.ipv4.ping_group_range="0 0" for it); voidoci writes there.
    @Test func joinedNetworkNamespaceIsWrittenByVoidoci() throws {
        try #require(Env.isRoot)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        holder.arguments = ["--net", "sleep", "60"]
        try holder.run()
        defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
        let hpid = holder.processIdentifier
        let netNS = { (pid: Int32) in (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net")) ?? "?\(pid)" }
        try #require(Host.waitUntil(5) { netNS(hpid) != netNS(getpid()) })
        let b = VoidCheck.busybox("cat /proc/sys/net/ipv4/ip_default_ttl /proc/sys/net/ipv4/ping_group_range", as: .root)
        defer { b.close() }
        b.grantProc()
        b.setLinux("namespaces", [["type": "pid"], ["type": "mount"], ["type": "ipc"], ["type": "uts"], ["type": "network", "path": "/proc/\(hpid)/ns/net"]])
        b.setLinux("sysctl", ["net.ipv4.ip_default_ttl": "33", "net.ipv4.ping_group_range": "0 0"])
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        #expect(VoidCheck.lines(r.stdout) == ["33", "0\t0"], "\(r)")
        let seen = Shell.run(["nsenter", "--net=/proc/\(hpid)/ns/net", "cat", "/proc/sys/net/ipv4/ip_default_ttl", "/proc/sys/net/ipv4/ping_group_range"])
        // "0 0" meant the void's root group: host gid 65534.
        #expect(seen.stdout == "33\n65534\t65534\n", "written in the joined namespace: \(seen)")

        // A write voidoci makes there that fails: an error naming it, nothing left.
        let before = hostMounts()
        let bad = VoidCheck.busybox("echo ran", as: .root)
        defer { bad.close() }
        bad.setLinux("namespaces", [["type": "pid"], ["type": "mount"], ["type": "network", "path": "/proc/\(hpid)/ns/net"]])
        bad.setLinux("sysctl", ["net.ipv4.ip_default_ttl": "zero"])
        let r2 = bad.run()
        #expect(r2.status != 0 && !r2.stdout.contains("ran") && r2.stderr.contains("linux.sysctl[\"net.ipv4.ip_default_ttl\"]")
                && r2.stderr.contains("joined network namespace"), "\(r2)")
        #expect(bad.stateEntries().isEmpty, "\(bad.stateEntries())")
        #expect(hostMounts() == before)
    }

    /// As runc: a network sysctl is refused when the namespace joined is voidoci's own.
    @Test func hostNetworkNamespaceIsRefused() throws {
        try #require(Env.isRoot)
        let b = VoidCheck.busybox("true", as: .root)
        defer { b.close() }
        b.setLinux("namespaces", [["type": "pid"], ["type": "mount"], ["type": "network", "path": "/proc/self/ns/net"]])
        b.setLinux("sysctl", ["net.ipv4.ip_default_ttl": "33"])
        let before = VoidCheck.readHost("/proc/sys/net/ipv4/ip_default_ttl")
        let r = b.run()
        #expect(r.status != 0 && r.stderr.contains("linux.sysctl[\"net.ipv4.ip_default_ttl\"]") && r.stderr.contains("host network namespace"), "\(r)")
        #expect(VoidCheck.readHost("/proc/sys/net/ipv4/ip_default_ttl") == before)
        #expect(b.stateEntries().isEmpty)
    }
}
