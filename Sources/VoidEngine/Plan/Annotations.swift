/// The opt-in grants of docs/void.md, parsed from `annotations`. Any `org.voidoci.*` key that is not
/// in this table, or a bad value, is an error naming the annotation: a typo in a grant must not
/// silently run a void with less (or more) than was meant.
public struct VoidGrants: Equatable, Sendable {
    public enum RootfsMode: String, Sendable { case none, ro, rw }
    public enum DevMode: String, Sendable { case none, minimal }
    public enum AcceptMode: String, Sendable { case stdio, fd }

    public static let kernelFilesystems = ["proc", "sysfs", "tmpfs", "devpts", "mqueue", "shm", "cgroup"]
    public static let minimalDevices = ["null", "zero", "full", "random", "urandom", "tty"]

    public var rootfs: RootfsMode = .none
    public var expose: [String] = []
    public var mounts: Set<String> = []
    public var dev: DevMode = .none
    public var listen: [ListenSocket] = []
    public var connect: [ConnectDestination] = []
    public var open: [OpenFile] = []
    public var accept: AcceptMode?
    public var acceptMax: Int?
    public var rootID: (uid: UInt32, gid: UInt32)?

    public static func == (a: VoidGrants, b: VoidGrants) -> Bool {
        a.rootfs == b.rootfs && a.expose == b.expose && a.mounts == b.mounts && a.dev == b.dev
            && a.listen == b.listen && a.connect == b.connect && a.open == b.open && a.accept == b.accept && a.acceptMax == b.acceptMax && a.rootID?.uid == b.rootID?.uid && a.rootID?.gid == b.rootID?.gid
    }

    public init() {}

    /// Every grant, with its values: what `--help` shows and what the unknown-key error lists.
    public static let table: [(key: String, value: String, grants: String)] = [
        ("org.voidoci.rootfs", "none|ro|rw", "the whole image root at / (default none: an empty tmpfs)"),
        ("org.voidoci.expose", "PATH[;PATH...]", "image paths bound read-only at the same place"),
        ("org.voidoci.mounts", "TYPE[;TYPE...]", "honour config.mounts of these types: " + kernelFilesystems.joined(separator: " ")),
        ("org.voidoci.dev", "none|minimal", "minimal: " + minimalDevices.joined(separator: " ") + ", made as runc makes them (bound from the host when voidoci is unprivileged)"),
        ("org.voidoci.open", "MODE:PATH[;...]", "host files opened outside (r, w, a, rw) and passed in as fds, after the preserved fds and the listen sockets"),
        ("org.voidoci.accept", "stdio|fd", "with one stream listen socket: a fresh void per connection, the connection as stdin/stdout or as fd 3"),
        ("org.voidoci.accept-max", "N", "at most N connections' voids at once (default 64); the rest wait in the backlog"),
        ("org.voidoci.root-id", "UID[:GID]", "voidoci as real root: the host id the void's ids map to (default 65534)"),
        ("org.voidoci.listen", "[NAME=]tcp:ADDR:PORT|udp:ADDR:PORT|unix:PATH[;...]", "sockets bound outside the void, passed in as fds 3.. (socket activation)"),
        ("org.voidoci.connect", "tcp:ADDR:PORT|udp:ADDR:PORT|unix:PATH[;...]", "the only destinations the program's connect() reaches, from outside (seccomp user notification)"),
    ]

    /// The table as lines for `--help`.
    public static var help: String {
        var out = "Grants (annotations: podman run --annotation KEY=VALUE, ctr run --annotation, or config.json;\nlists take ',' or ';', and through podman only ';'):\n"
        for row in table {
            let left = row.value.isEmpty ? row.key : "\(row.key)=\(row.value)"
            out += "  " + left + String(repeating: " ", count: max(1, 38 - left.count)) + row.grants + "\n"
        }
        return out
    }

