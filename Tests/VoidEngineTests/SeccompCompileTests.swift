#if canImport(Glibc)
import Glibc
#endif
import Foundation
import OCIBundle
import Testing
@testable import VoidEngine

/// linux.seccomp → BPF through libseccomp, without loading anything.
@Suite struct SeccompCompileTests {
    static let podmanConfig = "/work/shared/reference/podman-samples/podman-rootful-config.json"

    static func seccomp(_ json: String) throws -> LinuxSeccomp {
        let spec = try SpecLoader.decode(Data(#"{"ociVersion": "1.2.0", "linux": {"seccomp": \#(json)}}"#.utf8))
        return try #require(spec.linux?.seccomp)
    }

    static func expectValidProgram(_ p: SeccompProgram, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!p.filter.isEmpty, sourceLocation: sourceLocation)
        #expect(p.filter.count % 8 == 0, sourceLocation: sourceLocation)
        #expect(p.instructionCount == p.filter.count / 8, sourceLocation: sourceLocation)
        #expect(p.instructionCount <= 4096, sourceLocation: sourceLocation)
        // The last instruction is a BPF_RET (class 0x06).
        if p.filter.count >= 8 {
            let code = UInt16(p.filter[p.filter.count - 8]) | UInt16(p.filter[p.filter.count - 7]) << 8
            #expect(code & 0x07 == 0x06, sourceLocation: sourceLocation)
        }
    }

    @Test(.enabled(if: access(podmanConfig, R_OK) == 0))
    func podmanDefaultProfile() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.podmanConfig))
        let spec = try SpecLoader.decode(data)
        let s = try #require(spec.linux?.seccomp)
        let p = try SeccompCompiler.compile(s)
        Self.expectValidProgram(p)
        // Hundreds of syscalls: far more than a trivial filter.
        #expect(p.instructionCount > 50)
        #expect(p.flags == 0)
    }

    @Test func allowAllWithOneRule() throws {
        let p = try SeccompCompiler.compile(Self.seccomp(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#))
        Self.expectValidProgram(p)
        let bare = try SeccompCompiler.compile(Self.seccomp(#"{"defaultAction": "SCMP_ACT_ALLOW"}"#))
        Self.expectValidProgram(bare)
        #expect(p.instructionCount > bare.instructionCount)
    }

    @Test func flags() throws {
        let p = try SeccompCompiler.compile(Self.seccomp(#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}"#))
        #expect(p.flags == 2 | 4)
        #expect(throws: VoidError.self) {
            _ = try SeccompCompiler.compile(Self.seccomp(#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}"#))
        }
    }

    @Test func notifyIsRefused() throws {
        expectThrows("SCMP_ACT_NOTIFY", "linux.seccomp.defaultAction") {
            _ = try SeccompCompiler.compile(Self.seccomp(#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#))
        }
        expectThrows("SCMP_ACT_NOTIFY", "linux.seccomp.syscalls[1].action") {
            _ = try SeccompCompiler.compile(Self.seccomp(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO"}, {"names": ["ioctl"], "action": "SCMP_ACT_NOTIFY"}]}"#))
        }
    }

    @Test func unknownActionIsRefused() throws {
        expectThrows("SCMP_ACT_BOGUS") {
            _ = try SeccompCompiler.compile(Self.seccomp(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_BOGUS"}]}"#))
        }
    }

    @Test func unknownSyscallNamesAreSkipped() throws {
        let p = try SeccompCompiler.compile(Self.seccomp(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["no_such_syscall_voidoci", "mkdir"], "action": "SCMP_ACT_ERRNO"}, {"names": ["another_bogus_one"], "action": "SCMP_ACT_KILL"}]}"#))
        Self.expectValidProgram(p)
    }

    @Test func unknownArchitectureIsAnError() throws {
        expectThrows("linux.seccomp.architectures[1]", "SCMP_ARCH_VOID") {
            _ = try SeccompCompiler.compile(Self.seccomp(#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_VOID"]}"#))
        }
    }

    @Test func knownArchitecturesCompile() throws {
        let p = try SeccompCompiler.compile(Self.seccomp(#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"], "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}"#))
        Self.expectValidProgram(p)
        let one = try SeccompCompiler.compile(Self.seccomp(#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}"#))
        #expect(p.instructionCount > one.instructionCount)
    }

    @Test func argsOnTheSameIndexTwice() throws {
        // podman's personality rule shape, and two conditions on one argument in a single rule.
        let p = try SeccompCompiler.compile(Self.seccomp(#"""
            {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
              {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
              {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 131072, "op": "SCMP_CMP_EQ"}]},
              {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}, {"index": 1, "value": 0, "op": "SCMP_CMP_NE"}]},
              {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}
            ]}
            """#))
        Self.expectValidProgram(p)
    }

    @Test func unknownOperatorIsAnError() throws {
        expectThrows("linux.seccomp.syscalls[0].args[0].op") {
            _ = try SeccompCompiler.compile(Self.seccomp(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_BOGUS"}]}]}"#))
        }
    }

    /// A rule whose action is the default one changes nothing; libseccomp would refuse it.
    @Test func ruleWithTheDefaultActionIsSkipped() throws {
        let p = try SeccompCompiler.compile(Self.seccomp(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#))
        let bare = try SeccompCompiler.compile(Self.seccomp(#"{"defaultAction": "SCMP_ACT_ALLOW"}"#))
        #expect(p.filter == bare.filter)
    }
}
