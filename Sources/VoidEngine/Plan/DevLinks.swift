/// runtime-spec (config-linux.md, "Dev symbolic links"): after the mounts, a runtime MUST make
/// /dev/fd, /dev/stdin, /dev/stdout and /dev/stderr point into /proc/self/fd when that exists,
/// and runc also points /dev/ptmx at pts/ptmx over a granted devpts. In a void they are made only
/// where what they point to was granted (a proc mount at /proc, a devpts at /dev/pts) and where
/// /dev itself is in the void (a granted /dev tmpfs, devices, or the image root read-write),
/// never over a node or mount already there: not at all when /dev is a bind (runc leaves a
/// bound /dev alone too), and with the image root granted and no /dev tmpfs, not where the
/// image already has something at that name.
extension Planner {
    static func devLinks(_ mounts: [PlannedMount], root: VoidPlan.RootKind,
                         inImage: (String) -> Bool = { _ in false }) -> [PlannedMount] {
        if mounts.contains(where: { $0.kind == .bind && $0.destination == "/dev" }) { return [] }
        func fs(_ type: String, at dest: String) -> Bool {
            mounts.contains { $0.kind == .fs && $0.fstype == type && $0.destination == dest }
        }
        let devTmpfs = fs("tmpfs", at: "/dev")
        let devInVoid = devTmpfs || mounts.contains { $0.destination.hasPrefix("/dev/") }
        // On a read-only image root without a /dev tmpfs there is nowhere to make them.
        guard devInVoid, devTmpfs || root != .imageRO else { return [] }
        var links: [(String, String)] = []
        if fs("proc", at: "/proc") {
            links += [("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0"),
                      ("/dev/stdout", "/proc/self/fd/1"), ("/dev/stderr", "/proc/self/fd/2")]
        }
        if fs("devpts", at: "/dev/pts") { links.append(("/dev/ptmx", "pts/ptmx")) }
        return links.filter { l in
            !mounts.contains { $0.destination == l.0 } && (devTmpfs || root == .tmpfs || !inImage(l.0))
        }.map {
            PlannedMount(kind: .symlink, destination: $0.0, source: $0.1, origin: .void("runtime-spec /dev symlink"))
        }
    }
}
