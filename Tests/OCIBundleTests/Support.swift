#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
@testable import OCIBundle

/// Files copied from /work/shared/reference, read next to this source file rather than through
/// `Bundle.module`, so the test target needs no resources.
enum Fixture {
    static let directory: String = {
        let file = #filePath
        return String(file[..<file.lastIndex(of: "/")!]) + "/Fixtures"
    }()

    static func data(_ name: String) throws -> Data {
        Data(try SpecLoader.readFile(directory + "/" + name))
    }
}

let minimalConfig = #"""
{"ociVersion":"1.0.0","root":{"path":"rootfs"},"process":{"args":["/bin/true"],"cwd":"/","user":{"uid":0,"gid":0}}}
"""#

func decodeSpec(_ json: String) throws -> Spec {
    try SpecLoader.decode(Data(json.utf8))
}

/// The message of the `SpecError` that decoding `json` throws, or nil if it decodes.
func decodeError(_ json: String) -> String? {
    do {
        _ = try decodeSpec(json)
        return nil
    } catch {
        return "\(error)"
    }
}

/// The minimal config with `linux` (or other top-level members) merged in, as JSON text.
func minimalConfig(adding members: String) -> String {
    String(minimalConfig.dropLast()) + "," + members + "}"
}

/// `validate` of `json`, as "path: message" lines.
func problems(_ json: String) throws -> [String] {
    validate(try decodeSpec(json)).map(\.description)
}
