import CVoid
import Glibc
import OCIBundle

extension Spawner {
    /// The bytes of a copy-up's files, read from the image into one memfd (close-on-exec, closed
    /// by the init once it has copied them), and the child's entries pointing into it. Each file
    /// is opened again inside the image root with no link on the way (`RESOLVE_NO_SYMLINKS`
    /// below `RESOLVE_IN_ROOT`), `O_NOFOLLOW|O_NONBLOCK`, must still be a regular file, and gives
    /// at most the bytes planned: an image that changed since cannot make voidoci block, follow
    /// a link out of it, or copy more than the cap.
    static func readCopyUp(_ c: CopyUp, _ m: PlannedMount, imageFD: Int32, arena: CArena) throws -> (fd: Int32, entries: [void_copy]) {
        let field = "mount \(m.destination) (\(m.origin.text)): tmpcopyup"
        let memfd = void_memfd("voidoci-copyup")
        if memfd < 0 { throw VoidError.sys("\(field): memfd") }
        var entries: [void_copy] = []
        var offset: UInt64 = 0
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        do {
            for e in c.entries {
                var entry = void_copy()
                entry.path = arena.string(e.path)
                entry.mode = e.mode
                switch e.kind {
                case .directory: entry.kind = Int32(VOID_COPY_DIR.rawValue)
                case .symlink:
                    entry.kind = Int32(VOID_COPY_SYMLINK.rawValue)
                    entry.target = arena.string(e.target ?? "")
                case .file:
                    entry.kind = Int32(VOID_COPY_FILE.rawValue)
                    let path = (c.source ?? "/") + "/" + e.path
                    let fd = void_openat2(imageFD, path, UInt64(O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC), 0,
                                          VOID_RESOLVE_IN_ROOT | VOID_RESOLVE_NO_SYMLINKS | VOID_RESOLVE_NO_MAGICLINKS)
                    if fd < 0 { throw VoidError("\(field): \(path) in the image: \(errnoText(errno))", errno: errno) }
                    defer { close(fd) }
                    var st = stat()
                    guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
                        throw VoidError("\(field): \(path) in the image is no longer a regular file", errno: EAGAIN)
                    }
                    var copied: UInt64 = 0
                    while copied < e.size {
                        let want = Int(min(UInt64(buf.count), e.size - copied))
                        let n = buf.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress, want, off_t(copied)) }
                        if n < 0 && errno == EINTR { continue }
                        if n < 0 { throw VoidError("\(field): reading \(path) in the image: \(errnoText(errno))", errno: errno) }
                        if n == 0 { break }   // shorter now than when planned: what is there
                        var done = 0
                        while done < n {
                            let w = buf[done..<n].withUnsafeBytes { Glibc.write(memfd, $0.baseAddress, $0.count) }
                            if w < 0 && errno == EINTR { continue }
                            if w <= 0 { throw VoidError.sys("\(field): memfd") }
                            done += w
                        }
                        copied += UInt64(n)
                    }
                    entry.offset = offset
                    entry.length = copied
                    offset += copied
                }
                entries.append(entry)
            }
        } catch {
            close(memfd)
            throw error
        }
        return (memfd, entries)
    }
}
