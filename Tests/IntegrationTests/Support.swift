import Foundation
import Testing

/// Runs the real voidoci binary (VOIDOCI_BIN, else the debug build) on real bundles, as root or
/// as the unprivileged VOIDOCI_TEST_USER. Nothing here fakes the kernel.
/// A test's prerequisite (root, an installed tool, a test user): when it is missing the test is
/// cancelled, which the runner reports as skipped with this reason. Only for what the machine
/// lacks, never for what voidoci does: CI's machine has every prerequisite (scripts/setup.sh).
func prerequisite(_ ok: Bool, _ why: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    guard !ok else { return }
    // swift-testing 6.3's console counts a cancelled case as passed: the line below is what
    // says it was skipped (scripts/test.sh counts these lines in its summary).
    let name = Test.current.map { $0.displayName ?? $0.name } ?? "a test"
    print("SKIPPED \(name) (\(sourceLocation.fileName):\(sourceLocation.line)): \(why())")
    try Test.cancel("skipped: \(why())", sourceLocation: sourceLocation)
}

enum Env {
    static let repo: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static let bin: String = {
        if let b = ProcessInfo.processInfo.environment["VOIDOCI_BIN"], !b.isEmpty { return b }
        return "\(repo)/.build/debug/voidoci"
    }()

    static let testUser: String = ProcessInfo.processInfo.environment["VOIDOCI_TEST_USER"] ?? "voidtest"
    static let isRoot = geteuid() == 0

    static let testUID: UInt32? = getpwnam(testUser).map { $0.pointee.pw_uid }
    static let testGID: UInt32? = getpwnam(testUser).map { $0.pointee.pw_gid }
    static var hasTestUser: Bool { isRoot && testUID != nil }

    /// A rootless case needs root (to drop to the test user) and that user: without them the case
    /// is reported skipped, with the reason, never passed or failed.
    static func requireUser(_ who: As, sourceLocation: SourceLocation = #_sourceLocation) throws {
        if who == .user {
            try prerequisite(isRoot, "rootless cases drop from root to \(testUser): run the suite as root", sourceLocation: sourceLocation)
            try prerequisite(testUID != nil, "no user \(testUser) (VOIDOCI_TEST_USER; scripts/host-setup.sh makes voidtest)", sourceLocation: sourceLocation)
        }
    }

    /// Rootfs images built once per test process from host binaries (scripts/make-rootfs.sh),
    /// removed when the process exits.
    static let hostRootfs: String = makeRootfs("--host")
    static let busyboxRootfs: String = makeRootfs("--busybox")
    /// Built from Debian packages (dpkg -L of each and its dependencies): Python, Perl, OpenSSL,
    /// dash, coreutils and static busybox (ProfileTests).
    static let debianRootfs: String = makeRootfs("--debian", ["python3", "perl", "openssl", "dash", "coreutils", "busybox-static"])

    nonisolated(unsafe) static var cleanup: [String] = []

    static func makeRootfs(_ kind: String, _ args: [String] = []) -> String {
        let dir = "/tmp/voidoci-test-\(getpid())-rootfs\(kind)"
        let r = Shell.run(["bash", "\(repo)/scripts/make-rootfs.sh", dir, kind] + args, timeout: 300)
        precondition(r.status == 0, "make-rootfs \(kind) failed: \(r.stderr)")
        // World-readable so the unprivileged test user can use it too.
        _ = Shell.run(["chmod", "755", dir])
        registerCleanup(dir)
        return dir
    }

    static func registerCleanup(_ path: String) {
        if cleanup.isEmpty { atexit { for p in Env.cleanup { _ = Shell.run(["rm", "-rf", p]) } } }
        cleanup.append(path)
    }
}

