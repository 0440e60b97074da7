import Foundation
import Testing
@testable import VoidEngine
import OCIBundle

/// The cgroup v2 code path on the real kernel: this hybrid host's v2 hierarchy (mounted by the
/// host at /sys/fs/cgroup/unified) used as if the host were unified.
@Suite(.serialized) struct CgroupV2Tests {
    static let v2: String? = CgroupLayout.read().v2

    @Test func v2LeafFreezeAndRemove() throws {
        guard geteuid() == 0, let v2 = Self.v2 else { return }
        let layout = CgroupLayout(v1: [], v2: v2)
        let rel = "voidoci-v2test-\(getpid())"
        let cg = try VoidCgroup.create(rel, layout: layout, resources: nil, devices: [])
        defer { cg.remove(); rmdir("\(v2)/\(rel)") }
        #expect(cg.unified == "\(v2)/\(rel)")
        #expect(cg.freezer == nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sleep")
        p.arguments = ["30"]
        try p.run()
        defer { p.terminate() }
        try writeCgroupFile("\(v2)/\(rel)/cgroup.procs", "\(p.processIdentifier)")
        #expect(cg.pids() == [p.processIdentifier])
        try cg.freeze(true)
        #expect(cg.isFrozen)
        try cg.freeze(false)
        #expect(!cg.isFrozen)
    }

    @Test func v2LimitsNameTheFieldWhenTheControllerIsMissing() throws {
        guard geteuid() == 0, let v2 = Self.v2 else { return }
        let controllers = (try? readSmallFile("\(v2)/cgroup.controllers")) ?? ""
        let layout = CgroupLayout(v1: [], v2: v2)
        let rel = "voidoci-v2lim-\(getpid())"
        let r = LinuxResources(pids: LinuxPids(limit: 5))
        do {
            let cg = try VoidCgroup.create(rel, layout: layout, resources: r, devices: [])
            // A unified host with pids delegated: the limit is written to pids.max.
            #expect(controllers.contains("pids"))
            #expect((try? readSmallFile("\(v2)/\(rel)/pids.max"))?.hasPrefix("5") == true)
            cg.remove()
        } catch let e as VoidError {
            #expect(!controllers.contains("pids"))
            #expect(e.description.contains("linux.resources.pids.limit"), "\(e)")
            #expect(access("\(v2)/\(rel)", F_OK) != 0, "a failed create removes its leaf")
        }
    }

    @Test func cgroupsPathForms() throws {
        #expect(try VoidCgroup.relativePath(nil, id: "x") == "voidoci/x")
        #expect(try VoidCgroup.relativePath("/a/b", id: "x") == "a/b")
        #expect(throws: VoidError.self) { try VoidCgroup.relativePath("machine.slice:libpod:abc", id: "x") }
        #expect(throws: VoidError.self) { try VoidCgroup.relativePath("/a/../b", id: "x") }
    }
}
