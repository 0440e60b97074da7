#if canImport(Glibc)
import Glibc
#endif

/// One entry of `org.voidoci.listen` (docs/void.md, Sockets): a socket that voidoci creates, binds
/// and (for a stream) puts to listen outside the void, in the caller's network namespace, and
/// hands to the program as an inherited fd, as systemd's socket activation does.
public struct ListenSocket: Equatable, Sendable, CustomStringConvertible {
    public enum Address: Equatable, Sendable {
        case inet(String, port: UInt16)     // dotted quad
        case inet6(String, port: UInt16)    // without the brackets
        case unix(String)                   // absolute path on the host
    }
    public enum Transport: String, Sendable { case tcp, udp, unix }

    public var transport: Transport
    public var address: Address
    /// The entry as written: errors and `explain` name it.
    public var entry: String
    /// Its name in LISTEN_FDNAMES: `NAME=` before the entry, else the entry with `:` (which
    /// systemd does not allow in a name) written as `-`.
    public var name: String

    public var description: String { entry }

    /// Parses `[NAME=]tcp:ADDR:PORT`, `[NAME=]tcp:[ADDR6]:PORT`, `[NAME=]udp:...` or
    /// `[NAME=]unix:PATH`; `why` says what is wrong, for an error that names the entry.
    public static func parse(_ text: String) throws(ListenError) -> ListenSocket {
        var name: String?
        var rest = Substring(text)
        if let eq = rest.firstIndex(of: "="), !rest[..<eq].contains(":") {
            name = String(rest[..<eq])
            rest = rest[rest.index(after: eq)...]
        }
        guard let colon = rest.firstIndex(of: ":") else { throw ListenError("expected tcp:, udp: or unix:") }
        guard let transport = Transport(rawValue: String(rest[..<colon])) else {
            throw ListenError("unknown transport \(printable(String(rest[..<colon]))) (tcp, udp or unix)")
        }
        let value = rest[rest.index(after: colon)...]
        let address: Address
        if transport == .unix {
            guard value.hasPrefix("/") else { throw ListenError("a unix socket path must be absolute") }
            guard !value.split(separator: "/").contains("..") else { throw ListenError("the path contains \"..\"") }
            guard value.utf8.count < 108 else { throw ListenError("the path is longer than the 107 bytes of sun_path") }
            guard !value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) else { throw ListenError("the path contains a control character") }
            address = .unix(String(value))
        } else {
            guard let portColon = value.lastIndex(of: ":") else { throw ListenError("expected ADDR:PORT") }
            var host = value[..<portColon]
            let portText = value[value.index(after: portColon)...]
            guard let port = UInt16(portText), port > 0 else {
                throw ListenError("port \(printable(String(portText))) is not in 1-65535")
            }
            if host.hasPrefix("[") && host.hasSuffix("]") {
                host = host.dropFirst().dropLast()
                guard isAddress(String(host), family: AF_INET6) else { throw ListenError("\(printable(String(host))) is not an IPv6 address") }
                address = .inet6(String(host), port: port)
            } else {
                guard isAddress(String(host), family: AF_INET) else {
                    throw ListenError("\(printable(String(host))) is not an IPv4 address (an IPv6 one is written in brackets)")
                }
                address = .inet(String(host), port: port)
            }
        }
        let entry = String(rest)
        let fdName = name ?? String(entry.map { $0 == ":" ? "-" : $0 })
        guard isFDName(fdName) else {
            throw ListenError("the name \(printable(fdName)) is not a valid LISTEN_FDNAMES name (printable ASCII without ':', at most 255 bytes)")
        }
        return ListenSocket(transport: transport, address: address, entry: entry, name: fdName)
    }

    static func isAddress(_ text: String, family: Int32) -> Bool {
        var buf = [UInt8](repeating: 0, count: 16)
        return text.withCString { inet_pton(family, $0, &buf) } == 1
    }

    /// systemd's fdname_is_valid: 1-255 printable ASCII characters, no ':'.
    static func isFDName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 255 && s.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: ":") }
    }
}

public struct ListenError: Error {
    public var why: String
    init(_ why: String) { self.why = why }
}
