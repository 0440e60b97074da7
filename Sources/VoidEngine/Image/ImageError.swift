#if canImport(Glibc)
import Glibc
#endif

/// Errors from reading the image are `VoidError`s at stage `.image`, naming the path.
extension VoidError {
    static func image(_ description: String, errno: Int32? = nil) -> VoidError {
        VoidError(description, errno: errno, stage: .image)
    }

    /// "`what`: no such file or directory", about `what` in the image.
    static func imageSys(_ what: String, _ code: Int32) -> VoidError { .sys(what, code, stage: .image) }
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
