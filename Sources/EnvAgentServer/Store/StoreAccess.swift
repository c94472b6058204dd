import EnvAgentCore
import Logging
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How the server reaches the store. Reads run on NIO's blocking thread pool with one of a few
/// confined repository handles; writes go through the single `GroupCommitWriter`. Every
/// operation is the core's — the same functions the CLI calls.
final class StoreAccess: Sendable {
    let storeID: String
    let writer: GroupCommitWriter
    let lists = MaskedListCache()
    private let readers: [Confined<Operations>]
    private let open: @Sendable () throws -> Operations
    private let syncsRunning = Mutex(0)
    /// Syncs at a time; each holds a thread until its remote answers or its deadline passes.
    static let syncLimit = 4

    /// Opens the store at `path` (nil: the repository containing the current directory) once
    /// per handle. Fails like the CLI would: `not_found` without a store, `upgrade_required`
    /// for a newer format.
    init(path: String?, identitySource: IdentitySource, logger: Logger, readerCount: Int = 3) throws {
        let open: @Sendable () throws -> Operations = {
            Operations(store: try Store.open(path: path), identitySource: identitySource)
        }
        self.open = open
        let first = try open()
        storeID = try first.store.snapshot().requireHeader().storeID
        readers = [Confined(first)] + (try (1..<max(1, readerCount)).map { _ in Confined(try open()) })
        writer = GroupCommitWriter(operations: try open(), packer: try open(), logger: logger)
    }

    /// Runs a blocking read on the thread pool with a free repository handle.
    func read<R: Sendable>(_ body: @escaping @Sendable (Operations) throws -> R) async throws -> R {
        try await NIOThreadPool.singleton.runIfActive { [self] in try withReader(body) }
    }

    /// Runs a sync on a thread of its own with a repository handle of its own. A sync may wait
    /// for its remote until its deadline; on the shared pool (two threads on two cores) or with
    /// a shared reader it would stall every other request meanwhile. `rate_limited` while
    /// `syncLimit` syncs are running.
    func sync<R: Sendable>(_ body: @escaping @Sendable (Operations) throws -> R) async throws -> R {
        let admitted = syncsRunning.withLock { running in
            guard running < Self.syncLimit else { return false }
            running += 1
            return true
        }
        guard admitted else {
            throw AgentError(.rateLimited, "\(Self.syncLimit) syncs are running already", hint: "try again when one has finished")
        }
        defer { syncsRunning.withLock { $0 -= 1 } }
        let open = self.open
        return try await withCheckedThrowingContinuation { continuation in
            let started = DetachedThread.start {
                continuation.resume(with: Result { try body(try open()) })
            }
            if !started {
                continuation.resume(throwing: AgentError(.internalError, "cannot start a thread for the sync"))
            }
        }
    }

    /// The commit the store's branch points to now (a ref lookup: cheap enough to do inline).
    func head() throws -> String {
        try withReader { try $0.store.repository.head().commit?.hex ?? "" }
    }

    private func withReader<R: Sendable>(_ body: (Operations) throws -> R) throws -> R {
        for reader in readers {
            if let result = try reader.withLockIfAvailable({ try body($0) }) { return result }
        }
        return try readers[Int.random(in: 0..<readers.count)].withLock { try body($0) }
    }
}

/// A plain thread that runs one job and ends (nothing joins it).
enum DetachedThread {
    private final class Job: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// false when the thread could not be created (`body` then never runs).
    static func start(_ body: @escaping @Sendable () -> Void) -> Bool {
        let job = Unmanaged.passRetained(Job(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { raw in
            Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, job)
        guard rc == 0 else {
            Unmanaged<Job>.fromOpaque(job).release()
            return false
        }
        return true
    }
}
