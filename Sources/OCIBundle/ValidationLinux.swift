extension Array where Element == ValidationProblem {
    mutating func checkLinux(_ linux: Linux) {
        checkIDMappings(linux.uidMappings, at: "linux.uidMappings")
        checkIDMappings(linux.gidMappings, at: "linux.gidMappings")
        checkNamespaces(linux.namespaces ?? [])
        for (index, device) in (linux.devices ?? []).enumerated() {
            checkDevice(device, at: JSONPath.index("linux.devices", index))
        }
        if let seccomp = linux.seccomp { checkSeccomp(seccomp, at: "linux.seccomp") }
        for (index, path) in (linux.maskedPaths ?? []).enumerated() {
            checkAbsolute(path, at: JSONPath.index("linux.maskedPaths", index))
        }
        for (index, path) in (linux.readonlyPaths ?? []).enumerated() {
            checkAbsolute(path, at: JSONPath.index("linux.readonlyPaths", index))
        }
        // The schema lists the four plain names; runc and crun also take the recursive
        // spellings, and configs in the wild use them.
        let propagations = ["private", "shared", "slave", "unbindable", "rprivate", "rshared", "rslave", "runbindable"]
        if let propagation = linux.rootfsPropagation, !propagation.isEmpty, !propagations.contains(propagation) {
            report("linux.rootfsPropagation", "unknown propagation \(propagation.debugDescription) (expected private, shared, slave or unbindable)")
        }
        if let domain = linux.personality?.domain, domain != "LINUX", domain != "LINUX32" {
            report("linux.personality.domain", "unknown domain \(domain.debugDescription) (expected LINUX or LINUX32)")
        }
        for clock in (linux.timeOffsets ?? [:]).keys.sorted() where clock != "boottime" && clock != "monotonic" {
            report(JSONPath.member("linux.timeOffsets", clock), "unknown clock (expected boottime or monotonic)")
        }
    }

    private mutating func checkNamespaces(_ namespaces: [LinuxNamespace]) {
        var firstIndex: [LinuxNamespaceType: Int] = [:]
        for (index, namespace) in namespaces.enumerated() {
            let entry = JSONPath.index("linux.namespaces", index)
            let type = JSONPath.member(entry, "type")
            if !namespace.type.isKnown {
                report(type, "unknown namespace type \(namespace.type.rawValue.debugDescription) (expected one of \(LinuxNamespaceType.knownValues.map(\.rawValue).joined(separator: ", ")))")
            }
            if let first = firstIndex[namespace.type] {
                report(type, "duplicate \(namespace.type.rawValue.debugDescription) (first at \(JSONPath.index("linux.namespaces", first)))")
            } else {
                firstIndex[namespace.type] = index
            }
            if let path = namespace.path {
                checkAbsolute(path, at: JSONPath.member(entry, "path"))
            }
        }
    }

    private mutating func checkDevice(_ device: LinuxDevice, at path: String) {
        if !["c", "b", "u", "p"].contains(device.type) {
            report(JSONPath.member(path, "type"), "\(device.type.debugDescription) is not one of c, b, u, p")
        }
        checkAbsolute(device.path, at: JSONPath.member(path, "path"))
        if device.type != "p" {
            // mknod of a character or block device needs both numbers; a FIFO needs none.
            if device.major == nil { report(JSONPath.member(path, "major"), "missing (required unless type is \"p\")") }
            if device.minor == nil { report(JSONPath.member(path, "minor"), "missing (required unless type is \"p\")") }
        }
    }

    private mutating func checkSeccomp(_ seccomp: LinuxSeccomp, at path: String) {
        checkAction(seccomp.defaultAction, errnoRet: seccomp.defaultErrnoRet, at: path, actionKey: "defaultAction", errnoKey: "defaultErrnoRet")
        for (index, arch) in (seccomp.architectures ?? []).enumerated() where !arch.isKnown {
            report(JSONPath.index(JSONPath.member(path, "architectures"), index), "unknown architecture \(arch.rawValue.debugDescription)")
        }
        for (index, flag) in (seccomp.flags ?? []).enumerated() where !flag.isKnown {
            report(JSONPath.index(JSONPath.member(path, "flags"), index), "unknown flag \(flag.rawValue.debugDescription)")
        }
        if seccomp.listenerMetadata != nil, (seccomp.listenerPath ?? "").isEmpty {
            report(JSONPath.member(path, "listenerMetadata"), "set without listenerPath")
        }
        for (index, syscall) in (seccomp.syscalls ?? []).enumerated() {
            let entry = JSONPath.index(JSONPath.member(path, "syscalls"), index)
            if syscall.names.isEmpty {
                report(JSONPath.member(entry, "names"), "empty (at least one system call name is required)")
            }
            checkAction(syscall.action, errnoRet: syscall.errnoRet, at: entry, actionKey: "action", errnoKey: "errnoRet")
            for (argIndex, arg) in (syscall.args ?? []).enumerated() {
                let argPath = JSONPath.index(JSONPath.member(entry, "args"), argIndex)
                if arg.index >= 6 {
                    report(JSONPath.member(argPath, "index"), "\(arg.index) is out of range (a system call has arguments 0...5)")
                }
                if !arg.op.isKnown {
                    report(JSONPath.member(argPath, "op"), "unknown operator \(arg.op.rawValue.debugDescription)")
                }
            }
        }
    }

    private mutating func checkAction(
        _ action: LinuxSeccompAction, errnoRet: UInt32?, at path: String, actionKey: String, errnoKey: String
    ) {
        if !action.isKnown {
            report(JSONPath.member(path, actionKey), "unknown action \(action.rawValue.debugDescription)")
        } else if errnoRet != nil, !action.acceptsErrnoRet {
            // The spec: "When the action doesn't support an errno, the runtime MUST print an error and fail."
            report(JSONPath.member(path, errnoKey), "is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not \(action.rawValue)")
        }
    }
}
