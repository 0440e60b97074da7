import Foundation
import Testing

// What the fuzz suites (FuzzTests.swift) share: a PRNG that a seed reproduces on any machine,
// a JSON model that can write what Foundation refuses to (1e400, duplicate keys, numbers past
// UInt64), the verdict on one voidoci invocation, and the search for what a case left behind.

/// SplitMix64 (Steele, Lea and Flood, 2014). Not `SystemRandomNumberGenerator`, nor the standard
/// library's `random(in:using:)`, whose algorithm may change between Swift versions: a printed
/// seed must replay the same cases.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 0..<n, for n > 0.
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

/// A JSON document as the fuzzer writes it: numbers as text, object members in order and
/// possibly repeated, and `raw` text spliced in as is (deep nesting, broken syntax).
indirect enum JSON {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])
    case raw(String)

    var text: String {
        switch self {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .number(let n): n
        case .string(let s): JSON.quote(s)
        case .array(let a): "[" + a.map(\.text).joined(separator: ",") + "]"
        case .object(let o): "{" + o.map { JSON.quote($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        case .raw(let r): r
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    subscript(key: String) -> JSON? {
        get {
            guard case .object(let o) = self else { return nil }
            return o.last { $0.0 == key }?.1
        }
        set {
            guard case .object(var o) = self else { return }
            o.removeAll { $0.0 == key }
            if let newValue { o.append((key, newValue)) }
            self = .object(o)
        }
    }

    /// The value at a path of member names, objects made on the way where missing (or where
    /// something else stood).
    mutating func set(_ path: [String], _ value: JSON?) {
        guard let first = path.first else { if let value { self = value }; return }
        if case .object = self {} else { self = .object([]) }
        if path.count == 1 { self[first] = value; return }
        var child = self[first] ?? .object([])
        child.set(Array(path.dropFirst()), value)
        self[first] = child
    }

    func get(_ path: [String]) -> JSON? {
        var cur: JSON? = self
        for key in path { cur = cur?[key] }
        return cur
    }

    /// Every position in the tree, as child indexes from the top (members by position).
    func positions(_ prefix: [Int] = [], into out: inout [[Int]]) {
        out.append(prefix)
        switch self {
        case .array(let a): for (i, v) in a.enumerated() { v.positions(prefix + [i], into: &out) }
        case .object(let o): for (i, m) in o.enumerated() { m.1.positions(prefix + [i], into: &out) }
        default: break
        }
    }

    mutating func update(at path: ArraySlice<Int>, _ f: (inout JSON) -> Void) {
        guard let i = path.first else { f(&self); return }
        switch self {
        case .array(var a) where i < a.count:
            a[i].update(at: path.dropFirst(), f)
            self = .array(a)
        case .object(var o) where i < o.count:
            o[i].1.update(at: path.dropFirst(), f)
            self = .object(o)
        default: break
        }
    }

    /// Parses well-formed JSON (the base configs); nil on anything else.
    static func parse(_ text: String) -> JSON? {
        var p = JSONReader(bytes: Array(text.utf8))
        guard let v = p.value() else { return nil }
        p.space()
        return p.i == p.bytes.count ? v : nil
    }
}

private struct JSONReader {
    let bytes: [UInt8]
    var i = 0
    /// Cases nest up to 100,000 levels: past this the reader gives up (nil) instead of
    /// overflowing the test's stack. voidoci refuses anything past 512 anyway.
    var depth = 0
    var current: UInt8? { i < bytes.count ? bytes[i] : nil }

    mutating func space() { while let c = current, c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 { i += 1 } }

    mutating func value() -> JSON? {
        space()
        depth += 1
        defer { depth -= 1 }
        if depth > 1000 { return nil }
        switch current {
        case UInt8(ascii: "{"):
            i += 1
            var members: [(String, JSON)] = []
            space()
            if current == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                space()
                guard let key = string() else { return nil }
                space()
                guard current == UInt8(ascii: ":") else { return nil }
                i += 1
                guard let v = value() else { return nil }
                members.append((key, v))
                space()
                if current == UInt8(ascii: ",") { i += 1; continue }
                guard current == UInt8(ascii: "}") else { return nil }
                i += 1
                return .object(members)
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [JSON] = []
            space()
            if current == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                guard let v = value() else { return nil }
                items.append(v)
                space()
                if current == UInt8(ascii: ",") { i += 1; continue }
                guard current == UInt8(ascii: "]") else { return nil }
                i += 1
                return .array(items)
            }
        case UInt8(ascii: "\""): return string().map(JSON.string)
        case UInt8(ascii: "t"): i += 4; return .bool(true)
        case UInt8(ascii: "f"): i += 5; return .bool(false)
        case UInt8(ascii: "n"): i += 4; return .null
        case nil: return nil
        default:
            let start = i
            while let c = current, "+-0123456789.eE".utf8.contains(c) { i += 1 }
            return i > start ? .number(String(decoding: bytes[start..<i], as: UTF8.self)) : nil
        }
    }

    mutating func hex4() -> UInt32? {
        guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else { return nil }
        i += 4
        return v
    }

    mutating func string() -> String? {
        guard current == UInt8(ascii: "\"") else { return nil }
        i += 1
        var out: [UInt8] = []
        while let c = current, c != UInt8(ascii: "\"") {
            i += 1
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard let e = current else { return nil }
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "u"):
                guard var v = hex4() else { return nil }
                if (0xD800..<0xDC00).contains(v), current == UInt8(ascii: "\\"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    guard let low = hex4() else { return nil }
                    v = 0x10000 + ((v - 0xD800) << 10) + (low &- 0xDC00)
                }
                out += Array(String(Character(Unicode.Scalar(v) ?? "\u{FFFD}")).utf8)
            default: out.append(e)
            }
        }
        guard current != nil else { return nil }
        i += 1
        return String(decoding: out, as: UTF8.self)
    }
}

