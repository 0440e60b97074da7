import Foundation
import Testing

extension DaemonEngineTests {
    /// The real dockerd 20.10 (Debian's docker.io, its own containerd and
    /// containerd-shim-runc-v2) driving the installed voidoci, registered with
    /// `--add-runtime voidoci=/usr/local/bin/voidoci` and chosen per container with
    /// `docker run --runtime voidoci`. Every test starts a daemon of its own (DaemonSupport.swift),
    /// imports the busybox rootfs as an image, and at the end checks that no container and no
    /// voidoci state is left, stops the daemon and compares the host mount table.
    ///
    /// The image is scripts/make-rootfs.sh's static busybox: in a void only the program and what
    /// docker binds (/etc/hosts, /etc/hostname, /etc/resolv.conf) exist, so long-running
    /// commands use shell builtins only (`read` on an open stdin, `-i`) or busybox itself as
    /// the program.
    ///
    /// These are written as docker users expect them to behave; a failure is voidoci not
    /// following what docker asks of an OCI runtime.
    @Suite struct DockerTests {

        // MARK: docker run: output and exit status

        @Test func runPrintsOutputAndOnlyWhatWasGranted() throws {
            try DockerDaemon.with { d in
                let img = try d.busyboxImage()
                let r = d("run", "--rm", "--runtime", "voidoci", "--name", d.name("hi"), img, "/bin/sh", "-c", "echo hi; echo /*")
                try #require(r.status == 0, "docker run --rm --runtime voidoci IMG /bin/sh -c 'echo hi; echo /*': \(r)\n\(d.logTail)")
                let out = Daemons.lines(r.stdout)
                #expect(out.first == "hi", "\(r)")
                let root = out.dropFirst().first.map { $0.split(separator: " ").map(String.init) } ?? []
                #expect(root.contains("/bin"), "the program's directory is in the void: \(r)")
                // docker binds /etc/hosts, /etc/hostname and /etc/resolv.conf: /etc is granted.
                #expect(root.contains("/etc"), "docker's bind mounts are honoured: \(r)")
                // The image has /tmp and /usr; the void was not given them.
                #expect(!root.contains("/tmp") && !root.contains("/usr"), "only what was granted is in /: \(root)")
                #expect(d.leftovers().isEmpty, "--rm removed the container: \(d.leftovers())")
            }
        }

        @Test func exitStatusIsTheProgramsStatus() throws {
            try DockerDaemon.with { d in
                let img = try d.busyboxImage()
                let r = d("run", "--rm", "--runtime", "voidoci", "--name", d.name("exit3"), img, "/bin/sh", "-c", "exit 3")
                #expect(r.status == 3, "docker run --rm --runtime voidoci IMG /bin/sh -c 'exit 3': \(r)\n\(d.logTail)")
            }
        }

        // MARK: detached containers

        /// `-d -i`: the shell blocks in `read` on the open stdin docker keeps for it; `docker logs`
        /// shows what it printed first.
        @Test func detachedContainerLogs() throws {
            try DockerDaemon.with { d in
                let img = try d.busyboxImage()
                let n = d.name("logs")
                let r = d("run", "-d", "-i", "--runtime", "voidoci", "--name", n, img, "/bin/sh", "-c", "echo started; read x; echo got $x")
                try #require(r.status == 0, "docker run -d -i --runtime voidoci IMG ...: \(r)\n\(d.logTail)")
                defer { d("rm", "-f", n) }
                var logs = Result(status: -1, stdout: "", stderr: "")
                let seen = Daemons.waitUntil(10) {
                    logs = d("logs", n)
                    return logs.stdout.contains("started")
                }
                #expect(seen, "docker logs \(n) shows the program's output: \(logs)")
                #expect(d.inspect(n, "{{.State.Status}} {{.HostConfig.Runtime}}") == "running voidoci")
                let pid = Int32(d.inspect(n, "{{.State.Pid}}")) ?? 0
                #expect(Daemons.alive(pid), "docker's State.Pid \(pid) is the void's running init")
                let rm = d("rm", "-f", n)
                #expect(rm.status == 0, "docker rm -f \(n): \(rm)")
                #expect(Daemons.waitUntil(5) { !Daemons.alive(pid) }, "the void's init \(pid) is gone after docker rm -f")
                #expect(d.leftovers().isEmpty, "\(d.leftovers())")
            }
        }

