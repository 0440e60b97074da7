import Glibc
@_exported import func OCIBundle.errnoText

/// The one error type of the engine: a message that already names the thing (JSON path, mount
/// destination, annotation, file) and, where a syscall failed, the errno in words
/// (`errnoText`, the one errno-to-text function). `stage` says where it arose and `subject`
/// which field or path it is about, for tools and tests; the CLI prints `description`, in
/// podman's format, in one place (Sources/voidoci/Globals.swift, `fail`).
public struct VoidError: Error, CustomStringConvertible, Sendable {
    /// Where in the flow of docs/architecture.md an error arose.
    public enum Stage: String, Sendable {
        case config     // reading and validating config.json
        case image      // reading the image
        case plan       // translating the spec
        case state      // the state directory, the id
        case cgroup     // the void's cgroups
        case spawn      // voidoci's half of making the void
        case child      // the init's set-up, reported back
        case hooks      // an OCI hook
        case exec       // exec into a running void
    }

    public var description: String
    public var errno: Int32?
    public var stage: Stage?
    /// The config field (a JSON path, an annotation) or the path the error is about.
    public var subject: String?

    public init(_ description: String, errno: Int32? = nil, stage: Stage? = nil, subject: String? = nil) {
        self.description = description
        self.errno = errno
        self.stage = stage
        self.subject = subject
    }

    /// "`what`: no such file or directory", about `what`.
    static func sys(_ what: String, _ code: Int32, stage: Stage) -> VoidError {
        VoidError("\(what): \(errnoText(code))", errno: code, stage: stage, subject: what)
    }

    /// The same error, marked as arising at `stage` unless it already says where.
    public func at(_ stage: Stage) -> VoidError {
        var e = self
        if e.stage == nil { e.stage = stage }
        return e
    }

    /// "OP PATH: no such file or directory". strerror's text is lowercased because podman maps
    /// exit codes from the phrases "no such file or directory" and "permission denied".
    public static func sys(_ op: String, _ path: String? = nil, errno err: Int32 = Glibc.errno) -> VoidError {
        let what = path.map { "\(op) \($0)" } ?? op
        return VoidError("\(what): \(errnoText(err))", errno: err)
    }
}

/// Runs `body`, marking a VoidError it throws (and any other error, as a VoidError) with `stage`.
func staged<T>(_ stage: VoidError.Stage, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as VoidError { throw e.at(stage) } catch { throw VoidError("\(error)", stage: stage) }
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
