import ArgumentParser
import Glibc
import VoidEngine

struct Spec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a starting config.json for a void (as runc spec does for a container).",
        discussion: """
            The default runs `sh` from rootfs/ as a void: an empty read-only tmpfs root holding only sh and what it
            links, every namespace new, no capability, no kernel filesystem, no device.
            --grant-all writes runc's default config plus the grants that make the void behave like that container:
            org.voidoci.rootfs=ro, org.voidoci.mounts with every kernel filesystem it mounts, org.voidoci.dev=minimal.
            --rootless maps the caller's own uid and gid to root, as runc spec --rootless does.
            """)
    @Option(name: [.short, .long], help: "Where to write config.json (default: the current directory).") var bundle: String = "."
    @Flag(name: .long, help: "Map the caller's ids to root in the user namespace (for an unprivileged voidoci).") var rootless = false
    @Flag(name: .long, help: "The container-like form: runc's default config with every grant.") var grantAll = false
    @Flag(name: .long, help: "Print to stdout instead of writing config.json.") var stdout = false

    func run() {
        guarded {
            let text = SpecTemplate.config(rootless: rootless, grantAll: grantAll, uid: geteuid(), gid: getegid()).renderPretty()
            if stdout { writeOut(text); return }
            let path = (bundle.hasSuffix("/") ? bundle : bundle + "/") + "config.json"
            // Never over an existing file (runc: "File config.json exists. Remove it first"), and
            // never through a link: O_EXCL refuses both.
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                let e = errno
                throw VoidError(e == EEXIST ? "spec: \(path) exists: remove it first" : "spec: \(path): \(errnoText(e))", errno: e)
            }
            defer { close(fd) }
            var bytes = Array(text.utf8)[...]
            while !bytes.isEmpty {
                let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    let e = errno
                    unlink(path)
                    throw VoidError("spec: writing \(path): \(errnoText(e))", errno: e)
                }
                bytes = bytes.dropFirst(n)
            }
        }
    }
}
