import CVoid
import Glibc
import OCIBundle

/// The supervisor: a process outside the void that lives as long as the container does, holds
/// fds on its behalf and answers its requests. `org.voidoci.accept` is its first job
/// (docs/void.md, Sockets): it holds the one listening socket, accepts, and starts a fresh void
/// from the same plan for each connection, with the connection as stdin/stdout (`stdio`, as
/// inetd) or as fd 3 with LISTEN_FDS=1 (`fd`, as systemd's Accept=yes), at most `max` at once
/// (the rest wait in the backlog). `org.voidoci.connect` has a supervisor of its own
/// (ConnectSupervisor.swift); `voidoci profile` is to come here too. `org.voidoci.listen` alone needs none: voidoci binds its
/// sockets before the clone and the init holds them (Spawn/ListenSockets.swift).
///
/// For podman and the OCI lifecycle the supervisor is the container's process: create forks
/// it (into the container's cgroups, so the config's limits hold all of its voids together),
/// records it as the init, and it waits for `start` on the exec fifo as an init does. `kill`
/// reaches it and it passes the signal on to every live void; a terminating signal also stops
/// the accepting, and once the voids are gone it dies of that signal. Each void dies with it
/// (PR_SET_PDEATHSIG), so `delete --force` (SIGKILL) leaves no void behind, and the cgroup
/// removal finds nothing left. `exec` is refused: the supervisor is in the caller's namespaces,
/// and a per-connection void is not the container.
final class Supervisor {
    private let plan: VoidPlan      // each connection's: the container's, without its listen socket
    private let accept: AcceptPlan
    private var listenFD: Int32
    private let base: SpawnOptions
    private var live: [(pid: pid_t, pidfd: Int32)] = []
    /// Released, setting up: their set-up reports come on syncFD (READY, then EOF at execve).
    private var starting: [Spawned] = []
    private var stopping: Int32 = 0  // the terminating signal received
    private var acceptPaused = false // accept ran out of fds or memory: 100 ms before the next try
    private var selfPidFD: Int32 = -1 // each void checks through it that the supervisor lives

    private init(plan: VoidPlan, accept: AcceptPlan, listenFD: Int32, base: SpawnOptions) {
        self.plan = plan.perConnection
        self.accept = accept
        self.listenFD = listenFD
        self.base = base
    }

