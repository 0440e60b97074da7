import Foundation
import Testing

extension DaemonEngineTests {
    /// The real containerd 1.6 and its containerd-shim-runc-v2 driving the installed voidoci as
    /// the runc binary (`ctr run --runc-binary /usr/local/bin/voidoci`). Every test starts a
    /// containerd of its own (DaemonSupport.swift) and runs the busybox rootfs directly
    /// (`ctr run --rootfs DIR`: no image, no snapshotter); at the end it checks that no task,
    /// container or voidoci state is left, stops the daemon and compares the host mount table.
    ///
    /// Written as a ctr user expects; a failure is voidoci not following what the shim asks.
    @Suite struct ContainerdTests {

        // MARK: ctr run: output and exit status

        /// Exactly what a user types: no `--runc-root`, so the shim passes runc's default state
        /// directory, /run/containerd/runc/NAMESPACE, to voidoci.
        @Test func runWithTheDefaultRuntimeRoot() throws {
            try ContainerdDaemon.with { d in
                let id = d.id("hi")
                let r = d.ctr(["run", "--rm", "--runc-binary", Daemons.runtime, "--rootfs", DaemonImages.busyboxRootfs, id,
                               "/bin/sh", "-c", "echo hi; echo /*"])
                #expect(r.status == 0, "ctr run --rm --runc-binary \(Daemons.runtime) --rootfs DIR \(id) /bin/sh -c 'echo hi; echo /*': \(r)\nmodes on the way to /run/containerd/runc: \(Self.modes("/run/containerd/runc"))\n\(d.logTail)")
                #expect(Daemons.lines(r.stdout) == ["hi", "/bin"], "only the program's directory is in the void: \(r)")
            }
        }

        /// The same with the runtime's state under the daemon's own dir (`--runc-root`).
        @Test func runPrintsOutputAndExitStatus() throws {
            try ContainerdDaemon.with { d in
                let id = d.id("hi")
                let r = d.ctr(["run", "--rm"] + d.runFlags + ["--rootfs", DaemonImages.busyboxRootfs, id, "/bin/sh", "-c", "echo hi; echo /*"])
                try #require(r.status == 0, "ctr run --rm --runc-binary ... --rootfs DIR \(id) /bin/sh -c 'echo hi; echo /*': \(r)\n\(d.logTail)")
                // ctr binds nothing: the void holds the program's directory only.
                #expect(Daemons.lines(r.stdout) == ["hi", "/bin"], "\(r)")
                let e = d.ctr(["run", "--rm"] + d.runFlags + ["--rootfs", DaemonImages.busyboxRootfs, d.id("exit3"), "/bin/sh", "-c", "exit 3"])
                #expect(e.status == 3, "ctr run ... /bin/sh -c 'exit 3' exits with the program's status: \(e)")
                #expect(d.leftovers().isEmpty, "--rm removed the containers: \(d.leftovers())")
            }
        }

        /// ctr's `--annotation` reaches the void; a list grant written with ';' passes through
        /// ctr (whose flag parser splits values at commas, as podman's does).
        @Test func listGrantsPassThroughCtrWithSemicolons() throws {
            try ContainerdDaemon.with { d in
                let r = d.ctr(["run", "--rm"] + d.runFlags + ["--annotation", "org.voidoci.mounts=proc;tmpfs",
                               "--rootfs", DaemonImages.busyboxRootfs, d.id("semi"),
                               "/bin/sh", "-c", "read l < /proc/self/comm && echo comm:$l"])
                #expect(r.status == 0 && Daemons.lines(r.stdout) == ["comm:sh"], "\(r)\n\(d.logTail)")
                #expect(d.leftovers().isEmpty, "\(d.leftovers())")
            }
        }