enum Fuzz {
    static let environment = ProcessInfo.processInfo.environment

    /// VOIDOCI_FUZZ_SEED (decimal or 0x hex); a fixed default so that the test command is
    /// reproducible, and a soak script varies it.
    static let seed: UInt64 = {
        guard let text = environment["VOIDOCI_FUZZ_SEED"], !text.isEmpty else { return 0x766f_6964_6f63_69 }
        if text.hasPrefix("0x") { return UInt64(text.dropFirst(2), radix: 16) ?? 0 }
        return UInt64(text) ?? 0
    }()

    static func count(_ name: String, default d: Int) -> Int { environment[name].flatMap { Int($0) } ?? d }

    /// VOIDOCI_FUZZ_ONLY=N replays case N alone (its seed depends only on the suite seed and N).
    static let only: Int? = environment["VOIDOCI_FUZZ_ONLY"].flatMap { Int($0) }

    static func cases(_ n: Int) -> [Int] { only.map { [$0] } ?? Array(0..<n) }

    /// VOIDOCI_FUZZ_VERBOSE=1 prints every case's outcome (to see what the mutations reach).
    static let verbose = environment["VOIDOCI_FUZZ_VERBOSE"] == "1"

    static func log(_ n: Int, _ what: String, _ r: Result) {
        guard verbose else { return }
        print("case \(n) \(what): exit \(r.status) \(r.stderr.prefix(200).debugDescription)")
    }

    static func rng(case n: Int, salt: UInt64) -> SplitMix64 {
        var mix = SplitMix64(seed: seed ^ salt)
        for _ in 0...(n % 7) { _ = mix.next() }
        return SplitMix64(seed: mix.next() &+ UInt64(n) &* 0xD1B5_4A32_D192_ED03)
    }

    /// Per invocation: long enough for a loaded machine, short enough to call a hang a hang.
    static let timeout = 10.0

    /// Why one voidoci invocation is not acceptable, or nil. `program` marks `run`, whose
    /// status and stderr may be the program's (a corrupted library crashing it is fine).
    /// Counts for `scripts/soak.sh`, printed as a `fault-summary:` line like FaultTests'.
    final class Tally {
        var runs = 0, leaks = 0, signals = 0, hangs = 0

        /// `verdict`, counting the invocation, a signal death and a hang.
        func verdict(_ r: Result, _ what: String, program: Bool) -> String? {
            runs += 1
            if r.timedOut { hangs += 1 } else if r.signal != nil { signals += 1 }
            return Fuzz.verdict(r, what, program: program)
        }

        func leftovers(_ found: [String]) -> [String] {
            leaks += found.count
            return found
        }

