
// `linux.seccomp` (config-linux.md "Seccomp"). Actions, operators, architectures and flags are
// open enums (OpenEnums.swift) so that a value this build does not know reaches validation.

public struct LinuxSeccomp: Codable, Equatable, Sendable {
    public var defaultAction: LinuxSeccompAction
    public var defaultErrnoRet: UInt32?
    public var architectures: [Arch]?
    public var flags: [LinuxSeccompFlag]?
    public var listenerPath: String?
    public var listenerMetadata: String?
    public var syscalls: [LinuxSyscall]?

    public init(
        defaultAction: LinuxSeccompAction, defaultErrnoRet: UInt32? = nil,
        architectures: [Arch]? = nil, flags: [LinuxSeccompFlag]? = nil,
        listenerPath: String? = nil, listenerMetadata: String? = nil,
        syscalls: [LinuxSyscall]? = nil
    ) {
        self.defaultAction = defaultAction
        self.defaultErrnoRet = defaultErrnoRet
        self.architectures = architectures
        self.flags = flags
        self.listenerPath = listenerPath
        self.listenerMetadata = listenerMetadata
        self.syscalls = syscalls
    }
}

public struct LinuxSyscall: Codable, Equatable, Sendable {
    public var names: [String]
    public var action: LinuxSeccompAction
    /// Defaults to EPERM when the action is `SCMP_ACT_ERRNO` or `SCMP_ACT_TRACE`.
    public var errnoRet: UInt32?
    public var args: [LinuxSeccompArg]?

    public init(
        names: [String], action: LinuxSeccompAction, errnoRet: UInt32? = nil,
        args: [LinuxSeccompArg]? = nil
    ) {
        self.names = names
        self.action = action
        self.errnoRet = errnoRet
        self.args = args
    }
}

public struct LinuxSeccompArg: Codable, Equatable, Sendable {
    /// 0...5: a system call has at most six arguments.
    public var index: UInt
    public var value: UInt64
    /// For `SCMP_CMP_MASKED_EQ` the test is `arg & value == valueTwo` (libseccomp's datum_b).
    public var valueTwo: UInt64?
    public var op: LinuxSeccompOperator

    public init(index: UInt, value: UInt64, valueTwo: UInt64? = nil, op: LinuxSeccompOperator) {
        self.index = index
        self.value = value
        self.valueTwo = valueTwo
        self.op = op
    }
}
