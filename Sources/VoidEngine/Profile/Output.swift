import Glibc
import OCIBundle

/// The configs `profile` runs (traced, and the verification with only the grants), and what it
/// prints: annotations, the JSON profile, a config fragment (docs/profile.md).
extension Profile {
    public typealias Obj = [String: JSONDocument.Value]

    #if arch(x86_64)
    static let nativeArch = "SCMP_ARCH_X86_64"
    #elseif arch(arm64)
    static let nativeArch = "SCMP_ARCH_AARCH64"
    #else
    static let nativeArch = "SCMP_ARCH_NATIVE"
    #endif

    /// The traced run's config: the image root granted read-only, the kernel filesystems the
    /// config lists, the minimal devices, a tmpfs at /tmp when the image has /tmp and the config
    /// mounts nothing there (a program's scratch space, so that the traced run does what it does).
    public static func traceConfig(_ doc: JSONDocument, imageHasTmp: Bool) -> (JSONDocument, tmpfs: [String]) {
        guard case .object(var top) = doc.root else { return (doc, []) }
        var mounts = array(top["mounts"])
        if !Compare.hasProc(mounts) { mounts = Compare.defaultMounts + mounts }
        if imageHasTmp && !mounts.contains(where: { destination(of: $0) == "/tmp" }) {
            mounts.append(tmpfsMount("/tmp"))
        }
        top["mounts"] = .array(mounts)
        var kinds = Set<String>()
        for m in mounts {
            switch type(of: m) {
            case "proc": kinds.insert("proc")
            case "sysfs": kinds.insert("sysfs")
            case "devpts": kinds.insert("devpts")
            case "mqueue": kinds.insert("mqueue")
            case "tmpfs": kinds.insert(destination(of: m) == "/dev/shm" ? "shm" : "tmpfs")
            default: break
            }
        }
        var ann = object(top["annotations"])
        ann["org.voidoci.rootfs"] = .string("ro")
        ann["org.voidoci.mounts"] = .string(kinds.sorted().joined(separator: ";"))
        ann["org.voidoci.dev"] = .string("minimal")
        top["annotations"] = .object(ann)
        let tmpfs = mounts.filter { type(of: $0) == "tmpfs" }.map(destination(of:)).filter { $0 != "/dev" }
        return (JSONDocument(value: .object(top)), tmpfs)
    }

    /// The config with only the grants (and what the config already had): no image root.
    public static func grantedConfig(_ doc: JSONDocument, _ g: Grants) -> JSONDocument {
        guard case .object(var top) = doc.root else { return doc }
        var ann = object(top["annotations"])
        ann["org.voidoci.rootfs"] = nil
        for (k, v) in annotations(g, existing: ann) { ann[k] = .string(v) }
        top["annotations"] = .object(ann)
        var mounts = array(top["mounts"])
        func has(_ t: String, _ d: String) -> Bool { mounts.contains { type(of: $0) == t && destination(of: $0) == d } }
        for k in g.mounts {
            switch k {
            case "proc" where !Compare.hasProc(mounts): mounts.append(Compare.defaultMounts[0])
            case "sysfs" where !mounts.contains { type(of: $0) == "sysfs" }: mounts.append(Compare.defaultMounts[5])
            case "devpts" where !has("devpts", "/dev/pts"): mounts.append(Compare.defaultMounts[2])
            case "shm" where !has("tmpfs", "/dev/shm"): mounts.append(Compare.defaultMounts[3])
            case "mqueue" where !has("mqueue", "/dev/mqueue"): mounts.append(Compare.defaultMounts[4])
            default: break
            }
        }
        for t in g.tmpfs where !has("tmpfs", t) { mounts.append(tmpfsMount(t)) }
        top["mounts"] = .array(mounts)
        var linux = object(top["linux"])
        linux["seccomp"] = seccomp(g)
        top["linux"] = .object(linux)
        return JSONDocument(value: .object(top))
    }

    /// The org.voidoci.* annotations of the grants, lists joined with `;` (which podman, docker
    /// and ctr pass unchanged; podman splits at commas). An existing expose list is kept.
    public static func annotations(_ g: Grants, existing: Obj = [:]) -> [(String, String)] {
        var out: [(String, String)] = []
        var expose = g.expose
        if case .string(let old)? = existing["org.voidoci.expose"] {
            for p in old.split(whereSeparator: { $0 == "," || $0 == ";" }).map(String.init) where !expose.contains(p) { expose.append(p) }
        }
        if !expose.isEmpty { out.append(("org.voidoci.expose", expose.joined(separator: ";"))) }
        if !g.mounts.isEmpty { out.append(("org.voidoci.mounts", g.mounts.joined(separator: ";"))) }
        if g.devices.contains(where: { minimalDevices.contains($0) }) { out.append(("org.voidoci.dev", "minimal")) }
        if !g.grantedConnect.isEmpty { out.append(("org.voidoci.connect", g.grantedConnect.joined(separator: ";"))) }
        if !g.grantedListen.isEmpty { out.append(("org.voidoci.listen", g.grantedListen.joined(separator: ";"))) }
        return out
    }

