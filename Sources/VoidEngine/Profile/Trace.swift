import CVoid
import Glibc
import OCIBundle

/// `voidoci profile` (docs/profile.md): one traced run of a config in a void. voidoci (this very
/// binary) creates the void in a scratch directory with a state root of its own; the tracer
/// (CVoid/trace.c) seizes the init while it waits for `start`, starts it, and follows it and
/// everything it starts until the last one exits; then the void is deleted and the directory
/// removed. The program's stdout and stderr go to files, its stdin is /dev/null.
public enum Profile {
    public struct Event: Sendable, Equatable {
        public var program: Bool       // after the first execve (else the runtime's own)
        public var tid: Int32
        public var nr: Int
        public var result: Int
        public var op: String          // open, write, stat, exec, readlink, list, chdir, connect, bind, listen
        public var path: String        // absolute, as the void sees it; for sockets the address
        public var family: String = "" // sockets: inet, inet6, unix, unix-abstract, unspec, other
        public var type: String = ""   // sockets: stream, dgram, seqpacket, other
    }

    public struct Run: Sendable {
        public var events: [Event] = []
        public var syscalls: [Int: Int] = [:]         // the program's, per number
        public var runtimeSyscalls: [Int: Int] = [:]  // the runtime's after `start`, before execve
        public var exitStatus: Int32 = -1             // 128+N for a signal
        public var stdout: [UInt8] = []
        public var stderr: [UInt8] = []
        public var seconds: Double = 0
        public var timedOut = false        // killed after the timeout (or interrupted)
        public var truncated = false       // more path records than kept
        /// What the trace could not see whole: threads past the table, another architecture's
        /// calls. Such a run is never called verified.
        public var incomplete: [String] = []
        /// Tracees still there when the run was killed: tid and state (diagnosis).
        public var leftAtKill: [String] = []
        var finished = false               // the tracer's last line (X) was read
    }

    /// This profile, by pid and start time (a pid alone can be reused): the prefix of the ids of
    /// its voids and of its scratch directories, so that a profile killed outright (SIGKILL)
    /// leaves voids the next one finds and removes.
    static let owner = "profile-\(getpid())-\(procStat(getpid())?.1 ?? 0)"

    /// Whether the profile named at the start of `name` ("profile-PID-START-...") still runs.
    static func ownerAlive(_ name: String) -> Bool {
        let f = name.split(separator: "-")
        guard f.count >= 3, f[0] == "profile", let pid = Int32(f[1]), let start = UInt64(f[2]) else { return true }
        return procStat(pid)?.1 == start
    }

    /// Voids (in `stateRoot`) and scratch directories (in /tmp, this user's) of profiles that are
    /// no longer running: deleted (`delete --force`: processes, mounts, cgroups) and removed.
    public static func sweep(stateRoot: String, voidoci: String) {
        for id in directoryEntries(stateRoot) where id.hasPrefix("profile-") && !ownerAlive(id) {
            _ = spawnWait([voidoci, "--root", stateRoot, "delete", "--force", id], stdout: "/dev/null", stderr: "/dev/null", timeout: 120)
        }
        for name in directoryEntries("/tmp") where name.hasPrefix("voidoci-profile-") {
            let dir = "/tmp/\(name)"
            var st = stat()
            guard !ownerAlive(String(name.dropFirst("voidoci-".count))), lstat(dir, &st) == 0,
                  st.st_mode & S_IFMT == S_IFDIR, st.st_uid == geteuid() else { continue }
            _ = removeTree(dir)
        }
    }

    /// Runs the config `config` (a JSON document, root.path absolute) traced, as `voidoci`
    /// (`self`) would: create, trace + start, delete. The void is recorded in `stateRoot` (the
    /// caller's state directory), where `voidoci list` shows it and `delete --force` finds it.
    public static func traced(_ config: String, voidoci: String, stateRoot: String, timeout: Int32 = 300) throws -> Run {
        let dir = try scratchDir()
        defer { _ = removeTree(dir) }
        try writeFileAtomically("\(dir)/config.json", config)
        let id = "\(owner)-\(UInt32.random(in: 0...UInt32.max))"
        let base = [voidoci, "--root", stateRoot]
        let began = now()
        let created = spawnWait(base + ["create", "--bundle", dir, id], stdout: "\(dir)/out", stderr: "\(dir)/err", timeout: 120)
        defer { _ = spawnWait(base + ["delete", "--force", id], stdout: "/dev/null", stderr: "/dev/null", timeout: 120) }
        guard created == 0 else {
            throw VoidError("the traced run: voidoci create failed: \(firstLines(readAll("\(dir)/err")))")
        }
        let state = Compare.Child.run(base + ["state", id]).stdout
        guard let p32 = Compare.statePid(state) else {
            throw VoidError("the traced run: no pid in voidoci state: \(state.prefix(200))")
        }
        let tracePath = "\(dir)/trace"
        let tfd = open(tracePath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard tfd >= 0 else { throw VoidError.sys("open", tracePath) }
        defer { close(tfd) }
        var initStatus: Int32 = -1, startStatus: Int32 = -1
        let argv: [UnsafeMutablePointer<CChar>?] = (base + ["start", id]).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        if void_trace_was_interrupted() != 0 { throw VoidError("interrupted") }
        let rc = argv.withUnsafeBufferPointer { buf -> Int32 in
            guard let base = buf.baseAddress else { return -1 }
            return base.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buf.count) {
                void_trace(p32, $0, "\(dir)/start-err", tfd, timeout, &initStatus, &startStatus)
            }
        }
        guard rc == 0 else { throw VoidError("the traced run: ptrace of the void's init (pid \(p32)): \(errnoText(errno))", errno: errno) }
        if void_trace_was_interrupted() != 0 { throw VoidError("interrupted") }
        var run = Run()
        parse(readAll(tracePath, limit: 64 << 20), into: &run)
        // Killed by the timeout (maybe before `start` finished): the caller says so.
        if run.timedOut { return run }
        guard startStatus == 0 else {
            throw VoidError("the traced run: voidoci start failed (status \(startStatus)): \(firstLines(readAll("\(dir)/start-err")))")
        }
        run.seconds = now() - began
        run.exitStatus = initStatus < 0 ? -1 : (initStatus & 0x7f == 0 ? (initStatus >> 8) & 0xff : 128 + (initStatus & 0x7f))
        run.stdout = readAll("\(dir)/out")
        run.stderr = readAll("\(dir)/err")
        guard run.finished else { throw VoidError("the traced run: the trace is incomplete (its last record is missing)") }
        return run
    }

