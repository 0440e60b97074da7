import ArgumentParser
import Glibc
import VoidEngine

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Run a bundle under several runtimes and show, side by side, what its process sees in each: a container's view against the void's.",
        discussion: """
            Each runtime runs the config with its process replaced by voidoci's probe (bound read-only over \
            the program's own path), then runs the config's own process. Where the void differs from a container, \
            the row names why (a void default, or a grant). A void that shows more than its grants is \
            flagged: exit status 2; a grant that exposes a sensitive host path: exit status 3. \
            See docs/compare.md.
            """)
    @Option(name: .long, help: "Comma-separated runtimes, each found on PATH.") var runtimes: String = "runc,crun,voidoci"
    @Option(name: .long, help: "text or json") var format: String = "text"
    @Option(name: .long, help: "Write the report here instead of stdout.") var output: String?
    @Argument(help: "The bundle directory.") var bundle: String = "."

    func validate() throws {
        guard format == "text" || format == "json" else { throw ValidationError("--format: \(format) (text or json)") }
        guard !runtimes.split(separator: ",").isEmpty else { throw ValidationError("--runtimes: empty") }
    }

    func run() {
        guarded {
            let rt = runtime()
            let (_, plan, _) = try rt.plan(bundle: bundle)
            let list = runtimes.split(separator: ",").map { $0 == "voidoci" ? selfPath() : String($0) }
            let report = try Compare.run(bundle: absolute(bundle), runtimes: list, probe: probePath(), plan: plan) { writeErr($0 + "\n") }
            let text = format == "json" ? Compare.json(report) : Compare.text(report)
            if let o = output { try writeFileAtomically(absolute(o), text) } else { writeOut(text) }
            if !report.moreThanGranted.isEmpty { Glibc.exit(2) }
            if !report.leakyGrants.isEmpty { Glibc.exit(3) }
        }
    }

    func absolute(_ p: String) -> String {
        if p.hasPrefix("/") { return p }
        var buf = [CChar](repeating: 0, count: 4096)
        return (getcwd(&buf, 4096) != nil ? String(cString: buf) : "") + "/" + p
    }

    /// This voidoci, so that the void column is the build being run.
    func selfPath() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, 4095)
        return n > 0 ? String(cString: buf) : "voidoci"
    }

    /// VOIDOCI_PROBE, else ../libexec/voidoci/voidoci-probe beside this binary, else where
    /// scripts/build.sh installs it.
    func probePath() -> String {
        if let p = getenv("VOIDOCI_PROBE") { return String(cString: p) }
        let exe = selfPath()
        let dir = exe.split(separator: "/").dropLast().dropLast().joined(separator: "/")
        let beside = "/\(dir)/libexec/voidoci/voidoci-probe"
        return access(beside, X_OK) == 0 ? beside : "/usr/local/libexec/voidoci/voidoci-probe"
    }
}
