/// `voidoci compare --format html` (docs/compare.md): one self-contained page. Inline style only,
/// no script, no image, no link, and a Content-Security-Policy that forbids every fetch, so
/// opening it reaches nothing. A summary at the top, the flags, then the side-by-side table with
/// each cell coloured by what it exposes against the first container's cell (less, same, more,
/// or only different), and the cause on each row where the void differs.
extension Compare {
    public enum Relation: String, Sendable { case reference, same, less, more, differs, absent }

    public static func html(_ r: Report) -> String {
        let ref = r.columns.firstIndex { !$0.runtime.hasSuffix("voidoci") && $0.error == nil }
        var out = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>voidoci compare \(escape(r.bundle))</title>
            <style>
            body{font:14px/1.4 "DejaVu Sans",sans-serif;margin:24px;color:#1d1d1f;background:#fff}
            h1{font-size:20px;margin:0 0 4px}
            .sub{color:#555;margin:0 0 16px;font-family:"DejaVu Sans Mono",monospace;font-size:12px}
            .summary{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:16px}
            .card{border:1px solid #ccc;border-radius:8px;padding:10px 14px;min-width:220px}
            .card.void{border-color:#2a7d2a;background:#f3fbf3}
            .card b{display:block;font-size:15px}
            .flag{border-radius:6px;padding:8px 12px;margin:6px 0;font-weight:bold}
            .flag.more{background:#b00020;color:#fff}.flag.leak{background:#f6c343}
            .note{color:#555;margin:4px 0}
            table{border-collapse:collapse;width:100%;table-layout:fixed}
            th,td{border:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left;word-break:break-word}
            th.key{width:16%}td.key{font-family:"DejaVu Sans Mono",monospace;font-size:12px}
            td.v{font-family:"DejaVu Sans Mono",monospace;font-size:12px;white-space:pre-wrap}
            tr.section th{background:#eef;font-size:13px}
            td.same{color:#666}td.less{background:#d9f2d9}td.more{background:#f8d0d0}td.differs{background:#fbecc5}
            td.reference{background:#f5f5f5}td.cause{font-size:12px;color:#333}
            details summary{cursor:pointer}
            .legend span{display:inline-block;padding:2px 8px;margin-right:6px;border:1px solid #ddd}
            </style></head><body>
            <h1>voidoci compare</h1>
            <p class="sub">\(escape(r.bundle))</p>

            """
        out += "<div class=\"summary\">\n"
        for c in r.columns {
            let isVoid = c.runtime.hasSuffix("voidoci")
            out += "<div class=\"card\(isVoid ? " void" : "")\"><b>\(escape(shortName(c.runtime)))</b>"
            if let e = c.error {
                out += escape(e)
            } else {
                out += escape(summaryLine(c, planned: isVoid ? r.planned : [:]))
            }
            out += "</div>\n"
        }
        out += "</div>\n"
        for m in r.moreThanGranted { out += "<div class=\"flag more\">MORE THAN GRANTED (a voidoci bug): \(escape(m))</div>\n" }
        for l in r.leakyGrants { out += "<div class=\"flag leak\">LEAKY GRANT: \(escape(l))</div>\n" }
        for n in r.notes { out += "<p class=\"note\">note: \(escape(n))</p>\n" }
        out += "<p class=\"legend\">Against \(ref.map { escape(shortName(r.columns[$0].runtime)) } ?? "the first container")"
            + ": <span class=\"less\" style=\"background:#d9f2d9\">less exposed</span><span>same</span>"
            + "<span style=\"background:#f8d0d0\">more exposed</span><span style=\"background:#fbecc5\">different</span></p>\n"
        out += "<table>\n<tr><th class=\"key\">observation</th>"
        for c in r.columns { out += "<th>\(escape(shortName(c.runtime)))</th>" }
        out += "<th>why the void differs</th></tr>\n"
        var section = ""
        for row in r.rows {
            let s = String(row.key.prefix { $0 != "." })
            if s != section {
                section = s
                out += "<tr class=\"section\"><th colspan=\"\(r.columns.count + 2)\">\(escape(s))</th></tr>\n"
            }
            out += "<tr><td class=\"key\">\(escape(String(row.key.dropFirst(s.count + 1))))</td>"
            for (i, v) in row.values.enumerated() {
                let reference = ref.flatMap { row.values.indices.contains($0) ? row.values[$0] : nil }
                let rel: Relation = i == ref ? .reference : reference.map { relation(row.key, v, $0) } ?? .differs
                out += "<td class=\"v \(rel.rawValue)\" title=\"\(rel.rawValue)\">\(cellHTML(v))</td>"
            }
            out += "<td class=\"cause\">\(row.cause.map(escape) ?? "")</td></tr>\n"
        }
        out += "</table>\n<h2 style=\"font-size:16px\">The config's own process</h2>\n<ul>\n"
        for c in r.columns where c.error == nil {
            out += "<li><b>\(escape(shortName(c.runtime)))</b>: exit \(c.exit.map(String.init) ?? "?")"
                + (c.stderr.isEmpty ? "" : "<pre>\(escape(c.stderr))</pre>") + "</li>\n"
        }
        out += "</ul>\n</body></html>\n"
        return out
    }

    static func shortName(_ runtime: String) -> String { String(runtime.split(separator: "/").last ?? "") }

    /// "14 files visible (plan: 14), 0 devices, 1 interface (lo)"
    static func summaryLine(_ c: Column, planned: [String: String]) -> String {
        let o = c.observed
        let ifs = (o["network.interfaces"] ?? "").split(separator: " ")
        let files = o["files.count"].map(grouped) ?? "?"
        var s = "\(files) files visible" + (planned["files.count"].map { " (plan: \(grouped($0)))" } ?? "")
        s += ", \(o["devices.count"] ?? "?") devices, \(ifs.count) interface\(ifs.count == 1 ? "" : "s") (\(ifs.joined(separator: " ")))"
        if let e = c.exit { s += "; its own process exited \(e)" }
        return s
    }

    static func grouped(_ n: String) -> String {
        guard Int(n) != nil, n.count > 3 else { return n }
        var out = "", i = 0
        for ch in n.reversed() {
            if i > 0 && i % 3 == 0 { out.append(",") }
            out.append(ch)
            i += 1
        }
        return String(out.reversed())
    }

    /// How much `value` exposes against `reference`, for the colour of its cell.
    public static func relation(_ key: String, _ value: String, _ reference: String) -> Relation {
        if value == reference { return .same }
        if value == "(not run)" || value == "-" { return .absent }
        // What the void cannot even look at (no /proc) is less than any reading of it.
        if value.hasPrefix("unavailable") && !reference.hasPrefix("unavailable") { return .less }
        guard let a = exposure(key, value), let b = exposure(key, reference) else { return .differs }
        return a < b ? .less : a > b ? .more : .differs
    }

    /// A measure of what a cell exposes, where one makes sense: a number, a count of items, a
    /// rank (absent < present < readable), set bits of a capability mask, fewer calls blocked.
    static func exposure(_ key: String, _ value: String) -> Int? {
        let section = String(key.prefix { $0 != "." })
        if value.hasPrefix("unavailable") { return 0 }
        switch section {
        case "sensitive":
            return value.hasPrefix("readable") ? 2 : value.hasPrefix("present") ? 1 : value.hasPrefix("absent") ? 0 : nil
        case "namespaces":
            return value == "host's" ? 1 : value == "new" ? 0 : nil
        case "capabilities":
            let hex = value.hasPrefix("0x") ? String(value.dropFirst(2)) : value
            return UInt64(hex, radix: 16).map { $0.nonzeroBitCount }
        case "seccomp":
            if key == "seccomp.blocked" { return -(value == "none" ? 0 : value.split(separator: ",").count) }
            return nil
        default:
            if let n = Int(value) { return n }
            if ["network.host_reachable", "processes.host_visible"].contains(key) {
                return value.hasPrefix("yes") ? 1 : value.hasPrefix("no") ? 0 : nil
            }
            if value == "none" || value == "(empty)" { return 0 }
            if ["files.top", "files.writable_dirs", "devices.nodes", "network.interfaces", "network.addresses",
                "network.routes", "network.sockets_held", "mounts.table", "environment.names"].contains(key) {
                return value.split { $0 == " " || $0 == "\n" || $0 == "," }.count
            }
            return nil
        }
    }

    /// A cell: short values as they are; long ones folded (their first line shown).
    static func cellHTML(_ v: String) -> String {
        let lines = v.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > 3 || v.count > 300 else { return escape(v) }
        let first = String(lines.first?.prefix(60) ?? "")
        return "<details><summary>\(escape(first))… (\(lines.count) lines)</summary>\(escape(v))</details>"
    }

    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters (other than newline and tab) from the probe are shown, not passed.
                if ch.value < 0x20 && ch != "\n" && ch != "\t" { out += "&#xFFFD;" } else { out.unicodeScalars.append(ch) }
            }
        }
        return out
    }
}
