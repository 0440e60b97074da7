/// One entry of `org.voidoci.open` (docs/void.md, Files passed in): a host file that voidoci opens
/// as the caller, outside the void, and hands to the program as an inherited fd: "an opened file
/// descriptor can be offered" instead of a path to bind.
public struct OpenFile: Equatable, Sendable, CustomStringConvertible {
    public enum Mode: String, Sendable {
        case r, w, a, rw
        /// open(2) flags; `w` truncates, `a` appends, `w`, `a` and `rw` create a missing file.
        var flags: Int32 {
            switch self {
            case .r: return 0          // O_RDONLY
            case .w: return 0o1 | 0o1000   // O_WRONLY | O_TRUNC
            case .a: return 0o1 | 0o2000   // O_WRONLY | O_APPEND
            case .rw: return 0o2       // O_RDWR
            }
        }
        var creates: Bool { self != .r }
    }

    public var mode: Mode
    public var path: String
    public var entry: String { "\(mode.rawValue):\(path)" }
    public var description: String { entry }

    /// Parses `MODE:PATH` (r, w, a or rw; an absolute host path).
    public static func parse(_ text: String) throws(ListenError) -> OpenFile {
        guard let colon = text.firstIndex(of: ":"), let mode = Mode(rawValue: String(text[..<colon])) else {
            throw ListenError("expected MODE:PATH with MODE r, w, a or rw")
        }
        let path = String(text[text.index(after: colon)...])
        guard path.hasPrefix("/") else { throw ListenError("the path must be absolute") }
        guard !path.split(separator: "/").contains("..") else { throw ListenError("the path contains \"..\"") }
        guard !path.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) else { throw ListenError("the path contains a control character") }
        return OpenFile(mode: mode, path: path)
    }
}
