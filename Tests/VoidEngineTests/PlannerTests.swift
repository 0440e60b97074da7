#if canImport(Glibc)
import Glibc
#endif
import Foundation
import OCIBundle
import Testing
@testable import VoidEngine

/// An image made of the host's /bin/sh (and its loader and libraries), plus a few plain files,
/// and the bundle around it. Removed by `remove()`.
struct PlannerFixture {
    let tree: ImageTree
    /// A host directory and a host file for bind-mount sources.
    let hostDir: String
    let hostFile: String

    init() {
        tree = ImageTree()
        tree.copyFromHost("/bin/sh")
        for library in lddPaths("/bin/sh") { tree.copyFromHost(library) }
        tree.write("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        tree.mkdir("/etc/ssl/certs")
        tree.write("/etc/ssl/certs/ca.pem", "-----BEGIN CERTIFICATE-----\n")
        var template = Array("/tmp/voidoci-binds-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { fatalError("mkdtemp: \(errno)") }
        hostDir = String(cString: made)
        tree.alsoRemove.append(hostDir)
        hostFile = hostDir + "/file"
        let fd = open(hostFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0)
        close(fd)
    }

    func remove() {
        tree.remove()
        _ = shell("rm -rf '\(hostDir)'")
    }

    var bundle: String { ImagePath.dirname(tree.path) }

    static let defaultProcess = #"{"args": ["sh", "-c", "echo hi"], "cwd": "/", "env": ["PATH=/usr/bin:/bin"], "user": {"uid": 0, "gid": 0}}"#

    /// A config.json text: `root.path` is the image unless `rootPath` says otherwise, `rest` is
    /// extra top-level members (with their leading comma).
    func json(process: String = PlannerFixture.defaultProcess, rootPath: String? = nil, rest: String = "") -> String {
        """
        {"ociVersion": "1.2.0", "root": {"path": "\(rootPath ?? tree.path)"}, "process": \(process)\(rest)}
        """
    }

    func spec(process: String = PlannerFixture.defaultProcess, rootPath: String? = nil, rest: String = "") throws -> Spec {
        try SpecLoader.decode(Data(json(process: process, rootPath: rootPath, rest: rest).utf8))
    }

    func plan(process: String = PlannerFixture.defaultProcess, rootPath: String? = nil, rest: String = "",
              caller: Caller = PlannerFixture.root) throws -> VoidPlan {
        try Planner(spec: spec(process: process, rootPath: rootPath, rest: rest), bundle: bundle, caller: caller).plan()
    }

    static let root = Caller(euid: 0, egid: 0, privileged: true, initialUserNS: true, lastCap: 40)
    static let user = Caller(euid: 1000, egid: 1000, privileged: false, initialUserNS: true, lastCap: 40)
}

/// Expects `body` to throw an error whose description contains every one of `parts`.
func expectThrows(_ parts: String..., sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an error containing \(parts)", sourceLocation: sourceLocation)
    } catch {
        let text = String(describing: error)
        for part in parts where !text.contains(part) {
            Issue.record("error \"\(text)\" does not contain \"\(part)\"", sourceLocation: sourceLocation)
        }
    }
}

@Suite struct PlannerTests {
    static let eight: Set<String> = ["user", "mount", "pid", "network", "ipc", "uts", "cgroup", "time"]

    // MARK: ids

    @Test func realRootMapsRootToNobody() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let p = try f.plan()
        #expect(p.uidMap == [LinuxIDMapping(containerID: 0, hostID: 65534, size: 1)])
        #expect(p.gidMap == [LinuxIDMapping(containerID: 0, hostID: 65534, size: 1)])
        #expect(!p.setgroupsAllowed)
        #expect(!p.process.setGroups)
        #expect(p.process.uid == 0 && p.process.gid == 0)
    }

    @Test func rootIDAnnotationChoosesTheHostIDs() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let p = try f.plan(rest: #", "annotations": {"org.voidoci.root-id": "1234:5678"}"#)
        #expect(p.uidMap == [LinuxIDMapping(containerID: 0, hostID: 1234, size: 1)])
        #expect(p.gidMap == [LinuxIDMapping(containerID: 0, hostID: 5678, size: 1)])
        #expect(!p.setgroupsAllowed)

        let same = try f.plan(rest: #", "annotations": {"org.voidoci.root-id": "4321"}"#)
        #expect(same.uidMap == [LinuxIDMapping(containerID: 0, hostID: 4321, size: 1)])
        #expect(same.gidMap == [LinuxIDMapping(containerID: 0, hostID: 4321, size: 1)])
    }

    @Test func rootIDIsRefusedWhenNotRealRoot() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        expectThrows("org.voidoci.root-id") {
            _ = try f.plan(rest: #", "annotations": {"org.voidoci.root-id": "1234:5678"}"#, caller: PlannerFixture.user)
        }
        // Root in a user namespace (privileged, not the initial namespace) is not real root either.
        let nsRoot = Caller(euid: 0, egid: 0, privileged: true, initialUserNS: false, lastCap: 40)
        expectThrows("org.voidoci.root-id") {
            _ = try f.plan(rest: #", "annotations": {"org.voidoci.root-id": "1234:5678"}"#, caller: nsRoot)
        }
    }

    @Test func unprivilegedCallerMapsRootToItself() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let p = try f.plan(caller: Caller(euid: 1000, egid: 1001, privileged: false, initialUserNS: true, lastCap: 40))
        #expect(p.uidMap == [LinuxIDMapping(containerID: 0, hostID: 1000, size: 1)])
        #expect(p.gidMap == [LinuxIDMapping(containerID: 0, hostID: 1001, size: 1)])
        #expect(!p.setgroupsAllowed)
    }

    @Test func processUserIsTheMappedID() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let process = #"{"args": ["sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 1000, "gid": 100}}"#
        let p = try f.plan(process: process)
        #expect(p.uidMap == [LinuxIDMapping(containerID: 1000, hostID: 65534, size: 1)])
        #expect(p.gidMap == [LinuxIDMapping(containerID: 100, hostID: 65534, size: 1)])
        #expect(p.process.uid == 1000)
        #expect(p.process.gid == 100)
    }

