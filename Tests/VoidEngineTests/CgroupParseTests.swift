import Glibc
import Testing
@testable import VoidEngine

/// The byte parsers of the cgroup hot path (mountinfo, /proc/PID/cgroup), against samples
/// and, on this host, against the plain string-splitting parse they replaced.
@Suite struct CgroupParseTests {
    static let hybrid = """
    22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
    25 28 0:23 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=1611156k,mode=755
    28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
    30 22 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
    31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
    32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
    35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
    36 30 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
    37 30 0:33 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:17 master:3 - cgroup cgroup rw,cpuset,clone_children
    38 30 0:34 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,pids,release_agent=/sbin/agent
    40 28 0:40 / /mnt/with\\040space rw,relatime shared:20 - tmpfs - rw
    """

    @Test func hybridMountinfo() {
        let l = CgroupLayout.parse(mountinfo: Array(Self.hybrid.utf8))
        #expect(l.v2 == "/sys/fs/cgroup/unified")
        #expect(l.v1 == [
            .init(controllers: ["xattr", "name=systemd"], mountPoint: "/sys/fs/cgroup/systemd"),
            .init(controllers: ["cpu", "cpuacct"], mountPoint: "/sys/fs/cgroup/cpu,cpuacct"),
            .init(controllers: ["memory"], mountPoint: "/sys/fs/cgroup/memory"),
            .init(controllers: ["cpuset"], mountPoint: "/sys/fs/cgroup/cpuset"),
            .init(controllers: ["pids"], mountPoint: "/sys/fs/cgroup/pids"),
        ])
        #expect(l.mount(for: "cpuacct") == "/sys/fs/cgroup/cpu,cpuacct")
        #expect(!l.isUnified)
    }

    @Test func unifiedAndOddInput() {
        let unified = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
        let l = CgroupLayout.parse(mountinfo: Array(unified.utf8))
        #expect(l.isUnified && l.v2 == "/sys/fs/cgroup")
        // No trailing newline, blank and truncated lines, a "-" mount point: nothing invented.
        let odd = "\n1 2 0:1 / - rw - cgroup2 cgroup2 rw\n7 8 9\n30 22 0:26 / /x rw shared:9 - cgroup cgroup"
        let o = CgroupLayout.parse(mountinfo: Array(odd.utf8))
        #expect(o.v2 == "-")
        #expect(o.v1 == [])
        #expect(CgroupLayout.parse(mountinfo: []).v2 == nil)
    }

    /// The string-splitting parse the byte parser replaced, kept here as the reference.
    static func reference(_ text: String) -> CgroupLayout {
        var v1: [CgroupLayout.V1] = []
        var v2: String?
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard let dash = f.firstIndex(of: "-"), dash + 3 < f.count else { continue }
            let type = f[dash + 1], mountPoint = String(f[4])
            if type == "cgroup2" { v2 = mountPoint }
            if type == "cgroup" {
                let opts = f[dash + 3].split(separator: ",").map(String.init)
                let ctrls = opts.filter { !["rw", "ro", "nosuid", "nodev", "noexec", "relatime", "clone_children"].contains($0) && !$0.hasPrefix("release_agent") }
                v1.append(.init(controllers: ctrls, mountPoint: mountPoint))
            }
        }
        return CgroupLayout(v1: v1, v2: v2)
    }

    @Test func thisHostsMountinfoAsTheReferenceReadsIt() throws {
        let text = try readSmallFile("/proc/self/mountinfo")
        let l = CgroupLayout.parse(mountinfo: Array(text.utf8)), r = Self.reference(text)
        #expect(l.v1 == r.v1)
        #expect(l.v2 == r.v2)
        #expect(l.v1.count + (l.v2 == nil ? 0 : 1) > 0, "this host mounts cgroups")
        #expect(Self.reference(Self.hybrid).v1 == CgroupLayout.parse(mountinfo: Array(Self.hybrid.utf8)).v1)
    }

    @Test func procCgroupLines() {
        let l = CgroupLayout.parse(mountinfo: Array(Self.hybrid.utf8))
        let text = """
        12:pids:/user.slice/u:1
        9:cpu,cpuacct:/a
        1:name=systemd:/init.scope
        7:devices:/not/mounted
        0::/x:y

        """
        #expect(VoidCgroup.parse(procCgroup: Array(text.utf8), layout: l) == [
            "/sys/fs/cgroup/pids/user.slice/u:1",
            "/sys/fs/cgroup/cpu,cpuacct/a",
            "/sys/fs/cgroup/systemd/init.scope",
            "/sys/fs/cgroup/unified/x:y",
        ])
        #expect(VoidCgroup.parse(procCgroup: Array("bad line\n3:memory\n".utf8), layout: l) == [])
    }

    @Test func readSmallBytesReadsPastItsBuffer() throws {
        // mountinfo, cgroup and state files can exceed the 4 KiB stack buffer.
        let path = "/tmp/voidoci-readsmall-\(getpid())"
        let big = String(repeating: "0123456789abcdef", count: 1000) + "end"
        try writeFileAtomically(path, big)
        defer { unlink(path) }
        #expect(try readSmallFile(path) == big)
        #expect(throws: VoidError.self) { try readSmallBytes("/nonexistent/voidoci") }
    }
}
