import Foundation
import Testing
@testable import OCIBundle

private let runc = ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"]
    .first { FileManager.default.isExecutableFile(atPath: $0) }

@Suite struct RuncSpecTests {
    @Test func runcSpecDecodesAndValidates() throws {
        let spec = try SpecLoader.decode(Data(runcSpecOutput.utf8))
        #expect(spec.process?.terminal == true)
        #expect(spec.process?.capabilities?.ambient == ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
        #expect(spec.root == Root(path: "rootfs", readonly: true))
        #expect(spec.linux?.namespaces?.map(\.type) == [.pid, .network, .ipc, .uts, .mount])
        #expect(validate(spec) == [])
    }

    @Test func runcRootlessSpecDecodesAndValidates() throws {
        let spec = try SpecLoader.decode(Data(runcRootlessSpecOutput.utf8))
        #expect(spec.linux?.uidMappings == [LinuxIDMapping(containerID: 0, hostID: 0, size: 1)])
        let sys = try #require(spec.mounts?.first { $0.destination == "/sys" })
        #expect(sys.type == "none" && sys.isBind && sys.isRecursiveBind)
        #expect(validate(spec) == [])
    }

    @Test(.enabled(if: runc != nil, "runc is not installed"), arguments: [[], ["--rootless"]])
    func installedRuncSpecDecodesAndValidates(flags: [String]) throws {
        let bundle = FileManager.default.temporaryDirectory.appendingPathComponent("voidoci-runc-spec-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: bundle) }

        let child = Foundation.Process()
        child.executableURL = URL(fileURLWithPath: runc!)
        child.arguments = ["spec", "--bundle", bundle] + flags
        try child.run()
        child.waitUntilExit()
        try #require(child.terminationStatus == 0)

        let spec = try SpecLoader.load(bundle: bundle)
        #expect(validate(spec) == [])
    }
}
