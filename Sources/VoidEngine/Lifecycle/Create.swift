import CVoid
import Glibc
import OCIBundle

extension Runtime {
    // MARK: create

    public func create(id: String, _ o: CreateOptions) throws {
        let (spec, plan, bundle, claim) = try planAndClaim(id: id, bundle: o.bundle) { plan in
            if plan.process.terminal && o.consoleSocket == nil {
                throw VoidError("process.terminal is true but no --console-socket was given")
            }
        }
        let locked = claim.locked!
        let cgroup = claim.cgroup
        var spawned: Spawned?
        var connect: (pid: pid_t, commitFD: Int32)?
        do {
            if mkfifo(locked.fifoPath, 0o600) < 0 { throw VoidError.sys("mkfifo", locked.fifoPath) }
            // O_RDWR: the init holds both ends, so its read blocks until `start` writes instead
            // of seeing EOF; and a fifo needs no path once the void has pivoted.
            let fifo = open(locked.fifoPath, O_RDWR | O_CLOEXEC)
            if fifo < 0 { throw VoidError.sys("open", locked.fifoPath) }
            defer { close(fifo) }
            var console: Console?
            if plan.process.terminal, let path = o.consoleSocket {
                console = try Console.open(socketPath: path)
            }
            defer { console?.close() }
            var opt = SpawnOptions(attachPath: locked.dir, caller: caller)
            opt.execFifoFD = fifo
            opt.cgroup = cgroup
            opt.cgroupMove = claim.move
            opt.consoleFD = console?.slave ?? -1
            opt.preserveFDs = o.preserveFDs
            opt.onPause = createTimeHooks(id: id, spec: spec, bundle: bundle, plan: plan)
            var start: UInt64 = 0
            opt.onClone = { start = claim.recordInit($0) }
            opt.record = { try claim.intent?.record($0) }
            opt.waitCommit = true
            let s = try staged(.spawn) { plan.accept != nil ? try Supervisor.start(plan, opt) : try Spawner.spawn(plan, opt) }
            spawned = s
            connect = try startConnectSupervisor(&spawned, plan, opt)
            var record = stateRecord(id: id, pid: s.pid, start: start, bundle: bundle, spec: spec, plan: plan)
            record.cgroup = cgroup
            try saveSnapshot(locked, bundle: bundle)
            try locked.save(record)
            if let pf = o.pidFile { try writeFileAtomically(absolute(pf), "\(s.pid)") }
            try console?.sendMaster()
            if let c = connect { try ConnectSupervisor.commit(c.commitFD); connect?.commitFD = -1 }
            try Spawner.commit(s)
            decisions?("\(id): created: init pid \(s.pid)\(cgroup.map { "; cgroup leaves \($0.paths.joined(separator: ", "))" } ?? "; no cgroup")")
            close(s.syncFD)
            close(s.pidfd)
        } catch {
            if let s = spawned { Spawner.abandon(s) }
            if let c = connect { ConnectSupervisor.abandon(c) }
            if let pf = o.pidFile { unlink(absolute(pf)) }
            claim.undo()
            runPoststopHooks(plan.hooks, HookState(spec: spec, id: id, bundle: bundle))
            throw error
        }
    }

    /// org.voidoci.connect: the supervisor that answers the init's connect filter, which then
    /// holds the listener (voidoci's copy is closed).
    func startConnectSupervisor(_ s: inout Spawned?, _ plan: VoidPlan, _ opt: SpawnOptions) throws -> (pid: pid_t, commitFD: Int32)? {
        guard let v = s, v.listener >= 0 else { return nil }
        let c = try ConnectSupervisor.start(v, plan, record: opt.record)
        close(v.listener)
        s?.listener = -1
        return c
    }

    /// The void's cgroup directories, unless disabled. An unprivileged caller usually cannot
    /// create them (cgroupfs belongs to root, no systemd delegation here): then nil, and why,
    /// for `applyCgroupLimits` to decide.
    /// `recording` gets the leaves before they are made.
    func makeCgroupDirectories(id: String, cgroupsPath: String?, created: inout [String],
                               recording: ([String]) throws -> Void) throws -> (VoidCgroup?, VoidError?) {
        if cgroupManager == "disabled" { return (nil, nil) }
        if systemdCgroup || cgroupManager == "systemd" {
            let running = access("/run/systemd/system", F_OK) == 0
            throw VoidError("--systemd-cgroup: \(running ? "the systemd cgroup driver is not implemented" : "systemd is not running on this host (no /run/systemd/system)"); use --cgroup-manager cgroupfs")
        }
        let rel = try VoidCgroup.relativePath(cgroupsPath, id: id)
        try recording(VoidCgroup.leaves(rel, layout: .host))
        do {
            return (try VoidCgroup.makeDirectories(rel, layout: .host, created: &created), nil)
        } catch let e as VoidError where lacksDelegation(e) {
            return (nil, e)
        }
    }

    /// What an unprivileged caller gets from cgroupfs without delegation.
    private func lacksDelegation(_ e: VoidError) -> Bool {
        !caller.isRealRoot && [EACCES, EPERM, EROFS].contains(e.errno ?? 0)
    }

    /// The config's limits and device rules on the void's cgroup. Without a cgroup (an
    /// unprivileged caller, or one whose limits cannot be written: the directories it made,
    /// `created`, are then removed), the void runs without one, unless the config asks for
    /// limits, which would otherwise be silently lost.
    func applyCgroupLimits(_ cg: VoidCgroup?, unavailable: VoidError?, spec: Spec, created: [String]) throws -> VoidCgroup? {
        var why = unavailable
        if let cg {
            do {
                try cg.apply(spec.linux?.resources, layout: .host, devices: spec.linux?.devices ?? [], initial: true)
                return cg
            } catch let e as VoidError where lacksDelegation(e) {
                removeCgroupDirectories(created)
                why = e
            }
        }
        if let e = why, let r = spec.linux?.resources, r.memory != nil || r.cpu != nil || r.pids != nil || r.unified != nil
            || !(r.hugepageLimits ?? []).isEmpty {
            throw VoidError("linux.resources: limits need a cgroup, which this unprivileged caller cannot create: \(e)")
        }
        return nil
    }
}
