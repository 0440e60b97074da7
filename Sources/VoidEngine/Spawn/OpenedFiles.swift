#if canImport(Glibc)
import Glibc
#endif

/// `org.voidoci.open`'s files, opened by voidoci as the caller, in its mount namespace, before
/// anything is joined (Lowering: `open-file`), numbered above the fds the init places them at
/// (child.c, place_open_fds). A FIFO does not block the open (O_NONBLOCK, cleared after).
enum OpenedFiles {
    static func open(_ list: [OpenFile], above: Int32) throws -> HandedFDs {
        try HandedFDs.make(list) { h, f in try add(f, to: &h, above: above) }
    }

    private static func add(_ f: OpenFile, to h: inout HandedFDs, above: Int32) throws {
        func fail(_ what: String, _ e: Int32) -> VoidError {
            VoidError("annotation org.voidoci.open: \(printable(f.entry)): \(what): \(errnoText(e))", errno: e)
        }
        let flags = f.mode.flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK
        var fd = Glibc.open(f.path, flags)
        if fd < 0 && errno == ENOENT && f.mode.creates {
            fd = Glibc.open(f.path, flags | O_CREAT | O_EXCL, 0o666)
            if fd >= 0 { h.made.append(f.path) }
        }
        if fd < 0 { throw fail("open", errno) }
        defer { _ = Glibc.close(fd) }   // what is kept is its copy above the targets
        // A directory fd would let the program walk out of the void (openat "..", fchdir).
        var st = stat()
        if fstat(fd, &st) < 0 { throw fail("fstat", errno) }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFREG || kind == S_IFIFO || kind == S_IFCHR || kind == S_IFSOCK else {
            throw VoidError("annotation org.voidoci.open: \(printable(f.entry)): \(kind == S_IFDIR ? "a directory" : "neither a file, a FIFO, a character device nor a socket"): only files are passed in, never a directory", errno: EISDIR)
        }
        let fl = fcntl(fd, F_GETFL)
        if fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 { throw fail("fcntl", errno) }
        let high = fcntl(fd, F_DUPFD_CLOEXEC, above)
        if high < 0 { throw fail("fcntl(F_DUPFD_CLOEXEC)", errno) }
        h.fds.append(high)
    }
}
