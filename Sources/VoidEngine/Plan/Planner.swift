import CVoid
import Glibc
import SystemPackage
import OCIBundle

/// Spec → VoidPlan: the translation rules of docs/void.md in one place. Reads the image (to find the
/// program and its libraries) and stats host paths; changes nothing.
public struct Planner {
    public var spec: Spec
    public var bundle: String
    public var caller: Caller
    /// Compute `VoidPlan.unbound` (what programs often need and the void lacks): for explain,
    /// --debug and a failed run, not on a create's hot path.
    public var hints = false

    /// Every namespace a void has, in the order they are reported.
    public static let namespaceTypes = ["user", "mount", "pid", "network", "ipc", "uts", "cgroup", "time"]

    public init(spec: Spec, bundle: String, caller: Caller) {
        self.spec = spec
        self.bundle = bundle
        self.caller = caller
    }

    public func plan() throws -> VoidPlan {
        let problems = validate(spec)
        if !problems.isEmpty {
            throw VoidError("config.json: " + problems.map(\.description).joined(separator: "; "))
        }
        let grants = try VoidGrants(annotations: spec.annotations ?? [:])
        guard let process = spec.process else { throw VoidError("config.json: process: missing (required by create)") }
        guard let rootSpec = spec.root else { throw VoidError("config.json: root: missing") }
        let imagePath = try canonicalDirectory(rootSpec.path.hasPrefix("/") ? rootSpec.path : "\(bundle)/\(rootSpec.path)",
                                               field: "root.path")
        let image = try ImageRoot(path: imagePath)
        var dropped: [Dropped] = []

        let namespaces = planNamespaces()
        let ids = try planIDs(process: process, grants: grants, namespaces: namespaces)
        if ids.joined {
            for (field, maps) in [("linux.uidMappings", spec.linux?.uidMappings), ("linux.gidMappings", spec.linux?.gidMappings)]
            where !(maps ?? []).isEmpty {
                dropped.append(Dropped(path: field, reason: "the user namespace is joined: its own maps apply"))
            }
        }
        let utsJoined = namespaces.first { $0.type == "uts" }?.path != nil
        var hostname: String? = spec.hostname ?? "void"
        // A new uts namespace starts with the host's names: both are always set, so nothing
        // of the host shows ("(none)" is what a fresh kernel reports for no domain).
        var domainname: String? = spec.domainname ?? "(none)"
        if utsJoined {
            if spec.hostname != nil { dropped.append(Dropped(path: "hostname", reason: "the uts namespace is joined, its name is kept")) }
            if spec.domainname != nil { dropped.append(Dropped(path: "domainname", reason: "the uts namespace is joined, its name is kept")) }
            hostname = nil
            domainname = nil
        }

        let sysctls = try planSysctls(namespaces: namespaces)
        // kernel.domainname in the void's own uts namespace is what setdomainname sets (a sysctl
        // write there would ask for host uid 0, which an unprivileged caller is not).
        if let d = sysctls.first(where: { $0.key == "kernel.domainname" && $0.joinedPath == nil }) { domainname = d.value }

        // The program, found in the image as the image's own execvp would.
        let resolver = ImageResolver(root: image, env: process.env ?? [])
        let exe: ResolvedPath
        do {
            exe = try resolver.findExecutable(process.args?.first ?? "", cwd: process.cwd)
        }
        var mounts: [PlannedMount] = []
        var notes: [String] = []
        let rootKind: VoidPlan.RootKind = grants.rootfs == .none ? .tmpfs : (grants.rootfs == .ro ? .imageRO : .imageRW)
        if rootKind == .tmpfs {
            (mounts, notes) = try closureMounts(resolver, exe, process)
        }
        for path in grants.expose {
            mounts += try exposeMounts(path, image: image)
        }
        // config.mounts before the devices, as runc mounts them before it creates its device
        // nodes: a tmpfs at /dev (every `runc spec` config has one) would otherwise hide them.
        for (i, m) in (spec.mounts ?? []).enumerated() {
            if let pm = try configMount(m, index: i, grants: grants, ids: ids, image: image, dropped: &dropped) {
                mounts += Self.cgroupMounts(pm, requested: m.type ?? "", layout: .host)
            }
        }
        if grants.dev == .minimal {
            mounts += try minimalDeviceMounts(ids: ids)
        }
        for (i, dev) in (spec.linux?.devices ?? []).enumerated() {
            mounts.append(try deviceMount(dev, index: i, ids: ids))
        }
        mounts += Self.devLinks(mounts, root: rootKind, inImage: { image.exists($0) })
        mounts += guardMounts(grants: grants, root: rootKind, dropped: &dropped)

        dropped += droppedFields(process: process)
        let proc = try planProcess(process, exe: exe, ids: ids, dropped: &dropped, image: image)

        var plan = VoidPlan(
            imagePath: imagePath, namespaces: namespaces, uidMap: ids.uidMap, gidMap: ids.gidMap,
            setgroupsAllowed: ids.setgroups, idNote: ids.note, hostname: hostname, domainname: domainname,
            root: rootKind, rootReadonly: (rootSpec.readonly ?? false) || rootKind == .imageRO,
            mounts: mounts, process: proc, dropped: dropped, notes: notes, oomScoreAdj: process.oomScoreAdj,
            hooks: plannedHooks(), sysctls: sysctls)
        plan.listen = grants.listen
        plan.open = grants.open
        plan.connect = grants.connect
        plan.accept = grants.accept.map { AcceptPlan(mode: $0, max: grants.acceptMax ?? 64) }
        if hints { plan.unbound = unboundHints(image: image, root: rootKind, mounts: mounts) }
        return plan
    }

