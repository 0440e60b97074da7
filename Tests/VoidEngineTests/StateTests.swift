#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import VoidEngine

/// State directory, id rules, live status (pidfd + start time), state JSON.
@Suite struct StateTests {
    static func tempDir() -> String {
        var template = Array("/tmp/voidoci-state-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { fatalError("mkdtemp: \(errno)") }
        return String(cString: made)
    }

    static func state(pid: Int32, start: UInt64, id: String = "c1", bundle: String = "/b",
                      annotations: [String: String]? = nil) -> ContainerState {
        ContainerState(ociVersion: "1.2.1", id: id, pid: pid, pidStartTime: start, bundle: bundle,
                       rootfs: "/b/rootfs", created: "2024-01-02T03:04:05.000000000Z", owner: "", annotations: annotations)
    }

    // MARK: default root

    @Test func defaultRoot() {
        #expect(StateStore.defaultRoot(environment: ["XDG_RUNTIME_DIR": "/run/user/1000"]) == "/run/user/1000/voidoci")
        #expect(StateStore.defaultRoot(environment: ["XDG_RUNTIME_DIR": ""]) == "/run/voidoci")
        #expect(StateStore.defaultRoot(environment: [:]) == "/run/voidoci")
        #expect(StateStore.defaultRoot(environment: ["HOME": "/root", "PATH": "/bin"]) == "/run/voidoci")
    }

    // MARK: ids

    @Test(arguments: ["a", "abc", "ABC-def_0.9+1", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                      "...", ".hidden", "a..b", String(repeating: "x", count: 1024)])
    func goodIDs(_ id: String) throws {
        try StateStore.checkID(id)
    }

    @Test(arguments: ["", ".", "..", "a/b", "/abs", "../x", "a b", "a\u{0}b", "a\nb", "é", "a:b", "a*", "a$b",
                      String(repeating: "x", count: 1025)])
    func badIDs(_ id: String) {
        do {
            try StateStore.checkID(id)
            Issue.record("id \(id.debugDescription) accepted")
        } catch {
            #expect(String(describing: error).contains("container id"))
        }
    }

    // MARK: create / open

    @Test func createTwiceAndOpenMissing() throws {
        let dir = Self.tempDir()
        defer { _ = shell("rm -rf '\(dir)'") }
        // The root is created on demand, with its parents.
        let store = StateStore(root: dir + "/deep/root")
        let first = try store.create("c1")
        #expect(first.dir == dir + "/deep/root/c1")
        #expect(access(first.dir, F_OK) == 0)
        do {
            _ = try store.create("c1")
            Issue.record("second create of c1 succeeded")
        } catch {
            #expect(String(describing: error).contains("already exists"))
        }
        do {
            _ = try store.open("missing")
            Issue.record("open of a missing id succeeded")
        } catch {
            #expect(String(describing: error).contains("does not exist"))
            #expect((error as? VoidError)?.errno == ENOENT)
        }
        // Created but never saved (a create in progress or failed): it does not exist yet.
        first.unlock()
        do {
            _ = try store.open("c1")
            Issue.record("open of an id without state.json succeeded")
        } catch {
            #expect(String(describing: error).contains("does not exist"))
        }
        // Saved: it opens, and the state round-trips.
        let s = Self.state(pid: 42, start: 7, id: "c1", annotations: ["k": "v"])
        try first.save(s)
        let again = try store.open("c1")
        let loaded = try again.load()
        #expect(loaded.id == "c1" && loaded.pid == 42 && loaded.pidStartTime == 7 && loaded.annotations == ["k": "v"])
        #expect(store.list() == ["c1"])
        again.remove()
        #expect(access(first.dir, F_OK) != 0)
        #expect(store.list() == [])
        // Bad ids are refused before touching the file system.
        #expect(throws: VoidError.self) { _ = try store.create("../escape") }
        #expect(access(dir + "/deep/escape", F_OK) != 0)
    }

    /// Every id `create` accepts is one `list` shows: `list` must not hide ids that start with
    /// a dot (".hidden" passes checkID).
    @Test func everyAcceptedIDIsListed() throws {
        let dir = Self.tempDir()
        defer { _ = shell("rm -rf '\(dir)'") }
        let store = StateStore(root: dir)
        for id in ["plain", ".hidden", "..."] {
            try StateStore.checkID(id)
            let c = try store.create(id)
            try c.save(Self.state(pid: 1, start: 1, id: id))
        }
        #expect(store.list() == [".hidden", "...", "plain"].sorted())
    }

    /// create makes the id's directory under a '~' name no id can have, locks it, and renames it
    /// into place (so a reader never locks it before its creator: that window cannot be forced
    /// here, LifecycleTests.stateDuringCreateWaitsAndSeesCreated races for it). Here: the end
    /// state, locked, with no temporary name left.
    @Test func createAppearsLockedAndLeavesNoTemporaryName() throws {
        let dir = Self.tempDir()
        defer { _ = shell("rm -rf '\(dir)'") }
        let store = StateStore(root: dir)
        let c = try store.create("one")
        let fd = open("\(dir)/one", O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        #expect(flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK, "the new id's directory must be locked")
        #expect(throws: VoidError.self) { try store.create("one") }
        c.unlock()
        #expect(flock(fd, LOCK_SH | LOCK_NB) == 0)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        #expect(names == ["one"], "\(names)")
        #expect(store.list() == ["one"])
    }

    /// `--root` given as a relative path (runc makes it absolute): the state directory is
    /// created relative to the working directory, never at the file system's root.
    @Test(.enabled(if: FileManager.default.currentDirectoryPath != "/"))
    func relativeRoot() throws {
        let name = "voidoci-test-relroot-\(getpid())"
        defer {
            _ = shell("rm -rf '\(FileManager.default.currentDirectoryPath)/\(name)'")
            _ = shell("rm -rf '/\(name)'")  // where a buggy mkdirs puts it
        }
        let store = StateStore(root: "\(name)/state")
        let c = try store.create("c1")
        try c.save(Self.state(pid: 1, start: 1))
        #expect(access("\(FileManager.default.currentDirectoryPath)/\(name)/state/c1/state.json", F_OK) == 0)
        #expect(access("/\(name)", F_OK) != 0, "state root created at /\(name)")
    }

    // MARK: live status

    @Test func pidZeroIsStopped() {
        // A state left by a failed create, or never filled in.
        let s = LiveStatus.of(Self.state(pid: 0, start: 0), fifoPath: "/nonexistent")
        #expect(s.status == .stopped)
        #expect(s.pidfd == nil)
        #expect(LiveStatus.of(Self.state(pid: -1, start: 0), fifoPath: "/nonexistent").status == .stopped)
    }

    @Test func ownProcessIsRunningOrCreated() throws {
        let pid = getpid()
        let (state, start) = try #require(procStat(pid))
        #expect(state == "R" || state == "S")
        #expect(start > 0)
        let dir = Self.tempDir()
        defer { _ = shell("rm -rf '\(dir)'") }
        let fifo = dir + "/exec.fifo"

        let running = LiveStatus.of(Self.state(pid: pid, start: start), fifoPath: fifo)
        #expect(running.status == .running)
        let fd = try #require(running.pidfd)
        #expect(fd >= 0)
        close(fd)

        #expect(mkfifo(fifo, 0o600) == 0)
        let created = LiveStatus.of(Self.state(pid: pid, start: start), fifoPath: fifo)
        #expect(created.status == .created)
        if let fd = created.pidfd { close(fd) } else { Issue.record("no pidfd for a created void") }
    }

    @Test func wrongStartTimeIsStopped() throws {
        let pid = getpid()
        let (_, start) = try #require(procStat(pid))
        let s = LiveStatus.of(Self.state(pid: pid, start: start + 1), fifoPath: "/nonexistent")
        #expect(s.status == .stopped)
        #expect(s.pidfd == nil)
    }

    @Test func missingPidIsStopped() {
        // Larger than any pid_max (at most 2^22).
        let s = LiveStatus.of(Self.state(pid: 0x7fff_fff0, start: 1), fifoPath: "/nonexistent")
        #expect(s.status == .stopped)
        #expect(s.pidfd == nil)
        #expect(procStat(0x7fff_fff0) == nil)
    }

    @Test func zombieIsStopped() throws {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { for a in argv { free(a) } }
        #expect(posix_spawn(&pid, "/bin/true", nil, nil, argv, nil) == 0)
        // Wait until it has exited, without reaping it.
        var info = siginfo_t()
        #expect(waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == 0)
        let (state, start) = try #require(procStat(pid))
        #expect(state == "Z")
        let s = LiveStatus.of(Self.state(pid: pid, start: start), fifoPath: "/nonexistent")
        #expect(s.status == .stopped)
        #expect(s.pidfd == nil)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    /// comm may hold spaces and ')': the fields are counted after the last ')'.
    @Test func procStatWithAnOddComm() throws {
        let dir = Self.tempDir()
        defer { _ = shell("rm -rf '\(dir)'") }
        let link = dir + "/a b) c"
        #expect(symlink("/bin/sleep", link) == 0)
        let child = Foundation.Process()
        child.executableURL = URL(fileURLWithPath: link)
        child.arguments = ["30"]
        try child.run()
        defer {
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
        }
        let pid = child.processIdentifier
        // Wait for the exec to happen (comm changes at execve).
        var raw = ""
        for _ in 0..<200 {
            raw = (try? readSmallFile("/proc/\(pid)/stat")) ?? ""
            if raw.contains("(a b) c)") { break }
            usleep(10_000)
        }
        #expect(raw.contains("(a b) c)"))
        let (state, start) = try #require(procStat(pid))
        #expect(["R", "S", "D"].contains(state))
        // The start time is field 22 counted from the real end of comm.
        let after = raw[raw.index(after: raw.lastIndex(of: ")")!)...].split(separator: " ")
        #expect(start == UInt64(after[19]))
        let (_, ownStart) = try #require(procStat(getpid()))
        #expect(start >= ownStart)
        // And the child is seen as running with that start time.
        let live = LiveStatus.of(Self.state(pid: pid, start: start), fifoPath: dir + "/exec.fifo")
        #expect(live.status == .running)
        if let fd = live.pidfd { close(fd) }
    }

    // MARK: state JSON

    @Test func stateJSONIsValidJSON() throws {
        let odd = "quote\" back\\slash\nnew\ttab\r\u{1}\u{1f}\u{7f} é 😀 </script> \u{2028}"
        let s = Self.state(pid: 1234, start: 1, id: "c1", bundle: "/b/" + odd,
                           annotations: ["org.voidoci.rootfs": "ro", "k\"ey": odd])
        let text = StateJSON.render(s, status: "running")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        for key in ["ociVersion", "id", "status", "pid", "bundle", "rootfs", "created", "owner", "annotations"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["ociVersion"] as? String == "1.2.1")
        #expect(object["id"] as? String == "c1")
        #expect(object["status"] as? String == "running")
        #expect((object["pid"] as? NSNumber)?.intValue == 1234)
        #expect(object["bundle"] as? String == "/b/" + odd)
        let ann = try #require(object["annotations"] as? [String: String])
        #expect(ann == ["org.voidoci.rootfs": "ro", "k\"ey": odd])

        // A stopped void has pid 0; no annotations is an empty object.
        let stopped = StateJSON.render(Self.state(pid: 1234, start: 1), status: "stopped")
        let o2 = try #require(try JSONSerialization.jsonObject(with: Data(stopped.utf8)) as? [String: Any])
        #expect((o2["pid"] as? NSNumber)?.intValue == 0)
        #expect(o2["status"] as? String == "stopped")
        #expect((o2["annotations"] as? [String: Any])?.isEmpty == true)
    }

    @Test func quote() throws {
        #expect(StateJSON.quote("plain") == "\"plain\"")
        #expect(StateJSON.quote("a\"b") == "\"a\\\"b\"")
        #expect(StateJSON.quote("a\\b") == "\"a\\\\b\"")
        #expect(StateJSON.quote("\n\t\r") == "\"\\n\\t\\r\"")
        #expect(StateJSON.quote("\u{1}") == "\"\\u0001\"")
        #expect(StateJSON.quote("\u{1b}") == "\"\\u001b\"")
        for s in ["", "é", "😀", "\u{0}", "\u{7f}", "a/b"] {
            let decoded = try JSONSerialization.jsonObject(with: Data("[\(StateJSON.quote(s))]".utf8)) as? [String]
            #expect(decoded == [s])
        }
    }

    @Test func rfc3339() throws {
        let before = time(nil)
        let text = rfc3339Now()
        let after = time(nil)
        // YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ
        let shape = "dddd-dd-ddTdd:dd:dd.dddddddddZ"
        #expect(text.count == shape.count, "\(text)")
        for (c, s) in zip(text, shape) {
            #expect(s == "d" ? c.isASCII && c.isNumber : c == s, "\(text)")
        }
        // Same second (give or take the clock tick) as time(2).
        var tmv = tm()
        let parts = text.split(whereSeparator: { "-T:.Z".contains($0) }).map { Int32($0)! }
        tmv.tm_year = parts[0] - 1900; tmv.tm_mon = parts[1] - 1; tmv.tm_mday = parts[2]
        tmv.tm_hour = parts[3]; tmv.tm_min = parts[4]; tmv.tm_sec = parts[5]
        let t = timegm(&tmv)
        #expect(t >= before && t <= after)
        // Two readings are ordered.
        let later = rfc3339Now()
        #expect(later >= text)
    }
}
