import CSeccomp
import CVoid
import Glibc

/// The seccomp filter of `org.voidoci.connect` (docs/void.md, Sockets), compiled by libseccomp
/// in voidoci: `connect` goes to the supervisor (SECCOMP_RET_USER_NOTIF); with a udp entry also
/// `sendto` with an address, `sendmsg` and `sendmmsg` (a datagram socket reaches whatever
/// address a send names), and io_uring is refused (its operations pass no filter). Everything
/// else is allowed: the config's own filter, loaded too, decides the rest, and the kernel takes
/// the strictest answer of the two (a denial wins over a notification).
///
/// 32-bit calls (i386, through socketcall too) are sent to the supervisor as well, which refuses
/// them (EPERM); x32 calls get ENOSYS.
public enum ConnectFilter {
    static let actNotify: UInt32 = 0x7fc0_0000

    /// Whether the sends are intercepted too.
    public static func interceptsSends(_ list: [ConnectDestination]) -> Bool { list.contains { $0.transport == .udp } }

    /// The kernel features it needs: seccomp user notification (5.0), pidfd_getfd (5.6),
    /// SECCOMP_IOCTL_NOTIF_ADDFD (5.9) and SO_NETNS_COOKIE (5.14). An older kernel is refused
    /// at create, by name.
    static func checkKernel(_ release: String) throws {
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard parts.count == 2 else { return }
        if parts[0] < 5 || (parts[0] == 5 && parts[1] < 14) {
            throw VoidError("annotation org.voidoci.connect: needs Linux 5.14 or later (seccomp user notification with SECCOMP_IOCTL_NOTIF_ADDFD, pidfd_getfd, SO_NETNS_COOKIE); this kernel is \(release)")
        }
    }

    public static func compile(_ list: [ConnectDestination]) throws -> SeccompProgram {
        var u = utsname()
        if uname(&u) == 0 {
            try checkKernel(withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
        }
        guard let ctx = seccomp_init(SeccompCompiler.actAllow) else { throw VoidError("org.voidoci.connect: seccomp_init failed") }
        defer { seccomp_release(ctx) }
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SeccompCompiler.actErrno(UInt32(ENOSYS)))
        let x86 = seccomp_arch_resolve_name("x86")
        if x86 != 0 { _ = seccomp_arch_add(ctx, x86) }
        func add(_ name: String, _ action: UInt32, _ conds: [scmp_arg_cmp] = []) throws {
            let nr = seccomp_syscall_resolve_name(name)
            guard nr != -1 else { return }
            let r = conds.withUnsafeBufferPointer { seccomp_rule_add_array(ctx, action, nr, UInt32($0.count), $0.baseAddress) }
            if r < 0 && r != -EEXIST && r != -EDOM && r != -EOPNOTSUPP {
                throw VoidError("org.voidoci.connect: the filter's rule for \(name): \(errnoText(-r))")
            }
        }
        // A socket made outside must never be aimed elsewhere: bind and listen come to the
        // supervisor too, TCP Fast Open (a send that connects) is refused, and io_uring, whose
        // operations pass no filter, is not there.
        try add("connect", actNotify)
        try add("bind", actNotify)
        try add("listen", actNotify)
        try add("io_uring_setup", SeccompCompiler.actErrno(UInt32(ENOSYS)))
        let fastOpen: UInt64 = 0x2000_0000
        if interceptsSends(list) {
            try add("sendto", actNotify, [scmp_arg_cmp(arg: 4, op: SCMP_CMP_NE, datum_a: 0, datum_b: 0)])
            try add("sendto", SeccompCompiler.actErrno(UInt32(EOPNOTSUPP)),
                    [scmp_arg_cmp(arg: 4, op: SCMP_CMP_EQ, datum_a: 0, datum_b: 0), scmp_arg_cmp(arg: 3, op: SCMP_CMP_MASKED_EQ, datum_a: fastOpen, datum_b: fastOpen)])
            try add("sendmsg", actNotify)
            try add("sendmmsg", actNotify)
        } else {
            try add("sendto", SeccompCompiler.actErrno(UInt32(EOPNOTSUPP)), [scmp_arg_cmp(arg: 3, op: SCMP_CMP_MASKED_EQ, datum_a: fastOpen, datum_b: fastOpen)])
            try add("sendmsg", SeccompCompiler.actErrno(UInt32(EOPNOTSUPP)), [scmp_arg_cmp(arg: 2, op: SCMP_CMP_MASKED_EQ, datum_a: fastOpen, datum_b: fastOpen)])
            try add("sendmmsg", SeccompCompiler.actErrno(UInt32(EOPNOTSUPP)), [scmp_arg_cmp(arg: 3, op: SCMP_CMP_MASKED_EQ, datum_a: fastOpen, datum_b: fastOpen)])
        }
        // i386's multiplexed socket calls: bind (2), connect (3), listen (4), sendto (11),
        // sendmsg (16), sendmmsg (20): their arguments are in memory, so all of them come to the
        // supervisor, which refuses 32-bit calls.
        for call: UInt64 in [2, 3, 4, 11, 16, 20] {
            try add("socketcall", actNotify, [scmp_arg_cmp(arg: 0, op: SCMP_CMP_EQ, datum_a: call, datum_b: 0)])
        }
        return try SeccompCompiler.export(ctx, flags: VOID_SECCOMP_FILTER_FLAG_NEW_LISTENER, what: "org.voidoci.connect")
    }
}