struct Result: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    /// Set by `Shell.runReaped`: the signal that ended the process (`status` is then 128+N,
    /// which an exit status can equal), and whether it was killed for outliving the timeout.
    var signal: Int32? = nil
    var timedOut = false
    var description: String { "status \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

enum Shell {
    /// Runs argv to completion; stdin is /dev/null unless given.
    @discardableResult
    static func run(_ argv: [String], env: [String: String]? = nil, stdin: String? = nil, timeout: Double = 60) -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0].hasPrefix("/") ? argv[0] : "/usr/bin/env")
        p.arguments = argv[0].hasPrefix("/") ? Array(argv.dropFirst()) : argv
        if let env { p.environment = env }
        // Output goes to temp files: no pipe to drain concurrently, no deadlock on big output.
        let base = "/tmp/voidoci-test-\(getpid())-out-\(UUID().uuidString.prefix(8))"
        FileManager.default.createFile(atPath: base + ".o", contents: nil)
        FileManager.default.createFile(atPath: base + ".e", contents: nil)
        defer { unlink(base + ".o"); unlink(base + ".e") }
        let out = FileHandle(forWritingAtPath: base + ".o")!, err = FileHandle(forWritingAtPath: base + ".e")!
        p.standardOutput = out
        p.standardError = err
        if let stdin {
            let inp = Pipe()
            p.standardInput = inp
            inp.fileHandleForWriting.write(stdin.data(using: .utf8)!)
            try? inp.fileHandleForWriting.close()
        } else {
            p.standardInput = FileHandle.nullDevice
        }
        do { try p.run() } catch { return Result(status: -1, stdout: "", stderr: "\(error)") }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(2000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        try? out.close()
        try? err.close()
        let o = FileManager.default.contents(atPath: base + ".o") ?? Data()
        let e = FileManager.default.contents(atPath: base + ".e") ?? Data()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}

/// Who runs voidoci in a test.
enum As: CustomStringConvertible, CaseIterable {
    case root, user
    var description: String { self == .root ? "root" : "unprivileged user" }
}

/// A bundle in a fresh temp dir, with a state dir of its own; `close()` deletes every void the
/// test created (delete --force) and the directories, even after a failed expectation.
final class TestBundle {
    let dir: String
    let stateRoot: String
    let who: As
    var config: [String: Any]
    private var ids: [String] = []

    init(rootfs: String = Env.hostRootfs, args: [String], as who: As = .root, edit: ((inout [String: Any]) -> Void)? = nil) {
        self.who = who
        dir = "/tmp/voidoci-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        stateRoot = "\(dir)/state"
        mkdir(dir, 0o755)
        mkdir(stateRoot, 0o700)
        if who == .user, let uid = Env.testUID, let gid = Env.testGID { chown(stateRoot, uid, gid) }
        config = [
            "ociVersion": "1.0.2",
            "process": ["user": ["uid": 0, "gid": 0], "args": args,
                        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "cwd": "/"] as [String: Any],
            "root": ["path": rootfs],
            "linux": ["namespaces": [["type": "pid"], ["type": "mount"], ["type": "ipc"], ["type": "uts"], ["type": "network"]]],
        ]
        edit?(&config)
        write()
    }

    func edit(_ f: (inout [String: Any]) -> Void) { f(&config); write() }

    func write() {
        let data = try! JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        FileManager.default.createFile(atPath: "\(dir)/config.json", contents: data)
        chmod("\(dir)/config.json", 0o644)
    }

    /// Writes raw text as config.json (malformed-input tests).
    func writeRaw(_ text: String) { FileManager.default.createFile(atPath: "\(dir)/config.json", contents: text.data(using: .utf8)) }

    /// Runs `voidoci --root STATE ARGS...` as this bundle's user; remembers ids for cleanup.
    @discardableResult
    func voidoci(_ args: [String], stdin: String? = nil, timeout: Double = 60, extraEnv: [String: String] = [:]) -> Result {
        if let id = args.last, ["create", "run"].contains(where: args.contains) { ids.append(id) }
        var env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        for (k, v) in extraEnv { env[k] = v }
        var argv = [Env.bin, "--root", stateRoot] + args
        if who == .user {
            argv = ["/usr/bin/setpriv", "--reuid=\(Env.testUser)", "--regid=\(Env.testUser)", "--init-groups", "--"] + argv
        }
        return Shell.run(argv, env: env, stdin: stdin, timeout: timeout)
    }

    /// `run --bundle DIR ID`.
    func run(_ id: String = "t\(UUID().uuidString.prefix(6))", timeout: Double = 60) -> Result {
        voidoci(["run", "--bundle", dir, id], timeout: timeout)
    }

    private var closed = false

    func close() {
        if closed { return }
        closed = true
        for id in ids { voidoci(["delete", "--force", id]) }
        _ = Shell.run(["rm", "-rf", dir])
    }

    deinit { close() }
}

/// The host's mount table, normalised: mount point, fs type and source.
func hostMounts() -> [String] {
    let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").map { line in
        let f = line.split(separator: " ")
        guard let dash = f.firstIndex(of: "-"), dash + 2 < f.count else { return String(line) }
        return "\(f[4]) \(f[dash + 1]) \(f[dash + 2])"
    }.sorted()
}

