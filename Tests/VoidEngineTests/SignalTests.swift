#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import VoidEngine

/// Signal names as kill(1) and runc accept them.
@Suite struct SignalTests {
    @Test(arguments: [
        ("15", SIGTERM), ("9", SIGKILL), ("1", SIGHUP), ("64", Int32(64)),
        ("TERM", SIGTERM), ("SIGTERM", SIGTERM), ("term", SIGTERM), ("sigterm", SIGTERM), ("SigTerm", SIGTERM),
        ("sigkill", SIGKILL), ("KILL", SIGKILL), ("HUP", SIGHUP), ("INT", SIGINT), ("USR1", SIGUSR1),
        ("USR2", SIGUSR2), ("CHLD", SIGCHLD), ("CONT", SIGCONT), ("STOP", SIGSTOP), ("WINCH", SIGWINCH),
        ("IOT", SIGABRT), ("POLL", SIGIO), ("SYS", SIGSYS), ("PWR", SIGPWR),
    ])
    func knownSignals(_ text: String, _ number: Int32) throws {
        #expect(try Signals.parse(text) == number)
    }

    @Test func realtimeSignals() throws {
        let rtmin = Int32(__libc_current_sigrtmin()), rtmax = Int32(__libc_current_sigrtmax())
        #expect(try Signals.parse("RTMIN") == rtmin)
        #expect(try Signals.parse("RTMIN") == 34)
        #expect(try Signals.parse("SIGRTMIN") == 34)
        #expect(try Signals.parse("rtmin") == 34)
        #expect(try Signals.parse("RTMIN+2") == rtmin + 2)
        #expect(try Signals.parse("RTMIN+2") == 36)
        #expect(try Signals.parse("sigrtmin+2") == 36)
        #expect(try Signals.parse("RTMIN+30") == 64)
        #expect(try Signals.parse("RTMAX") == rtmax)
        #expect(try Signals.parse("RTMAX") == 64)
        #expect(try Signals.parse("RTMAX-1") == 63)
        #expect(try Signals.parse("SIGRTMAX-1") == 63)
        #expect(try Signals.parse("RTMAX-30") == 34)
    }

    @Test(arguments: [
        "", "FOO", "SIG", "SIGFOO", "TERM ", " TERM", "TERMX", "15x", "SIGSIGTERM",
        "RTMIN+", "RTMIN-1", "RTMIN+31", "RTMAX+1", "RTMAX-", "RTMAX-31", "RTMIN+x", "RTMINFOO", "RTMAX1",
    ])
    func badNames(_ text: String) {
        #expect(throws: VoidError.self) { _ = try Signals.parse(text) }
    }

    @Test(arguments: ["0", "-1", "65", "100", "-15", "2147483647", "99999999999"])
    func outOfRangeNumbers(_ text: String) {
        do {
            let n = try Signals.parse(text)
            Issue.record("signal \(text) accepted as \(n)")
        } catch {
            #expect(String(describing: error).contains("signal \(text)"))
        }
    }
}
