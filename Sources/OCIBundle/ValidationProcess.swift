/// All problems of a process, with paths under `prefix`: `"process"` for config.json; pass `""`
/// for an `exec --process` file, whose top level is the process itself.
public func validate(process: Process, path prefix: String = "process") -> [ValidationProblem] {
    var problems: [ValidationProblem] = []
    let at = { (key: String) in JSONPath.member(prefix, key) }

    if (process.args ?? []).isEmpty {
        problems.report(at("args"), "empty (at least one entry, the program to run, is required)")
    }
    // execve takes C strings: a NUL would silently cut the argument short.
    for (index, arg) in (process.args ?? []).enumerated() where arg.contains("\0") {
        problems.report(JSONPath.index(at("args"), index), "contains a NUL byte")
    }
    problems.checkAbsolute(process.cwd, at: at("cwd"))
    for (index, entry) in (process.env ?? []).enumerated() {
        // runc refuses these too: execve would pass them, but no getenv could find them.
        if entry.contains("\0") {
            problems.report(JSONPath.index(at("env"), index), "contains a NUL byte")
        } else if !entry.contains("=") {
            problems.report(JSONPath.index(at("env"), index), "\(entry.debugDescription) is not of the form NAME=VALUE")
        } else if entry.hasPrefix("=") {
            problems.report(JSONPath.index(at("env"), index), "\(entry.debugDescription) has an empty name")
        }
    }
    if let umask = process.user.umask, umask > 0o777 {
        problems.report(JSONPath.member(at("user"), "umask"), "\(umask) (0o\(String(umask, radix: 8))) is larger than 0o777")
    }
    if let score = process.oomScoreAdj, !(-1000...1000).contains(score) {
        problems.report(at("oomScoreAdj"), "\(score) is outside -1000...1000")
    }
    problems.checkRlimits(process.rlimits, at: at("rlimits"))
    if let capabilities = process.capabilities {
        problems.checkCapabilities(capabilities, at: at("capabilities"))
    }
    if let priority = process.ioPriority {
        let classes = ["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"]
        if !classes.contains(priority.class) {
            problems.report(JSONPath.member(at("ioPriority"), "class"), "unknown class \(priority.class.debugDescription) (expected one of \(classes.joined(separator: ", ")))")
        }
        if let level = priority.priority, !(0...7).contains(level) {
            problems.report(JSONPath.member(at("ioPriority"), "priority"), "\(level) is outside 0...7")
        }
    }
    if let scheduler = process.scheduler {
        problems.checkScheduler(scheduler, at: at("scheduler"))
    }
    return problems
}

extension Array where Element == ValidationProblem {
    fileprivate mutating func checkRlimits(_ rlimits: [POSIXRlimit]?, at path: String) {
        var firstIndex: [String: Int] = [:]
        for (index, rlimit) in (rlimits ?? []).enumerated() {
            let entry = JSONPath.index(path, index)
            let type = JSONPath.member(entry, "type")
            if !POSIXRlimit.knownTypes.contains(rlimit.type) {
                report(type, "unknown resource \(rlimit.type.debugDescription)")
            }
            if let first = firstIndex[rlimit.type] {
                report(type, "duplicate \(rlimit.type.debugDescription) (first at \(JSONPath.index(path, first)))")
            } else {
                firstIndex[rlimit.type] = index
            }
            if rlimit.soft > rlimit.hard {
                report(entry, "soft limit \(rlimit.soft) is above hard limit \(rlimit.hard)")
            }
        }
    }

    // The spec asks runtimes to warn rather than fail on capabilities they cannot grant; a name
    // that no kernel knows is a typo, though, and is reported here.
    fileprivate mutating func checkCapabilities(_ capabilities: LinuxCapabilities, at path: String) {
        let sets: [(String, [String]?)] = [
            ("bounding", capabilities.bounding), ("effective", capabilities.effective),
            ("inheritable", capabilities.inheritable), ("permitted", capabilities.permitted),
            ("ambient", capabilities.ambient),
        ]
        for (set, names) in sets {
            for (index, name) in (names ?? []).enumerated()
            where !LinuxCapabilities.knownNames.contains(name) {
                report(JSONPath.index(JSONPath.member(path, set), index), "unknown capability \(name.debugDescription)")
            }
        }
    }

    fileprivate mutating func checkScheduler(_ scheduler: Scheduler, at path: String) {
        let policies = [
            "SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE",
            "SCHED_DEADLINE",
        ]
        let flags = [
            "SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN",
            "SCHED_FLAG_KEEP_POLICY", "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN",
            "SCHED_FLAG_UTIL_CLAMP_MAX",
        ]
        if !policies.contains(scheduler.policy) {
            report(JSONPath.member(path, "policy"), "unknown policy \(scheduler.policy.debugDescription)")
        }
        for (index, flag) in (scheduler.flags ?? []).enumerated() where !flags.contains(flag) {
            report(JSONPath.index(JSONPath.member(path, "flags"), index), "unknown flag \(flag.debugDescription)")
        }
    }
}
