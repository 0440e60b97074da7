// Names the spec delegates to Linux man pages, so the schema cannot list them.

extension LinuxCapabilities {
    /// capabilities(7) names; the index is the capability number of linux/capability.h, which is
    /// the same on every architecture. Ends at CAP_CHECKPOINT_RESTORE (40, Linux 5.9).
    public static let knownNames: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// The capability number of `name` (`"CAP_SYS_ADMIN"` → 21), nil if unknown.
    public static func number(of name: String) -> Int? { knownNames.firstIndex(of: name) }
}

extension POSIXRlimit {
    /// getrlimit(2) resources on Linux. The index is the `RLIMIT_*` value of asm-generic, which
    /// x86, arm, arm64, riscv, s390 and powerpc use; MIPS, SPARC and Alpha number them otherwise,
    /// so prefer Glibc's constants where they are reachable.
    public static let knownTypes: [String] = [
        "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
        "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
        "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
    ]

    /// The asm-generic resource number of `type`, nil if unknown.
    public var resource: Int32? { Self.knownTypes.firstIndex(of: type).map { Int32($0) } }
}