    /// The allow-list: the calls observed and the runtime's own; anything else fails with ENOSYS
    /// (what a kernel without the call says: programs fall back, as glibc does from clone3).
    /// Only the native architecture: a 32-bit call is refused whole.
    public static func seccomp(_ g: Grants) -> JSONDocument.Value {
        .object(["defaultAction": .string("SCMP_ACT_ERRNO"), "defaultErrnoRet": .number("38"),
                 "architectures": .array([.string(nativeArch)]),
                 "syscalls": .array([.object(["names": .array(g.syscalls.map { .string($0) }), "action": .string("SCMP_ACT_ALLOW")])])])
    }

    /// The config.json fragment: the annotations, the mounts and linux entries the grants add.
    public static func configFragment(_ g: Grants) -> String {
        let granted = grantedConfig(JSONDocument(value: .object([:])), g)
        return granted.render() + "\n"
    }

    static func tmpfsMount(_ d: String) -> JSONDocument.Value {
        .object(["destination": .string(d), "type": .string("tmpfs"), "source": .string("tmpfs"),
                 "options": .array(["nosuid", "nodev", "mode=1777"].map { .string($0) })])
    }

    static func array(_ v: JSONDocument.Value?) -> [JSONDocument.Value] { if case .array(let a)? = v { return a }; return [] }
    public static func object(_ v: JSONDocument.Value?) -> Obj { if case .object(let o)? = v { return o }; return [:] }
    static func type(of m: JSONDocument.Value) -> String {
        if case .object(let o) = m, case .string(let t)? = o["type"] { return t }
        return ""
    }
    static func destination(of m: JSONDocument.Value) -> String {
        if case .object(let o) = m, case .string(let d)? = o["destination"] { return normalize(d) }
        return ""
    }

    // MARK: verification

    /// Whether the run with only the grants did what the traced run did (exit status, stdout,
    /// stderr), and if not the first difference, with the path or call that caused it: a path
    /// the traced run found and this one did not, or a call the profile denies.
    public static func difference(_ traced: Run, _ granted: Run, _ g: Grants) -> String? {
        var what: String?
        for (name, r) in [("the traced run", traced), ("the run with the grants", granted)] {
            if r.timedOut { return "\(name) was killed (--timeout)" }
            if r.truncated { return "\(name) made more path records than kept: its trace is not whole" }
            if let i = r.incomplete.first { return "\(name) is not seen whole: \(i)" }
        }
        if traced.exitStatus != granted.exitStatus {
            what = "exit status \(granted.exitStatus), traced \(traced.exitStatus)"
        } else if traced.stdout != granted.stdout {
            what = "stdout: " + firstDifference(traced.stdout, granted.stdout)
        } else if traced.stderr != granted.stderr {
            what = "stderr: " + firstDifference(traced.stderr, granted.stderr)
        }
        guard let w = what else { return nil }
        let allowed = Set(g.syscalls)
        for (nr, _) in granted.syscalls.sorted(by: { $0.key < $1.key }) where !allowed.contains(syscallName(nr)) {
            return w + "; caused by the call \(syscallName(nr)), which the profile denies"
        }
        var found = Set<String>()
        for e in traced.events where e.program && e.result >= 0 { found.insert(e.op + " " + normalize(e.path)) }
        for e in granted.events where e.program && e.result < 0 && found.contains(e.op + " " + normalize(e.path)) {
            return w + "; caused by \(syscallName(e.nr)) \(normalize(e.path)): \(errnoText(Int32(clamping: -e.result))) with the grants, found in the traced run"
        }
        // A listing shows only what is granted: the program's output may print it.
        var listed: [String] = []
        for e in traced.events where e.program && e.op == "list" && e.result > 0 {
            let p = normalize(e.path)
            if !listed.contains(p) { listed.append(p) }
        }
        if !listed.isEmpty {
            return w + "; the program lists \(listed.prefix(4).joined(separator: ", ")): a listing in a void shows only what is granted"
        }
        return w
    }

    static func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> String {
        let la = a.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let lb = b.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for i in 0..<max(la.count, lb.count) {
            let x = i < la.count ? String(decoding: la[i], as: UTF8.self) : "(none)"
            let y = i < lb.count ? String(decoding: lb[i], as: UTF8.self) : "(none)"
            if x != y { return "line \(i + 1): \"\(y.prefix(120))\", traced \"\(x.prefix(120))\"" }
        }
        return "differs"
    }

