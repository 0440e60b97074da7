import Glibc

/// What the plan says a void holds, computed on the host the way the void is assembled: the
/// image tree (a granted root), then each mount in order, shadowing what was below its
/// destination. `compare` checks the void's column against it: more files or devices than
/// planned is a voidoci bug.
extension Compare {
    /// Files (everything but directories) visible from "/", not below /proc or /sys, as the
    /// probe counts them.
    public static func plannedFiles(_ plan: VoidPlan) -> Int {
        var files = Set<String>()
        var budget = 500_000
        if plan.root != .tmpfs { walk(plan.imagePath, as: "/", crossMounts: false, into: &files, budget: &budget) }
        for m in plan.mounts {
            let d = m.destination
            func shadow() { files = files.filter { !($0 == d || $0.hasPrefix(d == "/" ? "/" : d + "/")) } }
            switch m.kind {
            case .bind:
                shadow()
                let source = m.sourceInImage ? plan.imagePath + (m.source.hasPrefix("/") ? "" : "/") + m.source : m.source
                if m.isDir { walk(source, as: d, crossMounts: m.recursive, into: &files, budget: &budget) } else { files.insert(d) }
            case .symlink, .node:
                shadow()
                files.insert(d)
            case .mask:
                shadow()
                if !m.isDir { files.insert(d) }
            case .fs:
                shadow()
                if m.copyUp != nil { walk(plan.imagePath + d, as: d, crossMounts: false, into: &files, budget: &budget) }
            case .dir, .readonly:
                break
            }
        }
        return files.filter { !($0.hasPrefix("/proc/") || $0.hasPrefix("/sys/")) }.count
    }

    /// Device nodes under /dev the plan makes or binds.
    public static func plannedDevices(_ plan: VoidPlan) -> Int {
        plan.mounts.filter { m in m.destination.hasPrefix("/dev/") && (m.kind == .node || (m.kind == .bind && !m.isDir)) }.count
    }

    /// Every non-directory below `host` (no link followed), named as under `dest`.
    static func walk(_ host: String, as dest: String, crossMounts: Bool, into files: inout Set<String>, budget: inout Int) {
        var top = stat()
        guard lstat(host, &top) == 0, top.st_mode & S_IFMT == S_IFDIR else { return }
        var stack: [(String, String)] = [(host, dest)]
        while let (h, v) = stack.popLast(), budget > 0 {
            guard let dir = opendir(h) else { continue }
            defer { closedir(dir) }
            while let e = readdir(dir), budget > 0 {
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name == "." || name == ".." { continue }
                let hp = h + "/" + name, vp = (v == "/" ? "" : v) + "/" + name
                var st = stat()
                guard lstat(hp, &st) == 0 else { continue }
                budget -= 1
                if st.st_mode & S_IFMT == S_IFDIR {
                    if vp == "/proc" || vp == "/sys" { continue }
                    if !crossMounts && st.st_dev != top.st_dev { continue }
                    stack.append((hp, vp))
                } else {
                    files.insert(vp)
                }
            }
        }
    }
}
