import OCIBundle
import Testing
@testable import VoidEngine

/// What a config with every grant plans, where runc's behaviour is the reference: v1 cgroup
/// hierarchies under a granted `cgroup` mount, and the runtime-spec /dev symlinks.
@Suite struct GrantAllPlanTests {
    static let hybrid = CgroupLayout(v1: [.init(controllers: ["memory"], mountPoint: "/sys/fs/cgroup/memory"),
                                          .init(controllers: ["cpu", "cpuacct"], mountPoint: "/sys/fs/cgroup/cpu,cpuacct"),
                                          .init(controllers: ["name=systemd"], mountPoint: "/sys/fs/cgroup/systemd")],
                                     v2: "/sys/fs/cgroup/unified")
    let granted = PlannedMount(kind: .fs, destination: "/sys/fs/cgroup", source: "cgroup", isDir: true,
                               flags: ["nosuid", "noexec", "nodev", "ro"], fstype: "cgroup2", origin: .config(6))

    @Test func cgroupV1MountsOneHierarchyEach() {
        let m = Planner.cgroupMounts(granted, requested: "cgroup", layout: Self.hybrid)
        #expect(m.map(\.destination) == ["/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu,cpuacct",
                                         "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/systemd"])
        #expect(m[0].fstype == "tmpfs" && !m[0].flags.contains("ro"))
        #expect(m[1].fstype == "cgroup" && m[1].fsOptions == [.init(key: "memory", value: nil)] && m[1].flags.contains("ro"))
        #expect(m[3].kind == .symlink && m[3].source == "cpu,cpuacct")
        #expect(m[5].fsOptions == [.init(key: "name", value: "systemd")])
    }

    @Test func cgroup2OrAUnifiedHostKeepsTheV2View() {
        #expect(Planner.cgroupMounts(granted, requested: "cgroup2", layout: Self.hybrid) == [granted])
        #expect(Planner.cgroupMounts(granted, requested: "cgroup", layout: CgroupLayout(v1: [], v2: "/sys/fs/cgroup")) == [granted])
    }

    @Test func devLinksOnlyWhereTheirTargetsWereGranted() {
        func fs(_ type: String, _ dest: String) -> PlannedMount {
            PlannedMount(kind: .fs, destination: dest, source: type, isDir: true, fstype: type, origin: .config(0))
        }
        let all = Planner.devLinks([fs("proc", "/proc"), fs("tmpfs", "/dev"), fs("devpts", "/dev/pts")], root: .imageRO)
        #expect(all.map(\.destination) == ["/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/ptmx"])
        #expect(all.map(\.source) == ["/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2", "pts/ptmx"])
        // No /proc: nothing to point at. No /dev in the void: nowhere to put them.
        #expect(Planner.devLinks([fs("tmpfs", "/dev")], root: .tmpfs).isEmpty)
        #expect(Planner.devLinks([fs("proc", "/proc")], root: .tmpfs).isEmpty)
        // A read-only image root without a /dev tmpfs cannot take them.
        let null = PlannedMount(kind: .bind, destination: "/dev/null", source: "/dev/null", origin: .device(0))
        #expect(Planner.devLinks([fs("proc", "/proc"), null], root: .imageRO).isEmpty)
        #expect(Planner.devLinks([fs("proc", "/proc"), null], root: .tmpfs).count == 4)
        // A bound /dev is left alone (runc too): the links would land in the host's /dev.
        let devBind = PlannedMount(kind: .bind, destination: "/dev", source: "/dev", isDir: true, recursive: true, origin: .config(1))
        #expect(Planner.devLinks([fs("proc", "/proc"), devBind, fs("devpts", "/dev/pts")], root: .tmpfs).isEmpty)
        // A read-write image root's own /dev entries are not replaced.
        let rw = Planner.devLinks([fs("proc", "/proc"), null], root: .imageRW, inImage: { $0 == "/dev/stdin" })
        #expect(rw.map(\.destination) == ["/dev/fd", "/dev/stdout", "/dev/stderr"])
    }
}
