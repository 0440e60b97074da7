import Glibc
import OCIBundle

/// The cgroup hierarchies of this host, read from /proc/self/mountinfo: v1 controllers (each
/// its own mount, e.g. /sys/fs/cgroup/memory), and the v2 hierarchy (at /sys/fs/cgroup on a
/// unified host, /sys/fs/cgroup/unified on a hybrid one).
public struct CgroupLayout: Sendable {
    public struct V1: Sendable, Equatable {
        public var controllers: [String]   // "memory", "cpu", "name=systemd", ...
        public var mountPoint: String
    }
    public var v1: [V1]
    public var v2: String?

    public var isUnified: Bool { v1.isEmpty && v2 != nil }

    /// This host's layout, read once per process: a voidoci invocation is short and the cgroup
    /// mounts do not move under it. (`read()` for a fresh look.)
    public static let host = read()

    public static func read() -> CgroupLayout {
        let text = (try? readSmallFile("/proc/self/mountinfo")) ?? ""
        var v1: [V1] = []
        var v2: String?
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard let dash = f.firstIndex(of: "-"), dash + 3 < f.count else { continue }
            let type = f[dash + 1], mountPoint = String(f[4])
            if type == "cgroup2" { v2 = mountPoint }
            if type == "cgroup" {
                let opts = f[dash + 3].split(separator: ",").map(String.init)
                let ctrls = opts.filter { !["rw", "ro", "nosuid", "nodev", "noexec", "relatime", "clone_children"].contains($0) && !$0.hasPrefix("release_agent") }
                v1.append(V1(controllers: ctrls, mountPoint: mountPoint))
            }
        }
        return CgroupLayout(v1: v1, v2: v2)
    }

    func mount(for controller: String) -> String? { v1.first { $0.controllers.contains(controller) }?.mountPoint }
}

/// A void's cgroup: one leaf directory per hierarchy, created before the void's cgroup
/// namespace so the void sees only itself, limits applied, removed at delete.
public struct VoidCgroup: Codable, Sendable, Equatable {
    public var paths: [String]          // every directory created, one per hierarchy
    public var freezer: String?         // v1 freezer dir, or nil
    public var unified: String?         // the v2 dir, or nil

    /// `linux.cgroupsPath` ("/a/b" from each hierarchy's root; a relative path likewise, as
    /// runc's cgroupfs driver does), else /voidoci/ID.
    public static func relativePath(_ cgroupsPath: String?, id: String) throws -> String {
        guard let p = cgroupsPath, !p.isEmpty else { return "voidoci/\(id)" }
        if p.contains(":") && !p.hasPrefix("/") {
            throw VoidError("linux.cgroupsPath \(p): the systemd form slice:prefix:name needs --systemd-cgroup, which voidoci does not support here (no systemd): use --cgroup-manager cgroupfs and a path")
        }
        let parts = p.split(separator: "/").map(String.init)
        guard !parts.contains(".."), !parts.isEmpty else { throw VoidError("linux.cgroupsPath \(p): must be a path without \"..\"") }
        return parts.joined(separator: "/")
    }

    /// Creates the leaf in every hierarchy and applies `resources`. On failure, removes what it made.
    public static func create(_ rel: String, layout: CgroupLayout, resources: LinuxResources?, devices: [LinuxDevice]) throws -> VoidCgroup {
        var cg = VoidCgroup(paths: [], freezer: nil, unified: nil)
        do {
            for h in layout.v1 {
                let dir = "\(h.mountPoint)/\(rel)"
                try makeCgroupDir(h.mountPoint, rel, copyCpuset: h.controllers.contains("cpuset"))
                cg.paths.append(dir)
                if h.controllers.contains("freezer") { cg.freezer = dir }
            }
            if let v2 = layout.v2 {
                try makeCgroupDir(v2, rel, copyCpuset: false)
                cg.paths.append("\(v2)/\(rel)")
                cg.unified = "\(v2)/\(rel)"
            }
            try cg.apply(resources, layout: layout, devices: devices, initial: true)
            return cg
        } catch {
            cg.remove()
            throw error
        }
    }

    /// Moves `pid` (0: the caller) into every directory of the cgroup.
    public func join(_ pid: Int32 = 0) throws {
        for dir in paths {
            try writeCgroupFile("\(dir)/cgroup.procs", "\(pid)")
        }
    }

