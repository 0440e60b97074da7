import CVoid
import OCIBundle
import Glibc

/// The pid `run` forwards signals to; a C signal handler cannot capture context.
nonisolated(unsafe) private var forwardTo: pid_t = 0

extension Runtime {
    /// What the void lacked that programs often need, worked out only once its program failed:
    /// the image is opened again (nothing of it is trusted more than at create).
    func hints(spec: Spec, plan: VoidPlan, bundle: String) -> [Unbound] {
        if !plan.unbound.isEmpty { return plan.unbound }
        guard let image = try? ImageRoot(path: plan.imagePath) else { return [] }
        return Planner(spec: spec, bundle: bundle, caller: caller).unboundHints(image: image, root: plan.root, mounts: plan.mounts)
    }

    /// create + start + wait + delete in one process, which stays the init's parent: the
    /// user's convenience and the benchmark's entry point. Returns the exit status to use
    /// (128+N for a signal, like a shell), and what the void lacked that programs often need
    /// (for the CLI to say when the program failed).
    public func run(id: String, bundle: String, preserveFDs: Int, pidFile: String?) throws -> (status: Int32, unbound: [Unbound]) {
        let (spec, plan, dir, claim) = try planAndClaim(id: id, bundle: bundle)
        let locked = claim.locked!
        let cgroup = claim.cgroup
        var s: Spawned
        var connect: (pid: pid_t, commitFD: Int32)?
        do {
            var opt = SpawnOptions(attachPath: locked.dir, caller: caller)
            opt.cgroup = cgroup
            opt.cgroupMove = claim.move
            opt.preserveFDs = preserveFDs
            opt.onPause = createTimeHooks(id: id, spec: spec, bundle: dir, plan: plan)
            var start: UInt64 = 0
            opt.onClone = { start = claim.recordInit($0) }
            opt.record = { try claim.intent?.record($0) }
            opt.waitCommit = true
            let gate = try StartGate(plan.hooks)  // the init waits on it while startContainer hooks run
            opt.execFifoFD = gate?.readFD ?? -1
            // Without a console socket the process shares run's own terminal, if any.
            s = try staged(.spawn) { plan.accept != nil ? try Supervisor.start(plan, opt) : try Spawner.spawn(plan, opt) }
            do {
                var started: Spawned? = s
                connect = try startConnectSupervisor(&started, plan, opt)
                s.listener = -1
                var record = stateRecord(id: id, pid: s.pid, start: start, bundle: dir, spec: spec, plan: plan)
                record.cgroup = cgroup
                try saveSnapshot(locked, bundle: dir)
                try locked.save(record)
                if let pf = pidFile { try writeFileAtomically(absolute(pf), "\(s.pid)") }
                if let c = connect { try ConnectSupervisor.commit(c.commitFD); connect?.commitFD = -1 }
                try Spawner.commit(s)
                decisions?("\(id): created: init pid \(s.pid)\(cgroup.map { "; cgroup leaves \($0.paths.joined(separator: ", "))" } ?? "; no cgroup")")
                if let gate {
                    try runStartContainerHooks(plan.hooks, record, pidfd: s.pidfd)
                    try gate.open()
                }
                // READY came before execve; now EOF (exec happened) or a report (it failed).
                if let r = try Spawner.readReport(s.syncFD) {
                    throw Spawner.describe(r, plan: plan)
                }
            } catch {
                Spawner.abandon(s)
                if let c = connect { ConnectSupervisor.abandon(c) }
                throw error
            }
            close(s.syncFD)
            locked.unlock()
            runPoststartHooks(plan.hooks, HookState(spec: spec, id: id, bundle: dir), pid: s.pid)
        } catch {
            claim.undo()
            runPoststopHooks(plan.hooks, HookState(spec: spec, id: id, bundle: dir))
            throw error
        }
        forwardTo = s.pid
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH] {
            signal(sig) { n in _ = Glibc.kill(forwardTo, n) }
        }
        var status: Int32 = 0
        while waitpid(s.pid, &status, 0) < 0 && errno == EINTR {}
        close(s.pidfd)
        if let c = connect { ConnectSupervisor.abandon((c.pid, -1)) }   // it lives as long as the init
        // Someone may have deleted it meanwhile (delete --force): then it is already gone.
        if let again = try? store.open(id) {
            cgroup?.remove()
            again.remove()
            runPoststopHooks(plan.hooks, HookState(spec: spec, id: id, bundle: dir))
        }
        // A missing file makes a program exit with a status, not die of a signal: only then is
        // what the void lacks worth naming.
        if status & 0x7f == 0 {
            let code = (status >> 8) & 0xff
            return (code, code == 0 ? [] : hints(spec: spec, plan: plan, bundle: dir))
        }
        return (128 + (status & 0x7f), [])
    }
}
