#if canImport(Glibc)
import Glibc
#endif

/// Where the image's dynamic loader looks for a `DT_NEEDED` name, in its order. glibc's rules are
/// from elf/dl-load.c (`_dl_map_object`), musl's from ldso/dynlink.c (`load_library`).
final class LibrarySearch {
    let resolver: ImageResolver
    let cwd: String
    /// Decisions made while searching (skipped files, stale cache entries), taken by the caller.
    private var notes: [String] = []
    var root: ImageRoot { resolver.root }

    func takeNotes() -> [String] {
        defer { notes = [] }
        return notes
    }

    init(resolver: ImageResolver, cwd: String) {
        self.resolver = resolver
        self.cwd = cwd
    }

    /// An object the loader has mapped; `loader` is the one whose DT_NEEDED brought it in.
    struct Object {
        var resolved: ResolvedPath
        var info: ELFInfo
        var loader: Int?
        /// What `$ORIGIN` expands to: for the executable the directory of its canonical path (the
        /// loader reads /proc/self/exe), for a library the directory of the path it was opened by.
        var origin: String
    }

    struct Candidate {
        var resolved: ResolvedPath
        var info: ELFInfo
    }

    struct Found {
        var location: ImageRoot.Location
        var info: ELFInfo
        var via: String
        var fromExecutableOrigin = false
        /// Set when found through /etc/ld.so.conf, which the loader in the void will not read.
        var unsearchedDirectory: String?
        /// ld.so.cache's other builds of the same library (glibc-hwcaps), which the loader prefers
        /// on CPUs that support them.
        var variants: [Candidate] = []
    }

    enum Flavor: Equatable {
        case glibc
        /// musl: its loader is libc itself; `pathFile` is `<prefix>/etc/ld-musl-ARCH.path`.
        case musl(pathFile: String)

        init(interpreter: String) {
            if let file = LdSoConf.muslPathFile(interpreter: interpreter) { self = .musl(pathFile: file) } else { self = .glibc }
        }

        /// musl answers `libc.*`, `libpthread.*`, `librt.*`, `libm.*`, `libdl.*`, `libutil.*` and
        /// `libxnet.*` with itself, without searching.
        func isMuslReserved(_ name: String) -> Bool {
            guard case .musl = self, name.hasPrefix("lib") else { return false }
            let rest = name.dropFirst(3)
            return ["c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet."].contains { rest.hasPrefix($0) }
        }
    }

    /// LD_PRELOAD is split on spaces and colons (glibc and musl alike).
    static func splitPreload(_ value: String) -> [String] {
        value.split(whereSeparator: { $0 == " " || $0 == ":" }).map(String.init)
    }

    // MARK: The loader's configuration

    private var cacheLoaded = false
    private var cacheFile: ResolvedPath?
    private var cache: LdCache?
    private lazy var confDirectories: [String] = LdSoConf.directories(in: root)
    private var muslPath: [String: [String]] = [:]
    private var muslPathFiles: [String: ResolvedPath] = [:]

    /// The file the loader reads at start-up and that must therefore be bound too.
    func configFile(_ flavor: Flavor) -> ResolvedPath? {
        switch flavor {
        case .glibc:
            loadCache()
            return cacheFile
        case .musl(let file):
            _ = muslSystemPath(file)
            return muslPathFiles[file]
        }
    }

    private func loadCache() {
        guard !cacheLoaded else { return }
        cacheLoaded = true
        guard let loc = try? root.locate("/etc/ld.so.cache"), loc.resolved.kind == .regular else { return }
        cacheFile = loc.resolved
        cache = (try? root.readFile(loc, limit: 64 << 20)).flatMap(LdCache.parse)
        if cache == nil { notes.append("/etc/ld.so.cache: not a cache the loader can read; ignored, as the loader does") }
    }

    private func muslSystemPath(_ file: String) -> [String] {
        if let known = muslPath[file] { return known }
        var dirs = LdSoConf.muslDefaultPath
        if let loc = try? root.locate(file), loc.resolved.kind == .regular,
           let bytes = try? root.readFile(loc, limit: 1 << 20) {
            let text = String(decoding: bytes, as: UTF8.self)
            dirs = text.split(whereSeparator: { $0 == ":" || $0 == "\n" }).map(String.init)
            muslPathFiles[file] = loc.resolved
        }
        muslPath[file] = dirs
        return dirs
    }

    // MARK: Searching

    /// Directories considered so far in this closure, against `lookupBudget`.
    private var lookups = 0
    /// The image sets the cost of a search: each DT_NEEDED is looked for in every RPATH,
    /// RUNPATH and LD_LIBRARY_PATH entry, so 60,000 names against a 16 MiB string table of
    /// "/x:" entries would keep `create` busy for hours. A real program needs a few thousand
    /// lookups (a hundred libraries × a few dozen directories); 200,000 is far past that.
    static let lookupBudget = 200_000

