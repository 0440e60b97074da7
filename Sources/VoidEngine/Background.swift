import CVoid
import Glibc

/// One piece of work on a second thread, on another CPU, while the calling thread goes on;
/// `join` waits for it.
///
/// create and run have two independent halves of about a millisecond each: the plan (the
/// program's ELF closure, read from the image) and the host side (claiming the id, a cgroup
/// leaf in a dozen hierarchies). With a second CPU they overlap (bench/README.md, "What each
/// optimisation bought"). With one CPU, or no thread to be had, the work runs inline.
///
/// Whatever `work` touches must not be touched by the caller until `join` returns. The thread
/// is always joined before voidoci clones, joins namespaces or exits; the one thing `join`
/// cannot promise is that the kernel has finished tearing the thread down, so a caller that
/// must be single-threaded afterwards (setns into a user or mount namespace) asks for the work
/// inline (`inline: true`).
final class Background: @unchecked Sendable {
    private let work: () -> Void
    private var thread: UInt = 0
    private var running = false

    init(inline: Bool = false, _ work: @escaping () -> Void) {
        self.work = work
        if inline { work(); return }
        let context = Unmanaged.passRetained(self).toOpaque()
        running = void_thread_start(&thread, { context in
            let me = Unmanaged<Background>.fromOpaque(context!).takeRetainedValue()
            me.work()
            return nil
        }, context) == 0
        if !running {
            Unmanaged<Background>.fromOpaque(context).release()
            work()
        }
    }

    func join() {
        if running { _ = void_thread_join(thread) }
        running = false
    }

    deinit { join() }
}
