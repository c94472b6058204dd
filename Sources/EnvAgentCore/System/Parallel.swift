import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Independent per-secret work (opening or sealing thousands of values) split across the
/// machine's cores. Small batches stay on the calling thread: a worker costs more than a few
/// hundred AEAD operations. Workers are plain threads, started and joined here: Dispatch's
/// pool took 3–4 ms to start its first worker, as long as the work it was meant to halve. The
/// calling thread and the workers take blocks of items from a shared counter, so a worker that
/// starts late (a new thread can take milliseconds to run on an idle virtual CPU) leaves more
/// blocks to the others instead of keeping them waiting.
enum Parallel {
    /// Items per worker below which splitting does not pay.
    static let minimumChunk = 1_000
    /// Items taken at a time.
    static let blockSize = 256

    private static let processors = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// `items.map(transform)`, in order; when `transform` throws, the error of the first
    /// failing item in order is thrown, as the sequential map would.
    static func map<Item: Sendable, Output: Sendable>(
        _ items: [Item], _ transform: @escaping @Sendable (Item) throws -> Output
    ) throws -> [Output] {
        var outputs: [Output] = []
        outputs.reserveCapacity(items.count)
        try forEachBlock(items, transform) { outputs += $0 }
        return outputs
    }

    /// Applies `transform` to every item (on every core for a large batch) and hands the
    /// outputs to `consume` on the calling thread, a block at a time, in item order.
    static func forEachBlock<Item: Sendable, Output: Sendable>(
        _ items: [Item], _ transform: @escaping @Sendable (Item) throws -> Output,
        consume: ([Output]) throws -> Void
    ) throws {
        try forEachBlock(count: items.count, { range in try items[range].map(transform) }, consume: consume)
    }

    /// Calls `transform` for consecutive ranges of `0..<count` (of `blockSize` indices; on
    /// every core when `count` is large) and hands each result to `consume` on the calling
    /// thread, in range order, as soon as it is ready: a writer can already hash and compress
    /// the first blocks while later ones are still being sealed. Whenever the next block in
    /// order is not done yet, the calling thread transforms a block nobody has taken instead
    /// of waiting. When `transform` throws, the blocks before the failing one are consumed and
    /// its error is thrown.
    static func forEachBlock<Output: Sendable>(
        count: Int, _ transform: @escaping @Sendable (Range<Int>) throws -> Output,
        consume: (Output) throws -> Void
    ) throws {
        let blocks = (count + blockSize - 1) / blockSize
        @Sendable func range(_ block: Int) -> Range<Int> { (block * blockSize)..<min(count, (block + 1) * blockSize) }
        let threads = min(processors, count / minimumChunk)
        guard threads > 1 else {
            for block in 0..<blocks { try consume(transform(range(block))) }
            return
        }
        let shared = Shared<Output>(blocks: blocks)
        // Transforms the next block nobody has taken; false when none is left.
        let transformNextBlock: @Sendable () -> Bool = {
            let block = shared.next.add(1, ordering: .relaxed).oldValue
            guard block < blocks, !shared.stopped.load(ordering: .relaxed) else { return false }
            let result = Result { try transform(range(block)) }
            shared.results.withLock { $0[block] = result }
            return true
        }
        // A worker that cannot start leaves its blocks to this thread.
        let workers = (1..<threads).compactMap { _ in Worker.start { while transformNextBlock() {} } }
        defer {
            shared.stopped.store(true, ordering: .relaxed)
            for worker in workers { worker.join() }
        }
        for block in 0..<blocks {
            while true {
                let done = shared.results.withLock { results in
                    defer { results[block] = nil } // released as soon as it is consumed
                    return results[block]
                }
                if let done {
                    try consume(done.get())
                    break
                }
                // Every block is taken and this one is still on a worker: a block takes a
                // fraction of a millisecond, so yield rather than sleep.
                if !transformNextBlock() { sched_yield() }
            }
        }
    }

    private final class Shared<Output: Sendable>: Sendable {
        let next = Atomic<Int>(0)
        let stopped = Atomic<Bool>(false)
        let results: Mutex<[Result<Output, any Error>?]>

        init(blocks: Int) { results = Mutex(Array(repeating: nil, count: blocks)) }
    }
}

/// One POSIX thread running one closure.
private struct Worker {
    private final class Job: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    private let thread: pthread_t

    /// nil when the thread cannot be created (the caller runs the work itself).
    static func start(_ body: @escaping @Sendable () -> Void) -> Worker? {
        let job = Unmanaged.passRetained(Job(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, job)
        guard rc == 0 else {
            Unmanaged<Job>.fromOpaque(job).release()
            return nil
        }
        return Worker(thread: thread)
    }

    func join() { pthread_join(thread, nil) }
}