        @Test func execRunsInTheRunningVoid() throws {
            try DockerDaemon.with { d in
                let img = try d.busyboxImage()
                let n = d.name("exec")
                let r = d("run", "-d", "-i", "--runtime", "voidoci", "--name", n, img, "/bin/sh", "-c", "read x")
                try #require(r.status == 0, "docker run -d -i --runtime voidoci IMG /bin/sh -c 'read x': \(r)\n\(d.logTail)")
                defer { d("rm", "-f", n) }
                let e = d("exec", n, "/bin/sh", "-c", "echo in-exec")
                #expect(e.status == 0 && Daemons.trimmed(e.stdout) == "in-exec", "docker exec \(n) /bin/sh -c 'echo in-exec': \(e)")
                let s = d("exec", n, "/bin/sh", "-c", "exit 4")
                #expect(s.status == 4, "docker exec \(n) /bin/sh -c 'exit 4' exits with the program's status: \(s)")
                // A program the void was not started with: exec binds it in from the image.
                let ls = d("exec", n, "/bin/ls", "/")
                #expect(ls.status == 0 && Daemons.lines(ls.stdout).contains("bin"), "docker exec \(n) /bin/ls /: \(ls)")
                // `docker top` is `voidoci ps --format json`.
                let top = d("top", n)
                #expect(top.status == 0 && top.stdout.contains("read x"), "docker top \(n): \(top)")
                #expect(d.inspect(n, "{{.State.Status}}") == "running", "the init still runs after the execs")
            }
        }

        // MARK: stopping

        /// The shell is the void's pid-namespace init and has no TERM handler, so the kernel
        /// drops docker's SIGTERM; after `-t 1` docker sends SIGKILL: exit 137.
        @Test func stopEscalatesToKill() throws {
            try DockerDaemon.with { d in
                let img = try d.busyboxImage()
                let n = d.name("stop")
                let r = d("run", "-d", "-i", "--runtime", "voidoci", "--name", n, img, "/bin/sh", "-c", "read x")
                try #require(r.status == 0, "docker run -d -i --runtime voidoci IMG /bin/sh -c 'read x': \(r)\n\(d.logTail)")
                defer { d("rm", "-f", n) }
                let pid = Int32(d.inspect(n, "{{.State.Pid}}")) ?? 0
                let t0 = Date()
                let s = d("stop", "-t", "1", n, timeout: 30)
                let took = Date().timeIntervalSince(t0)
                #expect(s.status == 0, "docker stop -t 1 \(n): \(s)\n\(d.logTail)")
                #expect(took < 10, "docker stop -t 1 took \(took)s")
                #expect(d.inspect(n, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137", "stopped by SIGKILL")
                #expect(!Daemons.alive(pid), "the void's init \(pid) is gone")
                let rm = d("rm", n)
                #expect(rm.status == 0, "docker rm \(n): \(rm)")
                #expect(d.leftovers().isEmpty, "\(d.leftovers())")
            }
        }

        @Test func removeForceKillsARunningContainer() throws {
            try DockerDaemon.with { d in
                let img = try d.busyboxImage()
                let n = d.name("rmf")
                // busybox itself as the program: /bin/sleep is bound in as the static binary.
                let r = d("run", "-d", "--runtime", "voidoci", "--name", n, img, "/bin/sleep", "300")
                try #require(r.status == 0, "docker run -d --runtime voidoci IMG /bin/sleep 300: \(r)\n\(d.logTail)")
                let pid = Int32(d.inspect(n, "{{.State.Pid}}")) ?? 0
                #expect(Daemons.alive(pid), "the void runs (State.Pid \(pid))")
                let rm = d("rm", "-f", n, timeout: 30)
                #expect(rm.status == 0, "docker rm -f \(n): \(rm)\n\(d.logTail)")
                #expect(Daemons.waitUntil(5) { !Daemons.alive(pid) }, "the void's init \(pid) is gone after docker rm -f")
                #expect(d.leftovers().isEmpty, "\(d.leftovers())")
            }
        }

        // MARK: networking

        /// `--network none`: docker gives a fresh network namespace and adds its
        /// libnetwork-setkey prestart hook (the OCI `hooks.prestart` entry).
        @Test func networkNone() throws {
            try DockerDaemon.with { d in
                let img = try d.busyboxImage()
                let r = d("run", "--rm", "--runtime", "voidoci", "--network", "none", "--name", d.name("nonet"), img,
                          "/bin/sh", "-c", "echo no-network; echo /*")
                #expect(r.status == 0, "docker run --rm --runtime voidoci --network none IMG ...: \(r)\n\(d.logTail)")
                #expect(Daemons.lines(r.stdout).first == "no-network", "\(r)")
            }
        }
    }
}