// MARK: - Reaped spawning (appended for LifecycleTests, BadInputTests, CLITests)

extension Shell {
    /// Like `run`, but posix_spawn + waitpid, with every fd above 2 closed in the child.
    /// Foundation's Process learns of an exit from EOF on a socket its child inherits, so `run`
    /// blocks while a grandchild holding that socket lives (a void's init after `create`, should
    /// it keep an inherited fd). This one returns when the process exits.
    /// The child starts with default signal dispositions and only `blocked` blocked, whatever
    /// the mask of the test thread that spawns it.
    @discardableResult
    static func runReaped(_ argv: [String], env: [String: String], timeout: Double = 60, blocked: [Int32] = []) -> Result {
        let base = "/tmp/voidoci-test-\(getpid())-out-\(UUID().uuidString.prefix(8))"
        defer { unlink(base + ".o"); unlink(base + ".e") }
        let pid: pid_t
        do { pid = try spawn(argv, env: env, stdout: base + ".o", stderr: base + ".e", blocked: blocked) } catch {
            return Result(status: -1, stdout: "", stderr: "\(error)")
        }
        var st: Int32 = 0
        var timedOut = false
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let w = waitpid(pid, &st, WNOHANG)
            if w == pid || (w < 0 && errno != EINTR) { break }
            if Date() > deadline { timedOut = true; kill(pid, SIGKILL) }
            usleep(2000)
        }
        let status: Int32 = st & 0x7f == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
        let o = FileManager.default.contents(atPath: base + ".o") ?? Data()
        let e = FileManager.default.contents(atPath: base + ".e") ?? Data()
        return Result(status: status, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self),
                      signal: st & 0x7f == 0 ? nil : st & 0x7f, timedOut: timedOut)
    }
}

extension TestBundle {
    /// `voidoci(...)` through `Shell.runReaped` (argv[0] must be absolute); remembers ids for cleanup.
    @discardableResult
    func voidociReaped(_ args: [String], timeout: Double = 60, extraEnv: [String: String] = [:]) -> Result {
        if let id = args.last, ["create", "run"].contains(where: args.contains) { ids.append(id) }
        var env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        for (k, v) in extraEnv { env[k] = v }
        var argv = [Env.bin, "--root", stateRoot] + args
        if who == .user {
            argv = ["/usr/bin/setpriv", "--reuid=\(Env.testUser)", "--regid=\(Env.testUser)", "--init-groups", "--"] + argv
        }
        return Shell.runReaped(argv, env: env, timeout: timeout)
    }
}

/// What the kernel and the file system say, read the same way by every suite.
enum Host {
    /// A whole file by read(2): /proc files report size 0, so nothing is read by size.
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// The entries of a directory, sorted (none if it does not exist).
    static func entries(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    /// The state letter of /proc/PID/stat (fields counted after the last ')' of comm).
    static func procState(_ pid: Int32) -> String? {
        guard pid > 0, let text = read("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ").first.map(String.init)
    }

    /// Exists and is neither a zombie nor dead.
    static func alive(_ pid: Int32) -> Bool {
        guard let s = procState(pid) else { return false }
        return s != "Z" && s != "X"
    }

    /// A field of /proc/PID/status (e.g. "PPid", "NSpid"), its value trimmed.
    static func statusField(_ pid: Int32, _ name: String) -> String? {
        guard let text = read("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// Polls `cond` until it holds or `seconds` pass.
    static func waitUntil(_ seconds: Double, every micros: UInt32 = 10_000, _ cond: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if cond() { return true }
            usleep(micros)
        }
        return cond()
    }
}

// MARK: - Host snapshots (FaultTests; for any suite that must leave the host as it found it)

extension Host {
    /// Mount points of the cgroup hierarchies (v1 controllers and the v2 one), from mountinfo.
    static func cgroupMounts() -> [String] {
        (read("/proc/self/mountinfo") ?? "").split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard let dash = f.firstIndex(of: "-"), dash + 1 < f.count,
                  f[dash + 1] == "cgroup" || f[dash + 1] == "cgroup2" else { return nil }
            return String(f[4])
        }.sorted()
    }

    /// Every directory at and below `relative` in every cgroup hierarchy, as full paths.
    static func cgroupDirs(under relative: [String]) -> Set<String> {
        var out: Set<String> = []
        func walk(_ dir: String) {
            var st = stat()
            guard lstat(dir, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return }
            out.insert(dir)
            for e in entries(dir) { walk("\(dir)/\(e)") }
        }
        for m in cgroupMounts() { for r in relative { walk("\(m)/\(r)") } }
        return out
    }

    /// Removes cgroup directories, children first (rmdir only: a leaf with a process stays).
    static func removeCgroups(_ dirs: some Collection<String>) {
        for d in dirs.sorted(by: { $0.count > $1.count }) { rmdir(d) }
    }

    /// Live processes (not this one) whose command line or environment contains a marker,
    /// with their command line. Root reads every process's environ.
    static func processes(mentioning markers: [String]) -> [Int32: String] {
        let me = getpid()
        var out: [Int32: String] = [:]
        for p in entries("/proc").compactMap({ Int32($0) }) where p != me {
            let cmd = (read("/proc/\(p)/cmdline") ?? "").replacingOccurrences(of: "\0", with: " ")
            let env = read("/proc/\(p)/environ") ?? ""
            guard markers.contains(where: { cmd.contains($0) || env.contains($0) }), alive(p) else { continue }
            out[p] = cmd.trimmingCharacters(in: .whitespaces)
        }
        return out
    }

    /// This process's open fds: number → what they point at.
    static func ownFDs() -> [String: String] {
        var out: [String: String] = [:]
        for fd in entries("/proc/self/fd") {
            out[fd] = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) ?? "?"
        }
        return out
    }
}

