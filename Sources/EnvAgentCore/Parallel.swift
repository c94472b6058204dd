import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
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

    private final class Counter: Sendable {
        let next = Atomic<Int>(0)
    }

    /// `items.map(transform)`, in order; when `transform` throws, the error of the first
    /// failing item in order is thrown, as the sequential map would.
    static func map<Item: Sendable, Output: Sendable>(
        _ items: [Item], _ transform: @escaping @Sendable (Item) throws -> Output
    ) throws -> [Output] {
        let threads = min(processors, items.count / minimumChunk)
        guard threads > 1 else { return try items.map(transform) }
        let blocks = (items.count + blockSize - 1) / blockSize
        let counter = Counter()
        let results = Mutex<[Result<[Output], any Error>?]>(Array(repeating: nil, count: blocks))
        let drain: @Sendable () -> Void = {
            while true {
                let block = counter.next.add(1, ordering: .relaxed).oldValue
                guard block < blocks else { return }
                let range = (block * blockSize)..<min(items.count, (block + 1) * blockSize)
                let result = Result { try items[range].map(transform) }
                results.withLock { $0[block] = result }
            }
        }
        // A worker that cannot start leaves its blocks to this thread.
        let workers = (1..<threads).compactMap { _ in Worker.start(drain) }
        drain()
        for worker in workers { worker.join() }
        var outputs: [Output] = []
        outputs.reserveCapacity(items.count)
        for result in results.withLock({ $0 }) {
            outputs += try result!.get()
        }
        return outputs
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
        #if canImport(Darwin)
        var thread: pthread_t?
        #else
        var thread = pthread_t()
        #endif
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, job)
        guard rc == 0 else {
            Unmanaged<Job>.fromOpaque(job).release()
            return nil
        }
        #if canImport(Darwin)
        return Worker(thread: thread!)
        #else
        return Worker(thread: thread)
        #endif
    }

    func join() { pthread_join(thread, nil) }
}
