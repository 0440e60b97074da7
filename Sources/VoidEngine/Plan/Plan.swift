import OCIBundle

/// What a void will be, as a pure value: computed from a spec without side effects (beyond
/// reading the image and host paths), printed by `explain`, asserted by unit tests, executed by
/// `Spawner`. Nothing downstream of the planner looks at JSON names.
public struct VoidPlan: Sendable {
    public var imagePath: String            // root.path, absolute and canonical
    public var namespaces: [PlannedNamespace]
    public var uidMap: [LinuxIDMapping]
    public var gidMap: [LinuxIDMapping]
    public var setgroupsAllowed: Bool
    public var idNote: String               // why these maps
    public var hostname: String?
    public var domainname: String?
    public var root: RootKind
    public var rootReadonly: Bool
    public var mounts: [PlannedMount]
    public var process: PlannedProcess
    public var dropped: [Dropped]
    public var notes: [String] = []         // facts worth knowing (how libraries were found, warnings)
    public var oomScoreAdj: Int?
    public var hooks: [PlannedHook] = []    // in the order they run (Hooks.swift)
    public var unbound: [Unbound] = []      // what programs often need and this void lacks (Hints.swift)
    public var sysctls: [PlannedSysctl] = [] // linux.sysctl, sorted by key (Sysctl.swift)
    public var listen: [ListenSocket] = []  // org.voidoci.listen, in the order of their fds (Listen.swift)
    public var connect: [ConnectDestination] = []  // org.voidoci.connect (Connect.swift)
    public var open: [OpenFile] = []          // org.voidoci.open, in the order of their fds (OpenFiles.swift)
    public var accept: AcceptPlan?            // org.voidoci.accept: a void per connection (Supervisor/)

    public enum RootKind: String, Sendable { case tmpfs, imageRO = "image-ro", imageRW = "image-rw" }

    public var newNamespaceFlags: [String] { namespaces.filter { $0.path == nil }.map(\.type) }
}

public struct PlannedNamespace: Equatable, Sendable {
    public var type: String       // runtime-spec name: pid, network, mount, ipc, uts, user, cgroup, time
    public var path: String?      // joined when set, else new
    public var origin: String     // "linux.namespaces[2]" or "void default"
}

public struct PlannedMount: Equatable, Sendable {
    public enum Kind: String, Sendable { case bind, symlink, fs, dir, mask, readonly, node }
    public enum Origin: Equatable, Sendable {
        case config(Int)              // mounts[i]
        case program(String)          // auto-bind: why ("executable", "ELF interpreter", "library of /usr/bin/x", ...)
        case annotation(String)       // the annotation that granted it
        case device(Int)              // linux.devices[i]
        case void(String)             // made by voidoci itself (e.g. the cwd)

        public var text: String {
            switch self {
            case .config(let i): return "mounts[\(i)]"
            case .program(let why): return "auto-bind: \(why)"
            case .annotation(let a): return "annotation \(a)"
            case .device(let i): return "linux.devices[\(i)]"
            case .void(let why): return "voidoci: \(why)"
            }
        }
    }

    public var kind: Kind
    public var destination: String     // absolute inside the void
    public var source: String          // host path, image path, link text or fs source
    public var sourceInImage = false
    /// A host source that must be opened without following any symlink: a relative
    /// `mounts[].source`, joined to the (canonical) bundle directory, whose rootfs is the
    /// image's (docs/security.md).
    public var sourceNoSymlinks = false
    public var isDir = false
    public var recursive = false
    public var flags: [String] = []    // ro, nosuid, nodev, noexec, relatime, ...
    public var fstype: String?
    public var fsOptions: [FSOption] = []
    /// node: the device voidoci makes with mknod (a privileged voidoci; Devices.swift).
    public var node: DeviceNode?
    /// fs: the image's content copied into the new filesystem first (`tmpcopyup`; CopyUp.swift).
    public var copyUp: CopyUp?
    public var origin: Origin

    public struct FSOption: Equatable, Sendable {
        public var key: String
        public var value: String?
        public var text: String { value.map { "\(key)=\($0)" } ?? key }
    }
}

public struct PlannedProcess: Sendable {
    public var execPath: String        // path to execve inside the void
    public var args: [String]
    public var env: [String]
    public var cwd: String             // absolute inside the void
    public var uid: UInt32
    public var gid: UInt32
    public var additionalGids: [UInt32]
    public var setGroups: Bool
    public var umask: UInt32?
    public var rlimits: [(name: String, resource: Int32, soft: UInt64, hard: UInt64)]
    public var capabilities: CapabilitySets
    public var noNewPrivileges: Bool
    public var terminal: Bool
    public var seccomp: LinuxSeccomp?
}

public struct CapabilitySets: Equatable, Sendable {
    public var bounding: UInt64 = 0
    public var effective: UInt64 = 0
    public var permitted: UInt64 = 0
    public var inheritable: UInt64 = 0
    public var ambient: UInt64 = 0
}

/// A config element the void does not honour, and why. `explain` lists them all.
public struct Dropped: Equatable, Sendable {
    public var path: String
    public var reason: String
}

extension VoidPlan {
    /// What each connection's void is made from under `org.voidoci.accept`: this plan without
    /// the listening socket (the supervisor holds it) and without accept itself.
    var perConnection: VoidPlan {
        var p = self
        p.listen = []
        p.accept = nil
        return p
    }
}

/// `org.voidoci.accept`: the supervisor accepts on the one listen socket and starts a fresh void
/// from the same plan for each connection, at most `max` at once.
public struct AcceptPlan: Equatable, Sendable {
    public var mode: VoidGrants.AcceptMode
    public var max: Int
}