/// What a void can leave on the host, read at one moment: the mount table (as scripts/test.sh
/// compares it), cgroup directories under the given parents, the state root's entries (temp
/// dirs included), processes carrying a marker, and this process's fds.
struct HostState {
    let mounts: [String]
    let cgroups: Set<String>
    let stateEntries: [String]
    let processes: [Int32: String]
    let fds: [String: String]

    /// Where container engines mount: left out of the comparison only when asked
    /// (`VOIDOCI_FAULT_IGNORE_ENGINES=1`, for a machine where engines run beside the suite).
    /// The suite runs serially, so by default every mount counts.
    static let enginePaths = ProcessInfo.processInfo.environment["VOIDOCI_FAULT_IGNORE_ENGINES"] == "1"
        ? ["/var/lib/containers", "/run/containers", "/var/lib/docker", "/run/docker",
           "/var/lib/containerd", "/run/containerd", "/run/netns", "/run/user"]
        : []

    /// `ignoring`: a cgroup directory name (a parent shared by many voids) left out.
    init(stateRoot: String, markers: [String], cgroups relative: [String], ignoring: String? = nil) {
        mounts = hostMounts()
        cgroups = Host.cgroupDirs(under: relative).filter { d in ignoring.map { !d.hasSuffix("/\($0)") } ?? true }
        stateEntries = Host.entries(stateRoot)
        processes = Host.processes(mentioning: markers)
        fds = Host.ownFDs()
    }

    /// What this snapshot has that `before` had not (and mounts that went away), one line each.
    func leftovers(since before: HostState, enginePaths: [String] = HostState.enginePaths) -> [String] {
        var out: [String] = []
        let mine = { (m: String) in !enginePaths.contains { m.hasPrefix($0 + "/") || m.hasPrefix($0 + " ") } }
        var was = Dictionary(before.mounts.filter(mine).map { ($0, 1) }, uniquingKeysWith: +)
        for m in mounts where mine(m) { if let n = was[m], n > 0 { was[m] = n - 1 } else { out.append("mount \(m)") } }
        for (m, n) in was where n > 0 { out.append("mount gone: \(m)") }
        // One line per cgroup path, naming the hierarchies it is left in.
        var where_: [String: [String]] = [:]
        let hierarchies = Host.cgroupMounts()
        for d in cgroups.subtracting(before.cgroups) {
            let m = hierarchies.filter { d.hasPrefix($0 + "/") }.max { $0.count < $1.count } ?? ""
            where_[String(d.dropFirst(m.count)), default: []].append((m as NSString).lastPathComponent)
        }
        out += where_.sorted { $0.key < $1.key }.map { rel, hs in
            "cgroup \(rel) in " + (hs.count == hierarchies.count ? "every hierarchy" : hs.sorted().joined(separator: ","))
        }
        out += stateEntries.filter { !before.stateEntries.contains($0) }.map { "state root entry \($0)" }
        out += processes.keys.filter { before.processes[$0] == nil }.sorted().map { "process \($0) (\(processes[$0]!))" }
        // libdispatch opens its event loop's fds in this process when it first needs them.
        let dispatch = ["anon_inode:[eventfd]", "anon_inode:[eventpoll]", "anon_inode:[timerfd]"]
        out += fds.filter { before.fds[$0.key] != $0.value && !dispatch.contains($0.value) }.sorted { $0.key < $1.key }.map { "test fd \($0.key) -> \($0.value)" }
        return out
    }
}

