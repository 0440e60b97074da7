import CVoid
import Glibc

/// Answers the notifications of `org.voidoci.connect`'s filter (docs/void.md, Sockets). The
/// program calls `connect` in its empty network namespace; the kernel stops it and hands the
/// call here. The broker reads the destination from the program's memory, takes the program's
/// socket through its pidfd, and decides:
///
/// - a listed destination: a socket of the same kind is made here, in the caller's network
///   namespace, with the options the program set on its own; it is connected, and installed in
///   place of the program's fd (SECCOMP_IOCTL_NOTIF_ADDFD). A blocking connect returns once the
///   connection is made (the program waits in `connect`, the broker goes on serving others); a
///   non-blocking one returns EINPROGRESS at once and the program polls the socket, as usual.
/// - an unlisted loopback address on the program's own socket: connected there, in the void's
///   network (only `lo`: a server of the void's own).
/// - anything else: ECONNREFUSED, and a line on the container's stderr naming the destination.
///
/// The broker never lets the program's call go on by itself (SECCOMP_USER_NOTIF_FLAG_CONTINUE):
/// the program could change the address or the fd between the check and the call. Everything is
/// done on the socket taken and the address read, once.
///
/// With a udp destination, `sendto` with an address, `sendmsg` and `sendmmsg` come here too: a
/// datagram socket reaches whatever address a send names. They are carried out here the same
/// way, with the data read from the program's memory (at most 1 MiB a message).
final class ConnectBroker {
    let destinations: [ConnectDestination]
    private let ownNetns: UInt64
    private let complain: (String) -> Void
    /// Connects under way for a program waiting in a blocking `connect`.
    private var pending: [Pending] = []

    private struct Pending {
        var listener: Int32
        var id: UInt64
        var pid: Int32
        var sock: Int32          // polled for POLLOUT
        var target: Int32        // the program's fd to install `sock` at, or -1 (connected in place)
        var cloexec: Bool
        var restoreFlags: Int32  // connected in place: the file's flags before O_NONBLOCK, or -1
    }

    init(_ destinations: [ConnectDestination], complain: @escaping (String) -> Void) {
        self.destinations = destinations
        self.complain = complain
        let probe = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        ownNetns = probe >= 0 ? void_socket_netns(probe) : 0
        if probe >= 0 { close(probe) }
    }

    // x86_64 system call numbers.
    static let sysConnect: Int32 = 42, sysSendto: Int32 = 44, sysSendmsg: Int32 = 46, sysSendmmsg: Int32 = 307

    /// What to poll for the connects under way (POLLOUT), and whether to wake up now and then
    /// to drop those whose program gave up.
    var pollFDs: [pollfd] { pending.map { pollfd(fd: $0.sock, events: Int16(POLLOUT), revents: 0) } }
    var hasPending: Bool { !pending.isEmpty }

    /// One notification on `listener`; false once the listener has no program left.
    func serve(_ listener: Int32) -> Bool {
        var n = void_notif()
        if void_notif_recv(listener, &n) < 0 {
            // ENOENT: the caller was interrupted or died before the notification was read.
            return errno == EINTR || errno == ENOENT || errno == EAGAIN
        }
        if n.arch != VOID_AUDIT_ARCH_NATIVE {
            complain("org.voidoci.connect: a 32-bit socket call refused (only x86_64 calls are served)")
            _ = void_notif_respond(listener, n.id, 0, EPERM)
            return true
        }
        // The pid is checked to still be the caller's once its pidfd is open.
        let pidfd = void_pidfd_open(n.pid)
        if pidfd < 0 { return true }
        defer { close(pidfd) }
        guard void_notif_valid(listener, n.id) != 0 else { return true }
        let call = Call(listener: listener, n: n, pidfd: pidfd)
        switch n.nr {
        case Self.sysConnect: connect(call)
        case Self.sysSendto: sendto(call)
        case Self.sysSendmsg: sendmsg(call)
        case Self.sysSendmmsg: sendmmsg(call)
        default: call.respond(error: ENOSYS)
        }
        return true
    }

    /// The connects under way whose socket `fds` (in `pollFDs`' order) says is ready, and those
    /// whose program no longer waits.
    func progress(_ fds: ArraySlice<pollfd>) {
        var done: [Int] = []
        for (i, f) in fds.enumerated() where i < pending.count {
            let p = pending[i]
            if f.revents != 0 {
                finish(p, error: void_connect_result(p.sock))
                done.append(i)
            } else if void_notif_valid(p.listener, p.id) == 0 {
                if p.restoreFlags >= 0 { _ = fcntl(p.sock, F_SETFL, p.restoreFlags) }
                close(p.sock)
                done.append(i)
            }
        }
        for i in done.reversed() { pending.remove(at: i) }
    }