        /// containerd-shim-runc-v2 makes its socket directory with `MkdirAll("/run/containerd/s",
        /// 0600)`: on a host where containerd's state dir is elsewhere (k3s, this test's daemon),
        /// /run/containerd is then mode 0600, and runc's default root
        /// /run/containerd/runc/NAMESPACE lies below a directory only root's capabilities can
        /// search. runc works there (checked by hand with `--runc-binary /usr/sbin/runc`); the
        /// same shape is built here under the daemon's dir so the test does not depend on who
        /// made /run/containerd first.
        @Test func runtimeRootBelowADirectoryWithoutSearchPermission() throws {
            try ContainerdDaemon.with { d in
                let locked = "\(d.base)/owner-rw-only"
                mkdir(locked, 0o700)
                chmod(locked, 0o600)
                let root = "\(locked)/runc"
                let id = d.id("locked")
                let r = d.ctr(["run", "--rm", "--runc-binary", Daemons.runtime, "--runc-root", root, "--fifo-dir", d.fifoDir,
                               "--rootfs", DaemonImages.busyboxRootfs, id, "/bin/sh", "-c", "echo hi"])
                #expect(r.status == 0 && Daemons.trimmed(r.stdout) == "hi",
                        "ctr run --rm --runc-binary \(Daemons.runtime) --runc-root \(root) (parent mode 0600) ... /bin/sh -c 'echo hi': \(r)")
                chmod(locked, 0o700)
                #expect(Daemons.entries("\(root)/\(d.namespace)").isEmpty, "voidoci state left in \(root)/\(d.namespace)")
            }
        }

        // MARK: a detached task, exec, ps, kill, delete

        @Test func detachedTaskExecKillDelete() throws {
            try ContainerdDaemon.with { d in
                let id = d.id("task")
                // busybox itself as the program: /bin/sleep is bound in as the static binary.
                let r = d.ctr(["run", "-d"] + d.runFlags + ["--rootfs", DaemonImages.busyboxRootfs, id, "/bin/sleep", "300"])
                try #require(r.status == 0, "ctr run -d ... \(id) /bin/sleep 300: \(r)\n\(d.logTail)")
                let task = d.tasks()[id]
                try #require(task?.status == "RUNNING", "ctr task ls: \(d.ctr(["task", "ls"]))")
                let pid = task?.pid ?? 0
                #expect(Daemons.alive(pid), "the task's pid \(pid) is the running void init")

                let e = d.ctr(["task", "exec", "--fifo-dir", d.fifoDir, "--exec-id", "x1", id, "/bin/sh", "-c", "echo in-exec"])
                #expect(e.status == 0 && Daemons.trimmed(e.stdout) == "in-exec", "ctr task exec --exec-id x1 \(id) /bin/sh -c 'echo in-exec': \(e)")
                let s = d.ctr(["task", "exec", "--fifo-dir", d.fifoDir, "--exec-id", "x2", id, "/bin/sh", "-c", "exit 5"])
                #expect(s.status == 5, "ctr task exec ... /bin/sh -c 'exit 5' exits with the program's status: \(s)")

                // `ctr task ps` is `voidoci ps --format json`; a detached exec shows with its exec id.
                let bg = d.ctr(["task", "exec", "-d", "--fifo-dir", d.fifoDir, "--exec-id", "x3", id, "/bin/sleep", "300"])
                #expect(bg.status == 0, "ctr task exec -d --exec-id x3 \(id) /bin/sleep 300: \(bg)")
                let ps = d.ctr(["task", "ps", id])
                #expect(ps.status == 0, "ctr task ps \(id): \(ps)")
                let pids = Daemons.lines(ps.stdout).dropFirst().compactMap { Int32($0.split(separator: " ").first ?? "") }
                #expect(pids.contains(pid), "ctr task ps lists the init \(pid): \(ps)")
                #expect(pids.count == 2 && ps.stdout.contains("x3"), "ctr task ps lists the detached exec: \(ps)")

                let k = d.ctr(["task", "kill", "-s", "KILL", id])
                #expect(k.status == 0, "ctr task kill -s KILL \(id): \(k)")
                #expect(Daemons.waitUntil(10) { d.tasks()[id]?.status == "STOPPED" }, "the task stops: \(d.ctr(["task", "ls"]))")
                #expect(!Daemons.alive(pid), "the void's init \(pid) is gone")
                let del = d.ctr(["task", "delete", id])
                #expect(del.status == 0, "ctr task delete \(id): \(del)")
                let cdel = d.ctr(["container", "delete", id])
                #expect(cdel.status == 0, "ctr container delete \(id): \(cdel)")
                #expect(d.leftovers().isEmpty, "\(d.leftovers())")
                #expect(d.runtimeStateLeft().isEmpty, "voidoci state after ctr task delete: \(d.runtimeStateLeft())")
            }
        }