    /// The program and its ELF closure, bound from the image, with notes on how libraries were
    /// found.
    func closureMounts(_ resolver: ImageResolver, _ exe: ResolvedPath, _ process: Process) throws -> ([PlannedMount], [String]) {
        let closure = try resolver.closure(for: exe, cwd: process.cwd)
        var notes = closure.notes
        if closure.usesExecutableOrigin {
            notes.append("warning: a library was found through $ORIGIN in the executable's RUNPATH; the loader expands it from /proc/self/exe, which a void has only with org.voidoci.mounts=proc")
        }
        if !closure.ldLibraryPathAdditions.isEmpty {
            notes.append("warning: libraries found only through the image's /etc/ld.so.conf (the image has no ld.so.cache); the loader in the void finds them only if LD_LIBRARY_PATH lists \(closure.ldLibraryPathAdditions.joined(separator: ":"))")
        }
        return (programMounts(closure, args0: process.args?.first ?? ""), notes)
    }

    /// maskedPaths/readonlyPaths guard /proc and /sys: applied to whatever exists in the void.
    func guardMounts(grants: VoidGrants, root: VoidPlan.RootKind, dropped: inout [Dropped]) -> [PlannedMount] {
        var out: [PlannedMount] = []
        let hasKernelViews = grants.mounts.contains("proc") || grants.mounts.contains("sysfs") || root != .tmpfs
        for (field, kind, paths) in [("linux.maskedPaths", PlannedMount.Kind.mask, spec.linux?.maskedPaths),
                                     ("linux.readonlyPaths", .readonly, spec.linux?.readonlyPaths)] {
            for (i, p) in (paths ?? []).enumerated() {
                if hasKernelViews {
                    out.append(PlannedMount(kind: kind, destination: normalizedPath(p), source: "", origin: .void("\(field)[\(i)]")))
                } else {
                    dropped.append(Dropped(path: "\(field)[\(i)]", reason: "\(p) does not exist in a void without proc/sysfs"))
                }
            }
        }
        return out
    }

    // MARK: namespaces

