
// `linux` (config-linux.md), except `resources` (Resources.swift) and `seccomp` (Seccomp.swift).

public struct Linux: Codable, Equatable, Sendable {
    public var uidMappings: [LinuxIDMapping]?
    public var gidMappings: [LinuxIDMapping]?
    public var sysctl: [String: String]?
    public var resources: LinuxResources?
    public var cgroupsPath: String?
    public var namespaces: [LinuxNamespace]?
    public var devices: [LinuxDevice]?
    public var seccomp: LinuxSeccomp?
    public var rootfsPropagation: String?
    public var maskedPaths: [String]?
    public var readonlyPaths: [String]?
    public var mountLabel: String?
    public var intelRdt: IntelRdt?
    public var personality: LinuxPersonality?
    /// Keyed by clock name: `boottime` or `monotonic`.
    public var timeOffsets: [String: LinuxTimeOffset]?

    public init(
        uidMappings: [LinuxIDMapping]? = nil, gidMappings: [LinuxIDMapping]? = nil,
        sysctl: [String: String]? = nil, resources: LinuxResources? = nil,
        cgroupsPath: String? = nil, namespaces: [LinuxNamespace]? = nil,
        devices: [LinuxDevice]? = nil, seccomp: LinuxSeccomp? = nil,
        rootfsPropagation: String? = nil, maskedPaths: [String]? = nil,
        readonlyPaths: [String]? = nil, mountLabel: String? = nil, intelRdt: IntelRdt? = nil,
        personality: LinuxPersonality? = nil, timeOffsets: [String: LinuxTimeOffset]? = nil
    ) {
        self.uidMappings = uidMappings
        self.gidMappings = gidMappings
        self.sysctl = sysctl
        self.resources = resources
        self.cgroupsPath = cgroupsPath
        self.namespaces = namespaces
        self.devices = devices
        self.seccomp = seccomp
        self.rootfsPropagation = rootfsPropagation
        self.maskedPaths = maskedPaths
        self.readonlyPaths = readonlyPaths
        self.mountLabel = mountLabel
        self.intelRdt = intelRdt
        self.personality = personality
        self.timeOffsets = timeOffsets
    }
}

/// One line of `/proc/<pid>/uid_map` or `gid_map`, or of an idmapped mount.
public struct LinuxIDMapping: Codable, Equatable, Sendable {
    public var containerID: UInt32
    public var hostID: UInt32
    public var size: UInt32

    public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
        self.containerID = containerID
        self.hostID = hostID
        self.size = size
    }
}

public struct LinuxNamespace: Codable, Equatable, Sendable {
    public var type: LinuxNamespaceType
    /// Join this namespace instead of creating one.
    public var path: String?

    public init(type: LinuxNamespaceType, path: String? = nil) {
        self.type = type
        self.path = path
    }
}

public struct LinuxDevice: Codable, Equatable, Sendable {
    /// `c`, `b`, `u` (unbuffered character device) or `p` (FIFO).
    public var type: String
    public var path: String
    /// Required unless `type` is `p`; `validate` reports their absence.
    public var major: Int64?
    public var minor: Int64?
    public var fileMode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?

    public init(
        type: String, path: String, major: Int64? = nil, minor: Int64? = nil,
        fileMode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil
    ) {
        self.type = type
        self.path = path
        self.major = major
        self.minor = minor
        self.fileMode = fileMode
        self.uid = uid
        self.gid = gid
    }
}

public struct IntelRdt: Codable, Equatable, Sendable {
    public var closID: String?
    public var l3CacheSchema: String?
    public var memBwSchema: String?
    public var enableCMT: Bool?
    public var enableMBM: Bool?

    public init(
        closID: String? = nil, l3CacheSchema: String? = nil, memBwSchema: String? = nil,
        enableCMT: Bool? = nil, enableMBM: Bool? = nil
    ) {
        self.closID = closID
        self.l3CacheSchema = l3CacheSchema
        self.memBwSchema = memBwSchema
        self.enableCMT = enableCMT
        self.enableMBM = enableMBM
    }
}

public struct LinuxPersonality: Codable, Equatable, Sendable {
    /// `LINUX` or `LINUX32`. config-linux.md calls it required, the schema does not.
    public var domain: String?
    public var flags: [String]?

    public init(domain: String? = nil, flags: [String]? = nil) {
        self.domain = domain
        self.flags = flags
    }
}

public struct LinuxTimeOffset: Codable, Equatable, Sendable {
    public var secs: Int64?
    public var nanosecs: UInt32?

    public init(secs: Int64? = nil, nanosecs: UInt32? = nil) {
        self.secs = secs
        self.nanosecs = nanosecs
    }
}
