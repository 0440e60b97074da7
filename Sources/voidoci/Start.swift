import ArgumentParser

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the program of a created void.")
    @Argument var id: String
    func run() { guarded { try runtime().start(id: id) } }
}
