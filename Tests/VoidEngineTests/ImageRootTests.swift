#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import VoidEngine

@Suite struct ImageRootTests {
    @Test func missingRootNamesThePath() {
        #expect {
            try ImageRoot(path: "/nonexistent/voidoci-root")
        } throws: { error in
            let e = error as! VoidError
            return e.description == "root.path /nonexistent/voidoci-root: no such file or directory" && e.errno == ENOENT
        }
    }

    @Test func resolvesMergedUsrLinksAndRecordsThem() throws {
        let tree = ImageTree()
        defer { tree.remove() }
        tree.mergedUsr()
        tree.write("/usr/bin/dash", "#!x\n", mode: 0o755)
        tree.symlink("/usr/bin/sh", to: "dash")
        let root = try ImageRoot(path: tree.path)
        let sh = try root.resolve("/bin/sh")
        #expect(sh.requested == "/bin/sh")
        #expect(sh.canonical == "/usr/bin/dash")
        #expect(sh.kind == .regular)
        #expect(sh.mode & 0o777 == 0o755)
        #expect(sh.symlinks == [
            ImageSymlink(path: "/bin", target: "usr/bin"),
            ImageSymlink(path: "/usr/bin/sh", target: "dash"),
        ])
        #expect(try root.resolve("/usr/bin").kind == .directory)
        #expect(try root.resolve("/").canonical == "/")
        // ".." after a symlinked directory is the parent of its target, as in the kernel.
        #expect(try root.resolve("bin/../bin/.//dash", cwd: "/").canonical == "/usr/bin/dash")
        #expect(throws: VoidError.self) { try root.resolve("/bin/../usr/bin/dash") }
        #expect(try root.resolve("sh", cwd: "/bin").canonical == "/usr/bin/dash")
        #expect(root.exists("/bin/sh"))
        #expect(!root.exists("/bin/bash"))
    }

    @Test func openCanonicalRefusesSymlinks() throws {
        let tree = ImageTree()
        defer { tree.remove() }
        tree.mergedUsr()
        tree.write("/usr/bin/dash", "x", mode: 0o755)
        let root = try ImageRoot(path: tree.path)
        let fd = try root.openCanonical("/usr/bin/dash")
        defer { close(fd) }
        var st = stat(), expected = stat()
        #expect(fstat(fd, &st) == 0 && stat(tree.host("/usr/bin/dash"), &expected) == 0)
        #expect(st.st_ino == expected.st_ino && st.st_dev == expected.st_dev)
        let dir = try root.openCanonical("/usr")
        close(dir)
        let top = try root.openCanonical("/")
        close(top)
        #expect {
            try root.openCanonical("/bin/dash")
        } throws: { error in (error as! VoidError).errno == ELOOP }
        #expect {
            try root.openCanonical("/usr/bin/nope")
        } throws: { error in (error as! VoidError).errno == ENOENT }
    }

    @Test func absoluteLinkNeverReachesTheHost() throws {
        let tree = ImageTree()
        defer { tree.remove() }
        tree.mergedUsr()
        // /etc/passwd and /usr/bin/env exist on the host but not in the tree.
        tree.symlink("/bin/evil", to: "/usr/bin/env")
        tree.symlink("/usr/bin/evil2", to: "/etc/passwd")
        let root = try ImageRoot(path: tree.path)
        for path in ["/bin/evil", "/usr/bin/evil2"] {
            #expect {
                try root.resolve(path)
            } throws: { error in
                (error as! VoidError).errno == ENOENT
                    && (error as! VoidError).description == "\(path): no such file or directory"
            }
        }
    }

    @Test func dotDotClampsAtTheRoot() throws {
        let tree = ImageTree()
        defer { tree.remove() }
        tree.mergedUsr()
        tree.mkdir("/usr/share/a/b/c")
        tree.symlink("/usr/share/a/b/c/up", to: "../../../../../../../../etc/passwd")
        tree.symlink("/usr/share/a/b/c/top", to: "../../../../../../../..")
        let root = try ImageRoot(path: tree.path)
        #expect(throws: VoidError.self) { try root.resolve("/usr/share/a/b/c/up") }
        tree.write("/etc/passwd", "root:x:0:0::/root:/bin/sh\n")
        let passwd = try root.resolve("/usr/share/a/b/c/up")
        #expect(passwd.canonical == "/etc/passwd")
        #expect(passwd.symlinks == [ImageSymlink(path: "/usr/share/a/b/c/up", target: "../../../../../../../../etc/passwd")])
        #expect(try root.resolve("/usr/share/a/b/c/top").canonical == "/")
        #expect(try root.resolve("/../../etc/passwd").canonical == "/etc/passwd")
    }

    @Test func loopsEndWithELOOP() throws {
        let tree = ImageTree()
        defer { tree.remove() }
        tree.symlink("/a", to: "b")
        tree.symlink("/b", to: "/a")
        tree.symlink("/self", to: "self")
        let root = try ImageRoot(path: tree.path)
        for path in ["/a", "/self/x"] {
            #expect {
                try root.resolve(path)
            } throws: { error in
                (error as! VoidError).errno == ELOOP
                    && (error as! VoidError).description.contains("too many levels of symbolic links")
            }
        }
    }

    @Test func fortyLinksAreAllowedFortyOneAreNot() throws {
        let tree = ImageTree()
        defer { tree.remove() }
        tree.write("/target", "x")
        for i in 1...41 { tree.symlink("/l\(i)", to: i == 1 ? "target" : "l\(i - 1)") }
        let root = try ImageRoot(path: tree.path)
        #expect(try root.resolve("/l40").symlinks.count == 40)
        #expect(throws: VoidError.self) { try root.resolve("/l41") }
    }

    @Test func fileInTheMiddleIsNotADirectory() throws {
        let tree = ImageTree()
        defer { tree.remove() }
        tree.write("/etc/hosts", "")
        let root = try ImageRoot(path: tree.path)
        for path in ["/etc/hosts/x", "/etc/hosts/"] {
            #expect {
                try root.resolve(path)
            } throws: { error in (error as! VoidError).errno == ENOTDIR }
        }
        #expect(try root.resolve("/etc/").kind == .directory)
    }

    @Test func emptyLinkTargetIsNotFound() throws {
        let tree = ImageTree()
        defer { tree.remove() }
        tree.symlink("/empty", to: "")
        let root = try ImageRoot(path: tree.path)
        // Some file systems refuse to create an empty link; only check when it exists.
        var st = stat()
        if lstat(tree.host("/empty"), &st) == 0 {
            #expect(throws: VoidError.self) { try root.resolve("/empty") }
        }
    }
}
