import Foundation
import Testing

/// OCI hooks: each stage runs at its point of the lifecycle, in the right namespaces, with the
/// state JSON on stdin; failures fail create/start, or only warn (poststart, poststop).
@Suite(.serialized, .hostClean) struct HooksTests {
    /// A bundle with a world-writable `logs` dir and `hook.sh STAGE [EXIT] [SLEEP]`, which
    /// records, per stage: its pid, the state from stdin, its namespaces, its environment, its
    /// open fds (as `ls` exec'd from it sees them), and appends the stage to `logs/order`.
    final class HookBundle {
        let b: TestBundle
        let logs: String
        let script: String

        init(_ who: As, args: [String] = ["/bin/sleep", "60"], hooks: [String: [[String: Any]]] = [:],
             edit: ((inout [String: Any]) -> Void)? = nil) {
            b = TestBundle(args: args, as: who)
            logs = "\(b.dir)/logs"
            script = "\(b.dir)/hook.sh"
            mkdir(logs, 0o777)
            chmod(logs, 0o777)
            FileManager.default.createFile(atPath: "\(logs)/order", contents: nil)
            chmod("\(logs)/order", 0o666)
            let text = """
                #!/bin/sh
                L=\(logs)
                stage=$1
                echo $$ > "$L/$stage.pid"
                /bin/cat > "$L/$stage.json"
                echo "$stage" >> "$L/order"
                for ns in net mnt pid user; do echo "$ns $(/bin/readlink /proc/self/ns/$ns)"; done > "$L/$stage.ns"
                /usr/bin/env > "$L/$stage.env"
                if [ -n "$3" ]; then exec /bin/sleep "$3"; fi
                if [ "${2:-0}" != 0 ]; then exit "$2"; fi
                exec /bin/ls -l /proc/self/fd > "$L/$stage.fds"

                """
            FileManager.default.createFile(atPath: script, contents: Data(text.utf8))
            chmod(script, 0o755)
            b.edit { c in
                if !hooks.isEmpty { c["hooks"] = hooks }
                c["annotations"] = ["org.example.hooktest": "yes"]
                edit?(&c)
            }
        }

        /// A hook entry running hook.sh for `stage`.
        func hook(_ stage: String, exit: Int = 0, sleep: Int? = nil, timeout: Int? = nil) -> [String: Any] {
            var args = ["hook.sh", stage, "\(exit)"]
            if let s = sleep { args.append("\(s)") }
            var h: [String: Any] = ["path": script, "args": args, "env": ["HOOKVAR=\(stage)"]]
            if let t = timeout { h["timeout"] = t }
            return h
        }

        func setHooks(_ hooks: [String: [[String: Any]]]) { b.edit { $0["hooks"] = hooks } }

        func state(_ stage: String) -> [String: Any]? {
            LifeProbe.read("\(logs)/\(stage).json").flatMap { LifeProbe.jsonObject($0) }
        }

        func namespaces(_ stage: String) -> [String: String] {
            var out: [String: String] = [:]
            for line in (LifeProbe.read("\(logs)/\(stage).ns") ?? "").split(separator: "\n") {
                let f = line.split(separator: " ", maxSplits: 1)
                if f.count == 2 { out[String(f[0])] = String(f[1]) }
            }
            return out
        }

        var order: [String] { (LifeProbe.read("\(logs)/order") ?? "").split(separator: "\n").map(String.init) }

        func pid(_ stage: String) -> Int32? {
            Int32((LifeProbe.read("\(logs)/\(stage).pid") ?? "").trimmingCharacters(in: .whitespacesAndNewlines))
        }

        /// Open fds >= 3 of the process `ls` the hook exec'd, other than ls's own directory and
        /// the hook script itself (a #! script run from an fd keeps that fd, by design).
        func leakedFDs(_ stage: String) -> [String] {
            let listing = LifeProbe.read("\(logs)/\(stage).fds") ?? ""
            guard listing.contains(" 0 -> ") else { return ["no fd listing: \(listing)"] }
            return listing.split(separator: "\n").compactMap { line -> String? in
                guard let arrow = line.range(of: " -> ") else { return nil }
                let fd = line[..<arrow.lowerBound].split(separator: " ").last.flatMap { Int($0) } ?? -1
                let target = String(line[arrow.upperBound...])
                if fd < 3 || target.hasSuffix("/fd") || target == script { return nil }
                return "\(fd) -> \(target)"
            }
        }

        func close() { b.close() }
    }

    static func ns(_ pid: String, _ ns: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(ns)")
    }

    // MARK: create-time stages

