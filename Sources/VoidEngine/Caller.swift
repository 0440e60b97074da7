import Glibc

/// Who runs voidoci: decides the id maps a void gets (VOID.md, "user namespace").
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
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw VoidError.sys("open", path) }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; throw VoidError.sys("read", path) }
        if n == 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Writes a file atomically: a temporary `.name.tmp` in the same directory, then rename, so a
/// reader (conmon reading the pid file) never sees it half-written.
public func writeFileAtomically(_ path: String, _ contents: String, mode: mode_t = 0o644) throws {
    let slash = path.lastIndex(of: "/")
    let dir = slash.map { String(path[..<$0]) } ?? "."
    let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    let tmp = "\(dir)/.\(name).tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    if fd < 0 { throw VoidError.sys("open", tmp) }
    let bytes = Array(contents.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            let e = errno
            close(fd)
            unlink(tmp)
            throw VoidError.sys("write", tmp, errno: e)
        }
        off += n
    }
    close(fd)
    if rename(tmp, path) < 0 {
        let e = errno
        unlink(tmp)
        throw VoidError.sys("rename", path, errno: e)
    }
}
