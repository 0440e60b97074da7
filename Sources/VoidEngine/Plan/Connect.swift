#if canImport(Glibc)
import Glibc
#endif

/// One entry of `org.voidoci.connect` (docs/void.md, Sockets): a destination the program may
/// connect to, reached from the caller's network namespace. The program's own `connect` (and,
/// with a udp entry, its `sendto`/`sendmsg` to an address) is intercepted with seccomp user
/// notification and carried out by the supervisor (Supervisor/ConnectBroker.swift).
public struct ConnectDestination: Equatable, Sendable, CustomStringConvertible {
    public var transport: ListenSocket.Transport
    public var address: Address
    /// The entry as written: errors, logs and `explain` name it.
    public var entry: String
    public var description: String { entry }

    /// A destination as the kernel sees it: what a program's sockaddr is compared with.
    public enum Address: Hashable, Sendable {
        case inet([UInt8], port: UInt16)   // 4 bytes; an IPv4-mapped IPv6 address is this too
        case inet6([UInt8], port: UInt16)  // 16 bytes
        case unix([UInt8])                 // a path's bytes, compared as bytes (abstract names are never listed)
    }

    /// Parses `tcp:ADDR:PORT`, `tcp:[ADDR6]:PORT`, `udp:...` or `unix:PATH`.
    public static func parse(_ text: String) throws(ListenError) -> ConnectDestination {
        if let eq = text.firstIndex(of: "="), !text[..<eq].contains(":") {
            throw ListenError("a destination has no name (NAME= is for org.voidoci.listen)")
        }
        let l = try ListenSocket.parse(text)
        let address: Address
        switch l.address {
        case .inet(let host, let port): address = .inet(bytes(host, AF_INET, 4), port: port)
        case .inet6(let host, let port): address = canonical(bytes(host, AF_INET6, 16), port: port)
        case .unix(let path): address = .unix(Array(path.utf8))
        }
        return ConnectDestination(transport: l.transport, address: address, entry: l.entry)
    }

    static func bytes(_ text: String, _ family: Int32, _ n: Int) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: 16)
        _ = text.withCString { inet_pton(family, $0, &buf) }
        return Array(buf.prefix(n))
    }

    /// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address: a dual-stack socket
    /// connects to it that way.
    static func canonical(_ b: [UInt8], port: UInt16) -> Address {
        if b.count == 16 && b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff {
            return .inet(Array(b[12..<16]), port: port)
        }
        return .inet6(b, port: port)
    }

    /// A sockaddr of the program's, as bytes: its destination, or nil (another family, an
    /// abstract or unnamed unix address, a short one).
    public static func address(of sa: [UInt8]) -> Address? {
        guard sa.count >= 2 else { return nil }
        let family = Int32(UInt16(sa[0]) | UInt16(sa[1]) << 8)
        func port(_ at: Int) -> UInt16 { UInt16(sa[at]) << 8 | UInt16(sa[at + 1]) }
        switch family {
        case AF_INET:
            guard sa.count >= 8 else { return nil }
            return .inet(Array(sa[4..<8]), port: port(2))
        case AF_INET6:
            guard sa.count >= 24 else { return nil }
            return canonical(Array(sa[8..<24]), port: port(2))
        case AF_UNIX:
            let path = sa[2...].prefix { $0 != 0 }
            guard !path.isEmpty else { return nil }   // abstract (leading NUL) or unnamed
            return .unix(Array(path))
        default: return nil
        }
    }

    /// Whether an address is loopback: reached in the void's own network (only `lo`) when not listed.
    public static func isLoopback(_ a: Address) -> Bool {
        switch a {
        case .inet(let b, _): return b.first == 127
        case .inet6(let b, _): return b == [UInt8](repeating: 0, count: 15) + [1]
        case .unix: return false
        }
    }

    /// The address in text, for the log: tcp:1.2.3.4:80, tcp:[::1]:80, unix:/path.
    public static func text(_ a: Address, transport: String) -> String {
        switch a {
        case .inet(let b, let port): return "\(transport):\(b.map { String($0) }.joined(separator: ".")):\(port)"
        case .inet6(let b, let port):
            var buf = [CChar](repeating: 0, count: 64)
            _ = b.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &buf, 64) }
            return "\(transport):[\(String(cString: buf))]:\(port)"
        case .unix(let p): return "unix:\(printable(String(decoding: p, as: UTF8.self)))"
        }
    }
}
