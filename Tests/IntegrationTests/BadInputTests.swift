import Foundation
import Testing

/// Every bad bundle is refused at `create` with a message naming what is wrong, and leaves
/// nothing: no state entry, no process, no mount.
@Suite(.serialized, .hostClean) struct BadInputTests {
    /// A bundle whose program carries a unique token, so any process it left is found by name.
    func bundle(_ who: As, rootfs: String = Env.busyboxRootfs) -> (TestBundle, String) {
        let token = "tok-\(LifeProbe.uid())"
        let b = TestBundle(rootfs: rootfs, args: ["/bin/sh", "-c", ": \(token); busybox sleep 1000"], as: who)
        return (b, token)
    }

    /// Runs `create`; it must fail with every needle in its message and leave no trace.
    @discardableResult
    func refused(_ b: TestBundle, token: String, id: String? = nil, needles: [String],
                 sourceLocation: SourceLocation = #_sourceLocation) -> Result {
        let before = hostMounts()
        let id = id ?? "bad-\(LifeProbe.uid())"
        let r = b.voidociReaped(["create", "--bundle", b.dir, id])
        #expect(r.status != 0, "create succeeded: \(r)", sourceLocation: sourceLocation)
        #expect(!r.stderr.isEmpty, "no message on stderr", sourceLocation: sourceLocation)
        for n in needles {
            #expect(r.stderr.contains(n), "message does not name \(n): \(r.stderr)", sourceLocation: sourceLocation)
        }
        expectNothingLeft(b, token: token, mountsBefore: before, sourceLocation: sourceLocation)
        return r
    }

    func expectNothingLeft(_ b: TestBundle, token: String, mountsBefore: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(LifeProbe.entries(b.stateRoot).isEmpty, "state dir keeps \(LifeProbe.entries(b.stateRoot))", sourceLocation: sourceLocation)
        let left = { LifeProbe.processes(mentioning: b.dir) + LifeProbe.processes(mentioning: token) }
        #expect(LifeProbe.waitUntil(1) { left().isEmpty }, "processes left: \(left())", sourceLocation: sourceLocation)
        #expect(hostMounts() == mountsBefore, "host mount table changed", sourceLocation: sourceLocation)
    }

    enum Malformed: String, CaseIterable, Sendable { case openBrace, truncated, empty, wrongType }

    @Test(arguments: As.allCases, Malformed.allCases)
    func malformedConfig(who: As, kind: Malformed) throws {
        try Env.requireUser(who)
        let (b, token) = bundle(who)
        defer { b.close() }
        let full = String(decoding: try JSONSerialization.data(withJSONObject: b.config, options: [.sortedKeys]), as: UTF8.self)
        var needles = ["config.json"]
        switch kind {
        case .openBrace: b.writeRaw("{")
        case .truncated: b.writeRaw(String(full.prefix(full.count / 2)))
        case .empty: b.writeRaw("")
        case .wrongType:
            b.edit { c in
                var p = c["process"] as! [String: Any]
                p["user"] = ["uid": "x", "gid": 0]
                c["process"] = p
            }
            needles.append("process.user.uid")
        }
        refused(b, token: token, needles: needles)
    }

    @Test(arguments: As.allCases)
    func missingConfigAndRoot(who: As) throws {
        try Env.requireUser(who)
        let (b, token) = bundle(who)
        defer { b.close() }
        let nowhere = "\(b.dir)/no-such-rootfs"
        b.edit { $0["root"] = ["path": nowhere] }
        refused(b, token: token, needles: ["root.path", nowhere])

        unlink("\(b.dir)/config.json")
        refused(b, token: token, needles: ["config.json"])
    }

