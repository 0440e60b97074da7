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
/// A socket made outside must never be aimed anywhere else, so the calls that could are
/// answered here too: `bind` and `listen` (refused on such a socket), `connect(AF_UNSPEC)` on it
/// (refused), TCP Fast Open (a send that connects: refused), and io_uring (whose operations pass
/// no filter: ENOSYS). With a udp destination, `sendto` with an address, `sendmsg` and
/// `sendmmsg` come here as well (a datagram socket reaches whatever address a send names) and are
/// carried out here, with the data read from the program's memory (at most 1 MiB a message).
///
/// The supervisor runs as the void's host ids with only CAP_SYS_PTRACE (ConnectSupervisor), so
/// what it does for the program is checked against the void's ids.
final class ConnectBroker {
    let destinations: [ConnectDestination]
    /// The void's network namespace (its SO_NETNS_COOKIE): a socket is the program's own only
    /// when it was made there (anything else, or a failure to tell, counts as a socket of the
    /// caller's network).
    private let voidNetns: UInt64
    private let complain: (String) -> Void
    /// Calls under way for a program waiting in a blocking one: connects and sends.
    private var pending: [Pending] = []

    private struct Pending {
        var listener: Int32
        var id: UInt64
        var sock: Int32               // polled for POLLOUT; closed when done
        var pidfd: Int32              // closed when done
        var finish: (Int32) -> Void   // with the socket's SO_ERROR (connect) or nothing (send: retried)
        var isSend: Bool
    }

    init(_ destinations: [ConnectDestination], voidNetns: UInt64, complain: @escaping (String) -> Void) {
        self.destinations = destinations
        self.voidNetns = voidNetns
        self.complain = complain
    }

    // x86_64 system call numbers.
    static let sysConnect: Int32 = 42, sysSendto: Int32 = 44, sysSendmsg: Int32 = 46, sysBind: Int32 = 49,
               sysListen: Int32 = 50, sysSendmmsg: Int32 = 307
    static let msgFastOpen: UInt64 = 0x2000_0000

    var pollFDs: [pollfd] { pending.map { pollfd(fd: $0.sock, events: Int16(POLLOUT), revents: 0) } }
    var hasPending: Bool { !pending.isEmpty }