    func planNamespaces() -> [PlannedNamespace] {
        let listed = spec.linux?.namespaces ?? []
        return Self.namespaceTypes.map { type in
            if let i = listed.firstIndex(where: { $0.type.rawValue == type }) {
                let ns = listed[i]
                return PlannedNamespace(type: type, path: ns.path.flatMap { $0.isEmpty ? nil : $0 },
                                        origin: "linux.namespaces[\(i)]")
            }
            return PlannedNamespace(type: type, path: nil, origin: "void default")
        }
    }

    // MARK: ids

    struct IDs {
        var uidMap: [LinuxIDMapping]
        var gidMap: [LinuxIDMapping]
        var setgroups: Bool
        var note: String
        var joined: Bool
        func mapsUID(_ id: UInt32) -> Bool { joined || uidMap.contains { id >= $0.containerID && UInt64(id) < UInt64($0.containerID) + UInt64($0.size) } }
        func mapsGID(_ id: UInt32) -> Bool { joined || gidMap.contains { id >= $0.containerID && UInt64(id) < UInt64($0.containerID) + UInt64($0.size) } }
    }

    func planIDs(process: Process, grants: VoidGrants, namespaces: [PlannedNamespace]) throws -> IDs {
        let uid = process.user.uid, gid = process.user.gid
        if let userNS = namespaces.first(where: { $0.type == "user" }), let path = userNS.path {
            if grants.rootID != nil { throw VoidError("annotation org.voidoci.root-id: cannot apply, the user namespace \(path) is joined") }
            return IDs(uidMap: [], gidMap: [], setgroups: false, note: "user namespace joined: its maps apply", joined: true)
        }
        let cu = spec.linux?.uidMappings ?? [], cg = spec.linux?.gidMappings ?? []
        if !cu.isEmpty || !cg.isEmpty {
            guard !cu.isEmpty else { throw VoidError("linux.uidMappings: missing while linux.gidMappings is set") }
            guard !cg.isEmpty else { throw VoidError("linux.gidMappings: missing while linux.uidMappings is set") }
            if grants.rootID != nil { throw VoidError("annotation org.voidoci.root-id: conflicts with linux.uidMappings (the config's maps are honoured)") }
            if !caller.privileged {
                // Without privilege the kernel accepts one line mapping the writer's own id.
                let ok = cu.count == 1 && cu[0].size == 1 && cu[0].hostID == caller.euid
                    && cg.count == 1 && cg[0].size == 1 && cg[0].hostID == caller.egid
                if !ok {
                    throw VoidError("linux.uidMappings: an unprivileged caller (uid \(caller.euid)) can map only its own uid and gid, one id each: operation not permitted")
                }
            }
            // setgroups stays denied unless the maps come from a privileged caller: only then
            // can groups in the void be real (the runc rule for rootless, applied always).
            return IDs(uidMap: cu, gidMap: cg, setgroups: caller.privileged, note: "linux.uidMappings/gidMappings honoured", joined: false)
        }
        // The default: exactly one id. The process's own uid/gid inside is what maps, so
        // `process.user` is always mapped; outside it is the caller, or for real root an
        // unprivileged id.
        let hostUID: UInt32, hostGID: UInt32, note: String
        if caller.isRealRoot {
            hostUID = grants.rootID?.uid ?? 65534
            hostGID = grants.rootID?.gid ?? 65534
            note = grants.rootID != nil ? "voidoci runs as root: mapped to org.voidoci.root-id" : "voidoci runs as root: mapped to the unprivileged id 65534"
        } else {
            if grants.rootID != nil { throw VoidError("annotation org.voidoci.root-id: only honoured when voidoci runs as real root (it runs as uid \(caller.euid) here)") }
            hostUID = caller.euid
            hostGID = caller.egid
            note = "mapped to the invoking user"
        }
        return IDs(uidMap: [LinuxIDMapping(containerID: uid, hostID: hostUID, size: 1)],
                   gidMap: [LinuxIDMapping(containerID: gid, hostID: hostGID, size: 1)],
                   setgroups: false, note: note, joined: false)
    }

    // MARK: process

