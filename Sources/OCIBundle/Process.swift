
// `process` (config.md "Process", "POSIX process", "Linux Process", "User"). The same type is
// what `exec --process FILE` reads.

public struct Process: Codable, Equatable, Sendable {
    public var terminal: Bool?
    public var consoleSize: Box?
    public var user: User
    public var args: [String]?
    /// Windows only; kept so that a round trip does not lose it.
    public var commandLine: String?
    public var env: [String]?
    public var cwd: String
    public var capabilities: LinuxCapabilities?
    public var rlimits: [POSIXRlimit]?
    public var noNewPrivileges: Bool?
    public var apparmorProfile: String?
    public var oomScoreAdj: Int?
    public var scheduler: Scheduler?
    public var selinuxLabel: String?
    public var ioPriority: LinuxIOPriority?
    public var execCPUAffinity: CPUAffinity?

    public init(
        terminal: Bool? = nil, consoleSize: Box? = nil, user: User = User(), args: [String]? = nil,
        commandLine: String? = nil, env: [String]? = nil, cwd: String = "/",
        capabilities: LinuxCapabilities? = nil, rlimits: [POSIXRlimit]? = nil,
        noNewPrivileges: Bool? = nil, apparmorProfile: String? = nil, oomScoreAdj: Int? = nil,
        scheduler: Scheduler? = nil, selinuxLabel: String? = nil,
        ioPriority: LinuxIOPriority? = nil, execCPUAffinity: CPUAffinity? = nil
    ) {
        self.terminal = terminal
        self.consoleSize = consoleSize
        self.user = user
        self.args = args
        self.commandLine = commandLine
        self.env = env
        self.cwd = cwd
        self.capabilities = capabilities
        self.rlimits = rlimits
        self.noNewPrivileges = noNewPrivileges
        self.apparmorProfile = apparmorProfile
        self.oomScoreAdj = oomScoreAdj
        self.scheduler = scheduler
        self.selinuxLabel = selinuxLabel
        self.ioPriority = ioPriority
        self.execCPUAffinity = execCPUAffinity
    }
}

/// Console size in characters.
public struct Box: Codable, Equatable, Sendable {
    public var height: UInt
    public var width: UInt

    public init(height: UInt, width: UInt) {
        self.height = height
        self.width = width
    }
}

public struct User: Codable, Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    public var umask: UInt32?
    public var additionalGids: [UInt32]?
    public var username: String?

    public init(
        uid: UInt32 = 0, gid: UInt32 = 0, umask: UInt32? = nil, additionalGids: [UInt32]? = nil,
        username: String? = nil
    ) {
        self.uid = uid
        self.gid = gid
        self.umask = umask
        self.additionalGids = additionalGids
        self.username = username
    }
}

public struct LinuxCapabilities: Codable, Equatable, Sendable {
    public var bounding: [String]?
    public var effective: [String]?
    public var inheritable: [String]?
    public var permitted: [String]?
    public var ambient: [String]?

    public init(
        bounding: [String]? = nil, effective: [String]? = nil, inheritable: [String]? = nil,
        permitted: [String]? = nil, ambient: [String]? = nil
    ) {
        self.bounding = bounding
        self.effective = effective
        self.inheritable = inheritable
        self.permitted = permitted
        self.ambient = ambient
    }
}

public struct POSIXRlimit: Codable, Equatable, Sendable {
    /// `RLIMIT_*`, see `POSIXRlimit.knownTypes`.
    public var type: String
    public var hard: UInt64
    public var soft: UInt64

    public init(type: String, hard: UInt64, soft: UInt64) {
        self.type = type
        self.hard = hard
        self.soft = soft
    }
}

/// `process.scheduler`, kept loosely typed (policy and flags as strings) because voidoci only
/// passes it through to `sched_setattr`.
public struct Scheduler: Codable, Equatable, Sendable {
    public var policy: String
    public var nice: Int32?
    public var priority: Int32?
    public var flags: [String]?
    public var runtime: UInt64?
    public var deadline: UInt64?
    public var period: UInt64?

    public init(
        policy: String, nice: Int32? = nil, priority: Int32? = nil, flags: [String]? = nil,
        runtime: UInt64? = nil, deadline: UInt64? = nil, period: UInt64? = nil
    ) {
        self.policy = policy
        self.nice = nice
        self.priority = priority
        self.flags = flags
        self.runtime = runtime
        self.deadline = deadline
        self.period = period
    }
}

public struct LinuxIOPriority: Codable, Equatable, Sendable {
    /// `IOPRIO_CLASS_RT`, `IOPRIO_CLASS_BE` or `IOPRIO_CLASS_IDLE`.
    public var `class`: String
    /// config.md calls it required, the schema does not; optional so that both parse.
    public var priority: Int?

    public init(class: String, priority: Int? = nil) {
        self.class = `class`
        self.priority = priority
    }
}

/// CPU lists such as `"0-3,7"`.
public struct CPUAffinity: Codable, Equatable, Sendable {
    public var initial: String?
    public var final: String?

    public init(initial: String? = nil, final: String? = nil) {
        self.initial = initial
        self.final = final
    }
}

extension Process {
    /// The value of `name` in `env`. The last entry wins: engines append overrides (podman's
    /// `--env` after the image's `Env`), and Go's `os/exec` resolves duplicates the same way.
    public func envValue(_ name: String) -> String? {
        var found: String?
        for entry in env ?? [] {
            guard let equals = entry.firstIndex(of: "=") else { continue }
            if entry[..<equals] == name { found = String(entry[entry.index(after: equals)...]) }
        }
        return found
    }
}
