import CVoid
import Glibc
import SystemPackage
import OCIBundle

/// The mounts of a plan: the program's closure, exposed image paths, and config.mounts.
extension Planner {
    // MARK: mounts

    func programMounts(_ c: ProgramClosure, args0: String) -> [PlannedMount] {
        var out: [PlannedMount] = []
        for link in c.symlinks {
            out.append(PlannedMount(kind: .symlink, destination: link.path, source: link.target, sourceInImage: true,
                                    origin: .program("symlink in the image")))
        }
        for (i, f) in c.files.enumerated() {
            let why: String
            if i == 0 { why = "executable \(args0)" }
            else if f.canonical == "/etc/ld.so.cache" || f.canonical.hasPrefix("/etc/ld-musl-") { why = "the image's loader configuration" }
            else { why = "needed by \(c.executable.canonical)" }
            out.append(PlannedMount(kind: .bind, destination: f.canonical, source: f.canonical, sourceInImage: true,
                                    flags: ["ro", "nosuid", "nodev"], origin: .program(why)))
        }
        return out
    }

    func exposeMounts(_ path: String, image: ImageRoot) throws -> [PlannedMount] {
        let r: ResolvedPath
        do { r = try image.resolve(path) } catch let e as VoidError where e.errno == ENOENT || e.errno == ENOTDIR {
            // Not the errno's words: podman reads "no such file or directory" as a missing
            // program and answers exit 127 with a message of its own, hiding this one.
            throw VoidError("annotation org.voidoci.expose: \(printable(path)): the image has nothing at this path to expose")
        } catch {
            throw VoidError("annotation org.voidoci.expose: \(printable(path)): \(error)")
        }
        var out = r.symlinks.map {
            PlannedMount(kind: .symlink, destination: $0.path, source: $0.target, sourceInImage: true,
                         origin: .annotation("org.voidoci.expose"))
        }
        out.append(PlannedMount(kind: .bind, destination: r.canonical, source: r.canonical, sourceInImage: true,
                                isDir: r.kind == .directory, recursive: r.kind == .directory,
                                flags: ["ro", "nosuid", "nodev"], origin: .annotation("org.voidoci.expose")))
        return out
    }

    static let attrFlags: Set<String> = ["ro", "nosuid", "nodev", "noexec", "noatime", "nodiratime", "relatime", "strictatime", "nosymfollow"]
    static let ignoredFlags: Set<String> = ["rw", "suid", "dev", "exec", "atime", "diratime", "norelatime", "nostrictatime", "symfollow", "async", "sync"]
    static let propagation: Set<String> = ["private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"]

    /// Options of crun's own that name no filesystem option: accepted (`notmpcopyup` is the
    /// default) or listed as dropped, never handed to the kernel.
    static let crunOptions: [String: String] = [
        "copy-symlink": "copies a symlink source into the container (crun); a void binds it",
        "src-nofollow": "crun's bind-source option", "dest-nofollow": "crun's bind-destination option",
        "idmap": "idmapped mounts are not supported", "ridmap": "idmapped mounts are not supported",
    ]

    /// A bind of `config.mounts`: the source opened as the spawn will open it (a relative one
    /// from the bundle, never through a symlink), its flags, what is dropped.
    func configBind(_ m: Mount, field: String, options: [String], index i: Int, dropped: inout [Dropped]) throws -> PlannedMount {
        guard var src = m.source, !src.isEmpty else { throw VoidError("\(field).source: missing for a bind mount") }
        // An absolute source is a host path the config's writer chose, symlinks and all. A
        // relative one is the bundle's, whose rootfs is the image's: joined to the canonical
        // bundle directory and never through a symlink, so an image's link cannot redirect a
        // host mount (docs/security.md). The spawn opens it the same way again.
        let relative = !src.hasPrefix("/")
        if relative { src = "\(bundle)/\(src)" }
        var st = stat()
        let fd = void_openat2(AT_FDCWD, src, VOID_O_PATH | UInt64(O_CLOEXEC), 0,
                              relative ? VOID_RESOLVE_NO_SYMLINKS : VOID_RESOLVE_NO_MAGICLINKS)
        guard fd >= 0, fstat(fd, &st) == 0 else {
            let e = errno
            if fd >= 0 { close(fd) }
            if relative && e == ELOOP {
                throw VoidError("\(field).source: \(m.source ?? ""): a relative source is taken from the bundle and may not pass through a symlink (the bundle's rootfs is the image's): \(errnoText(e))", errno: e)
            }
            throw VoidError("\(field).source: \(src): \(errnoText(e))", errno: e)
        }
        close(fd)
        var flags: [String] = []
        for o in options {
            if Self.attrFlags.contains(o) { flags.append(o) }
            // rro, rnosuid, ...: the recursive forms, set on the whole tree of an rbind (kept as
            // written: a plain "ro" on an rbind is its top mount's only, as in runc).
            else if o.hasPrefix("r"), Self.attrFlags.contains(String(o.dropFirst())) { flags.append(o) }
            else if o.hasPrefix("r"), Self.ignoredFlags.contains(String(o.dropFirst())) { continue }
            else if o == "bind" || o == "rbind" || Self.ignoredFlags.contains(o) { continue }
            else if Self.propagation.contains(o) {
                if !o.hasSuffix("private") { dropped.append(Dropped(path: "\(field).options", reason: "\(o): mounts in a void are always private")) }
            } else {
                dropped.append(Dropped(path: "\(field).options", reason: "\(o): not supported for a bind"))
            }
        }
        return PlannedMount(kind: .bind, destination: m.destination, source: src, sourceNoSymlinks: relative,
                            isDir: (st.st_mode & S_IFMT) == S_IFDIR, recursive: m.isRecursiveBind,
                            flags: flags, origin: .config(i))
    }

