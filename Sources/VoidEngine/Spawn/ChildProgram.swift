import CVoid

/// The lowering's `.child` operations as child.c's instructions: one each, in order. child.c
/// executes exactly this program; what it acts on (paths, ids, fds) is in `void_child`, filled
/// from the same plan. (docs/architecture.md: a new step of the child is a `Lowering.Kind`, a
/// line here, and a case in child.c.)
enum ChildProgram {
    static func instructions(_ ops: [Lowering.Op]) -> [void_instr] {
        var out: [void_instr] = []
        var sysctl: Int32 = 0, rlimit: Int32 = 0
        for op in ops where op.actor == .child {
            func add(_ d: void_do, _ arg: Int32 = 0) { out.append(void_instr(op: Int32(d.rawValue), arg: arg)) }
            switch op.kind {
            case .closeInheritedFDs: add(VOID_DO_CLOSE_FDS)
            case .joinCgroups: add(VOID_DO_JOIN_CGROUPS)
            case .unshareCgroupNamespace: add(VOID_DO_UNSHARE_CGROUPNS)
            case .waitForRelease: add(VOID_DO_WAIT_RELEASE)
            case .openImageInChild: add(VOID_DO_OPEN_IMAGE)
            case .openHostNull: add(VOID_DO_OPEN_HOST_NULL)
            case .setHostname: add(VOID_DO_HOSTNAME)
            case .setDomainname: add(VOID_DO_DOMAINNAME)
            case .loopbackUp: add(VOID_DO_LOOPBACK)
            case .makeMountsPrivate: add(VOID_DO_MAKE_PRIVATE)
            case .rootFromImage(let byRuntime): add(VOID_DO_ROOT_IMAGE, byRuntime ? 1 : 0)
            case .rootTmpfs(let byRuntime, _, _): add(VOID_DO_ROOT_TMPFS, byRuntime ? 1 : 0)
            case .attachRoot: add(VOID_DO_ATTACH_ROOT)
            case .openJoinedRoot: add(VOID_DO_OPEN_JOINED_ROOT)
            case .setSetupIDs: add(VOID_DO_SETUP_IDS)
            case .writeSysctl:
                add(VOID_DO_SYSCTL, sysctl)
                sysctl += 1
            case .ifAbsent: add(VOID_DO_MOUNT_IF_ABSENT, Int32(truncatingIfNeeded: op.kind.mountIndex ?? -1))
            case .bind, .symlink, .mountFilesystem, .attachFilesystem, .mask, .readonly, .mkdir:
                add(VOID_DO_MOUNT, Int32(truncatingIfNeeded: op.kind.mountIndex ?? -1))
            case .makeCwd: add(VOID_DO_MAKE_CWD)
            case .pauseForHooks: add(VOID_DO_PAUSE_HOOKS)
            case .pivotRoot: add(VOID_DO_PIVOT)
            case .detachOldRoot: add(VOID_DO_DETACH_OLD_ROOT)
            case .remountRootReadonly: add(VOID_DO_ROOT_READONLY)
            case .chdir: add(VOID_DO_CHDIR)
            case .takeConsole: add(VOID_DO_CONSOLE)
            case .keepPreservedFDs: add(VOID_DO_PRESERVE_FDS)
            case .placeListenFDs: add(VOID_DO_LISTEN_FDS)
            case .takeConnection: add(VOID_DO_STDIO_CONNECTION)
            case .placeOpenedFiles: add(VOID_DO_OPEN_FDS)
            case .dieWithParent: add(VOID_DO_DIE_WITH_PARENT)
            case .loadConnectFilter: add(VOID_DO_CONNECT_FILTER)
            case .setRlimit:
                add(VOID_DO_RLIMIT, rlimit)
                rlimit += 1
            case .setUmask: add(VOID_DO_UMASK)
            case .loadSeccomp: add(VOID_DO_SECCOMP)
            case .dropBoundingCapabilities: add(VOID_DO_BOUNDING)
            case .setGroups: add(VOID_DO_SETGROUPS)
            case .setIDs: add(VOID_DO_SET_IDS)
            case .setCapabilities: add(VOID_DO_CAPS)
            case .setNoNewPrivileges: add(VOID_DO_NO_NEW_PRIVS)
            case .resetSignals: add(VOID_DO_RESET_SIGNALS)
            case .reportReady: add(VOID_DO_READY)
            case .waitForCommit: add(VOID_DO_WAIT_COMMIT)
            case .waitForStart: add(VOID_DO_WAIT_START)
            case .exec: add(VOID_DO_EXEC)
            // voidoci's own: never in a child's program.
            case .bindSocket, .openFile, .superviseAccept, .openImage, .makeImageMountPoints, .cloneImageRoot, .makeRootTmpfs, .cloneBindSource, .makeDeviceNode,
                 .readCopyUp, .makeFilesystem, .joinNamespace, .dropSupplementaryGroups, .clone, .writeIDMaps,
                 .writeOOMScoreAdj, .release, .joinVoid, .superviseConnect:
                break
            }
        }
        return out
    }
}

extension Lowering.Kind {
    /// The planned mount an operation acts on.
    var mountIndex: Int? {
        switch self {
        case .bind(let i, _, _, _, _, _, _), .symlink(let i, _, _), .mountFilesystem(let i, _, _, _, _, _),
             .attachFilesystem(let i, _), .mask(let i, _), .readonly(let i, _), .mkdir(let i, _),
             .cloneBindSource(let i, _, _, _, _), .makeDeviceNode(let i, _, _), .readCopyUp(let i, _, _, _),
             .makeFilesystem(let i, _, _):
            return i
        case .ifAbsent(let k): return k.mountIndex
        default: return nil
        }
    }
}
