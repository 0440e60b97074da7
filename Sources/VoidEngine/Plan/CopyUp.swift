import CVoid
import Glibc
import OCIBundle

/// `tmpcopyup` (crun's option; podman's `--tmpfs` passes it): the image's content at the
/// destination, copied into the new tmpfs before it is mounted there. From the image, whatever
/// the void's root is: the user asked for the image's content to be at that path, and a void's
/// root does not hold it unless the image root is granted.
public struct CopyUp: Equatable, Sendable {
    /// The canonical directory in the image the entries come from; nil when the image has no
    /// directory at the destination (the tmpfs then starts empty).
    public var source: String?
    /// Parents before their children (a walk in name order).
    public var entries: [Entry]
    public var bytes: UInt64

    public struct Entry: Equatable, Sendable {
        public enum Kind: String, Sendable { case directory, file, symlink }
        public var path: String        // relative to `source`, e.g. "seed/a.txt"
        public var kind: Kind
        public var mode: UInt32        // permission bits
        public var size: UInt64        // file: bytes to copy
        public var target: String?     // symlink: its text, copied as is (resolved in the void)
    }

    /// The image is untrusted and the copy lives in memory: at most this much.
    public static let maxBytes: UInt64 = 64 << 20
    public static let maxEntries = 10_000
    public static let maxDepth = 64

    public var summary: String {
        guard let source else { return "copy-up: the image has no directory here, the tmpfs starts empty" }
        return "copy-up of image:\(source): \(entries.count) entries, \(bytes) bytes"
    }
}

extension Planner {
    /// The entries to copy for `tmpcopyup` at `destination`: resolved inside the image (a link
    /// on the way is followed as if the image were /, never out of it), then walked without
    /// following any link, regular files, directories and symlinks only, within the caps.
    /// Anything else (a FIFO, a device, a socket) is not copied and is listed as dropped.
    func planCopyUp(_ destination: String, field: String, image: ImageRoot, dropped: inout [Dropped]) throws -> CopyUp {
        let loc: ImageRoot.Location
        do { loc = try image.locate(destination) } catch let e as VoidError where e.errno == ENOENT || e.errno == ENOTDIR {
            return CopyUp(source: nil, entries: [], bytes: 0)
        } catch {
            throw VoidError("\(field).options: tmpcopyup: \(destination) in the image: \(error)")
        }
        guard loc.resolved.kind == .directory else {
            dropped.append(Dropped(path: "\(field).options", reason: "tmpcopyup: \(loc.resolved.canonical) in the image is not a directory: nothing copied"))
            return CopyUp(source: nil, entries: [], bytes: 0)
        }
        let top = try image.openDirectory(loc)
        var copy = CopyUp(source: loc.resolved.canonical, entries: [], bytes: 0)
        func fail(_ what: String) -> VoidError {
            VoidError("\(field): tmpcopyup of \(loc.resolved.canonical) from the image: \(what)")
        }
        func walk(_ dir: ImageRoot.Directory, _ rel: String, depth: Int) throws {
            guard depth <= CopyUp.maxDepth else { throw fail("deeper than \(CopyUp.maxDepth) directories (the cap for copying up)") }
            let names: [String]
            do { names = try image.list(dir).sorted() } catch { throw fail("\(error)") }
            for name in names {
                let path = rel.isEmpty ? name : rel + "/" + name
                var st = stat()
                guard fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw fail("\(dir.child(name)): \(errnoText(errno))") }
                let mode = UInt32(st.st_mode & 0o7777)
                switch st.st_mode & S_IFMT {
                case S_IFDIR:
                    copy.entries.append(.init(path: path, kind: .directory, mode: mode, size: 0, target: nil))
                case S_IFREG:
                    copy.bytes += UInt64(max(0, st.st_size))
                    guard copy.bytes <= CopyUp.maxBytes else {
                        throw fail("more than \(CopyUp.maxBytes >> 20) MiB (the cap for copying up; \(dir.child(name)) alone is \(st.st_size) bytes)")
                    }
                    copy.entries.append(.init(path: path, kind: .file, mode: mode, size: UInt64(max(0, st.st_size)), target: nil))
                case S_IFLNK:
                    var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                    let n = readlinkat(dir.fd, name, &buf, buf.count - 1)
                    guard n > 0 else { throw fail("\(dir.child(name)): \(errnoText(n < 0 ? errno : ENOENT))") }
                    let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    copy.entries.append(.init(path: path, kind: .symlink, mode: 0o777, size: 0, target: target))
                default:
                    let what = st.st_mode & S_IFMT == S_IFIFO ? "a FIFO" : st.st_mode & S_IFMT == S_IFSOCK ? "a socket" : "a device node"
                    dropped.append(Dropped(path: "\(field).options", reason: "tmpcopyup: \(dir.child(name)) in the image is \(what): not copied"))
                    continue
                }
                guard copy.entries.count <= CopyUp.maxEntries else {
                    throw fail("more than \(CopyUp.maxEntries) entries (the cap for copying up)")
                }
                if st.st_mode & S_IFMT == S_IFDIR {
                    // O_NOFOLLOW|O_DIRECTORY: an entry swapped for a link since the fstatat is refused.
                    let fd = openat(dir.fd, name, ImageRoot.oPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    guard fd >= 0 else { throw fail("\(dir.child(name)): \(errnoText(errno))") }
                    try walk(ImageRoot.Directory(fd: fd, path: dir.child(name), parent: dir), path, depth: depth + 1)
                }
            }
        }
        try walk(top, "", depth: 1)
        return copy
    }
}