    /// Forks the supervisor of `plan` (which has `accept`). Returns it as create's and run's
    /// `Spawned`: its pid, a pidfd, and the socket `Spawner.commit` writes to once the state is
    /// saved (EOF instead, voidoci died, makes it exit).
    static func start(_ plan: VoidPlan, _ opt: SpawnOptions) throws -> Spawned {
        guard let accept = plan.accept else { throw VoidError("voidoci bug: a supervisor for a plan without org.voidoci.accept") }
        if opt.preserveFDs > 0 {
            throw VoidError("--preserve-fds \(opt.preserveFDs): not with org.voidoci.accept (each connection's void gets only its connection)")
        }
        // Each connection's spawn would join these in the supervisor itself, for good.
        if let ns = plan.namespaces.first(where: { $0.path != nil }) {
            throw VoidError("\(ns.origin).path: a joined \(ns.type) namespace is not supported with org.voidoci.accept (each connection's void gets new namespaces; with podman use --network none)")
        }
        // There is no one void for them to act on.
        if let h = plan.hooks.first {
            throw VoidError("hooks.\(h.stage.rawValue)[\(h.index)]: hooks are not supported with org.voidoci.accept")
        }
        if plan.process.terminal {
            throw VoidError("process.terminal: not with org.voidoci.accept (each connection's void gets its connection as its stdio)")
        }
        _ = void_close_range_cloexec(3)
        let listen = try ListenSockets.open(plan.listen, above: 3, record: opt.record)
        defer { listen.close(unlink: false) }
        guard let listenFD = listen.fds.first else { throw VoidError("voidoci bug: org.voidoci.accept without a listen socket") }
        var pair: [Int32] = [-1, -1]
        try sys("socketpair") { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) }
        let move = try opt.cgroupMove ?? Spawner.CgroupMove(opt.cgroup, cloneIntoV2: true)
        // A raw clone3 skips glibc's fork handlers: only safe with no other thread (create's
        // helper thread is joined by now).
        _ = void_wait_single_threaded()
        var pidfd: Int32 = -1
        let pid = void_fork(move?.cgroupFD ?? -1, &pidfd)
        if pid == 0 {
            for fd in move?.into ?? [] where write(fd, "0", 1) != 1 { _exit(1) }   // the limits must hold it
            // Nothing of create's but what it needs: not the state dir's lock (state and
            // delete would wait for it), not the image root or the bundle.
            let keep = [listenFD, pair[1], opt.execFifoFD].filter { $0 >= 0 }.sorted()
            void_close_except(keep, Int32(keep.count))
            let s = Supervisor(plan: plan, accept: accept, listenFD: listenFD, base: opt)
            s.run(commitFD: pair[1], startFD: opt.execFifoFD)
        }
        let e = errno
        close(pair[1])
        if opt.cgroupMove == nil { move?.close() }
        if pid < 0 {
            close(pair[0])
            throw VoidError("forking the supervisor of org.voidoci.accept: \(errnoText(e))", errno: e)
        }
        opt.onClone?(pid)
        return Spawned(pid: pid, pidfd: pidfd, syncFD: pair[0])
    }

    /// The supervisor's life: the hand-over, `start`, then accepting until a terminating signal.
    private func run(commitFD: Int32, startFD: Int32) -> Never {
        // A write to a void that died (its sync socket) or to a closed stderr must not end the
        // supervisor, and every void with it. The voids reset every disposition.
        signal(SIGPIPE, SIG_IGN)
        selfPidFD = void_pidfd_open(getpid())
        if selfPidFD < 0 { complain("pidfd_open: \(errnoText(errno))"); _exit(1) }
        _ = fcntl(selfPidFD, F_SETFD, FD_CLOEXEC)
        var b: UInt8 = 0
        if read(commitFD, &b, 1) != 1 { _exit(1) }   // voidoci died before saving the state
        close(commitFD)
        if startFD >= 0 {
            if read(startFD, &b, 1) != 1 { _exit(1) }
            close(startFD)
        }
        let sigFD = void_signalfd_block(Self.passedOn + [SIGCHLD], Int32(Self.passedOn.count + 1))
        if sigFD < 0 { complain("signalfd: \(errnoText(errno))"); _exit(1) }
        while true {
            var fds = [pollfd(fd: sigFD, events: Int16(POLLIN), revents: 0)]
            let accepting = stopping == 0 && live.count + starting.count < accept.max && !acceptPaused
            let timeout: Int32 = acceptPaused ? 100 : -1
            acceptPaused = false
            if accepting { fds.append(pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)) }
            let firstStarting = fds.count
            for s in starting { fds.append(pollfd(fd: s.syncFD, events: Int16(POLLIN), revents: 0)) }
            let first = fds.count
            for v in live { fds.append(pollfd(fd: v.pidfd, events: Int16(POLLIN), revents: 0)) }
            if poll(&fds, nfds_t(fds.count), timeout) < 0 {
                if errno == EINTR { continue }
                complain("poll: \(errnoText(errno))")
                _exit(1)
            }
            if fds[0].revents != 0 { signals(sigFD) }
            var reported: [Int] = []
            for (i, f) in fds[firstStarting..<first].enumerated() where f.revents != 0 { reported.append(i) }
            for i in reported.reversed() { setUp(starting.remove(at: i)) }
            // Reaped before accepting: a slot freed now is used now.
            var gone: [Int] = []
            for (i, f) in fds[first...].enumerated() where f.revents != 0 { gone.append(i) }
            for i in gone.reversed() {
                var st: Int32 = 0
                _ = waitpid(live[i].pid, &st, 0)
                close(live[i].pidfd)
                live.remove(at: i)
            }
            if accepting && fds[1].revents != 0 { acceptOne() }
            if stopping != 0 && live.isEmpty && starting.isEmpty { die(of: stopping) }
        }
    }

    /// Signals a container's process is sent (podman stop, kill): passed on to every live void.
    static let passedOn: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH]
    static let terminating: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT]

    private func signals(_ sigFD: Int32) {
        while true {
            let sig = void_signalfd_next(sigFD)
            if sig == 0 { return }
            if sig == SIGCHLD { continue }
            for v in live { _ = void_pidfd_send_signal(v.pidfd, sig) }
            for s in starting { _ = void_pidfd_send_signal(s.pidfd, Self.terminating.contains(sig) ? SIGKILL : sig) }
            if Self.terminating.contains(sig) && stopping == 0 {
                stopping = sig
                close(listenFD)
                listenFD = -1
            }
        }
    }

    private func acceptOne() {
        var conn = void_accept(listenFD)
        if conn < 0 {
            // The client gave up (try the next), or no fd or memory is left: the backlog keeps
            // the client while the supervisor waits a little, instead of spinning on poll.
            if [EMFILE, ENFILE, ENOMEM, ENOBUFS].contains(errno) { acceptPaused = true }
            return
        }
        if conn < 3 {
            // A closed stdin/stdout/stderr of the supervisor's: the connection must not be
            // placed on itself (dup2 to the same number keeps close-on-exec).
            let high = fcntl(conn, F_DUPFD_CLOEXEC, 3)
            close(conn)
            if high < 0 { return }
            conn = high
        }
        defer { close(conn) }
        var opt = base
        opt.connectionFD = conn
        opt.connection = accept.mode
        opt.parentPidFD = selfPidFD
        opt.cgroupMove = nil
        opt.execFifoFD = -1
        opt.consoleFD = -1
        opt.waitCommit = false
        opt.onPause = nil
        opt.onClone = nil
        opt.record = nil
        opt.returnAtRelease = true
        do {
            starting.append(try Spawner.spawn(plan, opt))
        } catch {
            complain("a connection's void: \(error)")
        }
    }

    /// A report from a void setting up: READY (it goes on to execve), EOF (execve happened: it
    /// is live), or a failure (killed and reaped, the reason logged).
    private func setUp(_ s: Spawned) {
        do {
            if let r = try Spawner.readReport(s.syncFD) {
                if r.step == Int32(VOID_STEP_READY.rawValue) {
                    starting.append(s)
                    return
                }
                complain("a connection's void: \(Spawner.describe(r, plan: plan))")
                Spawner.abandon(s)
                return
            }
        } catch {
            complain("a connection's void: \(error)")
            Spawner.abandon(s)
            return
        }
        close(s.syncFD)
        live.append((s.pid, s.pidfd))
    }

    private func die(of sig: Int32) -> Never {
        signal(sig, SIG_DFL)
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, sig)
        sigprocmask(SIG_UNBLOCK, &mask, nil)
        raise(sig)
        _exit(128 + sig)
    }

    /// To the container's stderr (podman logs), one line.
    private func complain(_ what: String) {
        var line = "voidoci supervisor: \(what)\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
