import Foundation
import Testing

/// Issue 10: no bundle or image can make voidoci trap (SIGILL/SIGTRAP, which podman reports as a
/// runtime crash) or hang, and every failure is one line and leaves nothing behind. Mutated
/// configs and mutated image files go through the real binary: `explain`, and for a good share
/// `run` of a /bin/true copy then `delete --force`.
///
/// VOIDOCI_FUZZ_CONFIGS, VOIDOCI_FUZZ_IMAGES: case counts (500 each by default);
/// VOIDOCI_FUZZ_SEED: the seed (printed with every failure); VOIDOCI_FUZZ_ONLY=N: replay case N.
/// Root only: devices in the image need mknod, and the suite compares the host's mount table.
@Suite(.serialized, .enabled(if: Env.isRoot))
struct FuzzTests {
    @Test func mutatedConfigs() throws {
        let fx = FuzzFixture("configs")
        defer { fx.close() }
        let baselineMounts = Set(Fuzz.mountPoints())
        let bases = ConfigFuzz.bases(fx)
        try #require(bases.count >= 3, "base configs missing")
        var failures: [String] = []
        var runs = 0, userRuns = 0, explainOK = 0
        let tally = Fuzz.Tally()
        for n in Fuzz.cases(Fuzz.count("VOIDOCI_FUZZ_CONFIGS", default: 500)) {
            var rng = Fuzz.rng(case: n, salt: 0xC0F1)
            var config = rng.pick(bases)
            ConfigFuzz.mutate(&config, &rng)
            ConfigFuzz.makeSafe(&config, fx)
            var bytes = Array(config.text.utf8)
            if rng.chance(4) { bytes = ConfigFuzz.corrupt(bytes, &rng) }
            fx.writeConfig(bytes)
            var text = String(decoding: bytes, as: UTF8.self)
            var problems: [String] = []
            let explain = fx.voidoci(["explain", "--format", "json", fx.bundle])
            Fuzz.log(n, "explain", explain)
            if let v = tally.verdict(explain, "explain", program: false) { problems.append(v) }
            if explain.status == 0 { explainOK += 1 }
            if explain.status == 0 ? rng.chance(70) : rng.chance(10) {
                // cgroupsPath only where this suite may make and remove cgroups.
                if var runnable = JSON.parse(text) {
                    ConfigFuzz.confineCgroups(&runnable, fx, case: n)
                    text = runnable.text
                    fx.writeConfig(Array(text.utf8))
                }
                let who: As = fx.hasUser && rng.chance(25) ? .user : .root
                problems += tally.runAndDelete(fx, id: fx.id("fz", n), as: who, case: n)
                runs += 1
                if who == .user { userRuns += 1 }
            }
            if n % 50 == 49 { fx.removeCgroups() }
            if !problems.isEmpty {
                failures.append("case \(n) (VOIDOCI_FUZZ_SEED=\(Fuzz.seed) VOIDOCI_FUZZ_ONLY=\(n)): \(problems.joined(separator: "; "))\n  config: \(text.prefix(3000))")
            }
        }
        fx.removeCgroups()
        let added = Set(Fuzz.mountPoints()).subtracting(baselineMounts).filter { !Fuzz.othersMount($0, ours: fx.dir) }
        #expect(added.isEmpty, "host mounts added during the suite: \(added.sorted())")
        print(tally.summary("fuzz configs"))
        print("fuzz configs: seed \(Fuzz.seed), \(Fuzz.cases(Fuzz.count("VOIDOCI_FUZZ_CONFIGS", default: 500)).count) cases, explain accepted \(explainOK), \(runs) runs (\(userRuns) as \(Env.testUser)), \(failures.count) failures")
        #expect(failures.isEmpty, "\(failures.count) failing cases, seed \(Fuzz.seed):\n\(failures.prefix(15).joined(separator: "\n"))")
    }