    /// One notification on `listener`; false once the listener has no program left. Every
    /// notification still valid is answered.
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
        // The notification names the calling thread: its thread group's pidfd, checked to still
        // be the caller's once open (against a reused pid).
        let tgid = void_tgid(n.pid)
        let pidfd = tgid > 0 ? void_pidfd_open(tgid) : -1
        guard pidfd >= 0, void_notif_valid(listener, n.id) != 0 else {
            if pidfd >= 0 { close(pidfd) }
            _ = void_notif_respond(listener, n.id, 0, ESRCH)
            return true
        }
        let call = Call(listener: listener, n: n, pidfd: pidfd)
        var keep = false   // a pending call keeps the pidfd
        switch n.nr {
        case Self.sysConnect: keep = connect(call)
        case Self.sysBind: bind(call)
        case Self.sysListen: listen(call)
        case Self.sysSendto, Self.sysSendmsg, Self.sysSendmmsg: keep = send(call)
        default: call.respond(error: ENOSYS)
        }
        if !keep { close(pidfd) }
        return true
    }

    /// The calls under way whose socket `fds` (in `pollFDs`' order) says is ready, and those
    /// whose program no longer waits.
    func progress(_ fds: ArraySlice<pollfd>) {
        var done: [Int] = []
        for (i, f) in fds.enumerated() where i < pending.count {
            let p = pending[i]
            if f.revents != 0 {
                p.finish(p.isSend ? 0 : void_connect_result(p.sock))
                // A send that would still block stays (finish re-queued it as a new entry).
                done.append(i)
            } else if void_notif_valid(p.listener, p.id) == 0 {
                done.append(i)
            } else { continue }
        }
        for i in done.reversed() {
            let p = pending.remove(at: i)
            close(p.sock)
            close(p.pidfd)
        }
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
        var host: Bool          // not made in the void's network namespace
        var flags: Int32        // file status flags (O_NONBLOCK)
        var nonblocking: Bool { flags & O_NONBLOCK != 0 }
        var datagram: Bool { type == Int32(SOCK_DGRAM.rawValue) }
        var transport: ListenSocket.Transport? {
            // A unix datagram socket of the caller's network would reach the host's abstract
            // names with every send: only streams are granted.
            if domain == AF_UNIX { return datagram ? nil : .unix }
            guard domain == AF_INET || domain == AF_INET6 else { return nil }
            if type == Int32(SOCK_STREAM.rawValue) && (proto == 0 || proto == Int32(IPPROTO_TCP)) { return .tcp }
            if datagram && (proto == 0 || proto == Int32(IPPROTO_UDP)) { return .udp }
            return nil
        }
    }

    private func take(_ c: Call) -> (Sock?, Int32) {
        let fd = void_pidfd_getfd(c.pidfd, c.fd)
        if fd < 0 { return (nil, EBADF) }
        let domain = void_sockopt_int(fd, SOL_SOCKET, SO_DOMAIN)
        if domain < 0 { close(fd); return (nil, ENOTSOCK) }
        let ns = void_socket_netns_cookie(fd)
        let s = Sock(fd: fd, domain: domain, type: void_sockopt_int(fd, SOL_SOCKET, SO_TYPE),
                     proto: void_sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL),
                     host: ns == 0 || ns != voidNetns, flags: fcntl(fd, F_GETFL))
        return (s, 0)
    }

    private enum Verdict { case grant(ConnectDestination), local, refuse(String) }

    private func verdict(_ sa: [UInt8], _ s: Sock) -> Verdict {
        guard sa.count >= 2 else { return .refuse("a short address") }
        let family = Int32(UInt16(sa[0]) | UInt16(sa[1]) << 8)
        guard let a = ConnectDestination.address(of: sa) else {
            // AF_UNSPEC (a disconnect), an abstract or unnamed unix name, another family: only on
            // the program's own socket, in its own network.
            return s.host ? .refuse(family == AF_UNSPEC ? "a disconnect of a socket made outside" : "an address of family \(family)") : .local
        }
        let t = s.transport
        let text = ConnectDestination.text(a, transport: t?.rawValue ?? "socket")
        if let t, let d = destinations.first(where: { $0.transport == t && $0.address == a }) { return .grant(d) }
        if case .unix = a { return .refuse(text) }
        return ConnectDestination.isLoopback(a) && !s.host ? .local : .refuse(text)
    }

    private func refuse(_ c: Call, _ what: String, _ call: String, error: Int32 = ECONNREFUSED) {
        complain("org.voidoci.connect: \(call) \(what) refused: not a listed destination")
        c.respond(error: error)
    }

    /// Returns whether the call is pending (it keeps the pidfd).
    private func connect(_ c: Call) -> Bool {
        let (sa, e) = c.sockaddr(c.arg(1), c.arg(2) & 0xffff_ffff)
        guard let sa else { c.respond(error: e); return false }
        let (taken, e2) = take(c)
        guard let s = taken else { c.respond(error: e2); return false }
        switch verdict(sa, s) {
        case .refuse(let what):
            close(s.fd)
            // An unlisted path that is not in the void gets what the kernel would say there
            // (glibc tries nscd's socket in every lookup): only a real refusal is logged.
            if case .unix(let path)? = ConnectDestination.address(of: sa), let e = Self.missingInVoid(String(decoding: path, as: UTF8.self), pid: c.pid) {
                c.respond(error: e)
                return false
            }
            refuse(c, what, "connect to", error: s.host ? EPERM : ECONNREFUSED)
            return false
        case .local:
            return connectInPlace(c, s, sa)
        case .grant(let d):
            // A socket made outside already (a datagram socket connected again): in place.
            if s.host { return connectInPlace(c, s, sa) }
            defer { close(s.fd) }
            let fresh = socket(s.domain, s.type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), s.proto)
            if fresh < 0 { c.respond(error: errno); return false }
            if void_copy_sockopts(s.fd, fresh, s.domain) < 0 {
                let e = errno
                close(fresh)
                c.respond(error: e)
                return false
            }
            // The listed destination's address, not the program's bytes (an IPv6 scope id, a
            // flow label).
            let target = d.sockaddr(family: s.domain) ?? sa
            let r = target.withUnsafeBytes { void_connect(fresh, $0.baseAddress, UInt32($0.count)) }
            let cloexec = void_fd_cloexec(c.pid, c.fd) == 1
            if r == 0 || (r == EINPROGRESS && s.nonblocking) {
                if !s.nonblocking { _ = fcntl(fresh, F_SETFL, fcntl(fresh, F_GETFL) & ~O_NONBLOCK) }
                let installed = void_notif_setfd(c.listener, c.n.id, fresh, c.fd, cloexec ? 1 : 0) >= 0
                let why = errno
                close(fresh)
                if installed { c.respond(error: r) } else if void_notif_valid(c.listener, c.n.id) != 0 { c.respond(error: why) }
                return false
            }
            if r == EINPROGRESS {
                let listener = c.listener, id = c.n.id, fd = c.fd
                pending.append(Pending(listener: listener, id: id, sock: fresh, pidfd: c.pidfd, finish: { err in
                    var e = err
                    if e == 0 {
                        _ = fcntl(fresh, F_SETFL, fcntl(fresh, F_GETFL) & ~O_NONBLOCK)   // the program's was blocking
                        if void_notif_setfd(listener, id, fresh, fd, cloexec ? 1 : 0) < 0 { e = errno }
                    }
                    _ = void_notif_respond(listener, id, 0, e)
                }, isSend: false))
                return true
            }
            close(fresh)
            c.respond(error: r)   // EAGAIN (a unix listener's full backlog) included: nothing is in progress
            return false
        }
    }

    /// The program's own socket, connected here: what it asked, in the network it was made in.
    private func connectInPlace(_ c: Call, _ s: Sock, _ sa: [UInt8]) -> Bool {
        if !s.nonblocking { _ = fcntl(s.fd, F_SETFL, s.flags | O_NONBLOCK) }
        let r = sa.withUnsafeBytes { void_connect(s.fd, $0.baseAddress, UInt32($0.count)) }
        if (r == EINPROGRESS || r == EALREADY) && !s.nonblocking {
            let listener = c.listener, id = c.n.id, flags = s.flags, fd = s.fd
            pending.append(Pending(listener: listener, id: id, sock: s.fd, pidfd: c.pidfd, finish: { err in
                _ = fcntl(fd, F_SETFL, flags)
                _ = void_notif_respond(listener, id, 0, err)
            }, isSend: false))
            return true
        }
        if !s.nonblocking { _ = fcntl(s.fd, F_SETFL, s.flags) }
        close(s.fd)
        c.respond(error: r)
        return false
    }

    /// The call's socket when it is the program's own. A socket made outside is refused, EPERM
    /// and a line on stderr (bind or listen would aim it at the caller's network): nil, answered.
    private func ownSocket(_ c: Call, _ what: String) -> Sock? {
        let (taken, e) = take(c)
        guard let s = taken else { c.respond(error: e); return nil }
        guard s.host else { return s }
        close(s.fd)
        complain("org.voidoci.connect: \(what) a socket made outside refused")
        c.respond(error: EPERM)
        return nil
    }

    /// bind: refused on a socket made outside (it would listen on the caller's network); on the
    /// program's own, done here, except a unix path, which only the program's own call can
    /// resolve in its root (it goes on: SECCOMP_USER_NOTIF_FLAG_CONTINUE; see docs/void.md).
    private func bind(_ c: Call) {
        let (sa, e) = c.sockaddr(c.arg(1), c.arg(2) & 0xffff_ffff)
        guard let sa else { return c.respond(error: e) }
        guard let s = ownSocket(c, "bind of") else { return }
        defer { close(s.fd) }
        let family = Int32(UInt16(sa[0]) | UInt16(sa[1]) << 8)
        if family == AF_UNIX && sa.count > 2 && sa[2] != 0 {
            _ = void_notif_continue(c.listener, c.n.id)
            return
        }
        let r = sa.withUnsafeBytes { Glibc.bind(s.fd, $0.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) }
        c.respond(error: r < 0 ? errno : 0)
    }

    private func listen(_ c: Call) {
        guard let s = ownSocket(c, "listen on") else { return }
        defer { close(s.fd) }
        let r = Glibc.listen(s.fd, Int32(truncatingIfNeeded: c.arg(1)))
        c.respond(error: r < 0 ? errno : 0)
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

    // MARK: sends

    static let sendCap = 1 << 20

    private enum Sent { case done(Int, Int32), wouldBlock }

    /// sendto, sendmsg, sendmmsg: carried out here. A blocking socket that is full waits in the
    /// poll loop (the call is retried when it can be written). Returns whether it is pending.
    private func send(_ c: Call) -> Bool {
        let flagsArg = c.n.nr == Self.sysSendmsg ? 2 : 3
        if c.arg(flagsArg) & Self.msgFastOpen != 0 {
            c.respond(error: EOPNOTSUPP)   // TCP Fast Open connects: not through a send
            return false
        }
        return trySend(c, retry: false)
    }

    /// One attempt at a send: answered when done; when the socket is full, EAGAIN for a call
    /// that may not block (on the first attempt), else it waits in the poll loop for room on the
    /// socket the send goes to and is tried again. Returns whether it is pending.
    private func trySend(_ c: Call, retry: Bool) -> Bool {
        let (taken, e) = take(c)
        guard let s = taken else { c.respond(error: e); return false }
        var installed: Int32 = -1   // a socket made outside for the program's, this call
        defer { if installed >= 0 && installed != s.fd { close(installed) } }
        if case .done(let n, let err) = attempt(c, s, &installed) {
            close(s.fd)
            c.respond(Int64(n), error: err)
            return false
        }
        let flagsArg = c.n.nr == Self.sysSendmsg ? 2 : 3
        if !retry && (s.nonblocking || Int32(truncatingIfNeeded: c.arg(flagsArg)) & Int32(MSG_DONTWAIT) != 0) {
            close(s.fd)
            c.respond(error: EAGAIN)
            return false
        }
        let sock = installed >= 0 ? dup(installed) : s.fd
        if installed >= 0 { close(s.fd) }
        pending.append(Pending(listener: c.listener, id: c.n.id, sock: sock, pidfd: c.pidfd, finish: { [unowned self] _ in
            guard void_notif_valid(c.listener, c.n.id) != 0 else { return }
            _ = self.trySend(Call(listener: c.listener, n: c.n, pidfd: dup(c.pidfd)), retry: true)
        }, isSend: true))
        return true
    }

    private func attempt(_ c: Call, _ s: Sock, _ installed: inout Int32) -> Sent {
        switch c.n.nr {
        case Self.sysSendto:
            let (sa, e) = c.sockaddr(c.arg(4), c.arg(5) & 0xffff_ffff)
            guard let sa else { return .done(-1, e) }
            let len = Int(min(c.arg(2), UInt64(Self.sendCap)))
            if UInt64(len) < c.arg(2) && s.datagram { return .done(-1, EMSGSIZE) }
            var data = [UInt8](repeating: 0, count: len)
            let got = data.withUnsafeMutableBytes { void_mem_read(c.pid, c.arg(1), $0.baseAddress, $0.count) }
            if got != len { return .done(-1, EFAULT) }
            let (sock, err) = target(c, s, sa, &installed)
            if sock < 0 { return .done(-1, err) }
            return carry(c, sock, flags: Int32(truncatingIfNeeded: c.arg(3))) { f in
                data.withUnsafeBytes { d in
                    sa.withUnsafeBytes { a in
                        Glibc.sendto(sock, d.baseAddress, d.count, f, a.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count))
                    }
                }
            }
        case Self.sysSendmsg:
            return sendOne(c, s, addr: c.arg(1), flags: Int32(truncatingIfNeeded: c.arg(2)), &installed)
        default:   // sendmmsg: struct mmsghdr is a msghdr (56 bytes) and the count sent (written back)
            let count = Int(min(c.arg(2) & 0xffff_ffff, 1024))
            var sent = 0
            for i in 0..<count {
                let at = c.arg(1) &+ UInt64(i &* 64)
                let r = sendOne(c, s, addr: at, flags: Int32(truncatingIfNeeded: c.arg(3)), &installed)
                guard case .done(let n, let err) = r, n >= 0 else {
                    if sent > 0 { break }
                    if case .done(_, let err) = r { return .done(-1, err) }
                    return r
                }
                _ = err
                var len = UInt32(truncatingIfNeeded: n)
                _ = void_mem_write(c.pid, at &+ 56, &len, 4)
                sent += 1
            }
            return .done(sent, 0)
        }
    }

    /// The socket a send with address `sa` goes out on: the program's, or (a datagram socket of
    /// the void's, to a listed destination) one made outside and installed in its place, once per
    /// call. -1 and an errno when refused.
    private func target(_ c: Call, _ s: Sock, _ sa: [UInt8], _ installed: inout Int32) -> (Int32, Int32) {
        if installed >= 0 { return (installed, 0) }
        switch verdict(sa, s) {
        case .refuse(let what):
            complain("org.voidoci.connect: send to \(what) refused: not a listed destination")
            return (-1, ECONNREFUSED)
        case .local: return (s.fd, 0)
        case .grant:
            if s.host { return (s.fd, 0) }
            guard s.datagram else { return (-1, EISCONN) }   // a stream connects through connect()
            let fresh = socket(s.domain, s.type | Int32(SOCK_CLOEXEC.rawValue) | (s.nonblocking ? Int32(SOCK_NONBLOCK.rawValue) : 0), s.proto)
            if fresh < 0 { return (-1, errno) }
            if void_copy_sockopts(s.fd, fresh, s.domain) < 0 || void_notif_setfd(c.listener, c.n.id, fresh, c.fd, void_fd_cloexec(c.pid, c.fd) == 1 ? 1 : 0) < 0 {
                let e = errno
                close(fresh)
                return (-1, e)
            }
            installed = fresh
            return (fresh, 0)
        }
    }

    /// Sends on `sock` without waiting; raises SIGPIPE on EPIPE unless MSG_NOSIGNAL, as the
    /// program's own call would.
    private func carry(_ c: Call, _ sock: Int32, flags: Int32, _ op: (Int32) -> Int) -> Sent {
        let noSignal = Int32(MSG_NOSIGNAL)
        let r = op(flags | noSignal | Int32(MSG_DONTWAIT))
        if r >= 0 { return .done(r, 0) }
        let e = errno
        if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
        if e == EPIPE && flags & noSignal == 0 { _ = void_pidfd_send_signal(c.pidfd, SIGPIPE) }
        return .done(-1, e)
    }

    /// One message of the program's at `addr`, on its socket `s`.
    private func sendOne(_ c: Call, _ s: Sock, addr: UInt64, flags: Int32, _ installed: inout Int32) -> Sent {
        var m = void_msg()
        if void_msg_read(c.pid, c.pidfd, addr, Self.sendCap, &m) < 0 { return .done(-1, errno) }
        defer { void_msg_free(&m) }
        if m.truncated != 0 && s.datagram { return .done(-1, EMSGSIZE) }
        var sock = s.fd
        // A name only means something to a datagram socket; a stream's is not passed on.
        let named = m.namelen > 0 && s.datagram
        if named {
            let sa = withUnsafeBytes(of: m.name) { Array($0.prefix(Int(m.namelen))) }
            let (t, e) = target(c, s, sa, &installed)
            if t < 0 { return .done(-1, e) }
            sock = t
        }
        return carry(c, sock, flags: flags) { f in
            withUnsafeBytes(of: m.name) { void_msg_send(sock, &m, named ? $0.baseAddress : nil, named ? m.namelen : 0, f) }
        }
    }
}

extension ConnectDestination {
    /// The listed address as a sockaddr for a socket of `family` (an IPv4 destination on an
    /// IPv6 socket as ::ffff:a.b.c.d); nil for a unix path (the program's bytes equal it).
    func sockaddr(family: Int32) -> [UInt8]? {
        func port(_ p: UInt16) -> [UInt8] { [UInt8(p >> 8), UInt8(p & 0xff)] }
        switch address {
        case .inet(let b, let p) where family == AF_INET:
            return [UInt8(AF_INET & 0xff), 0] + port(p) + b + [UInt8](repeating: 0, count: 8)
        case .inet(let b, let p) where family == AF_INET6:
            return [UInt8(AF_INET6 & 0xff), 0] + port(p) + [0, 0, 0, 0] + [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + b + [0, 0, 0, 0]
        case .inet6(let b, let p) where family == AF_INET6:
            return [UInt8(AF_INET6 & 0xff), 0] + port(p) + [0, 0, 0, 0] + b + [0, 0, 0, 0]
        default: return nil
        }
    }
}
