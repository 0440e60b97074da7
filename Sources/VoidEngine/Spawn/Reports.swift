import CVoid
import Glibc

extension Spawner {
    /// Turns the child's (step, errno, index) into a sentence naming what failed: the mount
    /// destination and where it came from, the rlimit, the capability.
    static func describe(_ r: void_report, plan: VoidPlan) -> VoidError {
        let err = errnoText(r.err)
        let i = Int(r.index)
        let mount: PlannedMount? = (0..<plan.mounts.count).contains(i) ? plan.mounts[i] : nil
        let m = mount.map { "mount \($0.destination) (\($0.origin.text))" } ?? "mount"
        let text: String
        switch UInt32(truncatingIfNeeded: r.step) {
        case VOID_STEP_SETUP_IDS.rawValue: text = "switching to the void's set-up ids: \(err)"
        case VOID_STEP_HOSTNAME.rawValue: text = "hostname: sethostname: \(err)"
        case VOID_STEP_DOMAINNAME.rawValue: text = "domainname: setdomainname: \(err)"
        case VOID_STEP_LOOPBACK.rawValue: text = "bringing up lo in the new network namespace: \(err)"
        case VOID_STEP_MAKE_PRIVATE.rawValue: text = "making the void's mounts private: \(err)"
        case VOID_STEP_ROOT_TMPFS.rawValue: text = "creating the void's tmpfs root: \(err)"
        case VOID_STEP_ROOT_IMAGE.rawValue: text = "root.path \(plan.imagePath): \(err)"
        case VOID_STEP_ATTACH_ROOT.rawValue: text = "attaching the void root: \(err)"
        case VOID_STEP_OPEN_SOURCE.rawValue: text = "\(m): open source \(mount?.source ?? ""): \(err)"
        case VOID_STEP_CLONE_SOURCE.rawValue: text = "\(m): clone source \(mount?.source ?? ""): \(err)"
        case VOID_STEP_SETATTR.rawValue: text = "\(m): set flags \(mount?.flags.joined(separator: ",") ?? ""): \(err)"
        case VOID_STEP_DEST.rawValue: text = "\(m): destination: \(err)"
        case VOID_STEP_DEST_SYMLINK.rawValue: text = "\(m): destination goes through a symlink: not allowed in a void (symlinks in mount destinations are refused)"
        case VOID_STEP_MOVE_MOUNT.rawValue: text = "\(m): attach: \(err)"
        case VOID_STEP_SYMLINK.rawValue: text = "\(m): create symlink -> \(mount?.source ?? ""): \(err)"
        case VOID_STEP_FS_OPEN.rawValue: text = "\(m): fsopen \(mount?.fstype ?? ""): \(err)"
        case VOID_STEP_FS_CONFIG.rawValue: text = "\(m): options \(mount?.fsOptions.map(\.text).joined(separator: ",") ?? ""): \(err)"
        case VOID_STEP_FS_MOUNT.rawValue: text = "\(m): fsmount: \(err)"
        case VOID_STEP_CWD_CREATE.rawValue, VOID_STEP_CHDIR_CWD.rawValue: text = "process.cwd \(plan.process.cwd): \(err)"
        case VOID_STEP_PIVOT.rawValue: text = "pivot_root into the void: \(err)"
        case VOID_STEP_OLD_ROOT_PRIVATE.rawValue: text = "making the old root private: \(err)"
        case VOID_STEP_OLD_ROOT_DETACH.rawValue: text = "detaching the old root: \(err)"
        case VOID_STEP_ROOT_READONLY.rawValue: text = "root.readonly: remount read-only: \(err)"
        case VOID_STEP_CONSOLE.rawValue: text = "process.terminal: making the pty the controlling terminal: \(err)"
        case VOID_STEP_PRESERVE_FDS.rawValue: text = "--preserve-fds: fd \(i): \(err)"
        case VOID_STEP_LISTEN_FDS.rawValue:
            let entry = (0..<plan.listen.count).contains(i) ? plan.listen[i].entry : "the connection"
            text = "annotation org.voidoci.listen: placing \(printable(entry)): \(err)"
        case VOID_STEP_OPEN_FDS.rawValue:
            let entry = (0..<plan.open.count).contains(i) ? plan.open[i].entry : "a file"
            text = "annotation org.voidoci.open: placing \(printable(entry)): \(err)"
        case VOID_STEP_CONNECTION.rawValue: text = "org.voidoci.accept: the connection's void: \(err)"
        case VOID_STEP_RLIMIT.rawValue:
            let rl = (0..<plan.process.rlimits.count).contains(i) ? plan.process.rlimits[i] : nil
            text = "process.rlimits[\(i)]: setrlimit \(rl?.name ?? "") soft \(rl?.soft ?? 0) hard \(rl?.hard ?? 0): \(err)"
        case VOID_STEP_SECCOMP.rawValue: text = "linux.seccomp: loading the filter: \(err)"
        case VOID_STEP_BOUNDING.rawValue: text = "process.capabilities.bounding: dropping \(Capabilities.names.indices.contains(i) ? Capabilities.names[i] : "\(i)"): \(err)"
        case VOID_STEP_KEEPCAPS.rawValue: text = "prctl keepcaps: \(err)"
        case VOID_STEP_SETGROUPS.rawValue: text = "process.user.additionalGids: setgroups: \(err)"
        case VOID_STEP_SETGID.rawValue: text = "process.user.gid \(plan.process.gid): setresgid: \(err)"
        case VOID_STEP_SETUID.rawValue: text = "process.user.uid \(plan.process.uid): setresuid: \(err)"
        case VOID_STEP_CAPSET.rawValue: text = "process.capabilities: capset: \(err)"
        case VOID_STEP_AMBIENT.rawValue: text = "process.capabilities.ambient: raising \(Capabilities.names.indices.contains(i) ? Capabilities.names[i] : "\(i)"): \(err)"
        case VOID_STEP_NO_NEW_PRIVS.rawValue: text = "process.noNewPrivileges: \(err)"
        case VOID_STEP_EXEC.rawValue: text = "exec \(plan.process.execPath): \(err)"
        case VOID_STEP_SYSCTL_PROC.rawValue: text = "linux.sysctl: a proc mount to write them through: \(err)"
        case VOID_STEP_SYSCTL.rawValue:
            let own = initSysctls(plan)
            let s = own.indices.contains(i) ? own[i] : nil
            text = "\(s?.sysctl.field ?? "linux.sysctl"): writing \(StateJSON.quote(s?.value ?? "")) in the void's \(s?.sysctl.namespace ?? "") namespace: \(err)"
        case VOID_STEP_COPYUP.rawValue:
            let entries = mount?.copyUp?.entries ?? []
            let e = entries.indices.contains(Int(r.detail)) ? entries[Int(r.detail)] : nil
            text = "\(m): tmpcopyup: creating \(e.map { "\($0.kind.rawValue) \($0.path)" } ?? "an entry") in the new tmpfs: \(err)"
        case VOID_STEP_PROGRAM.rawValue: text = "the child's program holds an instruction it cannot carry out (index \(i)): a bug in voidoci"
        default: text = "the void's set-up failed at step \(r.step): \(err)"
        }
        return VoidError(text, errno: r.err, stage: .child, subject: mount?.destination)
    }
}
