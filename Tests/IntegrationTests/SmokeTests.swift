import Testing

@Suite(.serialized, .hostClean) struct SmokeTests {
    @Test(arguments: As.allCases)
    func helloFromAVoid(who: As) throws {
        try Env.requireUser(who)
        let b = TestBundle(args: ["/bin/sh", "-c", "echo hello; echo /*"], as: who)
        defer { b.close() }
        let r = b.run()
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout == "hello\n/bin /etc /lib /lib64 /usr\n", "\(r)")
    }
}
