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

    /// In file order: ldconfig sorts entries of one soname by preference.
    public var entries: [Entry]
    private var index: [String: [Int]]

    public init(entries: [Entry]) {
        self.entries = entries
        index = [:]
        for (i, entry) in entries.enumerated() { index[entry.soname, default: []].append(i) }
    }

    public func lookup(_ soname: String) -> [String] {
        matches(soname).map(\.path)
    }

    func matches(_ soname: String) -> [Entry] {
        (index[soname] ?? []).map { entries[$0] }
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
        var entries: [Entry] = []
        for i in 0..<Int(count) {
            let at = 16 + i * 12
            guard let flags = u32(bytes, at), let key = u32(bytes, at + 4), let value = u32(bytes, at + 8),
                  let soname = string(bytes, entriesEnd + Int(key)),
                  let path = string(bytes, entriesEnd + Int(value)) else { return nil }
            entries.append(Entry(soname: soname, path: path, flags: Int32(bitPattern: flags), hwcap: 0))
        }
        return LdCache(entries: entries)
    }

    /// struct cache_file_new: magic+version (20 bytes), nlibs, len_strings, flags (byte), padding,
    /// extension_offset, unused[3] = 48 bytes; then 24-byte file_entry_new { flags, key, value,
    /// osversion, hwcap (u64) }. String offsets count from the start of this header.
    private static func parseNew(_ bytes: [UInt8], at base: Int) -> LdCache? {
        guard let count = u32(bytes, base + 20), base + 28 < bytes.count else { return nil }
        // cache_file_new_flags_endian_*: 0 unset (pre-2.33), 2 little, 3 big.
        guard bytes[base + 28] & 3 == 0 || bytes[base + 28] & 3 == 2 else { return nil }
        var entries: [Entry] = []
        for i in 0..<Int(count) {
            let at = base + 48 + i * 24
            guard let flags = u32(bytes, at), let key = u32(bytes, at + 4), let value = u32(bytes, at + 8),
                  let low = u32(bytes, at + 16), let high = u32(bytes, at + 20),
                  let soname = string(bytes, base + Int(key)), let path = string(bytes, base + Int(value))
            else { return nil }
            entries.append(Entry(soname: soname, path: path, flags: Int32(bitPattern: flags),
                                 hwcap: UInt64(high) << 32 | UInt64(low)))
        }
        return LdCache(entries: entries)
    }

    private static func u32(_ b: [UInt8], _ at: Int) -> UInt32? {
        guard at >= 0, at + 4 <= b.count else { return nil }
        return UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }

    private static func string(_ b: [UInt8], _ at: Int) -> String? {
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
