#if canImport(Glibc)
import Glibc
#endif

/// A symlink met while resolving a path inside the image.
public struct ImageSymlink: Hashable, Sendable {
    /// Absolute path of the link itself; its parent directory is canonical (symlink-free).
    public var path: String
    /// `readlink` text, verbatim (relative targets are relative to the link's parent).
    public var target: String

    public init(path: String, target: String) {
        self.path = path
        self.target = target
    }
}

/// A path resolved inside the image as if `root.path` were "/".
public struct ResolvedPath: Hashable, Sendable {
    public var requested: String
    public var canonical: String
    public var symlinks: [ImageSymlink]
    public var kind: Kind
    public var mode: UInt32

    public enum Kind: Sendable { case regular, directory, other }

    public init(requested: String, canonical: String, symlinks: [ImageSymlink], kind: Kind, mode: UInt32) {
        self.requested = requested
        self.canonical = canonical
        self.symlinks = symlinks
        self.kind = kind
        self.mode = mode
    }

    public var isExecutable: Bool { kind == .regular && mode & 0o111 != 0 }
}

/// The image rootfs, opened once as an `O_PATH|O_DIRECTORY` fd. Every lookup walks from that fd one
/// component at a time, so neither a symlink nor ".." in the image can lead outside it: the same
/// rule as `openat2(RESOLVE_IN_ROOT)`, done by hand because we must also record each link.
public final class ImageRoot: Sendable {
    public let path: String
    /// Valid while this object lives (closed when the last reference to it, and to directories
    /// opened under it, goes away).
    public let fd: Int32
    /// The root as a `Directory`; it owns `fd`, which closes when the last user lets go.
    let top: Directory

    /// Linux's generic value of `O_PATH` (not exported by Swift's Glibc module).
    static let oPath: Int32 = 0o10000000
    /// The kernel's limit for following symlinks in one lookup (MAXSYMLINKS).
    static let maxSymlinks = 40

    public init(path: String) throws {
        let fd = open(path, ImageRoot.oPath | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw VoidError.imageSys("root.path \(path)", errno) }
        self.path = path
        self.fd = fd
        self.top = Directory(fd: fd, path: "/", parent: nil)
    }

    /// A directory inside the image held open with `O_PATH`. The chain of parents is how ".." is
    /// answered: we never ask the kernel for "..", so the root's parent is the root.
    final class Directory: Sendable {
        let fd: Int32
        let path: String
        let parent: Directory?

        init(fd: Int32, path: String, parent: Directory?) {
            self.fd = fd
            self.path = path
            self.parent = parent
        }

        deinit { close(fd) }

        func child(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }
    }

    /// Where a resolution ended: the final entry is `name` in `parent` (nil name: the root).
    struct Location {
        var resolved: ResolvedPath
        var parent: Directory
        var name: String?
    }

    public func resolve(_ path: String, cwd: String = "/") throws -> ResolvedPath {
        try locate(path, cwd: cwd).resolved
    }

    public func exists(_ path: String) -> Bool {
        (try? locate(path, cwd: "/")) != nil
    }

    func locate(_ path: String, cwd: String = "/") throws -> Location {
        try walk(ImagePath.absolute(path, cwd: cwd), from: top, requested: path)
    }

