import Glibc

/// What the plan says a void holds, computed on the host the way the void is assembled: the
/// image tree (a granted root), then each mount in order, shadowing what was below its
/// destination. `compare` checks the void's column against it: more files or devices than
/// planned is a voidoci bug. Names are bytes, as the probe reads them (an image's names need
/// not be UTF-8).
extension Compare {
    /// Files (everything but directories) visible from "/", not below /proc or /sys, as the
    /// probe counts them.
    public static func plannedFiles(_ plan: VoidPlan) -> Int {
        var files = Set<[UInt8]>()
        var budget = 500_000
        func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
        if plan.root != .tmpfs { walk(plan.imagePath, as: [UInt8(ascii: "/")], crossMounts: false, into: &files, budget: &budget) }
        for m in plan.mounts {
            let d = bytes(m.destination)
            func shadow() {
                let prefix = d == [UInt8(ascii: "/")] ? d : d + [UInt8(ascii: "/")]
                files = files.filter { !($0 == d || $0.starts(with: prefix)) }
            }
            func under(_ rel: String) -> [UInt8] { (d == [UInt8(ascii: "/")] ? [] : d) + [UInt8(ascii: "/")] + bytes(rel) }
            switch m.kind {
            case .bind:
                shadow()
                if m.isDir {
                    // Only a host source is walked here: an image source is resolved by the
                    // planner inside the image, and is walked from there (no link followed).
                    let source = m.sourceInImage ? plan.imagePath + (m.source.hasPrefix("/") ? "" : "/") + m.source : m.source
                    walk(source, as: d, crossMounts: m.recursive, into: &files, budget: &budget)
                } else { files.insert(d) }
            case .symlink, .node:
                shadow()
                files.insert(d)
            case .mask:
                shadow()
                if !m.isDir { files.insert(d) }
            case .fs:
                shadow()
                // A new devpts holds its ptmx; a tmpfs with tmpcopyup what the planner copies.
                if m.fstype == "devpts" { files.insert(under("ptmx")) }
                for e in m.copyUp?.entries ?? [] where e.kind != .directory { files.insert(under(e.path)) }
            case .dir, .readonly:
                break
            }
        }
        let proc = bytes("/proc/"), sys = bytes("/sys/")
        return files.filter { !($0.starts(with: proc) || $0.starts(with: sys)) }.count
    }

    /// Device nodes directly in /dev (what the probe counts): made by the plan, or bound from a
    /// character or block device.
    public static func plannedDevices(_ plan: VoidPlan) -> Int {
        var nodes = Set<String>()
        for m in plan.mounts {
            let rest = m.destination.dropFirst("/dev/".count)
            guard m.destination.hasPrefix("/dev/"), !rest.isEmpty, !rest.contains("/") else { continue }
            switch m.kind {
            case .node: nodes.insert(m.destination)
            case .bind where !m.isDir && !m.sourceInImage:
                var st = stat()
                if stat(m.source, &st) == 0, [S_IFCHR, S_IFBLK].contains(st.st_mode & S_IFMT) { nodes.insert(m.destination) } else { nodes.remove(m.destination) }
            case .bind, .symlink, .fs, .mask:
                nodes.remove(m.destination)
            default: break
            }
        }
        return nodes.count
    }

    /// Every non-directory below `host` (each name opened relative to its directory, no link
    /// followed), named as under `dest`. Depth-first, one open directory per level (at most 40).
    static func walk(_ host: String, as dest: [UInt8], crossMounts: Bool, into files: inout Set<[UInt8]>, budget: inout Int) {
        let top = open(host, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard top >= 0 else { return }
        var topStat = stat()
        guard fstat(top, &topStat) == 0 else { close(top); return }
        walk(fd: top, as: dest, depth: 0, device: crossMounts ? nil : topStat.st_dev, into: &files, budget: &budget)
    }

    /// Walks the directory open at `fd`, and closes it.
    static func walk(fd: Int32, as v: [UInt8], depth: Int, device: UInt?, into files: inout Set<[UInt8]>, budget: inout Int) {
        guard let dir = fdopendir(fd) else { close(fd); return }
        defer { closedir(dir) }
        let slash = UInt8(ascii: "/")
        while budget > 0, let e = readdir(dir) {
            var cname: [CChar] = withUnsafeBytes(of: e.pointee.d_name) { raw in raw.prefix { $0 != 0 }.map { CChar(bitPattern: $0) } }
            if cname == [0x2e] || cname == [0x2e, 0x2e] { continue }
            let name = cname.map { UInt8(bitPattern: $0) }
            cname.append(0)
            let vp = (v == [slash] ? [] : v) + [slash] + name
            var st = stat()
            guard fstatat(dirfd(dir), cname, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            budget -= 1
            if st.st_mode & S_IFMT == S_IFDIR {
                if vp == Array("/proc".utf8) || vp == Array("/sys".utf8) || depth >= 40 { continue }
                if let dev = device, st.st_dev != dev { continue }
                let child = openat(dirfd(dir), cname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if child >= 0 { walk(fd: child, as: vp, depth: depth + 1, device: device, into: &files, budget: &budget) }
            } else {
                files.insert(vp)
            }
        }
    }
}
