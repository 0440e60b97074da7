import ArgumentParser
import VoidEngine

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a void from a bundle; its program waits for `start`.", discussion: VoidGrants.help)

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
/// runc and crun honour both. Only fds the caller really passed may go in: every one of
/// 3..3+N-1 must have been open when voidoci started (`callerFDs`, counted before voidoci
/// opened anything). Otherwise voidoci's own descriptors (the image root, the bundle, cgroup
/// directories, the state lock) would take the free numbers in that range and reach the void.
func preserved(_ n: Int) throws -> Int {
    guard n >= 0 else { throw VoidError("--preserve-fds: \(n): must not be negative") }
    var count = n
    // sd_listen_fds(3): LISTEN_FDS is for the process LISTEN_PID names; set for another one,
    // it was not meant for us and is ignored.
    if let l = getenvString("LISTEN_FDS"), !l.isEmpty,
       getenvString("LISTEN_PID").map({ $0.isEmpty || $0 == "\(getpid())" }) ?? true {
        guard let k = Int(l), k >= 0 else { throw VoidError("LISTEN_FDS=\(l): not a count of file descriptors") }
        let (sum, overflow) = count.addingReportingOverflow(k)
        count = overflow ? Int.max : sum   // more than any caller can have open: refused below
    }
    guard count <= callerFDs else {
        let what = count == n ? "--preserve-fds \(n)" : "--preserve-fds \(n) with LISTEN_FDS=\(getenvString("LISTEN_FDS") ?? "")"
        throw VoidError("\(what): fd \(3 + callerFDs) is not open: the caller passed \(callerFDs == 0 ? "no fd above 2" : "only fds 3..\(2 + callerFDs)"): bad file descriptor", errno: EBADF)
    }
    return count
}

/// How many fds from 3 up were open, without a gap, when voidoci started: the most it can
/// preserve. Counted once, first thing in main, before voidoci opens a descriptor of its own.
func countCallerFDs() -> Int {
    var n = 0
    while n < 1 << 24, fcntl(Int32(3 + n), F_GETFD) >= 0 { n += 1 }
    return n
}

import Glibc
func getenvString(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
