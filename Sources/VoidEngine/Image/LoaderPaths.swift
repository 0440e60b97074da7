/// The loader's dynamic string tokens and built-in directories: conventions fixed when the image's
/// libc was built, which we can only infer from the image.
extension LibrarySearch {
    /// glibc's `_dl_dst_substitute`: `$ORIGIN`, `$LIB`, `$PLATFORM`, bare or in braces (a bare name
    /// ends at the first character that cannot be in an identifier). musl expands only `$ORIGIN`.
    /// Unknown tokens stay as written.
    func expand(_ text: String, for object: Object, flavor: Flavor) -> (text: String, usedOrigin: Bool) {
        guard text.contains("$") else { return (text, false) }
        var out = ""
        var usedOrigin = false
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            rest = rest[rest.index(after: dollar)...]
            let name: Substring
            let braced = rest.hasPrefix("{") && rest.contains("}")
            if braced, let close = rest.firstIndex(of: "}") {
                name = rest[rest.index(after: rest.startIndex)..<close]
                rest = rest[rest.index(after: close)...]
            } else {
                name = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                rest = rest.dropFirst(name.count)
            }
            let machine = (object.info.machine, object.info.is64)
            switch (name, flavor) {
            case ("ORIGIN", _):
                out += object.origin
                usedOrigin = true
            case ("LIB", .glibc):
                out += libToken(machine: machine.0, is64: machine.1)
            case ("PLATFORM", .glibc) where Self.platform(machine.0, machine.1) != nil:
                out += Self.platform(machine.0, machine.1)!
            default:
                out += braced ? "${\(name)}" : "$\(name)"
            }
        }
        return (out + rest, usedOrigin)
    }

    /// `$LIB` is the loader's own library directory name, fixed when glibc was built: Debian and
    /// Ubuntu build it as "lib/<multiarch tuple>", Fedora and most others as "lib64" (64-bit) or
    /// "lib". We tell them apart by whether the image has the multiarch directory.
    private func libToken(machine: UInt16, is64: Bool) -> String {
        if let tuple = Self.multiarch(machine, is64),
           root.exists("/usr/lib/\(tuple)") || root.exists("/lib/\(tuple)") {
            return "lib/\(tuple)"
        }
        return is64 ? "lib64" : "lib"
    }

    static func platform(_ machine: UInt16, _ is64: Bool) -> String? {
        switch (machine, is64) {
        case (ELFInfo.machineX86_64, _): "x86_64"
        case (ELFInfo.machine386, _): "i686"
        case (ELFInfo.machineAArch64, _): "aarch64"
        default: nil
        }
    }

    /// Debian's multiarch tuple for an ELF machine and class.
    static func multiarch(_ machine: UInt16, _ is64: Bool) -> String? {
        switch (machine, is64) {
        case (ELFInfo.machineX86_64, true): "x86_64-linux-gnu"
        case (ELFInfo.machineX86_64, false): "x86_64-linux-gnux32"
        case (ELFInfo.machine386, false): "i386-linux-gnu"
        case (ELFInfo.machineAArch64, true): "aarch64-linux-gnu"
        case (ELFInfo.machineARM, false): "arm-linux-gnueabihf"
        case (ELFInfo.machinePPC64, true): "powerpc64le-linux-gnu"
        case (ELFInfo.machineS390, true): "s390x-linux-gnu"
        case (ELFInfo.machineRISCV, true): "riscv64-linux-gnu"
        default: nil
        }
    }

    /// The loader's built-in directories. Debian's glibc searches the multiarch pair, then /lib and
    /// /usr/lib; Fedora's /lib64 and /usr/lib64. We cannot ask the image's loader, so we search the
    /// union in that order: libraries of the wrong class in /lib are skipped anyway.
    static func defaultDirectories(machine: UInt16, is64: Bool) -> [String] {
        var dirs: [String] = []
        if let tuple = multiarch(machine, is64) { dirs += ["/lib/\(tuple)", "/usr/lib/\(tuple)"] }
        if is64 { dirs += ["/lib64", "/usr/lib64"] }
        return dirs + ["/lib", "/usr/lib"]
    }
}
