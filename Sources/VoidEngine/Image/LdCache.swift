/// glibc's `/etc/ld.so.cache`, as written by ldconfig: the new "glibc-ld.so.cache1.1" format, or
/// the old "ld.so-1.7.0" format, which since glibc 2.2 carries the new one right after its entries.
/// Layouts from glibc's sysdeps/generic/dl-cache.h.
public struct LdCache: Sendable {
    public struct Entry: Sendable, Equatable {
        public var soname: String
        public var path: String
        /// `FLAG_ELF_LIBC6 | FLAG_X8664_LIB64` and so on: which ABI the library is for.
        public var flags: Int32
        /// Non-zero for libraries that the loader picks only on some CPUs (glibc-hwcaps
        /// subdirectories, or legacy hwcap directories before glibc 2.37).
        public var hwcap: UInt64
    }

    /// The entry table, read where it lies: a lookup compares sonames in place, so a cache of a
    /// thousand libraries costs no strings or dictionary for the two or three a program needs.
    private struct Table: Sendable {
        var bytes: [UInt8]
        var count: Int
        var at: Int          // first entry
        var size: Int        // 24 (new format) or 12 (old)
        var strings: Int     // string offsets count from here
        var isNew: Bool

        func entry(_ i: Int) -> Entry {
            let e = at + i * size
            let u = { (o: Int) in LdCache.u32(bytes, e + o)! }
            return Entry(soname: LdCache.string(bytes, strings + Int(u(4)))!, path: LdCache.string(bytes, strings + Int(u(8)))!,
                         flags: Int32(bitPattern: u(0)), hwcap: isNew ? UInt64(u(20)) << 32 | UInt64(u(16)) : 0)
        }

        /// Whether entry i's soname is `name` (UTF-8, without its NUL).
        func named(_ i: Int, _ name: [UInt8]) -> Bool {
            let o = strings + Int(LdCache.u32(bytes, at + i * size + 4)!)
            guard o + name.count < bytes.count, bytes[o + name.count] == 0 else { return false }
            for k in 0..<name.count where bytes[o + k] != name[k] { return false }
            return true
        }
    }

    private enum Storage: Sendable {
        case table(Table)
        case list([Entry])
    }

    private let storage: Storage

    /// In file order: ldconfig sorts entries of one soname by preference.
    public var entries: [Entry] {
        switch storage {
        case .list(let l): return l
        case .table(let t): return (0..<t.count).map { t.entry($0) }
        }
    }

    public init(entries: [Entry]) {
        storage = .list(entries)
    }

    private init(_ table: Table) {
        storage = .table(table)
    }

    public func lookup(_ soname: String) -> [String] {
        matches(soname).map(\.path)
    }

    func matches(_ soname: String) -> [Entry] {
        switch storage {
        case .list(let l):
            return l.filter { $0.soname == soname }
        case .table(let t):
            let name = Array(soname.utf8)
            var out: [Entry] = []
            for i in 0..<t.count where t.named(i, name) { out.append(t.entry(i)) }
            return out
        }
    }

    static let magicOld = Array("ld.so-1.7.0".utf8)
    static let magicNew = Array("glibc-ld.so.cache1.1".utf8)

    /// nil when the bytes are neither format, or are truncated, or big-endian.
    public static func parse(_ bytes: [UInt8]) -> LdCache? {
        if bytes.starts(with: magicNew) { return parseNew(bytes, at: 0) }
        guard bytes.starts(with: magicOld), let count = u32(bytes, 12) else { return nil }
        // struct cache_file { char magic[11]; uint32 nlibs; struct file_entry libs[]; }, then the
        // string table; the new format, if present, follows aligned to 8 (ALIGN_CACHE).
        let entriesEnd = 16 + Int(count) * 12
        let newAt = (entriesEnd + 7) & ~7
        if bytes.count > newAt, bytes[newAt...].starts(with: magicNew) { return parseNew(bytes, at: newAt) }
        // Old format only: string offsets count from the end of the entries.
        return checked(Table(bytes: bytes, count: Int(count), at: 16, size: 12, strings: entriesEnd, isNew: false))
    }

    /// struct cache_file_new: magic+version (20 bytes), nlibs, len_strings, flags (byte), padding,
    /// extension_offset, unused[3] = 48 bytes; then 24-byte file_entry_new { flags, key, value,
    /// osversion, hwcap (u64) }. String offsets count from the start of this header.
    private static func parseNew(_ bytes: [UInt8], at base: Int) -> LdCache? {
        guard let count = u32(bytes, base + 20), base + 28 < bytes.count else { return nil }
        // cache_file_new_flags_endian_*: 0 unset (pre-2.33), 2 little, 3 big.
        guard bytes[base + 28] & 3 == 0 || bytes[base + 28] & 3 == 2 else { return nil }
        return checked(Table(bytes: bytes, count: Int(count), at: base + 48, size: 24, strings: base, isNew: true))
    }

    /// Every entry inside the bytes and every string NUL-terminated (a string starting at or
    /// before the last NUL ends at some NUL), checked once so lookups can trust the table.
    private static func checked(_ t: Table) -> LdCache? {
        guard t.count >= 0, t.at + t.count * t.size <= t.bytes.count,
              let lastNul = t.bytes.lastIndex(of: 0) else { return t.count == 0 && t.at <= t.bytes.count ? LdCache(t) : nil }
        for i in 0..<t.count {
            let e = t.at + i * t.size
            if t.strings + Int(u32(t.bytes, e + 4)!) > lastNul || t.strings + Int(u32(t.bytes, e + 8)!) > lastNul { return nil }
        }
        return LdCache(t)
    }

    fileprivate static func u32(_ b: [UInt8], _ at: Int) -> UInt32? {
        guard at >= 0, at + 4 <= b.count else { return nil }
        return UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }

    fileprivate static func string(_ b: [UInt8], _ at: Int) -> String? {
        guard at >= 0, at < b.count, let end = b[at...].firstIndex(of: 0) else { return nil }
        return String(decoding: b[at..<end], as: UTF8.self)
    }

    /// The `flags` ldconfig gives libraries of this ABI (`_DL_CACHE_DEFAULT_ID`), when known: the
    /// loader ignores entries for other ABIs (32-bit libraries in a 64-bit cache).
    static func expectedFlags(machine: UInt16, is64: Bool) -> Int32? {
        let elfLibc6: Int32 = 3
        switch (machine, is64) {
        case (ELFInfo.machineX86_64, true): return elfLibc6 | 0x0300
        case (ELFInfo.machineX86_64, false): return elfLibc6 | 0x0800
        case (ELFInfo.machine386, false): return elfLibc6
        case (ELFInfo.machineAArch64, true): return elfLibc6 | 0x0a00
        case (ELFInfo.machinePPC64, true): return elfLibc6 | 0x0500
        case (ELFInfo.machineS390, true): return elfLibc6 | 0x0400
        default: return nil
        }
    }
}
