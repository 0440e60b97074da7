import Foundation
import Testing

// Support for PodmanTests: the real podman 4.3 (with conmon) driving the installed
// /usr/local/bin/voidoci, registered by name in containers.conf (scripts/host-setup.sh), as root
// and as the unprivileged VOIDOCI_TEST_USER. Nothing is faked: these are the calls a user makes.

/// The test images: a rootfs from scripts/make-rootfs.sh, tarred and `podman import`ed once per
/// test process and user under a name unique to the process, removed (`podman rmi -f`) at exit.
enum PodmanImage: CaseIterable {
    /// Static busybox with every applet as a symlink: /bin/sh, /bin/sleep, /bin/ls... are all
    /// the one static binary (no libraries).
    case busybox
    /// Host programs (dash as /bin/sh, coreutils ls/id/sleep...) with their libraries, the ELF
    /// interpreter and the host's ld.so.cache: dynamically linked programs.
    case host
    /// samples/activated-echo.c, static, alone (ListenTests).
    case echo
    /// Built from Debian packages: Python, Perl, OpenSSL, dash, coreutils, static busybox
    /// (ProfileTests).
    case debian

    var tag: String {
        switch self {
        case .busybox: "bb"
        case .host: "host"
        case .echo: "echo"
        case .debian: "deb"
        }
    }
}

/// A podman session for one test: `podman --runtime voidoci ...` as root or as the test user.
/// Names every container and pod uniquely, marks every container it creates with an annotation
/// of its own (so voidoci state can be traced back to this test), and on `close()` removes them
/// all (`rm -f -t 0`, `pod rm -f -t 0`) and checks that voidoci left no state for them.
final class Podman {
    let who: As
    /// Put on every container this session creates (`--annotation KEY=marker`): podman copies
    /// it into config.json, voidoci into its state, so leftovers are found whatever their id.
    let marker: String
    private var containers: [String] = []
    private var pods: [String] = []
    private var ids: Set<String> = []
    private var closed = false

    static let markerKey = "io.github.voidoci.podmantest"
    /// Every marker and name of this process starts with this.
    static let processPrefix = "vpt\(getpid())-"

    static let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    /// `voidoci` (registered in containers.conf: /usr/local/bin/voidoci), or VOIDOCI_PODMAN_RUNTIME:
    /// a path to another build, named `voidoci` so podman still speaks JSON logs to it.
    static let runtime: String = {
        let r = ProcessInfo.processInfo.environment["VOIDOCI_PODMAN_RUNTIME"] ?? ""
        return r.isEmpty ? "voidoci" : r
    }()
    /// VOIDOCI_PODMAN_TRACE=1: every podman call, its duration and status on stderr.
    static let trace = !(ProcessInfo.processInfo.environment["VOIDOCI_PODMAN_TRACE"] ?? "").isEmpty

    /// A session; the rootless one needs root (to setpriv) and the test user.
    static func open(_ who: As) throws -> Podman {
        try prerequisite(Env.isRoot, "podman tests run as root (rootless ones through setpriv)")
        try prerequisite(FileManager.default.isExecutableFile(atPath: "/usr/bin/podman"), "podman is not installed (scripts/install-deps.sh installs it)")
        try Env.requireUser(who)
        return Podman(who)
    }

    private init(_ who: As) {
        self.who = who
        marker = Podman.processPrefix + String(UUID().uuidString.prefix(8)).lowercased()
    }

    deinit { close() }

    // MARK: identity

    static var userUID: UInt32 { Env.testUID ?? 1001 }
    static var userHome: String {
        getpwnam(Env.testUser).map { String(cString: $0.pointee.pw_dir) } ?? "/home/\(Env.testUser)"
    }
    static var userRuntimeDir: String { "/run/user/\(userUID)" }

    /// voidoci's state directory as podman's calls see it: `$XDG_RUNTIME_DIR/voidoci` rootless,
    /// `/run/voidoci` rootful (podman passes an empty XDG_RUNTIME_DIR).
    var stateRoot: String { who == .root ? "/run/voidoci" : "\(Podman.userRuntimeDir)/voidoci" }