    private func finish(_ p: Pending, error: Int32) {
        defer { close(p.sock) }
        if p.restoreFlags >= 0 { _ = fcntl(p.sock, F_SETFL, p.restoreFlags) }
        if error == 0 && p.target >= 0 {
            let fl = fcntl(p.sock, F_GETFL)
            _ = fcntl(p.sock, F_SETFL, fl & ~O_NONBLOCK)   // the program's socket was blocking
            if void_notif_setfd(p.listener, p.id, p.sock, p.target, p.cloexec ? 1 : 0) < 0 { return }
        }
        _ = void_notif_respond(p.listener, p.id, 0, error)
    }

    // MARK: the calls

    private struct Call {
        let listener: Int32
        let n: void_notif
        let pidfd: Int32
        var pid: Int32 { n.pid }
        func arg(_ i: Int) -> UInt64 {
            withUnsafeBytes(of: n.args) { $0.load(fromByteOffset: i * 8, as: UInt64.self) }
        }
        var fd: Int32 { Int32(truncatingIfNeeded: arg(0)) }
        func respond(_ value: Int64 = 0, error: Int32 = 0) { _ = void_notif_respond(listener, n.id, value, error) }

        /// A sockaddr of `len` bytes at `addr` in the program's memory; nil with the errno.
        func sockaddr(_ addr: UInt64, _ len: UInt64) -> ([UInt8]?, Int32) {
            guard len >= 2 && len <= 128 else { return (nil, EINVAL) }
            var b = [UInt8](repeating: 0, count: Int(len))
            let r = b.withUnsafeMutableBytes { void_mem_read(pid, addr, $0.baseAddress, $0.count) }
            return r == Int(len) ? (b, 0) : (nil, EFAULT)
        }
    }

    /// The program's socket, taken through its pidfd: what it is, and where it was made.
    private struct Sock {
        var fd: Int32
        var domain: Int32, type: Int32, proto: Int32
        var host: Bool          // made in the caller's network namespace (installed by the broker)
        var flags: Int32        // file status flags (O_NONBLOCK)
        var nonblocking: Bool { flags & O_NONBLOCK != 0 }
        var transport: ListenSocket.Transport? {
            // A unix datagram socket of the caller's network would reach the host's abstract
            // names with every send: only streams are granted.
            if domain == AF_UNIX { return type == Int32(SOCK_DGRAM.rawValue) ? nil : .unix }
            guard domain == AF_INET || domain == AF_INET6 else { return nil }
            if type == Int32(SOCK_STREAM.rawValue) && (proto == 0 || proto == Int32(IPPROTO_TCP)) { return .tcp }
            if type == Int32(SOCK_DGRAM.rawValue) && (proto == 0 || proto == Int32(IPPROTO_UDP)) { return .udp }
            return nil
        }
    }

