
/// A string-valued enumeration of the runtime-spec that decodes *any* string.
///
/// A closed Swift `enum` would turn `"type": "pdi"` into a `DecodingError` that names neither the
/// field nor the valid values; keeping the raw string lets `validate(_:)` report
/// `linux.namespaces[0].type: unknown namespace type "pdi"` together with every other problem.
public protocol OpenStringEnum: RawRepresentable, Codable, Hashable, Sendable,
    CustomStringConvertible, ExpressibleByStringLiteral where RawValue == String
{
    init(rawValue: String)
    /// The values runtime-spec v1.2.1 defines, in the spec's order.
    static var knownValues: [Self] { get }
}

extension OpenStringEnum {
    public init(stringLiteral value: String) { self.init(rawValue: value) }

    // Explicit, so the JSON form is the bare string and not `{"rawValue": ...}`.
    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var isKnown: Bool { Self.knownValues.contains(self) }
    public var description: String { rawValue }
}

public struct LinuxNamespaceType: OpenStringEnum {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let pid: Self = "pid"
    public static let network: Self = "network"
    public static let mount: Self = "mount"
    public static let ipc: Self = "ipc"
    public static let uts: Self = "uts"
    public static let user: Self = "user"
    public static let cgroup: Self = "cgroup"
    public static let time: Self = "time"

    public static let knownValues: [Self] = [.pid, .network, .mount, .ipc, .uts, .user, .cgroup, .time]
}

public struct LinuxSeccompAction: OpenStringEnum {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let kill: Self = "SCMP_ACT_KILL"
    public static let killProcess: Self = "SCMP_ACT_KILL_PROCESS"
    public static let killThread: Self = "SCMP_ACT_KILL_THREAD"
    public static let trap: Self = "SCMP_ACT_TRAP"
    public static let errno: Self = "SCMP_ACT_ERRNO"
    public static let trace: Self = "SCMP_ACT_TRACE"
    public static let allow: Self = "SCMP_ACT_ALLOW"
    public static let log: Self = "SCMP_ACT_LOG"
    public static let notify: Self = "SCMP_ACT_NOTIFY"

    public static let knownValues: [Self] = [
        .kill, .killProcess, .killThread, .trap, .errno, .trace, .allow, .log, .notify,
    ]

    /// Only these actions carry a return value; the spec requires an error when
    /// `errnoRet`/`defaultErrnoRet` is given for any other action.
    public var acceptsErrnoRet: Bool { self == .errno || self == .trace }
}

public struct LinuxSeccompOperator: OpenStringEnum {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let notEqual: Self = "SCMP_CMP_NE"
    public static let lessThan: Self = "SCMP_CMP_LT"
    public static let lessOrEqual: Self = "SCMP_CMP_LE"
    public static let equalTo: Self = "SCMP_CMP_EQ"
    public static let greaterOrEqual: Self = "SCMP_CMP_GE"
    public static let greaterThan: Self = "SCMP_CMP_GT"
    public static let maskedEqual: Self = "SCMP_CMP_MASKED_EQ"

    public static let knownValues: [Self] = [
        .notEqual, .lessThan, .lessOrEqual, .equalTo, .greaterOrEqual, .greaterThan, .maskedEqual,
    ]
}

/// A seccomp architecture (`SCMP_ARCH_*`), the list of libseccomp v2.6.0 quoted by the spec.
public struct Arch: OpenStringEnum {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let x86: Self = "SCMP_ARCH_X86"
    public static let x86_64: Self = "SCMP_ARCH_X86_64"
    public static let x32: Self = "SCMP_ARCH_X32"
    public static let arm: Self = "SCMP_ARCH_ARM"
    public static let aarch64: Self = "SCMP_ARCH_AARCH64"
    public static let mips: Self = "SCMP_ARCH_MIPS"
    public static let mips64: Self = "SCMP_ARCH_MIPS64"
    public static let mips64n32: Self = "SCMP_ARCH_MIPS64N32"
    public static let mipsel: Self = "SCMP_ARCH_MIPSEL"
    public static let mipsel64: Self = "SCMP_ARCH_MIPSEL64"
    public static let mipsel64n32: Self = "SCMP_ARCH_MIPSEL64N32"
    public static let ppc: Self = "SCMP_ARCH_PPC"
    public static let ppc64: Self = "SCMP_ARCH_PPC64"
    public static let ppc64le: Self = "SCMP_ARCH_PPC64LE"
    public static let s390: Self = "SCMP_ARCH_S390"
    public static let s390x: Self = "SCMP_ARCH_S390X"
    public static let parisc: Self = "SCMP_ARCH_PARISC"
    public static let parisc64: Self = "SCMP_ARCH_PARISC64"
    public static let riscv64: Self = "SCMP_ARCH_RISCV64"
    public static let loongarch64: Self = "SCMP_ARCH_LOONGARCH64"
    public static let m68k: Self = "SCMP_ARCH_M68K"
    public static let sh: Self = "SCMP_ARCH_SH"
    public static let sheb: Self = "SCMP_ARCH_SHEB"

    public static let knownValues: [Self] = [
        .x86, .x86_64, .x32, .arm, .aarch64, .mips, .mips64, .mips64n32, .mipsel, .mipsel64,
        .mipsel64n32, .ppc, .ppc64, .ppc64le, .s390, .s390x, .parisc, .parisc64, .riscv64,
        .loongarch64, .m68k, .sh, .sheb,
    ]
}

public struct LinuxSeccompFlag: OpenStringEnum {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let tsync: Self = "SECCOMP_FILTER_FLAG_TSYNC"
    public static let log: Self = "SECCOMP_FILTER_FLAG_LOG"
    public static let specAllow: Self = "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
    public static let waitKillableRecv: Self = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"

    public static let knownValues: [Self] = [.tsync, .log, .specAllow, .waitKillableRecv]
}