    @Test(arguments: As.allCases)
    func createStagesRunBeforeThePivotInTheirNamespaces(who: As) throws {
        try Env.requireUser(who)
        let h = HookBundle(who)
        defer { h.close() }
        h.setHooks(["prestart": [h.hook("prestart")], "createRuntime": [h.hook("createRuntime")],
                    "createContainer": [h.hook("createContainer")]])
        let id = "hk\(LifeProbe.uid())"
        let c = h.b.voidociReaped(["create", "--bundle", h.b.dir, "--pid-file", "\(h.logs)/init.pid", id])
        try #require(c.status == 0, "\(c)")
        #expect(h.order == ["prestart", "createRuntime", "createContainer"], "\(h.order)")
        let initPID = try #require(Int32((LifeProbe.read("\(h.logs)/init.pid") ?? "").trimmingCharacters(in: .whitespaces)))

        for stage in ["prestart", "createRuntime", "createContainer"] {
            let s = try #require(h.state(stage), "\(stage): no state JSON on stdin")
            #expect(s["status"] as? String == "creating", "\(stage): \(s)")
            #expect(s["id"] as? String == id, "\(stage): \(s)")
            #expect(s["bundle"] as? String == h.b.dir, "\(stage): \(s)")
            #expect(s["ociVersion"] as? String == "1.0.2", "\(stage): \(s)")
            #expect((s["annotations"] as? [String: String])?["org.example.hooktest"] == "yes", "\(stage): \(s)")
            // Runtime-namespace hooks see the host's pid; createContainer the void's (pid 1).
            let wantPID = stage == "createContainer" ? 1 : Int(initPID)
            #expect(LifeProbe.int(s["pid"]) == wantPID, "\(stage): \(s)")
            // Exactly the hook's env (sh adds PWD), nothing of voidoci's (PATH).
            let env = (LifeProbe.read("\(h.logs)/\(stage).env") ?? "").split(separator: "\n")
            #expect(env.contains("HOOKVAR=\(stage)") && !env.contains { $0.hasPrefix("PATH=") }, "\(stage): \(env)")
            #expect(h.leakedFDs(stage).isEmpty, "\(stage) inherited fds: \(h.leakedFDs(stage))")
        }
        // createRuntime (and prestart) run in voidoci's namespaces, createContainer in the void's.
        for stage in ["prestart", "createRuntime"] {
            let n = h.namespaces(stage)
            for kind in ["net", "mnt", "pid", "user"] {
                #expect(n[kind] != nil && n[kind] == Self.ns("self", kind), "\(stage) \(kind): \(n)")
            }
        }
        let inVoid = h.namespaces("createContainer")
        for kind in ["net", "mnt", "pid", "user"] {
            #expect(inVoid[kind] != nil && inVoid[kind] == Self.ns("\(initPID)", kind), "createContainer \(kind): \(inVoid) vs init")
        }
        // The void is intact afterwards: created, then runs.
        #expect(LifeProbe.state(h.b, id)?["status"] as? String == "created")
        let s = h.b.voidociReaped(["start", id])
        #expect(s.status == 0, "\(s)")
        #expect(LifeProbe.state(h.b, id)?["status"] as? String == "running")
    }

    @Test(arguments: As.allCases)
    func failingCreateRuntimeHookFailsCreateAndLeavesNothing(who: As) throws {
        try Env.requireUser(who)
        let h = HookBundle(who)
        defer { h.close() }
        h.setHooks(["prestart": [h.hook("prestart")], "createRuntime": [h.hook("createRuntime", exit: 3)],
                    "createContainer": [h.hook("createContainer")], "poststop": [h.hook("poststop")]])
        let id = "hk\(LifeProbe.uid())"
        let c = h.b.voidociReaped(["create", "--bundle", h.b.dir, id])
        #expect(c.status != 0, "\(c)")
        #expect(c.stderr.contains("hooks.createRuntime[0]: \(h.script): exit status 3"), "\(c)")
        #expect(LifeProbe.entries(h.b.stateRoot).isEmpty, "state left: \(LifeProbe.entries(h.b.stateRoot))")
        // The init the prestart hook saw is gone; createContainer never ran; poststop did
        // (runtime-spec lifecycle: a failed hook continues at destroy, then poststop).
        let initPID = try #require(LifeProbe.int(h.state("prestart")?["pid"]))
        #expect(!LifeProbe.alive(Int32(initPID)), "init \(initPID) still alive")
        #expect(h.order == ["prestart", "createRuntime", "poststop"], "\(h.order)")
        #expect(h.state("poststop")?["status"] as? String == "stopped")
        #expect(LifeProbe.state(h.b, id) == nil)
    }

