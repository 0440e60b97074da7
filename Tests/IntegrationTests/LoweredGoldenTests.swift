import Foundation
import Testing

/// `voidoci explain --lowered` of the example bundles, against the files in Golden/: the exact
/// operations a void is made of, so any change in what voidoci does, or in its order, shows up
/// as a diff to review. Run as root with cgroups disabled (the count of the host's cgroup
/// hierarchies would otherwise be in it); the repository's path reads REPO.
/// To accept a reviewed change: VOIDOCI_UPDATE_GOLDEN=1 swift test --filter LoweredGoldenTests.
@Suite struct LoweredGoldenTests {
    static let golden = Env.repo + "/Tests/IntegrationTests/Golden"

    @Test(arguments: ["busybox", "cp", "echo", "fib", "hello"])
    func loweredOperationsOfAnExampleBundle(bundle: String) throws {
        try prerequisite(Env.isRoot, "the golden files are voidoci as root")
        let dir = Env.repo + "/bundles/" + bundle
        try prerequisite(Host.exists(dir + "/rootfs"), "bundles/\(bundle)/rootfs is built by scripts/make-bundles.sh")
        let r = Shell.run([Env.bin, "--cgroup-manager", "disabled", "explain", "--lowered", dir])
        try #require(r.status == 0, "\(r)")
        let got = r.stdout.replacingOccurrences(of: Env.repo, with: "REPO")
        let file = "\(Self.golden)/\(bundle).lowered.txt"
        if ProcessInfo.processInfo.environment["VOIDOCI_UPDATE_GOLDEN"] == "1" {
            try got.write(toFile: file, atomically: true, encoding: .utf8)
        }
        let want = try String(contentsOfFile: file, encoding: .utf8)
        let (g, w) = (got.split(separator: "\n"), want.split(separator: "\n"))
        let first = zip(g, w).enumerated().first { $0.element.0 != $0.element.1 }
        let at = first.map { " at line \($0.offset): got\n  \($0.element.0)\nwant\n  \($0.element.1)" } ?? " in length: \(g.count) lines, want \(w.count)"
        #expect(got == want, "explain --lowered \(bundle) differs from \(file)\(at)")
    }
}
