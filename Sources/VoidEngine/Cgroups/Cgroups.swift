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
        parse(mountinfo: (try? readSmallBytes("/proc/self/mountinfo")) ?? [])
    }

    /// The cgroup lines of a mountinfo: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] -
    /// FSTYPE SOURCE SUPEROPTS`. Parsed as bytes, since it runs for every create and run and a
    /// host may have hundreds of mounts; strings are made only for the cgroup ones.
    static func parse(mountinfo: [UInt8]) -> CgroupLayout {
        var layout = CgroupLayout(v1: [], v2: nil)
        // A hierarchy mounted twice (a bind of it elsewhere) is one hierarchy: its first mount
        // only, or the void's leaf would be made, and found existing, twice.
        var devices: [String] = []
        mountinfo.withUnsafeBufferPointer { p in
            var start = 0
            while start < p.count {
                var end = start
                while end < p.count && p[end] != UInt8(ascii: "\n") { end += 1 }
                var mountPoint = 0..<0, device = 0..<0, type = 0..<0, superOptions = 0..<0
                var index = 0, dash = -1, i = start
                while i < end {
                    var j = i
                    while j < end && p[j] != UInt8(ascii: " ") { j += 1 }
                    if index == 2 { device = i..<j }
                    if index == 4 { mountPoint = i..<j }
                    if dash < 0 && index > 5 && j == i + 1 && p[i] == UInt8(ascii: "-") { dash = index }
                    if dash >= 0 && index == dash + 1 { type = i..<j }
                    if dash >= 0 && index == dash + 3 { superOptions = i..<j }
                    index += 1
                    i = j + 1
                }
                start = end + 1
                func text(_ r: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: p[r]), as: UTF8.self) }
                guard dash >= 0, index > dash + 3, type.count >= 6 else { continue }
                let fstype = text(type)
                guard fstype == "cgroup2" || fstype == "cgroup" else { continue }
                let dev = text(device)
                guard !devices.contains(dev) else { continue }
                devices.append(dev)
                if fstype == "cgroup2" {
                    if layout.v2 == nil { layout.v2 = text(mountPoint) }
                    continue
                }
                var controllers: [String] = []
                var k = superOptions.lowerBound
                while k < superOptions.upperBound {
                    var e = k
                    while e < superOptions.upperBound && p[e] != UInt8(ascii: ",") { e += 1 }
                    let option = text(k..<e)
                    k = e + 1
                    switch option {
                    case "rw", "ro", "nosuid", "nodev", "noexec", "relatime", "clone_children": continue
                    default: if !option.hasPrefix("release_agent") { controllers.append(option) }
                    }
                }
                layout.v1.append(V1(controllers: controllers, mountPoint: text(mountPoint)))
            }
        }
        return layout
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
    /// runc's cgroupfs driver does), else voidoci/ID. Normalised ("." and empty components
    /// dropped), so that no spelling ("/.", ".", "//.") names a hierarchy's root: voidoci kills,
    /// freezes and removes through this path, and the root holds every process of the host.
    public static func relativePath(_ cgroupsPath: String?, id: String) throws -> String {
        guard let p = cgroupsPath, !p.isEmpty else { return "voidoci/\(id)" }
        if p.contains(":") && !p.hasPrefix("/") {
            throw VoidError("linux.cgroupsPath \(p): the systemd form slice:prefix:name needs --systemd-cgroup, which voidoci does not support here (no systemd): use --cgroup-manager cgroupfs and a path")
        }
        guard !p.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw VoidError("linux.cgroupsPath \(StateJSON.quote(p)): a control character in a cgroup path")
        }
        let parts = p.split(separator: "/").map(String.init).filter { $0 != "." }
        guard !parts.contains("..") else { throw VoidError("linux.cgroupsPath \(p): must be a path without \"..\"") }
        guard !parts.isEmpty else {
            throw VoidError("linux.cgroupsPath \(p): names the root cgroup of every hierarchy, which holds the whole host; give the void a cgroup of its own (e.g. /voidoci/ID)")
        }
        return parts.joined(separator: "/")
    }

    /// The leaf directory of `rel` in every hierarchy of `layout` (v1 ones first, then v2):
    /// what `makeDirectories` makes, in that order.
    public static func leaves(_ rel: String, layout: CgroupLayout) -> [String] {
        layout.v1.map { "\($0.mountPoint)/\(rel)" } + (layout.v2.map { ["\($0)/\(rel)"] } ?? [])
    }

    /// Creates the leaf in every hierarchy and applies `resources`. On failure, removes what it made.
    public static func create(_ rel: String, layout: CgroupLayout, resources: LinuxResources?, devices: [LinuxDevice]) throws -> VoidCgroup {
        var created: [String] = []
        let cg = try makeDirectories(rel, layout: layout, created: &created)
        do {
            try cg.apply(resources, layout: layout, devices: devices, initial: true)
            return cg
        } catch {
            removeCgroupDirectories(created)
            throw error
        }
    }

    /// The leaf in every hierarchy, no limits yet. `created` gets every directory this call
    /// made, parents first. The leaf must be new: voidoci only ever kills, freezes, updates or
    /// removes a cgroup it made itself, and one that exists may hold another container's
    /// processes and limits (runc would take it over). Parents may exist (voidoci/ is shared by
    /// every void); their limits are never touched. On failure, removes what it made (only that).
    public static func makeDirectories(_ rel: String, layout: CgroupLayout, created: inout [String]) throws -> VoidCgroup {
        var cg = VoidCgroup(paths: [], freezer: nil, unified: nil)
        let before = created.count
        do {
            for h in layout.v1 {
                let dir = "\(h.mountPoint)/\(rel)"
                try makeCgroupDir(h.mountPoint, rel, copyCpuset: h.controllers.contains("cpuset"), created: &created)
                cg.paths.append(dir)
                if h.controllers.contains("freezer") { cg.freezer = dir }
            }
            if let v2 = layout.v2 {
                try makeCgroupDir(v2, rel, copyCpuset: false, created: &created)
                cg.paths.append("\(v2)/\(rel)")
                cg.unified = "\(v2)/\(rel)"
            }
            return cg
        } catch {
            removeCgroupDirectories(Array(created[before...]))
            created.removeSubrange(before...)
            throw error
        }
    }

    /// The caller's current cgroups, to return to after the init was cloned into the void's.
    public static func current(layout: CgroupLayout, pid: String = "self") -> [String] {
        parse(procCgroup: (try? readSmallBytes("/proc/\(pid)/cgroup")) ?? [], layout: layout)
    }

    /// /proc/PID/cgroup's lines as directories of `layout`.
    static func parse(procCgroup bytes: [UInt8], layout: CgroupLayout) -> [String] {
        var out: [String] = []
        // Lines are ID:CONTROLLERS:PATH; the path may itself hold ':'.
        bytes.withUnsafeBufferPointer { p in
            var start = 0
            while start < p.count {
                var end = start
                while end < p.count && p[end] != UInt8(ascii: "\n") { end += 1 }
                defer { start = end + 1 }
                var c1 = start
                while c1 < end && p[c1] != UInt8(ascii: ":") { c1 += 1 }
                var c2 = c1 + 1
                while c2 < end && p[c2] != UInt8(ascii: ":") { c2 += 1 }
                guard c2 < end else { continue }
                let path = String(decoding: UnsafeBufferPointer(rebasing: p[(c2 + 1)..<end]), as: UTF8.self)
                if c2 == c1 + 1 {
                    if let v2 = layout.v2 { out.append("\(v2)\(path)") }
                    continue
                }
                var comma = c1 + 1
                while comma < c2 && p[comma] != UInt8(ascii: ",") { comma += 1 }
                let first = String(decoding: UnsafeBufferPointer(rebasing: p[(c1 + 1)..<comma]), as: UTF8.self)
                if let m = layout.v1.first(where: { $0.controllers.contains(first) }) {
                    out.append("\(m.mountPoint)\(path)")
                }
            }
        }
        return out
    }

    public func pids() -> [Int32] {
        guard let first = unified ?? paths.first, let text = try? readSmallFile("\(first)/cgroup.procs") else { return [] }
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    /// Kills what is left and removes the directories (children first; rmdir needs them empty).
    public func remove() {
        for pid in pids() { kill(pid, SIGKILL) }
        removeCgroupDirectories(paths)
    }

    /// How often the kernel's OOM killer acted in the void's memory cgroup (v1
    /// memory.oom_control, v2 memory.events: "oom_kill N").
    public func oomKills() -> Int {
        for d in paths {
            for f in ["memory.oom_control", "memory.events"] {
                guard let text = try? readSmallFile("\(d)/\(f)") else { continue }
                for line in text.split(separator: "\n") where line.hasPrefix("oom_kill ") {
                    return Int(line.dropFirst(9)) ?? 0
                }
            }
        }
        return 0
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
}

/// Removes directories made by `makeCgroupDir` (given parents first), children first; a
/// moment's retry while the kernel finishes removing tasks that just exited. (A void's leaves,
/// one per hierarchy, go the same way: their order does not matter.)
func removeCgroupDirectories(_ dirs: [String]) {
    for dir in dirs.reversed() {
        for _ in 0..<200 {
            if rmdir(dir) == 0 || errno == ENOENT || errno != EBUSY { break }
            usleep(5000)
        }
    }
}

/// Makes `root/rel`, which must not exist yet. Its parents usually exist (voidoci/ from an
/// earlier void), so the leaf is tried first; the walk from the root, which makes what is
/// missing, only when a parent is not there.
func makeCgroupDir(_ root: String, _ rel: String, copyCpuset: Bool, created: inout [String]) throws {
    let leaf = "\(root)/\(rel)"
    func made(_ dir: String, parent: String) {
        created.append(dir)
        if copyCpuset { copyCpusetValues(from: parent, to: dir) }
    }
    func exists() -> VoidError {
        VoidError("linux.cgroupsPath: the cgroup \(leaf) already exists: voidoci makes each void's cgroup itself and never takes over one it did not make (it may hold another container's processes or limits): file exists", errno: EEXIST)
    }
    if mkdir(leaf, 0o755) == 0 {
        if let slash = leaf.lastIndex(of: "/") { made(leaf, parent: String(leaf[..<slash])) }
        return
    }
    if errno == EEXIST { throw exists() }
    var cur = root
    let comps = rel.split(separator: "/")
    for (i, comp) in comps.enumerated() {
        let parent = cur
        cur += "/\(comp)"
        if mkdir(cur, 0o755) < 0 {
            if errno == EEXIST && i < comps.count - 1 { continue }
            if errno == EEXIST { throw exists() }
            throw VoidError("cgroup \(cur): \(errnoText(errno))", errno: errno)
        }
        made(cur, parent: parent)
    }
}

/// A new v1 cpuset is born empty and refuses tasks until it has cpus and mems: the parent's,
/// written as read (the kernel strips the newline).
private func copyCpusetValues(from parent: String, to dir: String) {
    for f in ["cpuset.cpus", "cpuset.mems"] {
        guard let v = try? readSmallBytes("\(parent)/\(f)") else { continue }
        let fd = open("\(dir)/\(f)", O_WRONLY | O_CLOEXEC)
        if fd < 0 { continue }
        _ = v.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}

func writeCgroupFile(_ path: String, _ value: String, field: String? = nil) throws {
    let fd = try openCgroupFile(path, field: field)
    defer { close(fd) }
    try writeCgroupValue(fd, value, path: path, field: field)
}

func openCgroupFile(_ path: String, field: String?) throws -> Int32 {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else {
        let e = errno
        throw VoidError("\(field.map { "\($0): " } ?? "")cgroup file \(path): \(errnoText(e))", errno: e)
    }
    return fd
}

func writeCgroupValue(_ fd: Int32, _ value: String, path: String, field: String?) throws {
    var value = value
    let n = value.withUTF8 { write(fd, $0.baseAddress, $0.count) }
    if n < 0 {
        let e = errno
        throw VoidError("\(field.map { "\($0): " } ?? "")writing \(value) to \(path): \(errnoText(e))", errno: e)
    }
}

/// A cgroup file written more than once (one device rule per write), opened at the first write.
final class CgroupFile {
    let path: String
    private var fd: Int32 = -1

    init(_ dir: String, _ name: String) { path = "\(dir)/\(name)" }

    func write(_ value: String, field: String) throws {
        if fd < 0 { fd = try openCgroupFile(path, field: field) }
        try writeCgroupValue(fd, value, path: path, field: field)
    }

    deinit { if fd >= 0 { close(fd) } }
}
