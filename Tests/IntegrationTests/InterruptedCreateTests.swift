import Foundation
import Testing

/// voidoci can die at any instruction (issue 10). Whatever a create that died had made (its
/// state dir, cgroup leaves, the init, hook processes) must not outlive it unattended: the init
/// and the hooks die with voidoci, and one `delete --force` removes the rest, after which the id
/// can be created again. Here voidoci is killed deterministically by its own createRuntime hook,
/// at the point where it has made the most: state dir, cgroup, init cloned and set up, hook
/// running. (`FaultTests` kills it at every syscall.)
@Suite(.serialized, .hostClean) struct InterruptedCreateTests {
    @Test(arguments: As.allCases)
    func aCreateKilledByItsHookLeavesNothingThatDeleteForceCannotRemove(who: As) throws {
        try Env.requireUser(who)
        // A unique duration marks the hook's process: after voidoci dies, it must die too.
        let marker = "987.\(UInt32.random(in: 100_000...999_999))"
        let hook = ["path": "/bin/sh", "args": ["sh", "-c", "kill -9 $PPID; exec /bin/sleep \(marker)"]] as [String: Any]
        let b = TestBundle(args: ["/bin/sleep", "60"], as: who) { c in
            c["hooks"] = ["createRuntime": [hook]]
            if who == .root {
                var l = c["linux"] as! [String: Any]
                l["resources"] = ["pids": ["limit": 50]]
                c["linux"] = l
            }
        }
        defer {
            b.close()
            _ = Shell.run(["pkill", "-KILL", "-f", "sleep \(marker)"])
        }
        let id = TestBundle.newID("int")
        let c = b.voidociReaped(["create", "--bundle", b.dir, id], timeout: 30)
        #expect(c.status == 128 + SIGKILL, "voidoci was to be killed by its hook: \(c)")

        // The hook and the init (a clone of voidoci, its command line voidoci's) die with it.
        let orphans = { Shell.run(["pgrep", "-f", "sleep \(marker)|create --bundle \(b.dir) \(id)"]).stdout }
        #expect(Host.waitUntil(5) { orphans().isEmpty }, "left running after voidoci died: \(orphans())")

        // The id is there, incomplete: not a container, but not free either.
        #expect(b.stateEntries() == [id], "\(b.stateEntries())")
        let s = b.voidociReaped(["state", id])
        #expect(s.status != 0 && s.stderr.contains("delete --force"), "\(s)")
        let again = b.voidociReaped(["create", "--bundle", b.dir, id])
        #expect(again.status != 0 && again.stderr.contains("already exists"), "\(again)")

        let leaves = CgroupTests.layout.values.map { "\($0)/voidoci/\(id)" }
        if who == .root {
            #expect(leaves.contains { access($0, F_OK) == 0 }, "the cgroup was made before the hook ran")
        }
        let d = b.voidociReaped(["delete", "--force", id])
        #expect(d.status == 0, "\(d)")
        #expect(b.stateEntries().isEmpty, "state left: \(b.stateEntries())")
        let left = leaves.filter { access($0, F_OK) == 0 }
        #expect(left.isEmpty, "cgroup leaves left: \(left)")

        // The id is free again.
        b.edit { $0["hooks"] = nil }
        let ok = b.voidociReaped(["create", "--bundle", b.dir, id])
        #expect(ok.status == 0, "\(ok)")
        #expect(b.voidociReaped(["delete", "--force", id]).status == 0)
        #expect(b.stateEntries().isEmpty)
    }
}
