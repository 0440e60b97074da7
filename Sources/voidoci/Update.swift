import ArgumentParser
import OCIBundle
import VoidEngine

struct Update: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply new resource limits (a runtime-spec LinuxResources JSON) to a running void's cgroup.")
    @Option(name: [.short, .long], help: "LinuxResources JSON file, or - for stdin.") var resources: String
    @Argument var id: String
    func run() {
        guarded {
            let r: LinuxResources
            do { r = try SpecLoader.loadResources(path: resources == "-" ? "/dev/stdin" : resources) } catch let e as SpecError {
                throw VoidError("--resources: \(e.description)")
            }
            try runtime().update(id: id, resources: r)
        }
    }
}
