import Glibc

/// What a void does not have that programs often need, with the grant that would give it: the
/// standard library of an interpreter it runs, the devices, /proc, a writable /tmp, the data
/// a program reads by name (users, certificates, time zones). `explain` lists them; `run` prints
/// them when the program fails, so that "No such file or directory" comes with its cure.
/// Only what exists in the image is named, and nothing the void already has.
public struct Unbound: Equatable, Sendable {
    public var path: String     // where the program would look for it
    public var why: String      // what it is
    public var grant: String    // what gives it
}

extension Planner {
    /// Interpreters by the name of the executable voidoci binds, and the trees they read.
    static let interpreterTrees: [(prefix: String, what: String, dirs: [String])] = [
        ("python", "standard library", ["/usr/lib/python3", "/usr/local/lib/python3"]),   // + /usr/lib/pythonX.Y, below
        ("perl", "modules", ["/usr/share/perl", "/usr/share/perl5", "/usr/lib/x86_64-linux-gnu/perl", "/usr/lib/x86_64-linux-gnu/perl5",
                             "/usr/lib/x86_64-linux-gnu/perl-base", "/usr/lib/aarch64-linux-gnu/perl", "/usr/lib/aarch64-linux-gnu/perl-base", "/etc/perl"]),
        ("ruby", "standard library", ["/usr/lib/ruby", "/usr/local/lib/ruby"]),
        ("node", "modules", ["/usr/share/nodejs", "/usr/lib/node_modules", "/usr/local/lib/node_modules"]),
        ("java", "runtime", ["/usr/lib/jvm"]),
        ("php", "library", ["/usr/share/php", "/etc/php"]),
        ("lua", "modules", ["/usr/share/lua", "/usr/lib/x86_64-linux-gnu/lua"]),
        ("tclsh", "library", ["/usr/share/tcltk"]),
    ]

    /// Data files and trees programs open by name, whatever their language.
    static let commonData: [(path: String, why: String)] = [
        ("/etc/passwd", "user names (getpwuid, whoami, ls -l)"),
        ("/etc/group", "group names"),
        ("/etc/nsswitch.conf", "how names are looked up"),
        ("/etc/hosts", "host names"),
        ("/etc/ssl/certs", "CA certificates (TLS clients)"),
        ("/usr/share/zoneinfo", "time zones"),
        ("/etc/localtime", "the local time zone"),
        ("/usr/lib/locale", "locales"),
    ]

    func unboundHints(image: ImageRoot, root: VoidPlan.RootKind, mounts: [PlannedMount]) -> [Unbound] {
        func covered(_ path: String) -> Bool {
            mounts.contains { m in
                guard m.kind == .bind || m.kind == .fs else { return false }
                return m.destination == path || (m.isDir || m.kind == .fs) && path.hasPrefix(m.destination == "/" ? "/" : m.destination + "/")
            }
        }
        var out: [Unbound] = []
        func add(_ path: String, _ why: String, _ grant: String) {
            if !covered(path), !out.contains(where: { $0.path == path }) { out.append(Unbound(path: path, why: why, grant: grant)) }
        }
        if root == .tmpfs {
            let programs = mounts.filter { if case .program = $0.origin { return $0.kind == .bind } else { return false } }
                .map { $0.destination.split(separator: "/").last.map(String.init) ?? "" }
            for name in programs {
                for t in Self.interpreterTrees where name.hasPrefix(t.prefix) && !name.hasSuffix(".so") && !name.contains(".so.") {
                    var dirs = t.dirs
                    if t.prefix == "python" {
                        // python3.11 reads /usr/lib/python3.11; plain python3 whichever the image has.
                        let version = name.dropFirst("python".count)
                        for base in ["/usr/lib", "/usr/local/lib"] {
                            for entry in image.listDirectory(base).sorted()
                            where entry.hasPrefix("python") && entry != "python3" && (version.contains(".") ? entry == name : entry.hasPrefix(name)) {
                                dirs.insert("\(base)/\(entry)", at: 0)
                            }
                        }
                    }
                    for d in dirs where (try? image.resolve(d))?.kind == .directory {
                        add(d, "\(name)'s \(t.what)", "org.voidoci.expose=\(d)")
                    }
                }
            }
            for (path, why) in Self.commonData where image.exists(path) {
                add(path, why, "org.voidoci.expose=\(path)")
            }
        }
        if !covered("/dev/null") {
            add("/dev/null", "/dev/null, zero, full, random, urandom, tty (a shell's 2>/dev/null, most runtimes' stdio)", "org.voidoci.dev=minimal")
        }
        if !covered("/proc/self") {
            add("/proc", "/proc (ps, /proc/self/exe, /proc/self/fd)", "org.voidoci.mounts=proc, with a proc entry in mounts (podman's config has one)")
        }
        if !covered("/tmp/x") && root != .imageRW {
            add("/tmp", "a writable /tmp", "org.voidoci.mounts=tmpfs, with a tmpfs entry at /tmp in mounts (podman run --tmpfs /tmp)")
        }
        return out
    }
}
