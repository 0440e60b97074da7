import ArgumentParser

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a stopped or created void (--force: a running one too; an unknown id is not an error).")
    @Flag(name: [.short, .long]) var force = false
    @Argument var id: String
    func run() { Self.perform(id: id, force: force) }
    static func perform(id: String, force: Bool) { guarded { try runtime().delete(id: id, force: force) } }
}
