import Glibc
import OCIBundle

/// What `exec` adds to a running void and runs in it.
public struct ExecPlan {
    public var process: PlannedProcess
    /// The program's closure: bound only where the void lacks it (checked inside the void).
    public var mounts: [PlannedMount]
    public var imagePath: String
    public var uidMap: [LinuxIDMapping]
    public var gidMap: [LinuxIDMapping]
    public var notes: [String]
}

extension Planner {
    /// Plans a process for a running void. `spec` is the snapshot taken at create; the id maps
    /// are the void's own (read from /proc/PID/uid_map), so `process.user` is checked against
    /// what the kernel really has.
    public func planExec(_ p: Process, imagePath: String, initPID: Int32) throws -> ExecPlan {
        let problems = validate(process: p, path: "process")
        if !problems.isEmpty { throw VoidError(problems.map(\.description).joined(separator: "; ")) }
        let uidMap = try Self.readMap("/proc/\(initPID)/uid_map")
        let gidMap = try Self.readMap("/proc/\(initPID)/gid_map")
        let setgroups = ((try? readSmallFile("/proc/\(initPID)/setgroups")) ?? "deny").hasPrefix("allow")
        let grants = try VoidGrants(annotations: spec.annotations ?? [:])
        let image = try ImageRoot(path: imagePath)
        let resolver = ImageResolver(root: image, env: p.env ?? [])
        let exe = try resolver.findExecutable(p.args?.first ?? "", cwd: p.cwd)
        var mounts: [PlannedMount] = []
        var notes: [String] = []
        if grants.rootfs == .none {
            let closure = try resolver.closure(for: exe, cwd: p.cwd)
            mounts = programMounts(closure, args0: p.args?.first ?? "")
            notes = closure.notes
        }
        let ids = IDs(uidMap: uidMap, gidMap: gidMap, setgroups: setgroups, note: "", joined: false)
        var dropped: [Dropped] = []
        var proc = try planProcess(p, exe: exe, ids: ids, dropped: &dropped, image: image)
        // The void's own seccomp profile applies to everything that runs in it, as in runc.
        proc.seccomp = spec.linux?.seccomp
        return ExecPlan(process: proc, mounts: mounts, imagePath: imagePath, uidMap: uidMap, gidMap: gidMap,
                        notes: notes + dropped.map { "dropped \($0.path): \($0.reason)" })
    }

    static func readMap(_ path: String) throws -> [LinuxIDMapping] {
        try readSmallFile(path).split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ").compactMap { UInt32($0) }
            return f.count == 3 ? LinuxIDMapping(containerID: f[0], hostID: f[1], size: f[2]) : nil
        }
    }
}
