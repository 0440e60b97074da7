#if canImport(Glibc)
import Glibc
#endif

/// One closure computation: walks `#!` interpreters, then each ELF program's interpreter and
/// libraries breadth-first, as glibc's `_dl_map_object_deps` does (or musl's `load_deps`).
final class ClosureBuilder {
    let resolver: ImageResolver
    let cwd: String
    private(set) var files: [ResolvedPath] = []
    private(set) var symlinks: [ImageSymlink] = []
    private(set) var notes: [String] = []
    private(set) var usesExecutableOrigin = false
    private(set) var ldLibraryPathAdditions: [String] = []
    private var canonicals: Set<String> = []
    private var linkPaths: Set<String> = []
    /// Loader configuration files, bound after every program and library.
    private var configFiles: [ResolvedPath] = []
    let search: LibrarySearch

    var root: ImageRoot { resolver.root }

    init(resolver: ImageResolver, cwd: String) {
        self.resolver = resolver
        self.cwd = cwd
        search = LibrarySearch(resolver: resolver, cwd: cwd)
    }

    func run(_ executable: ResolvedPath) throws {
        // Re-walk the canonical path to get an fd-relative location; it must still be symlink-free.
        let loc = try root.locate(executable.canonical)
        guard loc.resolved.symlinks.isEmpty, loc.resolved.canonical == executable.canonical else {
            throw VoidError.image("\(executable.requested): changed while being resolved", errno: EAGAIN)
        }
        var program = loc
        program.resolved = executable
        add(executable)
        try run(program, depth: 0)
        for file in configFiles { add(file) }
    }

    /// Records a file to bind and every link on its way; a file met twice is bound once, but the
    /// links of both paths are kept so both paths work in the void.
    func add(_ file: ResolvedPath) {
        for link in file.symlinks where linkPaths.insert(link.path).inserted { symlinks.append(link) }
        if canonicals.insert(file.canonical).inserted { files.append(file) }
    }

    private func run(_ program: ImageRoot.Location, depth: Int) throws {
        let name = program.resolved.requested
        switch try inspect(program) {
        case .elf(let info):
            try elfProgram(program, info)
        case .script(let interpreter, let argument):
            // The kernel's binfmt_script gives up after a few nested interpreters (ELOOP).
            guard depth < 4 else {
                throw VoidError.image("\(name): too many levels of #! interpreters: \(errnoText(ELOOP))",
                                 errno: ELOOP)
            }
            let next = try executableFile(interpreter, role: "#! interpreter", of: name, needsExecuteBit: true)
            add(next.resolved)
            notes.append("\(name): #! interpreter \(interpreter)")
            try run(next, depth: depth + 1)
            // "#!/usr/bin/env NAME" runs NAME from PATH: bind it too, or the script cannot start.
            if ImagePath.basename(interpreter) == "env", let argument, let target = Self.envProgram(argument) {
                do {
                    let found = try resolver.findExecutable(target, cwd: cwd)
                    notes.append("\(name): runs `\(target)` through env, found at \(found.requested)")
                    add(found)
                    var loc = try root.locate(found.canonical)
                    loc.resolved = found
                    try run(loc, depth: depth + 1)
                } catch let error as VoidError {
                    notes.append("\(name): runs `\(target)` through env, which will fail: \(error)")
                }
            }
        case .unknown:
            notes.append("\(name): neither ELF nor a #! script: execve will fail with ENOEXEC")
        }
    }

    /// The program named by `#!/usr/bin/env [-S] [VAR=value...] NAME ...`.
    static func envProgram(_ argument: String) -> String? {
        argument.split(whereSeparator: { $0 == " " || $0 == "\t" })
            .first { !$0.hasPrefix("-") && !$0.contains("=") }.map(String.init)
    }

    /// A file the kernel opens for execution: a `#!` or ELF interpreter, relative to the cwd.
    private func executableFile(_ path: String, role: String, of program: String,
                                needsExecuteBit: Bool) throws -> ImageRoot.Location {
        let loc: ImageRoot.Location
        do {
            loc = try root.locate(path, cwd: cwd)
        } catch let error as VoidError {
            let code = error.errno ?? ENOENT
            throw VoidError.image("exec: \(role) \(path) of \(program): \(errnoText(code))", errno: code)
        }
        if needsExecuteBit, let problem = ImageResolver.problem(loc.resolved) {
            throw VoidError.image("exec: \(role) \(path) of \(program): \(problem)", errno: EACCES)
        }
        guard loc.resolved.kind == .regular else {
            throw VoidError.image("exec: \(role) \(path) of \(program): not a regular file: permission denied",
                             errno: EACCES)
        }
        return loc
    }