    // MARK: the JSON profile

    public struct Report {
        public var command: [String]
        public var grants: Grants
        public var traced: Run
        public var granted: Run?
        public var difference: String?
        public var merged: [String] = []
        public init(command: [String], grants: Grants, traced: Run, granted: Run?, difference: String?) {
            self.command = command
            self.grants = grants
            self.traced = traced
            self.granted = granted
            self.difference = difference
        }
    }

    public static func json(_ r: Report) -> String {
        let g = r.grants
        func strings(_ a: [String]) -> JSON { .array(a.map(JSON.string)) }
        func run(_ x: Run?) -> JSON {
            guard let x else { return .null }
            return .object([("exit", .number(Int(x.exitStatus))), ("milliseconds", .number(Int(x.seconds * 1000))),
                            ("syscalls", .number(x.syscalls.values.reduce(0, +))), ("pathEvents", .number(x.events.count))])
        }
        let seccompText = JSONDocument(value: seccomp(g)).render()
        let seccompJSON: JSON = (try? JSONDocument(parsing: Array(seccompText.utf8))).map { toJSON($0.root) } ?? .null
        return JSON.object([
            ("version", .number(1)),
            ("command", strings(r.command)),
            ("verified", .bool(r.granted != nil && r.difference == nil)),
            ("difference", r.difference.map(JSON.string) ?? .null),
            ("traced", run(r.traced)),
            ("granted", run(r.granted)),
            ("merged", strings(r.merged)),
            ("grants", .object([
                ("expose", strings(g.expose)), ("mounts", strings(g.mounts)), ("tmpfs", strings(g.tmpfs)),
                ("devices", strings(g.devices)), ("connect", strings(g.grantedConnect)), ("listen", strings(g.grantedListen)),
                ("syscalls", strings(g.syscalls)),
            ])),
            ("suggested", .object([("connect", strings(g.connect)), ("listen", strings(g.listen))])),
            ("annotations", .object(annotations(g).map { ($0.0, JSON.string($0.1)) })),
            ("seccomp", seccompJSON),
            ("evidence", .object(g.evidence.keys.sorted().map { ($0, strings(g.evidence[$0] ?? [])) })),
            ("collapses", strings(g.collapses)),
            ("notGranted", strings(g.notGranted)),
            ("imageFiles", .number(g.imageFiles)),
            ("exposedFiles", .number(g.exposedFiles)),
        ]).render() + "\n"
    }

    static func toJSON(_ v: JSONDocument.Value) -> JSON {
        switch v {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number(let n): return Int(n).map(JSON.number) ?? .string(n)
        case .string(let s): return .string(s)
        case .array(let a): return .array(a.map(toJSON))
        case .object(let o): return .object(o.keys.sorted().map { ($0, toJSON(o[$0] ?? .null)) })
        }
    }

    /// `--merge`: the grants of earlier profiles (their "grants" object) joined with these.
    public static func merge(_ g: inout Grants, with text: [UInt8], file: String) throws {
        let doc = try JSONDocument(parsing: text)
        guard case .object(let top) = doc.root, case .object(let gr)? = top["grants"] else {
            throw VoidError("--merge \(file): not a voidoci profile (no \"grants\" object)")
        }
        func list(_ k: String) throws -> [String] {
            guard let v = gr[k] else { return [] }
            guard case .array(let a) = v else { throw VoidError("--merge \(file): grants.\(k) is not an array") }
            return try a.map { guard case .string(let s) = $0 else { throw VoidError("--merge \(file): grants.\(k): not a string") }; return s }
        }
        func join(_ a: [String], _ b: [String]) -> [String] { Array(Set(a).union(b)).sorted() }
        g.expose = join(g.expose, try list("expose").filter { $0.hasPrefix("/") })
        g.mounts = join(g.mounts, try list("mounts").filter { ["proc", "sysfs", "tmpfs", "shm", "mqueue", "devpts"].contains($0) })
        g.tmpfs = join(g.tmpfs, try list("tmpfs").filter { $0.hasPrefix("/") })
        g.devices = join(g.devices, try list("devices").filter { $0.hasPrefix("/dev/") })
        g.syscalls = join(g.syscalls, try list("syscalls"))
        // Socket grants only as an earlier --grant-sockets made them (tcp/udp, not loopback).
        var earlier = Grants()
        earlier.connect = try list("connect")
        earlier.listen = try list("listen")
        grantSockets(&earlier)
        g.grantedConnect = join(g.grantedConnect, earlier.grantedConnect)
        g.grantedListen = join(g.grantedListen, earlier.grantedListen)
        // An exposed file inside an exposed directory is said once.
        g.expose = g.expose.filter { p in !g.expose.contains { p.hasPrefix($0 + "/") } }
    }
}
