import CVoid
import Glibc
import OCIBundle

/// A runtime run by `compare`: argv with stdout and stderr to pipes read here, stdin a pipe
/// (kept open while the probe waits on it) or /dev/null.
extension Compare {
public final class Child {
    let pid: pid_t
    private var stdinFD: Int32
    private let stdoutFD: Int32, stderrFD: Int32
    private var errText = ""

    private init(pid: pid_t, stdin: Int32, stdout: Int32, stderr: Int32) {
        self.pid = pid
        stdinFD = stdin
        stdoutFD = stdout
        stderrFD = stderr
    }

    static func spawn(_ argv: [String], stdin: Bool) throws -> Child {
        var inP: [Int32] = [-1, -1], outP: [Int32] = [-1, -1], errP: [Int32] = [-1, -1]
        try sys("pipe") { pipe(&outP) }
        try sys("pipe") { pipe(&errP) }
        if stdin { try sys("pipe") { pipe(&inP) } }
        // Ours stay ours: close-on-exec, so the runtime (and the void) inherits only its stdio.
        for fd in outP + errP + inP where fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        if stdin { posix_spawn_file_actions_adddup2(&fa, inP[0], 0) } else { posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) }
        posix_spawn_file_actions_adddup2(&fa, outP[1], 1)
        posix_spawn_file_actions_adddup2(&fa, errP[1], 2)
        let cargv: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cargv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &fa, nil, cargv, environ)
        close(outP[1]); close(errP[1])
        if stdin { close(inP[0]) }
        guard rc == 0 else {
            close(outP[0]); close(errP[0])
            if stdin { close(inP[1]) }
            throw VoidError("running \(argv[0]): \(errnoText(rc))", errno: rc)
        }
        return Child(pid: pid, stdin: stdin ? inP[1] : -1, stdout: outP[0], stderr: errP[0])
    }

    /// The next bytes of stdout (stderr is drained meanwhile), or nil at EOF or after `timeout` s.
    func readStdout(timeout: Int32) -> String? {
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            var fds = [pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0), pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0)]
            let r = poll(&fds, 2, timeout * 1000)
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { return nil }
            if fds[1].revents != 0 {
                let n = read(stderrFD, &buf, buf.count)
                if n > 0 && errText.utf8.count < 65536 { errText += String(decoding: buf[0..<n], as: UTF8.self) }
            }
            if fds[0].revents != 0 {
                let n = read(stdoutFD, &buf, buf.count)
                return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
            }
        }
    }

    func stderrText() -> String {
        var buf = [UInt8](repeating: 0, count: 65536)
        var p = pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0)
        while poll(&p, 1, 0) > 0 {
            let n = read(stderrFD, &buf, buf.count)
            if n <= 0 { break }
            errText += String(decoding: buf[0..<n], as: UTF8.self)
        }
        return errText
    }

    /// Closes stdin (the probe exits), and reaps; killed after 10 s.
    func finish() {
        if stdinFD >= 0 { close(stdinFD); stdinFD = -1 }
        var st: Int32 = 0
        for _ in 0..<1000 {
            if waitpid(pid, &st, WNOHANG) != 0 { close(stdoutFD); close(stderrFD); return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &st, 0)
        close(stdoutFD); close(stderrFD)
    }

    public struct Result { public var status: Int32; public var stdout: String; public var stderr: String }

    /// argv to the end (killed after `timeout` s): its exit status (128+N for a signal) and output.
    public static func run(_ argv: [String], timeout: Int32 = 30) -> Result {
        let argv = argv.first?.hasPrefix("/") == false ? [Compare.which(argv[0]) ?? argv[0]] + argv.dropFirst() : argv
        guard let c = try? spawn(argv, stdin: false) else { return Result(status: 127, stdout: "", stderr: "cannot run \(argv[0])") }
        var out = ""
        let deadline = time(nil) + Int(timeout)
        while time(nil) < deadline, let chunk = c.readStdout(timeout: 1) { if out.utf8.count < 1 << 20 { out += chunk } }
        var st: Int32 = 0
        if waitpid(c.pid, &st, WNOHANG) == 0 {
            if time(nil) >= deadline { kill(c.pid, SIGKILL) }
            while waitpid(c.pid, &st, 0) < 0 && errno == EINTR {}
        }
        let err = c.stderrText()
        close(c.stdoutFD); close(c.stderrFD)
        let status = st & 0x7f == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
        return Result(status: status, stdout: out, stderr: err)
    }
}

}

/// rm -rf of a scratch directory compare or profile made (theirs only).
public func removeScratch(_ path: String) -> Bool { removeTree(path) }
func removeTree(_ path: String) -> Bool {
    guard path.hasPrefix("/tmp/voidoci-compare-") || path.hasPrefix("/tmp/voidoci-profile-") else { return false }
    // Unprivileged, a directory the caller cannot write (an image's 0550 /root, or one the
    // container's process chmod-ed) is made writable first: chmod -R follows no link.
    if geteuid() != 0 { _ = Compare.Child.run(["/bin/chmod", "-R", "u+rwX", path], timeout: 120) }
    return Compare.Child.run(["/bin/rm", "-rf", "--one-file-system", path], timeout: 120).status == 0
}

extension VoidPlan {
    /// The grants this plan carries, as `explain` names them.
    var grantList: [String] {
        var g: [String] = []
        for m in mounts {
            switch m.origin {
            case .annotation(let a): g.append("\(a)=\(m.destination)")
            case .config(let i): g.append("config mount mounts[\(i)] at \(m.destination)")
            default: break
            }
        }
        g += listen.map { "org.voidoci.listen=\($0.entry)" } + connect.map { "org.voidoci.connect=\($0.entry)" }
            + open.map { "org.voidoci.open=\($0.entry)" }
        return g
    }
}

