import Foundation
import Testing

/// The benchmark suite (bench/run.py) in `--smoke` mode: a handful of runs per measurement and
/// tiny sizes, so the benchmark code cannot rot while the real benchmarks stay out of the default
/// suite (they take minutes and are noisy). Checks that every section of results.json is there
/// and without error, that no run failed, that the host is clean afterwards (no process, mount,
/// cgroup, state directory, podman container or image left), and that the README-facing
/// bench/results.md and bench/chart.svg were not touched. See bench/README.md.
@Suite(.serialized) struct BenchSmokeTests {
    static let repo: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var suite: String { "\(repo)/bench/run.py" }

    /// VOIDOCI_BIN when set; else the voidoci built alongside this test binary (same scratch path,
    /// same sources); else the installed one.
    static let voidoci: String = {
        if let b = ProcessInfo.processInfo.environment["VOIDOCI_BIN"], !b.isEmpty { return b }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let built = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("voidoci").path
            if FileManager.default.isExecutableFile(atPath: built) { return built }
        }
        return "/usr/local/bin/voidoci"
    }()

    /// Sections run.py writes; each must be present and must not carry an "error".
    static let sections = ["run", "lifecycle", "podman", "rss", "binds", "concurrency", "profile", "phases"]
    static let topLevel = ["machine", "setup", "params", "host_state", "targets", "failures", "status"]
    /// Phase markers every voidoci run makes; a missing one means bench/phases.py needs updating.
    static let essentialPhases = ["decode + plan", "clone3", "cgroup join (by the init) + id maps", "mounts in the void",
                                  "pivot_root → execve (caps, seccomp)", "program (/bin/true)",
                                  "teardown (wait, cgroup + state removal)"]

    static func mtime(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    @Test(.enabled(if: geteuid() == 0, "the suite runs crun, runc and podman rootful: needs root"))
    func smokeRunHasEverySectionNoFailureAndLeavesTheHostClean() throws {
        let out = "/tmp/voidoci-bench-smoke-test-\(getpid())"
        defer { _ = Shell.run(["rm", "-rf", out]) }
        let published = ["\(Self.repo)/bench/results.md", "\(Self.repo)/bench/chart.svg"]
        let before = published.map(Self.mtime)

        var env = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"]
        if let p = ProcessInfo.processInfo.environment["PATH"], !p.isEmpty { env["PATH"] = env["PATH"]! + ":" + p }
        let t0 = Date()
        let r = Shell.runReaped(["/usr/bin/env", "python3", Self.suite, "--smoke", "--out", out, "--voidoci", Self.voidoci],
                                env: env, timeout: 180)
        let elapsed = Date().timeIntervalSince(t0)
        print("BenchSmokeTests: python3 \(Self.suite) --smoke --voidoci \(Self.voidoci) → exit \(r.status) in \(Int(elapsed)) s")
        print(r.stdout)
        for line in r.stderr.split(separator: "\n") { print("BenchSmokeTests: \(line)") }

        #expect(r.status == 0, "bench/run.py --smoke failed (exit \(r.status)); its log is printed above")
        #expect(elapsed < 60, "the smoke run took \(Int(elapsed)) s; it must stay under 60 s")

        let data = try #require(FileManager.default.contents(atPath: "\(out)/results.json"), "no results.json in \(out)")
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "results.json is not an object")
        #expect(json["mode"] as? String == "smoke")
        for key in Self.topLevel { #expect(json[key] != nil, "results.json has no \(key)") }
        for name in Self.sections {
            let sec = json[name] as? [String: Any]
            #expect(sec != nil, "results.json has no section \(name)")
            #expect(sec?["error"] == nil, "section \(name) failed: \(sec?["error"] ?? "")")
            if let skipped = sec?["skipped"] { print("BenchSmokeTests: WARNING: section \(name) skipped: \(skipped)") }
        }
        let failures = json["failures"] as? [String] ?? ["(unreadable)"]
        #expect(failures.isEmpty, "failures: \(failures.joined(separator: "; "))")

        // Every runtime measured side by side, with a ratio to crun.
        let run = (json["run"] as? [String: Any])?["results"] as? [String: Any] ?? [:]
        for k in ["floor", "voidoci", "crun", "runc"] {
            let n = (run[k] as? [String: Any])?["n"] as? Int ?? 0
            #expect(n > 0, "run section has no timings for \(k)")
        }
        let lc = (json["lifecycle"] as? [String: Any])?["results"] as? [String: Any] ?? [:]
        for k in ["voidoci", "crun", "runc"] {
            let steps = lc[k] as? [String: Any] ?? [:]
            for s in ["create", "start", "wait", "delete"] {
                #expect(((steps[s] as? [String: Any])?["n"] as? Int ?? 0) > 0, "lifecycle \(k) has no \(s) timings")
            }
        }
        let conc = (json["concurrency"] as? [String: Any])?["results"] as? [String: Any] ?? [:]
        for (rt, levels) in conc {
            for (n, v) in levels as? [String: Any] ?? [:] {
                #expect((v as? [String: Any])?["failures"] as? Int == 0, "concurrency: \(rt) ×\(n) had failures")
            }
        }

        // The phase breakdown still finds its markers in voidoci's syscalls.
        let light = ((json["phases"] as? [String: Any])?["light"] as? [String: Any]) ?? [:]
        let phases = (light["phases"] as? [[String: Any]] ?? []).compactMap { $0["phase"] as? String }
        let missing = light["missing_markers"] as? [String] ?? []
        if !missing.isEmpty { print("BenchSmokeTests: WARNING: phase markers not found (merged): \(missing)") }
        for p in Self.essentialPhases {
            #expect(phases.contains(p), "phase \"\(p)\" not found in the strace of voidoci run (found: \(phases)); update bench/phases.py")
        }
        // The set-up thread (id, cgroup) is found and timed, where the machine has two CPUs.
        if sysconf(Int32(_SC_NPROCESSORS_ONLN)) > 1 {
            #expect((light["setup_thread"] as? [String: Any])?["ms"] != nil, "no set-up thread in the trace: \(light["setup_thread"] ?? "nil")")
        }

        // Host state: clean after every section and after clean-up.
        let hs = json["host_state"] as? [String: Any] ?? [:]
        #expect(hs["clean"] as? Bool == true, "host not clean: \(hs)")
        #expect((hs["final"] as? [String: Any])?["clean"] as? Bool == true, "host not clean after clean-up: \(hs["final"] ?? "")")
        let tmp = json["temp_dir"] as? String ?? ""
        #expect(!tmp.isEmpty && !FileManager.default.fileExists(atPath: tmp), "the suite's temp dir \(tmp) was not removed")

        // Outputs of the smoke run, and the published ones untouched.
        let md = (try? String(contentsOfFile: "\(out)/results.md", encoding: .utf8)) ?? ""
        #expect(md.contains("| measurement |"), "results.md has no table")
        let svg = (try? String(contentsOfFile: "\(out)/chart.svg", encoding: .utf8)) ?? ""
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"), "chart.svg is not an SVG document")
        #expect(published.map(Self.mtime) == before, "the smoke run modified bench/results.md or bench/chart.svg")
    }
}