    @Test func mutatedImages() throws {
        let fx = FuzzFixture("images")
        defer { fx.close() }
        let image = ImageFuzz(fx)
        let baselineMounts = Set(Fuzz.mountPoints())
        var failures: [String] = []
        var runs = 0, userRuns = 0, explainOK = 0
        let tally = Fuzz.Tally()
        for n in Fuzz.cases(Fuzz.count("VOIDOCI_FUZZ_IMAGES", default: 500)) {
            var rng = Fuzz.rng(case: n, salt: 0x1A6E)
            let target = rng.pick(ImageFuzz.Target.allCases)
            let description = image.mutate(target, &rng)
            defer { image.restore() }
            fx.writeConfig(Array(image.config(target).utf8))
            var problems: [String] = []
            let explain = fx.voidoci(["explain", "--format", "json", fx.bundle])
            Fuzz.log(n, "explain", explain)
            if let v = tally.verdict(explain, "explain", program: false) { problems.append(v) }
            if explain.status == 0 { explainOK += 1 }
            if explain.status == 0 ? rng.chance(60) : rng.chance(15) {
                let who: As = fx.hasUser && rng.chance(20) ? .user : .root
                problems += tally.runAndDelete(fx, id: fx.id("fi", n), as: who, case: n)
                runs += 1
                if who == .user { userRuns += 1 }
            }
            if n % 50 == 49 { fx.removeCgroups() }
            if !problems.isEmpty {
                failures.append("case \(n) (VOIDOCI_FUZZ_SEED=\(Fuzz.seed) VOIDOCI_FUZZ_ONLY=\(n)): \(target) \(description): \(problems.joined(separator: "; "))")
            }
        }
        let added = Set(Fuzz.mountPoints()).subtracting(baselineMounts).filter { !Fuzz.othersMount($0, ours: fx.dir) }
        #expect(added.isEmpty, "host mounts added during the suite: \(added.sorted())")
        print(tally.summary("fuzz images"))
        print("fuzz images: seed \(Fuzz.seed), \(Fuzz.cases(Fuzz.count("VOIDOCI_FUZZ_IMAGES", default: 500)).count) cases, explain accepted \(explainOK), \(runs) runs (\(userRuns) as \(Env.testUser)), \(failures.count) failures")
        #expect(failures.isEmpty, "\(failures.count) failing cases, seed \(Fuzz.seed):\n\(failures.prefix(15).joined(separator: "\n"))")
    }
}

// MARK: - configs