    /// A cgroup that cannot be made fails create after the id was claimed: poststop runs, as it
    /// does for every failure from there on; "already exists" (no claim) runs nothing.
    @Test func cgroupFailureRunsPoststopButExistsDoesNot() throws {
        let h = HookBundle(.root)
        defer { h.close() }
        h.setHooks(["prestart": [h.hook("prestart")], "poststop": [h.hook("poststop")]])
        let id = "hk\(LifeProbe.uid())"
        let c = h.b.voidociReaped(["--systemd-cgroup", "create", "--bundle", h.b.dir, id])
        #expect(c.status != 0 && c.stderr.contains("systemd"), "\(c)")
        #expect(h.order == ["poststop"], "\(h.order)")
        #expect(LifeProbe.entries(h.b.stateRoot).isEmpty, "state left: \(LifeProbe.entries(h.b.stateRoot))")
        let ok = h.b.voidociReaped(["create", "--bundle", h.b.dir, id])
        #expect(ok.status == 0, "\(ok)")
        let again = h.b.voidociReaped(["create", "--bundle", h.b.dir, id])
        #expect(again.status != 0 && again.stderr.contains("already exists"), "\(again)")
        #expect(h.order == ["poststop", "prestart"], "\(h.order)")
        #expect(h.b.voidociReaped(["delete", "--force", id]).status == 0)
    }

