/// `explain`: the plan as people and tools read it. Nothing is created.
public enum Explain {
    public static func text(_ p: VoidPlan) -> String {
        var out: [String] = []
        out.append("root: \(p.root == .tmpfs ? "empty tmpfs" : "image root \(p.imagePath) (\(p.root == .imageRO ? "read-only" : "read-write"))")\(p.rootReadonly ? ", remounted read-only once filled" : "")")
        out.append("image: \(p.imagePath)")
        out.append("")
        out.append("namespaces:")
        for ns in p.namespaces {
            out.append("  " + namespaceLine(ns))
        }
        out.append("")
        out.append("user ids: \(p.idNote); setgroups \(p.setgroupsAllowed ? "allowed" : "denied")")
        for m in p.uidMap { out.append("  uid \(m.containerID) → host \(m.hostID) (\(m.size))") }
        for m in p.gidMap { out.append("  gid \(m.containerID) → host \(m.hostID) (\(m.size))") }
        out.append("hostname: \(p.hostname ?? "(joined uts namespace)")\(p.domainname.map { ", domainname: \($0)" } ?? "")")
        out.append("")
        out.append("mounts (in order):")
        for m in p.mounts { out.append("  " + mountLine(m)) }
        if !p.sysctls.isEmpty {
            out.append("")
            out.append("sysctls (applied):")
            for s in p.sysctls {
                out.append("  \(s.key) = \(s.value)   (\(Explain.sysctlWhere(s)))")
            }
        }
        if !p.listen.isEmpty {
            out.append("")
            out.append("sockets (org.voidoci.listen: bound outside, in the caller's network namespace; with --preserve-fds N, N higher):")
            for (i, l) in p.listen.enumerated() { out.append("  fd \(3 + i): \(l.entry), LISTEN_FDNAMES name \(l.name)") }
            if let a = p.accept {
                out.append("  org.voidoci.accept=\(a.mode.rawValue): a supervisor holds it and starts a fresh void per connection (at most \(a.max) at once), the connection as \(a.mode == .stdio ? "stdin/stdout" : "fd 3")")
            }
        }
        if !p.connect.isEmpty {
            out.append("")
            out.append("destinations (org.voidoci.connect: the program's connect() is carried out outside, to these only; other loopback addresses stay in the void's own network, anything else is refused with ECONNREFUSED\(ConnectFilter.interceptsSends(p.connect) ? "; sendto/sendmsg/sendmmsg to an address are checked too" : "")):")
            for d in p.connect { out.append("  \(d.entry)") }
        }
        if !p.open.isEmpty {
            out.append("")
            out.append("files (org.voidoci.open: opened outside, as the caller; after the preserved fds and the sockets):")
            for (i, f) in p.open.enumerated() { out.append("  fd \(3 + p.listen.count + i): \(f.entry)") }
        }
        out.append("")
        let pr = p.process
        out.append("process:")
        out.append("  exec \(pr.execPath) \(pr.args.dropFirst().joined(separator: " "))")
        out.append("  cwd \(pr.cwd), uid \(pr.uid), gid \(pr.gid)\(pr.additionalGids.isEmpty ? "" : ", groups \(pr.additionalGids.map(String.init).joined(separator: ","))")\(pr.umask.map { ", umask \(String($0, radix: 8))" } ?? "")")
        out.append("  capabilities: effective \(capNames(pr.capabilities.effective)); bounding \(capNames(pr.capabilities.bounding))")
        if !pr.rlimits.isEmpty { out.append("  rlimits: \(pr.rlimits.map { "\($0.name)=\($0.soft):\($0.hard)" }.joined(separator: ", "))") }
        out.append("  noNewPrivileges \(pr.noNewPrivileges), terminal \(pr.terminal), seccomp \(pr.seccomp.map { "\($0.syscalls?.count ?? 0) rules, default \($0.defaultAction.rawValue)" } ?? "none")")
        if let adj = p.oomScoreAdj { out.append("  oomScoreAdj \(adj)") }
        out.append("")
        if !p.hooks.isEmpty {
            out.append("hooks (in order):")
            for h in p.hooks {
                out.append("  \(pad("\(h.stage.rawValue)[\(h.index)]", 19)) \(h.path)\(h.args.count > 1 ? " " + h.args.dropFirst().joined(separator: " ") : "")"
                    + "\(h.timeout.map { "  (timeout \($0) s)" } ?? "")")
                out.append("  \(pad("", 19)) at \(h.stage.when); in \(h.stage.namespaces)")
            }
            out.append("")
        }
        if !p.notes.isEmpty {
            out.append("notes:")
            for n in p.notes { out.append("  \(n)") }
            out.append("")
        }
        if !p.unbound.isEmpty {
            out.append("not in this void (programs often need these; grant what this one does):")
            let width = min(30, p.unbound.map(\.path.count).max() ?? 0)
            for u in p.unbound { out.append("  \(pad(u.path, width))  \(u.why): \(u.grant)") }
            out.append("")
        }
        out.append("dropped:")
        if p.dropped.isEmpty { out.append("  (nothing)") }
        for d in p.dropped { out.append("  \(d.path): \(d.reason)") }
        return out.joined(separator: "\n") + "\n"
    }

