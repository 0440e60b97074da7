import ArgumentParser
import Glibc
import OCIBundle
import VoidEngine

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Learn the minimal grants a program needs: trace it in a void with the image root granted, emit the grants, and prove them by a rerun with only those.",
        discussion: """
            The program runs traced (ptrace, from outside the void) with the image root read-only, the kernel \
            filesystems the config lists, the minimal devices and a tmpfs at /tmp. Every path it opens, stats, \
            execs, reads as a link or lists, every device, socket and syscall is recorded. The grants are then \
            emitted (org.voidoci.expose, mounts, dev, connect, listen, and a seccomp allow-list), and the same \
            command is run again with only those: the profile is written only if the exit status, stdout and \
            stderr are the same (exit status 4 otherwise, naming the first difference), unless --unverified. \
            See docs/profile.md.
            """)
    @Option(name: .long, help: "annotations, json or config") var format: String = "annotations"
    @Option(name: .long, help: "Write the profile here instead of stdout.") var output: String?
    @Flag(name: .long, help: "Write the grants into the bundle's config.json.") var apply = false
    @Option(name: .long, help: "An earlier profile (--format json) whose grants are joined with these; repeatable.") var merge: [String] = []
    @Flag(name: .long, help: "Write the profile even when the rerun with only the grants differs.") var unverified = false
    @Flag(name: .long, help: "Grant the TCP and UDP destinations the program tried (not loopback, never a unix path): org.voidoci.connect, org.voidoci.listen.") var grantSockets = false
    @Option(name: .long, help: "With --format annotations: write the seccomp allow-list here and add --security-opt seccomp=FILE (without it the annotations carry no seccomp profile).") var seccompProfile: String?
    @Option(name: .long, help: "Seconds each run may take; then the void is killed.") var timeout: Int32 = 300
    @Option(name: .long, help: "A podman image instead of a bundle (a container of it mounted as root, exported and unpacked rootless).") var image: String?
    @Argument(help: "The bundle directory.") var bundle: String = "."
    @Argument(parsing: .postTerminator, help: "The command to profile (else the config's or image's own).") var command: [String] = []

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout: \(timeout) (seconds, more than 0)") }
        guard ["annotations", "json", "config"].contains(format) else { throw ValidationError("--format: \(format) (annotations, json or config)") }
        if apply && image != nil { throw ValidationError("--apply: needs a bundle, not --image") }
    }

    func run() {
        guarded {
            // Ctrl-C and the like end the profile cleanly from here on: the image's container and
            // the traced void are removed as on any error.
            Profile.catchInterrupts()
            var imageBundle: ImageBundle?
            var dir = bundle
            if let image {
                let b = try ImageBundle(image: image, command: command)
                imageBundle = b
                dir = b.dir
                if Profile.interrupted { throw VoidError("interrupted") }
            }
            defer { imageBundle?.remove() }
            let status = try profile(bundleDir: absolute(dir))
            imageBundle?.remove()
            if status != 0 { Glibc.exit(status) }
        }
    }

    func profile(bundleDir: String) throws -> Int32 {
        let rt = runtime()
        let configPath = "\(bundleDir)/config.json"
        let original = try JSONDocument(parsing: try readSmallBytes(configPath))
        guard case .object(var top) = original.root else { throw VoidError("\(configPath): not a JSON object") }
        // The config as it will run: root.path absolute, no terminal, the command given.
        var imagePath = ""
        if case .object(var root)? = top["root"], case .string(let p)? = root["path"] {
            imagePath = p.hasPrefix("/") ? p : "\(bundleDir)/\(p)"
            root["path"] = .string(imagePath)
            top["root"] = .object(root)
        }
        guard !imagePath.isEmpty else { throw VoidError("\(configPath): root.path is required") }
        if case .object(var process)? = top["process"] {
            process["terminal"] = .bool(false)
            if !command.isEmpty && image == nil { process["args"] = .array(command.map { .string($0) }) }
            top["process"] = .object(process)
        }
        // A pid namespace that is joined outlives its init: the tracer could not see the end.
        if case .object(let linux)? = top["linux"], case .array(let ns)? = linux["namespaces"],
           ns.contains(where: { if case .object(let o) = $0, case .string("pid")? = o["type"], o["path"] != nil { return true }; return false }) {
            throw VoidError("linux.namespaces: profile needs a pid namespace of its own (a joined one outlives the program)")
        }
        var configDevices = Set<String>()
        if case .object(let linux)? = top["linux"], case .array(let devs)? = linux["devices"] {
            for d in devs { if case .object(let o) = d, case .string(let p)? = o["path"] { configDevices.insert(p) } }
        }
        let base = JSONDocument(value: .object(top))
        let image = try ImageRoot(path: imagePath)

        // What the plan binds by itself: the program's ELF closure, never exposed again.
        var baseTop = top
        var ann = Profile.object(baseTop["annotations"])
        ann["org.voidoci.rootfs"] = nil
        baseTop["annotations"] = .object(ann)
        let basePlan = try planOf(JSONDocument(value: .object(baseTop)), rt)
        var autoBound = Set<String>()
        for m in basePlan.mounts {
            if case .program = m.origin { autoBound.insert(m.destination) }
        }

        let (traceDoc, tmpfs) = Profile.traceConfig(base, imageHasTmp: (try? image.resolve("/tmp"))?.kind == .directory)
        writeErr("profile: tracing \(basePlan.process.args.joined(separator: " "))\n")
        // What a profile killed outright left (its voids, its scratch directories) goes first.
        let stateRoot = rt.store.root
        Profile.sweep(stateRoot: stateRoot, voidoci: selfPath())
        let traced = try Profile.traced(traceDoc.render(), voidoci: selfPath(), stateRoot: stateRoot, timeout: timeout)
        if traced.timedOut {
            let left = traced.leftAtKill.isEmpty ? "" : "; still there then (tid, state): " + traced.leftAtKill.prefix(8).joined(separator: ", ")
            throw VoidError("the traced run did not finish in \(timeout) s (--timeout): killed\(left)")
        }
        if traced.truncated { writeErr("profile: more path records than kept (the first 48 MiB): the grants may be short\n") }
        var grants = Profile.grants(traced, Profile.Context(image: image, autoBound: autoBound, tmpfs: tmpfs, configDevices: configDevices))
        if grantSockets { Profile.grantSockets(&grants) }
        var merged: [String] = []
        for m in merge {
            try Profile.merge(&grants, with: try readSmallBytes(absolute(m)), file: m)
            merged.append(m)
        }
        writeErr("profile: traced in \(Int(traced.seconds * 1000)) ms, exit \(traced.exitStatus); verifying with only the grants\n")
        let grantedDoc = Profile.grantedConfig(base, grants)
        let granted = try Profile.traced(grantedDoc.render(), voidoci: selfPath(), stateRoot: stateRoot, timeout: timeout)
        let difference = Profile.difference(traced, granted, grants)
        var report = Profile.Report(command: basePlan.process.args, grants: grants, traced: traced, granted: granted, difference: difference)
        report.merged = merged
        for s in grants.connect where !grants.grantedConnect.contains(s) {
            writeErr("profile: the program connected to \(s): not granted (its network was empty; --grant-sockets grants TCP and UDP destinations that are not loopback)\n")
        }
        for s in grants.listen where !grants.grantedListen.contains(s) {
            writeErr("profile: the program listened on \(s): not granted (org.voidoci.listen binds outside, on the host's network; --grant-sockets grants it)\n")
        }
        if let d = difference {
            writeErr("profile: NOT VERIFIED: the run with only the grants differs: \(d)\n")
        } else {
            writeErr("profile: verified: the run with only the grants exited \(granted.exitStatus) with the same output (\(Int(granted.seconds * 1000)) ms)\n")
        }
        guard difference == nil || unverified else { return 4 }

        let text: String
        switch format {
        case "json": text = Profile.json(report)
        case "config": text = Profile.configFragment(grants)
        default:
            var lines = Profile.annotations(grants).map { "--annotation " + shellQuote("\($0.0)=\($0.1)") }
            for t in grants.tmpfs { lines.append("--tmpfs " + shellQuote(t)) }
            if let s = seccompProfile {
                try writeFileAtomically(absolute(s), JSONDocument(value: Profile.seccomp(grants)).render() + "\n")
                lines.append("--security-opt " + shellQuote("seccomp=\(absolute(s))"))
            }
            text = lines.joined(separator: "\n") + "\n"
        }
        if let o = output { try writeFileAtomically(absolute(o), text) } else { writeOut(text) }
        if apply {
            // The bundle's own config, with the grants: root.path and the process as they were.
            guard case .object(let own) = original.root, case .object(var applied) = Profile.grantedConfig(original, grants).root else { return 0 }
            if let r = own["root"] { applied["root"] = r }
            if let p = own["process"] { applied["process"] = p }
            try writeFileAtomically(configPath, JSONDocument(value: .object(applied)).render() + "\n")
            writeErr("profile: the grants are written into \(configPath)\n")
        }
        return 0
    }

    func planOf(_ doc: JSONDocument, _ rt: Runtime) throws -> VoidPlan {
        var template = Array("/tmp/voidoci-profile-plan-XXXXXX".utf8CString)
        guard let d = mkdtemp(&template) else { throw VoidError("mkdtemp: \(String(cString: strerror(errno)))") }
        let dir = String(cString: d)
        defer { unlink("\(dir)/config.json"); rmdir(dir) }
        try writeFileAtomically("\(dir)/config.json", doc.render())
        return try rt.plan(bundle: dir).1
    }


    func shellQuote(_ s: String) -> String {
        if s.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,@+%".contains($0) }) { return s }
        return "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}
