// How messages spell a location in a document: `mounts[2].destination`, and for map keys that
// are not identifiers `annotations["io.podman.annotations.init"]`, so that a key containing dots
// cannot be mistaken for nesting.
enum JSONPath {
    static func member(_ base: String, _ key: String) -> String {
        guard isIdentifier(key) else { return "\(base)[\(key.debugDescription)]" }
        return base.isEmpty ? key : "\(base).\(key)"
    }

    static func index(_ base: String, _ index: Int) -> String { "\(base)[\(index)]" }

    static func render(_ codingPath: [any CodingKey]) -> String {
        codingPath.reduce("") { path, key in
            if let position = key as? IndexKey { return index(path, position.index) }
            // Foundation's own decoders mark array positions this way.
            if let position = key.intValue, key.stringValue == "Index \(position)" { return index(path, position) }
            return member(path, key.stringValue)
        }
    }

    private static func isIdentifier(_ key: String) -> Bool {
        guard let first = key.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return key.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
    }
}