    static func namespaceLine(_ ns: PlannedNamespace) -> String {
        "\(pad(ns.type, 8)) \(ns.path.map { "joined  \($0)" } ?? "new")   (\(ns.origin)\(ns.path == nil ? "" : ": " + Explain.joinedGrant(ns.type)))"
    }

    static func mountLine(_ m: PlannedMount) -> String {
        let what: String
        switch m.kind {
        case .bind: what = "bind    \(m.destination) ← \(m.sourceInImage ? "image:" : "host:")\(m.source)\(m.recursive ? " (recursive)" : "")"
        case .symlink: what = "symlink \(m.destination) → \(m.source)"
        case .fs: what = "\(pad(m.fstype ?? "fs", 7)) \(m.destination)\(m.fsOptions.isEmpty ? "" : " [\(m.fsOptions.map(\.text).joined(separator: ","))]")\(m.copyUp.map { ", \($0.summary)" } ?? "")"
        case .node: what = "node    \(m.destination) \(m.node?.text ?? "")"
        case .dir: what = "dir     \(m.destination)"
        case .mask: what = "mask    \(m.destination) (if present)"
        case .readonly: what = "ro      \(m.destination) (if present)"
        }
        let flags = m.flags.isEmpty ? "" : " {\(m.flags.joined(separator: ","))}"
        return "\(what)\(flags)   ← \(m.origin.text)"
    }

