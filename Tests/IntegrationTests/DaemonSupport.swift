import Foundation
import Testing

// Support for DockerTests and ContainerdTests: the real dockerd 20.10 and containerd 1.6 (with
// their containerd-shim-runc-v2) driving the installed /usr/local/bin/voidoci through runc's
// command line. Each test starts its own daemon in the background, with every directory, socket
// and pidfile under a temp dir of its own, and stops it at the end, even when the test fails:
// SIGTERM, a wait, SIGKILL as the fallback, then whatever it left (processes that name its
// directory, mounts under it, cgroup parents, host paths it created) is removed and reported.
//
// The host's mount table is compared before the daemon starts and after it is stopped and its
// directory cleaned: equal. Mounts left under the daemon's directory after it stopped are
// reported, except docker's own `exec-root/netns/*` namespace pins (docker leaves those itself,
// whatever the runtime).

/// The parent of the docker and containerd suites: `.serialized` runs one daemon test at a time
/// (a running daemon changes the host mount table, which another suite's check would see).
@Suite(.serialized) enum DaemonEngineTests {}

enum Daemons {
    static let path = "/usr/sbin:/usr/bin:/sbin:/bin"
    /// The runtime the daemons are given: the installed release binary (what engines run).
    static let runtime: String = {
        let e = ProcessInfo.processInfo.environment["VOIDOCI_DAEMON_BIN"] ?? ""
        return e.isEmpty ? "/usr/local/bin/voidoci" : e
    }()
    static let dockerd = "/usr/sbin/dockerd"
    /// Debian's client: /usr/local/bin/docker is a newer client that would shadow it on PATH.
    static let docker = "/usr/bin/docker"
    static let containerd = "/usr/bin/containerd"
    static let ctr = "/usr/bin/ctr"

    /// Every process name and directory of this test process starts with this.
    static let prefix = "vdt\(getpid())"

    static func executable(_ p: String) -> Bool { access(p, X_OK) == 0 }

    static func uid() -> String { String(UUID().uuidString.prefix(6)).lowercased() }

    static func read(_ path: String) -> String? { Host.read(path) }

    static func exists(_ path: String) -> Bool { Host.exists(path) }

    static func entries(_ dir: String) -> [String] { Host.entries(dir) }

    static func alive(_ pid: Int32) -> Bool { Host.alive(pid) }

    static func waitUntil(_ seconds: Double, _ cond: () -> Bool) -> Bool { Host.waitUntil(seconds, every: 50_000, cond) }

    static func lines(_ s: String) -> [String] {
        s.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map(String.init)
    }

    static func trimmed(_ s: String) -> String { s.trimmingCharacters(in: .whitespacesAndNewlines) }

    /// The last `n` lines of a file (a daemon's log, for failure messages).
    static func tail(_ path: String, _ n: Int = 15) -> String {
        lines(read(path) ?? "").suffix(n).joined(separator: "\n")
    }

    /// Mount points of the host mount table (octal escapes decoded) at or under `dir`,
    /// with their fs type.
    static func mounts(under dir: String) -> [(point: String, fstype: String)] {
        let text = read("/proc/self/mountinfo") ?? ""
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ").map(String.init)
            guard f.count > 4, let dash = f.firstIndex(of: "-"), dash + 1 < f.count else { return nil }
            let point = unescape(f[4])
            guard point == dir || point.hasPrefix(dir + "/") else { return nil }
            return (point, f[dash + 1])
        }
    }

    static func unescape(_ s: String) -> String {
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count,
               let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Pids of processes (other than this one) whose command line mentions `text`.
    static func processes(mentioning text: String) -> [Int32] {
        let me = getpid()
        return entries("/proc").compactMap { Int32($0) }.filter { pid in
            guard pid != me, let cmd = read("/proc/\(pid)/cmdline") else { return false }
            return cmd.replacingOccurrences(of: "\0", with: " ").contains(text) && alive(pid)
        }
    }

    /// The cgroup hierarchies mounted under /sys/fs/cgroup (v1 controllers, unified, or the
    /// cgroup2 root itself).
    static func cgroupRoots() -> [String] {
        let text = read("/proc/self/mountinfo") ?? ""
        var roots: [String] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            guard f.count > 4, let dash = f.firstIndex(of: "-"), dash + 1 < f.count else { continue }
            if f[dash + 1] == "cgroup" || f[dash + 1] == "cgroup2", f[4].hasPrefix("/sys/fs/cgroup") {
                roots.append(unescape(f[4]))
            }
        }
        return roots
    }
}

