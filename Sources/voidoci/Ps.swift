import ArgumentParser
import VoidEngine

struct Ps: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the pids of a void's processes (host pids).")
    @Option(name: [.short, .long], help: "table or json") var format: String = "table"
    @Argument var id: String
    func validate() throws {
        guard format == "table" || format == "json" else { throw ValidationError("--format: \(format) (table or json)") }
    }
    func run() {
        guarded {
            let pids = try runtime().ps(id: id)
            if format == "json" {
                writeOut("[" + pids.map(String.init).joined(separator: ",") + "]\n")
            } else {
                writeOut("PID\n" + pids.map { "\($0)\n" }.joined())
            }
        }
    }
}
