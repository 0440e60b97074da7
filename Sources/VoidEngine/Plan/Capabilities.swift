import OCIBundle

/// Linux capability names in bit order (linux/capability.h).
public enum Capabilities {
    /// The wire model's table is the single list of names, in bit order.
    public static let names = LinuxCapabilities.knownNames

    public static func number(_ name: String) -> Int? { names.firstIndex(of: name) }

    /// A mask from names; names past the running kernel's last capability are returned apart so
    /// the planner can report them instead of failing in capset.
    public static func mask(_ list: [String]?, lastCap: Int) -> (mask: UInt64, unsupported: [String]) {
        var m: UInt64 = 0
        var unsupported: [String] = []
        for n in list ?? [] {
            guard let bit = number(n), bit <= lastCap else { unsupported.append(n); continue }
            m |= 1 << UInt64(bit)
        }
        return (m, unsupported)
    }
}
