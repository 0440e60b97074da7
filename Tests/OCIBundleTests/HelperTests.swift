import Testing
@testable import OCIBundle

@Suite struct HelperTests {
    @Test func bindDetection() {
        #expect(Mount(destination: "/a", type: "bind", source: "/x").isBind)
        #expect(Mount(destination: "/a", source: "/x", options: ["ro", "bind"]).isBind)
        #expect(Mount(destination: "/a", type: "none", source: "/x", options: ["rbind"]).isBind)
        #expect(!Mount(destination: "/a", type: "tmpfs", source: "tmpfs", options: ["nosuid"]).isBind)
        #expect(!Mount(destination: "/a").isBind)
        // An option that merely contains the word is not a bind.
        #expect(!Mount(destination: "/a", type: "tmpfs", options: ["bindx"]).isBind)
    }

    @Test func recursiveBindDetection() {
        #expect(Mount(destination: "/a", type: "bind", options: ["rbind"]).isRecursiveBind)
        #expect(!Mount(destination: "/a", type: "bind", options: ["bind"]).isRecursiveBind)
        #expect(!Mount(destination: "/a", type: "bind").isRecursiveBind)
    }

    @Test func envValueLastMatchWins() {
        let process = Process(env: ["PATH=/bin", "FOO=1", "FOOBAR=x", "EMPTY=", "FOO=2", "EQ=a=b", "BARE"])
        #expect(process.envValue("FOO") == "2")
        #expect(process.envValue("EMPTY") == "")
        #expect(process.envValue("EQ") == "a=b")
        #expect(process.envValue("BARE") == nil)
        #expect(process.envValue("FO") == nil)
        #expect(Process().envValue("PATH") == nil)
    }

    @Test func annotationsOrEmpty() {
        #expect(Spec().annotationsOrEmpty == [:])
        #expect(Spec(annotations: ["a": "b"]).annotationsOrEmpty == ["a": "b"])
    }

    @Test func knownNumbers() {
        #expect(LinuxCapabilities.number(of: "CAP_CHOWN") == 0)
        #expect(LinuxCapabilities.number(of: "CAP_SYS_ADMIN") == 21)
        #expect(LinuxCapabilities.number(of: "CAP_CHECKPOINT_RESTORE") == 40)
        #expect(LinuxCapabilities.number(of: "CAP_NOPE") == nil)
        #expect(POSIXRlimit(type: "RLIMIT_NOFILE", hard: 1, soft: 1).resource == 7)
        #expect(POSIXRlimit(type: "RLIMIT_RTTIME", hard: 1, soft: 1).resource == 15)
    }

    @Test func openEnumsListTheSpecValues() {
        #expect(LinuxNamespaceType.knownValues.count == 8)
        #expect(LinuxSeccompAction.knownValues.count == 9)
        #expect(LinuxSeccompOperator.knownValues.count == 7)
        #expect(Arch.knownValues.count == 23)
        #expect(LinuxSeccompFlag.knownValues.count == 4)
        #expect(LinuxSeccompAction.errno.acceptsErrnoRet && !LinuxSeccompAction.allow.acceptsErrnoRet)
    }

    @Test func jsonPathRendering() {
        #expect(JSONPath.member("", "root") == "root")
        #expect(JSONPath.member("annotations", "io.x") == #"annotations["io.x"]"#)
        #expect(JSONPath.member("linux.sysctl", "0abc") == #"linux.sysctl["0abc"]"#)
        #expect(JSONPath.render([IndexKey(2)]) == "[2]")
    }
}
