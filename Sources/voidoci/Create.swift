import ArgumentParser
import VoidEngine

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a void from a bundle; its program waits for `start`.")

    @Option(name: [.short, .long], help: "The bundle directory (default: the current directory).") var bundle: String = "."
    @Option(name: .long, help: "Write the init's pid here (atomically) before exiting.") var pidFile: String?
    @Option(name: .long, help: "Unix socket that receives the pty master when process.terminal is true.") var consoleSocket: String?
    @Option(name: .long, help: "Pass fds 3..3+N-1 to the process.") var preserveFds: Int = 0
    @Flag(name: .long, help: "Accepted for compatibility; a void always pivots onto its own tmpfs.") var noPivot = false
    @Flag(name: .long, help: "Accepted for compatibility; no session keyring is created.") var noNewKeyring = false
    @Argument var id: String

    func run() { Self.perform(id: id, bundle: bundle, pidFile: pidFile, consoleSocket: consoleSocket, preserveFds: preserveFds) }

    static func perform(id: String, bundle: String, pidFile: String?, consoleSocket: String?, preserveFds: Int) {
        guarded {
            var o = Runtime.CreateOptions(bundle: bundle)
            o.pidFile = pidFile
            o.consoleSocket = consoleSocket
            o.preserveFDs = try preserved(preserveFds)
            try runtime().create(id: id, o)
        }
    }
}

/// --preserve-fds N, or LISTEN_FDS=N from the environment (systemd socket activation), as
/// runc and crun honour both.
func preserved(_ n: Int) throws -> Int {
    guard n >= 0 else { throw VoidError("--preserve-fds: \(n): must not be negative") }
    var count = n
    if let l = getenvString("LISTEN_FDS"), let k = Int(l), k > 0 { count += k }
    return count
}

import Glibc
func getenvString(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
