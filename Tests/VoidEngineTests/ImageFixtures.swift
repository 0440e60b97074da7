#if canImport(Glibc)
import Glibc
#endif
@testable import VoidEngine

/// A scratch directory tree standing in for an image rootfs; removed by `remove()`, and in any
/// case when the last reference goes (a test that forgets `remove()` leaves nothing in /tmp).
final class ImageTree {
    let path: String
    /// Other scratch paths that live and go with this tree (a fixture's host directory).
    var alsoRemove: [String] = []

    init() {
        var template = Array("/tmp/voidoci-image-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { fatalError("mkdtemp: \(errno)") }
        path = String(cString: made)
    }

    func remove() {
        _ = shell("rm -rf '\(path)'")
        for p in alsoRemove { _ = shell("rm -rf '\(p)'") }
    }

    deinit { remove() }

    func host(_ inside: String) -> String { path + (inside.hasPrefix("/") ? inside : "/" + inside) }

    func mkdir(_ inside: String) { _ = shell("mkdir -p '\(host(inside))'") }

    func symlink(_ inside: String, to target: String) {
        mkdir(ImagePath.dirname(inside))
        _ = Glibc.symlink(target, host(inside))
    }

    func write(_ inside: String, _ bytes: [UInt8], mode: mode_t = 0o755) {
        mkdir(ImagePath.dirname(inside))
        let fd = open(host(inside), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        precondition(fd >= 0, "create \(inside): \(errno)")
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        fchmod(fd, mode)
        close(fd)
    }

    func write(_ inside: String, _ text: String, mode: mode_t = 0o644) { write(inside, Array(text.utf8), mode: mode) }

    /// Debian's merged-/usr top level.
    func mergedUsr() {
        for dir in ["usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc"] { mkdir(dir) }
        for link in ["bin", "sbin", "lib", "lib64"] { symlink("/" + link, to: "usr/" + link) }
    }

    /// Copies a host path into the tree at the same path, recreating every symlink met on the way
    /// (as the host has them), so the tree resolves the path exactly as the host does.
    func copyFromHost(_ hostPath: String) {
        var pending = hostPath.split(separator: "/").map(String.init).reversed() as [String]
        var dir = ""
        var hops = 0
        while let name = pending.popLast() {
            if name == "." { continue }
            if name == ".." { dir = ImagePath.dirname(dir == "" ? "/" : dir); if dir == "/" { dir = "" }; continue }
            let current = dir + "/" + name
            var st = stat()
            precondition(lstat(current, &st) == 0, "host path \(current) missing")
            if st.st_mode & S_IFMT == S_IFLNK {
                hops += 1
                precondition(hops < 40)
                var buf = [CChar](repeating: 0, count: 4097)
                let n = readlink(current, &buf, 4096)
                let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !isLink(current) { symlink(current, to: target) }
                if target.hasPrefix("/") { dir = "" }
                pending.append(contentsOf: target.split(separator: "/").map(String.init).reversed())
            } else if pending.isEmpty {
                mkdir(ImagePath.dirname(current))
                _ = shell("cp -p '\(current)' '\(host(current))'")
            } else {
                mkdir(current)
                dir = current
            }
        }
    }

    private func isLink(_ inside: String) -> Bool {
        var st = stat()
        return lstat(host(inside), &st) == 0
    }
}

/// Runs a shell command; returns its exit status and standard output.
@discardableResult
func shell(_ command: String) -> (status: Int32, output: String) {
    guard let pipe = popen(command, "r") else { return (-1, "") }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, pipe)
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    let status = pclose(pipe)
    return (status, String(decoding: bytes, as: UTF8.self))
}

func hostRealpath(_ path: String) -> String {
    guard let resolved = realpath(path, nil) else { return path }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// The host's `ldd` answer for a program: the paths of its interpreter and libraries as ldd names
/// them (vDSO left out).
func lddPaths(_ program: String) -> [String] {
    shell("ldd '\(program)'").output.split(separator: "\n").compactMap { line in
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if let arrow = words.firstIndex(of: "=>"), arrow + 1 < words.count, words[arrow + 1].hasPrefix("/") {
            return String(words[arrow + 1])
        }
        if let first = words.first, first.hasPrefix("/") { return String(first) }
        return nil
    }
}

func hasTool(_ name: String) -> Bool { shell("command -v \(name) >/dev/null 2>&1").status == 0 }

/// Writes minimal ELF files: just the headers the loader reads (program headers, a dynamic
/// segment and its string table), so tests control every DT_NEEDED, RPATH and RUNPATH.
struct ELFBuilder {
    var is64 = true
    var machine: UInt16 = 62
    var interpreter: String?
    var needed: [String] = []
    var soname: String?
    var rpath: String?
    var runpath: String?
    var flags1: UInt64?
    /// Bytes of padding before the dynamic segment, to push it past the first page.
    var padding = 0
    var noDynamic = false

    func bytes() -> [UInt8] {
        let w = is64 ? 8 : 4
        let ehsize = is64 ? 64 : 52, phentsize = is64 ? 56 : 32
        let base: UInt64 = 0x10000
        var strtab: [UInt8] = [0]
        func str(_ s: String) -> UInt64 {
            let at = UInt64(strtab.count)
            strtab += Array(s.utf8) + [0]
            return at
        }
        var dyn: [(UInt64, UInt64)] = needed.map { (1, str($0)) }
        if let soname { dyn.append((14, str(soname))) }
        if let rpath { dyn.append((15, str(rpath))) }
        if let runpath { dyn.append((29, str(runpath))) }
        if let flags1 { dyn.append((0x6fff_fffb, flags1)) }
        let phnum = 1 + (interpreter == nil ? 0 : 1) + (noDynamic ? 0 : 1)
        let interpAt = ehsize + phnum * phentsize
        let interpBytes: [UInt8] = interpreter.map { Array($0.utf8) + [0] } ?? []
        let strAt = interpAt + interpBytes.count
        let dynAt = strAt + strtab.count + padding
        dyn += [(5, base + UInt64(strAt)), (10, UInt64(strtab.count)), (0, 0)]
        let dynSize = dyn.count * 2 * w
        let total = dynAt + (noDynamic ? 0 : dynSize)

        var out = [UInt8](repeating: 0, count: total)
        func put(_ value: UInt64, _ at: Int, _ size: Int) {
            for i in 0..<size { out[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        out[0...3] = [0x7f, 0x45, 0x4c, 0x46]
        out[4] = is64 ? 2 : 1; out[5] = 1; out[6] = 1
        put(3, 16, 2)  // ET_DYN
        put(UInt64(machine), 18, 2)
        put(1, 20, 4)
        put(UInt64(ehsize), is64 ? 32 : 28, w)  // e_phoff
        put(UInt64(ehsize), is64 ? 52 : 40, 2)
        put(UInt64(phentsize), is64 ? 54 : 42, 2)
        put(UInt64(phnum), is64 ? 56 : 44, 2)
        var ph = ehsize
        func segment(_ type: UInt32, _ offset: Int, _ size: Int) {
            put(UInt64(type), ph, 4)
            if is64 {
                put(4, ph + 4, 4)
                put(UInt64(offset), ph + 8, 8); put(base + UInt64(offset), ph + 16, 8); put(base + UInt64(offset), ph + 24, 8)
                put(UInt64(size), ph + 32, 8); put(UInt64(size), ph + 40, 8); put(type == 1 ? 0x1000 : 8, ph + 48, 8)
            } else {
                put(UInt64(offset), ph + 4, 4); put(base + UInt64(offset), ph + 8, 4); put(base + UInt64(offset), ph + 12, 4)
                put(UInt64(size), ph + 16, 4); put(UInt64(size), ph + 20, 4); put(4, ph + 24, 4); put(type == 1 ? 0x1000 : 4, ph + 28, 4)
            }
            ph += phentsize
        }
        if interpreter != nil { segment(3, interpAt, interpBytes.count) }
        segment(1, 0, total)
        if !noDynamic { segment(2, dynAt, dynSize) }
        out[interpAt..<(interpAt + interpBytes.count)] = interpBytes[...]
        out[strAt..<(strAt + strtab.count)] = strtab[...]
        if !noDynamic {
            for (i, (tag, value)) in dyn.enumerated() {
                put(tag, dynAt + i * 2 * w, w)
                put(value, dynAt + i * 2 * w + w, w)
            }
        }
        return out
    }
}

/// Writes ld.so.cache files in both of glibc's formats (sysdeps/generic/dl-cache.h).
enum LdCacheBuilder {
    struct Entry { var soname: String; var path: String; var flags: Int32 = 0x0303; var hwcap: UInt64 = 0 }

    static func new(_ entries: [Entry]) -> [UInt8] {
        let header = 48, size = 24
        var strings: [UInt8] = []
        var offsets: [(UInt32, UInt32)] = []
        let stringsAt = header + entries.count * size
        for entry in entries {
            let key = UInt32(stringsAt + strings.count); strings += Array(entry.soname.utf8) + [0]
            let value = UInt32(stringsAt + strings.count); strings += Array(entry.path.utf8) + [0]
            offsets.append((key, value))
        }
        var out = Array("glibc-ld.so.cache1.1".utf8) + [UInt8](repeating: 0, count: header - 20)
        put32(&out, 20, UInt32(entries.count))
        put32(&out, 24, UInt32(strings.count))
        out[28] = 2  // little-endian
        for (entry, (key, value)) in zip(entries, offsets) {
            var e = [UInt8](repeating: 0, count: size)
            put32(&e, 0, UInt32(bitPattern: entry.flags)); put32(&e, 4, key); put32(&e, 8, value)
            put32(&e, 16, UInt32(truncatingIfNeeded: entry.hwcap)); put32(&e, 20, UInt32(truncatingIfNeeded: entry.hwcap >> 32))
            out += e
        }
        return out + strings
    }

    /// The old format; with `embedNew`, followed by the new one as glibc 2.2 to 2.31 wrote it.
    static func old(_ entries: [Entry], embedNew: Bool) -> [UInt8] {
        var strings: [UInt8] = []
        var out = Array("ld.so-1.7.0".utf8) + [0, 0, 0, 0, 0]
        put32(&out, 12, UInt32(entries.count))
        for entry in entries {
            var e = [UInt8](repeating: 0, count: 12)
            put32(&e, 0, UInt32(bitPattern: entry.flags))
            put32(&e, 4, UInt32(strings.count)); strings += Array(entry.soname.utf8) + [0]
            put32(&e, 8, UInt32(strings.count)); strings += Array(entry.path.utf8) + [0]
            out += e
        }
        guard embedNew else { return out + strings }
        // The new section follows the old entries, aligned to 8; the old strings then live in
        // the new section's string table, which is what ldconfig did. We keep ours separate.
        while out.count % 8 != 0 { out.append(0) }
        return out + new(entries) + strings
    }

    private static func put32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
        for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
    }
}
