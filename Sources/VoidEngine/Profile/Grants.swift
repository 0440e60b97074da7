import CSeccomp
import Glibc
import OCIBundle

/// The minimal grants a traced run shows (docs/profile.md), each with its evidence: the calls
/// that named it.
extension Profile {
    public struct Grants: Sendable {
        /// org.voidoci.expose: files, and directories (collapsed, or needed to exist).
        public var expose: [String] = []
        public var evidence: [String: [String]] = [:]
        /// What each collapse into a directory stated: the files it replaced, and what it added.
        public var collapses: [String] = []
        /// org.voidoci.mounts kinds: proc, sysfs, tmpfs, shm, mqueue, devpts.
        public var mounts: [String] = []
        /// tmpfs destinations the program used (writable in the traced run).
        public var tmpfs: [String] = []
        /// Device nodes opened; `devMinimal` when they are all in org.voidoci.dev=minimal's set.
        public var devices: [String] = []
        /// Socket destinations the program tried (its network was empty): suggested, never
        /// granted by the profile (a unix path or a loopback address would be the host's).
        public var connect: [String] = []
        public var listen: [String] = []
        /// With --grant-sockets: the suggested TCP and UDP destinations that are not loopback (and
        /// listen addresses with a port), granted.
        public var grantedConnect: [String] = []
        public var grantedListen: [String] = []
        /// The seccomp allow-list: the program's calls and the runtime's after the filter.
        public var syscalls: [String] = []
        /// What was looked at and deliberately not granted, with why.
        public var notGranted: [String] = []
        public var imageFiles = 0
        public var exposedFiles = 0

        public var devMinimal: Bool { !devices.isEmpty && devices.allSatisfy { Profile.minimalDevices.contains($0) } }
    }

