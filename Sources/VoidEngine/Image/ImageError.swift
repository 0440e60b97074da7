#if canImport(Glibc)
import Glibc
#endif

/// An error from reading the image rootfs. `description` names the path; `errno`, when set, is the
/// errno the runtime should report (podman maps "no such file or directory" to 127 and
/// "permission denied" to 126, so those phrases appear whenever they are true).
public struct ImageError: Error, CustomStringConvertible {
    public var description: String
    public var errno: Int32?

    public init(_ description: String, errno: Int32? = nil) {
        self.description = description
        self.errno = errno
    }

    /// "`what`: no such file or directory": strerror's text, lower-cased like Go's and crun's.
    static func sys(_ what: String, _ code: Int32) -> ImageError {
        ImageError("\(what): \(errnoText(code))", errno: code)
    }

    static func errnoText(_ code: Int32) -> String {
        let text = String(cString: strerror(code))
        guard let first = text.first else { return "errno \(code)" }
        return first.lowercased() + text.dropFirst()
    }
}

/// Lexical path helpers (no file system access).
enum ImagePath {
    static func join(_ dir: String, _ name: String) -> String {
        if name.hasPrefix("/") { return name }
        return dir.hasSuffix("/") ? dir + name : dir + "/" + name
    }

    /// `dir` made absolute against `cwd` (both as text; resolution happens later, in the image).
    static func absolute(_ path: String, cwd: String) -> String {
        path.hasPrefix("/") ? path : join(cwd.hasPrefix("/") ? cwd : "/" + cwd, path)
    }

    static func dirname(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    static func basename(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