    /// Resolves `path` starting at `start` (absolute paths and absolute link targets restart at the
    /// root). `links` are the links already met on the way to `start`, counted against the limit.
    func walk(_ path: String, from start: Directory, requested: String,
              links: [ImageSymlink] = []) throws -> Location {
        var dir = path.hasPrefix("/") ? top : start
        var pending = ImageRoot.components(path).reversed() as [String]
        var links = links
        while let name = pending.popLast() {
            if name == "." { continue }
            if name == ".." { dir = dir.parent ?? dir; continue }
            var st = stat()
            guard fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw VoidError.imageSys(requested, errno)
            }
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                guard links.count < ImageRoot.maxSymlinks else { throw VoidError.imageSys(requested, ELOOP) }
                let target = try readLink(dir, name, requested: requested)
                // An empty target names nothing (the kernel answers ENOENT).
                if target.isEmpty { throw VoidError.imageSys(requested, ENOENT) }
                links.append(ImageSymlink(path: dir.child(name), target: target))
                if target.hasPrefix("/") { dir = top }
                pending.append(contentsOf: ImageRoot.components(target).reversed())
            case S_IFDIR where !pending.isEmpty:
                // O_NOFOLLOW|O_DIRECTORY: if the entry was swapped for a symlink since the fstatat,
                // the open fails instead of following it.
                let fd = openat(dir.fd, name, ImageRoot.oPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { throw VoidError.imageSys(requested, errno) }
                dir = Directory(fd: fd, path: dir.child(name), parent: dir)
            default:
                if !pending.isEmpty { throw VoidError.imageSys(requested, ENOTDIR) }
                return Location(
                    resolved: ResolvedPath(requested: requested, canonical: dir.child(name), symlinks: links,
                                           kind: ImageRoot.kind(st.st_mode), mode: st.st_mode),
                    parent: dir, name: name)
            }
        }
        // The walk ended on a directory we hold open (the root, or a path ending in "." or "..").
        var st = stat()
        guard fstat(dir.fd, &st) == 0 else { throw VoidError.imageSys(requested, errno) }
        let resolved = ResolvedPath(requested: requested, canonical: dir.path, symlinks: links,
                                    kind: .directory, mode: st.st_mode)
        return Location(resolved: resolved, parent: dir, name: nil)
    }

    /// An `O_PATH|O_NOFOLLOW` fd (close-on-exec; the caller closes it) for a canonical path of
    /// the image, such as `ResolvedPath.canonical`: the source to bind from
    /// (`open_tree(fd, "", AT_EMPTY_PATH|OPEN_TREE_CLONE)`, or `/proc/self/fd/N`), so the mount
    /// uses the very file that was resolved. A symlink anywhere on the way means the image changed
    /// since it was resolved, and is refused (ELOOP) rather than followed.
    public func openCanonical(_ canonical: String) throws -> Int32 {
        let loc = try walk(canonical, from: top, requested: canonical)
        guard loc.resolved.symlinks.isEmpty, loc.resolved.canonical == canonical else {
            throw VoidError.image("\(canonical): not a canonical path in the image (a symlink is on the way): "
                + errnoText(ELOOP), errno: ELOOP)
        }
        let fd = openat(loc.parent.fd, loc.name ?? ".", ImageRoot.oPath | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw VoidError.imageSys(canonical, errno) }
        var st = stat()
        guard fstat(fd, &st) == 0, ImageRoot.kind(st.st_mode) == loc.resolved.kind else {
            close(fd)
            throw VoidError.image("\(canonical): changed while being opened", errno: EAGAIN)
        }
        return fd
    }

    /// Opens a directory that `walk` reached, to search names in it without walking it again.
    func openDirectory(_ loc: Location) throws -> Directory {
        guard let name = loc.name else { return loc.parent }
        guard loc.resolved.kind == .directory else {
            throw VoidError.imageSys(loc.resolved.requested, ENOTDIR)
        }
        let fd = openat(loc.parent.fd, name, ImageRoot.oPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw VoidError.imageSys(loc.resolved.requested, errno) }
        return Directory(fd: fd, path: loc.resolved.canonical, parent: loc.parent)
    }

    /// Opens a regular file that `walk` reached, for reading. O_NOFOLLOW refuses an entry swapped
    /// for a symlink since; O_NONBLOCK keeps a swapped-in FIFO from blocking us; the fstat checks
    /// that what we opened is still a regular file.
    func openRegular(_ loc: Location) throws -> Int32 {
        guard let name = loc.name, loc.resolved.kind == .regular else {
            throw VoidError.image("\(loc.resolved.requested): not a regular file", errno: EACCES)
        }
        let fd = openat(loc.parent.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { throw VoidError.imageSys(loc.resolved.requested, errno) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw VoidError.image("\(loc.resolved.requested): changed while being read", errno: EAGAIN)
        }
        return fd
    }

    /// Reads a small regular file of the image (ld.so.conf and the like), at most `limit` bytes.
    func readFile(_ path: String, limit: Int = 1 << 20) throws -> [UInt8] {
        try readFile(locate(path), limit: limit)
    }

    func readFile(_ loc: Location, limit: Int) throws -> [UInt8] {
        let fd = try openRegular(loc)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw VoidError.imageSys(loc.resolved.requested, errno) }
        return try ImageRoot.pread(fd, offset: 0, count: min(Int(st.st_size), limit))
    }

    /// Names in a directory of the image (at most `limit`), or none when it is not one.
    public func listDirectory(_ path: String, limit: Int = 4096) -> [String] {
        guard let loc = try? locate(path), loc.resolved.kind == .directory,
              let dir = try? openDirectory(loc), let names = try? list(dir, limit: limit) else { return [] }
        return names
    }

    /// Names in a directory of the image, for ld.so.conf's `include` globs.
    func list(_ dir: Directory, limit: Int = Int.max) throws -> [String] {
        let fd = openat(dir.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0, let stream = fdopendir(fd) else {
            let code = errno
            if fd >= 0 { close(fd) }
            throw VoidError.imageSys(dir.path, code)
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
            if names.count >= limit { break }
        }
        return names
    }

    private func readLink(_ dir: Directory, _ name: String, requested: String) throws -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(dir.fd, name, &buf, buf.count - 1)
        guard n >= 0 else { throw VoidError.imageSys(requested, errno) }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Path components; a trailing "/" becomes "." so that, as in the kernel, the last name must
    /// then be a directory.
    static func components(_ path: String) -> [String] {
        var parts = path.split(separator: "/").map(String.init)
        if path.hasSuffix("/") && !parts.isEmpty { parts.append(".") }
        return parts
    }

    static func kind(_ mode: mode_t) -> ResolvedPath.Kind {
        switch mode & S_IFMT {
        case S_IFREG: .regular
        case S_IFDIR: .directory
        default: .other
        }
    }

    /// `pread` until `count` bytes or end of file, retrying EINTR.
    static func pread(_ fd: Int32, offset: Int, count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes {
                Glibc.pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done))
            }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw VoidError.imageSys("read", errno) }
            if n == 0 { break }
            done += n
        }
        out.removeLast(count - done)
        return out
    }
}
