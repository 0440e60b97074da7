import CVoid
import Glibc
import OCIBundle

/// The OCI operations. Each takes the state store and an id, works under the id's lock, and
/// throws a VoidError whose text is what the user (or podman) reads.
public struct Runtime {
    public var store: StateStore
    public var caller: Caller
    /// --cgroup-manager (cgroupfs, systemd, disabled) and --systemd-cgroup.
    public var cgroupManager: String?
    public var systemdCgroup = false
    /// --debug / --log-level debug: each decision of create and run, one line each (the CLI
    /// writes them to the --log file).
    public var decisions: ((String) -> Void)?
    public static let ociVersion = "1.2.1"

    public init(store: StateStore, caller: Caller = .current()) {
        self.store = store
        self.caller = caller
    }

    public struct CreateOptions {
        public var bundle: String
        public var pidFile: String?
        public var consoleSocket: String?
        public var preserveFDs: Int = 0
        public init(bundle: String) { self.bundle = bundle }
    }

    /// Loads and plans a bundle without touching the state directory (bad input leaves nothing).
    public func plan(bundle: String) throws -> (Spec, VoidPlan, String) {
        let (spec, dir) = try load(bundle: bundle)
        var planner = Planner(spec: spec, bundle: dir, caller: caller)
        planner.hints = true   // explain's
        let plan = try staged(.plan) { try planner.plan() }
        return (spec, plan, dir)
    }

    /// The plan of a created void: its config as create read it (the snapshot in its state
    /// directory) and its bundle, for `explain ID`.
    public func plan(id: String) throws -> VoidPlan {
        let c = try store.open(id, exclusive: false)
        let s = try c.load()
        let spec = try snapshot(c)
        var planner = Planner(spec: spec, bundle: s.bundle, caller: caller)
        planner.hints = true
        return try staged(.plan) { try planner.plan() }
    }

    /// The bundle's config, decoded and validated, and the bundle's canonical path.
    /// `parsed`: see `SpecLoader.load(bundle:parsed:)`.
    func load(bundle: String, parsed: (String?) -> Void = { _ in }) throws -> (Spec, String) {
        let dir = try canonicalDirectory(bundle, field: "bundle")
        do { return (try SpecLoader.load(bundle: dir, parsed: parsed), dir) } catch let e as SpecError {
            throw VoidError(e.description, errno: e.errno, stage: .config, subject: e.jsonPath ?? e.file)
        }
    }

    /// config.json as create read it, for exec.
    func saveSnapshot(_ c: LockedContainer, bundle: String) throws {
        try writeFileAtomically("\(c.dir)/config.json", try readSmallFile("\(bundle)/config.json"), mode: 0o600)
    }

    func stateRecord(id: String, pid: Int32, start: UInt64, bundle: String, spec: Spec, plan: VoidPlan) -> ContainerState {
        let owner = hostUserName(caller.euid) ?? "\(caller.euid)"
        return ContainerState(ociVersion: spec.ociVersion, id: id, pid: pid, pidStartTime: start, bundle: bundle,
                              rootfs: plan.imagePath, created: rfc3339Now(), owner: owner, annotations: spec.annotations)
    }

    func absolute(_ p: String) -> String { absolutePath(p) }
}

/// A path taken from the current directory now (relative --root, --pid-file), so a later
/// chdir (the clone) cannot change what it names.
func absolutePath(_ p: String) -> String {
    if p.hasPrefix("/") { return p }
    var buf = [CChar](repeating: 0, count: Int(PATH_MAX))
    guard getcwd(&buf, buf.count) != nil else { return p }
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/" + p
}

/// Processes whose pid namespace is that of `pid` (for `kill --all`).
func pidsInSamePidNamespace(as pid: Int32) -> [Int32] {
    guard let target = nsLink("\(pid)", "pid") else { return [] }
    return directoryEntries("/proc").compactMap { name in
        guard let p = Int32(name), nsLink(name, "pid") == target else { return nil }
        return p
    }
}
