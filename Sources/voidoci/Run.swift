import ArgumentParser
import VoidEngine
import Glibc

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create, start and wait for a void; exit with its program's status.", discussion: VoidGrants.help)
    @Option(name: [.short, .long]) var bundle: String = "."
    @Option(name: .long) var pidFile: String?
    @Option(name: .long) var preserveFds: Int = 0
    @Flag(name: .long, help: "Accepted for compatibility.") var noPivot = false
    @Flag(name: .long, help: "Accepted for compatibility.") var noNewKeyring = false
    @Flag(name: [.short, .long], help: "Accepted for compatibility: run always waits.") var detach = false
    @Argument var id: String
    func run() { Self.perform(id: id, bundle: bundle, pidFile: pidFile, preserveFds: preserveFds) }

    static func perform(id: String, bundle: String, pidFile: String?, preserveFds: Int) -> Never {
        var code: Int32 = 0
        guarded { code = try runtime().run(id: id, bundle: bundle, preserveFDs: try preserved(preserveFds), pidFile: pidFile) }
        Glibc.exit(code)
    }
}
