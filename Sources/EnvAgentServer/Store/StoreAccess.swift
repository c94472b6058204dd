import EnvAgentCore
import Logging
import NIOPosix

/// How the server reaches the store. Reads run on NIO's blocking thread pool with one of a few
/// confined repository handles; writes go through the single `GroupCommitWriter`. Every
/// operation is the core's — the same functions the CLI calls.
final class StoreAccess: Sendable {
    let storeID: String
    let writer: GroupCommitWriter
    let lists = MaskedListCache()
    private let readers: [Confined<Operations>]

    /// Opens the store at `path` (nil: the repository containing the current directory) once
    /// per handle. Fails like the CLI would: `not_found` without a store, `upgrade_required`
    /// for a newer format.
    init(path: String?, identitySource: IdentitySource, logger: Logger, readerCount: Int = 3) throws {
        func open() throws -> Operations {
            Operations(store: try Store.open(path: path), identitySource: identitySource)
        }
        let first = try open()
        storeID = try first.store.snapshot().requireHeader().storeID
        readers = [Confined(first)] + (try (1..<max(1, readerCount)).map { _ in Confined(try open()) })
        writer = GroupCommitWriter(operations: try open(), packer: try open(), logger: logger)
    }

    /// Runs a blocking read on the thread pool with a free repository handle.
    func read<R: Sendable>(_ body: @escaping @Sendable (Operations) throws -> R) async throws -> R {
        try await NIOThreadPool.singleton.runIfActive { [self] in try withReader(body) }
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
