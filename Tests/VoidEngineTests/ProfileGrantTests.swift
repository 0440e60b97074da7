import Testing
@testable import VoidEngine

/// profile --grant-sockets: only destinations that leave the host are granted; every spelling
/// of loopback, link-local and "unspecified" (which reaches the host's loopback) is refused.
@Suite struct ProfileGrantTests {
    @Test func onlyRoutableDestinationsAreGranted() {
        for e in ["tcp:192.0.2.1:80", "udp:8.8.8.8:53", "tcp:[2001:db8::1]:443"] {
            #expect(Profile.routable(e, listening: false), "\(e)")
        }
        for e in ["tcp:127.0.0.1:80", "tcp:127.9.9.9:80", "tcp:[::1]:80", "tcp:[::ffff:127.0.0.1]:80", "tcp:[::ffff:0.0.0.0]:80",
                  "tcp:0.0.0.0:80", "tcp:[::]:80", "tcp:169.254.169.254:80", "tcp:[fe80::1]:80", "tcp:192.0.2.1:0",
                  "unix:/run/docker.sock", "tcp:192.0.2.1", "tcp:example.com:80", "tcp:192.0.2.1:70000"] {
            #expect(!Profile.routable(e, listening: false), "\(e)")
        }
        #expect(Profile.routable("tcp:0.0.0.0:8080", listening: true))
        #expect(!Profile.routable("tcp:127.0.0.1:8080", listening: true))
    }

    @Test func pathsAreNormalisedLexically() {
        #expect(Profile.normalize("/usr//lib/./x/../y") == "/usr/lib/y")
        #expect(Profile.normalize("/../../etc") == "/etc")
    }
}
