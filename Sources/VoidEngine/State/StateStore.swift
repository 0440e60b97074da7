import OCIBundle
import CVoid
import Glibc

/// What voidoci remembers of a void between commands. Status is not stored: it is derived from
/// the live process (runc's rule), so a crash between commands cannot leave a lie on disk.
public struct ContainerState: Codable, Sendable {
    public var ociVersion: String
    public var id: String
    public var pid: Int32
    public var pidStartTime: UInt64     // field 22 of /proc/PID/stat, against pid reuse
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var owner: String
    public var annotations: [String: String]?
    public var cgroup: VoidCgroup?      // nil: none (--cgroup-manager disabled, or rootless without delegation)
}

extension ContainerState {
    /// Written with voidoci's own JSON writer: no Foundation on the runtime's paths.
    var json: JSON {
        var fields: [(String, JSON)] = [
            ("ociVersion", .string(ociVersion)), ("id", .string(id)), ("pid", .number(Int(pid))),
            ("pidStartTime", .unsigned(pidStartTime)), ("bundle", .string(bundle)), ("rootfs", .string(rootfs)),
            ("created", .string(created)), ("owner", .string(owner)),
        ]
        if let a = annotations { fields.append(("annotations", .object(a.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))) }
        if let c = cgroup {
            fields.append(("cgroup", .object([
                ("paths", .array(c.paths.map(JSON.string))),
                ("freezer", c.freezer.map(JSON.string) ?? .null),
                ("unified", c.unified.map(JSON.string) ?? .null),
            ])))
        }
        return .object(fields)
    }
}

/// The state directory: `--root`, else `$XDG_RUNTIME_DIR/voidoci`, else `/run/voidoci`. One
/// directory per id, locked with flock while a command works on it.
public struct StateStore: Sendable {
    public let root: String

    /// A relative --root is taken from the current directory, once, here.
    public init(root: String) { self.root = absolutePath(root) }

    /// podman's `state`, `kill` and cleanup `delete` never get `--root`, and get only
    /// XDG_RUNTIME_DIR in their environment: the default must come from that alone.
    public static func defaultRoot(environment: [String: String]) -> String {
        if let x = environment["XDG_RUNTIME_DIR"], !x.isEmpty { return "\(x)/voidoci" }
        return "/run/voidoci"
    }

    public static func checkID(_ id: String) throws {
        let allowed = id.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d || c == 0x5f || c == 0x2e || c == 0x2b
        }
        guard !id.isEmpty, id != ".", id != "..", id.utf8.count <= 1024, allowed else {
            throw VoidError("container id \"\(id)\": invalid (letters, digits, and _ . + - only)")
        }
    }

    public func directory(_ id: String) -> String { "\(root)/\(id)" }

    /// Whether `name` is a valid id with a state directory here.
    public func exists(_ name: String) -> Bool {
        (try? StateStore.checkID(name)) != nil && access(directory(name), F_OK) == 0
    }

    /// Creates the directory for a new id; exactly one of two concurrent creates gets it.
    public func create(_ id: String) throws -> LockedContainer {
        try StateStore.checkID(id)
        do {
            try mkdirs(root)
            if geteuid() != 0 && access(root, W_OK | X_OK) != 0 { throw VoidError.sys("access", root) }
        } catch let e as VoidError where (e.errno == EACCES || e.errno == EPERM || e.errno == EROFS) && geteuid() != 0 {
            // The default /run/voidoci is root's: an ordinary user needs a state directory of its own.
            throw VoidError("state directory \(root): \(e.description): as an unprivileged user, set XDG_RUNTIME_DIR (for example /run/user/\(geteuid())) or pass --root DIR", errno: e.errno)
        }
        let dir = directory(id)
        let exists = VoidError("container \(id) already exists: file exists", errno: EEXIST)
        // Made under a name no id can have ('~'), locked, then renamed into place without
        // replacing: whoever finds the id's directory finds it locked, and waits for its state.
        let tmp = "\(root)/~\(getpid())-\(UInt32.random(in: 0...UInt32.max))~"
        if mkdir(tmp, 0o700) == 0 {
            let fd = Glibc.open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd < 0 { let e = errno; rmdir(tmp); throw VoidError.sys("open", tmp, errno: e) }
            flock(fd, LOCK_EX)
            if void_rename_noreplace(tmp, dir) == 0 { return LockedContainer(id: id, dir: dir, fd: fd) }
            let e = errno
            close(fd)
            rmdir(tmp)
            if e == EEXIST { throw exists }
            if e != EINVAL && e != ENOSYS { throw VoidError.sys("rename", dir, errno: e) }
            // A file system without RENAME_NOREPLACE: the directory itself, locked right after.
        }
        if mkdir(dir, 0o700) < 0 {
            if errno == EEXIST { throw exists }
            throw VoidError.sys("mkdir", dir)
        }
        let fd = Glibc.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { let e = errno; rmdir(dir); throw VoidError.sys("open", dir, errno: e) }
        flock(fd, LOCK_EX)
        return LockedContainer(id: id, dir: dir, fd: fd)
    }

    /// Opens and locks an existing id; waits while another command holds it. `incomplete`:
    /// also an id whose create died before saving its state (the directory holds what it was
    /// about to make, `Intent`), for `delete --force` to clean up.
    public func open(_ id: String, exclusive: Bool = true, incomplete: Bool = false) throws -> LockedContainer {
        try StateStore.checkID(id)
        let dir = directory(id)
        let fd = Glibc.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { throw VoidError("container \(id) does not exist", errno: ENOENT) }
            throw VoidError.sys("open", dir)
        }
        while flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0 && errno == EINTR {}
        // The holder before us may have deleted it (or a create failed): it is gone then.
        var st = stat()
        if fstat(fd, &st) < 0 || st.st_nlink == 0 {
            close(fd)
            throw VoidError("container \(id) does not exist", errno: ENOENT)
        }
        let c = LockedContainer(id: id, dir: dir, fd: fd)
        if !incomplete && !c.isComplete {
            throw VoidError("container \(id) does not exist (a create of it was interrupted: delete --force removes what it left)", errno: ENOENT)
        }
        return c
    }

    /// Removes temporary directories (`create`'s `~PID-RAND~`) whose creator is gone: a create
    /// killed between making one and renaming it into place leaves it, empty, under no id.
    public func removeStaleTemporaries() {
        for name in directoryEntries(root) {
            guard name.hasPrefix("~"), name.hasSuffix("~"), name.count > 2,
                  let pid = Int32(name.dropFirst().prefix { $0 != "-" }), pid > 0 else { continue }
            if Glibc.kill(pid, 0) == 0 || errno == EPERM { continue }   // its creator may still be at work
            rmdir("\(root)/\(name)")
        }
    }

    public func list() -> [String] {
        directoryEntries(root).filter { !$0.contains("~") }.sorted()
    }
}

