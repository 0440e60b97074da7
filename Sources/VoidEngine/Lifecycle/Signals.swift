/// Signal names as kill(1) and runc accept them: a number, `TERM`, `SIGTERM`, any case,
/// `RTMIN+N` / `RTMAX-N`.
public enum Signals {
    public static let table: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
        "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
        "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
        "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
        "POLL": 29, "PWR": 30, "SYS": 31,
    ]
    static let rtmin: Int32 = 34, rtmax: Int32 = 64

    public static func parse(_ s: String) throws -> Int32 {
        if let n = Int32(s) {
            guard n > 0 && n <= rtmax else { throw VoidError("signal \(s): out of range 1-\(rtmax)") }
            return n
        }
        var name = s.uppercased()
        if name.hasPrefix("SIG") { name = String(name.dropFirst(3)) }
        if let n = table[name] { return n }
        for (base, value, sign) in [("RTMIN", rtmin, Int32(1)), ("RTMAX", rtmax, Int32(-1))] where name.hasPrefix(base) {
            let rest = name.dropFirst(base.count)
            if rest.isEmpty { return value }
            // The offset is the caller's text: "RTMIN+2147483647" must be out of range, not an
            // overflow trap, so the sum is taken in 64 bits (an Int32 offset cannot overflow it).
            if let off = Int32(rest.dropFirst()), (sign > 0 ? rest.first == "+" : rest.first == "-"),
               case let n = Int64(value) + Int64(sign) * Int64(off), n >= Int64(rtmin), n <= Int64(rtmax) {
                return Int32(n)
            }
        }
        throw VoidError("signal \(s): unknown signal name")
    }
}
