#if canImport(Glibc)
import Glibc
#endif

/// What the loader needs to know about an ELF file: read from its program headers and dynamic
/// section only (section headers may be stripped; the loader never reads them either).
public struct ELFInfo: Sendable {
    public var is64: Bool
    public var machine: UInt16
    /// `PT_INTERP`: the program interpreter the kernel loads (only meaningful for the executable).
    public var interpreter: String?
    /// `DT_NEEDED`, in order.
    public var needed: [String]
    /// `DT_RPATH` / `DT_RUNPATH` split on ":", `$ORIGIN` and friends not yet expanded.
    public var rpath: [String]
    public var runpath: [String]
    /// `DT_SONAME`: the loader treats an object as already loaded when a later `DT_NEEDED` names it.
    public var soname: String?
    /// `DF_1_NODEFLIB` in `DT_FLAGS_1`: skip ld.so.cache and the default directories for this
    /// object's dependencies.
    public var noDefaultLib: Bool
    /// Whether a `DT_RUNPATH` entry exists at all: its presence, not its content, disables RPATH.
    public var hasRunpath: Bool

    public static let machineX86_64: UInt16 = 62
    public static let machine386: UInt16 = 3
    public static let machineAArch64: UInt16 = 183
    public static let machineARM: UInt16 = 40
    public static let machinePPC64: UInt16 = 21
    public static let machineS390: UInt16 = 22
    public static let machineRISCV: UInt16 = 243

    /// Parses from an open fd with `pread`; nil if the file is not ELF (no `\x7fELF` magic).
    /// Typically three reads: the first page (ELF header, program headers, `PT_INTERP`), the
    /// dynamic segment, and the string table it points to.
    public static func read(fd: Int32) throws -> ELFInfo? {
        try read(fd: fd, head: ImageRoot.pread(fd, offset: 0, count: 4096))
    }

    /// As `read(fd:)`, reusing `head`, the file's first bytes already read by the caller.
    static func read(fd: Int32, head: [UInt8]) throws -> ELFInfo? {
        guard head.count >= 16, head[0] == 0x7f, head[1] == 0x45, head[2] == 0x4c, head[3] == 0x46 else {
            return nil
        }
        guard head[4] == 1 || head[4] == 2 else { throw malformed("unknown ELF class \(head[4])") }
        guard head[5] == 1 else {
            throw VoidError.image("unsupported ELF data encoding \(head[5]) (only little-endian is supported)")
        }
        var file = ELFFile(fd: fd, head: head, is64: head[4] == 2)
        return try file.info()
    }

    static func malformed(_ what: String) -> VoidError {
        VoidError.image("malformed ELF file: \(what)", errno: ENOEXEC)
    }
}

/// Little-endian field access over byte buffers, with every offset checked: the file comes from
/// the bundle and may be hostile.
private struct ELFFile {
    let fd: Int32
    let head: [UInt8]
    let is64: Bool

    struct Segment { var type: UInt32; var offset: UInt64; var vaddr: UInt64; var filesz: UInt64 }

    static let ptLoad: UInt32 = 1, ptDynamic: UInt32 = 2, ptInterp: UInt32 = 3
    static let dtNeeded: UInt64 = 1, dtStrtab: UInt64 = 5, dtStrsz: UInt64 = 10, dtSoname: UInt64 = 14
    static let dtRpath: UInt64 = 15, dtRunpath: UInt64 = 29, dtFlags1: UInt64 = 0x6fff_fffb
    static let df1NoDefLib: UInt64 = 0x800

    init(fd: Int32, head: [UInt8], is64: Bool) {
        self.fd = fd
        self.head = head
        self.is64 = is64
    }

    static func int(_ bytes: [UInt8], _ at: Int, _ size: Int) throws -> UInt64 {
        guard at >= 0, size <= 8, at <= bytes.count - size else { throw ELFInfo.malformed("truncated") }
        var value: UInt64 = 0
        for i in (0..<size).reversed() { value = value << 8 | UInt64(bytes[at + i]) }
        return value
    }

    /// Bytes at a file offset, from the first page when they are in it.
    func bytes(at offset: UInt64, count: UInt64, limit: UInt64) throws -> [UInt8] {
        guard count <= limit else { throw ELFInfo.malformed("size \(count) at offset \(offset) (at most \(limit))") }
        guard offset <= UInt64(Int.max) - count else { throw ELFInfo.malformed("offset \(offset) past any file") }
        let (o, c) = (Int(offset), Int(count))
        if o + c <= head.count { return Array(head[o..<(o + c)]) }
        let got = try ImageRoot.pread(fd, offset: o, count: c)
        guard got.count == c else { throw ELFInfo.malformed("truncated at offset \(o)") }
        return got
    }

