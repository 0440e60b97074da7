import Foundation
import Testing

/// `tmpcopyup` on a tmpfs entry of `config.mounts` (podman `--tmpfs /tmp` passes it): the
/// image's content at the destination is copied into the new tmpfs before it is mounted, as crun
/// does. The image's files are untrusted: read inside the image root, never through a link out
/// of it, regular files only, capped.
@Suite(.serialized) struct TmpCopyupTests {
    /// A copy of the busybox image with content under /tmp, and a host directory outside it.
    final class Image {
        let root: String
        let outside: String

        /// `who`: the /tmp tree is that user's, so an unprivileged voidoci can read it.
        init(_ who: As = .root) {
            let base = "/tmp/voidoci-test-\(getpid())-copyup-\(UUID().uuidString.prefix(8))"
            root = base + "-rootfs"
            outside = base + "-outside"
            Env.registerCleanup(root)
            Env.registerCleanup(outside)
            Shell.run(["cp", "-a", Env.busyboxRootfs, root])
            Shell.run(["mkdir", "-p", outside])
            chmod(outside, 0o755)
            write(outside + "/secret", "host secret\n", 0o644)
            Shell.run(["mkdir", "-p", root + "/tmp/seed/sub"])
            write(root + "/tmp/seed/a.txt", "alpha\n", 0o640)
            write(root + "/tmp/seed/sub/run.sh", "#!/bin/sh\necho ran\n", 0o755)
            write(root + "/tmp/top", "top\n", 0o604)
            symlink("a.txt", root + "/tmp/seed/link")
            chmod(root + "/tmp/seed/sub", 0o750)
            chmod(root + "/tmp", 0o1777)
            if who == .user { Shell.run(["chown", "-R", "\(Env.testUID!):\(Env.testGID!)", root + "/tmp", outside]) }
        }

        func write(_ path: String, _ text: String, _ mode: mode_t) {
            FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
            chmod(path, mode)
        }

        func remove() { Shell.run(["rm", "-rf", root, outside]) }
    }

