import Glibc
import OCIBundle

extension VoidCgroup {
    // MARK: resources

    /// Writes the limits runc's cgroupfs driver writes, for v1 and v2. What the host cannot
    /// take (a controller that is not mounted) is an error naming the field.
    public func apply(_ r: LinuxResources?, layout: CgroupLayout, devices: [LinuxDevice], initial: Bool) throws {
        let v1 = !layout.v1.isEmpty
        func dir(_ controller: String) throws -> String {
            if v1 {
                guard let m = layout.mount(for: controller), let d = paths.first(where: { $0.hasPrefix(m + "/") }) else {
                    throw VoidError("linux.resources: the \(controller) controller is not mounted on this host")
                }
                return d
            }
            guard let u = unified else { throw VoidError("linux.resources: no cgroup") }
            return u
        }
        if let m = r?.memory {
            let d = try dir("memory")
            if v1 {
                if let l = m.limit { try writeCgroupFile("\(d)/memory.limit_in_bytes", "\(l)", field: "linux.resources.memory.limit") }
                if let s = m.swap, access("\(d)/memory.memsw.limit_in_bytes", F_OK) == 0 {
                    try writeCgroupFile("\(d)/memory.memsw.limit_in_bytes", "\(s)", field: "linux.resources.memory.swap")
                }
                if let rsv = m.reservation { try writeCgroupFile("\(d)/memory.soft_limit_in_bytes", "\(rsv)", field: "linux.resources.memory.reservation") }
            } else {
                if let l = m.limit { try writeCgroupFile("\(d)/memory.max", l < 0 ? "max" : "\(l)", field: "linux.resources.memory.limit") }
                if let rsv = m.reservation { try writeCgroupFile("\(d)/memory.low", "\(rsv)", field: "linux.resources.memory.reservation") }
                if let s = m.swap, let l = m.limit {
                    // v1's memsw is memory+swap; v2's swap.max is swap alone.
                    try writeCgroupFile("\(d)/memory.swap.max", s < 0 ? "max" : "\(max(0, s - l))", field: "linux.resources.memory.swap")
                }
            }
        }
        if let p = r?.pids {
            try writeCgroupFile("\(try dir("pids"))/pids.max", p.limit > 0 ? "\(p.limit)" : "max", field: "linux.resources.pids.limit")
        }
        for (i, h) in (r?.hugepageLimits ?? []).enumerated() {
            let field = "linux.resources.hugepageLimits[\(i)]"
            // "2MB", "1GB": part of a file name, never a path.
            guard !h.pageSize.isEmpty, h.pageSize.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                throw VoidError("\(field).pageSize: \(h.pageSize.debugDescription) is not a page size such as 2MB")
            }
            let file = "hugetlb.\(h.pageSize).\(v1 ? "limit_in_bytes" : "max")"
            try writeCgroupFile("\(try dir("hugetlb"))/\(file)", "\(h.limit)", field: field)
        }
        if let c = r?.cpu {
            if v1 {
                let d = try dir("cpu")
                if let s = c.shares { try writeCgroupFile("\(d)/cpu.shares", "\(s)", field: "linux.resources.cpu.shares") }
                if let p = c.period { try writeCgroupFile("\(d)/cpu.cfs_period_us", "\(p)", field: "linux.resources.cpu.period") }
                if let q = c.quota { try writeCgroupFile("\(d)/cpu.cfs_quota_us", "\(q)", field: "linux.resources.cpu.quota") }
                if let cpus = c.cpus, !cpus.isEmpty { try writeCgroupFile("\(try dir("cpuset"))/cpuset.cpus", cpus, field: "linux.resources.cpu.cpus") }
                if let mems = c.mems, !mems.isEmpty { try writeCgroupFile("\(try dir("cpuset"))/cpuset.mems", mems, field: "linux.resources.cpu.mems") }
            } else {
                let d = try dir("cpu")
                if let s = c.shares, s > 0 {
                    // runc's conversion of shares [2, 262144] to weight [1, 10000].
                    let w = 1 + ((s - 2) * 9999) / 262142
                    try writeCgroupFile("\(d)/cpu.weight", "\(w)", field: "linux.resources.cpu.shares")
                }
                if c.quota != nil || c.period != nil {
                    let q = c.quota.map { $0 < 0 ? "max" : "\($0)" } ?? "max"
                    try writeCgroupFile("\(d)/cpu.max", "\(q) \(c.period ?? 100_000)", field: "linux.resources.cpu.quota")
                }
                if let cpus = c.cpus, !cpus.isEmpty { try writeCgroupFile("\(d)/cpuset.cpus", cpus, field: "linux.resources.cpu.cpus") }
                if let mems = c.mems, !mems.isEmpty { try writeCgroupFile("\(d)/cpuset.mems", mems, field: "linux.resources.cpu.mems") }
            }
        }
        if v1, initial || r?.devices != nil, let d = try? dir("devices") {
            try applyDeviceRules(d, r?.devices ?? [], devices: devices)
        }
        if let u = r?.unified, !u.isEmpty {
            guard let d = unified else { throw VoidError("linux.resources.unified: the host has no cgroup v2 hierarchy") }
            for (k, v) in u.sorted(by: { $0.key < $1.key }) {
                guard !k.contains("/") else { throw VoidError("linux.resources.unified: \(k): not a cgroup file name") }
                try writeCgroupFile("\(d)/\(k)", v, field: "linux.resources.unified.\(k)")
            }
        }
    }

    /// v1 device rules: the config's, then the devices a void may be granted (runc's defaults
    /// and the ones in linux.devices), so `deny all` does not make /dev/null unusable.
    func applyDeviceRules(_ d: String, _ rules: [LinuxDeviceCgroup], devices: [LinuxDevice]) throws {
        // One fd per file for all the rules: the kernel takes one rule per write.
        let allow = CgroupFile(d, "devices.allow"), deny = CgroupFile(d, "devices.deny")
        func rule(_ isAllow: Bool, _ text: String, _ field: String) throws {
            try (isAllow ? allow : deny).write(text, field: field)
        }
        for (i, r) in rules.enumerated() {
            let type = r.type ?? "a"
            let major = r.major.map(String.init) ?? "*", minor = r.minor.map(String.init) ?? "*"
            let text = type == "a" ? "a" : "\(type) \(major):\(minor) \(r.access ?? "rwm")"
            try rule(r.allow, text, "linux.resources.devices[\(i)]")
        }
        for text in ["c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm"] {
            try rule(true, text, "default devices")
        }
        for (i, dev) in devices.enumerated() where dev.type == "c" || dev.type == "b" || dev.type == "u" {
            if let maj = dev.major, let min = dev.minor {
                try rule(true, "\(dev.type == "b" ? "b" : "c") \(maj):\(min) rwm", "linux.devices[\(i)]")
            }
        }
    }
}
