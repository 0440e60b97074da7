import Glibc
import SystemPackage

/// "/usr/bin/sh" → "usr/bin/sh"; "." and empty components removed (validation refused "..").
func relativeDest(_ abs: String) -> String {
    FilePath(abs).lexicallyNormalized().removingRoot().string
}

func waitStatusText(_ pid: pid_t) -> String {
    var status: Int32 = 0
    var r: pid_t
    repeat { r = waitpid(pid, &status, 0) } while r < 0 && errno == EINTR
    if r < 0 { return "unknown status" }
    if status & 0x7f == 0 { return "exit status \((status >> 8) & 0xff)" }
    return "killed by signal \(status & 0x7f)"
}

extension String {
    func trimmingCharacters() -> String {
        var s = self[...]
        while let l = s.last, l == "\n" || l == " " { s = s.dropLast() }
        return String(s).replacingOccurrences(of: "\n", with: "; ")
    }

    func replacingOccurrences(of a: String, with b: String) -> String {
        split(separator: a, omittingEmptySubsequences: false).joined(separator: b)
    }
}

/// C strings and arrays that must stay valid until the clone; freed together afterwards (the
/// child has its own copy of the memory).
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    func string(_ s: String) -> UnsafePointer<CChar> {
        let p = strdup(s)!
        blocks.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }

    func stringArray(_ list: [String], terminate: Bool) -> UnsafeMutablePointer<UnsafePointer<CChar>?>? {
        let arr = pointerArray(list.count + 1)
        for (i, s) in list.enumerated() { arr[i] = string(s) }
        arr[list.count] = nil
        blocks.append(UnsafeMutableRawPointer(arr))
        return arr
    }

    func optionalStringArray(_ list: [String?]) -> UnsafeMutablePointer<UnsafePointer<CChar>?>? {
        let arr = pointerArray(list.count + 1)
        for (i, s) in list.enumerated() { arr[i] = s.map { string($0) } }
        arr[list.count] = nil
        blocks.append(UnsafeMutableRawPointer(arr))
        return arr
    }

    /// A malloc'd copy of an array, valid until `free`.
    func copy<T>(_ a: [T]) -> UnsafePointer<T>? {
        guard !a.isEmpty else { return nil }
        let raw = malloc(MemoryLayout<T>.stride * a.count)!
        let p = raw.bindMemory(to: T.self, capacity: a.count)
        p.initialize(from: a, count: a.count)
        blocks.append(raw)
        return UnsafePointer(p)
    }

    private func pointerArray(_ n: Int) -> UnsafeMutablePointer<UnsafePointer<CChar>?> {
        let raw = malloc(MemoryLayout<UnsafePointer<CChar>?>.stride * n)!
        return raw.bindMemory(to: UnsafePointer<CChar>?.self, capacity: n)
    }

    func free() { for b in blocks { Glibc.free(b) } ; blocks = [] }
}