// MARK: - A daemon process

/// A long-lived process started by a test: posix_spawn with stdout and stderr to a log file,
/// stdin /dev/null, every other fd closed, its own process group (a terminal's ^C does not reach
/// it). Stopped by its pid only: SIGTERM, then SIGKILL after the grace period; always reaped.
final class DaemonProcess {
    let pid: pid_t
    let argv: [String]
    let log: String
    private(set) var status: Int32?

    init(_ argv: [String], env: [String: String], log: String) throws {
        self.argv = argv
        self.log = log
        let p: pid_t
        do { p = try Shell.spawn(argv, env: env, stdout: log, append: true, ownGroup: true) } catch {
            throw DaemonError("\(error)")
        }
        pid = p
    }

    /// Reaps it if it has exited; true while it runs.
    var running: Bool {
        if status != nil { return false }
        var st: Int32 = 0
        let w = waitpid(pid, &st, WNOHANG)
        if w == pid {
            status = st & 0x7f == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
            return false
        }
        return w == 0
    }

    /// SIGTERM, wait up to `grace` seconds, then SIGKILL and wait. Returns how it ended:
    /// "exited N" / "killed by SIGKILL after Ns".
    @discardableResult
    func stop(grace: Double = 20) -> String {
        if !running { return "had already exited (\(status ?? -1))" }
        kill(pid, SIGTERM)
        if Daemons.waitUntil(grace, { !running }) { return "exited \(status ?? -1) on SIGTERM" }
        kill(pid, SIGKILL)
        _ = Daemons.waitUntil(10) { !running }
        return "did not exit within \(Int(grace))s of SIGTERM: SIGKILLed"
    }

    deinit { if running { stop(grace: 5) } }
}

struct DaemonError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

// MARK: - What a daemon test leaves on the host

/// The host as it was before a daemon started: its mount table and whether the paths daemons
/// create outside their own directories existed (dockerd writes /etc/docker/key.json whatever
/// its flags; its managed containerd makes /opt/containerd; containerd-shim-runc-v2 makes
/// /run/containerd/s for its sockets and ctr /run/containerd/fifo). Paths that did not exist
/// are removed after the daemon stopped, so a test leaves the host as it found it.
final class HostSnapshot {
    let mounts: [String]
    private var absent: [String] = []

    static let daemonHostPaths = ["/etc/docker", "/opt/containerd", "/run/containerd"]

    init() {
        mounts = hostMounts()
        absent = Self.daemonHostPaths.filter { !Daemons.exists($0) }
    }

    /// Removes the daemon-made host paths that were absent before. Only directories and the
    /// files daemons are known to leave there; rmdir for the rest, so nothing foreign goes.
    func removeCreatedPaths() -> [String] {
        var notes: [String] = []
        for p in absent where Daemons.exists(p) {
            let r = Shell.run(["rm", "-rf", "--one-file-system", p])
            if r.status != 0 { notes.append("could not remove \(p), created by the daemon: \(r.stderr)") }
        }
        return notes
    }
}

/// Common life of a test daemon: a temp directory, a snapshot of the host, the process, and
/// the end of the test (`finish`): leftover checks, stop, clean-up, mount comparison.
class TestDaemon {
    let base: String
    let snapshot: HostSnapshot
    var process: DaemonProcess?
    /// Names of cgroups the daemon's containers are put under (docker --cgroup-parent, ctr's
    /// namespace): once the daemon stopped they must hold no leaf; they are then removed.
    var cgroupParents: [String] = []
    /// voidoci state directories (`--root`) the shims pass: empty after every test.
    var runtimeRoots: [String] { [] }
    private var finished = false

    init(kind: String) {
        base = "/tmp/\(Daemons.prefix)-\(kind)-\(Daemons.uid())"
        snapshot = HostSnapshot()
        mkdir(base, 0o700)
    }