        /// `run` of the fixture's bundle as `who`, then `delete --force`: what went wrong, and
        /// what either left behind.
        func runAndDelete(_ fx: FuzzFixture, id: String, as who: As, case n: Int) -> [String] {
            var problems: [String] = []
            let run = fx.voidoci(["run", "--bundle", fx.bundle, id], as: who)
            Fuzz.log(n, "run as \(who)", run)
            if let v = verdict(run, "run as \(who)", program: true) { problems.append(v) }
            let delete = fx.voidoci(["delete", "--force", id], as: who)
            if let v = verdict(delete, "delete --force as \(who)", program: false) { problems.append(v) }
            return problems + leftovers(fx.leftovers() + fx.leftoverCgroups(id: id, case: n))
        }

        func summary(_ name: String) -> String {
            "fault-summary: \(name): runs=\(runs) kills=0 leaks=\(leaks) signals=\(signals) hangs=\(hangs)"
        }
    }

    static func verdict(_ r: Result, _ what: String, program: Bool) -> String? {
        if r.timedOut { return "\(what): no answer within \(Int(timeout)) s (a hang)" }
        if let sig = r.signal {
            let trap = sig == SIGILL || sig == SIGTRAP ? " (a Swift trap)" : ""
            return "\(what): voidoci killed by signal \(sig)\(trap): \(r.stderr.prefix(400))"
        }
        if r.stderr.contains("Fatal error:") || r.stderr.contains("Stack dump") {
            return "\(what): a Swift runtime error: \(r.stderr.prefix(400))"
        }
        if r.status == 0 { return nil }
        var stderr = r.stderr
        if program {
            // After `start` the child stage reports a failed execve on the process's own stderr
            // (CVoid/child.c: nobody reads the sync pipe then); under `run` that stderr is ours
            // too, ahead of run's own error line. It is the program's output, not a second error.
            if stderr.hasPrefix("voidoci: exec failed: "), let end = stderr.firstIndex(of: "\n") {
                stderr = String(stderr[stderr.index(after: end)...])
            }
            if !stderr.contains("voidoci:") { return nil }
        }
        let oneLine = stderr.hasPrefix("voidoci: ") && stderr.hasSuffix("\n") && !stderr.dropLast().contains("\n")
        if !oneLine { return "\(what): exit \(r.status), the error is not one line: \(r.stderr.prefix(600).debugDescription)" }
        if r.status != 1 { return "\(what): exit \(r.status) with an error (expected 1): \(r.stderr.prefix(300))" }
        return nil
    }

    /// Host mount points, one per line of mountinfo.
    static func mountPoints() -> [String] {
        (Host.read("/proc/self/mountinfo") ?? "").split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            return f.count > 4 ? String(f[4]) : nil
        }
    }

    /// Mount points that neither voidoci nor this suite makes on the host, but engines and other
    /// suites running at the same time on this shared machine do: left out of the comparison.
    static func othersMount(_ point: String, ours: String) -> Bool {
        let elsewhere = ["/var/lib/containers", "/run/containers", "/var/lib/docker", "/run/docker", "/run/netns",
                         "/run/user", "/run/containerd", "/var/lib/containerd", "/var/run/netns", "/var/run/docker"]
        if elsewhere.contains(where: { point.hasPrefix($0) }) { return true }
        return point.hasPrefix("/tmp/") && !point.hasPrefix(ours)
    }

    /// What a case left behind: state entries, processes (by the program's unique name or a
    /// voidoci naming our state root), mounts under our directory. Leftover processes are killed.
    static func leftovers(stateRoots: [String], dir: String, comm: String) -> [String] {
        var found: [String] = []
        for root in stateRoots where !Host.entries(root).isEmpty {
            found.append("state left in \(root): \(Host.entries(root))")
            // Removed here, after `delete --force` failed to, so that the next cases are
            // judged on what they leave themselves.
            for entry in Host.entries(root) { _ = Shell.run(["rm", "-rf", root + "/" + entry]) }
        }
        for entry in Host.entries("/proc") {
            guard let pid = Int32(entry), pid != getpid() else { continue }
            let name = Host.read("/proc/\(pid)/comm")?.trimmingCharacters(in: .newlines) ?? ""
            let cmdline = (Host.read("/proc/\(pid)/cmdline") ?? "").replacingOccurrences(of: "\0", with: " ")
            if name == comm || (name.hasPrefix("voidoci") && stateRoots.contains { cmdline.contains($0) }) {
                found.append("process left: \(pid) \(name) \(cmdline.prefix(200))")
                kill(pid, SIGKILL)
            }
        }
        for point in mountPoints() where point.hasPrefix(dir) || point.hasPrefix("/run/voidoci") {
            found.append("mount left: \(point)")
        }
        return found
    }
}

