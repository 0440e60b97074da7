import Foundation

/// The image files voidoci reads (docs/void.md and docs/security.md: the image is untrusted), each mutated in turn in one
/// copy of a small rootfs and restored after the case: passwd, the program, a library, the ELF
/// interpreter, ld.so.cache, ld.so.conf and its include, a `#!` script.
final class ImageFuzz {
    enum Target: CaseIterable { case passwd, program, library, interpreter, ldCache, ldConf, ldConfInclude, script }

    let fx: FuzzFixture
    static let script = "/usr/bin/voidfuzz-script"
    static let library = "/usr/lib/x86_64-linux-gnu/libc.so.6"
    static let interpreter = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    /// Original bytes and mode of every file a case may change.
    private var originals: [String: (bytes: [UInt8], mode: mode_t)] = [:]
    private var changed: [String] = []

    init(_ fx: FuzzFixture) {
        self.fx = fx
        mkdir(fx.rootfs + "/etc/ld.so.conf.d", 0o755)
        write("/etc/ld.so.conf", Array("include /etc/ld.so.conf.d/*.conf\n".utf8), 0o644)
        write("/etc/ld.so.conf.d/libc.conf", Array("/usr/lib/x86_64-linux-gnu\n".utf8), 0o644)
        write(Self.script, Array("#!\(FuzzFixture.program) -x\n".utf8), 0o755)
        for path in ["/etc/passwd", FuzzFixture.program, Self.library, Self.interpreter, "/etc/ld.so.cache",
                     "/etc/ld.so.conf", "/etc/ld.so.conf.d/libc.conf", Self.script] {
            var st = stat()
            precondition(lstat(fx.rootfs + path, &st) == 0 && st.st_mode & S_IFMT == S_IFREG, "\(path) is not a regular file in the fuzz rootfs")
            originals[path] = (Array(FileManager.default.contents(atPath: fx.rootfs + path) ?? Data()), st.st_mode & 0o7777)
        }
    }

    func path(_ t: Target) -> String {
        switch t {
        case .passwd: "/etc/passwd"
        case .program: FuzzFixture.program
        case .library: Self.library
        case .interpreter: Self.interpreter
        case .ldCache: "/etc/ld.so.cache"
        case .ldConf: "/etc/ld.so.conf"
        case .ldConfInclude: "/etc/ld.so.conf.d/libc.conf"
        case .script: Self.script
        }
    }