/// An id's directory, locked until this object goes away.
public final class LockedContainer {
    public let id: String
    public let dir: String
    public let fd: Int32

    init(id: String, dir: String, fd: Int32) {
        self.id = id
        self.dir = dir
        self.fd = fd
    }

    deinit { close(fd) }

    /// Lets other commands in while this one keeps running (`run` waits for its process).
    public func unlock() { flock(fd, LOCK_UN) }

    public var fifoPath: String { "\(dir)/exec.fifo" }
    public var statePath: String { "\(dir)/state.json" }

    public func load() throws -> ContainerState {
        let bytes = try readSmallBytes(statePath)
        do { return try SpecLoader.decodeDocument(ContainerState.self, bytes, file: statePath) } catch {
            throw VoidError("\(statePath): corrupt state: \(error)")
        }
    }

    public func save(_ s: ContainerState) throws {
        try writeFileAtomically(statePath, s.json.render(), mode: 0o600)
    }

    /// Whether the create finished: its state is saved.
    public var isComplete: Bool { access(statePath, F_OK) == 0 }

    /// Removes everything in the directory, then the directory. Called with the lock held.
    /// state.json goes first (from then on the id reads as incomplete, and a `delete --force`
    /// after a crash here finishes from the intent), the intent last.
    public func remove() {
        unlink(statePath)
        // The unix sockets create bound for org.voidoci.listen, if each is still the same file.
        for b in readIntent().sockets {
            var st = stat()
            if lstat(b.path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK && UInt64(st.st_dev) == b.dev && UInt64(st.st_ino) == b.ino {
                unlink(b.path)
            }
        }
        for name in directoryEntries(dir) where name != Intent.name { unlink("\(dir)/\(name)") }
        unlink("\(dir)/\(Intent.name)")
        rmdir(dir)
    }

    /// Opens the id's intent for appending (create: before it makes anything).
    func openIntent() throws -> Intent {
        let f = openat(fd, Intent.name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        if f < 0 { throw VoidError.sys("open", "\(dir)/\(Intent.name)") }
        return Intent(fd: f)
    }

    /// What a create that died had recorded (empty when nothing).
    func readIntent() -> Intent.Record {
        Intent.parse((try? readSmallFile("\(dir)/\(Intent.name)")) ?? "")
    }
}

/// What a create is about to make, written in the id's state directory *before* it makes it,
/// so that `delete --force` can remove it whatever instruction voidoci died at (docs/security.md).
/// One line per fact, appended with one write each:
///   `cgroup DIR`    a leaf this create is about to mkdir (all of them, in one write);
///   `cgroups-made`  every listed leaf was made by this create (so it may kill through them);
///   `init PID START` the init is cloned: its pid and start time (against pid reuse);
///   `socket DEV INO PATH` a unix socket file that bind made for org.voidoci.listen (written
///                   right after the bind: a create killed in between leaves that file).
/// Once state.json is saved it says all of this again; the intent stays until delete.
final class Intent {
    static let name = "intent"
    let fd: Int32

    init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    func record(_ lines: String) throws {
        var text = lines
        let (n, count) = text.withUTF8 { (write(fd, $0.baseAddress, $0.count), $0.count) }
        if n != count { throw VoidError.sys("recording the create in its state directory") }
    }

    struct Record: Equatable {
        var cgroups: [String] = []
        var cgroupsMade = false
        var initPID: Int32?
        var initStart: UInt64?
        var sockets: [(dev: UInt64, ino: UInt64, path: String)] = []
        var supervisors: [(pid: Int32, start: UInt64)] = []   // org.voidoci.connect's
        static func == (a: Record, b: Record) -> Bool {
            a.cgroups == b.cgroups && a.cgroupsMade == b.cgroupsMade && a.initPID == b.initPID && a.initStart == b.initStart
                && a.supervisors.map(\.pid) == b.supervisors.map(\.pid) && a.supervisors.map(\.start) == b.supervisors.map(\.start)
                && a.sockets.map(\.path) == b.sockets.map(\.path) && a.sockets.map(\.ino) == b.sockets.map(\.ino)
                && a.sockets.map(\.dev) == b.sockets.map(\.dev)
        }
    }

    static func parse(_ text: String) -> Record {
        var r = Record()
        for line in text.split(separator: "\n") {
            if line.hasPrefix("cgroup /") { r.cgroups.append(String(line.dropFirst(7))) }
            else if line == "cgroups-made" { r.cgroupsMade = true }
            else if line.hasPrefix("socket ") {
                let f = line.split(separator: " ", maxSplits: 3)
                if f.count == 4, let dev = UInt64(f[1]), let ino = UInt64(f[2]), f[3].hasPrefix("/") {
                    r.sockets.append((dev, ino, String(f[3])))
                }
            }
            else if line.hasPrefix("supervisor ") {
                let f = line.split(separator: " ")
                if f.count == 3, let p = Int32(f[1]), p > 0, let st = UInt64(f[2]) { r.supervisors.append((p, st)) }
            }
            else if line.hasPrefix("init ") {
                let f = line.split(separator: " ")
                if f.count == 3, let p = Int32(f[1]), p > 0, let st = UInt64(f[2]) { r.initPID = p; r.initStart = st }
            }
        }
        return r
    }
}

/// mkdir -p with mode 0700 for the parts it creates (the state root holds no secrets, but
/// other users have no business in it).
func mkdirs(_ path: String) throws {
    if access(path, F_OK) == 0 { return }
    var cur = ""
    for comp in path.split(separator: "/") {
        cur += "/\(comp)"
        if mkdir(cur, 0o700) < 0 && errno != EEXIST { throw VoidError.sys("mkdir", cur) }
    }
}

/// The live side of a void: derived, never stored.
public struct LiveStatus {
    public enum Status: String, Sendable { case created, running, paused, stopped }
    public var status: Status
    public var pidfd: Int32?     // open while the process lives; the caller closes it

    /// pidfd first, then the start time check: if the pid was recycled between the two, the
    /// pidfd names the newcomer and its start time gives it away.
    public static func of(_ s: ContainerState, fifoPath: String) -> LiveStatus {
        let fd = void_pidfd_open(s.pid)
        if fd < 0 { return LiveStatus(status: .stopped, pidfd: nil) }
        guard let (state, start) = procStat(s.pid), start == s.pidStartTime, state != "Z", state != "X" else {
            close(fd)
            return LiveStatus(status: .stopped, pidfd: nil)
        }
        let created = access(fifoPath, F_OK) == 0
        if !created, s.cgroup?.isFrozen == true { return LiveStatus(status: .paused, pidfd: fd) }
        return LiveStatus(status: created ? .created : .running, pidfd: fd)
    }
}

/// (state letter, start time) from /proc/PID/stat. The comm field may hold spaces and ')',
/// so fields are counted after the last ')'.
public func procStat(_ pid: Int32) -> (String, UInt64)? {
    guard let text = try? readSmallFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After ")": state is field 3 of the whole line, starttime is field 22.
    guard fields.count > 19, let start = UInt64(fields[19]) else { return nil }
    return (String(fields[0]), start)
}

/// RFC 3339 UTC time with nanoseconds, as runc and crun write `created`.
public func rfc3339Now() -> String {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    var t = ts.tv_sec
    var tmv = tm()
    gmtime_r(&t, &tmv)
    func p(_ v: Int32, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
    let ns = String(ts.tv_nsec)
    return "\(p(tmv.tm_year + 1900, 4))-\(p(tmv.tm_mon + 1, 2))-\(p(tmv.tm_mday, 2))T\(p(tmv.tm_hour, 2)):\(p(tmv.tm_min, 2)):\(p(tmv.tm_sec, 2)).\(String(repeating: "0", count: 9 - ns.count))\(ns)Z"
}