    @Test(arguments: ["createRuntime", "createContainer"])
    func hookOutlivingItsTimeoutIsKilledAndFailsCreate(stage: String) throws {
        let h = HookBundle(.root)
        defer { h.close() }
        h.setHooks(["prestart": [h.hook("prestart")], stage: [h.hook(stage, sleep: 30, timeout: 1)]])
        let id = "hk\(LifeProbe.uid())"
        let t0 = Date()
        let c = h.b.voidociReaped(["create", "--bundle", h.b.dir, id], timeout: 40)
        let took = Date().timeIntervalSince(t0)
        #expect(c.status != 0, "\(c)")
        #expect(c.stderr.contains("hooks.\(stage)[0]: \(h.script): timed out after 1 s"), "\(c)")
        #expect(took < 10, "create took \(took) s")
        #expect(LifeProbe.entries(h.b.stateRoot).isEmpty)
        let initPID = try #require(LifeProbe.int(h.state("prestart")?["pid"]))
        #expect(!LifeProbe.alive(Int32(initPID)))
        // In voidoci's pid namespace the hook's pid is the host's: it is gone (killed, reaped).
        if stage == "createRuntime", let p = h.pid(stage) { #expect(!LifeProbe.alive(p), "hook \(p) still alive") }
    }

    @Test func createContainerHookMissingOnTheHostFailsCreate() throws {
        let h = HookBundle(.root)
        defer { h.close() }
        h.setHooks(["createContainer": [["path": "/nonexistent/hook"]]])
        let c = h.b.voidociReaped(["create", "--bundle", h.b.dir, "hk\(LifeProbe.uid())"])
        #expect(c.status != 0)
        #expect(c.stderr.contains("hooks.createContainer[0]: /nonexistent/hook: no such file or directory"), "\(c)")
        #expect(LifeProbe.entries(h.b.stateRoot).isEmpty)
    }

    // MARK: start, delete

    @Test(arguments: As.allCases)
    func startContainerRunsInTheVoidThenPoststartOutside(who: As) throws {
        try Env.requireUser(who)
        // The void's program is sh, so sh is in the void; logs are bound in at /logs.
        let h = HookBundle(who, args: ["/bin/sh", "-c", "echo program >> /logs/order; read x"])
        defer { h.close() }
        let inside: [String: Any] = [
            "path": "/bin/sh",
            "args": ["sh", "-c", #"read -r s; echo "$s" > /logs/startContainer.json; echo $$ > /logs/startContainer.pid; echo startContainer >> /logs/order"#],
        ]
        h.b.edit { c in
            c["mounts"] = [["destination": "/logs", "source": h.logs, "type": "bind", "options": ["rbind"]]]
        }
        h.setHooks(["startContainer": [inside], "poststart": [h.hook("poststart")]])
        let id = "hk\(LifeProbe.uid())"
        let c = h.b.voidociReaped(["create", "--bundle", h.b.dir, "--pid-file", "\(h.logs)/init.pid", id])
        try #require(c.status == 0, "\(c)")
        #expect(h.order.isEmpty, "a start-time hook ran at create: \(h.order)")
        let s = h.b.voidociReaped(["start", id])
        #expect(s.status == 0, "\(s)")
        let initPID = try #require(Int32((LifeProbe.read("\(h.logs)/init.pid") ?? "").trimmingCharacters(in: .whitespaces)))
        // startContainer: in the void (it wrote /logs, a path only the void has), pid 1 as the
        // void sees its init, status created; its own pid is small (the void's pid namespace).
        let sc = try #require(h.state("startContainer"), "startContainer did not run in the void")
        #expect(sc["status"] as? String == "created" && LifeProbe.int(sc["pid"]) == 1, "\(sc)")
        #expect((h.pid("startContainer") ?? 1000) < 100, "startContainer pid \(h.pid("startContainer") ?? -1)")
        // poststart: outside, status running, the host's pid, after startContainer.
        #expect(LifeProbe.waitUntil(5) { h.order.contains("program") })
        let ps = try #require(h.state("poststart"))
        #expect(ps["status"] as? String == "running" && LifeProbe.int(ps["pid"]) == Int(initPID), "\(ps)")
        #expect(h.namespaces("poststart")["mnt"] == Self.ns("self", "mnt"))
        let order = h.order.filter { $0 != "program" }
        #expect(order == ["startContainer", "poststart"], "\(h.order)")
        #expect(h.order.firstIndex(of: "startContainer")! < h.order.firstIndex(of: "program")!, "\(h.order)")
    }

    @Test(arguments: As.allCases)
    func startContainerMissingInTheVoidFailsStartAndStopsTheVoid(who: As) throws {
        try Env.requireUser(who)
        let h = HookBundle(who)
        defer { h.close() }
        // hook.sh exists on the host, not in the void (which holds only sleep and its libraries).
        h.setHooks(["startContainer": [h.hook("startContainer")], "poststart": [h.hook("poststart")]])
        let id = "hk\(LifeProbe.uid())"
        let c = h.b.voidociReaped(["create", "--bundle", h.b.dir, id])
        try #require(c.status == 0, "\(c)")
        let s = h.b.voidociReaped(["start", id])
        #expect(s.status != 0, "\(s)")
        #expect(s.stderr.contains("hooks.startContainer[0]: \(h.script): no such file or directory in the void (grant it with org.voidoci.expose or a bind mount)"), "\(s)")
        #expect(LifeProbe.waitUntil(5) { LifeProbe.state(h.b, id)?["status"] as? String == "stopped" }, "\(LifeProbe.state(h.b, id) ?? [:])")
        #expect(h.state("poststart") == nil, "poststart ran after a failed start")
        #expect(h.b.voidociReaped(["delete", id]).status == 0)
    }

    @Test func poststartFailureOnlyWarns() throws {
        let h = HookBundle(.root)
        defer { h.close() }
        h.setHooks(["poststart": [h.hook("poststart", exit: 1)]])
        let id = "hk\(LifeProbe.uid())"
        try #require(h.b.voidociReaped(["create", "--bundle", h.b.dir, id]).status == 0)
        let s = h.b.voidociReaped(["start", id])
        #expect(s.status == 0, "\(s)")
        #expect(s.stderr.contains("warning: hooks.poststart[0]: \(h.script): exit status 1"), "\(s)")
        #expect(LifeProbe.state(h.b, id)?["status"] as? String == "running")
    }

    @Test func poststopRunsAfterDeleteWithStoppedStatus() throws {
        let h = HookBundle(.root, args: ["/bin/true"])
        defer { h.close() }
        let id = "hk\(LifeProbe.uid())"
        let probe: [String: Any] = [
            "path": "/bin/sh",
            "args": ["sh", "-c", "/bin/cat > \(h.logs)/poststop.json; if [ -e \(h.b.stateRoot)/\(id) ]; then echo present; else echo gone; fi > \(h.logs)/statedir; exit 7"],
        ]
        h.setHooks(["poststop": [probe, h.hook("poststop2")]])
        try #require(h.b.voidociReaped(["create", "--bundle", h.b.dir, id]).status == 0)
        #expect(h.state("poststop") == nil)
        // Later edits of the bundle have no effect: the hooks come from the snapshot.
        h.setHooks([:])
        try #require(h.b.voidociReaped(["start", id]).status == 0)
        #expect(LifeProbe.waitUntil(5) { LifeProbe.state(h.b, id)?["status"] as? String == "stopped" })
        let d = h.b.voidociReaped(["delete", id])
        // A failed poststop hook is a warning; the next one still runs.
        #expect(d.status == 0, "\(d)")
        #expect(d.stderr.contains("warning: hooks.poststop[0]: /bin/sh: exit status 7"), "\(d)")
        let s = try #require(h.state("poststop"))
        #expect(s["status"] as? String == "stopped" && s["id"] as? String == id, "\(s)")
        #expect(LifeProbe.read("\(h.logs)/statedir") == "gone\n")
        #expect(h.order == ["poststop2"])
        #expect(LifeProbe.entries(h.b.stateRoot).isEmpty)
    }

    // MARK: run

    @Test(arguments: As.allCases)
    func runRunsEveryStageInOrder(who: As) throws {
        try Env.requireUser(who)
        let h = HookBundle(who, args: ["/bin/sh", "-c", "echo program >> /logs/order"])
        defer { h.close() }
        h.b.edit { c in
            c["mounts"] = [["destination": "/logs", "source": h.logs, "type": "bind", "options": ["rbind"]]]
        }
        let inside: [String: Any] = [
            "path": "/bin/sh", "args": ["sh", "-c", #"read -r s; echo "$s" > /logs/startContainer.json; echo startContainer >> /logs/order"#],
        ]
        h.setHooks(["prestart": [h.hook("prestart")], "createRuntime": [h.hook("createRuntime")],
                    "createContainer": [h.hook("createContainer")], "startContainer": [inside],
                    "poststart": [h.hook("poststart")], "poststop": [h.hook("poststop")]])
        let id = "hk\(LifeProbe.uid())"
        let r = h.b.voidociReaped(["run", "--bundle", h.b.dir, id])
        #expect(r.status == 0, "\(r)")
        let order = h.order
        #expect(order.filter { $0 != "program" } == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"], "\(order)")
        if let sc = order.firstIndex(of: "startContainer"), let p = order.firstIndex(of: "program"), let stop = order.firstIndex(of: "poststop") {
            #expect(sc < p && p < stop, "\(order)")
        } else {
            Issue.record("missing stages: \(order)")
        }
        let want = ["prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
                    "startContainer": "created", "poststart": "running", "poststop": "stopped"]
        for (stage, status) in want {
            #expect(h.state(stage)?["status"] as? String == status, "\(stage): \(h.state(stage) ?? [:])")
        }
        #expect(LifeProbe.entries(h.b.stateRoot).isEmpty)
    }

    @Test func runWithAFailingStartContainerHookFails() throws {
        let h = HookBundle(.root, args: ["/bin/true"])
        defer { h.close() }
        h.setHooks(["startContainer": [["path": "/bin/false"]], "poststop": [h.hook("poststop")]])
        let r = h.b.voidociReaped(["run", "--bundle", h.b.dir, "hk\(LifeProbe.uid())"])
        #expect(r.status != 0)
        // /bin/false is not in a void whose program is /bin/true.
        #expect(r.stderr.contains("hooks.startContainer[0]: /bin/false: no such file or directory in the void"), "\(r)")
        #expect(h.order == ["poststop"], "\(h.order)")
        #expect(LifeProbe.entries(h.b.stateRoot).isEmpty)
    }

    // MARK: explain, features

    @Test func explainListsHooksAndFeaturesNameTheStages() throws {
        let h = HookBundle(.root)
        defer { h.close() }
        h.setHooks(["createRuntime": [h.hook("createRuntime", timeout: 5)], "startContainer": [["path": "/bin/true"]]])
        let t = h.b.voidociReaped(["explain", h.b.dir])
        #expect(t.status == 0, "\(t)")
        #expect(t.stdout.contains("hooks (in order):") && t.stdout.contains("createRuntime[0]") && t.stdout.contains("(timeout 5 s)"), "\(t.stdout)")
        #expect(t.stdout.contains("startContainer[0]") && t.stdout.contains("path resolved inside the void"), "\(t.stdout)")
        #expect(!t.stdout.contains("hooks.createRuntime:"), "hooks still listed as dropped: \(t.stdout)")
        let j = h.b.voidociReaped(["explain", "--format", "json", h.b.dir])
        let obj = try #require(LifeProbe.jsonObject(j.stdout), "\(j)")
        let hooks = try #require(obj["hooks"] as? [[String: Any]])
        #expect(hooks.map { $0["stage"] as? String } == ["createRuntime", "startContainer"], "\(hooks)")
        #expect(hooks.first?["path"] as? String == h.script)
        #expect(hooks.first?["args"] as? [String] == ["hook.sh", "createRuntime", "0"])
        #expect(hooks.last?["namespaces"] as? String == "void" && hooks.last?["pathResolvedIn"] as? String == "void")
        #expect((obj["dropped"] as? [[String: Any]] ?? []).allSatisfy { !(($0["path"] as? String) ?? "").hasPrefix("hooks") })

        let f = Shell.run([Env.bin, "features"], env: [:])
        let fj = try #require(LifeProbe.jsonObject(f.stdout))
        #expect(fj["hooks"] as? [String] == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"])
    }
}
