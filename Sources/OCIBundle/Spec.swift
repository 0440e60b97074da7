
// The top of runtime-spec v1.2.1 `config.json` (config.md). Property names are the JSON keys and
// type names follow Go's specs-go, so the spec text and runc's source can be read side by side.
// Every field the spec or schema leaves optional is `Optional`: synthesised `Codable` ignores
// property defaults, and a non-optional field would reject valid bundles.

public struct Spec: Codable, Equatable, Sendable {
    public var ociVersion: String
    public var process: Process?
    public var root: Root?
    public var hostname: String?
    public var domainname: String?
    public var mounts: [Mount]?
    public var hooks: Hooks?
    public var annotations: [String: String]?
    public var linux: Linux?

    public init(
        ociVersion: String = "1.2.1", process: Process? = nil, root: Root? = nil,
        hostname: String? = nil, domainname: String? = nil, mounts: [Mount]? = nil,
        hooks: Hooks? = nil, annotations: [String: String]? = nil, linux: Linux? = nil
    ) {
        self.ociVersion = ociVersion
        self.process = process
        self.root = root
        self.hostname = hostname
        self.domainname = domainname
        self.mounts = mounts
        self.hooks = hooks
        self.annotations = annotations
        self.linux = linux
    }
}

public struct Root: Codable, Equatable, Sendable {
    /// Relative paths are relative to the bundle directory.
    public var path: String
    public var readonly: Bool?

    public init(path: String, readonly: Bool? = nil) {
        self.path = path
        self.readonly = readonly
    }
}

public struct Mount: Codable, Equatable, Sendable {
    public var destination: String
    public var type: String?
    public var source: String?
    public var options: [String]?
    public var uidMappings: [LinuxIDMapping]?
    public var gidMappings: [LinuxIDMapping]?

    public init(
        destination: String, type: String? = nil, source: String? = nil, options: [String]? = nil,
        uidMappings: [LinuxIDMapping]? = nil, gidMappings: [LinuxIDMapping]? = nil
    ) {
        self.destination = destination
        self.type = type
        self.source = source
        self.options = options
        self.uidMappings = uidMappings
        self.gidMappings = gidMappings
    }
}

public struct Hooks: Codable, Equatable, Sendable {
    /// Deprecated by the spec in favour of the three hooks below, but podman still emits it.
    public var prestart: [Hook]?
    public var createRuntime: [Hook]?
    public var createContainer: [Hook]?
    public var startContainer: [Hook]?
    public var poststart: [Hook]?
    public var poststop: [Hook]?

    public init(
        prestart: [Hook]? = nil, createRuntime: [Hook]? = nil, createContainer: [Hook]? = nil,
        startContainer: [Hook]? = nil, poststart: [Hook]? = nil, poststop: [Hook]? = nil
    ) {
        self.prestart = prestart
        self.createRuntime = createRuntime
        self.createContainer = createContainer
        self.startContainer = startContainer
        self.poststart = poststart
        self.poststop = poststop
    }
}

public struct Hook: Codable, Equatable, Sendable {
    public var path: String
    public var args: [String]?
    public var env: [String]?
    /// Seconds.
    public var timeout: Int?

    public init(path: String, args: [String]? = nil, env: [String]? = nil, timeout: Int? = nil) {
        self.path = path
        self.args = args
        self.env = env
        self.timeout = timeout
    }
}

extension Spec {
    public var annotationsOrEmpty: [String: String] { annotations ?? [:] }
}

extension Mount {
    /// runc treats a mount as a bind when either the type or an option says so: `runc spec
    /// --rootless` emits `"type": "none"` with `"rbind"`, podman emits `"type": "bind"`.
    public var isBind: Bool {
        type == "bind" || (options ?? []).contains { $0 == "bind" || $0 == "rbind" }
    }

    public var isRecursiveBind: Bool { (options ?? []).contains("rbind") }
}