    static func tmpfs(_ extra: [String] = ["tmpcopyup"]) -> [String: Any] {
        ["destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["rw", "rprivate", "nosuid", "nodev"] + extra]
    }

    static func bundle(_ image: Image, _ script: String, as who: As, options: [String] = ["tmpcopyup"], rootfs: String? = nil) -> TestBundle {
        let b = TestBundle(rootfs: image.root, args: ["/bin/sh", "-c", script], as: who)
        b.annotate(["org.voidoci.expose": "/bin", "org.voidoci.mounts": "tmpfs"])
        if let rootfs { b.annotate(["org.voidoci.rootfs": rootfs]) }
        b.addMount(Self.tmpfs(options))
        return b
    }

    static let listing = "cd /tmp && find . | sort && for f in seed seed/a.txt seed/sub seed/sub/run.sh top; do stat -c '%a %u:%g %n' $f; done && cat seed/a.txt && readlink seed/link && seed/sub/run.sh && echo new > new && echo wrote"
    static let expected = [".", "./seed", "./seed/a.txt", "./seed/link", "./seed/sub", "./seed/sub/run.sh", "./top",
                           "755 0:0 seed", "640 0:0 seed/a.txt", "750 0:0 seed/sub", "755 0:0 seed/sub/run.sh", "604 0:0 top",
                           "alpha", "a.txt", "ran", "wrote"]

    @Test(arguments: As.allCases)
    func imageContentIsCopiedIntoTheTmpfs(who: As) throws {
        try #require(who == .root || Env.hasTestUser)
        let image = Image(who)
        defer { image.remove() }
        let before = hostMounts()
        for rootfs in [nil, "ro"] {
            let b = Self.bundle(image, Self.listing, as: who, rootfs: rootfs)
            defer { b.close() }
            let r = b.run()
            #expect(r.status == 0, "rootfs \(rootfs ?? "none"): \(r)")
            #expect(VoidCheck.lines(r.stdout) == Self.expected, "rootfs \(rootfs ?? "none"): \(r)")
        }
        #expect(!FileManager.default.fileExists(atPath: image.root + "/tmp/new"), "the image is not written")
        #expect(hostMounts() == before)
    }

    /// Root-owned files the void's own id could not read are copied too (voidoci reads them).
    @Test func rootCopiesFilesOnlyRootCanRead() throws {
        try #require(Env.isRoot)
        let image = Image()
        defer { image.remove() }
        image.write(image.root + "/tmp/private", "only root\n", 0o600)
        let b = Self.bundle(image, "stat -c '%a %u' /tmp/private", as: .root)
        defer { b.close() }
        let r = b.run()
        #expect(r.status == 0 && r.stdout == "600 0\n", "\(r)")
    }

    @Test func notmpcopyupAndNoOptionLeaveTheTmpfsEmpty() throws {
        try #require(Env.isRoot)
        let image = Image()
        defer { image.remove() }
        for options in [["notmpcopyup"], []] {
            let b = Self.bundle(image, "ls -A /tmp | wc -l", as: .root, options: options)
            defer { b.close() }
            let r = b.run()
            #expect(r.status == 0 && r.stdout.trimmingCharacters(in: .whitespaces) == "0\n", "\(options): \(r)")
        }
    }

    /// Nothing voidoci made for the set-up (the copy's memfd, the node tmpfs and its clones,
    /// the proc mount the sysctls are written through) is open in the void's program.
    @Test(arguments: As.allCases)
    func noFdOfTheSetUpReachesTheVoid(who: As) throws {
        try #require(who == .root || Env.hasTestUser)
        let image = Image(who)
        defer { image.remove() }
        let b = Self.bundle(image, "cat /tmp/top; echo /proc/self/fd/*", as: who)
        defer { b.close() }
        b.grantProc()
        b.setLinux("sysctl", ["net.ipv4.ip_default_ttl": "42", "kernel.shmmni": "1000"])
        b.setLinux("devices", [["path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200]] as [[String: Any]])
        b.annotate(["org.voidoci.dev": "minimal"])
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        #expect(VoidCheck.lines(r.stdout) == ["top", "/proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2 /proc/self/fd/3"], "\(r)")
    }

    // MARK: attacks from the image

    /// The image's /tmp is a link out of the image: it resolves inside the image (as if the
    /// image were /), never to the host directory.
    @Test(arguments: As.allCases)
    func aLinkOutOfTheImageIsNotFollowed(who: As) throws {
        try #require(who == .root || Env.hasTestUser)
        let image = Image(who)
        defer { image.remove() }
        Shell.run(["rm", "-rf", image.root + "/tmp"])
        symlink(image.outside, image.root + "/tmp")
        let b = Self.bundle(image, "ls -A /tmp; echo done", as: who)
        defer { b.close() }
        let r = b.run()
        #expect(!r.stdout.contains("secret"), "the host directory was copied: \(r)")
        #expect(!r.stderr.contains("host secret"))

        // A link inside the copied tree is copied as a link, not followed.
        let image2 = Image(who)
        defer { image2.remove() }
        symlink(image2.outside + "/secret", image2.root + "/tmp/escape")
        symlink("../../../../../../" + image2.outside + "/secret", image2.root + "/tmp/escape2")
        let b2 = Self.bundle(image2, "readlink /tmp/escape; cat /tmp/escape /tmp/escape2 2>/dev/null; echo done", as: who)
        defer { b2.close() }
        let r2 = b2.run()
        #expect(r2.status == 0, "\(r2)")
        #expect(VoidCheck.lines(r2.stdout) == [image2.outside + "/secret", "done"], "\(r2)")
    }

    /// A FIFO is never opened (create would hang on it); it is not copied, and explain says so.
    @Test(arguments: As.allCases)
    func aFifoIsNotCopied(who: As) throws {
        try #require(who == .root || Env.hasTestUser)
        let image = Image(who)
        defer { image.remove() }
        mkfifo(image.root + "/tmp/fifo", 0o666)
        let b = Self.bundle(image, "[ -e /tmp/fifo ] && echo fifo || echo no-fifo; cat /tmp/top", as: who)
        defer { b.close() }
        let r = b.run(timeout: 20)
        #expect(r.status == 0 && VoidCheck.lines(r.stdout) == ["no-fifo", "top"], "\(r)")
        let e = b.voidoci(["explain", b.dir])
        #expect(e.stdout.contains("/tmp/fifo") && e.stdout.contains("mounts[0]"), "\(e)")
    }

    /// More than the cap: an error naming the mount and the cap, nothing left behind.
    @Test(arguments: As.allCases)
    func aHugeFileIsRefusedNamingTheMount(who: As) throws {
        try #require(who == .root || Env.hasTestUser)
        let image = Image(who)
        defer { image.remove() }
        Shell.run(["truncate", "-s", "3G", image.root + "/tmp/huge"])
        let before = hostMounts()
        let b = Self.bundle(image, "echo ran", as: who)
        defer { b.close() }
        let r = b.run(timeout: 30)
        #expect(r.status != 0 && !r.stdout.contains("ran"), "\(r)")
        #expect(r.stderr.contains("mounts[0]") && r.stderr.contains("tmpcopyup") && r.stderr.contains("MiB"), "\(r)")
        #expect(b.stateEntries().isEmpty)
        #expect(hostMounts() == before)
    }

    @Test(arguments: As.allCases)
    func tooManyEntriesAreRefusedNamingTheMount(who: As) throws {
        try #require(who == .root || Env.hasTestUser)
        let image = Image(who)
        defer { image.remove() }
        Shell.run(["bash", "-c", "mkdir -p '\(image.root)/tmp/many' && cd '\(image.root)/tmp/many' && touch $(seq 1 20000)"])
        let b = Self.bundle(image, "echo ran", as: who)
        defer { b.close() }
        let r = b.run(timeout: 30)
        #expect(r.status != 0 && r.stderr.contains("mounts[0]") && r.stderr.contains("entries"), "\(r)")
        #expect(b.stateEntries().isEmpty)
    }
}
