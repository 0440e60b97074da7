import Glibc
import SystemPackage

/// The one error type of the engine: a message that already names the thing (JSON path, mount
/// destination, annotation, file) and, where a syscall failed, the errno in words.
public struct VoidError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public var errno: Int32?

    public init(_ description: String, errno: Int32? = nil) {
        self.description = description
        self.errno = errno
    }

    /// "OP PATH: no such file or directory". strerror's text is lowercased because podman maps
    /// exit codes from the phrases "no such file or directory" and "permission denied".
    public static func sys(_ op: String, _ path: String? = nil, errno err: Int32 = Glibc.errno) -> VoidError {
        let what = path.map { "\(op) \($0)" } ?? op
        return VoidError("\(what): \(errnoText(err))", errno: err)
    }
}

/// strerror's words, lowercased (podman matches "no such file or directory" etc. on them).
public func errnoText(_ err: Int32) -> String {
    Errno(rawValue: err).description.lowercased()
}

/// Runs a syscall-like closure, retrying on EINTR, throwing `VoidError.sys` on -1.
@discardableResult
func sys<T: BinaryInteger>(_ op: String, _ path: String? = nil, _ body: () -> T) throws -> T {
    while true {
        let r = body()
        if r >= 0 { return r }
        let e = Glibc.errno
        if e == EINTR { continue }
        throw VoidError.sys(op, path, errno: e)
    }
}
