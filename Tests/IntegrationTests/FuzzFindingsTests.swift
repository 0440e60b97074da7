import Foundation
import Testing

/// What the fuzz suites found in the lifecycle, cgroup and --preserve-fds code (issue 10), kept
/// as the fuzzer found it: each case now guards its fix.
@Suite(.serialized, .enabled(if: Env.isRoot))
struct FuzzFindingsTests {
    /// Leaves of every hierarchy named voidoci/ID, removed (they are empty once the void is gone).
    static func removeCgroups(_ id: String) {
        for h in Host.entries("/sys/fs/cgroup") { rmdir("/sys/fs/cgroup/\(h)/voidoci/\(id)") }
    }

    static func cgroupsLeft(_ id: String) -> [String] {
        Host.entries("/sys/fs/cgroup").map { "/sys/fs/cgroup/\($0)/voidoci/\(id)" }.filter(Host.exists)
    }

    /// Seed 12345, case 222: `linux.resources.memory.limit` 1000. voidoci's own thread joins the
    /// void's v1 memory cgroup before the clone, so the OOM killer kills `run` itself, after the
    /// id is claimed and before state.json is written; `delete --force` then finds no state,
    /// answers success, and the state directory and the cgroups stay.
    @Test func tinyMemoryLimitKillsRunAndLeavesItsID() {
        let b = TestBundle(args: ["/bin/true"]) { c in
            var linux = c["linux"] as? [String: Any] ?? [:]
            linux["resources"] = ["memory": ["limit": 1000]]
            c["linux"] = linux
        }
        let id = "mem\(getpid())"
        defer { b.close(); Self.removeCgroups(id) }
        let run = b.voidociReaped(["run", "--bundle", b.dir, id], timeout: 20)
        let delete = b.voidociReaped(["delete", "--force", id])
        #expect(delete.status == 0 && delete.signal == nil, "\(delete)")
        #expect(run.signal == nil, "run: \(run)")
        #expect(Host.entries(b.stateRoot).isEmpty, "state left: \(Host.entries(b.stateRoot))")
        #expect(Self.cgroupsLeft(id).isEmpty, "cgroups left: \(Self.cgroupsLeft(id))")
    }

    /// `--preserve-fds` past Int32 (or past it once LISTEN_FDS is added) traps on a conversion
    /// (Spawner.swift `Int32(opt.preserveFDs)`, `3 + Int32(...)`; Create.swift `count += k`),
    /// and the trapped create leaves its id.
    @Test(arguments: [("2147483648", nil), ("2147483647", "1"), ("9223372036854775807", "1")] as [(String, String?)])
    func hugePreserveFDs(_ count: String, _ listenFDs: String?) {
        let b = TestBundle(args: ["/bin/true"])
        let id = "pfd\(getpid())"
        defer { b.close(); Self.removeCgroups(id) }
        var extra: [String: String] = [:]
        if let listenFDs { extra["LISTEN_FDS"] = listenFDs }
        let create = b.voidociReaped(["create", "--bundle", b.dir, "--preserve-fds", count, id], extraEnv: extra)
        b.voidociReaped(["delete", "--force", id])
        #expect(create.signal == nil, "create: \(create)")
        #expect(create.status == 1 && create.stderr.hasPrefix("voidoci: ") && create.stderr.contains("--preserve-fds"), "\(create)")
        #expect(Host.entries(b.stateRoot).isEmpty, "state left: \(Host.entries(b.stateRoot))")
    }

    /// Seed 20261206, case 5065 (the soak): a seccomp profile that refuses send(2), loaded before
    /// the init's capabilities are reduced (noNewPrivileges false), so the init could not send
    /// READY; it then waited for voidoci, which waited for READY: `run` hung. Now the init
    /// exits, and `run` and `create` fail with a message, leaving nothing.
    @Test(arguments: ["run", "create"])
    func aSeccompProfileThatRefusesSendDoesNotHang(_ verb: String) {
        let b = TestBundle(args: ["/bin/true"]) { c in
            var linux = c["linux"] as? [String: Any] ?? [:]
            linux["seccomp"] = ["defaultAction": "SCMP_ACT_ALLOW",
                                "syscalls": [["names": ["sendto", "sendmsg"], "action": "SCMP_ACT_ERRNO"]]]
            c["linux"] = linux
        }
        let id = "sec\(getpid())"
        defer { b.close(); Self.removeCgroups(id) }
        let r = b.voidociReaped([verb, "--bundle", b.dir, id], timeout: 20)
        #expect(!r.timedOut && r.signal == nil, "\(verb): \(r)")
        #expect(r.status == 1 && r.stderr.contains("set-up"), "\(verb): \(r)")
        #expect(Host.entries(b.stateRoot).isEmpty, "state left: \(Host.entries(b.stateRoot))")
    }
}
