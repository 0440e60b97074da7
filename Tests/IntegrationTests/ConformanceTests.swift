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

    /// Runs conformance/run.py with `args` (plus --voidoci and --out), printing the table and
    /// the harness's log; the exit status and the harness's FAIL lines.
    static func runHarness(_ args: [String], label: String) -> (status: Int32, fails: [Substring], stderr: String) {
        let out = "/tmp/voidoci-conformance-table-\(getpid())-\(UUID().uuidString.prefix(6)).md"
        defer { unlink(out) }
        var env = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        if let p = ProcessInfo.processInfo.environment["PATH"], !p.isEmpty { env["PATH"] = p + ":" + env["PATH"]! }
        let argv = ["/usr/bin/env", "python3", Self.harness, "--voidoci", Self.voidoci, "--out", out] + args
        // runReaped: waitpid on the harness itself, every fd above 2 closed in it.
        let r = Shell.runReaped(argv, env: env, timeout: 300)
        // The table and the harness's own log, always: a skipped runtime is said, never silent.
        print("\(label): \(argv.dropFirst().joined(separator: " ")) → exit \(r.status)")
        print(r.stdout)
        for line in r.stderr.split(separator: "\n") { print("\(label): \(line)") }
        if let skip = r.stderr.split(separator: "\n").first(where: { $0.contains("SKIPPING") }) {
            print("\(label): WARNING: \(skip)")
        }
        if r.status != 2 && !FileManager.default.fileExists(atPath: out) {
            return (r.status, ["no table written to \(out)"], r.stderr)
        }
        return (r.status, r.stderr.split(separator: "\n").filter { $0.contains("FAIL") || $0.hasPrefix("  ") }, r.stderr)
    }

    @Test(.enabled(if: geteuid() == 0, "the harness runs runc and crun rootful: needs root"))
    func voidociBehavesAsRuncOrAsAListedDeviation() throws {
        let r = Self.runHarness([], label: "ConformanceTests")
        #expect(r.status == 0, "conformance/run.py failed (exit \(r.status)); the table is printed above:\n\(r.fails.isEmpty ? r.stderr : r.fails.joined(separator: "\n"))")
    }

    // MARK: a void with every grant (run.py --grant-all)

    /// A behaviour the runtime-spec asks of a runtime, and the --grant-all cases that check it
    /// (every case whose name starts with one of `prefixes`; a case belongs to the first group
    /// that claims it).
    struct Group: Sendable, CustomTestStringConvertible {
        let name: String
        let prefixes: [String]
        var testDescription: String { name }
    }

    static let groups: [Group] = [
        Group(name: "mounts", prefixes: ["ga-mount", "mount-", "root-"]),
        Group(name: "devices", prefixes: ["ga-dev", "dev-", "linux-devices"]),
        Group(name: "masked and read-only paths", prefixes: ["ga-masked", "masked-", "readonly-"]),
        Group(name: "sysctl", prefixes: ["ga-sysctl", "linux-sysctl"]),
        Group(name: "hostname", prefixes: ["ga-hostname", "hostname", "domainname"]),
        Group(name: "namespaces", prefixes: ["ga-ns-", "ns-"]),
        Group(name: "cgroups", prefixes: ["ga-cgroup-"]),
        Group(name: "process", prefixes: ["ga-process", "process-", "seccomp-", "exit-", "dynamic-program", "missing-program", "bundles/"]),
        Group(name: "lifecycle", prefixes: ["ga-lifecycle-", "annotations", "hooks-"]),
        Group(name: "config errors", prefixes: ["bad-config-", "annotation-bad-"]),
    ]

    /// Cases that differ from runc only until the engine work on linux.sysctl, linux.devices
    /// fileMode/uid/gid (mknod, rootful) and tmpfs `tmpcopyup` is merged: kept out of the
    /// must-pass groups and checked by `grantAllPendingEngineWork`, which fails once one of them
    /// passes. Empty this list when that work is merged.
    static let pendingEngineWork: Set<String> = []

    /// Every case of the --grant-all mode, as `run.py --grant-all --list` names them.
    static let grantAllCases: [String] = {
        let r = Shell.runReaped(["/usr/bin/env", "python3", harness, "--grant-all", "--list"],
                                env: ["PATH": "/usr/local/bin:/usr/bin:/bin"], timeout: 60)
        return r.stdout.split(separator: "\n").compactMap { $0.split(separator: ":", maxSplits: 1).first.map(String.init) }
    }()

    static func group(of name: String) -> String? {
        groups.first { $0.prefixes.contains { name.hasPrefix($0) } }?.name
    }

    /// A new case must belong to a behaviour, or no grant-all test would run it.
    @Test func everyGrantAllCaseIsInOneGroup() {
        #expect(Self.grantAllCases.count > 50, "run.py --grant-all --list named \(Self.grantAllCases.count) cases")
        for c in Self.grantAllCases {
            #expect(Self.group(of: c) != nil, "conformance case \(c) is in no group of ConformanceTests.groups")
        }
        for c in Self.pendingEngineWork {
            #expect(Self.grantAllCases.contains(c), "pendingEngineWork names \(c), which is not a --grant-all case")
        }
    }

    /// With every grant (the image root, every kernel filesystem of config.mounts, /dev minimal)
    /// voidoci must do what runc does with the same config, or what
    /// conformance/deviations-grant-all.json lists as a by-design deviation.
    @Test(.enabled(if: geteuid() == 0, "the harness runs runc and crun rootful: needs root"), arguments: groups)
    func grantAll(_ group: Group) throws {
        let all = Self.grantAllCases.filter { Self.group(of: $0) == group.name }
        try #require(!all.isEmpty, "no --grant-all case for \(group.name)")
        let cases = all.filter { !Self.pendingEngineWork.contains($0) }
        guard !cases.isEmpty else {
            print("ConformanceTests[\(group.name)]: every case is pending engine work (grantAllPendingEngineWork runs them)")
            return
        }
        let r = Self.runHarness(["--grant-all", "--only", cases.joined(separator: ",")], label: "ConformanceTests[\(group.name)]")
        #expect(r.status == 0, "\(group.name) with every grant: voidoci differs from runc (exit \(r.status)); the table is printed above:\n\(r.fails.isEmpty ? r.stderr : r.fails.joined(separator: "\n"))")
    }

    /// The pending cases run too: they must still differ (and nothing else may fail, such as a
    /// leftover container); one that passes is to be taken out of `pendingEngineWork`.
    @Test(.enabled(if: geteuid() == 0, "the harness runs runc and crun rootful: needs root"))
    func grantAllPendingEngineWork() throws {
        guard !Self.pendingEngineWork.isEmpty else { return }
        let json = "/tmp/voidoci-conformance-pending-\(getpid()).json"
        defer { unlink(json) }
        let r = Self.runHarness(["--grant-all", "--only", Self.pendingEngineWork.sorted().joined(separator: ","), "--json", json],
                             label: "ConformanceTests[pending engine work]")
        let other = r.fails.filter { !$0.contains("voidoci differs from runc") }
        #expect(other.isEmpty, "the pending cases failed for another reason:\n\(other.joined(separator: "\n"))")
        let data = try #require(FileManager.default.contents(atPath: json), "no --json output")
        let verdicts = try #require(try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]])
        for c in Self.pendingEngineWork.sorted() {
            let v = verdicts[c]?["verdict"] as? String
            #expect(v == "differs", "\(c) is \(v ?? "missing") now: take it out of ConformanceTests.pendingEngineWork")
        }
    }
}
