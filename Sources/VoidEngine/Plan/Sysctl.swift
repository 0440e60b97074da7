import CVoid
import Glibc
import OCIBundle

/// One `linux.sysctl` entry, written into the namespace it belongs to.
public struct PlannedSysctl: Equatable, Sendable {
    public var key: String              // "net.ipv4.ip_default_ttl"
    public var value: String
    public var namespace: String        // "network", "ipc" or "uts"
    /// The namespace is joined by path: voidoci writes the value there itself, before the clone,
    /// since the void's new user namespace does not own it (podman's default network). nil: the
    /// void's new namespace, written by its init.
    public var joinedPath: String?

    public var field: String { "linux.sysctl[\(StateJSON.quote(key))]" }
    /// The file below /proc: "sys/net/ipv4/ip_default_ttl".
    public var procPath: String { "sys/" + key.split(separator: ".", omittingEmptySubsequences: false).joined(separator: "/") }
}

extension Planner {
    /// runc's rule (libcontainer/configs/validate): only sysctls of a namespace the void has of
    /// its own. A void always has new ipc, network and uts namespaces unless one is joined, so
    /// what is refused is what belongs to no namespace (kernel.panic, vm.*, ...), a sysctl of a
    /// namespace joined by path that is voidoci's own (runc refuses only the network one), and
    /// kernel.hostname (the `hostname` field says it). A key with '/', an empty component or a control character names no file.
    func planSysctls(namespaces: [PlannedNamespace]) throws -> [PlannedSysctl] {
        let ipcKeys: Set<String> = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                                    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]
        func path(_ type: String) -> String? { namespaces.first { $0.type == type }?.path }
        var out: [PlannedSysctl] = []
        for key in (spec.linux?.sysctl ?? [:]).keys.sorted() {
            let value = spec.linux?.sysctl?[key] ?? ""
            let field = "linux.sysctl[\(StateJSON.quote(key))]"
            if key.isEmpty { throw VoidError("\(field): an empty name") }
            if key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
                throw VoidError("\(field): a control character in the name")
            }
            if key.contains("/") { throw VoidError("\(field): '/' in the name (write the components with '.')") }
            if key.split(separator: ".", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == ".." }) || key.contains("..") {
                throw VoidError("\(field): an empty component or \"..\" in the name")
            }
            if value.unicodeScalars.contains(where: { $0.value == 0 }) { throw VoidError("\(field): a NUL byte in the value") }
            let ns: String
            if ipcKeys.contains(key) || key.hasPrefix("fs.mqueue.") {
                ns = "ipc"
            } else if key.hasPrefix("net.") {
                ns = "network"
            } else if key == "kernel.domainname" {
                ns = "uts"
            } else if key == "kernel.hostname" {
                throw VoidError("\(field): conflicts with the hostname field (set that instead), as runc says")
            } else {
                throw VoidError("\(field): not in a namespace of the void's own (only ipc, network and uts sysctls are: kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*, kernel.domainname)")
            }
            if let p = path(ns), try isOwnNamespace(p, ns) {
                throw VoidError("\(field): not allowed in the host \(ns) namespace (\(p) is voidoci's own)")
            }
            out.append(PlannedSysctl(key: key, value: value, namespace: ns, joinedPath: path(ns)))
        }
        return out
    }

    /// runc's isHostNetNS, for every namespace a sysctl can be written in: "host" is the
    /// namespace voidoci itself runs in. runc checks only the network; a void never writes the
    /// host's ipc or uts values either (a config joining them gets their values, not a say).
    func isOwnNamespace(_ path: String, _ type: String) throws -> Bool {
        var a = stat(), b = stat()
        guard stat(path, &a) == 0 else {
            throw VoidError("linux.namespaces: \(type) path \(path): \(errnoText(errno))", errno: errno)
        }
        let own = type == "network" ? "net" : type
        guard stat("/proc/self/ns/\(own)", &b) == 0 else { return false }
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino
    }
}
