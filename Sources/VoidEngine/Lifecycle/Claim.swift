import CVoid
import Glibc
import OCIBundle

extension Runtime {
    /// What create and run hold besides the plan: the id claimed (its state dir, locked), the
    /// void's cgroup, and the files the init's clone joins that cgroup through.
    final class Claim: @unchecked Sendable {
        let id: String
        let runtime: Runtime
        var locked: LockedContainer?
        /// Appended to before anything is made (`Intent`): what `delete --force` cleans up
        /// after a create that died.
        var intent: Intent?
        var cgroup: VoidCgroup?
        var move: Spawner.CgroupMove?
        var error: Error?
        /// Cgroup directories made by this create (parents first): the only ones its errors
        /// remove. (The leaf is always new: `VoidCgroup.makeDirectories`.)
        private var created: [String] = []
        private var unavailable: VoidError?
        // Each written by this thread before its gate opens, read by the helper after.
        private var path: String??, spec: Spec?
        private var pathOffered = false, specOffered = false   // this thread's own bookkeeping
        private let pathGate = Gate(), specGate = Gate()

        init(id: String, runtime: Runtime) {
            self.id = id
            self.runtime = runtime
        }

        var usesCgroups: Bool { runtime.cgroupManager != "disabled" }

        /// The state dir, made and locked, and its intent opened: from here on the id is this
        /// voidoci's. It comes before the cgroup, so that a create that loses a race for the id
        /// never touches the winner's cgroup.
        func claimID() {
            do {
                let l = try runtime.store.create(id)
                locked = l
                intent = try l.openIntent()
            } catch { self.error = error }
        }

        /// The cgroup's directories (`linux.cgroupsPath`), and the files the clone joins them
        /// through; unless the id could not be claimed. The leaves are recorded before they are
        /// made, and recorded as made once they all are.
        func makeDirectories(_ cgroupsPath: String?) {
            guard error == nil, let intent else { return }
            do {
                (cgroup, unavailable) = try runtime.makeCgroupDirectories(id: id, cgroupsPath: cgroupsPath, created: &created) { leaves in
                    var lines = ""
                    for l in leaves { lines += "cgroup \(l)\n" }
                    try intent.record(lines)
                }
                if cgroup != nil { try intent.record("cgroups-made\n") }
                move = try Spawner.CgroupMove(cgroup, cloneIntoV2: true)
            } catch {
                self.error = error
            }
        }

        /// The config's limits and device rules on the cgroup.
        func finish(_ spec: Spec) {
            guard error == nil, locked != nil else { return }
            do {
                cgroup = try runtime.applyCgroupLimits(cgroup, unavailable: unavailable, spec: spec, created: created)
                if cgroup == nil { move?.close(); move = nil }
            } catch {
                self.error = error
            }
        }

        /// Records the cloned init (`SpawnOptions.onClone`); its start time, for the state.
        func recordInit(_ pid: pid_t) -> UInt64 {
            let start = procStat(pid)?.1 ?? 0
            try? intent?.record("init \(pid) \(start)\n")
            return start
        }

        // The hand-over to the helper thread: first `linux.cgroupsPath`, as soon as the config
        // has parsed; then the decoded config. `giveUp` releases what was not handed over.
        func offerPath(_ p: String?) {
            path = .some(p)
            pathOffered = true
            pathGate.open()
        }

        func offerSpec(_ s: Spec) {
            spec = s
            specOffered = true
            specGate.open()
        }

        func giveUp() {
            if !pathOffered { pathOffered = true; pathGate.open() }
            if !specOffered { specOffered = true; specGate.open() }
        }

        /// nil: given up; .some(nil): no cgroupsPath in the config.
        func awaitPath() -> String?? { pathGate.wait(); return path }
        func awaitSpec() -> Spec? { specGate.wait(); return spec }

        /// Leaves nothing behind: the directories this create made removed, the state dir
        /// removed. For errors before the init runs its program (the init, if cloned, is
        /// already killed and reaped), so there is nothing of this void's to kill.
        func undo() {
            move?.close()
            move = nil
            removeCgroupDirectories(created)
            created = []
            cgroup = nil
            intent = nil
            locked?.remove()
        }
    }

    /// create's and run's set-up before the clone, in two halves that are independent: this
    /// thread loads the bundle and plans (the ELF closure); a second one claims the id and
    /// makes the cgroup (a dozen mkdirs and writes in cgroupfs). The second claims the id and
    /// reads the host's cgroup mounts while this one reads the config; it makes the directories
    /// as soon as the config has parsed (they need only `linux.cgroupsPath`), and writes the
    /// limits once it is decoded.
    ///
    /// The plan is `plan(bundle:)`'s: nothing `explain` lists as dropped is refused here.
    /// Errors are those a serial run gives, in the same order: the bundle's and the plan's, then
    /// `check`'s, then the id's (already exists) and the cgroup's. On any of them, nothing is
    /// left behind.
    func planAndClaim(id: String, bundle: String, check: (VoidPlan) throws -> Void = { _ in }) throws
        -> (spec: Spec, plan: VoidPlan, bundle: String, claim: Claim) {
        try StateStore.checkID(id)
        let claim = Claim(id: id, runtime: self)
        let helper = Background.start {
            claim.claimID()
            if claim.usesCgroups { _ = CgroupLayout.host }
            guard let path = claim.awaitPath() else { return }
            claim.makeDirectories(path)
            if let spec = claim.awaitSpec() { claim.finish(spec) }
        }
        func fail(_ error: Error) -> Error {
            claim.giveUp()
            helper?.join()
            claim.undo()
            return error
        }
        if helper == nil { claim.claimID() }
        let spec: Spec, dir: String, plan: VoidPlan
        do { (spec, dir) = try load(bundle: bundle, parsed: { if helper != nil { claim.offerPath($0) } }) } catch {
            throw fail(error)
        }
        if helper == nil {
            claim.makeDirectories(spec.linux?.cgroupsPath)
            claim.finish(spec)
        } else {
            claim.offerSpec(spec)
        }
        do {
            var planner = Planner(spec: spec, bundle: dir, caller: caller)
            planner.hints = decisions != nil   // --debug logs them
            plan = try staged(.plan) { try planner.plan() }
            try check(plan)
            if let decisions { for line in Explain.decisions(plan) { decisions("\(id): \(line)") } }
        } catch {
            throw fail(error)
        }
        helper?.join()
        if let error = claim.error {
            // A cgroup error (the id was claimed) or "already exists" (it was not). After a
            // cgroup error the poststop hooks run, as when create and run made the cgroup
            // themselves.
            let cgroupError = claim.locked != nil
            let e = fail(error)
            if cgroupError { runPoststopHooks(plan.hooks, HookState(spec: spec, id: id, bundle: dir)) }
            throw e
        }
        return (spec, plan, dir, claim)
    }
}
