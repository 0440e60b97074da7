import Foundation
import Testing

/// The real podman 4.3.1 + conmon driving the installed voidoci (`podman --runtime voidoci`),
/// rootful and rootless (the test user through setpriv; rootless runs use `--network none`).
/// Images are local (`podman import` of scripts/make-rootfs.sh trees, see PodmanSupport.swift).
///
/// Everything here is what a podman user types; each test removes its containers and checks
/// voidoci kept no state for them. Tests of what voidoci does not do yet (exec, ...) are
/// written as they should pass and fail until it does.
@Suite(.serialized) struct PodmanTests {

    /// Fields of /proc/self/status printed by the void's own shell with builtins only
    /// (`org.voidoci.mounts=proc` grants the procfs).
    static let statusScript = #"while read k v; do case $k in Uid:|Gid:|Groups:|CapEff:|Seccomp:|NoNewPrivs:) echo "$k $v";; esac; done < /proc/self/status"#

    static func fields(_ out: String) -> [String: String] {
        var d: [String: String] = [:]
        for line in out.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { d[String(parts[0]).trimmingCharacters(in: CharacterSet(charactersIn: ":"))] = String(parts[1]) }
        }
        return d
    }

    static func lines(_ s: String) -> [String] {
        s.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map(String.init)
    }

    // MARK: - podman run: output and exit status

    @Test(arguments: As.allCases)
    func runPrintsOutputAndExitsZero(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let r = p.call(["run", "--rm", "--name", p.name("hi")] + p.net + [img, "/bin/sh", "-c", "echo hi; echo /*"])
        try #require(r.status == 0, "podman run --rm IMG /bin/sh -c 'echo hi; echo /*': \(r)")
        let out = Self.lines(r.stdout)
        #expect(out.first == "hi", "\(r)")
        let root = out.dropFirst().first.map { $0.split(separator: " ").map(String.init) } ?? []
        #expect(root.contains("/bin"), "the program's directory is in the void: \(r)")
        // The image has /tmp and /usr; the void was not given them.
        #expect(!root.contains("/tmp") && !root.contains("/usr"), "only what was granted is in /: \(root)")
    }

    @Test(arguments: As.allCases)
    func exitStatusIsTheProgramsStatus(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let r = p.call(["run", "--rm", "--name", p.name("exit7")] + p.net + [img, "/bin/sh", "-c", "exit 7"])
        #expect(r.status == 7, "podman run IMG /bin/sh -c 'exit 7': \(r)")
    }

    @Test(arguments: As.allCases)
    func missingProgramIs127(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let r = p.call(["run", "--rm", "--name", p.name("nf")] + p.net + [img, "/no/such/program"])
        #expect(r.status == 127, "podman run IMG /no/such/program: \(r)")
        #expect(r.stderr.contains("/no/such/program"), "the error names the program: \(r)")
        #expect(r.stderr.lowercased().contains("no such file or directory"), "\(r)")
    }

    @Test(arguments: As.allCases)
    func nonExecutableFileIs126(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let r = p.call(["run", "--rm", "--name", p.name("nx")] + p.net + [img, "/etc/passwd"])
        #expect(r.status == 126, "podman run IMG /etc/passwd (not executable): \(r)")
        #expect(r.stderr.lowercased().contains("permission denied"), "\(r)")
    }

    /// A bad `org.voidoci.*` value fails `create` with a message naming the annotation.
    /// podman 4.3 turns any runtime failure of `podman run` that is not "not found" into 126
    /// (libpod/define ExitCode: only podman's own errors are 125); `podman start` of a created
    /// container reports it with podman's generic 125.
    @Test(arguments: As.allCases)
    func badAnnotationIsRefusedNamingIt(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let r = p.call(["run", "--rm", "--name", p.name("badann"), "--annotation", "org.voidoci.rootfs=maybe"] + p.net + [img, "/bin/true"])
        #expect(r.status == 126, "podman run --annotation org.voidoci.rootfs=maybe: \(r)")
        #expect(r.stderr.contains("org.voidoci.rootfs"), "the message names the annotation: \(r)")

        let name = p.name("badann-start")
        let c = p.call(["create", "--name", name, "--annotation", "org.voidoci.rootfs=maybe"] + p.net + [img, "/bin/true"])
        try #require(c.status == 0, "podman create (the runtime is not called yet): \(c)")
        let s = p("start", name)
        #expect(s.status == 125, "podman start of a container with org.voidoci.rootfs=maybe: \(s)")
        #expect(s.stderr.contains("org.voidoci.rootfs"), "the message names the annotation: \(s)")
    }

    // MARK: - detached containers: logs, inspect, ps, stop, kill, rm

    @Test(arguments: As.allCases)
    func detachedLogsInspectPsAndStop(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let name = p.name("detached")
        // sleep as pid 1 has no TERM handler: the kernel ignores TERM for a pid namespace's init,
        // so `stop -t 2` must fall back to KILL after 2 s.
        let r = p.call(["run", "-d", "--name", name, "--annotation", "org.voidoci.expose=/bin"] + p.net
            + [img, "/bin/sh", "-c", "echo started; echo to-stderr >&2; exec sleep 1000"])
        try #require(r.status == 0, "podman run -d: \(r)")

        let logs = p.logs(name, until: "to-stderr")
        #expect(logs.contains("started") && logs.contains("to-stderr"), "podman logs shows stdout and stderr: \(logs)")

        let st = p.inspect(name, "{{.State.Status}} {{.State.Pid}}").split(separator: " ").map(String.init)
        #expect(st.first == "running", "inspect .State.Status: \(st)")
        let pid = Int32(st.last ?? "") ?? 0
        #expect(Podman.alive(pid), "inspect .State.Pid \(pid) is a live process")
        #expect(Podman.statusField(pid, "NSpid")?.split(separator: "\t").last == "1",
                "the pid is the void's init (pid 1 inside): \(Podman.statusField(pid, "NSpid") ?? "-")")

        let ps = p("ps", "--filter", "name=^\(name)$", "--format", "{{.Names}} {{.Status}}")
        #expect(ps.stdout.hasPrefix("\(name) Up"), "podman ps: \(ps)")

        let t0 = Date()
        let stop = p("stop", "-t", "2", name, timeout: 30)
        let took = Date().timeIntervalSince(t0)
        #expect(stop.status == 0, "podman stop -t 2: \(stop)")
        #expect(took >= 1.5 && took < 9, "TERM ignored, KILL after the 2 s timeout: took \(took) s")
        #expect(p.inspect(name, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137", "after stop")
        #expect(!Podman.alive(pid), "pid \(pid) is gone")
        let psa = p("ps", "-a", "--filter", "name=^\(name)$", "--format", "{{.Status}}")
        #expect(psa.stdout.hasPrefix("Exited (137)"), "podman ps -a: \(psa)")
    }

    @Test(arguments: As.allCases)
    func killDeliversTheSignal(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let name = p.name("kill")
        let r = p.call(["run", "-d", "--name", name, "--annotation", "org.voidoci.expose=/bin"] + p.net
            + [img, "/bin/sh", "-c", "trap 'echo got-usr1; exit 3' USR1; echo ready; while :; do sleep 0.1; done"])
        try #require(r.status == 0, "podman run -d: \(r)")
        let ready = p.logs(name, until: "ready")
        try #require(ready.contains("ready"), "the trap is set: \(ready)")
        let k = p("kill", "-s", "USR1", name)
        #expect(k.status == 0, "podman kill -s USR1: \(k)")
        let w = p("wait", name, timeout: 20)
        #expect(w.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "3", "the trap ran and exited 3: \(w)")
        #expect(p.logs(name, until: "got-usr1").contains("got-usr1"))
    }

    @Test(arguments: As.allCases)
    func rmForceRemovesRunningAndCreatedContainers(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)

        let created = p.name("created")
        let c = p.call(["create", "--name", created] + p.net + [img, "/bin/true"])
        try #require(c.status == 0, "podman create: \(c)")
        let rc = p("rm", "-f", created)
        #expect(rc.status == 0, "podman rm -f of a created container: \(rc)")

        let running = p.name("running")
        let r = p.call(["run", "-d", "--name", running] + p.net + [img, "/bin/sleep", "1000"])
        try #require(r.status == 0, "podman run -d: \(r)")
        let pid = p.pid(running)
        #expect(Podman.alive(pid))
        let rr = p("rm", "-f", "-t", "0", running)
        #expect(rr.status == 0, "podman rm -f -t 0 of a running container: \(rr)")
        #expect(Podman.waitUntil(5) { !Podman.alive(pid) }, "the container's process \(pid) is gone")

        let ps = p("ps", "-a", "--filter", "name=^\(p.marker)", "--format", "{{.Names}}")
        #expect(ps.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "no container left: \(ps)")
        #expect(Podman.stateEntries(in: p.stateRoot, matching: p.marker).isEmpty, "no voidoci state left")
    }

    // MARK: - terminals

    @Test(arguments: As.allCases)
    func runInteractiveTerminal(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let t = try PodmanPty(p, ["run", "-it", "--rm", "--name", p.name("it")] + p.net + [img, "/bin/sh"])
        #expect(t.expect("# "), "a shell prompt on the terminal: \(t.text.debugDescription)")
        let mark = t.output.count
        t.send("echo ok-$((6*7))\n")
        #expect(t.expect("ok-42", from: mark), "the typed command ran: \(t.text.debugDescription)")
        t.send("exit\n")
        let status = t.wait()
        #expect(status == 0, "podman run -it exits with the shell's status: \(String(describing: status)) \(t.text.debugDescription)")
    }

    @Test(arguments: As.allCases)
    func runTtyWithoutStdin(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let r = p.call(["run", "-t", "--rm", "--name", p.name("t")] + p.net + [img, "/bin/sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo tty-yes"])
        #expect(r.status == 0, "podman run -t: \(r)")
        #expect(r.stdout.contains("tty-yes"), "stdin and stdout are a terminal: \(r)")
    }

    // MARK: - mounts and the file system

    @Test(arguments: As.allCases)
    func volumeIsWritable(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        // World-writable: the void's root is an unprivileged host id (65534 rootful, the user
        // rootless), not the owner of a root-made directory.
        let dir = Podman.hostDir("vol")
        let r = p.call(["run", "--rm", "--name", p.name("vol"), "-v", "\(dir):/data"] + p.net
            + [img, "/bin/sh", "-c", "echo from-void > /data/f && echo wrote"])
        #expect(r.status == 0 && r.stdout.contains("wrote"), "podman run -v DIR:/data, write: \(r)")
        #expect(Podman.readFile("\(dir)/f") == "from-void\n", "the file is on the host")
        var st = stat()
        if stat("\(dir)/f", &st) == 0 {
            let expected: UInt32 = who == .root ? 65534 : Podman.userUID
            #expect(st.st_uid == expected, "written as the void's root, host id \(expected): \(st.st_uid)")
        }
    }

    @Test(arguments: As.allCases)
    func readOnlyVolumeRefusesWrites(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let dir = Podman.hostDir("rovol")
        _ = FileManager.default.createFile(atPath: "\(dir)/present", contents: Data("seen\n".utf8))
        chmod("\(dir)/present", 0o644)
        let r = p.call(["run", "--rm", "--name", p.name("rovol"), "-v", "\(dir):/data:ro"] + p.net
            + [img, "/bin/sh", "-c", "read l < /data/present && echo read-$l; echo x > /data/g && echo wrote"])
        #expect(r.stdout.contains("read-seen"), "the volume is visible: \(r)")
        #expect(!r.stdout.contains("wrote") && r.status != 0, "a write fails: \(r)")
        #expect(r.stderr.contains("Read-only file system"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/g"))
    }

    @Test(arguments: As.allCases)
    func readOnlyRootFilesystem(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let rw = p.call(["run", "--rm", "--name", p.name("rw")] + p.net + [img, "/bin/sh", "-c", "echo x > /probe && echo wrote"])
        #expect(rw.stdout.contains("wrote"), "without --read-only the void's tmpfs root is writable: \(rw)")
        let ro = p.call(["run", "--rm", "--read-only", "--name", p.name("ro")] + p.net + [img, "/bin/sh", "-c", "echo x > /probe && echo wrote"])
        #expect(!ro.stdout.contains("wrote") && ro.status != 0, "podman run --read-only: \(ro)")
        #expect(ro.stderr.contains("Read-only file system"), "\(ro)")
    }

    @Test(arguments: As.allCases)
    func userOptionSetsIds(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let r = p.call(["run", "--rm", "--name", p.name("user"), "--user", "1000:1000", "--annotation", "org.voidoci.mounts=proc"] + p.net
            + [img, "/bin/sh", "-c", Self.statusScript])
        try #require(r.status == 0, "podman run --user 1000:1000: \(r)")
        let f = Self.fields(r.stdout)
        #expect(f["Uid"]?.split(separator: "\t").map(String.init) == ["1000", "1000", "1000", "1000"], "\(r.stdout)")
        #expect(f["Gid"]?.split(separator: "\t").map(String.init) == ["1000", "1000", "1000", "1000"], "\(r.stdout)")
        #expect(f["CapEff"] == "0000000000000000", "a non-root user has no effective capabilities: \(r.stdout)")
    }

    @Test(arguments: As.allCases)
    func capabilitiesFollowCapAddAndCapDrop(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let netAdmin: UInt64 = 1 << 12
        func capEff(_ extra: [String], _ tag: String) -> UInt64? {
            let r = p.call(["run", "--rm", "--name", p.name(tag), "--annotation", "org.voidoci.mounts=proc"] + extra + p.net
                + [img, "/bin/sh", "-c", Self.statusScript])
            #expect(r.status == 0, "podman run \(extra): \(r)")
            return Self.fields(r.stdout)["CapEff"].flatMap { UInt64($0, radix: 16) }
        }
        let base = capEff([], "capdef")
        #expect(base != nil && base != 0, "podman's default capabilities: \(String(describing: base))")
        #expect((base ?? 0) & netAdmin == 0, "NET_ADMIN is not a default")
        let add = capEff(["--cap-add", "NET_ADMIN"], "capadd")
        #expect(add.map { $0 & netAdmin != 0 } == true, "--cap-add NET_ADMIN: CapEff \(String(describing: add))")
        #expect(add.map { $0 & ~netAdmin } == base, "nothing else changes")
        let drop = capEff(["--cap-drop", "ALL"], "capdrop")
        #expect(drop == 0, "--cap-drop ALL: CapEff \(String(describing: drop))")
    }

    @Test(arguments: As.allCases)
    func seccompUnconfined(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let d = p.call(["run", "--rm", "--name", p.name("secdef"), "--annotation", "org.voidoci.mounts=proc"] + p.net + [img, "/bin/sh", "-c", Self.statusScript])
        #expect(Self.fields(d.stdout)["Seccomp"] == "2", "podman's default profile is a filter: \(d)")
        let u = p.call(["run", "--rm", "--name", p.name("secoff"), "--security-opt", "seccomp=unconfined", "--annotation", "org.voidoci.mounts=proc"] + p.net
            + [img, "/bin/sh", "-c", Self.statusScript])
        #expect(u.status == 0, "\(u)")
        #expect(Self.fields(u.stdout)["Seccomp"] == "0", "--security-opt seccomp=unconfined: no filter: \(u)")
    }

    @Test(arguments: As.allCases)
    func preserveFdsPassesFd3(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let dir = Podman.hostDir("fds", mode: 0o700)  // only root can open it: the fd is the grant
        _ = FileManager.default.createFile(atPath: "\(dir)/secret", contents: Data("fd-three-content\n".utf8))
        let r = p.call(["run", "--rm", "--name", p.name("fds"), "--preserve-fds", "1"] + p.net
            + [img, "/bin/sh", "-c", "read l <&3 && echo got:$l"], fd3: "\(dir)/secret")
        #expect(r.status == 0, "podman run --preserve-fds 1: \(r)")
        #expect(r.stdout.contains("got:fd-three-content"), "fd 3 reaches the void: \(r)")
    }

    @Test(arguments: As.allCases)
    func rootfsAnnotationShowsTheWholeImage(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let r = p.call(["run", "--rm", "--name", p.name("rootfs"), "--annotation", "org.voidoci.rootfs=ro"] + p.net
            + [img, "/bin/sh", "-c", "echo /*; echo /bin/l*; echo x > /tmp/probe && echo wrote"])
        #expect(r.stdout.contains("/tmp") && r.stdout.contains("/usr"), "the image's whole tree: \(r)")
        #expect(r.stdout.contains("/bin/ls"), "every applet of the image: \(r)")
        #expect(!r.stdout.contains("wrote") && r.stderr.contains("Read-only file system"), "ro: \(r)")
    }

    @Test(arguments: As.allCases)
    func exposeAnnotationGrantsOnePath(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let r = p.call(["run", "--rm", "--name", p.name("expose"), "--annotation", "org.voidoci.expose=/etc/passwd"] + p.net
            + [img, "/bin/sh", "-c", "read l < /etc/passwd && echo first:$l; echo /etc/*"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("first:root:x:0:0:"), "/etc/passwd from the image: \(r)")
        #expect(!r.stdout.contains("/etc/group"), "the rest of /etc is not granted: \(r)")
    }

    /// An expose path the image lacks is an error at create that names it (issue 11). Worded
    /// without "no such file or directory": podman reads that phrase as a missing program and
    /// answers 127 with a message of its own.
    @Test(arguments: As.allCases)
    func exposeOfAPathTheImageLacksNamesIt(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let r = p.call(["run", "--rm", "--name", p.name("noexpose"), "--annotation", "org.voidoci.expose=/no/such/thing"] + p.net
            + [img, "/bin/true"])
        #expect(r.status != 0 && r.status != 127, "\(r)")
        #expect(r.stderr.contains("org.voidoci.expose: /no/such/thing: the image has nothing at this path"), "\(r)")
    }

    /// podman splits --annotation values at commas; ';' passes (issue 11).
    @Test(arguments: As.allCases)
    func listGrantsPassThroughPodmanWithSemicolons(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let r = p.call(["run", "--rm", "--name", p.name("semi"), "--annotation", "org.voidoci.mounts=proc;tmpfs",
                        "--annotation", "org.voidoci.expose=/etc/passwd;/etc/group"] + p.net
            + [img, "/bin/sh", "-c", "read l < /proc/self/comm && echo comm:$l; read g < /etc/group && echo group:${g%%:*}; read u < /etc/passwd && echo passwd:${u%%:*}"])
        #expect(r.status == 0, "\(r)")
        #expect(VoidCheck.lines(r.stdout) == ["comm:sh", "group:root", "passwd:root"], "\(r)")
    }

    @Test(arguments: As.allCases)
    func networkNoneHasOnlyLoopback(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let r = p.call(["run", "--rm", "--name", p.name("nonet"), "--network", "none", "--annotation", "org.voidoci.mounts=proc",
                        img, "/bin/sh", "-c", "while read l; do echo \"$l\"; done < /proc/net/dev"])
        #expect(r.status == 0, "\(r)")
        #expect(Podman.interfaces(r.stdout) == ["lo"], "--network none: only lo: \(r)")
    }

    /// Rootful podman makes a network namespace (with an interface) and passes its path: the void
    /// joins exactly that namespace.
    @Test func defaultNetworkIsJoinedRootful() throws {
        let p = try Podman.open(.root)
        defer { p.close() }
        let img = try p.image(.busybox)
        let name = p.name("net")
        let r = p.call(["run", "-d", "--name", name, img, "/bin/sleep", "1000"])
        try #require(r.status == 0, "\(r)")
        let pid = p.pid(name)
        try #require(pid > 0)
        let ifs = Podman.interfaces(Podman.readFile("/proc/\(pid)/net/dev") ?? "")
        #expect(ifs.contains("lo") && ifs.contains { $0 != "lo" }, "an interface besides lo: \(ifs)")
        let key = p.inspect(name, "{{.NetworkSettings.SandboxKey}}")
        var a = stat(), b = stat()
        #expect(!key.isEmpty && stat(key, &a) == 0 && stat("/proc/\(pid)/ns/net", &b) == 0 && a.st_ino == b.st_ino,
                "the void is in podman's namespace \(key)")
        #expect(Podman.ns(pid, "net") != Podman.ns(getpid(), "net"), "not the host's network")
    }

    // MARK: - pods

    @Test(arguments: As.allCases)
    func podContainersShareTheInfraNamespaces(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let pod = p.podName("pod")
        let c = p.call(["pod", "create", "--name", pod] + p.net)
        try #require(c.status == 0, "podman pod create: \(c)")
        let infraID = p.call(["pod", "inspect", "--format", "{{.InfraContainerID}}", pod]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        p.track(id: infraID)
        var pids: [Int32] = []
        for tag in ["a", "b"] {
            let name = p.name("in-pod-\(tag)")
            let r = p.call(["run", "-d", "--pod", pod, "--name", name, img, "/bin/sleep", "1000"])
            try #require(r.status == 0, "podman run -d --pod: \(r)")
            pids.append(p.pid(name))
        }
        let infraPid = p.pid(infraID)
        try #require(infraPid > 0 && pids.allSatisfy { $0 > 0 }, "pids: infra \(infraPid), \(pids)")
        for kind in ["net", "uts", "ipc"] {
            let infra = Podman.ns(infraPid, kind)
            #expect(infra != nil)
            #expect(pids.map { Podman.ns($0, kind) } == [infra, infra], "\(kind): both containers joined the infra's namespace")
            #expect(infra != Podman.ns(getpid(), kind), "\(kind): not the host's")
        }
        let rm = p("pod", "rm", "-f", "-t", "0", pod)
        #expect(rm.status == 0, "podman pod rm -f: \(rm)")
        #expect(Podman.waitUntil(5) { !(pids + [infraPid]).contains(where: Podman.alive) }, "every process of the pod is gone")
    }

    // MARK: - cgroups: limits, update, pause

    @Test(arguments: Podman.cgroupCases)
    func cgroupLimitsAreAppliedAndUpdated(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let name = p.name("limits")
        let r = p.call(["run", "-d", "--name", name, "--memory", "64m", "--pids-limit", "50"] + p.net + [img, "/bin/sleep", "1000"])
        try #require(r.status == 0, "podman run -d --memory 64m --pids-limit 50: \(r)")
        let id = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let pid = p.pid(name)
        try #require(pid > 0)
        func memLimit() -> String? {
            guard let d = Podman.cgroupDir(pid, controller: "memory") else { return nil }
            return (Podman.readFile("\(d)/memory.limit_in_bytes") ?? Podman.readFile("\(d)/memory.max"))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let memDir = Podman.cgroupDir(pid, controller: "memory")
        #expect(memDir?.contains(id) == true, "a leaf cgroup of this container: \(memDir ?? "none") \(Podman.readFile("/proc/\(pid)/cgroup") ?? "")")
        #expect(memLimit() == "67108864", "--memory 64m: \(memLimit() ?? "no memory cgroup")")
        let pids = Podman.cgroupDir(pid, controller: "pids").flatMap { Podman.readFile("\($0)/pids.max") }?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(pids == "50", "--pids-limit 50: \(pids ?? "no pids cgroup")")

        let u = p("update", "--memory", "128m", name)
        #expect(u.status == 0, "podman update --memory 128m: \(u)")
        #expect(memLimit() == "134217728", "after update: \(memLimit() ?? "no memory cgroup")")

        let rm = p("rm", "-f", "-t", "0", name)
        #expect(rm.status == 0, "\(rm)")
        if let d = memDir {
            #expect(Podman.waitUntil(5) { !FileManager.default.fileExists(atPath: d) }, "the container's cgroup \(d) is removed")
        }
    }

    @Test(arguments: Podman.cgroupCases)
    func pauseFreezesAndUnpauseResumes(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let name = p.name("pause")
        let r = p.call(["run", "-d", "--name", name, "--annotation", "org.voidoci.expose=/bin"] + p.net
            + [img, "/bin/sh", "-c", "while :; do echo tick; sleep 0.05; done"])
        try #require(r.status == 0, "\(r)")
        func ticks() -> Int { p.call(["logs", name]).stdout.components(separatedBy: "tick").count - 1 }
        _ = p.logs(name, until: "tick")

        let pause = p("pause", name)
        #expect(pause.status == 0, "podman pause: \(pause)")
        #expect(p.inspect(name, "{{.State.Status}}") == "paused")
        let frozen = ticks()
        usleep(500_000)
        #expect(ticks() == frozen, "no output while paused")

        let unpause = p("unpause", name)
        #expect(unpause.status == 0, "podman unpause: \(unpause)")
        #expect(p.inspect(name, "{{.State.Status}}") == "running")
        #expect(Podman.waitUntil(5) { ticks() > frozen }, "output resumes after unpause")
    }

    // MARK: - exec

    /// A running container of the host image: dash, coreutils and their libraries; the void
    /// itself only holds sleep's closure.
    func sleeper(_ p: Podman, _ tag: String) throws -> String {
        let img = try p.image(.host)
        let name = p.name(tag)
        let r = p.call(["run", "-d", "--name", name] + p.net + [img, "/bin/sleep", "1000"])
        try #require(r.status == 0, "podman run -d HOSTIMG /bin/sleep 1000: \(r)")
        return name
    }

    @Test(arguments: As.allCases)
    func execRunsInTheRunningContainer(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let name = try sleeper(p, "exec")
        let r = p("exec", name, "/bin/sh", "-c", "echo in-exec $$")
        #expect(r.status == 0, "podman exec CTR /bin/sh -c 'echo in-exec': \(r)")
        let words = r.stdout.split(whereSeparator: \.isWhitespace).map(String.init)
        #expect(words.first == "in-exec", "\(r)")
        // In the container's pid namespace, where pid 1 is the sleep.
        #expect(words.count == 2 && words[1] != "1" && (Int(words[1]) ?? 0) > 1, "the exec'd shell is not a new pid 1: \(r)")
        let e = p("exec", name, "/bin/sh", "-c", "exit 3")
        #expect(e.status == 3, "podman exec returns the program's status: \(e)")
        #expect(p.inspect(name, "{{.State.Status}}") == "running", "the container keeps running")
    }

    @Test(arguments: As.allCases)
    func execBindsInAProgramTheVoidLacks(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let name = try sleeper(p, "execls")
        // ls is in the image but not in the void (it runs sleep): exec binds ls and its
        // libraries in.
        let r = p("exec", name, "/bin/ls", "/")
        #expect(r.status == 0, "podman exec CTR /bin/ls /: \(r)")
        #expect(Self.lines(r.stdout).contains("usr"), "ls lists the void's root: \(r)")
    }

    @Test(arguments: As.allCases)
    func execInteractiveTerminal(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let name = try sleeper(p, "execit")
        let t = try PodmanPty(p, ["exec", "-it", name, "/bin/sh"])
        #expect(t.expect("# "), "a shell prompt: \(t.text.debugDescription)")
        let mark = t.output.count
        t.send("echo ok-$((6*7))\n")
        #expect(t.expect("ok-42", from: mark), "podman exec -it: \(t.text.debugDescription)")
        t.send("exit\n")
        let status = t.wait()
        #expect(status == 0, "podman exec -it exits with the shell's status: \(String(describing: status)) \(t.text.debugDescription)")
    }

    /// `podman cp` into and out of a running container works on the void's own root (podman
    /// joins the container's mount namespace).
    @Test(arguments: As.allCases)
    func cpIntoAndOutOfARunningContainer(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        let name = p.name("cp")
        let r = p.call(["run", "-d", "--name", name] + p.net + [img, "/bin/sleep", "1000"])
        try #require(r.status == 0, "\(r)")
        let dir = Podman.hostDir("cp", mode: 0o777)
        _ = FileManager.default.createFile(atPath: "\(dir)/in", contents: Data("copied-in\n".utf8))
        chmod("\(dir)/in", 0o644)

        let cin = p("cp", "\(dir)/in", "\(name):/copied")
        #expect(cin.status == 0, "podman cp HOSTFILE CTR:/copied: \(cin)")
        let cat = p("exec", name, "/bin/cat", "/copied")
        #expect(cat.stdout == "copied-in\n", "the running void sees the file: \(cat)")

        let cout = p("cp", "\(name):/etc/hostname", "\(dir)/out")
        #expect(cout.status == 0, "podman cp CTR:/etc/hostname HOSTFILE: \(cout)")
        #expect(!(Podman.readFile("\(dir)/out") ?? "").isEmpty, "the container's /etc/hostname copied out")
    }

    // MARK: - sysctls and tmpfs copy-up

    /// podman passes net.ipv4.ping_group_range="0 0" by default and --sysctl values: written in
    /// podman's network namespace (joined: by voidoci) and in the void's own (--network none).
    @Test(arguments: As.allCases)
    func sysctlsAreApplied(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let img = try p.image(.busybox)
        for net in who == .root ? [[], ["--network", "none"]] : [p.net] {
            let r = p.call(["run", "--rm", "--name", p.name("sysctl\(net.count)"), "--annotation", "org.voidoci.mounts=proc",
                            "--annotation", "org.voidoci.expose=/bin",
                            "--sysctl", "net.ipv4.ip_default_ttl=42", "--sysctl", "kernel.shmmni=1000"] + net
                // cat, not the shell's read: a sysctl file answers a read past offset 0 with EOF.
                + [img, "/bin/cat", "/proc/sys/net/ipv4/ip_default_ttl", "/proc/sys/net/ipv4/ping_group_range", "/proc/sys/kernel/shmmni"])
            #expect(r.status == 0, "\(net): \(r)")
            #expect(Self.lines(r.stdout) == ["42", "0\t0", "1000"], "\(net): \(r)")
        }
    }

    /// `--tmpfs /tmp` passes tmpcopyup: the image's /tmp content is in the new tmpfs.
    @Test(arguments: As.allCases)
    func tmpfsCopiesTheImagesContentUp(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let image = TmpCopyupTests.Image()
        defer { image.remove() }
        let tar = "/tmp/\(Podman.processPrefix)copyup-\(UUID().uuidString.prefix(6)).tar"
        defer { unlink(tar) }
        let t = Shell.run(["tar", "-C", image.root, "--numeric-owner", "-cf", tar, "."], timeout: 120)
        try #require(t.status == 0, "\(t)")
        chmod(tar, 0o644)
        let img = "localhost/\(Podman.processPrefix)copyup-\(who == .root ? "r" : "u"):test"
        let i = p.call(["import", tar, img], timeout: 120)
        try #require(i.status == 0, "\(i)")
        defer { _ = p.call(["rmi", "-f", img], timeout: 60) }
        let r = p.call(["run", "--rm", "--name", p.name("copyup"), "--network", "none", "--tmpfs", "/tmp",
                        "--annotation", "org.voidoci.mounts=tmpfs", "--annotation", "org.voidoci.expose=/bin",
                        img, "/bin/sh", "-c", "cat /tmp/top /tmp/seed/a.txt; readlink /tmp/seed/link; echo x > /tmp/new && echo wrote"])
        #expect(r.status == 0, "\(r)")
        #expect(Self.lines(r.stdout) == ["top", "alpha", "a.txt", "wrote"], "\(r)")
    }

    // MARK: - podman itself

    @Test(arguments: As.allCases)
    func infoNamesVoidoci(who: As) throws {
        let p = try Podman.open(who)
        defer { p.close() }
        let r = p("info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}")
        #expect(r.status == 0, "podman --runtime voidoci info: \(r)")
        // Named by the path when one is given (VOIDOCI_PODMAN_RUNTIME).
        let expected = Podman.runtime.hasPrefix("/") ? "\(Podman.runtime) \(Podman.runtime)" : "voidoci /usr/local/bin/voidoci"
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected, "\(r)")
    }

    // MARK: - last: nothing left

    /// Runs last (serialized suites run in source order): no container, pod or voidoci state of
    /// this test process is left, rootful or rootless.
    @Test func zzNothingLeftBehind() throws {
        for who in As.allCases where who == .root || Env.hasTestUser {
            let p = try Podman.open(who)
            let ps = p("ps", "-a", "--format", "{{.Names}}")
            #expect(ps.status == 0, "\(ps)")
            let ours = Self.lines(ps.stdout).filter { $0.hasPrefix(Podman.processPrefix) }
            #expect(ours.isEmpty, "containers left (\(who)): \(ours)")
            let pods = p("pod", "ps", "--format", "{{.Name}}")
            let ourPods = Self.lines(pods.stdout).filter { $0.hasPrefix(Podman.processPrefix) }
            #expect(ourPods.isEmpty, "pods left (\(who)): \(ourPods)")
            let state = Podman.stateEntries(in: p.stateRoot, matching: Podman.processPrefix)
            #expect(state.isEmpty, "voidoci state left in \(p.stateRoot) (\(who)): \(state)")
        }
    }
}