    /// runc and crun set HOME when the config does not: the user's entry in the image's
    /// /etc/passwd, else "/".
    func withHome(_ env: [String], uid: UInt32, image: ImageRoot?) -> [String] {
        if env.contains(where: { $0.hasPrefix("HOME=") }) { return env }
        var home = "/"
        // The image's passwd is untrusted: read like every other image file (ImageRoot: resolved
        // inside the root, O_NONBLOCK, a regular file only, 1 MiB at most). Anything else (a
        // FIFO, a device, a directory, a link leading nowhere in the image) counts as no passwd
        // and HOME is "/", as runc does when it cannot read the file.
        if let image, let bytes = try? image.readFile("/etc/passwd", limit: 1 << 20) {
            let text = String(decoding: bytes, as: UTF8.self)
            for line in text.split(separator: "\n") {
                let f = line.split(separator: ":", omittingEmptySubsequences: false)
                if f.count >= 6, UInt32(f[2]) == uid, !f[5].isEmpty { home = String(f[5]); break }
            }
        }
        return env + ["HOME=\(home)"]
    }

    func planProcess(_ p: Process, exe: ResolvedPath, ids: IDs, dropped: inout [Dropped], image: ImageRoot? = nil) throws -> PlannedProcess {
        let user = p.user
        guard ids.mapsUID(user.uid) else {
            throw VoidError("process.user.uid: \(user.uid) is not mapped in the void's user namespace (maps: \(describe(ids.uidMap)))")
        }
        guard ids.mapsGID(user.gid) else {
            throw VoidError("process.user.gid: \(user.gid) is not mapped in the void's user namespace (maps: \(describe(ids.gidMap)))")
        }
        // podman writes the primary gid into additionalGids too: a no-op, not a request.
        let extra = (user.additionalGids ?? []).filter { $0 != user.gid }
        for (i, g) in extra.enumerated() where !ids.mapsGID(g) || (!ids.setgroups && !ids.joined) {
            if !ids.mapsGID(g) {
                throw VoidError("process.user.additionalGids[\(i)]: \(g) is not mapped in the void's user namespace (maps: \(describe(ids.gidMap)))")
            }
            throw VoidError("process.user.additionalGids[\(i)]: setgroups is denied in this void (it needs linux.gidMappings from a privileged caller): operation not permitted")
        }
        var rlimits: [(name: String, resource: Int32, soft: UInt64, hard: UInt64)] = []
        for r in p.rlimits ?? [] {
            guard let n = r.resource else { continue }  // validation reported it
            rlimits.append((r.type, n, r.soft, r.hard))
        }
        var caps = CapabilitySets()
        if let c = p.capabilities {
            func m(_ list: [String]?, _ set: String) -> UInt64 {
                let (mask, unsupported) = Capabilities.mask(list, lastCap: caller.lastCap)
                for u in unsupported {
                    dropped.append(Dropped(path: "process.capabilities.\(set)", reason: "\(u) is unknown to this kernel"))
                }
                return mask
            }
            caps = CapabilitySets(bounding: m(c.bounding, "bounding"), effective: m(c.effective, "effective"),
                                  permitted: m(c.permitted, "permitted"), inheritable: m(c.inheritable, "inheritable"),
                                  ambient: m(c.ambient, "ambient"))
            // The kernel raises an ambient capability only when it is both permitted and
            // inheritable; runc warns and goes on, crun skips it. `runc spec` itself lists
            // ambient capabilities with no inheritable set, so this is common, not an error.
            let unraisable = caps.ambient & ~(caps.permitted & caps.inheritable)
            if unraisable != 0 {
                for bit in 0..<64 where unraisable & (1 << UInt64(bit)) != 0 {
                    let name = Capabilities.names.indices.contains(bit) ? Capabilities.names[bit] : "capability \(bit)"
                    dropped.append(Dropped(path: "process.capabilities.ambient", reason: "\(name) is not both permitted and inheritable, so the kernel cannot raise it (runc and crun skip it too)"))
                }
                caps.ambient &= ~unraisable
            }
        }
        return PlannedProcess(
            execPath: exe.requested.hasPrefix("/") ? exe.requested : exe.canonical,
            args: p.args ?? [], env: withHome(p.env ?? [], uid: user.uid, image: image), cwd: p.cwd,
            uid: user.uid, gid: user.gid, additionalGids: extra, setGroups: ids.setgroups && !ids.joined,
            umask: user.umask, rlimits: rlimits, capabilities: caps,
            noNewPrivileges: p.noNewPrivileges ?? false, terminal: p.terminal ?? false,
            seccomp: spec.linux?.seccomp)
    }

