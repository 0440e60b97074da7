import Glibc
import OCIBundle

/// Who runs voidoci: decides the id maps a void gets (docs/void.md: user namespace).
public struct Caller: Sendable {
    public var euid: UInt32
    public var egid: UInt32
    /// uid 0 in the user namespace voidoci runs in: it can map any id of that namespace and
    /// clone host-side mounts (open_tree) for the void.
    public var privileged: Bool
    /// Running in the initial user namespace (identity uid_map). Real root = privileged && this.
    public var initialUserNS: Bool
    /// The kernel's last capability (CAP_LAST_CAP as the running kernel knows it).
    public var lastCap: Int

    public var isRealRoot: Bool { privileged && initialUserNS }

    public init(euid: UInt32, egid: UInt32, privileged: Bool, initialUserNS: Bool, lastCap: Int) {
        self.euid = euid
        self.egid = egid
        self.privileged = privileged
        self.initialUserNS = initialUserNS
        self.lastCap = lastCap
    }

    public static func current() -> Caller {
        let euid = geteuid()
        let map = (try? readSmallFile("/proc/self/uid_map")) ?? ""
        let fields = map.split(whereSeparator: { $0 == " " || $0 == "\n" })
        let identity = fields.count == 3 && fields[0] == "0" && fields[1] == "0" && fields[2] == "4294967295"
        return Caller(euid: euid, egid: getegid(), privileged: euid == 0, initialUserNS: identity,
                      lastCap: Int(void_last_cap_swift()))
    }
}

import CVoid
@inline(__always) func void_last_cap_swift() -> Int32 { void_last_cap() }

/// Reads a small file (proc, state) in one go.
public func readSmallFile(_ path: String) throws -> String {
    String(decoding: try readSmallBytes(path), as: UTF8.self)
}

/// The same, as bytes (OCIBundle's `readToEnd`: no large zero-filled buffer).
public func readSmallBytes(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw VoidError.sys("open", path) }
    defer { close(fd) }
    guard let bytes = readToEnd(fd) else { throw VoidError.sys("read", path) }
    return bytes
}

/// The names in a directory, without "." and ".." (none when it cannot be read).
func directoryEntries(_ path: String) -> [String] {
    guard let d = opendir(path) else { return [] }
    defer { closedir(d) }
    var out: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { out.append(name) }
    }
    return out
}

/// Writes a file atomically: a temporary `.name.tmp` in the same directory, then rename, so a
/// reader (conmon reading the pid file) never sees it half-written.
public func writeFileAtomically(_ path: String, _ contents: String, mode: mode_t = 0o644) throws {
    let (dir, name) = splitPath(path)
    let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dfd < 0 { throw VoidError.sys("open", dir) }
    defer { close(dfd) }
    try writeFileAtomically(dirFD: dfd, dir: dir, name: name, contents, mode: mode)
}

/// (directory, last component) of a path; "." for a bare name.
public func splitPath(_ path: String) -> (String, String) {
    guard let slash = path.lastIndex(of: "/") else { return (".", path) }
    let dir = String(path[..<slash])
    return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
}

/// The same, relative to an open directory: usable after voidoci joined another mount
/// namespace (exec writes its pid file from inside the void's namespaces).
public func writeFileAtomically(dirFD: Int32, dir: String, name: String, _ contents: String, mode: mode_t = 0o644) throws {
    let tmp = ".\(name).tmp"
    let fd = openat(dirFD, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    if fd < 0 { throw VoidError.sys("open", "\(dir)/\(tmp)") }
    let bytes = Array(contents.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            let e = errno
            close(fd)
            unlinkat(dirFD, tmp, 0)
            throw VoidError.sys("write", "\(dir)/\(tmp)", errno: e)
        }
        off += n
    }
    close(fd)
    if renameat(dirFD, tmp, dirFD, name) < 0 {
        let e = errno
        unlinkat(dirFD, tmp, 0)
        throw VoidError.sys("rename", "\(dir)/\(name)", errno: e)
    }
}