    private func take(_ c: Call) -> (Sock?, Int32) {
        let fd = void_pidfd_getfd(c.pidfd, c.fd)
        if fd < 0 { return (nil, EBADF) }
        let domain = void_sockopt_int(fd, SOL_SOCKET, SO_DOMAIN)
        if domain < 0 { close(fd); return (nil, ENOTSOCK) }
        let s = Sock(fd: fd, domain: domain, type: void_sockopt_int(fd, SOL_SOCKET, SO_TYPE),
                     proto: void_sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL),
                     host: void_socket_netns(fd) == ownNetns, flags: fcntl(fd, F_GETFL))
        return (s, 0)
    }

    private enum Verdict { case grant(ConnectDestination), local, refuse(String) }

    private func verdict(_ sa: [UInt8], _ s: Sock) -> Verdict {
        let family = Int32(UInt16(sa[0]) | UInt16(sa[1]) << 8)
        guard let a = ConnectDestination.address(of: sa) else {
            // AF_UNSPEC (a datagram socket's disconnect), an abstract or unnamed unix name, another
            // family: only on the program's own socket, in its own network.
            return s.host && family != AF_UNSPEC ? .refuse("an address of family \(family)") : .local
        }
        let t = s.transport
        let text = ConnectDestination.text(a, transport: t?.rawValue ?? "socket")
        if let t, let d = destinations.first(where: { $0.transport == t && $0.address == a }) { return .grant(d) }
        if case .unix = a { return .refuse(text) }
        return ConnectDestination.isLoopback(a) && !s.host ? .local : .refuse(text)
    }

    private func refuse(_ c: Call, _ what: String, _ call: String) {
        complain("org.voidoci.connect: \(call) \(what) refused: not a listed destination")
        c.respond(error: ECONNREFUSED)
    }

    private func connect(_ c: Call) {
        let (sa, e) = c.sockaddr(c.arg(1), c.arg(2) & 0xffff_ffff)
        guard let sa else { return c.respond(error: e) }
        let (taken, e2) = take(c)
        guard let s = taken else { return c.respond(error: e2) }
        switch verdict(sa, s) {
        case .refuse(let what):
            close(s.fd)
            // An unlisted path that is not in the void gets what the kernel would say there
            // (glibc tries nscd's socket in every lookup): only a real refusal is logged.
            if case .unix(let path)? = ConnectDestination.address(of: sa), let e = Self.missingInVoid(path, pid: c.pid) {
                return c.respond(error: e)
            }
            refuse(c, what, "connect to")
        case .local:
            connectInPlace(c, s, sa)
        case .grant:
            // A socket of the broker's already (a datagram socket connected again): in place.
            if s.host { return connectInPlace(c, s, sa) }
            defer { close(s.fd) }
            let fresh = socket(s.domain, s.type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), s.proto)
            if fresh < 0 { return c.respond(error: errno) }
            if void_copy_sockopts(s.fd, fresh, s.domain) < 0 {
                let e = errno
                close(fresh)
                return c.respond(error: e)
            }
            let r = sa.withUnsafeBytes { void_connect(fresh, $0.baseAddress, UInt32($0.count)) }
            let cloexec = void_fd_cloexec(c.pid, c.fd) == 1
            let inProgress = r == EINPROGRESS || r == EAGAIN
            if r == 0 || (inProgress && s.nonblocking) {
                if !s.nonblocking { _ = fcntl(fresh, F_SETFL, fcntl(fresh, F_GETFL) & ~O_NONBLOCK) }
                let installed = void_notif_setfd(c.listener, c.n.id, fresh, c.fd, cloexec ? 1 : 0) >= 0
                close(fresh)
                if installed { c.respond(error: r == EAGAIN ? EINPROGRESS : r) }
            } else if inProgress {
                pending.append(Pending(listener: c.listener, id: c.n.id, pid: c.pid, sock: fresh, target: c.fd,
                                       cloexec: cloexec, restoreFlags: -1))
            } else {
                close(fresh)
                c.respond(error: r)
            }
        }
    }

    /// ENOENT or ENOTDIR when `path` names nothing in the program's root (or cwd, when
    /// relative), looked up there without leaving it; nil when something is there.
    static func missingInVoid(_ path: String, pid: Int32) -> Int32? {
        let base = open(path.hasPrefix("/") ? "/proc/\(pid)/root" : "/proc/\(pid)/cwd", Int32(VOID_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        if base < 0 { return nil }
        defer { close(base) }
        let rel = String(path.drop { $0 == "/" })
        let fd = void_openat2(base, rel.isEmpty ? "." : rel, VOID_O_PATH | UInt64(O_CLOEXEC), 0, VOID_RESOLVE_IN_ROOT | VOID_RESOLVE_NO_MAGICLINKS)
        if fd >= 0 { close(fd); return nil }
        return errno == ENOENT || errno == ENOTDIR ? errno : nil
    }

    /// The program's own socket, connected here: what it asked, in the network it was made in.
    private func connectInPlace(_ c: Call, _ s: Sock, _ sa: [UInt8]) {
        if !s.nonblocking { _ = fcntl(s.fd, F_SETFL, s.flags | O_NONBLOCK) }
        let r = sa.withUnsafeBytes { void_connect(s.fd, $0.baseAddress, UInt32($0.count)) }
        if r == EINPROGRESS && !s.nonblocking {
            pending.append(Pending(listener: c.listener, id: c.n.id, pid: c.pid, sock: s.fd, target: -1,
                                   cloexec: false, restoreFlags: s.flags))
            return
        }
        if !s.nonblocking { _ = fcntl(s.fd, F_SETFL, s.flags) }
        close(s.fd)
        c.respond(error: r)
    }

    // MARK: sends (with a udp destination)

    static let sendCap = 1 << 20

    /// Where a send with address `sa` goes: the socket to send on (the program's, or one made
    /// here and installed in its place), or -1 and an errno. The caller closes `s.fd`, and the
    /// result when it differs.
    private func sendTarget(_ c: Call, _ s: Sock, _ sa: [UInt8]) -> (Int32, Int32) {
        switch verdict(sa, s) {
        case .refuse(let what):
            complain("org.voidoci.connect: send to \(what) refused: not a listed destination")
            return (-1, ECONNREFUSED)
        case .local: return (s.fd, 0)
        case .grant:
            if s.host { return (s.fd, 0) }
            let fresh = socket(s.domain, s.type | Int32(SOCK_CLOEXEC.rawValue) | (s.nonblocking ? Int32(SOCK_NONBLOCK.rawValue) : 0), s.proto)
            if fresh < 0 { return (-1, errno) }
            if void_copy_sockopts(s.fd, fresh, s.domain) < 0 || void_notif_setfd(c.listener, c.n.id, fresh, c.fd, void_fd_cloexec(c.pid, c.fd) == 1 ? 1 : 0) < 0 {
                let e = errno
                close(fresh)
                return (-1, e)
            }
            return (fresh, 0)
        }
    }

    /// Sends on `sock` as the program's call would have: waits while a blocking socket is full
    /// (as long as the program waits), raises SIGPIPE on EPIPE unless MSG_NOSIGNAL.
    private func send(_ c: Call, _ sock: Int32, flags: Int32, blocking: Bool, _ op: (Int32) -> Int) -> (Int, Int32) {
        let msgNoSignal = Int32(MSG_NOSIGNAL), msgDontWait = Int32(MSG_DONTWAIT)
        while true {
            let r = op(flags | msgNoSignal | msgDontWait)
            if r >= 0 { return (r, 0) }
            let e = errno
            if e == EAGAIN && blocking && flags & msgDontWait == 0 && void_notif_valid(c.listener, c.n.id) != 0 {
                var p = pollfd(fd: sock, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, 100)
                continue
            }
            if e == EPIPE && flags & msgNoSignal == 0 { _ = void_pidfd_send_signal(c.pidfd, SIGPIPE) }
            return (-1, e)
        }
    }

    private func sendto(_ c: Call) {
        let (sa, e) = c.sockaddr(c.arg(4), c.arg(5) & 0xffff_ffff)
        guard let sa else { return c.respond(error: e) }
        let (taken, e2) = take(c)
        guard let s = taken else { return c.respond(error: e2) }
        defer { close(s.fd) }
        let (sock, e3) = sendTarget(c, s, sa)
        if sock < 0 { return c.respond(error: e3) }
        defer { if sock != s.fd { close(sock) } }
        let len = Int(min(c.arg(2), UInt64(Self.sendCap)))
        if UInt64(len) < c.arg(2) && s.type != Int32(SOCK_STREAM.rawValue) { return c.respond(error: EMSGSIZE) }
        var data = [UInt8](repeating: 0, count: len)
        let got = data.withUnsafeMutableBytes { void_mem_read(c.pid, c.arg(1), $0.baseAddress, $0.count) }
        if got != len { return c.respond(error: EFAULT) }
        let (n, err) = send(c, sock, flags: Int32(truncatingIfNeeded: c.arg(3)), blocking: !s.nonblocking) { f in
            data.withUnsafeBytes { d in
                sa.withUnsafeBytes { a in
                    Glibc.sendto(sock, d.baseAddress, d.count, f, a.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count))
                }
            }
        }
        c.respond(Int64(n), error: err)
    }

    /// One message of the program's at `addr`, sent on its socket `s`: bytes sent, or an errno.
    private func sendOne(_ c: Call, _ s: Sock, addr: UInt64, flags: Int32) -> (Int, Int32) {
        var m = void_msg()
        if void_msg_read(c.pid, c.pidfd, addr, Self.sendCap, &m) < 0 { return (-1, errno) }
        defer { void_msg_free(&m) }
        if m.truncated != 0 && s.type != Int32(SOCK_STREAM.rawValue) { return (-1, EMSGSIZE) }
        var sock = s.fd
        if m.namelen > 0 {
            let sa = withUnsafeBytes(of: m.name) { Array($0.prefix(Int(m.namelen))) }
            let (t, e) = sendTarget(c, s, sa)
            if t < 0 { return (-1, e) }
            sock = t
        }
        defer { if sock != s.fd { close(sock) } }
        return send(c, sock, flags: flags, blocking: !s.nonblocking) { f in
            withUnsafeBytes(of: m.name) { void_msg_send(sock, &m, $0.baseAddress, m.namelen, f) }
        }
    }

    private func sendmsg(_ c: Call) {
        let (taken, e) = take(c)
        guard let s = taken else { return c.respond(error: e) }
        defer { close(s.fd) }
        let (n, err) = sendOne(c, s, addr: c.arg(1), flags: Int32(truncatingIfNeeded: c.arg(2)))
        c.respond(Int64(n), error: err)
    }

    /// struct mmsghdr: a msghdr (56 bytes) and the count sent (written back).
    private func sendmmsg(_ c: Call) {
        let (taken, e) = take(c)
        guard let s = taken else { return c.respond(error: e) }
        defer { close(s.fd) }
        let count = Int(min(c.arg(2) & 0xffff_ffff, 1024))
        var sent = 0
        for i in 0..<count {
            let at = c.arg(1) &+ UInt64(i * 64)
            let (n, err) = sendOne(c, s, addr: at, flags: Int32(truncatingIfNeeded: c.arg(3)))
            if n < 0 {
                if sent == 0 { return c.respond(error: err) }
                break
            }
            var len = UInt32(truncatingIfNeeded: n)
            _ = void_mem_write(c.pid, at &+ 56, &len, 4)
            sent += 1
        }
        c.respond(Int64(sent))
    }
}
