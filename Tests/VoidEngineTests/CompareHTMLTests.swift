import Testing
@testable import VoidEngine

/// compare's html page: what the probe reports is escaped (an image can put anything in a file
/// name or an environment variable name), and each cell's colour follows what it exposes.
@Suite struct CompareHTMLTests {
    @Test func probeTextIsEscaped() {
        #expect(Compare.escape(#"<script>alert("x")</script> & 'y'"#)
                == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;")
        #expect(Compare.escape("a\u{1b}[31mb\nc") == "a&#xFFFD;[31mb\nc")
        var col = Compare.Column(runtime: "/usr/sbin/runc")
        col.observed = ["network.interfaces": "lo <img src=x onerror=alert(1)>", "files.count": "<u>"]
        var void = Compare.Column(runtime: "/usr/local/bin/voidoci")
        void.stderr = "<script>x</script>"
        void.exit = 1
        let page = Compare.html(Compare.Report(bundle: "</title><script>", columns: [col, void],
                                               rows: [Compare.Row(key: "files.top", values: ["<img src=x>"], cause: "<b>")],
                                               moreThanGranted: ["<i>"], leakyGrants: ["<s>"]))
        #expect(!page.contains("<script>") && !page.contains("<img") && !page.contains("<i>") && !page.contains("<s>") && !page.contains("<u>"))
        #expect(page.contains(#"<td class="cause">&lt;b&gt;</td>"#))
        #expect(page.contains("&lt;img src=x onerror=alert(1)&gt;"), "the summary card, escaped")
    }

    @Test func cellsAreColouredByExposure() {
        #expect(Compare.relation("files.count", "9", "40") == .less)
        #expect(Compare.relation("devices.count", "7", "6") == .more)
        #expect(Compare.relation("files.count", "9", "9") == .same)
        #expect(Compare.relation("sensitive./etc/shadow", "absent", "readable (host's)") == .less)
        #expect(Compare.relation("namespaces.user", "host's", "new") == .more)
        #expect(Compare.relation("capabilities.effective", "0000000000000000", "00000000a80425fb") == .less)
        #expect(Compare.relation("seccomp.blocked", "mount,bpf,ptrace", "mount") == .less)
        #expect(Compare.relation("identity.uid_map", "unavailable: No such file", "0 0 1") == .less)
        #expect(Compare.relation("uts.hostname", "a", "b") == .differs)
        #expect(Compare.grouped("2310") == "2,310" && Compare.grouped("14") == "14")
    }
}
