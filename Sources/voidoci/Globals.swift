import Glibc
import VoidEngine

/// Global options come before the verb (`voidoci --log-format=json --log F create ...`), as
/// conmon passes them; swift-argument-parser does not parse a parent's options ahead of a
/// subcommand, so they are taken off the front here.
struct GlobalOptions {
    var root: String?
    var log: String?
    var logFormat = "text"
    var logLevel = "error"
    var debug = false
    var systemdCgroup = false
    var cgroupManager: String?
    var rootless: String?
    /// --debug, or --log-level debug: log every decision to --log (stderr without one).
    var debugging: Bool { debug || logLevel == "debug" }

    static let valued: Set<String> = ["--root", "--log", "--log-format", "--log-level", "--cgroup-manager"]

    /// Returns the options and the rest (verb and its arguments).
    static func parse(_ args: [String]) throws -> (GlobalOptions, [String]) {
        var g = GlobalOptions()
        var i = 0
        while i < args.count {
            let a = args[i]
            guard a.hasPrefix("-"), a != "-", a != "--help", a != "-h", a != "--version", a != "-v", a != "-V" else { break }
            var name = a, value: String?
            if let eq = a.firstIndex(of: "="), a.hasPrefix("--") {
                name = String(a[..<eq])
                value = String(a[a.index(after: eq)...])
            }
            if valued.contains(name) && value == nil {
                guard i + 1 < args.count else { throw VoidError("global option \(name) needs a value") }
                i += 1
                value = args[i]
            }
            switch name {
            case "--root": g.root = value
            case "--log": g.log = value.map { $0.hasPrefix("file:") ? String($0.dropFirst(5)) : $0 }
            case "--log-format":
                guard value == "text" || value == "json" else { throw VoidError("global option --log-format: \(value ?? "") (text or json)") }
                g.logFormat = value!
            case "--log-level":
                // logrus's levels, as runc takes them.
                guard let v = value, ["debug", "info", "warn", "warning", "error", "fatal", "panic"].contains(v) else {
                    throw VoidError("global option --log-level: \(value ?? "") (debug, info, warn, error, fatal or panic)")
                }
                g.logLevel = v
            case "--debug": g.debug = true
            case "--systemd-cgroup": g.systemdCgroup = true
            case "--cgroup-manager":
                guard ["cgroupfs", "systemd", "disabled"].contains(value ?? "") else {
                    throw VoidError("global option --cgroup-manager: \(value ?? "") (cgroupfs, systemd or disabled)")
                }
                g.cgroupManager = value
            case "--rootless":
                // runc takes true|false|auto; it is accepted for compatibility, voidoci decides from its ids.
                if value == nil, i + 1 < args.count, ["true", "false", "auto"].contains(args[i + 1]) { i += 1; value = args[i] }
                g.rootless = value ?? "true"
            default:
                throw VoidError("unknown global option \(a)")
            }
            i += 1
        }
        return (g, Array(args[i...]))
    }
}

/// Set once in main, read by commands.
nonisolated(unsafe) var globals = GlobalOptions()

func runtime() -> Runtime {
    var env: [String: String] = [:]
    if let x = getenv("XDG_RUNTIME_DIR") { env["XDG_RUNTIME_DIR"] = String(cString: x) }
    var rt = Runtime(store: StateStore(root: globals.root ?? StateStore.defaultRoot(environment: env)))
    rt.cgroupManager = globals.cgroupManager
    rt.systemdCgroup = globals.systemdCgroup
    if globals.debugging { rt.decisions = { logLine("debug", $0) } }
    return rt
}

/// Reports an error the way podman reads it: plain text on stderr (conmon forwards it), and
/// with --log-format=json exactly one JSON object in the --log file. Then exits 1.
func fail(_ error: Error) -> Never {
    // One line whatever the message quotes from the bundle (a path or value holding a newline):
    // podman and conmon read the error as a line.
    let msg = printable((error as? VoidError)?.description ?? "\(error)")
    writeErr("voidoci: \(msg)\n")
    if let path = globals.log {
        let line: String
        if globals.logFormat == "json" {
            line = "{\"level\":\"error\",\"msg\":\(StateJSON.quote(msg)),\"time\":\(StateJSON.quote(rfc3339Now()))}\n"
        } else {
            line = "time=\"\(rfc3339Now())\" level=error msg=\(StateJSON.quote(msg))\n"
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        if fd >= 0 {
            _ = line.withCString { write(fd, $0, strlen($0)) }
            close(fd)
        }
    }
    exit(1)
}

/// Informational lines (what exec bound in) for the --log file, never for stdout: podman
/// parses the log only on failure, and stdout belongs to the process.
func logInfo(_ msg: String) { logLine("info", msg) }

/// One line in runc's (logrus's) format, text or JSON as --log-format says, to the --log file.
func logLine(_ level: String, _ msg: String) {
    let line = globals.logFormat == "json"
        ? "{\"level\":\"\(level)\",\"msg\":\(StateJSON.quote(msg)),\"time\":\(StateJSON.quote(rfc3339Now()))}\n"
        : "time=\"\(rfc3339Now())\" level=\(level) msg=\(StateJSON.quote(msg))\n"
    guard let path = globals.log else { writeErr(line); return }
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
    if fd >= 0 { _ = line.withCString { write(fd, $0, strlen($0)) }; close(fd) }
}

/// Runs a command body, turning any error into `fail`.
func guarded(_ body: () throws -> Void) {
    do { try body() } catch { fail(error) }
}

/// stdout/stderr through the fds: nothing is buffered, so nothing is printed twice by a clone.
func writeOut(_ s: String) { writeAll(1, s) }
func writeErr(_ s: String) { writeAll(2, s) }
func writeAll(_ fd: Int32, _ s: String) {
    var bytes = Array(s.utf8)[...]
    while !bytes.isEmpty {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return }
        bytes = bytes.dropFirst(n)
    }
}

/// `p` made absolute against the working directory.
func absolute(_ p: String) -> String {
    if p.hasPrefix("/") { return p }
    var buf = [CChar](repeating: 0, count: 4096)
    return (getcwd(&buf, 4096) != nil ? String(cString: buf) : "") + "/" + p
}

/// This very voidoci binary (compare's void column, profile's runs): the build being run.
func selfPath() -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, 4095)
    return n > 0 ? String(cString: buf) : "voidoci"
}