        @Test func pauseAndResume() throws {
            try ContainerdDaemon.with { d in
                let id = d.id("pause")
                let r = d.ctr(["run", "-d"] + d.runFlags + ["--rootfs", DaemonImages.busyboxRootfs, id, "/bin/sleep", "300"])
                try #require(r.status == 0, "ctr run -d ... \(id) /bin/sleep 300: \(r)\n\(d.logTail)")
                let p = d.ctr(["task", "pause", id])
                #expect(p.status == 0, "ctr task pause \(id): \(p)")
                #expect(d.tasks()[id]?.status == "PAUSED", "\(d.ctr(["task", "ls"]))")
                let u = d.ctr(["task", "resume", id])
                #expect(u.status == 0, "ctr task resume \(id): \(u)")
                #expect(d.tasks()[id]?.status == "RUNNING", "\(d.ctr(["task", "ls"]))")
                d.ctr(["task", "kill", "-s", "KILL", id])
                _ = Daemons.waitUntil(10) { d.tasks()[id]?.status == "STOPPED" }
                #expect(d.ctr(["task", "delete", id]).status == 0)
                #expect(d.ctr(["container", "delete", id]).status == 0)
            }
        }

        // MARK: features

        /// containerd 1.6's shim never runs `features` (1.7's `containerd-shim-runc-v2 -info`
        /// does, and decodes it as runtime-spec `features.Features`). What voidoci prints must be
        /// that JSON, and the shim must run voidoci all the same.
        @Test func featuresAreWhatAShimDecodes() throws {
            let f = Shell.runReaped([Daemons.runtime, "features"], env: ["PATH": Daemons.path], timeout: 20)
            try #require(f.status == 0, "voidoci features: \(f)")
            let obj = try JSONSerialization.jsonObject(with: Data(f.stdout.utf8)) as? [String: Any]
            let j = try #require(obj, "voidoci features is a JSON object: \(f.stdout)")
            #expect(j["ociVersionMin"] is String && j["ociVersionMax"] is String, "\(j)")
            // The bundles containerd 1.6 writes carry ociVersion 1.0.2-dev.
            let max = (j["ociVersionMax"] as? String ?? "").split(separator: ".").compactMap { Int($0) }
            #expect(max.lexicographicallyPrecedes([1, 0, 2]) == false, "ociVersionMax \(j["ociVersionMax"] ?? "") ≥ 1.0.2")
            #expect(j["hooks"] is [String] && j["mountOptions"] is [String], "\(j)")
            let linux = j["linux"] as? [String: Any] ?? [:]
            let ns = linux["namespaces"] as? [String] ?? []
            #expect(Set(["mount", "pid", "network", "ipc", "uts"]).isSubset(of: Set(ns)), "linux.namespaces: \(ns)")
            #expect(linux["capabilities"] is [String], "\(linux)")
            #expect(linux["cgroup"] is [String: Any] && linux["seccomp"] is [String: Any], "\(linux)")
            #expect(j["annotations"] == nil || j["annotations"] is [String: String], "\(j)")

            try ContainerdDaemon.with { d in
                let id = d.id("feat")
                let r = d.ctr(["run", "--rm"] + d.runFlags + ["--rootfs", DaemonImages.busyboxRootfs, id, "/bin/sh", "-c", "echo ok"])
                #expect(r.status == 0 && Daemons.trimmed(r.stdout) == "ok", "the shim runs voidoci: \(r)\n\(d.logTail)")
            }
        }

        /// `ls -ld` of each directory from / down to `path` (for the failure message).
        static func modes(_ path: String) -> String {
            var parts: [String] = []
            var cur = ""
            for c in path.split(separator: "/") {
                cur += "/\(c)"
                var st = stat()
                parts.append(lstat(cur, &st) == 0 ? "\(cur) \(String(st.st_mode & 0o7777, radix: 8))" : "\(cur) absent")
            }
            return parts.joined(separator: ", ")
        }
    }
}
