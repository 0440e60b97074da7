import ArgumentParser
import Glibc
import VoidEngine

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a process in a running void; its program (and its libraries) are bound in from the image if the void lacks them.")

    @Option(name: [.short, .long], help: "A runtime-spec process JSON (as conmon passes it).") var process: String?
    @Flag(name: [.short, .long], help: "Return once the process runs; its pid goes to --pid-file.") var detach = false
    @Option(name: .long) var pidFile: String?
    @Flag(name: [.short, .long], help: "Allocate a pty (with --process, the JSON's terminal decides).") var tty = false
    @Option(name: .long) var consoleSocket: String?
    @Option(name: .long) var preserveFds: Int = 0
    @Option(name: .long, help: "Working directory inside the void.") var cwd: String?
    @Option(name: [.short, .long], help: "KEY=VALUE, repeatable.") var env: [String] = []
    @Option(name: [.short, .long], help: "UID[:GID]") var user: String?
    @Option(name: [.short, .long], help: "A capability to add, repeatable.") var cap: [String] = []
    @Flag(name: .long) var noNewPrivs = false
    @Option(name: .long, help: "Accepted for compatibility: no SELinux.") var processLabel: String?
    @Option(name: .long, help: "Accepted for compatibility: no AppArmor.") var apparmor: String?
    @Argument var id: String
    @Argument(parsing: .captureForPassthrough) var command: [String] = []

    func run() {
        var code: Int32 = 0
        guarded {
            var o = Runtime.ExecOptions()
            o.processFile = process
            o.args = command
            o.cwd = cwd
            o.env = env
            o.user = user
            o.caps = cap
            o.noNewPrivileges = noNewPrivs
            o.tty = tty
            o.detach = detach
            o.pidFile = pidFile
            o.consoleSocket = consoleSocket
            o.preserveFDs = try preserved(preserveFds)
            let r = try runtime().exec(id: id, o)
            if globals.debugging || globals.logLevel == "info" {
                for m in r.added { logInfo("exec: \(m.kind.rawValue) \(m.destination)\(m.kind == .symlink ? " → \(m.source)" : "") (\(m.origin.text)), if the void lacks it") }
                for n in r.notes { logInfo("exec: \(n)") }
            }
            code = r.status
        }
        Glibc.exit(code)
    }
}