    func configMount(_ m: Mount, index i: Int, grants: VoidGrants, ids: IDs, image: ImageRoot, dropped: inout [Dropped]) throws -> PlannedMount? {
        let field = "mounts[\(i)]"
        var m = m
        m.destination = normalizedPath(m.destination)
        let options = m.options ?? []
        if !(m.uidMappings ?? []).isEmpty || !(m.gidMappings ?? []).isEmpty {
            dropped.append(Dropped(path: "\(field).uidMappings", reason: "idmapped mounts are not supported: mounted without an id mapping"))
        }
        if m.isBind { return try configBind(m, field: field, options: options, index: i, dropped: &dropped) }
        let type = m.type ?? ""
        let grant: String
        switch type {
        case "tmpfs" where m.destination == "/dev/shm": grant = "shm"
        case "cgroup", "cgroup2": grant = "cgroup"
        default: grant = type
        }
        guard VoidGrants.kernelFilesystems.contains(grant) else {
            dropped.append(Dropped(path: field, reason: "\(type.isEmpty ? "a mount without type" : type) at \(m.destination): only bind mounts and the kernel filesystems of org.voidoci.mounts are honoured"))
            return nil
        }
        guard grants.mounts.contains(grant) else {
            dropped.append(Dropped(path: field, reason: "\(type) at \(m.destination): kernel filesystem not granted (org.voidoci.mounts=\(grant) grants it)"))
            return nil
        }
        var flags: [String] = []
        var fsOptions: [PlannedMount.FSOption] = []
        var copyUp = false
        for (k, o) in options.enumerated() {
            if Self.attrFlags.contains(o) { flags.append(o); continue }
            if Self.ignoredFlags.contains(o) || Self.propagation.contains(o) { continue }
            // rro, rnosuid, ...: one filesystem has no submounts; the flag is the flag.
            if o.hasPrefix("r"), Self.attrFlags.contains(String(o.dropFirst())) { flags.append(String(o.dropFirst())); continue }
            if o.hasPrefix("r"), Self.ignoredFlags.contains(String(o.dropFirst())) { continue }
            if o == "tmpcopyup" {
                if type == "tmpfs" { copyUp = true } else {
                    dropped.append(Dropped(path: "\(field).options", reason: "tmpcopyup: only a tmpfs is filled from the image (this is \(type))"))
                }
                continue
            }
            if o == "notmpcopyup" { copyUp = false; continue }
            if let why = Self.crunOptions[o] {
                dropped.append(Dropped(path: "\(field).options", reason: "\(o): \(why)"))
                continue
            }
            let kv = o.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let key = kv[0], value = kv.count == 2 ? kv[1] : nil
            // "" or "=value" names no option: an error rather than a guess, as the kernel would
            // refuse "=value" anyway (and a bind's unknown option is only dropped because a bind
            // passes no options to any filesystem).
            guard !key.isEmpty else {
                throw VoidError("\(field).options[\(k)]: \(o.debugDescription) has no name (expected NAME or NAME=VALUE)")
            }
            // uid=/gid= options name ids inside; the kernel refuses ids the namespace cannot map.
            if (key == "uid" || key == "gid"), let v = value, let id = UInt32(v),
               !(key == "uid" ? ids.mapsUID(id) : ids.mapsGID(id)) {
                dropped.append(Dropped(path: "\(field).options", reason: "\(o): id \(v) is not mapped in the void"))
                continue
            }
            fsOptions.append(.init(key: key, value: value))
        }
        // A v1 `cgroup` on a host with v1 hierarchies becomes one mount per hierarchy
        // (cgroupMounts); here it is the v2 view.
        let fstype = grant == "cgroup" ? "cgroup2" : grant == "shm" ? "tmpfs" : type
        return PlannedMount(kind: .fs, destination: m.destination, source: m.source ?? fstype, isDir: true,
                            flags: flags, fstype: fstype, fsOptions: fsOptions,
                            copyUp: copyUp ? try planCopyUp(m.destination, field: field, image: image, dropped: &dropped) : nil,
                            origin: .config(i))
    }
}
