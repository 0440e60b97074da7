import CVoid
import Glibc
import OCIBundle

/// One OCI hook of a bundle, as `explain` shows it and voidoci runs it.
public struct PlannedHook: Equatable, Sendable {
    public enum Stage: String, Sendable, CaseIterable {
        case prestart, createRuntime, createContainer, startContainer, poststart, poststop

        /// Runs in the void's namespaces (else in voidoci's, the runtime namespace).
        public var inVoid: Bool { self == .createContainer || self == .startContainer }
        /// Where `path` is looked up: the void's own tree only for startContainer (after the pivot).
        public var pathInVoid: Bool { self == .startContainer }
        public var when: String {
            switch self {
            case .prestart, .createRuntime: return "create, before the pivot"
            case .createContainer: return "create, before the pivot (after createRuntime)"
            case .startContainer: return "start, before the program"
            case .poststart: return "start, once the program runs"
            case .poststop: return "delete, once the void is gone"
            }
        }
        public var namespaces: String {
            switch self {
            case .createContainer: return "the void's namespaces, path resolved on the host"
            case .startContainer: return "the void's namespaces, path resolved inside the void"
            default: return "voidoci's namespaces"
            }
        }
    }

    public var stage: Stage
    public var index: Int
    public var path: String
    public var args: [String]        // argv; [path] when the config gives none
    public var env: [String]         // exactly the config's (empty when absent)
    public var timeout: Int?         // seconds

    /// "hooks.createRuntime[0]": how errors and warnings name it.
    public var name: String { "hooks.\(stage.rawValue)[\(index)]" }
}

extension Planner {
    /// The bundle's hooks in the order they run (prestart before createRuntime, per the spec).
    func plannedHooks() -> [PlannedHook] {
        hookStages().flatMap { stage, list in
            list.enumerated().map { i, h in
                PlannedHook(stage: PlannedHook.Stage(rawValue: stage)!, index: i, path: h.path,
                            args: (h.args ?? []).isEmpty ? [h.path] : h.args!, env: h.env ?? [], timeout: h.timeout)
            }
        }
    }
}

/// The state a hook reads on stdin (runtime-spec "State"): ociVersion, id, status, pid,
/// bundle, annotations.
struct HookState {
    var ociVersion: String
    var id: String
    var bundle: String
    var annotations: [String: String]

    init(spec: Spec, id: String, bundle: String) {
        self.init(ociVersion: spec.ociVersion, id: id, bundle: bundle, annotations: spec.annotations ?? [:])
    }

    init(_ s: ContainerState) {
        self.init(ociVersion: s.ociVersion, id: s.id, bundle: s.bundle, annotations: s.annotations ?? [:])
    }

    init(ociVersion: String, id: String, bundle: String, annotations: [String: String]) {
        self.ociVersion = ociVersion
        self.id = id
        self.bundle = bundle
        self.annotations = annotations
    }

    /// `pid` as the hook sees it: the host's view for runtime-namespace hooks, the void's
    /// (1, unless the pid namespace was joined) for hooks inside; 0 once stopped.
    func json(status: String, pid: Int32) -> String {
        JSON.object([
            ("ociVersion", .string(ociVersion)), ("id", .string(id)), ("status", .string(status)),
            ("pid", .number(Int(pid))), ("bundle", .string(bundle)),
            ("annotations", .object(annotations.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value)) })),
        ]).render() + "\n"
    }
}

/// How a hook enters a void: through its init's pidfd, with the void's set-up ids.
struct HookJoin {
    var pid: pid_t
    var pidfd: Int32
    var caller: Caller

    /// The set-up ids the init used: 0 inside when the void maps 0, else the one id it maps.
    func ids() -> (UInt32, UInt32) {
        func pick(_ file: String) -> UInt32 {
            let lines = ((try? readSmallFile("/proc/\(pid)/\(file)")) ?? "").split(separator: "\n")
            let inside = lines.compactMap { $0.split(separator: " ").first.flatMap { UInt32($0) } }
            return inside.contains(0) ? 0 : (inside.first ?? 0)
        }
        return (pick("uid_map"), pick("gid_map"))
    }

    /// The init's pid in its own pid namespace (the last NSpid field).
    func pidInVoid() -> Int32 {
        let status = (try? readSmallFile("/proc/\(pid)/status")) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("NSpid:") {
            if let last = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last, let n = Int32(last) { return n }
        }
        return pid
    }
}

