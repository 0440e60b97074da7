#if canImport(Glibc)
import Glibc
#endif
import CVoid

/// What voidoci makes for a void to inherit: fds (close-on-exec, numbered above the ones the init
/// places them at, so that no dup2 in the child lands on one of them: child.c, place_fds), and
/// the host paths made for them, removed again when the spawn fails.
struct HandedFDs {
    var fds: [Int32] = []
    var made: [String] = []

    /// `each` for every item, in order; on an error, what was made is closed and removed.
    static func make<T>(_ items: [T], _ each: (inout HandedFDs, T) throws -> Void) throws -> HandedFDs {
        var h = HandedFDs()
        do {
            for item in items { try each(&h, item) }
        } catch {
            h.close(unlink: true)
            throw error
        }
        return h
    }

    func close(unlink: Bool) {
        for fd in fds { _ = Glibc.close(fd) }
        if unlink { for p in made { _ = Glibc.unlink(p) } }
    }
}

/// `org.voidoci.listen`'s sockets, made by voidoci in the caller's network namespace before
/// anything is joined (Lowering: `bind-socket`).
enum ListenSockets {
    /// `record` gets an intent line for each unix socket file bound (`Intent`), so that delete
    /// removes it even if this voidoci dies.
    static func open(_ list: [ListenSocket], above: Int32, record: ((String) throws -> Void)?) throws -> HandedFDs {
        try HandedFDs.make(list) { h, l in try add(l, to: &h, above: above, record: record) }
    }

    private static func add(_ l: ListenSocket, to h: inout HandedFDs, above: Int32, record: ((String) throws -> Void)?) throws {
        func fail(_ what: String, _ e: Int32) -> VoidError {
            VoidError("annotation org.voidoci.listen: \(printable(l.entry)): \(what): \(errnoText(e))", errno: e)
        }
        let stream = l.transport != .udp
        let type = Int32(stream ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let family: Int32
        switch l.address {
        case .inet: family = AF_INET
        case .inet6: family = AF_INET6
        case .unix: family = AF_UNIX
        }
        let fd = socket(family, type, 0)
        if fd < 0 { throw fail("socket", errno) }
        defer { _ = Glibc.close(fd) }   // what is kept is its copy above the targets
        if stream && family != AF_UNIX {
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        func bindTo<A>(_ a: inout A) -> Int32 {
            withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<A>.size)) } }
        }
        var r: Int32
        switch l.address {
        case .inet(let host, let port):
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            _ = host.withCString { inet_pton(AF_INET, $0, &a.sin_addr) }
            r = bindTo(&a)
        case .inet6(let host, let port):
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            _ = host.withCString { inet_pton(AF_INET6, $0, &a.sin6_addr) }
            r = bindTo(&a)
        case .unix(let path):
            var a = sockaddr_un()
            a.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: a.sun_path) else { throw fail("bind", ENAMETOOLONG) }
            withUnsafeMutableBytes(of: &a.sun_path) { buf in
                for (i, b) in bytes.enumerated() { buf[i] = b }
            }
            r = bindTo(&a)
            if r == 0 {
                h.made.append(path)
                var st = stat()
                if lstat(path, &st) < 0 { throw fail("lstat", errno) }
                try record?("socket \(st.st_dev) \(st.st_ino) \(path)\n")
            }
        }
        if r < 0 { throw fail("bind", errno) }
        if stream && listen(fd, SOMAXCONN) < 0 { throw fail("listen", errno) }
        let high = fcntl(fd, F_DUPFD_CLOEXEC, above)
        if high < 0 { throw fail("fcntl(F_DUPFD_CLOEXEC)", errno) }
        h.fds.append(high)
    }
}