    /// The environment podman starts with; rootless podman needs XDG_RUNTIME_DIR and HOME
    /// (its storage and config live under them).
    var env: [String: String] {
        switch who {
        case .root:
            return ["PATH": Podman.path, "HOME": "/root", "LANG": "C.UTF-8"]
        case .user:
            return ["PATH": Podman.path, "HOME": Podman.userHome, "XDG_RUNTIME_DIR": Podman.userRuntimeDir,
                    "USER": Env.testUser, "LOGNAME": Env.testUser, "LANG": "C.UTF-8"]
        }
    }

    /// argv that runs `podman --runtime voidoci ARGS` as this session's user, from /tmp (a cwd
    /// the test user can read: podman re-executes itself and needs it).
    func argv(_ args: [String]) -> [String] {
        let podman = ["/usr/bin/env", "-C", "/tmp", "podman", "--runtime", Podman.runtime] + args
        switch who {
        case .root: return podman
        case .user:
            return ["/usr/bin/setpriv", "--reuid=\(Env.testUser)", "--regid=\(Env.testUser)", "--init-groups", "--"] + podman
        }
    }

    /// `--network none` for rootless runs (no slirp4netns needed), nothing rootful.
    var net: [String] { who == .user ? ["--network", "none"] : [] }

    // MARK: names

    func name(_ tag: String) -> String {
        let n = "\(marker)-\(tag)"
        containers.append(n)
        return n
    }

    func podName(_ tag: String) -> String {
        let n = "\(marker)-pod-\(tag)"
        pods.append(n)
        return n
    }

    /// Remembers a full container id for the leftover check (e.g. a pod's infra container).
    func track(id: String) { if !id.isEmpty { ids.insert(id) } }

    // MARK: calling podman

    /// `podman --runtime voidoci ARGS...` through Shell.runReaped: conmon and the container
    /// inherit whatever podman holds, so waiting on pipes' EOF would block. `run` and `create`
    /// get this session's marker annotation.
    @discardableResult
    func callAsFunction(_ args: String..., timeout: Double = 60) -> Result { call(args, timeout: timeout) }

    /// ARGS with this session's marker annotation added to `run` and `create`.
    func marked(_ args: [String]) -> [String] {
        var a = args
        if let verb = a.first, verb == "run" || verb == "create" {
            a.insert(contentsOf: ["--annotation", "\(Podman.markerKey)=\(marker)"], at: 1)
        }
        return a
    }

