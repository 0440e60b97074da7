#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import VoidEngine

/// findExecutable, and closures of real host programs copied into image trees.
@Suite struct ImageResolverTests {
    static func expectError(_ message: String, errno code: Int32, _ body: () throws -> Void) {
        #expect {
            try body()
        } throws: { error in
            let e = error as! VoidError
            return e.description == message && e.errno == code
        }
    }

    // MARK: findExecutable

    @Test func pathSearchTakesTheFirstExecutableMatch() throws {
        let tree = ImageTree()
        defer { tree.remove() }
        tree.mergedUsr()
        tree.write("/usr/local/bin/tool", "#!/bin/sh\n", mode: 0o644)  // not executable: passed over
        tree.mkdir("/usr/local/sbin/tool")                            // a directory: passed over
        tree.write("/usr/sbin/tool", "#!/bin/sh\n", mode: 0o755)
        tree.write("/usr/bin/tool", "#!/bin/sh\n", mode: 0o755)     // later in the default PATH
        let root = try ImageRoot(path: tree.path)
        let found = try ImageResolver(root: root, env: []).findExecutable("tool", cwd: "/")
        #expect(found.requested == "/usr/sbin/tool")
        #expect(found.canonical == "/usr/sbin/tool")

        // PATH from the environment, with a symlinked directory: the path to execve keeps the link.
        let viaLink = try ImageResolver(root: root, env: ["HOME=/", "PATH=/nope:/bin"]).findExecutable("tool", cwd: "/")
        #expect(viaLink.requested == "/bin/tool")
        #expect(viaLink.canonical == "/usr/bin/tool")
        #expect(viaLink.symlinks == [ImageSymlink(path: "/bin", target: "usr/bin")])

        // An empty PATH entry is the working directory, as for execvp.
        tree.write("/work/here", "#!/bin/sh\n", mode: 0o700)
        let here = try ImageResolver(root: root, env: ["PATH=/nope::/bin"]).findExecutable("here", cwd: "/work")
        #expect(here.requested == "/work/./here")
        #expect(here.canonical == "/work/here")
    }

    @Test func pathSearchErrors() throws {
        let tree = ImageTree()
        defer { tree.remove() }
        tree.mergedUsr()
        tree.write("/usr/bin/data", "x", mode: 0o644)
        let root = try ImageRoot(path: tree.path)
        let resolver = ImageResolver(root: root, env: ["PATH=/usr/bin"])
        Self.expectError("executable file `nope` not found in $PATH: No such file or directory", errno: ENOENT) {
            _ = try resolver.findExecutable("nope", cwd: "/")
        }
        Self.expectError("exec: `data` found in $PATH as /usr/bin/data: permission denied", errno: EACCES) {
            _ = try resolver.findExecutable("data", cwd: "/")
        }
        // The host has /usr/bin/env; the image does not, and must not borrow it.
        Self.expectError("executable file `env` not found in $PATH: No such file or directory", errno: ENOENT) {
            _ = try resolver.findExecutable("env", cwd: "/")
        }
    }

    @Test func explicitPathErrors() throws {
        let tree = ImageTree()
        defer { tree.remove() }
        tree.mergedUsr()
        tree.write("/etc/passwd", "root:x:0:0::/:/bin/sh\n")
        tree.write("/app/run", "#!/bin/sh\n", mode: 0o755)
        tree.symlink("/bin/evil", to: "/usr/bin/hostonly")
        let root = try ImageRoot(path: tree.path)
        let resolver = ImageResolver(root: root, env: [])
        Self.expectError("exec: `/bin/x`: no such file or directory", errno: ENOENT) {
            _ = try resolver.findExecutable("/bin/x", cwd: "/")
        }
        Self.expectError("exec: `/bin/evil`: no such file or directory", errno: ENOENT) {
            _ = try resolver.findExecutable("/bin/evil", cwd: "/")
        }
        Self.expectError("exec: `/usr`: is a directory: permission denied", errno: EACCES) {
            _ = try resolver.findExecutable("/usr", cwd: "/")
        }
        Self.expectError("exec: `/etc/passwd`: permission denied", errno: EACCES) {
            _ = try resolver.findExecutable("/etc/passwd", cwd: "/")
        }
        Self.expectError("exec: `/etc/passwd/x`: not a directory", errno: ENOTDIR) {
            _ = try resolver.findExecutable("/etc/passwd/x", cwd: "/")
        }
        let relative = try resolver.findExecutable("./run", cwd: "/app")
        #expect(relative.requested == "/app/./run")
        #expect(relative.canonical == "/app/run")
        Self.expectError("exec: empty process.args[0]: no such file or directory", errno: ENOENT) {
            _ = try resolver.findExecutable("", cwd: "/")
        }
    }

    // MARK: Closures of host programs

    /// Copies `programs` and what ldd lists for them into a fresh tree, exactly as laid out on the
    /// host (merged /usr and all).
    static func hostImage(_ programs: [String], cache: Bool) -> ImageTree {
        let tree = ImageTree()
        for program in programs {
            tree.copyFromHost(program)
            for library in lddPaths(program) { tree.copyFromHost(library) }
        }
        if cache { tree.copyFromHost("/etc/ld.so.cache") }
        return tree
    }

    static let hostPrograms: [String] = ["/bin/ls", "/bin/sh", "/usr/bin/env", "/bin/true"].filter { access($0, X_OK) == 0 }

    @Test(.enabled(if: hasTool("ldd")), arguments: hostPrograms, [false, true])
    func closureEqualsLdd(_ program: String, withCache: Bool) throws {
        let tree = Self.hostImage([program], cache: withCache)
        defer { tree.remove() }
        let root = try ImageRoot(path: tree.path)
        let resolver = ImageResolver(root: root, env: ["PATH=/usr/bin:/bin"])
        let exe = try resolver.findExecutable(program, cwd: "/")
        let closure = try resolver.closure(for: exe)

        let ldd = lddPaths(program)
        var expected = [hostRealpath(program)] + ldd.map(hostRealpath)
        if withCache { expected.append("/etc/ld.so.cache") }
        let canonical = closure.files.map(\.canonical)
        #expect(Set(canonical) == Set(expected))
        #expect(canonical.count == Set(canonical).count)
        #expect(canonical.first == hostRealpath(program))
        let interpreter = try #require(ldd.first { $0.contains("ld-linux") })
        #expect(canonical.dropFirst().first == hostRealpath(interpreter))
        #expect(closure.files[1].requested == interpreter)
        if withCache { #expect(canonical.last == "/etc/ld.so.cache") }
        #expect(closure.notes.contains { $0.hasPrefix("libc.so.6 (needed by \(program)): found via "
            + (withCache ? "ld.so.cache" : "default directory")) })
        // libc's DT_NEEDED ld-linux-x86-64.so.2 is the interpreter itself, not searched again.
        #expect(!closure.notes.contains { $0.hasPrefix("ld-linux-x86-64.so.2 (") })
        Self.checkSymlinks(closure, root: root)
    }

    /// The host itself as the image: a big closure with RUNPATH $ORIGIN entries (the Swift
    /// toolchain) must match ldd too.
    @Test(.enabled(if: hasTool("ldd") && access("/opt/swift/usr/bin/swift-frontend", X_OK) == 0))
    func hostRootClosureOfTheSwiftCompiler() throws {
        let program = "/opt/swift/usr/bin/swift-frontend"
        let resolver = ImageResolver(root: try ImageRoot(path: "/"), env: [])
        let closure = try resolver.closure(for: resolver.findExecutable(program, cwd: "/"))
        var expected = Set([hostRealpath(program)] + lddPaths(program).map(hostRealpath))
        if access("/etc/ld.so.cache", R_OK) == 0 { expected.insert("/etc/ld.so.cache") }
        #expect(Set(closure.files.map(\.canonical)) == expected)
        #expect(closure.usesExecutableOrigin)
    }

    /// Every link's parent is a real directory in the image, links are unique by path, and every
    /// link of every bound file is listed.
    static func checkSymlinks(_ closure: ProgramClosure, root: ImageRoot) {
        let paths = closure.symlinks.map(\.path)
        #expect(paths.count == Set(paths).count)
        for link in closure.symlinks {
            let parent = ImagePath.dirname(link.path)
            #expect((try? root.resolve(parent).canonical) == parent)
        }
        for file in closure.files { #expect(Set(file.symlinks).isSubset(of: Set(closure.symlinks))) }
    }

    /// The recipe for the runtime: in an empty directory, create each link's parent directories
    /// and the link, then each file's parent directories and the file (here a copy, in the void a
    /// read-only bind). Then every requested path must resolve there as in the image.
    static func materialize(_ closure: ProgramClosure, from image: ImageTree) -> ImageTree {
        let void = ImageTree()
        for link in closure.symlinks { void.symlink(link.path, to: link.target) }
        for file in closure.files {
            void.mkdir(ImagePath.dirname(file.canonical))
            shell("cp -p '\(image.host(file.canonical))' '\(void.host(file.canonical))'")
        }
        return void
    }

    @Test(.enabled(if: hasTool("ldd")), arguments: hostPrograms)
    func materializedVoidResolvesTheSame(_ program: String) throws {
        let image = Self.hostImage([program], cache: true)
        defer { image.remove() }
        let closure = try ImageResolver(root: ImageRoot(path: image.path), env: []).findExecutable(program, cwd: "/")
        let full = try ImageResolver(root: ImageRoot(path: image.path), env: []).closure(for: closure)
        let void = Self.materialize(full, from: image)
        defer { void.remove() }
        let voidRoot = try ImageRoot(path: void.path)
        for file in full.files { #expect(try voidRoot.resolve(file.requested).canonical == file.canonical) }
        for path in lddPaths(program) { #expect(voidRoot.exists(path)) }
        // And the void's own closure is the same set of files.
        let again = try ImageResolver(root: voidRoot, env: []).closure(for: voidRoot.resolve(program))
        #expect(Set(again.files.map(\.canonical)) == Set(full.files.map(\.canonical)))
    }

    static var canChroot: Bool { geteuid() == 0 && shell("chroot / true 2>/dev/null").status == 0 }

    @Test(.enabled(if: canChroot && hasTool("ldd")))
    func materializedVoidRunsTheProgram() throws {
        let image = Self.hostImage(["/bin/ls", "/bin/sh"], cache: true)
        defer { image.remove() }
        image.write("/app/hello.sh", "#!/bin/sh\necho hello from $0\n", mode: 0o755)
        let resolver = try ImageResolver(root: ImageRoot(path: image.path), env: [])
        for (args0, expected) in [("/bin/ls", "bin"), ("/app/hello.sh", "hello from /app/hello.sh")] {
            let closure = try resolver.closure(for: resolver.findExecutable(args0, cwd: "/"))
            let void = Self.materialize(closure, from: image)
            defer { void.remove() }
            let run = shell("chroot '\(void.path)' \(args0) / 2>&1")
            #expect(run.status == 0, "\(run.output)")
            #expect(run.output.contains(expected))
        }
    }

    @Test(.enabled(if: access("/bin/busybox", X_OK) == 0))
    func staticBinaryIsJustItself() throws {
        let tree = Self.hostImage([], cache: true)
        defer { tree.remove() }
        tree.copyFromHost("/bin/busybox")
        let resolver = try ImageResolver(root: ImageRoot(path: tree.path), env: [])
        let closure = try resolver.closure(for: resolver.findExecutable("busybox", cwd: "/"))
        #expect(closure.files.map(\.canonical) == [hostRealpath("/bin/busybox")])
        #expect(closure.executable.requested == "/usr/bin/busybox")
        #expect(closure.notes == ["/usr/bin/busybox: statically linked"])
    }

    @Test(.enabled(if: hasTool("ldd")))
    func scriptPullsInItsInterpreter() throws {
        let tree = Self.hostImage(["/bin/sh", "/usr/bin/env"], cache: false)
        defer { tree.remove() }
        tree.write("/app/run.sh", "#!/bin/sh -e\nexit 0\n", mode: 0o755)
        tree.write("/app/env.sh", "#!/usr/bin/env -S sh -e\nexit 0\n", mode: 0o755)
        let resolver = try ImageResolver(root: ImageRoot(path: tree.path), env: [])
        // ldd lists the interpreter last; the closure right after the program.
        let shLibraries = lddPaths("/bin/sh")
        let shInterpreter = try #require(shLibraries.first { $0.contains("ld-linux") })
        let sh = [hostRealpath("/bin/sh"), hostRealpath(shInterpreter)]
            + shLibraries.filter { $0 != shInterpreter }.map(hostRealpath)

        let script = try resolver.closure(for: resolver.findExecutable("/app/run.sh", cwd: "/"))
        #expect(script.files.map(\.canonical) == ["/app/run.sh"] + sh)
        #expect(script.files[1].requested == "/bin/sh")
        #expect(script.symlinks.contains(ImageSymlink(path: "/bin", target: "usr/bin")))

        let env = try resolver.closure(for: resolver.findExecutable("/app/env.sh", cwd: "/"))
        let envFiles = Set([hostRealpath("/usr/bin/env")] + lddPaths("/usr/bin/env").map(hostRealpath))
        #expect(Set(env.files.map(\.canonical)) == Set(["/app/env.sh"]).union(envFiles).union(sh))
        #expect(env.files[1].canonical == hostRealpath("/usr/bin/env"))
        #expect(env.notes.contains { $0.contains("runs `sh` through env") })
    }

    @Test func scriptErrors() throws {
        let tree = ImageTree()
        defer { tree.remove() }
        tree.mergedUsr()
        tree.write("/a", "#!/b\n", mode: 0o755)
        tree.write("/b", "#!/a\n", mode: 0o755)
        tree.write("/c", "#!/nonexistent/sh\n", mode: 0o755)
        tree.write("/d", "#!/etc/notexec\n", mode: 0o755)
        tree.write("/etc/notexec", "", mode: 0o644)
        tree.write("/e", "#!/bin/sh\r\n", mode: 0o755)
        tree.write("/f", "just text\n", mode: 0o755)
        let resolver = try ImageResolver(root: ImageRoot(path: tree.path), env: [])
        let loop = try resolver.findExecutable("/a", cwd: "/")
        #expect(throws: VoidError.self) { try resolver.closure(for: loop) }
        Self.expectError("exec: #! interpreter /nonexistent/sh of /c: no such file or directory", errno: ENOENT) {
            _ = try resolver.closure(for: resolver.findExecutable("/c", cwd: "/"))
        }
        Self.expectError("exec: #! interpreter /etc/notexec of /d: permission denied", errno: EACCES) {
            _ = try resolver.closure(for: resolver.findExecutable("/d", cwd: "/"))
        }
        // The kernel does not strip "\r": the interpreter is "/bin/sh\r".
        Self.expectError("exec: #! interpreter /bin/sh\r of /e: no such file or directory", errno: ENOENT) {
            _ = try resolver.closure(for: resolver.findExecutable("/e", cwd: "/"))
        }
        let text = try resolver.closure(for: resolver.findExecutable("/f", cwd: "/"))
        #expect(text.files.map(\.canonical) == ["/f"])
        #expect(text.notes.first?.contains("ENOEXEC") == true)
    }

    @Test func shebangParsing() {
        func parse(_ s: String) -> ProgramKind.Shebang? { ProgramKind.shebang(Array(s.utf8)) }
        #expect(parse("#!/bin/sh\n") == .init(interpreter: "/bin/sh", argument: nil))
        #expect(parse("#! /usr/bin/env  python3 -u \nx") == .init(interpreter: "/usr/bin/env", argument: "python3 -u"))
        #expect(parse("#!\t/bin/bash\t-e") == .init(interpreter: "/bin/bash", argument: "-e"))
        #expect(parse("#!\n") == nil)
        #expect(parse("#") == nil)
        #expect(parse("#!/" + String(repeating: "x", count: 300)) == nil)
        #expect(parse("#!/bin/sh " + String(repeating: "x", count: 300))?.interpreter == "/bin/sh")
        #expect(ClosureBuilder.envProgram("-S -u X=1 python3 -u") == "python3")
        #expect(ClosureBuilder.envProgram("-i") == nil)
    }
}