    var logPath: String { "\(base)/daemon.log" }

    /// The daemon's log tail, for failure messages.
    var logTail: String { Daemons.tail(logPath) }

    /// Engine-specific: list what the test left (containers, tasks...). Empty when clean.
    func leftovers() -> [String] { [] }

    /// Engine-specific: remove whatever containers/tasks are left, forcibly.
    func forceRemoveAll() {}

    /// Leftover voidoci state entries in the runtime roots (one directory per void).
    func runtimeStateLeft() -> [String] {
        runtimeRoots.flatMap { root in Daemons.entries(root).map { "\(root)/\($0)" } }
    }

    /// Ends the test: records what it left, removes it, stops the daemon, cleans its directory
    /// and host paths, and compares the host mount table with the one before the daemon started.
    func finish(sourceLocation: SourceLocation) {
        if finished { return }
        finished = true
        if let p = process, p.running {
            let left = leftovers()
            if !left.isEmpty {
                Issue.record("left behind after the test: \(left.joined(separator: "; "))", sourceLocation: sourceLocation)
                forceRemoveAll()
            }
            var state: [String] = []
            if !Daemons.waitUntil(5, { state = runtimeStateLeft(); return state.isEmpty }) {
                Issue.record("voidoci state left in the runtime root after every container was removed: \(state)",
                             sourceLocation: sourceLocation)
            }
        }
        let how = process?.stop() ?? "never started"
        if let p = process, how.contains("SIGKILL") {
            Issue.record("\(p.argv[0]) \(how)\n\(logTail)", sourceLocation: sourceLocation)
        }
        // What the daemon started (its containerd, shims) goes with it; anything still naming
        // its directory a few seconds later is killed by pid and reported.
        var stray: [Int32] = []
        if !Daemons.waitUntil(5, { stray = Daemons.processes(mentioning: base); return stray.isEmpty }) {
            let desc = stray.map { "\($0): \((Daemons.read("/proc/\($0)/cmdline") ?? "").replacingOccurrences(of: "\0", with: " "))" }
            Issue.record("processes still running after the daemon stopped: \(desc)", sourceLocation: sourceLocation)
            for pid in stray { kill(pid, SIGKILL) }
            _ = Daemons.waitUntil(5) { stray.allSatisfy { !Daemons.alive($0) } }
        }
        // voids whose shim died with them still running: delete them through voidoci itself.
        for entry in runtimeStateLeft() {
            let root = (entry as NSString).deletingLastPathComponent, id = (entry as NSString).lastPathComponent
            Shell.runReaped([Daemons.runtime, "--root", root, "delete", "--force", id], env: ["PATH": Daemons.path], timeout: 20)
        }
        // Mounts still under the daemon's directory: docker's netns pins are its own business;
        // anything else is reported. All are detached before the directory is removed.
        let left = Daemons.mounts(under: base).sorted { $0.point.count > $1.point.count }
        let foreign = left.filter { !($0.fstype == "nsfs" && $0.point.contains("/netns/")) }
        if !foreign.isEmpty {
            Issue.record("mounts left under \(base) after the daemon stopped: \(foreign.map { "\($0.point) (\($0.fstype))" })",
                         sourceLocation: sourceLocation)
        }
        for m in left { _ = umount2(m.point, Int32(MNT_DETACH)) }
        cleanCgroups(sourceLocation: sourceLocation)
        let rm = Shell.run(["rm", "-rf", "--one-file-system", base], timeout: 120)
        if rm.status != 0 {
            Issue.record("could not remove \(base): \(rm.stderr)", sourceLocation: sourceLocation)
        }
        for note in snapshot.removeCreatedPaths() { Issue.record(Comment(rawValue: note), sourceLocation: sourceLocation) }
        let after = hostMounts()
        if after != snapshot.mounts {
            let added = after.filter { !snapshot.mounts.contains($0) }, gone = snapshot.mounts.filter { !after.contains($0) }
            Issue.record("the host mount table differs from the one before the daemon started: added \(added), removed \(gone)",
                         sourceLocation: sourceLocation)
        }
    }

