import Glibc
import OCIBundle

/// The state JSON of the runtime spec, plus runc's `rootfs`, `created` and `owner`. Small and
/// key-ordered like runc's, so a pipe reader gets it in one read.
public enum StateJSON {
    public static func render(_ s: ContainerState, status: String) -> String {
        var fields: [(String, String)] = [
            ("ociVersion", quote(s.ociVersion)), ("id", quote(s.id)), ("status", quote(status)),
        ]
        if status != "stopped" { fields.append(("pid", "\(s.pid)")) } else { fields.append(("pid", "0")) }
        fields += [("bundle", quote(s.bundle)), ("rootfs", quote(s.rootfs)), ("created", quote(s.created)),
                   ("owner", quote(s.owner))]
        // Plain loops rather than joined(): see JSON.render(into:).
        var ann = "{"
        for (i, (k, v)) in (s.annotations ?? [:]).sorted(by: { $0.key < $1.key }).enumerated() {
            ann += (i > 0 ? ", " : "") + "\(quote(k)): \(quote(v))"
        }
        fields.append(("annotations", ann + "}"))
        var out = "{\n"
        for (i, (k, v)) in fields.enumerated() { out += (i > 0 ? ",\n" : "") + "  \(quote(k)): \(v)" }
        return out + "\n}\n"
    }

    public static func quote(_ s: String) -> String {
        var out = ""
        JSONDocument.quote(s, into: &out)
        return out
    }
}

/// The host's name for `uid`, from /etc/passwd. Not getpwuid: voidoci is a static executable,
/// where glibc's NSS would dlopen modules of the exact glibc it was linked with.
func hostUserName(_ uid: uid_t) -> String? {
    guard let text = try? readSmallFile("/etc/passwd") else { return nil }
    for line in text.split(separator: "\n") {
        let f = line.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
        if f.count >= 3, UInt32(f[2]) == uid, !f[0].isEmpty { return String(f[0]) }
    }
    return nil
}