    /// The config of a case: the script is run for its target, the program for all others;
    /// no HOME, so that passwd is read.
    func config(_ t: Target) -> String {
        #"""
        {"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["\#(t == .script ? Self.script : FuzzFixture.program)"],
         "env":["PATH=/usr/bin:/bin"],"cwd":"/"},"root":{"path":"\#(fx.rootfs)"}}
        """#
    }

    private func write(_ path: String, _ bytes: [UInt8], _ mode: mode_t) {
        FileManager.default.createFile(atPath: fx.rootfs + path, contents: Data(bytes))
        chmod(fx.rootfs + path, mode)
    }

    private func remove(_ path: String) {
        var st = stat()
        guard lstat(fx.rootfs + path, &st) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFDIR { _ = Shell.run(["rm", "-rf", fx.rootfs + path]) } else { unlink(fx.rootfs + path) }
    }

    /// Puts back every file the last case changed.
    func restore() {
        for path in changed {
            remove(path)
            if let o = originals[path] { write(path, o.bytes, o.mode) }
        }
        changed = []
    }

    static let hostLinks = ["/etc/shadow", "/proc/self/mem", "/proc/self/fd/0", "/proc/self/exe", "/dev/zero", "/dev/tty",
                            "../../../../../../../../../etc/shadow", "/proc/1/root/etc/shadow", "nonexistent", "/"]
    static let huge: [UInt64] = [.max, .max - 1, 1 << 63, UInt64(Int.max), UInt64(Int.max) - 4095, 0xffff_ffff,
                                 0x1_0000_0000, 0, 1, 4096, 1 << 40]

    /// Changes the target's file; returns what was done, for the failure message.
    func mutate(_ t: Target, _ rng: inout SplitMix64) -> String {
        let p = path(t)
        guard let original = originals[p] else { return "nothing" }
        changed.append(p)
        // ld.so.conf is read only by images without ld.so.cache.
        if t == .ldConf || t == .ldConfInclude {
            changed.append("/etc/ld.so.cache")
            remove("/etc/ld.so.cache")
        }
        let host = fx.rootfs + p
        var bytes = original.bytes
        switch rng.below(14) {
        case 0, 1:
            let flips = 1 + rng.below(16)
            // Headers are where the parsers look: most flips go to the first KiB.
            for _ in 0..<flips where !bytes.isEmpty {
                bytes[rng.chance(70) ? rng.below(min(bytes.count, 1024)) : rng.below(bytes.count)] ^= UInt8(1 << rng.below(8))
            }
            write(p, bytes, original.mode)
            return "\(flips) bits flipped"
        case 2, 3:
            let n = rng.chance(50) ? rng.below(min(bytes.count, 4096) + 1) : rng.below(bytes.count + 1)
            write(p, Array(bytes.prefix(n)), original.mode)
            return "truncated to \(n) bytes"
        case 4:
            let n = rng.below(8192)
            var random = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            // Keep a recognisable start for some, so the parser gets past its magic.
            if rng.chance(50) { random = Array(bytes.prefix(rng.pick([4, 16, 20, 64]))) + random }
            write(p, random, original.mode)
            return "\(random.count) random bytes"
        case 5, 6, 7:
            let what = hugeValues(t, &bytes, &rng)
            write(p, bytes, original.mode)
            return what
        case 8:
            remove(p)
            mkfifo(host, 0o644)
            return "a FIFO"
        case 9:
            remove(p)
            let target = rng.chance(10) ? ImagePathName.base(p) : rng.pick(Self.hostLinks)
            symlink(target, host)
            return "a symlink to \(target)"
        case 10:
            remove(p)
            mkdir(host, 0o755)
            return "a directory"
        case 11:
            remove(p)
            let (major, minor) = rng.pick([(1, 3), (1, 5), (1, 8), (5, 0)])
            mknod(host, S_IFCHR | 0o644, dev_t(major << 8 | minor))
            return "a character device \(major):\(minor)"
        case 12:
            remove(p)
            let fd = open(host, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, original.mode)
            if rng.chance(50) { _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, min($0.count, 4096)) } }
            ftruncate(fd, 1 << 40)
            close(fd)
            return "a sparse 1 TiB file"
        default:
            write(p, [], original.mode)
            return "empty"
        }
    }

    /// Values no sane file has where parsers take sizes and offsets from.
    private func hugeValues(_ t: Target, _ b: inout [UInt8], _ rng: inout SplitMix64) -> String {
        func get(_ at: Int, _ size: Int) -> UInt64 {
            guard at >= 0, at + size <= b.count else { return 0 }
            return (0..<size).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) }
        }
        func put(_ at: Int, _ size: Int, _ v: UInt64) {
            guard at >= 0, at + size <= b.count else { return }
            for i in 0..<size { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
        }
        let value = rng.chance(80) ? rng.pick(Self.huge) : rng.next() >> rng.below(64)
        switch t {
        case .program, .library, .interpreter:
            let phoff = Int(truncatingIfNeeded: get(32, 8)), phent = Int(get(54, 2)), phnum = Int(get(56, 2))
            switch rng.below(6) {
            case 0: put(32, 8, value); return "e_phoff = \(value)"
            case 1: put(56, 2, value); return "e_phnum = \(value & 0xffff)"
            case 2: put(54, 2, value); return "e_phentsize = \(value & 0xffff)"
            case 3: put(56, 2, 0xffff); put(40, 8, value); return "PN_XNUM with e_shoff = \(value)"
            case 4:
                let i = rng.below(max(phnum, 1)), field = rng.pick([8, 16, 32, 40])
                put(phoff + i * phent + field, 8, value)
                return "program header \(i) field at +\(field) = \(value)"
            default:
                // A dynamic entry's value: DT_STRTAB, DT_STRSZ, a DT_NEEDED offset, ...
                for i in 0..<phnum where get(phoff + i * phent, 4) == 2 {
                    let dyn = Int(truncatingIfNeeded: get(phoff + i * phent + 8, 8))
                    let k = rng.below(max(1, min(40, Int(get(phoff + i * phent + 32, 8)) / 16)))
                    put(dyn + k * 16 + 8, 8, value)
                    return "dynamic entry \(k) (tag \(get(dyn + k * 16, 8))) = \(value)"
                }
                put(32, 8, value)
                return "e_phoff = \(value)"
            }
        case .ldCache:
            let v32 = value & 0xffff_ffff
            let count = Int(get(20, 4))
            switch rng.below(3) {
            case 0: put(20, 4, v32); return "nlibs = \(v32)"
            case 1: put(24, 4, v32); return "len_strings = \(v32)"
            default:
                let i = rng.below(max(count, 1)), field = rng.pick([4, 8])
                put(48 + i * 24 + field, 4, v32)
                return "entry \(i) string offset at +\(field) = \(v32)"
            }
        case .passwd:
            let lines = ["root:x:99999999999999999999:0:root:/big:/bin/sh", "root:x:0:0:root:" + String(repeating: "h", count: 100_000) + ":/bin/sh",
                         "::::::::::", "root:x:-1:0::/neg:/bin/sh", "root:x:0:0", "\u{0}\u{0}\u{0}", "root:x:0:0::/home\u{0}x:/bin/sh"]
            b = Array((rng.pick(lines) + (rng.chance(50) ? "\n" : "")).utf8) + (rng.chance(50) ? b : [])
            return "passwd line \(String(decoding: b.prefix(60), as: UTF8.self).debugDescription)"
        case .ldConf, .ldConfInclude:
            let lines = ["include " + String(repeating: "../", count: 200) + "etc/*", "include /etc/ld.so.conf", "include [[[[[",
                         "include /etc/ld.so.conf.d/*" + String(repeating: "*", count: 200), "include", "hwcap 0 x",
                         "/usr/lib=libc6", "=", String(repeating: "/a", count: 30000), "include /proc/self/*", "include /*/*/*/*/*"]
            b = Array(((0..<(1 + rng.below(3))).map { _ in rng.pick(lines) }.joined(separator: "\n") + "\n").utf8) + b
            return "ld.so.conf lines \(String(decoding: b.prefix(60), as: UTF8.self).debugDescription)"
        case .script:
            let lines = ["#!" + String(repeating: "x", count: 300), "#!", "#!\n", "#! \(FuzzFixture.program) " + String(repeating: "a", count: 5000),
                         "#!/usr/bin/env voidfuzz-true", "#!\(Self.script)", "#!relative", "#!/etc/passwd", "#!/", "#!\u{0}"]
            b = Array((rng.pick(lines) + "\n").utf8)
            return "script \(String(decoding: b.prefix(60), as: UTF8.self).debugDescription)"
        }
    }
}

enum ImagePathName {
    static func base(_ p: String) -> String { String(p.split(separator: "/").last ?? "") }
}
