import ArgumentParser
import Glibc

struct State: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the runtime-spec state JSON of a void.")
    @Argument var id: String
    func run() { Self.perform(id: id) }
    static func perform(id: String) {
        guarded {
            let s = try runtime().state(id: id)
            writeOut(s)
        }
    }
}
