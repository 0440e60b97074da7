import Glibc

/// The verbs an engine calls for every container (create, start, state, kill, delete, run),
/// parsed without swift-argument-parser. Its parse is driven by reflection (Mirror, type-name
/// demangling, protocol-conformance lookups) and cost about 1 ms, a tenth of a whole
/// `voidoci run` (bench/README.md, "argument fast path").
///
/// Only the plain forms are taken here: `--name value`, `--name=value`, `-b value`, the flags,
/// and the positional arguments. Anything else (help, an unknown, repeated-short or malformed
/// option, a missing or extra argument, a value that looks like an option) returns false, and
/// main hands the same arguments to swift-argument-parser, which owns every usage message. The
/// options each verb accepts are those of its ParsableCommand; a test parses every verb both
/// ways and compares.
enum FastPath {
    struct Verb {
        var valued: [String: String] = [:]   // spelling → canonical name
        var flags: [String: String] = [:]
        var positionals: ClosedRange<Int> = 1...1
    }

    static let verbs: [String: Verb] = [
        "create": Verb(valued: ["--bundle": "bundle", "-b": "bundle", "--pid-file": "pid-file",
                                "--console-socket": "console-socket", "--preserve-fds": "preserve-fds"],
                       flags: ["--no-pivot": "no-pivot", "--no-new-keyring": "no-new-keyring"]),
        "run": Verb(valued: ["--bundle": "bundle", "-b": "bundle", "--pid-file": "pid-file", "--preserve-fds": "preserve-fds"],
                    flags: ["--no-pivot": "no-pivot", "--no-new-keyring": "no-new-keyring", "--detach": "detach", "-d": "detach"]),
        "start": Verb(),
        "state": Verb(),
        "delete": Verb(flags: ["--force": "force", "-f": "force"]),
        "kill": Verb(flags: ["--all": "all", "-a": "all"], positionals: 1...2),
    ]

    struct Parsed: Equatable {
        var verb: String
        var options: [String: String] = [:]
        var flags: Set<String> = []
        var positionals: [String] = []
    }

    /// `rest` is the verb and its arguments (globals already taken off). Nil: not a plain form.
    static func parse(_ rest: [String]) -> Parsed? {
        guard let verbName = rest.first, let verb = verbs[verbName] else { return nil }
        var p = Parsed(verb: verbName)
        var i = 1
        while i < rest.count {
            let a = rest[i]
            i += 1
            guard a.hasPrefix("-") else { p.positionals.append(a); continue }
            var name = a, value: String?
            if a.hasPrefix("--"), let eq = a.firstIndex(of: "=") {
                name = String(a[..<eq])
                value = String(a[a.index(after: eq)...])
            }
            if let canonical = verb.flags[name], value == nil {
                p.flags.insert(canonical)
            } else if let canonical = verb.valued[name] {
                if value == nil {
                    guard i < rest.count, !rest[i].hasPrefix("-") else { return nil }
                    value = rest[i]
                    i += 1
                }
                p.options[canonical] = value
            } else {
                return nil   // --help, -h, --, an unknown option: ArgumentParser's to answer
            }
        }
        guard verb.positionals.contains(p.positionals.count) else { return nil }
        if let n = p.options["preserve-fds"], Int(n) == nil { return nil }
        return p
    }

    /// Runs a parsed verb; returns only for verbs that return normally (exit 0 follows).
    static func perform(_ p: Parsed) {
        let id = p.positionals[0]
        switch p.verb {
        case "create":
            Create.perform(id: id, bundle: p.options["bundle"] ?? ".", pidFile: p.options["pid-file"],
                           consoleSocket: p.options["console-socket"], preserveFds: Int(p.options["preserve-fds"] ?? "0") ?? 0)
        case "run":
            Run.perform(id: id, bundle: p.options["bundle"] ?? ".", pidFile: p.options["pid-file"],
                        preserveFds: Int(p.options["preserve-fds"] ?? "0") ?? 0)
        case "start": Start.perform(id: id)
        case "state": State.perform(id: id)
        case "delete": Delete.perform(id: id, force: p.flags.contains("force"))
        case "kill": Kill.perform(id: id, signal: p.positionals.count > 1 ? p.positionals[1] : "TERM", all: p.flags.contains("all"))
        default: return
        }
    }
}