    public init(annotations: [String: String]) throws {
        for (key, value) in annotations.sorted(by: { $0.key < $1.key }) where key.hasPrefix("org.voidoci.") {
            // Keys and values come from whoever wrote the bundle: escaped, so that an error stays
            // one line whatever they hold.
            func bad(_ why: String) -> VoidError { VoidError("annotation \(printable(key))=\(value.debugDescription): \(why)") }
            switch key {
            case "org.voidoci.rootfs":
                guard let m = RootfsMode(rawValue: value) else { throw bad("expected none, ro or rw") }
                rootfs = m
            case "org.voidoci.expose":
                expose = try Self.list(value).map { p in
                    guard p.hasPrefix("/") else { throw bad("\(printable(p)): not an absolute path") }
                    guard !p.split(separator: "/").contains("..") else { throw bad("\(printable(p)): contains \"..\"") }
                    return p
                }
            case "org.voidoci.mounts":
                for t in Self.list(value) {
                    guard Self.kernelFilesystems.contains(t) else {
                        throw bad("unknown type \(printable(t)) (one of \(Self.kernelFilesystems.joined(separator: ", ")))")
                    }
                    mounts.insert(t)
                }
            case "org.voidoci.dev":
                guard let m = DevMode(rawValue: value) else { throw bad("expected none or minimal") }
                dev = m
            case "org.voidoci.listen":
                listen = []
                for item in Self.list(value) {
                    let socket: ListenSocket
                    do { socket = try ListenSocket.parse(item) } catch { throw bad("\(printable(item)): \(error.why)") }
                    if let twin = listen.first(where: { $0.address == socket.address && $0.transport == socket.transport }) {
                        throw bad("\(printable(item)): the same socket as \(printable(twin.entry))")
                    }
                    listen.append(socket)
                }
            case "org.voidoci.connect":
                connect = []
                for item in Self.list(value) {
                    let d: ConnectDestination
                    do { d = try ConnectDestination.parse(item) } catch { throw bad("\(printable(item)): \(error.why)") }
                    if let twin = connect.first(where: { $0.address == d.address && $0.transport == d.transport }) {
                        throw bad("\(printable(item)): the same destination as \(printable(twin.entry))")
                    }
                    connect.append(d)
                }
            case "org.voidoci.open":
                open = []
                for item in Self.list(value) {
                    let file: OpenFile
                    do { file = try OpenFile.parse(item) } catch { throw bad("\(printable(item)): \(error.why)") }
                    if open.contains(where: { $0.path == file.path }) { throw bad("\(printable(item)): \(printable(file.path)) is listed twice") }
                    open.append(file)
                }
            case "org.voidoci.accept":
                guard let m = AcceptMode(rawValue: value) else { throw bad("expected stdio or fd") }
                accept = m
            case "org.voidoci.accept-max":
                guard let n = Int(value), (1...65536).contains(n) else { throw bad("expected a number of connections, 1-65536") }
                acceptMax = n
            case "org.voidoci.root-id":
                let parts = value.split(separator: ":", omittingEmptySubsequences: false)
                guard (1...2).contains(parts.count), let u = UInt32(parts[0]),
                      let g = parts.count == 2 ? UInt32(parts[1]) : u else {
                    throw bad("expected UID or UID:GID (decimal)")
                }
                guard u != 0, g != 0 else { throw bad("must be an unprivileged id, not 0") }
                rootID = (u, g)
            default:
                throw VoidError("annotation \(printable(key)): unknown voidoci annotation (known: \(Self.table.map(\.key).joined(separator: ", ")))")
            }
        }
        if acceptMax != nil && accept == nil {
            throw VoidError("annotation org.voidoci.accept-max: needs org.voidoci.accept")
        }
        if let m = accept, !connect.isEmpty {
            throw VoidError("annotation org.voidoci.connect: not with org.voidoci.accept=\(m.rawValue) yet (a connection's void would need a connect supervisor of its own)")
        }
        if let m = accept, !open.isEmpty {
            throw VoidError("annotation org.voidoci.open: not with org.voidoci.accept=\(m.rawValue) (each connection's void gets only its connection)")
        }
        if let m = accept {
            guard listen.count == 1, let l = listen.first, l.transport != .udp else {
                throw VoidError("annotation org.voidoci.accept=\(m.rawValue): needs exactly one stream socket in org.voidoci.listen (tcp: or unix:), it lists \(listen.isEmpty ? "none" : listen.map { printable($0.entry) }.joined(separator: ";"))")
            }
        }
    }

    /// A list-valued grant: items separated by `,` or `;`. podman splits `--annotation` values at
    /// commas ("annotations must be formatted KEY=VALUE"), so `;` is the separator that passes
    /// through every client unchanged (docs/void.md: Opting in).
    static func list(_ value: String) -> [String] {
        value.split(whereSeparator: { $0 == "," || $0 == ";" }).map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
    }
}

/// `text` with each control or line-separating character escaped as in a Swift literal (`\n`,
/// `\u{1B}`), everything else as is: error messages quote values from the bundle and must stay
/// one line (podman and conmon read the error as a line).
public func printable(_ text: String) -> String {
    var out = ""
    for u in text.unicodeScalars {
        if u.properties.generalCategory == .control || u == "\u{2028}" || u == "\u{2029}" {
            switch u {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out += "\\u{\(String(u.value, radix: 16, uppercase: true))}"
            }
        } else {
            out.unicodeScalars.append(u)
        }
    }
    return out
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self[...]
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
