import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Independent per-secret work (opening or sealing thousands of values) split across the
/// machine's cores. Small batches stay on the calling thread: a worker costs more than a few
/// hundred AEAD operations. Workers are plain threads, started and joined here: Dispatch's
/// pool took 3–4 ms to start its first worker, as long as the work it was meant to halve.
enum Parallel {
    /// Items per worker below which splitting does not pay.
    static let minimumChunk = 1_000

    private static let processors = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// `items.map(transform)`, in order; when `transform` throws, the error of the first
    /// failing item in order is thrown, as the sequential map would.
    static func map<Item: Sendable, Output: Sendable>(
        _ items: [Item], _ transform: @escaping @Sendable (Item) throws -> Output
    ) throws -> [Output] {
        let chunks = min(processors, items.count / minimumChunk)
        guard chunks > 1 else { return try items.map(transform) }
        let size = (items.count + chunks - 1) / chunks
        let results = Mutex<[Result<[Output], any Error>?]>(Array(repeating: nil, count: chunks))
        let run: @Sendable (Int) -> Void = { chunk in
            let range = (chunk * size)..<min(items.count, (chunk + 1) * size)
            let result = Result { try items[range].map(transform) }
            results.withLock { $0[chunk] = result }
        }
        // Chunk 0 on this thread, the others on workers; a worker that cannot start runs here.
        let workers = (1..<chunks).map { chunk in (chunk, Worker.start { run(chunk) }) }
        run(0)
        for (chunk, worker) in workers {
            if let worker { worker.join() } else { run(chunk) }
        }
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
