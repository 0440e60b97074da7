import ArgumentParser
import Glibc
import VoidEngine

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Run a bundle under several runtimes and show, side by side, what its process sees in each: a container's view against the void's.",
        discussion: """
            Each runtime runs the config with its process replaced by voidoci's probe (bound read-only over \
            the program's own path), then runs the config's own process. Where the void differs from a container, \
            the row names why (a void default, or a grant). A void that shows more than its grants is \
            flagged: exit status 2; a grant that exposes a sensitive host path: exit status 3. \
            See docs/compare.md.
            """)
    @Option(name: .long, help: "Comma-separated runtimes, each found on PATH.") var runtimes: String = "runc,crun,voidoci"
    @Option(name: .long, help: "text, json or html (one self-contained page)") var format: String = "text"
    @Option(name: .long, help: "Write the report here instead of stdout.") var output: String?
    @Option(name: .long, help: "A podman image instead of a bundle (a container of it mounted as root, exported and unpacked rootless); the command after -- (else the image's own).") var image: String?
    @Argument(help: "The bundle directory.") var bundle: String = "."
    @Argument(parsing: .postTerminator, help: "With --image: the command to run.") var command: [String] = []

    func validate() throws {
        guard ["text", "json", "html"].contains(format) else { throw ValidationError("--format: \(format) (text, json or html)") }
        guard !runtimes.split(separator: ",").isEmpty else { throw ValidationError("--runtimes: empty") }
    }

    func run() {
        guarded {
            let rt = runtime()
            var bundle = self.bundle
            var imageBundle: ImageBundle?
            if let image {
                let b = try ImageBundle(image: image, command: command)
                imageBundle = b
                bundle = b.dir
            }
            defer { imageBundle?.remove() }
            let (_, plan, _) = try rt.plan(bundle: bundle)
            let list = runtimes.split(separator: ",").map { $0 == "voidoci" ? selfPath() : String($0) }
            var report = try Compare.run(bundle: absolute(bundle), runtimes: list, probe: probePath(), plan: plan,
                                         planFor: { try rt.plan(bundle: $0).1 }) { writeErr($0 + "\n") }
            if let image { report.bundle = "--image \(image)" + (command.isEmpty ? "" : " -- " + command.joined(separator: " ")) }
            let text = format == "json" ? Compare.json(report) : format == "html" ? Compare.html(report) : Compare.text(report)
            if let o = output { try writeFileAtomically(absolute(o), text) } else { writeOut(text) }
            let status: Int32 = !report.moreThanGranted.isEmpty ? 2 : !report.leakyGrants.isEmpty ? 3 : 0
            imageBundle?.remove()
            if status != 0 { Glibc.exit(status) }
        }
    }


    /// VOIDOCI_PROBE, else ../libexec/voidoci/voidoci-probe beside this binary, else where
    /// scripts/build.sh installs it.
    func probePath() -> String {
        if let p = getenv("VOIDOCI_PROBE") { return String(cString: p) }
        let exe = selfPath()
        let dir = exe.split(separator: "/").dropLast().dropLast().joined(separator: "/")
        let beside = "/\(dir)/libexec/voidoci/voidoci-probe"
        return access(beside, X_OK) == 0 ? beside : "/usr/local/libexec/voidoci/voidoci-probe"
    }
}

/// `compare --image`: a bundle made for a podman image, in a scratch directory: its root is a
/// podman container of the image, created (never started), then mounted as root (an image's own
/// mount is read-only, and runc and crun make their mount points in the root) or exported and
/// unpacked rootless; its process the command given or the image's own (entrypoint and cmd),
/// with the image's environment and working directory.
final class ImageBundle {
    let image: String
    let dir: String
    let container: String
    private var removed = false

