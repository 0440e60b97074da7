#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Testing
@testable import OCIBundle

/// nst/JSONTestSuite (Fixtures/JSONTestSuite/SOURCE.md) through the parser `SpecLoader` uses:
/// config.json comes from whoever wrote the bundle, so the parser must accept what RFC 8259
/// accepts, reject what it rejects, and never trap or hang on anything (`i_` files included).
@Suite(.timeLimit(.minutes(2)))
struct JSONTestSuiteTests {
    static let directory = Fixture.directory + "/JSONTestSuite/test_parsing"

    /// File names in the suite starting with `prefix`, sorted so failures read in a stable order.
    static func files(_ prefix: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name.hasPrefix(prefix), name.hasSuffix(".json") { names.append(name) }
        }
        return names.sorted()
    }

    /// nil when the document parses, else the one-line error `SpecLoader` would report.
    static func parseError(_ name: String) throws -> String? {
        let bytes = try SpecLoader.readFile(directory + "/" + name)
        do {
            _ = try SpecLoader.parseDocument(bytes, file: name)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func theSuiteIsThere() {
        // A missing copy would make every other test here pass on nothing.
        #expect(Self.files("y_").count == 95)
        #expect(Self.files("n_").count == 188)
        #expect(Self.files("i_").count == 35)
    }

    @Test(arguments: files("y_"))
    func accepted(_ name: String) throws {
        let error = try Self.parseError(name)
        #expect(error == nil, "\(name) must parse: \(error ?? "")")
    }

    @Test(arguments: files("n_"))
    func rejected(_ name: String) throws {
        let error = try Self.parseError(name)
        #expect(error != nil, "\(name) must be rejected")
        if let error {
            #expect(!error.contains("\n"), "\(name): the error is not one line: \(error)")
        }
    }

    /// Implementation-defined: either answer is fine, reaching it is the test.
    @Test(arguments: files("i_"))
    func implementationDefined(_ name: String) throws {
        if let error = try Self.parseError(name) {
            #expect(!error.contains("\n"), "\(name): the error is not one line: \(error)")
        }
    }

    /// The depth limit: 100000 `[` must be an error naming the limit, not a stack overflow; the
    /// deepest nesting allowed still parses.
    @Test func nestingDepth() throws {
        let error = try Self.parseError("n_structure_100000_opening_arrays.json")
        #expect(error?.contains("nesting deeper than \(JSONParser.maximumDepth) levels") == true, "\(error ?? "parsed")")
        let deepest = String(repeating: "[", count: JSONParser.maximumDepth) + String(repeating: "]", count: JSONParser.maximumDepth)
        #expect(throws: Never.self) { try JSONParser.parse(Array(deepest.utf8)) }
        let tooDeep = "[" + deepest + "]"
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(tooDeep.utf8)) }
        // Objects count too.
        let objects = String(repeating: "{\"a\":", count: JSONParser.maximumDepth + 1) + "1" + String(repeating: "}", count: JSONParser.maximumDepth + 1)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(objects.utf8)) }
    }
}
