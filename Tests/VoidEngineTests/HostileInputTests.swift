#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import VoidEngine

/// Inputs voidoci does not control (config values, image files) that once trapped or hung it.
/// Each must now end in an error (or a documented fallback), never a signal or a wait forever.
@Suite(.timeLimit(.minutes(1)))
struct HostileInputTests {
    // MARK: mount options of a granted kernel filesystem

    @Test(arguments: ["", "=", "=size=1m"])
    func optionWithoutAName(_ option: String) {
        let f = PlannerFixture()
        defer { f.remove() }
        let rest = #", "mounts": [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "\#(option)"]}], "annotations": {"org.voidoci.mounts": "tmpfs"}"#
        expectThrows("mounts[0].options[1]", "no name") { _ = try f.plan(rest: rest) }
    }

    // MARK: tmpcopyup content from the image

    static func copyUpPlan(_ f: PlannerFixture, _ destination: String = "/tmp") throws -> VoidPlan {
        try f.plan(rest: #", "mounts": [{"destination": "\#(destination)", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}], "annotations": {"org.voidoci.mounts": "tmpfs"}"#)
    }

    /// A link to a directory (in or out of the image) is copied as its text, never walked.
    @Test func copyUpDoesNotWalkLinkedDirectories() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        f.tree.mkdir("/tmp")
        f.tree.symlink("/tmp/etc", to: "/etc")
        f.tree.symlink("/tmp/host", to: "../../../../../../../../tmp")
        let c = try #require(try Self.copyUpPlan(f).mounts.first { $0.destination == "/tmp" }?.copyUp)
        #expect(c.entries.map(\.path) == ["etc", "host"])
        #expect(c.entries.allSatisfy { $0.kind == .symlink })
    }

    /// A FIFO, a device and a socket are never opened (a FIFO would block the read).
    @Test func copyUpSkipsSpecialFiles() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        f.tree.mkdir("/tmp")
        #expect(mkfifo(f.tree.host("/tmp/fifo"), 0o644) == 0)
        if geteuid() == 0 { _ = mknod(f.tree.host("/tmp/null"), S_IFCHR | 0o666, (1 << 8) | 3) }
        let p = try Self.copyUpPlan(f)
        #expect(p.mounts.first { $0.destination == "/tmp" }?.copyUp?.entries.isEmpty == true)
        #expect(p.dropped.contains { $0.reason.contains("/tmp/fifo") && $0.reason.contains("FIFO") })
        if geteuid() == 0 { #expect(p.dropped.contains { $0.reason.contains("/tmp/null") && $0.reason.contains("device") }) }
    }

    /// Sparse files claim any size: the cap is on what they claim, before anything is read.
    @Test func copyUpCapsBytesAndDepth() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        f.tree.mkdir("/tmp")
        _ = shell("truncate -s 1T '\(f.tree.host("/tmp/sparse"))'")
        expectThrows("mounts[0]", "tmpcopyup", "64 MiB") { _ = try Self.copyUpPlan(f) }
        _ = shell("rm -f '\(f.tree.host("/tmp/sparse"))' && mkdir -p '\(f.tree.host("/tmp/" + Array(repeating: "d", count: 70).joined(separator: "/")))'")
        expectThrows("mounts[0]", "tmpcopyup", "deeper than 64") { _ = try Self.copyUpPlan(f) }
    }

    // MARK: ELF values that overflow

    /// A 64-bit ELF with one DT_NEEDED, and where its fields lie: PT_LOAD is program header 0,
    /// PT_DYNAMIC header 1 (ELFBuilder's layout without an interpreter).
    static func elf() -> (bytes: [UInt8], load: Int, strtabValue: Int, strszValue: Int) {
        let bytes = ELFBuilder(needed: ["libc.so.6"]).bytes()
        func u64(_ at: Int) -> Int { (0..<8).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
        let load = 64
        let dynamic = u64(64 + 56 + 8)
        var strtab = 0, strsz = 0
        for entry in stride(from: dynamic, to: bytes.count - 15, by: 16) {
            if u64(entry) == 5 { strtab = entry + 8 }
            if u64(entry) == 10 { strsz = entry + 8 }
        }
        precondition(strtab > 0 && strsz > 0)
        return (bytes, load, strtab, strsz)
    }

    static func put(_ bytes: inout [UInt8], _ at: Int, _ value: UInt64) {
        for i in 0..<8 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    /// (field, value): each leaves the string table at a file position or size no file has. (A
    /// huge p_filesz alone does not: it only widens the segment searched for DT_STRTAB.)
    static let hugeValues: [(String, UInt64)] = [
        ("p_offset", .max), ("p_offset", 1 << 63), ("p_offset", UInt64(Int.max)),
        ("p_vaddr", .max), ("DT_STRTAB", .max), ("DT_STRSZ", .max),
        ("DT_STRTAB+p_filesz", .max - 0x10),
    ]

    @Test(arguments: hugeValues.indices)
    func hugeELFValuesAreMalformed(_ index: Int) throws {
        let (field, value) = Self.hugeValues[index]
        var (bytes, load, strtab, strsz) = Self.elf()
        switch field {
        case "p_offset": Self.put(&bytes, load + 8, value)
        case "p_vaddr": Self.put(&bytes, load + 16, value)
        case "p_filesz": Self.put(&bytes, load + 32, value)
        case "DT_STRTAB": Self.put(&bytes, strtab, value)
        case "DT_STRSZ": Self.put(&bytes, strsz, value)
        default:
            // The string table inside a PT_LOAD that covers all addresses, at a file offset
            // that wraps around when added: the sum overflows, not either value alone.
            Self.put(&bytes, load + 8, 0x100)
            Self.put(&bytes, load + 16, 0)
            Self.put(&bytes, load + 32, .max)
            Self.put(&bytes, strtab, value)
        }
        do {
            let info = try ImageELFTests.info(bytes)
            Issue.record("\(field)=\(value): parsed as \(String(describing: info))")
        } catch let error as VoidError {
            #expect(error.description.contains("malformed ELF"), "\(field)=\(value): \(error)")
        }
    }

    // MARK: /etc/passwd of the image

    /// The HOME a plan gives a process without one.
    static func home(_ f: PlannerFixture) throws -> String? {
        let p = try f.plan()
        return p.process.env.first { $0.hasPrefix("HOME=") }.map { String($0.dropFirst(5)) }
    }

    @Test func passwdFIFOIsAbsent() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        unlink(f.tree.host("/etc/passwd"))
        #expect(mkfifo(f.tree.host("/etc/passwd"), 0o644) == 0)
        // Opened without O_NONBLOCK this waits for a writer forever.
        #expect(try Self.home(f) == "/")
    }

    @Test func passwdDeviceIsAbsent() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        unlink(f.tree.host("/etc/passwd"))
        // /dev/zero's numbers: read as root it never ends; the cap only hides that.
        #expect(mknod(f.tree.host("/etc/passwd"), S_IFCHR | 0o644, dev_t(1 << 8 | 5)) == 0 || geteuid() != 0)
        #expect(try Self.home(f) == "/")
    }

    @Test func passwdDirectoryOrDanglingLinkIsAbsent() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        unlink(f.tree.host("/etc/passwd"))
        f.tree.mkdir("/etc/passwd")
        #expect(try Self.home(f) == "/")
        rmdir(f.tree.host("/etc/passwd"))
        // Resolved inside the image: the host's /etc/shadow is never what is read.
        f.tree.symlink("/etc/passwd", to: "/etc/shadow")
        #expect(try Self.home(f) == "/")
    }

    @Test func passwdThroughALinkInsideTheImageIsRead() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        unlink(f.tree.host("/etc/passwd"))
        f.tree.write("/usr/share/base-passwd", "root:x:0:0:root:/home/root:/bin/sh\n")
        f.tree.symlink("/etc/passwd", to: "../usr/share/base-passwd")
        #expect(try Self.home(f) == "/home/root")
    }

    // MARK: signal names

    @Test(arguments: ["RTMIN+2147483647", "RTMAX--2147483648", "RTMAX-2147483647", "RTMIN+-2147483648",
                      "RTMIN+9223372036854775807", "-2147483648", "4294967296"])
    func signalOffsetsThatOverflow(_ text: String) {
        expectThrows("signal \(text)") { _ = try Signals.parse(text) }
    }
}

