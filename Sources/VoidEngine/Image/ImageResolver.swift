#if canImport(Glibc)
import Glibc
#endif

/// What must be bound into the void for a program to run.
public struct ProgramClosure: Sendable {
    /// `process.args[0]` resolved; `requested` is the absolute path to `execve` inside the void.
    public var executable: ResolvedPath
    /// Unique by canonical path, in order: the executable, `#!` interpreters and ELF interpreters,
    /// libraries in the loader's breadth-first order, then the loader's configuration file
    /// (`/etc/ld.so.cache`, or musl's `/etc/ld-musl-ARCH.path`) when the image has one.
    public var files: [ResolvedPath]
    /// Every link met while resolving any path the kernel or the loader will open in the void
    /// (including paths whose file is already in `files` under another name), in the order first
    /// met, unique by `path`. Each link's parent directory is canonical (a real directory in the
    /// image), so no link lies on another link's or a file's parent path, and the order does not
    /// matter. To rebuild in an empty root: for each link, create its parent directories and
    /// `symlink(target, path)` with `target` verbatim; for each file, create the parent directories
    /// of `canonical`, an empty file there, and bind the image's file over it. Every `requested`
    /// path (and the ELF interpreter's PT_INTERP path) then resolves in the void as in the image.
    public var symlinks: [ImageSymlink]
    /// One line per decision: how each library was found, what was skipped and why.
    public var notes: [String]
    /// A library was found through `$ORIGIN` in the *executable's* RPATH/RUNPATH. glibc and musl
    /// expand that from `readlink("/proc/self/exe")`: without /proc in the void the loader drops
    /// the directory and will not find the library there.
    public var usesExecutableOrigin: Bool
    /// Directories where libraries were found only through the image's /etc/ld.so.conf (the
    /// image has no ld.so.cache). glibc's loader never reads ld.so.conf, so in the void it will
    /// not look there unless LD_LIBRARY_PATH names them.
    public var ldLibraryPathAdditions: [String]

    public init(executable: ResolvedPath, files: [ResolvedPath], symlinks: [ImageSymlink], notes: [String] = [],
                usesExecutableOrigin: Bool = false, ldLibraryPathAdditions: [String] = []) {
        self.executable = executable
        self.files = files
        self.symlinks = symlinks
        self.notes = notes
        self.usesExecutableOrigin = usesExecutableOrigin
        self.ldLibraryPathAdditions = ldLibraryPathAdditions
    }
}

/// Finds a program and its closure inside an image, the way `execvp`, the kernel and the image's
/// own dynamic loader would, without leaving the image.
public struct ImageResolver: Sendable {
    public let root: ImageRoot
    public let env: [String]

    /// The PATH execvp uses when the environment has none (glibc's and runc's default for
    /// containers).
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    public init(root: ImageRoot, env: [String]) {
        self.root = root
        self.env = env
    }

    /// The value of `name` in `env`; like getenv, the first entry wins.
    func value(_ name: String) -> String? {
        for entry in env where entry.hasPrefix(name + "=") { return String(entry.dropFirst(name.count + 1)) }
        return nil
    }

    public func findExecutable(_ args0: String, cwd: String) throws -> ResolvedPath {
        guard !args0.isEmpty else {
            throw VoidError.image("exec: empty process.args[0]: no such file or directory", errno: ENOENT)
        }
        if args0.contains("/") {
            let found: ResolvedPath
            do {
                found = try root.resolve(args0, cwd: cwd)
            } catch let error as VoidError {
                let code = error.errno ?? ENOENT
                throw VoidError.image("exec: `\(args0)`: \(errnoText(code))", errno: code)
            }
            if let problem = Self.problem(found) {
                throw VoidError.image("exec: `\(args0)`: \(problem)", errno: EACCES)
            }
            return with(found, requested: ImagePath.absolute(args0, cwd: cwd))
        }
        // execvp: each PATH entry in turn, an empty entry meaning the current directory. A match
        // that is not executable is passed over, but remembered: execvp then fails with EACCES.
        var denied: (path: String, problem: String)?
        for dir in (value("PATH") ?? Self.defaultPath).split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = ImagePath.join(dir.isEmpty ? "." : String(dir), args0)
            guard let found = try? root.resolve(candidate, cwd: cwd) else { continue }
            if let problem = Self.problem(found) {
                if denied == nil { denied = (candidate, problem) }
                continue
            }
            return with(found, requested: ImagePath.absolute(candidate, cwd: cwd))
        }
        if let denied {
            throw VoidError.image("exec: `\(args0)` found in $PATH as \(denied.path): \(denied.problem)", errno: EACCES)
        }
        // The wording of crun's message, which podman maps to exit code 127.
        throw VoidError.image("executable file `\(args0)` not found in $PATH: No such file or directory", errno: ENOENT)
    }

    /// Why the kernel would refuse to execve this file, if it would. Directories fail with EACCES
    /// too, so the message carries "permission denied" (podman: exit code 126).
    static func problem(_ file: ResolvedPath) -> String? {
        switch file.kind {
        case .directory: return "is a directory: permission denied"
        case .other: return "not a regular file: permission denied"
        case .regular: return file.mode & 0o111 == 0 ? "permission denied" : nil
        }
    }

    private func with(_ path: ResolvedPath, requested: String) -> ResolvedPath {
        var path = path
        path.requested = requested
        return path
    }

    /// `cwd` is the process's working directory inside the image: the kernel resolves a relative
    /// `#!` interpreter or `PT_INTERP` against it, and glibc a relative RPATH entry.
    public func closure(for executable: ResolvedPath, cwd: String = "/") throws -> ProgramClosure {
        let builder = ClosureBuilder(resolver: self, cwd: cwd)
        try builder.run(executable)
        return ProgramClosure(executable: executable, files: builder.files, symlinks: builder.symlinks,
                              notes: builder.notes, usesExecutableOrigin: builder.usesExecutableOrigin,
                              ldLibraryPathAdditions: builder.ldLibraryPathAdditions)
    }
}

/// The first bytes of a program decide how the kernel runs it.
enum ProgramKind {
    case elf(ELFInfo)
    /// `#!interpreter [argument]`
    case script(interpreter: String, argument: String?)
    case unknown

    /// binfmt_script's rule: the line after "#!" within the first 256 bytes (BINPRM_BUF_SIZE);
    /// spaces and tabs separate the interpreter from one optional argument, which runs to the end
    /// of the line. An interpreter name cut off by the 256-byte limit is ENOEXEC.
    struct Shebang: Equatable {
        var interpreter: String
        var argument: String?
    }

    static func shebang(_ head: [UInt8]) -> Shebang? {
        let buf = Array(head.prefix(256))
        guard buf.count >= 2, buf[0] == 0x23, buf[1] == 0x21 else { return nil }
        let isBlank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
        // The kernel strips neither "\r" nor anything but blanks: "#!/bin/sh\r" names "/bin/sh\r".
        let end = buf[2...].firstIndex { $0 == 0x0a || $0 == 0 }
        var line = Array(buf[2..<(end ?? buf.count)])
        while let last = line.last, isBlank(last) { line.removeLast() }
        guard let start = line.firstIndex(where: { !isBlank($0) }) else { return nil }
        let nameEnd = line[start...].firstIndex(where: isBlank) ?? line.count
        if end == nil && nameEnd == line.count && buf.count == 256 { return nil }
        let name = String(decoding: line[start..<nameEnd], as: UTF8.self)
        let rest = line[nameEnd...].drop(while: isBlank)
        return Shebang(interpreter: name, argument: rest.isEmpty ? nil : String(decoding: rest, as: UTF8.self))
    }
}
