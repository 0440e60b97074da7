import ArgumentParser
import Glibc
import VoidEngine

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what a bundle's void would get, and what is dropped and why. Creates nothing.")
    @Option(name: .long, help: "text or json") var format: String = "text"
    @Argument(help: "The bundle directory.") var bundle: String = "."
    func validate() throws {
        guard format == "text" || format == "json" else { throw ValidationError("--format: \(format) (text or json)") }
    }
    func run() {
        guarded {
            let (_, plan, _) = try runtime().plan(bundle: bundle)
            writeOut(format == "json" ? VoidEngine.Explain.json(plan) : VoidEngine.Explain.text(plan))
        }
    }
}