enum ConfigFuzz {
    /// The realistic starting points: the test bundle's config, `runc spec` (root and
    /// rootless), and a config podman wrote, each pointed at the fuzz rootfs and its program.
    static func bases(_ fx: FuzzFixture) -> [JSON] {
        var texts: [String] = []
        texts.append(#"""
        {"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["\#(FuzzFixture.program)"],
         "env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"cwd":"/"},
         "root":{"path":"\#(fx.rootfs)"},
         "linux":{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"ipc"},{"type":"uts"},{"type":"network"}]}}
        """#)
        for flags in [[], ["--rootless"]] {
            let dir = fx.dir + "/runc-spec"
            _ = Shell.run(["rm", "-rf", dir])
            mkdir(dir, 0o755)
            if Shell.run(["runc", "spec", "--bundle", dir] + flags).status == 0, let t = Host.read(dir + "/config.json") {
                texts.append(t)
            }
            _ = Shell.run(["rm", "-rf", dir])
        }
        if let t = Host.read(Env.repo + "/Tests/OCIBundleTests/Fixtures/podman-rootful-config.json") { texts.append(t) }
        return texts.compactMap(JSON.parse).map { base in
            var c = base
            c.set(["root", "path"], .string(fx.rootfs))
            c.set(["process", "args"], .array([.string(FuzzFixture.program)]))
            c.set(["process", "terminal"], .bool(false))
            c["hooks"] = nil
            // podman's systemd cgroup path and host bind sources (its container storage) are
            // not on this machine; without them most runs would stop at the same error.
            c.set(["linux", "cgroupsPath"], nil)
            if case .array(let mounts)? = c["mounts"] {
                c["mounts"] = .array(mounts.filter { m in
                    guard case .string(let s)? = m["source"], s.hasPrefix("/") else { return true }
                    return FileManager.default.fileExists(atPath: s)
                })
            }
            return c
        }
    }

    static let numbers = ["0", "-1", "1", "2", "1000", "65534", "65535", "65536", "2147483647", "2147483648",
                          "-2147483648", "-2147483649", "4294967295", "4294967296", "-4294967296",
                          "9223372036854775807", "9223372036854775808", "-9223372036854775808",
                          "-9223372036854775809", "18446744073709551615", "18446744073709551616",
                          "1e400", "-1e400", "1.5", "1e3", "0.0", "-0", "1E+2", "123456789012345678901234567890"]

    static let strings = ["", "=", "==", "=x", "x=", "..", "/..", "/.", ".", "/", "//", "///", "/tmp", "/tmp/",
                          "/dev/null", "/nonexistent", "relative", "a/../b", "/a/../../b", "/./tmp/./", "\u{0}",
                          "a\u{0}b", "/tmp\u{0}/x", "\n", "a\nb", "\t", "\r\n", "\u{1b}[31m", "\u{7f}", "é", "🙂",
                          "\u{FEFF}", "\u{202E}", "\u{FFFF}", "../../../../etc", "/etc/shadow", "rw,size=1",
                          "%s%n%x", "${HOME}", "-1", "SIGKILL", "tcp:127.0.0.1:80", "proc;tmpfs", "none", "ro", "rw",
                          "minimal", "0:0", "65534:65534", "4294967295:4294967295", "4294967296", ":", "1:", ":1",
                          "machine.slice:libpod:x", " ", "RLIMIT_NOFILE", "CAP_SYS_ADMIN", "CAP_ALL", "bind", "rbind",
                          "tmpfs", "proc", "c", "b", "p", "u", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_NOTIFY",
                          "x86_64", "SCMP_ARCH_X86_64"]

    static func string(_ rng: inout SplitMix64) -> String {
        switch rng.below(10) {
        case 0: return String(repeating: rng.pick(["a", "/a", "é", "/"]), count: 1 + rng.below(70000))
        case 1:
            // Random scalars: ASCII, controls, and others across the planes.
            var s = ""
            for _ in 0..<rng.below(40) {
                let v: UInt32 = rng.pick([UInt32(rng.below(0x80)), UInt32(rng.below(0x20)), UInt32(rng.below(0x11_0000))])
                s.unicodeScalars.append(Unicode.Scalar(v) ?? "?")
            }
            return s
        default: return rng.pick(strings)
        }
    }

    /// Half plausible (small, in range for every field), half edge values.
    static func number(_ rng: inout SplitMix64) -> String {
        switch rng.below(10) {
        case 0..<5: return String(rng.below(rng.chance(50) ? 8 : 70000))
        case 5..<9: return rng.pick(numbers)
        default: return String(Int64(bitPattern: rng.next()) >> rng.below(64))
        }
    }

    /// Nesting past voidoci's limit, or near it.
    static func deep(_ rng: inout SplitMix64) -> JSON {
        let depth = rng.pick([10, 511, 512, 513, 1000, 5000, 100_000])
        return rng.chance(50)
            ? .raw(String(repeating: "[", count: depth) + String(repeating: "]", count: depth))
            : .raw(String(repeating: "{\"a\":", count: depth) + "1" + String(repeating: "}", count: depth))
    }

    static func value(_ rng: inout SplitMix64, depth: Int = 0) -> JSON {
        switch rng.below(depth > 2 ? 5 : rng.chance(90) ? 7 : 9) {
        case 0: return .null
        case 1: return .bool(rng.chance(50))
        case 2, 3: return .number(number(&rng))
        case 4: return .string(string(&rng))
        case 5: return .array((0..<rng.below(4)).map { _ in value(&rng, depth: depth + 1) })
        case 6: return .object((0..<rng.below(4)).map { _ in (string(&rng), value(&rng, depth: depth + 1)) })
        case 7: return deep(&rng)
        default: return rng.chance(50) ? .array([]) : .object([])
        }
    }

    static func mutate(_ config: inout JSON, _ rng: inout SplitMix64) {
        // Mostly one change, so that most cases pass decoding and validation and reach the
        // planner and the spawner; a few pile several up.
        for _ in 0..<rng.pick([1, 1, 1, 1, 2, 2, 3, 5]) {
            if rng.chance(65) { targeted(&config, &rng) } else { generic(&config, &rng) }
        }
    }

    /// Anywhere in the tree: a value of another type, a removed or repeated member, an
    /// interesting number or string in place of one.
    static func generic(_ config: inout JSON, _ rng: inout SplitMix64) {
        var positions: [[Int]] = []
        config.positions(into: &positions)
        let at = rng.pick(positions)
        let op = rng.below(6)
        if op >= 4, let last = at.last {
            // Remove or repeat a member or item: done on the parent.
            config.update(at: at.dropLast()[...]) { parent in
                switch parent {
                case .object(var o) where last < o.count:
                    if op == 4 { o.remove(at: last) } else { o.append((o[last].0, value(&rng))) }
                    parent = .object(o)
                case .array(var a) where last < a.count:
                    if op == 4 { a.remove(at: last) } else { a.append(a[last]) }
                    parent = .array(a)
                default: break
                }
            }
            return
        }
        config.update(at: at[...]) { v in
            switch (op, v) {
            case (0, .number): v = .number(number(&rng))
            case (0, .string), (1, .string): v = .string(string(&rng))
            default: v = value(&rng)
            }
        }
    }

    static let annotationKeys = ["org.voidoci.rootfs", "org.voidoci.expose", "org.voidoci.mounts", "org.voidoci.dev",
                                 "org.voidoci.listen", "org.voidoci.root-id", "org.voidoci.accept", "org.voidoci.",
                                 "org.voidoci.ROOTFS", "org.opencontainers.image.title"]
    static let annotationValues = ["none", "ro", "rw", "minimal", "proc", "tmpfs", "proc,tmpfs", "proc;tmpfs", "shm",
                                   "cgroup", "devpts,mqueue,sysfs", "proc,sysfs,tmpfs,devpts,mqueue,shm,cgroup",
                                   "/etc,/usr", "/etc/passwd", "/..", "/etc/../..", "relative", "/nonexistent", ",",
                                   ",,", " , ", "65534", "0", "1:1", "0:0", "4294967295:4294967295", "4294967296",
                                   ":", "1:", "1:2:3", "-1", "tcp:0.0.0.0:80"]
    static let mountTypes = ["bind", "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2", "", "overlay", "none", "shm"]
    static let mountOptions = ["", "=", "==", "=x", "ro", "rw", "rbind", "bind", "nosuid", "nodev", "noexec", "size=1",
                               "size=-1", "size=99999999999999999999", "mode=1777", "mode=99999", "mode=", "uid=0",
                               "uid=4294967295", "uid=4294967296", "gid=-1", "gid=", "uid", "rro", "rnosuid", "rprivate",
                               "shared", "rslave", "nosymfollow", "idmap", "newinstance", "ptmxmode=0666", "x=y=z"]
    static let mountDestinations = ["/tmp", "/dev/shm", "/proc", "/sys", "/dev/pts", "/dev/mqueue", "/sys/fs/cgroup",
                                    "/", "/a/b/c", "/etc/passwd", "/usr/bin/voidfuzz-true", "/dev/./shm/", "//tmp"]
    static let rlimitTypes = ["RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE", "RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_STACK",
                              "RLIMIT_MEMLOCK", "RLIMIT_RTPRIO", "RLIMIT_NICE", "RLIMIT_BOGUS", "", "nofile"]
    static let capabilities = ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_RAW", "CAP_KILL", "CAP_CHECKPOINT_RESTORE",
                               "CAP_BPF", "CAP_PERFMON", "CAP_LAST_CAP", "CAP_ALL", "", "cap_chown", "CAP_41", "CAP_64"]
    static let namespaceTypes = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time", "net", "", "bogus"]
    static let namespacePaths = ["", "/nonexistent/ns", "relative/ns", "/dev/null", "/proc/self/ns/net",
                                 "/proc/self/ns/uts", "/proc/self/ns/ipc", "/proc/self/ns/bogus"]
    static let seccompActions = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                                 "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_BOGUS", ""]
    static let seccompOps = ["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_GT", "SCMP_CMP_BOGUS", ""]
    static let syscalls = ["read", "write", "getpid", "execve", "exit_group", "mount", "bogus_call", "", "socket"]

    static func list<T>(_ rng: inout SplitMix64, _ max: Int, _ make: (inout SplitMix64) -> T) -> [T] {
        (0..<rng.below(max + 1)).map { _ in make(&rng) }
    }

    static func str(_ rng: inout SplitMix64, _ pool: [String]) -> JSON { .string(rng.chance(85) ? rng.pick(pool) : string(&rng)) }
    static func num(_ rng: inout SplitMix64) -> JSON { .number(number(&rng)) }
    static func maybe(_ rng: inout SplitMix64, _ v: JSON) -> JSON { rng.chance(85) ? v : value(&rng) }

    /// Where voidoci reads values the most: annotations, mounts, rlimits, capabilities,
    /// namespaces, id mappings, seccomp, cgroupsPath, resources, the process.
    static func targeted(_ c: inout JSON, _ rng: inout SplitMix64) {
        switch rng.below(15) {
        case 0, 1:
            c.set(["annotations", rng.pick(annotationKeys)], maybe(&rng, str(&rng, annotationValues)))
        case 2, 3:
            var m: [(String, JSON)] = [("destination", str(&rng, mountDestinations)), ("type", str(&rng, mountTypes))]
            if rng.chance(80) { m.append(("source", str(&rng, ["tmpfs", "proc", fxBundleSentinel, "/tmp", "/dev/null", "/nonexistent", "", "relative"]))) }
            if rng.chance(85) { m.append(("options", .array(list(&rng, 5) { str(&$0, mountOptions) }))) }
            if rng.chance(10) { m.append(("uidMappings", .array([.object([("containerID", num(&rng)), ("hostID", num(&rng)), ("size", num(&rng))])]))) }
            var mounts: [JSON] = []
            if case .array(let a)? = c["mounts"] { mounts = a }
            mounts.insert(.object(m), at: rng.below(mounts.count + 1))
            c["mounts"] = maybe(&rng, .array(mounts))
            if rng.chance(60) { c.set(["annotations", "org.voidoci.mounts"], str(&rng, annotationValues)) }
        case 4:
            c.set(["process", "rlimits"], maybe(&rng, .array(list(&rng, 3) { r in
                .object([("type", str(&r, rlimitTypes)), ("hard", num(&r)), ("soft", num(&r))])
            })))
        case 5:
            c.set(["process", "capabilities", rng.pick(["bounding", "effective", "permitted", "inheritable", "ambient"])],
                  maybe(&rng, .array(list(&rng, 4) { str(&$0, capabilities) })))
        case 6:
            c.set(["linux", "namespaces"], maybe(&rng, .array(list(&rng, 9) { r in
                var ns: [(String, JSON)] = [("type", str(&r, namespaceTypes))]
                if r.chance(30) { ns.append(("path", str(&r, namespacePaths))) }
                return .object(ns)
            })))
        case 7:
            for key in rng.chance(50) ? ["uidMappings", "gidMappings"] : [rng.pick(["uidMappings", "gidMappings"])] {
                c.set(["linux", key], maybe(&rng, .array(list(&rng, 3) { r in
                    .object([("containerID", num(&r)), ("hostID", num(&r)), ("size", num(&r))])
                })))
            }
        case 8:
            var s: [(String, JSON)] = [("defaultAction", str(&rng, seccompActions))]
            if rng.chance(30) { s.append(("defaultErrnoRet", num(&rng))) }
            if rng.chance(50) { s.append(("architectures", .array(list(&rng, 3) { str(&$0, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_BOGUS", ""]) }))) }
            if rng.chance(30) { s.append(("flags", .array(list(&rng, 2) { str(&$0, ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC", "X"]) }))) }
            s.append(("syscalls", .array(list(&rng, 4) { r in
                var rule: [(String, JSON)] = [("names", .array(list(&r, 3) { str(&$0, syscalls) })), ("action", str(&r, seccompActions))]
                if r.chance(30) { rule.append(("errnoRet", num(&r))) }
                if r.chance(50) {
                    rule.append(("args", .array(list(&r, 3) { a in
                        .object([("index", num(&a)), ("value", num(&a)), ("valueTwo", num(&a)), ("op", str(&a, seccompOps))])
                    })))
                }
                return .object(rule)
            })))
            c.set(["linux", "seccomp"], maybe(&rng, .object(s)))
        case 9:
            c.set(["linux", "cgroupsPath"], str(&rng, ["", "/", "//", "/.", ".", "..", "a/../b", "x:y:z", "/voidoci-fuzz/a", "relative/leaf"]))
        case 10:
            var r: [(String, JSON)] = []
            if rng.chance(50) { r.append(("memory", .object([("limit", num(&rng)), ("swap", num(&rng))]))) }
            if rng.chance(50) { r.append(("pids", .object([("limit", num(&rng))]))) }
            if rng.chance(50) { r.append(("cpu", .object([("shares", num(&rng)), ("quota", num(&rng)), ("period", num(&rng)), ("cpus", str(&rng, ["0", "0-1", "0-100000", "", "x"]))]))) }
            if rng.chance(30) {
                r.append(("devices", .array(list(&rng, 3) { d in
                    .object([("allow", .bool(d.chance(50))), ("type", str(&d, ["a", "c", "b", "x", ""])), ("major", num(&d)), ("minor", num(&d)), ("access", str(&d, ["rwm", "r", "", "xyz"]))])
                })))
            }
            c.set(["linux", "resources"], maybe(&rng, .object(r)))
        case 11:
            let field = rng.pick(["uid", "gid", "umask", "additionalGids"])
            c.set(["process", "user", field], field == "additionalGids" ? .array(list(&rng, 3) { num(&$0) }) : num(&rng))
        case 12:
            switch rng.below(7) {
            case 0: c.set(["process", "cwd"], .string(string(&rng)))
            case 1: c.set(["process", "env"], .array(list(&rng, 4) { .string(string(&$0)) } + [.string("PATH=/usr/bin")]))
            case 2: c.set(["process", "args"], .array([.string(rng.pick([FuzzFixture.program, "voidfuzz-true", "/bin/../usr/bin/voidfuzz-true", "//usr/bin/voidfuzz-true", "/usr/bin/./voidfuzz-true", "", "/", "/usr/bin/"]))] + list(&rng, 3) { .string(string(&$0)) }))
            case 3: c.set(["process", "oomScoreAdj"], num(&rng))
            case 4: c.set([rng.pick(["hostname", "domainname"])], .string(string(&rng)))
            case 5: c.set(["process", "consoleSize"], .object([("height", num(&rng)), ("width", num(&rng))]))
            default: c.set(["process", rng.pick(["noNewPrivileges", "terminal"])], maybe(&rng, .bool(rng.chance(50))))
            }
        case 13:
            c.set(["linux", "devices"], .array(list(&rng, 3) { d in
                .object([("path", str(&d, ["/dev/null", "/dev/zero", "/dev/fuzz", "", "relative", "/dev/../etc/passwd"])),
                         ("type", str(&d, ["c", "b", "u", "p", "x", ""])), ("major", num(&d)), ("minor", num(&d))])
            }))
        default:
            c.set(["linux", rng.pick(["maskedPaths", "readonlyPaths"])], .array(list(&rng, 3) { .string(string(&$0)) }))
        }
    }

    /// Stands for the bundle directory as a bind source; replaced by `makeSafe`.
    static let fxBundleSentinel = "@bundle"

    /// What no case may do to this shared machine, whatever it asks: run a host program as a
    /// hook, join the host's mount (or another non-network) namespace, use another image than
    /// the fuzz rootfs, write files of a cgroup (unified) the kernel would apply to the host.
    static func makeSafe(_ c: inout JSON, _ fx: FuzzFixture) {
        if case .object(let stages)? = c["hooks"] {
            c["hooks"] = .object(stages.map { stage in
                guard case .array(let hooks) = stage.1 else { return stage }
                return (stage.0, .array(hooks.map { h in
                    var h = h
                    if case .string(let p)? = h["path"], !p.isEmpty, FileManager.default.isExecutableFile(atPath: p) {
                        h["path"] = .string("/nonexistent/hook")
                    }
                    return h
                }))
            })
        }
        if case .array(let list)? = c.get(["linux", "namespaces"]) {
            c.set(["linux", "namespaces"], .array(list.map { ns in
                var ns = ns
                if case .string(let p)? = ns["path"], !p.isEmpty, FileManager.default.fileExists(atPath: p) {
                    let safe: Bool
                    if case .string(let t)? = ns["type"] { safe = ["network", "ipc", "uts"].contains(t) } else { safe = false }
                    if !safe { ns["path"] = .string("/nonexistent/ns") }
                }
                return ns
            }))
        }
        if case .string(let p)? = c.get(["root", "path"]),
           ![fx.rootfs, "", "/nonexistent", "/dev/null", "relative", fx.rootfs + "/", fx.rootfs + "/.", "/" + fx.rootfs].contains(p) {
            c.set(["root", "path"], .string(fx.rootfs))
        }
        if case .array(let mounts)? = c["mounts"] {
            c["mounts"] = .array(mounts.map { m in
                var m = m
                if case .string(fxBundleSentinel)? = m["source"] { m["source"] = .string(fx.bundle) }
                return m
            })
        }
        if c.get(["linux", "resources", "unified"]) != nil {
            c.set(["linux", "resources", "unified"], .object([("pids.max", .string("max"))]))
        }
    }

    /// `run` makes the cgroup that `explain` only names: a cgroupsPath that is a path goes
    /// under this suite's own prefix, so that no case joins (and limits) a cgroup of the host.
    static func confineCgroups(_ c: inout JSON, _ fx: FuzzFixture, case n: Int) {
        guard case .string(let p)? = c.get(["linux", "cgroupsPath"]), !p.isEmpty else { return }
        let refused = p.split(separator: "/").contains("..") || (p.contains(":") && !p.hasPrefix("/"))
        if !refused { c.set(["linux", "cgroupsPath"], .string("/\(fx.cgroupPrefix)/c\(n)")) }
    }

    /// Syntax damage: bytes flipped, or the text cut short.
    static func corrupt(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = bytes
        guard !bytes.isEmpty else { return bytes }
        if rng.chance(50) {
            bytes.removeLast(rng.below(bytes.count))
        } else {
            for _ in 0..<(1 + rng.below(4)) { bytes[rng.below(bytes.count)] ^= UInt8(1 << rng.below(8)) }
        }
        return bytes
    }
}
