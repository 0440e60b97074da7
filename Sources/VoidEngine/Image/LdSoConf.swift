#if canImport(Glibc)
import Glibc
#endif

/// The loader configuration files of an image, read inside the image.
enum LdSoConf {
    /// Directories listed by `/etc/ld.so.conf` and the files it includes. glibc's loader never reads
    /// this file (only ldconfig does, to build ld.so.cache); we use it for images shipped without a
    /// cache, to find what ldconfig would have listed. Parsing follows ldconfig's parse_conf: one
    /// directory per line, `#` comments, `include PATTERN...` (a relative pattern is relative to the
    /// including file's directory), `hwcap` lines ignored, a legacy `=TYPE` suffix dropped.
    static func directories(in root: ImageRoot, file: String = "/etc/ld.so.conf") -> [String] {
        var dirs: [String] = []
        var visited: Set<String> = []
        read(file, root: root, into: &dirs, visited: &visited, depth: 0)
        var seen: Set<String> = []
        return dirs.filter { seen.insert($0).inserted }
    }

    private static func read(_ file: String, root: ImageRoot, into dirs: inout [String],
                             visited: inout Set<String>, depth: Int) {
        // An include cycle would never end in ldconfig either; we stop at the first repeat.
        guard depth < 16, visited.insert(file).inserted,
              let bytes = try? root.readFile(file) else { return }
        for raw in String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == "\n" }) {
            let line = trim(raw.prefix { $0 != "#" })
            if line.isEmpty { continue }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            switch words[0] {
            case "include" where words.count > 1:
                for pattern in words.dropFirst() {
                    for match in glob(ImagePath.join(ImagePath.dirname(file), pattern), root: root) {
                        read(match, root: root, into: &dirs, visited: &visited, depth: depth + 1)
                    }
                }
            case "hwcap" where words.count > 1:
                continue
            default:
                var dir = trim(line.prefix { $0 != "=" })
                while dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
                if !dir.isEmpty { dirs.append(dir) }
            }
        }
    }

    /// glob(3) evaluated inside the image: each component with wildcards is matched (fnmatch,
    /// leading dots not matched by wildcards, as glob does) against the names of the directory
    /// reached so far; results sorted like glob's.
    static func glob(_ pattern: String, root: ImageRoot) -> [String] {
        var paths = ["/"]
        for part in ImageRoot.components(pattern) {
            guard part.contains(where: { "*?[".contains($0) }) else {
                paths = paths.map { ImagePath.join($0, part) }
                continue
            }
            paths = paths.flatMap { dir -> [String] in
                guard let loc = try? root.locate(dir), let handle = try? root.openDirectory(loc),
                      let names = try? root.list(handle) else { return [] }
                return names.filter { fnmatch(part, $0, FNM_PERIOD) == 0 }.sorted().map { ImagePath.join(dir, $0) }
            }
        }
        return paths.filter { root.exists($0) }
    }

    /// musl's search path: `<prefix>/etc/ld-musl-ARCH.path`, where prefix is the interpreter's path
    /// minus its last two components ("/lib/ld-musl-x86_64.so.1" gives "/etc/ld-musl-x86_64.path").
    /// Entries are separated by ":" or newlines; without the file musl uses its built-in list.
    static func muslPathFile(interpreter: String) -> String? {
        let parts = interpreter.split(separator: "/", omittingEmptySubsequences: false)
        guard interpreter.hasPrefix("/"), let last = parts.last, last.hasPrefix("ld-musl-") else { return nil }
        let arch = last.dropFirst(8).prefix { $0 != "." }
        let prefix = parts.dropLast(2).joined(separator: "/")
        return prefix + "/etc/ld-musl-\(arch).path"
    }

    static let muslDefaultPath = ["/lib", "/usr/local/lib", "/usr/lib"]

    static func trim(_ text: Substring) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = text.firstIndex(where: { !isSpace($0) }),
              let last = text.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(text[first...last])
    }
}
