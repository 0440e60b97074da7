#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import VoidEngine

@Suite struct ImageELFTests {
    static func info(_ path: String) throws -> ELFInfo? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        precondition(fd >= 0, "open \(path)")
        defer { close(fd) }
        return try ELFInfo.read(fd: fd)
    }

    static func info(_ bytes: [UInt8]) throws -> ELFInfo? {
        let tree = ImageTree()
        defer { tree.remove() }
        tree.write("/f", bytes)
        return try info(tree.host("/f"))
    }

    /// What `readelf -lWd` says about a file, in ELFInfo's terms.
    static func readelf(_ path: String) -> (interp: String?, needed: [String], soname: String?, rpath: [String], runpath: [String]) {
        var result: (interp: String?, needed: [String], soname: String?, rpath: [String], runpath: [String]) = (nil, [], nil, [], [])
        for line in shell("LC_ALL=C readelf -lWd '\(path)'").output.split(separator: "\n") {
            func bracketed(_ marker: String) -> String? {
                guard let start = line.firstIndex(of: "["), line.contains(marker), let end = line.lastIndex(of: "]") else { return nil }
                return String(line[line.index(after: start)..<end])
            }
            if let v = bracketed("Requesting program interpreter: ") {
                result.interp = String(v.dropFirst("Requesting program interpreter: ".count))
            } else if let v = bracketed("(NEEDED)") { result.needed.append(v) }
            else if let v = bracketed("(SONAME)") { result.soname = v }
            else if let v = bracketed("(RPATH)") { result.rpath += v.split(separator: ":").map(String.init) }
            else if let v = bracketed("(RUNPATH)") { result.runpath += v.split(separator: ":").map(String.init) }
        }
        return result
    }

    static let hostFiles: [String] = {
        var files = ["/bin/ls", "/usr/bin/dash", "/usr/bin/env", "/bin/busybox",
                     "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2",
                     "/lib/x86_64-linux-gnu/libselinux.so.1"]
        // The Swift toolchain carries RUNPATH $ORIGIN entries.
        files += ["/opt/swift/usr/bin/swift-frontend", "/opt/swift/usr/lib/swift/linux/libswiftCore.so"]
        return files.filter { access($0, R_OK) == 0 }
    }()

    @Test(.enabled(if: hasTool("readelf")), arguments: hostFiles)
    func matchesReadelf(_ path: String) throws {
        let parsed = try #require(try Self.info(path))
        let expected = Self.readelf(path)
        #expect(parsed.is64)
        #expect(parsed.machine == ELFInfo.machineX86_64)
        #expect(parsed.interpreter == expected.interp)
        #expect(parsed.needed == expected.needed)
        #expect(parsed.soname == expected.soname)
        #expect(parsed.rpath == expected.rpath)
        #expect(parsed.runpath == expected.runpath)
        #expect(parsed.hasRunpath == !expected.runpath.isEmpty)
    }

    @Test func staticBusyboxHasNoInterpreterNorNeeded() throws {
        let info = try #require(try Self.info("/bin/busybox"))
        #expect(info.interpreter == nil)
        #expect(info.needed.isEmpty)
    }

    @Test func notELFIsNil() throws {
        #expect(try Self.info(Array("#!/bin/sh\necho hi\n".utf8)) == nil)
        #expect(try Self.info([]) == nil)
        #expect(try Self.info([0x7f, 0x45]) == nil)
    }

    @Test func synthetic64And32BitMatchWhatWasWritten() throws {
        for is64 in [true, false] {
            var builder = ELFBuilder(is64: is64, machine: is64 ? 62 : 3)
            builder.interpreter = is64 ? "/lib64/ld-linux-x86-64.so.2" : "/lib/ld-linux.so.2"
            builder.needed = ["libfoo.so.1", "libbar.so.2"]
            builder.soname = "libsynthetic.so.0"
            builder.rpath = "/opt/a:$ORIGIN/../lib"
            builder.runpath = "${ORIGIN}/x"
            builder.flags1 = 0x800
            builder.padding = 9000  // the dynamic segment lies beyond the first page
            let info = try #require(try Self.info(builder.bytes()))
            #expect(info.is64 == is64)
            #expect(info.machine == (is64 ? 62 : 3))
            #expect(info.interpreter == builder.interpreter)
            #expect(info.needed == ["libfoo.so.1", "libbar.so.2"])
            #expect(info.soname == "libsynthetic.so.0")
            #expect(info.rpath == ["/opt/a", "$ORIGIN/../lib"])
            #expect(info.runpath == ["${ORIGIN}/x"])
            #expect(info.noDefaultLib)
        }
    }

    @Test(.enabled(if: hasTool("readelf")))
    func syntheticFilesAreWhatReadelfSees() throws {
        let tree = ImageTree()
        defer { tree.remove() }
        for is64 in [true, false] {
            var builder = ELFBuilder(is64: is64, machine: is64 ? 62 : 3)
            builder.interpreter = "/lib/ld.so"
            builder.needed = ["liba.so", "libb.so"]
            builder.runpath = "$ORIGIN"
            tree.write("/f\(is64)", builder.bytes())
            let expected = Self.readelf(tree.host("/f\(is64)"))
            #expect(expected.needed == ["liba.so", "libb.so"])
            #expect(expected.interp == "/lib/ld.so")
            #expect(expected.runpath == ["$ORIGIN"])
        }
    }

    @Test func bigEndianAndGarbageThrow() throws {
        var big = ELFBuilder().bytes()
        big[5] = 2
        #expect(throws: VoidError.self) { try Self.info(big) }
        var badClass = ELFBuilder().bytes()
        badClass[4] = 9
        #expect(throws: VoidError.self) { try Self.info(badClass) }
        // Program headers claimed far beyond the end of the file.
        var truncated = ELFBuilder(needed: ["x"]).bytes()
        truncated[32] = 0xff; truncated[33] = 0xff; truncated[34] = 0x0f
        #expect(throws: VoidError.self) { try Self.info(truncated) }
        // DT_NEEDED pointing past the string table.
        let builder = ELFBuilder(needed: ["libx.so"])
        var bad = builder.bytes()
        let dynAt = bad.count - 4 * 16  // DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_NULL
        bad[dynAt + 8] = 0xff
        #expect(throws: VoidError.self) { try Self.info(bad) }
    }
}
