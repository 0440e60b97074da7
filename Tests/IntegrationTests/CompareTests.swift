import Foundation
import Testing

/// `voidoci compare` (docs/compare.md): bundles/hello under runc, crun and voidoci, observed by
/// the probe; the facts that must hold of the void's column, the causes, and the flags.
@Suite(.serialized, HostClean()) struct CompareTests {
    struct Report: Decodable {
        struct Runtime: Decodable { var name: String; var error: String?; var exit: Int? }
        struct Row: Decodable { var key: String; var values: [String]; var cause: String? }
        var runtimes: [Runtime]
        var rows: [Row]
        var moreThanGranted: [String]
        var leakyGrants: [String]
        var planned: [String: String]
        func value(_ key: String, _ runtime: Int) -> String? { rows.first { $0.key == key }?.values[runtime] }
        func cause(_ key: String) -> String? { rows.first { $0.key == key }?.cause }
    }

    /// `voidoci compare ARGS` as `who` (rootless: the test user, from /tmp).
    static func voidoci(_ args: [String], as who: As = .root, env: [String: String]? = nil) -> Result {
        let argv = who == .root ? [Env.bin] + args
            : ["/usr/bin/setpriv", "--reuid=\(Env.testUser)", "--regid=\(Env.testUser)", "--init-groups", "--", "/usr/bin/env", "-C", "/tmp", Env.bin] + args
        return Shell.run(argv, env: env ?? ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], timeout: 180)
    }

    static func compare(_ bundle: String, _ extra: [String] = [], as who: As = .root) -> (Result, Report?) {
        let r = voidoci(["compare", "--format", "json"] + extra + [bundle], as: who)
        return (r, try? JSONDecoder().decode(Report.self, from: Data(r.stdout.utf8)))
    }

    @Test(arguments: As.allCases) func helloUnderRuncCrunAndVoidoci(_ who: As) throws {
        try Env.requireUser(who)
        let (r, parsed) = Self.compare("\(Env.repo)/bundles/hello", as: who)
        let rep = try #require(parsed, "\(r)")
        #expect(r.status == 0, "\(r)")
        #expect(rep.runtimes.map { $0.name.split(separator: "/").last.map(String.init) ?? "" } == ["runc", "crun", "voidoci"])
        for rt in rep.runtimes { #expect(rt.error == nil && rt.exit == 0, "\(rt)") }
        let v = 2
        // The void: no sensitive path, only lo, no device, a handful of files (the program and
        // its libraries: what explain lists), every namespace new.
        for row in rep.rows where row.key.hasPrefix("sensitive.") {
            #expect(!row.values[v].hasPrefix("readable"), "\(row)")
        }
        #expect(rep.value("network.interfaces", v) == "lo")
        #expect(rep.value("devices.count", v) == "0")
        let files = Int(rep.value("files.count", v) ?? "") ?? -1
        let runcFiles = Int(rep.value("files.count", 0) ?? "") ?? -1
        #expect(files > 0 && files < runcFiles, "void \(files), runc \(runcFiles)")
        // Exactly what the plan binds: the program, its libraries, the loader's cache, and the
        // image's symlinks on the way (explain lists them).
        #expect(rep.planned["files.count"] == String(files), "void \(files), planned \(rep.planned)")
        #expect(rep.planned["devices.count"] == "0")
        for k in ["user", "mnt", "pid", "net", "ipc", "uts"] { #expect(rep.value("namespaces.\(k)", v) == "new", "\(k)") }
        // runc rootless needs a user namespace of its own (compare gives it the rootless config).
        #expect(rep.value("namespaces.user", 0) == (who == .root ? "host's" : "new"))
        // Each difference names its cause.
        #expect(rep.cause("files.count")?.hasPrefix("void default: empty tmpfs root") == true)
        #expect(rep.cause("devices.count") == "void default: no /dev nodes")
        if who == .root { #expect(rep.cause("namespaces.user")?.hasPrefix("void default: every namespace new") == true) }
        #expect(rep.moreThanGranted.isEmpty && rep.leakyGrants.isEmpty)
        // The text fits 100 columns.
        let t = Self.voidoci(["compare", "\(Env.repo)/bundles/hello"], as: who)
        #expect(t.status == 0 && t.stdout.split(separator: "\n").allSatisfy { $0.count <= 100 }, "\(t)")
    }

    /// A grant that binds a sensitive file is flagged (exit status 3), naming the grant.
    @Test func aLeakyGrantIsFlagged() throws {
        let dir = "/tmp/voidoci-test-\(getpid())-leaky"
        defer { _ = Shell.run(["rm", "-rf", dir]) }
        _ = Shell.run(["mkdir", "-p", "\(dir)/rootfs/etc", "\(dir)/rootfs/bin"])
        _ = Shell.run(["cp", "/bin/busybox", "\(dir)/rootfs/bin/sh"])
        FileManager.default.createFile(atPath: "\(dir)/rootfs/etc/shadow", contents: Data("root:x:1::::::\n".utf8))
        let config = """
            {"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["/bin/sh","-c","true"],"cwd":"/",
             "env":["PATH=/bin"]},"root":{"path":"rootfs"},"annotations":{"org.voidoci.expose":"/etc/shadow"},
             "linux":{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"ipc"},{"type":"uts"},{"type":"network"}]}}
            """
        FileManager.default.createFile(atPath: "\(dir)/config.json", contents: Data(config.utf8))
        let (r, parsed) = Self.compare(dir, ["--runtimes", "crun,voidoci"])
        let rep = try #require(parsed, "\(r)")
        #expect(r.status == 3, "\(r)")
        #expect(rep.leakyGrants.contains { $0.contains("/etc/shadow") && $0.contains("org.voidoci.expose") }, "\(rep.leakyGrants)")
        #expect(rep.moreThanGranted.isEmpty)
    }

    /// Granted kernel filesystems and devices are in the plan's count (a devpts holds its ptmx;
    /// /dev=minimal makes six nodes), and so is a granted directory whose file names are not
    /// UTF-8: the void holds exactly what the plan says, nothing is flagged.
    @Test func grantsAreCountedInThePlan() throws {
        let dir = "/tmp/voidoci-test-\(getpid())-granted"
        defer { _ = Shell.run(["rm", "-rf", dir]) }
        _ = Shell.run(["cp", "-a", "\(Env.repo)/bundles/hello", dir])
        _ = Shell.run(["mkdir", "-p", "\(dir)/rootfs/data/sub"])
        _ = Shell.run(["sh", "-c", "touch \"\(dir)/rootfs/data/$(printf '\\377\\376')\" \(dir)/rootfs/data/sub/$(printf '\\377')x \(dir)/rootfs/data/plain"])
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/config.json"))) as? [String: Any])
        config["annotations"] = ["org.voidoci.mounts": "proc;devpts;tmpfs;mqueue;shm", "org.voidoci.dev": "minimal",
                                 "org.voidoci.expose": "/data"]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: "\(dir)/config.json"))
        let (r, parsed) = Self.compare(dir, ["--runtimes", "crun,voidoci"])
        let rep = try #require(parsed, "\(r)")
        #expect(r.status == 0 && rep.moreThanGranted.isEmpty, "\(r)")
        #expect(rep.value("files.count", 1) == rep.planned["files.count"], "\(rep.planned)")
        #expect(rep.value("devices.count", 1) == "6" && rep.planned["devices.count"] == "6", "\(rep.planned)")
        #expect(rep.value("files.top", 1)?.split(separator: " ").contains("data") == true)
    }

    /// A runtime that is not on PATH is said so; the others still run.
    @Test func aMissingRuntimeIsNamed() throws {
        let (r, parsed) = Self.compare("\(Env.repo)/bundles/hello", ["--runtimes", "no-such-runtime,voidoci"])
        let rep = try #require(parsed, "\(r)")
        #expect(r.status == 0 && rep.runtimes.first?.error == "no-such-runtime is not on PATH", "\(r)")
        #expect(rep.runtimes.last?.exit == 0)
    }

    /// `--image`: a podman image (the podman tests' busybox one), under the three runtimes; as
    /// root the container is mounted, rootless it is exported and unpacked.
    @Test(arguments: As.allCases) func aPodmanImage(_ who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        // The container's own process leaves directories its owner cannot write (a rootless
        // unpacked root is the caller's): compare still removes everything.
        let c = Self.voidoci(["compare", "--format", "json", "--image", img, "--", "/bin/sh", "-c",
                              "mkdir -p /locked/in 2>/dev/null && touch /locked/in/f && chmod 500 /locked/in /locked; true"], as: who, env: p.env)
        let rep = try #require(try? JSONDecoder().decode(Report.self, from: Data(c.stdout.utf8)), "\(c)")
        #expect(c.status == 0, "\(c)")
        for rt in rep.runtimes { #expect(rt.error == nil && rt.exit == 0, "\(rt)") }
        #expect(rep.value("network.interfaces", 2) == "lo" && rep.value("devices.count", 2) == "0")
        for row in rep.rows where row.key.hasPrefix("sensitive.") { #expect(!row.values[2].hasPrefix("readable"), "\(row)") }
        // Static busybox: the one binary and the /bin/sh link to it.
        #expect(rep.value("files.count", 2) == rep.planned["files.count"], "\(rep.planned)")
        #expect(Int(rep.value("files.count", 0) ?? "") ?? 0 > 100)
        let left = p.call(["ps", "-a", "--format", "{{.Names}}"])
        #expect(!left.stdout.contains("voidoci-compare-"), "\(left)")
        let scratch = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        #expect(!scratch.contains { $0.hasPrefix("voidoci-compare-") }, "\(scratch)")
    }

    /// `--format html`: one page, no fetch possible, rendered by a real headless chromium. The
    /// browser's DOM holds the table and the summary; its screenshot shows the colours (less
    /// exposed, more exposed) in the cells.
    @Test func htmlInAHeadlessBrowser() throws {
        let chromium = "/usr/bin/chromium"
        try prerequisite(FileManager.default.isExecutableFile(atPath: chromium), "chromium is not installed (scripts/install-deps.sh installs it)")
        let dir = "/tmp/voidoci-test-\(getpid())-html"
        mkdir(dir, 0o755)
        defer { _ = Shell.run(["rm", "-rf", dir]) }
        let page = "\(dir)/compare.html", png = "\(dir)/compare.png"
        let r = Self.voidoci(["compare", "--format", "html", "--output", page, "\(Env.repo)/bundles/hello"])
        #expect(r.status == 0, "\(r)")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains("Content-Security-Policy") && html.contains("default-src 'none'"))
        for fetch in ["src=", "href=", "url(", "@import", "<script"] { #expect(!html.contains(fetch), "\(fetch)") }
        let browser = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(dir)/profile"]
        let dom = Shell.run([chromium] + browser + ["--dump-dom", "file://\(page)"], timeout: 120)
        #expect(dom.status == 0, "\(dom)")
        // The parsed page: a header and a card per runtime, the void's with its plan, the table.
        for name in ["runc", "crun", "voidoci"] { #expect(dom.stdout.contains("<b>\(name)</b>"), "\(name)") }
        #expect(dom.stdout.range(of: #"\d+ files visible \(plan: \d+\), 0 devices, 1 interface \(lo\)"#, options: .regularExpression) != nil)
        let cells = dom.stdout.components(separatedBy: "<td class=\"v ").count - 1
        let rows = dom.stdout.components(separatedBy: "<td class=\"key\">").count - 1
        #expect(rows > 40 && cells == rows * 3, "rows \(rows), cells \(cells)")
        #expect(dom.stdout.contains("<td class=\"v less\" title=\"less\">0</td>"), "devices.count: less in the void")
        let shot = Shell.run([chromium] + browser + ["--window-size=1200,1600", "--screenshot=\(png)", "file://\(page)"], timeout: 120)
        #expect(shot.status == 0, "\(shot)")
        // The screenshot's pixels, decoded by a small PNG reader: the less-exposed green
        // (#d9f2d9) and the void card's green border (#2a7d2a) are on screen.
        let count = Shell.run(["python3", "-c", Self.pngColours, png, "d9f2d9", "2a7d2a", "f8d0d0"])
        let seen = count.stdout.split(separator: "\n").map(String.init)
        #expect(count.status == 0 && seen.count == 3, "\(count)")
        if seen.count == 3 {
            #expect((Int(seen[0]) ?? 0) > 1000, "less-exposed cells: \(seen)")
            #expect((Int(seen[1]) ?? 0) > 100, "void card border: \(seen)")
        }
    }

    /// Prints, for each hex colour argument, how many pixels of the PNG have it (8-bit RGB or
    /// RGBA, non-interlaced: what chromium writes).
    static let pngColours = #"""
        import sys, zlib, struct
        data = open(sys.argv[1], 'rb').read()
        assert data[:8] == b'\x89PNG\r\n\x1a\n'
        pos, idat, w, h, ct = 8, b'', 0, 0, 0
        while pos < len(data):
            n, kind = struct.unpack('>I4s', data[pos:pos + 8]); body = data[pos + 8:pos + 8 + n]; pos += 12 + n
            if kind == b'IHDR': w, h, depth, ct, _, _, inter = struct.unpack('>IIBBBBB', body); assert depth == 8 and inter == 0
            elif kind == b'IDAT': idat += body
        bpp = {2: 3, 6: 4}[ct]; raw = zlib.decompress(idat); stride = w * bpp
        prev = bytearray(stride); rows = []
        for y in range(h):
            f = raw[y * (stride + 1)]; line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0; b = prev[i]; c = prev[i - bpp] if i >= bpp else 0
                if f == 1: line[i] = (line[i] + a) & 255
                elif f == 2: line[i] = (line[i] + b) & 255
                elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
                elif f == 4:
                    p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            rows.append(bytes(line)); prev = line
        want = [bytes.fromhex(c) for c in sys.argv[2:]]; counts = [0] * len(want)
        for line in rows:
            for x in range(0, stride, bpp):
                px = line[x:x + 3]
                for k, c in enumerate(want):
                    if px == c: counts[k] += 1
        print('\n'.join(map(str, counts)))
        """#
}