    mutating func info() throws -> ELFInfo {
        let w = is64 ? 8 : 4
        let machine = UInt16(try Self.int(head, 18, 2))
        let phoff = try Self.int(head, is64 ? 32 : 28, w)
        let phentsize = try Self.int(head, is64 ? 54 : 42, 2)
        var phnum = try Self.int(head, is64 ? 56 : 44, 2)
        if phnum == 0xffff {
            // PN_XNUM: the real count is in section header 0's sh_info.
            let shoff = try Self.int(head, is64 ? 40 : 32, w)
            let sh0 = try bytes(at: shoff, count: is64 ? 64 : 40, limit: 64)
            phnum = try Self.int(sh0, is64 ? 44 : 28, 4)
        }
        guard phentsize >= (is64 ? 56 : 32) else { throw ELFInfo.malformed("e_phentsize \(phentsize)") }
        // Both are at most 32 bits wide, so the product cannot overflow; checked all the same,
        // as every sum and product of values read from the file is.
        let (tableSize, tableOverflow) = phnum.multipliedReportingOverflow(by: phentsize)
        guard !tableOverflow else { throw ELFInfo.malformed("e_phnum \(phnum) × e_phentsize \(phentsize)") }
        let table = try bytes(at: phoff, count: tableSize, limit: 1 << 20)
        var segments: [Segment] = []
        for i in 0..<Int(phnum) {
            let p = i * Int(phentsize)
            segments.append(Segment(
                type: UInt32(try Self.int(table, p, 4)),
                offset: try Self.int(table, p + (is64 ? 8 : 4), w),
                vaddr: try Self.int(table, p + (is64 ? 16 : 8), w),
                filesz: try Self.int(table, p + (is64 ? 32 : 16), w)))
        }

        var info = ELFInfo(is64: is64, machine: machine, interpreter: nil, needed: [], rpath: [], runpath: [],
                           soname: nil, noDefaultLib: false, hasRunpath: false)
        if let interp = segments.first(where: { $0.type == Self.ptInterp }) {
            let raw = try bytes(at: interp.offset, count: interp.filesz, limit: UInt64(PATH_MAX))
            info.interpreter = String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        guard let dynamic = segments.first(where: { $0.type == Self.ptDynamic }) else { return info }
        let dyn = try bytes(at: dynamic.offset, count: dynamic.filesz, limit: 1 << 20)
        var entries: [(tag: UInt64, value: UInt64)] = []
        for at in stride(from: 0, to: dyn.count - 2 * w + 1, by: 2 * w) {
            let tag = try Self.int(dyn, at, w)
            if tag == 0 { break }  // DT_NULL
            entries.append((tag, try Self.int(dyn, at + w, w)))
        }
        func value(_ tag: UInt64) -> UInt64? { entries.first { $0.tag == tag }?.value }
        info.noDefaultLib = (value(Self.dtFlags1) ?? 0) & Self.df1NoDefLib != 0
        info.hasRunpath = value(Self.dtRunpath) != nil

        let stringTags = [Self.dtNeeded, Self.dtSoname, Self.dtRpath, Self.dtRunpath]
        guard entries.contains(where: { stringTags.contains($0.tag) }) else { return info }
        guard let strtab = value(Self.dtStrtab), let strsz = value(Self.dtStrsz) else {
            throw ELFInfo.malformed("dynamic section without DT_STRTAB/DT_STRSZ")
        }
        // DT_STRTAB is an address in memory: find the PT_LOAD that maps it to learn its file offset.
        guard let load = segments.first(where: {
            $0.type == Self.ptLoad && strtab >= $0.vaddr && strtab - $0.vaddr < $0.filesz
        }) else { throw ELFInfo.malformed("DT_STRTAB 0x\(String(strtab, radix: 16)) outside every PT_LOAD") }
        // strtab - vaddr cannot wrap (strtab >= vaddr above), but the sum with p_offset can:
        // both come from the file.
        let (stringsAt, stringsOverflow) = load.offset.addingReportingOverflow(strtab - load.vaddr)
        guard !stringsOverflow else {
            throw ELFInfo.malformed("DT_STRTAB 0x\(String(strtab, radix: 16)) in a PT_LOAD at file offset 0x\(String(load.offset, radix: 16)) lies past any file")
        }
        let strings = try bytes(at: stringsAt, count: strsz, limit: 16 << 20)
        func string(_ offset: UInt64) throws -> String {
            guard offset < UInt64(strings.count) else { throw ELFInfo.malformed("string offset \(offset)") }
            return String(decoding: strings[Int(offset)...].prefix { $0 != 0 }, as: UTF8.self)
        }
        func list(_ text: String) -> [String] { text.split(separator: ":").map(String.init) }
        for entry in entries {
            switch entry.tag {
            case Self.dtNeeded: info.needed.append(try string(entry.value))
            case Self.dtSoname: info.soname = try string(entry.value)
            case Self.dtRpath: info.rpath += list(try string(entry.value))
            case Self.dtRunpath: info.runpath += list(try string(entry.value))
            default: break
            }
        }
        return info
    }
}
