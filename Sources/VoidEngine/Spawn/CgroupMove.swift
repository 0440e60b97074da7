import CVoid
import Glibc

extension Spawner {
    /// The files through which a new void's init (or an exec'd process) moves itself into the
    /// void's cgroups, first thing after the clone: in each v1 hierarchy it writes 0 to `tasks`
    /// (this thread only), and the v2 leaf is handed to clone3 (CLONE_INTO_CGROUP). voidoci never
    /// enters the void's cgroups itself: while inside, its own memory would be charged to the
    /// void, and a tight memory limit would have the kernel OOM-kill voidoci mid-create.
    ///
    /// Why not cgroup.procs: moving a whole process takes the kernel's cgroup_threadgroup_rwsem
    /// for writing, and its first writer waits for an RCU grace period, about 7 ms on the bench
    /// machine, more than half of a void's start. Moving only the current thread, and cloning
    /// into a cgroup, do not take that lock.
    ///
    /// exec has joined the void's cgroup namespace before it clones, where CLONE_INTO_CGROUP
    /// cannot name a leaf outside it, so its process writes the v2 cgroup.procs instead
    /// (`cloneIntoV2` false). Every file is opened up front, in voidoci's own namespaces: the
    /// kernel checks a write against the opener's credentials and cgroup namespace.
    /// Owns its fds: closed by `close()` (idempotent) or when the last reference goes.
    final class CgroupMove {
        private(set) var into: [Int32] = []
        private(set) var cgroupFD: Int32 = -1   // the v2 leaf for CLONE_INTO_CGROUP, or -1

        init?(_ cg: VoidCgroup?, cloneIntoV2: Bool) throws {
            guard let cg else { return nil }
            do {
                for d in cg.paths {
                    let v2 = d == cg.unified
                    if v2 && cloneIntoV2 {
                        cgroupFD = Glibc.open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                        if cgroupFD < 0 { throw VoidError.sys("joining cgroup", d) }
                    } else {
                        into.append(try Self.openFile(d, v2 ? "cgroup.procs" : "tasks"))
                    }
                }
            } catch {
                close()
                throw error
            }
        }

        static func openFile(_ dir: String, _ file: String) throws -> Int32 {
            let fd = Glibc.open("\(dir)/\(file)", O_WRONLY | O_CLOEXEC)
            if fd < 0 { throw VoidError.sys("joining cgroup", dir) }
            return fd
        }

        func close() {
            for fd in into { Glibc.close(fd) }
            if cgroupFD >= 0 { Glibc.close(cgroupFD) }
            into = []
            cgroupFD = -1
        }

        deinit { close() }
    }
}
