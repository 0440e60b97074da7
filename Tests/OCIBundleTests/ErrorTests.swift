#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import OCIBundle

/// Decoding errors are one line naming the file and the JSON path.
@Suite struct ErrorTests {
    @Test func typeMismatchNamesThePath() {
        let json = minimalConfig.replacingOccurrences(of: #""uid":0"#, with: #""uid":"0""#)
        #expect(decodeError(json) == "config.json: process.user.uid: expected an unsigned integer, found a string")
    }

    @Test func arrayElementsAppearAsIndices() {
        let json = minimalConfig(adding: #""mounts":[{"destination":"/a"},{"destination":"/b"},{"destination":5}]"#)
        #expect(decodeError(json) == "config.json: mounts[2].destination: expected a string, found 5")
    }

    @Test func mapKeysWithDotsAreQuoted() {
        let json = minimalConfig(adding: #""annotations":{"io.podman.x":true}"#)
        #expect(decodeError(json) == #"config.json: annotations["io.podman.x"]: expected a string, found a boolean"#)
    }

    @Test func numbersThatDoNotFitNameThePath() {
        let negative = minimalConfig.replacingOccurrences(of: #""gid":0"#, with: #""gid":-1"#)
        #expect(decodeError(negative) == "config.json: process.user.gid: expected an unsigned integer, found -1")
        let large = minimalConfig.replacingOccurrences(of: #""gid":0"#, with: #""gid":4294967296"#)
        #expect(decodeError(large) == "config.json: process.user.gid: 4294967296 is out of range for an unsigned 32-bit integer (0...4294967295)")
        let fraction = minimalConfig(adding: #""process":{"args":["x"],"cwd":"/","user":{"uid":0,"gid":0},"oomScoreAdj":1.5}"#)
        #expect(decodeError(fraction) == "config.json: process.oomScoreAdj: expected an integer, found 1.5")
    }

    @Test func missingRequiredFieldIsNamed() {
        let json = minimalConfig.replacingOccurrences(of: #""root":{"path":"rootfs"}"#, with: #""root":{}"#)
        #expect(decodeError(json) == "config.json: missing required field root.path")
        #expect(decodeError(#"{"root":{"path":"r"}}"#) == "config.json: missing required field ociVersion")
        let noNames = minimalConfig(adding: #""linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}}"#)
        #expect(decodeError(noNames) == "config.json: missing required field linux.seccomp.syscalls[0].names")
    }

    @Test func nullForARequiredFieldIsNamed() {
        let json = minimalConfig.replacingOccurrences(of: #""cwd":"/""#, with: #""cwd":null"#)
        #expect(decodeError(json) == "config.json: process.cwd: expected a string, found null")
    }

    @Test func truncatedJSONGivesTheOffset() {
        let truncated = String(minimalConfig.dropLast(20))
        #expect(decodeError(truncated) == "config.json: not valid JSON: unexpected end of data at byte \(truncated.utf8.count) (line 1, column \(truncated.utf8.count + 1))")
    }

    @Test func syntaxErrorsSayWhatWasExpected() {
        #expect(decodeError("{\n  \"ociVersion\" \"1.0.0\"}") == #"config.json: not valid JSON: unexpected character '"' (expected ':' after field name "ociVersion") at byte 17 (line 2, column 16)"#)
        #expect(decodeError(#"{"ociVersion":"1.0.0",}"#) == #"config.json: not valid JSON: unexpected character '}' (expected a field name in double quotes) at byte 22 (line 1, column 23)"#)
        #expect(decodeError(#"{"ociVersion":"1.0.0"} x"#) == "config.json: not valid JSON: unexpected character 'x' after the top-level value at byte 23 (line 1, column 24)")
        #expect(decodeError(#"{"ociVersion":01}"#)?.hasPrefix("config.json: not valid JSON: unexpected character '1'") == true)
    }

    @Test func emptyFileIsReportedAsEmpty() {
        #expect(decodeError("") == "config.json: file is empty (expected a JSON object)")
        #expect(decodeError(" \n\t") == "config.json: file is empty (expected a JSON object)")
    }

    @Test func wrongTopLevelType() {
        #expect(decodeError("[]") == "config.json: expected an object, found an array")
    }

    @Test func missingBundleUsesTheErrnoPhrase() {
        #expect {
            _ = try SpecLoader.load(bundle: "/nonexistent-voidoci-bundle")
        } throws: { error in
            let specError = error as? SpecError
            return specError?.description == "open /nonexistent-voidoci-bundle/config.json: no such file or directory"
                && specError?.errno == ENOENT
        }
    }

    @Test(.enabled(if: geteuid() != 0, "root reads any file"))
    func unreadableFileSaysPermissionDenied() throws {
        let path = "/tmp/voidoci-unreadable-\(getpid()).json"
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o000)
        try #require(fd >= 0)
        close(fd)
        defer { unlink(path) }
        #expect { _ = try SpecLoader.loadProcess(path: path) } throws: { "\($0)" == "open \(path): permission denied" }
    }

    @Test func errnoPhrasesAreLowerCase() {
        #expect(errnoText(ENOENT) == "no such file or directory")
        #expect(errnoText(EACCES) == "permission denied")
    }

    @Test func directoryInsteadOfConfigFile() throws {
        let bundle = "/tmp/voidoci-dir-bundle-\(getpid())"
        try #require(mkdir(bundle, 0o755) == 0 && mkdir(bundle + "/config.json", 0o755) == 0)
        defer {
            rmdir(bundle + "/config.json")
            rmdir(bundle)
        }
        #expect { _ = try SpecLoader.load(bundle: bundle + "/") } throws: { "\($0)" == "read \(bundle)/config.json: is a directory" }
    }

    @Test func processFileErrorsUseTheGivenName() {
        #expect {
            _ = try SpecLoader.decodeProcess(Data(#"{"cwd":"/","user":{"uid":"x","gid":0}}"#.utf8), file: "/tmp/p.json")
        } throws: { error in
            "\(error)" == "/tmp/p.json: user.uid: expected an unsigned integer, found a string"
        }
    }

    @Test func errorCarriesThePath() {
        do {
            _ = try decodeSpec(minimalConfig(adding: #""mounts":[{"destination":[]}]"#))
            Issue.record("decoded")
        } catch let error as SpecError {
            #expect(error.jsonPath == "mounts[0].destination")
            #expect(error.file == "config.json")
        } catch {
            Issue.record("not a SpecError: \(error)")
        }
    }

    @Test func deepNestingIsRefused() {
        let json = String(repeating: "[", count: 10_000)
        #expect(decodeError(json)?.contains("nesting deeper than 512 levels") == true)
    }
}

/// `load(bundle:parsed:)` hands `linux.cgroupsPath` over as soon as the document parses (voidoci
/// makes the cgroup meanwhile), and decodes exactly as `load(bundle:)` does.
@Suite struct EarlyCgroupsPathTests {
    func load(_ json: String) -> (calls: [String?], result: String) {
        let dir = "/tmp/voidoci-ocib-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(dir, 0o755)
        defer { unlink(dir + "/config.json"); rmdir(dir) }
        let fd = open(dir + "/config.json", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = Array(json.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        var calls: [String?] = []
        do {
            let spec = try SpecLoader.load(bundle: dir, parsed: { calls.append($0) })
            return (calls, "cgroupsPath=\(spec.linux?.cgroupsPath ?? "-")")
        } catch {
            return (calls, "\(error)")
        }
    }

    @Test func thePathComesBeforeTheDecode() {
        let ok = load(minimalConfig(adding: #""linux":{"cgroupsPath":"/pod/c1"}"#))
        #expect(ok.calls == ["/pod/c1"] && ok.result == "cgroupsPath=/pod/c1")
        let none = load(minimalConfig)
        #expect(none.calls == [nil] && none.result == "cgroupsPath=-")
        // Parsed but not decodable: the (absent) path is handed over, then the decode error.
        let bad = load(minimalConfig(adding: #""linux":{"cgroupsPath":7}"#))
        #expect(bad.calls == [nil] && bad.result == "config.json: linux.cgroupsPath: expected a string, found 7", "\(bad)")
        // Not JSON: no hand-over at all.
        let broken = load("{\"ociVersion\":")
        #expect(broken.calls.isEmpty && broken.result.hasPrefix("config.json:"), "\(broken)")
    }
}
