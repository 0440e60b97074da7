import Foundation
import Testing

/// `exec` into running voids: the program is found in the image and bound in when the void
/// lacks it; the process joins every namespace of the void.
@Suite(.serialized, .hostClean) struct ExecTests {
    /// A created-and-started void running `sleep 60`, with its init pid.
    func startedVoid(_ who: As, edit: ((inout [String: Any]) -> Void)? = nil) throws -> (TestBundle, String, Int32) {
        let b = TestBundle(args: ["/bin/sleep", "60"], as: who, edit: edit)
        let id = "x\(UUID().uuidString.prefix(6))"
        let pidFile = "\(b.dir)/pid"
        if who == .user, let uid = Env.testUID { chown(b.dir, uid, Env.testGID ?? uid) }
        let c = b.voidociReaped(["create", "--bundle", b.dir, "--pid-file", pidFile, id])
        try #require(c.status == 0, "\(c)")
        let s = b.voidociReaped(["start", id])
        try #require(s.status == 0, "\(s)")
        let pid = Int32((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "") ?? 0
        return (b, id, pid)
    }

    @Test(arguments: As.allCases)
    func execBindsInAProgramTheVoidLacks(who: As) throws {
        try Env.requireUser(who)
        let (b, id, _) = try startedVoid(who)
        defer { b.close() }
        // ls is in the image, not in a void whose program is sleep.
        let before = b.voidociReaped(["exec", id, "/bin/sh", "-c", "echo /usr/bin/*"])
        #expect(before.status == 0, "\(before)")
        #expect(before.stdout == "/usr/bin/dash /usr/bin/sh /usr/bin/sleep\n", "\(before)")
        let ls = b.voidociReaped(["exec", id, "/bin/ls", "/usr/bin"])
        #expect(ls.status == 0, "\(ls)")
        #expect(ls.stdout.split(separator: "\n").contains("ls"), "\(ls)")
        // Once bound it stays: a second exec finds it there and adds nothing new.
        let again = b.voidociReaped(["exec", id, "/bin/sh", "-c", "echo /usr/bin/*"])
        #expect(again.stdout.contains("/usr/bin/ls"), "\(again)")
        #expect(b.voidociReaped(["exec", id, "/bin/ls", "/"]).status == 0)
    }

    @Test(arguments: As.allCases)
    func execJoinsEveryNamespaceAndPropagatesStatus(who: As) throws {
        try Env.requireUser(who)
        let (b, id, initPID) = try startedVoid(who)
        defer { b.close() }
        let r = b.voidociReaped(["exec", "--detach", "--pid-file", "\(b.dir)/epid", id, "/bin/sleep", "30"])
        #expect(r.status == 0, "\(r)")
        let pid = Int32((try? String(contentsOfFile: "\(b.dir)/epid", encoding: .utf8)) ?? "") ?? 0
        #expect(pid > 0)
        for ns in ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup", "time"] {
            let a = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(ns)")
            let i = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(initPID)/ns/\(ns)")
            #expect(a != nil && a == i, "\(ns): exec'd \(a ?? "-") vs init \(i ?? "-")")
        }
        let st = b.voidociReaped(["exec", id, "/bin/sh", "-c", "exit 5"])
        #expect(st.status == 5, "\(st)")
    }

    @Test func execWithProcessFileEnvCwdUser() throws {
        let (b, id, _) = try startedVoid(.root) { c in
            var l = c["linux"] as! [String: Any]
            l["uidMappings"] = [["containerID": 0, "hostID": 100000, "size": 2000]]
            l["gidMappings"] = [["containerID": 0, "hostID": 100000, "size": 2000]]
            c["linux"] = l
        }
        defer { b.close() }
        let process: [String: Any] = [
            "args": ["/bin/sh", "-c", "echo $FOO; pwd; echo $(id -u)"], "cwd": "/work/dir",
            "env": ["PATH=/usr/bin:/bin", "FOO=bar"], "user": ["uid": 1000, "gid": 1000],
        ]
        let path = "\(b.dir)/process.json"
        FileManager.default.createFile(atPath: path, contents: try JSONSerialization.data(withJSONObject: process))
        let r = b.voidociReaped(["exec", "--process", path, id])
        // The cwd is created as at create; `id` is not in the void (only sh's closure is bound),
        // so $(id -u) prints nothing: the uid shows in the next exec instead.
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.hasPrefix("bar\n/work/dir\n"), "\(r)")
        let idr = b.voidociReaped(["exec", "--user", "1000:1000", id, "/usr/bin/id", "-u"])
        #expect(idr.status == 0 && idr.stdout == "1000\n", "\(idr)")
        let unmapped = b.voidociReaped(["exec", "--user", "5000", id, "/bin/true"])
        #expect(unmapped.status != 0 && unmapped.stderr.contains("process.user.uid"), "\(unmapped)")
    }

    @Test func execIntoAStoppedVoidFails() throws {
        let b = TestBundle(args: ["/bin/true"])
        defer { b.close() }
        let id = "x\(UUID().uuidString.prefix(6))"
        #expect(b.voidociReaped(["create", "--bundle", b.dir, id]).status == 0)
        #expect(b.voidociReaped(["start", id]).status == 0)
        usleep(300_000)
        let r = b.voidociReaped(["exec", id, "/bin/sh", "-c", "true"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("not running"), "\(r)")
        let missing = b.voidociReaped(["exec", "nope-\(id)", "/bin/sh"])
        #expect(missing.status != 0 && missing.stderr.contains("does not exist"), "\(missing)")
    }

    @Test func execOfAProgramMissingFromTheImageFails() throws {
        let (b, id, _) = try startedVoid(.root)
        defer { b.close() }
        let r = b.voidociReaped(["exec", id, "/bin/nope"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("no such file or directory"), "\(r)")
    }
}
