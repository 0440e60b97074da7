import CVoid
import Glibc

/// A pty allocated outside the void: the slave becomes the process's stdio and controlling
/// terminal, the master goes to whoever listens on --console-socket (conmon). The terminal is
/// an fd handed in, not a devpts mounted inside.
public struct Console {
    public let socket: Int32
    public let master: Int32
    public let slave: Int32
    public let name: String

    /// Connects first: a bad socket path fails before any void exists.
    public static func open(socketPath: String) throws -> Console {
        let sock = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if sock < 0 { throw VoidError.sys("socket") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc.close(sock)
            throw VoidError("--console-socket \(socketPath): path too long")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(sock, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r < 0 { let e = errno; Glibc.close(sock); throw VoidError.sys("--console-socket: connect", socketPath, errno: e) }
        var master: Int32 = -1, slave: Int32 = -1
        var buf = [CChar](repeating: 0, count: 128)
        if void_openpty(&master, &slave, &buf, buf.count) < 0 {
            let e = errno
            Glibc.close(sock)
            throw VoidError.sys("allocating a pty", errno: e)
        }
        let name = String(cString: buf)
        return Console(socket: sock, master: master, slave: slave, name: name)
    }

    public func sendMaster() throws {
        if void_send_fd(socket, master, name) < 0 { throw VoidError.sys("--console-socket: sending the pty master") }
    }

    public func close() {
        Glibc.close(socket)
        Glibc.close(master)
        Glibc.close(slave)
    }
}
