import Foundation
import Testing

/// What scripts/build.sh promises about the binary engines run (VOIDOCI_BIN): fully static,
/// and laid out by a link order that still names the functions it has.
@Suite struct BuildTests {
    /// No ELF interpreter: nothing is loaded or relocated at exec, and no Swift runtime .so is
    /// needed in the environments podman, conmon or containerd give it.
    @Test func theBinaryIsFullyStatic() throws {
        let r = Shell.run(["/usr/bin/readelf", "-lW", Env.bin], env: ["PATH": "/usr/bin:/bin"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("LOAD"), "\(r.stdout)")
        #expect(!r.stdout.contains("INTERP"), "\(Env.bin) has an ELF interpreter: not a static executable")
        #expect(!r.stdout.contains("DYNAMIC"), "\(Env.bin) has a dynamic section")
    }

    /// scripts/order/voidoci.order lists the functions a lifecycle runs; the linker silently
    /// skips names that no longer exist. When the code has drifted so far that most are gone,
    /// the order no longer helps: rerun scripts/order/make-order.sh.
    @Test func theLinkOrderMatchesTheCode() throws {
        let order = try String(contentsOfFile: "\(Env.repo)/scripts/order/voidoci.order", encoding: .utf8)
            .split(separator: "\n").map(String.init)
        #expect(order.count > 500, "the order lists \(order.count) functions")
        let nm = Shell.run(["/usr/bin/nm", "--defined-only", Env.bin], env: ["PATH": "/usr/bin:/bin"])
        #expect(nm.status == 0, "\(nm.stderr)")
        let defined = Set(nm.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
        let present = order.filter(defined.contains).count
        let share = Double(present) / Double(max(order.count, 1))
        #expect(share >= 0.8, "only \(present) of \(order.count) functions in scripts/order/voidoci.order are in \(Env.bin): rerun scripts/order/make-order.sh")
        // The hot functions come first: most of the first 200 sit in the first quarter of the
        // text (about 6 % do in a binary linked without the order).
        var text: [String: UInt64] = [:]
        for line in nm.stdout.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count == 3, ["t", "T", "w", "W"].contains(f[1]), let a = UInt64(f[0], radix: 16) else { continue }
            if text[String(f[2])] == nil { text[String(f[2])] = a }
        }
        let lo = try #require(text.values.min()), hi = try #require(text.values.max())
        let hot = order.prefix(200).compactMap { text[$0] }
        let early = hot.filter { $0 < lo + (hi - lo) / 4 }.count
        #expect(hot.count > 150 && Double(early) >= 0.8 * Double(hot.count),
                "\(early) of the first \(hot.count) ordered functions are in the first quarter of the text: was \(Env.bin) linked with scripts/order/voidoci.order?")
    }
    /// The first 1,000 functions of the order come from small sections (scripts/order/select.py)
    /// and must lie packed: within twice their own size. A large cold section between them (a
    /// prebuilt library's whole .text, pulled in by a name that it shares with a hot function)
    /// spread them over several MB and made the resident set 1 MiB larger.
    @Test func theHotFunctionsArePacked() throws {
        let order = try String(contentsOfFile: "\(Env.repo)/scripts/order/voidoci.order", encoding: .utf8)
            .split(separator: "\n").prefix(1000).map(String.init)
        let nm = Shell.run(["/usr/bin/nm", "-S", "--defined-only", Env.bin], env: ["PATH": "/usr/bin:/bin"])
        #expect(nm.status == 0, "\(nm.stderr)")
        var fn: [String: (addr: UInt64, size: UInt64)] = [:]
        for line in nm.stdout.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count == 4, ["t", "T", "w", "W"].contains(f[2]),
                  let a = UInt64(f[0], radix: 16), let n = UInt64(f[1], radix: 16) else { continue }
            if fn[String(f[3])] == nil { fn[String(f[3])] = (a, n) }
        }
        let placed = order.compactMap { fn[$0] }
        #expect(placed.count > 800, "only \(placed.count) of the first 1,000 ordered functions are in \(Env.bin)")
        let lo = try #require(placed.map(\.addr).min()), hi = try #require(placed.map { $0.addr + $0.size }.max())
        let size = placed.reduce(UInt64(0)) { $0 + $1.size }
        #expect(hi - lo <= 2 * size, "the first \(placed.count) ordered functions (\(size / 1024) KiB) span \((hi - lo) / 1024) KiB of the text: rerun scripts/order/make-order.sh")
    }
}