/// A scratch directory for one fuzz suite: a small rootfs of host binaries, a bundle, state roots
/// for root and the test user. `close()` removes all of it (and any cgroup the cases made).
final class FuzzFixture {
    let dir: String
    let rootfs: String
    let bundle: String
    let stateRoot: String
    let userStateRoot: String
    /// The program every case runs: a copy of /bin/true under a name no other process has, so a
    /// leftover is recognisable by its comm.
    static let program = "/usr/bin/voidfuzz-true"
    static let comm = "voidfuzz-true"
    let cgroupPrefix: String

    init(_ name: String) {
        dir = "/tmp/voidoci-fuzz-\(getpid())-\(name)"
        rootfs = dir + "/rootfs"
        bundle = dir + "/bundle"
        stateRoot = dir + "/state"
        userStateRoot = dir + "/state-user"
        cgroupPrefix = "voidoci-fuzz-\(getpid())"
        _ = Shell.run(["rm", "-rf", dir])
        let made = Shell.run(["bash", "\(Env.repo)/scripts/make-rootfs.sh", rootfs, "--host", "/bin/true"])
        precondition(made.status == 0, "make-rootfs: \(made.stderr)")
        _ = Shell.run(["cp", rootfs + "/usr/bin/true", rootfs + Self.program])
        for d in [bundle, stateRoot, userStateRoot] { mkdir(d, 0o755) }
        chmod(dir, 0o755)
        chmod(rootfs, 0o755)
        chmod(stateRoot, 0o700)
        chmod(userStateRoot, 0o700)
        if let uid = Env.testUID, let gid = Env.testGID { chown(userStateRoot, uid, gid) }
    }

    var hasUser: Bool { Env.hasTestUser }

    func voidoci(_ args: [String], as who: As = .root) -> Result {
        var argv = [Env.bin, "--root", who == .root ? stateRoot : userStateRoot] + args
        if who == .user {
            argv = ["/usr/bin/setpriv", "--reuid=\(Env.testUser)", "--regid=\(Env.testUser)", "--init-groups", "--"] + argv
        }
        // The fuzz checks voidoci's own error lines; run's hint after a failing program (what
        // the void lacks) is not one of them.
        return Shell.runReaped(argv, env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "VOIDOCI_NO_HINTS": "1"], timeout: Fuzz.timeout)
    }

    func writeConfig(_ bytes: [UInt8]) {
        FileManager.default.createFile(atPath: bundle + "/config.json", contents: Data(bytes))
        chmod(bundle + "/config.json", 0o644)
    }

    func leftovers() -> [String] {
        Fuzz.leftovers(stateRoots: [stateRoot, userStateRoot], dir: dir, comm: Self.comm)
    }

    /// A void id of this suite: the pid keeps it apart from other runs' (and their cgroups).
    func id(_ prefix: String, _ n: Int) -> String { "\(prefix)\(n)-\(getpid())" }

    /// Every cgroup directory a case's cgroupsPath made under our prefix, and the default
    /// voidoci/ID leaves of our ids that a failed create or delete left, deepest first.
    func removeCgroups() {
        _ = Shell.run(["bash", "-c", "find /sys/fs/cgroup -depth -mindepth 2 -type d \\( -path '*/\(cgroupPrefix)*' -o -path '*/voidoci/f[iz][0-9]*-\(getpid())' \\) -exec rmdir {} + 2>/dev/null; true"])
    }

    /// Every hierarchy's mount point (a v1 hierarchy, or v2's: `unified` on a hybrid host).
    static let hierarchies: [String] = {
        let top = "/sys/fs/cgroup"
        if Host.exists(top + "/cgroup.controllers") { return [top] }
        return Host.entries(top).map { top + "/" + $0 }
    }()

    /// The cgroup a case's void had (default voidoci/ID, or the confined cgroupsPath) where it
    /// is still there after `delete --force`.
    func leftoverCgroups(id: String, case n: Int) -> [String] {
        Self.hierarchies.flatMap { h in ["\(h)/voidoci/\(id)", "\(h)/\(cgroupPrefix)/c\(n)"] }.filter(Host.exists)
            .map { "cgroup left: \($0)" }
    }

    func close() {
        for root in [stateRoot, userStateRoot] {
            for id in Host.entries(root) { _ = voidoci(["delete", "--force", id], as: root == stateRoot ? .root : .user) }
        }
        _ = leftovers()
        removeCgroups()
        _ = Shell.run(["rm", "-rf", dir])
    }
}
