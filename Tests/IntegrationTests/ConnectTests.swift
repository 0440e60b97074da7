import Foundation
import Testing

/// `org.voidoci.connect` (docs/void.md, Sockets): unmodified programs (curl, Python's socket
/// module) call connect() in the void's empty network; seccomp user notification hands the call
/// to voidoci's supervisor, which connects from outside to listed destinations only. The host
/// servers log every message they get, so an attack that reached one is seen.
@Suite(.serialized, HostClean()) struct ConnectTests {
    /// A host server: tcp and unix stream (replies "host:" + the line), udp (the same, to the
    /// sender), and a second udp port that only logs (an unlisted destination).
    static let server = """
        import socket, sys, threading, os
        tport, uport, upath, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
        lock = threading.Lock()
        def note(s):
            with lock, open(log, "a") as f: f.write(s + "\\n")
        def serve_stream(ls, kind):
            while True:
                c, _ = ls.accept()
                def one(c=c):
                    data = c.recv(1024)
                    note(f"{kind} {data.decode().strip()}")
                    c.sendall(b"host:" + data)
                    c.close()
                threading.Thread(target=one, daemon=True).start()
        def serve_udp(u, kind):
            while True:
                d, a = u.recvfrom(2048)
                note(f"{kind} {d.decode().strip()}")
                u.sendto(b"host:" + d, a)
        t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("127.0.0.1", tport)); t.listen(64)
        t2 = socket.socket(); t2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t2.bind(("127.0.0.1", tport + 1)); t2.listen(64)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", uport))
        u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u2.bind(("127.0.0.1", uport + 1))
        x = socket.socket(socket.AF_UNIX); x.bind(upath); os.chmod(upath, 0o777); x.listen(8)
        threading.Thread(target=serve_stream, args=(t, "tcp"), daemon=True).start()
        threading.Thread(target=serve_stream, args=(t2, "unlisted-tcp"), daemon=True).start()
        threading.Thread(target=serve_stream, args=(x, "unix"), daemon=True).start()
        threading.Thread(target=serve_udp, args=(u2, "unlisted-udp"), daemon=True).start()
        print("ready", flush=True)
        serve_udp(u, "udp")
        """

    /// What runs in the void: one scenario per argument.
    static let client = """
        import socket, sys, select, errno, struct
        what, port = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 0
        def err(f):
            try: f(); return "no error"
            except OSError as e: return errno.errorcode.get(e.errno, str(e.errno))
        if what == "block":
            s = socket.socket()
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 77)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.connect(("127.0.0.1", port))
            print("options", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                  s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
            print("peer", s.getpeername()[1] == port, "blocking", s.getblocking())
            s.sendall(b"blocking\\n"); print(s.recv(100).decode().strip())
        elif what == "nonblock":
            s = socket.socket(); s.setblocking(False)
            r = s.connect_ex(("127.0.0.1", port))
            print("connect_ex", errno.errorcode.get(r, r))
            select.select([], [s], [], 10)
            print("SO_ERROR", s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), "blocking", s.getblocking())
            s.send(b"nonblocking\\n"); select.select([s], [], [], 10); print(s.recv(100).decode().strip())
        elif what == "unlisted":
            print("far", err(lambda: socket.socket().connect(("192.0.2.1", 80))))
            print("host loopback", err(lambda: socket.socket().connect(("127.0.0.1", port + 1))))
            print("host unix", err(lambda: socket.socket(socket.AF_UNIX).connect(sys.argv[3])))
        elif what == "local":
            l = socket.socket(); l.bind(("127.0.0.1", port + 1)); l.listen(1)
            c = socket.socket(); c.connect(("127.0.0.1", port + 1)); a, _ = l.accept(); c.send(b"x"); print("own loopback", a.recv(1).decode())
        elif what == "udp":
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(10)
            u.sendto(b"sendto\\n", ("127.0.0.1", port)); print(u.recvfrom(100)[0].decode().strip())
            print("sendto unlisted", err(lambda: u.sendto(b"sneaky sendto\\n", ("127.0.0.1", port + 1))))
            print("sendmsg unlisted", err(lambda: u.sendmsg([b"sneaky sendmsg\\n"], [], 0, ("127.0.0.1", port + 1))))
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(10); c.connect(("127.0.0.1", port))
            c.send(b"connected\\n"); print(c.recv(100).decode().strip())
            c.sendmsg([b"sendmsg\\n"]); print(c.recv(100).decode().strip())
            print("sendmsg override", err(lambda: c.sendmsg([b"sneaky override\\n"], [], 0, ("127.0.0.1", port + 1))))
        elif what == "unix":
            x = socket.socket(socket.AF_UNIX); x.connect(sys.argv[2]); x.sendall(b"over unix\\n"); print(x.recv(100).decode().strip())
        elif what == "denied":
            print("config denial", err(lambda: socket.socket().connect(("127.0.0.1", port))))
        """

    /// The scripts, and a socket dir, in a directory every test user can read.
    static let dir: String = {
        let d = "/tmp/voidoci-test-\(getpid())-connect"
        mkdir(d, 0o755)
        FileManager.default.createFile(atPath: "\(d)/server.py", contents: Data(server.utf8))
        FileManager.default.createFile(atPath: "\(d)/client.py", contents: Data(client.utf8))
        chmod("\(d)/client.py", 0o644)
        Env.registerCleanup(d)
        return d
    }()

    /// The host's root as the image: python3 and curl are bound with their libraries, Python's
    /// standard library and the client are exposed; nothing else is in the void.
    static func bundle(_ connect: String, as who: As, _ args: [String], extra: ((inout [String: Any]) -> Void)? = nil) -> TestBundle {
        TestBundle(rootfs: "/", args: args, as: who) { c in
            c["annotations"] = ["org.voidoci.connect": connect, "org.voidoci.expose": "/usr/lib/python3.11;\(dir)"]
            extra?(&c)
        }
    }

    static func python(_ connect: String, as who: As, _ args: [String], extra: ((inout [String: Any]) -> Void)? = nil) -> TestBundle {
        bundle(connect, as: who, ["/usr/bin/python3", "\(dir)/client.py"] + args, extra: extra)
    }

    /// The host server on fresh ports; stop() kills it.
    struct Server {
        let pid: pid_t, tcp: Int, udp: Int, unix: String, log: String
        var logged: String { Host.read(log) ?? "" }
        func stop() {
            kill(pid, SIGKILL)
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            unlink(unix)
            unlink(log)
        }
    }

    static func startServer() throws -> Server {
        // Two consecutive free ports of each kind: the one listed, and one that is not.
        var tcp = 0, udp = 0
        for _ in 0..<20 {
            tcp = ListenTests.freePort()
            udp = ListenTests.freePort(udp: true)
            if tcp > 0 && tcp < 65535 && udp > 0 && udp < 65535 { break }
        }
        let unix = "\(dir)/host-\(UUID().uuidString.prefix(6)).sock", log = "\(dir)/log-\(UUID().uuidString.prefix(6))"
        let out = "\(log).out"
        let pid = try Shell.spawn(["/usr/bin/python3", "\(dir)/server.py", "\(tcp)", "\(udp)", unix, log], env: ["PATH": "/usr/bin:/bin"], stdout: out)
        let ready = Host.waitUntil(10) { (Host.read(out) ?? "").contains("ready") }
        unlink(out)
        let s = Server(pid: pid, tcp: tcp, udp: udp, unix: unix, log: log)
        if !ready { s.stop() }
        try #require(ready, "the host server did not start")
        return s
    }

    /// A blocking and a non-blocking connect, each as the program expects; the options set
    /// before connect hold on the socket it gets; curl unmodified.
    @Test(arguments: As.allCases)
    func listedDestinationsAreReachedFromAnEmptyNetwork(who: As) throws {
        try Env.requireUser(who)
        let srv = try Self.startServer()
        defer { srv.stop() }
        let grant = "tcp:127.0.0.1:\(srv.tcp);unix:\(srv.unix)"
        let b = Self.python(grant, as: who, ["block", "\(srv.tcp)"])
        defer { b.close() }
        let r = b.run()
        #expect(r.status == 0 && r.stdout == "options 1 1 77 131072\npeer True blocking True\nhost:blocking\n", "\(r)")
        b.edit { c in c["process"] = (c["process"] as! [String: Any]).merging(["args": ["/usr/bin/python3", "\(Self.dir)/client.py", "nonblock", "\(srv.tcp)"]]) { $1 } }
        let n = b.run()
        #expect(n.status == 0 && n.stdout == "connect_ex EINPROGRESS\nSO_ERROR 0 blocking False\nhost:nonblocking\n", "\(n)")
        b.edit { c in c["process"] = (c["process"] as! [String: Any]).merging(["args": ["/usr/bin/python3", "\(Self.dir)/client.py", "unix", srv.unix]]) { $1 } }
        let u = b.run()
        #expect(u.status == 0 && u.stdout == "host:over unix\n", "\(u)")
        b.edit { c in c["process"] = (c["process"] as! [String: Any]).merging(["args": ["/usr/bin/curl", "-sS", "--http0.9", "-m", "10", "--data-binary", "curl", "http://127.0.0.1:\(srv.tcp)/"]]) { $1 } }
        let cu = b.run()
        #expect(cu.status == 0 && cu.stdout.hasPrefix("host:POST / HTTP/1.1"), "\(cu)")
        #expect(srv.logged.contains("tcp blocking") && srv.logged.contains("tcp nonblocking") && srv.logged.contains("unix over unix"), "\(srv.logged)")
    }

    /// Attack: the program tries what is not listed — a far address, another port of the host's
    /// loopback (where a real server listens), the host's unix socket by path. Each fails as it
    /// would in an empty network, the refusals are logged with the destination, and the host's
    /// servers get nothing.
    @Test(arguments: As.allCases)
    func unlistedDestinationsAreRefused(who: As) throws {
        try Env.requireUser(who)
        let srv = try Self.startServer()
        defer { srv.stop() }
        let b = Self.python("tcp:127.0.0.1:\(srv.tcp)", as: who, ["unlisted", "\(srv.tcp)", srv.unix])
        defer { b.close() }
        let r = b.run()
        // The host's socket file is in the void (its directory is exposed): still not a destination.
        #expect(r.status == 0 && r.stdout == "far ECONNREFUSED\nhost loopback ECONNREFUSED\nhost unix ECONNREFUSED\n", "\(r)")
        #expect(r.stderr.contains("voidoci: org.voidoci.connect: connect to tcp:192.0.2.1:80 refused: not a listed destination")
                && r.stderr.contains("connect to unix:\(srv.unix) refused"), "\(r)")
        // A path that is not in the void gets what the kernel says there, unlogged (glibc tries
        // nscd's socket in every lookup).
        b.edit { c in c["process"] = (c["process"] as! [String: Any]).merging(["args": ["/usr/bin/python3", "\(Self.dir)/client.py", "unix", "/run/nowhere.sock"]]) { $1 } }
        let m = b.run()
        #expect(m.status != 0 && m.stderr.contains("FileNotFoundError") && !m.stderr.contains("refused"), "\(m)")
        #expect(!srv.logged.contains("unlisted"), "\(srv.logged)")
        // The void's own loopback still works: a server of its own on a port that is not listed.
        b.edit { c in c["process"] = (c["process"] as! [String: Any]).merging(["args": ["/usr/bin/python3", "\(Self.dir)/client.py", "local", "\(srv.tcp)"]]) { $1 } }
        let l = b.run()
        #expect(l.status == 0 && l.stdout == "own loopback x\n", "\(l)")
    }

    /// Attack on datagrams: a udp socket reaches whatever address a send names, so sendto and
    /// sendmsg with an address are checked too, also on a socket already connected to a listed
    /// destination (sendmsg's address overrides the peer).
    @Test(arguments: As.allCases)
    func datagramsGoOnlyToListedDestinations(who: As) throws {
        try Env.requireUser(who)
        let srv = try Self.startServer()
        defer { srv.stop() }
        let b = Self.python("udp:127.0.0.1:\(srv.udp)", as: who, ["udp", "\(srv.udp)"])
        defer { b.close() }
        let r = b.run()
        #expect(r.status == 0 && r.stdout == """
            host:sendto
            sendto unlisted ECONNREFUSED
            sendmsg unlisted ECONNREFUSED
            host:connected
            host:sendmsg
            sendmsg override ECONNREFUSED

            """, "\(r)")
        #expect(srv.logged.contains("udp sendto") && srv.logged.contains("udp connected") && srv.logged.contains("udp sendmsg"), "\(srv.logged)")
        #expect(!srv.logged.contains("sneaky"), "\(srv.logged)")
    }

    /// Attacks on the supervisor and on the sockets it makes, from a static C program: a socket
    /// made outside cannot be disconnected, bound or put to listen; TCP Fast Open and io_uring
    /// are not there; a one-byte address and a control message whose length lies get EINVAL
    /// (and the supervisor still answers); a connect from a second thread is served.
    static let attack = """
        #define _GNU_SOURCE
        #include <arpa/inet.h>
        #include <errno.h>
        #include <pthread.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/socket.h>
        #include <sys/syscall.h>
        #include <unistd.h>
        static int port, uport;
        static const char *name(int r) { return r >= 0 ? "ok" : errno == EPERM ? "EPERM" : errno == EINVAL ? "EINVAL" : errno == ENOSYS ? "ENOSYS" : errno == EOPNOTSUPP ? "EOPNOTSUPP" : errno == ECONNREFUSED ? "ECONNREFUSED" : strerror(errno); }
        static struct sockaddr_in at(int p) { struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(p)}; inet_pton(AF_INET, "127.0.0.1", &a.sin_addr); return a; }
        static int dial(void) { int s = socket(AF_INET, SOCK_STREAM, 0); struct sockaddr_in a = at(port); return connect(s, (void *)&a, sizeof a) < 0 ? -1 : s; }
        static void *thread(void *x) { (void)x; int s = dial(); printf("thread connect %s\\n", s >= 0 ? "ok" : name(-1)); return NULL; }
        int main(int argc, char **argv) {
            port = atoi(argv[1]); uport = atoi(argv[2]);
            setvbuf(stdout, NULL, _IONBF, 0);
            int s = dial();
            printf("connect %s\\n", s >= 0 ? "ok" : name(-1));
            struct sockaddr un = {.sa_family = AF_UNSPEC};
            printf("disconnect %s\\n", name(connect(s, &un, sizeof un)));
            struct sockaddr_in any = at(0);
            printf("bind %s\\n", name(bind(s, (void *)&any, sizeof any)));
            printf("listen %s\\n", name(listen(s, 1)));
            int t = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in other = at(port + 1);
            printf("fastopen %s\\n", name((int)sendto(t, "x", 1, MSG_FASTOPEN, (void *)&other, sizeof other)));
            char params[120] = {0};
            printf("io_uring %s\\n", name((int)syscall(SYS_io_uring_setup, 1, params)));
            int u = socket(AF_INET, SOCK_DGRAM, 0);
            struct sockaddr_in to = at(uport);
            struct iovec iov = {.iov_base = "x", .iov_len = 1};
            struct msghdr m = {.msg_name = &to, .msg_namelen = 1, .msg_iov = &iov, .msg_iovlen = 1};
            printf("short name %s\\n", name((int)sendmsg(u, &m, 0)));
            union { char buf[64]; struct cmsghdr h; } c;
            memset(&c, 0, sizeof c);
            c.h.cmsg_level = SOL_SOCKET; c.h.cmsg_type = SCM_RIGHTS; c.h.cmsg_len = 100000;
            m.msg_namelen = sizeof to; m.msg_control = c.buf; m.msg_controllen = sizeof c.buf;
            printf("bad cmsg %s\\n", name((int)sendmsg(u, &m, 0)));
            pthread_t th;
            pthread_create(&th, NULL, thread, NULL);
            pthread_join(th, NULL);
            printf("still served %s\\n", dial() >= 0 ? "ok" : name(-1));
            return 0;
        }
        """

    @Test(arguments: As.allCases)
    func socketsMadeOutsideCannotBeAimedElsewhere(who: As) throws {
        try Env.requireUser(who)
        let srv = try Self.startServer()
        defer { srv.stop() }
        let src = "\(Self.dir)/attack.c", bin = "\(Self.dir)/attack"
        if access(bin, X_OK) != 0 {
            FileManager.default.createFile(atPath: src, contents: Data(Self.attack.utf8))
            let cc = Shell.run(["/usr/bin/gcc", "-static", "-O2", "-pthread", "-o", bin, src])
            try #require(cc.status == 0, "\(cc)")
        }
        let b = Self.bundle("tcp:127.0.0.1:\(srv.tcp);udp:127.0.0.1:\(srv.udp)", as: who, [bin, "\(srv.tcp)", "\(srv.udp)"])
        defer { b.close() }
        let r = b.run()
        #expect(r.status == 0 && r.stdout == """
            connect ok
            disconnect EPERM
            bind EPERM
            listen EPERM
            fastopen EOPNOTSUPP
            io_uring ENOSYS
            short name EINVAL
            bad cmsg EINVAL
            thread connect ok
            still served ok

            """, "\(r)")
        #expect(!srv.logged.contains("unlisted"), "\(srv.logged)")
    }

    /// The config's own seccomp profile still wins: a denial of connect there is what the
    /// program gets, and nothing is connected.
    @Test func theConfigsSeccompDenialWins() throws {
        let srv = try Self.startServer()
        defer { srv.stop() }
        let b = Self.python("tcp:127.0.0.1:\(srv.tcp)", as: .root, ["denied", "\(srv.tcp)"]) { c in
            var linux = c["linux"] as! [String: Any]
            linux["seccomp"] = ["defaultAction": "SCMP_ACT_ALLOW",
                                "syscalls": [["names": ["connect"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13]]] as [String: Any]
            c["linux"] = linux
        }
        defer { b.close() }
        let r = b.run()
        #expect(r.status == 0 && r.stdout == "config denial EACCES\n", "\(r)")
        #expect(srv.logged.isEmpty, "\(srv.logged)")
    }

    /// The supervisor is recorded before it answers anything, lives as long as the init, and
    /// delete leaves none behind (also for a void that never started).
    @Test func deleteLeavesNoSupervisor() throws {
        let b = Self.python("tcp:127.0.0.1:9", as: .root, ["block", "9"])
        defer { b.close() }
        let id = "c\(UUID().uuidString.prefix(6))"
        let c = b.voidoci(["create", "--bundle", b.dir, id])
        try #require(c.status == 0, "\(c)")
        let intent = Host.read("\(b.stateRoot)/\(id)/intent") ?? ""
        let line = intent.split(separator: "\n").first { $0.hasPrefix("supervisor ") }
        let pid = line.flatMap { Int32($0.split(separator: " ")[1]) } ?? 0
        try #require(pid > 0 && Host.alive(pid), "\(intent)")
        #expect(b.voidoci(["delete", "--force", id]).status == 0)
        #expect(Host.waitUntil(5) { !Host.alive(pid) }, "the supervisor outlived delete")
    }

    /// `explain` lists every socket grant, and the lowering shows where the filter is loaded.
    @Test func explainListsTheDestinations() throws {
        let b = Self.python("tcp:127.0.0.1:80;udp:[::1]:53;unix:/run/x.sock", as: .root, ["block", "80"])
        defer { b.close() }
        let e = b.voidoci(["explain", b.dir])
        #expect(e.status == 0 && e.stdout.contains("org.voidoci.connect") && e.stdout.contains("  tcp:127.0.0.1:80\n")
                && e.stdout.contains("  udp:[::1]:53\n") && e.stdout.contains("  unix:/run/x.sock\n"), "\(e)")
        let l = b.voidoci(["explain", "--lowered", b.dir])
        #expect(l.stdout.contains("load-connect-filter") && l.stdout.contains("supervise-connect"), "\(l)")
    }

    /// Through podman and conmon, rootful and rootless, with `--network none`: busybox's nc
    /// reaches the host's server, and nothing else.
    @Test(arguments: As.allCases)
    func podmanRunWithNetworkNoneConnectsOut(who: As) throws {
        let srv = try Self.startServer()
        defer { srv.stop() }
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        func nc(_ line: String, _ port: Int) -> Result {
            p.call(["run", "--rm", "--network", "none", "--annotation", "org.voidoci.connect=tcp:127.0.0.1:\(srv.tcp)",
                    img, "sh", "-c", "echo \(line) | /bin/busybox nc -w 10 127.0.0.1 \(port)"], timeout: 60)
        }
        let r = nc("through-podman", srv.tcp)
        #expect(r.status == 0 && r.stdout == "host:through-podman\n", "\(r)")
        #expect(srv.logged.contains("tcp through-podman"), "\(r) \(srv.logged)")
        // Another port of the host's loopback: the void's own loopback, where nothing listens.
        let u = nc("unlisted", srv.tcp + 1)
        #expect(u.status != 0 && u.stderr.contains("Connection refused"), "\(u)")
        // Anything else is refused by the supervisor, which says so on the container's stderr.
        let f = p.call(["run", "--rm", "--network", "none", "--annotation", "org.voidoci.connect=tcp:127.0.0.1:\(srv.tcp)",
                        img, "sh", "-c", "echo far | /bin/busybox nc -w 10 192.0.2.1 80"], timeout: 60)
        #expect(f.status != 0 && f.stderr.contains("voidoci: org.voidoci.connect: connect to tcp:192.0.2.1:80 refused"), "\(f)")
        #expect(!srv.logged.contains("unlisted"), "\(srv.logged)")
    }

    /// Bad entries are errors at create that quote the entry, and leave nothing behind.
    @Test func badEntriesAreRefused() throws {
        let cases: [(String, String)] = [
            ("tcp:127.0.0.1:0", "port 0 is not in 1-65535"),
            ("tcp:127.0.0.1:65536", "port 65536 is not in 1-65535"),
            ("tcp:127.0.0.1", "expected ADDR:PORT"),
            ("tcp:example.com:80", "example.com is not an IPv4 address"),
            ("udp:[::1:53", "is not an IPv4 address"),
            ("sctp:127.0.0.1:80", "unknown transport sctp"),
            ("unix:relative.sock", "must be absolute"),
            ("unix:/a/../b.sock", "contains \"..\""),
            ("web=tcp:127.0.0.1:80", "a destination has no name"),
            ("tcp:127.0.0.1:80;tcp:127.0.0.1:80", "the same destination as"),
            ("udp:[::ffff:127.0.0.1]:53;udp:127.0.0.1:53", "the same destination as"),
        ]
        for (entry, why) in cases {
            let b = Self.python(entry, as: .root, ["block", "80"])
            defer { b.close() }
            let r = b.voidoci(["create", "--bundle", b.dir, "c\(UUID().uuidString.prefix(6))"])
            #expect(r.status != 0 && r.stderr.contains("org.voidoci.connect") && r.stderr.contains(why), "\(entry): \(r)")
            #expect(Host.entries(b.stateRoot).isEmpty, "\(entry): \(Host.entries(b.stateRoot))")
        }
        let a = Self.python("tcp:127.0.0.1:80", as: .root, ["block", "80"]) { c in
            var ann = c["annotations"] as! [String: String]
            ann["org.voidoci.listen"] = "tcp:127.0.0.1:\(ListenTests.freePort())"
            ann["org.voidoci.accept"] = "stdio"
            c["annotations"] = ann
        }
        defer { a.close() }
        let r = a.voidoci(["create", "--bundle", a.dir, "c\(UUID().uuidString.prefix(6))"])
        #expect(r.status != 0 && r.stderr.contains("org.voidoci.connect: not with org.voidoci.accept"), "\(r)")
        #expect(Host.entries(a.stateRoot).isEmpty)
    }
}
