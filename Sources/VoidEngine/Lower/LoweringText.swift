import OCIBundle

/// `voidoci explain --lowered`: the operations as lines, or as JSON for tools.
extension Lowering.Kind {
    /// The operation's name and its arguments, in order: one source for the text and the JSON.
    public var fields: (name: String, args: [(String, JSON)]) {
        func s(_ v: String) -> JSON { .string(v) }
        func n(_ v: UInt32) -> JSON { .unsigned(UInt64(v)) }
        switch self {
        case .bindSocket(let i, let e): return ("bind-socket", [("index", .number(i)), ("entry", s(e))])
        case .superviseAccept(let m, let max): return ("supervise-accept", [("mode", s(m)), ("max", .number(max))])
        case .openImage(let p): return ("open-image", [("path", s(p))])
        case .makeImageMountPoints: return ("make-image-mount-points", [])
        case .cloneImageRoot: return ("clone-image-root", [])
        case .makeRootTmpfs(let u, let g): return ("make-root-tmpfs", [("uid", n(u)), ("gid", n(g))])
        case .cloneBindSource(let i, let src, let img, let rec, let a):
            return ("clone-bind-source", [("mount", .number(i)), ("source", s((img ? "image:" : "host:") + src)),
                                          ("recursive", .bool(rec)), ("attrs", s(a.description))])
        case .makeDeviceNode(let i, let d, let node): return ("make-device-node", [("mount", .number(i)), ("destination", s(d)), ("node", s(node))])
        case .readCopyUp(let i, let src, let n, let b):
            return ("read-copy-up", [("mount", .number(i)), ("source", s("image:" + src)), ("entries", .number(n)), ("bytes", .unsigned(b))])
        case .writeSysctl(let k, let v, let ns): return ("write-sysctl", [("key", s(k)), ("value", s(v)), ("namespace", s(ns))])
        case .makeFilesystem(let i, let t, let ns): return ("make-filesystem", [("mount", .number(i)), ("type", s(t)), ("joined-namespace", s(ns))])
        case .attachFilesystem(let i, let d): return ("attach-filesystem", [("mount", .number(i)), ("destination", s(d))])
        case .joinNamespace(let t, let p): return ("join-namespace", [("type", s(t)), ("path", s(p))])
        case .dropSupplementaryGroups: return ("drop-supplementary-groups", [])
        case .clone(let ns, let cg): return ("clone", [("new", .array(ns.map(JSON.string))), ("into-cgroup", .bool(cg))])
        case .writeIDMaps(let deny, let u, let g):
            return ("write-id-maps", [("setgroups", s(deny ? "deny" : "allow")), ("uid", s(Lowering.mapText(u))), ("gid", s(Lowering.mapText(g)))])
        case .writeOOMScoreAdj(let a): return ("write-oom-score-adj", [("value", .number(a))])
        case .release: return ("release", [])
        case .joinVoid(let userFirst): return ("join-void", [("order", s(userFirst ? "user-first" : "user-last"))])
        case .closeInheritedFDs: return ("close-inherited-fds", [])
        case .joinCgroups(let k): return ("join-cgroups", [("files", .number(k))])
        case .unshareCgroupNamespace: return ("unshare-cgroup-namespace", [])
        case .waitForRelease: return ("wait-for-release", [])
        case .openImageInChild(let p): return ("open-image", [("path", s(p))])
        case .openHostNull: return ("open-host-null", [])
        case .setHostname(let h): return ("set-hostname", [("name", s(h))])
        case .setDomainname(let d): return ("set-domainname", [("name", s(d))])
        case .loopbackUp: return ("loopback-up", [])
        case .makeMountsPrivate: return ("make-mounts-private", [])
        case .rootFromImage(let c): return ("root-from-image", [("cloned-by", s(c ? "runtime" : "child"))])
        case .rootTmpfs(let m, let u, let g): return ("root-tmpfs", [("made-by", s(m ? "runtime" : "child")), ("uid", n(u)), ("gid", n(g))])
        case .attachRoot: return ("attach-root", [])
        case .openJoinedRoot: return ("open-joined-root", [])
        case .setSetupIDs(let u, let g): return ("set-setup-ids", [("uid", n(u)), ("gid", n(g))])
        case .bind(let i, let d, let src, let img, let c, let rec, let a):
            return ("bind", [("mount", .number(i)), ("destination", s(d)), ("source", s((img ? "image:" : "host:") + src)),
                             ("cloned-by", s(c ? "runtime" : "child")), ("recursive", .bool(rec)), ("attrs", s(a.description))])
        case .symlink(let i, let d, let t): return ("symlink", [("mount", .number(i)), ("destination", s(d)), ("target", s(t))])
        case .mountFilesystem(let i, let d, let t, let o, let a, let c):
            return ("mount", [("mount", .number(i)), ("destination", s(d)), ("type", s(t)),
                              ("options", .array(o.map(JSON.string))), ("attrs", s(a.description))]
                        + (c > 0 ? [("copy-up", .number(c))] : []))
        case .mask(let i, let d): return ("mask", [("mount", .number(i)), ("destination", s(d))])
        case .readonly(let i, let d): return ("readonly", [("mount", .number(i)), ("destination", s(d))])
        case .mkdir(let i, let d): return ("mkdir", [("mount", .number(i)), ("destination", s(d))])
        case .ifAbsent(let k):
            let f = k.fields
            return (f.name + "-if-absent", f.args)
        case .makeCwd(let c): return ("make-cwd", [("path", s(c))])
        case .pauseForHooks: return ("pause-for-hooks", [])
        case .pivotRoot: return ("pivot-root", [])
        case .detachOldRoot: return ("detach-old-root", [])
        case .remountRootReadonly: return ("remount-root-readonly", [])
        case .chdir(let c): return ("chdir", [("path", s(c))])
        case .takeConsole: return ("take-console", [])
        case .keepPreservedFDs(let k): return ("keep-preserved-fds", [("count", .number(k))])
        case .takeConnection: return ("take-connection", [])
        case .openFile(let i, let e): return ("open-file", [("index", .number(i)), ("entry", s(e))])
        case .placeOpenedFiles(let first, let count): return ("place-opened-files", [("first", .number(first)), ("count", .number(count))])
        case .dieWithParent: return ("die-with-parent", [])
        case .loadConnectFilter(let d, let sends):
            return ("load-connect-filter", [("destinations", .array(d.map(JSON.string))), ("sends", .bool(sends))])
        case .superviseConnect: return ("supervise-connect", [])
        case .placeListenFDs(let first, let names): return ("place-listen-fds", [("first", .number(first)), ("names", .array(names.map(s)))])
        case .setRlimit(let name, let soft, let hard): return ("set-rlimit", [("type", s(name)), ("soft", .unsigned(soft)), ("hard", .unsigned(hard))])
        case .setUmask(let u): return ("set-umask", [("mask", s(String(u, radix: 8)))])
        case .loadSeccomp(let r): return ("load-seccomp", [("rules", .number(r))])
        case .dropBoundingCapabilities(let k): return ("drop-bounding-capabilities", [("keep", s(Explain.capNames(k)))])
        case .setGroups(let g): return ("set-groups", [("gids", .array(g.map { .unsigned(UInt64($0)) }))])
        case .setIDs(let u, let g): return ("set-ids", [("uid", n(u)), ("gid", n(g))])
        case .setCapabilities(let c):
            return ("set-capabilities", [("effective", s(Explain.capNames(c.effective))), ("permitted", s(Explain.capNames(c.permitted))),
                                         ("inheritable", s(Explain.capNames(c.inheritable))), ("ambient", s(Explain.capNames(c.ambient)))])
        case .setNoNewPrivileges: return ("set-no-new-privileges", [])
        case .resetSignals: return ("reset-signals", [])
        case .reportReady: return ("report-ready", [])
        case .waitForCommit: return ("wait-for-commit", [])
        case .waitForStart: return ("wait-for-start", [])
        case .exec(let p, let a): return ("exec", [("path", s(p)), ("args", .array(a.map(JSON.string)))])
        }
    }
}

