#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import VoidEngine

@Suite struct ImageLdCacheTests {
    static func hostCache() -> [UInt8]? {
        let fd = open("/etc/ld.so.cache", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return try? ImageRoot.pread(fd, offset: 0, count: 64 << 20)
    }

    @Test(.enabled(if: hostCache() != nil && access("/sbin/ldconfig", X_OK) == 0))
    func hostCacheMatchesLdconfigPrint() throws {
        let bytes = try #require(Self.hostCache())
        let cache = try #require(LdCache.parse(bytes))
        // "\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1", in cache order.
        let printed: [(String, String)] = shell("/sbin/ldconfig -p").output.split(separator: "\n").dropFirst().compactMap { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let arrow = words.firstIndex(of: "=>"), arrow + 1 < words.count else { return nil }
            return (String(words[0]), String(words[arrow + 1]))
        }
        #expect(printed.count > 10)
        #expect(cache.entries.map(\.soname) == printed.map(\.0))
        #expect(cache.entries.map(\.path) == printed.map(\.1))
        #expect(cache.lookup("libc.so.6").contains { $0.hasSuffix("/libc.so.6") })
        #expect(cache.entries.allSatisfy { $0.flags == 0x0303 || $0.flags == 0x0003 || $0.flags == 0x0803 })
    }

    static let entries = [
        LdCacheBuilder.Entry(soname: "libfoo.so.1", path: "/usr/lib/glibc-hwcaps/x86-64-v3/libfoo.so.1",
                             hwcap: 1 << 62 | 1),
        LdCacheBuilder.Entry(soname: "libfoo.so.1", path: "/usr/lib/libfoo.so.1"),
        LdCacheBuilder.Entry(soname: "libfoo.so.1", path: "/usr/lib32/libfoo.so.1", flags: 0x0003),
        LdCacheBuilder.Entry(soname: "libbar.so", path: "/opt/bar/libbar.so"),
    ]

    @Test func newFormatKeepsOrderAndFlags() throws {
        let cache = try #require(LdCache.parse(LdCacheBuilder.new(Self.entries)))
        #expect(cache.lookup("libfoo.so.1") == [
            "/usr/lib/glibc-hwcaps/x86-64-v3/libfoo.so.1", "/usr/lib/libfoo.so.1", "/usr/lib32/libfoo.so.1",
        ])
        #expect(cache.lookup("libbar.so") == ["/opt/bar/libbar.so"])
        #expect(cache.lookup("libnone.so").isEmpty)
        #expect(cache.entries[0].hwcap == 1 << 62 | 1)
        #expect(cache.entries[2].flags == 0x0003)
    }

    @Test func oldFormatWithAndWithoutTheNewOneEmbedded() throws {
        for embed in [true, false] {
            let cache = try #require(LdCache.parse(LdCacheBuilder.old(Self.entries, embedNew: embed)))
            #expect(cache.lookup("libbar.so") == ["/opt/bar/libbar.so"])
            #expect(cache.lookup("libfoo.so.1").count == 3)
            #expect(cache.entries.map(\.soname) == Self.entries.map(\.soname))
        }
    }

    @Test func garbageIsNil() {
        #expect(LdCache.parse([]) == nil)
        #expect(LdCache.parse(Array("not a cache at all".utf8)) == nil)
        var truncated = LdCacheBuilder.new(Self.entries)
        truncated.removeLast(40)
        #expect(LdCache.parse(truncated) == nil)
        var bigEndian = LdCacheBuilder.new(Self.entries)
        bigEndian[28] = 3
        #expect(LdCache.parse(bigEndian) == nil)
    }
}
