
// Why our own parser: Foundation's JSONDecoder reports every syntax error, and also a number that
// does not fit its field (`"uid": -1`), as "The given data was not valid JSON." with no position
// and no path. Parsing first into a tree, then decoding the tree (JSONTreeDecoder.swift), lets
// each error say where it is: a byte offset for syntax, a JSON path for everything else.

/// A parsed JSON value. Numbers keep their source text so that each field converts it exactly
/// to its own type: a `UInt64` such as 18446744073709551615 does not survive a `Double`.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// How an error message names what it found.
    var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number(let text): text
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

struct JSONSyntaxError: Error, Equatable {
    /// Zero-based, like Go's `json.SyntaxError.Offset`.
    var offset: Int
    var line: Int
    var column: Int
    var message: String
}

struct JSONParser {
    private let bytes: [UInt8]
    private var position = 0
    private var depth = 0
    // A bound on recursion, so that "[[[[..." cannot overflow the stack: each level costs a few
    // frames here, and the tree is later walked (decoded, freed) recursively too. 512 is far
    // beyond any real config (the deepest runtime-spec path, linux.seccomp.syscalls[].args[],
    // is 5 levels) and far below what the main thread's 8 MiB stack, or a 512 KiB thread stack,
    // holds. Go's encoding/json allows 10000, serde_json 128.
    static let maximumDepth = 512

    static func parse(_ data: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: data)
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        if parser.position < parser.bytes.count {
            throw parser.error("\(parser.describeCurrent()) after the top-level value")
        }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
            position += 1
        }
    }

    private mutating func parseValue() throws(JSONSyntaxError) -> JSONValue {
        guard let byte = current else { throw error("unexpected end of data") }
        switch byte {
        case UInt8(ascii: "{"): return try nested { p throws(JSONSyntaxError) in try p.parseObject() }
        case UInt8(ascii: "["): return try nested { p throws(JSONSyntaxError) in try p.parseArray() }
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try parseLiteral("true", .bool(true))
        case UInt8(ascii: "f"): return try parseLiteral("false", .bool(false))
        case UInt8(ascii: "n"): return try parseLiteral("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw unexpected("expected a value")
        }
    }

    private mutating func nested(
        _ body: (inout JSONParser) throws(JSONSyntaxError) -> JSONValue
    ) throws(JSONSyntaxError) -> JSONValue {
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maximumDepth { throw error("nesting deeper than \(Self.maximumDepth) levels") }
        return try body(&self)
    }

    private mutating func parseObject() throws(JSONSyntaxError) -> JSONValue {
        position += 1  // {
        var fields: [String: JSONValue] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return .object(fields)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else {
                throw unexpected("expected a field name in double quotes")
            }
            let key = try parseString()
            skipWhitespace()
            try expect(":", "expected ':' after field name \"\(key)\"")
            skipWhitespace()
            // Last duplicate wins, as in Go's encoding/json which produced most configs.
            fields[key] = try parseValue()
            skipWhitespace()
            if current == UInt8(ascii: ",") {
                position += 1
                continue
            }
            try expect("}", "expected ',' or '}' after the value of \"\(key)\"")
            return .object(fields)
        }
    }

    private mutating func parseArray() throws(JSONSyntaxError) -> JSONValue {
        position += 1  // [
        var items: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            position += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue())
            skipWhitespace()
            if current == UInt8(ascii: ",") {
                position += 1
                continue
            }
            try expect("]", "expected ',' or ']' in an array")
            return .array(items)
        }
    }

    private mutating func expect(_ character: Character, _ hint: String) throws(JSONSyntaxError) {
        guard current == character.asciiValue else { throw unexpected(hint) }
        position += 1
    }

    private mutating func parseLiteral(_ word: String, _ value: JSONValue) throws(JSONSyntaxError) -> JSONValue {
        for expected in word.utf8 {
            guard current == expected else { throw unexpected("expected \(word)") }
            position += 1
        }
        return value
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = position
        if current == UInt8(ascii: "-") { position += 1 }
        if current == UInt8(ascii: "0") {
            position += 1
        } else {
            guard try digits() > 0 else { throw error("\(describeCurrent()) in a number") }
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard try digits() > 0 else { throw error("\(describeCurrent()) after the decimal point") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard try digits() > 0 else { throw error("\(describeCurrent()) in an exponent") }
        }
        return .number(String(decoding: bytes[start..<position], as: UTF8.self))
    }

    private mutating func digits() throws(JSONSyntaxError) -> Int {
        let start = position
        while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { position += 1 }
        if position == start && current == nil { throw error("unexpected end of data") }
        return position - start
    }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        position += 1  // opening quote
        var utf8: [UInt8] = []
        while true {
            guard let byte = current else { throw error("unexpected end of data in a string") }
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                // Invalid UTF-8 becomes U+FFFD, as Go's decoder does, rather than an error.
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                position += 1
                try parseEscape(into: &utf8)
            case 0..<0x20:
                throw error("control character 0x\(String(byte, radix: 16)) in a string (must be escaped)")
            default:
                utf8.append(byte)
                position += 1
            }
        }
    }

    private mutating func parseEscape(into utf8: inout [UInt8]) throws(JSONSyntaxError) {
        guard let byte = current else { throw error("unexpected end of data in a string") }
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(byte)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = UInt32(try hex4())
            if (0xD800..<0xDC00).contains(scalar), bytes[position...].starts(with: Array("\\u".utf8)) {
                let resume = position
                position += 2
                let low = UInt32(try hex4())
                if (0xDC00..<0xE000).contains(low) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    position = resume
                }
            }
            // A lone surrogate has no UTF-8 form; Go substitutes U+FFFD too.
            utf8.append(contentsOf: String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8)
        default:
            position -= 1
            throw error("invalid escape '\\\(Character(Unicode.Scalar(byte)))' in a string")
        }
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard let byte = current else { throw error("unexpected end of data in a \\u escape") }
            guard let digit = Self.hexValue(byte) else { throw error("\(describeCurrent()) in a \\u escape") }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private func describeCurrent() -> String {
        guard let byte = current else { return "unexpected end of data" }
        if byte >= 0x21 && byte < 0x7F { return "unexpected character '\(Character(Unicode.Scalar(byte)))'" }
        return "unexpected byte 0x\(String(byte, radix: 16))"
    }

    /// What is wrong at the current position. At the end of the data the hint is left out: the
    /// file was cut short, and what would have come next does not help to repair it.
    private func unexpected(_ hint: String) -> JSONSyntaxError {
        current == nil ? error("unexpected end of data") : error("\(describeCurrent()) (\(hint))")
    }

    private func error(_ message: String) -> JSONSyntaxError {
        var line = 1
        var lineStart = 0
        for index in 0..<min(position, bytes.count) where bytes[index] == 0x0A {
            line += 1
            lineStart = index + 1
        }
        return JSONSyntaxError(offset: position, line: line, column: position - lineStart + 1, message: message)
    }
}