    private func spend(_ n: Int, for name: String) throws {
        lookups += n
        guard lookups <= Self.lookupBudget else {
            throw VoidError.image("library search for \(name): more than \(Self.lookupBudget) directory lookups in one closure (an RPATH or DT_NEEDED list no loader could finish): \(errnoText(ELOOP))",
                             errno: ELOOP)
        }
    }

    /// The directories a loader searches for a library `objects[loader]` needs, in its order,
    /// with why each is searched and whether it came from the executable's $ORIGIN.
    func searchDirectories(loader: Int, objects: [Object], flavor: Flavor) -> [(dir: String, via: String, exeOrigin: Bool)] {
        let l = objects[loader]
        var dirs: [(dir: String, via: String, exeOrigin: Bool)] = []
        func append(_ entries: [String], of index: Int, via: String) {
            for entry in entries {
                let expanded = expand(entry, for: objects[index], flavor: flavor)
                dirs.append((expanded.text, via, index == 0 && expanded.usedOrigin))
            }
        }
        let libraryPath = resolver.value("LD_LIBRARY_PATH") ?? ""
        switch flavor {
        case .glibc:
            // DT_RPATH of the loading object, then of the object that loaded it, up to the
            // executable; skipped entirely when the loading object has DT_RUNPATH, and each
            // object's own RPATH is ignored when it has a RUNPATH.
            if !l.info.hasRunpath {
                var next: Int? = loader
                while let index = next {
                    if !objects[index].info.hasRunpath {
                        append(objects[index].info.rpath, of: index, via: "DT_RPATH of \(objects[index].resolved.requested)")
                    }
                    next = objects[index].loader
                }
            }
            append(libraryPath.split(whereSeparator: { $0 == ":" || $0 == ";" }).map(String.init), of: 0,
                   via: "LD_LIBRARY_PATH")
            append(l.info.runpath, of: loader, via: "DT_RUNPATH of \(l.resolved.requested)")
        case .musl:
            // musl: LD_LIBRARY_PATH first, then RUNPATH (or else RPATH) of the loading object and
            // each object up the chain.
            append(libraryPath.split(whereSeparator: { $0 == ":" || $0 == "\n" }).map(String.init), of: 0,
                   via: "LD_LIBRARY_PATH")
            var next: Int? = loader
            while let index = next {
                let info = objects[index].info
                append(info.hasRunpath ? info.runpath : info.rpath, of: index,
                       via: "\(info.hasRunpath ? "DT_RUNPATH" : "DT_RPATH") of \(objects[index].resolved.requested)")
                next = objects[index].loader
            }
        }
        return dirs
    }

    func find(_ name: String, loader: Int, objects: [Object], flavor: Flavor) throws -> Found {
        let l = objects[loader]
        let main = objects[0]
        let notFound = VoidError.image(
            "library \(name) needed by \(l.resolved.requested): not found in the image: no such file or directory",
            errno: ENOENT)
        if name.contains("/") {
            // A name with a slash is a path (relative to the cwd), not searched for.
            let path = expand(name, for: l, flavor: flavor).text
            guard let found = try probe(path: path, main: main, flavor: flavor) else { throw notFound }
            return Found(location: found.0, info: found.1, via: "its path")
        }
        let dirs = searchDirectories(loader: loader, objects: objects, flavor: flavor)
        try spend(dirs.count, for: name)
        for entry in dirs {
            if let found = try probe(name, in: entry.dir, main: main, flavor: flavor) {
                return Found(location: found.0, info: found.1, via: entry.via, fromExecutableOrigin: entry.exeOrigin)
            }
        }

        let defaults: [String]
        switch flavor {
        case .musl(let file):
            defaults = muslSystemPath(file)
        case .glibc:
            let system = Self.defaultDirectories(machine: main.info.machine, is64: main.info.is64)
            // DF_1_NODEFLIB: no default directories, and no cache entry that lies in one.
            let noDefaultLib = l.info.noDefaultLib
            loadCache()
            if let cache {
                if let found = try fromCache(cache, name, main: main, skipping: noDefaultLib ? system : []) {
                    return found
                }
            } else if cacheFile == nil {
                for dir in confDirectories where !(noDefaultLib && system.contains(dir)) {
                    if let found = try probe(name, in: dir, main: main, flavor: flavor) {
                        let unsearched = system.contains(dir) ? nil : dir
                        return Found(location: found.0, info: found.1,
                                     via: "/etc/ld.so.conf (the image has no ld.so.cache)", unsearchedDirectory: unsearched)
                    }
                }
            }
            defaults = noDefaultLib ? [] : system
        }
        for dir in defaults {
            if let found = try probe(name, in: dir, main: main, flavor: flavor) {
                return Found(location: found.0, info: found.1, via: "default directory \(dir)")
            }
        }
        throw notFound
    }