    /// The caller's current cgroups, to return to after the init was cloned into the void's.
    public static func current(layout: CgroupLayout, pid: String = "self") -> [String] {
        let text = (try? readSmallFile("/proc/\(pid)/cgroup")) ?? ""
        var out: [String] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard f.count == 3 else { continue }
            let path = String(f[2])
            if f[1].isEmpty {
                if let v2 = layout.v2 { out.append("\(v2)\(path)") }
            } else if let m = layout.v1.first(where: { $0.controllers.contains(String(f[1].split(separator: ",").first ?? "")) }) {
                out.append("\(m.mountPoint)\(path)")
            }
        }
        return out
    }

    /// Best effort: a directory we cannot return to is no reason to fail a void.
    public static func moveBack(to dirs: [String]) {
        for d in dirs { try? writeCgroupFile("\(d)/cgroup.procs", "0") }
    }

    public func pids() -> [Int32] {
        guard let first = unified ?? paths.first, let text = try? readSmallFile("\(first)/cgroup.procs") else { return [] }
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    /// Kills what is left and removes the directories (children first; rmdir needs them empty).
    public func remove() {
        for pid in pids() { kill(pid, SIGKILL) }
        for dir in paths {
            for _ in 0..<200 {
                if rmdir(dir) == 0 || errno == ENOENT { break }
                if errno != EBUSY { break }
                usleep(5000)
            }
        }
    }

    // MARK: freezer

    public var isFrozen: Bool {
        if let f = freezer, let s = try? readSmallFile("\(f)/freezer.state") { return s.hasPrefix("FROZEN") }
        if let u = unified, let s = try? readSmallFile("\(u)/cgroup.freeze") { return s.hasPrefix("1") }
        return false
    }

    public func freeze(_ on: Bool) throws {
        if let f = freezer {
            try writeCgroupFile("\(f)/freezer.state", on ? "FROZEN" : "THAWED")
            // FREEZING is transient: wait until the kernel says it is done.
            for _ in 0..<1000 {
                let s = (try? readSmallFile("\(f)/freezer.state")) ?? ""
                if s.hasPrefix(on ? "FROZEN" : "THAWED") { return }
                usleep(1000)
            }
            throw VoidError("freezer \(f): still not \(on ? "FROZEN" : "THAWED") after 1 s")
        } else if let u = unified {
            try writeCgroupFile("\(u)/cgroup.freeze", on ? "1" : "0")
        } else {
            throw VoidError("no freezer: this void has no cgroup")
        }
    }

    // MARK: resources

    /// Writes the limits runc's cgroupfs driver writes, for v1 and v2. What the host cannot
    /// take (a controller that is not mounted) is an error naming the field.
    public func apply(_ r: LinuxResources?, layout: CgroupLayout, devices: [LinuxDevice], initial: Bool) throws {
        let v1 = !layout.v1.isEmpty
        func dir(_ controller: String) throws -> String {
            if v1 {
                guard let m = layout.mount(for: controller), let d = paths.first(where: { $0.hasPrefix(m + "/") }) else {
                    throw VoidError("linux.resources: the \(controller) controller is not mounted on this host")
                }
                return d
            }
            guard let u = unified else { throw VoidError("linux.resources: no cgroup") }
            return u
        }
        if let m = r?.memory {
            let d = try dir("memory")
            if v1 {
                if let l = m.limit { try writeCgroupFile("\(d)/memory.limit_in_bytes", "\(l)", field: "linux.resources.memory.limit") }
                if let s = m.swap, access("\(d)/memory.memsw.limit_in_bytes", F_OK) == 0 {
                    try writeCgroupFile("\(d)/memory.memsw.limit_in_bytes", "\(s)", field: "linux.resources.memory.swap")
                }
                if let rsv = m.reservation { try writeCgroupFile("\(d)/memory.soft_limit_in_bytes", "\(rsv)", field: "linux.resources.memory.reservation") }
            } else {
                if let l = m.limit { try writeCgroupFile("\(d)/memory.max", l < 0 ? "max" : "\(l)", field: "linux.resources.memory.limit") }
                if let rsv = m.reservation { try writeCgroupFile("\(d)/memory.low", "\(rsv)", field: "linux.resources.memory.reservation") }
                if let s = m.swap, let l = m.limit {
                    // v1's memsw is memory+swap; v2's swap.max is swap alone.
                    try writeCgroupFile("\(d)/memory.swap.max", s < 0 ? "max" : "\(max(0, s - l))", field: "linux.resources.memory.swap")
                }
            }
        }
        if let p = r?.pids {
            try writeCgroupFile("\(try dir("pids"))/pids.max", p.limit > 0 ? "\(p.limit)" : "max", field: "linux.resources.pids.limit")
        }
        if let c = r?.cpu {
            if v1 {
                let d = try dir("cpu")
                if let s = c.shares { try writeCgroupFile("\(d)/cpu.shares", "\(s)", field: "linux.resources.cpu.shares") }
                if let p = c.period { try writeCgroupFile("\(d)/cpu.cfs_period_us", "\(p)", field: "linux.resources.cpu.period") }
                if let q = c.quota { try writeCgroupFile("\(d)/cpu.cfs_quota_us", "\(q)", field: "linux.resources.cpu.quota") }
                if let cpus = c.cpus, !cpus.isEmpty { try writeCgroupFile("\(try dir("cpuset"))/cpuset.cpus", cpus, field: "linux.resources.cpu.cpus") }
                if let mems = c.mems, !mems.isEmpty { try writeCgroupFile("\(try dir("cpuset"))/cpuset.mems", mems, field: "linux.resources.cpu.mems") }
            } else {
                let d = try dir("cpu")
                if let s = c.shares, s > 0 {
                    // runc's conversion of shares [2, 262144] to weight [1, 10000].
                    let w = 1 + ((s - 2) * 9999) / 262142
                    try writeCgroupFile("\(d)/cpu.weight", "\(w)", field: "linux.resources.cpu.shares")
                }
                if c.quota != nil || c.period != nil {
                    let q = c.quota.map { $0 < 0 ? "max" : "\($0)" } ?? "max"
                    try writeCgroupFile("\(d)/cpu.max", "\(q) \(c.period ?? 100_000)", field: "linux.resources.cpu.quota")
                }
                if let cpus = c.cpus, !cpus.isEmpty { try writeCgroupFile("\(d)/cpuset.cpus", cpus, field: "linux.resources.cpu.cpus") }
                if let mems = c.mems, !mems.isEmpty { try writeCgroupFile("\(d)/cpuset.mems", mems, field: "linux.resources.cpu.mems") }
            }
        }
        if v1, initial || r?.devices != nil, let d = try? dir("devices") {
            try applyDeviceRules(d, r?.devices ?? [], devices: devices)
        }
        if let u = r?.unified, !u.isEmpty {
            guard let d = unified else { throw VoidError("linux.resources.unified: the host has no cgroup v2 hierarchy") }
            for (k, v) in u.sorted(by: { $0.key < $1.key }) {
                guard !k.contains("/") else { throw VoidError("linux.resources.unified: \(k): not a cgroup file name") }
                try writeCgroupFile("\(d)/\(k)", v, field: "linux.resources.unified.\(k)")
            }
        }
    }

    /// v1 device rules: the config's, then the devices a void may be granted (runc's defaults
    /// and the ones in linux.devices), so `deny all` does not make /dev/null unusable.
    func applyDeviceRules(_ d: String, _ rules: [LinuxDeviceCgroup], devices: [LinuxDevice]) throws {
        func rule(_ allow: Bool, _ text: String, _ field: String) throws {
            try writeCgroupFile("\(d)/\(allow ? "devices.allow" : "devices.deny")", text, field: field)
        }
        for (i, r) in rules.enumerated() {
            let type = r.type ?? "a"
            let major = r.major.map(String.init) ?? "*", minor = r.minor.map(String.init) ?? "*"
            let text = type == "a" ? "a" : "\(type) \(major):\(minor) \(r.access ?? "rwm")"
            try rule(r.allow, text, "linux.resources.devices[\(i)]")
        }
        let defaults = ["c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm"]
        for text in defaults { try rule(true, text, "default devices") }
        for (i, dev) in devices.enumerated() where dev.type == "c" || dev.type == "b" || dev.type == "u" {
            if let maj = dev.major, let min = dev.minor {
                try rule(true, "\(dev.type == "b" ? "b" : "c") \(maj):\(min) rwm", "linux.devices[\(i)]")
            }
        }
    }
}

func makeCgroupDir(_ root: String, _ rel: String, copyCpuset: Bool) throws {
    var cur = root
    for comp in rel.split(separator: "/") {
        let parent = cur
        cur += "/\(comp)"
        if mkdir(cur, 0o755) < 0 {
            if errno == EEXIST { continue }
            throw VoidError("cgroup \(cur): \(errnoText(errno))", errno: errno)
        }
        // A new v1 cpuset is born empty and refuses tasks until it has cpus and mems.
        if copyCpuset {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if let v = try? readSmallFile("\(parent)/\(f)") { try? writeCgroupFile("\(cur)/\(f)", v.trimmingCharacters()) }
            }
        }
    }
}

func writeCgroupFile(_ path: String, _ value: String, field: String? = nil) throws {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else {
        let e = errno
        throw VoidError("\(field.map { "\($0): " } ?? "")cgroup file \(path): \(errnoText(e))", errno: e)
    }
    defer { close(fd) }
    let bytes = Array(value.utf8)
    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    if n < 0 {
        let e = errno
        throw VoidError("\(field.map { "\($0): " } ?? "")writing \(value) to \(path): \(errnoText(e))", errno: e)
    }
}