    private func inspect(_ loc: ImageRoot.Location) throws -> ProgramKind {
        let fd = try root.openRegular(loc)
        defer { close(fd) }
        let head = try ImageRoot.pread(fd, offset: 0, count: 4096)
        if let shebang = ProgramKind.shebang(head) {
            return .script(interpreter: shebang.interpreter, argument: shebang.argument)
        }
        do {
            if let info = try ELFInfo.read(fd: fd, head: head) { return .elf(info) }
        } catch let error as VoidError {
            throw VoidError.image("\(loc.resolved.requested): \(error.description)", errno: error.errno)
        }
        return .unknown
    }

    private func elfProgram(_ program: ImageRoot.Location, _ info: ELFInfo) throws {
        let name = program.resolved.requested
        guard let interpreter = info.interpreter else {
            notes.append(info.needed.isEmpty
                ? "\(name): statically linked"
                : "\(name): has DT_NEEDED but no PT_INTERP: the kernel starts it without a loader")
            return
        }
        let interp = try executableFile(interpreter, role: "ELF interpreter", of: name, needsExecuteBit: false)
        guard let interpInfo = try search.readELF(interp) else {
            throw VoidError.image("exec: ELF interpreter \(interpreter) of \(name): not an ELF file", errno: ELIBBAD)
        }
        add(interp.resolved)
        let flavor = LibrarySearch.Flavor(interpreter: interpreter)
        if let config = search.configFile(flavor), !configFiles.contains(config) { configFiles.append(config) }
        notes += search.takeNotes()

        // glibc (rtld.c) knows the interpreter by its PT_INTERP path and its DT_SONAME, so libc's
        // "ld-linux-x86-64.so.2" is satisfied by the already-loaded interpreter.
        var objects = [
            LibrarySearch.Object(resolved: program.resolved, info: info, loader: nil,
                                 origin: ImagePath.dirname(program.resolved.canonical)),
            LibrarySearch.Object(resolved: interp.resolved, info: interpInfo, loader: nil,
                                 origin: ImagePath.dirname(ImagePath.absolute(interpreter, cwd: cwd))),
        ]
        var names: [String: Int] = [interpreter: 1]
        if let soname = interpInfo.soname { names[soname] = 1 }

        func load(_ library: String, neededBy loader: Int) throws {
            if flavor.isMuslReserved(library) {
                names[library] = 1
                return
            }
            let found: LibrarySearch.Found
            do {
                defer { notes += search.takeNotes() }
                found = try search.find(library, loader: loader, objects: objects, flavor: flavor)
            }
            let by = objects[loader].resolved.requested
            notes.append("\(library) (needed by \(by)): found via \(found.via): \(found.location.resolved.requested)")
            if found.fromExecutableOrigin {
                usesExecutableOrigin = true
                notes.append("\(library): $ORIGIN of the executable is read from /proc/self/exe by the loader")
            }
            if let dir = found.unsearchedDirectory, !ldLibraryPathAdditions.contains(dir) {
                ldLibraryPathAdditions.append(dir)
            }
            add(found.location.resolved)
            if let same = objects.firstIndex(where: { $0.resolved.canonical == found.location.resolved.canonical }) {
                names[library] = same  // the loader matches files by device and inode too
                return
            }
            objects.append(LibrarySearch.Object(
                resolved: found.location.resolved, info: found.info, loader: loader,
                origin: ImagePath.dirname(found.location.resolved.requested)))
            names[library] = objects.count - 1
            if let soname = found.info.soname, names[soname] == nil { names[soname] = objects.count - 1 }
            for variant in found.variants where !canonicals.contains(variant.resolved.canonical) {
                notes.append("\(library): also binding \(variant.resolved.requested), which ld.so.cache offers on some CPUs")
                add(variant.resolved)
                objects.append(LibrarySearch.Object(resolved: variant.resolved, info: variant.info, loader: loader,
                                                    origin: ImagePath.dirname(variant.resolved.requested)))
            }
        }

        // LD_PRELOAD objects load before the executable's dependencies; one the loader cannot
        // find is skipped with a warning, not fatal.
        for library in resolver.value("LD_PRELOAD").map(LibrarySearch.splitPreload) ?? [] where names[library] == nil {
            do {
                try load(library, neededBy: 0)
            } catch let error as VoidError {
                notes.append("LD_PRELOAD \(library): \(error); the loader will ignore it")
            }
        }
        var next = 0
        while next < objects.count {
            for library in objects[next].info.needed where names[library] == nil {
                try load(library, neededBy: next)
            }
            next += 1
        }
    }
}