    @Test func configMappingsAreHonoured() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let maps = #", "linux": {"uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}], "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}]}"#
        let p = try f.plan(rest: maps)
        #expect(p.uidMap == [LinuxIDMapping(containerID: 0, hostID: 100000, size: 65536)])
        #expect(p.gidMap == [LinuxIDMapping(containerID: 0, hostID: 200000, size: 65536)])
        #expect(p.setgroupsAllowed)

        // From an unprivileged caller, one line of its own ids is accepted; setgroups stays denied.
        let own = #", "linux": {"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}], "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}"#
        let q = try f.plan(rest: own, caller: PlannerFixture.user)
        #expect(q.uidMap == [LinuxIDMapping(containerID: 0, hostID: 1000, size: 1)])
        #expect(!q.setgroupsAllowed)
    }

    @Test func additionalGidsWithPrivilegedConfigMappings() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let maps = #", "linux": {"uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}], "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}"#
        let process = #"{"args": ["sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0, "additionalGids": [10, 20]}}"#
        let p = try f.plan(process: process, rest: maps)
        #expect(p.process.additionalGids == [10, 20])
        #expect(p.process.setGroups)
        let outside = #"{"args": ["sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0, "additionalGids": [70000]}}"#
        expectThrows("process.user.additionalGids[0]") { _ = try f.plan(process: outside, rest: maps) }
    }

    /// A joined user namespace brings its own maps: config mappings cannot apply, and must not
    /// be ignored silently (docs/void.md: "What voidoci cannot honour is dropped and listed").
    @Test func joinedUserNamespaceWithConfigMappingsIsReported() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let rest = #", "linux": {"namespaces": [{"type": "user", "path": "/proc/1/ns/user"}], "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}], "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}"#
        do {
            let p = try f.plan(rest: rest)
            #expect(p.namespaces.first { $0.type == "user" }?.path == "/proc/1/ns/user")
            #expect(p.dropped.contains { $0.path.hasPrefix("linux.uidMappings") },
                    "linux.uidMappings ignored without a word: dropped = \(p.dropped)")
        } catch {
            #expect(String(describing: error).contains("linux.uidMappings"))
        }
    }

    @Test func unprivilegedCallerCannotMapRanges() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let maps = #", "linux": {"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}, {"containerID": 1, "hostID": 100000, "size": 65536}], "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}, {"containerID": 1, "hostID": 100000, "size": 65536}]}"#
        expectThrows("linux.uidMappings") { _ = try f.plan(rest: maps, caller: PlannerFixture.user) }
        // Someone else's id, one line: refused too.
        let other = #", "linux": {"uidMappings": [{"containerID": 0, "hostID": 0, "size": 1}], "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}"#
        expectThrows("linux.uidMappings") { _ = try f.plan(rest: other, caller: PlannerFixture.user) }
    }

    @Test func halfTheMappingsIsAnError() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        expectThrows("linux.gidMappings") {
            _ = try f.plan(rest: #", "linux": {"uidMappings": [{"containerID": 0, "hostID": 100000, "size": 10}]}"#)
        }
    }

    @Test func unmappedProcessUserIsAnError() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let maps = #", "linux": {"uidMappings": [{"containerID": 0, "hostID": 100000, "size": 10}], "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 10}]}"#
        let process = #"{"args": ["sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 10, "gid": 0}}"#
        expectThrows("process.user.uid") { _ = try f.plan(process: process, rest: maps) }
    }

    @Test func additionalGidsAreRefusedWithoutSetgroups() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let process = #"{"args": ["sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0, "additionalGids": [10]}}"#
        expectThrows("process.user.additionalGids") { _ = try f.plan(process: process) }
        expectThrows("process.user.additionalGids") { _ = try f.plan(process: process, caller: PlannerFixture.user) }
    }

    // MARK: namespaces

    @Test func allEightNamespacesAlways() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        for rest in ["", #", "linux": {}"#, #", "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}"#] {
            let p = try f.plan(rest: rest)
            #expect(p.namespaces.count == 8)
            #expect(Set(p.namespaces.map(\.type)) == Self.eight)
            #expect(p.namespaces.allSatisfy { $0.path == nil })
            #expect(Set(p.newNamespaceFlags) == Self.eight)
        }
    }

    @Test func aNamespaceWithAPathIsJoined() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let p = try f.plan(rest: #", "linux": {"namespaces": [{"type": "network", "path": "/proc/1/ns/net"}, {"type": "pid"}]}"#)
        #expect(p.namespaces.count == 8)
        #expect(Set(p.namespaces.map(\.type)) == Self.eight)
        let net = try #require(p.namespaces.first { $0.type == "network" })
        #expect(net == PlannedNamespace(type: "network", path: "/proc/1/ns/net", origin: "linux.namespaces[0]"))
        #expect(p.namespaces.filter { $0.type != "network" }.allSatisfy { $0.path == nil })
        #expect(p.namespaces.first { $0.type == "pid" }?.origin == "linux.namespaces[1]")
        #expect(p.namespaces.first { $0.type == "ipc" }?.origin == "void default")
        #expect(!p.newNamespaceFlags.contains("network"))
        #expect(p.newNamespaceFlags.count == 7)
    }

    // MARK: hostname

    @Test func hostname() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let def = try f.plan()
        #expect(def.hostname == "void")

        let named = try f.plan(rest: #", "hostname": "box", "domainname": "example.org""#)
        #expect(named.hostname == "box")
        #expect(named.domainname == "example.org")

        let joined = try f.plan(rest: #", "hostname": "box", "linux": {"namespaces": [{"type": "uts", "path": "/proc/1/ns/uts"}]}"#)
        #expect(joined.hostname == nil)
        #expect(joined.domainname == nil)
        #expect(joined.dropped.contains { $0.path == "hostname" })

        let joinedBoth = try f.plan(rest: #", "hostname": "box", "domainname": "d", "linux": {"namespaces": [{"type": "uts", "path": "/proc/1/ns/uts"}]}"#)
        #expect(joinedBoth.dropped.contains { $0.path == "domainname" })
        // Joined without names in the config: nothing to drop.
        let joinedBare = try f.plan(rest: #", "linux": {"namespaces": [{"type": "uts", "path": "/proc/1/ns/uts"}]}"#)
        #expect(joinedBare.hostname == nil)
        #expect(!joinedBare.dropped.contains { $0.path == "hostname" || $0.path == "domainname" })
    }

    /// docs/void.md: hostname / domainname are "config value, else a constant; nothing inherited from
    /// the host". A new uts namespace starts as a copy of the host's, so a void whose config has
    /// no domainname must still be given one, or it shows the host's NIS domain name.
    @Test func newUTSNamespaceInheritsNoDomainname() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let p = try f.plan()
        #expect(p.namespaces.first { $0.type == "uts" }?.path == nil)
        #expect(p.domainname != nil, "the void keeps the host's domainname (nothing sets it)")
    }

    // MARK: program auto-binds

    @Test(.enabled(if: hasTool("ldd"))) func programAutoBinds() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let p = try f.plan()
        #expect(p.root == .tmpfs)
        #expect(!p.rootReadonly)
        let ldd = lddPaths("/bin/sh")
        let interpreter = try #require(ldd.first { $0.contains("ld-linux") || $0.contains("ld-musl") })
        let libc = try #require(ldd.first { $0.contains("libc.so") })

        let binds = p.mounts.filter { $0.kind == .bind }
        let program = binds.filter { if case .program = $0.origin { return true } else { return false } }
        // The executable first, then its interpreter and libraries.
        #expect(program.first?.destination == hostRealpath("/bin/sh"))
        for path in [hostRealpath("/bin/sh"), hostRealpath(interpreter), hostRealpath(libc)] {
            let m = try #require(program.first { $0.destination == path }, "no auto-bind of \(path)")
            #expect(m.source == path)
            #expect(m.sourceInImage)
            #expect(m.flags.contains("ro"))
            #expect(!m.recursive)
        }
        #expect(program.first?.origin == .program("executable sh"))

        // The links on the way (merged /usr: /bin → usr/bin, /usr/bin/sh → dash) are recreated.
        let links = p.mounts.filter { $0.kind == .symlink }
        #expect(!links.isEmpty)
        for link in links {
            #expect(link.origin == .program("symlink in the image"))
            #expect(link.sourceInImage)
        }
        // /usr/bin/sh → dash (found by PATH), /lib64 → usr/lib64 (the PT_INTERP path).
        for path in ["/usr/bin/sh", "/lib64"] where Self.isHostLink(path) {
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: path)
            #expect(links.contains { $0.destination == path && $0.source == target }, "link \(path) not recreated")
        }
        // execve goes through the path the image's own execvp would take.
        #expect(p.process.execPath == "/usr/bin/sh")
        #expect(p.process.args == ["sh", "-c", "echo hi"])
        // Nothing but program binds without grants.
        #expect(p.mounts.allSatisfy { if case .program = $0.origin { return true } else { return false } })
    }

    static func isHostLink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK
    }

    /// An absolute args[0] through the merged-/usr link: the link is recreated and execve uses
    /// the path as given.
    @Test(.enabled(if: isHostLink("/bin"))) func absoluteProgramThroughALink() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let p = try f.plan(process: #"{"args": ["/bin/sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}}"#)
        #expect(p.process.execPath == "/bin/sh")
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: "/bin")
        #expect(p.mounts.contains { $0.kind == .symlink && $0.destination == "/bin" && $0.source == target })
        #expect(p.mounts.first { $0.kind == .bind }?.destination == hostRealpath("/bin/sh"))
        #expect(p.mounts.first { $0.kind == .bind }?.origin == .program("executable /bin/sh"))
    }

    @Test func missingProgram() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let byName = #"{"args": ["nope"], "cwd": "/", "env": ["PATH=/usr/bin:/bin"], "user": {"uid": 0, "gid": 0}}"#
        expectThrows("not found in $PATH") { _ = try f.plan(process: byName) }
        let byPath = #"{"args": ["/usr/bin/nope"], "cwd": "/", "user": {"uid": 0, "gid": 0}}"#
        expectThrows("no such file or directory") { _ = try f.plan(process: byPath) }
    }

    // MARK: config mounts

    @Test func procNeedsTheMountsGrant() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let proc = #", "mounts": [{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}]"#
        let p = try f.plan(rest: proc)
        #expect(!p.mounts.contains { $0.destination == "/proc" })
        let d = try #require(p.dropped.first { $0.path == "mounts[0]" })
        #expect(d.reason.contains("org.voidoci.mounts"))

        let granted = try f.plan(rest: proc + #", "annotations": {"org.voidoci.mounts": "proc"}"#)
        let m = try #require(granted.mounts.first { $0.destination == "/proc" })
        #expect(m.kind == .fs)
        #expect(m.fstype == "proc")
        #expect(m.origin == .config(0))
        #expect(m.flags == ["nosuid", "noexec", "nodev"])
        #expect(!granted.dropped.contains { $0.path == "mounts[0]" })
    }

    @Test func shmNeedsTheShmGrant() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let shm = #", "mounts": [{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}, {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}]"#
        let tmpfsOnly = try f.plan(rest: shm + #", "annotations": {"org.voidoci.mounts": "tmpfs"}"#)
        #expect(!tmpfsOnly.mounts.contains { $0.destination == "/dev/shm" })
        #expect(tmpfsOnly.dropped.contains { $0.path == "mounts[0]" && $0.reason.contains("shm") })
        #expect(tmpfsOnly.mounts.contains { $0.destination == "/tmp" && $0.kind == .fs && $0.fstype == "tmpfs" })

        let granted = try f.plan(rest: shm + #", "annotations": {"org.voidoci.mounts": "shm"}"#)
        let m = try #require(granted.mounts.first { $0.destination == "/dev/shm" })
        #expect(m.kind == .fs)
        #expect(m.fstype == "tmpfs")
        #expect(m.fsOptions.map(\.text) == ["mode=1777", "size=65536k"])
        #expect(!granted.mounts.contains { $0.destination == "/tmp" })
    }

    /// "/dev/shm/" and "//dev/shm" are /dev/shm: the shm grant cannot be sidestepped by
    /// spelling the destination differently.
    @Test(arguments: ["/dev/shm/", "//dev/shm", "/dev/./shm"])
    func shmGrantIgnoresSpelling(_ destination: String) throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let rest = #", "mounts": [{"destination": "\#(destination)", "type": "tmpfs", "source": "shm"}], "annotations": {"org.voidoci.mounts": "tmpfs"}"#
        let p = try f.plan(rest: rest)
        #expect(!p.mounts.contains { $0.kind == .fs }, "\(destination) mounted with only the tmpfs grant")
    }

    @Test func bindMountsKeepTheirOrderAndFlags() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let binds = """
            , "mounts": [
              {"destination": "/data", "type": "bind", "source": "\(f.hostDir)", "options": ["rbind", "ro", "nosuid"]},
              {"destination": "/proc", "type": "proc", "source": "proc"},
              {"destination": "/etc/hostname", "type": "bind", "source": "\(f.hostFile)", "options": ["bind", "rw", "rprivate"]},
              {"destination": "/more", "type": "none", "source": "\(f.hostDir)", "options": ["rbind", "nodev", "noexec"]}
            ]
            """
        let p = try f.plan(rest: binds)
        let lastProgram = try #require(p.mounts.lastIndex { if case .program = $0.origin { return true } else { return false } })
        let config = p.mounts.enumerated().filter { if case .config = $0.element.origin { return true } else { return false } }
        #expect(config.map(\.element.destination) == ["/data", "/etc/hostname", "/more"])
        #expect(config.allSatisfy { $0.offset > lastProgram })
        #expect(config.map(\.element.origin) == [.config(0), .config(2), .config(3)])

        let data = config[0].element
        #expect(data.kind == .bind)
        #expect(data.source == f.hostDir)
        #expect(!data.sourceInImage)
        #expect(data.recursive)
        #expect(data.isDir)
        #expect(data.flags == ["ro", "nosuid"])

        let file = config[1].element
        #expect(!file.recursive)
        #expect(!file.isDir)
        #expect(file.flags == [])

        let more = config[2].element
        #expect(more.kind == .bind)
        #expect(more.recursive)
        #expect(more.flags == ["nodev", "noexec"])
        // Only the proc entry was dropped; rw and rprivate are understood.
        #expect(p.dropped.filter { $0.path.hasPrefix("mounts[") }.map(\.path) == ["mounts[1]"])
    }

    @Test func unknownBindOptionIsDropped() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let p = try f.plan(rest: #", "mounts": [{"destination": "/data", "type": "bind", "source": "\#(f.hostDir)", "options": ["bind", "ro", "frobnicate", "rshared"]}]"#)
        let m = try #require(p.mounts.first { $0.destination == "/data" })
        #expect(m.flags == ["ro"])
        #expect(p.dropped.contains { $0.path == "mounts[0].options" && $0.reason.contains("frobnicate") })
        #expect(p.dropped.contains { $0.path == "mounts[0].options" && $0.reason.contains("rshared") })
    }

    @Test func bindSourceRelativeToTheBundleAndMissingSource() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let relative = ImagePath.basename(f.tree.path)
        let p = try f.plan(rest: #", "mounts": [{"destination": "/img", "type": "bind", "source": "\#(relative)/etc"}]"#)
        #expect(p.mounts.first { $0.destination == "/img" }?.source == "\(f.bundle)/\(relative)/etc")
        expectThrows("mounts[0].source", "no such file or directory") {
            _ = try f.plan(rest: #", "mounts": [{"destination": "/x", "type": "bind", "source": "/nonexistent/voidoci/src"}]"#)
        }
    }

    /// An idmapped bind (`mounts[].uidMappings`, podman's `:idmap`) is not implemented: that
    /// must be reported (dropped or refused), not silently turned into a plain bind.
    @Test func idmappedBindIsReported() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let rest = #", "mounts": [{"destination": "/data", "type": "bind", "source": "\#(f.hostDir)", "options": ["rbind"], "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}], "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}]"#
        do {
            let p = try f.plan(rest: rest)
            #expect(p.dropped.contains { $0.path.hasPrefix("mounts[0].uidMappings") || ($0.path.hasPrefix("mounts[0]") && $0.reason.contains("uidMappings")) },
                    "mounts[0].uidMappings ignored without a word: dropped = \(p.dropped)")
        } catch {
            #expect(String(describing: error).contains("mounts[0]"))
        }
    }

    /// An unprivileged caller cannot mknod: the host's node is bound, and must match.
    @Test func devicesAreBoundFromTheHostWhenUnprivileged() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        var st = stat()
        guard stat("/dev/null", &st) == 0, st.st_mode & S_IFMT == S_IFCHR, shell("stat -c '%t:%T' /dev/null").output == "1:3\n" else { return }
        let user = PlannerFixture.user
        let p = try f.plan(rest: #", "linux": {"devices": [{"type": "c", "path": "/dev/null", "major": 1, "minor": 3}]}"#, caller: user)
        let null = try #require(p.mounts.first { $0.destination == "/dev/null" })
        #expect(null.kind == .bind)
        #expect(null.source == "/dev/null")
        #expect(!null.sourceInImage)
        #expect(null.origin == .device(0))
        expectThrows("linux.devices[0]") {
            _ = try f.plan(rest: #", "linux": {"devices": [{"type": "c", "path": "/dev/null", "major": 1, "minor": 5}]}"#, caller: user)
        }
        expectThrows("linux.devices[0]") {
            _ = try f.plan(rest: #", "linux": {"devices": [{"type": "b", "path": "/dev/null", "major": 1, "minor": 3}]}"#, caller: user)
        }
        expectThrows("linux.devices[0]", "/dev/voidoci-nonexistent") {
            _ = try f.plan(rest: #", "linux": {"devices": [{"type": "c", "path": "/dev/voidoci-nonexistent", "major": 1, "minor": 3}]}"#, caller: user)
        }
    }

    /// Real root makes each node (runc's mknod): exact numbers, fileMode (0666 when absent),
    /// and the host ids its uid/gid map to; the host need not have it.
    @Test func devicesAreMadeWithMknodAsRoot() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let devices = #", "linux": {"devices": [{"type": "c", "path": "/dev/voidoci-nonexistent", "major": 10, "minor": 200, "fileMode": 416, "uid": 0, "gid": 0}, {"type": "p", "path": "/dev/fifo"}, {"type": "u", "path": "/dev/u", "major": 1, "minor": 3}]}"#
        let p = try f.plan(rest: devices)
        let nodes = p.mounts.filter { $0.kind == .node }
        #expect(nodes.map(\.destination) == ["/dev/voidoci-nonexistent", "/dev/fifo", "/dev/u"])
        #expect(nodes.map(\.origin) == [.device(0), .device(1), .device(2)])
        #expect(nodes[0].node == DeviceNode(type: "c", major: 10, minor: 200, mode: 0o640, uid: 0, gid: 0, hostUID: 65534, hostGID: 65534))
        #expect(nodes[1].node == DeviceNode(type: "p", major: 0, minor: 0, mode: 0o666, uid: 0, gid: 0, hostUID: 65534, hostGID: 65534))
        #expect(nodes[2].node?.type == "c" && nodes[2].node?.mode == 0o666)
        let setID = try f.plan(rest: #", "linux": {"devices": [{"type": "c", "path": "/dev/x", "major": 1, "minor": 3, "fileMode": 3565}]}"#)
        #expect(setID.mounts.first { $0.kind == .node }?.node?.mode == 0o755, "06755: runc keeps the permission bits only")
        #expect(nodes.allSatisfy { $0.flags == ["nosuid", "noexec"] })
        #expect(Explain.text(p).contains("node    /dev/voidoci-nonexistent c 10:200 mode 0640 owner 0:0 (host 65534:65534)"), "\(Explain.text(p))")
        expectThrows("linux.devices[0].uid", "1000") {
            _ = try f.plan(rest: #", "linux": {"devices": [{"type": "c", "path": "/dev/x", "major": 1, "minor": 3, "uid": 1000}]}"#)
        }
        expectThrows("linux.devices[0].gid", "7") {
            _ = try f.plan(rest: #", "linux": {"devices": [{"type": "c", "path": "/dev/x", "major": 1, "minor": 3, "gid": 7}]}"#)
        }
        // org.voidoci.dev=minimal: runc's default nodes, made the same way.
        let minimal = try f.plan(rest: #", "annotations": {"org.voidoci.dev": "minimal"}"#)
        let made = minimal.mounts.filter { $0.kind == .node }
        #expect(made.map(\.destination) == ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"])
        #expect(made.map { $0.node?.major ?? -1 } == [1, 1, 1, 1, 1, 5])
        #expect(made.map { $0.node?.minor ?? -1 } == [3, 5, 7, 8, 9, 0])
        #expect(made.allSatisfy { $0.node?.mode == 0o666 && $0.origin == .annotation("org.voidoci.dev=minimal") })
    }

    // MARK: sysctl

    @Test func sysctlsArePlannedIntoTheVoidsNamespaces() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let linux = #", "linux": {"sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "4096", "fs.mqueue.msg_max": "20", "kernel.domainname": "example.org"}}"#
        let p = try f.plan(rest: linux)
        #expect(p.sysctls.map(\.key) == ["fs.mqueue.msg_max", "kernel.domainname", "kernel.shmmax", "net.ipv4.ip_forward"])
        #expect(p.sysctls.map(\.namespace) == ["ipc", "uts", "ipc", "network"])
        #expect(p.sysctls.allSatisfy { $0.joinedPath == nil })
        #expect(!p.dropped.contains { $0.path.hasPrefix("linux.sysctl") })
        let text = Explain.text(p)
        #expect(text.contains("sysctls (applied):") && text.contains("net.ipv4.ip_forward = 1") && text.contains("new network namespace"), "\(text)")
        #expect(Explain.json(p).contains(#""sysctls":[{"key":"fs.mqueue.msg_max","value":"20","namespace":"ipc""#), "\(Explain.json(p))")

        for (key, why) in [("kernel.panic", "not in a namespace"), ("vm.swappiness", "not in a namespace"),
                           ("kernel.hostname", "hostname"), ("net/ipv4/ip_forward", "/"), ("net.ipv4..x", ".."),
                           ("net.ipv4.x\\u0001", "control"), ("", "empty")] {
            let json = "{\"\(key)\": \"1\"}"
            expectThrows("linux.sysctl[", why) { _ = try f.plan(rest: #", "linux": {"sysctl": "# + json + "}") }
        }
        // Joined by path: written by voidoci in that namespace; refused if it is voidoci's own.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        holder.arguments = ["--ipc", "sleep", "30"]
        if geteuid() == 0, (try? holder.run()) != nil {
            defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
            let ns = "/proc/\(holder.processIdentifier)/ns/ipc"
            for _ in 0..<500 where (try? FileManager.default.destinationOfSymbolicLink(atPath: ns)) == (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/ipc")) { usleep(10_000) }
            let joined = try f.plan(rest: #", "linux": {"namespaces": [{"type": "ipc", "path": "\#(ns)"}], "sysctl": {"kernel.shmmax": "4096"}}"#)
            #expect(joined.sysctls.first?.joinedPath == ns)
        }
        expectThrows(#"linux.sysctl["kernel.shmmax"]"#, "host ipc namespace") {
            _ = try f.plan(rest: #", "linux": {"namespaces": [{"type": "ipc", "path": "/proc/self/ns/ipc"}], "sysctl": {"kernel.shmmax": "4096"}}"#)
        }
        // ping_group_range names the void's groups; voidoci writes it from outside: translated.
        #expect(Spawner.groupRange("0 0", p, host: true) == "65534 65534")
        #expect(Spawner.groupRange("0 0", p, host: false) == "0 0")
        #expect(Spawner.groupRange("0 2147483647", p, host: true) == "65534 65534")
        #expect(Spawner.groupRange("5 9", p, host: true) == "1 0")
        #expect(Spawner.groupRange("1 0", p, host: false) == "1 0")
        #expect(Spawner.groupRange("x", p, host: true) == "x")
        // A void of process.user's one id (podman --user 1000): "0 0" names no group it has.
        let user1000 = try f.plan(process: #"{"args": ["sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 1000, "gid": 1000}}"#, rest: linux)
        #expect(Spawner.groupRange("0 0", user1000, host: false) == nil, "nothing to write: a new namespace says 1 0")
        #expect(Spawner.groupRange("0 2147483647", user1000, host: false) == "1000 1000")
        expectThrows(#"linux.sysctl["net.ipv4.ip_forward"]"#, "host network namespace") {
            _ = try f.plan(rest: #", "linux": {"namespaces": [{"type": "network", "path": "/proc/self/ns/net"}], "sysctl": {"net.ipv4.ip_forward": "1"}}"#)
        }
    }

    // MARK: tmpcopyup

    @Test func tmpcopyupPlansTheImagesContent() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        f.tree.mkdir("/tmp/d/e")
        f.tree.write("/tmp/d/f", "hello", mode: 0o640)
        f.tree.symlink("/tmp/d/l", to: "/etc/passwd")
        _ = shell("mkfifo '\(f.tree.host("/tmp/fifo"))'")
        func plan(_ options: String, _ destination: String = "/tmp") throws -> VoidPlan {
            try f.plan(rest: #", "mounts": [{"destination": "\#(destination)", "type": "tmpfs", "source": "tmpfs", "options": [\#(options)]}], "annotations": {"org.voidoci.mounts": "tmpfs"}"#)
        }
        let p = try plan(#""rw", "rprivate", "nosuid", "nodev", "tmpcopyup""#)
        let m = try #require(p.mounts.first { $0.destination == "/tmp" })
        #expect(m.fsOptions.isEmpty, "tmpcopyup is not a tmpfs option: \(m.fsOptions)")
        let c = try #require(m.copyUp)
        #expect(c.source == "/tmp")
        #expect(c.entries.map(\.path) == ["d", "d/e", "d/f", "d/l"])
        #expect(c.entries.map(\.kind) == [.directory, .directory, .file, .symlink])
        #expect(c.entries[2].size == 5 && c.entries[2].mode == 0o640)
        #expect(c.entries[3].target == "/etc/passwd")
        #expect(p.dropped.contains { $0.path == "mounts[0].options" && $0.reason.contains("/tmp/fifo") })
        #expect(Explain.text(p).contains("copy-up of image:/tmp: 4 entries, 5 bytes"), "\(Explain.text(p))")

        for none in [#""notmpcopyup""#, #""nosuid""#] {
            let q = try plan(none)
            #expect(q.mounts.first { $0.destination == "/tmp" }?.copyUp == nil)
            #expect(q.mounts.first { $0.destination == "/tmp" }?.fsOptions.isEmpty == true)
        }
        // Nothing in the image at that path: an empty tmpfs, said so.
        let missing = try plan(#""tmpcopyup""#, "/nothing-here")
        #expect(missing.mounts.first { $0.destination == "/nothing-here" }?.copyUp?.entries.isEmpty == true)
        // A link out of the image resolves inside it.
        f.tree.symlink("/linked", to: "../../../../../etc")
        let linked = try plan(#""tmpcopyup""#, "/linked")
        #expect(linked.mounts.first { $0.destination == "/linked" }?.copyUp?.source == "/etc")
        // Too big: named.
        _ = shell("truncate -s 3G '\(f.tree.host("/tmp/huge"))'")
        expectThrows("mounts[0]", "tmpcopyup", "MiB") { _ = try plan(#""tmpcopyup""#) }
    }
    @Test func mountDestinationWithDotDotIsRefused() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        expectThrows("mounts[0].destination", "..") {
            _ = try f.plan(rest: #", "mounts": [{"destination": "/data/../../etc", "type": "bind", "source": "\#(f.hostDir)"}]"#)
        }
    }

    // MARK: grants

    @Test func rootfsReadOnly() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let p = try f.plan(rest: #", "annotations": {"org.voidoci.rootfs": "ro"}"#)
        #expect(p.root == .imageRO)
        #expect(p.rootReadonly)
        #expect(!p.mounts.contains { if case .program = $0.origin { return true } else { return false } })
        #expect(p.imagePath == hostRealpath(f.tree.path))

        let rw = try f.plan(rest: #", "annotations": {"org.voidoci.rootfs": "rw"}"#)
        #expect(rw.root == .imageRW)
        #expect(!rw.rootReadonly)
    }

    @Test func rootReadonlyOnTheTmpfs() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let spec = try SpecLoader.decode(Data(#"{"ociVersion": "1.2.0", "root": {"path": "\#(f.tree.path)", "readonly": true}, "process": \#(PlannerFixture.defaultProcess)}"#.utf8))
        let p = try Planner(spec: spec, bundle: f.bundle, caller: PlannerFixture.root).plan()
        #expect(p.root == .tmpfs)
        #expect(p.rootReadonly)
    }

    @Test func exposeBindsImagePaths() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let p = try f.plan(rest: #", "annotations": {"org.voidoci.expose": "/etc/passwd, /etc/ssl/certs"}"#)
        let passwd = try #require(p.mounts.first { $0.destination == "/etc/passwd" })
        #expect(passwd.kind == .bind)
        #expect(passwd.source == "/etc/passwd")
        #expect(passwd.sourceInImage)
        #expect(passwd.flags.contains("ro"))
        #expect(passwd.origin == .annotation("org.voidoci.expose"))
        #expect(!passwd.isDir)
        let certs = try #require(p.mounts.first { $0.destination == "/etc/ssl/certs" })
        #expect(certs.isDir)
        #expect(certs.recursive)
    }

    @Test func exposeOfAMissingPath() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        expectThrows("org.voidoci.expose", "/etc/nothing") {
            _ = try f.plan(rest: #", "annotations": {"org.voidoci.expose": "/etc/nothing"}"#)
        }
    }

    @Test func devMinimal() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let none = try f.plan()
        #expect(!none.mounts.contains { $0.destination.hasPrefix("/dev/") })
        // Unprivileged: bound from the host (as root they are made: devicesAreMadeWithMknodAsRoot).
        let p = try f.plan(rest: #", "annotations": {"org.voidoci.dev": "minimal"}"#, caller: PlannerFixture.user)
        let dev = p.mounts.filter { $0.destination.hasPrefix("/dev/") }
        #expect(dev.count == 6)
        #expect(Set(dev.map(\.destination)) == ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"])
        for m in dev {
            #expect(m.kind == .bind)
            #expect(m.source == m.destination)
            #expect(!m.sourceInImage)
            #expect(m.origin == .annotation("org.voidoci.dev=minimal"))
        }
    }

    /// runc mounts config.mounts first and makes its device nodes after: the tmpfs at /dev that
    /// every `runc spec` config lists must not hide org.voidoci.dev=minimal or linux.devices.
    @Test func devicesComeAfterConfigMounts() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        var st = stat()
        guard stat("/dev/null", &st) == 0, st.st_mode & S_IFMT == S_IFCHR, shell("stat -c '%t:%T' /dev/null").output == "1:3\n" else { return }
        let p = try f.plan(rest: #", "mounts": [{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]}], "linux": {"devices": [{"type": "c", "path": "/dev/null", "major": 1, "minor": 3}]}, "annotations": {"org.voidoci.mounts": "tmpfs", "org.voidoci.dev": "minimal"}"#)
        let dev = try #require(p.mounts.firstIndex { $0.destination == "/dev" && $0.kind == .fs })
        let nodes = p.mounts.indices.filter { p.mounts[$0].destination.hasPrefix("/dev/") }
        #expect(nodes.contains { p.mounts[$0].origin == .device(0) })
        #expect(nodes.contains { p.mounts[$0].origin == .annotation("org.voidoci.dev=minimal") })
        for i in nodes {
            #expect(i > dev, "\(p.mounts[i].destination) is mounted before the tmpfs at /dev, which hides it")
        }
    }

    @Test func maskedPathsNeedProc() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let linux = #", "linux": {"maskedPaths": ["/proc/kcore", "/proc/keys"], "readonlyPaths": ["/proc/sys"]}"#
        let p = try f.plan(rest: linux)
        #expect(!p.mounts.contains { $0.kind == .mask || $0.kind == .readonly })
        #expect(p.dropped.contains { $0.path == "linux.maskedPaths[0]" })
        #expect(p.dropped.contains { $0.path == "linux.maskedPaths[1]" })
        #expect(p.dropped.contains { $0.path == "linux.readonlyPaths[0]" })

        let withProc = try f.plan(rest: linux + #", "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}], "annotations": {"org.voidoci.mounts": "proc"}"#)
        let masks = withProc.mounts.filter { $0.kind == .mask }
        #expect(masks.map(\.destination) == ["/proc/kcore", "/proc/keys"])
        #expect(withProc.mounts.contains { $0.kind == .readonly && $0.destination == "/proc/sys" })
        #expect(!withProc.dropped.contains { $0.path.hasPrefix("linux.maskedPaths") })
        // Masks are applied after the proc mount they cover.
        let procAt = try #require(withProc.mounts.firstIndex { $0.destination == "/proc" })
        let maskAt = try #require(withProc.mounts.firstIndex { $0.kind == .mask })
        #expect(procAt < maskAt)
    }

    @Test func unsupportedFieldsAreReported() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let process = #"{"args": ["sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}, "apparmorProfile": "container-default", "selinuxLabel": "system_u:system_r:container_t:s0"}"#
        let linux = #", "linux": {"resources": {"pids": {"limit": 100}, "blockIO": {"weight": 10}}, "sysctl": {"net.ipv4.ip_forward": "1"}}"#
        let p = try f.plan(process: process, rest: linux)
        let paths = Set(p.dropped.map(\.path))
        for path in ["process.apparmorProfile", "process.selinuxLabel", "linux.resources.blockIO"] {
            #expect(paths.contains(path), "\(path) not reported as dropped")
        }
        #expect(p.dropped.allSatisfy { !$0.reason.isEmpty })
    }

    @Test func capabilitiesUnknownToTheKernelAreDropped() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let process = #"{"args": ["sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}, "capabilities": {"bounding": ["CAP_CHOWN", "CAP_CHECKPOINT_RESTORE"], "effective": ["CAP_CHOWN"]}}"#
        let old = Caller(euid: 0, egid: 0, privileged: true, initialUserNS: true, lastCap: 37)
        let p = try f.plan(process: process, caller: old)
        #expect(p.process.capabilities.bounding == 1)
        #expect(p.process.capabilities.effective == 1)
        #expect(p.dropped.contains { $0.path == "process.capabilities.bounding" && $0.reason.contains("CAP_CHECKPOINT_RESTORE") })
    }

    // MARK: root.path

    @Test func relativeRootPathIsResolvedAgainstTheBundle() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let p = try f.plan(rootPath: ImagePath.basename(f.tree.path))
        #expect(p.imagePath == hostRealpath(f.tree.path))
    }

    @Test func missingRootPath() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        expectThrows("root.path", "no such file or directory") { _ = try f.plan(rootPath: f.tree.path + "/nonexistent") }
        expectThrows("root.path", "not a directory") { _ = try f.plan(rootPath: f.tree.host("/etc/passwd")) }
        let noRoot = try SpecLoader.decode(Data(#"{"ociVersion": "1.2.0", "process": \#(PlannerFixture.defaultProcess)}"#.utf8))
        expectThrows("root") { _ = try Planner(spec: noRoot, bundle: f.bundle, caller: PlannerFixture.root).plan() }
    }
}
