
/// Why a document could not be read or decoded, as one line that names the file and, when there
/// is one, the JSON path:
///
///     config.json: process.user.uid: expected an unsigned integer, found a string
///     config.json: missing required field root.path
///     config.json: not valid JSON: unexpected end of data at byte 312 (line 14, column 1)
///     open /x/config.json: no such file or directory
public struct SpecError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file as messages name it: `config.json` for a bundle, the given path otherwise.
    public var file: String
    /// The offending field (`mounts[2].destination`) when the error is about one.
    public var jsonPath: String?
    /// Set when the file could not be read.
    public var errno: Int32?
    public var description: String

    public init(file: String, jsonPath: String? = nil, errno: Int32? = nil, description: String) {
        self.file = file
        self.jsonPath = jsonPath
        self.errno = errno
        self.description = description
    }

    /// Worded like Go's `*os.PathError` ("open PATH: no such file or directory") because podman
    /// matches those phrases to choose its exit code.
    static func system(_ operation: String, _ path: String, errno code: Int32) -> SpecError {
        SpecError(file: path, errno: code, description: "\(operation) \(path): \(errnoText(code))")
    }

    static func syntax(_ error: JSONSyntaxError, file: String) -> SpecError {
        SpecError(
            file: file,
            description: "\(file): not valid JSON: \(error.message) at byte \(error.offset) (line \(error.line), column \(error.column))")
    }

    static func empty(file: String) -> SpecError {
        SpecError(file: file, description: "\(file): file is empty (expected a JSON object)")
    }

    static func decoding(_ error: DecodingError, file: String) -> SpecError {
        switch error {
        case .keyNotFound(let key, let context):
            let path = JSONPath.render(context.codingPath + [key])
            return SpecError(file: file, jsonPath: path, description: "\(file): missing required field \(path)")
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let path = JSONPath.render(context.codingPath)
            let prefix = path.isEmpty ? "\(file): " : "\(file): \(path): "
            return SpecError(file: file, jsonPath: path.isEmpty ? nil : path, description: prefix + context.debugDescription)
        @unknown default:
            return SpecError(file: file, description: "\(file): \(error)")
        }
    }
}