    @Test(arguments: As.allCases)
    func missingProgram(who: As) throws {
        try Env.requireUser(who)
        let (b, token) = bundle(who)
        defer { b.close() }
        for prog in ["/bin/nope", "nope"] {
            LifeProbe.setArgs(b, [prog, token])
            let r = refused(b, token: token, needles: [])
            let m = r.stderr
            #expect(m.lowercased().contains("no such file or directory") || m.contains("executable file `nope` not found in $PATH"),
                    "\(prog): \(m)")
            #expect(m.contains(prog), "\(prog): message does not name the program: \(m)")
        }
    }

    /// A program symlink in the image that points at a host-only file: resolution must stay in
    /// root.path, so the file is never found, let alone bound or run.
    @Test(arguments: As.allCases)
    func programSymlinkOutsideRootfs(who: As) throws {
        try Env.requireUser(who)
        let u = LifeProbe.uid()
        let hostOnly = "/usr/bin/hostonly-\(u)"
        let marker = "/tmp/voidoci-test-\(getpid())-escaped-\(u)"
        try "#!/bin/sh\necho escaped >\(marker)\n".write(toFile: hostOnly, atomically: true, encoding: .utf8)
        chmod(hostOnly, 0o755)
        defer { unlink(hostOnly); unlink(marker) }

        let (b, token) = bundle(who)
        defer { b.close() }
        let rootfs = LifeProbe.copyRootfs(b)
        try #require(!LifeProbe.exists("\(rootfs)\(hostOnly)"), "the image must not hold the host-only file")
        symlink(hostOnly, "\(rootfs)/usr/bin/evil")
        symlink("../../../../../usr/bin/hostonly-\(u)", "\(rootfs)/usr/bin/evil-rel")
        // On the host both links do reach the host-only file: the test means something.
        for l in ["evil", "evil-rel"] {
            let target = URL(fileURLWithPath: "\(rootfs)/usr/bin/\(l)").resolvingSymlinksInPath().path
            try #require(target == hostOnly, "\(l) resolves to \(target) on the host")
        }
        for prog in ["/usr/bin/evil", "/usr/bin/evil-rel", "evil"] {
            LifeProbe.setArgs(b, [prog, token])
            let r = refused(b, token: token, needles: [])
            #expect(r.stderr.contains(prog), "\(prog): \(r.stderr)")
            #expect(!LifeProbe.exists(marker), "\(prog): the host-only program ran")
        }
        #expect(!LifeProbe.exists(marker))
    }

    @Test(arguments: As.allCases)
    func dotDotInMountDestination(who: As) throws {
        try Env.requireUser(who)
        let (b, token) = bundle(who)
        defer { b.close() }
        let src = LifeProbe.scratch(b)
        b.edit { $0["mounts"] = [["destination": "/data/../../etc", "type": "bind", "source": src, "options": ["rbind", "rw"]]] }
        refused(b, token: token, needles: ["mounts[0].destination", ".."])
    }

    /// A relative `mounts[].source` is the bundle's (docs/security.md): joined to the bundle
    /// directory and opened without following any symlink. Through a link in the image's
    /// rootfs (`rootfs/evil -> /host/dir`, or a relative one climbing out) it would bind a host
    /// directory the config never named.
    @Test(arguments: As.allCases)
    func relativeMountSourceThroughAnImageSymlinkIsRefused(who: As) throws {
        try Env.requireUser(who)
        let (b, token) = bundle(who)
        defer { b.close() }
        let rootfs = LifeProbe.copyRootfs(b, from: Env.busyboxRootfs)
        let secret = "/tmp/voidoci-test-\(getpid())-secret-\(LifeProbe.uid())"   // outside the bundle
        mkdir(secret, 0o755)
        defer { _ = Shell.run(["rm", "-rf", secret]) }
        FileManager.default.createFile(atPath: "\(secret)/secret", contents: Data("host secret\n".utf8))
        chmod("\(secret)/secret", 0o644)
        symlink(secret, "\(rootfs)/evil")
        symlink("../../\(URL(fileURLWithPath: secret).lastPathComponent)", "\(rootfs)/climb")
        symlink("evil", "\(rootfs)/indirect")
        for source in ["rootfs/evil", "rootfs/climb", "rootfs/indirect/secret", "./rootfs/evil"] {
            b.edit { c in
                c["mounts"] = [["destination": "/data", "type": "bind", "source": source, "options": ["rbind", "ro"]]]
            }
            let r = refused(b, token: token, needles: ["mounts[0].source", source])
            #expect(r.stderr.contains("symlink"), "\(source): \(r.stderr)")
        }
        // Without a link on the way, a relative source is bound from the bundle.
        mkdir("\(b.dir)/data", 0o755)
        FileManager.default.createFile(atPath: "\(b.dir)/data/f", contents: Data("from the bundle\n".utf8))
        chmod("\(b.dir)/data/f", 0o644)
        b.edit { c in
            c["mounts"] = [["destination": "/data", "type": "bind", "source": "data", "options": ["rbind", "ro"]]]
            var p = c["process"] as! [String: Any]
            p["args"] = ["/bin/sh", "-c", "read l < /data/f; echo \"$l\""]
            c["process"] = p
        }
        let ok = b.run()
        #expect(ok.status == 0 && ok.stdout == "from the bundle\n", "\(ok)")
    }

    @Test(arguments: As.allCases)
    func symlinkInMountDestination(who: As) throws {
        try Env.requireUser(who)
        let (b, token) = bundle(who)
        defer { b.close() }
        let rootfs = LifeProbe.copyRootfs(b)
        symlink("/tmp", "\(rootfs)/evil")
        let leaf = "voidoci-test-\(getpid())-leaf-\(LifeProbe.uid())"
        let src = LifeProbe.scratch(b)
        b.edit { c in
            c["annotations"] = ["org.voidoci.rootfs": "rw"]
            c["mounts"] = [["destination": "/evil/\(leaf)", "type": "bind", "source": src, "options": ["rbind", "rw"]]]
            var p = c["process"] as! [String: Any]
            p["args"] = ["/bin/sh", "-c", ": \(token)"]
            c["process"] = p
        }
        defer { rmdir("/tmp/\(leaf)") }
        let r = refused(b, token: token, needles: ["mounts[0]"])
        #expect(r.stderr.lowercased().contains("symlink"), "message does not say symlink: \(r.stderr)")
        #expect(!LifeProbe.exists("/tmp/\(leaf)"), "created /tmp/\(leaf) on the host")
        #expect(!hostMounts().contains { $0.hasPrefix("/tmp/\(leaf) ") }, "mounted on the host's /tmp")
    }

    @Test(arguments: As.allCases)
    func duplicateID(who: As) throws {
        try Env.requireUser(who)
        let (b, token) = bundle(who)
        defer { b.close() }
        let id = "dup-\(LifeProbe.uid())"
        try #require(b.voidociReaped(["create", "--bundle", b.dir, id]).status == 0)
        let first = try #require(LifeProbe.state(b, id))
        let r = b.voidociReaped(["create", "--bundle", b.dir, id])
        #expect(r.status != 0, "\(r)")
        #expect(r.stderr.contains("already exists"), "\(r)")
        let after = LifeProbe.state(b, id)
        #expect(after?["status"] as? String == "created", "\(String(describing: after))")
        #expect(LifeProbe.int(after?["pid"]) == LifeProbe.int(first["pid"]))
        let pid = Int32(LifeProbe.int(first["pid"]) ?? 0)
        #expect(LifeProbe.alive(pid))
        #expect(LifeProbe.processes(mentioning: b.dir) == [pid], "one init only")
        let before = hostMounts()
        #expect(b.voidociReaped(["delete", "--force", id]).status == 0)
        #expect(LifeProbe.gone(pid))
        expectNothingLeft(b, token: token, mountsBefore: before)
    }

    @Test(arguments: As.allCases, ["org.voidoci.rootfs=maybe", "org.voidoci.dev=all", "org.voidoci.mounts=nfs",
                                   "org.voidoci.root-id=0", "org.voidoci.foo=bar"])
    func badAnnotation(who: As, pair: String) throws {
        try Env.requireUser(who)
        let (b, token) = bundle(who)
        defer { b.close() }
        let eq = pair.firstIndex(of: "=")!
        let key = String(pair[..<eq]), value = String(pair[pair.index(after: eq)...])
        b.edit { $0["annotations"] = [key: value] }
        refused(b, token: token, needles: [key])
    }

    @Test(arguments: As.allCases)
    func unmappedAdditionalGids(who: As) throws {
        try Env.requireUser(who)
        let (b, token) = bundle(who)
        defer { b.close() }
        b.edit { c in
            var p = c["process"] as! [String: Any]
            p["user"] = ["uid": 0, "gid": 0, "additionalGids": [5]]
            c["process"] = p
        }
        refused(b, token: token, needles: ["process.user.additionalGids"])
    }

    @Test(arguments: As.allCases, ["../x", ""])
    func invalidContainerID(who: As, id: String) throws {
        try Env.requireUser(who)
        let (b, token) = bundle(who)
        defer { b.close() }
        refused(b, token: token, id: id, needles: ["container id"])
        #expect(!LifeProbe.exists("\(b.dir)/x"), "../x escaped the state dir")
    }

    @Test(arguments: As.allCases)
    func bindSourceMissing(who: As) throws {
        try Env.requireUser(who)
        let (b, token) = bundle(who)
        defer { b.close() }
        let src = "\(b.dir)/no-such-source"
        b.edit { $0["mounts"] = [["destination": "/data", "type": "bind", "source": src, "options": ["rbind", "ro"]]] }
        refused(b, token: token, needles: ["mounts[0].source", src])
    }
}
