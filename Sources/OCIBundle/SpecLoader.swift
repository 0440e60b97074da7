#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads runtime-spec documents. Every failure is a `SpecError` whose description is one line.
/// Decoding does not validate: call `validate(_:)` for that, which reports all problems at once.
public enum SpecLoader {
    /// Reads and decodes `<bundle>/config.json`.
    public static func load(bundle: String) throws -> Spec {
        try load(bundle: bundle, parsed: { _ in })
    }

    /// The same, calling `parsed` with `linux.cgroupsPath` (nil when absent or not a string) as
    /// soon as the document has parsed, before the typed decode: work that needs only that can
    /// start meanwhile. Not called when the document does not parse.
    public static func load(bundle: String, parsed: (_ cgroupsPath: String?) -> Void) throws -> Spec {
        let path = bundle.isEmpty ? "config.json" : bundle.hasSuffix("/") ? bundle + "config.json" : bundle + "/config.json"
        let tree = try parseDocument(readFile(path), file: "config.json")
        if case .object(let top) = tree, case .object(let linux)? = top["linux"], case .string(let p)? = linux["cgroupsPath"] {
            parsed(p)
        } else {
            parsed(nil)
        }
        return try decodeTree(Spec.self, tree, file: "config.json")
    }

    public static func decode<Bytes: Collection<UInt8>>(_ data: Bytes) throws -> Spec { try decode(data, file: "config.json") }

    /// `file` is how error messages name the document. Any byte collection (Foundation's Data
    /// too); the module itself does without Foundation, which costs start-up time and memory.
    public static func decode<Bytes: Collection<UInt8>>(_ data: Bytes, file: String) throws -> Spec {
        try decodeDocument(Spec.self, data, file: file)
    }

    /// The document of `exec --process FILE`: a bare `process` object.
    public static func decodeProcess<Bytes: Collection<UInt8>>(_ data: Bytes) throws -> Process { try decodeProcess(data, file: "process.json") }

    public static func decodeProcess<Bytes: Collection<UInt8>>(_ data: Bytes, file: String) throws -> Process {
        try decodeDocument(Process.self, data, file: file)
    }

    public static func loadProcess(path: String) throws -> Process {
        try decodeProcess(readFile(path), file: path)
    }

    /// The document of `update --resources FILE`: a bare `linux.resources` object.
    public static func decodeResources<Bytes: Collection<UInt8>>(_ data: Bytes) throws -> LinuxResources {
        try decodeResources(data, file: "resources.json")
    }

    public static func decodeResources<Bytes: Collection<UInt8>>(_ data: Bytes, file: String) throws -> LinuxResources {
        try decodeDocument(LinuxResources.self, data, file: file)
    }

    public static func loadResources(path: String) throws -> LinuxResources {
        try decodeResources(readFile(path), file: path)
    }

    /// Any Decodable from a JSON document, with the module's path-naming errors (voidoci's
    /// own state files use it too).
    public static func decodeDocument<T: Decodable, Bytes: Collection<UInt8>>(_ type: T.Type, _ data: Bytes, file: String) throws -> T {
        try decodeDocument(type, Array(data), file: file)
    }

    /// The same on an array: what voidoci's own callers use, so that no code generic over the
    /// byte collection runs unspecialised on their path (its first use looks conformances up
    /// by scanning the whole binary's records).
    public static func decodeDocument<T: Decodable>(_ type: T.Type, _ data: [UInt8], file: String) throws -> T {
        try decodeTree(type, parseDocument(data, file: file), file: file)
    }

    static func parseDocument(_ data: [UInt8], file: String) throws -> JSONValue {
        var blank = true
        for b in data where b != 0x20 && b != 0x0A && b != 0x0D && b != 0x09 {
            blank = false
            break
        }
        if blank { throw SpecError.empty(file: file) }
        do {
            return try JSONParser.parse(data)
        } catch {
            throw SpecError.syntax(error, file: file)
        }
    }

    static func decodeTree<T: Decodable>(_ type: T.Type, _ tree: JSONValue, file: String) throws -> T {
        do {
            return try JSONTreeDecoder.decode(type, from: tree)
        } catch let error as DecodingError {
            throw SpecError.decoding(error, file: file)
        }
    }

    /// Plain open/read rather than `Data(contentsOf:)`, whose errors do not carry the errno
    /// phrases podman looks for.
    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SpecError.system("open", path, errno: errno) }
        defer { close(fd) }
        guard let data = readToEnd(fd) else { throw SpecError.system("read", path, errno: errno) }
        return data
    }
}

/// Everything left to read on `fd`, through a 4 KiB stack buffer, so a small file (a config,
/// state, a proc or cgroup file) costs no large zero-filled allocation; nil with errno set when
/// a read fails. voidoci's other small-file reads use it too (VoidEngine's `readSmallBytes`).
public func readToEnd(_ fd: Int32) -> [UInt8]? {
    var out: [UInt8] = []
    let ok = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buf -> Bool in
        while true {
            let n = read(fd, buf.baseAddress, buf.count)
            if n < 0 { if errno == EINTR { continue }; return false }
            if n == 0 { return true }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[..<n]))
        }
    }
    return ok ? out : nil
}

/// The one errno-to-text function of voidoci: strerror's words in lower case, the form Go (and so
/// podman) prints and matches to choose an exit code: "no such file or directory" (127),
/// "permission denied" (126), "operation not permitted".
public func errnoText(_ code: Int32) -> String {
    guard let p = strerror(code) else { return "errno \(code)" }
    let text = String(cString: p)
    return text.isEmpty ? "errno \(code)" : text.lowercased()
}