    /// The tracer's records (trace.c).
    static func parse(_ bytes: [UInt8], into run: inout Run) {
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let f = line.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            guard let kind = f.first else { continue }
            switch kind {
            case "P" where f.count >= 7:
                guard let tid = Int32(f[2]), let nr = Int(f[3]), let res = Int(f[4]) else { continue }
                run.events.append(Event(program: f[1] == "p", tid: tid, nr: nr, result: res, op: f[5],
                                        path: Compare.unescape(f[6...].joined(separator: "\t"))))
            case "N" where f.count >= 9:
                guard let tid = Int32(f[2]), let nr = Int(f[3]), let res = Int(f[4]) else { continue }
                run.events.append(Event(program: f[1] == "p", tid: tid, nr: nr, result: res, op: f[5],
                                        path: Compare.unescape(f[8...].joined(separator: "\t")), family: f[6], type: f[7]))
            case "K": run.timedOut = true
            case "T": run.truncated = true
            case "O": run.incomplete.append("\(f.count > 1 ? f[1] : "some") stops of threads past the tracer's table of 4096 (no paths)")
            case "A": run.incomplete.append("\(f.count > 1 ? f[1] : "some") calls the tracer cannot follow (another architecture, x32, io_uring, an untraced clone)")
            case "D" where f.count >= 3: run.leftAtKill.append("\(f[1]) (\(f[2]))")
            case "X": run.finished = true
            case "S" where f.count >= 4:
                guard let nr = Int(f[2]), let n = Int(f[3]) else { continue }
                if f[1] == "p" { run.syscalls[nr, default: 0] += n } else { run.runtimeSyscalls[nr, default: 0] += n }
            default: continue
            }
        }
    }

    // MARK: helpers

    /// SIGINT, SIGTERM and SIGHUP end a profile cleanly (the traced void killed, then deleted).
    public static func catchInterrupts() { void_trace_catch_interrupts() }
    public static var interrupted: Bool { void_trace_was_interrupted() != 0 }

    static func scratchDir() throws -> String {
        let pattern = "/tmp/voidoci-\(owner)-XXXXXX"
        var template = Array(pattern.utf8CString)
        guard let d = mkdtemp(&template) else { throw VoidError.sys("mkdtemp", pattern) }
        let dir = String(cString: d)
        _ = chmod(dir, 0o755)
        return dir
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func firstLines(_ b: [UInt8]) -> String {
        String(decoding: b, as: UTF8.self).split(separator: "\n").prefix(3).joined(separator: "; ")
    }

    /// A file's bytes, at most `limit` (the program's output and the trace are files we made).
    static func readAll(_ path: String, limit: Int = 16 << 20) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var out: [UInt8] = [], buf = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    /// argv with stdin /dev/null and stdout, stderr to files; its exit status (128+N: signal),
    /// killed after `timeout` s.
    static func spawnWait(_ argv: [String], stdout: String, stderr: String, timeout: Int) -> Int32 {
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fa, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&fa, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let cargv: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cargv.forEach { free($0) } }
        // Its own process group: a terminal's Ctrl-C reaches voidoci (which then ends the
        // profile cleanly), not a create or delete halfway.
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attr, 0)
        var pid: pid_t = 0
        guard posix_spawn(&pid, argv[0], &fa, &attr, cargv, environ) == 0 else { return 127 }
        var st: Int32 = 0
        let deadline = now() + Double(timeout)
        while true {
            let w = waitpid(pid, &st, WNOHANG)
            if w == pid || (w < 0 && errno != EINTR) { break }
            if now() > deadline { kill(pid, SIGKILL) }
            usleep(1000)
        }
        return st & 0x7f == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
    }
}