    /// glibc takes the first cache entry for the soname built for this ABI and, if that file
    /// cannot be used, goes on to the default directories rather than to the next entry.
    private func fromCache(_ cache: LdCache, _ name: String, main: Object, skipping: [String]) throws -> Found? {
        let expected = LdCache.expectedFlags(machine: main.info.machine, is64: main.info.is64)
        let entries = cache.matches(name).filter { expected == nil || $0.flags == expected }
        guard let chosen = entries.first(where: { $0.hwcap == 0 }) ?? entries.first,
              !skipping.contains(ImagePath.dirname(chosen.path)) else { return nil }
        guard let found = try probe(path: chosen.path, main: main, flavor: .glibc) else {
            notes.append("\(name): ld.so.cache names \(chosen.path), which is missing or unusable in the image")
            return nil
        }
        var result = Found(location: found.0, info: found.1, via: "ld.so.cache")
        for entry in entries where entry.hwcap != 0 && entry.path != chosen.path {
            if let variant = try? probe(path: entry.path, main: main, flavor: .glibc) {
                result.variants.append(Candidate(resolved: variant.0.resolved, info: variant.1))
            }
        }
        return result
    }

    // MARK: Probing one file

    private struct Directory {
        var handle: ImageRoot.Directory
        var links: [ImageSymlink]
    }

    /// Search directories, resolved once each per closure (nil: not a directory in the image).
    private var directories: [String: Directory?] = [:]

    private func directory(_ path: String) -> Directory? {
        if let known = directories[path] { return known }
        var result: Directory?
        if let loc = try? root.locate(path), loc.resolved.kind == .directory, let handle = try? root.openDirectory(loc) {
            result = Directory(handle: handle, links: loc.resolved.symlinks)
        }
        directories[path] = .some(result)
        return result
    }

    private func probe(_ name: String, in dir: String, main: Object, flavor: Flavor) throws -> (ImageRoot.Location, ELFInfo)? {
        let absolute = ImagePath.absolute(dir, cwd: cwd)
        guard let directory = directory(absolute),
              let loc = try? root.walk(name, from: directory.handle, requested: ImagePath.join(absolute, name),
                                       links: directory.links) else { return nil }
        return try accept(loc, main: main, flavor: flavor)
    }

    /// A full path (from ld.so.cache, or a DT_NEEDED with a slash): its directory goes through
    /// the same cache of open directories as the search path, saving a walk per library.
    private func probe(path: String, main: Object, flavor: Flavor) throws -> (ImageRoot.Location, ELFInfo)? {
        let absolute = ImagePath.absolute(path, cwd: cwd)
        let name = ImagePath.basename(absolute)
        guard !absolute.hasSuffix("/"), name != ".", name != ".." else { return nil }
        return try probe(name, in: ImagePath.dirname(absolute), main: main, flavor: flavor)
    }

    /// glibc's open_verify: a file of the other ELF class or another machine is passed over (a
    /// 32-bit library in a shared directory), but a file that is not ELF at all stops the loader
    /// ("invalid ELF header"). musl takes the first file it can open, whatever it is.
    private func accept(_ loc: ImageRoot.Location, main: Object, flavor: Flavor) throws -> (ImageRoot.Location, ELFInfo)? {
        guard loc.resolved.kind == .regular else { return nil }
        let path = loc.resolved.requested
        guard let info = try readELF(loc) else {
            throw VoidError.image("library \(path): invalid ELF header (the loader stops here)", errno: ELIBBAD)
        }
        guard info.is64 == main.info.is64, info.machine == main.info.machine else {
            if case .musl = flavor {
                throw VoidError.image("library \(path): built for another ELF class or machine (musl's loader stops here)",
                                 errno: ELIBBAD)
            }
            notes.append("\(path): skipped, ELF\(info.is64 ? 64 : 32) machine \(info.machine) does not match "
                + "\(main.resolved.requested) (ELF\(main.info.is64 ? 64 : 32) machine \(main.info.machine))")
            return nil
        }
        return (loc, info)
    }

    /// Reads the ELF headers of a file reached by a walk; nil if it is not ELF. A file we cannot
    /// open is treated as absent, as the loader's failed open() is.
    func readELF(_ loc: ImageRoot.Location) throws -> ELFInfo? {
        guard let fd = try? root.openRegular(loc) else { return nil }
        defer { close(fd) }
        do {
            return try ELFInfo.read(fd: fd)
        } catch let error as VoidError {
            throw VoidError.image("\(loc.resolved.requested): \(error.description)", errno: error.errno)
        }
    }
}
