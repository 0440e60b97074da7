import CVoid
import Glibc
import OCIBundle

extension Spawner {
    /// The sysctls of namespaces joined by path, written by voidoci once it has joined them (and
    /// before it joins the mount and user namespaces): through `proc`, an fd of the /proc voidoci
    /// started with, whose /proc/sys shows the writer's namespaces. kernel.domainname is set with
    /// setdomainname, which asks for a capability over the namespace rather than host uid 0.
    static func writeJoinedSysctls(_ plan: VoidPlan, proc: Int32) throws {
        for s in plan.sysctls where s.joinedPath != nil {
            if s.key == "kernel.domainname" {
                if setdomainname(s.value, s.value.utf8.count) < 0 {
                    throw VoidError("\(s.field): setdomainname in the joined uts namespace: \(errnoText(errno))", errno: errno)
                }
                continue
            }
            let value = sysctlValue(s, plan, host: true) ?? s.value
            let fd = void_openat2(proc, s.procPath, UInt64(O_WRONLY | O_CLOEXEC | O_NOFOLLOW), 0,
                                  VOID_RESOLVE_BENEATH | VOID_RESOLVE_NO_SYMLINKS | VOID_RESOLVE_NO_MAGICLINKS)
            if fd < 0 { throw VoidError("\(s.field): /proc/\(s.procPath) in the joined \(s.namespace) namespace: \(errnoText(errno))", errno: errno) }
            defer { close(fd) }
            var v = value
            let (n, count) = v.withUTF8 { (write(fd, $0.baseAddress, $0.count), $0.count) }
            if n != count {
                let e = n < 0 ? errno : EINVAL
                throw VoidError("\(s.field): writing \(StateJSON.quote(value)) in the joined \(s.namespace) namespace: \(errnoText(e))", errno: e)
            }
        }
    }

    /// net.ipv4.ping_group_range names groups, which the kernel reads in the writer's user
    /// namespace and refuses when they are not mapped there; the config means the void's groups.
    /// Only the part of the range the void maps exists in it (podman's "0 0" in a void of one
    /// `--user 1000` id is no group; docker's "0 2147483647" is every group the void has): the
    /// first mapped stretch of it. `host`: as the host's ids, for voidoci writing from outside
    /// (a joined network namespace; none mapped: "1 0", no group); else as the void's, for its
    /// init (none mapped: nil, nothing to write: a new network namespace already says "1 0",
    /// and the kernel refuses even that from a void with one group). A joined user namespace's
    /// maps are not known here, and anything but two numbers is for the kernel to judge: both
    /// are written as given.
    static func groupRange(_ value: String, _ plan: VoidPlan, host: Bool) -> String? {
        guard plan.namespaces.first(where: { $0.type == "user" })?.path == nil else { return value }
        let parts = value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard parts.count == 2, let lo = UInt64(parts[0]), let hi = UInt64(parts[1]), lo <= hi else { return value }
        for m in plan.gidMap where m.size > 0 {
            let first = UInt64(m.containerID), last = first + UInt64(m.size) - 1
            let a = max(lo, first), b = min(hi, last)
            guard a <= b else { continue }
            return host ? "\(UInt64(m.hostID) + a - first) \(UInt64(m.hostID) + b - first)" : "\(a) \(b)"
        }
        return host ? "1 0" : nil
    }

    /// The value as written for `s` (only ping_group_range changes); nil: nothing to write.
    static func sysctlValue(_ s: PlannedSysctl, _ plan: VoidPlan, host: Bool) -> String? {
        s.key == "net.ipv4.ping_group_range" ? groupRange(s.value, plan, host: host) : s.value
    }

    /// What the init writes, in its order (its reports index this list): the void's own
    /// namespaces' sysctls but kernel.domainname, which is the domainname it sets anyway.
    static func initSysctls(_ plan: VoidPlan) -> [(sysctl: PlannedSysctl, value: String)] {
        plan.sysctls.compactMap { s in
            guard s.joinedPath == nil, s.namespace != "uts", let v = sysctlValue(s, plan, host: false) else { return nil }
            return (s, v)
        }
    }
}
