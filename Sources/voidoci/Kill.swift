import ArgumentParser
import VoidEngine

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a signal to a void's init (through a pidfd).")
    @Flag(name: [.short, .long], help: "Signal every process in the void's pid namespace.") var all = false
    @Argument var id: String
    @Argument(help: "A number, TERM or SIGTERM (default TERM).") var signal: String = "TERM"
    func run() { Self.perform(id: id, signal: signal, all: all) }
    static func perform(id: String, signal: String, all: Bool) {
        guarded {
            let n = try Signals.parse(signal)
            try runtime().kill(id: id, signal: n, all: all)
        }
    }
}
