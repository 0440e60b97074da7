import CVoid
import Glibc

extension Spawner {
    /// With the image root granted, missing mount points are created in the image, as runc does.
    /// Images are often root-owned with a 0555 root (podman's overlay): only the privileged
    /// caller, before any namespace exists, can create them, so it does, walking each
    /// destination component by component from the image fd and never following a link.
    /// The process's cwd too: the init works as the void's set-up ids, which may not write there.
    static func createMountPoints(_ plan: VoidPlan, imageFD: Int32) throws {
        var points = plan.mounts.filter { [.bind, .fs, .node].contains($0.kind) }
        points.append(PlannedMount(kind: .dir, destination: plan.process.cwd, source: "", isDir: true, origin: .void("process.cwd")))
        // A destination inside a filesystem mounted before it (a /dev tmpfs, the cgroup tmpfs)
        // is made there by the init, not on disk in the image under it.
        var fresh: [String] = []
        for m in points {
            defer { if m.kind == .fs { fresh.append(m.destination) } }
            if fresh.contains(where: { $0 == "/" || m.destination.hasPrefix($0 + "/") }) { continue }
            let comps = relativeDest(m.destination).split(separator: "/").map(String.init)
            guard !comps.isEmpty else { continue }
            var cur = dup(imageFD)
            defer { close(cur) }
            for (i, c) in comps.enumerated() {
                let last = i == comps.count - 1
                let wantDir = !last || m.kind == .fs || m.kind == .dir || m.isDir
                var st = stat()
                if fstatat(cur, c, &st, AT_SYMLINK_NOFOLLOW) < 0 {
                    guard errno == ENOENT else { throw VoidError.sys("mount \(m.destination) (\(m.origin.text)): destination") }
                    let r = wantDir ? mkdirat(cur, c, 0o755) : mknodat(cur, c, S_IFREG | 0o644, 0)
                    if r < 0 && errno != EEXIST { throw VoidError.sys("mount \(m.destination) (\(m.origin.text)): creating the mount point in the image") }
                } else if (st.st_mode & S_IFMT) == S_IFLNK {
                    throw VoidError("mount \(m.destination) (\(m.origin.text)): destination goes through a symlink: not allowed in a void (symlinks in mount destinations are refused)")
                }
                if last { break }
                let next = openat(cur, c, Int32(VOID_O_PATH) | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if next < 0 { throw VoidError.sys("mount \(m.destination) (\(m.origin.text)): destination") }
                close(cur)
                cur = next
            }
        }
    }
}
