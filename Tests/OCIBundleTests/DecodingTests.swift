#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Testing
@testable import OCIBundle

@Suite struct DecodingTests {
    @Test func minimalConfigDecodes() throws {
        let spec = try decodeSpec(minimalConfig)
        #expect(spec.ociVersion == "1.0.0")
        #expect(spec.root == Root(path: "rootfs"))
        #expect(spec.process?.args == ["/bin/true"])
        #expect(spec.process?.user == User(uid: 0, gid: 0))
        #expect(spec.process?.terminal == nil)
        #expect(spec.mounts == nil && spec.linux == nil && spec.hooks == nil)
    }

    @Test func namespaceWithoutPathDecodes() throws {
        let spec = try decodeSpec(minimalConfig(adding: #""linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/run/netns/a"}]}"#))
        #expect(spec.linux?.namespaces == [LinuxNamespace(type: .pid), LinuxNamespace(type: .network, path: "/run/netns/a")])
        // The conformances also work with Foundation's coders, for code that uses them directly.
        let alone = try JSONDecoder().decode(LinuxNamespace.self, from: Data(#"{"type":"pid"}"#.utf8))
        #expect(alone == LinuxNamespace(type: .pid, path: nil))
    }

    @Test func unknownKeysAreIgnored() throws {
        let json = #"""
        {"ociVersion":"1.2.1","future":{"x":[1,2]},"windows":{"layerFolders":[]},
         "root":{"path":"rootfs","extra":true},
         "process":{"args":["sh"],"cwd":"/","user":{"uid":1,"gid":2,"sid":"S-1"},"newThing":null},
         "linux":{"netDevices":{"eth0":{}},"namespaces":[{"type":"user","flags":3}]}}
        """#
        let spec = try decodeSpec(json)
        #expect(spec.process?.user == User(uid: 1, gid: 2))
        #expect(spec.linux?.namespaces == [LinuxNamespace(type: .user)])
    }

    @Test func unknownEnumValuesDecodeAndSurviveEncoding() throws {
        let json = minimalConfig(adding: #""linux":{"namespaces":[{"type":"pdi"}],"seccomp":{"defaultAction":"SCMP_ACT_MAYBE","architectures":["SCMP_ARCH_Z80"],"flags":["SECCOMP_FILTER_FLAG_NEW"],"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_ALMOST"}]}]}}"#)
        let spec = try decodeSpec(json)
        let namespace = try #require(spec.linux?.namespaces?.first)
        #expect(namespace.type.rawValue == "pdi" && !namespace.type.isKnown)
        #expect(LinuxNamespaceType.pid.isKnown)
        let seccomp = try #require(spec.linux?.seccomp)
        #expect(seccomp.defaultAction == "SCMP_ACT_MAYBE" && !seccomp.defaultAction.isKnown)
        #expect(seccomp.architectures == ["SCMP_ARCH_Z80"])
        #expect(seccomp.syscalls?.first?.args?.first?.op.rawValue == "SCMP_CMP_ALMOST")

        let encoded = String(decoding: try JSONEncoder().encode(namespace), as: UTF8.self)
        #expect(encoded == #"{"type":"pdi"}"#)
    }

    @Test func podmanRootfulConfigDecodes() throws {
        let spec = try SpecLoader.decode(Fixture.data("podman-rootful-config.json"))
        #expect(spec.ociVersion == "1.0.2-dev")
        #expect(spec.process?.user.umask == 18)
        #expect(spec.mounts?.count == 10)
        #expect(spec.mounts?.filter(\.isBind).map(\.destination) == ["/etc/hostname", "/etc/hosts", "/dev/shm", "/run/.containerenv"])
        #expect(spec.annotationsOrEmpty["io.podman.annotations.init"] == "FALSE")
        #expect(spec.linux?.resources?.devices == [LinuxDeviceCgroup(allow: false, access: "rwm")])
        let seccomp = try #require(spec.linux?.seccomp)
        #expect(seccomp.defaultAction == .errno && seccomp.defaultErrnoRet == 38)
        #expect(seccomp.architectures == [.x86_64, .x86, .x32])
        let personality = try #require(seccomp.syscalls?.first { $0.names == ["personality"] && $0.args?.first?.value == 4294967295 })
        #expect(personality.args == [LinuxSeccompArg(index: 0, value: 4294967295, op: .equalTo)])
    }

    @Test func podmanExecProcessDecodes() throws {
        let process = try SpecLoader.decodeProcess(Fixture.data("podman-exec-process.json"))
        #expect(process.user == User(uid: 1000, gid: 1000))
        #expect(process.args == ["/bin/id"])
        #expect(process.cwd == "/tmp")
        #expect(process.rlimits?.map(\.type) == ["RLIMIT_NOFILE", "RLIMIT_NPROC"])
        #expect(process.envValue("HOME") == "")
        #expect(validate(process: process, path: "").isEmpty)
    }

    /// The full example of config.md exercises hooks, devices, resources, seccomp and time offsets.
    @Test func specExampleDecodes() throws {
        let spec = try SpecLoader.decode(Fixture.data("spec-config-example.json"))
        #expect(spec.hooks?.poststop?.first?.path == "/usr/sbin/cleanup.sh")
        #expect(spec.process?.ioPriority == LinuxIOPriority(class: "IOPRIO_CLASS_IDLE", priority: 4))
        #expect(spec.linux?.resources?.memory?.limit == 536_870_912)
        #expect(spec.linux?.resources?.blockIO?.throttleReadBpsDevice?.first?.rate == 600)
        #expect(spec.linux?.timeOffsets?["monotonic"]?.secs != nil)
        #expect(spec.linux?.devices?.first?.fileMode == 0o666)
        #expect(validate(spec) == [])
    }

    @Test func encodingRoundTrips() throws {
        let original = try SpecLoader.decode(Fixture.data("podman-rootful-config.json"))
        let encoded = try JSONEncoder().encode(original)
        #expect(try SpecLoader.decode(encoded) == original)
        // Absent optionals stay absent rather than becoming nulls.
        #expect(!String(decoding: encoded, as: UTF8.self).contains("null"))
    }

    @Test func resourcesDecode() throws {
        let json = #"""
        {"memory":{"limit":-1,"swappiness":60,"disableOOMKiller":true},"cpu":{"quota":-1,"shares":1024,"cpus":"0-3"},
         "pids":{"limit":-1},"blockIO":{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":10}]},
         "hugepageLimits":[{"pageSize":"2MB","limit":18446744073709551615}],
         "network":{"classID":1048577,"priorities":[{"name":"eth0","priority":500}]},
         "rdma":{"mlx5_1":{"hcaHandles":3}},"unified":{"memory.high":"max"}}
        """#
        let resources = try SpecLoader.decodeResources(Data(json.utf8))
        #expect(resources.memory == LinuxMemory(limit: -1, swappiness: 60, disableOOMKiller: true))
        #expect(resources.cpu?.quota == -1 && resources.cpu?.cpus == "0-3")
        #expect(resources.pids == LinuxPids(limit: -1))
        #expect(resources.blockIO?.weightDevice == [LinuxWeightDevice(major: 8, minor: 0, weight: 10)])
        #expect(resources.hugepageLimits?.first?.limit == UInt64.max)
        #expect(resources.network?.priorities == [LinuxInterfacePriority(name: "eth0", priority: 500)])
        #expect(resources.rdma?["mlx5_1"] == LinuxRdma(hcaHandles: 3))
        #expect(resources.unified == ["memory.high": "max"])
    }

    @Test func nullMeansAbsentForOptionalFields() throws {
        let spec = try decodeSpec(minimalConfig(adding: #""mounts":null,"hostname":null"#))
        #expect(spec.mounts == nil && spec.hostname == nil)
    }

    @Test func stringEscapesAreDecoded() throws {
        let spec = try decodeSpec(minimalConfig(adding: #""hostname":"a\"b\\c\u00e9\ud83d\ude00\n""#))
        #expect(spec.hostname == "a\"b\\cé😀\n")
    }
}
