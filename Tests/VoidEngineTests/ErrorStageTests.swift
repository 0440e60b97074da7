import Foundation
import OCIBundle
import Testing
@testable import VoidEngine

/// One error type: each error says where it arose (stage), what it is about (subject), and the
/// errno in errnoText's words.
@Suite struct ErrorStageTests {
    @Test func configErrorsCarryTheirJSONPath() throws {
        let dir = "/tmp/voidoci-errstage-\(getpid())-\(UUID().uuidString.prefix(6))"
        mkdir(dir, 0o755)
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        try #"{"ociVersion": "1.2.0", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "/", "user": {"uid": "zero", "gid": 0}}}"#
            .write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let rt = Runtime(store: StateStore(root: dir + "/state"), caller: PlannerFixture.root)
        let e = try #require(throws: VoidError.self) { _ = try rt.plan(bundle: dir) }
        #expect(e.stage == .config && e.subject == "process.user.uid", "\(e)")
        #expect(e.description.contains("process.user.uid"))
    }

    @Test func planAndImageErrorsSayTheirStage() throws {
        let fx = PlannerFixture()
        defer { fx.remove() }
        let bad = try #require(throws: VoidError.self) {
            _ = try fx.plan(rest: #", "annotations": {"org.voidoci.rootfs": "everything"}"#)
        }
        // Planner alone leaves the stage to its caller (Runtime marks it .plan); image errors
        // are marked where they arise.
        #expect(bad.description.contains("org.voidoci.rootfs"))
        let missing = try #require(throws: VoidError.self) {
            _ = try fx.plan(process: #"{"args": ["no-such-program"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}"#)
        }
        #expect(missing.stage == .image && missing.errno == ENOENT, "\(missing)")
        #expect(missing.description.contains("No such file or directory"), "crun's words, which podman matches: \(missing)")
    }

    @Test func oneErrnoText() {
        #expect(errnoText(ENOENT) == "no such file or directory")
        #expect(errnoText(EACCES) == "permission denied")
        #expect(errnoText(EPERM) == "operation not permitted")
    }
}
