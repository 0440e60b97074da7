/// `voidoci spec`: a starting config.json, as `runc spec` writes one for a container.
///
/// - The default is a void as it is meant to be: `sh` from `rootfs/`, bound in with what it
///   links, on an empty read-only tmpfs root, every namespace new, no capability, no kernel
///   filesystem, no device. It runs out of the box on any rootfs whose `sh` is there.
/// - `grantAll` is the container-like form: runc's own default config (its mounts, masked and
///   read-only paths, capabilities) plus the grants that make a void behave like that container:
///   the image root (read-only, as root.readonly says), every kernel filesystem it mounts, and
///   the standard devices. The ambient set is left out: runc 1.1 lists ambient capabilities
///   without inheritable ones, which a kernel refuses and voidoci then skips.
/// - `rootless` adds the user namespace with the caller's own ids mapped to root, as
///   `runc spec --rootless` does; a void makes that namespace anyway, the mapping is then written
///   down for other runtimes too. In the container-like form, as runc's rootless spec does, /sys
///   is bound from the host and the cgroup mount is left out. devpts has no gid=5 in either
///   form: a void maps a single id, so group 5 does not exist in it.
public enum SpecTemplate {
    public static func config(rootless: Bool, grantAll: Bool, uid: UInt32, gid: UInt32) -> JSON {
        var process: [(String, JSON)] = [
            ("terminal", .bool(true)),
            ("user", .object([("uid", .number(0)), ("gid", .number(0))])),
            ("args", .array([.string("sh")])),
            ("env", .array([.string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), .string("TERM=xterm")])),
            ("cwd", .string("/")),
        ]
        if grantAll {
            let caps: JSON = .array(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"].map(JSON.string))
            process.append(("capabilities", .object([("bounding", caps), ("effective", caps), ("permitted", caps)])))
        }
        process.append(("rlimits", .array([.object([("type", .string("RLIMIT_NOFILE")), ("hard", .number(1024)), ("soft", .number(1024))])])))
        process.append(("noNewPrivileges", .bool(true)))

        var namespaces: [JSON] = ["pid", "network", "ipc", "uts", "mount", "cgroup"].map { .object([("type", .string($0))]) }
        var linux: [(String, JSON)] = []
        if rootless {
            namespaces.append(.object([("type", .string("user"))]))
            func map(_ host: UInt32) -> JSON {
                .array([.object([("containerID", .number(0)), ("hostID", .unsigned(UInt64(host))), ("size", .number(1))])])
            }
            linux.append(("uidMappings", map(uid)))
            linux.append(("gidMappings", map(gid)))
        }
        linux.append(("namespaces", .array(namespaces)))

        var top: [(String, JSON)] = [
            ("ociVersion", .string(Runtime.ociVersion)),
            ("process", .object(process)),
            ("root", .object([("path", .string("rootfs")), ("readonly", .bool(true))])),
            ("hostname", .string("void")),
        ]
        if grantAll {
            let m = mounts(rootless: rootless)
            top.append(("mounts", .array(m.list)))
            top.append(("annotations", .object([
                ("org.voidoci.rootfs", .string("ro")),
                ("org.voidoci.mounts", .string(m.grants.joined(separator: ";"))),
                ("org.voidoci.dev", .string("minimal")),
            ])))
            linux.append(("maskedPaths", .array(masked.map(JSON.string))))
            linux.append(("readonlyPaths", .array(readonly.map(JSON.string))))
        } else {
            top.append(("mounts", .array([])))
        }
        top.append(("linux", .object(linux)))
        return .object(top)
    }

    /// runc's default mounts, and the org.voidoci.mounts types that grant them.
    static func mounts(rootless: Bool) -> (list: [JSON], grants: [String]) {
        func mount(_ dest: String, _ type: String, _ source: String, _ options: [String]) -> JSON {
            var o: [(String, JSON)] = [("destination", .string(dest)), ("type", .string(type)), ("source", .string(source))]
            if !options.isEmpty { o.append(("options", .array(options.map(JSON.string)))) }
            return .object(o)
        }
        var list = [
            mount("/proc", "proc", "proc", []),
            mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            // No gid=5: a void maps one id (runc's rootless spec leaves it out for the same reason).
            mount("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
            mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        ]
        var grants = ["proc", "tmpfs", "devpts", "shm", "mqueue"]
        if rootless {
            list.append(mount("/sys", "none", "/sys", ["rbind", "nosuid", "noexec", "nodev", "ro"]))
        } else {
            list.append(mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]))
            list.append(mount("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]))
            grants += ["sysfs", "cgroup"]
        }
        return (list, grants)
    }

    static let masked = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                         "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]
    static let readonly = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
}

extension JSON {
    /// Indented, two spaces a level, as `runc spec` writes its config.json.
    public func renderPretty() -> String {
        var out = ""
        pretty(into: &out, level: 0)
        return out + "\n"
    }

    func pretty(into out: inout String, level: Int) {
        let pad = String(repeating: "  ", count: level + 1), end = String(repeating: "  ", count: level)
        switch self {
        case .array(let a) where !a.isEmpty:
            out += "[\n"
            for (i, e) in a.enumerated() {
                out += pad
                e.pretty(into: &out, level: level + 1)
                out += i + 1 < a.count ? ",\n" : "\n"
            }
            out += end + "]"
        case .object(let o) where !o.isEmpty:
            out += "{\n"
            for (i, (k, v)) in o.enumerated() {
                out += pad + StateJSON.quote(k) + ": "
                v.pretty(into: &out, level: level + 1)
                out += i + 1 < o.count ? ",\n" : "\n"
            }
            out += end + "}"
        default:
            render(into: &out)
        }
    }
}