    @discardableResult
    func call(_ args: [String], timeout: Double = 60, fd3: String? = nil) -> Result {
        let a = marked(args)
        var full = argv(a)
        if let fd3 {
            // Opened by root before dropping privileges: the fd is the capability.
            full = ["/bin/sh", "-c", "exec 3<\"$0\" && exec \"$@\"", fd3] + full
        }
        let t0 = Date()
        let r = Shell.runReaped(full, env: env, timeout: timeout)
        if Podman.trace {
            let ms = Int(Date().timeIntervalSince(t0) * 1000)
            FileHandle.standardError.write(Data("[podman as \(who), \(ms) ms, status \(r.status)] \(a.joined(separator: " "))\n".utf8))
        }
        if r.status == 0, a.first == "run", a.contains("-d") || a.contains("--detach") {
            track(id: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return r
    }

    /// `podman inspect --format FORMAT NAME`, trimmed ("" on failure).
    func inspect(_ name: String, _ format: String) -> String {
        let r = call(["inspect", "--format", format, name])
        return r.status == 0 ? r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : ""
    }

    /// The container's pid as podman reports it (host pid namespace), 0 if unknown.
    func pid(_ name: String) -> Int32 { Int32(inspect(name, "{{.State.Pid}}")) ?? 0 }

    /// Polls `podman logs NAME` until it contains `text`; returns the last output.
    func logs(_ name: String, until text: String, timeout: Double = 10) -> String {
        var last = ""
        _ = Podman.waitUntil(timeout) {
            let r = call(["logs", name])
            last = r.stdout + r.stderr
            return last.contains(text)
        }
        return last
    }

    // MARK: images

    /// This process's image of `kind` for this session's user, imported on first use.
    func image(_ kind: PodmanImage) throws -> String {
        let img = PodmanImages.shared.get(kind, for: who)
        try #require(img.ok, "podman import of the \(kind.tag) image as \(who) failed: \(img.error)")
        return img.name
    }

    // MARK: clean-up

    /// Removes every container and pod of this session, then checks voidoci kept no state for
    /// them (a state dir named by a known id, or any state file carrying the marker).
    func close() {
        if closed { return }
        closed = true
        if containers.isEmpty && pods.isEmpty && ids.isEmpty { return }
        for p in pods.reversed() {
            let infra = call(["pod", "inspect", "--format", "{{.InfraContainerID}}", p])
            if infra.status == 0 { track(id: infra.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        for c in containers {
            let r = call(["inspect", "--format", "{{.ID}}", c])
            if r.status == 0 { track(id: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        if !containers.isEmpty {
            // -t 0: KILL at once; a name that never became a container is not an error (-i).
            call(["rm", "-f", "-i", "-t", "0"] + containers)
        }
        for p in pods { call(["pod", "rm", "-f", "-i", "-t", "0", p]) }
        var left: [String] = []
        let gone = Podman.waitUntil(5) {
            left = Podman.stateEntries(in: stateRoot, matching: marker, ids: ids)
            return left.isEmpty
        }
        #expect(gone, "voidoci state left behind in \(stateRoot) for this test's containers: \(left)")
    }

    // MARK: observations

    /// Entries of a voidoci state dir that belong to us: named by one of `ids`, or holding a
    /// file that mentions `matching` (the marker annotation travels into the state).
    static func stateEntries(in root: String, matching: String, ids: Set<String> = []) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return entries.filter { e in
            if ids.contains(e) { return true }
            let dir = "\(root)/\(e)"
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) else { return false }
            let files = isDir.boolValue ? ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).map { "\(dir)/\($0)" } : [dir]
            return files.contains { (Podman.readFile($0) ?? "").contains(matching) }
        }.sorted()
    }

    static func readFile(_ path: String) -> String? { Host.read(path) }

    static func alive(_ pid: Int32) -> Bool { Host.alive(pid) }

    static func statusField(_ pid: Int32, _ field: String) -> String? { Host.statusField(pid, field) }

    /// The namespace link of a process (`net:[4026531840]`), nil if unreadable.
    static func ns(_ pid: Int32, _ kind: String) -> String? {
        var buf = [CChar](repeating: 0, count: 256)
        let n = readlink("/proc/\(pid)/ns/\(kind)", &buf, buf.count - 1)
        return n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }

    /// The interface names of /proc/net/dev text.
    static func interfaces(_ netDev: String) -> [String] {
        netDev.split(separator: "\n").compactMap { line in
            guard let colon = line.firstIndex(of: ":"), !line.contains("|") else { return nil }
            return line[..<colon].trimmingCharacters(in: .whitespaces)
        }
    }

    /// A pure cgroup v2 host (else v1 or hybrid, like this project's VM).
    static var hostCgroupV2: Bool { FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") }

    /// Who gets cgroups from podman: root always; rootless podman only on cgroup v2 (on v1 it
    /// refuses `pause` and ignores limits: "this container does not have a cgroup").
    static let cgroupCases: [As] = hostCgroupV2 ? As.allCases : [.root]

    /// The cgroup directory of `pid` for `controller`: its v1 hierarchy if mounted, else the
    /// unified one.
    static func cgroupDir(_ pid: Int32, controller: String) -> String? {
        guard let text = readFile("/proc/\(pid)/cgroup") else { return nil }
        var unified: String?
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard f.count == 3 else { continue }
            if f[1].split(separator: ",").contains(Substring(controller)) { return "/sys/fs/cgroup/\(controller)\(f[2])" }
            if f[0] == "0" && f[1].isEmpty { unified = f[2] }
        }
        guard let u = unified else { return nil }
        return hostCgroupV2 ? "/sys/fs/cgroup\(u)" : "/sys/fs/cgroup/unified\(u)"
    }

    static func waitUntil(_ seconds: Double, _ cond: () -> Bool) -> Bool { Host.waitUntil(seconds, every: 50_000, cond) }

    /// A host directory for volumes, mode `mode`, removed at exit.
    static func hostDir(_ tag: String, mode: mode_t = 0o777) -> String {
        let d = "/tmp/\(processPrefix)\(tag)-\(UUID().uuidString.prefix(6))"
        mkdir(d, 0o755)
        chmod(d, mode)
        PodmanImages.shared.removeAtExit(d)
        return d
    }
}

/// The per-process images and the exit-time clean-up (images, tars, temp dirs).
final class PodmanImages: @unchecked Sendable {
    static let shared = PodmanImages()

    struct Imported { var name: String; var who: As; var ok: Bool; var error: String }

    private let lock = NSLock()
    private var imported: [String: Imported] = [:]
    private var tars: [PodmanImage: String] = [:]
    private var paths: [String] = []
    private var exitHook = false

    func get(_ kind: PodmanImage, for who: As) -> Imported {
        lock.lock()
        defer { lock.unlock() }
        installExitHook()
        let key = "\(kind.tag)/\(who)"
        if let i = imported[key] { return i }
        let name = "localhost/\(Podman.processPrefix)\(kind.tag):test"
        var result = Imported(name: name, who: who, ok: false, error: "")
        if let tar = tarball(kind) {
            let p = try! Podman.open(who)
            let r = p.call(["import", tar, name], timeout: 120)
            result.ok = r.status == 0
            result.error = r.description
        } else {
            result.error = "could not build the \(kind.tag) rootfs tarball"
        }
        imported[key] = result
        return result
    }

    func removeAtExit(_ path: String) {
        lock.lock()
        defer { lock.unlock() }
        installExitHook()
        paths.append(path)
    }

    /// The rootfs (Support.swift's, built once per process) as a world-readable tarball.
    private func tarball(_ kind: PodmanImage) -> String? {
        if let t = tars[kind] { return t }
        let rootfs = switch kind {
        case .busybox: Env.busyboxRootfs
        case .host: Env.hostRootfs
        case .echo: ListenTests.rootfs
        case .debian: Env.debianRootfs
        }
        let tar = "/tmp/\(Podman.processPrefix)\(kind.tag).tar"
        let r = Shell.run(["tar", "-C", rootfs, "--numeric-owner", "-cf", tar, "."], timeout: 120)
        guard r.status == 0 else { return nil }
        chmod(tar, 0o644)
        tars[kind] = tar
        paths.append(tar)
        return tar
    }

    private func installExitHook() {
        if exitHook { return }
        exitHook = true
        atexit { PodmanImages.shared.cleanUp() }
    }

    private func cleanUp() {
        for (_, img) in imported where img.ok {
            if let p = try? Podman.open(img.who) {
                // Force: also removes a container a failed test could not.
                p.call(["rmi", "-f", img.name], timeout: 60)
            }
        }
        for path in paths { _ = Shell.run(["rm", "-rf", path]) }
    }
}

// MARK: - A real terminal for -it

/// Runs argv with a fresh pty as its controlling terminal and stdio (the way a user's shell runs
/// `podman run -it`), and talks to it through the master.
final class PodmanPty {
    let master: Int32
    let pid: pid_t
    private(set) var output: [UInt8] = []
    private var status: Int32?

    private typealias OpenPt = @convention(c) (Int32) -> Int32
    private typealias PtFn = @convention(c) (Int32) -> Int32
    private typealias PtsNameR = @convention(c) (Int32, UnsafeMutablePointer<CChar>?, Int) -> Int32

    private static func sym<T>(_ name: String, _: T.Type) -> T? {
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), name).map { unsafeBitCast($0, to: T.self) }
    }

    init(_ argv: [String], env: [String: String], rows: Int = 24, cols: Int = 80) throws {
        guard let openpt = Self.sym("posix_openpt", OpenPt.self), let grant = Self.sym("grantpt", PtFn.self),
              let unlock = Self.sym("unlockpt", PtFn.self), let ptsname = Self.sym("ptsname_r", PtsNameR.self)
        else { throw PtyError.missing("posix_openpt & co.") }
        let m = openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard m >= 0 else { throw PtyError.failed("posix_openpt: \(errno)") }
        var name = [CChar](repeating: 0, count: 128)
        guard grant(m) == 0, unlock(m) == 0, ptsname(m, &name, name.count) == 0 else {
            Glibc.close(m)
            throw PtyError.failed("grantpt/unlockpt/ptsname_r: \(errno)")
        }
        let slave = String(decoding: name.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)

        // setsid -c: a new session whose controlling terminal is the pty on fd 0; stty gives the
        // terminal a size (podman and conmon copy it to the container's pty).
        let full = ["/usr/bin/setsid", "-c", "/bin/sh", "-c", "stty rows \(rows) cols \(cols) 2>/dev/null; exec \"$@\"", "sh"] + argv
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_addopen(&fa, 0, slave, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&fa, 0, 1)
        posix_spawn_file_actions_adddup2(&fa, 0, 2)
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let closefrom = Self.sym("posix_spawn_file_actions_addclosefrom_np", CloseFrom.self) { _ = closefrom(&fa, 3) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var mask = sigset_t(), dfl = sigset_t()
        sigemptyset(&mask)
        sigemptyset(&dfl)
        for sig in Int32(1)..<32 where sig != SIGKILL && sig != SIGSTOP { sigaddset(&dfl, sig) }
        posix_spawnattr_setsigmask(&attr, &mask)
        posix_spawnattr_setsigdefault(&attr, &dfl)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let cargv: [UnsafeMutablePointer<CChar>?] = full.map { strdup($0) } + [nil]
        let cenv: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cargv.forEach { free($0) }; cenv.forEach { free($0) } }
        var p: pid_t = 0
        let rc = posix_spawn(&p, full[0], &fa, &attr, cargv, cenv)
        guard rc == 0 else {
            Glibc.close(m)
            throw PtyError.failed("posix_spawn: \(String(cString: strerror(rc)))")
        }
        master = m
        pid = p
    }

    enum PtyError: Error { case missing(String), failed(String) }

    /// `podman --runtime voidoci ARGS` of a session on a fresh terminal.
    convenience init(_ podman: Podman, _ args: [String]) throws {
        try self.init(podman.argv(podman.marked(args)), env: podman.env)
    }

    var text: String { String(decoding: output, as: UTF8.self) }

    /// Reads until the output (from `from` on) contains `marker`, EOF/EIO or the timeout.
    @discardableResult
    func expect(_ marker: String, from: Int = 0, timeout: Double = 15) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            if output.count > from, String(decoding: output[from...], as: UTF8.self).contains(marker) { return true }
            if Date() >= deadline { return false }
            var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, 100)
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { continue }
            let n = buf.withUnsafeMutableBytes { Glibc.read(master, $0.baseAddress, $0.count) }
            if n <= 0 { return false }
            output += buf[0..<n]
        }
    }

    func send(_ s: String) {
        let bytes = Array(s.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(master, $0.baseAddress, $0.count) }
    }

    /// Waits for the process (draining the master meanwhile); nil on timeout (then it is killed).
    func wait(timeout: Double = 20) -> Int32? {
        if let status { return status }
        let deadline = Date().addingTimeInterval(timeout)
        var st: Int32 = 0
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let w = waitpid(pid, &st, WNOHANG)
            if w == pid {
                status = st & 0x7f == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
                return status
            }
            if Date() >= deadline { break }
            var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 50) > 0 {
                let n = buf.withUnsafeMutableBytes { Glibc.read(master, $0.baseAddress, $0.count) }
                if n > 0 { output += buf[0..<n] }
            }
        }
        kill(pid, SIGKILL)
        _ = waitpid(pid, &st, 0)
        status = -1
        return nil
    }

    deinit {
        if status == nil { kill(pid, SIGKILL); var st: Int32 = 0; _ = waitpid(pid, &st, 0) }
        Glibc.close(master)
    }
}
