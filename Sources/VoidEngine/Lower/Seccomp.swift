import CSeccomp
import CVoid
import Glibc
import OCIBundle

/// A seccomp filter compiled by libseccomp in the parent, so the child only has to hand the BPF
/// program to the kernel: no allocation and no library between clone and execve.
public struct SeccompProgram: Sendable {
    public var filter: [UInt8]     // struct sock_filter[]
    public var flags: UInt32       // SECCOMP_FILTER_FLAG_*
    public var instructionCount: Int { filter.count / 8 }
}

public enum SeccompCompiler {
    // Function-like macros of seccomp.h, which Swift does not import.
    static let actKillThread: UInt32 = 0x0000_0000, actKillProcess: UInt32 = 0x8000_0000
    static let actTrap: UInt32 = 0x0003_0000, actLog: UInt32 = 0x7ffc_0000, actAllow: UInt32 = 0x7fff_0000
    static func actErrno(_ e: UInt32) -> UInt32 { 0x0005_0000 | (e & 0xffff) }
    static func actTrace(_ e: UInt32) -> UInt32 { 0x7ff0_0000 | (e & 0xffff) }

    static func action(_ a: LinuxSeccompAction, errnoRet: UInt32?, field: String) throws -> UInt32 {
        switch a.rawValue {
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return actKillThread
        case "SCMP_ACT_KILL_PROCESS": return actKillProcess
        case "SCMP_ACT_TRAP": return actTrap
        case "SCMP_ACT_ERRNO": return actErrno(errnoRet ?? UInt32(EPERM))
        case "SCMP_ACT_TRACE": return actTrace(errnoRet ?? UInt32(EPERM))
        case "SCMP_ACT_LOG": return actLog
        case "SCMP_ACT_ALLOW": return actAllow
        case "SCMP_ACT_NOTIFY":
            throw VoidError("\(field): SCMP_ACT_NOTIFY needs a seccomp listener, which voidoci does not support")
        default: throw VoidError("\(field): unknown action \(a.rawValue)")
        }
    }

    static let flagBits: [String: UInt32] = [
        "SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32,
    ]

    static let operators: [String: scmp_compare] = [
        "SCMP_CMP_NE": SCMP_CMP_NE, "SCMP_CMP_LT": SCMP_CMP_LT, "SCMP_CMP_LE": SCMP_CMP_LE,
        "SCMP_CMP_EQ": SCMP_CMP_EQ, "SCMP_CMP_GE": SCMP_CMP_GE, "SCMP_CMP_GT": SCMP_CMP_GT,
        "SCMP_CMP_MASKED_EQ": SCMP_CMP_MASKED_EQ,
    ]

    public static func compile(_ s: LinuxSeccomp) throws -> SeccompProgram {
        let defAction = try action(s.defaultAction, errnoRet: s.defaultErrnoRet, field: "linux.seccomp.defaultAction")
        guard let ctx = seccomp_init(defAction) else { throw VoidError("linux.seccomp: seccomp_init failed") }
        defer { seccomp_release(ctx) }
        // The filter is loaded by the child itself; libseccomp must not add no_new_privs.
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        for (i, arch) in (s.architectures ?? []).enumerated() {
            let name = arch.rawValue.hasPrefix("SCMP_ARCH_") ? String(arch.rawValue.dropFirst(10)).lowercased() : arch.rawValue
            let token = seccomp_arch_resolve_name(name)
            guard token != 0 else { throw VoidError("linux.seccomp.architectures[\(i)]: \(arch.rawValue): unknown to libseccomp") }
            let r = seccomp_arch_add(ctx, token)
            if r < 0 && r != -EEXIST { throw VoidError("linux.seccomp.architectures[\(i)]: \(arch.rawValue): \(errnoText(-r))") }
        }
        for (i, rule) in (s.syscalls ?? []).enumerated() {
            let field = "linux.seccomp.syscalls[\(i)]"
            let act = try action(rule.action, errnoRet: rule.errnoRet, field: "\(field).action")
            // libseccomp refuses a rule whose action is the default one; it would change nothing.
            if act == defAction { continue }
            var conds: [scmp_arg_cmp] = []
            for (k, a) in (rule.args ?? []).enumerated() {
                guard let op = operators[a.op.rawValue] else { throw VoidError("\(field).args[\(k)].op: unknown operator \(a.op.rawValue)") }
                // Validation refuses an index past 5 first; checked here too, since UInt32(_:)
                // traps on a value read from a config instead of failing.
                guard a.index < 6, let index = UInt32(exactly: a.index) else {
                    throw VoidError("\(field).args[\(k)].index: \(a.index) is out of range (a system call has arguments 0...5)")
                }
                conds.append(scmp_arg_cmp(arg: index, op: op, datum_a: a.value, datum_b: a.valueTwo ?? 0))
            }
            // Conditions on the same argument cannot be ANDed by libseccomp: as runc does, each
            // becomes a rule of its own (OR).
            let unique = Set(conds.map(\.arg)).count == conds.count
            let groups: [[scmp_arg_cmp]] = unique ? [conds] : conds.map { [$0] }
            for name in rule.names {
                let nr = seccomp_syscall_resolve_name(name)
                if nr == -1 { continue }  // unknown on this arch/libseccomp: skipped, as runc and crun do
                for g in groups {
                    let r = g.withUnsafeBufferPointer { seccomp_rule_add_array(ctx, act, nr, UInt32($0.count), $0.baseAddress) }
                    if r < 0 && r != -EEXIST {
                        throw VoidError("\(field): rule for \(name): \(errnoText(-r))")
                    }
                }
            }
        }
        var flags: UInt32 = 0
        for (i, f) in (s.flags ?? []).enumerated() {
            guard let bit = flagBits[f.rawValue] else { throw VoidError("linux.seccomp.flags[\(i)]: unknown flag \(f.rawValue)") }
            flags |= bit
        }
        return try export(ctx, flags: flags, what: "linux.seccomp")
    }

    /// The BPF program of a libseccomp context.
    static func export(_ ctx: scmp_filter_ctx, flags: UInt32, what: String) throws -> SeccompProgram {
        let fd = void_memfd("voidoci-seccomp")
        if fd < 0 { throw VoidError.sys("memfd_create") }
        defer { close(fd) }
        let r = seccomp_export_bpf(ctx, fd)
        if r < 0 { throw VoidError("\(what): exporting the filter: \(errnoText(-r))") }
        let size = lseek(fd, 0, SEEK_END)
        guard size >= 0 else { throw VoidError.sys("lseek", "seccomp filter") }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n == size else { throw VoidError.sys("read", "seccomp filter") }
        guard bytes.count / 8 <= 4096 else { throw VoidError("\(what): the filter has \(bytes.count / 8) instructions, more than the kernel's 4096") }
        return SeccompProgram(filter: bytes, flags: flags)
    }
}
