#if canImport(Glibc)
import Glibc
#endif
import Foundation
import OCIBundle
import Testing
@testable import VoidEngine

/// `explain` output, text and JSON, for a plan with every kind of origin.
@Suite struct ExplainTests {
    /// A plan with auto-binds, a config bind, a granted proc, an exposed file, minimal /dev, a
    /// joined namespace and dropped fields.
    static func richPlan(_ f: PlannerFixture) throws -> VoidPlan {
        let process = #"{"args": ["sh", "-c", "echo hi"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}, "apparmorProfile": "x", "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]}, "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}]}"#
        let rest = """
            , "hostname": "h\\"ost",
            "mounts": [
              {"destination": "/proc", "type": "proc", "source": "proc"},
              {"destination": "/data", "type": "bind", "source": "\(f.hostDir)", "options": ["rbind", "ro"]},
              {"destination": "/sys", "type": "sysfs", "source": "sysfs"}
            ],
            "linux": {"namespaces": [{"type": "network", "path": "/proc/1/ns/net"}], "maskedPaths": ["/proc/kcore"]},
            "annotations": {"org.voidoci.mounts": "proc", "org.voidoci.expose": "/etc/passwd", "org.voidoci.dev": "minimal"}
            """
        return try f.plan(process: process, rest: rest)
    }

    @Test func textMentionsEverything() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let p = try Self.richPlan(f)
        let text = Explain.text(p)
        for ns in Planner.namespaceTypes {
            #expect(text.contains("  \(ns) ") || text.contains("  \(ns)\t"), "namespace \(ns) missing")
        }
        #expect(text.contains("joined  /proc/1/ns/net"))
        // Joining podman's network is a grant podman makes; explain says so, and how to refuse it.
        #expect(text.contains("a grant: the void shares this network namespace") && text.contains("--network none"), "\(text)")
        for m in p.mounts {
            #expect(text.contains(m.origin.text), "origin \(m.origin.text) missing")
            #expect(text.contains(m.destination), "mount \(m.destination) missing")
        }
        // Every kind of origin is there.
        #expect(text.contains("auto-bind: executable sh"))
        #expect(text.contains("mounts[0]"))
        #expect(text.contains("mounts[1]"))
        #expect(text.contains("annotation org.voidoci.expose"))
        #expect(text.contains("annotation org.voidoci.dev=minimal"))
        #expect(text.contains("voidoci: linux.maskedPaths[0]"))
        for d in p.dropped {
            #expect(text.contains("\(d.path): \(d.reason)"))
        }
        #expect(text.contains("process.apparmorProfile"))
        #expect(text.contains("mounts[2]"))  // the sysfs entry, dropped
        #expect(text.contains("uid 0 → host 65534 (1)"))
        #expect(text.contains("setgroups denied"))
        #expect(text.hasSuffix("\n"))
    }

    @Test func textOfAnEmptyDropList() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let p = try f.plan()
        #expect(p.dropped.isEmpty)
        #expect(Explain.text(p).contains("(nothing)"))
    }

    @Test func jsonParses() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let p = try Self.richPlan(f)
        let text = Explain.json(p)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])

        let namespaces = try #require(object["namespaces"] as? [[String: Any]])
        #expect(namespaces.count == 8)
        #expect(Set(namespaces.compactMap { $0["type"] as? String }) == Set(Planner.namespaceTypes))
        let net = try #require(namespaces.first { $0["type"] as? String == "network" })
        #expect(net["mode"] as? String == "joined")
        #expect(net["path"] as? String == "/proc/1/ns/net")
        let pid = try #require(namespaces.first { $0["type"] as? String == "pid" })
        #expect(pid["mode"] as? String == "new")
        #expect(pid["path"] is NSNull)

        let mounts = try #require(object["mounts"] as? [[String: Any]])
        #expect(mounts.count == p.mounts.count)
        #expect(mounts.compactMap { $0["destination"] as? String } == p.mounts.map(\.destination))
        #expect(mounts.compactMap { $0["origin"] as? String } == p.mounts.map(\.origin.text))
        let proc = try #require(mounts.first { $0["destination"] as? String == "/proc" })
        #expect(proc["type"] as? String == "proc")
        let data = try #require(mounts.first { $0["destination"] as? String == "/data" })
        #expect(data["recursive"] as? Bool == true)
        #expect(data["sourceIn"] as? String == "host")
        #expect(data["flags"] as? [String] == ["ro"])

        let uid = try #require(object["uidMappings"] as? [[String: Any]])
        #expect(uid.count == 1)
        #expect((uid[0]["containerID"] as? NSNumber)?.intValue == 0)
        #expect((uid[0]["hostID"] as? NSNumber)?.intValue == 65534)
        #expect((uid[0]["size"] as? NSNumber)?.intValue == 1)
        #expect((object["gidMappings"] as? [Any])?.count == 1)
        #expect(object["setgroups"] as? String == "deny")

        let dropped = try #require(object["dropped"] as? [[String: String]])
        #expect(dropped.count == p.dropped.count)
        #expect(dropped.contains { $0["path"] == "process.apparmorProfile" })
        #expect(dropped.contains { $0["path"] == "mounts[2]" })

        #expect((object["notes"] as? [String])?.count == p.notes.count)
        #expect(object["hostname"] as? String == "h\"ost")
        let root = try #require(object["root"] as? [String: Any])
        #expect(root["kind"] as? String == "tmpfs")
        let process = try #require(object["process"] as? [String: Any])
        #expect(process["args"] as? [String] == ["sh", "-c", "echo hi"])
        let caps = try #require(process["capabilities"] as? [String: [String]])
        #expect(caps["bounding"] == ["CAP_KILL"])
        #expect((process["rlimits"] as? [Any])?.count == 1)
    }

    /// RLIM_INFINITY (2^64-1) is what podman writes for "unlimited": explain must print the
    /// value the void gets, not a clamped 2^63-1.
    @Test func jsonKeepsUnlimitedRlimits() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let process = #"{"args": ["sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}, "rlimits": [{"type": "RLIMIT_CORE", "soft": 18446744073709551615, "hard": 18446744073709551615}, {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}]}"#
        let p = try f.plan(process: process)
        #expect(p.process.rlimits.first?.soft == UInt64.max)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(Explain.json(p).utf8)) as? [String: Any])
        let rlimits = try #require((object["process"] as? [String: Any])?["rlimits"] as? [[String: Any]])
        #expect(rlimits.count == 2)
        #expect((rlimits[0]["soft"] as? NSNumber)?.uint64Value == UInt64.max, "\(rlimits[0])")
        #expect((rlimits[0]["hard"] as? NSNumber)?.uint64Value == UInt64.max, "\(rlimits[0])")
        #expect((rlimits[1]["soft"] as? NSNumber)?.intValue == 1024)
        #expect((rlimits[1]["hard"] as? NSNumber)?.intValue == 4096)
        #expect(Explain.text(p).contains("RLIMIT_CORE=18446744073709551615:18446744073709551615"))
    }

    @Test func jsonOfAJoinedUTSHasNullHostname() throws {
        let f = PlannerFixture()
        defer { f.remove() }
        let p = try f.plan(rest: #", "linux": {"namespaces": [{"type": "uts", "path": "/proc/1/ns/uts"}, {"type": "user", "path": "/proc/1/ns/user"}]}"#)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(Explain.json(p).utf8)) as? [String: Any])
        #expect(object["hostname"] is NSNull)
        #expect((object["uidMappings"] as? [Any])?.isEmpty == true)
        #expect(Explain.text(p).contains("(joined uts namespace)"))
    }
}