    /// Every decision of the plan, one line each: what `--debug` logs for create and run.
    public static func decisions(_ p: VoidPlan) -> [String] {
        var out: [String] = []
        out.append("root: \(p.root == .tmpfs ? "empty tmpfs (void default)" : "image root \(p.imagePath) \(p.root == .imageRO ? "read-only" : "read-write") (org.voidoci.rootfs)")\(p.rootReadonly ? ", remounted read-only once filled (root.readonly)" : "")")
        for ns in p.namespaces { out.append("namespace " + namespaceLine(ns).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")) }
        out.append("user ids: \(p.idNote); setgroups \(p.setgroupsAllowed ? "allowed" : "denied"); "
            + (p.uidMap.map { "uid \($0.containerID)→\($0.hostID)×\($0.size)" } + p.gidMap.map { "gid \($0.containerID)→\($0.hostID)×\($0.size)" }).joined(separator: ", "))
        for m in p.mounts { out.append("mount " + mountLine(m).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")) }
        let pr = p.process
        out.append("process: exec \(pr.execPath); uid \(pr.uid), gid \(pr.gid); capabilities effective \(capNames(pr.capabilities.effective)), bounding \(capNames(pr.capabilities.bounding)); seccomp \(pr.seccomp.map { "\($0.syscalls?.count ?? 0) rules" } ?? "none")")
        for s in p.sysctls { out.append("sysctl \(s.key) = \(s.value) (\(sysctlWhere(s)))") }
        for l in p.listen { out.append("socket \(l.entry) as \(l.name) (org.voidoci.listen)") }
        if let a = p.accept { out.append("accept \(a.mode.rawValue): a fresh void per connection, at most \(a.max) (org.voidoci.accept)") }
        for d in p.connect { out.append("destination \(d.entry) (org.voidoci.connect)") }
        for f in p.open { out.append("file \(f.entry) (org.voidoci.open)") }
        for h in p.hooks { out.append("hook \(h.stage.rawValue)[\(h.index)]: \(h.path)") }
        for n in p.notes { out.append("note: \(n)") }
        for d in p.dropped { out.append("dropped \(d.path): \(d.reason)") }
        for u in p.unbound { out.append("not in this void: \(u.path) (\(u.why)): \(u.grant)") }
        return out
    }

    static func sysctlWhere(_ s: PlannedSysctl) -> String {
        let groups = s.key == "net.ipv4.ping_group_range" ? "; only the groups the void maps" : ""
        if let path = s.joinedPath {
            return "written by voidoci in the joined \(s.namespace) namespace \(path)\(groups), as host ids"
        }
        if s.namespace == "uts" { return "set with setdomainname in the void's new uts namespace" }
        return "written by the init in the void's new \(s.namespace) namespace\(groups)"
    }

    /// What joining a namespace by path grants: everything it already holds. podman's default
    /// network is the common case: the void then has podman's interfaces and routes.
    static func joinedGrant(_ type: String) -> String {
        switch type {
        case "network":
            return "a grant: the void shares this network namespace, its interfaces and routes (podman's default network does this; podman run --network none keeps the void's network empty)"
        case "user": return "a grant: the ids this user namespace maps"
        default: return "a grant: the void shares what this namespace holds"
        }
    }

    public static func json(_ p: VoidPlan) -> String {
        let pr = p.process
        let unbound: [JSON] = p.unbound.map { u -> JSON in
            JSON.object([("path", JSON.string(u.path)), ("why", JSON.string(u.why)), ("grant", JSON.string(u.grant))])
        }
        let open: [JSON] = p.open.map { f -> JSON in JSON.object([("mode", JSON.string(f.mode.rawValue)), ("path", JSON.string(f.path))]) }
        let acceptJSON: JSON = p.accept.map { a -> JSON in JSON.object([("mode", JSON.string(a.mode.rawValue)), ("max", JSON.number(a.max))]) } ?? .null
        let listen: [JSON] = p.listen.map { l -> JSON in
            JSON.object([("entry", JSON.string(l.entry)), ("transport", JSON.string(l.transport.rawValue)), ("name", JSON.string(l.name))])
        }
        let connect: [JSON] = p.connect.map { d -> JSON in
            JSON.object([("entry", JSON.string(d.entry)), ("transport", JSON.string(d.transport.rawValue))])
        }
        let j: JSON = .object([
            ("root", .object([("kind", .string(p.root.rawValue)), ("image", .string(p.imagePath)), ("readonly", .bool(p.rootReadonly))])),
            ("namespaces", .array(p.namespaces.map { ns in
                .object([("type", .string(ns.type)), ("mode", .string(ns.path == nil ? "new" : "joined")),
                         ("path", ns.path.map(JSON.string) ?? .null), ("origin", .string(ns.origin)),
                         ("grant", ns.path == nil ? .null : .string(Explain.joinedGrant(ns.type)))])
            })),
            ("uidMappings", .array(p.uidMap.map { idmap($0) })),
            ("gidMappings", .array(p.gidMap.map { idmap($0) })),
            ("setgroups", .string(p.setgroupsAllowed ? "allow" : "deny")),
            ("idNote", .string(p.idNote)),
            ("hostname", p.hostname.map(JSON.string) ?? .null),
            ("domainname", p.domainname.map(JSON.string) ?? .null),
            ("mounts", .array(p.mounts.map(mountJSON))),
            ("process", .object([
                ("exec", .string(pr.execPath)), ("args", .array(pr.args.map(JSON.string))), ("cwd", .string(pr.cwd)),
                ("uid", .number(Int(pr.uid))), ("gid", .number(Int(pr.gid))),
                ("additionalGids", .array(pr.additionalGids.map { .number(Int($0)) })),
                ("capabilities", .object([("bounding", capArray(pr.capabilities.bounding)), ("effective", capArray(pr.capabilities.effective)),
                                          ("permitted", capArray(pr.capabilities.permitted)), ("inheritable", capArray(pr.capabilities.inheritable)),
                                          ("ambient", capArray(pr.capabilities.ambient))])),
                ("rlimits", .array(pr.rlimits.map { .object([("type", .string($0.name)), ("soft", .unsigned($0.soft)), ("hard", .unsigned($0.hard))]) })),
                ("noNewPrivileges", .bool(pr.noNewPrivileges)), ("terminal", .bool(pr.terminal)),
                ("seccomp", .bool(pr.seccomp != nil)),
            ])),
            ("hooks", .array(p.hooks.map { h in
                .object([("stage", .string(h.stage.rawValue)), ("index", .number(h.index)), ("path", .string(h.path)),
                         ("args", .array(h.args.map(JSON.string))), ("envCount", .number(h.env.count)),
                         ("timeout", h.timeout.map { JSON.number($0) } ?? .null),
                         ("namespaces", .string(h.stage.inVoid ? "void" : "runtime")),
                         ("pathResolvedIn", .string(h.stage.pathInVoid ? "void" : "runtime"))])
            })),
            ("sysctls", .array(p.sysctls.map(sysctlJSON))),
            ("listen", .array(listen)), ("accept", acceptJSON), ("connect", .array(connect)), ("open", .array(open)),
            ("notes", .array(p.notes.map(JSON.string))),
            ("dropped", .array(p.dropped.map { .object([("path", .string($0.path)), ("reason", .string($0.reason))]) })),
            ("unbound", .array(unbound)),
        ])
        return j.render() + "\n"
    }

    static func mountJSON(_ m: PlannedMount) -> JSON {
        let sourceIn = m.kind == .bind ? (m.sourceInImage ? "image" : "host") : m.kind == .node ? "voidoci" : "-"
        let type: JSON = m.fstype.map { JSON.string($0) } ?? .null
        let fields: [(String, JSON)] = [
            ("kind", .string(m.kind.rawValue)), ("destination", .string(m.destination)),
            ("source", .string(m.source)), ("sourceIn", .string(sourceIn)),
            ("type", type), ("recursive", .bool(m.recursive)),
            ("flags", .array(m.flags.map { JSON.string($0) })),
            ("options", .array(m.fsOptions.map { JSON.string($0.text) })),
            ("node", nodeJSON(m.node)), ("copyUp", copyUpJSON(m.copyUp)),
            ("origin", .string(m.origin.text)),
        ]
        return .object(fields)
    }

    static func nodeJSON(_ node: DeviceNode?) -> JSON {
        guard let n = node else { return .null }
        let fields: [(String, JSON)] = [
            ("type", .string(n.type)), ("major", .number(Int(n.major))), ("minor", .number(Int(n.minor))),
            ("mode", .number(Int(n.mode))), ("uid", .number(Int(n.uid))), ("gid", .number(Int(n.gid))),
            ("hostUID", .number(Int(n.hostUID))), ("hostGID", .number(Int(n.hostGID))),
        ]
        return .object(fields)
    }

    static func copyUpJSON(_ copy: CopyUp?) -> JSON {
        guard let c = copy else { return .null }
        let source: JSON = c.source.map { JSON.string($0) } ?? .null
        return .object([("source", source), ("entries", .number(c.entries.count)), ("bytes", .unsigned(c.bytes))])
    }

    static func sysctlJSON(_ s: PlannedSysctl) -> JSON {
        let joined: JSON = s.joinedPath.map { JSON.string($0) } ?? .null
        return .object([("key", .string(s.key)), ("value", .string(s.value)), ("namespace", .string(s.namespace)),
                        ("joinedPath", joined), ("applied", .string(sysctlWhere(s)))])
    }

    static func idmap(_ m: LinuxIDMappingLike) -> JSON {
        .object([("containerID", .number(Int(m.containerID))), ("hostID", .number(Int(m.hostID))), ("size", .number(Int(m.size)))])
    }

    static func capNames(_ mask: UInt64) -> String {
        let n = capList(mask)
        return n.isEmpty ? "none" : n.map { String($0.dropFirst(4)).lowercased() }.joined(separator: ",")
    }

    static func capList(_ mask: UInt64) -> [String] {
        Capabilities.names.enumerated().filter { mask & (1 << UInt64($0.offset)) != 0 }.map(\.element)
    }

    static func capArray(_ mask: UInt64) -> JSON { .array(capList(mask).map(JSON.string)) }

    static func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
}

import OCIBundle
typealias LinuxIDMappingLike = LinuxIDMapping

/// A minimal ordered JSON writer (keys keep their order, unlike a dictionary).
public indirect enum JSON {
    case string(String), number(Int), unsigned(UInt64), bool(Bool), null
    case array([JSON])
    case object([(String, JSON)])

    public func render() -> String {
        var out = ""
        render(into: &out)
        return out
    }

    /// Appends to one string (state.json is rendered on every create and run; joined() would
    /// also cost a scan of the binary's protocol conformances on first use).
    func render(into out: inout String) {
        switch self {
        case .string(let s): out += StateJSON.quote(s)
        case .number(let n): out += String(n)
        case .unsigned(let n): out += String(n)
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        case .array(let a):
            out += "["
            for (i, e) in a.enumerated() {
                if i > 0 { out += "," }
                e.render(into: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, (k, v)) in o.enumerated() {
                if i > 0 { out += "," }
                out += StateJSON.quote(k)
                out += ":"
                v.render(into: &out)
            }
            out += "}"
        }
    }
}
