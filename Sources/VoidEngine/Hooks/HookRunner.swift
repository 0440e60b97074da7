import CVoid
import Glibc
import OCIBundle

enum HookRunner {
    /// Runs one hook to completion; throws a VoidError naming it when it cannot be run, exits
    /// non-zero, is killed, or outlives its timeout (then it is killed with SIGKILL).
    /// `join`: in the void's namespaces (createContainer, startContainer); `hostPath`: the
    /// executable is opened here, in voidoci's mount namespace, before joining (createContainer).
    static func run(_ h: PlannedHook, state: String, join: HookJoin? = nil, hostPath: Bool = true) throws {
        let arena = CArena()
        defer { arena.free() }
        var hook = void_hook()
        let execFD = try describe(&hook, h, join: join, hostPath: hostPath, arena: arena)
        defer { if execFD >= 0 { close(execFD) } }
        // A hook that does not read its stdin must not kill voidoci with SIGPIPE.
        let oldPipe = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, oldPipe) }
        let running = try start(&hook, h, join: join, hostPath: hostPath)
        defer { running.close() }
        try feed(running, state: state, h)
        try exitStatus(running.pid, h)
    }

    /// The hook's instructions for hooks.c; the executable opened here when it must be (the fd
    /// returned, to close after the spawn, or -1).
    static func describe(_ hook: inout void_hook, _ h: PlannedHook, join: HookJoin?, hostPath: Bool, arena: CArena) throws -> Int32 {
        hook.path = arena.string(h.path)
        hook.exec_fd = -1
        hook.join_pidfd = -1
        var execFD: Int32 = -1
        if let j = join {
            if hostPath {
                execFD = open(h.path, Int32(VOID_O_PATH) | O_CLOEXEC)
                if execFD < 0 { throw VoidError("\(h.name): \(h.path): \(errnoText(errno))", errno: errno, stage: .hooks) }
                hook.exec_fd = execFD
                hook.exec_fd_inherit = isScript(h.path) ? 1 : 0
            }
            let (uid, gid) = j.ids()
            hook.join_pidfd = j.pidfd
            hook.join_user = nsLink("self", "user") != nsLink("\(j.pid)", "user") ? 1 : 0
            // See Spawner.spawnExec: privileged, the other namespaces first (they may be owned
            // by ours); unprivileged, the user namespace first (we own it, and gain the rights
            // to join the others there).
            hook.user_first = j.caller.privileged ? 0 : 1
            hook.drop_groups = j.caller.isRealRoot ? 1 : 0
            hook.uid = uid
            hook.gid = gid
        }
        hook.argv = UnsafePointer(arena.stringArray(h.args, terminate: true))
        hook.envp = UnsafePointer(arena.stringArray(h.env, terminate: true))
        return execFD
    }

    /// A hook that has exec'd: its pid, a pidfd, and the write end of its stdin until the state
    /// is written.
    final class Running {
        let pid: pid_t
        let pidfd: Int32
        var stdin: Int32
        init(pid: pid_t, pidfd: Int32, stdin: Int32) {
            self.pid = pid
            self.pidfd = pidfd
            self.stdin = stdin
        }
        func closeStdin() {
            if stdin >= 0 { Glibc.close(stdin) }
            stdin = -1
        }
        func close() {
            closeStdin()
            if pidfd >= 0 { Glibc.close(pidfd) }
        }
    }

    /// Clones the hook (through a child that joins the void, with `join`) and reads its reports
    /// until it has exec'd; a failure before the exec is thrown, the process reaped.
    static func start(_ hook: inout void_hook, _ h: PlannedHook, join: HookJoin?, hostPath: Bool) throws -> Running {
        var input: [Int32] = [-1, -1], reports: [Int32] = [-1, -1]
        try sys("\(h.name): pipe") { void_pipe_cloexec(&input) }
        if void_pipe_cloexec(&reports) < 0 {
            let e = errno
            close(input[0]); close(input[1])
            throw VoidError.sys("\(h.name): pipe", errno: e)
        }
        hook.stdin_fd = input[0]
        hook.report_fd = reports[1]
        var childFD: Int32 = -1
        let child = void_hook_spawn(&hook, &childFD)
        let spawnErr = errno
        close(input[0])
        close(reports[1])
        defer { close(reports[0]) }
        guard child >= 0 else {
            close(input[1])
            throw VoidError("\(h.name): \(h.path): clone: \(errnoText(spawnErr))", errno: spawnErr, stage: .hooks)
        }

        // Reports until EOF: the hook exec'd (or everything that could report is gone).
        var hookPID: pid_t = join == nil ? child : -1
        var failure: void_hook_report?
        while true {
            var r = void_hook_report()
            let n = withUnsafeMutableBytes(of: &r) { read(reports[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if r.kind == Int32(VOID_HOOK_PID.rawValue) { hookPID = r.pid } else if failure == nil { failure = r }
        }
        var hookFD = childFD
        if join != nil {
            // The child that joined the void cloned the hook (our child too) and exited.
            var st: Int32 = 0
            while waitpid(child, &st, 0) < 0 && errno == EINTR {}
            close(childFD)
            hookFD = hookPID > 0 ? void_pidfd_open(hookPID) : -1
        }
        let running = Running(pid: hookPID, pidfd: hookFD, stdin: input[1])
        if let f = failure {
            running.close()
            if hookPID > 0 { reap(hookPID) }
            throw describe(f, h, inVoid: join != nil && !hostPath)
        }
        guard hookPID > 0, hookFD >= 0 else {
            running.close()
            throw VoidError("\(h.name): \(h.path): the hook process was lost", stage: .hooks)
        }
        return running
    }

    /// The state goes in while the hook runs (it may read it late, or never); the timeout
    /// counts from the exec. Returns once the hook has exited (not reaped).
    static func feed(_ hook: Running, state: String, _ h: PlannedHook) throws {
        _ = fcntl(hook.stdin, F_SETFL, fcntl(hook.stdin, F_GETFL) | O_NONBLOCK)
        var pending = Array(state.utf8)[...]
        let started = monotonicMS()
        while true {
            if hook.stdin >= 0 && !pending.isEmpty {
                let n = pending.withUnsafeBytes { write(hook.stdin, $0.baseAddress, $0.count) }
                if n > 0 { pending = pending.dropFirst(n) } else if n < 0 && errno != EAGAIN && errno != EINTR { pending = [] }
            }
            if hook.stdin >= 0 && pending.isEmpty { hook.closeStdin() }
            var fds = [pollfd(fd: hook.pidfd, events: Int16(POLLIN), revents: 0)]
            if hook.stdin >= 0 { fds.append(pollfd(fd: hook.stdin, events: Int16(POLLOUT), revents: 0)) }
            var wait: Int32 = -1
            if let t = h.timeout {
                // A timeout of any size: milliseconds saturate rather than trap.
                let (ms, over) = Int64(t).multipliedReportingOverflow(by: 1000)
                let left = (over ? Int64.max : ms) - (monotonicMS() - started)
                if left <= 0 {
                    _ = void_pidfd_send_signal(hook.pidfd, SIGKILL)
                    reap(hook.pid)
                    throw VoidError("\(h.name): \(h.path): timed out after \(t) s (killed)", errno: ETIMEDOUT, stage: .hooks)
                }
                wait = Int32(min(left, Int64(Int32.max)))
            }
            let r = poll(&fds, nfds_t(fds.count), wait)
            if r < 0 && errno != EINTR {
                let e = errno
                _ = void_pidfd_send_signal(hook.pidfd, SIGKILL)
                reap(hook.pid)
                throw VoidError("\(h.name): poll: \(errnoText(e))", errno: e, stage: .hooks)
            }
            if r > 0 && fds[0].revents != 0 { return }
        }
    }

    /// Reaps the hook: a non-zero exit or a signal is the hook's failure.
    static func exitStatus(_ pid: pid_t, _ h: PlannedHook) throws {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if status & 0x7f == 0 {
            let code = (status >> 8) & 0xff
            if code != 0 { throw VoidError("\(h.name): \(h.path): exit status \(code)", stage: .hooks) }
        } else {
            throw VoidError("\(h.name): \(h.path): killed by signal \(status & 0x7f)", stage: .hooks)
        }
    }

    static func describe(_ r: void_hook_report, _ h: PlannedHook, inVoid: Bool) -> VoidError {
        let err = errnoText(r.err)
        let what: String
        switch UInt32(r.kind) {
        case VOID_HOOK_GROUPS.rawValue: what = "dropping supplementary groups: \(err)"
        case VOID_HOOK_SETNS_USER.rawValue: what = "joining the void's user namespace: \(err)"
        case VOID_HOOK_SETNS.rawValue: what = "joining the void's namespaces: \(err)"
        case VOID_HOOK_IDS.rawValue: what = "taking the void's ids: \(err)"
        case VOID_HOOK_CLONE.rawValue: what = "clone in the void: \(err)"
        case VOID_HOOK_STDIN.rawValue: what = "stdin: \(err)"
        case VOID_HOOK_EXEC.rawValue:
            what = inVoid && r.err == ENOENT
                ? "\(err) in the void (grant it with org.voidoci.expose or a bind mount)"
                : err
        default: what = "failed at step \(r.kind): \(err)"
        }
        return VoidError("\(h.name): \(h.path): \(what)", errno: r.err, stage: .hooks)
    }

    /// A `#!` script needs its fd across the exec (the interpreter opens /dev/fd/N); a binary
    /// gets none.
    static func isScript(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 { return false }
        defer { close(fd) }
        var b: (UInt8, UInt8) = (0, 0)
        let n = withUnsafeMutableBytes(of: &b) { read(fd, $0.baseAddress, 2) }
        return n == 2 && b.0 == UInt8(ascii: "#") && b.1 == UInt8(ascii: "!")
    }

    static func reap(_ pid: pid_t) {
        var st: Int32 = 0
        while waitpid(pid, &st, 0) < 0 && errno == EINTR {}
    }

    static func monotonicMS() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// A failed poststart or poststop hook is a warning (runtime-spec): said on stderr.
    static func warn(_ e: Error) {
        let line = "voidoci: warning: \((e as? VoidError)?.description ?? "\(e)")\n"
        var bytes = Array(line.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return }
            bytes = bytes.dropFirst(n)
        }
    }
}
