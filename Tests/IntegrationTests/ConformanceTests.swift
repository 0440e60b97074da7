import Foundation
import Testing

/// The conformance harness (conformance/run.py): every example bundle and every case under
/// conformance/cases run under voidoci, runc and crun; it exits non-zero on any difference from
/// runc that conformance/deviations.json does not list, on a leftover container, process or
/// temp dir, or on a changed mount table. See conformance/README.md.
@Suite(.serialized) struct ConformanceTests {
    /// conformance/run.py, found from this file: Tests/IntegrationTests/ → the repository.
    static let harness: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("conformance/run.py").path
    }()

    /// VOIDOCI_BIN when set; else the voidoci built alongside this test binary (same scratch
    /// path, same sources); else the installed one.
    static let voidoci: String = {
        if let b = ProcessInfo.processInfo.environment["VOIDOCI_BIN"], !b.isEmpty { return b }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let built = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("voidoci").path
            if FileManager.default.isExecutableFile(atPath: built) { return built }
        }
        if FileManager.default.isExecutableFile(atPath: Env.bin) { return Env.bin }
        return "/usr/local/bin/voidoci"
    }()

    @Test(.enabled(if: geteuid() == 0, "the harness runs runc and crun rootful: needs root"))
    func voidociBehavesAsRuncOrAsAListedDeviation() throws {
        let out = "/tmp/voidoci-conformance-table-\(getpid()).md"
        defer { unlink(out) }
        var env = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        if let p = ProcessInfo.processInfo.environment["PATH"], !p.isEmpty { env["PATH"] = p + ":" + env["PATH"]! }
        // runReaped: waitpid on the harness itself, every fd above 2 closed in it.
        let r = Shell.runReaped(["/usr/bin/env", "python3", Self.harness, "--voidoci", Self.voidoci, "--out", out],
                                env: env, timeout: 300)
        // The table and the harness's own log, always: a skipped runtime is said, never silent.
        print("ConformanceTests: python3 \(Self.harness) --voidoci \(Self.voidoci) → exit \(r.status)")
        print(r.stdout)
        for line in r.stderr.split(separator: "\n") { print("ConformanceTests: \(line)") }
        if let skip = r.stderr.split(separator: "\n").first(where: { $0.contains("SKIPPING") }) {
            print("ConformanceTests: WARNING: \(skip)")
        }
        let fails = r.stderr.split(separator: "\n").filter { $0.contains("FAIL") || $0.hasPrefix("  ") }
        #expect(r.status == 0, "conformance/run.py failed (exit \(r.status)); the table is printed above:\n\(fails.isEmpty ? r.stderr : fails.joined(separator: "\n"))")
        #expect(FileManager.default.fileExists(atPath: out), "no table written to \(out)")
    }
}
