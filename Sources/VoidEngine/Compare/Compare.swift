import CVoid
import Glibc
import OCIBundle

/// `voidoci compare` (docs/compare.md): the same bundle under several runtimes, observed from
/// inside by the probe (probe/probe.c, a static program bound read-only over the config's own
/// program), and from the host (the namespaces of the probe's process);
/// then the config's real process under each, for whether it worked. Every cell of the void's
/// column that differs from a container's names its cause, from the plan `explain` prints; a
/// void that shows more than its grants is flagged.
public enum Compare {
    public struct Column: Sendable {
        public var runtime: String
        public var observed: [String: String] = [:]
        public var error: String?
        public var exit: Int32?
        public var stderr: String = ""
    }

    public struct Row: Sendable {
        public var key: String
        public var values: [String]
        public var cause: String?
    }

    public struct Report: Sendable {
        public var bundle: String
        public var columns: [Column]
        public var rows: [Row]
        /// A void that shows more than its grants (a voidoci bug), and grants that expose what
        /// should not be.
        public var moreThanGranted: [String]
        public var leakyGrants: [String]
        public var notes: [String] = []
        /// What the plan says the void holds (files.count, devices.count), against which its
        /// column is checked.
        public var planned: [String: String] = [:]
    }

    /// `runc spec`'s mounts.
    static let defaultMounts: [JSONDocument.Value] = {
        func m(_ dest: String, _ type: String, _ src: String, _ opts: [String]) -> JSONDocument.Value {
            .object(["destination": .string(dest), "type": .string(type), "source": .string(src), "options": .array(opts.map { .string($0) })])
        }
        return [m("/proc", "proc", "proc", []),
                m("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
                m("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
                m("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
                m("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
                m("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"])]
    }()
    static func needsDefaultMounts(_ doc: JSONDocument) -> Bool {
        guard case .object(let top) = doc.root else { return false }
        if case .array(let m)? = top["mounts"] { return !hasProc(m) }
        return true
    }

    /// Whether config mounts hold a proc entry (without one, runc stops before the process:
    /// `compare` and `profile` then give `runc spec`'s default mounts).
    static func hasProc(_ mounts: [JSONDocument.Value]) -> Bool {
        mounts.contains { if case .object(let o) = $0, case .string("proc")? = o["type"] { return true }; return false }
    }
    static let namespaceKinds = ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup", "time"]

    /// `planFor`: the plan of a bundle directory (`explain`'s), for the config the void really ran.
    public static func run(bundle: String, runtimes: [String], probe: String, plan: VoidPlan,
                           planFor: (String) throws -> VoidPlan, progress: (String) -> Void) throws -> Report {
        let configPath = "\(bundle)/config.json"
        let doc = try JSONDocument(parsing: try readSmallBytes(configPath))
        guard access(probe, X_OK) == 0 else { throw VoidError("the probe \(probe) is missing: scripts/build.sh installs it (or set VOIDOCI_PROBE)") }
        var columns: [Column] = []
        var planned: [String: String] = [:]
        for rt in runtimes {
            var col = Column(runtime: rt)
            guard let path = which(rt) else {
                col.error = "\(rt) is not on PATH"
                progress("compare: \(rt): not found on PATH, skipped")
                columns.append(col)
                continue
            }
            progress("compare: \(rt): probing")
            do {
                let isVoid = rt.hasSuffix("voidoci")
                col.observed = try probeRun(path, bundle: bundle, doc: doc, probe: probe, program: programPath(plan)) { dir in
                    // The void's plan for the config it runs (the probe's, with runc's default
                    // mounts where the config had no /proc): what its column is checked against.
                    guard isVoid else { return }
                    let p = try planFor(dir)
                    planned = ["files.count": String(plannedFiles(p)), "devices.count": String(plannedDevices(p))]
                }
                progress("compare: \(rt): running the config's process")
                (col.exit, col.stderr) = try realRun(path, bundle: bundle, doc: doc)
            } catch {
                col.error = "\(error)"
                progress("compare: \(rt): \(error)")
            }
            columns.append(col)
        }
        var keys: [String] = []
        for c in columns { for k in c.observed.keys where !keys.contains(k) { keys.append(k) } }
        keys.sort { order($0) < order($1) || (order($0) == order($1) && $0 < $1) }
        let voidIndex = columns.firstIndex { $0.runtime.hasSuffix("voidoci") }
        let containerIndex = columns.firstIndex { !$0.runtime.hasSuffix("voidoci") && $0.error == nil }
        var rows: [Row] = []
        for k in keys {
            let values = columns.map { $0.error == nil ? ($0.observed[k] ?? "-") : "(not run)" }
            var cause: String?
            if let v = voidIndex, let c = containerIndex, values[v] != values[c], columns[v].error == nil {
                cause = Self.cause(k, plan)
            }
            rows.append(Row(key: k, values: values, cause: cause))
        }
        var more: [String] = [], leaks: [String] = []
        if let v = voidIndex, columns[v].error == nil { (more, leaks) = flags(columns[v].observed, plan, planned: planned) } else { planned = [:] }
        var report = Report(bundle: bundle, columns: columns, rows: rows, moreThanGranted: more, leakyGrants: leaks)
        report.planned = planned
        if needsDefaultMounts(doc) {
            report.notes.append("the config mounts no /proc: every runtime got runc spec's default mounts (proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys); the void honours them only as granted (org.voidoci.mounts)")
        }
        return report
    }

    /// Sections in the order the report shows them.
    static let sections = ["identity", "namespaces", "capabilities", "seccomp", "files", "sensitive", "mounts", "devices",
                           "network", "processes", "cgroup", "rlimits", "uts", "environment"]
    static func order(_ key: String) -> Int { sections.firstIndex(of: String(key.prefix { $0 != "." })) ?? sections.count }

    // MARK: running

    /// A copy of the bundle's config with `edit` applied, in a fresh directory (root.path made
    /// absolute, the process without a terminal): (the directory, its state root).
    static func scratch(_ bundle: String, _ doc: JSONDocument, rootless: Bool,
                        edit: (inout [String: JSONDocument.Value]) -> Void) throws -> String {
        var template = Array("/tmp/voidoci-compare-XXXXXX".utf8CString)
        guard let d = mkdtemp(&template) else { throw VoidError.sys("mkdtemp", "/tmp/voidoci-compare-XXXXXX") }
        let dir = String(cString: d)
        _ = chmod(dir, 0o755)
        mkdir("\(dir)/state", 0o700)
        guard case .object(var top) = doc.root else { throw VoidError("config.json: not an object") }
        if case .object(var root)? = top["root"], case .string(let p)? = root["path"], !p.hasPrefix("/") {
            root["path"] = .string(absolutePath("\(bundle)/\(p)"))
            top["root"] = .object(root)
        }
        if case .object(var process)? = top["process"] {
            process["terminal"] = .bool(false)
            top["process"] = .object(process)
        }
        // A config without /proc (voidoci's own samples) stops runc before the process runs:
        // every runtime gets `runc spec`'s default mounts then (a void honours them only as
        // granted), and the report says so.
        var mounts: [JSONDocument.Value] = []
        if case .array(let m)? = top["mounts"] { mounts = m }
        if !hasProc(mounts) { top["mounts"] = .array(defaultMounts + mounts) }
        if rootless { makeRootless(&top) }
        edit(&top)
        try writeFileAtomically("\(dir)/config.json", JSONDocument.Value.object(top).rendered)
        return dir
    }

    /// A container runtime run by an unprivileged user needs what `runc spec --rootless` gives: a
    /// user namespace mapping root to the caller (unless the config maps ids itself), no uid= or
    /// gid= mount options, no cgroup resources, and /sys bound from the host when there is no
    /// network namespace of its own to mount sysfs for. The network namespace is kept (unlike
    /// `runc spec --rootless`), as podman keeps it with `--network none`.
    static func makeRootless(_ top: inout [String: JSONDocument.Value]) {
        var linux: [String: JSONDocument.Value] = [:]
        if case .object(let l)? = top["linux"] { linux = l }
        var namespaces: [JSONDocument.Value] = []
        if case .array(let n)? = linux["namespaces"] { namespaces = n }
        func has(_ type: String) -> Bool {
            namespaces.contains { if case .object(let o) = $0, case .string(type)? = o["type"] { return true }; return false }
        }
        if !has("user") {
            namespaces.append(.object(["type": .string("user")]))
            func map(_ id: UInt32) -> JSONDocument.Value {
                .array([.object(["containerID": .number("0"), "hostID": .number(String(id)), "size": .number("1")])])
            }
            if linux["uidMappings"] == nil { linux["uidMappings"] = map(geteuid()) }
            if linux["gidMappings"] == nil { linux["gidMappings"] = map(getegid()) }
        }
        linux["namespaces"] = .array(namespaces)
        linux["resources"] = nil
        let ownNet = has("network")
        top["linux"] = .object(linux)
        guard case .array(let mounts)? = top["mounts"] else { return }
        top["mounts"] = .array(mounts.map { v in
            guard case .object(var m) = v else { return v }
            if !ownNet, case .string("sysfs")? = m["type"] {
                return .object(["destination": m["destination"] ?? .string("/sys"), "type": .string("none"), "source": .string("/sys"),
                                "options": .array(["rbind", "nosuid", "noexec", "nodev", "ro"].map { .string($0) })])
            }
            if case .array(let opts)? = m["options"] {
                m["options"] = .array(opts.filter { if case .string(let o) = $0 { return !o.hasPrefix("uid=") && !o.hasPrefix("gid=") }; return true })
            }
            return .object(m)
        })
    }

    /// Where the program really is in the image (no symlink on the way, which a void refuses as a
    /// mount destination): the executable's own bind in the plan, else its path.
    static func programPath(_ plan: VoidPlan) -> String {
        for m in plan.mounts where m.kind == .bind {
            if case .program(let why) = m.origin, why.hasPrefix("executable") { return m.destination }
        }
        return plan.process.execPath
    }

    /// The probe runs as the config's own program: bound read-only over the path the program is
    /// found at (in the image), so that each runtime shows what that program would see, and the
    /// image gains no file.
    static func probeRun(_ runtime: String, bundle: String, doc: JSONDocument, probe: String, program: String,
                         scratchMade: (String) throws -> Void) throws -> [String: String] {
        let hostEnv = hostFacts()
        var madeMountPoint: String?
        let dir = try scratch(bundle, doc, rootless: rootless(runtime)) { top in
            if case .object(var process)? = top["process"] {
                // The config's own argv[0] (resolved as for the real program, symlinks and all,
                // so the void is assembled as the plan says), which leads to the probe.
                var first = JSONDocument.Value.string(program)
                if case .array(let a)? = process["args"], let a0 = a.first { first = a0 }
                process["args"] = .array([first])
                var env: [JSONDocument.Value] = []
                if case .array(let e)? = process["env"] { env = e }
                process["env"] = .array(env + hostEnv.map { .string($0) })
                top["process"] = .object(process)
            }
            var mounts: [JSONDocument.Value] = []
            if case .array(let m)? = top["mounts"] { mounts = m }
            mounts.append(.object(["destination": .string(program), "type": .string("bind"), "source": .string(probe),
                                   "options": .array([.string("bind"), .string("ro")])]))
            top["mounts"] = .array(mounts)
            // runc and crun make the mount point in the image: removed again afterwards.
            if case .object(let root)? = top["root"], case .string(let p)? = root["path"] {
                let point = absolutePath(p.hasPrefix("/") ? p : "\(bundle)/\(p)") + program
                if access(point, F_OK) != 0 { madeMountPoint = point }
            }
        }
        defer {
            _ = removeTree(dir)
            if let p = madeMountPoint { unlink(p) }
        }
        try scratchMade(dir)
        let id = "compare-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let p = try Child.spawn([runtime, "--root", "\(dir)/state", "run", "--bundle", dir, id], stdin: true)
        defer {
            p.finish()
            _ = Child.run([runtime, "--root", "\(dir)/state", "delete", "--force", id])
        }
        var observed: [String: String] = [:]
        var text = ""
        while !text.contains("\nEND\n") && !text.hasPrefix("END\n") {
            guard let chunk = p.readStdout(timeout: 60) else { break }
            text += chunk
        }
        guard text.contains("END\n") else {
            throw VoidError("the probe did not finish: \(p.stderrText().split(separator: "\n").prefix(3).joined(separator: "; "))")
        }
        for line in text.split(separator: "\n") where line != "END" {
            guard let tab = line.firstIndex(of: "\t") else { continue }
            observed[String(line[..<tab])] = unescape(line[line.index(after: tab)...])
        }
        // The namespaces, from the host: the probe's process's against voidoci's own.
        let state = Child.run([runtime, "--root", "\(dir)/state", "state", id]).stdout
        if let pid = statePid(state) {
            for k in namespaceKinds {
                var a = [CChar](repeating: 0, count: 64), b = [CChar](repeating: 0, count: 64)
                let n1 = readlink("/proc/\(pid)/ns/\(k)", &a, 63), n2 = readlink("/proc/self/ns/\(k)", &b, 63)
                guard n1 > 0, n2 > 0 else { observed["namespaces.\(k)"] = "unknown"; continue }
                observed["namespaces.\(k)"] = String(cString: a) == String(cString: b) ? "host's" : "new"
            }
        }
        return observed
    }

    /// A container runtime run without root gets a rootless config; voidoci is rootless by itself.
    static func rootless(_ runtime: String) -> Bool { geteuid() != 0 && !runtime.hasSuffix("voidoci") }

    /// The config's own process: its exit status and the first lines of its stderr.
    static func realRun(_ runtime: String, bundle: String, doc: JSONDocument) throws -> (Int32, String) {
        let dir = try scratch(bundle, doc, rootless: rootless(runtime)) { _ in }
        defer { _ = removeTree(dir) }
        let id = "compare-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let r = Child.run([runtime, "--root", "\(dir)/state", "run", "--bundle", dir, id], timeout: 30)
        _ = Child.run([runtime, "--root", "\(dir)/state", "delete", "--force", id])
        let lines = r.stderr.split(separator: "\n").prefix(3).joined(separator: "\n")
        return (r.status, lines)
    }

    /// What the probe compares with: the host's own IPv4 addresses (to try to reach), the host's
    /// sensitive files (dev:ino, to tell them from an image's), compare's own pid and start time.
    static func hostFacts() -> [String] {
        var files: [String] = []
        for p in ["/etc/shadow", "/proc/kcore", "/sys/firmware", "/proc/sysrq-trigger", "/dev/mem", "/run/docker.sock",
                  "/var/run/docker.sock", "/run/containerd/containerd.sock", "/run/podman/podman.sock", "/root"] {
            var st = stat()
            if stat(p, &st) == 0 { files.append("\(st.st_dev):\(st.st_ino)") }
        }
        var addrs: [String] = []
        var ifs: UnsafeMutablePointer<ifaddrs>?
        if getifaddrs(&ifs) == 0 {
            var i = ifs
            while let cur = i {
                if let a = cur.pointee.ifa_addr, a.pointee.sa_family == sa_family_t(AF_INET) {
                    var buf = [CChar](repeating: 0, count: 64)
                    a.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                        var addr = sin.pointee.sin_addr
                        _ = inet_ntop(AF_INET, &addr, &buf, 64)
                    }
                    addrs.append(String(cString: buf))
                }
                i = cur.pointee.ifa_next
            }
            freeifaddrs(ifs)
        }
        return ["VOIDOCI_PROBE_HOST_FILES=\(files.joined(separator: " "))", "VOIDOCI_PROBE_HOST_ADDRS=\(addrs.joined(separator: " "))",
                "VOIDOCI_PROBE_HOST_PID=\(getpid()) \(procStat(getpid())?.1 ?? 0)"]
    }

    // MARK: causes and flags

    /// Why the void's cell differs from a container's: the void default that removed it, or
    /// the grant that added it (the plan `explain` prints).
    static func cause(_ key: String, _ plan: VoidPlan) -> String {
        let section = String(key.prefix { $0 != "." })
        let grants = plan.grantList
        func with(_ base: String, _ names: [String]) -> String {
            let g = grants.filter { g in names.contains { g.hasPrefix($0) } }
            return g.isEmpty ? base : base + "; granted by " + g.joined(separator: ", ")
        }
        switch section {
        case "files", "sensitive":
            return plan.root == .tmpfs ? with("void default: empty tmpfs root, only the program and its libraries bound", ["org.voidoci.expose", "config mount"])
                : "granted by org.voidoci.rootfs=\(plan.rootReadonly ? "ro" : "rw")"
        case "mounts": return with("void default: only the root, the program's binds and listed mounts", ["org.voidoci.mounts", "org.voidoci.expose", "config mount"])
        case "devices": return with("void default: no /dev nodes", ["org.voidoci.dev", "linux.devices"])
        case "network": return with("void default: a new network namespace with only lo", ["org.voidoci.listen", "org.voidoci.connect"])
        case "identity": return "void default: \(plan.idNote)"
        case "namespaces": return "void default: every namespace new (joined only through linux.namespaces[].path)"
        case "processes": return with("void default: a new pid namespace, and no /proc unless granted", ["org.voidoci.mounts=proc"])
        case "cgroup": return with("void default: no cgroup filesystem, and the config's limits on the void's own cgroup", ["org.voidoci.mounts=cgroup"])
        case "capabilities": return "the config's process.capabilities (held in the void's own user namespace)"
        case "seccomp": return "the config's linux.seccomp (a runtime that ignores part of it shows less)"
        case "environment": return "the config's process.env (each runtime adds its own defaults)"
        default: return "the config (explain: voidoci explain BUNDLE)"
        }
    }

    static let sensitive = ["/etc/shadow", "/proc/kcore", "/sys/firmware", "/proc/sysrq-trigger", "/dev/mem", "/run/docker.sock",
                            "/var/run/docker.sock", "/run/containerd/containerd.sock", "/run/podman/podman.sock", "/root"]

    /// What the void shows beyond its grants (a bug), and grants that expose a sensitive path.
    static func flags(_ o: [String: String], _ plan: VoidPlan, planned: [String: String]) -> ([String], [String]) {
        var more: [String] = [], leaks: [String] = []
        for p in sensitive {
            guard let v = o["sensitive.\(p)"], v.hasPrefix("readable") else { continue }
            let granted = plan.root != .tmpfs
                || plan.mounts.contains { m in m.destination == p || p.hasPrefix(m.destination == "/" ? "/" : m.destination + "/") }
            if granted {
                let by = plan.root != .tmpfs ? "org.voidoci.rootfs" : plan.grantList.first { g in g.contains(p) } ?? "a mount of the config"
                leaks.append("\(p) is readable in the void: granted by \(by)")
            } else {
                more.append("\(p) is readable in the void, and no grant binds it")
            }
        }
        let joinedNet = plan.namespaces.contains { $0.type == "network" && $0.path != nil }
        if let i = o["network.interfaces"], i != "lo", i != "none", !joinedNet {
            more.append("network interfaces \(i) in a void with a new network namespace (only lo expected)")
        }
        if let c = o["devices.count"], let n = Int(c), let p = planned["devices.count"].flatMap({ Int($0) }), n > p {
            more.append("\(n) device nodes in the void, \(p) planned")
        }
        if let c = o["files.count"], let n = Int(c), let p = planned["files.count"].flatMap({ Int($0) }), n > p {
            more.append("\(n) files visible in the void, \(p) planned (explain lists them)")
        }
        return (more, leaks)
    }

    // MARK: output

    public static func text(_ r: Report, width: Int = 100) -> String {
        var out = "voidoci compare \(r.bundle)\n"
        func name(_ c: Column) -> String { String(c.runtime.split(separator: "/").last ?? "") }
        for c in r.columns {
            if let e = c.error { out += wrap("\(name(c)): \(e)", width, indent: 2); continue }
            out += wrap("\(name(c)): " + summaryLine(c, planned: c.runtime.hasSuffix("voidoci") ? r.planned : [:]), width, indent: 2)
        }
        for n in r.notes { out += wrap("note: \(n)", width, indent: 0) }
        for m in r.moreThanGranted { out += wrap("MORE THAN GRANTED (a voidoci bug): \(m)", width, indent: 0) }
        for l in r.leakyGrants { out += wrap("LEAKY GRANT: \(l)", width, indent: 0) }
        let keyWidth = 24
        let cols = max(1, r.columns.count)
        let colWidth = max(10, (width - keyWidth) / cols - 1)
        func cell(_ s: String, _ w: Int) -> String {
            let flat = s.replacingOccurrences("\n", " ").replacingOccurrences("\t", " ")
            let t = flat.count > w ? String(flat.prefix(w - 1)) + "…" : flat
            return t + String(repeating: " ", count: max(0, w - t.count))
        }
        out += "\n" + cell("", keyWidth) + r.columns.map { cell(name($0), colWidth) }.joined(separator: " ") + "\n"
        out += String(repeating: "-", count: min(width, keyWidth + cols * (colWidth + 1))) + "\n"
        for row in r.rows {
            out += cell(row.key, keyWidth) + row.values.map { cell($0, colWidth) }.joined(separator: " ") + "\n"
            if let c = row.cause { out += "    ↳ " + cell(c, width - 6).trimmingTrailingSpaces() + "\n" }
        }
        out += "\nthe config's own process:\n"
        for c in r.columns where c.error == nil {
            out += wrap("\(name(c)): exit \(c.exit.map(String.init) ?? "?")" + (c.stderr.isEmpty ? "" : ": " + c.stderr.replacingOccurrences("\n", " | ")), width, indent: 2)
        }
        return out
    }

    /// The stable JSON of docs/compare.md.
    public static func json(_ r: Report) -> String {
        JSON.object([
            ("version", .number(1)),
            ("bundle", .string(r.bundle)),
            ("runtimes", .array(r.columns.map { c in
                .object([("name", .string(c.runtime)), ("error", c.error.map(JSON.string) ?? .null),
                         ("exit", c.exit.map { JSON.number(Int($0)) } ?? .null), ("stderr", .string(c.stderr))])
            })),
            ("rows", .array(r.rows.map { row in
                .object([("key", .string(row.key)), ("values", .array(row.values.map(JSON.string))), ("cause", row.cause.map(JSON.string) ?? .null)])
            })),
            ("moreThanGranted", .array(r.moreThanGranted.map(JSON.string))),
            ("leakyGrants", .array(r.leakyGrants.map(JSON.string))),
            ("notes", .array(r.notes.map(JSON.string))),
            ("planned", .object(r.planned.keys.sorted().map { ($0, JSON.string(r.planned[$0] ?? "")) })),
        ]).render() + "\n"
    }

    // MARK: helpers

    /// `text` in lines of at most `width` columns, each indented by `indent`, words kept whole
    /// where they fit.
    static func wrap(_ text: String, _ width: Int, indent: Int) -> String {
        let pad = String(repeating: " ", count: indent)
        var out = "", line = ""
        for word in text.split(separator: " ") {
            var w = String(word)
            while w.count > width - indent {
                if !line.isEmpty { out += pad + line + "\n"; line = "" }
                out += pad + String(w.prefix(width - indent)) + "\n"
                w = String(w.dropFirst(width - indent))
            }
            if line.isEmpty { line = w } else if line.count + 1 + w.count <= width - indent { line += " " + w } else {
                out += pad + line + "\n"
                line = w
            }
        }
        if !line.isEmpty { out += pad + line + "\n" }
        return out
    }

    /// A JSON array of strings as podman prints it (`null` or `["a","b"]`), read leniently.
    public static func stringList(_ text: String) -> [String] {
        guard let doc = try? JSONDocument(parsing: Array(text.utf8)), case .array(let a) = doc.root else { return [] }
        return a.compactMap { if case .string(let s) = $0 { return s }; return nil }
    }

    /// A probe line's or a trace record's text: \n, \t and \\ unescaped.
    static func unescape<S: StringProtocol>(_ s: S) -> String {
        guard s.contains("\\") else { return String(s) }
        var out = "", esc = false
        for ch in s {
            if esc {
                out.append(ch == "n" ? "\n" : ch == "t" ? "\t" : ch)
                esc = false
            } else if ch == "\\" { esc = true } else { out.append(ch) }
        }
        return out
    }

    /// The pid of a runtime's `state` output (runc's, crun's, voidoci's), if positive.
    static func statePid(_ text: String) -> Int32? {
        guard let doc = try? JSONDocument(parsing: Array(text.utf8)), case .object(let o) = doc.root,
              case .number(let n)? = o["pid"], let pid = Int32(n), pid > 0 else { return nil }
        return pid
    }

    static func which(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = String(cString: getenv("PATH") ?? strdup("/usr/local/bin:/usr/bin:/bin"))
        for d in path.split(separator: ":") where access("\(d)/\(name)", X_OK) == 0 { return "\(d)/\(name)" }
        return nil
    }
}

extension JSONDocument.Value {
    var rendered: String { JSONDocument(value: self).render() }
}

extension String {
    func replacingOccurrences(_ a: String, _ b: String) -> String { split(separator: Character(a), omittingEmptySubsequences: false).joined(separator: b) }
    func trimmingTrailingSpaces() -> String { var s = self; while s.last == " " { s.removeLast() }; return s }
}
