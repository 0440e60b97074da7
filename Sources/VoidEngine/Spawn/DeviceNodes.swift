import CVoid
import Glibc
import OCIBundle

extension Spawner {
    /// The nodes of one create: a tmpfs made with fsopen/fsmount in voidoci's (initial) user
    /// namespace, never attached to voidoci's mount table, where each node is made (`make`);
    /// then a detached clone of each is taken (`cloneAll`, through a helper with a private mount
    /// namespace: void_clone_nodes) for the init to bind. The tmpfs's own fd is closed before
    /// the init is cloned (`close`); the clones are close-on-exec and the init closes each once
    /// bound: nothing of it reaches the void's program.
    final class NodeMaker {
        private var mnt: Int32
        private var made: [(op: Int, mount: PlannedMount, attrs: UInt64)] = []

        init() throws {
            mnt = void_make_node_tmpfs()
            if mnt < 0 { throw VoidError.sys("linux.devices: making voidoci's tmpfs for device nodes") }
        }

        /// mknod, owner and mode of the node of `ops[i]`, named "i" in the tmpfs.
        func make(_ m: PlannedMount, index i: Int, attrs: UInt64) throws {
            guard let n = m.node else { throw VoidError("mount \(m.destination) (\(m.origin.text)): no node planned") }
            var what: Int32 = 0
            let type = CChar(UInt8(ascii: n.type == "b" ? "b" : n.type == "p" ? "p" : "c"))
            if void_make_node(mnt, "\(i)", type, UInt32(n.major), UInt32(n.minor), n.mode, n.hostUID, n.hostGID, &what) < 0 {
                let call = what == 1 ? "mknod \(n.type) \(n.major):\(n.minor)" : what == 2 ? "chmod \(n.format4(n.mode))" : "chown \(n.hostUID):\(n.hostGID)"
                throw VoidError("\(m.origin.text): \(m.destination): \(call): \(errnoText(errno))", errno: errno)
            }
            made.append((i, m, attrs))
        }

        /// The clones, by op index, with their flags (nosuid, noexec) set; the caller closes them.
        func cloneAll() throws -> [(op: Int, tree: Int32)] {
            guard !made.isEmpty else { return [] }
            let arena = CArena()
            defer { arena.free() }
            let names = arena.stringArray(made.map { "\($0.op)" }, terminate: true)
            var fds = [Int32](repeating: -1, count: made.count)
            var failed: Int32 = -1
            if void_clone_nodes(mnt, UnsafePointer(names), Int32(made.count), &fds, &failed) < 0 {
                let e = errno
                let which = made.indices.contains(Int(failed)) ? "\(made[Int(failed)].mount.origin.text): \(made[Int(failed)].mount.destination)" : "linux.devices"
                throw VoidError("\(which): cloning the node voidoci made: \(errnoText(e))", errno: e)
            }
            var out: [(op: Int, tree: Int32)] = []
            for (k, fd) in fds.enumerated() { out.append((made[k].op, fd)) }
            for (k, fd) in fds.enumerated() where void_mount_setattr(fd, "", VOID_AT_EMPTY_PATH, made[k].attrs, 0, VOID_MS_PRIVATE) < 0 {
                let e = errno
                for o in out { Glibc.close(o.tree) }
                let m = made[k].mount
                throw VoidError("\(m.origin.text): \(m.destination): set flags \(m.flags.joined(separator: ",")): \(errnoText(e))", errno: e)
            }
            return out
        }

        func close() {
            if mnt >= 0 { Glibc.close(mnt) }
            mnt = -1
        }

        deinit { close() }
    }
}