    /// Each cgroup parent must have no child left (voidoci removes a void's leaf on delete);
    /// the parents, made for this test, are removed.
    private func cleanCgroups(sourceLocation: SourceLocation) {
        for name in cgroupParents {
            for root in Daemons.cgroupRoots() {
                let dir = "\(root)/\(name)"
                guard Daemons.exists(dir) else { continue }
                let children = Daemons.entries(dir).filter { e in
                    var st = stat()
                    return lstat("\(dir)/\(e)", &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
                }
                if !children.isEmpty {
                    Issue.record("cgroup leaves left under \(dir): \(children)", sourceLocation: sourceLocation)
                    for c in children { rmdir("\(dir)/\(c)") }
                }
                rmdir(dir)
            }
        }
    }

    deinit { finish(sourceLocation: SourceLocation(fileID: "IntegrationTests/DaemonSupport.swift", filePath: #filePath, line: #line, column: 1)) }
}

// MARK: - docker

/// dockerd with its own data root, exec root, pidfile, socket, config file and cgroup parent,
/// voidoci added as the runtime `voidoci`, no iptables, no bridge, the vfs storage driver (no
/// overlay mounts). It starts and manages its own containerd under the exec root.
final class DockerDaemon: TestDaemon {
    var socket: String { "\(base)/docker.sock" }
    var dataRoot: String { "\(base)/data" }
    var execRoot: String { "\(base)/exec" }
    let cgroupParent: String

    /// The voidoci state directory dockerd 20.10 has the shim pass (`--root`): the runc one,
    /// whatever the runtime.
    override var runtimeRoots: [String] { ["\(execRoot)/runtime-runc/moby", "\(execRoot)/runtime-voidoci/moby"] }

    static let runtimeName = "voidoci"

    private init() {
        cgroupParent = "\(Daemons.prefix)-docker-\(Daemons.uid())"
        super.init(kind: "docker")
        cgroupParents = [cgroupParent]
    }

    /// Starts a daemon for one test and runs `body` with it; the daemon is stopped and cleaned
    /// whatever happens in `body` (see `TestDaemon.finish`).
    static func with(sourceLocation: SourceLocation = #_sourceLocation, _ body: (DockerDaemon) throws -> Void) throws {
        try prerequisite(geteuid() == 0, "dockerd tests run as root", sourceLocation: sourceLocation)
        for p in [Daemons.dockerd, Daemons.docker, Daemons.runtime] {
            try prerequisite(Daemons.executable(p), "\(p) is not installed (scripts/install-deps.sh installs it)", sourceLocation: sourceLocation)
        }
        let d = DockerDaemon()
        defer { d.finish(sourceLocation: sourceLocation) }
        try d.start(sourceLocation: sourceLocation)
        try body(d)
    }

    var clientEnv: [String: String] {
        ["PATH": Daemons.path, "HOME": "\(base)/home", "DOCKER_CONFIG": "\(base)/client", "LANG": "C.UTF-8"]
    }

    private func start(sourceLocation: SourceLocation) throws {
        for d in ["home", "client"] { mkdir("\(base)/\(d)", 0o700) }
        _ = FileManager.default.createFile(atPath: "\(base)/daemon.json", contents: Data("{}\n".utf8))
        let argv = [
            Daemons.dockerd,
            "--config-file", "\(base)/daemon.json",
            "--data-root", dataRoot,
            "--exec-root", execRoot,
            "--pidfile", "\(base)/docker.pid",
            "-H", "unix://\(socket)",
            "--add-runtime", "\(Self.runtimeName)=\(Daemons.runtime)",
            "--iptables=false", "--ip6tables=false", "--bridge=none",
            "--storage-driver", "vfs",
            "--cgroup-parent", cgroupParent,
        ]
        process = try DaemonProcess(argv, env: ["PATH": Daemons.path, "HOME": "\(base)/home"], log: logPath)
        var last = Result(status: -1, stdout: "", stderr: "")
        let up = Daemons.waitUntil(30) {
            guard process?.running == true else { return false }
            last = docker(["info", "--format", "{{.ServerVersion}} {{json .Runtimes}}"], timeout: 10)
            return last.status == 0
        }
        try #require(up, "dockerd did not answer on \(socket): \(last)\n\(logTail)", sourceLocation: sourceLocation)
        try #require(last.stdout.contains("\"\(Self.runtimeName)\""), "voidoci is not among dockerd's runtimes: \(last)",
                     sourceLocation: sourceLocation)
    }

    /// `docker -H unix://SOCKET ARGS...` (Debian's client), reaped.
    @discardableResult
    func docker(_ args: [String], timeout: Double = 60) -> Result {
        Shell.runReaped([Daemons.docker, "-H", "unix://\(socket)"] + args, env: clientEnv, timeout: timeout)
    }

    @discardableResult
    func callAsFunction(_ args: String..., timeout: Double = 60) -> Result { docker(args, timeout: timeout) }

    /// `docker inspect -f FORMAT NAME`, trimmed ("" on failure).
    func inspect(_ name: String, _ format: String) -> String {
        let r = docker(["inspect", "-f", format, name], timeout: 20)
        return r.status == 0 ? Daemons.trimmed(r.stdout) : ""
    }

    /// A container name unique to this test.
    func name(_ tag: String) -> String { "\(Daemons.prefix)-\(tag)" }

    /// The busybox rootfs (scripts/make-rootfs.sh --busybox) imported as an image: a static
    /// busybox with every applet a symlink to it.
    func busyboxImage(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let tar = try #require(DaemonImages.busyboxTar, "could not tar the busybox rootfs", sourceLocation: sourceLocation)
        let img = "\(Daemons.prefix)-bb:test"
        let r = docker(["import", tar, img], timeout: 120)
        try #require(r.status == 0, "docker import \(tar) \(img): \(r)", sourceLocation: sourceLocation)
        return img
    }

    override func leftovers() -> [String] {
        let r = docker(["ps", "-a", "--format", "{{.Names}} {{.Status}}"], timeout: 20)
        return Daemons.lines(r.stdout).map { "container \($0)" }
    }

    override func forceRemoveAll() {
        let r = docker(["ps", "-aq"], timeout: 20)
        let ids = Daemons.lines(r.stdout)
        if !ids.isEmpty { docker(["rm", "-f"] + ids, timeout: 60) }
    }
}

// MARK: - containerd

/// containerd with its own root, state dir, socket and a minimal config (CRI disabled: no CNI,
/// no kubelet; the opt plugin under its dir), driven by ctr in a namespace of its own. The
/// shim (containerd-shim-runc-v2) runs voidoci as `--runc-binary`.
final class ContainerdDaemon: TestDaemon {
    var address: String { "\(base)/containerd.sock" }
    var root: String { "\(base)/root" }
    var state: String { "\(base)/state" }
    /// `ctr run --runc-root`: the voidoci state directory under the daemon's dir.
    var runcRoot: String { "\(base)/runc" }
    var fifoDir: String { "\(base)/fifo" }
    let namespace: String

    /// Without --runc-root the shim passes runc's default, /run/containerd/runc/NAMESPACE.
    static let defaultRuncRoot = "/run/containerd/runc"

    override var runtimeRoots: [String] { ["\(runcRoot)/\(namespace)", "\(Self.defaultRuncRoot)/\(namespace)"] }

    private init() {
        namespace = "\(Daemons.prefix)-\(Daemons.uid())"
        super.init(kind: "containerd")
        // ctr puts a task in the cgroup /NAMESPACE/ID.
        cgroupParents = [namespace]
    }

    static func with(sourceLocation: SourceLocation = #_sourceLocation, _ body: (ContainerdDaemon) throws -> Void) throws {
        try prerequisite(geteuid() == 0, "containerd tests run as root", sourceLocation: sourceLocation)
        for p in [Daemons.containerd, Daemons.ctr, "/usr/bin/containerd-shim-runc-v2", Daemons.runtime] {
            try prerequisite(Daemons.executable(p), "\(p) is not installed (scripts/install-deps.sh installs it)", sourceLocation: sourceLocation)
        }
        let d = ContainerdDaemon()
        defer {
            d.finish(sourceLocation: sourceLocation)
            // The namespace's directory under the default runc root, made by voidoci for it.
            rmdir("\(defaultRuncRoot)/\(d.namespace)")
        }
        try d.start(sourceLocation: sourceLocation)
        try body(d)
    }

    var config: String {
        """
        version = 2
        root = "\(root)"
        state = "\(state)"
        disabled_plugins = ["io.containerd.grpc.v1.cri"]

        [grpc]
          address = "\(address)"

        [ttrpc]
          address = "\(address).ttrpc"

        [plugins."io.containerd.internal.v1.opt"]
          path = "\(base)/opt"

        """
    }

    private func start(sourceLocation: SourceLocation) throws {
        _ = FileManager.default.createFile(atPath: "\(base)/config.toml", contents: Data(config.utf8))
        process = try DaemonProcess([Daemons.containerd, "--config", "\(base)/config.toml"],
                                    env: ["PATH": Daemons.path, "HOME": base], log: logPath)
        var last = Result(status: -1, stdout: "", stderr: "")
        let up = Daemons.waitUntil(30) {
            guard process?.running == true else { return false }
            last = ctr(["version"], timeout: 10)
            return last.status == 0
        }
        try #require(up, "containerd did not answer on \(address): \(last)\n\(logTail)", sourceLocation: sourceLocation)
    }

    /// `ctr --address ADDRESS --namespace NS ARGS...`, reaped.
    @discardableResult
    func ctr(_ args: [String], timeout: Double = 60) -> Result {
        Shell.runReaped([Daemons.ctr, "--address", address, "--namespace", namespace] + args,
                        env: ["PATH": Daemons.path, "HOME": base], timeout: timeout)
    }

    @discardableResult
    func callAsFunction(_ args: String..., timeout: Double = 60) -> Result { ctr(args, timeout: timeout) }

    /// `ctr run` flags that keep everything under the daemon's dir: voidoci as the runc binary,
    /// its state (`--runc-root`) and ctr's fifos here.
    var runFlags: [String] { ["--runc-binary", Daemons.runtime, "--runc-root", runcRoot, "--fifo-dir", fifoDir] }

    /// A container id unique to this test.
    func id(_ tag: String) -> String { "\(Daemons.prefix)-\(tag)" }

    /// `ctr task ls` as id → (pid, status).
    func tasks() -> [String: (pid: Int32, status: String)] {
        var out: [String: (Int32, String)] = [:]
        for line in Daemons.lines(ctr(["task", "ls"], timeout: 20).stdout).dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if f.count >= 3 { out[f[0]] = (Int32(f[1]) ?? 0, f[2]) }
        }
        return out
    }

    override func leftovers() -> [String] {
        let t = Daemons.lines(ctr(["task", "ls", "-q"], timeout: 20).stdout).map { "task \($0)" }
        let c = Daemons.lines(ctr(["container", "ls", "-q"], timeout: 20).stdout).map { "container \($0)" }
        return t + c
    }

    override func forceRemoveAll() {
        for t in Daemons.lines(ctr(["task", "ls", "-q"], timeout: 20).stdout) {
            ctr(["task", "kill", "-s", "KILL", t], timeout: 20)
            ctr(["task", "delete", "-f", t], timeout: 20)
        }
        for c in Daemons.lines(ctr(["container", "ls", "-q"], timeout: 20).stdout) {
            ctr(["container", "delete", c], timeout: 20)
        }
    }
}

// MARK: - images

/// The per-process image material: the busybox rootfs (Support.swift's, built once per test
/// process) as a tarball for `docker import`, removed at exit.
enum DaemonImages {
    static let busyboxTar: String? = {
        let tar = "/tmp/\(Daemons.prefix)-busybox.tar"
        let r = Shell.run(["tar", "-C", Env.busyboxRootfs, "--numeric-owner", "-cf", tar, "."], timeout: 120)
        guard r.status == 0 else { return nil }
        Env.registerCleanup(tar)
        return tar
    }()

    /// The busybox rootfs directory itself, for `ctr run --rootfs` (voidoci only reads it).
    static var busyboxRootfs: String { Env.busyboxRootfs }
}
