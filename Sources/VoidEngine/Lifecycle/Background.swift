import CVoid
import Glibc

/// One piece of work on a second thread, on another CPU, while the calling thread goes on;
/// `join` waits for it.
///
/// create and run have two independent halves of about a millisecond each: the plan (the
/// program's ELF closure, read from the image) and the host side (claiming the id, a cgroup
/// leaf in a dozen hierarchies). With a second CPU they overlap (bench/README.md, "What each
/// optimisation bought"). With one CPU, or no thread to be had, the caller does it serially.
///
/// Whatever `work` touches must not be touched by the caller until `join` returns (or, for
/// what is handed over through a `Gate`, until the gate is opened). The thread is always joined
/// before voidoci clones or exits. `join` returns when the kernel clears the thread's tid, a
/// moment before the thread has left the process: setns into a user or mount namespace, which
/// needs a single-threaded process, waits for that (Spawner, `void_wait_single_threaded`).
final class Background: @unchecked Sendable {
    private let work: () -> Void
    private var thread: UInt = 0
    private var running = false

    private init(_ work: @escaping () -> Void) { self.work = work }

    /// Starts `work` on another CPU; nil (and `work` not run) when there is no second CPU this
    /// process may use, or no thread to be had: the caller then does the work itself.
    static func start(_ work: @escaping () -> Void) -> Background? {
        let b = Background(work)
        let context = Unmanaged.passRetained(b).toOpaque()
        b.running = void_thread_start(&b.thread, { context in
            let me = Unmanaged<Background>.fromOpaque(context!).takeRetainedValue()
            me.work()
            return nil
        }, context) == 0
        if b.running { return b }
        Unmanaged<Background>.fromOpaque(context).release()
        return nil
    }

    func join() {
        if running { _ = void_thread_join(thread) }
        running = false
    }

    deinit { join() }
}

/// A one-shot gate (a futex word): `wait` returns once `open` was called. The opener's writes
/// before `open` are seen by the waiter after `wait`.
final class Gate: @unchecked Sendable {
    private let word = UnsafeMutablePointer<Int32>.allocate(capacity: 1)

    init() { word.initialize(to: 0) }
    deinit { word.deallocate() }

    func open() { void_gate_open(word) }
    func wait() { void_gate_wait(word) }
}