extension Shell {
    /// Starts argv (absolute) with stdin /dev/null, stdout and stderr to `output`, every other fd
    /// closed and default signal dispositions; the caller waits with `waitExit`.
    static func start(_ argv: [String], env: [String: String], output: String) -> pid_t? {
        try? spawn(argv, env: env, stdout: output, append: true)
    }

    struct SpawnError: Error, CustomStringConvertible { let description: String }

    /// posix_spawn of argv (absolute), the one way the tests start a process they reap
    /// themselves: stdin /dev/null, stdout to `stdout` and stderr to `stderr` (nil: the same
    /// file), every other fd closed, default signal dispositions and only `blocked` blocked
    /// (whatever the spawning test thread had), and with `ownGroup` a process group of its own
    /// (a terminal's ^C does not reach it).
    static func spawn(_ argv: [String], env: [String: String], stdout: String, stderr: String? = nil,
                      append: Bool = false, blocked: [Int32] = [], ownGroup: Bool = false) throws -> pid_t {
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        let mode = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC)
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fa, 1, stdout, mode, 0o600)
        if let stderr { posix_spawn_file_actions_addopen(&fa, 2, stderr, mode, 0o600) } else { posix_spawn_file_actions_adddup2(&fa, 1, 2) }
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(sym, to: CloseFrom.self)(&fa, 3)
        }
        let cargv: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        let cenv: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cargv.forEach { free($0) }; cenv.forEach { free($0) } }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var mask = sigset_t(), dfl = sigset_t()
        sigemptyset(&mask)
        for sig in blocked { sigaddset(&mask, sig) }
        sigemptyset(&dfl)
        for sig in Int32(1)..<32 where sig != SIGKILL && sig != SIGSTOP { sigaddset(&dfl, sig) }
        posix_spawnattr_setsigmask(&attr, &mask)
        posix_spawnattr_setsigdefault(&attr, &dfl)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if ownGroup {
            posix_spawnattr_setpgroup(&attr, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attr, Int16(flags))
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &fa, &attr, cargv, cenv)
        guard rc == 0 else { throw SpawnError(description: "posix_spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Reaps `pid` once it exits: its status (128+N for signal N), or nil if it is still
    /// running at `deadline` (then it is left running: the caller decides).
    static func waitExit(_ pid: pid_t, until deadline: Date, poll: () -> Void = {}) -> Int32? {
        var st: Int32 = 0
        while true {
            let w = waitpid(pid, &st, WNOHANG)
            if w == pid { return st & 0x7f == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f) }
            if w < 0 && errno != EINTR { return -1 }
            if Date() > deadline { return nil }
            poll()
            usleep(2000)
        }
    }
}

/// `.hostClean`: the host state (mounts, the voidoci cgroups, processes of the tests' bundles)
/// is snapshotted around every test case of a suite, and
/// anything left is an issue of that case, even when its body failed early. Processes get a
/// few seconds to finish exiting first.
struct HostClean: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    static let markers = ["/tmp/voidoci-test-\(getpid())-"]   // this test process's bundles (TestBundle)
    static func snapshot() -> HostState {
        HostState(stateRoot: "/nonexistent", markers: markers, cgroups: ["voidoci"], ignoring: nil)
    }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard testCase != nil, Env.isRoot else { return try await function() }
        let before = Self.snapshot()
        defer {
            // The test process's own fds are left out: the runner and Foundation open some
            // lazily (FaultTests checks voidoci's fds where it matters).
            func left() -> [String] { Self.snapshot().leftovers(since: before).filter { !$0.hasPrefix("test fd ") } }
            var still = left()
            var waited = 0
            while !still.isEmpty && waited < 50 {
                usleep(100_000)
                waited += 1
                still = left()
            }
            if !still.isEmpty {
                Issue.record("the host is not as before \(test.name): \(still.joined(separator: "; "))")
            }
        }
        try await function()
    }
}

extension Trait where Self == HostClean {
    /// Checks the host around every test case (HostClean).
    static var hostClean: HostClean { HostClean() }
}