/// A config.json as a tree that can be edited and written back (`voidoci compare` runs a bundle's
/// config with its process replaced). Object keys are written sorted; numbers keep their text.
public struct JSONDocument: Sendable {
    public indirect enum Value: Sendable {
        case null, bool(Bool), number(String), string(String), array([Value]), object([String: Value])
    }
    public var root: Value

    public init(value: Value) { root = value }

    public init(parsing bytes: [UInt8]) throws {
        do { root = Self.convert(try JSONParser.parse(bytes)) } catch { throw SpecError.syntax(error, file: "config.json") }
    }

    static func convert(_ v: JSONValue) -> Value {
        switch v {
        case .null: .null
        case .bool(let b): .bool(b)
        case .number(let t): .number(t)
        case .string(let s): .string(s)
        case .array(let a): .array(a.map(convert))
        case .object(let o): .object(o.mapValues(convert))
        }
    }

    public func render() -> String {
        var out = ""
        Self.render(root, into: &out)
        return out
    }

    static func render(_ v: Value, into out: inout String) {
        switch v {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let t): out += t
        case .string(let s): quote(s, into: &out)
        case .array(let a):
            out += "["
            for (i, e) in a.enumerated() { if i > 0 { out += "," }; render(e, into: &out) }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, k) in o.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                quote(k, into: &out)
                out += ":"
                render(o[k] ?? .null, into: &out)
            }
            out += "}"
        }
    }

    /// A JSON string literal: the one escaping of voidoci's writers (state.json and explain go
    /// through it too, StateJSON.quote).
    public static func quote(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16) }
                else { out.unicodeScalars.append(u) }
            }
        }
        out += "\""
    }
}