    static let minimalDevices: Set<String> = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]

    /// What voidoci's init does after a filter loaded before `start` (docs/profile.md): without
    /// no_new_privs the filter is loaded with the capabilities, before the ids and capabilities
    /// change.
    /// (CVoid/child.c: drop the bounding set, set ids and capabilities, die with the parent,
    /// reset signals, report ready on the sync socket, wait for commit and start, execve).
    static let runtimeSyscalls = ["capget", "capset", "close", "execve", "exit", "exit_group", "fcntl", "getpid",
                                  "poll", "ppoll", "prctl", "read", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
                                  "sendto", "setgroups", "setresgid", "setresuid", "write"]

    /// Where the traced run stood: the image, what the plan binds by itself (the program's ELF
    /// closure: never exposed again), and the traced config's tmpfs mounts.
    public struct Context {
        public var image: ImageRoot
        public var autoBound: Set<String>
        public var tmpfs: [String]
        /// linux.devices of the config: the only devices beyond the minimal set it can have.
        public var configDevices: Set<String>
        public init(image: ImageRoot, autoBound: Set<String>, tmpfs: [String], configDevices: Set<String> = []) {
            self.image = image
            self.autoBound = autoBound
            self.tmpfs = tmpfs
            self.configDevices = configDevices
        }
    }

    /// A directory with at most this many files is exposed whole when the program only needed it
    /// to exist or listed it; a bigger one is reported as not granted.
    static let smallDirectory = 64
    /// Collapsing is considered up to this many files under a directory.
    static let collapseLimit = 4096

    public static func grants(_ run: Run, _ ctx: Context) -> Grants {
        var g = Grants()
        var files: [String: [String]] = [:]   // path -> evidence
        var dirs: [String: [String]] = [:]
        var mounts = Set<String>(), tmpfs = Set<String>(), devices = Set<String>()
        var connect = Set<String>(), listen = Set<String>(), notGranted = Set<String>()
        var other: [String: [String]] = [:]   // evidence of the grants other than expose
        func note(_ d: inout [String: [String]], _ path: String, _ why: String) {
            if (d[path]?.count ?? 0) < 3, d[path]?.contains(why) != true { d[path, default: []].append(why) }
        }
        for e in run.events where e.program {
            let call = syscallName(e.nr)
            if ["connect", "bind", "listen"].contains(e.op) {
                guard let entry = socketEntry(e) else { continue }
                if e.op == "connect" { connect.insert(entry); note(&other, entry, "\(call) \(entry)") }
                if e.op == "listen" && e.result == 0 { listen.insert(entry); note(&other, entry, "\(call) \(entry)") }
                continue
            }
            let path = normalize(e.path)
            guard e.result >= 0 else { continue }
            if path.contains("\u{FFFD}") {
                notGranted.insert("\(path): not UTF-8, which an annotation cannot state (\(call))")
                continue
            }
            let why = "\(call) \(path)"
            func kind(_ k: String) { mounts.insert(k); note(&other, k, why) }
            if path == "/proc" || path.hasPrefix("/proc/") { kind("proc"); continue }
            if path == "/sys" || path.hasPrefix("/sys/") { kind("sysfs"); continue }
            if path.hasPrefix("/dev/pts/") || path == "/dev/ptmx" { kind("devpts"); continue }
            if path == "/dev/shm" || path.hasPrefix("/dev/shm/") { kind("shm"); continue }
            if path == "/dev/mqueue" || path.hasPrefix("/dev/mqueue/") { kind("mqueue"); continue }
            if path.hasPrefix("/dev/") {
                // Only the minimal nodes and the config's own devices: anything else under /dev
                // (the /dev/stdout links, say) is not a device of the void.
                if Profile.minimalDevices.contains(path) || ctx.configDevices.contains(path) {
                    devices.insert(path)
                    note(&other, path, why)
                }
                continue
            }
            if path == "/dev" { continue }
            if let t = ctx.tmpfs.filter({ path == $0 || path.hasPrefix($0 + "/") }).max(by: { $0.count < $1.count }) {
                tmpfs.insert(t)
                note(&other, "tmpfs " + t, why)
                continue
            }
            if e.op == "write" { notGranted.insert("\(path): written, and the image is read-only (\(call))"); continue }
            guard let r = try? ctx.image.resolve(path) else { continue }
            switch r.kind {
            case .directory: note(&dirs, path, e.op == "list" ? "list " + why : why)
            default: note(&files, path, why)
            }
        }
        // One grant per file: the paths that reach it through links carry the links with them
        // (expose recreates the links on the way), so the plain path is dropped beside them; and
        // what the plan binds by itself (the program's closure, with its links) is not granted again.
        var byCanonical: [String: [(String, [String])]] = [:]
        for p in files.keys {
            guard let r = try? ctx.image.resolve(p) else { continue }
            byCanonical[r.canonical, default: []].append((p, r.symlinks.map(\.path)))
        }
        for (canonical, variants) in byCanonical {
            func covered(_ links: [String]) -> Bool { ctx.autoBound.contains(canonical) && links.allSatisfy { ctx.autoBound.contains($0) } }
            let keptLinked = variants.filter { !$0.1.isEmpty && !covered($0.1) }.map(\.0)
            for (p, links) in variants where covered(links) || (links.isEmpty && !keptLinked.isEmpty) {
                if !covered(links), let why = files[p], let keep = keptLinked.first { files[keep, default: []] += why.prefix(1) }
                files[p] = nil
            }
        }
        var expose: [String] = []
        var evidence: [String: [String]] = [:]
        // Collapse: a directory all of whose files the program used (and ≥ 2) is stated once.
        var chosen: [String] = []
        let needed = Set(files.keys).union(ctx.autoBound)
        var candidates = Set<String>()
        for f in files.keys { var d = parent(f); while d != "/" { candidates.insert(d); d = parent(d) } }
        for d in candidates.sorted(by: { $0.count < $1.count || ($0.count == $1.count && $0 < $1) }) {
            if chosen.contains(where: { d.hasPrefix($0 + "/") }) { continue }
            guard let r = try? ctx.image.resolve(d), r.canonical == d, r.kind == .directory,
                  let inImage = imageFiles(ctx.image, d, limit: collapseLimit), inImage.count >= 2 else { continue }
            let used = inImage.filter { needed.contains($0) }
            if used.count == inImage.count && inImage.contains(where: { files[$0] != nil }) {
                chosen.append(d)
                g.collapses.append("\(d): the \(inImage.count) files in it were all used; stated as the directory, it adds nothing")
            }
        }
        for d in chosen {
            expose.append(d)
            for (f, why) in files where f.hasPrefix(d + "/") { evidence[d, default: []] += why.prefix(1) }
        }
        for (f, why) in files where !chosen.contains(where: { f.hasPrefix($0 + "/") }) {
            expose.append(f)
            evidence[f] = why
        }
        // Directories it needed to exist (or listed) with nothing exposed in them: small ones
        // whole, big ones reported.
        for (d, why) in dirs {
            let covered = expose.contains { $0 == d || $0.hasPrefix(d == "/" ? "/" : d + "/") || d.hasPrefix($0 + "/") }
                || ctx.autoBound.contains { $0.hasPrefix(d == "/" ? "/" : d + "/") }
            if covered { continue }
            // Only a listing needs what is in a directory; a directory only checked (stat,
            // chdir) is not exposed whole for that.
            guard why.contains(where: { $0.hasPrefix("list ") }) else {
                notGranted.insert("\(d): a directory the program only checked (\(why.joined(separator: ", "))); nothing in it was used")
                continue
            }
            if let inImage = imageFiles(ctx.image, d, limit: smallDirectory) {
                expose.append(d)
                evidence[d] = why
                if !inImage.isEmpty { g.collapses.append("\(d): only looked at (\(why.joined(separator: ", "))); exposed whole, \(inImage.count) files") }
            } else {
                notGranted.insert("\(d): a directory of more than \(smallDirectory) files that the program only looked at (\(why.joined(separator: ", ")))")
            }
        }
        g.expose = expose.sorted()
        g.evidence = evidence.merging(other) { a, _ in a }
        if !tmpfs.isEmpty { mounts.insert("tmpfs") }
        g.mounts = mounts.sorted()
        g.tmpfs = tmpfs.sorted()
        g.devices = devices.sorted()
        g.connect = connect.sorted()
        g.listen = listen.sorted()
        g.notGranted = notGranted.sorted()
        var names = Set(runtimeSyscalls)
        for nr in Array(run.syscalls.keys) + Array(run.runtimeSyscalls.keys) {
            let n = syscallName(nr)
            if n.hasPrefix("syscall-") { notGranted.insert("\(n): a call libseccomp has no name for (denied by the profile)") } else { names.insert(n) }
        }
        g.syscalls = names.sorted()
        g.notGranted = notGranted.sorted()
        // How much of the image the grants expose (the program's own closure included).
        var exposed = Set<String>(ctx.autoBound)
        for p in g.expose {
            if let inside = imageFiles(ctx.image, p, limit: 1_000_000) { exposed.formUnion(inside) } else { exposed.insert(p) }
        }
        g.exposedFiles = exposed.count
        g.imageFiles = imageFiles(ctx.image, "/", limit: 2_000_000)?.count ?? 0
        return g
    }

    /// --grant-sockets: the suggestions that may be granted. Never a unix path or a loopback
    /// address (those would be the host's), never port 0.
    public static func grantSockets(_ g: inout Grants) {
        g.grantedConnect = g.connect.filter { routable($0, listening: false) }
        g.grantedListen = g.listen.filter { routable($0, listening: true) }
        // org.voidoci.connect's filter is loaded by the init after an early config filter: the
        // calls it makes then (CVoid/child.c connect_filter) are the runtime's too.
        if !g.grantedConnect.isEmpty {
            g.syscalls = Array(Set(g.syscalls).union(["getsockopt", "seccomp", "socket"])).sorted()
        }
    }

    /// A tcp:/udp: entry whose address, parsed, is not loopback, not link-local, not a v4-mapped
    /// one of those, with a port; to connect to, not unspecified either (0.0.0.0 and :: reach
    /// the host's own loopback). The host's other addresses stay reachable: docs/profile.md.
    static func routable(_ e: String, listening: Bool) -> Bool {
        guard e.hasPrefix("tcp:") || e.hasPrefix("udp:") else { return false }
        let rest = e.dropFirst(4)
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), port > 0, port < 65536 else { return false }
        var host = String(rest[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var v4 = in_addr(), v6 = in6_addr()
        var b: [UInt8]
        if inet_pton(AF_INET, host, &v4) == 1 {
            b = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            let a = withUnsafeBytes(of: &v6) { Array($0) }
            guard a.count == 16 else { return false }
            let mapped = a[0..<10].allSatisfy { $0 == 0 } && a[10] == 0xff && a[11] == 0xff
            if mapped { b = Array(a[12..<16]) } else {
                if a[0..<15].allSatisfy({ $0 == 0 }) && (a[15] == 1 || (a[15] == 0 && !listening)) { return false }   // ::1, ::
                if a[0] == 0xfe && a[1] & 0xc0 == 0x80 { return false }   // fe80::/10
                return true
            }
        } else { return false }
        guard b.count == 4 else { return false }
        if b[0] == 127 || (b[0] == 169 && b[1] == 254) { return false }
        if b[0] == 0 && !(listening && b.allSatisfy { $0 == 0 }) { return false }   // 0.0.0.0/8 (listen on 0.0.0.0 is fine)
        return true
    }

    /// The files (not directories) under an image directory, as image paths; nil if it is not a
    /// directory or holds more than `limit`.
    static func imageFiles(_ image: ImageRoot, _ dir: String, limit: Int) -> [String]? {
        guard let r = try? image.resolve(dir), r.kind == .directory, let fd = try? image.openCanonical(r.canonical) else { return nil }
        defer { close(fd) }
        let d = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard d >= 0 else { return nil }
        var set = Set<[UInt8]>()
        var budget = limit + 1
        Compare.walk(fd: d, as: Array(dir.utf8), depth: 0, device: nil, into: &set, budget: &budget)
        guard set.count <= limit, budget > 0 else { return nil }
        return set.map { String(decoding: $0, as: UTF8.self) }
    }

    static func parent(_ p: String) -> String {
        guard let i = p.lastIndex(of: "/"), i != p.startIndex else { return "/" }
        return String(p[..<i])
    }

    /// Lexically: no "//", "." or ".." (".." above "/" stays at "/").
    static func normalize(_ p: String) -> String {
        var parts: [Substring] = []
        for c in p.split(separator: "/") {
            if c == "." { continue }
            if c == ".." { _ = parts.popLast(); continue }
            parts.append(c)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The grant entry for a socket call (org.voidoci.connect / listen syntax).
    static func socketEntry(_ e: Event) -> String? {
        switch e.family {
        case "inet", "inet6":
            switch e.type {
            case "stream": return "tcp:" + e.path
            case "dgram": return "udp:" + e.path
            default: return nil
            }
        case "unix": return e.path.isEmpty ? nil : "unix:" + e.path
        default: return nil
        }
    }

    public static func syscallName(_ nr: Int) -> String {
        guard let n = Int32(exactly: nr), let c = seccomp_syscall_resolve_num_arch(seccomp_arch_native(), n) else { return "syscall-\(nr)" }
        defer { free(c) }
        return String(cString: c)
    }
}