/// `run`: the init waits on this pipe (as on create's exec fifo) while the startContainer hooks
/// run; one byte lets it exec.
final class StartGate {
    let readFD: Int32
    private(set) var writeFD: Int32

    /// nil when the plan has no startContainer hooks: the init then execs right away.
    init?(_ hooks: [PlannedHook]) throws {
        guard hooks.contains(where: { $0.stage == .startContainer }) else { return nil }
        var p: [Int32] = [-1, -1]
        try sys("pipe") { void_pipe_cloexec(&p) }
        readFD = p[0]
        writeFD = p[1]
    }

    func open() throws {
        var b: UInt8 = 0
        try sys("releasing the void's program") { write(writeFD, &b, 1) }
        close(writeFD)
        writeFD = -1
    }

    deinit {
        close(readFD)
        if writeFD >= 0 { close(writeFD) }
    }
}

extension Runtime {
    /// prestart, createRuntime, then createContainer, run while the init waits before its pivot
    /// (`SpawnOptions.onPause`); nil when the bundle has none, so the init does not pause.
    func createTimeHooks(id: String, spec: Spec, bundle: String, plan: VoidPlan) -> ((pid_t, Int32) throws -> Void)? {
        let hooks = plan.hooks.filter { [.prestart, .createRuntime, .createContainer].contains($0.stage) }
        guard !hooks.isEmpty else { return nil }
        let state = HookState(spec: spec, id: id, bundle: bundle)
        let caller = self.caller
        return { pid, pidfd in
            let join = HookJoin(pid: pid, pidfd: pidfd, caller: caller)
            for h in hooks {
                if h.stage == .createContainer {
                    try HookRunner.run(h, state: state.json(status: "creating", pid: join.pidInVoid()), join: join, hostPath: true)
                } else {
                    try HookRunner.run(h, state: state.json(status: "creating", pid: pid))
                }
            }
        }
    }

    /// The hooks of a created void, from the config snapshot create kept (later edits of the
    /// bundle have no effect).
    func savedHooks(_ c: LockedContainer) throws -> [PlannedHook] {
        let spec = try snapshot(c)
        return Planner(spec: spec, bundle: "", caller: caller).plannedHooks()
    }

    /// startContainer: in the void, with the path looked up there. On failure the void is
    /// killed (runtime-spec lifecycle step 7) and the error names the hook.
    func runStartContainerHooks(_ hooks: [PlannedHook], _ s: ContainerState, pidfd: Int32) throws {
        let start = hooks.filter { $0.stage == .startContainer }
        guard !start.isEmpty else { return }
        let join = HookJoin(pid: s.pid, pidfd: pidfd, caller: caller)
        let state = HookState(s).json(status: "created", pid: join.pidInVoid())
        do {
            for h in start { try HookRunner.run(h, state: state, join: join, hostPath: false) }
        } catch {
            _ = void_pidfd_send_signal(pidfd, SIGKILL)
            // Readable once it has exited; its parent (conmon, or `run`) reaps it.
            var p = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, 5_000)
            throw error
        }
    }

    /// poststart: the program runs; a failure is a warning, `start` still succeeds.
    func runPoststartHooks(_ hooks: [PlannedHook], _ state: HookState, pid: Int32) {
        let state = state.json(status: "running", pid: pid)
        for h in hooks where h.stage == .poststart {
            do { try HookRunner.run(h, state: state) } catch { HookRunner.warn(error) }
        }
    }

    /// poststop: after delete removed everything; a failure is a warning.
    func runPoststopHooks(_ hooks: [PlannedHook], _ state: HookState) {
        let json = state.json(status: "stopped", pid: 0)
        for h in hooks where h.stage == .poststop {
            do { try HookRunner.run(h, state: json) } catch { HookRunner.warn(error) }
        }
    }

    /// delete: the poststop hooks are read from the snapshot before the state dir goes.
    func poststopHooks(_ c: LockedContainer) -> [PlannedHook] {
        guard access("\(c.dir)/config.json", F_OK) == 0 else { return [] }
        do { return try savedHooks(c).filter { $0.stage == .poststop } } catch {
            HookRunner.warn(VoidError("poststop hooks not run: \(error)"))
            return []
        }
    }
}
