// The checks that need no system access, run after decoding. Each returns every problem it finds
// so that a user fixes a config in one round, not one error per run.

public struct ValidationProblem: Equatable, Sendable, CustomStringConvertible {
    /// The JSON path of the offending field, e.g. `mounts[3].destination`.
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// All problems of `spec`, in document order; empty when it is usable.
public func validate(_ spec: Spec) -> [ValidationProblem] {
    var problems: [ValidationProblem] = []
    problems.checkVersion(spec.ociVersion)
    if let root = spec.root {
        if root.path.isEmpty { problems.report("root.path", "empty") }
    } else {
        problems.report("root", "missing (a Linux container needs a root filesystem)")
    }
    if let process = spec.process {
        problems += validate(process: process)
    } else {
        problems.report("process", "missing (there would be nothing to run)")
    }
    for (index, mount) in (spec.mounts ?? []).enumerated() {
        problems.checkMount(mount, at: JSONPath.index("mounts", index))
    }
    if let hooks = spec.hooks { problems.checkHooks(hooks) }
    if let linux = spec.linux { problems.checkLinux(linux) }
    return problems
}

extension Array where Element == ValidationProblem {
    mutating func report(_ path: String, _ message: String) {
        append(ValidationProblem(path: path, message: message))
    }

    mutating func checkAbsolute(_ path: String, at location: String) {
        if path.isEmpty {
            report(location, "empty (an absolute path is required)")
        } else if !path.hasPrefix("/") {
            report(location, "\(path.debugDescription) is not an absolute path")
        }
    }

    fileprivate mutating func checkVersion(_ version: String) {
        guard !version.isEmpty else {
            report("ociVersion", "empty (expected the spec version, such as \"1.2.1\")")
            return
        }
        let major = version.prefix { $0 != "." && $0 != "-" && $0 != "+" }
        guard let number = Int(major), major.allSatisfy(\.isASCII) else {
            report("ociVersion", "\(version.debugDescription) is not a version such as \"1.2.1\"")
            return
        }
        if number != 1 {
            report("ociVersion", "\(version.debugDescription): major version \(number) is not supported (voidoci implements runtime-spec 1.x)")
        }
    }

    fileprivate mutating func checkMount(_ mount: Mount, at path: String) {
        let destination = JSONPath.member(path, "destination")
        if mount.destination.isEmpty {
            report(destination, "empty")
        } else if !mount.destination.hasPrefix("/") {
            // runc resolves a relative destination against "/" for old configs; voidoci builds the
            // root from nothing, so there is no working directory to anchor it and we refuse.
            report(destination, "\(mount.destination.debugDescription) is relative: in a void root there is no directory to resolve it against; write \(("/" + mount.destination).debugDescription)")
        }
        // Refused rather than cleaned: a destination names a place inside the root, and ".." is
        // how a path leaves it.
        if mount.destination.split(separator: "/").contains("..") {
            report(destination, "contains \"..\": not allowed")
        }
        checkIDMappings(mount.uidMappings, at: JSONPath.member(path, "uidMappings"))
        checkIDMappings(mount.gidMappings, at: JSONPath.member(path, "gidMappings"))
    }

    mutating func checkIDMappings(_ mappings: [LinuxIDMapping]?, at path: String) {
        for (index, mapping) in (mappings ?? []).enumerated() {
            let entry = JSONPath.index(path, index)
            if mapping.size == 0 {
                report(JSONPath.member(entry, "size"), "must be greater than 0")
                continue
            }
            // uid_map rejects ranges that wrap around the 32-bit id space.
            if UInt64(mapping.containerID) + UInt64(mapping.size) > UInt64(UInt32.max) + 1
                || UInt64(mapping.hostID) + UInt64(mapping.size) > UInt64(UInt32.max) + 1
            {
                report(entry, "range of \(mapping.size) ids from containerID \(mapping.containerID) / hostID \(mapping.hostID) goes past 4294967295")
            }
        }
    }

    fileprivate mutating func checkHooks(_ hooks: Hooks) {
        let stages: [(String, [Hook]?)] = [
            ("prestart", hooks.prestart), ("createRuntime", hooks.createRuntime),
            ("createContainer", hooks.createContainer), ("startContainer", hooks.startContainer),
            ("poststart", hooks.poststart), ("poststop", hooks.poststop),
        ]
        for (stage, list) in stages {
            for (index, hook) in (list ?? []).enumerated() {
                let path = JSONPath.index("hooks.\(stage)", index)
                checkAbsolute(hook.path, at: JSONPath.member(path, "path"))
                if let timeout = hook.timeout, timeout <= 0 {
                    report(JSONPath.member(path, "timeout"), "\(timeout) is not a positive number of seconds")
                }
            }
        }
    }
}
