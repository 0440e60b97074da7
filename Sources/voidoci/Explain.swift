import ArgumentParser
import Glibc
import VoidEngine

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what a bundle's void would get, and what is dropped and why. Creates nothing.",
                                                    discussion: "BUNDLE is a bundle directory, or the id of a created void (its config as create read it).")
    @Option(name: .long, help: "text or json") var format: String = "text"
    @Flag(name: .long, help: "The operations create would execute, in order, with every decision taken (who does it, exact mount attributes, set-up ids).") var lowered = false
    @Argument(help: "The bundle directory, or a void's id.") var bundle: String = "."
    func validate() throws {
        guard format == "text" || format == "json" else { throw ValidationError("--format: \(format) (text or json)") }
    }
    func run() {
        guarded {
            let rt = runtime()
            var isDir: Bool { var st = stat(); return stat(bundle, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR }
            let plan = !isDir && rt.store.exists(bundle) ? try rt.plan(id: bundle) : try rt.plan(bundle: bundle).1
            if lowered {
                let ctx = Lowering.Context.create(plan, caller: rt.caller, cgroups: globals.cgroupManager != "disabled")
                let ops = Lowering.lower(plan, ctx)
                writeOut(format == "json" ? Lowering.json(ops) : Lowering.text(ops))
                return
            }
            writeOut(format == "json" ? VoidEngine.Explain.json(plan) : VoidEngine.Explain.text(plan))
        }
    }
}
