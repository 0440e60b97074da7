import ArgumentParser

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the program of a created void.")
    @Argument var id: String
    func run() { Self.perform(id: id) }
    static func perform(id: String) { guarded { try runtime().start(id: id) } }
}