/// Found by FuzzTests (seed 12345, case 2309): an annotation value holding a newline made a
/// two-line error.
@Suite struct OneLineErrorTests {
    @Test(arguments: [("org.voidoci.mounts", "x\nE"), ("org.voidoci.rootfs", "a\nb"), ("org.voidoci.x\ny", "1"),
                      ("org.voidoci.expose", "rel\native"), ("org.voidoci.expose", "/a/\r/../b"), ("org.voidoci.root-id", "1\n2")])
    func annotationErrors(_ key: String, _ value: String) {
        do {
            _ = try VoidGrants(annotations: [key: value])
            Issue.record("\(key)=\(value.debugDescription) accepted")
        } catch {
            let text = "\(error)"
            #expect(!text.contains("\n") && !text.contains("\r"), "\(text.debugDescription)")
        }
    }

    @Test func printableEscapesOnlyWhatBreaksALine() {
        #expect(printable("plain \"quoted\" é 🙂") == "plain \"quoted\" é 🙂")
        #expect(printable("a\nb\u{1B}c\td") == "a\\nb\\u{1B}c\\td")
        #expect(!printable("x\u{2028}y\u{85}z").unicodeScalars.contains { $0 == "\u{2028}" || $0 == "\u{85}" })
    }
}

/// A library search whose cost an image sets: every DT_NEEDED is looked up in every DT_RPATH
/// directory, so 200 names × 200,000 RPATH entries would keep create busy for minutes.
@Suite(.timeLimit(.minutes(1)))
struct LookupBudgetTests {
    @Test func rpathTimesNeededIsBounded() throws {
        let tree = ImageTree()
        defer { tree.remove() }
        let names = (0..<200).map { "lib\($0).so" }
        tree.write("/lib/ld.so", ELFBuilder().bytes())
        tree.write("/lib/real.so", ELFBuilder().bytes())
        for name in names { tree.symlink("/lib/\(name)", to: "real.so") }
        var program = ELFBuilder()
        program.interpreter = "/lib/ld.so"
        program.needed = names
        program.rpath = String(repeating: "/nowhere:", count: 200_000) + "/lib"
        tree.write("/bin/prog", program.bytes())
        let root = try ImageRoot(path: tree.path)
        let resolver = ImageResolver(root: root, env: [])
        let exe = try resolver.findExecutable("/bin/prog", cwd: "/")
        do {
            _ = try resolver.closure(for: exe)
            Issue.record("a closure of \(names.count) × 200001 lookups was computed")
        } catch let error as VoidError {
            #expect(error.description.contains("library search"), "\(error)")
        }
    }
}
