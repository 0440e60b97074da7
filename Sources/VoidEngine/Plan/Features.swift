import CSeccomp

/// runtime-spec `features`: only what voidoci really does. Mount options are those the planner
/// parses; cgroups through cgroupfs (v1, v2, hybrid), not through systemd.
public enum FeaturesJSON {
    public static func render() -> String {
        let mountOptions = ["bind", "rbind", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
                            "noatime", "nodiratime", "relatime", "strictatime", "nosymfollow",
                            "private", "rprivate", "tmpcopyup", "notmpcopyup"]
        let ver = seccomp_version()
        let libseccomp = ver.map { "\($0.pointee.major).\($0.pointee.minor).\($0.pointee.micro)" } ?? "unknown"
        let j: JSON = .object([
            ("ociVersionMin", .string("1.0.0")),
            ("ociVersionMax", .string(Runtime.ociVersion)),
            ("hooks", .array(PlannedHook.Stage.allCases.map { JSON.string($0.rawValue) })),
            ("mountOptions", .array(mountOptions.map(JSON.string))),
            ("linux", .object([
                ("namespaces", .array(Planner.namespaceTypes.map(JSON.string))),
                ("capabilities", .array(Capabilities.names.map(JSON.string))),
                ("cgroup", .object([("v1", .bool(true)), ("v2", .bool(true)), ("systemd", .bool(false)), ("systemdUser", .bool(false))])),
                ("seccomp", .object([
                    ("enabled", .bool(true)),
                    ("actions", .array(["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                                        "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"].map(JSON.string))),
                    ("operators", .array(["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                                          "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"].map(JSON.string))),
                    ("archs", .array(["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"].map(JSON.string))),
                    ("knownFlags", .array(["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"].map(JSON.string))),
                    ("supportedFlags", .array(["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"].map(JSON.string))),
                ])),
                ("apparmor", .object([("enabled", .bool(false))])),
                ("selinux", .object([("enabled", .bool(false))])),
                ("intelRdt", .object([("enabled", .bool(false))])),
            ])),
            ("annotations", .object([
                ("io.github.seccomp.libseccomp.version", .string(libseccomp)),
                ("org.voidoci.version", .string("0.1.0")),
            ])),
        ])
        return j.render() + "\n"
    }
}