    func droppedFields(process p: Process) -> [Dropped] {
        var d: [Dropped] = []
        let l = spec.linux
        if p.apparmorProfile != nil { d.append(Dropped(path: "process.apparmorProfile", reason: "AppArmor is not supported by voidoci")) }
        if p.selinuxLabel != nil { d.append(Dropped(path: "process.selinuxLabel", reason: "SELinux is not supported by voidoci")) }
        if l?.mountLabel != nil { d.append(Dropped(path: "linux.mountLabel", reason: "SELinux is not supported by voidoci")) }
        if p.consoleSize != nil { d.append(Dropped(path: "process.consoleSize", reason: "the console's owner (conmon, a terminal) sets the size")) }
        if let r = l?.resources {
            if r.blockIO != nil { d.append(Dropped(path: "linux.resources.blockIO", reason: "not applied by voidoci")) }
            if r.network != nil { d.append(Dropped(path: "linux.resources.network", reason: "not applied by voidoci")) }
            if r.rdma != nil { d.append(Dropped(path: "linux.resources.rdma", reason: "not applied by voidoci")) }
        }
        if let r = l?.rootfsPropagation { d.append(Dropped(path: "linux.rootfsPropagation", reason: "the void root is always private (\(r) ignored)")) }
        if l?.personality != nil { d.append(Dropped(path: "linux.personality", reason: "not supported")) }
        if l?.intelRdt != nil { d.append(Dropped(path: "linux.intelRdt", reason: "not supported")) }
        if let t = l?.timeOffsets, !t.isEmpty { d.append(Dropped(path: "linux.timeOffsets", reason: "the time namespace is created by clone3, which leaves no moment to set offsets")) }
        if p.scheduler != nil { d.append(Dropped(path: "process.scheduler", reason: "not supported")) }
        if p.ioPriority != nil { d.append(Dropped(path: "process.ioPriority", reason: "not supported")) }
        if p.execCPUAffinity != nil { d.append(Dropped(path: "process.execCPUAffinity", reason: "not supported")) }
        return d
    }

    func hookStages() -> [(String, [Hook])] {
        let h = spec.hooks
        return [("prestart", h?.prestart ?? []), ("createRuntime", h?.createRuntime ?? []),
                ("createContainer", h?.createContainer ?? []), ("startContainer", h?.startContainer ?? []),
                ("poststart", h?.poststart ?? []), ("poststop", h?.poststop ?? [])]
    }

    func describe(_ maps: [LinuxIDMapping]) -> String {
        maps.map { "\($0.containerID)→\($0.hostID)×\($0.size)" }.joined(separator: ", ")
    }
}

/// "/dev/./shm/" → "/dev/shm": one spelling per place, so a grant cannot be sidestepped.
/// (".." was refused by validation.)
func normalizedPath(_ p: String) -> String {
    FilePath(p).lexicallyNormalized().string
}

/// realpath + "is a directory", with an error that names the field.
func canonicalDirectory(_ path: String, field: String) throws -> String {
    guard let r = realpath(path, nil) else {
        throw VoidError("\(field) \(path): \(errnoText(errno))", errno: errno)
    }
    defer { free(r) }
    let s = String(cString: r)
    var st = stat()
    guard stat(s, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
        throw VoidError("\(field) \(path): not a directory", errno: ENOTDIR)
    }
    return s
}
