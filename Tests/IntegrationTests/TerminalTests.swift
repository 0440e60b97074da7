import Foundation
import Testing

/// A listening unix socket standing in for conmon's console socket.
final class ConsoleListener {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0, "socket: \(errno)")
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        try #require(bytes.count < MemoryLayout.size(ofValue: addr.sun_path))
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(r == 0, "bind \(path): \(errno)")
        try #require(listen(fd, 4) == 0)
        chmod(path, 0o777)  // the unprivileged caller must be able to connect
    }

    /// Accepts one connection and receives one message: its payload and the fds it carried.
    func receive(timeoutMs: Int32 = 5000) throws -> (payload: [UInt8], fds: [Int32]) {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        try #require(poll(&p, 1, timeoutMs) == 1, "nobody connected to the console socket")
        let conn = accept(fd, nil, nil)
        try #require(conn >= 0)
        defer { close(conn) }
        var p2 = pollfd(fd: conn, events: Int16(POLLIN), revents: 0)
        try #require(poll(&p2, 1, timeoutMs) == 1, "nothing sent on the console socket")

        let dataLen = 4096, controlLen = 256
        let data = UnsafeMutableRawPointer.allocate(byteCount: dataLen, alignment: 8)
        let control = UnsafeMutableRawPointer.allocate(byteCount: controlLen, alignment: 8)
        defer { data.deallocate(); control.deallocate() }
        control.initializeMemory(as: UInt8.self, repeating: 0, count: controlLen)
        var iov = iovec(iov_base: data, iov_len: dataLen)
        let n: Int = withUnsafeMutablePointer(to: &iov) { iovp in
            var msg = msghdr()
            msg.msg_iov = iovp
            msg.msg_iovlen = 1
            msg.msg_control = control
            msg.msg_controllen = controlLen
            let n = recvmsg(conn, &msg, 0)
            controlUsed = Int(msg.msg_controllen)
            return n
        }
        try #require(n >= 0, "recvmsg: \(errno)")
        let payload = Array(UnsafeRawBufferPointer(start: data, count: n))
        // struct cmsghdr { size_t len; int level; int type; } then the data, aligned to size_t.
        var fds: [Int32] = []
        var off = 0
        let hdr = MemoryLayout<Int>.size + 2 * MemoryLayout<Int32>.size
        while off + hdr <= controlUsed {
            let len = control.load(fromByteOffset: off, as: Int.self)
            let level = control.load(fromByteOffset: off + MemoryLayout<Int>.size, as: Int32.self)
            let type = control.load(fromByteOffset: off + MemoryLayout<Int>.size + 4, as: Int32.self)
            if len < hdr { break }
            if level == SOL_SOCKET && type == 1 /* SCM_RIGHTS */ {
                for k in 0..<((len - hdr) / 4) { fds.append(control.load(fromByteOffset: off + hdr + 4 * k, as: Int32.self)) }
            }
            off += (len + 7) & ~7
        }
        return (payload, fds)
    }

    private var controlUsed = 0

    deinit {
        close(fd)
        unlink(path)
    }
}

enum Pty {
    static func write(_ fd: Int32, _ s: String) {
        let bytes = Array(s.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }

    /// Reads from the master until `marker` is seen, EOF/EIO (no slave left) or the timeout.
    static func read(_ fd: Int32, until marker: String, timeout: Double = 10) -> String {
        var out: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, 100)
            if r < 0 && errno == EINTR { continue }
            if r == 0 { continue }
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buf[0..<n]
            if String(decoding: out, as: UTF8.self).contains(marker) { break }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

@Suite(.serialized, .hostClean) struct TerminalTests {
    @Test(arguments: As.allCases)
    func consoleSocketReceivesAWorkingPtyMaster(who: As) throws {
        try Env.requireUser(who)
        let b = VoidCheck.busybox("[ -t 0 ] && [ -t 1 ] && echo isatty; read x; echo \"got $x\"; echo done", as: who)
        defer { b.close() }
        b.setProcess("terminal", true)
        let listener = try ConsoleListener(path: "\(b.dir)/console.sock")
        let id = TestBundle.newID("tty")
        let c = b.voidociReaped(["create", "--bundle", b.dir, "--console-socket", listener.path, id])
        try #require(c.status == 0, "\(c)")
        let (payload, fds) = try listener.receive()
        #expect(!payload.isEmpty, "the message carries a payload")
        try #require(fds.count == 1, "exactly one fd: \(fds)")
        let master = fds[0]
        defer { close(master) }
        #expect(isatty(master) == 1, "the fd received is a terminal")

        Pty.write(master, "hello\n")
        let s = b.voidoci(["start", id])
        try #require(s.status == 0, "\(s)")
        let out = Pty.read(master, until: "done")
        #expect(out.contains("isatty"), "stdin and stdout are the pty: \(out.debugDescription)")
        #expect(out.contains("got hello"), "input typed on the master reaches the process: \(out.debugDescription)")
        #expect(out.contains("done"), "\(out.debugDescription)")
    }

    @Test(arguments: As.allCases)
    func terminalWithoutConsoleSocketFails(who: As) throws {
        try Env.requireUser(who)
        let b = TestBundle(args: ["/bin/sh", "-c", "true"], as: who)
        defer { b.close() }
        b.setProcess("terminal", true)
        let r = b.voidoci(["create", "--bundle", b.dir, "nosock\(UUID().uuidString.prefix(6))"])
        #expect(r.status != 0, "\(r)")
        #expect(r.stderr.contains("console-socket"), "\(r)")
        #expect(b.stateEntries().isEmpty, "\(b.stateEntries())")
    }
}
