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
        guarded {
            let r = try runtime().run(id: id, bundle: bundle, preserveFDs: try preserved(preserveFds), pidFile: pidFile)
            code = r.status
            // A program that fails in a void often failed on something it was not given: name
            // what the void lacks, with the grant, after the program's own words.
            if code != 0, !r.unbound.isEmpty, getenvString("VOIDOCI_NO_HINTS") == nil {
                let hint = "\(id): the program exited with status \(code); not in this void, if it needs them: "
                    + r.unbound.map { "\($0.path) (\($0.grant))" }.joined(separator: "; ")
                writeErr("voidoci: \(hint) (voidoci explain says more; VOIDOCI_NO_HINTS=1 silences this)\n")
                if globals.log != nil { logLine("warning", hint) }
            }
        }
        Glibc.exit(code)
    }
}