extension Lowering {
    static func mapText(_ m: [LinuxIDMapping]) -> String { m.map { "\($0.containerID) \($0.hostID) \($0.size)" }.joined(separator: "; ") }

    public static func text(_ ops: [Op]) -> String {
        var out = ""
        for (i, op) in ops.enumerated() {
            let f = op.kind.fields
            let args = f.args.map { "\($0.0)=\(plain($0.1))" }.joined(separator: " ")
            out += "\(i)".leftPadded(3) + " " + op.actor.rawValue.padded(8) + f.name + (args.isEmpty ? "" : " " + args) + "\n"
        }
        return out
    }

    public static func json(_ ops: [Op]) -> String {
        JSON.array(ops.map { op in
            let f = op.kind.fields
            return JSON.object([("actor", .string(op.actor.rawValue)), ("op", .string(f.name))] + f.args)
        }).render() + "\n"
    }

    /// A value as text: strings bare unless they hold a space, lists comma-joined.
    static func plain(_ j: JSON) -> String {
        switch j {
        case .string(let s): return s.contains(" ") || s.isEmpty ? JSON.string(s).render() : s
        case .array(let a): return "[" + a.map(plain).joined(separator: ",") + "]"
        default: return j.render()
        }
    }
}

extension String {
    func padded(_ n: Int) -> String { self + String(repeating: " ", count: max(1, n - count)) }
    func leftPadded(_ n: Int) -> String { String(repeating: " ", count: max(0, n - count)) + self }
}
