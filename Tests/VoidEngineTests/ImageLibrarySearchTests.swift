#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import VoidEngine

/// The loader's search order, on images made of synthetic ELF files (headers only), so that every
/// RPATH, RUNPATH and DT_NEEDED is chosen by the test.
@Suite struct ImageLibrarySearchTests {
    static let interpreter = "/lib64/ld-linux-x86-64.so.2"
    static let libdir = "/usr/lib/x86_64-linux-gnu"

    /// A Debian-like image: merged /usr, the loader at its multiarch path with the /lib64 link,
    /// and a libc that needs the loader by soname.
    static func image() -> ImageTree {
        let tree = ImageTree()
        tree.mergedUsr()
        tree.write("\(libdir)/ld-linux-x86-64.so.2", ELFBuilder(soname: "ld-linux-x86-64.so.2").bytes())
        tree.symlink("/usr/lib64/ld-linux-x86-64.so.2", to: "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        tree.write("\(libdir)/libc.so.6", ELFBuilder(needed: ["ld-linux-x86-64.so.2"], soname: "libc.so.6").bytes())
        return tree
    }

    static func elf(_ needed: [String], soname: String? = nil, rpath: String? = nil, runpath: String? = nil,
                    interpreter: String? = nil, is64: Bool = true, flags1: UInt64? = nil) -> [UInt8] {
        ELFBuilder(is64: is64, machine: is64 ? 62 : 3, interpreter: interpreter, needed: needed, soname: soname,
                   rpath: rpath, runpath: runpath, flags1: flags1).bytes()
    }

    static func program(_ tree: ImageTree, _ path: String, _ needed: [String], rpath: String? = nil,
                        runpath: String? = nil, flags1: UInt64? = nil) {
        tree.write(path, elf(needed, rpath: rpath, runpath: runpath, interpreter: interpreter, flags1: flags1))
    }

    static func closure(_ tree: ImageTree, _ args0: String, env: [String] = []) throws -> ProgramClosure {
        let resolver = ImageResolver(root: try ImageRoot(path: tree.path), env: env)
        return try resolver.closure(for: resolver.findExecutable(args0, cwd: "/"))
    }

    static func canonical(_ closure: ProgramClosure) -> [String] { closure.files.map(\.canonical) }

    @Test func runpathWithOriginOfTheExecutableAndOfALibrary() throws {
        let tree = Self.image()
        defer { tree.remove() }
        Self.program(tree, "/opt/app/bin/app", ["libapp.so.1"], runpath: "$ORIGIN/../lib")
        tree.symlink("/usr/bin/app", to: "/opt/app/bin/app")
        // libapp is reached through a file link; glibc's $ORIGIN for a library is the directory
        // of the path it opened (/opt/app/lib), not of the link's target (/srv/real).
        tree.write("/srv/real/libapp.so.1", Self.elf(["libpriv.so"], runpath: "${ORIGIN}/private"))
        tree.symlink("/opt/app/lib/libapp.so.1", to: "/srv/real/libapp.so.1")
        tree.write("/opt/app/lib/private/libpriv.so", Self.elf(["libc.so.6"]))

        // Run through /usr/bin/app: the executable's $ORIGIN is its canonical directory.
        let closure = try Self.closure(tree, "app", env: ["PATH=/usr/bin"])
        #expect(Self.canonical(closure) == [
            "/opt/app/bin/app", "\(Self.libdir)/ld-linux-x86-64.so.2", "/srv/real/libapp.so.1",
            "/opt/app/lib/private/libpriv.so", "\(Self.libdir)/libc.so.6",
        ])
        #expect(closure.executable.requested == "/usr/bin/app")
        #expect(closure.usesExecutableOrigin)
        #expect(closure.notes.contains("libapp.so.1 (needed by /usr/bin/app): found via DT_RUNPATH of /usr/bin/app: /opt/app/bin/../lib/libapp.so.1"))
        #expect(closure.notes.contains("libpriv.so (needed by /opt/app/bin/../lib/libapp.so.1): found via DT_RUNPATH of /opt/app/bin/../lib/libapp.so.1: /opt/app/bin/../lib/private/libpriv.so"))
        #expect(closure.symlinks.contains(ImageSymlink(path: "/usr/bin/app", target: "/opt/app/bin/app")))
        #expect(closure.symlinks.contains(ImageSymlink(path: "/opt/app/lib/libapp.so.1", target: "/srv/real/libapp.so.1")))
        #expect(closure.symlinks.contains(ImageSymlink(path: "/lib64", target: "usr/lib64")))
    }

    @Test func ldLibraryPathFromTheEnvironment() throws {
        let tree = Self.image()
        defer { tree.remove() }
        Self.program(tree, "/usr/bin/app", ["libll.so.1", "libc.so.6"])
        tree.write("/opt/ll/libll.so.1", Self.elf([]))
        #expect {
            try Self.closure(tree, "/usr/bin/app")
        } throws: { error in
            let e = error as! VoidError
            return e.errno == ENOENT && e.description
                == "library libll.so.1 needed by /usr/bin/app: not found in the image: no such file or directory"
        }
        let closure = try Self.closure(tree, "/usr/bin/app", env: ["LD_LIBRARY_PATH=/nowhere;/opt/ll:"])
        #expect(Self.canonical(closure).contains("/opt/ll/libll.so.1"))
        #expect(closure.notes.contains("libll.so.1 (needed by /usr/bin/app): found via LD_LIBRARY_PATH: /opt/ll/libll.so.1"))
        #expect(!closure.usesExecutableOrigin)
    }

    /// Puts libx.so.1 in /r, /l and /n, to see which one each rule picks.
    static func threeCopies(_ tree: ImageTree) {
        for dir in ["/r", "/l", "/n"] { tree.write("\(dir)/libx.so.1", elf([])) }
    }

    @Test func rpathBeforeLdLibraryPathBeforeRunpath() throws {
        let tree = Self.image()
        defer { tree.remove() }
        Self.threeCopies(tree)
        let env = ["LD_LIBRARY_PATH=/l"]
        Self.program(tree, "/usr/bin/rpath", ["libx.so.1"], rpath: "/r")
        #expect(Self.canonical(try Self.closure(tree, "/usr/bin/rpath", env: env)).contains("/r/libx.so.1"))
        Self.program(tree, "/usr/bin/runpath", ["libx.so.1"], runpath: "/n")
        #expect(Self.canonical(try Self.closure(tree, "/usr/bin/runpath", env: env)).contains("/l/libx.so.1"))
        #expect(Self.canonical(try Self.closure(tree, "/usr/bin/runpath")).contains("/n/libx.so.1"))
        // With both, DT_RPATH is ignored.
        Self.program(tree, "/usr/bin/both", ["libx.so.1"], rpath: "/r", runpath: "/n")
        #expect(Self.canonical(try Self.closure(tree, "/usr/bin/both")).contains("/n/libx.so.1"))
    }

    @Test func rpathIsInheritedUnlessTheLoaderHasRunpath() throws {
        let tree = Self.image()
        defer { tree.remove() }
        Self.threeCopies(tree)
        tree.write("\(Self.libdir)/libplain.so", Self.elf(["libx.so.1"]))
        tree.write("\(Self.libdir)/librun.so", Self.elf(["libx.so.1"], runpath: "/n"))
        Self.program(tree, "/usr/bin/inherit", ["libplain.so"], rpath: "/r")
        let inherited = try Self.closure(tree, "/usr/bin/inherit")
        #expect(Self.canonical(inherited).contains("/r/libx.so.1"))
        #expect(inherited.notes.contains("libx.so.1 (needed by /lib/x86_64-linux-gnu/libplain.so): found via DT_RPATH of /usr/bin/inherit: /r/libx.so.1"))
        Self.program(tree, "/usr/bin/cut", ["librun.so"], rpath: "/r")
        #expect(Self.canonical(try Self.closure(tree, "/usr/bin/cut")).contains("/n/libx.so.1"))
    }

    @Test func ldSoCacheAndItsVariants() throws {
        let tree = Self.image()
        defer { tree.remove() }
        Self.program(tree, "/usr/bin/app", ["libcached.so.1", "libgone.so.1", "libc.so.6"])
        tree.write("/opt/cached/libcached.so.1", Self.elf([]))
        tree.write("/opt/cached/glibc-hwcaps/x86-64-v3/libcached.so.1", Self.elf([]))
        tree.write("/opt/cached32/libcached.so.1", Self.elf([], is64: false))
        tree.write("\(Self.libdir)/libgone.so.1", Self.elf([]))
        tree.write("/etc/ld.so.cache", LdCacheBuilder.new([
            .init(soname: "libcached.so.1", path: "/opt/cached32/libcached.so.1", flags: 0x0003),  // i386: ignored
            .init(soname: "libcached.so.1", path: "/opt/cached/glibc-hwcaps/x86-64-v3/libcached.so.1", hwcap: 1 << 62 | 2),
            .init(soname: "libcached.so.1", path: "/opt/cached/libcached.so.1"),
            .init(soname: "libgone.so.1", path: "/opt/gone/libgone.so.1"),  // stale entry
            .init(soname: "libc.so.6", path: "/lib/x86_64-linux-gnu/libc.so.6"),
        ]), mode: 0o644)
        let closure = try Self.closure(tree, "/usr/bin/app")
        #expect(Self.canonical(closure) == [
            "/usr/bin/app", "\(Self.libdir)/ld-linux-x86-64.so.2", "/opt/cached/libcached.so.1",
            "/opt/cached/glibc-hwcaps/x86-64-v3/libcached.so.1", "\(Self.libdir)/libgone.so.1",
            "\(Self.libdir)/libc.so.6", "/etc/ld.so.cache",
        ])
        #expect(closure.notes.contains("libcached.so.1 (needed by /usr/bin/app): found via ld.so.cache: /opt/cached/libcached.so.1"))
        #expect(closure.notes.contains("libgone.so.1: ld.so.cache names /opt/gone/libgone.so.1, which is missing or unusable in the image"))
        #expect(closure.notes.contains("libgone.so.1 (needed by /usr/bin/app): found via default directory /lib/x86_64-linux-gnu: /lib/x86_64-linux-gnu/libgone.so.1"))
        #expect(closure.files.last?.requested == "/etc/ld.so.cache")
    }

    @Test func otherClassIsSkippedButNonELFStopsTheLoader() throws {
        let tree = Self.image()
        defer { tree.remove() }
        Self.program(tree, "/usr/bin/app", ["libm.so.6"])
        tree.write("/l/libm.so.6", Self.elf([], is64: false))
        tree.write("/usr/lib/libm.so.6", Self.elf([], is64: true))
        let closure = try Self.closure(tree, "/usr/bin/app", env: ["LD_LIBRARY_PATH=/l"])
        #expect(Self.canonical(closure).contains("/usr/lib/libm.so.6"))
        #expect(closure.notes.contains { $0.hasPrefix("/l/libm.so.6: skipped, ELF32 machine 3") })

        tree.write("/t/libm.so.6", "/* GNU ld script */\nGROUP ( libm.so.6 )\n")
        #expect {
            try Self.closure(tree, "/usr/bin/app", env: ["LD_LIBRARY_PATH=/t"])
        } throws: { error in
            (error as! VoidError).description == "library /t/libm.so.6: invalid ELF header (the loader stops here)"
        }
    }

    @Test func ldSoConfIsUsedOnlyWithoutACache() throws {
        let tree = Self.image()
        defer { tree.remove() }
        tree.write("/etc/ld.so.conf", "# comment\ninclude ld.so.conf.d/*.conf\n  /opt/first/ \nhwcap 0 nosegneg\n")
        tree.write("/etc/ld.so.conf.d/a.conf", "/opt/conf/lib/\n/lib/x86_64-linux-gnu\n")
        tree.write("/etc/ld.so.conf.d/b.conf", "include /etc/more.conf\n")
        tree.write("/etc/ld.so.conf.d/.hidden.conf", "/opt/hidden\n")
        tree.write("/etc/ld.so.conf.d/README", "/opt/readme\n")
        tree.write("/etc/more.conf", "/opt/more=libc6\ninclude /etc/ld.so.conf\n")
        let root = try ImageRoot(path: tree.path)
        #expect(LdSoConf.directories(in: root) == ["/opt/conf/lib", "/lib/x86_64-linux-gnu", "/opt/more", "/opt/first"])

        tree.write("/opt/more/libmore.so.1", Self.elf([]))
        Self.program(tree, "/usr/bin/app", ["libmore.so.1", "libc.so.6"])
        let closure = try Self.closure(tree, "/usr/bin/app")
        #expect(Self.canonical(closure).contains("/opt/more/libmore.so.1"))
        #expect(closure.ldLibraryPathAdditions == ["/opt/more"])
        #expect(!Self.canonical(closure).contains("/etc/ld.so.cache"))

        tree.write("/etc/ld.so.cache", LdCacheBuilder.new([]), mode: 0o644)
        #expect(throws: VoidError.self) { try Self.closure(tree, "/usr/bin/app") }
    }

    @Test func muslSearchesItsPathFile() throws {
        // Alpine's layout: /lib is a real directory, libc is the loader.
        let tree = ImageTree()
        defer { tree.remove() }
        tree.write("/lib/ld-musl-x86_64.so.1", Self.elf([], soname: "libc.musl-x86_64.so.1"))
        tree.symlink("/lib/libc.musl-x86_64.so.1", to: "ld-musl-x86_64.so.1")
        tree.write("/bin/app", ELFBuilder(interpreter: "/lib/ld-musl-x86_64.so.1",
                                          needed: ["libz.so.1", "libc.musl-x86_64.so.1"]).bytes())
        tree.write("/usr/lib/libz.so.1", Self.elf(["libc.musl-x86_64.so.1"]))
        tree.write("/opt/m/libz.so.1", Self.elf(["libc.musl-x86_64.so.1"]))
        let plain = try Self.closure(tree, "/bin/app")
        #expect(Self.canonical(plain) == ["/bin/app", "/lib/ld-musl-x86_64.so.1", "/usr/lib/libz.so.1"])

        tree.write("/etc/ld-musl-x86_64.path", "/opt/m\n/lib:/usr/lib\n", mode: 0o644)
        let configured = try Self.closure(tree, "/bin/app")
        #expect(Self.canonical(configured) == [
            "/bin/app", "/lib/ld-musl-x86_64.so.1", "/opt/m/libz.so.1", "/etc/ld-musl-x86_64.path",
        ])
    }

    @Test func nodeflibSkipsTheDefaultDirectories() throws {
        let tree = Self.image()
        defer { tree.remove() }
        Self.program(tree, "/usr/bin/app", ["libc.so.6"], flags1: 0x800)
        #expect(throws: VoidError.self) { try Self.closure(tree, "/usr/bin/app") }
    }

    @Test func libAndPlatformTokens() throws {
        let tree = Self.image()
        defer { tree.remove() }
        tree.write("/opt/lib/x86_64-linux-gnu/x86_64/libp.so", Self.elf([]))
        Self.program(tree, "/usr/bin/app", ["libp.so"], runpath: "/opt/$LIB/${PLATFORM}:/x/$FOO/${BAR}")
        let closure = try Self.closure(tree, "/usr/bin/app")
        #expect(Self.canonical(closure).contains("/opt/lib/x86_64-linux-gnu/x86_64/libp.so"))
        let search = LibrarySearch(resolver: ImageResolver(root: try ImageRoot(path: tree.path), env: []), cwd: "/")
        let object = LibrarySearch.Object(resolved: closure.executable, info: ELFInfo(
            is64: true, machine: 62, interpreter: nil, needed: [], rpath: [], runpath: [], soname: nil,
            noDefaultLib: false, hasRunpath: false), loader: nil, origin: "/o")
        #expect(search.expand("/x/$FOO/${BAR}/$ORIGINAL/$ORIGIN", for: object, flavor: .glibc).text
            == "/x/$FOO/${BAR}/$ORIGINAL//o")
    }

    @Test func oneFileUnderTwoNamesIsBoundOnceWithBothLinks() throws {
        let tree = Self.image()
        defer { tree.remove() }
        tree.write("\(Self.libdir)/libq.so.1.2.3", Self.elf([], soname: "libq.so.1"))
        tree.symlink("\(Self.libdir)/libq.so.1", to: "libq.so.1.2.3")
        tree.symlink("\(Self.libdir)/libq.so", to: "libq.so.1")
        tree.write("\(Self.libdir)/libr.so.1", Self.elf(["libq.so.1"]))
        Self.program(tree, "/usr/bin/app", ["libq.so", "libr.so.1"])
        let closure = try Self.closure(tree, "/usr/bin/app")
        #expect(Self.canonical(closure).filter { $0.contains("libq") } == ["\(Self.libdir)/libq.so.1.2.3"])
        // libr's "libq.so.1" is libq's soname: already loaded, not searched again.
        #expect(!closure.notes.contains { $0.hasPrefix("libq.so.1 (") })
        #expect(closure.symlinks.contains(ImageSymlink(path: "\(Self.libdir)/libq.so", target: "libq.so.1")))
        #expect(closure.symlinks.contains(ImageSymlink(path: "\(Self.libdir)/libq.so.1", target: "libq.so.1.2.3")))
    }

    @Test func preloadIsBoundAndAMissingOneIsOnlyNoted() throws {
        let tree = Self.image()
        defer { tree.remove() }
        tree.write("/opt/pre/libpre.so", Self.elf([]))
        Self.program(tree, "/usr/bin/app", ["libc.so.6"])
        let closure = try Self.closure(tree, "/usr/bin/app", env: ["LD_PRELOAD=/opt/pre/libpre.so libnope.so"])
        #expect(Self.canonical(closure)[2] == "/opt/pre/libpre.so")
        #expect(closure.notes.contains { $0.hasPrefix("LD_PRELOAD libnope.so: library libnope.so needed by /usr/bin/app: not found") })
    }

    @Test func missingInterpreter() throws {
        let tree = ImageTree()
        defer { tree.remove() }
        tree.write("/app", Self.elf(["libc.so.6"], interpreter: "/lib64/ld-linux-x86-64.so.2"))
        #expect {
            try Self.closure(tree, "/app")
        } throws: { error in
            (error as! VoidError).description
                == "exec: ELF interpreter /lib64/ld-linux-x86-64.so.2 of /app: no such file or directory"
        }
    }
}
