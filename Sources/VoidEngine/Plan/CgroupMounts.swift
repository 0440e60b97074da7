import OCIBundle

/// A granted `cgroup` mount, as runc makes it on a host with v1 hierarchies: a tmpfs at the
/// destination and, in it, one v1 mount per hierarchy of the host (`memory`, `cpu,cpuacct`,
/// `systemd` for name=systemd, ...) with a link for each controller of a co-mounted one. The
/// void's cgroup namespace (made after its init moved into its leaves) roots each at the void's
/// own cgroup, so the program reads its limits where runc's would. A `cgroup2` mount, or a
/// host with only the unified hierarchy, gets the v2 view.
extension Planner {
    static func cgroupMounts(_ m: PlannedMount, requested type: String, layout: CgroupLayout) -> [PlannedMount] {
        guard type == "cgroup", !layout.v1.isEmpty else { return [m] }
        let base = m.destination == "/" ? "" : m.destination
        var out = [PlannedMount(kind: .fs, destination: m.destination, source: "tmpfs", isDir: true,
                                flags: m.flags.filter { $0 != "ro" }, fstype: "tmpfs",
                                fsOptions: [.init(key: "mode", value: "755")], origin: m.origin)]
        for h in layout.v1 {
            // The host's own mount point names the directory; a name that is not one plain
            // component (it never is on a sane host) is left out rather than followed.
            guard let name = h.mountPoint.split(separator: "/").last.map(String.init),
                  !name.isEmpty, name != ".", name != "..", !name.contains("/") else { continue }
            let options = h.controllers.map { c -> PlannedMount.FSOption in
                c.hasPrefix("name=") ? .init(key: "name", value: String(c.dropFirst(5))) : .init(key: c, value: nil)
            }
            out.append(PlannedMount(kind: .fs, destination: "\(base)/\(name)", source: "cgroup", isDir: true,
                                    flags: m.flags, fstype: "cgroup", fsOptions: options, origin: m.origin))
            let comounted = name.split(separator: ",").map(String.init)
            if comounted.count > 1 {
                for c in comounted where !layout.v1.contains(where: { $0.mountPoint.hasSuffix("/" + c) }) {
                    out.append(PlannedMount(kind: .symlink, destination: "\(base)/\(c)", source: name, origin: m.origin))
                }
            }
        }
        return out
    }
}
