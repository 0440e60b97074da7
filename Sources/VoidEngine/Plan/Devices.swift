import CVoid
import Glibc
import OCIBundle

/// A device node voidoci makes for a void, as runc's mknod does: the numbers, the mode and the
/// owner the config gives, whether or not the host has such a node.
public struct DeviceNode: Equatable, Sendable {
    public var type: String        // "c" (also for "u"), "b" or "p"
    public var major: Int64
    public var minor: Int64
    public var mode: UInt32        // fileMode & 0777, runc's 0666 when absent (see makeNode)
    public var uid: UInt32         // inside the void
    public var gid: UInt32
    public var hostUID: UInt32     // what they map to: the node's owner as voidoci makes it
    public var hostGID: UInt32

    public var text: String {
        "\(type) \(major):\(minor) mode \(format4(mode)) owner \(uid):\(gid) (host \(hostUID):\(hostGID))"
    }

    func format4(_ m: UInt32) -> String {
        let s = String(m, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }
}

extension Planner {
    /// runc's default devices, which `org.voidoci.dev=minimal` grants: (name, major, minor).
    static let minimalDeviceNumbers: [(String, Int64, Int64)] = [
        ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
    ]

    /// Nodes can be made only by a voidoci in the initial user namespace with its privilege (a
    /// node made in any other user namespace's tmpfs cannot be opened), and only when the void's
    /// maps are known here (not a joined user namespace). Otherwise the host's node is bound.
    func canMakeNodes(_ ids: IDs) -> Bool { caller.isRealRoot && !ids.joined }

    /// The mounts of `org.voidoci.dev=minimal`: made as runc makes its default devices (0666,
    /// owned by the void's root), or bound from the host.
    func minimalDeviceMounts(ids: IDs) throws -> [PlannedMount] {
        let origin = PlannedMount.Origin.annotation("org.voidoci.dev=minimal")
        return try Self.minimalDeviceNumbers.map { (name, major, minor) in
            let path = "/dev/\(name)"
            if canMakeNodes(ids) {
                let node = try makeNode(type: "c", major: major, minor: minor, fileMode: nil, uid: nil, gid: nil, ids: ids, field: origin.text)
                return PlannedMount(kind: .node, destination: path, source: path, flags: ["nosuid", "noexec"], node: node, origin: origin)
            }
            return PlannedMount(kind: .bind, destination: path, source: path, flags: ["nosuid", "noexec"], origin: origin)
        }
    }

    func deviceMount(_ d: LinuxDevice, index i: Int, ids: IDs) throws -> PlannedMount {
        let field = "linux.devices[\(i)]"
        if canMakeNodes(ids) {
            let node = try makeNode(type: d.type, major: d.major ?? 0, minor: d.minor ?? 0, fileMode: d.fileMode,
                                    uid: d.uid, gid: d.gid, ids: ids, field: field)
            return PlannedMount(kind: .node, destination: normalizedPath(d.path), source: d.path, flags: ["nosuid", "noexec"],
                                node: node, origin: .device(i))
        }
        return try hostDeviceMount(d, index: i)
    }

    /// runc (libcontainer/specconv): an absent fileMode is 0666, absent uid and gid are 0. runc's
    /// mknodDevice then chmods with Go's os.Chmod, which keeps only the permission bits: a
    /// set-id or sticky bit in fileMode does not survive there, nor here (on a nosuid node it
    /// would mean nothing). The owner is the host id the void's id maps to; an id the void does
    /// not map cannot own it.
    func makeNode(type: String, major: Int64, minor: Int64, fileMode: UInt32?, uid: UInt32?, gid: UInt32?,
                  ids: IDs, field: String) throws -> DeviceNode {
        guard major >= 0, minor >= 0, major <= 0xfff, minor <= 0xf_ffff else {
            throw VoidError("\(field): \(major):\(minor) is not a device number the kernel can hold (12-bit major, 20-bit minor)")
        }
        func host(_ maps: [LinuxIDMapping], _ id: UInt32, _ key: String) throws -> UInt32 {
            if let m = maps.first(where: { id >= $0.containerID && UInt64(id) < UInt64($0.containerID) + UInt64($0.size) }) {
                return m.hostID + (id - m.containerID)
            }
            throw VoidError("\(field).\(key): \(id) is not mapped in the void's user namespace (maps: \(describe(maps)))")
        }
        // "0" when absent, as runc; when the void has no id 0 (a void of process.user's one id),
        // the node belongs to that id instead.
        let u = uid ?? (ids.mapsUID(0) ? 0 : ids.uidMap.first?.containerID ?? 0)
        let g = gid ?? (ids.mapsGID(0) ? 0 : ids.gidMap.first?.containerID ?? 0)
        return DeviceNode(type: type == "u" ? "c" : type, major: type == "p" ? 0 : major, minor: type == "p" ? 0 : minor,
                          mode: (fileMode ?? 0o666) & 0o777, uid: u, gid: g,
                          hostUID: try host(ids.uidMap, u, "uid"), hostGID: try host(ids.gidMap, g, "gid"))
    }

    /// Unprivileged (or with a joined user namespace): the host's node at the same path, which
    /// must exist with the type and numbers asked for; fileMode, uid and gid are the host's.
    func hostDeviceMount(_ d: LinuxDevice, index i: Int) throws -> PlannedMount {
        var st = stat()
        guard stat(d.path, &st) == 0 else {
            throw VoidError("linux.devices[\(i)]: \(d.path): the host has no such node to bind (an unprivileged voidoci cannot mknod): \(errnoText(errno))")
        }
        let fmt = st.st_mode & S_IFMT
        let isChar = fmt == S_IFCHR, isBlock = fmt == S_IFBLK
        let typeOK = (d.type == "c" || d.type == "u") ? isChar : d.type == "b" ? isBlock : d.type == "p" ? fmt == S_IFIFO : false
        guard typeOK else { throw VoidError("linux.devices[\(i)]: \(d.path) on the host is not a node of type \(d.type)") }
        if let maj = d.major, let min = d.minor, isChar || isBlock {
            let hostMajor = Int64((st.st_rdev >> 8) & 0xfff) | Int64((st.st_rdev >> 32) & ~0xfff)
            let hostMinor = Int64(st.st_rdev & 0xff) | Int64((st.st_rdev >> 12) & ~0xff)
            guard hostMajor == maj, hostMinor == min else {
                throw VoidError("linux.devices[\(i)]: \(d.path) is \(hostMajor):\(hostMinor) on the host, not \(maj):\(min); an unprivileged voidoci cannot mknod, so only host nodes can be bound")
            }
        }
        return PlannedMount(kind: .bind, destination: normalizedPath(d.path), source: d.path, flags: ["nosuid", "noexec"], origin: .device(i))
    }
}