    init(image: String, command: [String]) throws {
        self.image = image
        container = "voidoci-compare-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        func first(_ r: Compare.Child.Result) -> String { r.stderr.split(separator: "\n").first.map(String.init) ?? "exit \(r.status)" }
        let made = Compare.Child.run(["podman", "create", "--name", container, image, "/bin/true"], timeout: 120)
        guard made.status == 0 else { throw VoidError("--image \(image): podman create: \(first(made)) (--image needs a local image)") }
        var template = Array("/tmp/voidoci-compare-image-XXXXXX".utf8CString)
        guard let d = mkdtemp(&template) else {
            _ = Compare.Child.run(["podman", "rm", "-f", container], timeout: 60)
            throw VoidError("mkdtemp: \(String(cString: strerror(errno)))")
        }
        dir = String(cString: d)
        _ = chmod(dir, 0o755)
        let root: String
        do { root = try Self.root(container, dir: dir, image: image) } catch { remove(); throw error }
        let inspect = Compare.Child.run(["podman", "image", "inspect", image, "--format",
                                         "{{json .Config.Entrypoint}}\n{{json .Config.Cmd}}\n{{json .Config.Env}}\n{{json .Config.WorkingDir}}"], timeout: 60)
        let lines = inspect.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func list(_ i: Int) -> [String] { i < lines.count ? Compare.stringList(lines[i]) : [] }
        let args = !command.isEmpty ? command : (list(0) + list(1)).isEmpty ? ["/bin/sh"] : list(0) + list(1)
        var env = list(2)
        if !env.contains(where: { $0.hasPrefix("PATH=") }) { env.append("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") }
        let cwd = (lines.count > 3 ? Compare.stringList("[" + lines[3] + "]").first : nil).flatMap { $0.isEmpty ? nil : $0 } ?? "/"
        let config = JSON.object([
            ("ociVersion", .string("1.0.2")),
            ("process", .object([("terminal", .bool(false)), ("user", .object([("uid", .number(0)), ("gid", .number(0))])),
                                 ("args", .array(args.map(JSON.string))), ("env", .array(env.map(JSON.string))), ("cwd", .string(cwd))])),
            ("root", .object([("path", .string(root)), ("readonly", .bool(false))])),
            ("hostname", .string("compare")),
            ("linux", .object([("namespaces", .array(["pid", "mount", "ipc", "uts", "network"].map { JSON.object([("type", .string($0))]) }))])),
        ]).render()
        do { try writeFileAtomically("\(dir)/config.json", config) } catch { remove(); throw error }
        // Rootless, the unpacked copy is all there is: the container goes now.
        if geteuid() != 0 { _ = Compare.Child.run(["podman", "rm", "-f", container], timeout: 60) }
    }

    /// The root: as root, the container mounted (`podman mount`); rootless, where a mount would
    /// live in podman's own namespace only, the container exported and unpacked into `dir/rootfs`
    /// (owned by the caller; device nodes, which an unprivileged tar cannot make, left out).
    static func root(_ container: String, dir: String, image: String) throws -> String {
        func first(_ r: Compare.Child.Result) -> String { r.stderr.split(separator: "\n").first.map(String.init) ?? "exit \(r.status)" }
        if geteuid() == 0 {
            let mount = Compare.Child.run(["podman", "mount", container], timeout: 120)
            let root = mount.stdout.split(separator: "\n").last.map(String.init) ?? ""
            guard mount.status == 0, root.hasPrefix("/") else { throw VoidError("--image \(image): podman mount: \(first(mount))") }
            return root
        }
        let tar = "\(dir)/image.tar", rootfs = "\(dir)/rootfs"
        defer { unlink(tar) }
        let export = Compare.Child.run(["podman", "export", "-o", tar, container], timeout: 600)
        guard export.status == 0 else { throw VoidError("--image \(image): podman export: \(first(export))") }
        guard mkdir(rootfs, 0o755) == 0 else { throw VoidError.sys("mkdir", rootfs) }
        // Only the top-level dev/ is left out (an unprivileged tar cannot make its nodes).
        let x = Compare.Child.run(["tar", "-x", "--no-same-owner", "-f", tar, "-C", rootfs,
                                   "--anchored", "--exclude=dev/*", "--exclude=./dev/*"], timeout: 600)
        guard x.status == 0 else { throw VoidError("--image \(image): unpacking the exported container: \(first(x))") }
        return rootfs
    }

    func remove() {
        if removed { return }
        removed = true
        if !removeScratch(dir) { writeErr("voidoci: compare: could not remove \(dir)\n") }
        if geteuid() == 0 { _ = Compare.Child.run(["podman", "unmount", container], timeout: 60) }
        _ = Compare.Child.run(["podman", "rm", "-f", container], timeout: 60)
    }
}
